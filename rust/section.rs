//! Part of an image: a basic NumPy index (one integer or one strided range per axis) read as
//! runs of contiguous elements, gathered into few positioned reads and converted into the
//! output as they arrive. Reads at most about 8× the selected bytes (plus 64 KiB a read) and
//! holds at most one bounded read buffer per thread, never the whole image.

use crate::convert::{convert_in_place, convert_seq, in_place, Plan, CHUNK_ELEMS};
use crate::error::{Error, Result};
use rayon::prelude::*;
use std::fs::File;
use std::os::unix::fs::FileExt;

/// What one axis of the image keeps (axes in NumPy order, the last varies fastest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sel {
    /// One index; the axis is dropped from the output.
    Index(usize),
    /// `count` indices from `start`, `step` apart (negative steps go backwards).
    Range {
        start: usize,
        step: isize,
        count: usize,
    },
}

/// Where an image's stored (big-endian) bytes are.
#[derive(Clone, Copy)]
pub enum Source<'a> {
    /// In a file from `offset`, read with positioned reads (a file cut short gives an error).
    File { file: &'a File, offset: u64 },
    /// In memory (a decompressed file).
    Memory(&'a [u8]),
}

/// Largest span one read covers when it gathers several runs.
const MAX_SPAN: usize = 1 << 20;
/// A span this small is read whole, however little of it is selected.
const SMALL_SPAN: usize = 64 << 10;
/// Runs gathered before a read at the most.
const MAX_PENDING: usize = 1 << 14;
/// Output bytes each parallel task fills, about.
const TASK_BYTES: usize = 1 << 20;

/// A selection resolved against an image: runs of `run` elements, one per combination of the
/// run axes (outer axes, and the innermost kept axis when it is strided or reversed).
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// Output shape (the counts of the Range axes, in order).
    pub shape: Vec<usize>,
    /// Elements per run.
    pub run: usize,
    /// Number of runs.
    pub runs: usize,
    /// Element offset of the first run before the run axes' contributions.
    base: usize,
    /// (first index, step, count, stride in elements) of each run axis, outermost first.
    axes: Vec<(usize, isize, usize, usize)>,
}

impl Layout {
    /// Check `sel` against `dims` and lay out its runs.
    pub fn new(dims: &[usize], sel: &[Sel]) -> Result<Layout> {
        if sel.len() != dims.len() {
            return Err(Error::format(format!(
                "section needs {} indices, got {}",
                dims.len(),
                sel.len()
            )));
        }
        let mut strides = vec![1usize; dims.len()];
        for k in (0..dims.len().saturating_sub(1)).rev() {
            strides[k] = strides[k + 1]
                .checked_mul(dims[k + 1])
                .ok_or_else(|| Error::format("image shape overflows"))?;
        }
        let mut shape = Vec::new();
        for (k, (&s, &d)) in sel.iter().zip(dims).enumerate() {
            match s {
                Sel::Index(i) if i >= d => {
                    return Err(Error::format(format!(
                        "index {i} is out of bounds for axis {k} with size {d}"
                    )))
                }
                Sel::Index(_) => {}
                Sel::Range { start, step, count } => {
                    if step == 0 {
                        return Err(Error::format("slice step cannot be zero"));
                    }
                    if count > 0 {
                        let last = start as i128 + step as i128 * (count as i128 - 1);
                        if start >= d || last < 0 || last >= d as i128 {
                            return Err(Error::format(format!(
                                "range out of bounds for axis {k} with size {d}"
                            )));
                        }
                    }
                    shape.push(count);
                }
            }
        }
        // The innermost axis that is not kept whole ends the contiguous run.
        let full = |k: usize| matches!(sel[k], Sel::Range { start: 0, step: 1, count } if count == dims[k]);
        let j = (0..dims.len()).rev().find(|&k| !full(k));
        let total: usize = shape.iter().product();
        let (run, base, outer) = match j {
            None => (dims.iter().product(), 0, 0),
            Some(j) => match sel[j] {
                Sel::Index(i) => (strides[j], i * strides[j], j),
                Sel::Range {
                    start,
                    step: 1,
                    count,
                } => (count * strides[j], start * strides[j], j),
                Sel::Range { .. } => (strides[j], 0, j + 1),
            },
        };
        let mut axes = Vec::new();
        let mut base = base;
        for k in 0..outer {
            match sel[k] {
                Sel::Index(i) => base += i * strides[k],
                Sel::Range { start, step, count } => axes.push((start, step, count, strides[k])),
            }
        }
        let runs = total.checked_div(run).unwrap_or(0);
        Ok(Layout {
            shape,
            run,
            runs,
            base,
            axes,
        })
    }

