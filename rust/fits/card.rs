//! One FITS header card (80 bytes, or a card followed by CONTINUE cards): keyword, value, comment,
//! parsed the way astropy.io.fits reads them (its tolerant "NFSC" rules).

use compact_str::CompactString;

/// A card's value, typed as astropy gives it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Bool(bool),
    Int(i128),
    /// An integer too large for i128, as its decimal text (with sign).
    BigInt(String),
    Float(f64),
    Complex(f64, f64),
    /// `KEY =` with no value (astropy's UNDEFINED).
    Undefined,
    /// COMMENT / HISTORY / blank-keyword cards, and cards astropy keeps verbatim as invalid.
    Text(String),
    /// A value astropy refuses to parse (it raises VerifyError on access); the raw text.
    Unparsable(String),
}

/// Bytes of one card image.
const CARD: usize = 80;

/// Keywords whose value is free text.
pub fn is_commentary(key: &str) -> bool {
    matches!(key, "" | "COMMENT" | "HISTORY")
}

/// Bytes of a standard keyword: `A-Z 0-9 - _`.
pub const KEY_CHARS: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_';
        c += 1;
    }
    t
};

/// A card's keyword as astropy's `Card.keyword` gives it, and where its value starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Keyword {
    /// The keyword (`RAW.FIELD` for a record-valued keyword card).
    pub key: CompactString,
    /// Byte offset where the value/comment text starts (8 for commentary and invalid cards).
    pub vstart: usize,
    pub hierarch: bool,
    /// Not a valid card: astropy keeps the keyword text as is and the rest verbatim.
    pub invalid: bool,
    /// A record-valued keyword card (the FITS distortion paper's `DP1 = 'AXIS.1: 1'`): the
    /// byte length of its raw keyword, the part of `key` before the `.` astropy adds.
    pub rvkc: Option<u8>,
}

/// The keyword of a card image (80 bytes, or a card followed by its CONTINUE cards), as
/// astropy's `Card.keyword` gives it. Record-valued keyword cards are recognised as astropy
/// recognises them, on the whole image (astropy matches its pattern up to the end of the text,
/// so a comment runs on over CONTINUE cards).
#[inline(always)]
pub fn parse_keyword(img: &[u8]) -> Keyword {
    let (kw, standard) = keyword_of(img);
    if standard {
        with_rvkc(kw, img)
    } else {
        kw
    }
}

/// [`parse_keyword`] without the record-valued test (for callers that make it themselves).
pub fn parse_keyword_plain(img: &[u8]) -> Keyword {
    keyword_of(img).0
}

/// The keyword of a card image by astropy's rules without the record-valued test, and whether
/// it is a standard card (a value indicator in the first 10 bytes), which that test applies to.
#[inline(always)]
fn keyword_of(img: &[u8]) -> (Keyword, bool) {
    let plain = |key: CompactString, vstart: usize| Keyword {
        key,
        vstart,
        hierarch: false,
        invalid: false,
        rvkc: None,
    };
    // The common case: an upper-case standard keyword, blank-padded, then "= " in columns 9-10
    // (the general rules below give the same result for it).
    if img.len() >= 10 && img[8] == b'=' && img[9] == b' ' {
        let head = &img[..8];
        let n = head.iter().position(|&c| c == b' ').unwrap_or(8);
        let kw = &head[..n];
        if n > 0
            && kw.iter().all(|&c| KEY_CHARS[usize::from(c)])
            && head[n..].iter().all(|&c| c == b' ')
            && !matches!(
                kw,
                b"COMMENT" | b"HISTORY" | b"END" | b"CONTINUE" | b"HIERARCH"
            )
        {
            if let Ok(k) = std::str::from_utf8(kw) {
                return (plain(CompactString::new(k), 10), true);
            }
        }
    }
    let head = &img[..img.len().min(8)];
    // Commentary cards as written (the general rules below give the same result).
    match head {
        b"COMMENT " => return (plain(CompactString::const_new("COMMENT"), 8), false),
        b"HISTORY " => return (plain(CompactString::const_new("HISTORY"), 8), false),
        b"        " => return (plain(CompactString::const_new(""), 8), false),
        _ => {}
    }
    // astropy: `image[:8].strip()`, upper-cased for the special keywords and standard cards.
    let kw = trim_bytes(head);
    let is = |name: &[u8]| kw.eq_ignore_ascii_case(name);
    if kw.is_empty() || is(b"COMMENT") || is(b"HISTORY") || is(b"END") || is(b"CONTINUE") {
        return (plain(upper(kw), 8), false);
    }
    if is(b"HIERARCH") && img.len() > 8 && img[8] == b' ' {
        if let Some(eq) = img.iter().position(|&b| b == b'=') {
            let key = trim_bytes(&img[9.min(eq)..eq]);
            let kw = Keyword {
                key: CompactString::from_utf8_lossy(key),
                vstart: eq + 1,
                hierarch: true,
                invalid: false,
                rvkc: None,
            };
            return (kw, false);
        }
    }
    // astropy takes the first "= " in the card; it must start within the first 9 bytes. The
    // keyword is the stripped head cut at that index (so " AB= 1" gives "AB=", "AB = 1" "AB ").
    let limit = img.len().saturating_sub(1).min(9);
    if let Some(idx) = (0..limit).find(|&i| img[i] == b'=' && img[i + 1] == b' ') {
        let key = if idx < 8 {
            &kw[..idx.min(kw.len())]
        } else {
            kw
        };
        return (plain(upper(key), idx + 2), true);
    }
    // Invalid / non-standard: astropy keeps the keyword text as is and the rest verbatim.
    let kw = Keyword {
        key: CompactString::from_utf8_lossy(kw),
        vstart: 8,
        hierarch: false,
        invalid: true,
        rvkc: None,
    };
    (kw, false)
}

