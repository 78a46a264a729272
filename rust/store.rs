//! FITS headers from byte ranges of a remote object (an object store or an HTTP server).
//!
//! The core never talks to the network: the caller fetches ranges and hands them in as
//! [`Parts`]; a walk over them either finishes or says which range it needs next
//! ([`Step::Need`]), and the caller fetches it and walks again (the walk is microseconds, a
//! request tens of milliseconds). Headers are parsed by the same code as local files
//! ([`crate::fits::header`], [`crate::fits::hdu::from_header`]) and checked against the
//! object's size, so a remote file indexes exactly as the same file on disk.

use crate::error::{Error, Result};
use crate::fits::hdu::{from_header, Hdu};
use crate::fits::header::{find_end, Header, BLOCK, CARD};
use crate::fits::Value;
use crate::scan::{lookup, Query, MAX_HEADER};

/// Bytes asked for at a header whose first block is not there yet.
pub const MIN_FETCH: u64 = 64 << 10;

/// Byte ranges of one object of `len` bytes, sorted by offset. Small ranges that touch or
/// overlap are merged (the header walk's reads stay one slice); large ones (array data) are
/// kept as fetched, so adding a range never copies more than [`MERGE_MAX`] bytes already held.
/// A header that spans ranges is read through [`Parts::span`].
#[derive(Debug, Clone, Default)]
pub struct Parts {
    pub len: u64,
    chunks: Vec<(u64, Vec<u8>)>,
}

/// Ranges merged on [`Parts::add`] while the result stays this small.
pub const MERGE_MAX: usize = 1 << 20;

impl Parts {
    pub fn new(len: u64) -> Parts {
        Parts {
            len,
            chunks: Vec::new(),
        }
    }

    /// Add the bytes at `off` (cut to the object's size).
    pub fn add(&mut self, off: u64, mut bytes: Vec<u8>) {
        if off >= self.len || bytes.is_empty() {
            return;
        }
        bytes.truncate(((self.len - off) as usize).min(bytes.len()));
        let (mut start, mut data) = (off, bytes);
        let mut out: Vec<(u64, Vec<u8>)> = Vec::with_capacity(self.chunks.len() + 1);
        for (o, b) in std::mem::take(&mut self.chunks) {
            let end = o + b.len() as u64;
            let new_end = start + data.len() as u64;
            let lo = o.min(start);
            let hi = end.max(new_end);
            if end < start || o > new_end || (hi - lo) as usize > MERGE_MAX {
                out.push((o, b));
                continue;
            }
            // Small, overlapping or touching: one range (the bytes are the same object's).
            let mut merged = vec![0u8; (hi - lo) as usize];
            merged[(o - lo) as usize..(end - lo) as usize].copy_from_slice(&b);
            merged[(start - lo) as usize..(new_end - lo) as usize].copy_from_slice(&data);
            start = lo;
            data = merged;
        }
        out.push((start, data));
        out.sort_by_key(|c| c.0);
        self.chunks = out;
    }

    /// The end of the fetched bytes that run without a gap from `off`; None when `off` itself
    /// has not been fetched.
    pub fn covered_to(&self, off: u64) -> Option<u64> {
        let mut end: Option<u64> = None;
        for (o, b) in &self.chunks {
            let e = o + b.len() as u64;
            let reach = end.unwrap_or(off);
            if *o > reach {
                break;
            }
            if e > reach || (end.is_none() && *o <= off && off < e) {
                end = Some(e.max(reach));
            }
        }
        end.filter(|&e| e > off)
    }

