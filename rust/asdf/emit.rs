//! ASDF YAML emission: a plain tree (maps, sequences, scalars, tagged nodes, spliced source
//! text) written as block-style YAML 1.1 that PyYAML / asdf read back to the same values.
//!
//! Strings are left plain only when PyYAML would resolve them to a string again
//! ([`resolve::resolve_plain`]); mapping keys are sorted when all are strings, as PyYAML's
//! dumper does. Nothing here knows about Python.

use super::resolve::{resolve_plain, Implicit};
use std::fmt::Write as _;

/// The ASDF core tag prefix written as the `!` shorthand.
pub const CORE_PREFIX: &str = "tag:stsci.edu:asdf/";

/// One node of the tree to write.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// Decimal digits with an optional leading `-` (any size).
    Int(String),
    Float(f64),
    Str(String),
    Map(Vec<(Value, Value)>),
    Seq(Vec<Value>),
    /// `!!omap`: a sequence of one-pair mappings.
    Omap(Vec<(Value, Value)>),
    /// A node with an explicit tag (full URI).
    Tagged(String, Box<Value>),
    /// Source text kept as read: the tag token (e.g. `!<tag:...>`) and the body lines of a
    /// block node, re-indented under its parent.
    Raw {
        tag: String,
        body: Vec<u8>,
    },
}

/// Why a tree cannot be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmitError(pub String);

impl std::fmt::Display for EmitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The whole ASDF file text: header comments, `%YAML`/`%TAG` directives, the tree as the
/// `core/asdf` root, and the `...` end marker (binary blocks, if any, follow it).
pub fn document(
    root: &Value,
    asdf_version: &str,
    standard: &str,
    root_tag: &str,
) -> Result<Vec<u8>, EmitError> {
    let mut out = String::with_capacity(4096);
    let _ = write!(
        out,
        "#ASDF {asdf_version}\n#ASDF_STANDARD {standard}\n%YAML 1.1\n%TAG ! {CORE_PREFIX}\n--- {}",
        tag_token(root_tag)
    );
    match root {
        Value::Map(m) if !m.is_empty() => {
            out.push('\n');
            // asdf writes these two first, then the rest sorted.
            let first =
                |k: &Value| matches!(k, Value::Str(s) if s == "asdf_library" || s == "history");
            let head: Vec<_> = ["asdf_library", "history"]
                .iter()
                .filter_map(|name| {
                    m.iter()
                        .find(|(k, _)| matches!(k, Value::Str(s) if s == name))
                        .cloned()
                })
                .collect();
            let rest: Vec<_> = m.iter().filter(|(k, _)| !first(k)).cloned().collect();
            for (k, v) in &head {
                key(&mut out, k)?;
                out.push(':');
                node_after(&mut out, v, 0)?;
            }
            map_body(&mut out, &rest, 0)?;
        }
        Value::Map(_) => out.push_str(" {}\n"),
        _ => return Err(EmitError("the ASDF tree must be a mapping".into())),
    }
    out.push_str("...\n");
    Ok(out.into_bytes())
}

/// `!short` for core tags, `!<uri>` otherwise.
pub fn tag_token(tag: &str) -> String {
    match tag.strip_prefix(CORE_PREFIX) {
        Some(rest) if !rest.is_empty() && rest.bytes().all(tag_char) => format!("!{rest}"),
        _ => format!("!<{tag}>"),
    }
}

fn tag_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-_./;?:@&=+$~*'()%".contains(&c)
}

fn check_tag(tag: &str) -> Result<(), EmitError> {
    if tag.is_empty()
        || !tag.bytes().all(|c| tag_char(c) || b",#[]!".contains(&c))
        || tag.contains('>')
    {
        return Err(EmitError(format!("cannot write tag {tag:?}")));
    }
    Ok(())
}

fn indent(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push(' ');
    }
}

fn is_string_keyed(m: &[(Value, Value)]) -> bool {
    m.iter().all(|(k, _)| matches!(k, Value::Str(_)))
}

