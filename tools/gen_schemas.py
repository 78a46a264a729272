"""Write python/jwstio/_data/schemas.json from the installed stdatamodels schemas.

Run:  python3 tools/gen_schemas.py            (writes the file)
      python3 tools/gen_schemas.py --check    (exit 1 if the committed file is stale)

Each model's schema is the one stdatamodels itself uses: ``cls()._schema``, i.e.
``asdf.schema.load_schema(cls.schema_url, resolve_references=True)`` passed through
``stdatamodels.schema.merge_property_trees`` (MultiExposureModel builds its own, see
``multiexposure.py: _build_schema``).  Nothing here runs at jwstio import time.

Format (JSON; Python's ``json`` module, NaN allowed because schema defaults contain NaN)::

    {
      "format": 1,
      "versions": {"stdatamodels": ..., "asdf": ...},
      "enums":  [[value, ...], ...],          # shared enum lists, referenced by index
      "nodes":  [node, ...],                  # shared schema nodes, referenced by index
      "models": {ClassName: model, ...}       # every class in stdatamodels.jwst.datamodels.__all__
    }

    model = {
      "schema_url": "http://stsci.edu/schemas/jwst_datamodel/image.schema" | null,
      "mro": ["ImageModel", "JwstDataModel", "DataModel"],   # DataModel subclasses only
      "primary_array": "data" | "",                           # get_primary_array_name()
      "on_save": {"base": ["filename", "model_type", "date"],  # what on_save sets from the
                  "set": [["meta.reftype", "emicorr"], ...]},  # path and the clock; constants
      "root": node id,                                        # the merged property tree
    }

    The FITS reading order (fits_support._load_from_schema) is a depth-first walk of
    "root"; ``fits_entries(doc, name)`` below is the reference reading and gives
      ["k", path, keyword, hdu, node id]   # header keyword -> tree value (hdu null: PRIMARY)
      ["a", path, hdu, node id]            # HDU data -> array / table
    with paths like "slits[].meta.wcsinfo.spectral_order": "name[]" marks a list whose items
    are read with EXTVER = index + 1, for index in range(max EXTVER in the file).

    node = {"k": "o", "p": [[name, node id], ...]}          # object (properties in schema order)
         | {"k": "l", "i": node id | [node id, ...], "fh": true}  # list; "fh": items mention
                                                             # fits_hdu (read per EXTVER)
         | {"k": "a", "hdu": str|null, "dt": asdf datatype, "np": numpy dtype str | columns,
            "ndim": int, "max_ndim": int, "default": value, "extra_cols": bool, "tag": str}
         | {"k": "s", "type": str|list|null, "kw": str, "hdu": str, "enum": enum id,
            "pattern": str, "default": value, "tag": str, "c": str}
    Object nodes carry "t": the schema title (a comment section when saving); keyword nodes
    "c": the card comment stdatamodels writes (``fits_support._get_short_doc``).
    Any node may also carry "any": [enum id, ...] (an anyOf made only of enums), or
    "anyOf"/"oneOf": [node id, ...] and "not": node id (other combiners, kept as trees).
    Only keys that apply are present.  On keyword nodes the schemas use no validation
    rules besides "type", "enum", "any" and "pattern": a header value must be in
    enums[enum] (if present) and in at least one of enums[any[j]] (if present).
    columns = [[name, asdf datatype, numpy dtype str, shape | null, ndim | null, max_ndim | null], ...]
    Numpy dtype strings use "=" for native byte order (e.g. "=f4", "|u1", "|S16").

    read_metadata (``stdatamodels.jwst.datamodels.util.read_metadata``) walks the UNMERGED
    schema (``load_schema(cls.schema_url, resolve_references=True)``, allOf branches in
    order) for keywords only.  It visits the same (path, keyword, hdu) triples as the merged
    walk, but for some models in another order, and some twice.  Such a model has

      "rm": [i | [first, last], ...]

    positions (0-based; [first, last] = every position from first to last) into the model's
    keyword entries, i.e. the "k" entries of ``fits_entries(doc, name)`` in their order, listed
    in the order of the unmerged walk with repeats dropped; a model without "rm" is walked in
    merged order.  ``metadata_entries(doc, name)`` below is the reference reading.  Dropping
    repeats is exact because the generator checks, for every model, that one path always maps
    to one (keyword, hdu), that no keyword path lies inside another, and that the items of a
    per-EXTVER list ("name[]") form one contiguous run read in one pass over the EXTVERs.
"""

