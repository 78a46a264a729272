"""Inputs for offline runs of jwst pipeline steps (tests/test_pipeline.py, benches): NIRCam
imaging cal products with a JWST-like gwcs (detector -> v2v3 -> v2v3vacorr -> world, as
assign_wcs builds it, without reference files), stars for tweakreg, an s_region, and their
level-3 association."""

import json
import os

import numpy as np

import products


def nircam_wcs(model, n):
    """detector -> v2v3 -> v2v3vacorr -> world for an n x n image (0.031"/pixel)."""
    from astropy import coordinates as coord
    from astropy import units as u
    from astropy.modeling import models as am
    from gwcs import coordinate_frames as cf
    from gwcs import wcs as gw
    from jwst.assign_wcs import pointing

    det = cf.Frame2D(name="detector", axes_order=(0, 1), unit=(u.pix, u.pix))
    v2v3 = cf.Frame2D(name="v2v3", axes_order=(0, 1), axes_names=("v2", "v3"), unit=(u.arcsec, u.arcsec))
    v2v3va = cf.Frame2D(name="v2v3vacorr", axes_order=(0, 1), axes_names=("v2", "v3"), unit=(u.arcsec, u.arcsec))
    world = cf.CelestialFrame(reference_frame=coord.ICRS(), name="world")
    wi = model.meta.wcsinfo
    dist = (am.Shift(-n / 2) & am.Shift(-n / 2)) | (am.Scale(0.031) & am.Scale(0.031)) | (am.Shift(wi.v2_ref) & am.Shift(wi.v3_ref))
    dist.bounding_box = ((-0.5, n - 0.5), (-0.5, n - 0.5))
    va = pointing.dva_corr_model(va_scale=1.0, v2_ref=wi.v2_ref, v3_ref=wi.v3_ref)
    return gw.WCS([(det, dist), (v2v3, va), (v2v3va, pointing.v23tosky(model)), (world, None)])


def write_cal_image(folder, rng, k, n=256, stars=None, target_type="FIXED"):
    """Exposure ``k`` (1-based) of a 3-point dither: the same stars shifted by 0.2 pixel per exposure."""
    from jwst.assign_wcs.util import update_s_region_imaging
    from stdatamodels.jwst import datamodels as dm

    m = dm.ImageModel((n, n))
    products.set_meta(m, "nircam", rng, exposure=k, nints=1, ngroups=5)
    m.meta.target.type = target_type
    yy, xx = np.mgrid[0:n, 0:n]
    data = rng.normal(1.0, 0.05, (n, n)).astype(np.float32)
    for sx, sy, f in stars:
        data += (f * np.exp(-((xx - sx - 0.2 * k) ** 2 + (yy - sy) ** 2) / (2 * 1.5**2))).astype(np.float32)
    m.data = data
    m.err = np.full((n, n), 0.05, np.float32)
    m.dq = np.zeros((n, n), np.uint32)
    m.dq[5, 7 + k] = 1  # a DO_NOT_USE pixel
    for name in ("var_poisson", "var_rnoise"):
        setattr(m, name, np.full((n, n), 1e-3, np.float32))
    m.var_flat = np.zeros((n, n), np.float32)
    wi = m.meta.wcsinfo
    wi.v2_ref, wi.v3_ref, wi.roll_ref, wi.v3yangle, wi.vparity = 120.0, -500.0, 10.0, 0.0, -1
    wi.ra_ref, wi.dec_ref, wi.crpix1, wi.crpix2, wi.cdelt1, wi.cdelt2 = 10.0, 20.0, n / 2, n / 2, 8.6e-6, 8.6e-6
    m.meta.velocity_aberration.scale_factor = 1.0
    m.meta.bunit_data = m.meta.bunit_err = "MJy/sr"
    m.meta.photometry.pixelarea_steradians = 2.3e-14
    m.meta.photometry.pixelarea_arcsecsq = 0.00096
    ex = m.meta.exposure
    ex.measurement_time = ex.effective_exposure_time = ex.duration = 100.0
    ex.readpatt = "RAPID"
    sub = m.meta.subarray
    sub.name, sub.xstart, sub.ystart, sub.xsize, sub.ysize = "FULL", 1, 1, n, n
    m.meta.cal_step.assign_wcs = m.meta.cal_step.photom = "COMPLETE"
    m.meta.wcs = nircam_wcs(m, n)
    update_s_region_imaging(m)
    path = os.path.join(folder, products.exposure_filename("nircam", "cal", exposure=k))
    m.save(path)
    return path


def write_image3_inputs(folder, seed=0, n=256, n_exp=3, target_type="FIXED"):
    """``n_exp`` dithered cal images and their level-3 association (file names relative to it)."""
    from jwst.associations.asn_from_list import asn_from_list
    from jwst.associations.lib.rules_level3_base import DMS_Level3_Base

    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    stars = [(x, y, f) for (x, y), f in zip(rng.uniform(15, n - 15, (40, 2)), rng.uniform(20, 200, 40))]
    paths = [write_cal_image(folder, rng, k + 1, n, stars, target_type) for k in range(n_exp)]
    names = [os.path.basename(p) for p in paths]
    asn = asn_from_list(names, rule=DMS_Level3_Base, product_name="jw01234-o001_t001_nircam_clear-f200w")
    _name, text = asn.dump(format="json")
    asn_path = os.path.join(folder, "image3_asn.json")
    with open(asn_path, "w") as f:
        f.write(text)
    return asn_path, paths


def write_x1d_inputs(folder, seed=0, n=2):
    """``n`` x1d products (MultiSpecModel) for Combine1dStep, and their association."""
    from jwst.associations.asn_from_list import asn_from_list
    from jwst.associations.lib.rules_level3_base import DMS_Level3_Base

    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = [products.write_x1d(folder, rng, n_spec=1, nrows=50, exposure=k + 1) for k in range(n)]
    names = [os.path.basename(p) for p in paths]
    asn = asn_from_list(names, rule=DMS_Level3_Base, product_name="jw01234-o001_t001_nirspec_f170lp-g235m")
    _name, text = asn.dump(format="json")
    asn_path = os.path.join(folder, "x1d_asn.json")
    with open(asn_path, "w") as f:
        f.write(text)
    return asn_path, paths


def asn_members(asn_path):
    with open(asn_path) as f:
        return [m["expname"] for p in json.load(f)["products"] for m in p["members"]]
