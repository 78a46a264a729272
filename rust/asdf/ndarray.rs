//! asdf `core/ndarray` nodes: source, datatype, byte order, shape, offset and strides, with
//! the same rules as asdf's NDArrayConverter / NDArrayType.

use super::resolve::Scalar;
use super::yaml::{Content, Doc, NodeId};
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Internal block index (negative counts from the end).
    Block(i64),
    /// External source, e.g. `fits:SCI,1` (resolved by the caller).
    Uri(String),
}

/// A numpy dtype description: `"<f4"`-style strings, or a structured list of fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Descr {
    Simple(String),
    /// (name, dtype, subarray shape)
    Fields(Vec<(String, Descr, Option<Vec<i64>>)>),
}

impl Descr {
    /// Bytes per element (numpy packs list-of-tuples dtypes without padding).
    pub fn itemsize(&self) -> Result<u64> {
        match self {
            Descr::Simple(s) => {
                let body = &s[1..];
                let (kind, n) = body.split_at(1);
                let n: u64 = n
                    .parse()
                    .map_err(|_| Error::asdf(format!("bad dtype {s}")))?;
                Ok(if kind == "U" {
                    n.checked_mul(4)
                        .ok_or_else(|| Error::asdf("dtype too large"))?
                } else {
                    n
                })
            }
            Descr::Fields(f) => {
                let mut total: u64 = 0;
                for (_, d, shape) in f {
                    let mut size = d.itemsize()?;
                    for &n in shape.iter().flatten() {
                        let n =
                            u64::try_from(n).map_err(|_| Error::asdf("negative field shape"))?;
                        size = size
                            .checked_mul(n)
                            .ok_or_else(|| Error::asdf("dtype too large"))?;
                    }
                    total = total
                        .checked_add(size)
                        .ok_or_else(|| Error::asdf("dtype too large"))?;
                }
                Ok(total)
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    N(i64),
    Star,
}

/// What an ndarray node says about its array.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub source: Option<Source>,
    /// The node holds inline `data` (or is a bare inline list).
    pub inline: bool,
    /// None: no datatype given (numpy's default / inferred from inline data).
    pub dtype: Option<Descr>,
    pub shape: Option<Vec<Dim>>,
    pub offset: i64,
    pub strides: Option<Vec<i64>>,
}

fn native_order() -> &'static str {
    if cfg!(target_endian = "little") {
        "little"
    } else {
        "big"
    }
}

fn order_char(b: &str) -> Result<char> {
    match b {
        "big" => Ok('>'),
        "little" => Ok('<'),
        _ => Err(Error::asdf(format!("invalid ASDF byteorder '{b}'"))),
    }
}

fn scalar_code(name: &str) -> Option<&'static str> {
    Some(match name {
        "int8" => "i1",
        "int16" => "i2",
        "int32" => "i4",
        "int64" => "i8",
        "uint8" => "u1",
        "uint16" => "u2",
        "uint32" => "u4",
        "uint64" => "u8",
        "float16" => "f2",
        "float32" => "f4",
        "float64" => "f8",
        "complex64" => "c8",
        "complex128" => "c16",
        "bool8" => "b1",
        _ => return None,
    })
}

fn int_of(doc: &Doc, id: NodeId) -> Option<i64> {
    match &doc.node(id).content {
        Content::Scalar(Scalar::Int(i)) => Some(*i),
        Content::Scalar(Scalar::Bool(b)) => Some(i64::from(*b)),
        _ => None,
    }
}