import argparse
import json
import re
import sys
import warnings
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "python" / "jwstio" / "_data" / "schemas.json"

ARRAY_KEYS = ("ndim", "max_ndim", "datatype")
# Everything a keyword node may hold; anything else would be a validation rule we drop.
KEYWORD_NODE_KEYS = {
    "fits_keyword", "fits_hdu", "title", "description", "type", "enum", "anyOf",
    "pattern", "default", "blend_table", "blend_rule",
}


def _short_doc(schema):
    """The card comment stdatamodels writes (fits_support._get_short_doc)."""
    from stdatamodels import fits_support

    return fits_support._get_short_doc(schema)


def _np_str(dtype):
    s = dtype.str
    if s[0] in "<>":
        s = "=" + s[1:]
    return s


class _Builder:
    def __init__(self):
        self.enums = []
        self._enum_ids = {}
        self.nodes = []
        self._node_ids = {}

    def enum(self, values):
        key = json.dumps(values, sort_keys=True)
        if key not in self._enum_ids:
            self._enum_ids[key] = len(self.enums)
            self.enums.append(values)
        return self._enum_ids[key]

    def intern(self, node):
        key = json.dumps(node, sort_keys=True)
        if key not in self._node_ids:
            self._node_ids[key] = len(self.nodes)
            self.nodes.append(node)
        return self._node_ids[key]

    def array_node(self, schema):
        from asdf.tags.core import ndarray

        node = {"k": "a"}
        if "fits_hdu" in schema:
            node["hdu"] = schema["fits_hdu"]
        for key in ("ndim", "max_ndim", "default", "tag"):
            if key in schema:
                node[key] = schema[key]
        if schema.get("allow_extra_columns"):
            node["extra_cols"] = True
        if "datatype" in schema:
            dt = schema["datatype"]
            node["dt"] = dt
            if isinstance(dt, list) and dt and isinstance(dt[0], dict):
                cols = []
                for field in dt:
                    base = ndarray.asdf_datatype_to_numpy_dtype(field["datatype"])
                    cols.append(
                        [
                            field.get("name", ""),
                            field["datatype"],
                            _np_str(base),
                            field.get("shape"),
                            field.get("ndim"),
                            field.get("max_ndim"),
                        ]
                    )
                node["np"] = cols
            else:
                node["np"] = _np_str(ndarray.asdf_datatype_to_numpy_dtype(dt))
        return node

    def scalar_node(self, schema):
        if "fits_keyword" in schema and not set(schema) <= KEYWORD_NODE_KEYS:
            raise ValueError(f"keyword node with unexpected rules: {sorted(schema)}")
        node = {"k": "s", "type": schema.get("type")}
        if "fits_keyword" in schema:
            node["kw"] = schema["fits_keyword"]
            node["c"] = _short_doc(schema)
        if "fits_hdu" in schema:
            node["hdu"] = schema["fits_hdu"]
        if "enum" in schema:
            node["enum"] = self.enum(schema["enum"])
        for key in ("pattern", "default", "tag"):
            if key in schema:
                node[key] = schema[key]
        return node

    def combiners(self, schema, node):
        """Add anyOf/oneOf/not; an anyOf made only of enums becomes "any": [enum id, ...]."""
        branches = schema.get("anyOf")
        if branches and all(set(b) == {"enum"} for b in branches):
            node["any"] = [self.enum(b["enum"]) for b in branches]
        elif branches:
            node["anyOf"] = [self.tree(b) for b in branches]
        if "oneOf" in schema:
            node["oneOf"] = [self.tree(b) for b in schema["oneOf"]]
        if "not" in schema:
            node["not"] = self.tree(schema["not"])
        return node

    def tree(self, schema):
        """Return the node id of a merged schema (sub)tree."""
        from stdatamodels import fits_support

        stype = schema.get("type")
        if any(k in schema for k in ARRAY_KEYS):
            node = self.array_node(schema)
        elif stype == "object" or "properties" in schema:
            if stype != "object":
                # walk_schema only descends into properties of type: object nodes.
                raise ValueError(f"properties without type: object: {list(schema)}")
            if "fits_keyword" in schema:
                raise ValueError("object node with fits_keyword")
            props = [[name, self.tree(sub)] for name, sub in schema.get("properties", {}).items()]
            node = {"k": "o", "p": props}
            if schema.get("title") is not None:
                node["t"] = schema["title"]
        elif stype == "array":
            if "fits_keyword" in schema:
                raise ValueError("array node with fits_keyword")
            items = schema.get("items", {})
            if isinstance(items, list):
                node = {"k": "l", "i": [self.tree(sub) for sub in items]}
            else:
                node = {"k": "l", "i": self.tree(items)}
            if fits_support._schema_has_fits_hdu(schema):
                node["fh"] = True
        else:
            node = self.scalar_node(schema)
        return self.intern(self.combiners(schema, node))


