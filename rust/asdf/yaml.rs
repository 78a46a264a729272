//! YAML composer: libyaml-safer events -> a node arena with PyYAML/asdf semantics (tag
//! resolution, anchors shared by aliases, merge keys, core-tag construction).
//!
//! libyaml-safer is a safe port of libyaml, the parser PyYAML's CSafeLoader (and so asdf)
//! uses, so the event stream matches the oracle's for the same bytes.

use super::resolve::{self, Core, Implicit, Scalar};
use crate::error::{Error, Result};
pub use libyaml_safer::ScalarStyle;
use libyaml_safer::{EventData, MappingStyle, SequenceStyle};

/// A 0-based position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mark {
    pub line: u64,
    pub column: u64,
}

/// The parts of a libyaml event the composer reads (libyaml-safer's own event types cannot
/// be built outside it, and the fast path makes these directly).
#[derive(Debug, PartialEq)]
pub enum Ev {
    StreamStart,
    StreamEnd,
    DocumentStart,
    DocumentEnd,
    Alias {
        anchor: String,
    },
    Scalar {
        anchor: Option<String>,
        tag: Option<String>,
        value: String,
        style: ScalarStyle,
    },
    SequenceStart {
        anchor: Option<String>,
        tag: Option<String>,
        block: bool,
    },
    MappingStart {
        anchor: Option<String>,
        tag: Option<String>,
        block: bool,
    },
    SequenceEnd,
    MappingEnd,
}

/// A libyaml-safer event as an [`Ev`] and its start mark.
pub fn from_lib(ev: libyaml_safer::Event) -> (Ev, Mark) {
    let m = Mark {
        line: ev.start_mark.line,
        column: ev.start_mark.column,
    };
    let e = match ev.data {
        EventData::StreamStart { .. } => Ev::StreamStart,
        EventData::StreamEnd => Ev::StreamEnd,
        EventData::DocumentStart { .. } => Ev::DocumentStart,
        EventData::DocumentEnd { .. } => Ev::DocumentEnd,
        EventData::Alias { anchor } => Ev::Alias { anchor },
        EventData::Scalar {
            anchor,
            tag,
            value,
            style,
            ..
        } => Ev::Scalar {
            anchor,
            tag,
            value,
            style,
        },
        EventData::SequenceStart {
            anchor, tag, style, ..
        } => Ev::SequenceStart {
            anchor,
            tag,
            block: style == SequenceStyle::Block,
        },
        EventData::MappingStart {
            anchor, tag, style, ..
        } => Ev::MappingStart {
            anchor,
            tag,
            block: style == MappingStyle::Block,
        },
        EventData::SequenceEnd => Ev::SequenceEnd,
        EventData::MappingEnd => Ev::MappingEnd,
    };
    (e, m)
}
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::HashMap;

pub type NodeId = u32;

/// Deepest collection nesting accepted (a real ASDF tree is < 50 deep).
pub const MAX_DEPTH: usize = 500;
/// Most (key, value) pairs merge keys (`<<`) may produce in one document.
pub const MAX_MERGED_PAIRS: usize = 10_000_000;

pub const MERGE_TAG: &str = "tag:yaml.org,2002:merge";
pub const VALUE_TAG: &str = "tag:yaml.org,2002:value";
pub const NDARRAY_PREFIX: &str = "tag:stsci.edu:asdf/core/ndarray-";
/// First character of the placeholder scalars that stand for lazy subtrees (private use).
pub const PLACEHOLDER: char = '\u{E000}';

/// How a node is constructed.
#[derive(Debug, Clone, PartialEq)]
pub enum Tag {
    /// Untagged or a YAML core tag: plain Python value (scalar already constructed).
    Core,
    /// `!!omap` -> OrderedDict.
    Omap,
    /// `!!pairs` -> list of (key, value) tuples.
    Pairs,
    /// `!!set` -> set of keys.
    Set,
    /// An asdf ndarray mapping (or inline list).
    NdArray(Box<str>),
    /// Any other tag: kept as (tag, value); scalars keep their raw text.
    Custom(Box<str>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    Scalar(Scalar),
    Seq(Vec<NodeId>),
    Map(Vec<(NodeId, NodeId)>),
    /// A subtree left unparsed: index into the lazy plan's regions.
    Lazy(u32),
    /// An alias to an anchor of another (earlier) lazy region: index into `Doc::externs`.
    Extern(u32),
}

#[derive(Debug, Clone)]
pub struct Node {
    pub tag: Tag,
    pub content: Content,
    /// 0-based line and column of the node's start (properties included).
    pub line: u32,
    pub col: u32,
}

/// A composed document.
#[derive(Debug, Default)]
pub struct Doc {
    pub nodes: Vec<Node>,
    /// Node ids in completion order: children and alias targets come before their users.
    pub order: Vec<NodeId>,
    pub root: Option<NodeId>,
    /// Flattened pairs (merge keys applied, PyYAML order) for mappings that had merge keys.
    pub merged: HashMap<NodeId, Vec<(NodeId, NodeId)>>,
    /// For each lazy region: the nesting depth of the collection holding its placeholder.
    pub lazy_depth: HashMap<u32, usize>,
    /// Add to node lines to get lines of the original text (lazy regions).
    pub line_offset: i64,
    /// Anchor names and their nodes.
    pub anchors: HashMap<String, NodeId>,
    /// Names of imported anchors referenced by `Content::Extern`.
    pub externs: Vec<String>,
    /// Construction errors (bad core tag for the node kind, bad `!!int` text, malformed
    /// `!!omap`, bad merge...). As in PyYAML they count only if the node is constructed:
    /// `!!omap`/`!!pairs` items and merge sources are not.
    pub errors: HashMap<NodeId, NodeError>,
}

#[derive(Debug, Clone)]
pub struct NodeError {
    pub msg: String,
    /// Raised while flattening merge keys (so also by mappings merging this one).
    pub flatten: bool,
}

impl Doc {
    pub fn node(&self, id: NodeId) -> &Node {
        // Ids are only made by the composer, always < nodes.len().
        &self.nodes[id as usize]
    }