/// asdf_datatype_to_numpy_dtype. Returns (name, descr, shape) for dict fields.
fn datatype(doc: &Doc, id: NodeId, byteorder: &str, depth: usize) -> Result<Field> {
    if depth > 32 {
        return Err(Error::asdf("ndarray datatype nested too deeply"));
    }
    let bad = || Error::asdf("unknown ndarray datatype");
    let n = doc.node(id);
    match &n.content {
        Content::Scalar(Scalar::Str(s)) => {
            let code = scalar_code(s)
                .ok_or_else(|| Error::asdf(format!("unknown ndarray datatype '{s}'")))?;
            Ok(Field::Plain(Descr::Simple(format!(
                "{}{}",
                order_char(byteorder)?,
                code
            ))))
        }
        Content::Seq(items) => {
            if let [a, b] = items[..] {
                if let (Some(kind), Some(len)) = (doc.str_of(a), int_of(doc, b)) {
                    if kind == "ascii" || kind == "ucs4" {
                        let c = if kind == "ascii" { 'S' } else { 'U' };
                        if len < 0 {
                            return Err(Error::asdf(format!("negative string length {len}")));
                        }
                        return Ok(Field::Plain(Descr::Simple(format!(
                            "{}{c}{len}",
                            order_char(byteorder)?
                        ))));
                    }
                }
            }
            let mut fields = Vec::new();
            for &sub in items {
                match datatype(doc, sub, byteorder, depth + 1)? {
                    Field::Named(name, d, shape) => fields.push((name, d, shape)),
                    Field::Plain(d) => fields.push((String::new(), d, None)),
                }
            }
            Ok(Field::Plain(Descr::Fields(fields)))
        }
        Content::Map(_) => {
            let dt = doc
                .get(id, "datatype")
                .ok_or_else(|| Error::asdf("ndarray field entry has no datatype"))?;
            let name = match doc.get(id, "name") {
                None => String::new(),
                Some(k) => doc
                    .str_of(k)
                    .ok_or_else(|| Error::asdf("ndarray field name must be a string"))?
                    .to_string(),
            };
            let bo = match doc.get(id, "byteorder") {
                None => byteorder.to_string(),
                Some(k) => doc.str_of(k).ok_or_else(bad)?.to_string(),
            };
            let shape = match doc.get(id, "shape") {
                None => None,
                Some(k) => Some(int_list(doc, k, "field shape")?),
            };
            let d = match datatype(doc, dt, &bo, depth + 1)? {
                Field::Plain(d) => d,
                Field::Named(..) => return Err(bad()),
            };
            Ok(Field::Named(name, d, shape))
        }
        _ => Err(bad()),
    }
}

enum Field {
    Plain(Descr),
    Named(String, Descr, Option<Vec<i64>>),
}

fn int_list(doc: &Doc, id: NodeId, what: &str) -> Result<Vec<i64>> {
    match &doc.node(id).content {
        Content::Seq(items) => items
            .iter()
            .map(|&i| {
                int_of(doc, i).ok_or_else(|| {
                    Error::asdf(format!("ndarray {what} must be a list of integers"))
                })
            })
            .collect(),
        _ => Err(Error::asdf(format!("ndarray {what} must be a list"))),
    }
}

/// Read an ndarray node (a mapping, or a bare inline list).
pub fn spec(doc: &Doc, id: NodeId) -> Result<Spec> {
    if let Content::Seq(_) = doc.node(id).content {
        return Ok(Spec {
            source: None,
            inline: true,
            dtype: None,
            shape: None,
            offset: 0,
            strides: None,
        });
    }
    if !matches!(doc.node(id).content, Content::Map(_)) {
        return Err(Error::asdf(
            "invalid ndarray description (not a mapping or list)",
        ));
    }
    let source_node = doc.get(id, "source");
    let data_node = doc.get(id, "data");
    if source_node.is_some() && data_node.is_some() {
        return Err(Error::asdf(
            "ndarray: both source and data may not be provided at the same time",
        ));
    }
    let (source, byteorder) = match source_node {
        Some(s) => {
            let src = match &doc.node(s).content {
                Content::Scalar(Scalar::Int(i)) => Source::Block(*i),
                Content::Scalar(Scalar::Str(u)) => Source::Uri(u.clone()),
                _ => return Err(Error::asdf("ndarray source must be an integer or a string")),
            };
            let bo = doc
                .get(id, "byteorder")
                .ok_or_else(|| Error::asdf("ndarray with a source has no byteorder"))?;
            let bo = doc
                .str_of(bo)
                .ok_or_else(|| Error::asdf("ndarray byteorder must be a string"))?;
            order_char(bo)?;
            (Some(src), bo.to_string())
        }
        None => (None, native_order().to_string()),
    };
    if source.is_none() && data_node.is_none() {
        return Err(Error::asdf("ndarray has neither source nor data"));
    }
    let dtype = match doc.get(id, "datatype") {
        None => None,
        Some(d) => Some(match datatype(doc, d, &byteorder, 0)? {
            Field::Plain(d) => d,
            Field::Named(..) => return Err(Error::asdf("unknown ndarray datatype")),
        }),
    };
    let shape = match doc.get(id, "shape") {
        None => None,
        Some(s) => {
            let Content::Seq(items) = &doc.node(s).content else {
                return Err(Error::asdf("ndarray shape must be a list"));
            };
            let mut dims = Vec::with_capacity(items.len());
            for &i in items {
                dims.push(match (int_of(doc, i), doc.str_of(i)) {
                    (Some(n), _) => Dim::N(n),
                    (None, Some("*")) => Dim::Star,
                    _ => return Err(Error::asdf("ndarray shape entries must be integers or '*'")),
                });
            }
            Some(dims)
        }
    };
    let offset = match doc.get(id, "offset") {
        None => 0,
        Some(o) => {
            int_of(doc, o).ok_or_else(|| Error::asdf("ndarray offset must be an integer"))?
        }
    };
    let strides = match doc.get(id, "strides") {
        None => None,
        Some(s) => Some(int_list(doc, s, "strides")?),
    };
    Ok(Spec {
        source,
        inline: data_node.is_some(),
        dtype,
        shape,
        offset,
        strides,
    })
}

