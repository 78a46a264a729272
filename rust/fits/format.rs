//! Card formatting: keyword, value and comment to 80-character card images exactly as
//! astropy's `str(Card(keyword, value, comment))` gives them (long strings over CONTINUE cards,
//! HIERARCH for long or odd keywords, record-valued cards, commentary split over cards), with
//! the cases astropy would write as broken cards refused instead.

use crate::error::{Error, Result};

pub const CARD_LEN: usize = 80;

/// A card value as the writer receives it (Python types mapped by the binding).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Undefined,
    Bool(bool),
    /// An integer in decimal (any size; Python ints are unbounded).
    Int(String),
    /// A Python float / numpy float64: formatted as Python's repr.
    Float(f64),
    /// Another floating type, as its `str()` text (numpy float32, float16, longdouble: numpy's
    /// own shortest digits and cut-offs).
    Real(String),
    Complex(f64, f64),
    /// A complex of another type, as the `str()` texts of its parts (numpy complex64).
    ComplexReal(String, String),
    Str(String),
}

const COMMENTARY: [&str; 3] = ["", "COMMENT", "HISTORY"];

/// Text astropy accepts in values and comments: printable ASCII.
fn printable(s: &str) -> bool {
    s.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

fn fsc_keyword(k: &str) -> bool {
    k.len() <= 8
        && k.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// astropy's `_keywd_hierarch_RE`: printable ASCII without '=', not empty.
fn hierarch_keyword(k: &str) -> bool {
    !k.is_empty() && k.bytes().all(|b| (0x20..=0x7e).contains(&b) && b != b'=')
}

/// Python's `str.rstrip()` / `strip()` on ASCII whitespace.
fn py_ws(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// `[a-zA-Z_]\w*` (ASCII only).
fn identifier(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// A record-valued card field specifier: `field(\.field)*` with `field = identifier(\.\d+)?`.
fn field_specifier(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || !identifier(parts[0]) {
        return false;
    }
    let mut prev_ident = true;
    for p in &parts[1..] {
        if identifier(p) {
            prev_ident = true;
        } else if prev_ident && !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()) {
            prev_ident = false;
        } else {
            return false;
        }
    }
    true
}

/// astropy's FSC number `[+-]?(\.\d+|\d+(\.\d*)?)([DE][+-]?\d+)?`.
fn fsc_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let d0 = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - d0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let f0 = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if int_digits == 0 && i == f0 {
            return false;
        }
    } else if int_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'D' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let e0 = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == e0 {
            return false;
        }
    }
    i == b.len()
}

/// Shortest round-trip digits and decimal exponent from Rust's `{:e}` output
/// (`d.ddde±x` → ("dddd", x)).
fn sci_parts(s: &str) -> (bool, String, i32) {
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((s, "0"));
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    (neg, digits, exp.parse().unwrap_or(0))
}

/// Python's `repr(float)` (and numpy's `str()` of float32) from the shortest digits: fixed
/// notation when `positional` (None: Python's rule, 1e-4 <= |x| < 1e16 by the digits), else
/// `d.ddde±XX`.
fn python_float_repr(sci: &str, positional: Option<bool>) -> String {
    let (neg, digits, exp) = sci_parts(sci);
    let mut out = String::with_capacity(26);
    if neg {
        out.push('-');
    }
    if digits.bytes().all(|d| d == b'0') {
        out.push_str("0.0");
        return out;
    }
    if !positional.unwrap_or((-4..16).contains(&exp)) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.unsigned_abs()));
    } else if exp >= 0 {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', int_len - digits.len()));
            out.push_str(".0");
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    } else {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
        out.push_str(&digits);
    }
    out
}

/// astropy's `_format_float`: `str(value)` with 'e' -> 'E', at most 20 characters.
fn format_float_text(text: &str) -> String {
    let v = text.replace('e', "E");
    if v.len() <= 20 {
        return v;
    }
    match v.find('E') {
        None => v[..20].to_string(),
        Some(idx) => {
            let keep = 20usize.saturating_sub(v.len() - idx);
            format!("{}{}", &v[..keep], &v[idx..])
        }
    }
}

/// The shortest digits that read back as `v` (Rust's `{:e}`), with Python's choice among equally
/// short candidates: the correctly rounded one (ties to even), when it reads back as `v`.
fn shortest(v: f64) -> String {
    let s = format!("{v:e}");
    let (_, digits, _) = sci_parts(&s);
    let exact = format!("{:.*e}", digits.len().saturating_sub(1), v);
    if exact != s && exact.parse::<f64>() == Ok(v) {
        exact
    } else {
        s
    }
}

