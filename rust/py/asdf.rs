//! `_core.AsdfDoc`, `_core.NDArrayNode`, `_core.Tagged`: the ASDF tree as Python objects and
//! block-backed NumPy arrays.

use super::buffer::MapBuffer;
use crate::asdf::block::{self, Block};
use crate::asdf::file::{self, Layout};
use crate::asdf::lazy::{Plan, INHERITED};
use crate::asdf::ndarray::{self, Descr, Source as NdSource, Spec};
use crate::asdf::resolve::Scalar;
use crate::asdf::yaml::{Content, Doc, Node, NodeId, Tag, VALUE_TAG};
use crate::asdf::{parse_region, parse_tree, Context};
use crate::error::Error;
use crate::mmap::Mapped;
use numpy::PyArray1;
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyIndexError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBytes, PyDate, PyDateTime, PyDelta, PyDict, PyList, PyMemoryView, PySet, PyString, PyTuple,
    PyTzInfo, PyWeakrefMethods, PyWeakrefReference,
};
use std::path::Path;
use std::sync::Arc;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<AsdfDoc>()?;
    m.add_class::<NDArrayNode>()?;
    m.add_class::<Tagged>()?;
    Ok(())
}

/// The bytes of an ASDF file, kept without copying when the owner is immutable.
enum Source {
    /// A `bytes` object (or a private copy of another buffer).
    Bytes(PyBackedBytes),
    /// A slice of a memory-mapped file (from `FitsFile.buffer()`).
    Map {
        map: Arc<Mapped>,
        start: usize,
        len: usize,
    },
}

impl Source {
    fn bytes(&self) -> &[u8] {
        match self {
            Source::Bytes(b) => b,
            // Range checked against the map when made.
            Source::Map { map, start, len } => &map.bytes()[*start..*start + *len],
        }
    }

    /// A Python object exporting the whole backing buffer, and where our bytes start in it.
    fn owner<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, usize)> {
        match self {
            Source::Bytes(b) => Ok((b.into_pyobject(py)?.into_any(), 0)),
            Source::Map { map, start, .. } => Ok((
                Bound::new(py, MapBuffer { map: map.clone() })?.into_any(),
                *start,
            )),
        }
    }

    fn from_py(obj: &Bound<'_, PyAny>) -> PyResult<Source> {
        let py = obj.py();
        if obj.is_instance_of::<PyBytes>() {
            return Ok(Source::Bytes(obj.extract()?));
        }
        let base = match obj.cast::<PyMemoryView>() {
            Ok(mv) => mv.getattr("obj")?,
            Err(_) => obj.clone(),
        };
        let buf = PyBuffer::<u8>::get(obj)?;
        if let Ok(mb) = base.cast::<MapBuffer>() {
            let map = mb.get().map.clone();
            let whole = map.bytes();
            let ptr = buf.buf_ptr() as usize;
            let base_ptr = whole.as_ptr() as usize;
            let len = buf.len_bytes();
            if buf.is_c_contiguous()
                && buf.item_size() == 1
                && ptr >= base_ptr
                && ptr - base_ptr + len <= whole.len()
            {
                return Ok(Source::Map {
                    start: ptr - base_ptr,
                    len,
                    map,
                });
            }
        }
        // Anything else may change under us: take a private copy.
        let copy = PyBytes::new(py, &buf.to_vec(py)?);
        Ok(Source::Bytes(copy.extract()?))
    }
}

/// Everything a document's objects need after construction.
struct Shared {
    src: Source,
    path: String,
    layout: Layout,
    blocks: Vec<PyOnceLock<Py<PyAny>>>,
}

/// A composed YAML text whose deferred regions can be loaded: the document's YAML stream, or
/// the text of a loaded region (which may defer its own subtrees).
struct Level {
    /// None: the document's YAML stream; else the region's standalone text.
    text: Option<Vec<u8>>,
    plan: Option<Plan>,
    line_offset: i64,
    /// Nesting depth of each deferred region.
    depths: Vec<usize>,
    /// Whether each deferred region may defer its own subtrees when loaded: only asdf core
    /// containers (an old-style slit, `core/asdf-*`); a WCS or transform is read whole.
    nest: Vec<bool>,
    /// Weak references to the Tagged object of each deferred region (no reference cycles).
    refs: Vec<PyOnceLock<Py<PyWeakrefReference>>>,
    /// Where the aliases imported by this level's own region are anchored: (name, level,
    /// region of that level).
    inherited: Vec<(String, Arc<Level>, u32)>,
}

impl Level {
    fn new(
        text: Option<Vec<u8>>,
        tree_plan: Option<Plan>,
        doc: &Doc,
        line_offset: i64,
        inherited: Vec<(String, Arc<Level>, u32)>,
    ) -> Level {
        let n = tree_plan.as_ref().map_or(0, |p| p.regions.len());
        let mut nest = vec![false; n];
        for node in &doc.nodes {
            if let (Content::Lazy(i), Tag::Custom(t)) = (&node.content, &node.tag) {
                if let Some(x) = nest.get_mut(*i as usize) {
                    *x = t.starts_with("tag:stsci.edu:asdf/core/");
                }
            }
        }
        Level {
            nest,
            text,
            plan: tree_plan,
            line_offset,
            depths: (0..n as u32)
                .map(|i| doc.lazy_depth.get(&i).copied().unwrap_or(0))
                .collect(),
            refs: (0..n).map(|_| PyOnceLock::new()).collect(),
            inherited,
        }
    }