    /// The (key, value) pairs of a mapping as PyYAML's construct_mapping sees them.
    pub fn pairs(&self, id: NodeId) -> &[(NodeId, NodeId)] {
        if let Some(m) = self.merged.get(&id) {
            return m;
        }
        match &self.node(id).content {
            Content::Map(p) => p,
            _ => &[],
        }
    }

    /// The string value of a plain/str scalar node, if it is one.
    pub fn str_of(&self, id: NodeId) -> Option<&str> {
        match &self.node(id).content {
            Content::Scalar(Scalar::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// Last value for string key `key` in mapping `id` (later keys win, as in a dict).
    pub fn get(&self, id: NodeId, key: &str) -> Option<NodeId> {
        self.pairs(id)
            .iter()
            .rev()
            .find(|(k, _)| self.key_str(*k) == Some(key))
            .map(|(_, v)| *v)
    }

    /// A mapping key as a string, if it constructs to one (`=` keys become "=").
    pub fn key_str(&self, k: NodeId) -> Option<&str> {
        let n = self.node(k);
        match (&n.tag, &n.content) {
            (Tag::Core, Content::Scalar(Scalar::Str(s))) => Some(s),
            (Tag::Custom(t), Content::Scalar(Scalar::Str(s))) if &**t == VALUE_TAG => Some(s),
            _ => None,
        }
    }
}

/// Where a lazy placeholder must appear (in the composed text) to be accepted.
#[derive(Debug, Clone)]
pub struct Expect {
    /// 0-based line of the placeholder's tag.
    pub line: u64,
    /// Column of the tag (`!`).
    pub tag_col: u64,
    /// For `key: !tag`: the column of the key on the same line; None for `- !tag`.
    pub key_col: Option<u64>,
}

/// Compose options.
#[derive(Debug, Default, Clone)]
pub struct Options<'a> {
    /// Nesting depth of the position this text is composed at (lazy subtrees).
    pub base_depth: usize,
    /// Added to 0-based line numbers in messages (lazy subtrees report original lines).
    pub line_offset: i64,
    /// Placeholders to accept as lazy nodes; None: any placeholder-looking scalar is a string.
    pub expect: Option<&'a [Expect]>,
    /// Anchor names defined elsewhere that aliases may refer to (lazy regions).
    pub imports: &'a [String],
}

/// Why composing failed.
#[derive(Debug)]
pub enum Failure {
    /// A genuine error in the document.
    Bad(Error),
    /// A lazy placeholder was not where it was expected: compose the full text instead.
    LazyMismatch(String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Bad(e)
    }
}

enum Frame {
    Seq {
        id: NodeId,
        items: Vec<NodeId>,
        block: bool,
    },
    Map {
        id: NodeId,
        pairs: Vec<(NodeId, NodeId)>,
        key: Option<NodeId>,
        block: bool,
    },
}

struct Composer<'a> {
    doc: Doc,
    stack: Vec<Frame>,
    anchors: HashMap<String, NodeId>,
    opts: Options<'a>,
    confirmed: Vec<bool>,
    merged_total: usize,
    /// Scalar nodes whose text CPython keeps as one shared object (see [`KeyIdent`]).
    shared_text: FxHashMap<NodeId, u32>,
}

/// What PyYAML's merge (6.0.4 and later) compares to drop a merged key seen before:
/// `id()` of the key node's value. CPython shares one object for the empty string and for each
/// one-character string below U+0100, so such keys compare by their text; any other key only
/// by its node (the same node reached again through an alias or a nested merge).
#[derive(Clone, Copy, Hash, PartialEq, Eq)]
enum KeyIdent {
    Text(u32),
    Node(NodeId),
}

/// The [`KeyIdent::Text`] of a scalar's text, when CPython shares its string object.
fn shared_text(value: &str) -> Option<u32> {
    match value.as_bytes() {
        [] => Some(u32::MAX),
        [b] => Some(u32::from(*b)),
        [0xC2 | 0xC3, _] => value.chars().next().map(u32::from),
        _ => None,
    }
}

fn fmt_mark(m: &Mark, offset: i64) -> String {
    format!(
        "line {}, column {}",
        m.line as i64 + offset + 1,
        m.column + 1
    )
}

impl<'a> Composer<'a> {
    fn err(&self, msg: impl std::fmt::Display, m: &Mark) -> Error {
        Error::asdf(format!(
            "YAML: {msg} at {}",
            fmt_mark(m, self.opts.line_offset)
        ))
    }

    fn node_err(&self, msg: impl std::fmt::Display, id: NodeId) -> Error {
        let n = self.doc.node(id);
        Error::asdf(format!(
            "YAML: {msg} at line {}, column {}",
            i64::from(n.line) + self.opts.line_offset + 1,
            n.col + 1
        ))
    }