/// A standard card's keyword `kw`: a record-valued keyword card when its value text holds
/// one (its keyword then gets the field specifier).
#[inline(always)]
fn with_rvkc(kw: Keyword, img: &[u8]) -> Keyword {
    let rest = &img[kw.vstart.min(img.len())..];
    if maybe_rvkc(rest) {
        add_rvkc(kw, rest)
    } else {
        kw
    }
}

#[inline(never)]
fn add_rvkc(mut kw: Keyword, rest: &[u8]) -> Keyword {
    if let Some(m) = match_rvkc(rest) {
        // At most 8 bytes of the image, each at most 3 bytes once decoded.
        kw.rvkc = Some(u8::try_from(kw.key.len()).unwrap_or(u8::MAX));
        kw.key.push('.');
        // astropy decodes card images as latin-1: the field specifier may hold latin-1 letters.
        kw.key.extend(rest[m.field].iter().map(|&b| char::from(b)));
    }
    kw
}

/// A quick necessary test for [`match_rvkc`] on a value text: its first byte other than a
/// blank is a quote followed by a field specifier's characters (word characters and dots) and
/// a colon, or other whitespace (which astropy strips too).
#[inline(always)]
pub fn maybe_rvkc(v: &[u8]) -> bool {
    const BLANKS: u64 = 0x2020_2020_2020_2020;
    // The first byte other than a blank, eight bytes at a time (numbers are right-justified).
    let mut j = 0;
    let first = loop {
        match v.get(j..).and_then(|r| r.first_chunk::<8>()) {
            Some(c) => {
                let x = u64::from_le_bytes(*c) ^ BLANKS;
                if x != 0 {
                    break j + (x.trailing_zeros() / 8) as usize;
                }
                j += 8;
            }
            None => match v[j.min(v.len())..].iter().position(|&c| c != b' ') {
                Some(k) => break j + k,
                None => return false,
            },
        }
    };
    match v[first] {
        b'\'' => {
            let mut k = first + 1;
            while k < v.len() && (WORD[usize::from(v[k])] || v[k] == b'.') {
                k += 1;
            }
            k > first + 1 && v.get(k) == Some(&b':')
        }
        c => is_py_space(c),
    }
}

/// Byte ranges (in the text given to [`match_rvkc`]) of a record-valued keyword card's parts.
#[derive(Debug, Clone, PartialEq)]
pub struct RvkcMatch {
    /// The field specifier (`AXIS.1`).
    pub field: std::ops::Range<usize>,
    /// The raw value astropy's `Card.rawvalue` gives: the text between the quotes.
    pub raw: std::ops::Range<usize>,
    /// The number after `: `.
    pub number: std::ops::Range<usize>,
}

/// Python's `str.isspace()` on a latin-1 character.
pub fn is_py_space(b: u8) -> bool {
    matches!(b, b'\t'..=b'\r' | 0x1c..=0x20 | 0x85 | 0xa0)
}

/// Python's `\w` on a latin-1 character (astropy decodes card images as latin-1).
pub const WORD: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric()
            || b == b'_'
            || matches!(
                b,
                0xaa | 0xb2 | 0xb3 | 0xb5 | 0xb9 | 0xba | 0xbc..=0xbe | 0xc0..=0xd6 | 0xd8..=0xf6
                    | 0xf8..=0xff
            );
        c += 1;
    }
    t
};

/// Python's `[a-zA-Z_]\w*` at `b[i..]` (one field identifier); its end.
fn identifier(b: &[u8], i: usize) -> Option<usize> {
    let first = *b.get(i)?;
    if !(first.is_ascii_alphabetic() || first == b'_') {
        return None;
    }
    let mut j = i + 1;
    while j < b.len() && WORD[usize::from(b[j])] {
        j += 1;
    }
    Some(j)
}

/// astropy's field specifier `field(\.field)*` with `field = [a-zA-Z_]\w*(\.\d+)?` at
/// `b[i..]`; its end. (The pattern needs no backtracking: an identifier starts with a letter
/// or `_`, a number part with a digit.)
fn field_specifier(b: &[u8], i: usize) -> Option<usize> {
    let mut j = identifier(b, i)?;
    loop {
        if b.get(j) == Some(&b'.') && b.get(j + 1).is_some_and(u8::is_ascii_digit) {
            j += 2;
            while b.get(j).is_some_and(u8::is_ascii_digit) {
                j += 1;
            }
        }
        if b.get(j) == Some(&b'.') {
            if let Some(e) = identifier(b, j + 1) {
                j = e;
                continue;
            }
        }
        return Some(j);
    }
}

/// The end of the run of ASCII digits at `b[k..]`, and its length.
fn digit_run(b: &[u8], mut k: usize) -> (usize, usize) {
    let s = k;
    while b.get(k).is_some_and(u8::is_ascii_digit) {
        k += 1;
    }
    (k, k - s)
}

