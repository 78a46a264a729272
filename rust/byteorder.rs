//! Byte-order kernels: big-endian ⇄ native for 2-, 4- and 8-byte elements, with an optional
//! sign-bit flip (unsigned data stored with BZERO/TZERO). The baseline x86-64 (SSE2) build
//! cannot shuffle bytes within a vector, so each kernel is also compiled for SSSE3 and AVX2
//! (`multiversion`) and the best one the CPU has is chosen at run time. Plain safe loops:
//! LLVM vectorizes each copy for its instruction set (measured in L2: 4- and 8-byte swaps
//! 13-17 GB/s with SSE2, 45-55 GB/s with SSSE3 or AVX2; `byteorder_speed` below).

use multiversion::multiversion;

/// An instruction set a kernel is compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// The build's own target (SSE2 on x86-64; the only one elsewhere).
    Plain,
    Ssse3,
    Avx2,
}

impl Isa {
    /// The fastest one this CPU runs (detected once by the standard library, then cached).
    pub fn best() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                return Isa::Avx2;
            }
            if std::arch::is_x86_feature_detected!("ssse3") {
                return Isa::Ssse3;
            }
        }
        Isa::Plain
    }

    /// Every one this CPU runs.
    pub fn available() -> Vec<Isa> {
        match Isa::best() {
            Isa::Avx2 => vec![Isa::Plain, Isa::Ssse3, Isa::Avx2],
            Isa::Ssse3 => vec![Isa::Plain, Isa::Ssse3],
            Isa::Plain => vec![Isa::Plain],
        }
    }
}

/// An element type: native value from and to bytes.
trait Word: Copy + Default + std::ops::BitXor<Output = Self> {
    const W: usize;
    const TOP: Self;
    fn load(b: &[u8]) -> Self;
    fn store(self, b: &mut [u8]);
    fn be_to_ne(self) -> Self;
}

macro_rules! word {
    ($t:ty) => {
        impl Word for $t {
            const W: usize = std::mem::size_of::<$t>();
            const TOP: Self = 1 << (<$t>::BITS - 1);
            #[inline(always)]
            fn load(b: &[u8]) -> Self {
                <$t>::from_ne_bytes(b.try_into().unwrap_or([0; std::mem::size_of::<$t>()]))
            }
            #[inline(always)]
            fn store(self, b: &mut [u8]) {
                b.copy_from_slice(&self.to_ne_bytes());
            }
            #[inline(always)]
            fn be_to_ne(self) -> Self {
                <$t>::from_be(self)
            }
        }
    };
}
word!(u16);
word!(u32);
word!(u64);

/// `out[i] = from_be(inp[i]) ^ mask` over whole elements (min of both lengths).
#[inline(always)]
fn copy_body<T: Word>(inp: &[u8], out: &mut [u8], mask: T) {
    // First the elements before a 32-byte boundary of the output (when elements can reach
    // one): 32-byte stores that cross cache lines cost AVX2 ~20% in L2 (measured).
    let k = head(out, T::W).min(inp.len() / T::W);
    let (o1, o2) = out.split_at_mut(k * T::W);
    let (i1, i2) = inp.split_at(k * T::W);
    for (o, i) in o1.chunks_exact_mut(T::W).zip(i1.chunks_exact(T::W)) {
        (T::load(i).be_to_ne() ^ mask).store(o);
    }
    for (o, i) in o2.chunks_exact_mut(T::W).zip(i2.chunks_exact(T::W)) {
        (T::load(i).be_to_ne() ^ mask).store(o);
    }
}

/// Elements of `width` bytes before `buf`'s first 32-byte boundary (0 when none falls
/// between elements), at most all of them.
#[inline(always)]
fn head(buf: &[u8], width: usize) -> usize {
    let off = buf.as_ptr().align_offset(32);
    if off % width == 0 {
        (off / width).min(buf.len() / width)
    } else {
        0
    }
}

/// `buf[i] = from_be(buf[i]) ^ mask` over whole elements.
#[inline(always)]
fn in_place_body<T: Word>(buf: &mut [u8], mask: T) {
    let k = head(buf, T::W);
    let (b1, b2) = buf.split_at_mut(k * T::W);
    for c in b1.chunks_exact_mut(T::W) {
        (T::load(c).be_to_ne() ^ mask).store(c);
    }
    for c in b2.chunks_exact_mut(T::W) {
        (T::load(c).be_to_ne() ^ mask).store(c);
    }
}

