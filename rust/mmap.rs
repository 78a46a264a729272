//! A read-only memory map of a whole file, shared by every array that views it.

use crate::error::{Error, Result};
use std::fs::File;
use std::path::Path;

/// The bytes of a file, memory-mapped (or empty for an empty file).
pub struct Mapped {
    map: Option<memmap2::Mmap>,
    file: File,
}

impl Mapped {
    pub fn open(path: &Path) -> Result<Mapped> {
        let file = File::open(path).map_err(|e| Error::io(&e).with_path(path))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io(&e).with_path(path))?
            .len();
        if len == 0 {
            return Ok(Mapped { map: None, file });
        }
        // SAFETY: the map is read-only and private to this process. The data may change if
        // another process rewrites the file; we never hand out `&mut` to it, every read is
        // bounds-checked against `len()` taken at open, and callers are told (README) that
        // truncating a file while it is open is undefined, as with numpy.memmap and astropy.
        let map = unsafe { memmap2::MmapOptions::new().map(&file) }
            .map_err(|e| Error::io(&e).with_path(path))?;
        Ok(Mapped {
            map: Some(map),
            file,
        })
    }

    /// The open file, for positioned reads.
    pub fn file(&self) -> &File {
        &self.file
    }

    pub fn bytes(&self) -> &[u8] {
        match &self.map {
            Some(m) => m,
            None => &[],
        }
    }

    /// Hint the kernel that this range will be read soon, sequentially.
    pub fn will_need(&self, offset: usize, len: usize) {
        if let Some(m) = &self.map {
            if len > 0 && offset.checked_add(len).is_some_and(|e| e <= m.len()) {
                let _ = m.advise_range(memmap2::Advice::WillNeed, offset, len);
            }
        }
    }
}
