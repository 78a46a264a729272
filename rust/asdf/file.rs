//! Splitting an ASDF file into header line, comments, YAML tree, blocks and block index,
//! following asdf's reader (`asdf/_io.py`, `asdf/_block/reader.py`).

use super::block::{self, Block, MAGIC};
use crate::error::{Error, Result};
use std::ops::Range;

/// The parts of an ASDF file, as offsets into its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Version on the `#ASDF x.y.z` line.
    pub asdf_version: String,
    /// Version from the `#ASDF_STANDARD x.y.z` comment, if present.
    pub standard_version: Option<String>,
    /// Comment lines between the header line and the tree, without `#`, stripped.
    pub comments: Vec<String>,
    /// The YAML stream, from `%YAML` through the `...` end marker line.
    pub yaml: Option<Range<usize>>,
    pub blocks: Vec<Block>,
    /// Offset of `#ASDF BLOCK INDEX` after the blocks, if present.
    pub index_offset: Option<usize>,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

/// Python's `bytes.split()` (ASCII whitespace).
fn split_ws(b: &[u8]) -> Vec<&[u8]> {
    b.split(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c'))
        .filter(|p| !p.is_empty())
        .collect()
}

fn version_ok(v: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(v).ok()?;
    let parts: Vec<&str> = s.split('.').collect();
    (parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit())))
    .then(|| s.to_string())
}

/// End of the YAML stream: just past the first `\r?\n...` followed by `\r?\n` or end of data.
fn yaml_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(k) = buf.get(i..).and_then(|r| find(r, b"\n...")) {
        let after = i + k + 4;
        match &buf[after..] {
            [] => return Some(after),
            [b'\n', ..] => return Some(after + 1),
            [b'\r', b'\n', ..] => return Some(after + 2),
            _ => i = i + k + 1,
        }
    }
    None
}

/// Python's `bytes.splitlines()`.
fn splitlines(b: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\n' => {
                out.push(&b[start..i]);
                i += 1;
                start = i;
            }
            b'\r' => {
                out.push(&b[start..i]);
                i += if b.get(i + 1) == Some(&b'\n') { 2 } else { 1 };
                start = i;
            }
            _ => i += 1,
        }
    }
    if start < b.len() {
        out.push(&b[start..]);
    }
    out
}

/// Split an ASDF file.
pub fn split(buf: &[u8]) -> Result<Layout> {
    let not_asdf =
        || Error::asdf("does not appear to be an ASDF file (no '#ASDF 1.0.0' header line)");
    let nl = buf.iter().position(|&c| c == b'\n').ok_or_else(not_asdf)?;
    let header = &buf[..=nl];
    let parts = split_ws(header);
    if parts.len() != 2 || parts[0] != b"#ASDF" {
        return Err(not_asdf());
    }
    let asdf_version = version_ok(parts[1]).ok_or_else(|| {
        Error::asdf(format!(
            "unparsable version in ASDF header: {:?}",
            String::from_utf8_lossy(parts[1])
        ))
    })?;
    if asdf_version != "1.0.0" {
        return Err(Error::asdf(format!(
            "unsupported ASDF file format version {asdf_version}"
        )));
    }
    let after_header = nl + 1;
    let rest = &buf[after_header..];
    // The first of "%YAML" and a block magic (the magic searched only before "%YAML").
    let content_at = match find(rest, b"%YAML") {
        Some(a) => find(&rest[..a], MAGIC).unwrap_or(a),
        None => find(rest, MAGIC).unwrap_or(rest.len()),
    };
    let mut comments = Vec::new();
    for line in splitlines(&rest[..content_at]) {
        let Some(c) = line.strip_prefix(b"#") else {
            return Err(Error::asdf(
                "invalid content between the ASDF header line and the tree",
            ));
        };
        comments.push(String::from_utf8_lossy(c).trim().to_string());
    }
    let standard_version = comments.iter().find_map(|c| {
        let p: Vec<&str> = c.split_whitespace().collect();
        (p.len() == 2 && p[0] == "ASDF_STANDARD")
            .then(|| version_ok(p[1].as_bytes()))
            .flatten()
    });
    let start = after_header + content_at;
    let token = &buf[start..buf.len().min(start + 4)];
    let (yaml, blocks_from) = if token == b"%YAM" {
        let end = yaml_end(buf, start)
            .ok_or_else(|| Error::asdf("end of YAML marker ('...') not found"))?;
        (Some(start..end), Some(end))
    } else if token == MAGIC {
        (None, Some(start))
    } else if token.is_empty() {
        (None, None)
    } else {
        return Err(Error::asdf(
            "ASDF file appears to contain garbage after header",
        ));
    };
    let (blocks, index_offset) = match blocks_from {
        Some(from) => block::walk(buf, from)?,
        None => (Vec::new(), None),
    };
    Ok(Layout {
        asdf_version,
        standard_version,
        comments,
        yaml,
        blocks,
        index_offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_table() {
        let y = "%YAML 1.1\n%TAG ! tag:stsci.edu:asdf/\n--- !core/asdf-1.1.0\na: 1\n...\n";
        let f = format!("#ASDF 1.0.0\n#ASDF_STANDARD 1.5.0\n# This is an ASDF file\n{y}");
        let l = split(f.as_bytes()).unwrap();
        assert_eq!(l.asdf_version, "1.0.0");
        assert_eq!(l.standard_version.as_deref(), Some("1.5.0"));
        assert_eq!(
            l.comments,
            vec!["ASDF_STANDARD 1.5.0", "This is an ASDF file"]
        );
        assert_eq!(&f[l.yaml.clone().unwrap()], y);
        assert!(l.blocks.is_empty());
        // CRLF, end marker at end of data, no comments.
        let f2 = "#ASDF 1.0.0\r\n%YAML 1.1\r\n---\r\na: 1\r\n...";
        let l2 = split(f2.as_bytes()).unwrap();
        assert_eq!(l2.yaml, Some(13..f2.len()));
        assert_eq!(l2.standard_version, None);
        // "..." inside a line is not the end marker.
        let f3 = "#ASDF 1.0.0\n%YAML 1.1\n---\na: b\n...c\n...\n";
        assert_eq!(
            &f3[split(f3.as_bytes()).unwrap().yaml.unwrap()],
            "%YAML 1.1\n---\na: b\n...c\n...\n"
        );
        // No tree at all.
        assert_eq!(split(b"#ASDF 1.0.0\n").unwrap().yaml, None);
    }

    #[test]
    fn split_errors() {
        let cases: &[(&[u8], &str)] = &[
            (b"SIMPLE  = T", "does not appear"),
            (b"#ASDF 1.0.0 x\n", "does not appear"),
            (b"#ASDF 2.0.0\n%YAML 1.1\n", "unsupported"),
            (b"#ASDF one\n", "unparsable"),
            (
                b"#ASDF 1.0.0\nfoo\n%YAML 1.1\n---\n...\n",
                "invalid content",
            ),
            (b"#ASDF 1.0.0\n%YAML 1.1\n---\na: 1\n", "end of YAML marker"),
        ];
        for (bytes, want) in cases {
            let msg = split(bytes).unwrap_err().msg;
            assert!(msg.contains(want), "{msg} !~ {want}");
        }
    }
}