// One function per element type, instruction set and kernel. A clone whose instruction set
// the CPU lacks is never run: multiversion then calls its plain copy.
macro_rules! clones {
    ($t:ty, $copy_ssse3:ident, $copy_avx2:ident, $inp_ssse3:ident, $inp_avx2:ident) => {
        #[multiversion(targets("x86_64+ssse3"))]
        fn $copy_ssse3(inp: &[u8], out: &mut [u8], mask: $t) {
            copy_body::<$t>(inp, out, mask)
        }
        #[multiversion(targets("x86_64+avx2"))]
        fn $copy_avx2(inp: &[u8], out: &mut [u8], mask: $t) {
            copy_body::<$t>(inp, out, mask)
        }
        #[multiversion(targets("x86_64+ssse3"))]
        fn $inp_ssse3(buf: &mut [u8], mask: $t) {
            in_place_body::<$t>(buf, mask)
        }
        #[multiversion(targets("x86_64+avx2"))]
        fn $inp_avx2(buf: &mut [u8], mask: $t) {
            in_place_body::<$t>(buf, mask)
        }
    };
}
clones!(u16, copy16_ssse3, copy16_avx2, inp16_ssse3, inp16_avx2);
clones!(u32, copy32_ssse3, copy32_avx2, inp32_ssse3, inp32_avx2);
clones!(u64, copy64_ssse3, copy64_avx2, inp64_ssse3, inp64_avx2);

fn copy_isa<T: Word>(
    isa: Isa,
    inp: &[u8],
    out: &mut [u8],
    mask: T,
    ssse3: fn(&[u8], &mut [u8], T),
    avx2: fn(&[u8], &mut [u8], T),
) {
    match isa {
        Isa::Plain => copy_body(inp, out, mask),
        Isa::Ssse3 => ssse3(inp, out, mask),
        Isa::Avx2 => avx2(inp, out, mask),
    }
}

fn in_place_isa<T: Word>(
    isa: Isa,
    buf: &mut [u8],
    mask: T,
    ssse3: fn(&mut [u8], T),
    avx2: fn(&mut [u8], T),
) {
    match isa {
        Isa::Plain => in_place_body(buf, mask),
        Isa::Ssse3 => ssse3(buf, mask),
        Isa::Avx2 => avx2(buf, mask),
    }
}

/// Mask applied after `from_be`: the value's sign bit (`to_be` of it when encoding, as
/// `(x ^ top).to_be() == from_be(x) ^ top.to_be()`).
fn mask<T: Word>(flip: bool, encode: bool) -> T {
    let zero = T::default();
    match (flip, encode) {
        (false, _) => zero,
        (true, false) => T::TOP,
        (true, true) => T::TOP.be_to_ne(),
    }
}

/// Elements of `width` bytes (1, 2, 4 or 8) from `inp` to `out` (min of both lengths, whole
/// elements): big-endian to native when `encode` is false, native to big-endian when true
/// (the same byte reversal), and the value's sign bit flipped when `flip` (single bytes
/// are only flipped).
pub fn swap_with(isa: Isa, width: usize, inp: &[u8], out: &mut [u8], flip: bool, encode: bool) {
    match width {
        2 => copy_isa::<u16>(isa, inp, out, mask(flip, encode), copy16_ssse3, copy16_avx2),
        4 => copy_isa::<u32>(isa, inp, out, mask(flip, encode), copy32_ssse3, copy32_avx2),
        8 => copy_isa::<u64>(isa, inp, out, mask(flip, encode), copy64_ssse3, copy64_avx2),
        _ => {
            let n = inp.len().min(out.len());
            out[..n].copy_from_slice(&inp[..n]);
            if flip {
                out[..n].iter_mut().for_each(|b| *b ^= 0x80);
            }
        }
    }
}

/// [`swap_with`] in place.
pub fn swap_in_place_with(isa: Isa, width: usize, buf: &mut [u8], flip: bool, encode: bool) {
    match width {
        2 => in_place_isa::<u16>(isa, buf, mask(flip, encode), inp16_ssse3, inp16_avx2),
        4 => in_place_isa::<u32>(isa, buf, mask(flip, encode), inp32_ssse3, inp32_avx2),
        8 => in_place_isa::<u64>(isa, buf, mask(flip, encode), inp64_ssse3, inp64_avx2),
        _ => {
            if flip {
                buf.iter_mut().for_each(|b| *b ^= 0x80);
            }
        }
    }
}