    /// The fetched bytes from `off` on, at least `want` of them when that many run without a
    /// gap: borrowed from one range when it holds them, else copied from the ranges in turn.
    pub fn span(&self, off: u64, want: usize) -> Option<std::borrow::Cow<'_, [u8]>> {
        let end = self.covered_to(off)?;
        let want = want.min((end - off) as usize);
        // A range holding `want` bytes from `off`: borrow it all.
        let best = self
            .chunks
            .iter()
            .filter(|(o, b)| *o <= off && off < o + b.len() as u64)
            .max_by_key(|(o, b)| o + b.len() as u64)?;
        let rest = &best.1[(off - best.0) as usize..];
        if rest.len() >= want {
            return Some(std::borrow::Cow::Borrowed(rest));
        }
        let mut out = Vec::with_capacity(want);
        let mut at = off;
        while out.len() < want {
            let (o, b) = self
                .chunks
                .iter()
                .filter(|(o, b)| *o <= at && at < o + b.len() as u64)
                .max_by_key(|(o, b)| o + b.len() as u64)?;
            let from = (at - o) as usize;
            let take = (b.len() - from).min(want - out.len());
            out.extend_from_slice(&b[from..from + take]);
            at += take as u64;
        }
        Some(std::borrow::Cow::Owned(out))
    }

    /// The ranges within `[off, off + n)` not fetched yet.
    pub fn missing(&self, off: u64, n: u64) -> Vec<(u64, u64)> {
        let end = off.saturating_add(n).min(self.len);
        let mut out = Vec::new();
        let mut at = off;
        for (o, b) in &self.chunks {
            let e = o + b.len() as u64;
            if e <= at {
                continue;
            }
            if *o >= end {
                break;
            }
            if *o > at {
                out.push((at, o - at));
            }
            at = e;
        }
        if at < end {
            out.push((at, end - at));
        }
        out
    }

    /// Whether `[off, off + n)` has been fetched.
    pub fn has(&self, off: u64, n: u64) -> bool {
        self.missing(off, n).is_empty()
    }

    pub fn chunks(&self) -> &[(u64, Vec<u8>)] {
        &self.chunks
    }

    /// Bytes fetched in all.
    pub fn fetched(&self) -> u64 {
        self.chunks.iter().map(|c| c.1.len() as u64).sum()
    }
}

/// What a walk over [`Parts`] gives: its result, or the range it needs first.
#[derive(Debug)]
pub enum Step<T> {
    Done(T),
    /// `ahead`: ranges that probably hold later headers, worth fetching at the same time
    /// (see [`index`]); empty when there is no guess.
    Need {
        offset: u64,
        len: u64,
        ahead: Vec<(u64, u64)>,
    },
}

/// Later headers guessed per walk step, and the blocks fetched before each guess.
const GUESSES: u64 = 8;
const GUESS_MARGIN: u64 = 4 * BLOCK as u64;

/// One header walked: the HDU, or the end of the file's HDUs.
enum At {
    Hdu(Box<Hdu>, u64),
    End,
    Need(u64, u64),
}

/// `want` bytes from `off`, cut to the object.
fn need(parts: &Parts, off: u64, want: u64) -> At {
    At::Need(off, want.min(parts.len.saturating_sub(off)).max(1))
}