    fn text<'a>(&'a self, shared: &'a Shared) -> &'a [u8] {
        self.text.as_deref().unwrap_or_else(|| shared.yaml())
    }
}

impl Shared {
    fn err(&self, e: Error) -> PyErr {
        if self.path.is_empty() {
            e.into()
        } else {
            e.with_path(Path::new(&self.path)).into()
        }
    }

    fn yaml(&self) -> &[u8] {
        match &self.layout.yaml {
            Some(r) => &self.src.bytes()[r.clone()],
            None => &[],
        }
    }

    fn block_meta(&self, i: isize) -> PyResult<(usize, &Block)> {
        let n = self.layout.blocks.len() as isize;
        let j = if i < 0 { i + n } else { i };
        if j < 0 || j >= n {
            return Err(PyIndexError::new_err(format!(
                "block index {i} out of range ({n} blocks)"
            )));
        }
        Ok((j as usize, &self.layout.blocks[j as usize]))
    }

    /// Block `i` as a read-only uint8 array (cached; uncompressed blocks are views).
    fn block<'py>(&self, py: Python<'py>, i: isize) -> PyResult<Bound<'py, PyAny>> {
        let (j, b) = self.block_meta(i)?;
        let arr = self.blocks[j].get_or_try_init(py, || -> PyResult<Py<PyAny>> {
            let buf = self.src.bytes();
            if b.compression == block::Compression::None {
                py.detach(|| block::verify(buf, b))
                    .map_err(|e| self.err(e))?;
                let (owner, base) = self.src.owner(py)?;
                let np = py.import("numpy")?;
                let kw = PyDict::new(py);
                kw.set_item("dtype", np.getattr("uint8")?)?;
                kw.set_item("count", b.data_len)?;
                kw.set_item("offset", base + b.data_start)?;
                let a = np.getattr("frombuffer")?.call((owner,), Some(&kw))?;
                a.getattr("setflags")?
                    .call((), Some(&[("write", false)].into_py_dict(py)?))?;
                return Ok(a.unbind());
            }
            let data = py
                .detach(|| block::decode(buf, b).map(|c| c.into_owned()))
                .map_err(|e| self.err(e))?;
            let a = PyArray1::from_vec(py, data);
            a.getattr("setflags")?
                .call((), Some(&[("write", false)].into_py_dict(py)?))?;
            Ok(a.into_any().unbind())
        })?;
        Ok(arr.bind(py).clone())
    }
}

use pyo3::types::IntoPyDict;

/// Where an anchor aliased from another deferred region lives.
enum Export {
    Obj(Py<PyAny>),
    /// In a region nested inside this one, not loaded until asked for.
    Sub(Arc<Level>, u32),
}

/// A parsed tagged value, plus the anchors other deferred regions alias.
struct Loaded {
    value: Py<PyAny>,
    exports: Vec<(String, Export)>,
}

/// A node with an explicit tag other than ndarray (or a YAML core tag).
#[pyclass(frozen, weakref, module = "jwstio._core")]
pub struct Tagged {
    tag: String,
    loaded: PyOnceLock<Loaded>,
    /// Deferred subtree: (document, level, region index).
    lazy: Option<(Arc<Shared>, Arc<Level>, u32)>,
}

/// Parse and convert deferred region `idx` of `level`.
fn load_region(
    py: Python<'_>,
    shared: &Arc<Shared>,
    level: &Arc<Level>,
    idx: u32,
) -> PyResult<Loaded> {
    let bad = |m: String| shared.err(Error::asdf(m));
    let plan = level
        .plan
        .as_ref()
        .ok_or_else(|| bad("lazy node without plan".into()))?;
    let region = plan
        .regions
        .get(idx as usize)
        .ok_or_else(|| bad(format!("no lazy region {idx}")))?;
    let depth = level.depths.get(idx as usize).copied().unwrap_or(0);
    let cx = Context {
        line_offset: level.line_offset,
        ..Context::default()
    };
    let (rtext, off, tree) = py
        .detach(|| {
            let nested = level.nest.get(idx as usize).copied().unwrap_or(false);
            parse_region(level.text(shared), plan, idx, depth, nested, cx)
        })
        .map_err(|e| shared.err(e))?;
    // Where each alias this region imports is anchored.
    let mut inherited = Vec::with_capacity(region.imports.len());
    for (name, from) in &region.imports {
        if *from == INHERITED {
            let (_, l, r) = level
                .inherited
                .iter()
                .find(|(n, _, _)| n == name)
                .ok_or_else(|| bad(format!("alias '{name}' not imported")))?;
            inherited.push((name.clone(), l.clone(), *r));
        } else {
            inherited.push((name.clone(), level.clone(), *from));
        }
    }
    let sub = Arc::new(Level::new(
        Some(rtext),
        tree.plan,
        &tree.doc,
        off,
        inherited,
    ));
    let resolve = |name: &str| -> PyResult<Py<PyAny>> {
        let (_, l, r) = sub
            .inherited
            .iter()
            .find(|(n, _, _)| n == name)
            .ok_or_else(|| bad(format!("alias '{name}' not imported")))?;
        region_export(py, shared, l, *r, name)
    };
    let conv = convert(py, &tree.doc, shared, &sub, true, &resolve)?;
    let mut exports = Vec::with_capacity(region.exports.len());
    for name in &region.exports {
        let here = match tree.doc.anchors.get(name) {
            Some(&id) => Some(conv.need(py, id)?),
            None => None,
        };
        let export = match here {
            Some(obj) => Export::Obj(obj.unbind()),
            None => {
                let nested = sub
                    .plan
                    .as_ref()
                    .and_then(|p| p.regions.iter().position(|r| r.exports.contains(name)));
                let s = nested
                    .ok_or_else(|| bad(format!("anchor '{name}' not found in its region")))?;
                Export::Sub(sub.clone(), s as u32)
            }
        };
        exports.push((name.clone(), export));
    }
    Ok(Loaded {
        value: conv.root.unbind(),
        exports,
    })
}

