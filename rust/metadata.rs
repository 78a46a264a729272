//! `read_metadata` without Python objects in between: stdatamodels' `read_metadata(path)`
//! (`jwst/datamodels/util.py`) for FITS products, as one pass over the file.
//!
//! The ASDF tree is composed with every `wcs: !tag` subtree left unparsed (flattening drops
//! `wcs` keys), becomes a plain [`V`] tree (tags dropped, as `load_yaml(tagged=False)`), gets
//! the header keywords of a [`KwPlan`] stored over it (`put_value`, no validation), its
//! `cal_logs` joined, and is flattened with [`flatten`].
//!
//! This is a fast path: whenever the input is not the common case it returns [`Bail`] and the
//! caller runs the general path (Python over `AsdfDoc`), which gives the value or the error.
//! Bailing is always safe; a result is returned only when it equals the general path's.

use crate::asdf::fast::{self, Sink, TagRef};
use crate::asdf::resolve::{self, Implicit, Scalar, YAML_PREFIX};
use crate::asdf::yaml::{self, Content, Doc, Mark, NodeId, ScalarStyle, Tag};
use crate::asdf::{file, lazy};
use crate::fits::card::{self, Value};
use crate::fits::hdu::{self, Hdu, Kind};
use crate::fits::header::{packed_key, CARD, NOT_PACKED};
use rustc_hash::FxHashMap;
use std::borrow::Cow;

/// The fast path cannot decide; use the general one. The text says why (tests, debugging).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bail(pub &'static str);

pub type R<T> = std::result::Result<T, Bail>;

/// Lists read per EXTVER longer than this are refused by the general path.
pub const MAX_LIST_ITEMS: usize = 100_000;

/// The key whose subtrees are never composed (flattening drops them).
const SKIP_KEY: &str = "wcs";

/// A plain tree value, borrowing strings from the YAML text where it can.
#[derive(Debug, Clone, PartialEq)]
pub enum V<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    /// Other values: YAML big integers, header values that are none of the above.
    Yaml(Box<Scalar>),
    Card(Box<Value>),
    Map(Vec<(Cow<'a, str>, V<'a>)>),
    Seq(Vec<V<'a>>),
    /// An unparsed `wcs` subtree.
    Skipped,
}

type Pairs<'a> = Vec<(Cow<'a, str>, V<'a>)>;

impl V<'_> {
    fn scalar(s: Scalar) -> R<V<'static>> {
        Ok(match s {
            Scalar::Null => V::Null,
            Scalar::Bool(b) => V::Bool(b),
            Scalar::Int(i) => V::Int(i),
            Scalar::Float(f) => V::Float(f),
            Scalar::Str(s) => V::Str(Cow::Owned(s)),
            s @ Scalar::BigInt { .. } => V::Yaml(Box::new(s)),
            _ => return Err(Bail("timestamp or binary scalar")),
        })
    }

    /// A header value as the general path stores it (the same Python value).
    fn card(v: Value) -> V<'static> {
        match v {
            Value::Str(s) | Value::Text(s) => V::Str(Cow::Owned(s)),
            Value::Bool(b) => V::Bool(b),
            Value::Int(i) => match i64::try_from(i) {
                Ok(i) => V::Int(i),
                Err(_) => V::Card(Box::new(Value::Int(i))),
            },
            Value::Float(f) => V::Float(f),
            v => V::Card(Box::new(v)),
        }
    }
}

// --- the ASDF tree -----------------------------------------------------------------------------

/// The ASDF bytes stored in the ASDF HDU, as astropy's `hdulist["ASDF"].data.tobytes()`
/// (a one-row binary table; other forms bail).
pub fn asdf_bytes<'a>(buf: &'a [u8], h: &Hdu) -> R<&'a [u8]> {
    if !matches!(h.kind, Kind::BinTable | Kind::Table) {
        return Err(Bail("ASDF HDU is not a table"));
    }
    let (Some(&n0), Some(&n1)) = (h.naxes.first(), h.naxes.get(1)) else {
        return Err(Bail("ASDF table without NAXIS2"));
    };
    let n = n0.checked_mul(n1).ok_or(Bail("ASDF table size"))?;
    let end = h.data_start.saturating_add(n).min(buf.len());
    buf.get(h.data_start..end).ok_or(Bail("ASDF table extent"))
}

/// The YAML text of an ASDF file.
pub struct Yaml<'a> {
    text: &'a [u8],
}

impl<'a> Yaml<'a> {
    pub fn new(asdf: &'a [u8]) -> R<Yaml<'a>> {
        let layout = file::split(asdf).map_err(|_| Bail("ASDF layout"))?;
        let text = &asdf[layout.yaml.ok_or(Bail("no YAML"))?];
        Ok(Yaml { text })
    }

    /// The tree (root a mapping), `wcs` subtrees as [`V::Skipped`].
    pub fn tree(&self) -> R<V<'a>> {
        // The fast event producer straight into a tree, skipping `wcs` bodies unparsed.
        let mut sink = TreeSink::new();
        if fast::parse(self.text, &mut sink).is_some() {
            return sink.finish();
        }
        // The general composer on the text with its `wcs` subtrees cut out.
        let plan = lazy::plan_only(self.text, lazy::MIN_BODY, SKIP_KEY.as_bytes());
        let (text, expect) = match &plan {
            Some(p) => (&p.text[..], Some(&p.expect[..])),
            None => (self.text, None),
        };
        let opts = yaml::Options {
            expect,
            ..Default::default()
        };
        let doc = yaml::compose_with(text, opts).map_err(|_| Bail("YAML compose"))?;
        from_doc(doc)
    }
}

enum Frame<'a> {
    Map {
        /// Where this mapping's pairs start in [`TreeSink::pairs`].
        start: usize,
        /// The key read, waiting for its value.
        key: Option<Cow<'a, str>>,
        block: bool,
    },
    /// Where this sequence's items start in [`TreeSink::items`].
    Seq(usize),
}

/// Builds the [`V`] tree from the fast path's events, as the composer and [`from_doc`] would;
/// declines whatever [`from_doc`] bails on. `wcs: !tag` block values are skipped unparsed.
/// Open collections collect their children on two shared stacks, so each finished one is
/// allocated once, at its size.
struct TreeSink<'a> {
    stack: Vec<Frame<'a>>,
    pairs: Pairs<'a>,
    items: Vec<V<'a>>,
    root: Option<V<'a>>,
    /// The skipped bodies' lines (tests check that hidden errors are inside them).
    #[cfg(test)]
    skipped: Vec<(u64, u64)>,
}