    fn push_node(&mut self, tag: Tag, content: Content, m: &Mark) -> Result<NodeId> {
        let id =
            NodeId::try_from(self.doc.nodes.len()).map_err(|_| self.err("too many nodes", m))?;
        self.doc.nodes.push(Node {
            tag,
            content,
            line: m.line as u32,
            col: m.column as u32,
        });
        Ok(id)
    }

    fn anchor(&mut self, anchor: Option<String>, id: NodeId, m: &Mark) -> Result<()> {
        if let Some(a) = anchor {
            if self.anchors.contains_key(&a) {
                return Err(self.err(format!("found duplicate anchor '{a}'"), m));
            }
            self.anchors.insert(a, id);
        }
        Ok(())
    }

    /// Attach a finished node to its parent (or make it the root).
    fn attach(&mut self, id: NodeId) -> Result<()> {
        match self.stack.last_mut() {
            None => {
                self.doc.root = Some(id);
            }
            Some(Frame::Seq { items, .. }) => items.push(id),
            Some(Frame::Map { pairs, key, .. }) => match key.take() {
                None => *key = Some(id),
                Some(k) => pairs.push((k, id)),
            },
        }
        Ok(())
    }

    /// A scalar node's tag and content, and its construction error (if any).
    fn scalar(
        &mut self,
        tag: Option<String>,
        value: String,
        style: ScalarStyle,
        m: &Mark,
    ) -> (Tag, Content, Option<String>) {
        let implicit = match tag.as_deref() {
            None => style == ScalarStyle::Plain,
            Some("!") => true,
            Some(_) => false,
        };
        let failed = |e: String| {
            (
                Tag::Core,
                Content::Scalar(Scalar::Null),
                Some(self.err(e, m).msg),
            )
        };
        let Some(tag) = tag.filter(|t| t != "!") else {
            if !implicit {
                return (Tag::Core, Content::Scalar(Scalar::Str(value)), None);
            }
            let s = match resolve::resolve_plain(&value) {
                Implicit::Null => Ok(Scalar::Null),
                Implicit::Bool => resolve::construct_bool(&value).map(Scalar::Bool),
                Implicit::Int => resolve::construct_int(&value),
                Implicit::Float => resolve::construct_float(&value).map(Scalar::Float),
                Implicit::Timestamp => resolve::construct_timestamp(&value),
                Implicit::Merge => {
                    return (
                        Tag::Custom(MERGE_TAG.into()),
                        Content::Scalar(Scalar::Str(value)),
                        None,
                    )
                }
                Implicit::Value => {
                    return (
                        Tag::Custom(VALUE_TAG.into()),
                        Content::Scalar(Scalar::Str(value)),
                        None,
                    )
                }
                Implicit::Str => Ok(Scalar::Str(value)),
            };
            return match s {
                Ok(s) => (Tag::Core, Content::Scalar(s), None),
                Err(e) => failed(e),
            };
        };
        match Core::from_tag(&tag) {
            Some(c @ (Core::Seq | Core::Map | Core::Omap | Core::Pairs | Core::Set)) => {
                let want = if matches!(c, Core::Map | Core::Set) {
                    "mapping"
                } else {
                    "sequence"
                };
                failed(format!(
                    "expected a {want} node for tag {tag}, but found a scalar"
                ))
            }
            Some(c) => match resolve::construct(c, &value) {
                Ok(s) => (Tag::Core, Content::Scalar(s), None),
                Err(e) => failed(format!("{tag}: {e}")),
            },
            None => (
                Tag::Custom(tag.into()),
                Content::Scalar(Scalar::Str(value)),
                None,
            ),
        }
    }

    /// A collection's tag, and its construction error (if any).
    fn collection_tag(&self, tag: Option<String>, is_map: bool, m: &Mark) -> (Tag, Option<String>) {
        let Some(tag) = tag.filter(|t| t != "!") else {
            return (Tag::Core, None);
        };
        let kind = if is_map { "mapping" } else { "sequence" };
        let failed = |msg: String| (Tag::Core, Some(self.err(msg, m).msg));
        match Core::from_tag(&tag) {
            Some(Core::Map | Core::Set) if !is_map => failed(format!(
                "expected a mapping node for tag {tag}, but found a sequence"
            )),
            Some(Core::Seq | Core::Omap | Core::Pairs) if is_map => failed(format!(
                "expected a sequence node for tag {tag}, but found a mapping"
            )),
            Some(Core::Map | Core::Seq) => (Tag::Core, None),
            Some(Core::Set) => (Tag::Set, None),
            Some(Core::Omap) => (Tag::Omap, None),
            Some(Core::Pairs) => (Tag::Pairs, None),
            Some(_) => failed(format!(
                "expected a scalar node for tag {tag}, but found a {kind}"
            )),
            None if tag.starts_with(NDARRAY_PREFIX) => (Tag::NdArray(tag.into()), None),
            None => (Tag::Custom(tag.into()), None),
        }
    }

    fn fail(&mut self, id: NodeId, msg: String, flatten: bool) {
        self.doc
            .errors
            .entry(id)
            .or_insert(NodeError { msg, flatten });
    }

    fn depth_check(&self, m: &Mark) -> Result<()> {
        if self.opts.base_depth + self.stack.len() >= MAX_DEPTH {
            return Err(self.err(format!("nesting deeper than {MAX_DEPTH} levels"), m));
        }
        Ok(())
    }