/// The object anchored as `name` in deferred region `idx` of `level`: from its live Tagged
/// (loading it if needed, so aliases share the object as in an eager parse) or a fresh parse.
fn region_export(
    py: Python<'_>,
    shared: &Arc<Shared>,
    level: &Arc<Level>,
    idx: u32,
    name: &str,
) -> PyResult<Py<PyAny>> {
    let live = level
        .refs
        .get(idx as usize)
        .and_then(|r| r.get(py))
        .and_then(|w| w.bind(py).upgrade());
    let fresh;
    let loaded = match live.as_ref().and_then(|o| o.cast::<Tagged>().ok()) {
        Some(t) => t.get().load(py)?,
        None => {
            fresh = load_region(py, shared, level, idx)?;
            &fresh
        }
    };
    match loaded
        .exports
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, e)| e)
    {
        Some(Export::Obj(o)) => Ok(o.clone_ref(py)),
        Some(Export::Sub(l, s)) => region_export(py, shared, l, *s, name),
        None => Err(shared.err(Error::asdf(format!(
            "anchor '{name}' not exported by region {idx}"
        )))),
    }
}

impl Tagged {
    /// The tag URI.
    pub(crate) fn tag_uri(&self) -> &str {
        &self.tag
    }

    /// The parsed value, parsing a deferred subtree now if needed.
    pub(crate) fn value_of<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.load(py)?.value.bind(py).clone())
    }

    /// The source text of a deferred subtree not parsed yet: (tag token, body lines). None
    /// when parsed, or when the body shares anchors with other regions (it cannot be copied
    /// alone).
    pub(crate) fn source_text(&self, py: Python<'_>) -> Option<(String, Vec<u8>)> {
        if self.loaded.get(py).is_some() {
            return None;
        }
        let (shared, level, idx) = self.lazy.as_ref()?;
        let region = level.plan.as_ref()?.regions.get(*idx as usize)?;
        if !region.imports.is_empty() || !region.exports.is_empty() {
            return None;
        }
        let text = level.text(shared);
        let tag = std::str::from_utf8(text.get(region.tag.clone())?)
            .ok()?
            .to_string();
        Some((tag, text.get(region.body.clone())?.to_vec()))
    }

    fn load<'a>(&'a self, py: Python<'_>) -> PyResult<&'a Loaded> {
        self.loaded.get_or_try_init(py, || match &self.lazy {
            Some((shared, level, idx)) => load_region(py, shared, level, *idx),
            None => Err(Error::asdf("tagged node has no value").into()),
        })
    }
}

#[pymethods]
impl Tagged {
    /// The full tag URI (after %TAG expansion).
    #[getter]
    fn tag(&self) -> &str {
        &self.tag
    }

    /// The inner value: dict, list or str (parsed on first access for deferred subtrees).
    #[getter]
    fn value<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.load(py)?.value.bind(py).clone())
    }

    /// False while a deferred subtree has not been parsed yet.
    #[getter]
    fn loaded(&self, py: Python<'_>) -> bool {
        self.loaded.get(py).is_some()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        match self.loaded.get(py) {
            Some(l) => Ok(format!(
                "Tagged({:?}, {})",
                self.tag,
                l.value.bind(py).repr()?
            )),
            None => Ok(format!("Tagged({:?}, <not parsed yet>)", self.tag)),
        }
    }

    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(o) = other.cast::<Tagged>() else {
            return Ok(false);
        };
        let o = o.get();
        Ok(self.tag == o.tag
            && self
                .load(py)?
                .value
                .bind(py)
                .eq(o.load(py)?.value.bind(py))?)
    }
}

/// An asdf ndarray node (`tag:stsci.edu:asdf/core/ndarray-*`).
#[pyclass(frozen, module = "jwstio._core")]
pub struct NDArrayNode {
    tag: String,
    node: Py<PyAny>,
}

impl NDArrayNode {
    pub(crate) fn tag_uri(&self) -> &str {
        &self.tag
    }

    pub(crate) fn node_of<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        self.node.bind(py).clone()
    }

    fn field<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Bound<'py, PyAny>> {
        let n = self.node.bind(py);
        match n.cast::<PyDict>() {
            Ok(d) => Ok(d.get_item(key)?.unwrap_or_else(|| py.None().into_bound(py))),
            Err(_) if key == "data" => Ok(n.clone()),
            Err(_) => Ok(py.None().into_bound(py)),
        }
    }
}

