"""jwstio.read_metadata returns what stdatamodels' read_metadata returns: same keys in the same
order, same value types, same values (NaN equal to NaN), flat and nested."""

import math
import os
import shutil
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("stdatamodels")

import products  # noqa: E402
from astropy.io import fits  # noqa: E402

from jwstio.errors import HDUNotFoundError, KeyNotFoundError  # noqa: E402
from jwstio.models._metadata import read_metadata  # noqa: E402

REAL = Path("/work/shared/fixtures/real")
FITS_PRODUCTS = [name for name, (_, _, cls) in products.PRODUCTS.items() if cls]
MANY = {"n_slits": 12, "n_spec": 9, "n_exposures": 4}  # many slits / spectra / exposures


def reference(path, **kw):
    from stdatamodels.jwst.datamodels.util import read_metadata as ref

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ref(path, **kw)


# --- comparison ---------------------------------------------------------------------------------


def _same_leaf(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, complex):
        return _same_leaf(a.real, b.real) and _same_leaf(a.imag, b.imag)
    return a == b


def differences(ours, theirs, path="", out=None):
    """Every difference between two metadata trees (flat or nested), as readable strings."""
    out = [] if out is None else out
    if type(ours) is not type(theirs):
        out.append(f"{path}: type {type(ours).__name__} != {type(theirs).__name__} ({ours!r} vs {theirs!r})")
    elif isinstance(ours, dict):
        if list(ours) != list(theirs):
            missing = [k for k in theirs if k not in ours]
            extra = [k for k in ours if k not in theirs]
            out.append(f"{path}: keys differ (missing {missing[:5]}, extra {extra[:5]}, or order)")
        for k in ours:
            if k in theirs:
                differences(ours[k], theirs[k], f"{path}.{k}" if path else str(k), out)
    elif isinstance(ours, (list, tuple)):
        if len(ours) != len(theirs):
            out.append(f"{path}: length {len(ours)} != {len(theirs)}")
        for i, (a, b) in enumerate(zip(ours, theirs)):
            differences(a, b, f"{path}.{i}", out)
    elif not _same_leaf(ours, theirs):
        out.append(f"{path}: {ours!r} != {theirs!r}")
    return out


def assert_same(path, **kw):
    theirs = reference(path, **kw)
    ours = read_metadata(path, **kw)
    diff = differences(ours, theirs)
    assert not diff, f"{path.name if hasattr(path, 'name') else path} {kw}: " + "\n".join(diff[:20])
    return ours


def test_differences_catches_what_it_must():
    base = {"a.b": 1, "a.c": 2.5, "n": float("nan"), "s": "x", "l": None, "z": -0.0}
    assert differences(dict(base), base) == []
    altered = [
        {**base, "a.b": 2},                                  # value
        {**base, "a.b": 1.0},                                # int vs float
        {**base, "a.b": True},                               # bool vs int
        {**base, "n": 1.0},                                  # NaN vs number
        {**base, "z": 0.0},                                  # signed zero
        {k: base[k] for k in reversed(list(base))},          # order
        {k: v for k, v in base.items() if k != "s"},         # missing key
        {**base, "extra": 1},                                # extra key
        {**base, "l": "None"},                               # None vs str
    ]
    for alt in altered:
        assert differences(alt, base), alt
    nested = {"meta": {"x": [1, {"y": "z"}]}}
    assert differences({"meta": {"x": [1, {"y": "w"}]}}, nested)
    assert differences({"meta": {"x": [1]}}, nested)
    assert differences({"meta": {"x": (1, {"y": "z"})}}, nested)


# --- products -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("rm")


def _write(folder, name, seed, **options):
    sub = folder / f"{name}_{seed}_{len(options)}_{abs(hash(tuple(sorted(options.items())))) % 10**8}"
    sub.mkdir(exist_ok=True)
    return products.write(name, sub, np.random.default_rng(seed), **options)


