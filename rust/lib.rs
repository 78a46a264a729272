//! jwstio core: memory-mapped FITS reading, ASDF decoding and parallel header scanning.
//! Everything here builds and tests without Python; the `python` feature adds the bindings.

pub mod asdf;
pub mod atomic;
pub mod byteorder;
pub mod convert;
pub mod error;
pub mod fits;
pub mod metadata;
pub mod mmap;
pub mod scan;
pub mod section;
pub mod store;

#[cfg(feature = "python")]
mod py;

pub use error::{Error, ErrorKind, Result};

// The extension's own allocations (trees, header indexes) are many and short-lived.
#[cfg(feature = "python")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