/// astropy's `_numr_FSC`, `[+-]?(\.\d+|\d+(\.\d*)?)([DE][+-]?\d+)?`, at `b[i..]`; its end (as
/// long as possible: in the record-valued pattern a quote must follow it).
fn fsc_number(b: &[u8], i: usize) -> Option<usize> {
    let digits = |k: usize| digit_run(b, k);
    let mut k = i + usize::from(matches!(b.get(i), Some(b'+' | b'-')));
    let (e, n_int) = digits(k);
    k = e;
    if b.get(k) == Some(&b'.') {
        let (e, n_frac) = digits(k + 1);
        if n_int == 0 && n_frac == 0 {
            return None;
        }
        k = e;
    } else if n_int == 0 {
        return None;
    }
    if matches!(b.get(k), Some(b'D' | b'E')) {
        let s = k + 1 + usize::from(matches!(b.get(k + 1), Some(b'+' | b'-')));
        let (e, n_exp) = digits(s);
        if n_exp > 0 {
            k = e;
        }
    }
    Some(k)
}

/// astropy's record-valued keyword card test (`Card._check_if_rvkc_image`) on the text after
/// the value indicator: after Python's `lstrip`, `'FIELD: +NUMBER' *(/ *[ -~]*)?$` (FIELD as in
/// [`field_specifier`], NUMBER astropy's `_numr_FSC`).
pub fn match_rvkc(rest: &[u8]) -> Option<RvkcMatch> {
    let mut i = 0;
    while i < rest.len() && is_py_space(rest[i]) {
        i += 1;
    }
    if rest.get(i) != Some(&b'\'') {
        return None;
    }
    let fs = i + 1;
    let fe = field_specifier(rest, fs)?;
    if rest.get(fe) != Some(&b':') || rest.get(fe + 1) != Some(&b' ') {
        return None;
    }
    let mut n = fe + 2;
    while rest.get(n) == Some(&b' ') {
        n += 1;
    }
    let ne = fsc_number(rest, n)?;
    if rest.get(ne) != Some(&b'\'') {
        return None;
    }
    // ` *(/ *[ -~]*)?$`, where `$` also matches before a final newline.
    let mut t = ne + 1;
    while rest.get(t) == Some(&b' ') {
        t += 1;
    }
    let tail = &rest[t..];
    let tail = tail.strip_suffix(b"\n").unwrap_or(tail);
    let ok =
        tail.is_empty() || tail[0] == b'/' && tail[1..].iter().all(|&c| (0x20..=0x7e).contains(&c));
    ok.then_some(RvkcMatch {
        field: fs..fe,
        raw: fs..ne,
        number: n..ne,
    })
}

/// The value astropy gives a record-valued keyword card (`float` of its number); None when
/// astropy cannot convert the number (a `D` exponent: astropy then refuses the whole header).
pub fn rvkc_value(number: &[u8]) -> Option<f64> {
    if number.contains(&b'D') {
        return None;
    }
    std::str::from_utf8(number).ok()?.parse::<f64>().ok()
}

/// astropy's `Card.normalize_keyword`: the form a keyword (of a card, or looked up) is
/// indexed under. A standard keyword as is; `raw.field` record-valued names with the raw
/// keyword upper-cased and the field specifier as written; a leading `HIERARCH ` dropped;
/// otherwise stripped and upper-cased.
pub fn normalize_key(k: &str) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    let b = k.as_bytes();
    if b.len() <= 8 && b.iter().all(|&c| KEY_CHARS[usize::from(c)]) {
        return Cow::Borrowed(k);
    }
    if let Some((dot, stop)) = rvkc_name(k) {
        let mut s = py_upper(&k[..dot]);
        s.push_str(&k[dot..stop]);
        return Cow::Owned(s);
    }
    let t = match k.get(..9) {
        Some(p) if b.len() > 9 && p.eq_ignore_ascii_case("HIERARCH ") => &k[9..],
        _ => k,
    };
    let t = trim(t);
    if t.bytes().any(|c| c.is_ascii_lowercase()) || !t.is_ascii() {
        Cow::Owned(py_upper(t))
    } else {
        Cow::Borrowed(t)
    }
}

/// Python's `str.upper()` (ASCII and the other characters whose upper case is one character;
/// the rest as Rust's `to_uppercase`).
fn py_upper(s: &str) -> String {
    s.chars().flat_map(char::to_uppercase).collect()
}

/// astropy's `_rvkc_keyword_name_RE` (`[a-zA-Z_]\w*\.FIELD$`) on a keyword text: the byte
/// index of the `.` after the raw keyword and of the field specifier's end, when it matches.
fn rvkc_name(k: &str) -> Option<(usize, usize)> {
    if !k.contains('.') {
        return None;
    }
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let chars: Vec<(usize, char)> = k.char_indices().collect();
    let end = k.len();
    let at = |j: usize| chars.get(j).map(|&(_, c)| c);
    let ident = |j: usize| -> Option<usize> {
        let c = at(j)?;
        if !(c.is_ascii_alphabetic() || c == '_') {
            return None;
        }
        let mut e = j + 1;
        while at(e).is_some_and(word) {
            e += 1;
        }
        Some(e)
    };
    let j = ident(0)?;
    if at(j) != Some('.') {
        return None;
    }
    let dot = chars[j].0;
    // FIELD, then the end (or a final newline).
    let mut e = ident(j + 1)?;
    loop {
        if at(e) == Some('.') && at(e + 1).is_some_and(|c| c.is_ascii_digit()) {
            e += 2;
            while at(e).is_some_and(|c| c.is_ascii_digit()) {
                e += 1;
            }
        }
        if at(e) == Some('.') {
            if let Some(n) = ident(e + 1) {
                e = n;
                continue;
            }
        }
        break;
    }
    let stop = chars.get(e).map_or(end, |&(p, _)| p);
    (stop == end || &k[stop..] == "\n").then_some((dot, stop))
}

