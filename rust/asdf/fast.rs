//! A fast event producer for the YAML subset asdf's (PyYAML's) emitter writes, giving exactly
//! the events libyaml-safer gives for the same text (values, styles, tags, implicit flags and
//! node start marks: the composer reads nothing else), or `None` to let libyaml-safer parse.
//!
//! Accepted: `%YAML 1.1|1.2` and `%TAG` directives, an explicit `---` document with an
//! optional `...`; block mappings with one-line plain or single-quoted keys; block sequences
//! (also indentless and compact `- - x` / `- key: v`); flow sequences and mappings (may span
//! lines after separators); plain scalars on one line; single-quoted scalars (may fold over
//! lines without blank lines); `!suffix`, `!!suffix`, `!<verbatim>` tags. The lazy plan's
//! placeholder scalars (U+E000 + digits, ending their line) are the only non-ASCII accepted.
//!
//! A sink may have `KEY: !tag` block values skipped unparsed ([`Sink::skippable`]; the
//! exactness checks are [`lazy::skip_body`]'s).
//!
//! Anything else returns `None` (whole text): anchors, aliases, double quotes, block scalars,
//! comments, tabs, CR, non-ASCII, complex or multi-line keys, multi-line plain scalars,
//! empty values, `!` alone, named tag handles, `%` escapes, more documents, deep nesting,
//! indentation libyaml could read differently. Errors are libyaml-safer's business, so every
//! doubtful input bails out. The differential tests compare both producers event by event.

use super::lazy;
use super::resolve::YAML_PREFIX;
use super::yaml::{Ev, Mark, ScalarStyle};
use std::borrow::Cow;

/// A resolved tag without allocation: a `%TAG` prefix and the suffix after the handle (a
/// verbatim `!<tag>` has an empty prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagRef<'a> {
    pub prefix: &'a str,
    pub suffix: &'a str,
}

impl TagRef<'_> {
    pub fn full(&self) -> String {
        [self.prefix, self.suffix].concat()
    }

    /// Is this the non-specific tag `!` (resolved like an untagged plain scalar)?
    pub fn is_non_specific(&self) -> bool {
        matches!((self.prefix, self.suffix), ("", "!") | ("!", ""))
    }

    /// Does the full tag start with `p`?
    pub fn starts_with(&self, p: &str) -> bool {
        let n = self.prefix.len().min(p.len());
        self.prefix.as_bytes()[..n] == p.as_bytes()[..n]
            && (p.len() <= self.prefix.len() || self.suffix.starts_with(&p[self.prefix.len()..]))
    }
}

/// Where the fast path's events go: [`events`] collects them as [`Ev`]s; other sinks build
/// trees directly. A sink returning None stops the parse (the caller takes another path).
pub trait Sink<'a> {
    fn scalar(
        &mut self,
        tag: Option<TagRef<'a>>,
        value: Cow<'a, str>,
        style: ScalarStyle,
        m: Mark,
    ) -> Option<()>;
    /// Start of a mapping (`map`) or sequence.
    fn start(&mut self, map: bool, tag: Option<TagRef<'a>>, block: bool, m: Mark) -> Option<()>;
    fn end(&mut self, map: bool, m: Mark) -> Option<()>;
    /// Stream and document start/end events.
    fn frame(&mut self, _ev: Ev, _m: Mark) {}
    /// At a block mapping value that is `tag` alone on its line: should the block node below
    /// be skipped unparsed? (It is when [`lazy::skip_body`] accepts it; [`Sink::skipped`] then
    /// stands for all its events.)
    fn skippable(&self, _tag: &TagRef<'a>) -> bool {
        false
    }
    /// The value node starting at `m` was skipped; its body was lines `body` (0-based).
    fn skipped(&mut self, _m: Mark, _body: (u64, u64)) -> Option<()> {
        None
    }
}

impl<'a, S: Sink<'a>> Sink<'a> for &mut S {
    #[inline(always)]
    fn scalar(
        &mut self,
        tag: Option<TagRef<'a>>,
        value: Cow<'a, str>,
        style: ScalarStyle,
        m: Mark,
    ) -> Option<()> {
        (**self).scalar(tag, value, style, m)
    }
    #[inline(always)]
    fn start(&mut self, map: bool, tag: Option<TagRef<'a>>, block: bool, m: Mark) -> Option<()> {
        (**self).start(map, tag, block, m)
    }
    #[inline(always)]
    fn end(&mut self, map: bool, m: Mark) -> Option<()> {
        (**self).end(map, m)
    }
    fn frame(&mut self, ev: Ev, m: Mark) {
        (**self).frame(ev, m)
    }
    fn skippable(&self, tag: &TagRef<'a>) -> bool {
        (**self).skippable(tag)
    }
    fn skipped(&mut self, m: Mark, body: (u64, u64)) -> Option<()> {
        (**self).skipped(m, body)
    }
}

/// Collects [`Ev`]s.
struct Events(Vec<(Ev, Mark)>);