def _fmt(path):
    out = []
    for part in path:
        if part == "[]":
            out[-1] += "[]"
        else:
            out.append(str(part))
    return ".".join(out)


def stdatamodels_fits_walk(schema, builder):
    """Entries of fits_support._load_from_schema's walk over a merged schema, via walk_schema.

    Same callback logic as stdatamodels; a list whose items mention fits_hdu is recursed
    once with the "[]" marker instead of once per EXTVER.  Raises if a keyword or HDU node
    sits where the JSON format cannot express it (under a combiner or a plain list).
    """
    from stdatamodels import fits_support
    from stdatamodels import schema as mschema

    entries = []

    def callback(sub, path, combiner, ctx, recurse):
        entry = None
        if "fits_keyword" in sub:
            entry = ["k", _fmt(path), sub["fits_keyword"], sub.get("fits_hdu"), builder.tree(sub)]
        elif "fits_hdu" in sub and any(k in sub for k in ARRAY_KEYS):
            entry = ["a", _fmt(path), sub["fits_hdu"], builder.tree(sub)]
        if entry is not None:
            if any(p in ("anyOf", "oneOf", "items") for p in path) or combiner == "not":
                raise ValueError(f"FITS node at unsupported place: {path}")
            entries.append(entry)
        if sub.get("type") == "array" and fits_support._schema_has_fits_hdu(sub):
            recurse(sub["items"], path + ["[]"], combiner, {"hdu_index": "[]"})
            return True
        return None

    mschema.walk_schema(schema, callback)
    return entries


def fits_entries(doc, model):
    """Reference reading of the JSON: the FITS entries of one model, in stdatamodels' order.

    Depth-first over "root": a node with "kw" gives ["k", path, kw, hdu, id]; else an "a"
    node with "hdu" gives ["a", path, hdu, id]; then object properties are visited in order,
    and a list node is entered (path "name[]") only if it has "fh".  Combiner branches and
    lists without "fh" hold no entries (the generator checks this).
    """
    nodes = doc["nodes"]
    out = []

    def visit(nid, path):
        node = nodes[nid]
        if "kw" in node:
            out.append(["k", _fmt(path), node["kw"], node.get("hdu"), nid])
        elif node["k"] == "a" and "hdu" in node:
            out.append(["a", _fmt(path), node["hdu"], nid])
        if node["k"] == "o":
            for name, child in node["p"]:
                visit(child, path + [name])
        elif node["k"] == "l" and node.get("fh"):
            visit(node["i"], path + ["[]"])

    visit(doc["models"][model]["root"], [])
    return out