fn is_ws(b: u8) -> bool {
    is_py_space(b)
}

fn trim_bytes(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|&c| !is_ws(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|&c| !is_ws(c)).map_or(start, |e| e + 1);
    &b[start..end]
}

fn upper(b: &[u8]) -> CompactString {
    let mut s = CompactString::from_utf8_lossy(b);
    s.make_ascii_uppercase();
    s
}

/// `str::trim`, quicker on ASCII ends.
pub fn trim(s: &str) -> &str {
    let b = s.as_bytes();
    let ws = |c: u8| matches!(c, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ');
    let (mut i, mut j) = (0, b.len());
    // Blank runs eight at a time (values are padded with blanks), then byte by byte.
    while i + 8 <= j && b[i..i + 8] == *b"        " {
        i += 8;
    }
    while j >= i + 8 && b[j - 8..j] == *b"        " {
        j -= 8;
    }
    while i < j && ws(b[i]) {
        i += 1;
    }
    while j > i && ws(b[j - 1]) {
        j -= 1;
    }
    match s.get(i..j) {
        // Ends on ASCII non-whitespace: what `trim` stops at too.
        Some(t) if i == j || (b[i] < 0x80 && b[j - 1] < 0x80) => t,
        _ => s.trim(),
    }
}

fn text_of(b: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(b),
    }
}

/// Parse the value and comment of one card (possibly long: card + CONTINUE cards, 80 bytes each).
pub fn parse_value_comment(img: &[u8]) -> (Value, String) {
    parse_card(img, true)
}

/// The value of one card, as [`parse_value_comment`] gives it (the comment is not built).
pub fn parse_value(img: &[u8]) -> Value {
    parse_card(img, false).0
}

fn parse_card(img: &[u8], want_comment: bool) -> (Value, String) {
    // The record-valued test is left until a standard card's value turns out to be a string.
    let (kw, standard) = keyword_of(img);
    if is_commentary(&kw.key) || kw.key == "END" || kw.invalid {
        // astropy: the image after column 8, right-stripped; for a commentary card followed by
        // CONTINUE cards that is the whole text, CONTINUE keywords included.
        let t = text_of(&img[8.min(img.len())..]);
        return (Value::Text(t.trim_end().to_string()), String::new());
    }
    let vstart = if kw.key == "CONTINUE" {
        // astropy splits a CONTINUE card at its first blank.
        match continue_vstart(img) {
            Some(v) => v,
            None => return (Value::Unparsable(text_of(img).into_owned()), String::new()),
        }
    } else {
        kw.vstart
    };
    if img.len() > 80 {
        if standard && maybe_rvkc(&img[vstart..]) {
            if let Some(m) = match_rvkc(&img[vstart..]) {
                // A record-valued card whose comment runs on over its CONTINUE cards: astropy
                // reads its value but refuses its comment (see `comment_refused`); the comment
                // given is the first card's.
                let rest = &img[vstart..CARD.max(vstart)];
                return match rvkc_value(&img[vstart..][m.number]) {
                    Some(f) => (
                        Value::Float(f),
                        parse_vc(trim(&text_of(rest)), want_comment).1,
                    ),
                    None => (
                        Value::Unparsable(trim(&text_of(rest)).to_string()),
                        String::new(),
                    ),
                };
            }
        }
        // An ordinary card whose first card is record-valued is unparsable (see parse_long).
        return parse_long(img, vstart);
    }
    let rest = &img[vstart.min(img.len())..];
    let (v, c) = parse_vc(trim(&text_of(rest)), want_comment);
    // A record-valued card's string holds `FIELD: NUMBER`.
    if standard && matches!(&v, Value::Str(t) if t.bytes().any(|b| b == b':')) && maybe_rvkc(rest) {
        if let Some(m) = match_rvkc(rest) {
            return match rvkc_value(&rest[m.number]) {
                Some(f) => (Value::Float(f), c),
                // A D exponent: astropy fails to convert it (and refuses the whole header).
                None => (
                    Value::Unparsable(trim(&text_of(rest)).to_string()),
                    String::new(),
                ),
            };
        }
    }
    (v, c)
}

/// Does astropy refuse the comment of this card (a record-valued card followed by CONTINUE
/// cards: its comment is read through the CONTINUE rules, which need string values) though it
/// reads its value?
pub fn comment_refused(img: &[u8]) -> bool {
    img.len() > CARD && parse_keyword(img).rvkc.is_some()
}

/// Where astropy's `image.split(" ", 1)` puts the value of a CONTINUE card.
fn continue_vstart(img: &[u8]) -> Option<usize> {
    img.iter().position(|&b| b == b' ').map(|p| p + 1)
}