impl<'a> Sink<'a> for Events {
    fn scalar(
        &mut self,
        tag: Option<TagRef<'a>>,
        value: Cow<'a, str>,
        style: ScalarStyle,
        m: Mark,
    ) -> Option<()> {
        self.0.push((
            Ev::Scalar {
                anchor: None,
                tag: tag.map(|t| t.full()),
                value: value.into_owned(),
                style,
            },
            m,
        ));
        Some(())
    }
    fn start(&mut self, map: bool, tag: Option<TagRef<'a>>, block: bool, m: Mark) -> Option<()> {
        let tag = tag.map(|t| t.full());
        self.0.push((
            if map {
                Ev::MappingStart {
                    anchor: None,
                    tag,
                    block,
                }
            } else {
                Ev::SequenceStart {
                    anchor: None,
                    tag,
                    block,
                }
            },
            m,
        ));
        Some(())
    }
    fn end(&mut self, map: bool, m: Mark) -> Option<()> {
        self.0
            .push((if map { Ev::MappingEnd } else { Ev::SequenceEnd }, m));
        Some(())
    }
    fn frame(&mut self, ev: Ev, m: Mark) {
        self.0.push((ev, m));
    }
}

/// Deepest nesting handled here (deeper: libyaml-safer and the composer's depth cap).
const MAX_DEPTH: usize = 200;
/// libyaml limits simple keys to 1024 characters; stay well below.
const MAX_KEY: usize = 1000;
const PH: [u8; 3] = [0xEE, 0x80, 0x80];
/// [`P::plain_value_raw`]'s start for a folded scalar (its text is in [`P::fold`]).
const FOLDED: usize = usize::MAX - 1;
/// See [`P::plain_raw`] (text offsets stay below it: slices are at most `isize::MAX` long).
const KEY_BIT: usize = 1 << (usize::BITS - 1);

/// Bytes a plain scalar's scan must decide on: in block context, and in flow context.
const fn plain_stops(flow: bool) -> [bool; 256] {
    let mut t = [false; 256];
    let mut c = 0x80;
    while c < 256 {
        t[c] = true;
        c += 1;
    }
    let stops: &[u8] = if flow { b"\n :#,[]{}?" } else { b"\n :#" };
    let mut i = 0;
    while i < stops.len() {
        t[stops[i] as usize] = true;
        i += 1;
    }
    t
}
const BLOCK_STOP: [bool; 256] = plain_stops(false);
const FLOW_STOP: [bool; 256] = plain_stops(true);

static ENABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Turn the fast path on or off (tests compare both); returns the previous setting.
pub fn set_enabled(on: bool) -> bool {
    ENABLED.swap(on, std::sync::atomic::Ordering::Relaxed)
}

type R<T> = Option<T>;

struct P<'a, S> {
    t: &'a [u8],
    /// `t` as text (validated once; slices are taken with `get`).
    s: &'a str,
    pos: usize,
    line: u64,
    line_start: usize,
    /// Indentation of the current content line (-1: end of document or a `---`/`...` line).
    ind: i64,
    out: S,
    /// Explicit %TAG directives, then the defaults.
    handles: Vec<(&'a str, &'a str)>,
    /// The text of a folded plain scalar (see [`P::plain_value_raw`]).
    fold: String,
    /// Anchors of the bodies skipped so far (see [`lazy::skip_body`]).
    skip_defs: Vec<&'a [u8]>,
    /// Bytes the skip scans may still read: a rejected body is parsed, and nested skippable
    /// nodes in it scanned again, so bound the total.
    skip_budget: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    Root,
    MapValue,
    SeqItem,
}

fn is_tag_char(c: u8) -> bool {
    TAG_CHARS[usize::from(c)]
}

const TAG_CHARS: [bool; 256] = lazy::alnum_and(b"-_./:");

/// First character of a plain scalar we accept (`-` checked separately).
fn plain_start(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'_' | b'.' | b'/' | b'+' | b'(' | b')' | b'$' | b'~' | b'=' | b'<' | b';' | b'^'
        )
}

/// Only '\n' and printable ASCII, except placeholder sequences followed by a digit.
fn text_ok(t: &[u8]) -> bool {
    let bad = |c: u8| !((0x20..0x7f).contains(&c) || c == b'\n');
    let mut i = 0;
    while i < t.len() {
        let end = (i + 64).min(t.len());
        // Branch-free per chunk (vectorizes); bytes one by one only in a chunk with others.
        if !t[i..end].iter().fold(false, |a, &c| a | bad(c)) {
            i = end;
            continue;
        }
        while i < end {
            if !bad(t[i]) {
                i += 1;
            } else if t[i..].starts_with(&PH) && t.get(i + 3).is_some_and(u8::is_ascii_digit) {
                i += 3;
            } else {
                return false;
            }
        }
    }
    true
}

