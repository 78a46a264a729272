//! Big-endian FITS image bytes to native arrays, with BZERO/BSCALE/BLANK applied exactly as
//! astropy.io.fits does (same output dtype, same float rounding), in one pass, across cores.

use crate::byteorder::{self, Isa};
use multiversion::multiversion;
use rayon::prelude::*;
use std::fs::File;
use std::os::unix::fs::FileExt;

/// Output element type of a converted image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutType {
    U8,
    I8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
}

impl OutType {
    pub fn size(self) -> usize {
        match self {
            OutType::U8 | OutType::I8 => 1,
            OutType::I16 | OutType::U16 => 2,
            OutType::I32 | OutType::U32 | OutType::F32 => 4,
            OutType::I64 | OutType::U64 | OutType::F64 => 8,
        }
    }
    /// NumPy dtype string (native order).
    pub fn numpy(self) -> &'static str {
        match self {
            OutType::U8 => "uint8",
            OutType::I8 => "int8",
            OutType::I16 => "int16",
            OutType::U16 => "uint16",
            OutType::I32 => "int32",
            OutType::U32 => "uint32",
            OutType::I64 => "int64",
            OutType::U64 => "uint64",
            OutType::F32 => "float32",
            OutType::F64 => "float64",
        }
    }
}

/// Image scaling keywords as read from the header.
#[derive(Debug, Clone, Copy)]
pub struct Scaling {
    pub bitpix: i64,
    pub bzero: f64,
    /// BZERO when it is an integer in the header (compared exactly, as Python does).
    pub bzero_int: Option<i128>,
    pub bscale: f64,
    pub blank: Option<i128>,
}

/// What the conversion does, decided once per image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Plan {
    /// Byte-swap only.
    Swap(OutType),
    /// Flip the sign bit: pseudo-unsigned (BZERO = 2^(n-1)) or int8 (BZERO = -128).
    FlipSign(OutType),
    /// Convert to float, multiply by BSCALE (if != 1), add BZERO (if != 0), BLANK -> NaN.
    Float {
        out: OutType,
        mul: Option<f64>,
        add: Option<f64>,
        blank: Option<i128>,
    },
}

impl Plan {
    pub fn out(&self) -> OutType {
        match *self {
            Plan::Swap(t) | Plan::FlipSign(t) => t,
            Plan::Float { out, .. } => out,
        }
    }
}

fn raw_type(bitpix: i64) -> OutType {
    match bitpix {
        8 => OutType::U8,
        16 => OutType::I16,
        32 => OutType::I32,
        64 => OutType::I64,
        -32 => OutType::F32,
        _ => OutType::F64,
    }
}

fn bzero_is(s: &Scaling, v: i128) -> bool {
    match s.bzero_int {
        Some(i) => i == v,
        None => s.bzero == v as f64,
    }
}

/// astropy's `_get_scaled_image_data` / `_dtype_for_bitpix` decision.
pub fn plan(s: &Scaling) -> Plan {
    let no_scale = bzero_is(s, 0) && s.bscale == 1.0;
    // astropy applies BLANK only to integer data and only when BLANK is non-zero ("if self._blank").
    let blank = if s.bitpix > 0 { s.blank } else { None };
    if no_scale && blank.is_none() {
        return Plan::Swap(raw_type(s.bitpix));
    }
    if !no_scale && s.bscale == 1.0 {
        match s.bitpix {
            8 if bzero_is(s, -128) => {
                // Not "unsigned" for astropy: goes through int8 + bzero arithmetic, same bits.
                return Plan::FlipSign(OutType::I8);
            }
            16 if bzero_is(s, 1 << 15) => return Plan::FlipSign(OutType::U16),
            32 if bzero_is(s, 1 << 31) => return Plan::FlipSign(OutType::U32),
            64 if bzero_is(s, 1 << 63) => return Plan::FlipSign(OutType::U64),
            _ => {}
        }
    }
    let out = match s.bitpix {
        8 | 16 | -32 => OutType::F32,
        _ => OutType::F64,
    };
    Plan::Float {
        out,
        mul: if s.bscale != 1.0 {
            Some(s.bscale)
        } else {
            None
        },
        add: if !bzero_is(s, 0) { Some(s.bzero) } else { None },
        blank: blank.filter(|&b| b != 0),
    }
}

