"""The merged-schema disk cache of ``jwstio.stdatamodels`` (``_schema_cache``): entries equal
stdatamodels' own computation, are used by a new process, and are computed again when anything
they come from changes, when damaged, or when the cache is off or cannot be written."""

import marshal
import os
import subprocess
import sys
import warnings

import pytest

pytest.importorskip("stdatamodels")

import asdf.schema  # noqa: E402
from stdatamodels import schema as mschema  # noqa: E402
from stdatamodels.jwst import datamodels as dm  # noqa: E402

from jwstio.stdatamodels import _build, _schema_cache  # noqa: E402

CLASSES = [dm.ImageModel, dm.CubeModel, dm.MultiSlitModel, dm.RampModel, dm.MultiSpecModel, dm.SlitModel]


def _reference(cls):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mschema.merge_property_trees(asdf.schema.load_schema(cls.schema_url, resolve_references=True))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache folder, and the in-process copies forgotten."""
    d = tmp_path / "cache"
    monkeypatch.setenv("JWSTIO_CACHE_DIR", str(d))
    monkeypatch.setattr(_build, "_schemas", {})
    return d


def _child(code, cache):
    """``code`` run by a new Python process using the cache folder ``cache``."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, JWSTIO_CACHE_DIR=str(cache)))


def _no_compute(cls):
    raise AssertionError(f"computed {cls.__name__} again")


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_entries_equal_stdatamodels_and_are_used(cache, monkeypatch, cls):
    assert _build.merged_schema(cls) == _reference(cls)
    assert len(list(cache.glob("schema-*.marshal"))) == 1
    monkeypatch.setattr(_build, "_schemas", {})
    monkeypatch.setattr(_build, "_compute_merged_schema", _no_compute)
    assert _build.merged_schema(cls) == _reference(cls)


def test_a_new_process_reads_the_entry(cache):
    _build.merged_schema(dm.ImageModel)
    code = ("from jwstio.stdatamodels import _build\n"
            "from stdatamodels.jwst import datamodels as dm\n"
            "def no(cls): raise SystemExit('computed again')\n"
            "_build._compute_merged_schema = no\n"
            "s = _build.merged_schema(dm.ImageModel)\n"
            "print(sorted(s['properties']['meta']['properties'])[:3])\n")
    r = _child(code, cache)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == str(sorted(_reference(dm.ImageModel)["properties"]["meta"]["properties"])[:3])


def test_changed_inputs_make_a_new_entry(cache, monkeypatch):
    _build.merged_schema(dm.ImageModel)
    before = set(cache.glob("schema-*.marshal"))
    # What a new stdatamodels, asdf or PyYAML version, or an edited schema file, changes.
    monkeypatch.setattr(_schema_cache, "_fingerprint", "something else")
    monkeypatch.setattr(_build, "_schemas", {})
    calls = []
    real = _build._compute_merged_schema
    monkeypatch.setattr(_build, "_compute_merged_schema", lambda cls: calls.append(cls) or real(cls))
    assert _build.merged_schema(dm.ImageModel) == _reference(dm.ImageModel)
    assert calls == [dm.ImageModel]
    assert len(set(cache.glob("schema-*.marshal")) - before) == 1


def test_the_fingerprint_follows_the_schema_files(cache, monkeypatch, tmp_path):
    """An edited schema file (size or mtime) changes the fingerprint."""
    import shutil
    from pathlib import Path

    fake = tmp_path / "pkg" / "datamodels"
    shutil.copytree(Path(dm.__file__).parent / "schemas", fake / "schemas")
    monkeypatch.setattr(dm, "__file__", str(fake / "__init__.py"))
    prints = []
    for _ in range(2):
        monkeypatch.setattr(_schema_cache, "_fingerprint", None)
        prints.append(_schema_cache._schema_files_fingerprint())
    target = fake / "schemas" / "image.schema.yaml"
    if not target.exists():
        target = sorted((fake / "schemas").rglob("*.yaml"))[0]
    st = target.stat()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # same size, new mtime
    monkeypatch.setattr(_schema_cache, "_fingerprint", None)
    prints.append(_schema_cache._schema_files_fingerprint())
    target.write_text(target.read_text() + "\n# edited\n")
    monkeypatch.setattr(_schema_cache, "_fingerprint", None)
    prints.append(_schema_cache._schema_files_fingerprint())
    assert prints[0] == prints[1] != prints[2] != prints[3]