impl<'a, S: Sink<'a>> P<'a, S> {
    fn cur(&self) -> u8 {
        self.t.get(self.pos).copied().unwrap_or(0)
    }
    fn at(&self, k: usize) -> u8 {
        self.t.get(self.pos + k).copied().unwrap_or(0)
    }
    fn col(&self) -> u64 {
        (self.pos - self.line_start) as u64
    }
    fn mark(&self) -> Mark {
        Mark {
            line: self.line,
            column: self.col(),
        }
    }
    fn spaces(&mut self) {
        while self.cur() == b' ' {
            self.pos += 1;
        }
    }
    /// Is the text at line start `s` a `---` / `...` marker?
    fn marker_at(&self, s: usize) -> bool {
        let w = self.t.get(s..s + 3);
        (w == Some(b"---") || w == Some(b"..."))
            && matches!(self.t.get(s + 3), None | Some(b' ' | b'\n'))
    }

    /// At the end of a line's content (spaces allowed): move to the next content line and set
    /// `ind`. Blank lines are skipped; comment lines bail out.
    fn eol(&mut self) -> R<()> {
        self.spaces();
        match self.cur() {
            b'\n' => self.pos += 1,
            0 if self.pos >= self.t.len() => {
                self.ind = -1;
                return Some(());
            }
            _ => return None,
        }
        self.line += 1;
        self.line_start = self.pos;
        self.next_content()
    }

    /// From a line start: skip blank lines, stop at the first non-space of a content line.
    fn next_content(&mut self) -> R<()> {
        loop {
            if self.pos >= self.t.len() {
                self.ind = -1;
                return Some(());
            }
            if self.marker_at(self.pos) {
                self.ind = -1;
                return Some(());
            }
            self.spaces();
            match self.cur() {
                b'\n' => {
                    self.pos += 1;
                    self.line += 1;
                    self.line_start = self.pos;
                }
                b'#' => return None,
                0 if self.pos >= self.t.len() => {
                    self.ind = -1;
                    return Some(());
                }
                _ => {
                    self.ind = self.col() as i64;
                    return Some(());
                }
            }
        }
    }

    /// A tag at `pos` (`!`), resolved; `pos` after it and its following spaces.
    fn tag(&mut self, flow: bool) -> R<TagRef<'a>> {
        let t = self.t;
        let tag = if self.at(1) == b'<' {
            let s = self.pos + 2;
            let mut e = s;
            while e < t.len() && is_tag_char(t[e]) {
                e += 1;
            }
            if e == s || t.get(e) != Some(&b'>') {
                return None;
            }
            self.pos = e + 1;
            TagRef {
                prefix: "",
                suffix: self.s.get(s..e)?,
            }
        } else {
            let (handle, s) = if self.at(1) == b'!' {
                ("!!", self.pos + 2)
            } else {
                ("!", self.pos + 1)
            };
            let mut e = s;
            while e < t.len() && is_tag_char(t[e]) {
                e += 1;
            }
            if e == s {
                return None;
            }
            self.pos = e;
            let prefix = self.handles.iter().find(|(h, _)| *h == handle)?.1;
            TagRef {
                prefix,
                suffix: self.s.get(s..e)?,
            }
        };
        match self.cur() {
            b' ' => self.spaces(),
            b'\n' if !flow => {}
            0 if !flow && self.pos >= t.len() => {}
            _ => return None,
        }
        Some(tag)
    }

    /// A plain scalar on one line at `pos`. Returns (value range, ended at `: `/`:\n`).
    /// Block: ends at `: `, `:\n` or the line end; flow: at `,[]{}` or `: ` (bails at the line
    /// end, where a flow plain scalar would continue).
    #[inline(always)]
    fn plain(&mut self, flow: bool) -> R<(usize, usize, bool)> {
        let (s, e) = self.plain_raw(flow);
        (s != usize::MAX).then_some((s, e & !KEY_BIT, e & KEY_BIT != 0))
    }

    /// [`P::plain`] with its result in two registers: `(usize::MAX, _)` for None, the key
    /// flag in [`KEY_BIT`] of the end (returning the tuple through memory costs a stall).
    fn plain_raw(&mut self, flow: bool) -> (usize, usize) {
        match self.plain_inner(flow) {
            Some((s, e, key)) => (s, if key { e | KEY_BIT } else { e }),
            None => (usize::MAX, 0),
        }
    }

    #[inline(always)]
    fn plain_inner(&mut self, flow: bool) -> R<(usize, usize, bool)> {
        let t = self.t;
        let s = self.pos;
        let c = self.cur();
        if c == PH[0] {
            // Lazy placeholder: U+E000 + digits, then the line end.
            if flow || !t[s..].starts_with(&PH) {
                return None;
            }
            let mut e = s + 3;
            while e < t.len() && t[e].is_ascii_digit() {
                e += 1;
            }
            if !matches!(t.get(e), None | Some(b'\n')) {
                return None;
            }
            self.pos = e;
            return Some((s, e, false));
        }
        let ok_start = plain_start(c)
            || (c == b'-' && (self.at(1).is_ascii_alphanumeric() || self.at(1) == b'.'));
        if !ok_start {
            return None;
        }
        let mut e = s; // end of content (exclusive, trailing spaces excluded)
        let mut p = s;
        let mut key = false;
        let stop = if flow { &FLOW_STOP } else { &BLOCK_STOP };
        while p < t.len() {
            // A run of bytes that need no decision.
            let run = p;
            while p < t.len() && !stop[usize::from(t[p])] {
                p += 1;
            }
            if p > run {
                e = p;
            }
            let Some(&c) = t.get(p) else {
                break;
            };
            match c {
                b'\n' => break,
                b' ' => {
                    p += 1;
                    continue;
                }
                b':' => {
                    let n = t.get(p + 1).copied().unwrap_or(b'\n');
                    if n == b' ' || n == b'\n' {
                        key = true;
                        break;
                    }
                    if flow {
                        return None;
                    }
                }
                b'#' if p > s && t[p - 1] == b' ' => return None,
                b'#' => {}
                b',' | b'[' | b']' | b'{' | b'}' => break, // flow only (see FLOW_STOP)
                _ => return None,                          // `?` in flow, non-ASCII
            }
            p += 1;
            e = p;
        }
        self.pos = e;
        Some((s, e, key))
    }

    /// A plain scalar value, folded over continuation lines as libyaml does: a following
    /// line continues it when deeper than `block_indent` (block context) or always (flow).
    /// Returns (value, ended at `: `). Blank or comment lines inside bail out.
    #[inline(always)]
    fn plain_value(&mut self, flow: bool, block_indent: i64) -> R<(Cow<'a, str>, bool)> {
        let (s, e) = self.plain_value_raw(flow, block_indent);
        if s == usize::MAX {
            return None;
        }
        let key = e & KEY_BIT != 0;
        if s == FOLDED {
            return Some((Cow::Owned(std::mem::take(&mut self.fold)), key));
        }
        Some((self.str_of(s, e & !KEY_BIT)?, key))
    }

    /// [`P::plain_value`] in two registers (see [`P::plain_raw`]): the text's range, or
    /// [`FOLDED`] when it is in [`P::fold`].
    fn plain_value_raw(&mut self, flow: bool, block_indent: i64) -> (usize, usize) {
        const NONE: (usize, usize) = (usize::MAX, 0);
        let t = self.t;
        let Some((s, e, key)) = self.plain(flow) else {
            return NONE;
        };
        if key {
            return (s, e | KEY_BIT);
        }
        let mut folded = false;
        loop {
            let mut q = self.pos;
            while t.get(q) == Some(&b' ') {
                q += 1;
            }
            let done = if folded { (FOLDED, 0) } else { (s, e) };
            if t.get(q) != Some(&b'\n') {
                return done;
            }
            let r0 = q + 1;
            let mut r = r0;
            while t.get(r) == Some(&b' ') {
                r += 1;
            }
            if self.marker_at(r0)
                || matches!(t.get(r), None | Some(b'\n' | b'#'))
                || (r - r0) as i64 <= block_indent
            {
                // Block: the scalar ends (a deeper line after blanks is caught by the caller).
                return if flow { NONE } else { done };
            }
            self.line += 1;
            self.line_start = r0;
            self.pos = r;
            let Some((s2, e2, false)) = self.plain(flow) else {
                return NONE;
            };
            let (Some(first), Some(more)) = (self.s.get(s..e), self.s.get(s2..e2)) else {
                return NONE;
            };
            if !folded {
                folded = true;
                self.fold.clear();
                self.fold.push_str(first);
            }
            self.fold.push(' ');
            self.fold.push_str(more);
        }
    }

    /// A single-quoted scalar at `pos`; returns (value, spans several lines).
    fn single(&mut self, block_indent: i64) -> R<(Cow<'a, str>, bool)> {
        let t: &'a [u8] = self.t;
        self.pos += 1;
        // Built only when the value is not one slice of the text ('' escapes, folds).
        let mut out: Option<String> = None;
        let mut multi = false;
        loop {
            let s = self.pos;
            let p = s + memchr::memchr2(b'\'', b'\n', &t[s..]).unwrap_or(t.len() - s);
            let piece: &'a str = self.s.get(s..p)?;
            match t.get(p) {
                Some(b'\'') if t.get(p + 1) == Some(&b'\'') => {
                    let o = out.get_or_insert_with(String::new);
                    o.push_str(piece);
                    o.push('\'');
                    self.pos = p + 2;
                }
                Some(b'\'') => {
                    self.pos = p + 1;
                    let v = match out {
                        None => Cow::Borrowed(piece),
                        Some(mut o) => {
                            o.push_str(piece);
                            Cow::Owned(o)
                        }
                    };
                    return Some((v, multi));
                }
                Some(b'\n') => {
                    // Fold: trailing spaces dropped, one break becomes a space.
                    let o = out.get_or_insert_with(String::new);
                    o.push_str(piece);
                    while o.ends_with(' ') {
                        o.pop();
                    }
                    self.pos = p + 1;
                    self.line += 1;
                    self.line_start = self.pos;
                    if self.marker_at(self.pos) {
                        return None;
                    }
                    self.spaces();
                    if matches!(self.cur(), b'\n' | 0) || (self.col() as i64) <= block_indent {
                        return None;
                    }
                    if let Some(o) = out.as_mut() {
                        o.push(' ');
                    }
                    multi = true;
                }
                _ => return None,
            }
        }
    }

    #[inline(always)]
    fn str_of(&self, s: usize, e: usize) -> R<Cow<'a, str>> {
        let text: &'a str = self.s;
        text.get(s..e).map(Cow::Borrowed)
    }

    #[inline(always)]
    fn scalar_ev(
        &mut self,
        tag: Option<TagRef<'a>>,
        value: Cow<'a, str>,
        style: ScalarStyle,
        m: Mark,
    ) -> R<()> {
        self.out.scalar(tag, value, style, m)
    }

    /// A node at `pos` (after `key: `, `- `, `--- `, or at the line end). `parent`: the
    /// indentation its block content must exceed; `block_indent`: libyaml's current indent
    /// (for plain/quoted continuation). Leaves `pos` at the next content line.
    fn node(&mut self, parent: i64, block_indent: i64, ctx: Ctx, depth: usize) -> R<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        let mut m = self.mark();
        let mut tag = None;
        if self.cur() == b'!' {
            tag = Some(self.tag(false)?);
        }
        let c = self.cur();
        match c {
            b'\n' | 0 => {
                if c == 0 && self.pos < self.t.len() {
                    return None;
                }
                if let Some(tg) = tag.filter(|_| c == b'\n' && ctx == Ctx::MapValue) {
                    if self.out.skippable(&tg) {
                        if let Some(body) = self.skip(parent)? {
                            return self.out.skipped(m, body);
                        }
                    }
                }
                self.eol()?;
                let c = self.cur();
                let dash = c == b'-' && matches!(self.at(1), b' ' | b'\n');
                if self.ind > parent {
                    if tag.is_none() {
                        m = self.mark();
                    }
                    if dash {
                        self.block_seq(self.ind, tag, m, depth)
                    } else {
                        self.block_map(self.ind, tag, m, depth)
                    }
                } else if self.ind == parent && ctx == Ctx::MapValue && dash {
                    if tag.is_none() {
                        m = self.mark();
                    }
                    self.block_seq(self.ind, tag, m, depth)
                } else {
                    None // empty value
                }
            }
            b'[' | b'{' => {
                self.flow_at(tag, m, block_indent, depth)?;
                self.eol()
            }
            b'\'' => {
                let (v, multi) = self.single(block_indent)?;
                self.spaces();
                if self.cur() == b':' {
                    if multi || tag.is_some() || ctx != Ctx::SeqItem {
                        return None;
                    }
                    // `- 'key': v`: a compact mapping.
                    let col = m.column as i64;
                    return self.compact_map(col, m, ScalarStyle::SingleQuoted, v, depth);
                }
                self.scalar_ev(tag, v, ScalarStyle::SingleQuoted, m)?;
                self.eol()
            }
            b'-' if matches!(self.at(1), b' ' | b'\n') => {
                if tag.is_some() || ctx != Ctx::SeqItem {
                    return None;
                }
                let col = self.col() as i64;
                self.block_seq(col, None, m, depth)
            }
            _ => {
                let line = self.line;
                let (v, key) = self.plain_value(false, block_indent)?;
                if key {
                    if tag.is_some()
                        || ctx != Ctx::SeqItem
                        || v.len() > MAX_KEY
                        || self.line != line
                    {
                        return None;
                    }
                    let col = m.column as i64;
                    return self.compact_map(col, m, ScalarStyle::Plain, v, depth);
                }
                self.scalar_ev(tag, v, ScalarStyle::Plain, m)?;
                self.eol()?;
                // A deeper next line would continue the plain scalar.
                if self.ind > block_indent {
                    return None;
                }
                Some(())
            }
        }
    }

    /// Skip the block node under the tag line ending at `pos` (see [`lazy::skip_body`]), to the
    /// next content line. Some(Some(lines)): skipped the body's first and last lines;
    /// Some(None): not skipped, nothing moved.
    fn skip(&mut self, parent: i64) -> R<Option<(u64, u64)>> {
        let start = self.pos + 1;
        let Ok(parent) = usize::try_from(parent) else {
            return Some(None);
        };
        // `!x` tags in the body must not be YAML core tags (see [`lazy::skip_body`]).
        let primary = self
            .handles
            .iter()
            .find(|(h, _)| *h == "!")
            .map_or("!", |x| x.1);
        if self.skip_budget == 0
            || YAML_PREFIX.starts_with(primary)
            || primary.starts_with(YAML_PREFIX)
        {
            return Some(None);
        }
        let (end, lines) = match lazy::skip_body(self.t, start, parent, &mut self.skip_defs) {
            Ok(r) => r,
            Err(read) => {
                self.skip_budget = self.skip_budget.saturating_sub(read);
                return Some(None);
            }
        };
        self.skip_budget = self.skip_budget.saturating_sub(end - start);
        let first = self.line + 1;
        self.pos = end;
        self.line += 1 + lines;
        self.line_start = end;
        self.next_content()?;
        Some(Some((first, first + lines - 1)))
    }

    /// `- key: v` with the key already read (pos at its `:`).
    fn compact_map(
        &mut self,
        col: i64,
        m: Mark,
        style: ScalarStyle,
        key: Cow<'a, str>,
        depth: usize,
    ) -> R<()> {
        self.out.start(true, None, true, m)?;
        self.scalar_ev(None, key, style, m)?;
        self.map_value(col, depth)?;
        self.map_rest(col, depth)
    }

    /// After a key: `:` then the value.
    fn map_value(&mut self, n: i64, depth: usize) -> R<()> {
        if self.cur() != b':' {
            return None;
        }
        self.pos += 1;
        match self.cur() {
            b' ' => self.spaces(),
            b'\n' => {}
            _ => return None,
        }
        self.node(n, n, Ctx::MapValue, depth + 1)
    }

    /// Further entries of a block mapping at indentation `n`, then its end.
    fn map_rest(&mut self, n: i64, depth: usize) -> R<()> {
        loop {
            if self.ind < n {
                break;
            }
            if self.ind > n {
                return None;
            }
            self.key()?;
            self.map_value(n, depth)?;
        }
        let m = self.mark();
        self.out.end(true, m)?;
        Some(())
    }

    /// A block mapping key at `pos` (plain or single-quoted, one line); `pos` after it.
    fn key(&mut self) -> R<()> {
        let m = self.mark();
        match self.cur() {
            b'\'' => {
                let (v, multi) = self.single(i64::MAX - 1)?;
                if multi || v.len() > MAX_KEY {
                    return None;
                }
                self.spaces();
                self.scalar_ev(None, v, ScalarStyle::SingleQuoted, m)?;
            }
            _ => {
                let (s, e, key) = self.plain(false)?;
                if !key || e - s > MAX_KEY {
                    return None;
                }
                let v = self.str_of(s, e)?;
                self.spaces();
                self.scalar_ev(None, v, ScalarStyle::Plain, m)?;
            }
        }
        Some(())
    }

    fn block_map(&mut self, n: i64, tag: Option<TagRef<'a>>, m: Mark, depth: usize) -> R<()> {
        self.out.start(true, tag, true, m)?;
        self.map_rest(n, depth)
    }

    /// A block sequence whose entries are at indentation `n` (pos at the first `-`).
    fn block_seq(&mut self, n: i64, tag: Option<TagRef<'a>>, m: Mark, depth: usize) -> R<()> {
        // The first entry is at `pos` (its line may start further left: `- - x`).
        let mut first = true;
        self.out.start(false, tag, true, m)?;
        while (first || self.ind == n) && self.cur() == b'-' && matches!(self.at(1), b' ' | b'\n') {
            first = false;
            self.pos += 1;
            self.spaces();
            self.node(n, n, Ctx::SeqItem, depth + 1)?;
        }
        if self.ind > n {
            return None;
        }
        let m = self.mark();
        self.out.end(false, m)?;
        Some(())
    }

    /// Spaces and line breaks inside a flow collection; continuation lines must be indented
    /// deeper than the block context.
    fn flow_ws(&mut self, block_indent: i64) -> R<()> {
        loop {
            self.spaces();
            if self.cur() != b'\n' {
                return Some(());
            }
            self.pos += 1;
            self.line += 1;
            self.line_start = self.pos;
            if self.marker_at(self.pos) {
                return None;
            }
            self.spaces();
            if matches!(self.cur(), b'\n' | b'#' | 0) || (self.col() as i64) <= block_indent {
                return None;
            }
        }
    }

    /// A flow node (item or value) at `pos`.
    fn flow_node(&mut self, block_indent: i64, depth: usize) -> R<()> {
        let m = self.mark();
        let mut tag = None;
        if self.cur() == b'!' {
            tag = Some(self.tag(true)?);
        }
        match self.cur() {
            b'[' | b'{' => self.flow_at(tag, m, block_indent, depth),
            b'\'' => {
                let (v, _) = self.single(block_indent)?;
                self.scalar_ev(tag, v, ScalarStyle::SingleQuoted, m)?;
                Some(())
            }
            _ => {
                let (v, key) = self.plain_value(true, block_indent)?;
                if key {
                    return None;
                }
                self.scalar_ev(tag, v, ScalarStyle::Plain, m)?;
                Some(())
            }
        }
    }

    fn flow_at(
        &mut self,
        tag: Option<TagRef<'a>>,
        m: Mark,
        block_indent: i64,
        depth: usize,
    ) -> R<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        let is_map = self.cur() == b'{';
        let close = if is_map { b'}' } else { b']' };
        self.out.start(is_map, tag, false, m)?;
        self.pos += 1;
        self.flow_ws(block_indent)?;
        if self.cur() != close {
            loop {
                if is_map {
                    let km = self.mark();
                    match self.cur() {
                        b'\'' => {
                            let (v, multi) = self.single(block_indent)?;
                            if multi || v.len() > MAX_KEY {
                                return None;
                            }
                            self.scalar_ev(None, v, ScalarStyle::SingleQuoted, km)?;
                        }
                        _ => {
                            let (s, e, key) = self.plain(true)?;
                            if !key || e - s > MAX_KEY {
                                return None;
                            }
                            let v = self.str_of(s, e)?;
                            self.scalar_ev(None, v, ScalarStyle::Plain, km)?;
                        }
                    }
                    if self.cur() != b':' || self.at(1) != b' ' {
                        return None;
                    }
                    self.pos += 2;
                    self.spaces();
                    if matches!(self.cur(), b',' | b'}' | b']' | b'\n' | b'#' | 0) {
                        return None;
                    }
                }
                self.flow_node(block_indent, depth + 1)?;
                self.flow_ws(block_indent)?;
                match self.cur() {
                    b',' => {
                        self.pos += 1;
                        self.flow_ws(block_indent)?;
                        if matches!(self.cur(), b']' | b'}' | b',') {
                            return None;
                        }
                    }
                    c if c == close => break,
                    _ => return None,
                }
            }
        }
        self.pos += 1;
        self.out.end(is_map, m)?;
        Some(())
    }

    /// Directives and `---`.
    fn directives(&mut self) -> R<()> {
        let mut version = false;
        let t: &'a [u8] = self.t;
        let mut tags: Vec<(&'a str, &'a str)> = Vec::new();
        loop {
            let s = self.pos;
            let e = memchr::memchr(b'\n', &t[s..]).map_or(t.len(), |k| s + k);
            let line: &'a str = self.s.get(s..e)?;
            if line == "---" || line.starts_with("--- ") {
                self.pos = s + 3;
                break;
            }
            if let Some(v) = line.strip_prefix("%YAML ") {
                if version || !tags.is_empty() || !(v == "1.1" || v == "1.2") {
                    return None;
                }
                version = true;
            } else if let Some(v) = line.strip_prefix("%TAG ") {
                let (h, p) = v.split_once(' ')?;
                let h_ok = h == "!" || h == "!!";
                let p_ok = !p.is_empty()
                    && p.bytes().all(|c| is_tag_char(c) || c == b',')
                    && !p.starts_with('-');
                if !h_ok || !p_ok || tags.iter().any(|(x, _)| *x == h) {
                    return None;
                }
                tags.push((h, p));
            } else {
                return None;
            }
            if e >= self.t.len() {
                return None;
            }
            self.pos = e + 1;
            self.line += 1;
            self.line_start = self.pos;
        }
        self.handles = tags;
        for (h, p) in [("!", "!"), ("!!", "tag:yaml.org,2002:")] {
            if !self.handles.iter().any(|(x, _)| *x == h) {
                self.handles.push((h, p));
            }
        }
        Some(())
    }
}