/// The header of HDU `index` starting at `start`, with the rules of [`crate::fits::hdu::index`]
/// (trailing bytes that are not an extension end the file; a missing final padding block is
/// tolerated) and, with `strict_blocks`, the scanner's (a header block cut short is an error).
fn header_at(parts: &Parts, start: u64, index: usize, strict_blocks: bool) -> Result<At> {
    let Some(covered) = parts.covered_to(start) else {
        return Ok(need(parts, start, MIN_FETCH));
    };
    let at_eof = covered >= parts.len;
    let mut want = MIN_FETCH as usize;
    loop {
        let Some(have) = parts.span(start, want) else {
            return Ok(need(parts, start, MIN_FETCH));
        };
        let have: &[u8] = &have;
        if index == 0 {
            if have.len() < CARD && !at_eof {
                return Ok(need(parts, covered, MIN_FETCH));
            }
            if have.len() < CARD || &have[..9.min(have.len())] != b"SIMPLE  =" {
                return Err(Error::format(
                    "not a FITS file: does not start with 'SIMPLE  ='",
                ));
            }
        } else {
            if have.len() < 8 && !at_eof {
                return Ok(need(parts, covered, MIN_FETCH));
            }
            if have.len() < 8 || &have[..8] != b"XTENSION" {
                return Ok(At::End);
            }
        }
        let Some((hdr_len, end_off)) = find_end(have) else {
            if have.len() >= MAX_HEADER {
                return Err(Error::format(format!(
                    "HDU {index}: no END card in the first {MAX_HEADER} header bytes"
                )));
            }
            if start + (have.len() as u64) < covered {
                // More bytes were fetched than this slice holds (the header spans ranges).
                want = have.len().saturating_mul(2).min(MAX_HEADER);
                continue;
            }
            if at_eof {
                return Err(Error::format(format!(
                    "HDU {index}: header has no END card (file ends {} bytes into the header)",
                    have.len()
                )));
            }
            // Grown geometrically: a long header costs a few requests, not one per block.
            let more = (have.len() as u64).max(MIN_FETCH);
            return Ok(need(parts, covered, more));
        };
        let hdr_end = start + hdr_len as u64;
        if strict_blocks && hdr_end > parts.len {
            return Err(Error::format(format!(
                "HDU {index}: header block cut short: the file ends {} bytes before the end of \
                 the header's last 2880-byte block (truncated?)",
                hdr_end - parts.len
            )));
        }
        let header = Header::from_cards(have[..end_off].to_vec())?;
        let (hdu, next) = from_header(header, index, start as usize, hdr_len, parts.len)?;
        return Ok(At::Hdu(Box::new(hdu), next as u64));
    }
}

/// Walk the headers from the start of the object until `stop(&hdu)` says so or the HDUs end.
fn walk(
    parts: &Parts,
    strict_blocks: bool,
    guess: bool,
    stop: &mut dyn FnMut(&Hdu) -> bool,
) -> Result<Step<Vec<Hdu>>> {
    if parts.len == 0 {
        return Err(Error::format("empty file"));
    }
    let mut hdus = Vec::new();
    let mut start = 0u64;
    loop {
        match header_at(parts, start, hdus.len(), strict_blocks)? {
            At::Need(offset, len) => {
                let ahead = match hdus.last() {
                    Some(last) if guess && offset == start => guesses(parts, start, last),
                    _ => Vec::new(),
                };
                return Ok(Step::Need { offset, len, ahead });
            }
            At::End => break,
            At::Hdu(hdu, next) => {
                let done = stop(&hdu);
                hdus.push(*hdu);
                if done || next >= parts.len {
                    break;
                }
                start = next;
            }
        }
    }
    Ok(Step::Done(hdus))
}

/// Where the headers after the one at `start` probably are: products repeat HDUs of one size
/// (a cal file's SCI, ERR, DQ, AREA and VAR_* images), so the stride from the previous header
/// to this one is guessed to repeat. Windows a few blocks wide around each guess, not fetched
/// yet, within the object. A wrong guess costs a request made in parallel, never a wait.
fn guesses(parts: &Parts, start: u64, prev: &Hdu) -> Vec<(u64, u64)> {
    let stride = start.saturating_sub(prev.header_start as u64);
    let mut out = Vec::new();
    if stride == 0 {
        return out;
    }
    for j in 1..=GUESSES {
        let at = start + j * stride;
        if at >= parts.len {
            break;
        }
        let from = at.saturating_sub(GUESS_MARGIN).max(start + MIN_FETCH);
        let len = (at + MIN_FETCH).min(parts.len).saturating_sub(from);
        if len > 0 && !parts.has(from, len) {
            out.push((from, len));
        }
    }
    out
}

/// Every HDU of the object, as [`crate::fits::hdu::index`] gives them for the file on disk.
/// Each step that needs a range also guesses where the later headers are ([`Step::Need`]).
pub fn index(parts: &Parts) -> Result<Step<Vec<Hdu>>> {
    walk(parts, false, true, &mut |_| false)
}