pub(crate) const CHUNK_ELEMS: usize = 1 << 16;

macro_rules! kernel {
    ($raw:expr, $out:expr, $n:expr, $no:expr, |$c:ident| $conv:expr) => {{
        for (oc, $c) in $out.chunks_exact_mut($no).zip($raw.chunks_exact($n)) {
            oc.copy_from_slice(&$conv);
        }
    }};
}

/// Convert `raw` (big-endian FITS data of `plan`'s input type) into `out` (native bytes of
/// `plan.out()`), in parallel over chunks. Converts min(raw, out) elements.
pub fn convert(raw: &[u8], bitpix: i64, plan: &Plan, out: &mut [u8]) {
    let ni = bitpix.unsigned_abs() as usize / 8;
    let no = plan.out().size();
    out.par_chunks_mut(CHUNK_ELEMS * no)
        .zip(raw.par_chunks(CHUNK_ELEMS * ni))
        .for_each(|(o, r)| convert_seq(r, bitpix, plan, o));
}

/// Read the data from `file` at `offset` with positioned reads (no memory map, so a file cut
/// short while open gives an error, not SIGBUS) and convert it into `out`, chunk by chunk in
/// parallel; each chunk is read into a small cache-resident buffer and converted from there.
pub fn convert_from_file(
    file: &File,
    offset: u64,
    bitpix: i64,
    plan: &Plan,
    out: &mut [u8],
) -> std::io::Result<()> {
    let ni = bitpix.unsigned_abs() as usize / 8;
    let no = plan.out().size();
    let n = out.len() / no;
    if in_place(plan) {
        return out[..n * no]
            .par_chunks_mut(CHUNK_ELEMS * no)
            .enumerate()
            .try_for_each(|(k, o)| {
                file.read_exact_at(o, offset + (k * CHUNK_ELEMS * ni) as u64)?;
                convert_in_place(o, bitpix, plan);
                Ok(())
            });
    }
    out[..n * no]
        .par_chunks_mut(CHUNK_ELEMS * no)
        .enumerate()
        .try_for_each_init(
            || vec![0u8; CHUNK_ELEMS * ni],
            |tmp, (k, o)| {
                let m = o.len() / no;
                let src = &mut tmp[..m * ni];
                file.read_exact_at(src, offset + (k * CHUNK_ELEMS * ni) as u64)?;
                convert_seq(src, bitpix, plan, o);
                Ok(())
            },
        )
}

/// Byte swap and sign flip keep the element size: such data can be read straight into the
/// output and converted there, while the chunk is still in cache.
pub fn in_place(plan: &Plan) -> bool {
    matches!(plan, Plan::Swap(_) | Plan::FlipSign(_))
}

/// Convert stored bytes in place for a plan where [`in_place`] holds (no-op otherwise).
pub fn convert_in_place(buf: &mut [u8], bitpix: i64, plan: &Plan) {
    let ni = bitpix.unsigned_abs() as usize / 8;
    if in_place(plan) {
        byteorder::swap_in_place(ni, buf, matches!(plan, Plan::FlipSign(_)), false);
    }
}

/// Sequential conversion of one chunk.
pub fn convert_seq(raw: &[u8], bitpix: i64, plan: &Plan, out: &mut [u8]) {
    let ni = bitpix.unsigned_abs() as usize / 8;
    let no = plan.out().size();
    let n = (raw.len() / ni).min(out.len() / no);
    let raw = &raw[..n * ni];
    let out = &mut out[..n * no];
    match *plan {
        Plan::Swap(_) => byteorder::swap(ni, raw, out, false, false),
        Plan::FlipSign(_) => byteorder::swap(ni, raw, out, true, false),
        Plan::Float {
            out: ot,
            mul,
            add,
            blank,
        } => {
            let s = FloatScale {
                out: ot,
                mul,
                add,
                blank,
            };
            match Isa::best() {
                Isa::Plain => float_body(raw, bitpix, out, s),
                Isa::Ssse3 => float_ssse3(raw, bitpix, out, s),
                Isa::Avx2 => float_avx2(raw, bitpix, out, s),
            }
        }
    }
}