/// The libyaml-safer event stream of `t`, or None if `t` is outside the fast subset.
pub fn events(t: &[u8]) -> Option<Vec<(Ev, Mark)>> {
    let mut out = Events(Vec::with_capacity(t.len() / 12 + 8));
    parse(t, &mut out)?;
    Some(out.0)
}

/// Feed the events of `t` to `sink`; None if `t` is outside the fast subset (or the sink
/// stopped). A sink sees the events of a text only once that text is accepted up to them.
pub fn parse<'a, S: Sink<'a>>(t: &'a [u8], sink: &mut S) -> Option<()> {
    if !ENABLED.load(std::sync::atomic::Ordering::Relaxed) || !text_ok(t) {
        return None;
    }
    let mut p = P {
        t,
        s: std::str::from_utf8(t).ok()?,
        pos: 0,
        line: 0,
        line_start: 0,
        ind: 0,
        out: sink,
        handles: Vec::new(),
        fold: String::new(),
        skip_defs: Vec::new(),
        skip_budget: 4 * t.len() + (1 << 20),
    };
    let r = run(&mut p);
    #[cfg(test)]
    if r.is_none() && std::env::var_os("JWSTIO_FAST_DEBUG").is_some() {
        let e = memchr::memchr(b'\n', &t[p.pos.min(t.len())..]).map_or(t.len(), |k| p.pos + k);
        eprintln!(
            "fast bail at line {}: {:?}",
            p.line + 1,
            String::from_utf8_lossy(&t[p.line_start.min(e)..e])
        );
    }
    r
}