/// Resolve a negative block index against the number of blocks.
pub fn block_index(i: i64, nblocks: usize) -> Result<usize> {
    let n = nblocks as i64;
    let j = if i < 0 { i + n } else { i };
    if j < 0 || j >= n {
        return Err(Error::asdf(format!(
            "ndarray source {i} does not exist ({nblocks} blocks)"
        )));
    }
    Ok(j as usize)
}

/// Shape with a leading '*' filled in from the block size, as asdf's get_actual_shape does.
pub fn actual_shape(spec: &Spec, itemsize: u64, block_len: u64) -> Result<Vec<i64>> {
    let shape = spec
        .shape
        .as_ref()
        .ok_or_else(|| Error::asdf("ndarray with a block source has no shape"))?;
    let stars = shape.iter().filter(|d| **d == Dim::Star).count();
    let mut out: Vec<i64> = Vec::with_capacity(shape.len());
    if stars > 1 || (stars == 1 && shape[0] != Dim::Star) {
        return Err(Error::asdf(
            "'*' may only be the first entry of an ndarray shape",
        ));
    }
    for (k, d) in shape.iter().enumerate() {
        match d {
            Dim::N(n) => out.push(*n),
            Dim::Star => {
                let stride = match &spec.strides {
                    Some(s) => *s
                        .first()
                        .ok_or_else(|| Error::asdf("ndarray strides are empty"))?,
                    None => {
                        let mut p: i64 = itemsize as i64;
                        for d in &shape[k + 1..] {
                            let Dim::N(n) = d else {
                                return Err(Error::asdf(
                                    "'*' may only be the first entry of an ndarray shape",
                                ));
                            };
                            p = p
                                .checked_mul(*n)
                                .ok_or_else(|| Error::asdf("ndarray shape overflows"))?;
                        }
                        p
                    }
                };
                if stride <= 0 {
                    return Err(Error::asdf(format!(
                        "cannot size a streamed array with stride {stride}"
                    )));
                }
                out.push((block_len / stride as u64) as i64);
            }
        }
    }
    Ok(out)
}