/// The query's values, read as [`crate::scan::scan_file`] reads them from a local file: headers
/// up to the last HDU the query needs. As there, an error keeps the values found before it.
pub fn scan(parts: &Parts, query: &Query) -> Step<(Vec<Option<Value>>, Option<Error>)> {
    let specs = &query.specs;
    let mut values = vec![None; specs.len()];
    let mut pending: Vec<usize> = (0..specs.len()).collect();
    let step = walk(parts, true, false, &mut |hdu| {
        pending.retain(|&i| {
            if specs[i].hdu.matches(hdu) {
                values[i] = lookup(&hdu.header, &specs[i].key);
                false
            } else {
                true
            }
        });
        pending.is_empty()
    });
    match step {
        Ok(Step::Done(_)) => Step::Done((values, None)),
        Ok(Step::Need { offset, len, ahead }) => Step::Need { offset, len, ahead },
        Err(e) => Step::Done((values, Some(e))),
    }
}

/// The object's bytes at their offsets, zero elsewhere: what [`crate::mmap::Mapped`] holds for
/// a remote file. Anonymous memory: pages no fetched range touches cost nothing.
pub fn sparse(parts: &Parts) -> Result<crate::mmap::Mapped> {
    let len = usize::try_from(parts.len)
        .map_err(|_| Error::format(format!("object of {} bytes is too large", parts.len)))?;
    crate::mmap::Mapped::from_anon(len, |out| {
        for (o, b) in &parts.chunks {
            let o = *o as usize;
            out[o..o + b.len()].copy_from_slice(b);
        }
    })
    .map_err(|e| Error::io(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(s: &str) -> Vec<u8> {
        let mut c = s.as_bytes().to_vec();
        c.resize(CARD, b' ');
        c
    }

    fn header(cards: &[&str], extra: usize) -> Vec<u8> {
        let mut h: Vec<u8> = cards.iter().flat_map(|c| card(c)).collect();
        for i in 0..extra {
            h.extend(card(&format!("KEY{i:05}= {i}")));
        }
        h.extend(card("END"));
        h.resize(h.len().div_ceil(BLOCK) * BLOCK, b' ');
        h
    }

    /// Primary with `extra` cards, then an IMAGE of `n` f32 values named SCI, then a table.
    fn file(extra: usize, n: usize) -> Vec<u8> {
        let mut f = header(
            &[
                "SIMPLE  =                    T",
                "BITPIX  =                    8",
                "NAXIS   =                    0",
                "EXP_TYPE= 'NRS_MSASPEC'",
            ],
            extra,
        );
        f.extend(header(
            &[
                "XTENSION= 'IMAGE   '",
                "BITPIX  =                  -32",
                "NAXIS   =                    1",
                &format!("NAXIS1  = {n:20}"),
                "PCOUNT  =                    0",
                "GCOUNT  =                    1",
                "EXTNAME = 'SCI     '",
                "BUNIT   = 'MJy/sr'",
            ],
            0,
        ));
        let mut d = vec![0u8; n * 4];
        d.resize(d.len().div_ceil(BLOCK) * BLOCK, 0);
        f.extend(d);
        f.extend(header(
            &[
                "XTENSION= 'BINTABLE'",
                "BITPIX  =                    8",
                "NAXIS   =                    2",
                "NAXIS1  =                    4",
                "NAXIS2  =                    1",
                "PCOUNT  =                    0",
                "GCOUNT  =                    1",
                "TFIELDS =                    1",
                "TFORM1  = '4B      '",
                "EXTNAME = 'ASDF    '",
            ],
            0,
        ));
        let mut d = b"abcd".to_vec();
        d.resize(BLOCK, 0);
        f.extend(d);
        f
    }

    /// Fetch as a caller does, counting requests.
    fn drive<T>(f: &[u8], mut step: impl FnMut(&Parts) -> Result<Step<T>>) -> (Result<T>, usize) {
        let mut parts = Parts::new(f.len() as u64);
        let mut requests = 0;
        loop {
            match step(&parts) {
                Err(e) => return (Err(e), requests),
                Ok(Step::Done(v)) => return (Ok(v), requests),
                Ok(Step::Need { offset, len, ahead }) => {
                    requests += 1;
                    assert!(requests < 100, "walk does not progress");
                    for (o, n) in std::iter::once((offset, len)).chain(ahead) {
                        let end = (o + n).min(f.len() as u64) as usize;
                        parts.add(o, f[o as usize..end].to_vec());
                    }
                }
            }
        }
    }

    #[test]
    fn index_equals_local_index_with_few_requests() {
        for (extra, n, most) in [
            (10, 16, 1),
            (10, 1 << 20, 2),
            (3000, 16, 3),
            (3000, 1 << 20, 4),
        ] {
            let f = file(extra, n);
            let local = crate::fits::hdu::index(&f).unwrap();
            let (remote, requests) = drive(&f, index);
            let remote = remote.unwrap();
            assert_eq!(remote.len(), local.len());
            for (a, b) in remote.iter().zip(&local) {
                assert_eq!(
                    (a.header_start, a.data_start, a.data_len),
                    (b.header_start, b.data_start, b.data_len)
                );
                assert_eq!(
                    (&a.name, a.ver, a.header.bytes.clone()),
                    (&b.name, b.ver, b.header.bytes.clone())
                );
            }
            assert!(
                requests <= most,
                "{extra} cards, {n} values: {requests} requests"
            );
        }
    }

    #[test]
    fn scan_stops_at_the_last_needed_header() {
        let f = file(10, 1 << 20);
        let q = Query::parse(&["EXP_TYPE", "SCI:BUNIT"]).unwrap();
        let (v, requests) = drive(&f, |p| Ok(scan(p, &q)));
        let (v, err) = v.unwrap();
        assert!(err.is_none());
        assert_eq!(v[0], Some(Value::Str("NRS_MSASPEC".into())));
        assert_eq!(v[1], Some(Value::Str("MJy/sr".into())));
        assert_eq!(requests, 1);
    }

    #[test]
    fn truncations_are_errors_never_panics() {
        let f = file(40, 1000);
        for cut in (0..f.len()).step_by(97).chain([f.len() - 1]) {
            let g = &f[..cut];
            let (r, _) = drive(g, index);
            let l = crate::fits::hdu::index(g);
            assert_eq!(r.is_ok(), l.is_ok(), "cut at {cut}");
            if let (Ok(r), Ok(l)) = (r, l) {
                assert_eq!(r.len(), l.len(), "cut at {cut}");
            }
        }
    }

    #[test]
    fn headers_across_large_ranges() {
        // A long primary header fetched as two large (unmerged) ranges, cut mid-card.
        let f = file(30_000, 16);
        let local = crate::fits::hdu::index(&f).unwrap();
        let mut p = Parts::new(f.len() as u64);
        let cut = MERGE_MAX + 1000;
        p.add(0, f[..cut].to_vec());
        p.add(cut as u64, f[cut..].to_vec());
        assert_eq!(p.chunks().len(), 2);
        match index(&p).unwrap() {
            Step::Done(h) => assert_eq!(h.len(), local.len()),
            Step::Need { .. } => panic!("everything was fetched"),
        }
        assert_eq!(p.span(10, 3 * MERGE_MAX).unwrap().len(), f.len() - 10);
        assert_eq!(p.covered_to(5), Some(f.len() as u64));
        assert!(p.missing(0, f.len() as u64).is_empty());
    }

    #[test]
    fn parts_merge_and_sparse() {
        let mut p = Parts::new(100);
        p.add(10, vec![1; 10]);
        p.add(30, vec![3; 10]);
        p.add(20, vec![2; 10]);
        p.add(95, vec![9; 10]); // cut to the object
        assert_eq!(p.chunks().len(), 2);
        assert!(p.has(10, 30) && !p.has(10, 31) && p.has(95, 5));
        let m = sparse(&p).unwrap();
        let s = m.bytes();
        assert_eq!(s.len(), 100);
        assert_eq!(&s[9..12], &[0, 1, 1]);
        assert_eq!(&s[19..21], &[1, 2]);
        assert_eq!(s[99], 9);
        assert_eq!(p.fetched(), 35);
    }
}
