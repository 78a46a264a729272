//! PyYAML's YAML 1.1 scalar rules (`yaml.resolver.Resolver` + `SafeConstructor`), as used by
//! asdf's loader: which tag a plain scalar resolves to, and how core-tagged scalars are built.

/// `tag:yaml.org,2002:` — the prefix of YAML's own tags (`!!int` etc.).
pub const YAML_PREFIX: &str = "tag:yaml.org,2002:";

/// A constructed scalar value.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    /// An integer outside i64: Python builds it with `int(digits, radix)` (sign applied).
    BigInt {
        neg: bool,
        radix: u32,
        digits: String,
    },
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Date {
        year: u16,
        month: u8,
        day: u8,
    },
    DateTime(DateTime),
}

/// `datetime.datetime` fields; `tz_minutes` is the UTC offset (None = naive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub micro: u32,
    pub tz_minutes: Option<i32>,
}

/// What a plain scalar resolves to (PyYAML's implicit resolvers, YAML 1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Implicit {
    Null,
    Bool,
    Int,
    Float,
    Timestamp,
    /// `<<` (tag:yaml.org,2002:merge)
    Merge,
    /// `=` (tag:yaml.org,2002:value)
    Value,
    Str,
}

/// YAML core tags known to PyYAML's SafeConstructor (plus merge/value, which it does not
/// construct: asdf keeps those as tagged strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Core {
    Null,
    Bool,
    Int,
    Float,
    Binary,
    Timestamp,
    Str,
    Seq,
    Map,
    Omap,
    Pairs,
    Set,
}

impl Core {
    /// The core tag for a full tag URI, if SafeConstructor knows it.
    pub fn from_tag(tag: &str) -> Option<Core> {
        let suffix = tag.strip_prefix(YAML_PREFIX)?;
        Some(match suffix {
            "null" => Core::Null,
            "bool" => Core::Bool,
            "int" => Core::Int,
            "float" => Core::Float,
            "binary" => Core::Binary,
            "timestamp" => Core::Timestamp,
            "str" => Core::Str,
            "seq" => Core::Seq,
            "map" => Core::Map,
            "omap" => Core::Omap,
            "pairs" => Core::Pairs,
            "set" => Core::Set,
            _ => return None,
        })
    }
}

/// Python's `re` `$`: end of string, or just before one final newline.
fn dollar(s: &str) -> &str {
    s.strip_suffix('\n').unwrap_or(s)
}

fn digits_us(b: &[u8], i: &mut usize, ok: impl Fn(u8) -> bool) -> usize {
    let start = *i;
    while *i < b.len() && (ok(b[*i]) || b[*i] == b'_') {
        *i += 1;
    }
    *i - start
}

fn sign(b: &[u8], i: &mut usize) {
    if *i < b.len() && (b[*i] == b'-' || b[*i] == b'+') {
        *i += 1;
    }
}

/// `(?::[0-5]?[0-9])+` at `i`; true when at least one group matched and `i` moved past them.
fn sexagesimal_groups(b: &[u8], i: &mut usize) -> bool {
    let mut n = 0;
    loop {
        let save = *i;
        if *i < b.len() && b[*i] == b':' {
            let mut j = *i + 1;
            // [0-5]?[0-9] — try two digits first (greedy), then one.
            let two = j + 1 < b.len() && (b'0'..=b'5').contains(&b[j]) && b[j + 1].is_ascii_digit();
            if two {
                j += 2;
            } else if j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            } else {
                *i = save;
                return n > 0;
            }
            *i = j;
            n += 1;
        } else {
            return n > 0;
        }
    }
}

fn is_int(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    sign(b, &mut i);
    let rest = &b[i..];
    if rest.is_empty() {
        return false;
    }
    let all = |from: usize, ok: &dyn Fn(u8) -> bool| {
        rest.len() > from && rest[from..].iter().all(|&c| ok(c) || c == b'_')
    };
    if rest.starts_with(b"0b") && all(2, &|c| c == b'0' || c == b'1') {
        return true;
    }
    if rest.starts_with(b"0x") && all(2, &|c: u8| c.is_ascii_hexdigit()) {
        return true;
    }
    if rest[0] == b'0' && all(1, &|c| (b'0'..=b'7').contains(&c)) {
        return true;
    }
    if rest == b"0" {
        return true;
    }
    if (b'1'..=b'9').contains(&rest[0]) {
        if rest[1..].iter().all(|&c| c.is_ascii_digit() || c == b'_') {
            return true;
        }
        // [1-9][0-9_]*(?::[0-5]?[0-9])+
        let mut j = 1;
        digits_us(rest, &mut j, |c| c.is_ascii_digit());
        if sexagesimal_groups(rest, &mut j) && j == rest.len() {
            return true;
        }
    }
    false
}