/// [`swap_with`] on the best instruction set.
pub fn swap(width: usize, inp: &[u8], out: &mut [u8], flip: bool, encode: bool) {
    swap_with(Isa::best(), width, inp, out, flip, encode)
}

/// [`swap_in_place_with`] on the best instruction set.
pub fn swap_in_place(width: usize, buf: &mut [u8], flip: bool, encode: bool) {
    swap_in_place_with(Isa::best(), width, buf, flip, encode)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Byte-wise reference: reverse on little-endian hosts, flip the top bit of the value.
    fn reference(width: usize, inp: &[u8], flip: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for e in inp.chunks_exact(width) {
            // The value's most significant byte comes first in big-endian order.
            let mut be = e.to_vec();
            if flip {
                be[0] ^= 0x80;
            }
            if cfg!(target_endian = "little") {
                be.reverse();
            }
            out.extend(be);
        }
        out
    }

    #[test]
    fn every_clone_equals_reference() {
        // xorshift bytes; odd lengths and misaligned starts for input and output.
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let src: Vec<u8> = (0..10_007)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                s as u8
            })
            .collect();
        let isas = Isa::available();
        assert!(isas.contains(&Isa::Plain) && isas.contains(&Isa::best()));
        for isa in isas {
            for width in [1usize, 2, 4, 8] {
                for flip in [false, true] {
                    for encode in [false, true] {
                        for (a, b) in [(0usize, 0usize), (1, 0), (0, 3), (5, 7), (8, 1)] {
                            for len in [0usize, 1, 7, 33, 1001, 9_990] {
                                let inp = &src[a..a + len];
                                let n = len / width * width;
                                // The sign bit is in byte 0 of the big-endian side: the
                                // input when decoding, the output when encoding.
                                let want = if encode {
                                    let mut r = reference(width, inp, false);
                                    if flip {
                                        for e in r.chunks_exact_mut(width) {
                                            e[0] ^= 0x80;
                                        }
                                    }
                                    r
                                } else {
                                    reference(width, inp, flip)
                                };
                                let mut out = vec![0xa5u8; b + len + 3];
                                swap_with(isa, width, inp, &mut out[b..b + len], flip, encode);
                                assert_eq!(
                                    &out[b..b + n],
                                    &want[..],
                                    "{isa:?} {width} {flip} {encode} {a} {b} {len}"
                                );
                                assert!(out[b + n..].iter().all(|&x| x == 0xa5));
                                assert!(out[..b].iter().all(|&x| x == 0xa5));
                                let mut buf = src.clone();
                                swap_in_place_with(isa, width, &mut buf[a..a + n], flip, encode);
                                assert_eq!(
                                    &buf[a..a + n],
                                    &want[..],
                                    "in place {isa:?} {width} {flip} {encode} {a} {len}"
                                );
                                assert_eq!(&buf[..a], &src[..a]);
                                assert_eq!(&buf[a + n..], &src[a + n..]);
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod speed {
    use super::*;

    /// `cargo test --release --lib -- --ignored --nocapture byteorder_speed`: each instruction
    /// set's copy of the kernels in the same run (one thread), in L2 (256 KiB) and not
    /// (64 MiB); best and worst of 5 runs.
    #[test]
    #[ignore]
    fn byteorder_speed() {
        for size in [256usize << 10, 64 << 20] {
            let inp: Vec<u8> = (0..size).map(|i| (i * 131 % 251) as u8).collect();
            let mut out = vec![0u8; size];
            let reps = (256 << 20) / size;
            for width in [2usize, 4, 8] {
                for flip in [false, true] {
                    for isa in Isa::available() {
                        let mut rates = Vec::new();
                        for _ in 0..5 {
                            let t = std::time::Instant::now();
                            for _ in 0..reps {
                                swap_with(isa, width, &inp, &mut out, flip, false);
                            }
                            rates.push((reps * size) as f64 / t.elapsed().as_secs_f64() / 1e9);
                        }
                        rates.sort_by(f64::total_cmp);
                        println!(
                            "{:>5} KiB {width}B {} {isa:?}: {:.1} GB/s (worst {:.1})",
                            size >> 10,
                            if flip { "flip" } else { "swap" },
                            rates[4],
                            rates[0]
                        );
                    }
                }
            }
            std::hint::black_box(&out);
        }
    }
}
