//! ASDF decoding (YAML tree + binary blocks) for the ASDF extension of JWST products.
//!
//! [`file::split`] finds the header, YAML stream, blocks and block index; [`parse_tree`]
//! composes the YAML (deferring big tagged subtrees, see [`lazy`]); [`block`] reads blocks;
//! [`ndarray`] reads ndarray node specs. Nothing here knows about Python.

pub mod block;
pub mod emit;
pub mod fast;
pub mod file;
pub mod lazy;
pub mod ndarray;
pub mod resolve;
pub mod write;
pub mod yaml;

use crate::error::{Error, Result};
use yaml::{Doc, Failure, Options};

/// A composed YAML text, with the plan of its deferred subtrees (if any).
#[derive(Debug)]
pub struct Tree {
    pub doc: Doc,
    pub plan: Option<lazy::Plan>,
}

/// Where and how a text is composed.
#[derive(Debug, Default, Clone, Copy)]
pub struct Context<'a> {
    /// Nesting depth of the node this text stands for.
    pub depth: usize,
    /// Added to 0-based line numbers in messages (original lines of the top-level text).
    pub line_offset: i64,
    /// Aliases that refer to anchors of earlier deferred regions.
    pub imports: &'a [String],
    /// Anchors aliased outside this text.
    pub exports: &'a [String],
    /// When this text is a deferred region's: that region's [`lazy::Region::scan`].
    pub scan: &'a [u8],
}

/// Compose a YAML stream (one document). With `lazy`, big tagged block subtrees become
/// [`yaml::Content::Lazy`] nodes (see [`region_text`]); whenever deferral cannot be proven
/// exact the whole text is composed instead.
pub fn parse_text(text: &[u8], lazy: bool, cx: Context<'_>) -> Result<Tree> {
    let opts = Options {
        base_depth: cx.depth,
        line_offset: cx.line_offset,
        expect: None,
        imports: cx.imports,
    };
    if lazy {
        let outer = lazy::Outer {
            imports: cx.imports,
            exports: cx.exports,
            scan: cx.scan,
        };
        if let Some(plan) = lazy::plan(text, lazy::MIN_BODY, outer) {
            // Any failure on the reduced text (a mismatch, or an error whose position would be
            // off) is settled by composing the full text.
            if let Ok(doc) = yaml::compose_with(
                &plan.text,
                Options {
                    expect: Some(&plan.expect),
                    ..opts.clone()
                },
            ) {
                return Ok(Tree {
                    doc,
                    plan: Some(plan),
                });
            }
        }
    }
    match yaml::compose_with(text, opts) {
        Ok(doc) => Ok(Tree { doc, plan: None }),
        Err(Failure::Bad(e)) => Err(e),
        Err(Failure::LazyMismatch(m)) => Err(Error::asdf(m)),
    }
}

/// Compose an ASDF YAML stream.
pub fn parse_tree(yaml: &[u8], lazy: bool) -> Result<Tree> {
    parse_text(yaml, lazy, Context::default())
}

/// The standalone text of deferred region `idx` of `plan` (made from `text`), and the line
/// offset to add to the enclosing text's offset.
pub fn region_text(text: &[u8], plan: &lazy::Plan, idx: u32) -> Result<(Vec<u8>, i64)> {
    let r = plan
        .regions
        .get(idx as usize)
        .ok_or_else(|| Error::asdf(format!("no lazy region {idx}")))?;
    Ok(lazy::region_doc(text, plan.doc_start, r))
}

