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

/// The keyword of one 80-byte card image, as astropy's `Card.keyword` gives it.
/// Returns (keyword, byte offset where the value/comment text starts, is_hierarch, is_invalid).
#[inline(always)]
pub fn parse_keyword(img: &[u8]) -> (CompactString, usize, bool, bool) {
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
                return (CompactString::new(k), 10, false, false);
            }
        }
    }
    let head = &img[..img.len().min(8)];
    // Commentary cards as written (the general rules below give the same result).
    match head {
        b"COMMENT " => return (CompactString::const_new("COMMENT"), 8, false, false),
        b"HISTORY " => return (CompactString::const_new("HISTORY"), 8, false, false),
        b"        " => return (CompactString::const_new(""), 8, false, false),
        _ => {}
    }
    let kw = trim_bytes(head);
    let is = |name: &[u8]| kw.eq_ignore_ascii_case(name);
    if kw.is_empty() || is(b"COMMENT") || is(b"HISTORY") || is(b"END") || is(b"CONTINUE") {
        return (upper(kw), 8, false, false);
    }
    if is(b"HIERARCH") && img.len() > 8 && img[8] == b' ' {
        if let Some(eq) = img.iter().position(|&b| b == b'=') {
            let key = trim_bytes(&img[9.min(eq)..eq]);
            return (CompactString::from_utf8_lossy(key), eq + 1, true, false);
        }
    }
    // astropy takes the first "= " in the card; it must start within the first 9 bytes.
    let limit = img.len().saturating_sub(1).min(9);
    if let Some(idx) = (0..limit).find(|&i| img[i] == b'=' && img[i + 1] == b' ') {
        let key = if idx < 8 {
            trim_bytes(&head[..idx])
        } else {
            kw
        };
        return (upper(key), idx + 2, false, false);
    }
    // Invalid / non-standard: astropy keeps the keyword text as is and the rest verbatim.
    (CompactString::from_utf8_lossy(kw), 8, false, true)
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
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
    let first = &img[..img.len().min(80)];
    let (key, vstart, _hier, invalid) = parse_keyword(first);
    if is_commentary(&key) || key == "END" || invalid {
        if img.len() > 80 && is_commentary(&key) {
            // Commentary card followed by CONTINUE cards: astropy joins the raw texts.
            let mut s = String::new();
            for sub in img.chunks(80) {
                s.push_str(text_of(&sub[8.min(sub.len())..]).trim());
            }
            return (Value::Text(s), String::new());
        }
        let t = text_of(&first[8.min(first.len())..]);
        return (Value::Text(t.trim_end().to_string()), String::new());
    }
    if img.len() > 80 {
        return parse_long(img, vstart);
    }
    let vc = text_of(&first[vstart.min(first.len())..]);
    parse_vc(trim(&vc), want_comment)
}

/// A card followed by CONTINUE cards: concatenate the string pieces, dropping each trailing '&'.
fn parse_long(img: &[u8], vstart0: usize) -> (Value, String) {
    let mut values = String::new();
    let mut comments: Vec<String> = Vec::new();
    for (i, sub) in img.chunks(80).enumerate() {
        let vstart = if i == 0 { vstart0 } else { 8 };
        let vc_raw = text_of(&sub[vstart.min(sub.len())..]);
        let vc = vc_raw.trim();
        // Every sub-card must hold a string value (astropy: "CONTINUE cards must have string values").
        let (v, _) = parse_valuecomment(vc);
        if !matches!(v, Value::Str(_)) {
            return (Value::Unparsable(text_of(img).into_owned()), String::new());
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
    let digits = |mut k: usize| {
        let s = k;
        while b.get(k).is_some_and(u8::is_ascii_digit) {
            k += 1;
        }
        (k, k - s)
    };
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
        assert_eq!(
            parse_keyword(&card("HIERARCH ESO DET CHIP = 3")).0,
            "ESO DET CHIP"
        );
        assert_eq!(parse_keyword(&card("naxis   = 2")).0, "NAXIS");
        assert_eq!(parse_keyword(&card("AB= 2")).0, "AB");
        assert_eq!(parse_keyword(&card("HISTORY x")).0, "HISTORY");
        // Commentary forms: the written fast path and the general rules agree.
        for (img, key) in [
            ("COMMENT x", "COMMENT"),
            ("comment x", "COMMENT"),
            ("        / a section", ""),
            ("HISTORY = 1", "HISTORY"),
        ] {
            let (k, at, hier, bad) = parse_keyword(&card(img));
            assert_eq!((k.as_str(), at, hier, bad), (key, 8, false, false), "{img}");
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
}
