//! `_core.RemoteParts`: the fetched byte ranges of one remote object and the header walks over
//! them (see [`crate::store`]). Python fetches; Rust says what to fetch next and parses.

use super::fits::{value_to_py, FitsFile};
use crate::error::Error;
use crate::scan::Query;
use crate::store::{self, Parts, Step};
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyList;
use std::sync::Mutex;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<RemoteParts>()?;
    m.add_class::<ScanQuery>()?;
    Ok(())
}

/// Scan keys parsed once (`jwstio.scan` syntax).
#[pyclass(frozen, module = "jwstio._core")]
pub struct ScanQuery {
    query: Query,
}

#[pymethods]
impl ScanQuery {
    #[new]
    fn new(keys: Vec<String>) -> PyResult<Self> {
        let query = Query::parse(&keys).map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(ScanQuery { query })
    }
}

#[pyclass(frozen, module = "jwstio._core")]
pub struct RemoteParts {
    url: String,
    parts: Mutex<Parts>,
}

impl RemoteParts {
    fn lock(&self) -> std::sync::MutexGuard<'_, Parts> {
        self.parts.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn named(&self, e: Error) -> PyErr {
        e.with_path(std::path::Path::new(&self.url)).into()
    }
}

/// `(offset, length, ahead)`: the range needed, and guessed ranges worth fetching with it.
fn need<'py>(
    py: Python<'py>,
    offset: u64,
    len: u64,
    ahead: Vec<(u64, u64)>,
) -> PyResult<Bound<'py, PyAny>> {
    Ok((offset, len, ahead).into_pyobject(py)?.into_any())
}

#[pymethods]
impl RemoteParts {
    #[new]
    fn new(url: String, size: u64) -> Self {
        RemoteParts {
            url,
            parts: Mutex::new(Parts::new(size)),
        }
    }

    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    #[getter]
    fn size(&self) -> u64 {
        self.lock().len
    }

    /// Bytes fetched so far.
    #[getter]
    fn fetched(&self) -> u64 {
        self.lock().fetched()
    }

    /// Add the bytes fetched at `offset` (any object with the buffer protocol).
    fn add(&self, py: Python<'_>, offset: u64, data: PyBuffer<u8>) -> PyResult<()> {
        let bytes = data.to_vec(py)?;
        self.lock().add(offset, bytes);
        Ok(())
    }

    /// Whether `[offset, offset + n)` has been fetched.
    fn has(&self, offset: u64, n: u64) -> bool {
        self.lock().has(offset, n)
    }

    /// The ranges not yet fetched within `[offset, offset + n)`, as (offset, length).
    fn missing(&self, offset: u64, n: u64) -> Vec<(u64, u64)> {
        self.lock().missing(offset, n)
    }

    /// `(values, error)`: the values of `query` (a list; those found before an error) and the
    /// error's text naming the URL (None when the headers were read); or the range
    /// `(offset, length)` to fetch first.
    fn scan<'py>(&self, py: Python<'py>, query: &ScanQuery) -> PyResult<Bound<'py, PyAny>> {
        let step = store::scan(&self.lock(), &query.query);
        match step {
            Step::Need { offset, len, ahead } => need(py, offset, len, ahead),
            Step::Done((values, error)) => {
                let out = PyList::empty(py);
                for v in &values {
                    match v {
                        Some(v) => {
                            let (obj, status) = value_to_py(py, v)?;
                            if status == 0 {
                                out.append(obj)?;
                            } else {
                                out.append(py.None())?;
                            }
                        }
                        None => out.append(py.None())?,
                    }
                }
                let error = error.map(|e| e.with_path(std::path::Path::new(&self.url)).to_string());
                Ok((out, error).into_pyobject(py)?.into_any())
            }
        }
    }

    /// Every HDU as `(name, ver, data_start, data_len)` (a list), or the range to fetch first.
    fn index<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let step = store::index(&self.lock()).map_err(|e| self.named(e))?;
        match step {
            Step::Need { offset, len, ahead } => need(py, offset, len, ahead),
            Step::Done(hdus) => {
                let items: Vec<(String, i64, usize, usize)> = hdus
                    .iter()
                    .map(|h| (h.name.clone(), h.ver, h.data_start, h.data_len))
                    .collect();
                Ok(PyList::new(py, items)?.into_any())
            }
        }
    }

    /// A `FitsFile` over the fetched bytes (zero where nothing was fetched): every header must
    /// have been fetched (`index()` returned the list).
    fn fits_file(&self, py: Python<'_>) -> PyResult<FitsFile> {
        let guard = self.lock();
        let parts: &Parts = &guard;
        let path = std::path::Path::new(&self.url);
        let (map, hdus) = py
            .detach(|| -> crate::Result<_> {
                let map = store::sparse(parts)?;
                let hdus = crate::fits::hdu::index(map.bytes())?;
                Ok((map, hdus))
            })
            .map_err(|e| e.with_path(path))?;
        Ok(FitsFile::from_memory(self.url.clone(), map, hdus))
    }
}