impl<'a> TreeSink<'a> {
    fn new() -> Self {
        TreeSink {
            stack: Vec::with_capacity(32),
            pairs: Vec::with_capacity(256),
            items: Vec::with_capacity(64),
            root: None,
            #[cfg(test)]
            skipped: Vec::new(),
        }
    }

    fn finish(self) -> R<V<'a>> {
        match self.root {
            Some(v @ V::Map(_)) => Ok(v),
            _ => Err(Bail("root is not a mapping")),
        }
    }

    #[inline(always)]
    fn attach(&mut self, v: V<'a>) -> Option<()> {
        match self.stack.last_mut() {
            None => {
                if self.root.is_some() {
                    return None;
                }
                self.root = Some(v);
            }
            Some(Frame::Seq(_)) => self.items.push(v),
            Some(Frame::Map { key, .. }) => match key.take() {
                Some(k) => self.pairs.push((k, v)),
                None => match v {
                    V::Str(s) => *key = Some(s),
                    _ => return None,
                },
            },
        }
        Some(())
    }
}

impl<'a> Sink<'a> for TreeSink<'a> {
    #[inline(always)]
    fn scalar(
        &mut self,
        tag: Option<TagRef<'a>>,
        value: Cow<'a, str>,
        style: ScalarStyle,
        _m: Mark,
    ) -> Option<()> {
        if let Some(Frame::Map { key: k @ None, .. }) = self.stack.last_mut() {
            // A key: an untagged string (other keys make Python keys of other types).
            if tag.is_some()
                || (style == ScalarStyle::Plain && resolve::resolve_plain(&value) != Implicit::Str)
            {
                return None;
            }
            *k = Some(value);
            return Some(());
        }
        let v = match (tag, style) {
            (Some(t), _) => {
                if t.starts_with(YAML_PREFIX) || t.is_non_specific() {
                    return None;
                }
                // A tagged scalar is its text (`load_yaml(tagged=False)`).
                V::Str(value)
            }
            (None, ScalarStyle::Plain) => match resolve::resolve_plain(&value) {
                Implicit::Str => V::Str(value),
                Implicit::Null => V::Null,
                Implicit::Bool => V::Bool(resolve::construct_bool(&value).ok()?),
                Implicit::Int => match resolve::int_fast(&value) {
                    Some(i) => V::Int(i),
                    None => V::scalar(resolve::construct_int(&value).ok()?).ok()?,
                },
                Implicit::Float => match resolve::float_fast(&value) {
                    Some(f) => V::Float(f),
                    None => V::Float(resolve::construct_float(&value).ok()?),
                },
                Implicit::Timestamp | Implicit::Merge | Implicit::Value => return None,
            },
            (None, _) => V::Str(value),
        };
        self.attach(v)
    }

    fn start(&mut self, map: bool, tag: Option<TagRef<'a>>, block: bool, _m: Mark) -> Option<()> {
        if matches!(self.stack.last(), Some(Frame::Map { key: None, .. })) {
            return None; // a collection as a key
        }
        if tag.is_some_and(|t| t.starts_with(YAML_PREFIX) || t.is_non_specific()) {
            return None;
        }
        self.stack.push(if map {
            Frame::Map {
                start: self.pairs.len(),
                key: None,
                block,
            }
        } else {
            Frame::Seq(self.items.len())
        });
        Some(())
    }

    fn end(&mut self, map: bool, _m: Mark) -> Option<()> {
        let v = match (self.stack.pop()?, map) {
            (
                Frame::Map {
                    start, key: None, ..
                },
                true,
            ) => {
                let pairs = self.pairs.split_off(start);
                if has_duplicates(&pairs) {
                    return None;
                }
                V::Map(pairs)
            }
            (Frame::Seq(start), false) => V::Seq(self.items.split_off(start)),
            _ => return None,
        };
        self.attach(v)
    }

    fn skippable(&self, tag: &TagRef<'a>) -> bool {
        // `wcs` values are dropped by flattening; a YAML core tag (which constructs, and may
        // fail) or an ndarray is always read.
        matches!(self.stack.last(), Some(Frame::Map { key: Some(k), block: true, .. }) if k == SKIP_KEY)
            && !tag.is_non_specific()
            && !lazy::EAGER_PREFIXES.iter().any(|p| tag.starts_with(p))
    }

    fn skipped(&mut self, _m: Mark, _body: (u64, u64)) -> Option<()> {
        #[cfg(test)]
        self.skipped.push(_body);
        self.attach(V::Skipped)
    }
}

/// The composed document as a plain tree; bails on anything but str-keyed mappings,
/// sequences and plain scalars without anchors.
pub fn from_doc(mut doc: Doc) -> R<V<'static>> {
    if !doc.anchors.is_empty() {
        return Err(Bail("anchors"));
    }
    if !doc.errors.is_empty() || !doc.merged.is_empty() || !doc.externs.is_empty() {
        return Err(Bail("construction errors, merges or externs"));
    }
    let root = doc.root.ok_or(Bail("empty document"))?;
    let v = take(&mut doc, root)?;
    match v {
        V::Map(_) => Ok(v),
        _ => Err(Bail("root is not a mapping")),
    }
}

/// Move node `id` out of the arena (each node is used once: there are no aliases).
fn take(doc: &mut Doc, id: NodeId) -> R<V<'static>> {
    let node = doc.nodes.get_mut(id as usize).ok_or(Bail("node id"))?;
    if matches!(node.tag, Tag::Omap | Tag::Pairs | Tag::Set) {
        return Err(Bail("!!omap, !!pairs or !!set"));
    }
    let content = std::mem::replace(&mut node.content, Content::Seq(Vec::new()));
    match content {
        Content::Scalar(s) => V::scalar(s),
        Content::Seq(items) => items
            .into_iter()
            .map(|i| take(doc, i))
            .collect::<R<Vec<V>>>()
            .map(V::Seq),
        Content::Map(pairs) => {
            let mut out: Pairs<'static> = Vec::with_capacity(pairs.len());
            for (k, v) in pairs {
                let key = doc.key_str(k).ok_or(Bail("key not a string"))?.to_owned();
                let lazy = matches!(doc.node(v).content, Content::Lazy(_));
                if lazy && key != SKIP_KEY {
                    return Err(Bail("deferred subtree outside wcs"));
                }
                let value = take(doc, v)?;
                out.push((Cow::Owned(key), value));
            }
            if has_duplicates(&out) {
                return Err(Bail("duplicate keys"));
            }
            Ok(V::Map(out))
        }
        Content::Lazy(_) => Ok(V::Skipped),
        Content::Extern(_) => Err(Bail("extern alias")),
    }
}