    /// Accept a placeholder scalar as a lazy node, or report a mismatch.
    fn placeholder(
        &mut self,
        anchor: &Option<String>,
        tag: &Option<String>,
        value: &str,
        style: ScalarStyle,
        m: &Mark,
    ) -> std::result::Result<(Tag, Content), Failure> {
        let mismatch = |why: &str| Failure::LazyMismatch(format!("placeholder {value:?}: {why}"));
        let expect = self.opts.expect.unwrap_or(&[]);
        let idx: usize = value[PLACEHOLDER.len_utf8()..]
            .parse()
            .map_err(|_| mismatch("bad index"))?;
        let e = expect.get(idx).ok_or_else(|| mismatch("unknown index"))?;
        if style != ScalarStyle::Plain || anchor.is_some() {
            return Err(mismatch("not a plain scalar without anchor"));
        }
        let tag = tag.as_deref().ok_or_else(|| mismatch("no tag"))?;
        if tag == "!"
            || super::lazy::EAGER_PREFIXES
                .iter()
                .any(|p| tag.starts_with(p))
        {
            return Err(mismatch("tag must stay eager"));
        }
        if (m.line, m.column) != (e.line, e.tag_col) {
            return Err(mismatch("not at the expected position"));
        }
        match (self.stack.last(), e.key_col) {
            (
                Some(Frame::Map {
                    key: Some(k),
                    block: true,
                    ..
                }),
                Some(kc),
            ) => {
                let kn = self.doc.node(*k);
                if (u64::from(kn.line), u64::from(kn.col)) != (e.line, kc) {
                    return Err(mismatch("key not at line start"));
                }
            }
            (Some(Frame::Seq { block: true, .. }), None) => {}
            _ => return Err(mismatch("not a block mapping value or block sequence item")),
        }
        match self.confirmed.get_mut(idx) {
            Some(c) if !*c => *c = true,
            _ => return Err(mismatch("seen twice")),
        }
        self.doc
            .lazy_depth
            .insert(idx as u32, self.opts.base_depth + self.stack.len());
        Ok((Tag::Custom(tag.into()), Content::Lazy(idx as u32)))
    }

    fn finish(mut self) -> std::result::Result<Doc, Failure> {
        if self.confirmed.iter().any(|x| !x) {
            return Err(Failure::LazyMismatch("a placeholder was not seen".into()));
        }
        self.doc.line_offset = self.opts.line_offset;
        self.doc.anchors = self.anchors;
        Ok(self.doc)
    }

    fn event(&mut self, ev: Ev, m: Mark, docs: &mut usize) -> std::result::Result<bool, Failure> {
        match ev {
            Ev::StreamStart | Ev::DocumentEnd => {}
            Ev::StreamEnd => return Ok(true),
            Ev::DocumentStart => {
                *docs += 1;
                if *docs > 1 {
                    return Err(self
                        .err(
                            "expected a single document in the stream, but found another document",
                            &m,
                        )
                        .into());
                }
            }
            Ev::Alias { anchor } => {
                if !self.anchors.contains_key(&anchor) && self.opts.imports.contains(&anchor) {
                    let k = self.doc.externs.len() as u32;
                    self.doc.externs.push(anchor.clone());
                    let id = self.push_node(Tag::Core, Content::Extern(k), &m)?;
                    self.anchors.insert(anchor, id);
                    self.doc.order.push(id);
                    self.attach(id)?;
                    return Ok(false);
                }
                let id = *self
                    .anchors
                    .get(&anchor)
                    .ok_or_else(|| self.err(format!("found undefined alias '{anchor}'"), &m))?;
                let open = self.stack.iter().any(|f| match f {
                    Frame::Seq { id: o, .. } | Frame::Map { id: o, .. } => *o == id,
                });
                if open {
                    return Err(self
                        .err(
                            format!("found recursive alias '{anchor}' (cycles are not supported)"),
                            &m,
                        )
                        .into());
                }
                self.attach(id)?;
            }
            Ev::Scalar {
                anchor,
                tag,
                value,
                style,
            } => {
                let shared = shared_text(&value);
                let (t, c, err) = if self.opts.expect.is_some() && value.starts_with(PLACEHOLDER) {
                    let (t, c) = self.placeholder(&anchor, &tag, &value, style, &m)?;
                    (t, c, None)
                } else {
                    self.scalar(tag, value, style, &m)
                };
                let id = self.push_node(t, c, &m)?;
                if let Some(x) = shared {
                    self.shared_text.insert(id, x);
                }
                if let Some(e) = err {
                    self.fail(id, e, false);
                }
                self.anchor(anchor, id, &m)?;
                self.doc.order.push(id);
                self.attach(id)?;
            }
            Ev::SequenceStart { anchor, tag, block } => {
                self.depth_check(&m)?;
                let (t, err) = self.collection_tag(tag, false, &m);
                let id = self.push_node(t, Content::Seq(Vec::new()), &m)?;
                if let Some(e) = err {
                    self.fail(id, e, false);
                }
                self.anchor(anchor, id, &m)?;
                self.stack.push(Frame::Seq {
                    id,
                    items: Vec::new(),
                    block,
                });
            }
            Ev::MappingStart { anchor, tag, block } => {
                self.depth_check(&m)?;
                let (t, err) = self.collection_tag(tag, true, &m);
                let id = self.push_node(t, Content::Map(Vec::new()), &m)?;
                if let Some(e) = err {
                    self.fail(id, e, false);
                }
                self.anchor(anchor, id, &m)?;
                self.stack.push(Frame::Map {
                    id,
                    pairs: Vec::new(),
                    key: None,
                    block,
                });
            }
            Ev::SequenceEnd => {
                let Some(Frame::Seq { id, items, .. }) = self.stack.pop() else {
                    return Err(self.err("unbalanced sequence end", &m).into());
                };
                self.finish_seq(id, items)?;
            }
            Ev::MappingEnd => {
                let Some(Frame::Map { id, pairs, .. }) = self.stack.pop() else {
                    return Err(self.err("unbalanced mapping end", &m).into());
                };
                self.finish_map(id, pairs)?;
            }
        }
        Ok(false)
    }

