//! ASDF decoding (YAML tree + binary blocks) for the ASDF extension of JWST products.
//!
//! [`file::split`] finds the header, YAML stream, blocks and block index; [`parse_tree`]
//! composes the YAML (deferring big tagged subtrees, see [`lazy`]); [`block`] reads blocks;
//! [`ndarray`] reads ndarray node specs. Nothing here knows about Python.

pub mod block;
pub mod file;
pub mod lazy;
pub mod ndarray;
pub mod resolve;
pub mod yaml;

use crate::error::Result;
use yaml::{Doc, Failure, Options};

/// A composed YAML tree, with the plan of its deferred subtrees (if any).
#[derive(Debug)]
pub struct Tree {
    pub doc: Doc,
    pub plan: Option<lazy::Plan>,
}

/// Compose an ASDF YAML stream. With `lazy`, big tagged block subtrees become
/// [`yaml::Content::Lazy`] nodes (parse them with [`parse_region`]); whenever deferral cannot
/// be proven exact the whole text is composed instead.
pub fn parse_tree(yaml: &[u8], lazy: bool) -> Result<Tree> {
    if lazy {
        if let Some(plan) = lazy::plan(yaml, lazy::MIN_BODY) {
            let opts = Options {
                expect: Some(&plan.expect),
                ..Options::default()
            };
            // Any failure on the reduced text (a mismatch, or an error whose position would be
            // off) is settled by composing the full text.
            if let Ok(doc) = yaml::compose_with(&plan.text, opts) {
                return Ok(Tree {
                    doc,
                    plan: Some(plan),
                });
            }
        }
    }
    Ok(Tree {
        doc: yaml::compose(yaml)?,
        plan: None,
    })
}

/// Compose deferred region `idx` of a tree parsed from `yaml`. Its root is the tagged node.
pub fn parse_region(yaml: &[u8], plan: &lazy::Plan, idx: u32, depth: usize) -> Result<Doc> {
    let r = plan
        .regions
        .get(idx as usize)
        .ok_or_else(|| crate::error::Error::asdf(format!("no lazy region {idx}")))?;
    let (text, line_offset) = lazy::region_doc(yaml, plan.doc_start, r);
    let imports: Vec<String> = r.imports.iter().map(|(n, _)| n.clone()).collect();
    let opts = Options {
        base_depth: depth,
        line_offset,
        expect: None,
        imports: &imports,
    };
    match yaml::compose_with(&text, opts) {
        Ok(d) => Ok(d),
        Err(Failure::Bad(e)) => Err(e),
        Err(Failure::LazyMismatch(m)) => Err(crate::error::Error::asdf(m)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yaml::tests::show_with;

    /// Render a tree, expanding lazy regions (and aliases into them) by parsing them.
    fn render(yaml: &[u8], t: &Tree) -> String {
        fn region(yaml: &[u8], t: &Tree, i: u32) -> Doc {
            let plan = t.plan.as_ref().expect("lazy node without plan");
            let depth = t.doc.lazy_depth[&i];
            parse_region(yaml, plan, i, depth).unwrap_or_else(|e| panic!("region {i}: {}", e.msg))
        }
        fn go(yaml: &[u8], t: &Tree, doc: &Doc, reg: Option<u32>, id: yaml::NodeId) -> String {
            show_with(doc, id, &|i| {
                if i > u32::MAX / 2 {
                    let name = &doc.externs[(u32::MAX - i) as usize];
                    let plan = t.plan.as_ref().unwrap();
                    let r = &plan.regions[reg.unwrap() as usize];
                    let from = r.imports.iter().find(|(n, _)| n == name).unwrap().1;
                    let d = region(yaml, t, from);
                    return go(yaml, t, &d, Some(from), d.anchors[name]);
                }
                let d = region(yaml, t, i);
                go(yaml, t, &d, Some(i), d.root.unwrap())
            })
        }
        go(yaml, t, &t.doc, None, t.doc.root.unwrap())
    }

    fn wcs_like(n: usize) -> String {
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
        let e = parse_region(bad2.as_bytes(), plan, 0, 1).unwrap_err();
        assert!(
            e.msg
                .contains(&format!("line {}, column 10", lines_before + 1)),
            "{}",
            e.msg
        );
        assert_eq!(parse_tree(bad2.as_bytes(), false).unwrap_err().msg, e.msg);
    }
}