fn has_duplicates(pairs: &Pairs<'_>) -> bool {
    use std::hash::BuildHasher;
    // asdf writes keys sorted: strictly increasing keys are all different.
    if pairs.windows(2).all(|w| key_less(&w[0].0, &w[1].0)) {
        return false;
    }
    const QUADRATIC: usize = 64;
    if pairs.len() <= QUADRATIC {
        // Compare key hashes pairwise; whole keys only when two hashes match.
        let mut hashes = [0u64; QUADRATIC];
        for (i, (k, _)) in pairs.iter().enumerate() {
            let h = rustc_hash::FxBuildHasher.hash_one(&**k);
            if hashes[..i]
                .iter()
                .enumerate()
                .any(|(j, &g)| g == h && pairs[j].0 == *k)
            {
                return true;
            }
            hashes[i] = h;
        }
        return false;
    }
    let mut seen = rustc_hash::FxHashSet::with_capacity_and_hasher(pairs.len(), Default::default());
    !pairs.iter().all(|(k, _)| seen.insert(&**k))
}

/// `a < b` (byte order), deciding most pairs on their first eight bytes.
#[inline]
fn key_less(a: &str, b: &str) -> bool {
    let (pa, pb) = (prefix8(a.as_bytes()), prefix8(b.as_bytes()));
    if pa != pb {
        return pa < pb;
    }
    a < b
}

/// The first eight bytes, big-endian (zero-padded: shorter keys sort first, as in `<`).
#[inline(always)]
fn prefix8(b: &[u8]) -> u64 {
    match b.first_chunk::<8>() {
        Some(c) => u64::from_be_bytes(*c),
        None => b
            .iter()
            .enumerate()
            .fold(0u64, |v, (i, &c)| v | (u64::from(c) << (56 - 8 * i))),
    }
}

// --- the keyword walk ----------------------------------------------------------------------------

/// A path component of `put_value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part<'s> {
    Key(&'s str),
    Item(usize),
}

/// Consecutive keywords stored into one parent mapping, read from one HDU.
#[derive(Debug)]
struct Run {
    parent: Vec<String>,
    batch: usize,
    first: usize,
    leaves: Vec<String>,
}

/// The keywords one step reads from one HDU, and where each keyword's slots are.
#[derive(Debug)]
struct Batch {
    hdu: Option<String>,
    len: usize,
    /// Keywords of up to 8 bytes, packed ([`packed_key`]), and longer ones.
    short: FxHashMap<u64, Vec<u32>>,
    long: FxHashMap<String, Vec<u32>>,
}

#[derive(Debug)]
struct Step {
    /// None: keywords outside lists; else the list path, the runs being relative to an item.
    list: Option<Vec<String>>,
    batches: Vec<Batch>,
    runs: Vec<Run>,
}

/// The keywords a model's (unmerged) schema maps, in the general path's walk order.
#[derive(Debug)]
pub struct KwPlan {
    steps: Vec<Step>,
}

/// One keyword of a plan: (path relative to the step, KEYWORD upper-cased, HDU name).
pub type PlanEntry = (Vec<String>, String, Option<String>);

impl KwPlan {
    /// From `(list path or None, entries)` steps, as `_plan` in `models/_metadata.py` makes them.
    pub fn new(steps: Vec<(Option<Vec<String>>, Vec<PlanEntry>)>) -> KwPlan {
        let steps = steps
            .into_iter()
            .map(|(list, entries)| {
                let mut batches: Vec<Batch> = Vec::new();
                let mut runs: Vec<Run> = Vec::new();
                let mut last: Option<(Vec<String>, Option<String>)> = None;
                for (mut path, kw, hdu) in entries {
                    let leaf = path.pop().unwrap_or_default();
                    let b = match batches.iter().position(|b| b.hdu == hdu) {
                        Some(b) => b,
                        None => {
                            batches.push(Batch {
                                hdu: hdu.clone(),
                                len: 0,
                                short: FxHashMap::default(),
                                long: FxHashMap::default(),
                            });
                            batches.len() - 1
                        }
                    };
                    let batch = &mut batches[b];
                    let slot = batch.len as u32;
                    batch.len += 1;
                    match packed_key(&kw) {
                        Some(k) => batch.short.entry(k).or_default().push(slot),
                        None => batch.long.entry(kw).or_default().push(slot),
                    }
                    let same = last.as_ref().is_some_and(|(p, h)| *p == path && *h == hdu);
                    if same {
                        if let Some(r) = runs.last_mut() {
                            r.leaves.push(leaf);
                            continue;
                        }
                    }
                    last = Some((path.clone(), hdu));
                    runs.push(Run {
                        parent: path,
                        batch: b,
                        first: slot as usize,
                        leaves: vec![leaf],
                    });
                }
                Step {
                    list,
                    batches,
                    runs,
                }
            })
            .collect();
        KwPlan { steps }
    }
}

/// `fits_support.get_hdu`: the HDU holding `name` (None: primary) for list item `index`.
fn get_hdu(hdus: &[Hdu], name: Option<&str>, index: Option<usize>) -> Option<usize> {
    let i = match name {
        None => Some(0).filter(|_| index.is_none_or(|x| x == 0)),
        Some(n) if n.eq_ignore_ascii_case("PRIMARY") => {
            Some(0).filter(|_| index.is_none_or(|x| x == 0))
        }
        Some(n) => hdu::find(hdus, n, index.map(|x| x as i64 + 1)),
    }?;
    let h = hdus.get(i)?;
    if let Some(x) = index {
        let want = x as f64 + 1.0;
        let ver_ok = match h.header.get("EXTVER") {
            None | Some(Value::Undefined | Value::Unparsable(_)) => want == 1.0,
            Some(Value::Int(v)) => v == x as i128 + 1,
            Some(Value::Float(f)) => f == want,
            Some(Value::Bool(b)) => f64::from(u8::from(b)) == want,
            Some(Value::Complex(re, im)) => im == 0.0 && re == want,
            Some(_) => false,
        };
        if !ver_ok {
            return None;
        }
    }
    Some(i)
}

