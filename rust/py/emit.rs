//! `emit_asdf`: a Python tree written as ASDF YAML by [`crate::asdf::emit`].

use super::asdf::{NDArrayNode, Tagged};
use crate::asdf::emit::{self, Value};
use crate::error::Error;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<EmitTag>()?;
    m.add_function(wrap_pyfunction!(emit_asdf, m)?)?;
    Ok(())
}

/// A node to write with an explicit tag (full URI).
#[pyclass(frozen, module = "jwstio._core")]
pub struct EmitTag {
    tag: String,
    value: Py<PyAny>,
}

#[pymethods]
impl EmitTag {
    #[new]
    fn new(tag: String, value: Py<PyAny>) -> Self {
        EmitTag { tag, value }
    }
    #[getter]
    fn tag(&self) -> &str {
        &self.tag
    }
    #[getter]
    fn value(&self, py: Python<'_>) -> Py<PyAny> {
        self.value.clone_ref(py)
    }
}

const MAX_DEPTH: usize = 500;

fn bad(msg: String) -> PyErr {
    Error::asdf(msg).into()
}

fn convert(obj: &Bound<'_, PyAny>, depth: usize, where_: &mut Vec<String>) -> PyResult<Value> {
    if depth > MAX_DEPTH {
        return Err(bad(format!(
            "{}: tree nested deeper than {MAX_DEPTH}",
            where_.join(".")
        )));
    }
    let py = obj.py();
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        return Ok(Value::Int(obj.str()?.to_str()?.to_string()));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Ok(Value::Float(f.value()));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::Str(s.to_str()?.to_string()));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let ordered = obj.get_type().name()?.to_str()? == "OrderedDict";
        let mut pairs = Vec::with_capacity(d.len());
        for (k, v) in d.iter() {
            let key = convert(&k, depth + 1, where_)?;
            where_.push(k.str()?.to_string());
            let val = convert(&v, depth + 1, where_)?;
            where_.pop();
            pairs.push((key, val));
        }
        return Ok(if ordered {
            Value::Omap(pairs)
        } else {
            Value::Map(pairs)
        });
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let mut items = Vec::new();
        for (i, v) in obj.try_iter()?.enumerate() {
            where_.push(i.to_string());
            items.push(convert(&v?, depth + 1, where_)?);
            where_.pop();
        }
        return Ok(Value::Seq(items));
    }
    if let Ok(t) = obj.cast::<EmitTag>() {
        let t = t.get();
        let inner = convert(t.value.bind(py), depth + 1, where_)?;
        return Ok(Value::Tagged(t.tag.clone(), Box::new(inner)));
    }
    if let Ok(t) = obj.cast::<Tagged>() {
        let t = t.get();
        if let Some((tag, body)) = t.source_text(py) {
            if memchr::memmem::find(&body, b"source: -").is_some() {
                return Err(bad(format!(
                    "{}: an array in a block counted from the end of the source file",
                    where_.join(".")
                )));
            }
            return Ok(Value::Raw { tag, body });
        }
        let inner = convert(&t.value_of(py)?, depth + 1, where_)?;
        return Ok(Value::Tagged(t.tag_uri().to_string(), Box::new(inner)));
    }
    if let Ok(n) = obj.cast::<NDArrayNode>() {
        let n = n.get();
        let node = n.node_of(py);
        if let Ok(d) = node.cast::<PyDict>() {
            if let Some(src) = d.get_item("source")? {
                if src.is_instance_of::<PyInt>() && src.extract::<i64>().map_or(true, |i| i < 0) {
                    return Err(bad(format!(
                        "{}: an array in a block counted from the end of the source file",
                        where_.join(".")
                    )));
                }
            }
        }
        let inner = convert(&node, depth + 1, where_)?;
        return Ok(Value::Tagged(n.tag_uri().to_string(), Box::new(inner)));
    }
    // NumPy scalars other than float64 / str_ (which are float / str subclasses).
    if let Ok(dt) = obj.getattr("dtype") {
        if obj.getattr("ndim").and_then(|n| n.extract::<usize>()).ok() == Some(0) {
            let kind: String = dt.getattr("kind")?.extract()?;
            match kind.as_str() {
                "b" => return Ok(Value::Bool(obj.is_truthy()?)),
                "i" | "u" => {
                    return Ok(Value::Int(obj.call_method0("__int__")?.str()?.to_string()))
                }
                "f" => return Ok(Value::Float(obj.call_method0("__float__")?.extract()?)),
                "U" => return Ok(Value::Str(obj.str()?.to_string())),
                _ => {}
            }
        }
    }
    Err(bad(format!(
        "{}: cannot write a {} in the ASDF tree",
        where_.join("."),
        obj.get_type().name()?
    )))
}

/// The ASDF file text (through the `...` end marker) of `tree`: dicts (OrderedDict as
/// `!!omap`), lists, str, int, float, bool, None, NumPy scalars, `EmitTag` nodes and the
/// reader's `Tagged` / `NDArrayNode` (a deferred subtree not parsed yet is copied as read; block
/// sources are kept, so the caller writes the source file's blocks first, in their order).
#[pyfunction]
fn emit_asdf<'py>(
    py: Python<'py>,
    tree: &Bound<'py, PyDict>,
    asdf_version: &str,
    standard: &str,
    root_tag: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut where_ = Vec::new();
    let value = convert(tree.as_any(), 0, &mut where_)?;
    let text = py
        .detach(|| emit::document(&value, asdf_version, standard, root_tag))
        .map_err(|e| bad(e.0))?;
    Ok(PyBytes::new(py, &text))
}
