//! Memory for big output arrays, reused. A fresh anonymous page costs a fault and the kernel
//! zeroing it (on a 128 MiB integration about as long as reading it); an array of at least
//! [`MIN_BYTES`] is therefore backed by an anonymous map (huge pages asked for) that goes back
//! to a small pool when the array dies, so the next big array is filled without faults.
//! Kept maps are at most [`KEEP`] and [`KEEP_BYTES`] in all, marked MADV_FREE (the system
//! takes their pages back under memory pressure), and dropped before any fresh map is made,
//! so reuse never raises the peak memory of a read.

use memmap2::{Advice, MmapMut, UncheckedAdvice};
use numpy::ndarray::{ArrayViewMut, IxDyn};
use numpy::{Element, PyArray};
use pyo3::exceptions::PyMemoryError;
use pyo3::prelude::*;
use std::sync::Mutex;

/// Arrays this big or bigger come from the pool (below, malloc keeps freed memory itself).
pub const MIN_BYTES: usize = 32 << 20;
/// Maps kept at most.
const KEEP: usize = 2;
/// Bytes kept at most.
const KEEP_BYTES: usize = 512 << 20;
/// Maps are made in whole huge pages.
const HUGE: usize = 2 << 20;

static POOL: Mutex<Vec<MmapMut>> = Mutex::new(Vec::new());

fn pool() -> std::sync::MutexGuard<'static, Vec<MmapMut>> {
    POOL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A map of at least `len` bytes (and not much more): a kept one, else a fresh one.
fn take(len: usize) -> std::io::Result<MmapMut> {
    let want = len.div_ceil(HUGE).saturating_mul(HUGE);
    let mut kept = pool();
    if let Some(k) = kept
        .iter()
        .position(|m| m.len() >= want && m.len() - want <= want / 4)
    {
        return Ok(kept.swap_remove(k));
    }
    // None fits: let the kept ones go first, so that the fresh map never adds to them.
    kept.clear();
    drop(kept);
    let map = MmapMut::map_anon(want)?;
    let _ = map.advise(Advice::HugePage);
    Ok(map)
}

/// Keep `map` for a later array (the oldest kept one goes when there are too many).
fn give_back(map: MmapMut) {
    if map.len() > KEEP_BYTES {
        return;
    }
    // SAFETY: MADV_FREE only lets the kernel replace the pages' contents with zeros; the map is
    // owned here, no array views it any more, and a later user overwrites every byte it reads.
    let _ = unsafe { map.unchecked_advise(UncheckedAdvice::Free) };
    let mut kept = pool();
    kept.push(map);
    while kept.len() > KEEP || kept.iter().map(|m| m.len()).sum::<usize>() > KEEP_BYTES {
        kept.remove(0);
    }
}

/// Owns the memory of an array made by [`filled`]; its end returns the memory to the pool.
#[pyclass(frozen, module = "jwstio._core")]
pub struct PooledMemory {
    map: Option<MmapMut>,
}

impl Drop for PooledMemory {
    fn drop(&mut self) {
        if let Some(m) = self.map.take() {
            give_back(m);
        }
    }
}

/// A new C-contiguous array of `shape` (at least [`MIN_BYTES`]) in pooled memory, every byte
/// written by `fill` first.
pub fn filled<'py, T: Element>(
    py: Python<'py>,
    shape: &[usize],
    path: &str,
    fill: &mut dyn FnMut(&mut [u8]) -> PyResult<()>,
) -> PyResult<Bound<'py, PyAny>> {
    let n: usize = shape.iter().product();
    let bytes = n * std::mem::size_of::<T>();
    let mut map = take(bytes).map_err(|e| {
        PyMemoryError::new_err(format!(
            "{path}: cannot allocate {bytes} bytes for the array: {e}"
        ))
    })?;
    if let Err(e) = fill(&mut map[..bytes]) {
        give_back(map);
        return Err(e);
    }
    let ptr = map.as_mut_ptr() as *mut T;
    let owner = Bound::new(py, PooledMemory { map: Some(map) })?;
    // SAFETY: `ptr` is the start of the map now owned by `owner`: page-aligned (so aligned for
    // T), at least `bytes` = n * size_of::<T>() long and fully written by `fill` (any bit
    // pattern is a valid T for these plain numeric types). A map's memory does not move when
    // the map does. `owner` becomes the array's base object, so the memory stays mapped (and
    // out of the pool) as long as the array or any view of it lives, and nothing else
    // references it: the view below is used only to make the array.
    let view = unsafe { ArrayViewMut::from_shape_ptr(IxDyn(shape), ptr) };
    let arr = unsafe { PyArray::<T, IxDyn>::borrow_from_array(&view, owner.into_any()) };
    Ok(arr.into_any())
}