/// `(?:[eE][-+][0-9]+)?` then end.
fn exp_then_end(b: &[u8], mut i: usize) -> bool {
    if i == b.len() {
        return true;
    }
    if b[i] == b'e' || b[i] == b'E' {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            return i > start && i == b.len();
        }
    }
    false
}

fn is_float(s: &str) -> bool {
    let b = s.as_bytes();
    if matches!(s, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    let mut i = 0;
    sign(b, &mut i);
    let rest = &b[i..];
    if matches!(rest, b".inf" | b".Inf" | b".INF") {
        return true;
    }
    if rest.is_empty() {
        return false;
    }
    if rest[0].is_ascii_digit() {
        // [0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)?
        let mut j = 1;
        digits_us(rest, &mut j, |c| c.is_ascii_digit());
        if j < rest.len() && rest[j] == b'.' {
            let mut k = j + 1;
            digits_us(rest, &mut k, |c| c.is_ascii_digit());
            if exp_then_end(rest, k) {
                return true;
            }
        }
        // [0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
        let mut j = 1;
        digits_us(rest, &mut j, |c| c.is_ascii_digit());
        if sexagesimal_groups(rest, &mut j) && j < rest.len() && rest[j] == b'.' {
            let mut k = j + 1;
            digits_us(rest, &mut k, |c| c.is_ascii_digit());
            if k == rest.len() {
                return true;
            }
        }
        return false;
    }
    // \.[0-9][0-9_]*(?:[eE][-+][0-9]+)?  (no sign allowed)
    if i == 0 && rest.len() >= 2 && rest[0] == b'.' && rest[1].is_ascii_digit() {
        let mut k = 2;
        digits_us(rest, &mut k, |c| c.is_ascii_digit());
        return exp_then_end(rest, k);
    }
    false
}

fn d(b: &[u8], i: usize) -> bool {
    i < b.len() && b[i].is_ascii_digit()
}

/// PyYAML's implicit timestamp regex.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    // [0-9]{4}-[0-9]{2}-[0-9]{2}
    if b.len() == 10
        && (0..4).all(|k| d(b, k))
        && b[4] == b'-'
        && d(b, 5)
        && d(b, 6)
        && b[7] == b'-'
        && d(b, 8)
        && d(b, 9)
    {
        return true;
    }
    parse_timestamp(s).is_some_and(|t| t.hour.is_some())
}

/// PyYAML's implicit resolution of a plain scalar.
pub fn resolve_plain(value: &str) -> Implicit {
    let v = dollar(value);
    let first = v.as_bytes().first().copied();
    match first {
        None => {
            // '' resolves to null; '\n' too (the regex `^(?: ~ |null|Null|NULL | )$`).
            Implicit::Null
        }
        Some(c) => {
            if b"yYnNtTfFoO".contains(&c)
                && matches!(
                    v,
                    "yes"
                        | "Yes"
                        | "YES"
                        | "no"
                        | "No"
                        | "NO"
                        | "true"
                        | "True"
                        | "TRUE"
                        | "false"
                        | "False"
                        | "FALSE"
                        | "on"
                        | "On"
                        | "ON"
                        | "off"
                        | "Off"
                        | "OFF"
                )
            {
                return Implicit::Bool;
            }
            if b"-+0123456789.".contains(&c) && is_float(v) {
                return Implicit::Float;
            }
            if b"-+0123456789".contains(&c) && is_int(v) {
                return Implicit::Int;
            }
            if c == b'<' && v == "<<" {
                return Implicit::Merge;
            }
            if matches!(v, "~" | "null" | "Null" | "NULL") {
                return Implicit::Null;
            }
            if c.is_ascii_digit() && is_timestamp(v) {
                return Implicit::Timestamp;
            }
            if v == "=" {
                return Implicit::Value;
            }
            Implicit::Str
        }
    }
}

