//! ASDF binary blocks: header parsing, serial walk, checksum and decompression.

use crate::error::{Error, Result};
use md5::{Digest, Md5};
use std::borrow::Cow;
use std::io::Read;

pub const MAGIC: &[u8; 4] = b"\xd3BLK";
pub const INDEX_HEADER: &[u8] = b"#ASDF BLOCK INDEX";
/// Size of the fixed header fields after the u16 header_size.
pub const HEADER_FIELDS: usize = 48;
/// Largest data_size accepted (1 TB).
pub const MAX_DATA_SIZE: u64 = 1 << 40;
pub const FLAG_STREAMED: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Zlib,
    Bzp2,
    Lz4,
}

impl Compression {
    fn parse(b: &[u8]) -> Result<Compression> {
        Ok(match b {
            b"\0\0\0\0" => Compression::None,
            b"zlib" => Compression::Zlib,
            b"bzp2" => Compression::Bzp2,
            b"lz4\0" => Compression::Lz4,
            _ => {
                return Err(Error::asdf(format!(
                    "block compression {:?} is not supported (zlib, bzp2, lz4)",
                    String::from_utf8_lossy(b)
                )))
            }
        })
    }

    pub fn label(self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Zlib => "zlib",
            Compression::Bzp2 => "bzp2",
            Compression::Lz4 => "lz4",
        }
    }
}

/// One block, located in the ASDF buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Offset of the magic bytes.
    pub offset: usize,
    pub header_size: u16,
    pub flags: u32,
    pub compression: Compression,
    pub allocated_size: u64,
    pub used_size: u64,
    pub data_size: u64,
    pub checksum: [u8; 16],
    /// Offset of the (possibly compressed) data.
    pub data_start: usize,
    /// Bytes of stored data (used_size; to the end of the buffer for a streamed block).
    pub data_len: usize,
    /// Offset just past this block's allocated space.
    pub end: usize,
}

impl Block {
    pub fn streamed(&self) -> bool {
        self.flags & FLAG_STREAMED != 0
    }

    /// Size of the decoded data.
    pub fn decoded_len(&self) -> usize {
        if self.compression == Compression::None || self.streamed() {
            self.data_len
        } else {
            // Checked against MAX_DATA_SIZE when read.
            self.data_size as usize
        }
    }
}

fn be_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