@pytest.mark.parametrize("name", FITS_PRODUCTS)
def test_products(folder, name):
    cases = [(0, {}), (1, {}), (2, products.STRESS)]
    for seed, options in cases:
        path = _write(folder, name, seed, **options)
        flat = assert_same(path)
        assert_same(path, flatten=False)
        assert "meta.instrument.name" in flat or "meta.telescope" in flat


@pytest.mark.parametrize("name", ["cal_mos", "s2d", "x1d", "x1d_mrs", "c1d_multi", "x1dints", "cal_source"])
def test_many_items(folder, name):
    writer = products.PRODUCTS[name][0]
    accepted = products._accepted(writer)
    options = {k: v for k, v in MANY.items() if k in accepted}
    path = _write(folder, name, 3, nan=True, long_strings=True, **options)
    flat = assert_same(path)
    assert_same(path, flatten=False)
    assert any(k.startswith(("slits.11.", "spec.8.", "exposures.3.")) for k in flat), sorted(flat)[-3:]


def test_gwcs_product(folder):
    path = _write(folder, "cal", 4, wcs=True)
    flat = assert_same(path)
    assert not any(k == "wcs" or k.endswith(".wcs") or ".wcs." in k or k.startswith("wcs.") for k in flat)
    nested = assert_same(path, flatten=False)
    assert "wcs" in nested["meta"]  # the nested tree keeps the (plain) WCS subtree


def test_model_type_argument(folder):
    rate = _write(folder, "rate", 5)
    x1d = _write(folder, "x1d", 5)
    for path, model_type in [(rate, "CubeModel"), (rate, "MultiSlitModel"), (x1d, "ImageModel"),
                             (rate, "JwstDataModel"), (rate, "FlatModel"), (x1d, "MultiExposureModel")]:
        assert_same(path, model_type=model_type)
        assert_same(path, model_type=model_type, flatten=False)


def test_real_fixtures():
    if not REAL.is_dir():
        pytest.skip("no /work/shared fixtures")
    paths = sorted(REAL.glob("*.fits"))
    assert paths
    for path in paths:
        flat = assert_same(path)
        assert_same(str(path), flatten=False)
        assert flat


# --- headers edited after writing: raw values, new keys appended where stdatamodels puts them ----

EDITS = [
    ("TARG_RA", 7, 0),                 # int for a number
    ("NGROUPS", 6.0, 0),               # float for an integer
    ("TARGNAME", 42, 0),               # int for a string
    ("INSTRUME", "MIRI", 0),
    ("INSTRUME", "FOO", 0),            # not in the enum
    ("SUBARRAY", "WHATEVER", 0),       # anyOf enums
    ("TARG_RA", True, 0),              # bool for a number
    ("XOFFSET", 3 + 4j, 0),            # complex
    ("VISITYPE", "  lead spaces  ", 0),
    ("TITLE", products.LONG_TEXT * 2, 0),  # CONTINUE cards
    ("BUNIT", "MJy/sr", "SCI"),        # keyword the ASDF tree lacks
    ("EXTR_X", 12.5, "SCI"),           # not a keyword of this model: ignored
    ("DATE-OBS", "2099-01-01", 0),
    ("FILENAME", "renamed.fits", 0),
    ("NOTAKEY", 1, 0),
    ("EXP_TYPE", "", 0),               # empty string
    ("TARG_DEC", 1e300, 0),
    ("NINTS", 2**40, 0),               # big int
]


@pytest.mark.parametrize("key,value,ext", EDITS, ids=[f"{k}={v!r:.12}" for k, v, _ in EDITS])
def test_edited_header(folder, key, value, ext):
    src = _write(folder, "rate", 6)
    path = folder / f"edit_{key}_{abs(hash(repr(value))) % 10**6}_rate.fits"
    shutil.copy(src, path)
    products.edit_header(path, key, value, ext=ext)
    flat = assert_same(path)
    assert_same(path, flatten=False)
    with fits.open(path) as hdul:
        assert hdul[ext].header[key] == value or isinstance(value, str)  # the edit is there
    assert flat