#[pymethods]
impl NDArrayNode {
    #[getter]
    fn tag(&self) -> &str {
        &self.tag
    }
    /// Block index (int), external source such as 'fits:SCI,1' (str), or None (inline).
    #[getter]
    fn source<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.field(py, "source")
    }
    /// Shape list (may start with '*'), or None.
    #[getter]
    fn shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.field(py, "shape")
    }
    #[getter]
    fn datatype<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.field(py, "datatype")
    }
    #[getter]
    fn byteorder<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.field(py, "byteorder")
    }
    #[getter]
    fn offset<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.field(py, "offset")
    }
    #[getter]
    fn strides<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.field(py, "strides")
    }
    /// Inline data (list), or None.
    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.field(py, "data")
    }
    /// The whole node: its mapping as a dict (or the list, for a bare inline list).
    #[getter]
    fn node<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        self.node.bind(py).clone()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "NDArrayNode({:?}, {})",
            self.tag,
            self.node.bind(py).repr()?
        ))
    }

    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(o) = other.cast::<NDArrayNode>() else {
            return Ok(false);
        };
        let o = o.get();
        Ok(self.tag == o.tag && self.node.bind(py).eq(o.node.bind(py))?)
    }
}

static HELPERS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// Inline-array and mask rules ported from asdf (tags/core/ndarray.py); NumPy only.
const HELPERS_SRC: &std::ffi::CStr = cr#"
import re

import numpy as np
from numpy import ma

def _inline_data_asarray(inline, dtype=None):
    if dtype is not None and dtype.fields is not None:
        def is_empty(arr):
            if isinstance(arr, list):
                return all(is_empty(x) for x in arr)
            return False

        def find_innermost_match(line, depth=0):
            if not isinstance(line, list) or not len(line):
                raise ValueError("data can not be converted to structured array")
            try:
                np.asarray(tuple(line), dtype=dtype)
            except ValueError:
                return find_innermost_match(line[0], depth + 1)
            else:
                return depth

        def convert_to_tuples(line, data_depth, depth=0):
            if data_depth == depth:
                return tuple(line)
            return [convert_to_tuples(x, data_depth, depth + 1) for x in line]

        if not is_empty(inline):
            depth = find_innermost_match(inline)
            inline = convert_to_tuples(inline, depth)
        return np.asarray(inline, dtype=dtype)

    def handle_mask(inline):
        if isinstance(inline, list):
            if None in inline:
                inline_array = np.asarray(inline)
                nones = np.equal(inline_array, None)
                return np.ma.array(np.where(nones, 0, inline), mask=nones)
            return [handle_mask(x) for x in inline]
        return inline

    inline = handle_mask(inline)
    inline = np.ma.asarray(inline, dtype=dtype)
    if not ma.is_masked(inline):
        return inline.data
    return inline

def apply_mask(array, mask):
    if isinstance(mask, np.ndarray):
        return ma.array(array, mask=mask.view())
    if np.isscalar(mask):
        if np.isnan(mask):
            return ma.array(array, mask=np.isnan(array))
        return ma.masked_values(array, mask)
    return array

_COMPLEX_TAG = "tag:stsci.edu:asdf/core/complex-1.0.0"
_COMPLEX_FIX = {re.compile("i(?!nf)"): "j", re.compile("I(?!NF)"): "J"}

def _decode(x):
    # asdf converts tagged scalars before building inline arrays; only complex can occur.
    if isinstance(x, list):
        return [_decode(v) for v in x]
    if getattr(x, "tag", None) == _COMPLEX_TAG:
        node = x.value
        for pattern, replacement in _COMPLEX_FIX.items():
            node = pattern.sub(replacement, node)
        return complex(node)
    return x

def inline_array(source, shape, dtype, mask):
    array = _inline_data_asarray(_decode(source), dtype)
    array = apply_mask(array, mask)
    if shape is not None and not any(isinstance(s, str) for s in shape):
        if array.size == 0 and np.prod(shape) == 0:
            array = array.reshape(shape)
    if shape is not None and (
        array.shape != tuple(shape) or (len(shape) and shape[0] == "*" and array.shape[1:] != tuple(shape[1:]))
    ):
        raise ValueError("inline data doesn't match the given shape")
    return array
"#;

fn helpers(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    Ok(HELPERS
        .get_or_try_init(py, || -> PyResult<_> {
            Ok(PyModule::from_code(
                py,
                HELPERS_SRC,
                c"jwstio_asdf_helpers.py",
                c"jwstio._asdf_helpers",
            )?
            .unbind())
        })?
        .bind(py))
}

fn descr_to_py<'py>(py: Python<'py>, d: &Descr) -> PyResult<Bound<'py, PyAny>> {
    match d {
        Descr::Simple(s) => Ok(PyString::new(py, s).into_any()),
        Descr::Fields(fields) => {
            let items = PyList::empty(py);
            for (name, sub, shape) in fields {
                let sub = descr_to_py(py, sub)?;
                match shape {
                    None => items.append((name, sub))?,
                    Some(sh) => items.append((name, sub, PyTuple::new(py, sh)?))?,
                }
            }
            Ok(items.into_any())
        }
    }
}