/// Card positions (first card of each keyword) for every slot of `batch` in HDU `h`.
fn lookup(h: &Hdu, batch: &Batch) -> Vec<Option<u32>> {
    let mut found = vec![None; batch.len];
    let header = &h.header;
    for (i, (c, &p)) in header.cards.iter().zip(&header.packed).enumerate() {
        let slots = if p != NOT_PACKED {
            batch.short.get(&p)
        } else {
            batch.long.get(&*card::normalize_key(&c.key))
        };
        if let Some(slots) = slots {
            for &s in slots {
                let f = &mut found[s as usize];
                if f.is_none() {
                    *f = Some(i as u32);
                }
            }
        }
    }
    // A keyword no card has may name record-valued cards by their raw keyword (astropy's
    // `header[key]` then gives the first one's raw value).
    for &(i, raw) in &header.rvkc {
        let Some(p) = header.cards[i].key.get(..raw).and_then(packed_key) else {
            continue;
        };
        for &s in batch.short.get(&p).into_iter().flatten() {
            let f = &mut found[s as usize];
            if f.is_none() {
                *f = Some(i as u32);
            }
        }
    }
    found
}

/// `properties.put_value`'s walk to the mapping at `parent` (containers made on the way).
fn cursor<'t, 'a>(tree: &'t mut V<'a>, parent: &[Part<'_>], leaf: &str) -> R<&'t mut Pairs<'a>> {
    let mut cur = tree;
    for (k, part) in parent.iter().enumerate() {
        let next_is_list = match parent.get(k + 1) {
            Some(Part::Item(_)) => true,
            Some(Part::Key(n)) => *n == "items",
            None => leaf == "items",
        };
        cur = match *part {
            Part::Item(i) => {
                let V::Seq(items) = cur else {
                    return Err(Bail("item of a non-list"));
                };
                if i >= MAX_LIST_ITEMS {
                    return Err(Bail("list too long"));
                }
                while items.len() <= i {
                    items.push(V::Map(Vec::new()));
                }
                &mut items[i]
            }
            Part::Key(name) => {
                let V::Map(pairs) = cur else {
                    return Err(Bail("key of a non-mapping"));
                };
                let at = match pairs.iter().position(|(k, _)| k == name) {
                    Some(at) => at,
                    None => {
                        let fresh = if next_is_list {
                            V::Seq(Vec::new())
                        } else {
                            V::Map(Vec::new())
                        };
                        pairs.push((Cow::Owned(name.to_owned()), fresh));
                        pairs.len() - 1
                    }
                };
                &mut pairs[at].1
            }
        };
    }
    match cur {
        V::Map(pairs) => Ok(pairs),
        _ => Err(Bail("cursor is not a mapping")),
    }
}

/// One batch's values per slot; None when the batch's HDU is missing.
type BatchValues<'a> = Option<Vec<Option<V<'a>>>>;

/// The header values a [`KwPlan`] stores, read before (and independently of) the tree: for
/// each step application (a step, or a list step for one item) and batch, the HDU's values
/// per slot as the tree stores them (None: no such card, or one without a value).
pub struct Cards<'a> {
    /// (step index, item) in walk order, and per batch the slot values (None: no HDU, or no
    /// value to store).
    apps: Vec<(usize, Option<usize>, Vec<BatchValues<'a>>)>,
}

/// Read every header value `plan` asks for. `items`: list indexes with an HDU.
pub fn read_cards<'a>(plan: &KwPlan, hdus: &'a [Hdu], items: &[usize]) -> R<Cards<'a>> {
    let mut apps = Vec::new();
    for (si, step) in plan.steps.iter().enumerate() {
        let indexes: Vec<Option<usize>> = match step.list {
            None => vec![None],
            Some(_) => items.iter().map(|&i| Some(i)).collect(),
        };
        for index in indexes {
            if index.is_some_and(|i| i >= MAX_LIST_ITEMS) {
                return Err(Bail("list too long"));
            }
            let mut batches = Vec::with_capacity(step.batches.len());
            for b in &step.batches {
                let Some(hi) = get_hdu(hdus, b.hdu.as_deref(), index) else {
                    batches.push(None);
                    continue;
                };
                let h = &hdus[hi];
                let values: Vec<Option<V<'a>>> = lookup(h, b)
                    .into_iter()
                    .map(|k| k.and_then(|k| card_value(h, k as usize)))
                    .collect();
                batches.push(Some(values));
            }
            apps.push((si, index, batches));
        }
    }
    Ok(Cards { apps })
}

/// Card `k` of `h` as the tree stores it; None for a card without a value (astropy's
/// UNDEFINED), which stores nothing.
fn card_value(h: &Hdu, k: usize) -> Option<V<'_>> {
    // A record-valued card is found only by its raw keyword: its raw value.
    if !h.header.rvkc.is_empty() {
        if let Some(v) = h.header.rvkc_rawvalue(k) {
            return Some(V::card(v));
        }
    }
    let img = h.header.image(&h.header.cards[k]);
    if let Some(v) = quick_value(img) {
        return Some(v);
    }
    match card::parse_value(img) {
        Value::Undefined => None,
        v => Some(V::card(v)),
    }
}

