//! Lazy subtrees: big tagged block nodes (a gwcs WCS, an old-style slit...) are cut out of the
//! YAML before it is parsed, replaced by a placeholder scalar, and parsed only when asked for.
//! A loaded region's text is planned again, so a slit defers its own WCS.
//!
//! A candidate is a line `KEY: !tag`, `- !tag` or `- KEY: !tag` (nothing after the tag; not a
//! YAML core or ndarray tag) whose body is the following lines indented deeper than KEY (or
//! `-`), blank and comment lines aside. It is accepted only when all of these hold, so the
//! lazy tree equals the eager one:
//! - the body passes a conservative scan with libyaml's token rules: it must end outside any
//!   quoted scalar or flow collection, contain no block scalar, tab, `?` key, directive or
//!   other construct the scan does not model, and no line that could continue a multi-line
//!   plain scalar while holding quote or bracket characters;
//! - anchor/alias names (found textually) cross the body's boundary only as aliases to an
//!   anchor defined once, in an earlier deferred body or outside the enclosing deferred body
//!   ([`Region::imports`]); the anchored object is then taken from that body so it stays shared.
//!   The body has no merge key (`<<`) or `!!` core tag, which would look into such aliases;
//! - when the remaining text is parsed, the placeholder shows up exactly at the tag's position
//!   as a value of a block mapping whose key starts that line (or an item of a block sequence).
//!
//! The last check is done by the composer ([`super::yaml::Expect`]); on any mismatch the
//! caller composes the whole text instead. Errors inside a deferred body surface when it is
//! loaded, reported at their original line numbers.

use super::resolve::YAML_PREFIX;
use super::yaml::{Expect, PLACEHOLDER};
use rustc_hash::FxHashMap;
use std::ops::Range;

/// Bodies smaller than this are parsed eagerly (not worth deferring).
pub const MIN_BODY: usize = 2048;

/// One deferred subtree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// 0-based line (in the original text) holding the tag.
    pub line: usize,
    /// The tag token, e.g. `!<tag:stsci.edu:gwcs/wcs-1.1.0>`.
    pub tag: Range<usize>,
    /// The body lines (after the tag line), through the last content line's newline.
    pub body: Range<usize>,
    /// Aliases in the body to anchors of earlier regions: (name, region index).
    pub imports: Vec<(String, u32)>,
    /// Anchors in the body that later regions alias.
    pub exports: Vec<String>,
    /// The body scan's state after each body line ([`FRESH`], [`CLOSED`] bits), so planning
    /// the region's own text need not scan its nested bodies again (see [`Outer::scan`]).
    pub scan: Vec<u8>,
}

/// [`Region::scan`] bit: after this line the scan is in the state a new scan starts in.
pub const FRESH: u8 = 1;
/// [`Region::scan`] bit: after this line the scan is outside quotes and flow collections
/// (a body ending here passes [`body_ok`], given a fresh start).
pub const CLOSED: u8 = 2;

/// The text to parse now, with where each placeholder must appear.
#[derive(Debug, Clone)]
pub struct Plan {
    pub text: Vec<u8>,
    pub expect: Vec<Expect>,
    pub regions: Vec<Region>,
    /// Original-text lines before each placeholder line that were removed (for messages).
    pub doc_start: usize,
}

/// A line of the text (u32 offsets keep the table small: planning needs a text below 4 GiB).
struct Line {
    start: u32,
    /// End of content (excluding '\n').
    end: u32,
    indent: u32,
}

impl Line {
    fn start(&self) -> usize {
        self.start as usize
    }
    fn end(&self) -> usize {
        self.end as usize
    }
    fn indent(&self) -> usize {
        self.indent as usize
    }
}