def metadata_walk(cls):
    """Keyword entries of read_metadata's walk for model class ``cls``, in stdatamodels' order.

    Runs walk_schema over the unmerged schema with the callback of
    ``fits_support._load_from_schema`` (keywords only).  Returns ``[[path, keyword, hdu,
    visit], ...]`` with repeats; ``visit`` numbers each pass over a per-EXTVER list (None
    outside lists).
    """
    import asdf.schema
    from stdatamodels import fits_support
    from stdatamodels import schema as mschema

    schema = asdf.schema.load_schema(cls.schema_url, resolve_references=True)
    entries = []
    visits = [0]

    def callback(sub, path, combiner, ctx, recurse):
        if "fits_keyword" in sub:
            if any(p in ("anyOf", "oneOf", "items") for p in path) or combiner == "not":
                raise ValueError(f"{cls.__name__}: keyword at unsupported place: {path}")
            entries.append([_fmt(path), sub["fits_keyword"], sub.get("fits_hdu"), ctx.get("visit")])
        if sub.get("type") == "array" and fits_support._schema_has_fits_hdu(sub):
            if "visit" in ctx:
                raise ValueError(f"{cls.__name__}: per-EXTVER list inside another: {path}")
            visits[0] += 1
            recurse(sub["items"], path + ["[]"], combiner, {"hdu_index": "[]", "visit": visits[0]})
            return True
        return None

    mschema.walk_schema(schema, callback)
    return entries


def _metadata_order(name, walk, keyword_entries):
    """Positions of the deduplicated unmerged walk in the merged keyword entries (see "rm")."""
    by_path = {}
    for path, kw, hdu, _ in walk:
        if by_path.setdefault(path, (kw, hdu)) != (kw, hdu):
            raise ValueError(f"{name}: {path} read from two keywords")
        if any(p in ".[]" or not p for p in path.replace("[]", "").split(".")):
            raise ValueError(f"{name}: unexpected path {path!r}")
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,8}", kw):  # looked up case-insensitively
            raise ValueError(f"{name}: keyword {kw!r} needs astropy's special lookup rules")
    for path in by_path:
        parts = path.replace("[]", ".[]").split(".")
        for n in range(1, len(parts)):
            if ".".join(parts[:n]).replace(".[]", "[]") in by_path:
                raise ValueError(f"{name}: a keyword path lies inside another: {path}")
    seen = {}
    for path, kw, hdu, visit in walk:
        seen.setdefault((path, kw, hdu), visit)
    order = list(seen)
    # Each per-EXTVER list must keep one contiguous run, all from one pass.
    runs = []
    for path, _, _ in order:
        prefix = path.split("[]")[0] if "[]" in path else None
        if not runs or runs[-1] != prefix:
            runs.append(prefix)
    lists = [r for r in runs if r is not None]
    if len(lists) != len(set(lists)):
        raise ValueError(f"{name}: a per-EXTVER list is split: {runs}")
    for prefix in set(lists):
        if len({v for k, v in seen.items() if k[0].startswith(prefix + "[]")}) != 1:
            raise ValueError(f"{name}: {prefix}[] items come from two passes")
    position = {(e[1], e[2], e[3]): i for i, e in enumerate(keyword_entries)}
    if set(position) != set(order) or len(position) != len(keyword_entries):
        raise ValueError(f"{name}: unmerged and merged walks read different keywords")
    return [position[t] for t in order]


def _ranges(positions):
    out = []
    for p in positions:
        last = out[-1] if out else None
        if isinstance(last, list) and last[1] + 1 == p:
            last[1] = p
        elif isinstance(last, int) and last + 1 == p:
            out[-1] = [last, p]
        else:
            out.append(p)
    return out


def metadata_entries(doc, model):
    """Reference reading of "rm": [path, keyword, hdu] in read_metadata's walk order."""
    keyword_entries = [e[1:4] for e in fits_entries(doc, model) if e[0] == "k"]
    rm = doc["models"][model].get("rm")
    if rm is None:
        return keyword_entries
    out = []
    for r in rm:
        first, last = (r, r) if isinstance(r, int) else r
        out.extend(keyword_entries[first : last + 1])
    return out


_PROBE = "jwstio_on_save_probe.fits"
_OLD_DATE = "2000-01-01T00:00:00.000"
# Classes whose on_save also sets values that depend on the model's (jwstio repeats these by
# hand: models/_save.py _map_oifits_keywords); their conditional sets are not recorded.
_VALUE_DEPENDENT_ON_SAVE = {"AmiOIModel"}


