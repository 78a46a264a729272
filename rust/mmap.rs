//! The bytes of a whole file, shared by every array that views it: a read-only memory map, or
//! for a gzip-compressed file (`.fits.gz`, as astropy and stdatamodels read them) the
//! decompressed bytes in memory.

use crate::error::{Error, Result};
use std::fs::File;
use std::io::Read;
use std::path::Path;

enum Store {
    Empty,
    Map(memmap2::Mmap),
    Memory(Vec<u8>),
}

pub struct Mapped {
    store: Store,
    /// None for bytes that are no file's (a remote object's fetched ranges).
    file: Option<File>,
}

/// gzip member magic.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

impl Mapped {
    pub fn open(path: &Path) -> Result<Mapped> {
        let mut file = File::open(path).map_err(|e| Error::io(&e).with_path(path))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io(&e).with_path(path))?
            .len();
        if len == 0 {
            return Ok(Mapped {
                store: Store::Empty,
                file: Some(file),
            });
        }
        // SAFETY: the map is read-only and private to this process. The data may change if
        // another process rewrites the file; we never hand out `&mut` to it, every read is
        // bounds-checked against `len()` taken at open, and callers are told (README) that
        // truncating a file while it is open is undefined, as with numpy.memmap and astropy.
        let map = unsafe { memmap2::MmapOptions::new().map(&file) }
            .map_err(|e| Error::io(&e).with_path(path))?;
        if map.len() >= 2 && map[..2] == GZIP_MAGIC {
            drop(map);
            let mut out = Vec::new();
            let mut reader = flate2::read::MultiGzDecoder::new(&mut file);
            // Grows with the bytes actually decompressed, never from a size the file claims.
            reader
                .read_to_end(&mut out)
                .map_err(|e| Error::format(format!("gzip data is corrupt: {e}")).with_path(path))?;
            return Ok(Mapped {
                store: Store::Memory(out),
                file: Some(file),
            });
        }
        Ok(Mapped {
            store: Store::Map(map),
            file: Some(file),
        })
    }

    /// `len` bytes of anonymous memory, zero until `fill` writes them, then read-only: a
    /// remote object's fetched ranges at their offsets (see [`crate::store::sparse`]). Pages
    /// `fill` leaves alone are never touched, so they cost no memory.
    pub fn from_anon(len: usize, fill: impl FnOnce(&mut [u8])) -> std::io::Result<Mapped> {
        if len == 0 {
            return Ok(Mapped {
                store: Store::Empty,
                file: None,
            });
        }
        let mut map = memmap2::MmapMut::map_anon(len)?;
        fill(&mut map);
        Ok(Mapped {
            store: Store::Map(map.make_read_only()?),
            file: None,
        })
    }

    /// The open file, for positioned reads; None when the bytes are not the file's own
    /// (decompressed in memory).
    pub fn file(&self) -> Option<&File> {
        match self.store {
            Store::Memory(_) => None,
            _ => self.file.as_ref(),
        }
    }

    pub fn bytes(&self) -> &[u8] {
        match &self.store {
            Store::Empty => &[],
            Store::Map(m) => m,
            Store::Memory(v) => v,
        }
    }

    /// Hint the kernel that this range will be read soon, sequentially.
    pub fn will_need(&self, offset: usize, len: usize) {
        if let Store::Map(m) = &self.store {
            if len > 0 && offset.checked_add(len).is_some_and(|e| e <= m.len()) {
                let _ = m.advise_range(memmap2::Advice::WillNeed, offset, len);
            }
        }
    }
}