fn float_str(v: f64) -> Result<String> {
    if !v.is_finite() {
        return Err(Error::format(format!(
            "Floating point {} values are not allowed in FITS headers",
            py_special(v)
        )));
    }
    Ok(python_float_repr(&shortest(v), None))
}

fn py_special(v: f64) -> &'static str {
    if v.is_nan() {
        "nan"
    } else if v > 0.0 {
        "inf"
    } else {
        "-inf"
    }
}

/// The `str()` text of a float-like value (before `_format_float`).
fn real_text(v: &Value) -> Result<Option<String>> {
    Ok(match v {
        Value::Float(f) => Some(float_str(*f)?),
        Value::Real(t) => {
            let lower = t.trim().to_ascii_lowercase();
            if lower.contains("nan") || lower.contains("inf") {
                return Err(Error::format(format!(
                    "Floating point {t} values are not allowed in FITS headers"
                )));
            }
            if !printable(t) || t.is_empty() {
                return Err(Error::format(format!("float text {t:?} is not a number")));
            }
            Some(t.clone())
        }
        _ => None,
    })
}

fn check_int(s: &str) -> Result<()> {
    let d = s.strip_prefix('-').unwrap_or(s);
    if d.is_empty() || !d.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::format(format!("{s:?} is not an integer")));
    }
    Ok(())
}

/// astropy's module-level `_format_value` (fixed 20-column values).
fn format_value(v: &Value) -> Result<String> {
    Ok(match v {
        Value::Str(s) => {
            if s.is_empty() {
                "''".to_string()
            } else {
                let q = format!("'{:<8}'", s.replace('\'', "''"));
                format!("{q:<20}")
            }
        }
        Value::Bool(b) => format!("{:>20}", if *b { "T" } else { "F" }),
        Value::Int(s) => {
            check_int(s)?;
            format!("{s:>20}")
        }
        Value::Float(_) | Value::Real(_) => {
            let t = real_text(v)?.unwrap_or_default();
            format!("{:>20}", format_float_text(&t))
        }
        Value::Complex(re, im) => {
            let s = format!(
                "({}, {})",
                format_float_text(&float_str(*re)?),
                format_float_text(&float_str(*im)?)
            );
            format!("{s:>20}")
        }
        Value::ComplexReal(re, im) => {
            let re = real_text(&Value::Real(re.clone()))?.unwrap_or_default();
            let im = real_text(&Value::Real(im.clone()))?.unwrap_or_default();
            let s = format!("({}, {})", format_float_text(&re), format_float_text(&im));
            format!("{s:>20}")
        }
        Value::Undefined => String::new(),
    })
}

/// What kind of card a keyword makes (astropy's keyword setter and `_check_if_rvkc`).
#[derive(Debug, Clone, PartialEq)]
enum Key {
    /// A standard keyword, upper case.
    Standard(String),
    /// A HIERARCH keyword (case kept, without the `HIERARCH ` prefix).
    Hierarch(String),
    /// A record-valued card: raw keyword and field specifier.
    Record(String, String),
}

fn classify(keyword: &str) -> Result<Key> {
    if keyword.contains('\n') {
        return Err(Error::format(format!("Illegal keyword name: {keyword:?}")));
    }
    let k = keyword.trim_end_matches(py_ws);
    let upper = k.to_ascii_uppercase();
    if k.len() <= 8 && fsc_keyword(&upper) {
        if upper == "END" {
            return Err(Error::format("Keyword 'END' not allowed"));
        }
        if upper == "CONTINUE" {
            return Err(Error::format(
                "Keyword 'CONTINUE' not allowed (long strings make their own CONTINUE cards)",
            ));
        }
        return Ok(Key::Standard(upper));
    }
    if k.is_ascii() && hierarch_keyword(k) {
        let name = if upper.starts_with("HIERARCH ") {
            k[9..].trim_matches(py_ws).to_string()
        } else {
            k.to_string()
        };
        if name.is_empty() {
            return Err(Error::format(format!("Illegal keyword name: {keyword:?}")));
        }
        return Ok(Key::Hierarch(name));
    }
    Err(Error::format(format!("Illegal keyword name: {keyword:?}")))
}