fn dtype<'py>(py: Python<'py>, d: &Descr) -> PyResult<Bound<'py, PyAny>> {
    py.import("numpy")?
        .getattr("dtype")?
        .call1((descr_to_py(py, d)?,))
}

/// The Python objects of a composed document: each node's object, or the error raised when
/// the node is constructed (as in PyYAML, only nodes something uses are constructed, so an
/// error counts only when the node is needed).
struct Converted<'py> {
    root: Bound<'py, PyAny>,
    root_tag: Option<String>,
    objs: Vec<Option<Bound<'py, PyAny>>>,
    errs: Vec<Option<PyErr>>,
}

fn need<'py>(
    py: Python<'py>,
    objs: &[Option<Bound<'py, PyAny>>],
    errs: &[Option<PyErr>],
    id: NodeId,
) -> PyResult<Bound<'py, PyAny>> {
    match (&objs[id as usize], &errs[id as usize]) {
        (Some(o), _) => Ok(o.clone()),
        (None, Some(e)) => Err(e.clone_ref(py)),
        // `order` puts every child before its parent.
        (None, None) => {
            Err(Error::asdf(format!("internal: node {id} used before it was built")).into())
        }
    }
}

impl<'py> Converted<'py> {
    fn need(&self, py: Python<'py>, id: NodeId) -> PyResult<Bound<'py, PyAny>> {
        need(py, &self.objs, &self.errs, id)
    }
}

/// Build Python objects for the nodes of `doc`, children first. The root object is, for
/// `unwrap_root`, a custom-tagged root's inner value. `resolve` gives the objects of imported
/// aliases (`Content::Extern`).
fn convert<'py>(
    py: Python<'py>,
    doc: &Doc,
    shared: &Arc<Shared>,
    level: &Arc<Level>,
    unwrap_root: bool,
    resolve: &dyn Fn(&str) -> PyResult<Py<PyAny>>,
) -> PyResult<Converted<'py>> {
    let n = doc.nodes.len();
    let mut objs: Vec<Option<Bound<'py, PyAny>>> = vec![None; n];
    let mut errs: Vec<Option<PyErr>> = (0..n).map(|_| None).collect();
    let Some(root) = doc.root else {
        return Ok(Converted {
            root: py.None().into_bound(py),
            root_tag: None,
            objs,
            errs,
        });
    };
    let at = |id: NodeId, msg: &str| -> PyErr {
        let n = doc.node(id);
        shared.err(Error::asdf(format!(
            "YAML: {msg} at line {}, column {}",
            i64::from(n.line) + doc.line_offset + 1,
            n.col + 1
        )))
    };
    let key_obj = |objs: &[Option<Bound<'py, PyAny>>],
                   errs: &[Option<PyErr>],
                   k: NodeId|
     -> PyResult<Bound<'py, PyAny>> {
        let node = doc.node(k);
        match (&node.tag, &node.content) {
            (Tag::Custom(t), Content::Scalar(Scalar::Str(s))) if &**t == VALUE_TAG => {
                Ok(PyString::new(py, s).into_any())
            }
            // Lists, dicts and asdf's tagged values are unhashable.
            _ if crate::asdf::yaml::unhashable_key(doc, k) => {
                need(py, objs, errs, k)?;
                Err(at(k, "found unhashable key"))
            }
            _ => need(py, objs, errs, k),
        }
    };
    let mut root_tag = None;
    for &id in &doc.order {
        let node = doc.node(id);
        if let Some(e) = doc.errors.get(&id) {
            errs[id as usize] = Some(shared.err(Error::asdf(e.msg.clone())));
            continue;
        }
        let built = (|| -> PyResult<Bound<'py, PyAny>> {
            let inner: Bound<'py, PyAny> = match &node.content {
                Content::Scalar(s) => scalar(py, s)?,
                Content::Seq(items) => match node.tag {
                    Tag::Pairs => {
                        let out = PyList::empty(py);
                        for &it in items {
                            if let Some(&(k, v)) = doc.pairs(it).first() {
                                out.append((
                                    need(py, &objs, &errs, k)?,
                                    need(py, &objs, &errs, v)?,
                                ))?;
                            }
                        }
                        out.into_any()
                    }
                    Tag::Omap => {
                        let od = py.import("collections")?.getattr("OrderedDict")?.call0()?;
                        for &it in items {
                            if let Some(&(k, v)) = doc.pairs(it).first() {
                                let key = key_obj(&objs, &errs, k)?;
                                od.set_item(key, need(py, &objs, &errs, v)?)
                                    .map_err(|e| at(k, &format!("bad omap key: {e}")))?;
                            }
                        }
                        od
                    }
                    _ => {
                        let mut out = Vec::with_capacity(items.len());
                        for &i in items {
                            out.push(need(py, &objs, &errs, i)?);
                        }
                        PyList::new(py, out)?.into_any()
                    }
                },
                Content::Map(_) => match node.tag {
                    Tag::Set => {
                        let set = PySet::empty(py)?;
                        for &(k, v) in doc.pairs(id) {
                            let key = key_obj(&objs, &errs, k)?;
                            need(py, &objs, &errs, v)?;
                            set.add(key)
                                .map_err(|e| at(k, &format!("bad set item: {e}")))?;
                        }
                        set.into_any()
                    }
                    _ => {
                        let d = PyDict::new(py);
                        for &(k, v) in doc.pairs(id) {
                            let key = key_obj(&objs, &errs, k)?;
                            d.set_item(key, need(py, &objs, &errs, v)?)
                                .map_err(|e| at(k, &format!("bad mapping key: {e}")))?;
                        }
                        d.into_any()
                    }
                },
                Content::Lazy(idx) => {
                    let Tag::Custom(t) = &node.tag else {
                        return Err(at(id, "lazy node without tag"));
                    };
                    let obj = Tagged {
                        tag: t.to_string(),
                        loaded: PyOnceLock::new(),
                        lazy: Some((shared.clone(), level.clone(), *idx)),
                    };
                    let obj = Bound::new(py, obj)?.into_any();
                    if let Some(slot) = level.refs.get(*idx as usize) {
                        let _ = slot.set(py, PyWeakrefReference::new(&obj)?.unbind());
                    }
                    return Ok(obj);
                }
                Content::Extern(k) => {
                    let name = doc.externs.get(*k as usize).map_or("", String::as_str);
                    return Ok(resolve(name)?.into_bound(py));
                }
            };
            Ok(match &node.tag {
                Tag::Custom(t) if unwrap_root && id == root => {
                    root_tag = Some(t.to_string());
                    inner
                }
                Tag::Custom(t) => {
                    let loaded = PyOnceLock::new();
                    let _ = loaded.set(
                        py,
                        Loaded {
                            value: inner.unbind(),
                            exports: Vec::new(),
                        },
                    );
                    Bound::new(
                        py,
                        Tagged {
                            tag: t.to_string(),
                            loaded,
                            lazy: None,
                        },
                    )?
                    .into_any()
                }
                Tag::NdArray(t) => Bound::new(
                    py,
                    NDArrayNode {
                        tag: t.to_string(),
                        node: inner.unbind(),
                    },
                )?
                .into_any(),
                _ => inner,
            })
        })();
        match built {
            Ok(o) => objs[id as usize] = Some(o),
            Err(e) => errs[id as usize] = Some(e),
        }
    }
    let root_obj = need(py, &objs, &errs, root)?;
    Ok(Converted {
        root: root_obj,
        root_tag,
        objs,
        errs,
    })
}

