"""Write python/jwstio/_data/asn_schemas.json from the installed jwst package's association schemas.

Run:  python3 tools/gen_asn_schemas.py            (writes the file)
      python3 tools/gen_asn_schemas.py --check    (exit 1 if the committed file is stale)

jwst validates a loaded association (``jwst.associations.load_asn``) by trying the rules of its
default ``AssociationRegistry`` one after the other; each rule validates against the JSON schema
of its base class (``rules_level2_base.ASN_SCHEMA``: level 2b, ``rules_level3_base.ASN_SCHEMA``:
level 3), and the association is accepted when one of them passes. This script ships those two
schemas, in the order the registry tries them, so jwstio can validate without jwst at run time.

jwstio's validator (``jwstio.asn._check``) implements only the JSON-schema keywords these schemas
use; the script fails if a schema uses any other, so a new jwst release that adds one is noticed
here instead of being ignored silently.

Format (JSON)::

    {"format": 1, "versions": {"jwst": "3.0.0"},
     "schemas": [{"name": "level2b" | "level3", "file": <file name in jwst>, "schema": {...}}, ...]}
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "python" / "jwstio" / "_data" / "asn_schemas.json"

#: The JSON-schema keywords jwstio's validator implements (annotations included).
SUPPORTED = {"$schema", "title", "description", "type", "required", "properties", "items", "anyOf"}
TYPES = {"object", "array", "string", "null", "integer", "number", "boolean"}


def _check_keywords(schema: object, where: str) -> None:
    if not isinstance(schema, dict):
        raise SystemExit(f"{where}: a schema must be an object, got {schema!r}")
    unknown = set(schema) - SUPPORTED
    if unknown:
        raise SystemExit(f"{where}: JSON-schema keywords jwstio does not implement: {sorted(unknown)}")
    t = schema.get("type")
    if t is not None and not set(t if isinstance(t, list) else [t]) <= TYPES:
        raise SystemExit(f"{where}: unsupported type {t!r}")
    for name, sub in schema.get("properties", {}).items():
        _check_keywords(sub, f"{where}.properties.{name}")
    if "items" in schema:
        _check_keywords(schema["items"], f"{where}.items")
    for i, sub in enumerate(schema.get("anyOf", [])):
        _check_keywords(sub, f"{where}.anyOf[{i}]")


def build() -> dict:
    import jwst
    from jwst.associations import AssociationRegistry
    from jwst.associations.lib import rules_level2_base, rules_level3_base

    names = {
        Path(rules_level2_base.ASN_SCHEMA.schema).name: "level2b",
        Path(rules_level3_base.ASN_SCHEMA.schema).name: "level3",
    }
    # The order the default registry tries its rules in, as schema files (first use of each).
    order: list[str] = []
    for rule in AssociationRegistry().values():
        f = getattr(rule, "schema_file", None)
        if f is not None and str(f) not in order:
            order.append(str(f))
    schemas = []
    for f in order:
        name = names.get(Path(f).name)
        if name is None:
            raise SystemExit(f"unexpected association schema {f}")
        schema = json.loads(Path(f).read_text())
        _check_keywords(schema, name)
        schemas.append({"name": name, "file": Path(f).name, "schema": schema})
    if sorted(s["name"] for s in schemas) != ["level2b", "level3"]:
        raise SystemExit(f"expected the level2b and level3 schemas, got {[s['name'] for s in schemas]}")
    return {"format": 1, "versions": {"jwst": jwst.__version__}, "schemas": schemas}


def dumps(doc: dict) -> str:
    return json.dumps(doc, indent=1, sort_keys=False) + "\n"


def main(argv: list[str]) -> int:
    text = dumps(build())
    if "--check" in argv:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is stale: run python3 tools/gen_asn_schemas.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