/// The value of one 80-byte card image in its common forms (a standard keyword; a string
/// without `''`, T/F, a decimal integer or float; blanks or a comment after it), as
/// [`V::card`] of [`card::parse_value`] gives it; None for any other card.
fn quick_value(img: &[u8]) -> Option<V<'_>> {
    // Branch-free, so it vectorizes.
    if img.len() != CARD
        || &img[8..10] != b"= "
        || img
            .iter()
            .fold(false, |bad, c| bad | !(0x20..0x7f).contains(c))
        || matches!(
            &img[..8],
            b"COMMENT " | b"HISTORY " | b"        " | b"END     " | b"CONTINUE" | b"HIERARCH"
        )
    {
        return None;
    }
    let key_len = img[..8].iter().position(|&c| c == b' ').unwrap_or(8);
    if key_len == 0
        || !img[..key_len]
            .iter()
            .all(|&c| card::KEY_CHARS[usize::from(c)])
        || !img[key_len..8].iter().all(|&c| c == b' ')
    {
        return None;
    }
    let b = &img[10..];
    let i = b.iter().position(|&c| c != b' ')?;
    // After the value: blanks, or blanks and a comment.
    let tail_ok = |t: &[u8]| t.iter().find(|&&c| c != b' ').is_none_or(|&c| c == b'/');
    match b[i] {
        b'\'' => {
            let s = &b[i + 1..];
            let q = s.iter().position(|&c| c == b'\'')?;
            if s.get(q + 1) == Some(&b'\'') || !tail_ok(&s[q + 1..]) {
                return None;
            }
            // Trailing blanks are not part of the value.
            let end = s[..q].iter().rposition(|&c| c != b' ').map_or(0, |e| e + 1);
            Some(V::Str(Cow::Borrowed(std::str::from_utf8(&s[..end]).ok()?)))
        }
        b'T' | b'F' => tail_ok(&b[i + 1..]).then_some(V::Bool(b[i] == b'T')),
        _ => {
            let k = b[i..]
                .iter()
                .position(|&c| c == b' ' || c == b'/')
                .map_or(b.len(), |k| i + k);
            let t = &b[i..k];
            if !tail_ok(&b[k..]) {
                return None;
            }
            let digits = t
                .strip_prefix(b"-")
                .or_else(|| t.strip_prefix(b"+"))
                .unwrap_or(t);
            if !digits.is_empty() && digits.len() <= 18 && digits.iter().all(u8::is_ascii_digit) {
                let n = digits
                    .iter()
                    .fold(0i64, |n, &d| n * 10 + i64::from(d - b'0'));
                return Some(V::Int(if t[0] == b'-' { -n } else { n }));
            }
            // [+-] digits [. digits] [E [+-] digits], a digit in the mantissa.
            let (mant, exp) = match digits.iter().position(|&c| c == b'E') {
                Some(e) => (&digits[..e], Some(&digits[e + 1..])),
                None => (digits, None),
            };
            let mant_ok = mant.iter().filter(|&&c| c == b'.').count() <= 1
                && mant.iter().any(u8::is_ascii_digit)
                && mant.iter().all(|&c| c == b'.' || c.is_ascii_digit());
            let exp_ok = exp.is_none_or(|e| {
                let d = e
                    .strip_prefix(b"-")
                    .or_else(|| e.strip_prefix(b"+"))
                    .unwrap_or(e);
                !d.is_empty() && d.iter().all(u8::is_ascii_digit)
            });
            if !(mant_ok && exp_ok && (exp.is_some() || mant.contains(&b'.'))) {
                return None;
            }
            std::str::from_utf8(t)
                .ok()?
                .parse::<f64>()
                .ok()
                .map(V::Float)
        }
    }
}

/// `fits_support._load_from_schema(ignore_arrays=True, keep_unknown=False)` without
/// validation: every keyword found is stored raw, in the walk's order.
pub fn apply<'a>(tree: &mut V<'a>, plan: &KwPlan, cards: Cards<'a>) -> R<()> {
    for (si, index, found) in cards.apps {
        apply_step(tree, &plan.steps[si], found, index)?;
    }
    Ok(())
}

fn apply_step<'a>(
    tree: &mut V<'a>,
    step: &Step,
    mut found: Vec<BatchValues<'a>>,
    index: Option<usize>,
) -> R<()> {
    let mut path: Vec<Part<'_>> = Vec::with_capacity(8);
    for run in &step.runs {
        let Some(values) = &mut found[run.batch] else {
            continue;
        };
        let values = &mut values[run.first..run.first + run.leaves.len()];
        if values.iter().all(Option::is_none) {
            continue;
        }
        let mut target: Option<&mut Pairs<'a>> = None;
        for (leaf, value) in run.leaves.iter().zip(values) {
            let value = match value.take() {
                None => continue,
                Some(V::Card(v)) if matches!(*v, Value::Unparsable(_)) => {
                    return Err(Bail("unparsable card"))
                }
                Some(v) => v,
            };
            if target.is_none() {
                path.clear();
                if let (Some(list), Some(i)) = (&step.list, index) {
                    path.extend(list.iter().map(|k| Part::Key(k)));
                    path.push(Part::Item(i));
                }
                path.extend(run.parent.iter().map(|k| Part::Key(k)));
                target = Some(cursor(tree, &path, leaf)?);
            }
            let Some(pairs) = target.as_deref_mut() else {
                continue;
            };
            match pairs.iter_mut().find(|(k, _)| k == leaf) {
                Some((_, slot)) => *slot = value,
                None => pairs.push((Cow::Owned(leaf.clone()), value)),
            }
        }
    }
    Ok(())
}

/// The list items the keyword walk visits: indexes `v - 1` of the EXTVERs present, and 0.
pub fn list_items(hdus: &[Hdu]) -> Vec<usize> {
    let top = hdus.iter().map(|h| h.ver).max().unwrap_or(0);
    let mut out: Vec<usize> = hdus
        .iter()
        .filter(|h| h.ver >= 1)
        .map(|h| (h.ver - 1) as usize)
        .collect();
    if top >= 1 {
        out.push(0);
    }
    out.sort_unstable();
    out.dedup();
    out
}

// --- cal_logs and flattening -----------------------------------------------------------------

fn text_of<'v>(v: &'v V<'_>) -> Option<&'v str> {
    match v {
        V::Str(s) => Some(s),
        _ => None,
    }
}

/// `cal_logs` (a mapping of str, lists of str or mappings of str) joined into one string.
pub fn join_cal_logs(tree: &mut V<'_>) -> R<()> {
    let V::Map(pairs) = tree else {
        return Err(Bail("root is not a mapping"));
    };
    let Some((_, logs)) = pairs.iter_mut().find(|(k, _)| k == "cal_logs") else {
        return Ok(());
    };
    let V::Map(steps) = &*logs else {
        return Err(Bail("cal_logs is not a mapping"));
    };
    let mut text = String::new();
    for (_, val) in steps {
        match val {
            V::Map(kv) => {
                let lines: Option<Vec<String>> = kv
                    .iter()
                    .map(|(k, v)| text_of(v).map(|v| format!("{k}: {v}")))
                    .collect();
                text.push_str(&lines.ok_or(Bail("cal_logs value"))?.join("\n"));
            }
            V::Seq(items) => {
                let lines: Option<Vec<&str>> = items.iter().map(text_of).collect();
                text.push_str(&lines.ok_or(Bail("cal_logs value"))?.join("\n"));
            }
            v => text.push_str(text_of(v).ok_or(Bail("cal_logs value"))?),
        }
        text.push('\n');
    }
    *logs = V::Str(Cow::Owned(text));
    Ok(())
}