/// Python's `str.isspace()` characters, for `int()`/`float()` argument stripping.
fn py_space(c: char) -> bool {
    matches!(c, '\t'..='\r' | '\x1c'..='\x1f' | ' ' | '\u{85}' | '\u{a0}' | '\u{1680}' | '\u{2000}'..='\u{200a}'
        | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}')
}

/// Python's `int(s, radix)` for ASCII digits (underscores already removed by the caller).
fn py_int(s: &str, radix: u32) -> Result<Scalar, String> {
    let t = s.trim_matches(py_space);
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let body = match radix {
        2 => body
            .strip_prefix("0b")
            .or_else(|| body.strip_prefix("0B"))
            .unwrap_or(body),
        8 => body
            .strip_prefix("0o")
            .or_else(|| body.strip_prefix("0O"))
            .unwrap_or(body),
        16 => body
            .strip_prefix("0x")
            .or_else(|| body.strip_prefix("0X"))
            .unwrap_or(body),
        _ => body,
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return Err(format!(
            "invalid literal for int() with base {radix}: {s:?}"
        ));
    }
    Ok(int_from_digits(neg, radix, body))
}

fn int_from_digits(neg: bool, radix: u32, digits: &str) -> Scalar {
    if let Ok(v) = u128::from_str_radix(digits, radix) {
        let signed = if neg {
            0i128.checked_sub_unsigned(v)
        } else {
            i128::try_from(v).ok()
        };
        if let Some(i) = signed.and_then(|x| i64::try_from(x).ok()) {
            return Scalar::Int(i);
        }
    }
    Scalar::BigInt {
        neg,
        radix,
        digits: digits.to_string(),
    }
}

/// Decimal digits of sum(parts[i] * 60^(n-1-i)), computed in base 1e9 limbs (no overflow).
fn sexagesimal_decimal(parts: &[&str]) -> Option<String> {
    const BASE: u64 = 1_000_000_000;
    let mut limbs: Vec<u64> = vec![0]; // little-endian base 1e9
    for part in parts {
        let p = part.trim_matches(py_space);
        let p = p.strip_prefix('+').unwrap_or(p);
        if p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        // limbs *= 60
        let mut carry = 0u64;
        for l in limbs.iter_mut() {
            let v = *l * 60 + carry;
            *l = v % BASE;
            carry = v / BASE;
        }
        if carry > 0 {
            limbs.push(carry);
        }
        // limbs += p (process p's digits as a big number)
        let mut add: Vec<u64> = vec![0];
        for c in p.bytes() {
            let mut carry = u64::from(c - b'0');
            for l in add.iter_mut() {
                let v = *l * 10 + carry;
                *l = v % BASE;
                carry = v / BASE;
            }
            if carry > 0 {
                add.push(carry);
            }
        }
        let mut carry = 0u64;
        for k in 0..limbs.len().max(add.len()) {
            if k >= limbs.len() {
                limbs.push(0);
            }
            let v = limbs[k] + add.get(k).copied().unwrap_or(0) + carry;
            limbs[k] = v % BASE;
            carry = v / BASE;
        }
        if carry > 0 {
            limbs.push(carry);
        }
    }
    let mut s = String::new();
    for (k, l) in limbs.iter().rev().enumerate() {
        if k == 0 {
            s.push_str(&l.to_string());
        } else {
            s.push_str(&format!("{l:09}"));
        }
    }
    Some(s)
}

/// [`construct_int`] of a plain decimal without underscores or leading zero (the common
/// case); None for any other text. Inlined, so the value stays in registers.
#[inline(always)]
pub fn int_fast(value: &str) -> Option<i64> {
    let b = value.as_bytes();
    let digits = b
        .strip_prefix(b"-")
        .or_else(|| b.strip_prefix(b"+"))
        .unwrap_or(b);
    if !digits.is_empty()
        && digits.len() < 19
        && digits[0] != b'0'
        && digits.iter().all(u8::is_ascii_digit)
    {
        return value.parse::<i64>().ok();
    }
    None
}