    fn finish_seq(&mut self, id: NodeId, items: Vec<NodeId>) -> Result<()> {
        if matches!(self.doc.node(id).tag, Tag::Omap | Tag::Pairs) {
            for &it in &items {
                let why = match &self.doc.node(it).content {
                    Content::Map(p) if p.len() == 1 => continue,
                    Content::Map(_) => {
                        "while constructing an ordered map: expected a single mapping item"
                    }
                    _ => "while constructing an ordered map: expected a mapping of length 1",
                };
                let msg = self.node_err(why, it).msg;
                self.fail(id, msg, false);
                break;
            }
        }
        self.doc.nodes[id as usize].content = Content::Seq(items);
        self.doc.order.push(id);
        self.attach(id)
    }

    fn finish_map(&mut self, id: NodeId, pairs: Vec<(NodeId, NodeId)>) -> Result<()> {
        let has_merge = pairs
            .iter()
            .any(|(k, _)| matches!(&self.doc.node(*k).tag, Tag::Custom(t) if &**t == MERGE_TAG));
        if has_merge {
            match self.flatten(id, &pairs)? {
                Ok(flat) => {
                    self.doc.merged.insert(id, flat);
                }
                Err(msg) => self.fail(id, msg, true),
            }
        }
        self.doc.nodes[id as usize].content = Content::Map(pairs);
        self.doc.order.push(id);
        self.attach(id)
    }

