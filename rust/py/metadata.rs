//! `_core.read_metadata_fits`: the fast path of `jwstio.read_metadata` (see
//! [`crate::metadata`]). It returns None whenever the general path must decide.

use super::asdf::scalar;
use super::fits::value_to_py;
use crate::fits::hdu;
use crate::metadata::{self, KwPlan, PlanEntry, V};
use crate::mmap::Mapped;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyString};
use rustc_hash::{FxBuildHasher, FxHashMap};
use std::path::PathBuf;
use std::sync::Mutex;

/// Most strings kept (the cache is emptied past it).
const MAX_KEYS: usize = 100_000;
/// Longer string values are not cached.
const MAX_CACHED_VALUE: usize = 32;

fn cached<'py>(
    py: Python<'py>,
    cache: &mut FxHashMap<Box<str>, Py<PyString>>,
    s: &str,
) -> Bound<'py, PyString> {
    if let Some(k) = cache.get(s) {
        return k.bind(py).clone();
    }
    let k = PyString::new(py, s);
    cache.insert(s.into(), k.clone().unbind());
    k
}

static KEYS: Mutex<FxHashMap<Box<str>, Py<PyString>>> =
    Mutex::new(FxHashMap::with_hasher(FxBuildHasher));

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<MetadataPlan>()?;
    m.add_function(wrap_pyfunction!(read_metadata_fits, m)?)?;
    Ok(())
}

/// The keyword walk of one model, compiled (see `models/_metadata.py`, `_plan`).
#[pyclass(frozen, module = "jwstio._core")]
pub struct MetadataPlan {
    plan: KwPlan,
}

#[pymethods]
impl MetadataPlan {
    /// `steps`: (list path or None, [(path, KEYWORD, hdu name or None), ...]) in walk order.
    #[new]
    fn new(steps: Vec<(Option<Vec<String>>, Vec<PlanEntry>)>) -> Self {
        MetadataPlan {
            plan: KwPlan::new(steps),
        }
    }
}

/// `read_metadata(path, flatten=True)` of a FITS product as a dict, or None when the general
/// path must be used. `plan_for(model_type)` gives the model's MetadataPlan (None: unknown).
#[pyfunction]
#[pyo3(signature = (path, model_type, plan_for))]
fn read_metadata_fits<'py>(
    py: Python<'py>,
    path: PathBuf,
    model_type: Option<String>,
    plan_for: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    let opened = py.detach(|| {
        let map = Mapped::open(&path).ok()?;
        let hdus = hdu::index(map.bytes()).ok()?;
        Some((map, hdus))
    });
    let Some((map, hdus)) = opened else {
        return Ok(None);
    };
    let name = match model_type {
        Some(n) => n,
        None => match metadata::datamodl(&hdus) {
            Ok(n) => n,
            Err(_) => return Ok(None),
        },
    };
    let plan = plan_for.call1((name,))?;
    let Ok(plan) = plan.cast::<MetadataPlan>() else {
        return Ok(None);
    };
    let plan = &plan.get().plan;
    let bytes = map.bytes();
    let Ok(tree) = py.detach(|| metadata::fits_tree(bytes, &hdus, plan)) else {
        return Ok(None);
    };
    let out = PyDict::new(py);
    // Dotted keys and short values repeat from file to file: reuse their str objects (for
    // keys, with their hash already computed). Strings are immutable, so sharing is invisible.
    let mut keys = KEYS.try_lock().ok();
    if let Some(k) = keys.as_deref_mut() {
        if k.len() > MAX_KEYS {
            k.clear();
        }
    }
    metadata::flatten(&tree, &mut |key: &str, leaf: &V<'_>| -> PyResult<()> {
        let value = match leaf {
            V::Null => py.None().into_bound(py),
            V::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
            V::Int(i) => i.into_pyobject(py)?.into_any(),
            V::Float(f) => PyFloat::new(py, *f).into_any(),
            V::Str(s) if s.len() <= MAX_CACHED_VALUE => match keys.as_deref_mut() {
                Some(cache) => cached(py, cache, s).into_any(),
                None => PyString::new(py, s).into_any(),
            },
            V::Str(s) => PyString::new(py, s).into_any(),
            V::Yaml(s) => scalar(py, s)?,
            V::Card(v) => value_to_py(py, v)?.0,
            V::Map(_) | V::Seq(_) | V::Skipped => return Ok(()),
        };
        let k = match keys.as_deref_mut() {
            Some(cache) => cached(py, cache, key),
            None => PyString::new(py, key),
        };
        out.set_item(k, value)
    })?;
    Ok(Some(out))
}