/// `SafeConstructor.construct_yaml_int`.
pub fn construct_int(value: &str) -> Result<Scalar, String> {
    if let Some(i) = int_fast(value) {
        return Ok(Scalar::Int(i));
    }
    let v: String = value.chars().filter(|&c| c != '_').collect();
    let first = v
        .chars()
        .next()
        .ok_or_else(|| "empty string is not an int".to_string())?;
    let neg = first == '-';
    let body = if first == '-' || first == '+' {
        &v[1..]
    } else {
        &v[..]
    };
    let negate = |s: Scalar| match s {
        Scalar::Int(i) if neg => match i.checked_neg() {
            Some(n) => Scalar::Int(n),
            None => Scalar::BigInt {
                neg: false,
                radix: 10,
                digits: i.unsigned_abs().to_string(),
            },
        },
        Scalar::BigInt {
            neg: n,
            radix,
            digits,
        } if neg => int_from_digits(!n, radix, &digits),
        other => other,
    };
    if body == "0" {
        return Ok(Scalar::Int(0));
    }
    if let Some(b) = body.strip_prefix("0b") {
        return py_int(b, 2).map(negate);
    }
    if let Some(h) = body.strip_prefix("0x") {
        return py_int(h, 16).map(negate);
    }
    if body.starts_with('0') {
        return py_int(body, 8).map(negate);
    }
    if body.contains(':') {
        let parts: Vec<&str> = body.split(':').collect();
        // Each part goes through int(); signs inside parts are not supported here.
        let dec = sexagesimal_decimal(&parts)
            .ok_or_else(|| format!("invalid sexagesimal int: {value:?}"))?;
        return Ok(negate(int_from_digits(false, 10, &dec)));
    }
    if body.is_empty() {
        return Err(format!("invalid literal for int(): {value:?}"));
    }
    py_int(body, 10).map(negate)
}

/// Python's `float(s)`.
fn py_float(s: &str) -> Result<f64, String> {
    let t = s.trim_matches(py_space);
    // Rust accepts what Python accepts here except forms Python rejects: none of
    // "inf"/"nan"/"infinity" differ; reject anything with '_' (already removed) or hex.
    t.parse::<f64>()
        .map_err(|_| format!("could not convert string to float: {s:?}"))
}

/// [`construct_float`] of digits, sign, '.', 'e'/'E' only, a digit first or after the sign
/// (what float() accepts the same way; `-x` is `-1 * x` there, the same float); None for any
/// other text. Inlined, so the value stays in registers.
#[inline(always)]
pub fn float_fast(value: &str) -> Option<f64> {
    let b = value.as_bytes();
    let lead = usize::from(matches!(b.first(), Some(b'-' | b'+')));
    if b.get(lead).is_some_and(u8::is_ascii_digit)
        && b.iter()
            .all(|&c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'-' | b'+'))
    {
        return value.parse::<f64>().ok();
    }
    None
}

/// `SafeConstructor.construct_yaml_float`.
pub fn construct_float(value: &str) -> Result<f64, String> {
    if let Some(f) = float_fast(value) {
        return Ok(f);
    }
    let v: String = value
        .chars()
        .filter(|&c| c != '_')
        .collect::<String>()
        .to_lowercase();
    let first = v
        .chars()
        .next()
        .ok_or_else(|| "empty string is not a float".to_string())?;
    let sign = if first == '-' { -1.0 } else { 1.0 };
    let body = if first == '-' || first == '+' {
        &v[1..]
    } else {
        &v[..]
    };
    if body == ".inf" {
        return Ok(sign * f64::INFINITY);
    }
    if body == ".nan" {
        return Ok(f64::NAN);
    }
    if body.contains(':') {
        let mut total = 0.0;
        let mut base = 1.0;
        for part in body.split(':').rev() {
            total += py_float(part)? * base;
            base *= 60.0;
        }
        return Ok(sign * total);
    }
    Ok(sign * py_float(body)?)
}

/// `SafeConstructor.construct_yaml_bool`.
pub fn construct_bool(value: &str) -> Result<bool, String> {
    for (word, b) in [
        ("true", true),
        ("false", false),
        ("yes", true),
        ("no", false),
    ] {
        if value.eq_ignore_ascii_case(word) {
            return Ok(b);
        }
    }
    match value.to_lowercase().as_str() {
        "yes" | "true" | "on" => Ok(true),
        "no" | "false" | "off" => Ok(false),
        _ => Err(format!("invalid boolean {value:?}")),
    }
}

struct Ts {
    year: u16,
    month: u8,
    day: u8,
    hour: Option<u8>,
    minute: u8,
    second: u8,
    fraction: Option<String>,
    tz: Option<Option<i32>>, // Some(None) = 'Z'
}