/// An ndarray node's Python value as a small node arena, so `ndarray::spec` reads exactly the
/// dict asdf would read (merges applied, duplicate keys resolved). Inline data is not copied.
fn spec_of(node: &Bound<'_, PyAny>) -> Result<Spec, Error> {
    fn push(doc: &mut Doc, content: Content, tag: Tag) -> NodeId {
        let id = doc.nodes.len() as NodeId;
        doc.nodes.push(Node {
            tag,
            content,
            line: 0,
            col: 0,
        });
        id
    }
    fn build(doc: &mut Doc, obj: &Bound<'_, PyAny>, depth: usize) -> Result<NodeId, Error> {
        if depth > 64 {
            return Err(Error::asdf("ndarray node nested too deeply"));
        }
        let content = if obj.is_none() {
            Content::Scalar(Scalar::Null)
        } else if let Ok(b) = obj.cast::<pyo3::types::PyBool>() {
            Content::Scalar(Scalar::Bool(b.is_true()))
        } else if let Ok(s) = obj.cast::<PyString>() {
            Content::Scalar(Scalar::Str(s.to_string()))
        } else if obj.is_instance_of::<pyo3::types::PyInt>() {
            match obj.extract::<i64>() {
                Ok(i) => Content::Scalar(Scalar::Int(i)),
                Err(_) => Content::Scalar(Scalar::Float(f64::NAN)),
            }
        } else if let Ok(l) = obj.cast::<PyList>() {
            let mut items = Vec::with_capacity(l.len());
            for x in l.iter() {
                items.push(build(doc, &x, depth + 1)?);
            }
            Content::Seq(items)
        } else if let Ok(d) = obj.cast::<PyDict>() {
            let mut pairs = Vec::with_capacity(d.len());
            for (k, v) in d.iter() {
                let kid = build(doc, &k, depth + 1)?;
                // Inline data is only checked for presence.
                let is_data = k
                    .cast::<PyString>()
                    .is_ok_and(|s| s.to_str().is_ok_and(|s| s == "data"));
                let vid = if is_data {
                    push(doc, Content::Scalar(Scalar::Null), Tag::Core)
                } else {
                    build(doc, &v, depth + 1)?
                };
                pairs.push((kid, vid));
            }
            Content::Map(pairs)
        } else {
            // Tagged values, floats, dates...: nothing an ndarray field accepts.
            return Ok(push(
                doc,
                Content::Scalar(Scalar::Null),
                Tag::Custom("?".into()),
            ));
        };
        Ok(push(doc, content, Tag::Core))
    }
    if node.is_instance_of::<PyList>() {
        // A bare inline list: the whole node is the data.
        return Ok(Spec {
            source: None,
            inline: true,
            dtype: None,
            shape: None,
            offset: 0,
            strides: None,
        });
    }
    let mut doc = Doc::default();
    let root = build(&mut doc, node, 0)?;
    doc.root = Some(root);
    ndarray::spec(&doc, root)
}