@pytest.mark.parametrize("damage", ["truncated", "garbage", "other key", "empty"])
def test_a_damaged_entry_is_computed_again(cache, monkeypatch, damage):
    _build.merged_schema(dm.CubeModel)
    (entry,) = cache.glob("schema-*.marshal")
    data = entry.read_bytes()
    head_end = data.index(b"\n", len(_schema_cache._FORMAT)) + 1
    entry.write_bytes({"truncated": data[: head_end + 100], "garbage": data[:head_end] + b"\x00\xff" * 50,
                       "other key": _schema_cache._FORMAT + b"x\n" + data[head_end:], "empty": b""}[damage])
    monkeypatch.setattr(_build, "_schemas", {})
    assert _build.merged_schema(dm.CubeModel) == _reference(dm.CubeModel)
    assert entry.read_bytes() == data  # written again


def test_cache_off_and_unwritable(tmp_path, monkeypatch):
    monkeypatch.setenv("JWSTIO_CACHE_DIR", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(_build, "_schemas", {})
    assert _schema_cache.cache_dir() is None
    assert _build.merged_schema(dm.ImageModel) == _reference(dm.ImageModel)
    assert not (tmp_path / "xdg").exists() and not (tmp_path / "home").exists()
    blocker = tmp_path / "a file"
    blocker.write_text("x")
    monkeypatch.setenv("JWSTIO_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setattr(_build, "_schemas", {})
    assert _build.merged_schema(dm.ImageModel) == _reference(dm.ImageModel)
    assert blocker.read_text() == "x"


def test_default_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("JWSTIO_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert _schema_cache.cache_dir() == tmp_path / "jwstio"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert _schema_cache.cache_dir() == tmp_path / "home" / ".cache" / "jwstio"


def test_schemas_referencing_other_files_are_not_kept(cache):
    urls = ["http://stsci.edu/schemas/jwst_datamodel/image.schema", "http://example.org/other.schema"]
    assert marshal.loads(_schema_cache.load(dm.ImageModel, lambda: ({"a": 1}, urls))) == {"a": 1}
    assert not cache.exists() or not list(cache.glob("schema-*.marshal"))


def test_every_referenced_url_is_found():
    """The reference walk finds what asdf loads (MultiSlitModel: slit data, meta, photometry...)."""
    _, urls = _build._compute_merged_schema(dm.MultiSlitModel)
    names = {u.rsplit("/", 1)[-1] for u in urls}
    assert {"multislit.schema", "core.schema", "slitdata.schema", "slitmeta.schema", "wcsinfo.schema"} <= names
    assert all(u.startswith(_schema_cache._PREFIX) for u in urls)


def test_no_schema_folder_means_no_disk_entry(cache, monkeypatch, tmp_path):
    monkeypatch.setattr(dm, "__file__", str(tmp_path / "elsewhere" / "__init__.py"))
    monkeypatch.setattr(_schema_cache, "_fingerprint", None)
    assert _build.merged_schema(dm.ImageModel) == _reference(dm.ImageModel)
    assert not cache.exists() or not list(cache.glob("schema-*.marshal"))


def test_schemas_served_by_another_mapping_are_computed(cache):
    """A process that serves one of stdatamodels' schema files from its own asdf resource
    mapping gets that schema (as stdatamodels would), not the entry on disk."""
    _build.merged_schema(dm.ImageModel)
    assert len(list(cache.glob("schema-*.marshal"))) == 1
    code = (
        "import asdf\n"
        "from stdatamodels.jwst import datamodels as dm\n"
        "from stdatamodels import schema as ms\n"
        "from jwstio.stdatamodels import _build\n"
        "url = 'http://stsci.edu/schemas/jwst_datamodel/bunit.schema'\n"
        "text = asdf.get_config().resource_manager[url].decode()\n"
        "text = text.replace('physical units of the array values', 'OVERRIDDEN', 1)\n"
        "asdf.get_config().add_resource_mapping({url: text.encode()})\n"
        "ours = _build.merged_schema(dm.ImageModel)\n"
        "ref = ms.merge_property_trees(asdf.schema.load_schema(dm.ImageModel.schema_url, resolve_references=True))\n"
        "assert ours == ref\n"
        "assert 'OVERRIDDEN' in repr(ours)\n"
        "print('ok')\n")
    r = _child(code, cache)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]
    assert len(list(cache.glob("schema-*.marshal"))) == 1  # the overridden schema is not kept
    # Without the override (this process), stdatamodels' own mapping serves it: entries are used.
    assert _schema_cache._served_by_stdatamodels(["http://stsci.edu/schemas/jwst_datamodel/bunit.schema"])