    /// PyYAML's `flatten_mapping` as of 6.0.4: the merged pairs first, sources in order
    /// (`<<: [a, b]` takes `a` then `b`), each key only once by [`KeyIdent`] (the first seen
    /// stays); then the mapping's own pairs. Equal keys with other identities all stay, so the
    /// dict built from the pairs keeps the first one's position and the last one's value.
    /// Sources are complete nodes whose own flattening is already recorded. The inner Err is a
    /// construction error of this node; the outer one the hard cap on merged pairs.
    #[allow(clippy::type_complexity)]
    fn flatten(
        &mut self,
        id: NodeId,
        pairs: &[(NodeId, NodeId)],
    ) -> Result<std::result::Result<Vec<(NodeId, NodeId)>, String>> {
        let mut merge: Vec<(NodeId, NodeId)> = Vec::new();
        let mut seen: FxHashSet<KeyIdent> = FxHashSet::default();
        let mut own: Vec<(NodeId, NodeId)> = Vec::new();
        let source_error = |c: &Self, s: NodeId| {
            c.doc
                .errors
                .get(&s)
                .filter(|e| e.flatten)
                .map(|e| e.msg.clone())
        };
        let mut take = |c: &Self, s: NodeId, merge: &mut Vec<(NodeId, NodeId)>| {
            for &(k, v) in c.doc.pairs(s) {
                let ident = c
                    .shared_text
                    .get(&k)
                    .map_or(KeyIdent::Node(k), |&t| KeyIdent::Text(t));
                if seen.insert(ident) {
                    merge.push((k, v));
                }
            }
        };
        for &(k, v) in pairs {
            let is_merge = matches!(&self.doc.node(k).tag, Tag::Custom(t) if &**t == MERGE_TAG);
            if !is_merge {
                own.push((k, v));
                continue;
            }
            match &self.doc.node(v).content {
                Content::Map(_) => {
                    if let Some(e) = source_error(self, v) {
                        return Ok(Err(e));
                    }
                    take(self, v, &mut merge);
                }
                Content::Seq(items) => {
                    for &s in items {
                        if !matches!(self.doc.node(s).content, Content::Map(_)) {
                            return Ok(Err(self
                                .node_err("while constructing a mapping: expected a mapping for merging", s)
                                .msg));
                        }
                        if let Some(e) = source_error(self, s) {
                            return Ok(Err(e));
                        }
                        take(self, s, &mut merge);
                    }
                }
                _ => {
                    return Ok(Err(self
                        .node_err(
                            "while constructing a mapping: expected a mapping or list of mappings for merging",
                            v,
                        )
                        .msg))
                }
            }
            if merge.len() + self.merged_total > MAX_MERGED_PAIRS {
                return Err(self.node_err(
                    format!("merge keys expand to more than {MAX_MERGED_PAIRS} pairs"),
                    id,
                ));
            }
        }
        merge.extend(own);
        self.merged_total += merge.len();
        Ok(Ok(merge))
    }
}

/// Would PyYAML reject this node as a mapping key (list, dict, or asdf tagged value)?
pub fn unhashable_key(doc: &Doc, k: NodeId) -> bool {
    let n = doc.node(k);
    match (&n.tag, &n.content) {
        (_, Content::Seq(_) | Content::Map(_) | Content::Lazy(_)) => true,
        (Tag::Custom(t), _) => &**t != VALUE_TAG,
        (Tag::NdArray(_), _) => true,
        _ => false,
    }
}

/// The first construction error among the nodes PyYAML would construct for the root.
pub fn check(doc: &Doc) -> Result<()> {
    let Some(root) = doc.root else { return Ok(()) };
    let mut seen = vec![false; doc.nodes.len()];
    let mut stack = vec![root];
    while let Some(id) = stack.pop() {
        if std::mem::replace(&mut seen[id as usize], true) {
            continue;
        }
        if let Some(e) = doc.errors.get(&id) {
            return Err(Error::asdf(e.msg.clone()));
        }
        let n = doc.node(id);
        match &n.content {
            Content::Seq(items) if matches!(n.tag, Tag::Omap | Tag::Pairs) => {
                for &it in items {
                    for &(k, v) in doc.pairs(it).iter().take(1) {
                        if n.tag == Tag::Omap && unhashable_key(doc, k) {
                            return Err(node_error(doc, k, "found unhashable key"));
                        }
                        stack.extend([v, k]);
                    }
                }
            }
            Content::Seq(items) => stack.extend(items.iter().rev()),
            Content::Map(_) => {
                for &(k, v) in doc.pairs(id).iter().rev() {
                    if unhashable_key(doc, k) {
                        return Err(node_error(doc, k, "found unhashable key"));
                    }
                    stack.extend([v, k]);
                }
            }
            Content::Scalar(_) | Content::Lazy(_) | Content::Extern(_) => {}
        }
    }
    Ok(())
}

fn node_error(doc: &Doc, id: NodeId, msg: &str) -> Error {
    let n = doc.node(id);
    Error::asdf(format!(
        "YAML: {msg} at line {}, column {}",
        i64::from(n.line) + doc.line_offset + 1,
        n.col + 1
    ))
}

fn yaml_error(e: &libyaml_safer::Error, offset: i64) -> Error {
    let mk = |m: libyaml_safer::Mark| Mark {
        line: m.line,
        column: m.column,
    };
    let mut msg = format!("YAML: {}", e.problem());
    if let Some(m) = e.problem_mark() {
        msg.push_str(&format!(" at {}", fmt_mark(&mk(m), offset)));
    }
    if let (Some(c), Some(m)) = (e.context(), e.context_mark()) {
        msg.push_str(&format!(" ({c} at {})", fmt_mark(&mk(m), offset)));
    }
    if e.problem_mark().is_none() {
        msg = format!("YAML: {e}");
    }
    Error::asdf(msg)
}

/// Compose a YAML stream (one document) into a node arena.
pub fn compose_with(text: &[u8], opts: Options<'_>) -> std::result::Result<Doc, Failure> {
    let n_expect = opts.expect.map_or(0, <[Expect]>::len);
    let guess = text.len() / 12;
    let mut c = Composer {
        doc: Doc {
            nodes: Vec::with_capacity(guess),
            order: Vec::with_capacity(guess),
            ..Doc::default()
        },
        stack: Vec::new(),
        anchors: HashMap::new(),
        confirmed: vec![false; n_expect],
        opts,
        merged_total: 0,
        shared_text: FxHashMap::default(),
    };
    let mut docs = 0usize;
    if let Some(events) = super::fast::events(text) {
        for (ev, m) in events {
            if c.event(ev, m, &mut docs)? {
                break;
            }
        }
        return c.finish();
    }
    let mut input: &[u8] = text;
    let mut parser = libyaml_safer::Parser::new();
    parser.set_input_string(&mut input);
    loop {
        // libyaml-safer 0.3 has input-reachable panics (e.g. a tag directly followed by ','
        // in a flow collection, which libyaml accepts): contain them as errors.
        let ev = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parser.parse()))
            .map_err(|_| Error::asdf("YAML: the parser (libyaml-safer) failed on this input"))?
            .map_err(|e| yaml_error(&e, c.opts.line_offset))?;
        let (ev, m) = from_lib(ev);
        if c.event(ev, m, &mut docs)? {
            break;
        }
    }
    c.finish()
}

/// The events libyaml-safer gives for `text` (tests compare the fast path with them).
pub fn slow_events(text: &[u8]) -> Result<Vec<(Ev, Mark)>> {
    let mut input: &[u8] = text;
    let mut parser = libyaml_safer::Parser::new();
    parser.set_input_string(&mut input);
    let mut out = Vec::new();
    loop {
        let ev = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parser.parse()))
            .map_err(|_| Error::asdf("YAML: the parser (libyaml-safer) failed on this input"))?
            .map_err(|e| yaml_error(&e, 0))?;
        let end = matches!(ev.data, EventData::StreamEnd);
        out.push(from_lib(ev));
        if end {
            return Ok(out);
        }
    }
}

