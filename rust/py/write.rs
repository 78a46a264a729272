//! `_core.format_header` (cards to a header block) and `_core.write_fits` (HDUs to a file,
//! atomically, with the GIL released while data is encoded and written).

use crate::atomic;
use crate::error::Error;
use crate::fits::format::{self, Value};
use crate::fits::write::{self, Field, HduOut, Op, Segment};
use numpy::{PyReadonlyArray1, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyComplex, PyFloat, PyInt, PyList, PyString, PyTuple};
use std::path::PathBuf;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(format_header, m)?)?;
    m.add_function(wrap_pyfunction!(write_fits, m)?)?;
    Ok(())
}

fn bad(msg: String) -> PyErr {
    Error::format(msg).into()
}

/// A Python card value as the formatter's Value (numpy scalars are mapped by the caller:
/// `("real", text)` floats other than float64 as their `str()`, `("complex", re, im)` complex
/// other than complex128 as the `str()` of the parts).
fn to_value(v: &Bound<'_, PyAny>) -> PyResult<Value> {
    if v.is_none() {
        return Ok(Value::Undefined);
    }
    if let Ok(s) = v.cast::<PyString>() {
        return Ok(Value::Str(s.to_str()?.to_owned()));
    }
    if let Ok(b) = v.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if v.is_instance_of::<PyInt>() {
        return Ok(Value::Int(v.str()?.to_str()?.to_owned()));
    }
    if let Ok(f) = v.cast::<PyFloat>() {
        return Ok(Value::Float(f.value()));
    }
    if let Ok(c) = v.cast::<PyComplex>() {
        return Ok(Value::Complex(c.real(), c.imag()));
    }
    if let Ok(t) = v.cast::<PyTuple>() {
        let tag: String = t.get_item(0)?.extract()?;
        return match (tag.as_str(), t.len()) {
            ("real", 2) => Ok(Value::Real(t.get_item(1)?.extract()?)),
            ("complex", 3) => Ok(Value::ComplexReal(
                t.get_item(1)?.extract()?,
                t.get_item(2)?.extract()?,
            )),
            _ => Err(bad(format!("Illegal value: {}", v.repr()?))),
        };
    }
    Err(bad(format!("Illegal value: {}", v.repr()?)))
}

/// Header block bytes (cards, END, blank padding) from `(keyword, value, comment)` tuples.
/// Errors name the keyword.
#[pyfunction]
fn format_header<'py>(
    py: Python<'py>,
    cards: &Bound<'py, PyList>,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut out = Vec::with_capacity((cards.len() + 1) * format::CARD_LEN);
    for card in cards.iter() {
        let t = card.cast::<PyTuple>()?;
        let key_obj = t.get_item(0)?;
        let key = key_obj.cast::<PyString>()?.to_str()?;
        let comment_obj = t.get_item(2)?;
        let comment = comment_obj.cast::<PyString>()?.to_str()?;
        let raw = t.get_item(1)?;
        if let Some(image) = card_image(&raw)? {
            let image = image.as_bytes();
            let ok = !image.is_empty()
                && image.len() % format::CARD_LEN == 0
                && image.iter().all(|b| (0x20..=0x7e).contains(b));
            if !ok {
                return Err(bad(format!(
                    "keyword '{key}': the card image is not 80-character ASCII cards"
                )));
            }
            out.extend_from_slice(image);
            continue;
        }
        let value = to_value(&raw).map_err(|e| bad(format!("keyword '{key}': {}", e.value(py))))?;
        format::format_card(key, &value, comment, &mut out)
            .map_err(|e| bad(format!("keyword '{key}': {}", e.msg)))?;
    }
    let block = write::header_block(&out)?;
    Ok(PyBytes::new(py, &block))
}

/// `("image", bytes)`: a card image kept as read (cards astropy cannot parse).
fn card_image<'py>(v: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyBytes>>> {
    if let Ok(t) = v.cast::<PyTuple>() {
        if t.len() == 2
            && t.get_item(0)?
                .extract::<String>()
                .is_ok_and(|s| s == "image")
        {
            return Ok(Some(t.get_item(1)?.cast_into::<PyBytes>()?));
        }
    }
    Ok(None)
}

fn op_code(c: u8) -> PyResult<Op> {
    Ok(match c {
        0 => Op::Copy,
        1 => Op::ToBe,
        2 => Op::Flip,
        3 => Op::ToBeFlip,
        4 => Op::Logical,
        _ => return Err(bad(format!("unknown field operation {c}"))),
    })
}

/// One segment as given: `(bytes_u8,)` or `(bytes_u8, rowlen, [(offset, width, count, op)])`.
struct SegIn<'py> {
    data: PyReadonlyArray1<'py, u8>,
    rows: Option<(usize, Vec<Field>)>,
}

/// Write HDUs `[(header_block, [segment, ...]), ...]` to `path` atomically (see
/// `jwstio.fits.write`). Segments' arrays must be contiguous uint8.
#[pyfunction]
#[pyo3(signature = (path, hdus, overwrite=false, checksum=false))]
fn write_fits(
    py: Python<'_>,
    path: PathBuf,
    hdus: &Bound<'_, PyList>,
    overwrite: bool,
    checksum: bool,
) -> PyResult<()> {
    let mut inputs: Vec<(Vec<u8>, Vec<SegIn<'_>>)> = Vec::with_capacity(hdus.len());
    for h in hdus.iter() {
        let t = h.cast::<PyTuple>()?;
        let header = t.get_item(0)?.cast::<PyBytes>()?.as_bytes().to_vec();
        let mut segs = Vec::new();
        for s in t.get_item(1)?.cast::<PyList>()?.iter() {
            let st = s.cast::<PyTuple>()?;
            let data: PyReadonlyArray1<'_, u8> = st.get_item(0)?.extract()?;
            if !data.is_contiguous() {
                return Err(bad("write_fits: segment data must be contiguous".into()));
            }
            let rows = if st.len() == 3 {
                let rowlen: usize = st.get_item(1)?.extract()?;
                let mut fields = Vec::new();
                for f in st.get_item(2)?.cast::<PyList>()?.iter() {
                    let (offset, width, count, op): (usize, usize, usize, u8) = f.extract()?;
                    fields.push(Field {
                        offset,
                        width,
                        count,
                        op: op_code(op)?,
                    });
                }
                Some((rowlen, fields))
            } else {
                None
            };
            segs.push(SegIn { data, rows });
        }
        inputs.push((header, segs));
    }
    let mut out: Vec<HduOut<'_>> = Vec::with_capacity(inputs.len());
    for (header, segs) in inputs.iter_mut() {
        let mut segments = Vec::with_capacity(segs.len());
        for s in segs {
            let bytes = s
                .data
                .as_slice()
                .map_err(|e| bad(format!("write_fits: {e}")))?;
            segments.push(match &s.rows {
                None => Segment::Raw(bytes),
                Some((rowlen, fields)) => Segment::Rows {
                    data: bytes,
                    rowlen: *rowlen,
                    fields: fields.clone(),
                },
            });
        }
        out.push(HduOut {
            header: std::mem::take(header),
            segments,
        });
    }
    write::check(&out).map_err(|e| e.with_path(&path))?;
    py.detach(|| {
        atomic::write_atomic(&path, overwrite, |f| {
            write::write_hdus(f, &mut out, checksum)
        })
    })?;
    Ok(())
}