fn take_digits(b: &[u8], i: &mut usize, min: usize, max: usize) -> Option<u32> {
    let start = *i;
    while *i < b.len() && *i - start < max && b[*i].is_ascii_digit() {
        *i += 1;
    }
    if *i - start < min {
        return None;
    }
    std::str::from_utf8(&b[start..*i]).ok()?.parse().ok()
}

/// PyYAML's constructor timestamp regex (more permissive than the resolver's).
fn parse_timestamp(s: &str) -> Option<Ts> {
    let b = s.as_bytes();
    let mut i = 0;
    let year = take_digits(b, &mut i, 4, 4)?;
    (b.get(i) == Some(&b'-')).then_some(())?;
    i += 1;
    let month = take_digits(b, &mut i, 1, 2)?;
    (b.get(i) == Some(&b'-')).then_some(())?;
    i += 1;
    let day = take_digits(b, &mut i, 1, 2)?;
    let mut ts = Ts {
        year: year as u16,
        month: month as u8,
        day: day as u8,
        hour: None,
        minute: 0,
        second: 0,
        fraction: None,
        tz: None,
    };
    if i == b.len() {
        return Some(ts);
    }
    // (?:[Tt]|[ \t]+)
    if b[i] == b'T' || b[i] == b't' {
        i += 1;
    } else if b[i] == b' ' || b[i] == b'\t' {
        while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
            i += 1;
        }
    } else {
        return None;
    }
    ts.hour = Some(take_digits(b, &mut i, 1, 2)? as u8);
    (b.get(i) == Some(&b':')).then_some(())?;
    i += 1;
    ts.minute = take_digits(b, &mut i, 2, 2)? as u8;
    (b.get(i) == Some(&b':')).then_some(())?;
    i += 1;
    ts.second = take_digits(b, &mut i, 2, 2)? as u8;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        ts.fraction = Some(s[start..i].to_string());
    }
    // (?:[ \t]*(?P<tz>Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?
    let save = i;
    let mut j = i;
    while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
        j += 1;
    }
    if j < b.len() && b[j] == b'Z' {
        ts.tz = Some(None);
        i = j + 1;
    } else if j < b.len() && (b[j] == b'-' || b[j] == b'+') {
        let neg = b[j] == b'-';
        let mut k = j + 1;
        if let Some(h) = take_digits(b, &mut k, 1, 2) {
            let mut m = 0;
            let mut end = k;
            if b.get(k) == Some(&b':') {
                let mut k2 = k + 1;
                if let Some(mm) = take_digits(b, &mut k2, 2, 2) {
                    m = mm;
                    end = k2;
                }
            }
            let off = (h * 60 + m) as i32;
            ts.tz = Some(Some(if neg { -off } else { off }));
            i = end;
        } else {
            i = save;
        }
    } else {
        i = save;
    }
    (i == b.len()).then_some(ts)
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

/// `SafeConstructor.construct_yaml_timestamp` (date or datetime, range-checked like Python).
pub fn construct_timestamp(value: &str) -> Result<Scalar, String> {
    let bad = || format!("invalid timestamp {value:?}");
    let ts = parse_timestamp(dollar(value)).ok_or_else(bad)?;
    let (y, mo, d) = (u32::from(ts.year), u32::from(ts.month), u32::from(ts.day));
    if y < 1 || !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) {
        return Err(format!("{}: date out of range", bad()));
    }
    let Some(hour) = ts.hour else {
        return Ok(Scalar::Date {
            year: ts.year,
            month: ts.month,
            day: ts.day,
        });
    };
    if hour > 23 || ts.minute > 59 || ts.second > 59 {
        return Err(format!("{}: time out of range", bad()));
    }
    let micro = match &ts.fraction {
        Some(f) if !f.is_empty() => {
            let mut f6: String = f.chars().take(6).collect();
            while f6.len() < 6 {
                f6.push('0');
            }
            f6.parse::<u32>().map_err(|_| bad())?
        }
        _ => 0,
    };
    let tz_minutes = match ts.tz {
        None => None,
        Some(None) => Some(0),
        Some(Some(m)) => {
            // datetime.timezone requires |offset| < 24h.
            if m.abs() >= 24 * 60 {
                return Err(format!("{}: UTC offset out of range", bad()));
            }
            Some(m)
        }
    };
    Ok(Scalar::DateTime(DateTime {
        year: ts.year,
        month: ts.month,
        day: ts.day,
        hour,
        minute: ts.minute,
        second: ts.second,
        micro,
        tz_minutes,
    }))
}