def _edited_copy(folder, src, tag):
    path = folder / f"{tag}_{src.name}"
    shutil.copy(src, path)
    return path


def test_undefined_and_deleted_values(folder):
    src = _write(folder, "rate", 7)
    path = _edited_copy(folder, src, "undef")
    with fits.open(path, mode="update") as hdul:
        hdul[0].header["NINTS"] = fits.card.Undefined()  # no value: nothing is stored
        del hdul[0].header["TARG_RA"]                       # missing: the ASDF value stays
        hdul[0].header.insert("TELESCOP", ("TELESCOP", "DUPLICATE"))  # first card wins
    assert_same(path)
    assert_same(path, flatten=False)


def test_multislit_header_surgery(folder):
    """Deleted, added and extra per-EXTVER keywords; an extra SCI HDU makes a new list item."""
    src = _write(folder, "cal_mos", 8, n_slits=3)
    path = _edited_copy(folder, src, "slits")
    with fits.open(path, mode="update") as hdul:
        del hdul["SCI", 2].header["SLTNAME"]
        hdul["SCI", 3].header["SRCNAME"] = "renamed"
        hdul["SCI", 1].header["SRCXPOS"] = 0.25
        extra = fits.ImageHDU(np.zeros((2, 2), "f4"), name="SCI", ver=5)
        extra.header["SLTNAME"] = "EXTRA"
        extra.header["SHUTSTA"] = "x1x"
        hdul.append(extra)
    flat = assert_same(path)
    assert_same(path, flatten=False)
    assert "slits.4.name" in flat and flat["slits.3.name"] is not None if "slits.3.name" in flat else True


def test_x1d_header_surgery(folder):
    src = _write(folder, "x1d", 9, n_spec=3)
    path = _edited_copy(folder, src, "spec")
    with fits.open(path, mode="update") as hdul:
        del hdul["EXTRACT1D", 3].header["SLTNAME"]
        hdul["EXTRACT1D", 1].header["EXTR_X"] = 12.5
        hdul["EXTRACT1D", 2].header["SRCNAME"] = "renamed"
        hdul["EXTRACT1D", 2].header["EXTVER"] = 7   # moves item 1 to item 6
    assert_same(path)
    assert_same(path, flatten=False)


def test_primary_extver(folder):
    """List items without fits_hdu read the primary header for item 0 only, if EXTVER is 1."""
    src = _write(folder, "x1d", 10)
    for ver in (1, 2):
        path = _edited_copy(folder, src, f"pextver{ver}")
        products.edit_header(path, "EXTVER", ver)
        assert_same(path)
        assert_same(path, model_type="SpecProfileModel")
        assert_same(path, model_type="WaveMapModel", flatten=False)


def test_cal_logs(folder):
    from stdatamodels.jwst import datamodels as dm

    src = _write(folder, "rate", 11)
    path = folder / "logs_rate.fits"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with dm.open(src) as m:
            m.cal_logs = {
                "calwebb_detector1": ["2023-01-01 step A", "2023-01-01 step B"],
                "calwebb_image2": {"x": 1, "y": ["a", 2.5]},
                "single": "one line",
            }
            m.save(path)
    flat = assert_same(path)
    assert isinstance(flat["cal_logs"], str) and "step B" in flat["cal_logs"]
    assert_same(path, flatten=False)


# --- errors -------------------------------------------------------------------------------------