/// astropy's `_words_group`: split `s` into pieces no longer than `width` (`first` for the
/// first one), at blanks where possible.
fn words_group(s: &str, width: usize, first: usize) -> Vec<&str> {
    let slen = s.len();
    let mut blanks: Vec<usize> = s
        .bytes()
        .enumerate()
        .filter(|(_, b)| *b == b' ')
        .map(|(i, _)| i)
        .collect();
    blanks.push(slen);
    let mut words = Vec::new();
    let mut cw = first as i64;
    let mut offset: i64 = 0;
    let mut xoffset: i64 = 0;
    loop {
        let loc = blanks
            .iter()
            .position(|&b| b as i64 >= cw + offset)
            .unwrap_or(blanks.len());
        offset = if loc > 0 {
            blanks[loc - 1] as i64 + 1
        } else {
            -1
        };
        if offset <= xoffset {
            offset = (xoffset + cw).min(slen as i64);
        }
        let (a, b) = (xoffset.max(0) as usize, (offset.max(0) as usize).min(slen));
        words.push(if a <= b { &s[a..b] } else { "" });
        if offset >= slen as i64 {
            break;
        }
        xoffset = offset;
        cw = width as i64;
    }
    words
}

fn pad80(s: &str, out: &mut Vec<u8>) -> Result<()> {
    if s.len() > CARD_LEN {
        return Err(Error::format(format!(
            "card image longer than 80 characters: {s:?}"
        )));
    }
    out.extend_from_slice(s.as_bytes());
    out.resize(out.len() + CARD_LEN - s.len(), b' ');
    Ok(())
}

/// Append the card image(s) of `(keyword, value, comment)` to `out` (a multiple of 80 bytes).
pub fn format_card(keyword: &str, value: &Value, comment: &str, out: &mut Vec<u8>) -> Result<()> {
    let mut cards = Vec::with_capacity(CARD_LEN);
    format_into(keyword, value, comment, &mut cards)?;
    out.extend_from_slice(&cards);
    Ok(())
}

fn format_into(keyword: &str, value: &Value, comment: &str, out: &mut Vec<u8>) -> Result<()> {
    if !printable(comment) {
        return Err(Error::format(format!(
            "FITS header comments must contain standard printable ASCII characters; {comment:?} does not"
        )));
    }
    // astropy's `Card.comment` is right-stripped (a blank comment is no comment).
    let comment = comment.trim_end_matches(' ');
    if let Value::Str(s) = value {
        if !printable(s) {
            return Err(Error::format(format!(
                "FITS header values must contain standard printable ASCII characters; {s:?} does not"
            )));
        }
    }
    let key = match record_key(keyword, value)? {
        Some(Key::Record(raw, spec)) => match classify(&raw)? {
            Key::Standard(k) => Key::Record(k, spec),
            _ => return Err(Error::format(format!("Illegal keyword name: {keyword:?}"))),
        },
        _ => classify(keyword)?,
    };
    match &key {
        Key::Standard(k) if COMMENTARY.contains(&k.as_str()) => {
            let text = match value {
                Value::Str(s) => s.clone(),
                Value::Undefined => String::new(),
                _ => return Err(Error::format("commentary card values must be text")),
            };
            format_commentary(k, &text, out)
        }
        Key::Record(raw, spec) => {
            let v = match value {
                Value::Str(s) => record_value_text(s)?,
                Value::Bool(b) => (*b as i32).to_string(),
                other => format_value(other)?.trim().to_string(),
            };
            let mut s = format!("{raw:<8}= '{spec}: {v}'");
            if !comment.is_empty() {
                s.push_str(" / ");
                s.push_str(comment);
            }
            finish_single(s, keyword, 10 + spec.len() + v.len() + 4, out)
        }
        Key::Standard(k) | Key::Hierarch(k) => {
            let hierarch = matches!(key, Key::Hierarch(_));
            let kw = if hierarch {
                format!("HIERARCH {k} ")
            } else {
                format!("{k:<8}")
            };
            let mut val = format_value(value)?;
            if hierarch && k.len() > 8 {
                val = val.trim_matches(py_ws).to_string();
            }
            let cmt = if comment.is_empty() {
                String::new()
            } else {
                format!(" / {comment}")
            };
            let mut output = format!("{kw}= {val}{cmt}");
            if kw.len() + 2 + val.len() == CARD_LEN + 1 && hierarch {
                output = format!("{}= {val}{cmt}", &kw[..kw.len() - 1]);
            }
            if output.len() <= CARD_LEN {
                return pad80(&output, out);
            }
            if let Value::Str(s) = value {
                if val.len() > CARD_LEN - kw.len() - 2 {
                    return format_long_string(&kw, s, comment, out);
                }
            }
            let value_end = output.len() - cmt.len();
            finish_single(output, keyword, value_end, out)
        }
    }
}