/// `base64.decodebytes` (CPython's non-strict `binascii.a2b_base64`) of an ASCII string.
pub fn construct_binary(value: &str) -> Result<Vec<u8>, String> {
    if !value.is_ascii() {
        return Err("failed to convert base64 data into ascii: non-ASCII character".into());
    }
    let table = |c: u8| -> Option<u8> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        })
    };
    let mut out = Vec::with_capacity(value.len() / 4 * 3 + 3);
    let (mut quad_pos, mut left, mut pads) = (0u8, 0u8, 0u32);
    for &c in value.as_bytes() {
        if c == b'=' {
            if quad_pos >= 2 {
                pads += 1;
                if u32::from(quad_pos) + pads >= 4 {
                    return Ok(out);
                }
            }
            continue;
        }
        let Some(v) = table(c) else { continue };
        pads = 0;
        match quad_pos {
            0 => {
                quad_pos = 1;
                left = v;
            }
            1 => {
                quad_pos = 2;
                out.push((left << 2) | (v >> 4));
                left = v & 0x0f;
            }
            2 => {
                quad_pos = 3;
                out.push((left << 4) | (v >> 2));
                left = v & 0x03;
            }
            _ => {
                quad_pos = 0;
                out.push((left << 6) | v);
                left = 0;
            }
        }
    }
    match quad_pos {
        0 => Ok(out),
        1 => Err("failed to decode base64 data: invalid number of data characters".into()),
        _ => Err("failed to decode base64 data: Incorrect padding".into()),
    }
}

