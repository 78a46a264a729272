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
    m.add_function(wrap_pyfunction!(read_metadata_file, m)?)?;
    Ok(())
}

/// The keyword walk of one model, compiled (see `models/_metadata.py`, `_plan`).
#[pyclass(frozen, module = "jwstio._core")]
pub struct MetadataPlan {
    pub(super) plan: KwPlan,
    layout: Mutex<Layout>,
}

/// The keys of this model's last dict, in order. Files of one model mostly give the same
/// keys: when a call's keys are these, their str objects are reused without hashing, and from
/// the second such call on the dict is a copy of `template` (its values then replaced), which
/// skips the dict's growth.
#[derive(Default)]
struct Layout {
    /// The keys, concatenated; key `i` ends at `ends[i]`.
    text: String,
    ends: Vec<usize>,
    /// The length of the common start of key `i` and key `i - 1` (0 for the first).
    common: Vec<usize>,
    keys: Vec<Py<PyString>>,
    /// The short str value last seen at each key, if any.
    values: Vec<Option<Py<PyString>>>,
    /// `keys` in order, all with None values.
    template: Option<Py<PyDict>>,
}

/// `a == b` without a `memcmp` call: these are short and mostly equal.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

impl Layout {
    fn key(&self, i: usize) -> Option<&str> {
        let start = if i == 0 { 0 } else { *self.ends.get(i - 1)? };
        self.text.get(start..*self.ends.get(i)?)
    }
}

#[pymethods]
impl MetadataPlan {
    /// `steps`: (list path or None, [(path, KEYWORD, hdu name or None), ...]) in walk order.
    #[new]
    fn new(steps: Vec<(Option<Vec<String>>, Vec<PlanEntry>)>) -> Self {
        MetadataPlan {
            plan: KwPlan::new(steps),
            layout: Mutex::default(),
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
    metadata_of(py, &map, &hdus, model_type, plan_for)
}

/// `read_metadata_fits` of an opened file (a remote object's fetched headers and ASDF bytes).
#[pyfunction]
#[pyo3(signature = (file, model_type, plan_for))]
pub fn read_metadata_file<'py>(
    py: Python<'py>,
    file: &Bound<'py, super::fits::FitsFile>,
    model_type: Option<String>,
    plan_for: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    let f = file.get();
    metadata_of(py, &f.map, &f.hdus, model_type, plan_for)
}

fn metadata_of<'py>(
    py: Python<'py>,
    map: &Mapped,
    hdus: &[hdu::Hdu],
    model_type: Option<String>,
    plan_for: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    let name = match model_type {
        Some(n) => n,
        None => match metadata::datamodl(hdus) {
            Ok(n) => n,
            Err(_) => return Ok(None),
        },
    };
    let plan = plan_for.call1((name,))?;
    let Ok(plan) = plan.cast::<MetadataPlan>() else {
        return Ok(None);
    };
    let plan = plan.get();
    let bytes = map.bytes();
    let Ok(tree) = py.detach(|| metadata::fits_tree(bytes, hdus, &plan.plan)) else {
        return Ok(None);
    };
    // Dotted keys and short values repeat from file to file: reuse their str objects (for
    // keys, with their hash already computed). Strings are immutable, so sharing is invisible.
    let mut cache = KEYS.try_lock().ok();
    if let Some(k) = cache.as_deref_mut() {
        if k.len() > MAX_KEYS {
            k.clear();
        }
    }
    let mut layout = plan.layout.try_lock().ok();
    let mut empty = Layout::default();
    let lay = layout.as_deref_mut().unwrap_or(&mut empty);
    let mut str_of = |s: &str| -> Bound<'py, PyString> {
        match cache.as_deref_mut() {
            Some(cache) => cached(py, cache, s),
            None => PyString::new(py, s),
        }
    };
    let mut pairs: Vec<(Bound<'py, PyString>, Bound<'py, PyAny>)> =
        Vec::with_capacity(lay.keys.len().max(64));
    let mut same = true;
    // The last key was the layout's: only the part of this key after `fresh` needs comparing.
    let mut last_at = true;
    metadata::flatten(&tree, &mut |key: &str,
                                   fresh,
                                   leaf: &V<'_>|
     -> PyResult<()> {
        let i = pairs.len();
        let at = last_at
            && lay.common.get(i).is_some_and(|&c| c >= fresh)
            && lay.key(i).is_some_and(|k| {
                k.len() == key.len()
                    && match (k.as_bytes().get(fresh..), key.as_bytes().get(fresh..)) {
                        (Some(a), Some(b)) => same_bytes(a, b),
                        _ => false,
                    }
            });
        same &= at;
        last_at = at;
        let value = match leaf {
            V::Null => py.None().into_bound(py),
            V::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
            V::Int(i) => i.into_pyobject(py)?.into_any(),
            V::Float(f) => PyFloat::new(py, *f).into_any(),
            V::Str(s) if s.len() <= MAX_CACHED_VALUE => {
                let last = if at { lay.values[i].as_ref() } else { None };
                match last.map(|v| v.bind(py)) {
                    Some(v)
                        if v.to_str()
                            .is_ok_and(|v| same_bytes(v.as_bytes(), s.as_bytes())) =>
                    {
                        v.clone()
                    }
                    _ => {
                        let v = str_of(s);
                        if at {
                            lay.values[i] = Some(v.clone().unbind());
                        }
                        v
                    }
                }
                .into_any()
            }
            V::Str(s) => PyString::new(py, s).into_any(),
            V::Yaml(s) => scalar(py, s)?,
            V::Card(v) => value_to_py(py, v)?.0,
            V::Map(_) | V::Seq(_) | V::Skipped => {
                last_at = false;
                return Ok(());
            }
        };
        let k = if at {
            lay.keys[i].bind(py).clone()
        } else {
            str_of(key)
        };
        pairs.push((k, value));
        Ok(())
    })?;
    same &= pairs.len() == lay.keys.len();
    let out = match (&lay.template, same) {
        (Some(t), true) => t.bind(py).copy()?,
        _ => PyDict::new(py),
    };
    for (k, v) in &pairs {
        out.set_item(k, v)?;
    }
    if !same {
        *lay = Layout::default();
        for (k, v) in pairs {
            let k_str = k.to_str()?;
            let prev = lay.key(lay.keys.len().wrapping_sub(1)).unwrap_or("");
            let common = prev
                .bytes()
                .zip(k_str.bytes())
                .take_while(|(a, b)| a == b)
                .count();
            lay.common.push(common);
            lay.text.push_str(k_str);
            lay.ends.push(lay.text.len());
            lay.keys.push(k.unbind());
            let short = v
                .cast_exact::<PyString>()
                .ok()
                .filter(|s| s.to_str().is_ok_and(|s| s.len() <= MAX_CACHED_VALUE));
            lay.values.push(short.map(|s| s.clone().unbind()));
        }
    } else if lay.template.is_none() {
        let t = PyDict::new(py);
        for k in &lay.keys {
            t.set_item(k, py.None())?;
        }
        lay.template = Some(t.unbind());
    }
    Ok(Some(out))
}