/// The number of leading spaces of `s` (eight bytes at a time).
fn spaces(s: &[u8]) -> usize {
    let mut i = 0;
    while let Some(chunk) = s.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let x = u64::from_le_bytes(w) ^ 0x2020_2020_2020_2020;
        if x != 0 {
            return i + (x.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + s
        .get(i..)
        .map_or(0, |r| r.iter().take_while(|&&c| c == b' ').count())
}

/// The length of the line `s` starts (up to its '\n' or the end), eight bytes at a time:
/// quicker than a search call on short lines.
fn line_len(s: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let mut i = 0;
    while let Some(chunk) = s.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let x = u64::from_le_bytes(w) ^ (ONES * u64::from(b'\n'));
        // High bit set in each zero byte of `x` (bits above the first may be false hits).
        let z = x.wrapping_sub(ONES) & !x & (ONES << 7);
        if z != 0 {
            return i + (z.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + s[i..]
        .iter()
        .position(|&c| c == b'\n')
        .unwrap_or(s.len() - i)
}

/// The lines of `t`; None if `t` is too long for [`Line`].
fn lines_of(t: &[u8]) -> Option<Vec<Line>> {
    u32::try_from(t.len()).ok()?;
    let mut out = Vec::with_capacity(t.len() / 12 + 1);
    let mut start = 0;
    while start < t.len() {
        let rest = &t[start..];
        let indent = spaces(rest);
        let end = match memchr::memchr(b'\n', &rest[indent..]) {
            Some(k) => start + indent + k,
            None => t.len(),
        };
        // In range: end <= t.len() <= u32::MAX.
        out.push(Line {
            start: start as u32,
            end: end as u32,
            indent: indent as u32,
        });
        start = end + 1;
    }
    Some(out)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(hay, needle).is_some()
}

fn is_name(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

fn is_key_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'.'
}

/// A byte-class table: ASCII letters and digits, and the bytes of `extra`.
pub(crate) const fn alnum_and(extra: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = (c as u8).is_ascii_alphanumeric();
        c += 1;
    }
    let mut i = 0;
    while i < extra.len() {
        t[extra[i] as usize] = true;
        i += 1;
    }
    t
}

const fn uri_table() -> [bool; 256] {
    alnum_and(b"-_;/?:@&=+$,.!~*'()[]%")
}
const URI_CHARS: [bool; 256] = uri_table();
/// Tag suffix characters after a `!` handle: URI characters but `!`.
const SUFFIX_CHARS: [bool; 256] = {
    let mut t = uri_table();
    t[b'!' as usize] = false;
    t
};

/// libyaml's tag/URI characters (`%` escapes included).
#[inline]
fn is_uri_char(c: u8) -> bool {
    URI_CHARS[usize::from(c)]
}

/// Tags under these prefixes are never deferred: YAML's own, and asdf ndarrays.
pub const EAGER_PREFIXES: [&str; 2] = [YAML_PREFIX, super::yaml::NDARRAY_PREFIX];

/// The full tag a tag token resolves to under `%TAG` directives (libyaml's defaults for `!`
/// and `!!`); None for forms left alone here (`%` escapes, undeclared named handles).
fn resolve_tag(tag: &[u8], handles: &[(Vec<u8>, Vec<u8>)]) -> Option<Vec<u8>> {
    if tag.contains(&b'%') {
        return None;
    }
    if let Some(v) = tag.strip_prefix(b"!<").and_then(|r| r.strip_suffix(b">")) {
        return Some(v.to_vec());
    }
    // Handle: '!', or '!name!'.
    let second = tag[1..].iter().position(|&c| c == b'!').map(|k| k + 1);
    let (handle, suffix) = match second {
        Some(k) => (&tag[..=k], &tag[k + 1..]),
        None => (&tag[..1], &tag[1..]),
    };
    match handles.iter().rev().find(|(h, _)| h == handle) {
        Some((_, prefix)) => Some([prefix.as_slice(), suffix].concat()),
        None if handle == b"!" => Some(tag.to_vec()),
        None => None,
    }
}

/// `%TAG` directives in the lines before the document start.
fn tag_handles(t: &[u8], lines: &[Line]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    for l in lines {
        let s = &t[l.start()..l.end()];
        if let Some(rest) = s.strip_prefix(b"%TAG ") {
            let parts: Vec<&[u8]> = rest
                .split(|&c| c == b' ')
                .filter(|p| !p.is_empty())
                .collect();
            if let [h, p] = parts[..] {
                out.push((h.to_vec(), p.to_vec()));
            }
        }
    }
    out
}

/// The tag token at `s[i..]` if it runs to the end of the line (trailing spaces allowed).
fn tag_at(s: &[u8], i: usize) -> Option<Range<usize>> {
    let rest = s.get(i..)?;
    if rest.first() != Some(&b'!') || rest.get(1) == Some(&b'!') {
        return None;
    }
    let len = if rest.get(1) == Some(&b'<') {
        rest.iter().position(|&c| c == b'>')? + 1
    } else {
        let n = rest.iter().position(|&c| c == b' ').unwrap_or(rest.len());
        if n < 2 || !rest[1..n].iter().all(|&c| is_uri_char(c)) {
            return None;
        }
        n
    };
    let tag = &rest[..len];
    if !tag.is_ascii() || tag.len() < 2 || contains(tag, b"ndarray") || tag.contains(&b'#') {
        return None;
    }
    if !rest[len..].iter().all(|&c| c == b' ') {
        return None;
    }
    Some(i..i + len)
}

/// A candidate line: (reference indent, tag range within line, key column).
fn candidate(s: &[u8], indent: usize) -> Option<(usize, Range<usize>, Option<usize>)> {
    let mut i = indent;
    let (reference, key_col) = if s.get(i) == Some(&b'-') && s.get(i + 1) == Some(&b' ') {
        let dash = i;
        i += 1;
        while s.get(i) == Some(&b' ') {
            i += 1;
        }
        if s.get(i) == Some(&b'!') {
            return tag_at(s, i).map(|t| (dash, t, None));
        }
        (i, Some(i))
    } else {
        (i, Some(i))
    };
    // KEY: !tag
    let k0 = i;
    if !s
        .get(i)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
    {
        return None;
    }
    while s.get(i).is_some_and(|&c| is_key_char(c)) {
        i += 1;
    }
    if s.get(i) != Some(&b':') || s.get(i + 1) != Some(&b' ') || i == k0 {
        return None;
    }
    i += 1;
    while s.get(i) == Some(&b' ') {
        i += 1;
    }
    tag_at(s, i).map(|t| (reference, t, key_col))
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Normal,
    Dq,
    Sq,
    /// A plain scalar inside a flow collection, continuing on the next line.
    FlowPlain,
}

/// Conservative libyaml-rule scan of a body: true only if the tokenizer is certain to end the
/// body outside quoted scalars and flow collections, with nothing it does not model.
#[cfg_attr(test, derive(Clone, Debug, PartialEq))]
struct Scan {
    depth: usize,
    mode: Mode,
    /// Block context: the previous content line ended inside a plain scalar.
    plain_pending: bool,
    /// Column bound below which that plain scalar cannot continue (-1: any column).
    cont_bound: i64,
    /// Anchor (`true`) and alias tokens of the lines scanned so far, as (anchor?, line
    /// offset of the name, name end); the caller takes them after each line.
    refs: Vec<(bool, usize, usize)>,
}

impl Scan {
    fn new() -> Scan {
        Scan {
            depth: 0,
            mode: Mode::Normal,
            plain_pending: false,
            cont_bound: -1,
            refs: Vec::new(),
        }
    }

    /// Outside quoted scalars and flow collections.
    fn closed(&self) -> bool {
        self.depth == 0 && self.mode == Mode::Normal
    }

    /// Scan one line (tabs are refused by the callers).
    #[inline(always)]
    fn line(&mut self, s: &[u8], indent: usize) -> bool {
        if self.simple_ok(indent) {
            if let Some((_, pending)) = simple_line(s, indent) {
                self.take_simple(pending);
                return true;
            }
        }
        self.line_general(s, indent)
    }

    /// May [`simple_line`] decide a line at this indentation? (Block context, outside any
    /// scalar, and not a possible continuation of a plain scalar.)
    #[inline(always)]
    fn simple_ok(&self, indent: usize) -> bool {
        self.mode == Mode::Normal
            && self.depth == 0
            && !(self.plain_pending && indent as i64 > self.cont_bound)
    }

    /// What [`Scan::line_general`] concludes for a line [`simple_line`] took.
    #[inline(always)]
    fn take_simple(&mut self, pending: Option<i64>) {
        self.plain_pending = pending.is_some();
        if let Some(bound) = pending {
            self.cont_bound = bound;
        }
    }

    /// [`Scan::line`] by the general rules.
    fn line_general(&mut self, s: &[u8], indent: usize) -> bool {
        if self.mode == Mode::Normal && self.depth == 0 {
            let first = s.get(indent).copied();
            match first {
                None => return true,
                Some(b'#') => {
                    self.plain_pending = false;
                    return true;
                }
                _ => {}
            }
            if self.plain_pending && indent as i64 > self.cont_bound {
                // Maybe a continuation of a plain scalar, maybe fresh tokens: safe only if
                // neither reading can open a quote, flow collection or block scalar, or hold
                // an anchor, alias, tag or merge key.
                // A `:` indicator would make the scalar a multi-line key (an error).
                return !s.iter().enumerate().any(|(i, c)| {
                    matches!(
                        c,
                        b'"' | b'\''
                            | b'['
                            | b']'
                            | b'{'
                            | b'}'
                            | b'|'
                            | b'>'
                            | b'&'
                            | b'*'
                            | b'!'
                            | b'<'
                    ) || (*c == b':' && s.get(i + 1).is_none_or(|&x| x == b' '))
                });
            }
            self.plain_pending = false;
        }
        self.tokens(s, indent)
    }

    /// Scan one line from its start in the current mode.
    /// `start`: the line's indentation (spaces are insignificant in every mode there).
    fn tokens(&mut self, s: &[u8], start: usize) -> bool {
        let mut p = start;
        let mut node_col: Option<usize> = None;
        let mut bound: i64 = -1;
        let n = s.len();
        let blankz = |k: usize| k >= n || s[k] == b' ';
        // A quoted scalar carried over from an earlier line.
        let carried = matches!(self.mode, Mode::Dq | Mode::Sq);
        // Block context: the last token cannot be a key (a multi-line scalar, a flow
        // collection or an alias); a `:` indicator was seen on this line.
        let mut no_key = false;
        let mut value_seen = false;
        loop {
            match self.mode {
                Mode::Dq => {
                    while p < n && s[p] != b'"' {
                        p += if s[p] == b'\\' { 2 } else { 1 };
                    }
                    if p >= n {
                        return true;
                    }
                    p += 1;
                    self.mode = Mode::Normal;
                    no_key = carried && self.depth == 0;
                }
                Mode::Sq => {
                    loop {
                        if p >= n {
                            return true;
                        }
                        if s[p] == b'\'' {
                            if s.get(p + 1) == Some(&b'\'') {
                                p += 2;
                                continue;
                            }
                            p += 1;
                            break;
                        }
                        p += 1;
                    }
                    self.mode = Mode::Normal;
                    no_key = carried && self.depth == 0;
                }
                Mode::FlowPlain => {
                    while p < n && s[p] == b' ' {
                        p += 1;
                    }
                    if p >= n {
                        return true;
                    }
                    self.mode = Mode::Normal;
                    match self.plain_at(s, &mut p, true) {
                        None => return false,
                        Some(true) => return true,
                        Some(false) => {}
                    }
                }
                Mode::Normal => {}
            }
            while p < n && s[p] == b' ' {
                p += 1;
            }
            if p >= n {
                return true;
            }
            let c = s[p];
            let flow = self.depth > 0;
            let after_non_key = std::mem::take(&mut no_key);
            match c {
                b'#' => return true,
                b'"' | b'\'' => {
                    node_col.get_or_insert(p);
                    self.mode = if c == b'"' { Mode::Dq } else { Mode::Sq };
                    p += 1;
                }
                b'[' | b'{' => {
                    if !flow {
                        node_col.get_or_insert(p);
                    }
                    self.depth += 1;
                    p += 1;
                }
                b']' | b'}' => {
                    if !flow {
                        return false;
                    }
                    self.depth -= 1;
                    no_key = self.depth == 0;
                    p += 1;
                }
                b',' => {
                    if !flow {
                        return false;
                    }
                    p += 1;
                }
                b'-' if blankz(p + 1) => {
                    if flow || value_seen {
                        return false;
                    }
                    bound = p as i64;
                    node_col = None;
                    p += 1;
                }
                b'?' if flow || blankz(p + 1) => return false,
                b':' if flow || blankz(p + 1) => {
                    if !flow {
                        // libyaml: one key per line, and not one of those.
                        if after_non_key || value_seen {
                            return false;
                        }
                        value_seen = true;
                        bound = node_col.map_or(-1, |c| c as i64);
                        node_col = None;
                    }
                    p += 1;
                }
                b'*' | b'&' => {
                    node_col.get_or_insert(p);
                    let start = p + 1;
                    p = start;
                    while p < n && is_name(s[p]) {
                        p += 1;
                    }
                    if p == start || !(blankz(p) || matches!(s[p], b':' | b',' | b']' | b'}')) {
                        return false;
                    }
                    self.refs.push((c == b'&', start, p));
                    no_key = c == b'*' && !flow;
                }
                b'!' => {
                    node_col.get_or_insert(p);
                    if s.get(p + 1) == Some(&b'<') {
                        // `!<uri>`
                        let u = p + 2;
                        p = u;
                        while p < n && is_uri_char(s[p]) {
                            p += 1;
                        }
                        // YAML's own tags construct (and may fail): never skipped.
                        if p == u
                            || s.get(p) != Some(&b'>')
                            || s[u..].starts_with(YAML_PREFIX.as_bytes())
                        {
                            return false;
                        }
                        p += 1;
                    } else {
                        // `!suffix` or `!` alone; named handles (`!h!suffix`) are refused.
                        p += 1;
                        while p < n && SUFFIX_CHARS[usize::from(s[p])] {
                            p += 1;
                        }
                    }
                    if !blankz(p) {
                        return false;
                    }
                }
                b'|' | b'>' | b'%' | b'@' | b'`' => return false,
                // Maybe a merge key (merging constructs, and may fail).
                b'<' if s.get(p + 1) == Some(&b'<') => return false,
                _ => {
                    node_col.get_or_insert(p);
                    match self.plain_at(s, &mut p, false) {
                        None => return false,
                        Some(true) => {
                            // Line ended inside the plain scalar.
                            if self.depth == 0 {
                                self.plain_pending = true;
                                self.cont_bound = bound;
                            }
                            return true;
                        }
                        Some(false) => {}
                    }
                }
            }
        }
    }

    /// [`Scan::plain`], its position passed in registers (through memory it stalls).
    #[inline(always)]
    fn plain_at(&mut self, s: &[u8], p: &mut usize, continuing: bool) -> Option<bool> {
        let (q, r) = self.plain_raw(s, *p, continuing);
        *p = q;
        match r {
            0 => None,
            1 => Some(true),
            _ => Some(false),
        }
    }

    /// (end, 0: refused / 1: ran to the line end / 2: ended before an indicator).
    fn plain_raw(&mut self, s: &[u8], mut p: usize, continuing: bool) -> (usize, u8) {
        let r = self.plain(s, &mut p, continuing);
        (p, r.map_or(0, |x| if x { 1 } else { 2 }))
    }

    /// libyaml's plain scalar from `p`. Some(true): ran to the end of the line (in flow
    /// context the mode becomes FlowPlain); Some(false): ended before an indicator;
    /// None: something libyaml rejects.
    #[inline(always)]
    fn plain(&mut self, s: &[u8], p: &mut usize, continuing: bool) -> Option<bool> {
        let n = s.len();
        let flow = self.depth > 0;
        let mut first = !continuing;
        loop {
            if !first && s[*p] == b'#' {
                // A comment ends the scalar and the line.
                *p = n;
                return Some(false);
            }
            first = false;
            let stop = if flow {
                &PLAIN_STOP_FLOW
            } else {
                &PLAIN_STOP_BLOCK
            };
            while *p < n && s[*p] != b' ' {
                // Fast path over bytes that cannot end (or break) a plain scalar.
                while *p < n && !stop[usize::from(s[*p])] {
                    *p += 1;
                }
                if *p >= n || s[*p] == b' ' {
                    break;
                }
                let c = s[*p];
                let next = s.get(*p + 1).copied();
                if flow
                    && c == b':'
                    && next.is_some_and(|x| matches!(x, b',' | b'?' | b'[' | b']' | b'{' | b'}'))
                {
                    return None;
                }
                if c == b':' && next.is_none_or(|x| x == b' ') {
                    return Some(false);
                }
                if flow && matches!(c, b',' | b'[' | b']' | b'{' | b'}') {
                    return Some(false);
                }
                *p += 1;
            }
            while *p < n && s[*p] == b' ' {
                *p += 1;
            }
            if *p >= n {
                if flow {
                    self.mode = Mode::FlowPlain;
                }
                return Some(true);
            }
        }
    }
}

/// Bytes of the words [`simple_line`] takes: `A-Z a-z 0-9 _ . / + -`.
const WORD: [bool; 256] = alnum_and(b"_./+-");

/// The most common block lines, in block context outside any scalar: `[- ]KEY:`,
/// `[- ]KEY: VALUE` and `- VALUE`, one space after each indicator, KEY and VALUE [`WORD`]
/// bytes only, KEY starting with a letter, digit or `_`, VALUE not a lone `-`. The line ends
/// at the first `\n` of `s`, or with `s`. None for any other line; else the line's length and
/// what it leaves pending: None after `KEY:`, or a plain scalar running to the line end whose
/// continuation lines must be indented past the returned column (its key's, or its dash's).
#[inline(always)]
fn simple_line(s: &[u8], indent: usize) -> Option<(usize, Option<i64>)> {
    let c = s.get(indent..)?;
    let eol = |i: usize| i == c.len() || c[i] == b'\n';
    let dash = c.starts_with(b"- ");
    let start = if dash { 2 } else { 0 };
    let word = |from: usize| {
        from + c[from..]
            .iter()
            .take_while(|&&b| WORD[usize::from(b)])
            .count()
    };
    // A plain scalar: not empty, and not a lone `-` (a sequence indicator).
    let value_ok = |from: usize, to: usize| to > from && c[from..to] != *b"-";
    let end = word(start);
    if eol(end) {
        // `- VALUE`
        return (dash && value_ok(start, end)).then_some((indent + end, Some(indent as i64)));
    }
    let key_col = (indent + start) as i64;
    if c[end] != b':' || end == start || !(c[start].is_ascii_alphanumeric() || c[start] == b'_') {
        return None;
    }
    if eol(end + 1) {
        return Some((indent + end + 1, None));
    }
    if c[end + 1] != b' ' {
        return None;
    }
    let v = end + 2;
    let v_end = word(v);
    (eol(v_end) && value_ok(v, v_end)).then_some((indent + v_end, Some(key_col)))
}

const fn stop_table(flow: bool) -> [bool; 256] {
    let mut t = [false; 256];
    t[b' ' as usize] = true;
    t[b':' as usize] = true;
    if flow {
        t[b',' as usize] = true;
        t[b'[' as usize] = true;
        t[b']' as usize] = true;
        t[b'{' as usize] = true;
        t[b'}' as usize] = true;
    }
    t
}
const PLAIN_STOP_BLOCK: [bool; 256] = stop_table(false);
const PLAIN_STOP_FLOW: [bool; 256] = stop_table(true);

/// Is `body` safe to defer (see module docs)? `lines` are its lines.
#[cfg(test)]
fn body_ok(t: &[u8], lines: &[Line]) -> bool {
    body_scan(t, lines).is_some()
}

/// [`body_ok`], with the scan's state after each line ([`Region::scan`]) when it holds.
fn body_scan(t: &[u8], lines: &[Line]) -> Option<Vec<u8>> {
    let (Some(first), Some(last)) = (lines.first(), lines.last()) else {
        return Some(Vec::new());
    };
    // A tab anywhere in the body (its lines and their newlines) is refused.
    if memchr::memchr(b'\t', t.get(first.start()..last.end())?).is_some() {
        return None;
    }
    let mut scan = Scan::new();
    let mut states = Vec::with_capacity(lines.len());
    for l in lines {
        let s = t.get(l.start()..l.end())?;
        if !scan.line(s, l.indent()) {
            return None;
        }
        scan.refs.clear();
        let closed = scan.depth == 0 && scan.mode == Mode::Normal;
        states.push(if closed && !scan.plain_pending {
            FRESH | CLOSED
        } else if closed {
            CLOSED
        } else {
            0
        });
    }
    (scan.depth == 0 && scan.mode == Mode::Normal).then_some(states)
}

/// Skip, unparsed, the block node under a `KEY: !tag` line whose key is at column `parent`:
/// `start` is where the line after the tag line starts. The body is the following lines
/// indented deeper than `parent`, blank and comment lines aside. It is skipped only when it
/// passes the body scan (no YAML core tag or merge key token, which construct and may
/// fail), so a parser that goes on after it reads the rest of the text exactly as
/// libyaml would; every alias in it must follow an anchor of the same name in this or an
/// earlier skipped body (`defs`, which gets this body's anchors).
///
/// The caller reads no aliases or anchors itself, has checked that `t` is printable ASCII
/// and newlines (no tab: the scan does not model them), and that its primary tag handle `!`
/// cannot make YAML core tags. Returns the end (just after the last content line's newline)
/// and the number of lines through it; Err(bytes read): parse the node instead.
pub(crate) fn skip_body<'a>(
    t: &'a [u8],
    start: usize,
    parent: usize,
    defs: &mut Vec<&'a [u8]>,
) -> Result<(usize, u64), usize> {
    let mut scan = Scan::new();
    let mut refs: Vec<(bool, usize, usize)> = Vec::new();
    // (end, lines, closed) after the last content line so far.
    let mut last: Option<(usize, u64, bool)> = None;
    let mut pos = start;
    let mut lines = 0u64;
    while pos < t.len() {
        let rest = &t[pos..];
        let indent = spaces(rest);
        let blank = matches!(rest.get(indent), None | Some(b'\n' | b'#'));
        if !blank && indent <= parent {
            break;
        }
        // The common lines are read, and their end found, in one pass.
        let simple = if !blank && scan.simple_ok(indent) {
            simple_line(rest, indent)
        } else {
            None
        };
        let len = match simple {
            Some((len, pending)) => {
                scan.take_simple(pending);
                len
            }
            None => {
                let len = indent + line_len(&rest[indent..]);
                // `line` would only try simple_line again.
                if !scan.line_general(&rest[..len], indent) {
                    return Err(pos + len - start);
                }
                len
            }
        };
        if !scan.refs.is_empty() {
            refs.extend(scan.refs.drain(..).map(|(a, x, y)| (a, pos + x, pos + y)));
        }
        lines += 1;
        pos += len + 1;
        if !blank {
            last = Some((pos.min(t.len()), lines, scan.closed()));
        }
    }
    let Some((end, lines, closed)) = last else {
        return Err(pos - start);
    };
    if !closed {
        return Err(end - start);
    }
    let known = defs.len();
    for (anchor, a, b) in refs.into_iter().filter(|r| r.1 < end) {
        let name = &t[a..b];
        if anchor {
            // A duplicate anchor is an error (PyYAML's composer).
            if defs.contains(&name) {
                defs.truncate(known);
                return Err(end - start);
            }
            defs.push(name);
        } else if !defs.contains(&name) {
            defs.truncate(known);
            return Err(end - start);
        }
    }
    Ok((end, lines))
}

/// Text-level checks that make laziness unsafe anywhere: other line breaks than '\n',
/// non-UTF-8 encodings, placeholders already present.
fn text_ok(t: &[u8]) -> bool {
    if t.starts_with(&[0xFF, 0xFE])
        || t.starts_with(&[0xFE, 0xFF])
        || memchr::memchr2(b'\r', 0, t).is_some()
    {
        return false;
    }
    // Placeholder (EE 80 80), NEL (C2 85), LS/PS (E2 80 A8/A9) all start with C2, E2 or EE.
    let mut ph = [0u8; 4];
    let ph = PLACEHOLDER.encode_utf8(&mut ph).as_bytes();
    memchr::memchr3_iter(0xC2, 0xE2, 0xEE, t).all(|i| {
        let s = &t[i..];
        !(s.starts_with(ph)
            || s.starts_with("\u{85}".as_bytes())
            || s.starts_with("\u{2028}".as_bytes())
            || s.starts_with("\u{2029}".as_bytes()))
    })
}

/// Body bytes must be text libyaml accepts (so deferral cannot hide a reader error).
fn printable(b: &[u8]) -> bool {
    // ASCII fast path: only '\n' and 0x20..0x7E; anything else goes through char checks.
    let bad = |c: u8| u8::from(!((0x20..0x7f).contains(&c) || c == b'\n'));
    // Branch-free per chunk so the compiler can vectorize it.
    if b.chunks(64)
        .all(|ch| ch.iter().fold(0u8, |acc, &c| acc | bad(c)) == 0)
    {
        return true;
    }
    let Ok(s) = std::str::from_utf8(b) else {
        return false;
    };
    s.chars().all(|c| {
        c == '\n'
            || (c >= ' '
                && c != '\u{7f}'
                && !('\u{80}'..='\u{9f}').contains(&c)
                && c != '\u{feff}'
                && c != '\u{fffe}'
                && c != '\u{ffff}')
    })
}

/// Anchor and alias names (`&name`, `*name`) with their byte offsets, found textually.
fn anchor_names(t: &[u8]) -> Vec<(usize, &[u8])> {
    let mut out = Vec::new();
    for i in memchr::memchr2_iter(b'&', b'*', t) {
        let mut j = i + 1;
        while j < t.len() && is_name(t[j]) {
            j += 1;
        }
        if j > i + 1 {
            out.push((i, &t[i + 1..j]));
        }
    }
    out
}

/// Index of the region whose body holds byte `pos` (regions are in text order).
fn find_region(regions: &[(Region, usize, Option<usize>)], pos: usize) -> Option<usize> {
    let i = regions.partition_point(|(r, _, _)| r.body.end <= pos);
    regions
        .get(i)
        .filter(|(r, _, _)| r.body.contains(&pos))
        .map(|_| i)
}

/// Region index in [`Region::imports`] meaning "imported by the enclosing region".
pub const INHERITED: u32 = u32::MAX;

/// Anchor names crossing the boundary of the text being planned, when it is itself the text
/// of a deferred region.
#[derive(Debug, Default, Clone, Copy)]
pub struct Outer<'a> {
    /// Aliases the enclosing region imports (their anchors are outside this text).
    pub imports: &'a [String],
    /// Anchors the enclosing region exports (aliased outside this text).
    pub exports: &'a [String],
    /// The enclosing region's [`Region::scan`] when this text is its [`region_doc`] (empty:
    /// unknown). Its body passed every check of an accepted body, so a nested body starting
    /// where that scan was [`FRESH`] passes them too iff the scan was [`CLOSED`] at its end.
    pub scan: &'a [u8],
}

/// Drop regions whose anchors/aliases cross their boundary in ways a deferred parse cannot
/// reproduce, and record the allowed crossings. Names are found textually (a superset of the
/// real anchors and aliases). A region may alias an anchor defined once in the whole text, in
/// itself or in an earlier region, or one the enclosing region imports; its anchors may be
/// aliased by later regions or outside the enclosing region, but not by the eager text.
fn link_anchors(t: &[u8], regions: &mut Vec<(Region, usize, Option<usize>)>, outer: Outer<'_>) {
    let names = anchor_names(t);
    if names.is_empty() {
        return;
    }
    let inherited = |n: &[u8]| outer.imports.iter().any(|k| k.as_bytes() == n);
    let exported = |n: &[u8]| outer.exports.iter().any(|k| k.as_bytes() == n);
    let mut defs: FxHashMap<&[u8], Vec<usize>> = FxHashMap::default();
    for &(pos, n) in &names {
        if t[pos] == b'&' {
            defs.entry(n).or_default().push(pos);
        }
    }
    loop {
        let region_of = |pos: usize| find_region(regions, pos);
        let mut drop: Vec<usize> = Vec::new();
        for &(pos, n) in &names {
            let here = region_of(pos);
            let def = defs.get(n).map(Vec::as_slice).unwrap_or(&[]);
            if t[pos] == b'&' {
                // Defined twice (or one textual copy is in a string): keep everything eager.
                if def.len() > 1 {
                    drop.extend(def.iter().filter_map(|&d| region_of(d)));
                }
                continue;
            }
            match (here, def) {
                // Alias in eager text: its anchor must be in eager text too.
                (None, [d]) => drop.extend(region_of(*d)),
                (None, _) => {}
                // Alias in region `a` to an anchor in region `b` before it (or in itself).
                (Some(a), [d]) if *d < pos && region_of(*d).is_some_and(|b| b <= a) => {}
                (Some(_), []) if inherited(n) => {}
                (Some(a), _) => drop.push(a),
            }
        }
        if drop.is_empty() {
            break;
        }
        drop.sort_unstable();
        drop.dedup();
        for i in drop.into_iter().rev() {
            regions.remove(i);
        }
    }
    // (region, import to add, export to add)
    type Add = (usize, Option<(String, u32)>, Option<String>);
    let mut adds: Vec<Add> = Vec::new();
    for &(pos, n) in &names {
        let name = || String::from_utf8_lossy(n).into_owned();
        let Some(a) = find_region(regions, pos) else {
            continue;
        };
        if t[pos] == b'&' {
            if exported(n) {
                adds.push((a, None, Some(name())));
            }
            continue;
        }
        let from = match defs.get(n).map(Vec::as_slice) {
            Some([d]) => match find_region(regions, *d) {
                Some(b) if b != a => b as u32,
                _ => continue,
            },
            _ => INHERITED,
        };
        adds.push((a, Some((name(), from)), None));
        if from != INHERITED {
            adds.push((from as usize, None, Some(name())));
        }
    }
    for (r, imp, exp) in adds {
        let region = &mut regions[r].0;
        if let Some(imp) = imp.filter(|i| !region.imports.contains(i)) {
            region.imports.push(imp);
        }
        if let Some(exp) = exp.filter(|e| !region.exports.contains(e)) {
            region.exports.push(exp);
        }
    }
}

/// Plan deferral for the YAML text `t`; None when nothing is deferred.
/// `outer`: names crossing the text's own boundary (see [`link_anchors`]).
pub fn plan(t: &[u8], min_body: usize, outer: Outer<'_>) -> Option<Plan> {
    plan_with(t, min_body, outer, None)
}

/// [`plan`] deferring only `KEY: !tag` subtrees whose key is `only` (e.g. every `wcs`, which
/// `read_metadata` leaves out), at any depth.
pub fn plan_only(t: &[u8], min_body: usize, only: &[u8]) -> Option<Plan> {
    plan_with(t, min_body, Outer::default(), Some(only))
}

fn plan_with(t: &[u8], min_body: usize, outer: Outer<'_>, only: Option<&[u8]>) -> Option<Plan> {
    if !text_ok(t) {
        return None;
    }
    let lines = lines_of(t)?;
    // The document must start with an explicit '---' line after directives/comments.
    let doc_line = lines.iter().position(|l| {
        let s = &t[l.start()..l.end()];
        s.starts_with(b"---") && s.get(3).is_none_or(|&c| c == b' ')
    })?;
    if !lines[..doc_line].iter().all(|l| {
        let s = &t[l.start()..l.end()];
        s.is_empty() || s[0] == b'%' || s[0] == b'#'
    }) {
        return None;
    }
    let handles = tag_handles(t, &lines[..doc_line]);
    // The enclosing scan's states of this text's body lines (those after the `---` line).
    let known_base = doc_line + 1;
    let known = (!outer.scan.is_empty() && outer.scan.len() == lines.len() - known_base)
        .then_some(outer.scan);
    let mut regions: Vec<(Region, usize, Option<usize>)> = Vec::new();
    let mut k = doc_line + 1;
    // Nested rejected candidates rescan their bodies: bound the total work (crafted deep
    // nesting would be quadratic) and give up deferring past it.
    let mut budget = 32 * t.len() + (1 << 20);
    while k < lines.len() {
        let l = &lines[k];
        let s = &t[l.start()..l.end()];
        let Some((reference, tag, key_col)) =
            candidate(s, l.indent()).filter(|(_, tag, key_col)| {
                let keyed = only.is_none_or(|k| {
                    key_col
                        .is_some_and(|c| s[c..].starts_with(k) && s.get(c + k.len()) == Some(&b':'))
                });
                keyed
                    && resolve_tag(&s[tag.clone()], &handles).is_some_and(|full| {
                        !EAGER_PREFIXES
                            .iter()
                            .any(|p| full.starts_with(p.as_bytes()))
                    })
            })
        else {
            k += 1;
            continue;
        };
        // Body: following lines deeper than `reference`, blank/comment lines aside.
        let mut last = None;
        let mut j = k + 1;
        while j < lines.len() {
            let m = &lines[j];
            budget = budget.checked_sub(m.end() - m.start() + 1)?;
            let ms = &t[m.start()..m.end()];
            let blank = m.indent() == ms.len() || ms[m.indent()] == b'#';
            if !blank {
                if m.indent() <= reference {
                    break;
                }
                last = Some(j);
            }
            j += 1;
        }
        let accepted = last.and_then(|last| {
            let first_content = (k + 1..=last).find(|&q| {
                let m = &lines[q];
                m.indent() < m.end() - m.start() && t[m.start() + m.indent()] != b'#'
            })?;
            if lines[first_content].indent() <= reference {
                return None;
            }
            let body = l.end() + 1..(lines[last].end() + 1).min(t.len());
            if body.len() < min_body {
                return None;
            }
            // What the enclosing scan knows of this body (see [`Outer::scan`]).
            let known = known.and_then(|states| {
                let fresh = states.get(k.checked_sub(known_base)?)? & FRESH != 0;
                let sub = states.get(k + 1 - known_base..=last - known_base)?;
                fresh.then_some(sub)
            });
            if let Some(sub) = known {
                return (sub.last()? & CLOSED != 0).then(|| (sub.to_vec(), last));
            }
            // Merge keys and core tags (!!omap...) look into aliased nodes while composing,
            // which an imported alias cannot show: keep such bodies eager.
            let bt = &t[body.clone()];
            if contains(bt, b"<<") || contains(bt, b"!!") || !printable(bt) || {
                budget = budget.saturating_sub(bt.len());
                budget == 0
            } {
                return None;
            }
            body_scan(t, &lines[k + 1..=last]).map(|states| (states, last))
        });
        let accepted = accepted.map(|(scan, last)| {
            (
                Region {
                    line: k,
                    tag: l.start() + tag.start..l.start() + tag.end,
                    body: l.end() + 1..(lines[last].end() + 1).min(t.len()),
                    imports: Vec::new(),
                    exports: Vec::new(),
                    scan,
                },
                last,
            )
        });
        match accepted {
            Some((r, last)) => {
                regions.push((r, l.start(), key_col));
                k = last + 1;
            }
            None => k += 1,
        }
    }
    link_anchors(t, &mut regions, outer);
    if regions.is_empty() {
        return None;
    }
    let mut text = Vec::with_capacity(t.len());
    let mut expect = Vec::with_capacity(regions.len());
    let mut removed_lines = 0usize;
    let mut pos = 0usize;
    for (idx, (r, line_start, key_col)) in regions.iter().enumerate() {
        text.extend_from_slice(&t[pos..r.tag.end]);
        text.push(b' ');
        text.extend_from_slice(format!("{PLACEHOLDER}{idx}\n").as_bytes());
        expect.push(Expect {
            line: (r.line - removed_lines) as u64,
            tag_col: (r.tag.start - line_start) as u64,
            key_col: key_col.map(|c| c as u64),
        });
        removed_lines += memchr::memchr_iter(b'\n', &t[r.body.clone()]).count();
        pos = r.body.end;
    }
    text.extend_from_slice(&t[pos..]);
    let doc_start = lines[doc_line].start();
    Some(Plan {
        text,
        expect,
        regions: regions.into_iter().map(|(r, _, _)| r).collect(),
        doc_start,
    })
}

/// The standalone document for a region (directives, `--- !tag`, body) and the number to add
/// to its 0-based line numbers to get original line numbers.
pub fn region_doc(t: &[u8], doc_start: usize, r: &Region) -> (Vec<u8>, i64) {
    let mut out = Vec::with_capacity(doc_start + r.body.len() + 64);
    out.extend_from_slice(&t[..doc_start]);
    out.extend_from_slice(b"--- ");
    out.extend_from_slice(&t[r.tag.clone()]);
    out.push(b'\n');
    out.extend_from_slice(&t[r.body.clone()]);
    let prefix_lines = t[..doc_start].iter().filter(|&&c| c == b'\n').count();
    (out, r.line as i64 - prefix_lines as i64)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn ok(body: &str) -> bool {
        let t = body.as_bytes();
        let lines = lines_of(t).unwrap();
        body_ok(t, &lines)
    }

    /// Planning a region's text with the enclosing scan's states gives the plan found
    /// without them (checked recursively); returns how many region texts were checked.
    pub fn scan_hint_agrees(t: &[u8], outer: Outer<'_>) -> usize {
        let Some(p) = plan(t, MIN_BODY, outer) else {
            return 0;
        };
        let mut n = 0;
        for r in &p.regions {
            let (rt, _) = region_doc(t, p.doc_start, r);
            let imports: Vec<String> = r.imports.iter().map(|(n, _)| n.clone()).collect();
            let o = Outer {
                imports: &imports,
                exports: &r.exports,
                scan: &r.scan,
            };
            let with = plan(&rt, MIN_BODY, o);
            let without = plan(&rt, MIN_BODY, Outer { scan: &[], ..o });
            assert_eq!(format!("{with:?}"), format!("{without:?}"));
            n += 1 + scan_hint_agrees(&rt, o);
        }
        n
    }

    #[test]
    fn scan_hint_on_real_text() {
        if let Ok(t) = std::fs::read("/tmp/yprof/test1.yaml") {
            assert!(scan_hint_agrees(&t, Outer::default()) >= 2);
        }
    }

    #[test]
    fn simple_lines_scan_like_the_general_rules() {
        // Random short lines from a small alphabet, after random scan states: wherever the
        // simple-line path takes a line, it must leave the state the general rules leave.
        let mut rng = crate::asdf::tests::Rng(11);
        let alphabet: &[&[u8]] = &[
            b"a", b"Z", b"7", b"_", b".", b"/", b"+", b"-", b"- ", b":", b": ", b" ", b"#", b"key",
            b"x: 1", b"'", b"!", b"&a", b"*a", b"[", b"{", b"?", b"|",
        ];
        let mut taken = 0;
        for _ in 0..500_000 {
            let indent = rng.below(4);
            let mut s = vec![b' '; indent];
            for _ in 0..rng.below(6) {
                s.extend_from_slice(alphabet[rng.below(alphabet.len())]);
            }
            let mut before = Scan::new();
            before.plain_pending = rng.below(2) == 0;
            before.cont_bound = rng.below(5) as i64 - 1;
            let Some((len, pending)) = simple_line(&s, indent) else {
                assert!(simple_line(&[&s[..], b"\nx: y"].concat(), indent).is_none());
                continue;
            };
            assert_eq!(len, s.len());
            // The same line with more text after it.
            assert_eq!(
                simple_line(&[&s[..], b"\n- : x"].concat(), indent),
                Some((len, pending))
            );
            if before.plain_pending && indent as i64 > before.cont_bound {
                continue; // `line` does not ask simple_line then
            }
            taken += 1;
            let mut fast = before.clone();
            assert!(fast.line(&s, indent));
            let mut general = before.clone();
            assert!(
                general.line_general(&s, indent),
                "{:?}",
                String::from_utf8_lossy(&s)
            );
            assert_eq!(fast.plain_pending, pending.is_some());
            if fast.plain_pending {
                assert_eq!(fast, general, "{:?}", String::from_utf8_lossy(&s));
            } else {
                // No pending scalar: the continuation bound is never read again.
                general.cont_bound = fast.cont_bound;
                assert_eq!(fast, general, "{:?}", String::from_utf8_lossy(&s));
            }
        }
        assert!(taken > 5_000, "{taken}");
    }

    #[test]
    fn line_lengths() {
        let mut rng = crate::asdf::tests::Rng(7);
        for _ in 0..2000 {
            let n = rng.below(40);
            let s: Vec<u8> = (0..n)
                .map(|_| [b'a', b' ', b'\n', 0x0b, 0x8a, b'\t'][rng.below(6)])
                .collect();
            let want = memchr::memchr(b'\n', &s).unwrap_or(s.len());
            assert_eq!(line_len(&s), want, "{s:?}");
        }
    }

    #[test]
    fn leading_spaces() {
        for n in 0..40 {
            for tail in ["", "x", "x  y", "\n  "] {
                let s = format!("{}{tail}", " ".repeat(n));
                assert_eq!(spaces(s.as_bytes()), n, "{s:?}");
            }
        }
    }

    #[test]
    fn body_scan_table() {
        let cases: &[(&str, bool)] = &[
            ("  a: 1\n  b: [1, 2]\n  c: {x: 'y', z: \"w\"}\n", true),
            ("  a: [1,\n 2]\n", true),
            ("  a: \"multi\n line\"\n", true),
            ("  a: 'it''s\n  ok'\n", true),
            ("  a: \"open\n", false),
            ("  a: [1,\n", false),
            ("  a: 'x\n", false),
            ("  a: it's\n  b: 'fine'\n", true),
            ("  a: foo\n    'bar\n", false),
            ("  - frame: x\n    name: 'y'\n", true),
            ("  a: |\n    text\n", false),
            ("  a: >\n    text\n", false),
            ("  ? k\n  : v\n", false),
            ("  a:\tb\n", false),
            ("  a: b # c 'd\n", true),
            ("  a: b#c 'd\n", true),
            ("  a: \"x\\\"y\"\n", true),
            ("  a: \"x\\\n  y\"\n", true),
            ("  a: &x [1]\n  b: *x\n", true),
            ("  a: &x{1}\n", false),
            ("  a: !foo [1]\n", true),
            ("  a: !foo{ [1]\n", false),
            ("  a: !<tag:x> {b: 1}\n", true),
            ("  a: @x\n", false),
            ("  a: ]\n", false),
            ("  a: [b: c, {d: e}]\n", true),
            ("  a: [x:, y]\n", false),
            ("  a: [http://x, y]\n", true),
            ("  a: [1, 2\n    , 3]\n", true),
            ("  a: [foo\n    bar, 'x]\n", false),
            ("  - - 'a'\n    - b\n", true),
            ("  a: \"x\" # 'open\n", true),
            ("  a: [#c\n   1]\n", true),
            ("  a: [foo\n    #bar, 'x]\n   ]\n", true),
            ("  a: [foo\n    bar, 'x]\n   ]\n", false),
        ];
        for (body, want) in cases {
            assert_eq!(ok(body), *want, "body {body:?}");
        }
    }

    #[test]
    fn tag_resolution() {
        let h = vec![
            (b"!".to_vec(), b"tag:stsci.edu:asdf/".to_vec()),
            (b"!g!".to_vec(), b"tag:g/".to_vec()),
        ];
        let r = |t: &str| resolve_tag(t.as_bytes(), &h).map(|v| String::from_utf8(v).unwrap());
        assert_eq!(
            r("!core/asdf-1.1.0").as_deref(),
            Some("tag:stsci.edu:asdf/core/asdf-1.1.0")
        );
        assert_eq!(r("!<tag:x/y>").as_deref(), Some("tag:x/y"));
        assert_eq!(r("!g!wcs").as_deref(), Some("tag:g/wcs"));
        assert_eq!(r("!h!wcs"), None);
        assert_eq!(r("!a%21"), None);
        assert_eq!(resolve_tag(b"!foo", &[]).as_deref(), Some(&b"!foo"[..]));
    }

    #[test]
    fn planning_work_is_bounded() {
        // 1500 nested candidates, each rejected (a tab at the very end): bounded, then None.
        let mut t = String::from("---\n");
        for i in 0..1500 {
            t.push_str(&" ".repeat(i));
            t.push_str(&format!("k{i}: !foo\n"));
        }
        t.push_str(&" ".repeat(1501));
        t.push_str("x: \t\n");
        let start = std::time::Instant::now();
        assert!(plan(t.as_bytes(), 1, Outer::default()).is_none());
        assert!(start.elapsed() < std::time::Duration::from_secs(10));
    }

    fn big(n: usize) -> String {
        (0..n)
            .map(|i| format!("      k{i}: [1, 2.5, 'x']\n"))
            .collect()
    }

    #[test]
    fn plans() {
        let body = big(200);
        let t = format!(
            "%YAML 1.1\n%TAG ! tag:stsci.edu:asdf/\n--- !core/asdf-1.1.0\nmeta:\n  wcs: !<tag:stsci.edu:gwcs/wcs-1.1.0>\n{body}\
             # comment\n  x: 1\nsteps:\n- !transform/shift-1.2.0\n{body}- 3\ndata: !core/ndarray-1.0.0\n{body}\
             obj: !core/asdf-1.1.0\n{body}...\n"
        );
        let p = plan(t.as_bytes(), 100, Outer::default()).unwrap();
        assert_eq!(p.regions.len(), 3);
        let s = String::from_utf8(p.text.clone()).unwrap();
        assert!(
            s.contains("  wcs: !<tag:stsci.edu:gwcs/wcs-1.1.0> \u{e000}0\n# comment\n  x: 1\n"),
            "{s}"
        );
        assert!(
            s.contains("- !transform/shift-1.2.0 \u{e000}1\n- 3\n"),
            "{s}"
        );
        assert!(s.contains("data: !core/ndarray-1.0.0\n      k0"));
        assert!(s.contains("obj: !core/asdf-1.1.0 \u{e000}2\n"));
        assert_eq!(p.expect[0].line, 4);
        assert_eq!(p.expect[0].tag_col, 7);
        assert_eq!(p.expect[0].key_col, Some(2));
        assert_eq!(p.expect[1].line, 8);
        assert_eq!(p.expect[1].key_col, None);
        let (doc, off) = region_doc(t.as_bytes(), p.doc_start, &p.regions[0]);
        let ds = String::from_utf8(doc).unwrap();
        assert!(ds.starts_with(
            "%YAML 1.1\n%TAG ! tag:stsci.edu:asdf/\n--- !<tag:stsci.edu:gwcs/wcs-1.1.0>\n      k0:"
        ));
        assert_eq!(off, 4 - 2);
        // Shared anchors keep a region eager.
        let t2 = format!("---\na: !foo\n{body}    z: &q 1\nb: *q\n");
        assert!(plan(t2.as_bytes(), 100, Outer::default()).is_none());
        let t3 = format!("---\na: !foo\n{body}    z: &q 1\n    y: *q\nb: 1\n");
        assert!(plan(t3.as_bytes(), 100, Outer::default()).is_some());
        // Later regions may alias anchors of earlier ones.
        let t4 = format!(
            "---\na: !foo\n{body}    z: &q 1\nb: !foo\n{body}    y: *q\nc: !foo\n{body}    x: *q\n"
        );
        let p4 = plan(t4.as_bytes(), 100, Outer::default()).unwrap();
        assert_eq!(p4.regions.len(), 3);
        assert_eq!(p4.regions[0].exports, vec!["q".to_string()]);
        assert_eq!(p4.regions[1].imports, vec![("q".to_string(), 0)]);
        assert_eq!(p4.regions[2].imports, vec![("q".to_string(), 0)]);
        // ...but not the other way round, and not twice-defined names.
        let t5 = format!("---\na: !foo\n{body}    y: *q\nb: !foo\n{body}    z: &q 1\n");
        assert!(plan(t5.as_bytes(), 100, Outer::default()).is_none());
        let t6 = format!("---\na: !foo\n{body}    z: &q 1\nb: !foo\n{body}    y: *q\nd: '&q'\n");
        assert!(plan(t6.as_bytes(), 100, Outer::default()).is_none());
        // Inside a deferred region: anchors it exports are exported on, aliases it imports
        // are imported on.
        let q = vec!["q".to_string()];
        let t8 = format!("---\na: !foo\n{body}    z: &q 1\nb: !foo\n{body}    y: *r\n");
        assert_eq!(
            plan(t8.as_bytes(), 100, Outer::default())
                .unwrap()
                .regions
                .len(),
            1
        );
        let r = vec!["r".to_string()];
        let p8 = plan(
            t8.as_bytes(),
            100,
            Outer {
                imports: &r,
                exports: &q,
                scan: &[],
            },
        )
        .unwrap();
        assert_eq!(p8.regions.len(), 2);
        assert_eq!(p8.regions[0].exports, q);
        assert_eq!(p8.regions[1].imports, vec![("r".to_string(), INHERITED)]);
        // An anchor in eager text cannot be imported.
        let t7 = format!("---\nx: &q 1\na: !foo\n{body}    y: *q\n");
        assert!(plan(t7.as_bytes(), 100, Outer::default()).is_none());
        // Too small, CR line ends, placeholder char already present.
        assert!(plan(t.as_bytes(), 1 << 20, Outer::default()).is_none());
        assert!(plan(t.replace('\n', "\r\n").as_bytes(), 100, Outer::default()).is_none());
        assert!(plan(format!("{t}#\u{e000}\n").as_bytes(), 100, Outer::default()).is_none());
    }
}