def on_save_effects(cls):
    """What ``cls().on_save(path)`` sets, found by running it: which of meta.filename (the
    path's name), meta.model_type (the class name) and meta.date (now) it sets, and the
    constants it assigns whatever the value was before (e.g. reference models' meta.reftype)."""
    from stdatamodels.jwst.datamodels import JwstDataModel

    def run(preset):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            inst = cls()
            inst.meta.filename, inst.meta.model_type = "before.fits", "Before"
            if issubclass(cls, JwstDataModel):
                inst.meta.date = _OLD_DATE
            for path, value in preset:
                node = inst
                for part in path.split(".")[:-1]:
                    node = getattr(node, part)
                setattr(node, path.split(".")[-1], value)
            before = inst.to_flat_dict(include_arrays=False)
            inst.on_save("/some/folder/" + _PROBE)
            return before, inst.to_flat_dict(include_arrays=False)

    before, after = run(())
    base = [k for k, done in (("filename", after.get("meta.filename") == _PROBE),
                              ("model_type", after.get("meta.model_type") == cls.__name__),
                              ("date", after.get("meta.date", _OLD_DATE) != _OLD_DATE)) if done]
    missing = object()
    changed = [[k, v] for k, v in after.items()
               if k not in ("meta.filename", "meta.model_type", "meta.date") and before.get(k, missing) != v]
    if not changed or cls.__name__ in _VALUE_DEPENDENT_ON_SAVE:
        return {"base": base, "set": []}
    # constants only: set whatever the value was (a different value of the same type first)
    other = [[k, ("x" + v) if isinstance(v, str) else (not v) if isinstance(v, bool) else v + 1] for k, v in changed]
    _, again = run(other)
    if any(again.get(k) != v for k, v in changed):
        raise ValueError(f"{cls.__name__}.on_save sets values that depend on the model: {changed}")
    return {"base": base, "set": changed}


def model_names():
    import stdatamodels.jwst.datamodels as dm

    names = [n for n in dm.__all__ if n not in ("open", "read_metadata")]
    return sorted(set(names) | {"JwstDataModel"})


def build():
    """Return the schemas document as a Python object."""
    import asdf
    import stdatamodels
    import stdatamodels.jwst.datamodels as dm
    from stdatamodels.model_base import DataModel

    builder = _Builder()
    models = {}
    for name in model_names():
        cls = getattr(dm, name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            inst = cls()
        schema = inst._schema
        models[name] = {
            "schema_url": cls.schema_url,
            "mro": [c.__name__ for c in cls.__mro__ if isinstance(c, type) and issubclass(c, DataModel)],
            "primary_array": inst.get_primary_array_name(),
            "on_save": on_save_effects(cls),
            "root": builder.tree(schema),
        }
        # The format stores only the tree; make sure the documented reading of it gives
        # exactly the walk stdatamodels does.
        doc_view = {"nodes": builder.nodes, "models": models}
        entries = fits_entries(doc_view, name)
        if entries != stdatamodels_fits_walk(schema, builder):
            raise ValueError(f"{name}: tree does not reproduce stdatamodels' FITS walk")
        keyword_entries = [e for e in entries if e[0] == "k"]
        order = _metadata_order(name, metadata_walk(cls), keyword_entries)
        if order != list(range(len(keyword_entries))):
            models[name]["rm"] = _ranges(order)
    return {
        "format": 1,
        "versions": {"stdatamodels": stdatamodels.__version__, "asdf": asdf.__version__},
        "enums": builder.enums,
        "nodes": builder.nodes,
        "models": models,
    }


def dumps(doc):
    """Serialise the document exactly as it is committed."""
    return json.dumps(doc, separators=(",", ":"), sort_keys=False) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare with the committed file")
    args = parser.parse_args(argv)
    text = dumps(build())
    if args.check:
        ok = OUT.exists() and OUT.read_text() == text
        print("up to date" if ok else f"{OUT} is stale")
        return 0 if ok else 1
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(f"wrote {OUT} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
