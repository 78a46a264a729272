//! `_core.FitsFile`: a memory-mapped FITS file with its HDU index, header cards and image
//! conversion to native NumPy arrays.

use super::buffer::MapBuffer;
use super::pool;
use crate::convert::{self, OutType, Plan, Scaling};
use crate::error::Error;
use crate::fits::card;
use crate::fits::hdu::{self, Hdu, Kind};
use crate::fits::header::CARD;
use crate::fits::{Header, Value};
use crate::mmap::Mapped;
use crate::section::{self, Layout, Sel, Source};
use numpy::ndarray::IxDyn;
use numpy::{PyArray, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::exceptions::{PyIndexError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyComplex, PyDict, PyList, PyTuple};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<FitsFile>()?;
    m.add_class::<MapBuffer>()?;
    m.add_function(wrap_pyfunction!(normalize_key, m)?)?;
    Ok(())
}

/// Card status codes returned next to values.
const OK: u8 = 0;
const UNDEFINED: u8 = 1;
const UNPARSABLE: u8 = 2;
/// The value is read, the comment refused (a record-valued card followed by CONTINUE cards:
/// astropy reads its comment through the CONTINUE rules, which need string values).
const COMMENT_REFUSED: u8 = 3;

/// A card value as a Python object plus a status (0 ok, 1 undefined, 2 unparsable).
pub fn value_to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<(Bound<'py, PyAny>, u8)> {
    Ok(match v {
        Value::Str(s) | Value::Text(s) => (s.into_pyobject(py)?.into_any(), OK),
        Value::Bool(b) => (b.into_pyobject(py)?.to_owned().into_any(), OK),
        Value::Int(i) => (i.into_pyobject(py)?.into_any(), OK),
        Value::BigInt(s) => (
            py.get_type::<pyo3::types::PyInt>().call1((s.as_str(),))?,
            OK,
        ),
        Value::Float(f) => (f.into_pyobject(py)?.into_any(), OK),
        Value::Complex(re, im) => (PyComplex::from_doubles(py, *re, *im).into_any(), OK),
        Value::Undefined => (py.None().into_bound(py), UNDEFINED),
        Value::Unparsable(s) => (s.into_pyobject(py)?.into_any(), UNPARSABLE),
    })
}

/// Card `k` of `h` as (keyword, value, comment, status); with `key`, the value astropy's
/// `header[key]` gives for it (a record-valued card's raw value when `key` is its raw keyword).
fn card_tuple<'py>(
    py: Python<'py>,
    h: &Header,
    k: usize,
    key: Option<&str>,
) -> PyResult<Bound<'py, PyTuple>> {
    let (mut v, c) = h.value_at(k);
    if let Some(key) = key {
        if h.rvkc_raw(k) == Some(key) {
            v = h.value_for(k, key);
        }
    }
    let (pv, mut st) = value_to_py(py, &v)?;
    if st == OK && h.rvkc_raw(k).is_some() && h.cards[k].len > CARD {
        st = COMMENT_REFUSED;
    }
    (h.cards[k].key.as_str(), pv, c, st).into_pyobject(py)
}

/// astropy's `Card.normalize_keyword`: the form under which a keyword is looked up.
#[pyfunction]
fn normalize_key(key: &str) -> String {
    card::normalize_key(key).into_owned()
}

#[pyclass(frozen, module = "jwstio._core")]
pub struct FitsFile {
    path: String,
    pub(crate) map: Arc<Mapped>,
    pub(crate) hdus: Vec<Hdu>,
    /// Positions by name and (name, ver), built on the first lookup in a file with many HDUs.
    names: std::sync::OnceLock<hdu::NameIndex>,
}

impl FitsFile {
    /// A file whose bytes are already in memory and indexed (a remote object, `py/store.rs`).
    pub(crate) fn from_memory(path: String, map: Mapped, hdus: Vec<Hdu>) -> FitsFile {
        FitsFile {
            path,
            map: Arc::new(map),
            hdus,
            names: std::sync::OnceLock::new(),
        }
    }