/// Compose without lazy placeholders, raising construction errors of constructed nodes.
pub fn compose(text: &[u8]) -> Result<Doc> {
    match compose_with(text, Options::default()) {
        Ok(d) => check(&d).map(|()| d),
        Err(Failure::Bad(e)) => Err(e),
        Err(Failure::LazyMismatch(m)) => Err(Error::asdf(m)),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A compact rendering of a node, for table tests.
    pub(crate) fn show(d: &Doc, id: NodeId) -> String {
        show_with(d, id, &|i| format!("lazy#{i}"))
    }

    /// `lazy(i)` renders lazy region i; `lazy(u32::MAX - k)` renders extern k.
    pub(crate) fn show_with(d: &Doc, id: NodeId, lazy: &dyn Fn(u32) -> String) -> String {
        let n = d.node(id);
        let inner = match &n.content {
            Content::Scalar(s) => match s {
                Scalar::Null => "None".into(),
                Scalar::Bool(b) => b.to_string(),
                Scalar::Int(i) => i.to_string(),
                Scalar::BigInt { neg, radix, digits } => {
                    format!("big({}{digits},{radix})", if *neg { "-" } else { "" })
                }
                Scalar::Float(f) => format!("{f:?}"),
                Scalar::Str(s) => format!("{s:?}"),
                Scalar::Bytes(b) => format!("b{b:?}"),
                Scalar::Date { year, month, day } => format!("date({year},{month},{day})"),
                Scalar::DateTime(t) => format!(
                    "dt({},{},{},{},{},{},{},{:?})",
                    t.year, t.month, t.day, t.hour, t.minute, t.second, t.micro, t.tz_minutes
                ),
            },
            Content::Seq(items) => format!(
                "[{}]",
                items
                    .iter()
                    .map(|&i| show_with(d, i, lazy))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Content::Map(_) => format!(
                "{{{}}}",
                d.pairs(id)
                    .iter()
                    .map(|&(k, v)| format!("{}: {}", show_with(d, k, lazy), show_with(d, v, lazy)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Content::Lazy(i) => return lazy(*i),
            Content::Extern(k) => return lazy(u32::MAX - *k),
        };
        match &n.tag {
            Tag::Core => inner,
            Tag::Omap => format!("omap{inner}"),
            Tag::Pairs => format!("pairs{inner}"),
            Tag::Set => format!("set{inner}"),
            Tag::NdArray(t) | Tag::Custom(t) => format!("<{t}>{inner}"),
        }
    }

    fn render(text: &str) -> String {
        match compose(text.as_bytes()) {
            Ok(d) => d.root.map_or("EMPTY".into(), |r| show(&d, r)),
            Err(e) => format!("ERR {}", e.msg),
        }
    }

    #[test]
    fn table() {
        let cases: &[(&str, &str)] = &[
            ("a: 1", r#"{"a": 1}"#),
            ("a: [yes, No, y, n, ~, '', 017, 0x1f, 1_000, 1:30]", r#"{"a": [true, false, "y", "n", None, "", 15, 31, 1000, 90]}"#),
            ("- 1e5\n- 1.0e+5\n- .inf\n- '1'\n- \"2\"\n- !!str 3\n- !!int '4'\n- !!float 5", r#"["1e5", 100000.0, inf, "1", "2", "3", 4, 5.0]"#),
            ("%TAG ! tag:stsci.edu:asdf/\n--- !core/asdf-1.1.0\nx: !unit/unit-1.0.0 m", r#"<tag:stsci.edu:asdf/core/asdf-1.1.0>{"x": <tag:stsci.edu:asdf/unit/unit-1.0.0>"m"}"#),
            ("a: !<tag:x.org:y-1.0> [1]", r#"{"a": <tag:x.org:y-1.0>[1]}"#),
            ("a: !local 5", r#"{"a": <!local>"5"}"#),
            ("a: ! 5\nb: ! '5'", r#"{"a": 5, "b": 5}"#),
            ("a: &x [1, 2]\nb: *x", r#"{"a": [1, 2], "b": [1, 2]}"#),
            ("a: |\n  x\n   y\n\n  z\n\nb: >-\n  p\n  q\n\n  r\nc: |+\n  k\n\n", r#"{"a": "x\n y\n\nz\n", "b": "p q\nr", "c": "k\n\n"}"#),
            ("a: foo\n  bar\n\n  baz", r#"{"a": "foo bar\nbaz"}"#),
            ("a: !!binary aGVsbG8=", r#"{"a": b[104, 101, 108, 108, 111]}"#),
            ("a: 2001-12-14\nb: 2001-12-14t21:59:43.10-05:00", r#"{"a": date(2001,12,14), "b": dt(2001,12,14,21,59,43,100000,Some(-300))}"#),
            ("!!omap [a: 1, b: 2]", r#"omap[{"a": 1}, {"b": 2}]"#),
            ("!!set {a, b}", r#"set{"a": None, "b": None}"#),
            ("a: &a {x: 1, y: 2}\nb:\n  <<: *a\n  y: 3", r#"{"a": {"x": 1, "y": 2}, "b": {"x": 1, "y": 2, "y": 3}}"#),
            // PyYAML 6.0.4 merges: sources in order, a key seen before dropped when it is the
            // same node or a one-character (< U+0100) or empty text; other equal keys all stay.
            ("a: &a {x: 1}\nc: &c {x: 2, z: 0}\nb: {<<: [*a, *c], q: 1}", r#"{"a": {"x": 1}, "c": {"x": 2, "z": 0}, "b": {"x": 1, "z": 0, "q": 1}}"#),
            ("a: &a {xx: 1, é: 1, ā: 1, '': 1}\nc: &c {xx: 2, é: 2, ā: 2, '': 2, 1: 2}\nb: {<<: [*a, *c, {'1': 3}]}", r#"{"a": {"xx": 1, "é": 1, "ā": 1, "": 1}, "c": {"xx": 2, "é": 2, "ā": 2, "": 2, 1: 2}, "b": {"xx": 1, "é": 1, "ā": 1, "": 1, "xx": 2, "ā": 2, 1: 2}}"#),
            ("a: &a {v: 1, vv: 1}\nd: &d {<<: *a, v: 10, vv: 10}\ne: {<<: *d}", r#"{"a": {"v": 1, "vv": 1}, "d": {"v": 1, "vv": 1, "v": 10, "vv": 10}, "e": {"v": 1, "vv": 1, "vv": 10}}"#),
            ("a: &a {k: 1}\nb: &b {<<: *a, m: 2}\nc: {<<: [*b, *a], k: 3}", r#"{"a": {"k": 1}, "b": {"k": 1, "m": 2}, "c": {"k": 1, "m": 2, "k": 3}}"#),
            ("a: <<\nb: =", r#"{"a": <tag:yaml.org,2002:merge>"<<", "b": <tag:yaml.org,2002:value>"="}"#),
            ("a: !core/ndarray-1.0.0 {source: 0}", r#"{"a": <!core/ndarray-1.0.0>{"source": 0}}"#),
            ("%TAG ! tag:stsci.edu:asdf/\n---\na: !core/ndarray-1.0.0 {source: 0}", r#"{"a": <tag:stsci.edu:asdf/core/ndarray-1.0.0>{"source": 0}}"#),
            ("", "EMPTY"),
            ("a: *nope", "ERR YAML: found undefined alias 'nope' at line 1, column 4"),
            ("a: &x 1\nb: &x 2", "ERR YAML: found duplicate anchor 'x' at line 2, column 4"),
            ("a: &x [1, *x]", "ERR YAML: found recursive alias 'x' (cycles are not supported) at line 1, column 11"),
            ("a: [1, 2", "ERR YAML: did not find expected ',' or ']' at line 2, column 1 (while parsing a flow sequence at line 1, column 4)"),
            ("--- a\n--- b", "ERR YAML: expected a single document in the stream, but found another document at line 2, column 1"),
            ("a: !!int abc", "ERR YAML: tag:yaml.org,2002:int: invalid literal for int() with base 10: \"abc\" at line 1, column 4"),
            ("a: !!str [1]", "ERR YAML: expected a scalar node for tag tag:yaml.org,2002:str, but found a sequence at line 1, column 4"),
            ("a: !!map [1]", "ERR YAML: expected a mapping node for tag tag:yaml.org,2002:map, but found a sequence at line 1, column 4"),
            ("a: 2001-02-30", "ERR YAML: invalid timestamp \"2001-02-30\": date out of range at line 1, column 4"),
            ("b: {<<: 1}", "ERR YAML: while constructing a mapping: expected a mapping or list of mappings for merging at line 1, column 9"),
            ("!!omap [a: 1, {b: 2, c: 3}]", "ERR YAML: while constructing an ordered map: expected a single mapping item at line 1, column 15"),
        ];
        for (text, want) in cases {
            assert_eq!(&render(text), want, "for {text:?}");
        }
        // Construction errors count only for nodes PyYAML constructs.
        for ok in [
            "a: !!omap\n- !!omap {a: 1}\n- !!omap {b: 2}",
            "a: {<<: !!str {x: 1}, y: 2}",
            "a: {<<: [!!seq {x: 1}], y: 2}",
            "a: !!pairs [{[1]: 2}]",
            "a: !!pairs [!!str {k: 1}]",
        ] {
            assert!(!render(ok).starts_with("ERR"), "{ok}: {}", render(ok));
        }
        for bad in [
            "x: &m !!str {a: 1}\nb: {<<: *m}",
            "a: !!omap [{k: !!int x}]",
            "a: {<<: {<<: 5}}",
            "a: !!set {x: !!int q}",
            "a: !!omap [{[1]: 2}]",
        ] {
            assert!(render(bad).starts_with("ERR"), "{bad}: {}", render(bad));
        }
    }

    #[test]
    fn aliases_share_nodes_and_bombs_stay_small() {
        let mut s = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..40 {
            let p = i - 1;
            s.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
        }
        let d = compose(s.as_bytes()).unwrap();
        assert!(d.nodes.len() < 1000, "{} nodes", d.nodes.len());
        let root = d.root.unwrap();
        let a1 = d.get(root, "a1").unwrap();
        let a0 = d.get(root, "a0").unwrap();
        let Content::Seq(items) = &d.node(a1).content else {
            panic!()
        };
        assert!(items.iter().all(|&i| i == a0));
    }

    #[test]
    fn depth_is_capped() {
        let deep = "[".repeat(MAX_DEPTH + 10) + &"]".repeat(MAX_DEPTH + 10);
        let e = compose(deep.as_bytes()).unwrap_err();
        assert!(e.msg.contains("nesting deeper"), "{}", e.msg);
        let ok = "[".repeat(MAX_DEPTH - 1) + &"]".repeat(MAX_DEPTH - 1);
        assert!(compose(ok.as_bytes()).is_ok());
        let mut block = String::new();
        for i in 0..(MAX_DEPTH + 5) {
            block.push_str(&" ".repeat(i));
            block.push_str("a:\n");
        }
        assert!(compose(block.as_bytes())
            .unwrap_err()
            .msg
            .contains("nesting deeper"));
    }

    #[test]
    fn order_is_children_first() {
        let d = compose(b"a: [1, {b: 2}]\nc: 3").unwrap();
        let pos: Vec<usize> = (0..d.nodes.len())
            .map(|i| d.order.iter().position(|&o| o as usize == i).unwrap())
            .collect();
        for (id, n) in d.nodes.iter().enumerate() {
            let kids: Vec<NodeId> = match &n.content {
                Content::Seq(v) => v.clone(),
                Content::Map(p) => p.iter().flat_map(|&(k, v)| [k, v]).collect(),
                _ => vec![],
            };
            for k in kids {
                assert!(pos[k as usize] < pos[id]);
            }
        }
        assert_eq!(d.order.len(), d.nodes.len());
    }
}