/// The parameters of a [`Plan::Float`].
#[derive(Clone, Copy)]
struct FloatScale {
    out: OutType,
    mul: Option<f64>,
    add: Option<f64>,
    blank: Option<i128>,
}

// The scaled conversions compiled for SSSE3 and AVX2 too (the 4- and 8-byte swaps need byte
// shuffles), chosen at run time; a clone the CPU cannot run is never called. Rust never fuses
// `*` and `+` into FMA, so every copy rounds alike.
#[multiversion(targets("x86_64+ssse3"))]
fn float_ssse3(raw: &[u8], bitpix: i64, out: &mut [u8], s: FloatScale) {
    float_body(raw, bitpix, out, s)
}

#[multiversion(targets("x86_64+avx2"))]
fn float_avx2(raw: &[u8], bitpix: i64, out: &mut [u8], s: FloatScale) {
    float_body(raw, bitpix, out, s)
}

/// BLANK in the data's own type, as (is there one, its value): a BLANK the type cannot hold
/// never occurs. A plain comparison in the loop vectorizes; one with `Option<i128>` does not.
#[inline(always)]
fn blank_as<T: TryFrom<i128> + Default>(blank: Option<i128>) -> (bool, T) {
    match blank.map(T::try_from) {
        Some(Ok(v)) => (true, v),
        _ => (false, T::default()),
    }
}