    /// Number of output elements.
    pub fn len(&self) -> usize {
        self.run * self.runs
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Walks the source offsets of consecutive runs.
    fn cursor(&self, first: usize) -> Cursor<'_> {
        let mut idx = vec![0usize; self.axes.len()];
        let mut r = first;
        for (k, &(_, _, count, _)) in self.axes.iter().enumerate().rev() {
            idx[k] = r % count.max(1);
            r /= count.max(1);
        }
        Cursor { layout: self, idx }
    }
}

struct Cursor<'a> {
    layout: &'a Layout,
    idx: Vec<usize>,
}

impl Cursor<'_> {
    /// Element offset of the current run.
    fn offset(&self) -> usize {
        let mut off = self.layout.base as isize;
        for (&i, &(start, step, _, stride)) in self.idx.iter().zip(&self.layout.axes) {
            off += (start as isize + step * i as isize) * stride as isize;
        }
        off as usize
    }

    fn advance(&mut self) {
        for (k, &(_, _, count, _)) in self.layout.axes.iter().enumerate().rev() {
            self.idx[k] += 1;
            if self.idx[k] < count {
                return;
            }
            self.idx[k] = 0;
        }
    }
}

impl Source<'_> {
    /// Call `f` with the stored bytes [at, at + len), read into `buf` when they are in a file.
    fn span<R>(
        &self,
        at: usize,
        len: usize,
        buf: &mut Vec<u8>,
        f: impl FnOnce(&[u8]) -> R,
    ) -> std::io::Result<R> {
        match *self {
            Source::File { file, offset } => {
                buf.resize(len, 0);
                file.read_exact_at(&mut buf[..len], offset + at as u64)?;
                Ok(f(&buf[..len]))
            }
            Source::Memory(b) => {
                let s = at
                    .checked_add(len)
                    .and_then(|e| b.get(at..e))
                    .ok_or_else(|| {
                        std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "image data out of range",
                        )
                    })?;
                Ok(f(s))
            }
        }
    }
}