fn run<'a, S: Sink<'a>>(p: &mut P<'a, &mut S>) -> Option<()> {
    let t = p.t;
    let zero = Mark::default();
    p.out.frame(Ev::StreamStart, zero);
    p.directives()?;
    p.out.frame(Ev::DocumentStart, zero);
    // After `---`: the root node on this line or below.
    match p.cur() {
        b' ' => {
            p.spaces();
            if !matches!(p.cur(), b'!' | b'\n' | 0) {
                // Inline root content (`--- [..]`, `--- 'x'`...): leave it to libyaml.
                return None;
            }
        }
        b'\n' => {}
        _ => return None,
    }
    p.node(-1, -1, Ctx::Root, 0)?;
    // pos: at EOF or a marker line at column 0.
    if p.pos < t.len() {
        if !t[p.pos..].starts_with(b"...") || p.col() != 0 {
            return None;
        }
        p.pos += 3;
        p.eol()?;
        if p.pos < t.len() || p.ind != -1 {
            return None;
        }
    }
    let m = p.mark();
    p.out.frame(Ev::DocumentEnd, m);
    p.out.frame(Ev::StreamEnd, m);
    Some(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::asdf::yaml::slow_events;

    fn norm(v: Vec<(Ev, Mark)>) -> Vec<(Ev, Mark)> {
        v.into_iter()
            .map(|(e, m)| match e {
                Ev::StreamStart
                | Ev::StreamEnd
                | Ev::DocumentStart
                | Ev::DocumentEnd
                | Ev::SequenceEnd
                | Ev::MappingEnd => (e, Mark::default()),
                _ => (e, m),
            })
            .collect()
    }

    /// Fast events, when produced, equal libyaml-safer's; returns whether the fast path ran.
    pub(crate) fn same(t: &[u8]) -> bool {
        let Some(f) = events(t) else { return false };
        match slow_events(t) {
            Ok(s) => {
                let (f, s) = (norm(f), norm(s));
                if f != s {
                    let k = f
                        .iter()
                        .zip(&s)
                        .position(|(a, b)| a != b)
                        .unwrap_or(f.len().min(s.len()));
                    panic!(
                        "fast != slow at event {k}: {:?} vs {:?}\n{}",
                        f.get(k),
                        s.get(k),
                        String::from_utf8_lossy(t)
                    );
                }
            }
            Err(e) => panic!(
                "fast accepted what libyaml rejects ({}):\n{}",
                e.msg,
                String::from_utf8_lossy(t)
            ),
        }
        true
    }

    #[test]
    fn subset_table() {
        let yes = [
            "%YAML 1.1\n%TAG ! tag:stsci.edu:asdf/\n--- !core/asdf-1.1.0\na: 1\nb: [1, 2.5, x y, 'q''s']\nc: {k: v, 'k 2': !unit/unit-1.0.0 m}\n...\n",
            "%YAML 1.1\n---\na:\n- 1\n- - 2\n  - 3\n- k: v\n  k2: [a,\n    b]\n- !<tag:x.org:y-1.0>\n  z: 1\n- 'long\n  folded   \n    text'\nb: -0.5\n",
            "---\n- a\n- b: 1\n  c:\n    d: e\n",
            "--- !!omap\n- a: 1\n- b: 2\n",
            "%YAML 1.1\n---\nx: !core/ndarray-1.0.0\n  source: 0\n  shape: [2, 3]\nurl: 'http://a/b'\nt: 2001-01-01T00:00:00\n...\n",
            "---\na: {}\nb: []\nc: ''\nd: !foo {a: [1, {b: 2}]}\n",
        ];
        for y in yes {
            assert!(same(y.as_bytes()), "fast path refused:\n{y}");
        }
        let no = [
            "a: 1",
            "---\na: &x 1\nb: *x\n",
            "---\na: \"x\"\n",
            "---\na: |\n  x\n",
            "---\na: b\n\n  c\n",
            "---\na: [b\n\n  c]\n",
            "---\na:\n",
            "---\n# c\na: 1\n",
            "---\na: 1 # c\n",
            "---\na:\t1\n",
            "---\n? a\n: 1\n",
            "--- a\n--- b\n",
            "---\na: 1\n b: 2\n",
            "---\na: é\n",
            "---\na: !e!x 1\n",
            "---\na: ! 1\n",
            "---\n{a: 1}\n",
        ];
        for n in no {
            assert!(!same(n.as_bytes()), "fast path took:\n{n}");
        }
    }

    #[test]
    fn real_fixture() {
        let Ok(t) = std::fs::read("/tmp/yprof/test1.yaml") else {
            return;
        };
        use crate::asdf::{lazy, parse_tree, region_text};
        let plan = lazy::plan(&t, lazy::MIN_BODY, lazy::Outer::default()).unwrap();
        assert!(same(&plan.text));
        let tree = parse_tree(&t, true).unwrap();
        let (rt, _) = region_text(&t, tree.plan.as_ref().unwrap(), 0).unwrap();
        let rp = lazy::plan(&rt, lazy::MIN_BODY, lazy::Outer::default()).unwrap();
        assert!(same(&rp.text));
        same(&t);
    }
}
