"""JWST file-name semantics: what a product's name says about it.

Three naming schemes are recognised (JWST pipeline documentation, "File Naming Schemes" and
"Associations: JWST Conventions"):

- exposure-based (stages 0-2, and exposure-based stage-3 products such as ``crf``)::

    jw<ppppp><ooo><vvv>_<gg><s><aa>_<eeeee>(-seg<NNN>)_<detector>(_<acid>)(_<suffix>).fits

  (``exposure_name`` is the part that names the exposure, without the segment:
  ``jw<ppppp><ooo><vvv>_<gg><s><aa>_<eeeee>_<detector>``, shared by all its segments)

- source-based (stage 3)::

    jw<ppppp>-<acid>_<t<TargID> | s|b|v<SourceID>>(-epoch<X>)_<instr>_<optElements>_<suffix>(-<ACT_ID>).fits

- association tables: ``jw<ppppp>-<acid>_<YYYYMMDDtHHMMSS>_<asnType>_<NNN>_asn.json``

Every field is a string ('' when absent) so leading zeros survive. A name that fits no scheme
gives all fields empty; it is never an error.

The suffix gives the product type and, from the pipeline's product tables, the stage of the
pipeline that makes it; the processing level and MAST data level follow from the stage by the
translation table in the JWST "Processing Levels and Product Stages" documentation:

======  ===================  =====================  ==========
stage   products             processing level       MAST level
======  ===================  =====================  ==========
0       uncal                1b (uncal FITS)        1
1       rate, rateints, ...  2a (countrate)         2
2       cal, calints, bsub   2b (calibrated)        2
3       i2d, s2d, x1d, ...   3 (combined)           3
======  ===================  =====================  ==========

``crf`` / ``crfints`` are made during stage 3 but are level 2c exposures (MAST level 2).
Products listed for both stage 2 and stage 3 (``i2d``, ``s2d``, ``s3d``, ``x1d``, ``x1dints``,
``cal``) take stage 2 when the name is exposure-based and stage 3 when it is source-based.
Association tables (``asn``) and unknown suffixes get no stage or level.
"""

from __future__ import annotations

import functools
import os
import re

__all__ = ["parse_filename", "parse_many", "FIELDS", "SUFFIXES"]

#: Every key :func:`parse_filename` returns, in column order.
FIELDS = (
    "name_kind",
    "program",
    "observation",
    "visit",
    "visit_group",
    "parallel_seq",
    "activity",
    "exposure",
    "segment",
    "exposure_name",
    "detector",
    "acid",
    "target",
    "source",
    "source_kind",
    "epoch",
    "instrument",
    "optical_elements",
    "suffix",
    "act_id",
    "product_type",
    "stage",
    "level",
    "mast_level",
    "asn_version",
    "asn_type",
    "asn_sequence",
)

# suffix -> (stage when exposure-based, stage when source-based, description); from the JWST
# pipeline's "Data Product Types" tables. None: the suffix is not made with that naming.
SUFFIXES: dict[str, tuple[int | None, int | None, str]] = {
    "uncal": (0, None, "Uncalibrated 4-D exposure data"),
    "dark": (1, None, "Corrected dark exposure data"),
    "trapsfilled": (1, None, "Charge trap state data"),
    "rateints": (1, None, "3-D countrate data (per integration)"),
    "rate": (1, None, "2-D countrate data (per exposure)"),
    "fitopt": (1, None, "Fit info from ramp_fit step"),
    "ramp": (1, None, "4-D corrected ramp data"),
    "bsub": (2, None, "2-D background-subtracted data"),
    "bsubints": (2, None, "3-D background-subtracted data"),
    "cal": (2, 3, "Calibrated data"),
    "calints": (2, None, "3-D calibrated data"),
    "i2d": (2, 3, "2-D resampled imaging data"),
    "s3d": (2, 3, "3-D resampled spectroscopic data"),
    "s2d": (2, 3, "2-D resampled spectroscopic data"),
    "x1d": (2, 3, "1-D extracted spectral data"),
    "x1dints": (2, 3, "1-D extracted spectral data (per integration)"),
    "flat": (2, None, "On-the-fly constructed flat"),
    "crf": (3, None, "2-D CR-flagged calibrated data"),
    "crfints": (3, None, "3-D CR-flagged calibrated data"),
    "cat": (None, 3, "Source catalog"),
    "segm": (None, 3, "Segmentation map"),
    "c1d": (None, 3, "1-D combined spectroscopic data"),
    "ami": (3, None, "Fringe parameters (per exposure)"),
    "amiavg": (None, 3, "Averaged fringe parameters"),
    "aminorm": (None, 3, "Normalized fringe parameters"),
    "psfstack": (None, 3, "PSF library images"),
    "psfalign": (3, None, "Aligned PSF images"),
    "psfsub": (3, None, "PSF-subtracted images"),
    "phot": (None, 3, "TSO imaging photometry catalog"),
    "whtlt": (None, 3, "TSO spectral white-light catalog"),
    "wfscmb": (None, 3, "2-D combined WFS&C image"),
}

# stage -> (processing level, MAST level), the "Processing Levels and Product Stages" table.
_LEVELS = {0: ("1b", "1"), 1: ("2a", "2"), 2: ("2b", "2"), 3: ("3", "3")}
_LEVEL_2C = {"crf", "crfints"}