/// Check that the array (shape, strides, offset, itemsize) lies inside `len` bytes, as numpy's
/// ndarray constructor requires. Returns the C-contiguous strides when none were given.
pub fn check_extent(
    shape: &[i64],
    strides: Option<&[i64]>,
    offset: i64,
    itemsize: u64,
    len: u64,
) -> Result<Vec<i64>> {
    let ovf = || Error::asdf("ndarray extent overflows");
    if shape.iter().any(|&n| n < 0) {
        return Err(Error::asdf(format!(
            "negative dimension in ndarray shape {shape:?}"
        )));
    }
    if offset < 0 {
        return Err(Error::asdf(format!("negative ndarray offset {offset}")));
    }
    let item = i64::try_from(itemsize).map_err(|_| ovf())?;
    let strides: Vec<i64> = match strides {
        Some(s) => {
            if s.len() != shape.len() {
                return Err(Error::asdf(format!(
                    "ndarray strides {s:?} do not match shape {shape:?}"
                )));
            }
            s.to_vec()
        }
        None => {
            let mut st = vec![0i64; shape.len()];
            let mut acc = item;
            for k in (0..shape.len()).rev() {
                st[k] = acc;
                acc = acc.checked_mul(shape[k].max(1)).ok_or_else(ovf)?;
            }
            st
        }
    };
    if shape.contains(&0) {
        if offset as u64 > len {
            return Err(Error::asdf(format!(
                "ndarray offset {offset} past the end of its {len}-byte block"
            )));
        }
        return Ok(strides);
    }
    let (mut lo, mut hi) = (offset, offset.checked_add(item).ok_or_else(ovf)?);
    for (&n, &s) in shape.iter().zip(&strides) {
        let span = (n - 1).checked_mul(s).ok_or_else(ovf)?;
        if span < 0 {
            lo = lo.checked_add(span).ok_or_else(ovf)?;
        } else {
            hi = hi.checked_add(span).ok_or_else(ovf)?;
        }
    }
    if lo < 0 || hi as u64 > len {
        return Err(Error::asdf(format!(
            "ndarray (shape {shape:?}, strides {strides:?}, offset {offset}, itemsize {itemsize}) needs bytes {lo}..{hi} \
             but its block has {len}"
        )));
    }
    Ok(strides)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asdf::yaml::compose;

    fn spec_of(y: &str) -> Result<Spec> {
        let d = compose(y.as_bytes()).unwrap();
        spec(&d, d.root.unwrap())
    }

    #[test]
    fn specs() {
        let s = spec_of("{source: 0, datatype: float32, byteorder: big, shape: [2, 3]}").unwrap();
        assert_eq!(s.source, Some(Source::Block(0)));
        assert_eq!(s.dtype, Some(Descr::Simple(">f4".into())));
        assert_eq!(s.shape, Some(vec![Dim::N(2), Dim::N(3)]));
        let s = spec_of(
            "{source: 'fits:SCI,1', datatype: [ascii, 5], byteorder: little, shape: ['*', 3]}",
        )
        .unwrap();
        assert_eq!(s.source, Some(Source::Uri("fits:SCI,1".into())));
        assert_eq!(s.dtype, Some(Descr::Simple("<S5".into())));
        assert_eq!(s.shape, Some(vec![Dim::Star, Dim::N(3)]));
        let s = spec_of(
            "{source: -1, byteorder: big, shape: [4], datatype: [{name: a, datatype: int16}, \
             {name: b, datatype: [ucs4, 3], byteorder: little, shape: [2]}, float64]}",
        )
        .unwrap();
        assert_eq!(
            s.dtype,
            Some(Descr::Fields(vec![
                ("a".into(), Descr::Simple(">i2".into()), None),
                ("b".into(), Descr::Simple("<U3".into()), Some(vec![2])),
                (String::new(), Descr::Simple(">f8".into()), None),
            ]))
        );
        assert_eq!(s.dtype.unwrap().itemsize().unwrap(), 2 + 24 + 8);
        let s = spec_of("{data: [1, 2], datatype: int8}").unwrap();
        assert!(s.inline && s.source.is_none());
        for (y, want) in [
            ("{source: 0, datatype: float32, shape: [2]}", "no byteorder"),
            (
                "{source: 0, byteorder: middle, shape: [2]}",
                "invalid ASDF byteorder",
            ),
            (
                "{source: 0, byteorder: big, datatype: float128}",
                "unknown ndarray datatype 'float128'",
            ),
            (
                "{source: 0, data: [1], byteorder: big}",
                "both source and data",
            ),
            ("{source: 1.5, byteorder: big}", "integer or a string"),
            ("{source: 0, byteorder: big, shape: [a]}", "integers or '*'"),
            (
                "{source: 0, byteorder: big, datatype: [{name: x}]}",
                "no datatype",
            ),
        ] {
            let msg = spec_of(y).unwrap_err().msg;
            assert!(msg.contains(want), "{msg} !~ {want}");
        }
    }

    #[test]
    fn extents() {
        assert_eq!(check_extent(&[2, 3], None, 0, 4, 24).unwrap(), vec![12, 4]);
        assert!(check_extent(&[2, 3], None, 4, 4, 24).is_err());
        assert!(check_extent(&[2, 3], Some(&[4, 8]), 0, 4, 24).is_ok());
        assert!(check_extent(&[2, 3], Some(&[4, 9]), 0, 4, 24).is_err());
        assert!(check_extent(&[3], Some(&[-4]), 8, 4, 12).is_ok());
        assert!(check_extent(&[3], Some(&[-4]), 4, 4, 12).is_err());
        assert!(check_extent(&[0, 5], None, 0, 4, 0).is_ok());
        assert!(check_extent(&[i64::MAX, 2], None, 0, 8, 16).is_err());
        assert!(check_extent(&[2], Some(&[4, 4]), 0, 4, 16).is_err());
        let s = spec_of("{source: -1, byteorder: big, shape: ['*', 3], datatype: int16}").unwrap();
        assert_eq!(actual_shape(&s, 2, 25).unwrap(), vec![4, 3]);
        assert_eq!(block_index(-1, 3).unwrap(), 2);
        assert!(block_index(3, 3).is_err());
        assert!(block_index(-4, 3).is_err());
    }
}