pub fn scalar<'py>(py: Python<'py>, s: &Scalar) -> PyResult<Bound<'py, PyAny>> {
    Ok(match s {
        Scalar::Null => py.None().into_bound(py),
        Scalar::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Scalar::Int(i) => i.into_pyobject(py)?.into_any(),
        Scalar::BigInt { neg, radix, digits } => {
            let v = py
                .get_type::<pyo3::types::PyInt>()
                .call1((digits.as_str(), *radix))?;
            if *neg {
                v.neg()?
            } else {
                v
            }
        }
        Scalar::Float(f) => f.into_pyobject(py)?.into_any(),
        Scalar::Str(s) => PyString::new(py, s).into_any(),
        Scalar::Bytes(b) => PyBytes::new(py, b).into_any(),
        Scalar::Date { year, month, day } => {
            PyDate::new(py, i32::from(*year), *month, *day)?.into_any()
        }
        Scalar::DateTime(t) => {
            let tz = match t.tz_minutes {
                None => None,
                Some(m) => Some(PyTzInfo::fixed_offset(
                    py,
                    PyDelta::new(py, 0, m * 60, 0, true)?,
                )?),
            };
            PyDateTime::new(
                py,
                i32::from(t.year),
                t.month,
                t.day,
                t.hour,
                t.minute,
                t.second,
                t.micro,
                tz.as_ref(),
            )?
            .into_any()
        }
    })
}

/// A decoded ASDF file: its tree as Python objects, its blocks and arrays.
#[pyclass(frozen, module = "jwstio._core")]
pub struct AsdfDoc {
    shared: Arc<Shared>,
    /// The top-level YAML text and its deferred regions.
    level: Arc<Level>,
    tree: Py<PyAny>,
    root_tag: Option<String>,
}

#[pymethods]
impl AsdfDoc {
    /// Decode an ASDF file held in `buf` (bytes, memoryview, uint8 array, FitsFile.buffer()).
    /// `lazy`: defer big tagged subtrees (e.g. a gwcs WCS) until their `.value` is read.
    #[new]
    #[pyo3(signature = (buf, path="", lazy=true))]
    fn new(py: Python<'_>, buf: &Bound<'_, PyAny>, path: &str, lazy: bool) -> PyResult<Self> {
        let src = Source::from_py(buf)?;
        let with_path = |e: Error| -> PyErr {
            if path.is_empty() {
                e.into()
            } else {
                e.with_path(Path::new(path)).into()
            }
        };
        let layout = py.detach(|| file::split(src.bytes())).map_err(with_path)?;
        let yaml_range = layout.yaml.clone();
        let blocks = (0..layout.blocks.len())
            .map(|_| PyOnceLock::new())
            .collect();
        let shared = Arc::new(Shared {
            src,
            path: path.to_string(),
            layout,
            blocks,
        });
        let Some(yr) = yaml_range else {
            let level = Arc::new(Level::new(None, None, &Doc::default(), 0, Vec::new()));
            return Ok(AsdfDoc {
                shared,
                level,
                tree: py.None(),
                root_tag: None,
            });
        };
        let tree = py
            .detach(|| parse_tree(&shared.src.bytes()[yr], lazy))
            .map_err(with_path)?;
        let deferred = tree.plan.is_some();
        let level = Arc::new(Level::new(None, tree.plan, &tree.doc, 0, Vec::new()));
        let no_imports = |name: &str| -> PyResult<Py<PyAny>> {
            Err(Error::asdf(format!("undefined alias '{name}'")).into())
        };
        match convert(py, &tree.doc, &shared, &level, true, &no_imports) {
            Ok(Converted {
                root: obj,
                root_tag,
                ..
            }) => Ok(AsdfDoc {
                shared,
                level,
                tree: obj.unbind(),
                root_tag,
            }),
            Err(e) if deferred => {
                // Positions in the deferred text are off: report the error of a full parse.
                let full = py
                    .detach(|| parse_tree(shared.yaml(), false))
                    .map_err(with_path)?;
                let flat = Arc::new(Level::new(None, None, &full.doc, 0, Vec::new()));
                convert(py, &full.doc, &shared, &flat, true, &no_imports)?;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// The tree: dict/list/str/int/float/bool/None/datetime/bytes, NDArrayNode for ndarray
    /// nodes, Tagged for other tagged nodes. The root's own tag is in `root_tag`.
    #[getter]
    fn tree<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        self.tree.bind(py).clone()
    }

    /// Tag of the root node (e.g. 'tag:stsci.edu:asdf/core/asdf-1.1.0'), or None.
    #[getter]
    fn root_tag(&self) -> Option<&str> {
        self.root_tag.as_deref()
    }

    /// Version from the '#ASDF x.y.z' line.
    #[getter]
    fn asdf_version(&self) -> &str {
        &self.shared.layout.asdf_version
    }

    /// Version from the '#ASDF_STANDARD x.y.z' comment, or None.
    #[getter]
    fn standard_version(&self) -> Option<&str> {
        self.shared.layout.standard_version.as_deref()
    }

    /// Comment lines between the header and the tree (without '#').
    #[getter]
    fn comments(&self) -> Vec<String> {
        self.shared.layout.comments.clone()
    }

    #[getter]
    fn nblocks(&self) -> usize {
        self.shared.layout.blocks.len()
    }

    /// Number of subtrees deferred until first access.
    #[getter]
    fn nlazy(&self) -> usize {
        self.level.plan.as_ref().map_or(0, |p| p.regions.len())
    }

    /// Offset of the '#ASDF BLOCK INDEX' after the blocks, or None.
    #[getter]
    fn index_offset(&self) -> Option<usize> {
        self.shared.layout.index_offset
    }

    /// The raw YAML stream ('%YAML' through '...'), as bytes.
    fn yaml_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.shared.yaml())
    }