/// Compose deferred region `idx` of a tree composed from `text` at `cx` (its root is the
/// tagged node; with `lazy`, its own big subtrees are deferred again). Returns the region's
/// text, its context line offset, and its tree.
pub fn parse_region(
    text: &[u8],
    plan: &lazy::Plan,
    idx: u32,
    depth: usize,
    lazy: bool,
    cx: Context<'_>,
) -> Result<(Vec<u8>, i64, Tree)> {
    let r = plan
        .regions
        .get(idx as usize)
        .ok_or_else(|| Error::asdf(format!("no lazy region {idx}")))?;
    let (rtext, off) = lazy::region_doc(text, plan.doc_start, r);
    let imports: Vec<String> = r.imports.iter().map(|(n, _)| n.clone()).collect();
    let line_offset = cx.line_offset + off;
    let cx = Context {
        depth,
        line_offset,
        imports: &imports,
        exports: &r.exports,
        scan: &r.scan,
    };
    let tree = parse_text(&rtext, lazy, cx)?;
    Ok((rtext, line_offset, tree))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use yaml::tests::show_with;

    /// Render a tree, expanding deferred regions (recursively) and aliases into them.
    fn render(text: &[u8], t: &Tree) -> String {
        struct Level<'a> {
            text: &'a [u8],
            tree: &'a Tree,
            line_offset: i64,
            /// The level and region this level's text was cut from.
            parent: Option<(&'a Level<'a>, u32)>,
        }
        fn region(l: &Level<'_>, i: u32) -> (Vec<u8>, i64, Tree) {
            let plan = l.tree.plan.as_ref().expect("lazy node without plan");
            let depth = l.tree.doc.lazy_depth[&i];
            let cx = Context {
                line_offset: l.line_offset,
                ..Context::default()
            };
            parse_region(l.text, plan, i, depth, true, cx)
                .and_then(|r| yaml::check(&r.2.doc).map(|()| r))
                .unwrap_or_else(|e| panic!("region {i}: {}", e.msg))
        }
        /// Render anchor `name` exported by region `i` of level `l`.
        fn export(l: &Level<'_>, i: u32, name: &str) -> String {
            let (text, off, tree) = region(l, i);
            let sub = Level {
                text: &text,
                tree: &tree,
                line_offset: off,
                parent: Some((l, i)),
            };
            if let Some(&id) = tree.doc.anchors.get(name) {
                return go(&sub, &tree.doc, id);
            }
            let regions = &tree.plan.as_ref().expect("export not found").regions;
            let s = regions
                .iter()
                .position(|r| r.exports.iter().any(|e| e == name))
                .unwrap();
            export(&sub, s as u32, name)
        }
        /// Render imported alias `name` seen in level `l`.
        fn import(l: &Level<'_>, name: &str) -> String {
            let (pl, me) = l.parent.expect("extern at top level");
            let r = &pl.tree.plan.as_ref().unwrap().regions[me as usize];
            match r.imports.iter().find(|(n, _)| n == name).unwrap().1 {
                lazy::INHERITED => import(pl, name),
                from => export(pl, from, name),
            }
        }
        fn go(l: &Level<'_>, doc: &Doc, id: yaml::NodeId) -> String {
            show_with(doc, id, &|i| {
                if i > u32::MAX / 2 {
                    return import(l, &doc.externs[(u32::MAX - i) as usize]);
                }
                let (text, off, tree) = region(l, i);
                let sub = Level {
                    text: &text,
                    tree: &tree,
                    line_offset: off,
                    parent: Some((l, i)),
                };
                go(&sub, &tree.doc, tree.doc.root.unwrap())
            })
        }
        let top = Level {
            text,
            tree: t,
            line_offset: 0,
            parent: None,
        };
        go(&top, &t.doc, t.doc.root.unwrap())
    }

    pub(crate) fn wcs_like(n: usize) -> String {
        let mut s = String::new();
        for i in 0..n {
            s.push_str(&format!(
                "  - !<tag:stsci.edu:gwcs/step-1.1.0>\n    frame: !<tag:stsci.edu:gwcs/frame2d-1.0.0>\n      \
                 axes_names: [x, y]\n      name: 'f{i}'\n      unit: [!unit/unit-1.0.0 'pixel', !unit/unit-1.0.0 pixel]\n    \
                 transform: !transform/compose-1.2.0\n      bounding_box:\n      - [-0.5, 48.5]\n      forward:\n      \
                 - !transform/shift-1.2.0 {{offset: {i}.0}}\n      - !transform/polynomial-1.2.0\n        \
                 coefficients: !core/ndarray-1.0.0\n          source: {i}\n          datatype: float64\n          \
                 byteorder: little\n          shape: [2, 2]\n        domain:\n        - &id{i:03} [-1, 1]\n        \
                 - *id{i:03}\n        note: \"a long\n          string\" # comment\n        text: plain\n          continued\n"
            ));
        }
        s
    }

    #[test]
    fn lazy_equals_eager() {
        let w = wcs_like(40);
        let docs = [
            format!("%YAML 1.1\n%TAG ! tag:stsci.edu:asdf/\n--- !core/asdf-1.1.0\nmeta:\n  date: 2001-01-01\n  wcs: !<tag:stsci.edu:gwcs/wcs-1.1.0>\n    name: ''\n    steps:\n{}  x: 1\ny: [1, 2]\n...\n", w.replace("\n  ", "\n    ").replacen("  - ", "    - ", 1)),
            format!("%YAML 1.1\n---\nlist:\n- !foo/bar-1.0.0\n  steps:\n{w}- 2\n...\n"),
            format!("%YAML 1.1\n%TAG ! tag:stsci.edu:asdf/\n---\na: !core/ndarray-1.0.0\n  data:\n{w}b: 1\n...\n"),
            format!(
                "%YAML 1.1\n---\ns:\n- w: !foo/wcs-1\n    d: &shared [-1, 1]\n    steps:\n{w}- w: !foo/wcs-1\n    d: *shared\n    \
                 steps:\n{w2}  x: 1\n...\n",
                w = w.replace("\n  ", "\n    ").replacen("  - ", "    - ", 1),
                w2 = w.replace("&id", "&jd").replace("*id", "*jd").replace("\n  ", "\n    ").replacen("  - ", "    - ", 1),
            ),
        ];
        for d in &docs {
            let eager = parse_tree(d.as_bytes(), false).unwrap();
            let lazy = parse_tree(d.as_bytes(), true).unwrap();
            let e = render(d.as_bytes(), &eager);
            let l = render(d.as_bytes(), &lazy);
            assert_eq!(e, l);
        }
        let lazy0 = parse_tree(docs[0].as_bytes(), true).unwrap();
        assert_eq!(lazy0.plan.as_ref().map(|p| p.regions.len()), Some(1));
        let lazy1 = parse_tree(docs[1].as_bytes(), true).unwrap();
        assert_eq!(lazy1.plan.as_ref().map(|p| p.regions.len()), Some(1));
        // Nested: deferred slit-like nodes holding deferred WCS-like nodes; anchors shared
        // between slits (eager part and inside the inner nodes) and between inner nodes.
        let inner = |tag: &str| {
            let steps = w
                .replace("\n  ", "\n      ")
                .replacen("  - ", "      - ", 1);
            format!("  {tag}: !foo/wcs-1\n    steps:\n{steps}")
        };
        let slit0 = format!(
            "  name: s0\n  shared: &sh [1, 2]\n{}{}  z: 1\n",
            inner("a"),
            { inner("b").replace("&id", "&kd").replace("*id", "*kd") }
        );
        let c = inner("c").replace("&id", "&md").replace("*id", "*md");
        let slit1 = format!(
            "  again: *sh\n{}  d: *id003\n",
            c.replacen("name: 'f1'", "name: *id001", 1)
        );
        let nested = format!(
            "%YAML 1.1\n---\nslits:\n- !core/asdf-1.1.0\n{slit0}- !core/asdf-1.1.0\n{slit1}...\n"
        );
        let eager = parse_tree(nested.as_bytes(), false).unwrap();
        let lazy = parse_tree(nested.as_bytes(), true).unwrap();
        assert_eq!(
            render(nested.as_bytes(), &eager),
            render(nested.as_bytes(), &lazy)
        );
        let plan = lazy.plan.as_ref().unwrap();
        assert_eq!(plan.regions.len(), 2);
        assert_eq!(
            plan.regions[0].exports,
            vec!["sh".to_string(), "id001".to_string(), "id003".to_string()],
            "{:?}",
            plan.regions[1].imports
        );
        assert_eq!(plan.regions[1].imports.len(), 3);
        let (_, _, slit0) =
            parse_region(nested.as_bytes(), plan, 0, 2, true, Context::default()).unwrap();
        assert_eq!(
            slit0.plan.as_ref().map(|p| p.regions.len()),
            Some(2),
            "inner WCS nodes deferred again"
        );
        let (_, _, slit1) =
            parse_region(nested.as_bytes(), plan, 1, 2, true, Context::default()).unwrap();
        assert_eq!(slit1.plan.as_ref().map(|p| p.regions.len()), Some(1));
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            slit0.plan.as_ref().unwrap().regions[0].exports,
            ids(&["id001", "id003"])
        );
        let c_imports = &slit1.plan.as_ref().unwrap().regions[0].imports;
        assert_eq!(c_imports, &vec![("id001".to_string(), lazy::INHERITED)]);
        let lazy3 = parse_tree(docs[3].as_bytes(), true).unwrap();
        let p3 = lazy3.plan.as_ref().unwrap();
        assert_eq!(p3.regions.len(), 2);
        assert_eq!(p3.regions[1].imports, vec![("shared".to_string(), 0)]);
        // ndarray bodies are never deferred; inner steps are.
        let lazy2 = parse_tree(docs[2].as_bytes(), true).unwrap();
        assert!(
            lazy2.plan.is_none()
                || lazy2
                    .plan
                    .as_ref()
                    .unwrap()
                    .regions
                    .iter()
                    .all(|r| r.line > 4)
        );
    }

    #[test]
    fn region_errors_report_original_lines() {
        let w = wcs_like(40);
        let bad =
            format!("%YAML 1.1\n---\na: !foo\n{w}    bad: [unclosed\n    more: 1\nb: 2\n...\n");
        // The scan refuses to defer an unclosed flow, so the error comes from the eager parse.
        let e = parse_tree(bad.as_bytes(), true).unwrap_err();
        assert!(e.msg.contains("line"), "{}", e.msg);
        // A region that defers fine but fails to compose (bad date) reports its original line.
        let lines_before = 3 + w.lines().count();
        let bad2 = format!("%YAML 1.1\n---\na: !foo\n{w}    bad: 2001-02-30\nb: 2\n...\n");
        let t = parse_tree(bad2.as_bytes(), true).unwrap();
        let plan = t.plan.as_ref().unwrap();
        let region = parse_region(bad2.as_bytes(), plan, 0, 1, false, Context::default()).unwrap();
        let e = yaml::check(&region.2.doc).unwrap_err();
        assert!(
            e.msg
                .contains(&format!("line {}, column 10", lines_before + 1)),
            "{}",
            e.msg
        );
        let eager = parse_tree(bad2.as_bytes(), false).unwrap();
        assert_eq!(yaml::check(&eager.doc).unwrap_err().msg, e.msg);
    }

    /// A tiny deterministic generator (xorshift).
    pub(crate) struct Rng(pub(crate) u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        pub(crate) fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    pub(crate) fn mutate(doc: &str, rng: &mut Rng) -> String {
        let mut lines: Vec<String> = doc.lines().map(str::to_string).collect();
        let first = lines.iter().position(|l| l.starts_with("---")).unwrap() + 1;
        for _ in 0..1 + rng.below(3) {
            let k = first + rng.below(lines.len() - first - 1);
            let line = lines[k].clone();
            let pos = if line.is_empty() {
                0
            } else {
                rng.below(line.len() + 1)
            };
            const INSERTS: [&str; 22] = [
                "'", "\"", "[", "]", "{", "}", "#", ": ", "- ", "&x ", "*x", "|", ">", " ", "\t",
                "!", "? ", ",", "\\", "&id001 ", "*id001", "<<: ",
            ];
            match rng.below(8) {
                0 | 1 => {
                    let ins = INSERTS[rng.below(INSERTS.len())];
                    lines[k] = format!("{}{}{}", &line[..pos], ins, &line[pos..]);
                }
                2 if !line.is_empty() => {
                    let p = pos.min(line.len() - 1);
                    lines[k] = format!("{}{}", &line[..p], &line[p + 1..]);
                }
                3 => lines[k] = format!("{}{line}", " ".repeat(1 + rng.below(3))),
                4 => {
                    lines[k] = line
                        .trim_start_matches(' ')
                        .chars()
                        .take(0)
                        .collect::<String>()
                        + &line[line
                            .len()
                            .min(1 + rng.below(3))
                            .min(line.len() - line.trim_start_matches(' ').len())..]
                }
                5 => lines.insert(k, line),
                6 => {
                    lines.remove(k);
                }
                _ => {
                    if k + 1 < lines.len() {
                        let next = lines.remove(k + 1);
                        lines[k] = format!("{line} {}", next.trim_start());
                    }
                }
            }
        }
        lines.join("\n") + "\n"
    }

    fn outcome(text: &[u8], lazy: bool) -> std::result::Result<String, String> {
        let t = parse_tree(text, lazy).map_err(|e| e.msg)?;
        yaml::check(&t.doc).map_err(|e| e.msg)?;
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| render(text, &t)))
            .map_err(|p| p.downcast_ref::<String>().cloned().unwrap_or_default())
    }

    /// The fast event producer gives libyaml-safer's events whenever it accepts a text, on
    /// randomly damaged asdf-emitter-like documents (JWSTIO_FUZZ iterations per base).
    #[test]
    fn fuzz_fast_equals_libyaml() {
        let meta = [
            "%YAML 1.1",
            "%TAG ! tag:stsci.edu:asdf/",
            "--- !core/asdf-1.1.0",
            "asdf_library: !core/software-1.0.0 {author: Space Telescope Science Institute, homepage: 'http://x.org/asdf',",
            "  name: asdf, version: 2.7.2}",
            "history:",
            "  extensions:",
            "  - !core/extension_metadata-1.0.0",
            "    extension_class: a.b.C",
            "    software: !core/software-1.0.0 {name: astropy, version: 4.3}",
            "meta:",
            "  program: {category: ENG, pi_name: 'Stansberry, John A.', title: NIRSpec OTB Moving",
            "      Target test, x: -0.5}",
            "  date: '2021-02-17T01:44:58.271'",
            "  flag: true",
            "  n: ~",
            "  big: 123456789012345678901234",
            "  t: 2001-12-14 21:59:43.10 -5",
            "  note: 'a long single quoted",
            "    string with ''quotes'' in it'",
            "  plain: a long plain",
            "    continued here",
            "slits:",
            "- !core/asdf-1.1.0",
            "  name: s0",
            "  data: !core/ndarray-1.0.0",
            "    source: 0",
            "    datatype: float32",
            "    byteorder: little",
            "    shape: [2, 3]",
            "  list:",
            "  - - 1",
            "    - 2",
            "  - [3, [4, 5], {a: b}]",
            "  - k: v",
            "    k2: !!str 5",
            "  - 'q': 1",
            "  unit: !unit/unit-1.0.0 'pixel'",
            "  wcs: !<tag:stsci.edu:gwcs/wcs-1.1.0>",
            "    name: ''",
            "    steps:",
            "    - !<tag:stsci.edu:gwcs/step-1.1.0>",
            "      frame: detector",
            "      transform: !transform/shift-1.2.0 {offset: 1.0}",
            "...",
            "",
        ]
        .join("\n");
        let meta = meta.as_str();
        let mut bases = vec![meta.to_string()];
        if let Ok(t) = std::fs::read("/tmp/yprof/test1.yaml") {
            if let Some(p) = lazy::plan(&t, lazy::MIN_BODY, lazy::Outer::default()) {
                bases.push(String::from_utf8_lossy(&p.text).replace(yaml::PLACEHOLDER, "PH"));
            }
        }
        assert!(fast::tests::same(meta.as_bytes()), "base refused");
        let iterations: usize = std::env::var("JWSTIO_FUZZ")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(300);
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let mut taken = 0;
        for base in &bases {
            for _ in 0..iterations {
                let doc = mutate(base, &mut rng);
                if fast::tests::same(doc.as_bytes()) {
                    taken += 1;
                }
            }
        }
        assert!(taken > iterations / 10, "fast path took only {taken}");
    }

    /// Lazy and eager composition agree on randomly damaged documents: same tree when the
    /// eager parse succeeds, an error (now or when the region loads) when it fails.
    #[test]
    fn fuzz_lazy_equals_eager() {
        let w = wcs_like(6);
        let inner = |tag: &str| {
            let steps = w
                .replace("\n  ", "\n      ")
                .replacen("  - ", "      - ", 1);
            format!("  {tag}: !foo/wcs-1\n    steps:\n{steps}")
        };
        let base = format!(
            "%YAML 1.1\n%TAG ! tag:stsci.edu:asdf/\n--- !core/asdf-1.1.0\nmeta: {{a: 1, b: [x, 'y']}}\nslits:\n\
             - !core/asdf-1.1.0\n  name: s0\n{}{}- !core/asdf-1.1.0\n  again: *id001\n{}...\n",
            inner("a"),
            inner("b").replace("&id", "&kd").replace("*id", "*kd"),
            inner("c").replace("&id", "&md").replace("*id", "*md"),
        );
        let (lazy0, eager0) = (
            outcome(base.as_bytes(), true),
            outcome(base.as_bytes(), false),
        );
        assert!(eager0.is_ok() && lazy0 == eager0);
        let iterations: usize = std::env::var("JWSTIO_FUZZ")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(300);
        let seed = std::env::var("JWSTIO_FUZZ_SEED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0x9E37_79B9_7F4A_7C15);
        let mut rng = Rng(seed);
        let (mut deferred, mut both_ok, mut hinted) = (0, 0, 0);
        let hook = std::panic::take_hook();
        // Region errors are raised as String panics by `render`; report anything else.
        std::panic::set_hook(Box::new(|info| {
            let contained = info
                .location()
                .is_some_and(|l| l.file().contains("libyaml-safer"));
            let payload = info.payload().downcast_ref::<String>();
            let region = payload.is_some_and(|m| m.starts_with("region "));
            if !contained && !region {
                eprintln!("unexpected panic: {info}");
            }
        }));
        let mut failure = None;
        for i in 0..iterations {
            let doc = mutate(&base, &mut rng);
            let eager = outcome(doc.as_bytes(), false);
            let lazy = outcome(doc.as_bytes(), true);
            if parse_tree(doc.as_bytes(), true).is_ok_and(|t| t.plan.is_some()) {
                deferred += 1;
            }
            hinted += lazy::tests::scan_hint_agrees(doc.as_bytes(), lazy::Outer::default());
            let same = match (&eager, &lazy) {
                (Ok(e), Ok(l)) => {
                    both_ok += 1;
                    e == l
                }
                (Err(_), Err(_)) => true,
                _ => false,
            };
            if !same {
                failure = Some(format!(
                    "iteration {i}: eager {eager:?}\nlazy {lazy:?}\nfor\n{doc}"
                ));
                break;
            }
        }
        std::panic::set_hook(hook);
        if let Some(f) = failure {
            panic!("{f}");
        }
        // The mutations must leave most documents deferrable and many valid.
        assert!(deferred > iterations / 3, "{deferred} deferred");
        assert!(both_ok > iterations / 8, "{both_ok} valid");
        assert!(
            hinted > iterations,
            "{hinted} region plans checked with scan states"
        );
    }
}
