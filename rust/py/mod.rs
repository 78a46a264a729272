//! Python bindings (`jwstio._core`). Only this folder knows about PyO3.

mod asdf;
mod asdf_write;
mod asn;
mod buffer;
mod emit;
mod errors;
mod fits;
mod metadata;
mod pool;
mod scan;
mod store;
mod write;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    fits::register(m)?;
    asdf::register(m)?;
    emit::register(m)?;
    scan::register(m)?;
    metadata::register(m)?;
    asn::register(m)?;
    store::register(m)?;
    write::register(m)?;
    asdf_write::register(m)?;
    Ok(())
}