def _error(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fn(*args, **kw)
        except Exception as e:  # noqa: BLE001
            return e
    raise AssertionError(f"{fn} did not raise")


def test_missing_asdf_extension(folder):
    from stdatamodels.jwst.datamodels.util import read_metadata as ref

    path = _edited_copy(folder, _write(folder, "rate", 12), "noasdf")
    products.remove_asdf(path)
    theirs, ours = _error(ref, path), _error(read_metadata, path)
    assert isinstance(theirs, KeyError)
    assert isinstance(ours, KeyError) and isinstance(ours, HDUNotFoundError)
    assert "ASDF" in str(ours) and path.name in str(ours)


def test_missing_datamodl(folder):
    from stdatamodels.jwst.datamodels.util import read_metadata as ref

    path = _edited_copy(folder, _write(folder, "rate", 13), "nodatamodl")
    products.edit_header(path, "DATAMODL", delete=True)
    theirs, ours = _error(ref, path), _error(read_metadata, path)
    assert isinstance(theirs, KeyError)
    assert isinstance(ours, KeyError) and isinstance(ours, KeyNotFoundError)
    assert "DATAMODL" in str(ours) and path.name in str(ours)
    # an explicit model_type makes DATAMODL unnecessary
    assert_same(path, model_type="ImageModel")


@pytest.mark.parametrize("value,exc", [("DrizProductModel", ValueError), ("open", ValueError), (5, TypeError)])
def test_unknown_model_type(folder, value, exc):
    from stdatamodels.jwst.datamodels.util import read_metadata as ref

    path = _edited_copy(folder, _write(folder, "rate", 14), f"dm{value}")
    products.edit_header(path, "DATAMODL", value)
    theirs, ours = _error(ref, path), _error(read_metadata, path)
    assert isinstance(theirs, exc) and isinstance(ours, exc), (theirs, ours)
    theirs, ours = _error(ref, path, model_type=value), _error(read_metadata, path, model_type=value)
    assert isinstance(theirs, exc) and isinstance(ours, exc), (theirs, ours)


def test_bad_arguments(folder):
    from stdatamodels.jwst.datamodels.util import read_metadata as ref

    good = _write(folder, "rate", 15)
    for arg in (3, b"x.fits", None, os.fsencode(str(good))):
        assert type(_error(ref, arg)) is type(_error(read_metadata, arg)) is TypeError
    for name in ("noext", "x.txt", "x.json", "x.fits.txt.bak"):
        theirs, ours = _error(ref, folder / name), _error(read_metadata, folder / name)
        assert type(theirs) is type(ours) is ValueError, (name, theirs, ours)
        assert str(theirs) == str(ours)
    missing = folder / "missing_rate.fits"
    assert isinstance(_error(ref, missing), FileNotFoundError)
    assert isinstance(_error(read_metadata, missing), FileNotFoundError)
    # any suffix order stdatamodels accepts
    gz = folder / "copy_rate.fits.fits"
    shutil.copy(good, gz)
    assert_same(gz)


def test_asdf_file(folder):
    """A plain .asdf product: the whole tree (equal values; asdf's TaggedString is a str)."""
    from stdatamodels.jwst import datamodels as dm

    src = _write(folder, "cal", 16, wcs=True)
    path = folder / "product_cal.asdf"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with dm.open(src) as m:
            m.cal_logs = {"calwebb_image2": ["A", "B"]}
            m.extra_array = np.arange(4.0)  # a block array node
            m.save(path)
    theirs = reference(path)
    ours = read_metadata(path)
    assert "extra_array.source" in ours
    assert list(ours) == list(theirs)
    for k in theirs:
        a, b = ours[k], theirs[k]
        if isinstance(b, str):
            assert type(a) is str and a == b, k
        else:
            assert _same_leaf(a, b), (k, a, b)


# --- YAML the decoder must read as SafeLoader does (tags dropped) ----------------------------------

YAML = """#ASDF 1.0.0
#ASDF_STANDARD 1.5.0
%YAML 1.1
%TAG ! tag:stsci.edu:asdf/
--- !core/asdf-1.1.0
asdf_library: !core/software-1.0.0 {author: x, name: asdf, version: 6.0.0}
meta:
  date: 2023-01-01T12:34:56.5
  day: 2023-01-02
  zoned: 2001-12-14t21:59:43.10-05:00
  filename: foo.fits
  instrument: {name: NIRCAM, detector: NRCA1}
  omap: !!omap [{a: 1}, {b: [2, 3]}]
  pairs: !!pairs [{a: 1}, {a: 2}]
  anchor: &x {k: 1, l: [1, 2]}
  alias: *x
  unit: !unit/unit-1.0.0 pixel
  tagged_int: !foo/bar-1.0.0 5
  tagged_list: !foo/list-1.0.0 [1, two, 3.0]
  nan: .nan
  inf: -.inf
  yes_: yes
  octal: 017
  sexagesimal: 1:30
  float_exp: 1.0e+5
  not_float: 1e5
  big: 123456789012345678901234567890
  binary: !!binary aGVsbG8=
  quoted: '017'
  empty_map: {}
  empty_list: []
  nothing: null
  tilde: ~
  wcs: !<tag:stsci.edu:gwcs/wcs-1.1.0> {name: x, steps: [1, 2]}
  deep: {wcs: 1, x: {wcs: [1], y: 2}}
  array: !core/ndarray-1.0.0 {source: 'fits:SCI,1', datatype: float32, byteorder: big, shape: [2, 2]}
  inline: !core/ndarray-1.0.0 [[1, 2], [3, 4]]
  table: !core/ndarray-1.0.0
    source: 0
    datatype: [{name: a, datatype: int32}, {name: b, datatype: [ascii, 4]}]
    byteorder: little
    shape: [3]
  merge:
    <<: *x
    k: 2
  multi: "line one
    line two"
  block: |
    literal
    text
cal_logs:
  step1: [a, b]
  step2: {x: 1, y: [1, 2]}
  step3: plain
slits:
- !core/asdf-1.1.0 {name: s1, meta: {wcsinfo: {spectral_order: 1}}}
- {name: s2}
...
"""


def _yaml_product(folder, name, text, cards=(("DATAMODL", "ImageModel"),), sci_versions=()):
    data = np.frombuffer(text.encode(), dtype=np.uint8)[None, :]
    col = fits.Column(name="ASDF_METADATA", format=f"{data.shape[1]}B", array=data)
    primary = fits.PrimaryHDU()
    for key, value in cards:
        primary.header[key] = value
    hdus = [primary]
    for ver, extra in sci_versions:
        h = fits.ImageHDU(np.zeros((2, 2), "f4"), name="SCI", ver=ver)
        for key, value in extra:
            h.header[key] = value
        hdus.append(h)
    hdus.append(fits.BinTableHDU.from_columns([col], name="ASDF"))
    path = folder / f"{name}_cal.fits"
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return path


def test_yaml_oddities(folder):
    path = _yaml_product(
        folder, "yaml", YAML,
        cards=(("DATAMODL", "ImageModel"), ("TARGNAME", "T"), ("INSTRUME", "MIRI"), ("TARG_RA", 1.5),
               ("EPH_TIME", 5.0)),
    )
    flat = assert_same(path)
    nested = assert_same(path, flatten=False)
    assert isinstance(flat["cal_logs"], str)
    assert "meta.omap.0.0" in flat and "meta.pairs.1.1" in flat
    assert nested["meta"]["wcs"] == {"name": "x", "steps": [1, 2]}
    assert type(nested["meta"]["omap"]) is list and not isinstance(nested["meta"]["omap"], OrderedDict)
    # the same tree under MultiSlitModel: keywords go into tagged list items
    path2 = _yaml_product(
        folder, "yaml_slits", YAML,
        cards=(("DATAMODL", "MultiSlitModel"),),
        sci_versions=[(1, [("SLTNAME", "A"), ("SRCXPOS", 0.5)]), (2, [("SLTNAME", "B")]),
                      (4, [("SLTNAME", "D")])],
    )
    flat = assert_same(path2)
    assert_same(path2, flatten=False)
    assert flat["slits.3.name"] == "D" and flat["slits.0.name"] == "A"


@pytest.mark.parametrize(
    "text,cards",
    [
        # a non-str mapping key: stdatamodels' flattening fails at the leaf (TypeError)
        (YAML.replace("  nothing: null\n", "  nothing: null\n  intkey: {1: a}\n"), ()),
        # ... but not when nothing is below it, or a list follows it
        (YAML.replace("  nothing: null\n", "  nothing: null\n  intkey: {1: {}, 2: [a]}\n"), ()),
        # cal_logs that is not a mapping
        (YAML.replace("  step3: plain\n", "  step3: plain\n").replace("cal_logs:\n  step1: [a, b]\n  step2: {x: 1, y: [1, 2]}\n  step3: plain\n", "cal_logs: [a]\n"), ()),
        # a keyword whose parent in the tree is not a mapping
        (YAML.replace("  instrument: {name: NIRCAM, detector: NRCA1}\n", "  instrument: [NIRCAM]\n"),
         (("INSTRUME", "MIRI"),)),
        # a keyword whose parent is None
        (YAML.replace("  instrument: {name: NIRCAM, detector: NRCA1}\n", "  instrument: null\n"),
         (("INSTRUME", "MIRI"),)),
        # root not a mapping
        ("#ASDF 1.0.0\n%YAML 1.1\n--- [1, 2]\n...\n", ()),
    ],
    ids=["intkey-leaf", "intkey-nested", "cal_logs-list", "parent-list", "parent-none", "root-list"],
)
def test_odd_trees_fail_or_pass_alike(folder, text, cards):
    path = _yaml_product(folder, f"odd{abs(hash(text)) % 10**8}", text,
                         cards=(("DATAMODL", "ImageModel"),) + tuple(cards))
    for flatten in (True, False):
        try:
            theirs = reference(path, flatten=flatten)
        except Exception as e:  # noqa: BLE001
            ours = _error(read_metadata, path, flatten=flatten)
            assert type(ours) is type(e), (ours, e)
            continue
        diff = differences(read_metadata(path, flatten=flatten), theirs)
        assert not diff, diff[:10]


# --- keywords the ASDF tree lacks: key order is the unmerged schema walk's -----------------------

MINIMAL = """#ASDF 1.0.0
#ASDF_STANDARD 1.5.0
%YAML 1.1
%TAG ! tag:stsci.edu:asdf/
--- !core/asdf-1.1.0
asdf_library: !core/software-1.0.0 {author: x, name: asdf, version: 6.0.0}
...
"""


def _replace_asdf(path, text):
    data = np.frombuffer(text.encode(), dtype=np.uint8)[None, :]
    col = fits.Column(name="ASDF_METADATA", format=f"{data.shape[1]}B", array=data)
    with fits.open(path) as hdul:
        hdus = [h.copy() for h in hdul if h.name != "ASDF"]
    hdus.append(fits.BinTableHDU.from_columns([col], name="ASDF"))
    fits.HDUList(hdus).writeto(path, overwrite=True)


@pytest.mark.parametrize("name", FITS_PRODUCTS)
def test_keywords_only(folder, name):
    """The ASDF tree holds nothing: every value and every key's position comes from the walk."""
    src = _write(folder, name, 17, **products.STRESS)
    path = _edited_copy(folder, src, "kwonly")
    _replace_asdf(path, MINIMAL)
    flat = assert_same(path)
    assert_same(path, flatten=False)
    assert any(k.startswith("meta.") for k in flat)


def _generator():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "gen_schemas", Path(__file__).resolve().parent.parent / "tools" / "gen_schemas.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_STRUCTURAL = {"SIMPLE", "BITPIX", "EXTEND", "XTENSION", "PCOUNT", "GCOUNT", "EXTNAME", "EXTVER",
               "TFIELDS", "GROUPS", "BSCALE", "BZERO", "END", "CONTINUE"}