    fn hdu(&self, i: isize) -> PyResult<&Hdu> {
        let n = self.hdus.len() as isize;
        let j = if i < 0 { i + n } else { i };
        if j < 0 || j >= n {
            return Err(PyIndexError::new_err(format!(
                "{}: HDU index {i} out of range ({n} HDUs)",
                self.path
            )));
        }
        Ok(&self.hdus[j as usize])
    }

    fn scaling(h: &Hdu) -> Scaling {
        let bzero_v = h.header.get("BZERO");
        let (bzero, bzero_int) = match bzero_v {
            Some(Value::Int(i)) => (i as f64, Some(i)),
            Some(Value::Float(f)) => (f, None),
            _ => (0.0, Some(0)),
        };
        let bscale = h.header.get_f64("BSCALE").unwrap_or(1.0);
        let blank = h.header.get_int("BLANK");
        Scaling {
            bitpix: h.bitpix,
            bzero,
            bzero_int,
            bscale,
            blank,
        }
    }

    fn image_plan(&self, h: &Hdu) -> PyResult<(Plan, usize)> {
        if !matches!(h.kind, Kind::Primary | Kind::Image) || h.groups {
            return Err(PyValueError::new_err(format!(
                "{}: HDU {} is not an image (kind {})",
                self.path,
                h.index,
                h.kind.as_str()
            )));
        }
        let n: usize = if h.naxes.is_empty() {
            0
        } else {
            h.naxes
                .iter()
                .try_fold(1usize, |a, &b| a.checked_mul(b))
                .unwrap_or(usize::MAX)
        };
        let ni = h.bitpix.unsigned_abs() as usize / 8;
        if n.checked_mul(ni).is_none_or(|b| b > h.data_len) {
            return Err(
                Error::format(format!("HDU {}: image size exceeds its data", h.index))
                    .with_path(std::path::Path::new(&self.path))
                    .into(),
            );
        }
        Ok((convert::plan(&Self::scaling(h)), n))
    }
}

/// Allocate an output array (a big one in reused memory, see [`pool`]; else with NumPy) and
/// let `fill` write every byte of it.
fn filled<'py, T: numpy::Element + bytemuck::Pod>(
    py: Python<'py>,
    shape: &[usize],
    path: &str,
    fill: &mut dyn FnMut(&mut [u8]) -> PyResult<()>,
) -> PyResult<Bound<'py, PyAny>> {
    let bytes = shape
        .iter()
        .try_fold(std::mem::size_of::<T>(), |a, &b| a.checked_mul(b));
    if bytes.is_some_and(|b| b >= pool::MIN_BYTES) {
        return pool::filled::<T>(py, shape, path, fill);
    }
    // SAFETY: `new` returns an uninitialised C-contiguous array that no one else references
    // yet; we take its only mutable slice, `fill` overwrites every element before the array is
    // returned to Python (or the array is dropped on error), and the slice does not outlive
    // this function.
    let arr = unsafe { PyArray::<T, IxDyn>::new(py, IxDyn(shape), false) };
    let out: &mut [T] =
        unsafe { arr.as_slice_mut() }.map_err(|e| PyValueError::new_err(format!("{path}: {e}")))?;
    fill(bytemuck::cast_slice_mut(out))?;
    Ok(arr.into_any())
}

/// Call `$f::<T>($args)` with `T` the Rust type of an [`OutType`].
macro_rules! by_out_type {
    ($out:expr, $f:ident($($args:expr),*)) => {
        match $out {
            OutType::U8 => $f::<u8>($($args),*),
            OutType::I8 => $f::<i8>($($args),*),
            OutType::I16 => $f::<i16>($($args),*),
            OutType::U16 => $f::<u16>($($args),*),
            OutType::I32 => $f::<i32>($($args),*),
            OutType::U32 => $f::<u32>($($args),*),
            OutType::I64 => $f::<i64>($($args),*),
            OutType::U64 => $f::<u64>($($args),*),
            OutType::F32 => $f::<f32>($($args),*),
            OutType::F64 => $f::<f64>($($args),*),
        }
    };
}