/// Construct a scalar explicitly tagged with a core scalar tag (or resolved implicitly).
pub fn construct(core: Core, value: &str) -> Result<Scalar, String> {
    Ok(match core {
        Core::Null => Scalar::Null,
        Core::Bool => Scalar::Bool(construct_bool(value)?),
        Core::Int => construct_int(value)?,
        Core::Float => Scalar::Float(construct_float(value)?),
        Core::Binary => Scalar::Bytes(construct_binary(value)?),
        Core::Timestamp => construct_timestamp(value)?,
        Core::Str => Scalar::Str(value.to_string()),
        Core::Seq | Core::Map | Core::Omap | Core::Pairs | Core::Set => {
            return Err("expected a scalar node".into());
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implicit_table() {
        use Implicit::*;
        let cases: &[(&str, Implicit)] = &[
            ("", Null),
            ("~", Null),
            ("null", Null),
            ("Null", Null),
            ("NULL", Null),
            ("nULL", Str),
            ("yes", Bool),
            ("Yes", Bool),
            ("YES", Bool),
            ("yEs", Str),
            ("y", Str),
            ("n", Str),
            ("On", Bool),
            ("OFF", Bool),
            ("True", Bool),
            ("0", Int),
            ("-0", Int),
            ("017", Int),
            ("018", Str),
            ("0x1F", Int),
            ("0x", Str),
            ("0b101", Int),
            ("0b_", Int),
            ("1_000", Int),
            ("1:30", Int),
            ("1:30:59", Int),
            ("1:60", Str),
            ("0:30", Str),
            ("190:20:30", Int),
            ("1.0", Float),
            ("1.", Float),
            ("-1.5", Float),
            (".5", Float),
            ("-.5", Str),
            ("1e5", Str),
            ("1.0e5", Str),
            ("1.0e+5", Float),
            ("1.0E-5", Float),
            (".inf", Float),
            ("-.Inf", Float),
            ("+.INF", Float),
            (".nan", Float),
            ("-.nan", Str),
            (".NaN", Float),
            ("1:30.5", Float),
            ("<<", Merge),
            ("=", Value),
            ("2001-12-14", Timestamp),
            ("2001-1-14", Str),
            ("2001-12-14t21:59:43.10-05:00", Timestamp),
            ("2001-12-14 21:59:43.10 -5", Timestamp),
            ("2001-12-14T21:59:43Z", Timestamp),
            ("2001-12-14T1:59:43", Timestamp),
            ("2001-12-14T21:59", Str),
            ("12", Int),
            ("12\n", Int),
            ("abc", Str),
        ];
        for (s, want) in cases {
            assert_eq!(resolve_plain(s), *want, "resolving {s:?}");
        }
    }

    #[test]
    fn ints() {
        let cases: &[(&str, Scalar)] = &[
            ("0", Scalar::Int(0)),
            ("-0", Scalar::Int(0)),
            ("017", Scalar::Int(15)),
            ("-017", Scalar::Int(-15)),
            ("0x1F", Scalar::Int(31)),
            ("-0b101", Scalar::Int(-5)),
            ("1_000", Scalar::Int(1000)),
            ("1:30", Scalar::Int(90)),
            ("-1:30:00", Scalar::Int(-5400)),
            ("9223372036854775807", Scalar::Int(i64::MAX)),
            ("-9223372036854775808", Scalar::Int(i64::MIN)),
        ];
        for (s, want) in cases {
            assert_eq!(construct_int(s).unwrap(), *want, "{s}");
        }
        assert_eq!(
            construct_int("99999999999999999999").unwrap(),
            Scalar::BigInt {
                neg: false,
                radix: 10,
                digits: "99999999999999999999".into()
            }
        );
        assert_eq!(
            construct_int("-0xffffffffffffffffff").unwrap(),
            Scalar::BigInt {
                neg: true,
                radix: 16,
                digits: "ffffffffffffffffff".into()
            }
        );
        // 2^63 sexagesimal: 153722867280912930:7 = 153722867280912930*60 + 7
        assert_eq!(
            construct_int("153722867280912930:07").unwrap(),
            Scalar::Int(i64::MAX)
        );
        assert!(construct_int("0b_").is_err());
        assert!(construct_int("").is_err());
        assert!(construct_int("abc").is_err());
        assert_eq!(construct_int(" 12 ").unwrap(), Scalar::Int(12));
    }

    #[test]
    fn floats() {
        let cases: &[(&str, f64)] = &[
            ("1.0", 1.0),
            ("1.", 1.0),
            ("-1.5", -1.5),
            (".5", 0.5),
            ("1_0.5", 10.5),
            ("1.0e+5", 1.0e5),
            ("6.8523015e+5", 685230.15),
            (".inf", f64::INFINITY),
            ("-.INF", f64::NEG_INFINITY),
            ("1:30.5", 90.5),
            ("-1:30.5", -90.5),
            ("190:20:30.15", 685230.15),
            ("1", 1.0),
        ];
        for (s, want) in cases {
            assert_eq!(construct_float(s).unwrap(), *want, "{s}");
        }
        assert!(construct_float(".nan").unwrap().is_nan());
        assert!(construct_float("abc").is_err());
    }

    #[test]
    fn bools_and_timestamps() {
        assert_eq!(construct_bool("yEs"), Ok(true));
        assert_eq!(construct_bool("OFF"), Ok(false));
        assert!(construct_bool("y").is_err());
        assert_eq!(
            construct_timestamp("2002-12-14").unwrap(),
            Scalar::Date {
                year: 2002,
                month: 12,
                day: 14
            }
        );
        let Scalar::DateTime(t) = construct_timestamp("2001-12-14t21:59:43.1234567-05:30").unwrap()
        else {
            panic!("not a datetime")
        };
        assert_eq!(
            (t.hour, t.minute, t.second, t.micro, t.tz_minutes),
            (21, 59, 43, 123456, Some(-330))
        );
        let Scalar::DateTime(t) = construct_timestamp("2001-12-14 21:59:43.1 Z").unwrap() else {
            panic!()
        };
        assert_eq!((t.micro, t.tz_minutes), (100000, Some(0)));
        assert!(construct_timestamp("2001-02-29").is_err());
        assert!(construct_timestamp("2001-13-01").is_err());
        assert!(construct_timestamp("2001-01-01T25:00:00").is_err());
    }

    #[test]
    fn base64() {
        assert_eq!(construct_binary("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(construct_binary("aGVs\nbG8=\n").unwrap(), b"hello");
        assert_eq!(construct_binary("aGVsbA==trailing").unwrap(), b"hell");
        assert!(construct_binary("aGVsbG8").is_err());
        assert!(construct_binary("a").is_err());
        assert!(construct_binary("é").is_err());
    }
}