_ACID = r"(?:o\d{3}|c\d{4}|a\d{4}|r\d{4})"
_EXT = r"(?:\.[a-z0-9]+)*"

_EXPOSURE = re.compile(
    r"jw(?P<program>\d{5})(?P<observation>\d{3})(?P<visit>\d{3})"
    r"_(?P<visit_group>\d{2})(?P<parallel_seq>\d)(?P<activity>[0-9a-z]{2})"
    r"_(?P<exposure>\d{5})(?:-seg(?P<segment>\d{3}))?"
    r"_(?P<detector>[a-z0-9]+)"
    rf"(?:_(?P<acid>{_ACID}))?"
    r"(?:_(?P<suffix>[a-z][a-z0-9_-]*?))?"
    rf"{_EXT}",
    re.I,
)

_SOURCE = re.compile(
    rf"jw(?P<program>\d{{5}})-(?P<acid>{_ACID})"
    r"_(?:t(?P<target>\d+)|(?P<source_kind>[sbv])(?P<source>\d+))"
    r"(?:-epoch(?P<epoch>\d))?"
    r"_(?P<instrument>[a-z]+)"
    r"_(?P<optical_elements>[a-z0-9_-]+?)"
    r"_(?P<suffix>(?:psf-)?[a-z][a-z0-9]*)(?:-(?P<act_id>\d{2}))?"
    rf"{_EXT}",
    re.I,
)

_ASSOCIATION = re.compile(
    rf"jw(?P<program>\d{{5}})-(?P<acid>{_ACID})"
    r"_(?P<asn_version>\d{8}t\d{6})_(?P<asn_type>[a-z0-9-]+)_(?P<asn_sequence>\d{3})"
    r"_(?P<suffix>asn)\.json",
    re.I,
)

_EMPTY = dict.fromkeys(FIELDS, "")
_INDEX = {f: i for i, f in enumerate(FIELDS)}
# (name_kind, regex, FIELDS index of each regex group in order)
_SCHEMES = tuple(
    (kind, rx, tuple(_INDEX[g] for g in sorted(rx.groupindex, key=rx.groupindex.__getitem__)))
    for kind, rx in (("exposure", _EXPOSURE), ("source", _SOURCE), ("association", _ASSOCIATION))
)
_I_SUFFIX = _INDEX["suffix"]
_I_EXPOSURE_NAME = _INDEX["exposure_name"]
_I_CLASS = tuple(_INDEX[f] for f in ("product_type", "stage", "level", "mast_level"))


@functools.lru_cache(maxsize=256)
def _classify(suffix: str, based: str) -> tuple[str, str, str, str]:
    """(product_type, stage, level, mast_level) of a suffix under exposure/source naming."""
    suffix = suffix.lower()
    ptype = suffix[4:] if suffix.startswith("psf-") else suffix
    entry = SUFFIXES.get(ptype)
    if entry is None:
        return ptype, "", "", ""
    stage = entry[0] if based == "exposure" else entry[1]
    if stage is None:
        # Made with the other naming only; the suffix still says which stage makes it.
        stage = entry[1] if based == "exposure" else entry[0]
    if stage is None:
        return ptype, "", "", ""
    level, mast = _LEVELS[stage]
    if ptype in _LEVEL_2C:
        level, mast = "2c", "2"
    return ptype, str(stage), level, mast


def _parse(base: str) -> list[str] | None:
    """Field values in FIELDS order, or None when no scheme fits."""
    for kind, rx, index in _SCHEMES:
        m = rx.fullmatch(base)
        if m is None:
            continue
        out = [""] * len(FIELDS)
        out[0] = kind
        for i, v in zip(index, m.groups()):
            if v is not None:
                out[i] = v
        if kind == "exposure":
            g = m.groupdict()
            # The exposure this file is part of: the same for every -segNNN file of it.
            out[_I_EXPOSURE_NAME] = (
                f"jw{g['program']}{g['observation']}{g['visit']}_{g['visit_group']}{g['parallel_seq']}"
                f"{g['activity']}_{g['exposure']}_{g['detector']}"
            )
        if kind == "association":
            out[_I_CLASS[0]] = "asn"
        elif out[_I_SUFFIX]:
            for i, v in zip(_I_CLASS, _classify(out[_I_SUFFIX], kind)):
                out[i] = v
        return out
    return None


def parse_filename(name: str | os.PathLike[str]) -> dict[str, str]:
    """Fields of a JWST product or association file name (a path is reduced to its base name).

    >>> f = parse_filename("jw01345001001_02201_00001_nrca1_cal.fits")
    >>> f["program"], f["detector"], f["stage"], f["level"], f["mast_level"]
    ('01345', 'nrca1', '2', '2b', '2')
    """
    out = _parse(os.path.basename(os.fspath(name)))
    return dict(_EMPTY) if out is None else dict(zip(FIELDS, out))


def parse_many(names: list[str]) -> list[tuple[str, ...]]:
    """``parse_filename`` of each name as a tuple in :data:`FIELDS` order (for tables)."""
    empty = tuple(_EMPTY.values())
    basename = os.path.basename
    out = []
    for n in names:
        d = _parse(basename(n))
        out.append(empty if d is None else tuple(d))
    return out