/// A native array of `out`'s type and `shape`, filled by `fill`.
fn native_array<'py>(
    py: Python<'py>,
    out: OutType,
    shape: &[usize],
    path: &str,
    fill: &mut dyn FnMut(&mut [u8]) -> PyResult<()>,
) -> PyResult<Bound<'py, PyAny>> {
    by_out_type!(out, filled(py, shape, path, fill))
}

/// Let `fill` overwrite `out`, a caller's array, when it is writeable, C-contiguous and of
/// exactly this element type and shape.
fn refill<T: numpy::Element + bytemuck::Pod>(
    out: &Bound<'_, PyAny>,
    shape: &[usize],
    path: &str,
    fill: &mut dyn FnMut(&mut [u8]) -> PyResult<()>,
) -> PyResult<()> {
    let bad = |why: &str| PyValueError::new_err(format!("{path}: out array {why}"));
    let arr = out
        .cast::<PyArray<T, IxDyn>>()
        .map_err(|_| bad("has another dtype"))?;
    if arr.shape() != shape {
        return Err(bad("has another shape"));
    }
    let mut rw = arr.try_readwrite().map_err(|_| bad("is not writeable"))?;
    let slice = rw.as_slice_mut().map_err(|_| bad("is not contiguous"))?;
    fill(bytemuck::cast_slice_mut(slice))
}

#[pymethods]
impl FitsFile {
    #[new]
    fn new(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let (map, hdus) = py.detach(|| -> crate::Result<_> {
            let map = Mapped::open(&path)?;
            let hdus = hdu::index(map.bytes()).map_err(|e| e.with_path(&path))?;
            Ok((map, hdus))
        })?;
        Ok(FitsFile {
            path: path.display().to_string(),
            map: Arc::new(map),
            hdus,
            names: std::sync::OnceLock::new(),
        })
    }

    #[getter]
    fn path(&self) -> &str {
        &self.path
    }

    /// Copy the file's bytes from `offset` into `out` (a writeable, C-contiguous uint8 array)
    /// with positioned reads, the GIL released: bytes read later from a file that was cut
    /// short give an error, never a crash. A decompressed file is read from memory.
    fn read_at(&self, py: Python<'_>, offset: u64, out: &Bound<'_, PyAny>) -> PyResult<()> {
        let path = &self.path;
        let len = out.len()?;
        let end = offset.checked_add(len as u64);
        let mut fill = |bytes: &mut [u8]| -> PyResult<()> {
            let r = py.detach(|| -> std::io::Result<()> {
                match self.map.file() {
                    Some(file) => file.read_exact_at(bytes, offset),
                    None => {
                        let src = end
                            .and_then(|e| self.map.bytes().get(offset as usize..e as usize))
                            .ok_or_else(|| {
                                std::io::Error::from(std::io::ErrorKind::UnexpectedEof)
                            })?;
                        bytes.copy_from_slice(src);
                        Ok(())
                    }
                }
            });
            r.map_err(|e| Error::io(&e).with_path(std::path::Path::new(path)).into())
        };
        refill::<u8>(out, &[len], path, &mut fill)
    }

    fn __len__(&self) -> usize {
        self.hdus.len()
    }

    /// Size of the file in bytes.
    #[getter]
    fn size(&self) -> usize {
        self.map.bytes().len()
    }

