//! `_core.write_asdf`: an ASDF file (YAML text and blocks, see [`crate::asdf::write`]) written
//! atomically, with the GIL released while checksums are computed and bytes written.

use crate::asdf::write::{self, BlockOut};
use crate::atomic;
use crate::error::Error;
use numpy::{PyReadonlyArray1, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use std::io::BufWriter;
use std::path::PathBuf;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(write_asdf, m)?)?;
    Ok(())
}

/// Write `text` (the ASDF file through `...`), then `blocks` (contiguous uint8 arrays; the first
/// `raw` of them are whole blocks copied as read, the others array bytes under new headers) and
/// the block index, to `path` atomically.
#[pyfunction]
#[pyo3(signature = (path, text, blocks, raw=0, overwrite=false))]
fn write_asdf(
    py: Python<'_>,
    path: PathBuf,
    text: &Bound<'_, PyBytes>,
    blocks: &Bound<'_, PyList>,
    raw: usize,
    overwrite: bool,
) -> PyResult<()> {
    let mut arrays: Vec<PyReadonlyArray1<'_, u8>> = Vec::with_capacity(blocks.len());
    for b in blocks.iter() {
        let a: PyReadonlyArray1<'_, u8> = b.extract()?;
        if !a.is_contiguous() {
            return Err(Error::format("write_asdf: block data must be contiguous").into());
        }
        arrays.push(a);
    }
    let mut out = Vec::with_capacity(arrays.len());
    for (i, a) in arrays.iter().enumerate() {
        let bytes = a
            .as_slice()
            .map_err(|e| Error::format(format!("write_asdf: {e}")))?;
        out.push(if i < raw {
            BlockOut::Raw(bytes)
        } else {
            BlockOut::Data(bytes)
        });
    }
    let text = text.as_bytes();
    py.detach(|| {
        atomic::write_atomic(&path, overwrite, |f| {
            let mut w = BufWriter::with_capacity(1 << 20, f);
            write::write_file(&mut w, text, &out)?;
            w.into_inner().map_err(|e| Error::io(e.error()))?;
            Ok(())
        })
    })?;
    Ok(())
}