fn map_body(out: &mut String, m: &[(Value, Value)], ind: usize) -> Result<(), EmitError> {
    let mut order: Vec<usize> = (0..m.len()).collect();
    if is_string_keyed(m) {
        order.sort_by(|&a, &b| match (&m[a].0, &m[b].0) {
            (Value::Str(x), Value::Str(y)) => x.cmp(y),
            _ => std::cmp::Ordering::Equal,
        });
    }
    for i in order {
        let (k, v) = &m[i];
        indent(out, ind);
        key(out, k)?;
        out.push(':');
        node_after(out, v, ind)?;
    }
    Ok(())
}

fn key(out: &mut String, k: &Value) -> Result<(), EmitError> {
    match k {
        Value::Null | Value::Bool(_) | Value::Int(_) | Value::Float(_) | Value::Str(_) => {
            let before = out.len();
            scalar(out, k)?;
            if out.len() - before > 1000 {
                return Err(EmitError("mapping key longer than 1000 characters".into()));
            }
            Ok(())
        }
        _ => Err(EmitError("mapping keys must be scalars".into())),
    }
}

/// A node after `key:` or `-` (at parent indentation `ind`), through its final newline.
fn node_after(out: &mut String, v: &Value, ind: usize) -> Result<(), EmitError> {
    match v {
        Value::Map(m) if m.is_empty() => out.push_str(" {}\n"),
        Value::Seq(s) if s.is_empty() => out.push_str(" []\n"),
        Value::Omap(s) if s.is_empty() => out.push_str(" !!omap []\n"),
        Value::Map(m) => {
            out.push('\n');
            map_body(out, m, ind + 2)?;
        }
        Value::Seq(s) if flow_ok(s) => {
            out.push(' ');
            flow_seq(out, s)?;
            out.push('\n');
        }
        Value::Seq(s) => {
            out.push('\n');
            seq_body(out, s, ind + 2)?;
        }
        Value::Omap(s) => {
            out.push_str(" !!omap\n");
            omap_body(out, s, ind + 2)?;
        }
        Value::Tagged(tag, inner) => {
            check_tag(tag)?;
            out.push(' ');
            out.push_str(&tag_token(tag));
            // The tagged node's body is written as an untagged one would be, after the tag.
            match inner.as_ref() {
                Value::Tagged(..) | Value::Raw { .. } | Value::Omap(_) => {
                    return Err(EmitError(format!("tag {tag} on a tagged node")));
                }
                inner => node_after(out, inner, ind)?,
            }
        }
        Value::Raw { tag, body } => {
            out.push(' ');
            out.push_str(tag);
            out.push('\n');
            reindent(out, body, ind + 2)?;
        }
        other => {
            out.push(' ');
            scalar(out, other)?;
            out.push('\n');
        }
    }
    Ok(())
}

/// Short sequences of numbers, booleans and short simple strings go on one line (`[8, 6]`).
fn flow_ok(s: &[Value]) -> bool {
    s.len() <= 16
        && s.iter().all(|v| match v {
            Value::Null | Value::Bool(_) | Value::Int(_) | Value::Float(_) => true,
            Value::Str(x) => {
                x.len() <= 32
                    && x.bytes()
                        .all(|c| c.is_ascii_alphanumeric() || b"_.-/ ".contains(&c))
            }
            _ => false,
        })
}

fn flow_seq(out: &mut String, s: &[Value]) -> Result<(), EmitError> {
    out.push('[');
    for (i, v) in s.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        scalar(out, v)?;
    }
    out.push(']');
    Ok(())
}

fn seq_body(out: &mut String, s: &[Value], ind: usize) -> Result<(), EmitError> {
    for v in s {
        indent(out, ind);
        out.push('-');
        node_after(out, v, ind)?;
    }
    Ok(())
}

fn omap_body(out: &mut String, s: &[(Value, Value)], ind: usize) -> Result<(), EmitError> {
    for (k, v) in s {
        indent(out, ind);
        out.push_str("- ");
        key(out, k)?;
        out.push(':');
        node_after(out, v, ind + 2)?;
    }
    Ok(())
}