    /// Header fields of block `i` as a dict.
    fn block_info<'py>(&self, py: Python<'py>, i: isize) -> PyResult<Bound<'py, PyDict>> {
        let (_, b) = self.shared.block_meta(i)?;
        let d = PyDict::new(py);
        d.set_item("offset", b.offset)?;
        d.set_item("header_size", b.header_size)?;
        d.set_item("flags", b.flags)?;
        d.set_item("compression", b.compression.label())?;
        d.set_item("allocated_size", b.allocated_size)?;
        d.set_item("used_size", b.used_size)?;
        d.set_item("data_size", b.data_size)?;
        d.set_item("checksum", PyBytes::new(py, &b.checksum))?;
        d.set_item("data_start", b.data_start)?;
        d.set_item("data_len", b.data_len)?;
        Ok(d)
    }

    /// Data of block `i` (checksum-verified, decompressed) as a read-only uint8 array.
    fn block<'py>(&self, py: Python<'py>, i: isize) -> PyResult<Bound<'py, PyAny>> {
        self.shared.block(py, i)
    }

    /// The array of an ndarray node with a block source or inline data. External sources
    /// ('fits:...') raise AsdfError: resolve them against the FITS file.
    fn array<'py>(
        &self,
        py: Python<'py>,
        node: &Bound<'py, NDArrayNode>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let n = node.get();
        let spec = spec_of(n.node.bind(py)).map_err(|e| self.shared.err(e))?;
        let spec = &spec;
        let mask = match n.field(py, "mask")? {
            m if m.is_none() => m,
            m => match m.cast::<NDArrayNode>() {
                Ok(mn) => self.array(py, mn)?,
                Err(_) => m,
            },
        };
        let dt = match &spec.dtype {
            Some(d) => dtype(py, d)?,
            None => py.None().into_bound(py),
        };
        let h = helpers(py)?;
        if spec.inline {
            let shape = n.field(py, "shape")?;
            return h
                .getattr("inline_array")?
                .call1((n.field(py, "data")?, shape, dt, mask))
                .map_err(|e| self.shared.err(Error::asdf(format!("inline ndarray: {e}"))));
        }
        let i = match &spec.source {
            Some(NdSource::Block(i)) => *i,
            Some(NdSource::Uri(u)) => {
                return Err(self.shared.err(Error::asdf(format!(
                    "ndarray source '{u}' is external; resolve it against the FITS file"
                ))))
            }
            None => return Err(self.shared.err(Error::asdf("ndarray has no source"))),
        };
        let j = ndarray::block_index(i, self.shared.layout.blocks.len())
            .map_err(|e| self.shared.err(e))?;
        let blk = self.shared.block(py, j as isize)?;
        let block_len = self.shared.layout.blocks[j].decoded_len() as u64;
        let itemsize = match &spec.dtype {
            Some(d) => d.itemsize().map_err(|e| self.shared.err(e))?,
            None => 8,
        };
        let shape =
            ndarray::actual_shape(spec, itemsize, block_len).map_err(|e| self.shared.err(e))?;
        ndarray::check_extent(
            &shape,
            spec.strides.as_deref(),
            spec.offset,
            itemsize,
            block_len,
        )
        .map_err(|e| self.shared.err(e))?;
        let kw = PyDict::new(py);
        kw.set_item("shape", PyTuple::new(py, &shape)?)?;
        kw.set_item("dtype", dt)?;
        kw.set_item("buffer", blk)?;
        kw.set_item("offset", spec.offset)?;
        if let Some(st) = &spec.strides {
            kw.set_item("strides", PyTuple::new(py, st)?)?;
        }
        let arr = py
            .import("numpy")?
            .getattr("ndarray")?
            .call((), Some(&kw))
            .map_err(|e| self.shared.err(Error::asdf(format!("ndarray: {e}"))))?;
        if mask.is_none() {
            return Ok(arr);
        }
        h.getattr("apply_mask")?
            .call1((arr, mask))
            .map_err(|e| self.shared.err(Error::asdf(format!("ndarray mask: {e}"))))
    }

    fn __repr__(&self) -> String {
        format!(
            "AsdfDoc(asdf {}, standard {}, {} blocks, {} deferred subtrees{})",
            self.shared.layout.asdf_version,
            self.shared
                .layout
                .standard_version
                .as_deref()
                .unwrap_or("?"),
            self.shared.layout.blocks.len(),
            self.level.plan.as_ref().map_or(0, |p| p.regions.len()),
            if self.shared.path.is_empty() {
                String::new()
            } else {
                format!(", {}", self.shared.path)
            }
        )
    }
}