/// astropy's record-valued test on a whole card image (`_check_if_rvkc_image` with one
/// argument): a value indicator in the first ten bytes, then the record-valued pattern.
fn is_rvkc_image(img: &[u8]) -> bool {
    let head = &img[..img.len().min(11)];
    match head.windows(2).position(|w| w == b"= ") {
        Some(eq) => match_rvkc(&img[eq + 2..]).is_some(),
        None => false,
    }
}

/// A card followed by CONTINUE cards: concatenate the string pieces, dropping each trailing '&'.
fn parse_long(img: &[u8], vstart0: usize) -> (Value, String) {
    let mut values = String::new();
    let mut comments: Vec<String> = Vec::new();
    let unparsable = || (Value::Unparsable(text_of(img).into_owned()), String::new());
    for (i, sub) in img.chunks(80).enumerate() {
        let vstart = if i == 0 {
            vstart0
        } else {
            match continue_vstart(sub) {
                Some(v) => v,
                None => return unparsable(),
            }
        };
        // Every sub-card must hold a string value (astropy: "CONTINUE cards must have string
        // values"); a record-valued one holds a float.
        if is_rvkc_image(sub) {
            return unparsable();
        }
        let vc_raw = text_of(&sub[vstart.min(sub.len())..]);
        let vc = vc_raw.trim();
        let (v, _) = parse_valuecomment(vc);
        if !matches!(v, Value::Str(_)) {
            return unparsable();
        }
        match match_strg_comment(vc) {
            Some((strg, comm)) => {
                let mut piece = strg.unwrap_or_default();
                let trimmed_len = piece.trim_end().len();
                piece.truncate(trimmed_len);
                if piece.ends_with('&') {
                    piece.pop();
                }
                values.push_str(&piece);
                if let Some(c) = comm {
                    if !c.is_empty() {
                        comments.push(c.trim_end().to_string());
                    }
                }
            }
            None => return parse_valuecomment(vc),
        }
    }
    let joined = format!("'{}' / {}", values, comments.join(" "));
    parse_valuecomment(&joined)
}

/// astropy's `_strg_comment_RE`: `(strg)? *(/ *comm)?$`. Returns (raw strg, comm).
fn match_strg_comment(vc: &str) -> Option<(Option<String>, Option<String>)> {
    let b = vc.as_bytes();
    if b.first() == Some(&b'\'') {
        if let Some((strg, end)) = match_strg(vc, 0) {
            let rest = &vc[end..];
            if let Some(c) = match_tail(rest) {
                return Some((Some(strg.to_string()), c.map(str::to_string)));
            }
        }
    }
    match_tail(vc).map(|c| (None, c.map(str::to_string)))
}

/// ` *(/ *(comm))?$` — Some(comment or None) when `rest` is spaces plus an optional comment.
fn match_tail(rest: &str) -> Option<Option<&str>> {
    let t = rest.trim_start_matches(' ');
    if t.is_empty() {
        return Some(None);
    }
    if let Some(after) = t.strip_prefix('/') {
        return Some(Some(after.trim_start_matches(' ')));
    }
    None
}

/// Match a quoted FITS string starting at `b[at] == '\''`, as astropy's non-greedy `_strg` with
/// the rest of the value regex: the closing quote is the first one followed by ` *(/.*)?$`.
/// Returns the raw inner text (with `''` still doubled) and the index after the closing quote.
fn match_strg(vc: &str, at: usize) -> Option<(&str, usize)> {
    let b = vc.as_bytes();
    let mut q = at + 1;
    while q < b.len() {
        let c = b[q];
        if !(0x20..=0x7e).contains(&c) {
            return None;
        }
        if c == b'\'' {
            // `q` and `at` hold ASCII quotes: both slices start and end on characters.
            if match_tail(vc.get(q + 1..)?).is_some() {
                return Some((vc.get(at + 1..q)?, q + 1));
            }
        }
        q += 1;
    }
    None
}

/// Parse a number as astropy's `_numr_NFSC`; returns the canonical text and the end index.
fn match_number(b: &[u8], mut i: usize) -> Option<(String, usize)> {
    let mut out = String::new();
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        out.push(b[i] as char);
        i += 1;
    }
    while i < b.len() && b[i] == b' ' {
        i += 1;
    }
    let dstart = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - dstart;
    out.push_str(std::str::from_utf8(&b[dstart..i]).ok()?);
    let mut frac_digits = 0;
    if i < b.len() && b[i] == b'.' {
        let fstart = i + 1;
        let mut j = fstart;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        frac_digits = j - fstart;
        if int_digits == 0 && frac_digits == 0 {
            return None;
        }
        out.push('.');
        out.push_str(std::str::from_utf8(&b[fstart..j]).ok()?);
        i = j;
    } else if int_digits == 0 {
        return None;
    }
    let _ = frac_digits;
    // Optional exponent: ` *[deDE] *[+-]? *\d+`
    let mut j = i;
    while j < b.len() && b[j] == b' ' {
        j += 1;
    }
    if j < b.len() && matches!(b[j], b'd' | b'D' | b'e' | b'E') {
        let mut k = j + 1;
        while k < b.len() && b[k] == b' ' {
            k += 1;
        }
        let mut sign = None;
        if k < b.len() && (b[k] == b'+' || b[k] == b'-') {
            sign = Some(b[k] as char);
            k += 1;
        }
        while k < b.len() && b[k] == b' ' {
            k += 1;
        }
        let es = k;
        while k < b.len() && b[k].is_ascii_digit() {
            k += 1;
        }
        if k > es {
            out.push('e');
            if let Some(s) = sign {
                out.push(s);
            }
            out.push_str(std::str::from_utf8(&b[es..k]).ok()?);
            i = k;
        }
    }
    Some((out, i))
}