def _every_keyword_file(folder, model, subset=None):
    """A file whose headers hold every keyword the model's schema maps (or a random ``subset``
    seed: each with probability 0.3), with distinct values of several types; list HDUs at
    EXTVER 1, 2 and 4 (item 2 missing)."""
    import json
    import random

    gen = _generator()
    doc = json.loads((Path(__file__).resolve().parent.parent / "python" / "jwstio" / "_data" /
                      "schemas.json").read_text())
    hdus = {"PRIMARY": fits.PrimaryHDU()}
    order = ["PRIMARY"]
    rnd = random.Random(subset)
    for n, (path, kw, hdu) in enumerate(gen.metadata_entries(doc, model)):
        kw = kw.upper()
        if subset is not None and rnd.random() > 0.3:
            continue
        if kw in _STRUCTURAL or kw.startswith("NAXIS") or kw[:5] in ("TTYPE", "TFORM", "TUNIT", "TDIM"):
            continue
        hdu = hdu or "PRIMARY"
        vers = [1, 2, 4] if "[]" in path and hdu != "PRIMARY" else [1]
        for ver in vers:
            key = hdu if hdu == "PRIMARY" else (hdu, ver)
            if key not in hdus:
                hdus[key] = fits.ImageHDU(name=hdu, ver=ver)
                order.append(key)
            value = [f"{kw}-{ver}", n * 10 + ver, n + ver / 8, bool(n % 2)][n % 4]
            hdus[key].header[kw] = value
    hdus["PRIMARY"].header["DATAMODL"] = model
    path = folder / f"every_{model}_{subset}.fits"
    fits.HDUList([hdus[k] for k in order]).writeto(path, overwrite=True)
    _replace_asdf(path, MINIMAL)
    return path