/// `util._to_flat_dict`: `f(dotted key, fresh, leaf)` for every leaf in order; `wcs` keys
/// skipped, None leaves kept, empty containers give nothing. `key[..fresh]` is the start of
/// the previous call's key, unchanged (0 on the first call).
pub fn flatten<'a, E>(
    tree: &V<'a>,
    f: &mut impl FnMut(&str, usize, &V<'a>) -> Result<(), E>,
) -> Result<(), E> {
    /// `key`: the path so far; `top`: at the root (its keys get no leading dot); `low`: the
    /// shortest `key` since the last call of `f`.
    fn walk<'a, E>(
        v: &V<'a>,
        key: &mut String,
        low: &mut usize,
        top: bool,
        f: &mut impl FnMut(&str, usize, &V<'a>) -> Result<(), E>,
    ) -> Result<(), E> {
        let base = key.len();
        match v {
            V::Map(pairs) => {
                for (k, x) in pairs {
                    if k == SKIP_KEY {
                        continue;
                    }
                    key.truncate(base);
                    *low = (*low).min(base);
                    if !top {
                        key.push('.');
                    }
                    key.push_str(k);
                    walk(x, key, low, false, f)?;
                }
            }
            V::Seq(items) => {
                for (i, x) in items.iter().enumerate() {
                    key.truncate(base);
                    *low = (*low).min(base);
                    if !top {
                        key.push('.');
                    }
                    key.push_str(itoa(i, &mut [0u8; 20]));
                    walk(x, key, low, false, f)?;
                }
            }
            // Only reachable under a `wcs` key, which is skipped above.
            V::Skipped => {}
            leaf => {
                f(key, *low, leaf)?;
                *low = key.len();
            }
        }
        key.truncate(base);
        *low = (*low).min(base);
        Ok(())
    }
    let mut key = String::with_capacity(128);
    walk(tree, &mut key, &mut 0, true, f)
}

fn itoa(mut n: usize, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    std::str::from_utf8(&buf[i..]).unwrap_or("0")
}

/// The primary `DATAMODL` as a string, if it is one.
pub fn datamodl(hdus: &[Hdu]) -> R<String> {
    let h = hdus.first().ok_or(Bail("no HDUs"))?;
    match h.header.get("DATAMODL") {
        Some(Value::Str(s)) => Ok(s),
        Some(_) => Err(Bail("DATAMODL is not a string")),
        None => Err(Bail("no DATAMODL")),
    }
}

/// The YAML of the ASDF HDU, ready for [`Yaml::tree`].
pub fn fits_yaml<'a>(buf: &'a [u8], hdus: &[Hdu]) -> R<Yaml<'a>> {
    let a = hdu::find(hdus, "ASDF", None).ok_or(Bail("no ASDF HDU"))?;
    Yaml::new(asdf_bytes(buf, &hdus[a])?)
}