#[inline(always)]
fn float_body(raw: &[u8], bitpix: i64, out: &mut [u8], s: FloatScale) {
    let FloatScale {
        out: ot,
        mul,
        add,
        blank,
    } = s;
    let (bl_u8, bl_i16) = (blank_as::<u8>(blank), blank_as::<i16>(blank));
    let (bl_i32, bl_i64) = (blank_as::<i32>(blank), blank_as::<i64>(blank));
    if ot == OutType::F32 {
        let m = mul.map(|v| v as f32);
        let a = add.map(|v| v as f32);
        let f = move |x: f32| {
            let mut y = x;
            if let Some(m) = m {
                y *= m;
            }
            if let Some(a) = a {
                y += a;
            }
            y
        };
        match bitpix {
            8 => kernel!(raw, out, 1, 4, |c| {
                let v = c[0];
                if bl_u8.0 && v == bl_u8.1 {
                    f32::NAN
                } else {
                    f(v as f32)
                }
                .to_ne_bytes()
            }),
            16 => kernel!(raw, out, 2, 4, |c| {
                let v = i16::from_be_bytes([c[0], c[1]]);
                if bl_i16.0 && v == bl_i16.1 {
                    f32::NAN
                } else {
                    f(v as f32)
                }
                .to_ne_bytes()
            }),
            _ => kernel!(raw, out, 4, 4, |c| f(f32::from_be_bytes([
                c[0], c[1], c[2], c[3]
            ]))
            .to_ne_bytes()),
        }
    } else {
        let f = move |x: f64| {
            let mut y = x;
            if let Some(m) = mul {
                y *= m;
            }
            if let Some(a) = add {
                y += a;
            }
            y
        };
        match bitpix {
            32 => kernel!(raw, out, 4, 8, |c| {
                let v = i32::from_be_bytes([c[0], c[1], c[2], c[3]]);
                if bl_i32.0 && v == bl_i32.1 {
                    f64::NAN
                } else {
                    f(v as f64)
                }
                .to_ne_bytes()
            }),
            64 => kernel!(raw, out, 8, 8, |c| {
                let v = i64::from_be_bytes(c.try_into().unwrap_or([0; 8]));
                if bl_i64.0 && v == bl_i64.1 {
                    f64::NAN
                } else {
                    f(v as f64)
                }
                .to_ne_bytes()
            }),
            _ => kernel!(raw, out, 8, 8, |c| f(f64::from_be_bytes(
                c.try_into().unwrap_or([0; 8])
            ))
            .to_ne_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn sc(bitpix: i64, bzero: i128, bscale: f64, blank: Option<i128>) -> Scaling {
        Scaling {
            bitpix,
            bzero: bzero as f64,
            bzero_int: Some(bzero),
            bscale,
            blank,
        }
    }

    #[test]
    fn plans() {
        assert_eq!(plan(&sc(16, 0, 1.0, None)), Plan::Swap(OutType::I16));
        assert_eq!(
            plan(&sc(16, 32768, 1.0, None)),
            Plan::FlipSign(OutType::U16)
        );
        assert_eq!(
            plan(&sc(16, 32768, 1.0, Some(5))),
            Plan::FlipSign(OutType::U16)
        );
        assert_eq!(plan(&sc(8, -128, 1.0, None)), Plan::FlipSign(OutType::I8));
        assert_eq!(
            plan(&sc(64, 1 << 63, 1.0, None)),
            Plan::FlipSign(OutType::U64)
        );
        assert_eq!(plan(&sc(-32, 0, 1.0, Some(3))), Plan::Swap(OutType::F32));
        assert_eq!(plan(&sc(16, 0, 1.0, Some(0))).out(), OutType::F32);
        assert_eq!(plan(&sc(32, 5, 2.0, None)).out(), OutType::F64);
    }

    #[test]
    fn unsigned16() {
        let raw: Vec<u8> = [-32768i16, -1, 0, 32767]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        let p = plan(&sc(16, 32768, 1.0, None));
        let mut out = vec![0u8; 8];
        convert(&raw, 16, &p, &mut out);
        let got: Vec<u16> = out
            .chunks(2)
            .map(|c| u16::from_ne_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(got, vec![0, 32767, 32768, 65535]);
    }

    #[test]
    fn scaled_with_blank() {
        let raw: Vec<u8> = [1i16, -5, 7].iter().flat_map(|v| v.to_be_bytes()).collect();
        let p = plan(&sc(16, 10, 0.5, Some(-5)));
        let mut out = vec![0u8; 12];
        convert(&raw, 16, &p, &mut out);
        let got: Vec<f32> = out
            .chunks(4)
            .map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(got[0], 10.5);
        assert!(got[1].is_nan());
        assert_eq!(got[2], 13.5);
    }

    #[test]
    fn in_place_equals_copying() {
        let raw: Vec<u8> = (0..4096u32)
            .map(|v| (v.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for bitpix in [8i64, 16, 32, 64, -32, -64] {
            for bzero in [0i128, -128, 1 << 15, 1 << 31, 1 << 63] {
                let p = plan(&sc(bitpix, bzero, 1.0, None));
                if !in_place(&p) {
                    continue;
                }
                let mut want = vec![0u8; raw.len()];
                convert(&raw, bitpix, &p, &mut want);
                let mut got = raw.clone();
                convert_in_place(&mut got, bitpix, &p);
                assert_eq!(got, want, "bitpix {bitpix} bzero {bzero}");
            }
        }
    }

    #[test]
    fn float_clones_equal_plain() {
        // Every scaled plan, random bytes (NaNs and infinities included), misaligned starts and
        // odd lengths: each instruction set's copy gives the plain copy's bits.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let src: Vec<u8> = (0..20_011)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let mut plans = Vec::new();
        for bitpix in [8i64, 16, 32, 64, -32, -64] {
            for (bzero, bscale, blank) in
                [(0i128, 1.5, None), (7, 1.0, Some(3)), (-3, 0.25, Some(-1))]
            {
                if let p @ Plan::Float { .. } = plan(&sc(bitpix, bzero, bscale, blank)) {
                    plans.push((bitpix, p));
                }
            }
            // BLANK values that occur: the first element of the data.
            let ni = bitpix.unsigned_abs() as usize / 8;
            if bitpix > 0 {
                let mut b = [0u8; 8];
                b[8 - ni..].copy_from_slice(&src[1..1 + ni]);
                let v = (i64::from_be_bytes(b) << (64 - 8 * ni)) >> (64 - 8 * ni);
                let v = if bitpix == 8 { v & 0xff } else { v };
                plans.push((bitpix, plan(&sc(bitpix, 5, 2.0, Some(v as i128)))));
            }
        }
        for (bitpix, p) in plans {
            let Plan::Float {
                out: ot,
                mul,
                add,
                blank,
            } = p
            else {
                continue;
            };
            let s = FloatScale {
                out: ot,
                mul,
                add,
                blank,
            };
            let ni = bitpix.unsigned_abs() as usize / 8;
            let no = ot.size();
            for (a, len) in [(1usize, 20_003usize), (0, 7), (3, 1), (5, 999)] {
                let n = len / ni;
                let raw = &src[a..a + n * ni];
                let mut want = vec![0u8; n * no + 1];
                float_body(raw, bitpix, &mut want[1..], s);
                for isa in Isa::available() {
                    let mut got = vec![0u8; n * no + 1];
                    match isa {
                        Isa::Plain => float_body(raw, bitpix, &mut got[1..], s),
                        Isa::Ssse3 => float_ssse3(raw, bitpix, &mut got[1..], s),
                        Isa::Avx2 => float_avx2(raw, bitpix, &mut got[1..], s),
                    }
                    assert_eq!(got, want, "{isa:?} {p:?} {a} {len}");
                }
            }
        }
    }

    #[test]
    fn large_parallel_swap() {
        let n = CHUNK_ELEMS * 3 + 17;
        let raw: Vec<u8> = (0..n as u32).flat_map(|v| v.to_be_bytes()).collect();
        let mut out = vec![0u8; n * 4];
        convert(&raw, 32, &Plan::Swap(OutType::I32), &mut out);
        for (i, c) in out.chunks(4).enumerate() {
            assert_eq!(u32::from_ne_bytes([c[0], c[1], c[2], c[3]]), i as u32);
        }
    }
}

#[cfg(test)]
mod speed {
    use super::*;

    /// `cargo test --release --lib -- --ignored --nocapture convert_speed`: the swap and sign-flip
    /// kernels' speed (one thread), copying and in place, per width, on a buffer that stays in
    /// L2 (256 KiB) and one that does not (64 MiB); best and worst of 5 runs.
    #[test]
    #[ignore]
    fn convert_speed() {
        let cases: [(&str, i64, Plan); 9] = [
            ("swap", 16, Plan::Swap(OutType::I16)),
            ("swap", 32, Plan::Swap(OutType::I32)),
            ("swap", 64, Plan::Swap(OutType::I64)),
            ("flip", 16, Plan::FlipSign(OutType::U16)),
            ("flip", 32, Plan::FlipSign(OutType::U32)),
            ("flip", 64, Plan::FlipSign(OutType::U64)),
            ("scale", 16, plan(&tests::sc(16, 5, 2.0, Some(7)))),
            ("scale", -32, plan(&tests::sc(-32, 5, 2.0, None))),
            ("scale", 32, plan(&tests::sc(32, 5, 2.0, None))),
        ];
        for size in [256usize << 10, 64 << 20] {
            let raw: Vec<u8> = (0..size).map(|i| (i * 131 % 251) as u8).collect();
            let mut buf = raw.clone();
            let reps = (256 << 20) / size; // 256 MiB per timing
            for (name, bitpix, p) in cases {
                for mode in ["copy", "in place"] {
                    if mode == "in place" && !in_place(&p) {
                        continue;
                    }
                    let mut out =
                        vec![0u8; size / (bitpix.unsigned_abs() as usize / 8) * p.out().size()];
                    let mut rates = Vec::new();
                    for _ in 0..5 {
                        let t = std::time::Instant::now();
                        for _ in 0..reps {
                            if mode == "copy" {
                                convert_seq(&raw, bitpix, &p, &mut out);
                            } else {
                                convert_in_place(&mut buf, bitpix, &p);
                            }
                        }
                        rates.push((reps * size) as f64 / t.elapsed().as_secs_f64() / 1e9);
                    }
                    std::hint::black_box(&out);
                    rates.sort_by(f64::total_cmp);
                    println!(
                        "{:>5} KiB {name} {}B {mode:>8}: {:.1} GB/s (worst {:.1})",
                        size >> 10,
                        bitpix.abs() / 8,
                        rates[4],
                        rates[0]
                    );
                }
            }
            std::hint::black_box(&buf);
        }
    }
}
