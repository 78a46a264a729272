//! `_core.group_id_values`: what jwst's `ModelLibrary` reads from each association member to
//! build its group id (`meta.group_id`, `meta.observation.*` of `read_metadata(flatten=False)`),
//! for many FITS files at once, on a thread pool without the GIL (see `jwstio/asn.py`).
//!
//! It is the fast path of `jwstio.read_metadata` ([`crate::metadata::fits_tree`]: the ASDF tree
//! with the model's header keywords stored over it), reduced to the values a group id needs.
//! A file it cannot decide (not FITS, no DATAMODL, an unusual tree: whatever sends
//! `read_metadata` to its general path) gives None, and Python reads that one the general way.

use super::asdf::scalar;
use super::fits::value_to_py;
use super::metadata::MetadataPlan;
use crate::fits::hdu::{self, Hdu};
use crate::metadata::{self, V};
use crate::mmap::Mapped;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyList, PyString, PyTuple};
use rayon::prelude::*;
use std::collections::HashMap;
use std::path::PathBuf;

/// The `meta.observation` keys jwst joins into a group id (`attrs_to_group_id`).
const KEYS: [&str; 7] = [
    "program_number",
    "observation_number",
    "visit_number",
    "visit_group",
    "sequence_id",
    "activity_id",
    "exposure_number",
];

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(group_id_values, m)?)?;
    Ok(())
}

/// What one file's tree holds for the group id (values still borrow from its mapping).
struct Found<'a> {
    group_id: Option<V<'a>>,
    /// The `meta.observation` values present, in [`KEYS`] order.
    observation: Vec<(&'static str, V<'a>)>,
}

fn value<'t, 'a>(map: &'t [(std::borrow::Cow<'a, str>, V<'a>)], key: &str) -> Option<&'t V<'a>> {
    // Duplicate keys make the fast path bail, so the first match is the only one.
    map.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// The group-id values of a tree; None when `meta` or `meta.observation` is not a mapping
/// (jwst then fails or reads something the general path must decide).
fn find<'a>(tree: &V<'a>) -> Option<Found<'a>> {
    let V::Map(top) = tree else { return None };
    let meta = value(top, "meta")?;
    let V::Map(meta) = meta else { return None };
    let group_id = value(meta, "group_id").cloned();
    let mut observation = Vec::new();
    if group_id.is_none() {
        if let Some(obs) = value(meta, "observation") {
            let V::Map(obs) = obs else { return None };
            for k in KEYS {
                if let Some(v) = value(obs, k) {
                    observation.push((k, v.clone()));
                }
            }
        }
    }
    Some(Found {
        group_id,
        observation,
    })
}

/// A tree value as `read_metadata(flatten=False)` gives it; None for an unparsed `wcs` body.
fn to_py<'py>(py: Python<'py>, v: &V<'_>) -> PyResult<Option<Bound<'py, PyAny>>> {
    Ok(Some(match v {
        V::Null => py.None().into_bound(py),
        V::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        V::Int(i) => i.into_pyobject(py)?.into_any(),
        V::Float(f) => PyFloat::new(py, *f).into_any(),
        V::Str(s) => PyString::new(py, s).into_any(),
        V::Yaml(s) => scalar(py, s)?,
        V::Card(c) => value_to_py(py, c)?.0,
        V::Map(pairs) => {
            let d = PyDict::new(py);
            for (k, x) in pairs {
                let Some(x) = to_py(py, x)? else {
                    return Ok(None);
                };
                d.set_item(k.as_ref(), x)?;
            }
            d.into_any()
        }
        V::Seq(items) => {
            let l = PyList::empty(py);
            for x in items {
                let Some(x) = to_py(py, x)? else {
                    return Ok(None);
                };
                l.append(x)?;
            }
            l.into_any()
        }
        V::Skipped => return Ok(None),
    }))
}

/// For each path: None (read it the general way), or `(has_group_id, group_id, {key: value})`
/// with the `meta.observation` values present (only when there is no `meta.group_id`).
/// `plan_for(model_type)` gives the model's `MetadataPlan` (None: unknown model).
#[pyfunction]
#[pyo3(signature = (paths, plan_for, threads=None))]
fn group_id_values<'py>(
    py: Python<'py>,
    paths: Vec<PathBuf>,
    plan_for: &Bound<'py, PyAny>,
    threads: Option<usize>,
) -> PyResult<Vec<Option<Bound<'py, PyTuple>>>> {
    // rayon's global pool unless a thread count is asked for; one file runs where it is.
    let pool = match threads {
        Some(n) if paths.len() > 1 => Some(
            rayon::ThreadPoolBuilder::new()
                .num_threads(n.max(1))
                .build()
                .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?,
        ),
        _ => None,
    };
    // Map and index every file, and read its DATAMODL.
    let opened: Vec<Option<(Mapped, Vec<Hdu>, String)>> = py.detach(|| {
        in_pool(pool.as_ref(), || {
            paths
                .par_iter()
                .map(|p| {
                    let map = Mapped::open(p).ok()?;
                    let hdus = hdu::index(map.bytes()).ok()?;
                    let name = metadata::datamodl(&hdus).ok()?;
                    Some((map, hdus, name))
                })
                .collect()
        })
    });
    // One plan per model type.
    let mut plans: HashMap<&str, Option<Py<MetadataPlan>>> = HashMap::new();
    for (_, _, name) in opened.iter().flatten() {
        if !plans.contains_key(name.as_str()) {
            let plan = plan_for.call1((name.as_str(),))?;
            let plan = plan.cast::<MetadataPlan>().ok().map(|p| p.clone().unbind());
            plans.insert(name.as_str(), plan);
        }
    }
    let found: Vec<Option<Found<'_>>> = py.detach(|| {
        in_pool(pool.as_ref(), || {
            opened
                .par_iter()
                .map(|o| {
                    let (map, hdus, name) = o.as_ref()?;
                    let plan = plans.get(name.as_str())?.as_ref()?.get();
                    let tree = metadata::fits_tree(map.bytes(), hdus, &plan.plan).ok()?;
                    find(&tree)
                })
                .collect()
        })
    });
    let mut out = Vec::with_capacity(found.len());
    for f in found {
        out.push(match f {
            None => None,
            Some(f) => tuple(py, &f)?,
        });
    }
    Ok(out)
}

/// `f` inside `pool`, or where it is (rayon's global pool for parallel iterators).
fn in_pool<T: Send>(pool: Option<&rayon::ThreadPool>, f: impl FnOnce() -> T + Send) -> T {
    match pool {
        Some(p) => p.install(f),
        None => f(),
    }
}

fn tuple<'py>(py: Python<'py>, f: &Found<'_>) -> PyResult<Option<Bound<'py, PyTuple>>> {
    let obs = PyDict::new(py);
    for (k, v) in &f.observation {
        let Some(v) = to_py(py, v)? else {
            return Ok(None);
        };
        obs.set_item(*k, v)?;
    }
    let (has, gid) = match &f.group_id {
        Some(v) => match to_py(py, v)? {
            Some(x) => (true, x),
            None => return Ok(None),
        },
        None => (false, py.None().into_bound(py)),
    };
    Ok(Some(PyTuple::new(
        py,
        [
            PyBool::new(py, has).to_owned().into_any(),
            gid,
            obs.into_any(),
        ],
    )?))
}