/// Read the block whose magic starts at `pos`.
pub fn read_block(buf: &[u8], pos: usize) -> Result<Block> {
    let at = |m: &str| Error::asdf(format!("block at offset {pos}: {m}"));
    let rest = buf.get(pos..).ok_or_else(|| at("offset past the end"))?;
    if rest.len() < 6 || &rest[..4] != MAGIC {
        return Err(at("bad block magic"));
    }
    let header_size = u16::from_be_bytes([rest[4], rest[5]]);
    if usize::from(header_size) < HEADER_FIELDS {
        return Err(at(&format!("header size {header_size} < {HEADER_FIELDS}")));
    }
    let h = rest
        .get(6..6 + usize::from(header_size))
        .ok_or_else(|| at("truncated block header"))?;
    let flags = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
    let compression = Compression::parse(&h[4..8]).map_err(|e| at(&e.msg))?;
    let allocated_size = be_u64(&h[8..16]);
    let used_size = be_u64(&h[16..24]);
    let data_size = be_u64(&h[24..32]);
    let mut checksum = [0u8; 16];
    checksum.copy_from_slice(&h[32..48]);
    let data_start = pos + 6 + usize::from(header_size);
    let remaining = (buf.len() - data_start) as u64;
    let streamed = flags & FLAG_STREAMED != 0;
    let (data_len, end) = if streamed {
        if compression != Compression::None {
            return Err(at("compression set on a streamed block"));
        }
        (remaining as usize, buf.len())
    } else {
        if used_size > allocated_size {
            return Err(at(&format!(
                "used_size {used_size} > allocated_size {allocated_size}"
            )));
        }
        if allocated_size > remaining {
            return Err(at(&format!(
                "allocated_size {allocated_size} runs past the end ({remaining} bytes left)"
            )));
        }
        if compression == Compression::None && used_size != data_size {
            return Err(at(
                "used_size and data_size must be equal when no compression is used",
            ));
        }
        if data_size > MAX_DATA_SIZE {
            return Err(at(&format!("data_size {data_size} is too large")));
        }
        (used_size as usize, data_start + allocated_size as usize)
    };
    Ok(Block {
        offset: pos,
        header_size,
        flags,
        compression,
        allocated_size,
        used_size,
        data_size,
        checksum,
        data_start,
        data_len,
        end,
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

/// Blocks after the tree, read serially as asdf does: skip to the first magic, then read
/// blocks back to back until something else (a block index, zero padding, end of data).
/// Returns the blocks and the offset of a block index, if one follows them.
pub fn walk(buf: &[u8], from: usize) -> Result<(Vec<Block>, Option<usize>)> {
    let mut blocks = Vec::new();
    let Some(first) = buf.get(from..).and_then(|r| find(r, MAGIC)) else {
        return Ok((blocks, None));
    };
    let mut pos = from + first;
    loop {
        let b = read_block(buf, pos)?;
        let streamed = b.streamed();
        pos = b.end;
        blocks.push(b);
        if streamed || buf.get(pos..pos + 4) != Some(&MAGIC[..]) {
            break;
        }
    }
    let index = buf
        .get(pos..)
        .filter(|r| r.starts_with(INDEX_HEADER))
        .map(|_| pos);
    Ok((blocks, index))
}

/// Offsets listed by a block index (`#ASDF BLOCK INDEX`, then a YAML list of ints), or None if
/// it is not a well-formed index. It is informational: blocks are always walked.
pub fn parse_index(buf: &[u8], at: usize) -> Option<Vec<u64>> {
    let text = std::str::from_utf8(buf.get(at..)?).ok()?;
    let mut out = Vec::new();
    let mut lines = text.lines();
    if lines.next()?.trim_end() != "#ASDF BLOCK INDEX" {
        return None;
    }
    for line in lines {
        let l = line.trim_end();
        if l.starts_with('%') || l == "---" || l.is_empty() {
            continue;
        }
        if l == "..." {
            return Some(out);
        }
        out.push(l.strip_prefix("- ")?.trim().parse().ok()?);
    }
    None
}

/// The stored bytes of a block (compressed if it is compressed).
pub fn stored<'a>(buf: &'a [u8], b: &Block) -> Result<&'a [u8]> {
    buf.get(b.data_start..b.data_start + b.data_len)
        .ok_or_else(|| Error::asdf(format!("block at offset {}: data out of bounds", b.offset)))
}

/// Verify the block's MD5 (when the header has one).
pub fn verify(buf: &[u8], b: &Block) -> Result<()> {
    if b.checksum == [0u8; 16] {
        return Ok(());
    }
    let digest = Md5::digest(stored(buf, b)?);
    if digest.as_slice() != b.checksum {
        return Err(Error::asdf(format!(
            "block at offset {} does not match its MD5 checksum",
            b.offset
        )));
    }
    Ok(())
}

/// Read from a decompressor into a Vec, refusing more than `limit` bytes. The Vec grows with
/// the real output, never to a size taken from the file.
fn read_capped(mut r: impl Read, limit: usize, what: &str) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(limit.min(1 << 20));
    let mut chunk = [0u8; 64 * 1024];
    loop {
        let n = r
            .read(&mut chunk)
            .map_err(|e| Error::asdf(format!("{what}: {e}")))?;
        if n == 0 {
            return Ok(out);
        }
        if out.len() + n > limit {
            return Err(Error::asdf(format!(
                "{what}: decompressed data larger than data_size {limit}"
            )));
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

/// asdf's lz4 framing: chunks of [u32 BE length][u32 LE decoded size + raw LZ4 block].
fn lz4_decode(mut src: &[u8], limit: usize, what: &str) -> Result<Vec<u8>> {
    let bad = |m: &str| Error::asdf(format!("{what}: lz4: {m}"));
    let mut out: Vec<u8> = Vec::with_capacity(limit.min(1 << 20));
    while !src.is_empty() {
        if src.len() < 4 {
            return Err(bad("truncated chunk length"));
        }
        let n = u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize;
        let chunk = src.get(4..4 + n).ok_or_else(|| bad("truncated chunk"))?;
        src = &src[4 + n..];
        if chunk.len() < 4 {
            return Err(bad("chunk too short"));
        }
        let size = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) as usize;
        if out.len() + size > limit {
            return Err(bad(&format!(
                "decompressed data larger than data_size {limit}"
            )));
        }
        let start = out.len();
        out.resize(start + size, 0);
        let got = lz4_flex::block::decompress_into(&chunk[4..], &mut out[start..])
            .map_err(|e| bad(&e.to_string()))?;
        if got != size {
            return Err(bad(&format!(
                "chunk decoded to {got} bytes, header says {size}"
            )));
        }
    }
    Ok(out)
}

/// The block's data: verified against its checksum and decompressed. Uncompressed data is
/// borrowed from `buf`.
pub fn decode<'a>(buf: &'a [u8], b: &Block) -> Result<Cow<'a, [u8]>> {
    verify(buf, b)?;
    let src = stored(buf, b)?;
    let what = format!("block at offset {}", b.offset);
    let limit = b.data_size as usize;
    let out = match b.compression {
        Compression::None => return Ok(Cow::Borrowed(src)),
        Compression::Zlib => read_capped(flate2::read::ZlibDecoder::new(src), limit, &what)?,
        Compression::Bzp2 => read_capped(bzip2::read::BzDecoder::new(src), limit, &what)?,
        Compression::Lz4 => lz4_decode(src, limit, &what)?,
    };
    if out.len() != limit {
        return Err(Error::asdf(format!(
            "{what}: decompressed to {} bytes, data_size is {limit}",
            out.len()
        )));
    }
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn block(
        flags: u32,
        comp: &[u8; 4],
        data: &[u8],
        data_size: u64,
        pad: usize,
        md5: bool,
    ) -> Vec<u8> {
        let mut v = MAGIC.to_vec();
        v.extend_from_slice(&48u16.to_be_bytes());
        v.extend_from_slice(&flags.to_be_bytes());
        v.extend_from_slice(comp);
        let streamed = flags & FLAG_STREAMED != 0;
        let (alloc, used) = if streamed {
            (0, 0)
        } else {
            ((data.len() + pad) as u64, data.len() as u64)
        };
        v.extend_from_slice(&alloc.to_be_bytes());
        v.extend_from_slice(&used.to_be_bytes());
        v.extend_from_slice(&data_size.to_be_bytes());
        if md5 {
            v.extend_from_slice(Md5::digest(data).as_slice());
        } else {
            v.extend_from_slice(&[0u8; 16]);
        }
        v.extend_from_slice(data);
        v.extend(std::iter::repeat_n(0u8, pad));
        v
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn lz4(data: &[u8], chunk: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for c in data.chunks(chunk) {
            let mut payload = (c.len() as u32).to_le_bytes().to_vec();
            payload.extend(lz4_flex::block::compress(c));
            out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
            out.extend(payload);
        }
        out
    }

    #[test]
    fn walk_decode_table() {
        let raw: Vec<u8> = (0..5000u32)
            .flat_map(|i| (i % 251) as u8..(i % 251) as u8 + 1)
            .collect();
        let z = zlib(&raw);
        let mut bz = Vec::new();
        bzip2::read::BzEncoder::new(&raw[..], bzip2::Compression::default())
            .read_to_end(&mut bz)
            .unwrap();
        let l = lz4(&raw, 1000);
        let mut file = b"yaml...\n".to_vec();
        let start = file.len();
        file.extend(block(0, b"\0\0\0\0", &raw, raw.len() as u64, 7, true));
        file.extend(block(0, b"zlib", &z, raw.len() as u64, 0, true));
        file.extend(block(0, b"bzp2", &bz, raw.len() as u64, 3, false));
        file.extend(block(0, b"lz4\0", &l, raw.len() as u64, 0, true));
        let index_at = file.len();
        file.extend(b"#ASDF BLOCK INDEX\n%YAML 1.1\n---\n- 8\n...\n");
        let (blocks, index) = walk(&file, 0).unwrap();
        assert_eq!(blocks.len(), 4);
        assert_eq!(blocks[0].offset, start);
        assert_eq!(index, Some(index_at));
        assert_eq!(parse_index(&file, index_at), Some(vec![8]));
        for b in &blocks {
            assert_eq!(&*decode(&file, b).unwrap(), &raw[..], "{:?}", b.compression);
        }
        // Streamed block runs to the end.
        let mut s = b"x".to_vec();
        s.extend(block(FLAG_STREAMED, b"\0\0\0\0", &raw[..100], 0, 0, false));
        let (blocks, _) = walk(&s, 0).unwrap();
        assert_eq!(&*decode(&s, &blocks[0]).unwrap(), &raw[..100]);
    }

    #[test]
    fn corrupt_blocks_are_errors() {
        let raw = vec![7u8; 1000];
        let good = block(0, b"\0\0\0\0", &raw, 1000, 0, true);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                {
                    let mut b = good.clone();
                    b[4..6].copy_from_slice(&40u16.to_be_bytes());
                    b
                },
                "header size",
            ),
            (
                {
                    let mut b = good.clone();
                    b.truncate(30);
                    b
                },
                "truncated block header",
            ),
            (
                {
                    let mut b = good.clone();
                    b.truncate(500);
                    b
                },
                "runs past the end",
            ),
            (
                {
                    let mut b = good.clone();
                    b[10..14].copy_from_slice(b"xxxx");
                    b
                },
                "not supported",
            ),
            (
                {
                    let mut b = good.clone();
                    b[22..30].copy_from_slice(&2000u64.to_be_bytes());
                    b
                },
                "used_size 2000 > allocated_size",
            ),
            (
                {
                    let mut b = good.clone();
                    b[30..38].copy_from_slice(&999u64.to_be_bytes());
                    b
                },
                "must be equal",
            ),
            (block(FLAG_STREAMED, b"zlib", &raw, 0, 0, false), "streamed"),
            (
                block(0, b"zlib", &zlib(&raw), 1 << 41, 0, false),
                "too large",
            ),
        ];
        for (bytes, want) in cases {
            let e = walk(&bytes, 0).and_then(|(b, _)| {
                b.first()
                    .map(|b| decode(&bytes, b).map(|_| ()))
                    .unwrap_or(Ok(()))
            });
            let msg = e.unwrap_err().msg;
            assert!(msg.contains(want), "{msg} !~ {want}");
        }
        let decode_cases: Vec<(Vec<u8>, &str)> = vec![
            (
                {
                    let mut b = good.clone();
                    let n = b.len();
                    b[n - 1] ^= 1;
                    b
                },
                "MD5",
            ),
            (
                block(0, b"zlib", &zlib(&raw), 999, 0, false),
                "larger than data_size",
            ),
            (
                block(0, b"zlib", &zlib(&raw), 1001, 0, false),
                "decompressed to 1000 bytes",
            ),
            (
                block(0, b"zlib", &zlib(&raw)[..10], 1000, 0, false),
                "block at offset 0",
            ),
            (
                block(0, b"lz4\0", &lz4(&raw, 300)[..50], 1000, 0, false),
                "lz4",
            ),
            (
                block(0, b"lz4\0", &lz4(&raw, 300), 999, 0, false),
                "larger than data_size",
            ),
            (
                block(0, b"bzp2", b"BZh91AY&SYgarbage", 1000, 0, false),
                "block at offset 0",
            ),
        ];
        for (bytes, want) in decode_cases {
            let (blocks, _) = walk(&bytes, 0).unwrap();
            let msg = decode(&bytes, &blocks[0]).unwrap_err().msg;
            assert!(msg.contains(want), "{msg} !~ {want}");
        }
    }
}