/// Python's `int(s)` else `float(s)` on a canonical number text.
fn str_to_num(s: &str) -> Value {
    let is_int = !s.contains(['.', 'e']);
    if is_int {
        match s.parse::<i128>() {
            Ok(v) => Value::Int(v),
            Err(_) => {
                let t = s.trim_start_matches('+');
                let (neg, digits) = match t.strip_prefix('-') {
                    Some(d) => (true, d),
                    None => (false, t),
                };
                let digits = digits.trim_start_matches('0');
                Value::BigInt(format!(
                    "{}{}",
                    if neg { "-" } else { "" },
                    if digits.is_empty() { "0" } else { digits }
                ))
            }
        }
    } else {
        match s.parse::<f64>() {
            Ok(v) => Value::Float(v),
            Err(_) => Value::Unparsable(s.to_string()),
        }
    }
}

fn num_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::BigInt(s) => s.parse::<f64>().unwrap_or(f64::NAN),
        _ => f64::NAN,
    }
}

/// astropy's `_value_NFSC_RE` on a stripped value/comment text.
pub fn parse_valuecomment(vc: &str) -> (Value, String) {
    parse_vc(vc, true)
}

/// [`parse_valuecomment`]; with `want_comment` false the comment is left empty.
fn parse_vc(vc: &str, want_comment: bool) -> (Value, String) {
    let b = vc.as_bytes();
    let mut i = 0;
    while i < b.len() && b[i] == b' ' {
        i += 1;
    }
    let tail_comment = |rest: &str| -> Option<String> {
        match_tail(rest).map(|c| match c {
            Some(s) if want_comment => s.trim_end().to_string(),
            _ => String::new(),
        })
    };
    // Fast path: an integer of at most 18 digits right after its sign, then blanks or a
    // comment (anything else, e.g. an exponent, goes through the general rules below).
    {
        let neg = b.get(i) == Some(&b'-');
        let ds = if matches!(b.get(i), Some(b'+' | b'-')) {
            i + 1
        } else {
            i
        };
        let mut j = ds;
        let mut v: i128 = 0;
        while j < b.len() && b[j].is_ascii_digit() && j - ds < 18 {
            v = v * 10 + i128::from(b[j] - b'0');
            j += 1;
        }
        if j > ds && !b.get(j).is_some_and(u8::is_ascii_digit) {
            if let Some(c) = tail_comment(&vc[j..]) {
                return (Value::Int(if neg { -v } else { v }), c);
            }
        }
    }
    // Fast path: a float written without blanks or `D`: `[+-]d*.d*([eE][+-]?d+)?` or
    // `[+-]d+[eE][+-]?d+`, then blanks or a comment. Its text is the canonical one
    // `match_number` would build, so it parses the same.
    if let Some(end) = plain_float(b, i) {
        if let Some(c) = tail_comment(&vc[end..]) {
            if let Ok(f) = vc[i..end].parse::<f64>() {
                return (Value::Float(f), c);
            }
        }
    }
    // string
    if i < b.len() && b[i] == b'\'' {
        if let Some((raw, end)) = match_strg(vc, i) {
            if let Some(c) = tail_comment(&vc[end..]) {
                let mut s = if raw.contains("''") {
                    raw.replace("''", "'")
                } else {
                    raw.to_string()
                };
                s.truncate(s.trim_end().len());
                return (Value::Str(s), c);
            }
        }
    }
    // bool
    if i < b.len() && (b[i] == b'T' || b[i] == b'F') {
        if let Some(c) = tail_comment(&vc[i + 1..]) {
            return (Value::Bool(b[i] == b'T'), c);
        }
    }
    // number
    if let Some((txt, end)) = match_number(b, i) {
        if let Some(c) = tail_comment(&vc[end..]) {
            return (str_to_num(&txt), c);
        }
    }
    // complex
    if i < b.len() && b[i] == b'(' {
        if let Some(r) = parse_complex(b, i + 1) {
            let (re, im, end) = r;
            if let Some(c) = tail_comment(&vc[end..]) {
                return (Value::Complex(re, im), c);
            }
        }
    }
    // no value
    if let Some(c) = tail_comment(&vc[i..]) {
        return (Value::Undefined, c);
    }
    // astropy: unparsable; comment is whatever follows the first '/'.
    let comment = match vc.find('/') {
        Some(p) => vc[p + 1..].trim().to_string(),
        None => String::new(),
    };
    (Value::Unparsable(vc.to_string()), comment)
}