    /// Structure of HDU `i` as a dict.
    fn info<'py>(&self, py: Python<'py>, i: isize) -> PyResult<Bound<'py, PyDict>> {
        let h = self.hdu(i)?;
        let d = PyDict::new(py);
        d.set_item("index", h.index)?;
        d.set_item("name", &h.name)?;
        d.set_item("ver", h.ver)?;
        d.set_item("kind", h.kind.as_str())?;
        d.set_item("bitpix", h.bitpix)?;
        d.set_item("naxes", PyList::new(py, &h.naxes)?)?;
        d.set_item("shape", PyTuple::new(py, h.shape())?)?;
        d.set_item("header_start", h.header_start)?;
        d.set_item("data_start", h.data_start)?;
        d.set_item("data_len", h.data_len)?;
        d.set_item("pcount", h.pcount)?;
        d.set_item("gcount", h.gcount)?;
        d.set_item("groups", h.groups)?;
        d.set_item("compressed", h.compressed)?;
        d.set_item("ncards", h.header.len())?;
        let dtype =
            if matches!(h.kind, Kind::Primary | Kind::Image) && !h.groups && !h.naxes.is_empty() {
                Some(convert::plan(&Self::scaling(h)).out().numpy())
            } else {
                None
            };
        d.set_item("dtype", dtype)?;
        Ok(d)
    }

    /// Every HDU's (name, ver), in order.
    fn names<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let items: Vec<(String, i64)> = self.hdus.iter().map(|h| (h.name.clone(), h.ver)).collect();
        PyList::new(py, items)
    }

    /// (name, ver, kind, header_start, data_start, data_len) of every HDU, in one call.
    fn summary<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let items: Vec<(String, i64, &str, usize, usize, usize)> = self
            .hdus
            .iter()
            .map(|h| {
                (
                    h.name.clone(),
                    h.ver,
                    h.kind.as_str(),
                    h.header_start,
                    h.data_start,
                    h.data_len,
                )
            })
            .collect();
        PyList::new(py, items)
    }

    /// Index of the first HDU with this EXTNAME (case-insensitive) and EXTVER, or None.
    #[pyo3(signature = (name, ver=None))]
    fn find(&self, name: &str, ver: Option<i64>) -> Option<usize> {
        // A linear scan is quickest for a few HDUs; many lookups in a file with thousands
        // (a MultiSlit product) would be quadratic.
        if self.hdus.len() <= 16 {
            return hdu::find(&self.hdus, name, ver);
        }
        self.names
            .get_or_init(|| hdu::NameIndex::new(&self.hdus))
            .find(&self.hdus, name, ver)
    }

    /// Header cards of HDU `i`: list of (keyword, value, comment, status); status 0 ok,
    /// 1 undefined value (value None), 2 unparsable (value is the raw text), 3 comment refused
    /// (the comment is the first card's).
    fn cards<'py>(&self, py: Python<'py>, i: isize) -> PyResult<Bound<'py, PyList>> {
        let h = self.hdu(i)?;
        let out = PyList::empty(py);
        for k in 0..h.header.len() {
            out.append(card_tuple(py, &h.header, k, None)?)?;
        }
        Ok(out)
    }

    /// Value of the first card `key` in HDU `i` as astropy's `header[key]` gives it (None when
    /// absent, undefined or unparsable); a single-card lookup that does not build the whole
    /// card list.
    fn get<'py>(
        &self,
        py: Python<'py>,
        i: isize,
        key: &str,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let h = self.hdu(i)?;
        let key = card::trim(key);
        match h.header.position(key) {
            None => Ok(None),
            Some(k) => {
                let v = h.header.value_for(k, key);
                let (pv, st) = value_to_py(py, &v)?;
                Ok(if st == OK { Some(pv) } else { None })
            }
        }
    }

    /// The first card of each keyword in `keys` for HDU `i`: (keyword, value, comment, status)
    /// as in `cards`, the value as astropy's `header[key]` gives it, or None when absent.
    /// Parses only the cards asked for.
    fn cards_for<'py>(
        &self,
        py: Python<'py>,
        i: isize,
        keys: Vec<String>,
    ) -> PyResult<Bound<'py, PyList>> {
        let h = self.hdu(i)?;
        let out = PyList::empty(py);
        for key in keys {
            let key = card::trim(&key);
            match h.header.position_indexed(key) {
                None => out.append(py.None())?,
                Some(k) => out.append(card_tuple(py, &h.header, k, Some(key))?)?,
            }
        }
        Ok(out)
    }

    /// astropy's `header[key]` / `header[(key, n)]` lookup in HDU `i` (among the cards `within`,
    /// in order, when given): (card index, (keyword, value, comment, status)) with the value
    /// `header[...]` gives, or None. `key` is used as given (astropy strips string keys first).
    #[pyo3(signature = (i, key, n=0, within=None))]
    fn locate<'py>(
        &self,
        py: Python<'py>,
        i: isize,
        key: &str,
        n: usize,
        within: Option<Vec<usize>>,
    ) -> PyResult<Option<(usize, Bound<'py, PyTuple>)>> {
        let h = self.hdu(i)?;
        let at = match &within {
            None => h.header.find(key, n),
            Some(w) => h.header.find_within(key, n, w),
        };
        match at {
            None => Ok(None),
            Some(k) => Ok(Some((k, card_tuple(py, &h.header, k, Some(key))?))),
        }
    }

    /// The record-valued keyword cards of HDU `i`: (card index, raw keyword, raw value,
    /// status) each (status 2: astropy cannot convert the card's number).
    fn rvkc<'py>(&self, py: Python<'py>, i: isize) -> PyResult<Bound<'py, PyList>> {
        let h = self.hdu(i)?;
        let out = PyList::empty(py);
        for &(k, _) in &h.header.rvkc {
            let raw = h.header.rvkc_raw(k).unwrap_or_default();
            let v = h
                .header
                .rvkc_rawvalue(k)
                .unwrap_or(Value::Unparsable(String::new()));
            let (pv, st) = value_to_py(py, &v)?;
            out.append((k, raw, pv, st))?;
        }
        Ok(out)
    }

    /// (offset, length) of each card's image (with its CONTINUE cards) in `header_bytes(i)`.
    fn card_spans(&self, i: isize) -> PyResult<Vec<(usize, usize)>> {
        Ok(self
            .hdu(i)?
            .header
            .cards
            .iter()
            .map(|c| (c.start, c.len))
            .collect())
    }

    /// Values of every card named `key` in HDU `i` (e.g. all HISTORY texts).
    fn values<'py>(&self, py: Python<'py>, i: isize, key: &str) -> PyResult<Bound<'py, PyList>> {
        let h = self.hdu(i)?;
        let out = PyList::empty(py);
        for (k, c) in h.header.cards.iter().enumerate() {
            if c.key.eq_ignore_ascii_case(key) {
                let (v, _) = h.header.value_at(k);
                out.append(value_to_py(py, &v)?.0)?;
            }
        }
        Ok(out)
    }

    /// The header of HDU `i` as astropy's `str(header)` (card images, END, padding).
    fn header_string(&self, i: isize) -> PyResult<String> {
        Ok(self.hdu(i)?.header.to_fits_string())
    }

    /// Raw card images of HDU `i` before END (for astropy.io.fits.Header.fromstring).
    fn header_bytes<'py>(
        &self,
        py: Python<'py>,
        i: isize,
    ) -> PyResult<Bound<'py, pyo3::types::PyBytes>> {
        Ok(pyo3::types::PyBytes::new(py, &self.hdu(i)?.header.bytes))
    }

    /// A read-only buffer over the whole mapped file (zero-copy).
    fn buffer(&self) -> MapBuffer {
        MapBuffer {
            map: self.map.clone(),
        }
    }

    /// Image data of HDU `i` converted to a native array with astropy's scaling rules.
    fn image<'py>(&self, py: Python<'py>, i: isize) -> PyResult<Bound<'py, PyAny>> {
        let h = self.hdu(i)?;
        let shape = h.shape();
        if shape.is_empty() {
            return Ok(py.None().into_bound(py));
        }
        let (plan, _) = self.image_plan(h)?;
        let (m, off, bp, path) = (&*self.map, h.data_start as u64, h.bitpix, &self.path);
        native_array(py, plan.out(), &shape, path, &mut |bytes| match m.file() {
            Some(file) => py
                .detach(|| convert::convert_from_file(file, off, bp, &plan, bytes))
                .map_err(|e| Error::io(&e).with_path(std::path::Path::new(path)).into()),
            None => {
                // Decompressed in memory: the extent was checked against these bytes at open.
                let ni = bp.unsigned_abs() as usize / 8;
                let n = bytes.len() / plan.out().size();
                let start = off as usize;
                let raw = m.bytes().get(start..start + n * ni).ok_or_else(|| {
                    PyValueError::new_err(format!("{path}: image data out of range"))
                })?;
                py.detach(|| convert::convert(raw, bp, &plan, bytes));
                Ok(())
            }
        })
    }

    /// Hint the system to start reading index `first` of the first axis of HDU `i`'s image
    /// (read-ahead for iterating integrations); out of range does nothing.
    fn prefetch(&self, i: isize, first: usize) -> PyResult<()> {
        let h = self.hdu(i)?;
        let shape = h.shape();
        if shape.first().is_some_and(|&n| first < n) {
            let ni = h.bitpix.unsigned_abs() as usize / 8;
            let plane = shape[1..]
                .iter()
                .try_fold(ni, |a, &b| a.checked_mul(b))
                .unwrap_or(usize::MAX);
            if (first + 1)
                .checked_mul(plane)
                .is_some_and(|end| end <= h.data_len)
            {
                self.map.will_need(h.data_start + first * plane, plane);
            }
        }
        Ok(())
    }

    /// Part of HDU `i`'s image: one (start, step, count) per axis in NumPy order, step 0
    /// meaning the single index `start` (the axis dropped). Only the selected bytes are read,
    /// into a new array or into `out` (writeable, C-contiguous, of the result's dtype and shape).
    #[pyo3(signature = (i, sel, out = None))]
    fn section<'py>(
        &self,
        py: Python<'py>,
        i: isize,
        sel: Vec<(usize, isize, usize)>,
        out: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let h = self.hdu(i)?;
        let path = &self.path;
        if h.shape().is_empty() {
            return Err(PyValueError::new_err(format!(
                "{path}: HDU {} has no image data",
                h.index
            )));
        }
        let (plan, _) = self.image_plan(h)?;
        let sel: Vec<Sel> = sel
            .into_iter()
            .map(|(start, step, count)| match step {
                0 => Sel::Index(start),
                _ => Sel::Range { start, step, count },
            })
            .collect();
        let layout = Layout::new(&h.shape(), &sel)
            .map_err(|e| PyIndexError::new_err(format!("{path}: HDU {}: {}", h.index, e.msg)))?;
        let src = match self.map.file() {
            Some(file) => Source::File {
                file,
                offset: h.data_start as u64,
            },
            None => Source::Memory(self.map.bytes().get(h.data_start..).unwrap_or(&[])),
        };
        let bp = h.bitpix;
        let mut fill = |bytes: &mut [u8]| -> PyResult<()> {
            py.detach(|| section::read(src, bp, &plan, &layout, bytes))
                .map_err(|e| Error::io(&e).with_path(std::path::Path::new(path)).into())
        };
        match out {
            Some(out) => {
                by_out_type!(plan.out(), refill(&out, &layout.shape, path, &mut fill))?;
                Ok(out)
            }
            None => native_array(py, plan.out(), &layout.shape, path, &mut fill),
        }
    }
}