/// The whole fast path on an indexed FITS file: the ASDF tree with the header values of
/// `plan` stored over it and `cal_logs` joined, ready to flatten. (Reading the tree and the
/// header values on two threads measured no faster: the halves are too short.)
pub fn fits_tree<'a>(buf: &'a [u8], hdus: &'a [Hdu], plan: &KwPlan) -> R<V<'a>> {
    let mut t = fits_yaml(buf, hdus)?.tree()?;
    let cards = read_cards(plan, hdus, &list_items(hdus))?;
    apply(&mut t, plan, cards)?;
    join_cal_logs(&mut t)?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asdf::tests::{mutate, wcs_like, Rng};

    /// The general path's tree (composer + [`from_doc`]); the fast sink must agree with it.
    fn yaml_tree(y: &str) -> R<V<'static>> {
        let general = yaml::compose(y.as_bytes())
            .map_err(|_| Bail("compose"))
            .and_then(from_doc);
        let mut sink = TreeSink::new();
        if fast::parse(y.as_bytes(), &mut sink).is_some() {
            assert_eq!(sink.finish(), general, "fast tree differs:\n{y}");
        }
        general
    }

    fn flat<'a>(v: &V<'a>) -> Vec<(String, V<'a>)> {
        let mut out: Vec<(String, V<'a>)> = Vec::new();
        flatten::<()>(v, &mut |k, fresh, x| {
            let prev = out.last().map_or("", |p| p.0.as_str());
            assert!(fresh <= k.len() && fresh <= prev.len() && k[..fresh] == prev[..fresh]);
            out.push((k.to_string(), x.clone()));
            Ok(())
        })
        .unwrap();
        out
    }

    fn s(x: &str) -> V<'static> {
        V::Str(Cow::Owned(x.into()))
    }

    #[test]
    fn flattens_like_stdatamodels() {
        let t = yaml_tree(
            "---\na: {b: 1, wcs: {x: 2}, c: [x, [y], {d: null}], e: {}, f: []}\ng: !foo bar\n",
        )
        .unwrap();
        let f = flat(&t);
        let keys: Vec<&str> = f.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a.b", "a.c.0", "a.c.1.0", "a.c.2.d", "g"]);
        assert_eq!(f[4].1, s("bar"));
        assert_eq!(f[3].1, V::Null);
        // Empty keys: "" at the top, "a." below, ".b" under a top-level "".
        let t = yaml_tree("---\n'': {b: 1, '': 2}\n").unwrap();
        let keys: Vec<String> = flat(&t).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, [".b", "."]);
    }

    #[test]
    fn bails_on_what_it_does_not_model() {
        assert_eq!(yaml_tree("a: &x {b: 1}\nc: *x\n"), Err(Bail("anchors")));
        assert_eq!(yaml_tree("---\n1: a\n"), Err(Bail("key not a string")));
        assert_eq!(yaml_tree("---\na: 1\na: 2\n"), Err(Bail("duplicate keys")));
        assert_eq!(
            yaml_tree("a: !!omap [{b: 1}]\n"),
            Err(Bail("!!omap, !!pairs or !!set"))
        );
        assert_eq!(
            yaml_tree("---\na: 2001-12-14\n"),
            Err(Bail("timestamp or binary scalar"))
        );
        assert_eq!(yaml_tree("---\n- a\n"), Err(Bail("root is not a mapping")));
        assert_eq!(
            yaml_tree("---\na: 123456789012345678901234\n").map(|t| flat(&t).len()),
            Ok(1)
        );
    }

    #[test]
    fn cursor_makes_containers_like_put_value() {
        let mut t = yaml_tree("---\nmeta: {a: 1}\n").unwrap();
        let p = [Part::Key("slits"), Part::Item(2), Part::Key("meta")];
        cursor(&mut t, &p, "x")
            .unwrap()
            .push((Cow::Borrowed("x"), s("v")));
        let keys: Vec<String> = flat(&t).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["meta.a", "slits.2.meta.x"]);
        // Empty items padded before it vanish when flattened.
        let V::Map(top) = &t else { panic!() };
        let V::Seq(items) = &top[1].1 else { panic!() };
        assert_eq!(items.len(), 3);
        // A scalar in the way bails.
        let p = [Part::Key("meta"), Part::Key("a")];
        assert_eq!(
            cursor(&mut t, &p, "x").map(|_| ()),
            Err(Bail("cursor is not a mapping"))
        );
    }

    #[test]
    fn quick_card_values_are_the_parsed_values() {
        // Every card the quick path takes must give what the general card parser gives.
        let keys = [
            "KEY", "NAXIS1", "A-B_C", "key", "COMMENT", "HISTORY", "", "HIERARCH", "END",
        ];
        let values = [
            "'abc'",
            "'abc   '",
            "'  lead'",
            "''",
            "' '",
            "'it''s'",
            "'abc",
            "'a'b",
            "'a'/c",
            "'\u{7f}'",
            "T",
            "F",
            "Tx",
            "T/",
            "t",
            "0",
            "-0",
            "+5",
            "007",
            "123456789012345678",
            "1234567890123456789",
            "-",
            "+",
            "1.",
            ".5",
            "-0.0",
            "1.5E10",
            "1.5e10",
            "1.5D10",
            "+.5",
            "1E5",
            "1E+05",
            "1E-5",
            "1.2.3",
            "E5",
            ".",
            "1.5E",
            "1.5E+",
            "(1, 2)",
            "1 2",
            "INF",
            "NaN",
            "",
        ];
        let tails = [
            "",
            "   / comment",
            "/comment",
            " junk",
            " / it's",
            " /",
            "\t",
        ];
        let mut taken = 0;
        for k in keys {
            for v in values {
                for t in tails {
                    for eq in ["= ", "=", " ="] {
                        for pad in [0usize, 1, 12] {
                            let mut img =
                                format!("{k:<8}{eq}{}{v}{t}", " ".repeat(pad)).into_bytes();
                            img.truncate(80);
                            img.resize(80, b' ');
                            let Some(q) = quick_value(&img) else { continue };
                            taken += 1;
                            let want = card::parse_value(&img);
                            assert!(!matches!(want, Value::Undefined | Value::Unparsable(_)));
                            same_card_value(&q, want, &img);
                        }
                    }
                }
            }
        }
        assert!(taken > 1000, "{taken}");
        // And every card of the real products, when they are here.
        let Ok(dir) = std::fs::read_dir("/work/shared/fixtures/real") else {
            return;
        };
        for f in dir
            .flatten()
            .filter(|f| f.path().extension().is_some_and(|e| e == "fits"))
        {
            let buf = std::fs::read(f.path()).unwrap();
            for h in hdu::index(&buf).unwrap() {
                for c in &h.header.cards {
                    let img = h.header.image(c);
                    if let Some(q) = quick_value(img) {
                        same_card_value(&q, card::parse_value(img), img);
                    }
                }
            }
        }
    }

    fn same_card_value(q: &V<'_>, want: Value, img: &[u8]) {
        let text = String::from_utf8_lossy(img);
        assert!(
            !matches!(want, Value::Undefined | Value::Unparsable(_)),
            "{text:?}"
        );
        match (q, V::card(want)) {
            (V::Float(a), V::Float(b)) => assert_eq!(a.to_bits(), b.to_bits(), "{text:?}"),
            (q, want) => assert_eq!(*q, want, "{text:?}"),
        }
    }

    #[test]
    fn cal_logs_join() {
        let mut t = yaml_tree("---\ncal_logs: {a: [x, y], b: {k: v}, c: z}\n").unwrap();
        join_cal_logs(&mut t).unwrap();
        assert_eq!(
            flat(&t),
            vec![("cal_logs".to_string(), s("x\ny\nk: v\nz\n"))]
        );
        let mut t = yaml_tree("---\ncal_logs: {a: [1]}\n").unwrap();
        assert_eq!(join_cal_logs(&mut t), Err(Bail("cal_logs value")));
    }

    fn doc_with_wcs(key: &str) -> String {
        let body: String = (0..200)
            .map(|i| format!("    t{i}: {{offset: {i}.0}}\n"))
            .collect();
        format!(
            "%YAML 1.1\n---\nmeta:\n  {key}: !<tag:stsci.edu:gwcs/wcs-1.0.0>\n{body}  x: 1\n...\n"
        )
    }

    /// The fast tree of `y`, if the fast path takes it.
    fn fast_tree(y: &str) -> Option<V<'_>> {
        let mut sink = TreeSink::new();
        fast::parse(y.as_bytes(), &mut sink)?;
        sink.finish().ok()
    }

    #[test]
    fn wcs_subtrees_are_not_composed() {
        // A double-quoted scalar in the body: the fast parser would refuse it, had it read it.
        let y = doc_with_wcs("wcs").replace("t7: {offset: 7.0}", "t7: \"q\"");
        let t = fast_tree(&y).expect("the wcs body was not skipped");
        assert_eq!(flat(&t), vec![("meta.x".to_string(), V::Int(1))]);
        let V::Map(top) = &t else { panic!() };
        let V::Map(meta) = &top[0].1 else { panic!() };
        assert_eq!(meta[0], (Cow::Borrowed("wcs"), V::Skipped));
        // Through `Yaml`, and the general composer when the fast parser declines elsewhere.
        let asdf = format!("#ASDF 1.0.0\n{y}");
        assert_eq!(Yaml::new(asdf.as_bytes()).unwrap().tree().unwrap(), t);
        let odd = asdf.replace("  x: 1", "  x: \"1\"");
        let t2 = Yaml::new(odd.as_bytes()).unwrap().tree().unwrap();
        assert_eq!(flat(&t2), vec![("meta.x".to_string(), s("1"))]);
        // Other big tagged subtrees are read.
        assert!(fast_tree(&y.replace("  wcs: !", "  other: !")).is_none());
        // Anchors: aliased only after their anchor, in this or an earlier skipped body.
        let two = |a: &str, b: &str| {
            let y = doc_with_wcs("wcs");
            let second = y.replace("%YAML 1.1\n---\nmeta:\n", "slit:\n");
            let y = format!("{}{}", y.replace("...\n", ""), second);
            let y = y.replacen("t3: {offset: 3.0}", a, 1);
            let at = y.rfind("t5: {offset: 5.0}").unwrap();
            format!("{}{}{}", &y[..at], b, &y[at + "t5: {offset: 5.0}".len()..])
        };
        let y = two("t3: &a {offset: 3.0}", "t5: *a");
        assert!(fast_tree(&y).is_some(), "{y}");
        assert!(fast_tree(&two("t3: *a", "t5: &a {offset: 5.0}")).is_none());
        assert!(fast_tree(&two("t3: [*a]", "t5: 1")).is_none());
        // A duplicate anchor is an error (PyYAML's composer).
        assert!(fast_tree(&two("t3: &a {offset: 3.0}", "t5: &a 1")).is_none());
        // Not a body: the value's lines are not deeper than its key.
        let t = fast_tree("%YAML 1.1\n---\nwcs: !<tag:x/y-1.0>\n- a\n").unwrap();
        assert_eq!(
            t,
            V::Map(vec![(Cow::Borrowed("wcs"), V::Seq(vec![s("a")]))])
        );
    }

    /// The fast path (fast events into [`TreeSink`], wcs bodies skipped) gives, when it gives
    /// anything, the flat dict of the general composer on the whole text, and the tree of the
    /// composer on the text with its wcs subtrees cut out, on randomly damaged documents.
    #[test]
    fn fuzz_fast_tree_equals_general() {
        let wcs = wcs_like(4)
            .replace("\n  ", "\n      ")
            .replacen("  - ", "      - ", 1);
        let base = format!(
            "%YAML 1.1\n%TAG ! tag:stsci.edu:asdf/\n--- !core/asdf-1.1.0\n\
             asdf_library: !core/software-1.0.0 {{author: The ASDF Developers, homepage: 'http://github.com/asdf-format/asdf',\n  \
             name: asdf, version: 3.0.0}}\n_fits_hash: abc\nmeta:\n  date: '2021-02-17T01:44:58.271'\n  n: ~\n  \
             ok: true\n  x: -0.5\n  big: 123456789012345678901234\n  note: 'a long single quoted\n    string with ''quotes'' in it'\n  \
             plain: a long plain\n    continued here\n  wcs: !<tag:stsci.edu:gwcs/wcs-1.1.0>\n    steps:\n{wcs}  \
             wcsinfo: {{ra_ref: 1.5, v3yangle: -0.1}}\nslits:\n- !core/asdf-1.1.0\n  name: s0\n  data: !core/ndarray-1.0.0\n    \
             source: fits:SCI,1\n    shape: [2, 3]\n  meta:\n    wcs: !<tag:stsci.edu:gwcs/wcs-1.1.0>\n      steps:\n{wcs2}    \
             wcsinfo: {{spectral_order: 1}}\n  list:\n  - - 1\n    - 2\n  - [3, [4, 5], {{a: b}}]\n  - k: v\n...\n",
            wcs = wcs,
            wcs2 = wcs
                .replace("\n      ", "\n        ")
                .replacen("      - ", "        - ", 1)
                .replace("id00", "jd00"),
        );
        let iterations: usize = std::env::var("JWSTIO_FUZZ")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(300);
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let (mut taken, mut unseen) = (0, 0);
        for i in 0..=iterations {
            let doc = if i == 0 {
                base.clone()
            } else {
                mutate(&base, &mut rng)
            };
            let mut sink = TreeSink::new();
            let fast_tree = match fast::parse(doc.as_bytes(), &mut sink) {
                Some(()) => {
                    let skipped = std::mem::take(&mut sink.skipped);
                    sink.finish().ok().map(|t| (t, skipped))
                }
                None => None,
            };
            let Some((fast_tree, skipped)) = fast_tree else {
                assert!(i > 0, "base refused:\n{doc}");
                continue;
            };
            // The general composer on the cut text: the very same tree.
            if let Some(plan) = lazy::plan_only(doc.as_bytes(), 0, b"wcs") {
                let opts = yaml::Options {
                    expect: Some(&plan.expect),
                    ..Default::default()
                };
                if let Ok(cut) = yaml::compose_with(&plan.text, opts)
                    .map_err(|_| Bail("compose"))
                    .and_then(from_doc)
                {
                    assert_eq!(cut, fast_tree, "differs from the cut text:\n{doc}");
                }
            }
            // The whole text, when it composes (errors inside skipped wcs bodies are not seen:
            // a documented difference), flattens the same.
            match yaml::compose(doc.as_bytes()) {
                Ok(mut full) => {
                    // Anchors inside wcs bodies: the aliased node goes to its first use.
                    full.anchors.clear();
                    if let Ok(full) = from_doc(full) {
                        assert_eq!(
                            flat(&fast_tree),
                            flat(&full),
                            "differs from the whole text:\n{doc}"
                        );
                    }
                }
                Err(e) => {
                    // Only errors inside a skipped body (or at the line after it, where
                    // libyaml may notice a broken structure) may be hidden.
                    let line = e.msg.split(" at line ").nth(1).and_then(|r| {
                        r.split(|c: char| !c.is_ascii_digit())
                            .next()?
                            .parse::<u64>()
                            .ok()
                    });
                    let Some(line) = line.map(|l| l - 1) else {
                        // libyaml-safer gave up (a panic of its own): nowhere to check.
                        assert!(e.msg.contains("failed on this input"), "{e:?}");
                        unseen += 1;
                        continue;
                    };
                    assert!(
                        skipped.iter().any(|&(a, b)| a <= line && line <= b + 1),
                        "error outside skipped bodies {skipped:?} hidden: {e:?}\n{doc}"
                    );
                    unseen += 1;
                }
            }
            taken += 1;
        }
        assert!(taken > iterations / 3, "fast path took only {taken}");
        eprintln!("{taken} taken, {unseen} with an error inside a skipped body");
        assert!(taken > iterations / 10, "fast path took only {taken}");
    }
}
