"""Association test data written by code: member products (stdatamodels ImageModel cal files with
chosen meta.observation values), header edits with astropy, association JSON files.

``write_member(folder, rng, program=2736, observation=7, ..., detector="NRCA1")`` writes one cal
product whose file name follows the JWST exposure name pattern; ``drop=("visit_group",)`` leaves
those meta.observation values out of the model (so neither header nor ASDF tree has them),
``group_id="x"`` stores ``meta.group_id`` in the ASDF tree. ``edit_header(path, EXPOSURE=9,
VISITGRP=None)`` changes (None: deletes) primary header cards afterwards, as archive tools do.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import products

try:
    import jwst  # noqa: F401

    HAVE_JWST = True
except ImportError:
    HAVE_JWST = False

# jwst (the `pipeline` extra) is the oracle of the association tests.
needs_jwst = pytest.mark.skipif(
    not HAVE_JWST, reason="jwst not installed (the oracle): pip install '.[pipeline]'"
)


def member_name(program=2736, observation=7, visit=1, visit_group=2, sequence=1, activity=1,
                exposure=1, detector="NRCA1", suffix="cal"):
    return (
        f"jw{program:05d}{observation:03d}{visit:03d}_{visit_group:02d}{sequence}{activity:02d}"
        f"_{exposure:05d}_{detector.lower()}_{suffix}.fits"
    )


def write_member(folder, rng, *, program=2736, observation=7, visit=1, visit_group=2, sequence=1,
                 activity=1, exposure=1, detector="NRCA1", drop=(), group_id=None, name=None,
                 shape=(4, 5), description=None, wcs=False):
    """An imaging cal product (ImageModel) with the given exposure identity (``name`` ending
    in ``.asdf`` writes an ASDF file; ``wcs=True`` stores an imaging gwcs in meta.wcs)."""
    from stdatamodels.jwst import datamodels as dm

    ny, nx = shape
    m = products._new(dm.ImageModel)
    m.data = products.floats(rng, (ny, nx))
    m.err = np.abs(products.floats(rng, (ny, nx)))
    m.dq = products.unsigned(rng, (ny, nx))
    ids = dict(program=program, observation=observation, visit=visit, visit_group=visit_group,
               sequence=sequence, activity=activity, exposure=exposure)
    products.set_meta(m, "nircam", rng, nints=1, ngroups=5, detector=detector, **ids)
    m.meta.bunit_data = m.meta.bunit_err = "MJy/sr"
    for key in drop:
        delattr(m.meta.observation, key)
    if group_id is not None:
        m.meta.group_id = group_id
    if description is not None:
        m.meta.target.description = description
    if wcs:  # a cal file's gwcs, as stage-3 inputs carry
        m.meta.wcs = products.imaging_gwcs(crval=(m.meta.target.ra, m.meta.target.dec))
    return products._save(m, folder, name or member_name(detector=detector, **ids))


def edit_header(path, **cards):
    """Set (or, for None, delete) primary header cards in place."""
    from astropy.io import fits

    with fits.open(path, mode="update") as hdul:
        h = hdul[0].header
        for key, value in cards.items():
            if value is None:
                if key in h:
                    del h[key]
            else:
                h[key] = value
    return path


def write_asn(path, products_, **top):
    """An association file: ``products_`` is [(name or None, [member dict, ...]), ...]."""
    data = dict(top)
    data["products"] = []
    for pname, members in products_:
        p = {} if pname is None else {"name": pname}
        p["members"] = list(members)
        data["products"].append(p)
    Path(path).write_text(json.dumps(data, indent=4))
    return Path(path)


LEVEL3_TOP = {
    "asn_type": "image3",
    "asn_rule": "candidate_Asn_Lv3Image",
    "version_id": "20221212t170524",
    "code_version": "1.8.3",
    "degraded_status": "No known degraded exposures in association.",
    "program": "02736",
    "constraints": "DMSAttrConstraint('{'name': 'program', 'sources': ['program'], 'value': '2736'}')",
    "asn_id": "o007",
    "target": "t001",
    "asn_pool": "jw02736_20221212t170524_pool.csv",
}

LEVEL2_TOP = {
    "asn_type": "spec2",
    "asn_rule": "Asn_Lv2SpecSpecial",
    "version_id": None,
    "code_version": "1.8.3",
    "degraded_status": "No known degraded exposures in association.",
    "program": "02736",
    "constraints": "No constraints",
    "asn_id": "a3001",
    "asn_pool": "jw02736_20221212t170524_pool.csv",
}