/// A single card whose comment astropy truncates at 80 columns; refused when the value
/// itself would be cut.
fn finish_single(output: String, keyword: &str, value_end: usize, out: &mut Vec<u8>) -> Result<()> {
    if output.len() <= CARD_LEN {
        return pad80(&output, out);
    }
    if value_end > CARD_LEN {
        return Err(Error::format(format!(
            "the value of keyword '{keyword}' does not fit in a card"
        )));
    }
    pad80(&output[..CARD_LEN], out)
}

/// A record-valued card (`DP1.AXIS.1` = number, or `DP1` = `'AXIS.1: 1'`), or None.
fn record_key(keyword: &str, value: &Value) -> Result<Option<Key>> {
    if COMMENTARY.contains(&keyword) {
        return Ok(None);
    }
    let numeric = matches!(
        value,
        Value::Bool(_) | Value::Int(_) | Value::Float(_) | Value::Real(_)
    );
    if numeric {
        if let Some((raw, spec)) = keyword.split_once('.') {
            if identifier(raw) && field_specifier(spec) && raw.len() <= 8 {
                return Ok(Some(Key::Record(
                    raw.to_ascii_uppercase(),
                    spec.to_string(),
                )));
            }
        }
        return Ok(None);
    }
    if let Value::Str(s) = value {
        if let Some(i) = s.find(": ") {
            if i > 0 && fsc_keyword(keyword) {
                let (spec, rest) = (&s[..i], s[i + 1..].trim_start_matches(' '));
                if field_specifier(spec) && s[i + 1..].starts_with(' ') && fsc_number(rest) {
                    return Ok(Some(Key::Record(keyword.to_string(), spec.to_string())));
                }
            }
        }
    }
    Ok(None)
}

/// The number of a `'spec: number'` string as astropy re-formats it (int, or float).
fn record_value_text(s: &str) -> Result<String> {
    let i = s.find(": ").unwrap_or(0);
    let num = s[i + 1..].trim_start_matches(' ');
    if let Ok(n) = num.parse::<i128>() {
        return Ok(n.to_string());
    }
    let python_float = num.replace('E', "e");
    match python_float.parse::<f64>() {
        Ok(f) if !python_float.contains('D') => Ok(format_float_text(&float_str(f)?)),
        _ => Err(Error::format(format!(
            "record-valued card value {s:?} is not a float"
        ))),
    }
}

fn format_commentary(k: &str, text: &str, out: &mut Vec<u8>) -> Result<()> {
    let line = format!("{k:<8}{text}");
    if line.len() <= CARD_LEN {
        return pad80(&line, out);
    }
    let b = text.as_bytes();
    for chunk in b.chunks(CARD_LEN - 8) {
        // ASCII checked above: any split is a char boundary.
        let s = std::str::from_utf8(chunk)
            .map_err(|_| Error::format("commentary text is not ASCII"))?;
        pad80(&format!("{k:<8}{s}"), out)?;
    }
    Ok(())
}

/// The escaped value in `words_group` pieces, except that no piece ends between the two quotes
/// of a doubled `''` (astropy splits there, which leaves a card with an odd quote that
/// fitsverify rejects): such a piece ends one character earlier.
fn split_escaped(escaped: &str, first: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = escaped;
    let mut width = first;
    while !rest.is_empty() {
        let piece = words_group(rest, 67, width)[0];
        let mut end = piece.len();
        let quotes = piece.bytes().rev().take_while(|&b| b == b'\'').count();
        if quotes % 2 == 1 && end < rest.len() && end > 1 {
            end -= 1;
        }
        out.push(&rest[..end]);
        rest = &rest[end..];
        width = 67;
    }
    if out.is_empty() {
        out.push("");
    }
    out
}

