//! Writing an ASDF file as the asdf library does: the YAML text (through `...`), the binary
//! blocks (48-byte header: no flags, no compression, sizes, MD5 of the data) and the block index.

use super::block::{HEADER_FIELDS, INDEX_HEADER, MAGIC};
use crate::error::Result;
use md5::{Digest, Md5};
use rayon::prelude::*;
use std::io::{Seek, SeekFrom, Write};

/// One block to write.
#[derive(Debug, Clone, Copy)]
pub enum BlockOut<'a> {
    /// A whole block as read from another file (header included), copied byte for byte.
    Raw(&'a [u8]),
    /// Array bytes, written uncompressed under a new header.
    Data(&'a [u8]),
}

impl BlockOut<'_> {
    fn len(&self, header: usize) -> usize {
        match self {
            BlockOut::Raw(b) => b.len(),
            BlockOut::Data(d) => header + d.len(),
        }
    }
}

/// The header of an uncompressed block holding `data` (`digest`: its MD5).
pub fn header(data: &[u8], digest: &[u8; 16]) -> Vec<u8> {
    let n = data.len() as u64;
    let mut h = Vec::with_capacity(6 + HEADER_FIELDS);
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&(HEADER_FIELDS as u16).to_be_bytes());
    h.extend_from_slice(&0u32.to_be_bytes());
    h.extend_from_slice(&[0u8; 4]);
    for size in [n, n, n] {
        h.extend_from_slice(&size.to_be_bytes());
    }
    h.extend_from_slice(digest);
    h
}

/// The block index asdf writes after the last block (`offsets` from the start of the file).
pub fn index(offsets: &[u64]) -> Vec<u8> {
    let mut out = INDEX_HEADER.to_vec();
    out.extend_from_slice(b"\n%YAML 1.1\n---\n");
    for o in offsets {
        out.extend_from_slice(format!("- {o}\n").as_bytes());
    }
    out.extend_from_slice(b"...\n");
    out
}

/// Offset of the MD5 field in a block header.
const CHECKSUM_AT: u64 = 6 + 32;

/// Write `text`, then `blocks` and (when there are blocks) their index. The MD5 digests are
/// computed while the bytes are written (headers first get a zero checksum, patched at the end).
pub fn write_file<W: Write + Seek + Send>(
    w: &mut W,
    text: &[u8],
    blocks: &[BlockOut<'_>],
) -> Result<()> {
    let (digests, offsets) = rayon::join(
        || {
            blocks
                .par_iter()
                .map(|b| match b {
                    BlockOut::Raw(_) => None,
                    BlockOut::Data(d) => Some(<[u8; 16]>::from(Md5::digest(d))),
                })
                .collect::<Vec<_>>()
        },
        || write_body(w, text, blocks),
    );
    let offsets = offsets?;
    for (digest, at) in digests.iter().zip(&offsets) {
        if let Some(d) = digest {
            w.seek(SeekFrom::Start(at + CHECKSUM_AT))?;
            w.write_all(d)?;
        }
    }
    w.seek(SeekFrom::End(0))?;
    Ok(())
}

/// The text, blocks (new ones with a zero checksum) and index; returns the blocks' offsets.
fn write_body(w: &mut impl Write, text: &[u8], blocks: &[BlockOut<'_>]) -> Result<Vec<u64>> {
    w.write_all(text)?;
    let mut offsets = Vec::with_capacity(blocks.len());
    let mut at = text.len() as u64;
    for b in blocks {
        offsets.push(at);
        match b {
            BlockOut::Data(d) => {
                w.write_all(&header(d, &[0u8; 16]))?;
                w.write_all(d)?;
            }
            BlockOut::Raw(r) => w.write_all(r)?,
        }
        at += b.len(6 + HEADER_FIELDS) as u64;
    }
    if !offsets.is_empty() {
        w.write_all(&index(&offsets))?;
    }
    Ok(offsets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asdf::block;
    use std::io::Cursor;

    #[test]
    fn blocks_read_back_with_checksums() {
        let text = b"#ASDF 1.0.0\n#ASDF_STANDARD 1.6.0\n%YAML 1.1\n--- {}\n...\n";
        let a: Vec<u8> = (0..=255u8).collect();
        let mut first = Cursor::new(Vec::new());
        write_file(&mut first, b"", &[BlockOut::Data(b"xyz")]).unwrap();
        let first = first.into_inner();
        let raw = &first[..6 + HEADER_FIELDS + 3];
        let mut out = Cursor::new(Vec::new());
        write_file(
            &mut out,
            text,
            &[BlockOut::Data(&a), BlockOut::Raw(raw), BlockOut::Data(b"")],
        )
        .unwrap();
        let out = out.into_inner();
        let (blocks, at) = block::walk(&out, text.len()).unwrap();
        assert_eq!(blocks.len(), 3);
        for (b, want) in blocks.iter().zip([&a[..], b"xyz", b""]) {
            block::verify(&out, b).unwrap();
            assert_ne!(b.checksum, [0u8; 16]);
            assert_eq!(block::decode(&out, b).unwrap().as_ref(), want);
        }
        let at = at.unwrap();
        assert_eq!(
            block::parse_index(&out, at).unwrap(),
            blocks.iter().map(|b| b.offset as u64).collect::<Vec<_>>()
        );
        let idx = index(&[
            text.len() as u64,
            (text.len() + 54 + 256) as u64,
            (text.len() + 54 + 256 + 57) as u64,
        ]);
        assert_eq!(&out[at..], &idx[..]);
        let small = index(&[54, 364]);
        assert_eq!(
            small,
            b"#ASDF BLOCK INDEX\n%YAML 1.1\n---\n- 54\n- 364\n...\n".to_vec()
        );
    }
}
