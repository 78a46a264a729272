//! Core errors -> jwstio exception classes (defined in python/jwstio/errors.py).

use crate::error::{Error, ErrorKind};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

fn class_name(e: &Error) -> &'static str {
    match e.kind {
        ErrorKind::Format => "FormatError",
        ErrorKind::Asdf => "AsdfError",
        ErrorKind::Missing => "HDUNotFoundError",
        ErrorKind::Io => match e.io_kind {
            Some(std::io::ErrorKind::NotFound) => "FileNotFoundError",
            Some(std::io::ErrorKind::PermissionDenied) => "PermissionError",
            Some(std::io::ErrorKind::IsADirectory) => "IsADirectoryError",
            Some(std::io::ErrorKind::AlreadyExists) => "FileExistsError",
            _ => "JwstioOSError",
        },
    }
}

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        Python::attach(|py| {
            let msg = e.to_string();
            let made = (|| -> PyResult<PyErr> {
                let module = py.import("jwstio.errors")?;
                let cls = module.getattr(class_name(&e))?;
                let args = PyTuple::new(py, [msg.clone()])?;
                let inst = cls.call1(args)?;
                Ok(PyErr::from_value(inst))
            })();
            made.unwrap_or_else(|_| pyo3::exceptions::PyValueError::new_err(msg))
        })
    }
}