/// Body lines shifted so that their least indentation becomes `ind`. Lines of blanks only
/// shorter than that indentation are kept empty; every other line moves by the same amount,
/// so block scalars and flow continuations keep their meaning.
fn reindent(out: &mut String, body: &[u8], ind: usize) -> Result<(), EmitError> {
    let text =
        std::str::from_utf8(body).map_err(|_| EmitError("source text is not UTF-8".into()))?;
    if text.contains('\t') || text.contains('\r') {
        return Err(EmitError(
            "source text with tabs or carriage returns".into(),
        ));
    }
    let lead = |l: &str| l.len() - l.trim_start_matches(' ').len();
    let min = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(lead)
        .min()
        .ok_or_else(|| EmitError("empty source text".into()))?;
    if min == 0 {
        return Err(EmitError("source text is not indented".into()));
    }
    for l in text.lines() {
        if l.trim().is_empty() && l.len() <= min {
            out.push('\n');
            continue;
        }
        indent(out, ind);
        out.push_str(&l[min..]);
        out.push('\n');
    }
    Ok(())
}

fn scalar(out: &mut String, v: &Value) -> Result<(), EmitError> {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Int(s) => {
            let digits = s.strip_prefix('-').unwrap_or(s);
            if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
                return Err(EmitError(format!("bad integer {s:?}")));
            }
            out.push_str(s);
        }
        Value::Float(f) => float(out, *f),
        Value::Str(s) => string(out, s),
        _ => return Err(EmitError("container where a scalar was expected".into())),
    }
    Ok(())
}

/// PyYAML's float form: Python's repr, lower case, `.0` added before a bare exponent.
pub fn float(out: &mut String, f: f64) {
    if f.is_nan() {
        out.push_str(".nan");
    } else if f.is_infinite() {
        out.push_str(if f > 0.0 { ".inf" } else { "-.inf" });
    } else {
        let r = py_repr(f);
        if !r.contains('.') && r.contains('e') {
            out.push_str(&r.replacen('e', ".0e", 1));
        } else {
            out.push_str(&r);
        }
    }
}

/// Python's `repr(float)` (shortest round-trip digits; exponent form below 1e-4 or from 1e16).
pub fn py_repr(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    let e = format!("{f:e}"); // shortest digits: "-1.2345e-5"
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (neg, mant) = match mant.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mant),
    };
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    if (-4..16).contains(&exp) {
        let n = digits.len() as i32;
        if exp < 0 {
            s.push_str("0.");
            for _ in 0..(-exp - 1) {
                s.push('0');
            }
            s.push_str(&digits);
        } else if exp + 1 >= n {
            s.push_str(&digits);
            for _ in 0..(exp + 1 - n) {
                s.push('0');
            }
            s.push_str(".0");
        } else {
            let (a, b) = digits.split_at((exp + 1) as usize);
            s.push_str(a);
            s.push('.');
            s.push_str(b);
        }
    } else {
        let (a, b) = digits.split_at(1);
        s.push_str(a);
        if !b.is_empty() {
            s.push('.');
            s.push_str(b);
        }
        let _ = write!(s, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
    s
}

const INDICATORS: &[u8] = b"-?:,[]{}#&*!|>'\"%@`";

/// Plain when PyYAML reads it back as this same string; single quotes for other printable
/// ASCII; double quotes with escapes for anything else.
fn string(out: &mut String, s: &str) {
    let printable = s.bytes().all(|c| (0x20..0x7f).contains(&c));
    if printable && plain_ok(s) {
        out.push_str(s);
    } else if printable {
        out.push('\'');
        out.push_str(&s.replace('\'', "''"));
        out.push('\'');
    } else {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                ' '..='~' => out.push(c),
                c if (c as u32) < 0x100 => {
                    let _ = write!(out, "\\x{:02X}", c as u32);
                }
                c if (c as u32) < 0x10000 => {
                    let _ = write!(out, "\\u{:04X}", c as u32);
                }
                c => {
                    let _ = write!(out, "\\U{:08X}", c as u32);
                }
            }
        }
        out.push('"');
    }
}