/// astropy's `_format_long_image`: the value over CONTINUE cards (`&` continued), then the
/// comment over `CONTINUE  '&' / ...` cards.
fn format_long_string(kw: &str, value: &str, comment: &str, out: &mut Vec<u8>) -> Result<()> {
    let headstr = format!("{kw}= ");
    let first = (67 + 8 + 2) as i64 - headstr.len() as i64;
    if first <= 0 {
        return Err(Error::format(format!(
            "keyword {kw:?} is too long for a long-string card"
        )));
    }
    let escaped = value.replace('\'', "''");
    let words = split_escaped(&escaped, first as usize);
    let n = words.len();
    for (i, w) in words.iter().enumerate() {
        let head = if i == 0 {
            headstr.as_str()
        } else {
            "CONTINUE  "
        };
        let v = if comment.is_empty() && i == n - 1 {
            format!("'{w}'")
        } else {
            format!("'{w}&'")
        };
        pad80(&format!("{head}{v}"), out)?;
    }
    if !comment.is_empty() {
        let cw = words_group(comment, 64, 64);
        let m = cw.len();
        for (i, w) in cw.iter().enumerate() {
            let head = if i == m - 1 {
                "CONTINUE  '' / "
            } else {
                "CONTINUE  '&' / "
            };
            pad80(&format!("{head}{w}"), out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(k: &str, v: Value, c: &str) -> String {
        let mut out = Vec::new();
        format_card(k, &v, c, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn s(x: &str) -> Value {
        Value::Str(x.into())
    }

    #[test]
    fn floats_as_python_repr() {
        for (v, want) in [
            (0.1, "0.1"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1e-4, "0.0001"),
            (1e-5, "1e-05"),
            (-0.0, "-0.0"),
            (123.456, "123.456"),
            (1.5e300, "1.5e+300"),
            (5e-324, "5e-324"),
            (911833120878306.25, "911833120878306.2"),
        ] {
            assert_eq!(float_str(v).unwrap(), want);
        }
        assert_eq!(
            format_float_text("-1.2345678901234567e-300"),
            "-1.234567890123E-300"
        );
        assert!(float_str(f64::NAN).is_err());
    }

    #[test]
    fn simple_cards() {
        assert_eq!(
            card("naxis", Value::Int("2".into()), "axes").trim_end(),
            "NAXIS   =                    2 / axes"
        );
        assert_eq!(card("A", s("x"), "").trim_end(), "A       = 'x       '");
        assert_eq!(card("A", s(""), "").trim_end(), "A       = ''");
        assert_eq!(card("A", s("it's"), "").trim_end(), "A       = 'it''s   '");
        assert_eq!(
            card("B", Value::Bool(true), "").trim_end(),
            "B       =                    T"
        );
        assert_eq!(
            card("U", Value::Undefined, "c").trim_end(),
            "U       =  / c"
        );
        assert_eq!(
            card("C", Value::Complex(1.0, -2.5), "").trim_end(),
            "C       =          (1.0, -2.5)"
        );
        assert_eq!(
            card("HISTORY", s("did"), "ignored").trim_end(),
            "HISTORY did"
        );
        assert_eq!(card("", s("blank"), "").trim_end(), "        blank");
    }

    #[test]
    fn hierarch_and_record_cards() {
        assert_eq!(
            card("ESO DET CHIP", Value::Float(1.5), "c").trim_end(),
            "HIERARCH ESO DET CHIP = 1.5 / c"
        );
        assert_eq!(
            card("DP1.AXIS.1", Value::Float(1.0), "").trim_end(),
            "DP1     = 'AXIS.1: 1.0'"
        );
        assert_eq!(
            card("DP1", s("AXIS.1: 2"), "").trim_end(),
            "DP1     = 'AXIS.1: 2'"
        );
    }

    #[test]
    fn long_strings_and_commentary() {
        let long = "x".repeat(100);
        let c = card("LONG", s(&long), "");
        assert_eq!(c.len(), 160);
        assert!(c.starts_with("LONG    = 'xxx"));
        assert!(c[80..].starts_with("CONTINUE  'xxx"));
        let c = card("COMMENT", s(&"y".repeat(100)), "");
        assert_eq!(c.len(), 160);
        assert!(c[80..].starts_with("COMMENT yyyy"));
    }

    #[test]
    fn refusals() {
        let mut out = Vec::new();
        assert!(format_card("END", &Value::Undefined, "", &mut out).is_err());
        assert!(format_card("A=B", &Value::Undefined, "", &mut out).is_err());
        assert!(format_card("A", &s("é"), "", &mut out).is_err());
        assert!(format_card("A", &s("x"), "\n", &mut out).is_err());
        assert!(format_card("A", &Value::Int("9".repeat(75)), "", &mut out).is_err());
        assert!(out.is_empty());
    }
}