/// Read the selection laid out by `layout` from `src` (BITPIX `bitpix`) and convert it with
/// `plan` into `out` (native bytes, `layout.len()` elements of `plan.out()`), in parallel.
pub fn read(
    src: Source<'_>,
    bitpix: i64,
    plan: &Plan,
    layout: &Layout,
    out: &mut [u8],
) -> std::io::Result<()> {
    let ni = bitpix.unsigned_abs() as usize / 8;
    let no = plan.out().size();
    let out = &mut out[..layout.len() * no];
    if layout.is_empty() {
        return Ok(());
    }
    let run_out = layout.run * no;
    if layout.run * ni >= MAX_SPAN {
        // Big runs: each run in parallel, in cache-sized chunks (as `convert_from_file`).
        let chunk = CHUNK_ELEMS;
        return out
            .par_chunks_mut(run_out)
            .enumerate()
            .try_for_each(|(r, o)| {
                let at = layout.cursor(r).offset();
                o.par_chunks_mut(chunk * no).enumerate().try_for_each_init(
                    Vec::new,
                    |buf, (c, oc)| {
                        let n = oc.len() / no;
                        let at = (at + c * chunk) * ni;
                        match src {
                            // Same-size plans: read into the output, convert it in cache.
                            Source::File { file, offset } if in_place(plan) => {
                                file.read_exact_at(oc, offset + at as u64)?;
                                convert_in_place(oc, bitpix, plan);
                                Ok(())
                            }
                            _ => {
                                src.span(at, n * ni, buf, |raw| convert_seq(raw, bitpix, plan, oc))
                            }
                        }
                    },
                )
            });
    }
    // Small runs: tasks of consecutive runs, each gathering runs into reads of one span.
    let per_task = (TASK_BYTES / run_out).max(1);
    out.par_chunks_mut(per_task * run_out)
        .enumerate()
        .try_for_each_init(Vec::new, |buf, (t, o)| {
            let mut cur = layout.cursor(t * per_task);
            let mut pending: Vec<usize> = Vec::new();
            let (mut lo, mut hi, mut first) = (0usize, 0usize, 0usize);
            let n = o.len() / run_out;
            for r in 0..=n {
                let at = if r < n { Some(cur.offset()) } else { None };
                if let Some(s) = at {
                    if !pending.is_empty() {
                        let (nlo, nhi) = (lo.min(s), hi.max(s + layout.run));
                        let span = (nhi - nlo) * ni;
                        let used = (pending.len() + 1) * layout.run * ni;
                        if span <= MAX_SPAN
                            && (span <= SMALL_SPAN || used * 8 >= span)
                            && pending.len() < MAX_PENDING
                        {
                            (lo, hi) = (nlo, nhi);
                            pending.push(s);
                            cur.advance();
                            continue;
                        }
                    }
                }
                if !pending.is_empty() {
                    let dst = &mut o[first * run_out..(first + pending.len()) * run_out];
                    src.span(lo * ni, (hi - lo) * ni, buf, |raw| {
                        for (p, d) in pending.iter().zip(dst.chunks_exact_mut(run_out)) {
                            let s = (p - lo) * ni;
                            convert_seq(&raw[s..s + layout.run * ni], bitpix, plan, d);
                        }
                    })?;
                    pending.clear();
                }
                if let Some(s) = at {
                    (lo, hi, first) = (s, s + layout.run, r);
                    pending.push(s);
                    cur.advance();
                }
            }
            Ok(())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::OutType;

    /// The selected element offsets, by brute force over every index.
    fn naive(dims: &[usize], sel: &[Sel]) -> Vec<usize> {
        let mut lists: Vec<Vec<usize>> = Vec::new();
        for &s in sel {
            lists.push(match s {
                Sel::Index(i) => vec![i],
                Sel::Range { start, step, count } => (0..count)
                    .map(|t| (start as isize + step * t as isize) as usize)
                    .collect(),
            });
        }
        let mut out = vec![0usize];
        for (k, l) in lists.iter().enumerate() {
            let stride: usize = dims[k + 1..].iter().product();
            out = out
                .iter()
                .flat_map(|&o| l.iter().map(move |&i| o + i * stride))
                .collect();
        }
        out
    }

    fn rng(seed: &mut u64) -> usize {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        (*seed >> 11) as usize
    }

    #[test]
    fn random_selections_match_brute_force() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for case in 0..3000 {
            let nd = 1 + rng(&mut seed) % 4;
            let dims: Vec<usize> = (0..nd).map(|_| 1 + rng(&mut seed) % 9).collect();
            let sel: Vec<Sel> = dims
                .iter()
                .map(|&d| match rng(&mut seed) % 4 {
                    0 => Sel::Index(rng(&mut seed) % d),
                    1 => Sel::Range {
                        start: 0,
                        step: 1,
                        count: d,
                    },
                    _ => {
                        let step = (1 + rng(&mut seed) % 3) as isize
                            * if rng(&mut seed) % 3 == 0 { -1 } else { 1 };
                        let start = rng(&mut seed) % d;
                        let room = if step > 0 {
                            (d - 1 - start) / step as usize
                        } else {
                            start / (-step) as usize
                        };
                        let count = rng(&mut seed) % (room + 2);
                        Sel::Range { start, step, count }
                    }
                })
                .collect();
            let n: usize = dims.iter().product();
            let raw: Vec<u8> = (0..n as u32).flat_map(|v| v.to_be_bytes()).collect();
            let lay = Layout::new(&dims, &sel).unwrap();
            let want = naive(&dims, &sel);
            assert_eq!(lay.len(), want.len(), "case {case}: {dims:?} {sel:?}");
            let mut out = vec![0u8; lay.len() * 4];
            read(
                Source::Memory(&raw),
                32,
                &Plan::Swap(OutType::I32),
                &lay,
                &mut out,
            )
            .unwrap();
            let got: Vec<usize> = out
                .chunks(4)
                .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]) as usize)
                .collect();
            assert_eq!(got, want, "case {case}: {dims:?} {sel:?} {lay:?}");
        }
    }

    #[test]
    fn big_and_gathered_runs_from_a_file() {
        // 3 x 1000 x 700 int16: one plane (1.4 MB) is a run bigger than MAX_SPAN.
        let dims = [3usize, 1000, 700];
        let n: usize = dims.iter().product();
        let raw: Vec<u8> = (0..n).flat_map(|v| (v as u16).to_be_bytes()).collect();
        let path = std::env::temp_dir().join(format!("jwstio-section-{}.bin", std::process::id()));
        let mut bytes = vec![7u8; 100];
        bytes.extend(&raw);
        std::fs::write(&path, &bytes).unwrap();
        let file = File::open(&path).unwrap();
        let src = Source::File {
            file: &file,
            offset: 100,
        };
        let r = |start, step, count| Sel::Range { start, step, count };
        for sel in [
            vec![Sel::Index(1), r(0, 1, 1000), r(0, 1, 700)],
            vec![r(2, -1, 3), r(0, 1, 1000), r(0, 1, 700)],
            vec![r(0, 1, 3), r(5, 7, 90), r(699, -3, 200)],
            vec![r(0, 1, 3), r(0, 1, 1000), Sel::Index(17)],
            vec![Sel::Index(2), r(10, 1, 900), r(1, 1, 500)],
        ] {
            let lay = Layout::new(&dims, &sel).unwrap();
            let mut out = vec![0u8; lay.len() * 2];
            read(src, 16, &Plan::Swap(OutType::I16), &lay, &mut out).unwrap();
            let got: Vec<u16> = out
                .chunks(2)
                .map(|c| u16::from_ne_bytes([c[0], c[1]]))
                .collect();
            let want: Vec<u16> = naive(&dims, &sel).iter().map(|&v| v as u16).collect();
            assert_eq!(got, want, "{sel:?}");
        }
        // A file cut short is an error, not a crash.
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let file = File::open(&path).unwrap();
        let src = Source::File {
            file: &file,
            offset: 100,
        };
        let lay = Layout::new(&dims, &[Sel::Index(2), r(0, 1, 1000), r(0, 1, 700)]).unwrap();
        let mut out = vec![0u8; lay.len() * 2];
        assert!(read(src, 16, &Plan::Swap(OutType::I16), &lay, &mut out).is_err());
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn out_of_range_selections_are_errors() {
        assert!(Layout::new(&[4, 5], &[Sel::Index(4), Sel::Index(0)]).is_err());
        let r = |start, step, count| Sel::Range { start, step, count };
        assert!(Layout::new(&[4], &[r(0, 2, 3)]).is_err());
        assert!(Layout::new(&[4], &[r(1, -1, 3)]).is_err());
        assert!(Layout::new(&[4], &[r(0, 0, 1)]).is_err());
        assert!(Layout::new(&[4], &[]).is_err());
        assert_eq!(Layout::new(&[4], &[r(9, 1, 0)]).unwrap().len(), 0);
        assert_eq!(
            Layout::new(&[0, 3], &[r(0, 1, 0), r(0, 1, 3)])
                .unwrap()
                .len(),
            0
        );
    }
}