/// The end of a float at `b[i..]` in the form [`parse_vc`]'s fast path takes.
fn plain_float(b: &[u8], i: usize) -> Option<usize> {
    let digits = |k: usize| digit_run(b, k);
    let mut k = i + usize::from(matches!(b.get(i), Some(b'+' | b'-')));
    let (e, n_int) = digits(k);
    k = e;
    let mut n_frac = 0;
    let dot = b.get(k) == Some(&b'.');
    if dot {
        (k, n_frac) = digits(k + 1);
    }
    if n_int + n_frac == 0 {
        return None;
    }
    if matches!(b.get(k), Some(b'e' | b'E')) {
        let s = k + 1 + usize::from(matches!(b.get(k + 1), Some(b'+' | b'-')));
        let (e, n_exp) = digits(s);
        if n_exp == 0 {
            return None;
        }
        k = e;
    } else if !dot {
        return None;
    }
    Some(k)
}

fn parse_complex(b: &[u8], mut i: usize) -> Option<(f64, f64, usize)> {
    while i < b.len() && b[i] == b' ' {
        i += 1;
    }
    let (re, e1) = match_number(b, i)?;
    i = e1;
    while i < b.len() && b[i] == b' ' {
        i += 1;
    }
    if i >= b.len() || b[i] != b',' {
        return None;
    }
    i += 1;
    while i < b.len() && b[i] == b' ' {
        i += 1;
    }
    let (im, e2) = match_number(b, i)?;
    i = e2;
    while i < b.len() && b[i] == b' ' {
        i += 1;
    }
    if i >= b.len() || b[i] != b')' {
        return None;
    }
    Some((num_f64(&str_to_num(&re)), num_f64(&str_to_num(&im)), i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(s: &str) -> Vec<u8> {
        let mut v = s.as_bytes().to_vec();
        v.resize(80 * v.len().div_ceil(80).max(1), b' ');
        v
    }

    fn val(s: &str) -> Value {
        parse_value_comment(&card(s)).0
    }

    #[test]
    fn trim_is_str_trim() {
        for t in [
            "",
            " ",
            "a",
            "  a b  ",
            "\t\x0bx\x0c\r\n",
            " \u{85}x\u{a0} ",
            "é ",
            " \u{2003}",
            "x\u{1c}",
        ] {
            assert_eq!(trim(t), t.trim(), "{t:?}");
        }
    }

    #[test]
    fn values() {
        let cases: Vec<(&str, Value)> = vec![
            (
                "SIMPLE  =                    T / conforms",
                Value::Bool(true),
            ),
            ("NAXIS   =                    2", Value::Int(2)),
            ("BZERO   =                32768", Value::Int(32768)),
            ("X       =               1.5D+3", Value::Float(1500.0)),
            ("X       =               -.5e-1", Value::Float(-0.05)),
            ("X       =                   1.", Value::Float(1.0)),
            ("X       =                 0017", Value::Int(17)),
            (
                "X       = 'it''s  '           / c",
                Value::Str("it's".into()),
            ),
            ("X       = ''", Value::Str("".into())),
            ("X       = '  lead'", Value::Str("  lead".into())),
            ("X       = (1.0, -2)", Value::Complex(1.0, -2.0)),
            ("X       =                      / nothing", Value::Undefined),
            ("COMMENT  hello there  ", Value::Text(" hello there".into())),
            (
                "X       = 99999999999999999999999999999999999999999",
                Value::BigInt("99999999999999999999999999999999999999999".into()),
            ),
            (
                "X       = 'abc' / a 'quoted' comment",
                Value::Str("abc".into()),
            ),
            ("X       = abc", Value::Unparsable("abc".into())),
        ];
        for (img, want) in cases {
            assert_eq!(val(img), want, "{img}");
        }
    }

    #[test]
    fn comments() {
        let (_, c) = parse_value_comment(&card("X       =                    1 /   the comment  "));
        assert_eq!(c, "the comment");
    }

    #[test]
    fn keywords() {
        let key = |s: &str| parse_keyword(&card(s)).key;
        assert_eq!(key("HIERARCH ESO DET CHIP = 3"), "ESO DET CHIP");
        assert_eq!(key("naxis   = 2"), "NAXIS");
        assert_eq!(key("AB= 2"), "AB");
        assert_eq!(key("HISTORY x"), "HISTORY");
        // astropy cuts the stripped head at the value indicator's index in the image.
        assert_eq!(key(" AB= 2"), "AB=");
        assert_eq!(key("AB = 2"), "AB ");
        assert_eq!(key("  DP1 = 1"), "DP1 =");
        assert_eq!(key("AB  x"), "AB  x");
        // Commentary forms: the written fast path and the general rules agree.
        for (img, key) in [
            ("COMMENT x", "COMMENT"),
            ("comment x", "COMMENT"),
            ("        / a section", ""),
            ("HISTORY = 1", "HISTORY"),
        ] {
            let k = parse_keyword(&card(img));
            assert_eq!(
                (k.key.as_str(), k.vstart, k.hierarch, k.invalid, k.rvkc),
                (key, 8, false, false, None),
                "{img}"
            );
        }
    }

    #[test]
    fn continue_cards() {
        let mut img = card("LONG    = 'abc&'  / first");
        img.extend(card("CONTINUE  'def&'"));
        img.extend(card("CONTINUE  'ghi' / last"));
        let (v, c) = parse_value_comment(&img);
        assert_eq!(v, Value::Str("abcdefghi".into()));
        assert_eq!(c, "first last");
    }

    #[test]
    fn commentary_continue_is_the_raw_text() {
        // astropy: the image after column 8, CONTINUE keywords and all, right-stripped.
        let mut img = card("HISTORY = 'Missing images: 0, &'");
        img.extend(card("CONTINUE  'more'  / c"));
        let mut want = format!("{:<72}", "= 'Missing images: 0, &'");
        want.push_str("CONTINUE  'more'  / c");
        assert_eq!(
            parse_value_comment(&img),
            (Value::Text(want), String::new())
        );
        // An ordinary card followed by CONTINUE needs string values throughout.
        let mut img = card("N       = 5");
        img.extend(card("CONTINUE  'x'"));
        assert!(matches!(val_long(&img), Value::Unparsable(_)));
        let mut img = card("S       = 'abc' / c1");
        img.extend(card("CONTINUE  'def' / c2"));
        assert_eq!(
            parse_value_comment(&img),
            (Value::Str("abcdef".into()), "c1 c2".into())
        );
    }

    fn val_long(img: &[u8]) -> Value {
        parse_value_comment(img).0
    }

    #[test]
    fn record_valued_cards() {
        let kw = |s: &str| {
            let k = parse_keyword(&card(s));
            (k.key.to_string(), k.rvkc)
        };
        assert_eq!(kw("DP1     = 'NAXES: 2'"), ("DP1.NAXES".into(), Some(3)));
        assert_eq!(
            kw("DP1     = 'AXIS.1: 1' / c"),
            ("DP1.AXIS.1".into(), Some(3))
        );
        assert_eq!(
            kw("dp1     = 'lower.x: +.5E1'"),
            ("DP1.lower.x".into(), Some(3))
        );
        assert_eq!(
            kw("D2IM1   =    'EXTVER:   1'"),
            ("D2IM1.EXTVER".into(), Some(5))
        );
        assert_eq!(kw("DP4 = 'X: 1'"), ("DP4 .X".into(), Some(4)));
        assert_eq!(kw("HIERARCH= 'X: 1'"), ("HIERARCH.X".into(), Some(8)));
        assert_eq!(kw("DP1     = 'X.1.Y: 1'"), ("DP1.X.1.Y".into(), Some(3)));
        for plain in [
            "DP1     = 'NAUX: 3e2'",
            "DP1     = 'A: B'",
            "DP1     = 'A:1'",
            "DP1     = ' A: 1'",
            "DP1     = 'A: 1 '",
            "DP1     = 'X..Y: 1'",
            "DP1     = '1X: 1'",
            "DP1     = 'X.1.2: 1'",
            "DP1     = 'X: 1'  junk",
            "DP1     = 'X: 1&'",
            "DP5     ='X: 1'",
            "HISTORY = 'X: 1'",
            "HIERARCH FOO BAR = 'X: 1'",
            "DP1     = 'X: 1' / tab\t",
        ] {
            let k = parse_keyword(&card(plain));
            assert_eq!(k.rvkc, None, "{plain}");
        }
        let (v, c) = parse_value_comment(&card("DP1     = 'AXIS.1: 2.5' / the axis"));
        assert_eq!((v, c.as_str()), (Value::Float(2.5), "the axis"));
        assert_eq!(val("DP1     = 'X: 7'"), Value::Float(7.0));
        assert_eq!(val("DP1     = 'X: -.5E1'"), Value::Float(-5.0));
        assert_eq!(val("DP1     = 'X: 1.'"), Value::Float(1.0));
        // A D exponent: astropy fails to convert it (and refuses the header).
        assert!(matches!(val("DP1     = 'X: 1.5D3'"), Value::Unparsable(_)));
        // With CONTINUE cards: record-valued only when a comment runs on to the end; astropy
        // then reads the value but refuses the comment (its first card holds no string);
        // without one, the card is an ordinary card whose first card holds a float, which
        // astropy refuses.
        let mut img = card("DP1     = 'NAXES: 2' / c");
        img.extend(card("CONTINUE  'x'"));
        assert_eq!(parse_keyword(&img).key, "DP1.NAXES");
        assert_eq!(val_long(&img), Value::Float(2.0));
        assert!(comment_refused(&img) && !comment_refused(&img[..80]));
        let mut img = card("DP1     = 'NAXES: 2'");
        img.extend(card("CONTINUE  'x'"));
        assert_eq!(parse_keyword(&img).key, "DP1");
        assert!(matches!(val_long(&img), Value::Unparsable(_)));
        assert!(!comment_refused(&img));
        // A record-valued CONTINUE card is not a string either.
        let mut img = card("S       = 'abc&'");
        img.extend(card("CONTINUE= 'X: 1'"));
        assert!(matches!(val_long(&img), Value::Unparsable(_)));
    }

    #[test]
    fn normalized_keys() {
        for (k, want) in [
            ("NAXIS", "NAXIS"),
            ("naxis", "NAXIS"),
            (" naxis ", "NAXIS"),
            ("HIERARCH eso det", "ESO DET"),
            ("DP1.NAXES", "DP1.NAXES"),
            ("dp1.naxes", "DP1.naxes"),
            ("dp1.AXIS.1", "DP1.AXIS.1"),
            ("D.p", "D.p"),
            ("DP4 .X", "DP4 .X"),
            ("dp4 .x", "DP4 .X"),
            (" dp1.x", "DP1.X"),
            ("AB ", "AB"),
            ("", ""),
        ] {
            assert_eq!(normalize_key(k), want, "{k:?}");
        }
    }
}