fn plain_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let (Some(&first), Some(&last)) = (b.first(), b.last()) else {
        return false;
    };
    if first == b' ' || last == b' ' || last == b':' || INDICATORS.contains(&first) {
        return false;
    }
    if s.contains(": ") || s.contains(" #") {
        return false;
    }
    resolve_plain(s) == Implicit::Str
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> String {
        let mut o = String::new();
        string(&mut o, v);
        o
    }

    #[test]
    fn strings_quoted_when_they_would_resolve_otherwise() {
        for (v, want) in [
            ("abc", "abc"),
            ("yes", "'yes'"),
            ("No", "'No'"),
            ("1", "'1'"),
            ("017", "'017'"),
            ("1.5", "'1.5'"),
            ("1e5", "1e5"),
            ("null", "'null'"),
            ("~", "'~'"),
            ("", "''"),
            ("2023-07-14", "'2023-07-14'"),
            ("1:30", "'1:30'"),
            ("a: b", "'a: b'"),
            (" x", "' x'"),
            ("it's", "it's"),
            ("-x", "'-x'"),
            ("a\nb", "\"a\\nb\""),
            ("é", "\"\\xE9\""),
            ("<<", "'<<'"),
            ("=", "'='"),
        ] {
            assert_eq!(s(v), want, "{v:?}");
        }
    }

    #[test]
    fn floats_as_python_repr() {
        for (f, want) in [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (1e-5, "1.0e-05"),
            (1.5e-7, "1.5e-07"),
            (1e16, "1.0e+16"),
            (123456789012345.0, "123456789012345.0"),
            (-2.5, "-2.5"),
            (0.0001, "0.0001"),
            (60564.4148211206, "60564.4148211206"),
            (f64::NAN, ".nan"),
            (f64::NEG_INFINITY, "-.inf"),
            (-0.0, "-0.0"),
        ] {
            let mut o = String::new();
            float(&mut o, f);
            assert_eq!(o, want);
        }
    }

    #[test]
    fn document_layout() {
        let tree = Value::Map(vec![
            (Value::Str("history".into()), Value::Str("x".into())),
            (
                Value::Str("b".into()),
                Value::Seq(vec![
                    Value::Int("1".into()),
                    Value::Map(vec![(Value::Str("x".into()), Value::Null)]),
                ]),
            ),
            (
                Value::Str("a".into()),
                Value::Tagged(
                    format!("{CORE_PREFIX}core/ndarray-1.1.0"),
                    Box::new(Value::Map(vec![(
                        Value::Str("source".into()),
                        Value::Str("fits:SCI,1".into()),
                    )])),
                ),
            ),
            (
                Value::Str("d".into()),
                Value::Seq(vec![
                    Value::Int("1".into()),
                    Value::Float(2.5),
                    Value::Str("x".into()),
                    Value::Str("yes".into()),
                ]),
            ),
            (
                Value::Str("c".into()),
                Value::Raw {
                    tag: "!<tag:x/y-1.0.0>".into(),
                    body: b"      k: 1\n      l:\n      - 2\n".to_vec(),
                },
            ),
        ]);
        let text = document(
            &tree,
            "1.0.0",
            "1.6.0",
            "tag:stsci.edu:asdf/core/asdf-1.1.0",
        )
        .unwrap();
        let want = "#ASDF 1.0.0\n#ASDF_STANDARD 1.6.0\n%YAML 1.1\n%TAG ! tag:stsci.edu:asdf/\n--- !core/asdf-1.1.0\n\
history: x\na: !core/ndarray-1.1.0\n  source: fits:SCI,1\nb:\n  - 1\n  -\n    x: null\nc: !<tag:x/y-1.0.0>\n  k: 1\n  l:\n  - 2\nd: [1, 2.5, x, 'yes']\n...\n";
        assert_eq!(String::from_utf8(text).unwrap(), want);
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(document(&Value::Seq(vec![]), "1.0.0", "1.6.0", "t").is_err());
        let bad = Value::Map(vec![(Value::Str("k".into()), Value::Int("1x".into()))]);
        assert!(document(&bad, "1.0.0", "1.6.0", "t").is_err());
    }
}