def _models():
    import json

    doc = json.loads((Path(__file__).resolve().parent.parent / "python" / "jwstio" / "_data" /
                      "schemas.json").read_text())
    return list(doc["models"])


@pytest.mark.parametrize("model", _models())
def test_every_keyword_of_every_model(folder, model):
    """All keywords, then random subsets: with the tree empty, parents are created in walk order,
    so a subset shows where the unmerged walk differs from the merged one."""
    for subset in (None, 1, 2, 3, 4):
        path = _every_keyword_file(folder, model, subset)
        flat = assert_same(path)
        assert_same(path, flatten=False)
        assert len(flat) > 3


def test_no_asdf_yaml_or_stdatamodels_at_run_time(folder):
    """read_metadata decodes with the Rust core only (checked in a fresh interpreter)."""
    import subprocess
    import sys

    path = _write(folder, "cal", 18, wcs=True)
    code = (
        "import sys, jwstio\n"
        f"jwstio.read_metadata({str(path)!r}); jwstio.read_metadata({str(path)!r}, flatten=False)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('asdf', 'yaml', 'stdatamodels', 'gwcs'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_omap_as_asdf_writes_it(folder):
    """asdf writes an OrderedDict as '!!omap' with each item tagged '!!omap' too."""
    from stdatamodels.jwst import datamodels as dm

    src = _write(folder, "rate", 19)
    asdf_path = folder / "omap_rate.asdf"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with dm.open(src) as m:
            m.extra_omap = OrderedDict([("b", 1), ("a", [2, 3])])
            m.save(asdf_path)
    assert b"- !!omap" in asdf_path.read_bytes()
    ours = read_metadata(asdf_path)  # asdf's tagged loader: an OrderedDict, flattened as a mapping
    assert ours["extra_omap.b"] == 1 and list(ours) == list(reference(asdf_path))
    fits_path = _yaml_product(folder, "omap", YAML.replace(
        "  omap: !!omap [{a: 1}, {b: [2, 3]}]\n", "  omap: !!omap\n  - !!omap {a: 1}\n  - !!omap {b: [2, 3]}\n"))
    assert_same(fits_path)  # SafeLoader: a list of (key, value) pairs


@pytest.mark.parametrize("bad", ["*undefined_alias", "!!int xyz", "[1, 2"])
def test_broken_yaml_inside_wcs(folder, bad):
    """The WCS subtree is parsed lazily and read_metadata never reads it: errors inside it must
    still surface, as stdatamodels (which parses everything) raises."""
    src = _write(folder, "cal", 20, wcs=True)
    with fits.open(src) as hdul:
        raw = hdul["ASDF"].data.tobytes()
    text = raw[: raw.index(b"\n...\n") + 5].decode()
    at = text.index("    pixel_shape: null\n")
    text = text[:at] + f"    bad: {bad}\n" + text[at:]
    path = _edited_copy(folder, src, f"badwcs{abs(hash(bad)) % 1000}")
    _replace_asdf(path, text)
    with pytest.raises(Exception):  # noqa: B017
        reference(path)
    with pytest.raises(ValueError):
        read_metadata(path)


# --- the Rust fast path against the general path ------------------------------------------------


def _general(path, **kw):
    """read_metadata with the Rust fast path turned off."""
    from jwstio.models import _metadata

    _metadata._FAST = False
    try:
        return read_metadata(path, **kw)
    finally:
        _metadata._FAST = True


def _fast(path, model_type=None):
    from jwstio import _core
    from jwstio.models import _metadata

    return _core.read_metadata_fits(str(path), model_type, _metadata._fast_plan)


@pytest.mark.parametrize("name", FITS_PRODUCTS)
def test_fast_path_is_taken_and_agrees(folder, name):
    """Every product stdatamodels writes takes the fast path (a silent fallback would only be
    slow), and gives the general path's dict, keys, order and types."""
    for seed, options in [(0, {}), (3, products.STRESS)]:
        path = _write(folder, name, seed, **options)
        fast = _fast(path)
        assert fast is not None, f"{name}: fast path declined"
        assert not differences(fast, _general(path)), name


def test_fast_path_on_real_fixtures():
    if not REAL.is_dir():
        pytest.skip("no /work/shared fixtures")
    for path in sorted(REAL.glob("*.fits")):
        fast = _fast(path)
        assert fast is not None, path.name
        assert not differences(fast, _general(path)), path.name


def test_fast_path_repeated_and_interleaved(folder):
    """The fast path reuses the last dict's key layout per model: files of one model read over
    and over, interleaved, with equal keys and other values or other keys, must each still give
    their own dict (and a fresh one: editing a result changes no later one)."""
    paths = [_write(folder, name, seed) for name in ("rate", "cal", "bsub") for seed in (0, 1)]
    paths.append(_write(folder, "cal", 2, **products.STRESS))
    src = paths[0]
    for tag, key, value in [
        ("samelen", "FILTER", "F999W"),        # same keys, a str value of the same length
        ("otherval", "EXP_TYPE", "NRC_TACQ"),  # same keys, another value
        ("newkey", "NOTAKEY", 1),              # one key more (extra_fits)
    ]:
        path = _edited_copy(folder, src, tag)
        products.edit_header(path, key, value, ext=0)
        paths.append(path)
    paths += [_write(folder, "cal_mos", seed, n_slits=n) for seed, n in ((0, 2), (1, 3))]
    expected = {p: _general(p) for p in paths}
    rng = np.random.default_rng(11)
    order = [p for p in paths for _ in range(3)]
    order += list(rng.choice(paths, size=60))
    for path in order:
        got = _fast(path)
        assert got is not None, path.name
        assert not differences(got, expected[path]), path.name
        got.clear()
        got["x"] = 1


def test_fast_path_from_threads(folder):
    """Threads reading files of one model at once (the layout cache is shared) each get their
    own file's dict."""
    from concurrent.futures import ThreadPoolExecutor

    paths = [_write(folder, name, seed) for name in ("rate", "cal") for seed in (4, 5)]
    expected = {p: _general(p) for p in paths}

    def work(k):
        bad = []
        for j in range(40):
            p = paths[(k + j) % len(paths)]
            got = read_metadata(p)
            if differences(got, expected[p]):
                bad.append(p.name)
        return bad

    with ThreadPoolExecutor(4) as ex:
        assert not [b for bad in ex.map(work, range(8)) for b in bad]
