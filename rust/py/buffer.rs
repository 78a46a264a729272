//! A read-only Python buffer over a memory-mapped file: `np.frombuffer` on it gives zero-copy
//! arrays whose base keeps the map alive.

use crate::mmap::Mapped;
use pyo3::exceptions::PyBufferError;
use pyo3::ffi;
use pyo3::prelude::*;
use std::os::raw::{c_int, c_void};
use std::sync::Arc;

#[pyclass(frozen, module = "jwstio._core")]
pub struct MapBuffer {
    pub map: Arc<Mapped>,
}

#[pymethods]
impl MapBuffer {
    fn __len__(&self) -> usize {
        self.map.bytes().len()
    }

    /// # Safety
    /// Called by CPython with a valid `view` pointer.
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        if flags & ffi::PyBUF_WRITABLE == ffi::PyBUF_WRITABLE {
            return Err(PyBufferError::new_err("jwstio file buffers are read-only"));
        }
        let bytes = slf.get().map.bytes();
        // SAFETY: `view` is valid per the buffer protocol. The exported pointer and length are
        // those of the map owned (through an Arc) by `slf`; PyBuffer_FillInfo takes a new
        // reference to `slf`, so the map outlives every view. readonly=1: nobody may write.
        let ret = unsafe {
            ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                bytes.as_ptr() as *mut c_void,
                bytes.len() as ffi::Py_ssize_t,
                1,
                flags,
            )
        };
        if ret == -1 {
            return Err(PyErr::fetch(slf.py()));
        }
        Ok(())
    }

    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {}
}
