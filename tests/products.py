"""Small, realistic JWST products written with stdatamodels (the oracle writer), for tests.

Every ``write_*`` function takes the output folder and a ``numpy.random.Generator`` and
returns the path of the file it wrote.  Shapes not given are drawn small from ``rng``, so
different seeds give different shapes.  Keyword options most writers take:

- ``nan``: put NaN, +inf and -inf into float arrays and float table columns;
- ``extremes``: put 0 and the type maximum (65535, 2**32 - 1) into unsigned arrays/columns;
- ``long_strings``: set meta strings longer than 68 characters (CONTINUE cards);
- ``wcs``: store a simple imaging gwcs in ``meta.wcs`` (imaging products only);
- ``mode``: observing mode, a key of ``MODES`` (instrument, detector, exp_type, optics);
- ``program``, ``observation``, ``visit``, ... : the exposure name fields (``set_meta``).

Models are built with ``strict_validation=True`` and validated once before saving, so a
meta value the schema rejects is a bug here, not a silent warning.  ``PRODUCTS`` lists
every product with the class ``stdatamodels.jwst.datamodels.open`` must return for it.  Helpers: ``imaging_gwcs``,
``edit_header`` (change cards after writing, so header and ASDF tree disagree) and
``remove_asdf`` (drop the ASDF extension).
"""

import warnings
from pathlib import Path

import numpy as np

# Observing modes: instrument meta, detector and the detector tag used in file names.
MODES = {
    "nircam": {
        "name": "NIRCAM", "detector": "NRCA1", "exp_type": "NRC_IMAGE", "filter": "F200W",
        "pupil": "CLEAR", "channel": "SHORT", "module": "A",
    },
    "nircam_wfss": {
        "name": "NIRCAM", "detector": "NRCALONG", "exp_type": "NRC_WFSS", "filter": "F444W",
        "pupil": "GRISMR", "channel": "LONG", "module": "A",
    },
    "nircam_coron": {
        "name": "NIRCAM", "detector": "NRCA2", "exp_type": "NRC_CORON", "filter": "F210M",
        "pupil": "MASKRND", "channel": "SHORT", "module": "A", "coronagraph": "MASKA210R",
    },
    "nircam_tso": {
        "name": "NIRCAM", "detector": "NRCA3", "exp_type": "NRC_TSIMAGE", "filter": "F210M",
        "pupil": "CLEAR", "channel": "SHORT", "module": "A",
    },
    "nirspec_mos": {
        "name": "NIRSPEC", "detector": "NRS1", "exp_type": "NRS_MSASPEC", "filter": "F170LP",
        "grating": "G235M",
    },
    "nirspec_fs": {
        "name": "NIRSPEC", "detector": "NRS1", "exp_type": "NRS_FIXEDSLIT", "filter": "F100LP",
        "grating": "G140H", "fixed_slit": "S200A1",
    },
    "nirspec_ifu": {
        "name": "NIRSPEC", "detector": "NRS2", "exp_type": "NRS_IFU", "filter": "F290LP",
        "grating": "G395H",
    },
    "nirspec_bots": {
        "name": "NIRSPEC", "detector": "NRS1", "exp_type": "NRS_BRIGHTOBJ", "filter": "F290LP",
        "grating": "G395M", "fixed_slit": "S1600A1",
    },
    "miri": {"name": "MIRI", "detector": "MIRIMAGE", "exp_type": "MIR_IMAGE", "filter": "F770W"},
    "miri_lrs": {
        "name": "MIRI", "detector": "MIRIMAGE", "exp_type": "MIR_LRS-FIXEDSLIT", "filter": "P750L",
    },
    "miri_mrs": {
        "name": "MIRI", "detector": "MIRIFUSHORT", "exp_type": "MIR_MRS", "channel": "12",
        "band": "SHORT",
    },
    "niriss": {
        "name": "NIRISS", "detector": "NIS", "exp_type": "NIS_IMAGE", "filter": "F150W",
        "pupil": "CLEARP",
    },
    "niriss_ami": {
        "name": "NIRISS", "detector": "NIS", "exp_type": "NIS_AMI", "filter": "F480M",
        "pupil": "NRM",
    },
    "niriss_soss": {
        "name": "NIRISS", "detector": "NIS", "exp_type": "NIS_SOSS", "filter": "CLEAR",
        "pupil": "GR700XD",
    },
    "niriss_wfss": {
        "name": "NIRISS", "detector": "NIS", "exp_type": "NIS_WFSS", "filter": "GR150R",
        "pupil": "F150W",
    },
}

READPATT = {"NIRCAM": "RAPID", "NIRISS": "NISRAPID", "MIRI": "FAST", "NIRSPEC": "NRSRAPID"}

LONG_TEXT = (
    "A deliberately long string value that does not fit in one 80-character FITS card, "
    "so astropy writes it with CONTINUE cards & keeps 'quotes'"
)


# --------------------------------------------------------------------------- arrays


def floats(rng, shape, nan=False, dtype=np.float32):
    """Random floats; with nan=True, NaN, +inf and -inf at random places."""
    a = rng.normal(10.0, 3.0, size=shape).astype(dtype)
    if nan and a.size >= 3:
        flat = a.reshape(-1)
        flat[rng.choice(a.size, 3, replace=False)] = [np.nan, np.inf, -np.inf]
    return a


def unsigned(rng, shape, dtype=np.uint32, extremes=False):
    """Random flag-like unsigned values; with extremes=True, 0 and the type maximum too."""
    a = rng.choice(np.array([0, 1, 2, 4, 6, 1024, 2**13], dtype=np.int64), size=shape)
    a = a.astype(dtype)
    if extremes and a.size >= 2:
        flat = a.reshape(-1)
        flat[rng.choice(a.size, 2, replace=False)] = [0, np.iinfo(dtype).max]
    return a


def table(rng, dtype, nrows, nan=False, extremes=False, cell=None):
    """A structured array of ``dtype`` filled by column kind.

    ``cell`` maps a column name to a cell shape (for array-valued columns).
    """
    cell = cell or {}
    fields = []
    for name in dtype.names:
        sub = dtype[name]
        fields.append((name, sub.base, cell.get(name, sub.shape)))
    out = np.zeros(nrows, dtype=[(n, b, s) if s else (n, b) for n, b, s in fields])
    for name, base, shape in fields:
        full = (nrows, *shape)
        if base.kind == "f":
            out[name] = floats(rng, full, nan=nan, dtype=base)
        elif base.kind == "u":
            out[name] = unsigned(rng, full, dtype=base, extremes=extremes)
        elif base.kind == "i":
            info = np.iinfo(base)
            out[name] = rng.integers(max(info.min, -1000), min(info.max, 1000), size=full)
        elif base.kind in "SU":
            words = np.array([f"{name[:4]}_{i}" for i in range(nrows)])
            out[name] = words.reshape((nrows,) + (1,) * len(shape)) if shape else words
        elif base.kind == "b":
            out[name] = rng.integers(0, 2, size=full).astype(bool)
    return out


def imaging_gwcs(crval=(10.0, 20.0), shift=(-2.5, -2.0), scale=1e-5):
    """A simple detector -> ICRS imaging gwcs built from astropy.modeling."""
    from astropy import coordinates as coord
    from astropy import units as u
    from astropy.modeling import models
    from gwcs import coordinate_frames as cf
    from gwcs import wcs

    transform = (
        (models.Shift(shift[0]) & models.Shift(shift[1]))
        | (models.Scale(scale) & models.Scale(scale))
        | models.Pix2Sky_TAN()
        | models.RotateNative2Celestial(crval[0], crval[1], 180.0)
    )
    det = cf.Frame2D(name="detector", axes_order=(0, 1), unit=(u.pix, u.pix))
    sky = cf.CelestialFrame(reference_frame=coord.ICRS(), name="world", unit=(u.deg, u.deg))
    return wcs.WCS([(det, transform), (sky, None)])


# --------------------------------------------------------------------------- meta & names


def exposure_filename(mode, suffix, program=1234, observation=1, visit=1, visit_group=2,
                      sequence=1, activity=1, exposure=1, segment=None):
    """jw<ppppp><ooo><vvv>_<gg><s><aa>_<eeeee>[-seg<nnn>]_<detector>_<suffix>.fits"""
    det = MODES[mode]["detector"].lower()
    seg = f"-seg{segment:03d}" if segment else ""
    return (
        f"jw{program:05d}{observation:03d}{visit:03d}_{visit_group:02d}{sequence}{activity:02d}"
        f"_{exposure:05d}{seg}_{det}_{suffix}.fits"
    )


def source_filename(mode, suffix, program=1234, observation=1, target="t001", **_exposure):
    """jw<ppppp>-o<ooo>_<target>_<instrument>_<optical elements>_<suffix>.fits"""
    m = MODES[mode]
    elements = [m.get(k) for k in ("filter", "pupil", "grating") if m.get(k)]
    opt = "-".join(e.lower() for e in elements) or "clear"
    return f"jw{program:05d}-o{observation:03d}_{target}_{m['name'].lower()}_{opt}_{suffix}.fits"


def set_meta(model, mode, rng, *, program=1234, observation=1, visit=1, visit_group=2,
             sequence=1, activity=1, exposure=1, nints=None, ngroups=None, long_strings=False,
             exp_type=None, detector=None):
    """Instrument, exposure, observation and target meta that agree with the file name."""
    m = dict(MODES[mode])
    if exp_type:
        m["exp_type"] = exp_type
    if detector:
        m["detector"] = detector
    meta = model.meta
    meta.telescope = "JWST"
    meta.origin = "STSCI"
    meta.instrument.name = m["name"]
    meta.instrument.detector = m["detector"]
    for key in ("filter", "pupil", "grating", "channel", "module", "band", "fixed_slit",
                "coronagraph"):
        if key in m:
            setattr(meta.instrument, key, m[key])
    meta.exposure.type = m["exp_type"]
    if nints is not None:
        meta.exposure.nints = int(nints)
        meta.exposure.integration_start = 1
        meta.exposure.integration_end = int(nints)
    if ngroups is not None:
        meta.exposure.ngroups = int(ngroups)
        meta.exposure.nframes = 1
        meta.exposure.groupgap = 0
    start = 60000.0 + float(rng.uniform(0, 1000))
    meta.exposure.start_time = start
    meta.exposure.mid_time = start + 0.001
    meta.exposure.end_time = start + 0.002
    meta.exposure.exposure_time = float(rng.uniform(10, 1000))
    obs = meta.observation
    obs.program_number = f"{program:05d}"
    obs.observation_number = f"{observation:03d}"
    obs.visit_number = f"{visit:03d}"
    obs.visit_group = f"{visit_group:02d}"
    obs.sequence_id = str(sequence)
    obs.activity_id = f"{activity:02d}"
    obs.exposure_number = str(exposure)
    obs.visit_id = f"{program:05d}{observation:03d}{visit:03d}"
    obs.obs_id = (
        f"V{program:05d}{observation:03d}{visit:03d}P{'0' * 8}"
        f"{visit_group:02d}{sequence}{activity:02d}"
    )
    obs.date = "2023-07-14"
    obs.time = "05:06:07.890"
    meta.program.pi_name = "Doe, Jane"
    meta.program.category = "GO"
    meta.target.catalog_name = "NGC 1234"
    meta.target.proposer_name = "NGC-1234"
    meta.target.ra = float(rng.uniform(0, 360))
    meta.target.dec = float(rng.uniform(-90, 90))
    meta.target.type = "FIXED"
    meta.cal_step.flat_field = "COMPLETE"
    meta.calibration_software_version = "1.18.0"
    if long_strings:
        meta.program.title = LONG_TEXT
        meta.target.description = LONG_TEXT + " (description)"
        meta.target.proposer_name = "P" * 70
    return m


def _new(cls, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return cls(*args, strict_validation=True, validate_on_assignment=False, **kwargs)


def _save(model, folder, name):
    path = Path(folder) / name
    model.validate()  # strict: raises on a value the schema rejects
    model.save(str(path))
    model.close()
    return path


def _dims(rng, given, low, high, n):
    if given is not None:
        return tuple(int(x) for x in given)
    return tuple(int(x) for x in rng.integers(low, high, size=n))


def _add_vars(model, rng, shape, nan, names=("var_poisson", "var_rnoise", "var_flat")):
    for name in names:
        setattr(model, name, np.abs(floats(rng, shape, nan=nan)))


# --------------------------------------------------------------------------- stage 0/1


def write_uncal(folder, rng, *, shape=None, zeroframe=True, refout=None, mode="nircam",
                nan=False, extremes=False, long_strings=False, moving_target=False,
                msa_targ_acq=False, **names):
    """Level1bModel: uint16 SCI (nints, ngroups, ny, nx), GROUP, INT_TIMES, ZEROFRAME, REFOUT;
    optionally the MOVING_TARGET_POSITION and MSA_TARG_ACQ tables (both with text columns)."""
    from stdatamodels.jwst import datamodels as dm

    nints, ngroups, ny, nx = _dims(rng, shape, 2, 5, 4)
    nx = max(nx, 4)
    m = _new(dm.Level1bModel)
    m.data = unsigned16(rng, (nints, ngroups, ny, nx), extremes)
    mm = set_meta(m, mode, rng, nints=nints, ngroups=ngroups, long_strings=long_strings, **names)
    m.meta.exposure.readpatt = READPATT[mm["name"]]
    if zeroframe:
        m.zeroframe = unsigned16(rng, (nints, ny, nx), extremes)
        m.meta.exposure.zero_frame = True
    if refout if refout is not None else mm["name"] == "MIRI":
        m.refout = unsigned16(rng, (nints, ngroups, ny, nx // 4), extremes)
    m.group = table(rng, m.get_dtype("group"), nints * ngroups, nan=nan, extremes=extremes)
    m.int_times = _int_times(rng, m, nints, nan)
    if moving_target:
        mt = table(rng, m.get_dtype("moving_target"), nints, nan=nan)
        mt["time"] = [f"2023-07-14T05:06:{i:02d}.000" for i in range(nints)]
        m.moving_target = mt
    if msa_targ_acq:
        ta = table(rng, m.get_dtype("msa_targ_acq_table"), 3, nan=nan)
        ta["reference_star_name"] = ["2MASS J0123+4567", "Gaia DR3 42", "star 3"]
        ta["catalog_name"] = "GAIA DR3"
        ta["ref_star_detector"] = ["NRS1", "NRS2", "NRS1"]
        m.msa_targ_acq_table = ta
    return _save(m, folder, exposure_filename(mode, "uncal", **names))


def unsigned16(rng, shape, extremes=False):
    a = rng.integers(0, 4000, size=shape).astype(np.uint16)
    if extremes and a.size >= 2:
        flat = a.reshape(-1)
        flat[rng.choice(a.size, 2, replace=False)] = [0, 65535]
    return a


def _int_times(rng, model, nints, nan=False):
    t = table(rng, model.get_dtype("int_times"), nints, nan=nan)
    t["integration_number"] = np.arange(1, nints + 1)
    return t


def write_ramp(folder, rng, *, shape=None, zeroframe=True, mode="nircam", nan=False,
               extremes=False, long_strings=False, **names):
    """RampModel: float32 SCI, PIXELDQ, GROUPDQ, ZEROFRAME, GROUP, INT_TIMES.

    (The 6.0.0 ramp schema has no ERR array; the docs' ERR extension is older.)
    """
    from stdatamodels.jwst import datamodels as dm

    nints, ngroups, ny, nx = _dims(rng, shape, 2, 5, 4)
    m = _new(dm.RampModel)
    m.data = floats(rng, (nints, ngroups, ny, nx), nan=nan)
    m.pixeldq = unsigned(rng, (ny, nx), extremes=extremes)
    m.groupdq = unsigned(rng, (nints, ngroups, ny, nx), dtype=np.uint8, extremes=extremes)
    if zeroframe:
        m.zeroframe = floats(rng, (nints, ny, nx), nan=nan)
    set_meta(m, mode, rng, nints=nints, ngroups=ngroups, long_strings=long_strings, **names)
    m.group = table(rng, m.get_dtype("group"), nints * ngroups, nan=nan, extremes=extremes)
    m.int_times = _int_times(rng, m, nints, nan)
    return _save(m, folder, exposure_filename(mode, "ramp", **names))


# --------------------------------------------------------------------------- stage 2 images


def write_image(folder, rng, *, suffix="rate", shape=None, mode="nircam", nan=False,
                extremes=False, long_strings=False, wcs=False, area=False, var_flat=False,
                wavelength=False, pathloss=False, extra_array=False, **names):
    """ImageModel (rate, bsub, cal, crf): SCI, ERR, DQ, VAR_* and optional AREA, WAVELENGTH,
    PATHLOSS_PS/PATHLOSS_UN.  ``extra_array`` also stores a non-schema array
    (``model.extra_array``), which goes to a binary block inside the ASDF HDU, not an HDU."""
    from stdatamodels.jwst import datamodels as dm

    ny, nx = _dims(rng, shape, 3, 9, 2)
    m = _new(dm.ImageModel)
    m.data = floats(rng, (ny, nx), nan=nan)
    m.err = np.abs(floats(rng, (ny, nx), nan=nan))
    m.dq = unsigned(rng, (ny, nx), extremes=extremes)
    _add_vars(m, rng, (ny, nx), nan, ("var_poisson", "var_rnoise") + (("var_flat",) if var_flat else ()))
    if area:
        m.area = floats(rng, (ny, nx), nan=nan)
    if wavelength:
        m.wavelength = np.abs(floats(rng, (ny, nx), nan=nan))
    if pathloss:
        m.pathloss_point = floats(rng, (ny, nx), nan=nan)
        m.pathloss_uniform = floats(rng, (ny, nx), nan=nan)
    if extra_array:
        m.extra_array = floats(rng, (2, 3), nan=nan, dtype=np.float64)
    set_meta(m, mode, rng, nints=1, ngroups=5, long_strings=long_strings, **names)
    m.meta.bunit_data = "DN/s" if suffix in ("rate", "bsub") else "MJy/sr"
    m.meta.bunit_err = m.meta.bunit_data
    if wcs:
        m.meta.wcs = imaging_gwcs(crval=(m.meta.target.ra, m.meta.target.dec))
    return _save(m, folder, exposure_filename(mode, suffix, **names))


def write_rate(folder, rng, **kw):
    return write_image(folder, rng, suffix="rate", **kw)


def write_bsub(folder, rng, **kw):
    return write_image(folder, rng, suffix="bsub", **kw)


def write_cal(folder, rng, **kw):
    """Imaging cal: ImageModel with VAR_FLAT and AREA."""
    kw.setdefault("wcs", True)
    return write_image(folder, rng, suffix="cal", area=True, var_flat=True, **kw)


def write_crf(folder, rng, **kw):
    kw.setdefault("wcs", True)
    return write_image(folder, rng, suffix="crf", area=True, var_flat=True, **kw)


def write_cal_spec(folder, rng, **kw):
    """Spectroscopic cal stored as an ImageModel (MIRI LRS fixed slit): WAVELENGTH, PATHLOSS."""
    kw.setdefault("mode", "miri_lrs")
    return write_image(folder, rng, suffix="cal", var_flat=True, wavelength=True, pathloss=True, **kw)


def write_cube(folder, rng, *, suffix="rateints", shape=None, mode="nircam_tso", nan=False,
               extremes=False, long_strings=False, int_times=True, var_flat=False,
               area=False, wavelength=False, **names):
    """CubeModel (rateints, bsubints, calints, crfints, psfstack, psfsub)."""
    from stdatamodels.jwst import datamodels as dm

    nints, ny, nx = _dims(rng, shape, 2, 7, 3)
    m = _new(dm.CubeModel)
    m.data = floats(rng, (nints, ny, nx), nan=nan)
    m.err = np.abs(floats(rng, (nints, ny, nx), nan=nan))
    m.dq = unsigned(rng, (nints, ny, nx), extremes=extremes)
    _add_vars(m, rng, (nints, ny, nx), nan, ("var_poisson", "var_rnoise"))
    if var_flat:
        m.var_flat = np.abs(floats(rng, (nints, ny, nx), nan=nan))
    if area:
        m.area = floats(rng, (ny, nx), nan=nan)
    if wavelength:
        m.wavelength = np.abs(floats(rng, (ny, nx), nan=nan))
    if int_times:
        m.int_times = _int_times(rng, m, nints, nan)
    set_meta(m, mode, rng, nints=nints, ngroups=4, long_strings=long_strings, **names)
    m.meta.bunit_data = "DN/s" if suffix in ("rateints", "bsubints") else "MJy/sr"
    return _save(m, folder, exposure_filename(mode, suffix, **names))


def write_segments(folder, rng, *, counts=(3, 2, 4), kind="calints", ny=5, nx=6, mode="nircam_tso",
                   nan=False, **names):
    """The -segNNN files of one exposure: segment k holds integrations integration_start..
    integration_end of nints = sum(counts), with its own int_times rows (as the pipeline
    splits a long exposure). kind: "calints" (CubeModel) or "uncal" (Level1bModel)."""
    from stdatamodels.jwst import datamodels as dm

    nints = sum(counts)
    paths = []
    start = 1
    for k, n in enumerate(counts, start=1):
        if kind == "uncal":
            m = _new(dm.Level1bModel)
            m.data = unsigned16(rng, (n, 3, ny, nx), extremes=True)
            mm = set_meta(m, mode, rng, nints=nints, ngroups=3, **names)
            m.meta.exposure.readpatt = READPATT[mm["name"]]
            m.group = table(rng, m.get_dtype("group"), n * 3, nan=nan)
        else:
            m = _new(dm.CubeModel)
            m.data = floats(rng, (n, ny, nx), nan=nan)
            m.err = np.abs(floats(rng, (n, ny, nx), nan=nan))
            m.dq = unsigned(rng, (n, ny, nx), extremes=True)
            m.area = floats(rng, (ny, nx))  # per exposure, not per integration
            set_meta(m, mode, rng, nints=nints, ngroups=4, **names)
            m.meta.bunit_data = "MJy/sr"
        m.meta.exposure.integration_start = start
        m.meta.exposure.integration_end = start + n - 1
        m.meta.exposure.segment_number = k
        t = table(rng, m.get_dtype("int_times"), n, nan=nan)
        t["integration_number"] = np.arange(start, start + n)
        m.int_times = t
        paths.append(_save(m, folder, exposure_filename(mode, kind, segment=k, **names)))
        start += n
    return paths


def write_rateints(folder, rng, **kw):
    return write_cube(folder, rng, suffix="rateints", **kw)


def write_bsubints(folder, rng, **kw):
    return write_cube(folder, rng, suffix="bsubints", **kw)


def write_calints(folder, rng, **kw):
    return write_cube(folder, rng, suffix="calints", var_flat=True, area=True, **kw)


def write_crfints(folder, rng, **kw):
    return write_cube(folder, rng, suffix="crfints", var_flat=True, **kw)


def write_calints_spec(folder, rng, **kw):
    """NIRSpec BOTS-like calints with a WAVELENGTH image."""
    kw.setdefault("mode", "niriss_soss")
    return write_cube(folder, rng, suffix="calints", var_flat=True, wavelength=True, **kw)


def write_ifu_cal(folder, rng, *, shape=None, mode="nirspec_ifu", nan=False, extremes=False,
                  long_strings=False, **names):
    """IFUImageModel cal: SCI, ERR, DQ, VAR_*, WAVELENGTH, PATHLOSS_*, REGIONS."""
    from stdatamodels.jwst import datamodels as dm

    ny, nx = _dims(rng, shape, 4, 10, 2)
    m = _new(dm.IFUImageModel)
    m.data = floats(rng, (ny, nx), nan=nan)
    m.err = np.abs(floats(rng, (ny, nx), nan=nan))
    m.dq = unsigned(rng, (ny, nx), extremes=extremes)
    _add_vars(m, rng, (ny, nx), nan)
    m.wavelength = np.abs(floats(rng, (ny, nx), nan=nan))
    m.pathloss_point = floats(rng, (ny, nx), nan=nan)
    m.pathloss_uniform = floats(rng, (ny, nx), nan=nan)
    m.regions = rng.integers(0, 30, size=(ny, nx)).astype(np.int32)
    set_meta(m, mode, rng, nints=1, ngroups=5, long_strings=long_strings, **names)
    m.meta.bunit_data = "MJy/sr"
    return _save(m, folder, exposure_filename(mode, "cal", **names))


# --------------------------------------------------------------------------- slits


def _fill_slit(s, rng, i, kind, ny, nx, nan, extremes, resampled):
    s.data = floats(rng, (ny, nx), nan=nan)
    s.err = np.abs(floats(rng, (ny, nx), nan=nan))
    s.dq = unsigned(rng, (ny, nx), extremes=extremes)
    _add_vars(s, rng, (ny, nx), nan)
    if resampled:
        s.wht = np.abs(floats(rng, (ny, nx), nan=nan))
        s.con = rng.integers(0, 2**31 - 1, size=(1, ny, nx)).astype(np.int32)
    else:
        s.wavelength = np.abs(floats(rng, (ny, nx), nan=nan))
        s.pathloss_point = floats(rng, (ny, nx), nan=nan)
        s.pathloss_uniform = floats(rng, (ny, nx), nan=nan)
        if kind == "mos":
            s.barshadow = floats(rng, (ny, nx), nan=nan)
    s.name = {"fs": f"S200A{i % 2 + 1}", "mos": f"{i + 1}", "wfss": f"{1000 + i}"}[kind]
    s.source_id = 1000 + i
    s.source_name = f"{1234}_{1000 + i}"
    s.source_type = "POINT" if i % 2 == 0 else "EXTENDED"
    s.xstart = int(rng.integers(1, 2000))
    s.xsize = nx
    s.ystart = int(rng.integers(1, 2000))
    s.ysize = ny
    s.source_ra = float(rng.uniform(0, 360))
    s.source_dec = float(rng.uniform(-90, 90))
    if kind == "mos":
        s.slitlet_id = 10 + i
        s.shutter_id = 100 + i
        s.quadrant = 1 + i % 4
        s.shutter_state = "11x"
        s.source_xpos = float(rng.uniform(-0.5, 0.5))
        s.source_ypos = float(rng.uniform(-0.5, 0.5))
    s.meta.wcsinfo.spectral_order = 1 if kind != "wfss" else (1 if i % 2 else -1)
    s.meta.wcsinfo.dispersion_direction = 1


def write_multislit(folder, rng, *, n_slits=3, kind="mos", suffix="cal", shape=None,
                    nan=False, extremes=False, long_strings=False, slit_wcs=False,
                    slit_int_times=False, **names):
    """MultiSlitModel with ``n_slits`` slits (SCI/DQ/ERR/... with EXTVER 1..n).

    kind: "mos" (NIRSpec MSA, with BARSHADOW), "fs" (NIRSpec fixed slit) or "wfss"
    (NIRCam grism); suffix "s2d" writes resampled slits (WHT, CON, no WAVELENGTH).
    ``slit_wcs``: a gwcs on every other slit; ``slit_int_times``: an int_times table (an ASDF
    block) on every slit.
    """
    from stdatamodels.jwst import datamodels as dm

    mode = {"mos": "nirspec_mos", "fs": "nirspec_fs", "wfss": "nircam_wfss"}[kind]
    m = _new(dm.MultiSlitModel)
    set_meta(m, mode, rng, nints=1, ngroups=5, long_strings=long_strings, **names)
    for i in range(n_slits):
        ny, nx = _dims(rng, shape, 2, 6, 2)
        s = _new(dm.SlitModel)
        _fill_slit(s, rng, i, kind, ny, nx, nan, extremes, suffix == "s2d")
        if slit_wcs and i % 2 == 0:
            s.meta.wcs = imaging_gwcs(crval=(10.0 + i, 20.0), shift=(-1.5 - i, -2.0))
        if slit_int_times:
            s.int_times = _int_times(rng, s, 2 + i, nan=nan)
        m.slits.append(s)
    return _save(m, folder, exposure_filename(mode, suffix, **names))


def write_slit(folder, rng, *, suffix="s2d", shape=None, mode="nirspec_fs", int_times=True,
               nan=False, extremes=False, long_strings=False, **names):
    """SlitModel (single fixed-slit s2d, or BOTS-like), with an INT_TIMES table."""
    from stdatamodels.jwst import datamodels as dm

    ny, nx = _dims(rng, shape, 2, 7, 2)
    m = _new(dm.SlitModel)
    _fill_slit(m, rng, 0, "fs", ny, nx, nan, extremes, suffix == "s2d")
    set_meta(m, mode, rng, nints=3, ngroups=5, long_strings=long_strings, **names)
    if int_times:
        m.int_times = _int_times(rng, m, 3, nan)
    return _save(m, folder, exposure_filename(mode, suffix, **names))


def write_multiexposure(folder, rng, *, n_exposures=2, shape=None, nan=False, extremes=False,
                        long_strings=False, **names):
    """MultiExposureModel (source-based cal): per-exposure slits whose meta lives only in ASDF."""
    from stdatamodels.jwst import datamodels as dm

    m = _new(dm.MultiExposureModel)
    set_meta(m, "nirspec_mos", rng, nints=1, ngroups=5, long_strings=long_strings, **names)
    for i in range(n_exposures):
        ny, nx = _dims(rng, shape, 2, 6, 2)
        s = _new(dm.SlitModel)
        _fill_slit(s, rng, i, "mos", ny, nx, nan, extremes, False)
        e = m.exposures.item()
        for key, value in s.instance.items():
            if key != "meta":
                setattr(e, key, value)
        e.meta.filename = exposure_filename("nirspec_mos", "cal", exposure=i + 1)
        e.meta.instrument.name = "NIRSPEC"
        e.meta.instrument.detector = "NRS1"
        e.meta.exposure.type = "NRS_MSASPEC"
        e.meta.exposure.start_time = 60000.0 + i
        m.exposures.append(e.instance)
    name = source_filename("nirspec_mos", "cal", target="s01000", **names)
    return _save(m, folder, name)


# --------------------------------------------------------------------------- stage 3


def write_i2d(folder, rng, *, shape=None, mode="nircam", nan=False, extremes=False,
              long_strings=False, wcs=True, hdrtab=True, nplanes=1, **names):
    """Resampled image (ImageModel): SCI, ERR, CON (3-D int32), WHT, VAR_*, optional HDRTAB.

    HDRTAB has no schema in stdatamodels 6.0.0; it is added the way the pipeline's
    blender does it, with ``add_schema_entry``.
    """
    from stdatamodels.jwst import datamodels as dm

    ny, nx = _dims(rng, shape, 4, 10, 2)
    m = _new(dm.ImageModel)
    m.data = floats(rng, (ny, nx), nan=nan)
    m.err = np.abs(floats(rng, (ny, nx), nan=nan))
    m.con = rng.integers(0, 2**31 - 1, size=(nplanes, ny, nx)).astype(np.int32)
    if extremes:
        m.con.reshape(-1)[:2] = [0, 2**31 - 1]
    m.wht = np.abs(floats(rng, (ny, nx), nan=nan))
    _add_vars(m, rng, (ny, nx), nan)
    set_meta(m, mode, rng, nints=1, ngroups=5, long_strings=long_strings, **names)
    m.meta.bunit_data = "MJy/sr"
    m.meta.resample.pixfrac = 1.0
    m.meta.resample.weight_type = "ivm"
    if wcs:
        m.meta.wcs = imaging_gwcs(crval=(m.meta.target.ra, m.meta.target.dec))
    if hdrtab:
        rows = np.zeros(
            3,
            dtype=[("FILENAME", "S40"), ("EXPSTART", "f8"), ("NINTS", "i4"), ("DETECTOR", "S8")],
        )
        rows["FILENAME"] = [exposure_filename(mode, "cal", exposure=i + 1) for i in range(3)]
        rows["EXPSTART"] = floats(rng, 3, nan=nan, dtype=np.float64)
        rows["NINTS"] = [1, 2, 3]
        rows["DETECTOR"] = MODES[mode]["detector"]
        m.add_schema_entry("hdrtab", {"fits_hdu": "HDRTAB", "datatype": _asdf_datatype(rows.dtype)})
        m.hdrtab = rows
    return _save(m, folder, source_filename(mode, "i2d", **names))


def _asdf_datatype(dtype):
    from asdf.tags.core import ndarray

    return ndarray.numpy_dtype_to_asdf_datatype(dtype)[0]


def write_s2d(folder, rng, *, n_slits=2, **kw):
    """MOS s2d: MultiSlitModel of resampled slits."""
    return write_multislit(folder, rng, n_slits=n_slits, kind="mos", suffix="s2d", **kw)


def write_s3d(folder, rng, *, shape=None, mode="nirspec_ifu", nan=False, extremes=False,
              long_strings=False, **names):
    """IFUCubeModel: SCI, ERR, DQ, WMAP (nwave, ny, nx) and the WCS-TABLE wavelength table."""
    from stdatamodels.jwst import datamodels as dm

    nwave, ny, nx = _dims(rng, shape, 3, 8, 3)
    m = _new(dm.IFUCubeModel)
    m.data = floats(rng, (nwave, ny, nx), nan=nan)
    m.err = np.abs(floats(rng, (nwave, ny, nx), nan=nan))
    m.dq = unsigned(rng, (nwave, ny, nx), extremes=extremes)
    m.weightmap = np.abs(floats(rng, (nwave, ny, nx), nan=nan))
    wt = np.zeros(1, dtype=[("wavelength", "<f4", (nwave, 1))])
    wt["wavelength"][0, :, 0] = np.sort(rng.uniform(1.0, 5.0, nwave))
    m.wavetable = wt
    set_meta(m, mode, rng, nints=1, ngroups=5, long_strings=long_strings, **names)
    m.meta.bunit_data = "MJy/sr"
    m.meta.ifu.flux_extension = "SCI"
    m.meta.ifu.error_extension = "ERR"
    m.meta.ifu.error_type = "ERR"
    m.meta.ifu.dq_extension = "DQ"
    m.meta.ifu.roi_spatial = 0.1
    m.meta.ifu.weighting = "drizzle"
    return _save(m, folder, source_filename(mode, "s3d", **names))


SPEC_UNITS = {
    "WAVELENGTH": "um", "FLUX": "Jy", "FLUX_ERROR": "Jy", "ERROR": "Jy",
    "FLUX_VAR_POISSON": "Jy^2", "SURF_BRIGHT": "MJy/sr", "SB_ERROR": "MJy/sr",
    "BACKGROUND": "MJy/sr", "SOURCE_RA": "deg", "SOURCE_DEC": "deg",
}


def _set_units(fits_rec):
    """Give the spectral columns units (written as TUNITn, read back as column units)."""
    for name in fits_rec.dtype.names:
        if name in SPEC_UNITS:
            fits_rec.columns[name].unit = SPEC_UNITS[name]


def _spec_dtype(model_cls):
    probe = model_cls()
    probe.spec.append(probe.spec.item())
    return probe.spec[0].get_dtype("spec_table")


def _spec_table(rng, model_cls, nrows, nan, extremes, cell=None):
    dtype = _spec_dtype(model_cls)
    t = table(rng, dtype, nrows, nan=nan, extremes=extremes, cell=cell)
    if "WAVELENGTH" in dtype.names and not cell:
        t["WAVELENGTH"] = np.sort(np.abs(t["WAVELENGTH"]))
    return t


def write_x1d(folder, rng, *, n_spec=3, nrows=None, mode="nirspec_mos", model="MultiSpecModel",
              suffix="x1d", nan=False, extremes=False, long_strings=False, **names):
    """MultiSpecModel (or MRSMultiSpecModel): ``n_spec`` EXTRACT1D tables, EXTVER 1..n."""
    from stdatamodels.jwst import datamodels as dm

    cls = getattr(dm, model)
    m = _new(cls)
    set_meta(m, mode, rng, nints=1, ngroups=5, long_strings=long_strings, **names)
    for i in range(n_spec):
        n = int(nrows if nrows is not None else rng.integers(3, 12))
        item = m.spec.item()
        item.spec_table = _spec_table(rng, cls, n, nan, extremes)
        item.name = f"{i + 1}"
        item.source_id = 1000 + i
        item.source_name = f"1234_{1000 + i}"
        item.source_type = "POINT"
        item.spectral_order = 1
        item.dispersion_direction = 1
        item.slitlet_id = 10 + i
        m.spec.append(item)
        _set_units(m.spec[i].spec_table)
    return _save(m, folder, exposure_filename(mode, suffix, **names))


def write_x1dints(folder, rng, *, n_spec=2, nints=None, nwave=None, mode="niriss_soss",
                  nan=False, extremes=False, long_strings=False, **names):
    """TSOMultiSpecModel: one EXTRACT1D per order, one row per integration, array cells."""
    from stdatamodels.jwst import datamodels as dm

    nints = int(nints if nints is not None else rng.integers(2, 5))
    nwave = int(nwave if nwave is not None else rng.integers(3, 9))
    m = _new(dm.TSOMultiSpecModel)
    set_meta(m, mode, rng, nints=nints, ngroups=5, long_strings=long_strings, **names)
    m.int_times = _int_times(rng, m, nints, nan)
    scalar = {"INT_NUM", "SEGMENT", "MJD-BEG", "MJD-AVG", "MJD-END", "TDB-BEG", "TDB-MID", "TDB-END"}
    dtype = _spec_dtype(dm.TSOMultiSpecModel)
    cell = {n: (nwave,) for n in dtype.names if n not in scalar}
    for i in range(n_spec):
        item = m.spec.item()
        t = table(rng, dtype, nints, nan=nan, extremes=extremes, cell=cell)
        t["INT_NUM"] = np.arange(1, nints + 1)
        t["SEGMENT"] = 1
        item.spec_table = t
        item.spectral_order = i + 1
        item.source_id = 1
        item.name = "SUBSTRIP256"
        m.spec.append(item)
        _set_units(m.spec[i].spec_table)
    return _save(m, folder, exposure_filename(mode, "x1dints", **names))


def write_x1d_wfss(folder, rng, *, n_spec=2, nrows=None, nan=False, extremes=False,
                   long_strings=False, **names):
    """WFSSMultiSpecModel (stage-3 WFSS x1d): one table per exposure, one row per source."""
    from stdatamodels.jwst import datamodels as dm

    m = _new(dm.WFSSMultiSpecModel)
    set_meta(m, "nircam_wfss", rng, nints=1, ngroups=5, long_strings=long_strings, **names)
    dtype = _spec_dtype(dm.WFSSMultiSpecModel)
    for i in range(n_spec):
        n = int(nrows if nrows is not None else rng.integers(2, 6))
        nwave = int(rng.integers(3, 8))
        scalar = {n_ for n_ in dtype.names if n_.startswith(("SOURCE", "EXTRACT2D"))}
        cell = {n_: (nwave,) for n_ in dtype.names if n_ not in scalar}
        item = m.spec.item()
        item.spec_table = table(rng, dtype, n, nan=nan, extremes=extremes, cell=cell)
        item.filename = exposure_filename("nircam_wfss", "cal", exposure=i + 1)
        item.spectral_order = 1
        item.dispersion_direction = 1
        m.spec.append(item)
        _set_units(m.spec[i].spec_table)
    return _save(m, folder, source_filename("nircam_wfss", "x1d", **names))


def write_c1d(folder, rng, *, nrows=None, mode="nirspec_fs", nan=False, extremes=False,
              long_strings=False, wfss=False, **names):
    """CombinedSpecModel (or WFSSCombinedSpecModel): one COMBINE1D table."""
    from stdatamodels.jwst import datamodels as dm

    cls = dm.WFSSCombinedSpecModel if wfss else dm.CombinedSpecModel
    m = _new(cls)
    set_meta(m, "nircam_wfss" if wfss else mode, rng, long_strings=long_strings, **names)
    n = int(nrows if nrows is not None else rng.integers(3, 12))
    dtype = m.get_dtype("spec_table")
    t = table(rng, dtype, n, nan=nan, extremes=extremes)
    t["WAVELENGTH"] = np.sort(np.abs(t["WAVELENGTH"]))
    m.spec_table = t
    _set_units(m.spec_table)
    m.spectral_order = 1
    m.dispersion_direction = 1
    if not wfss:
        m.source_id = 1
        m.source_type = "POINT"
    return _save(m, folder, source_filename("nircam_wfss" if wfss else mode, "c1d", **names))


def write_c1d_multi(folder, rng, *, n_spec=2, nrows=None, wfss=False, nan=False,
                    extremes=False, long_strings=False, **names):
    """MultiCombinedSpecModel / WFSSMultiCombinedSpecModel: several COMBINE1D tables."""
    from stdatamodels.jwst import datamodels as dm

    cls = dm.WFSSMultiCombinedSpecModel if wfss else dm.MultiCombinedSpecModel
    m = _new(cls)
    mode = "nircam_wfss" if wfss else "nirspec_mos"
    set_meta(m, mode, rng, long_strings=long_strings, **names)
    for i in range(n_spec):
        n = int(nrows if nrows is not None else rng.integers(3, 10))
        item = m.spec.item()
        item.spec_table = _spec_table(rng, cls, n, nan, extremes)
        item.spectral_order = 1
        if not wfss:
            item.source_id = 1000 + i
            item.source_type = "POINT"
        m.spec.append(item)
        _set_units(m.spec[i].spec_table)
    return _save(m, folder, source_filename(mode, "c1d", **names))


def write_segm(folder, rng, *, shape=None, mode="nircam", extremes=False, long_strings=False,
               **names):
    """SegmentationMapModel: uint32 labels, 0 = background."""
    from stdatamodels.jwst import datamodels as dm

    ny, nx = _dims(rng, shape, 4, 12, 2)
    m = _new(dm.SegmentationMapModel)
    data = rng.integers(0, 6, size=(ny, nx)).astype(np.uint32)
    if extremes:
        data.reshape(-1)[0] = 2**32 - 1
    m.data = data
    set_meta(m, mode, rng, long_strings=long_strings, **names)
    return _save(m, folder, source_filename(mode, "segm", **names))


def write_psfstack(folder, rng, **kw):
    """CubeModel stack of PSF images (no INT_TIMES)."""
    kw.setdefault("mode", "nircam_coron")
    return write_cube(folder, rng, suffix="psfstack", int_times=False, **kw)


def write_psfsub(folder, rng, **kw):
    kw.setdefault("mode", "nircam_coron")
    return write_cube(folder, rng, suffix="psfsub", **kw)


def write_psfalign(folder, rng, *, shape=None, mode="nircam_coron", nan=False, extremes=False,
                   long_strings=False, **names):
    """QuadModel (nints, npsfs, ny, nx)."""
    from stdatamodels.jwst import datamodels as dm

    dims = _dims(rng, shape, 2, 6, 4)
    m = _new(dm.QuadModel)
    m.data = floats(rng, dims, nan=nan)
    m.err = np.abs(floats(rng, dims, nan=nan))
    m.dq = unsigned(rng, dims, extremes=extremes)
    set_meta(m, mode, rng, nints=dims[0], ngroups=4, long_strings=long_strings, **names)
    return _save(m, folder, exposure_filename(mode, "psfalign", **names))


def write_ami(folder, rng, *, suffix="ami", shape=None, nan=False, long_strings=False, **names):
    """AmiLgModel (ami, amiavg, aminorm): FIT, RESID and six one-column tables."""
    from stdatamodels.jwst import datamodels as dm

    ny, nx = _dims(rng, shape, 5, 12, 2)
    m = _new(dm.AmiLgModel)
    m.fit_image = floats(rng, (ny, nx), nan=nan)
    m.resid_image = floats(rng, (ny, nx), nan=nan)
    for attr, n in (("closure_amp_table", 35), ("closure_phase_table", 35),
                    ("fringe_amp_table", 21), ("fringe_phase_table", 21),
                    ("pupil_phase_table", 7), ("solns_table", 44)):
        setattr(m, attr, table(rng, m.get_dtype(attr), n, nan=nan))
    set_meta(m, "niriss_ami", rng, nints=1, ngroups=5, long_strings=long_strings, **names)
    if suffix == "ami":
        return _save(m, folder, exposure_filename("niriss_ami", suffix, **names))
    return _save(m, folder, source_filename("niriss_ami", suffix, **names))


def write_amiavg(folder, rng, **kw):
    return write_ami(folder, rng, suffix="amiavg", **kw)


def write_aminorm(folder, rng, **kw):
    return write_ami(folder, rng, suffix="aminorm", **kw)


def write_amilg(folder, rng, *, shape=None, nan=False, long_strings=False, **names):
    """AmiLgFitModel (current *_amilg products): CTRD/N_CTRD/FIT/... cubes and SOLNS."""
    from stdatamodels.jwst import datamodels as dm

    nints, ny, nx = _dims(rng, shape, 2, 8, 3)
    m = _new(dm.AmiLgFitModel)
    for attr in ("centered_image", "norm_centered_image", "fit_image", "norm_fit_image",
                 "resid_image", "norm_resid_image"):
        setattr(m, attr, floats(rng, (nints, ny, nx), nan=nan))
    m.solns_table = table(rng, m.get_dtype("solns_table"), 44, nan=nan)
    set_meta(m, "niriss_ami", rng, nints=nints, ngroups=5, long_strings=long_strings, **names)
    return _save(m, folder, exposure_filename("niriss_ami", "amilg", **names))


def write_amioi(folder, rng, *, suffix="ami-oi", nan=False, long_strings=False, **names):
    """AmiOIModel (OIFITS tables OI_ARRAY, OI_TARGET, OI_T3, OI_VIS, OI_VIS2, OI_WAVELENGTH)."""
    from stdatamodels.jwst import datamodels as dm

    m = _new(dm.AmiOIModel)
    set_meta(m, "niriss_ami", rng, nints=1, ngroups=5, long_strings=long_strings, **names)
    m.meta.oifits.array_name = "jwst_ami"
    m.meta.oifits.instrument_mode = "NRM"
    m.meta.telescope = "JWST"
    m.array = table(rng, m.get_dtype("array"), 7, nan=nan)
    m.target = table(rng, m.get_dtype("target"), 1, nan=nan)
    m.t3 = table(rng, m.get_dtype("t3"), 35, nan=nan)
    m.vis = table(rng, m.get_dtype("vis"), 21, nan=nan)
    m.vis2 = table(rng, m.get_dtype("vis2"), 21, nan=nan)
    m.wavelength = table(rng, m.get_dtype("wavelength"), 1, nan=nan)
    if suffix == "ami-oi":
        return _save(m, folder, exposure_filename("niriss_ami", suffix, **names))
    return _save(m, folder, source_filename("niriss_ami", suffix, **names))


# --------------------------------------------------------------------------- tables kept as read


def write_msa(folder, rng, *, nrows=None, nan=False, extremes=False, long_strings=False, **names):
    """JwstDataModel with NIRSpec MSA metadata tables SHUTTER_INFO and SOURCE_INFO, which no schema
    knows, so they are read back under ``extra_fits`` as astropy reads them. (Real MSA files come
    from the proposal tools, without DATAMODL or ASDF, and are named ``jw<visit>_<nn>_msa.fits``;
    this one is written by stdatamodels under an exposure name.) SOURCE_INFO also has a logical,
    an unsigned (TZERO) and two TDIM columns."""
    from astropy.io import fits
    from stdatamodels.jwst import datamodels as dm

    n = int(nrows if nrows is not None else rng.integers(3, 9))
    m = _new(dm.JwstDataModel)
    set_meta(m, "nirspec_mos", rng, long_strings=long_strings, **names)
    shutter = table(rng, np.dtype([
        ("slitlet_id", "i4"), ("msa_metadata_id", "i4"), ("shutter_quadrant", "i4"),
        ("shutter_row", "i4"), ("shutter_column", "i4"), ("source_id", "i4"), ("background", "S1"),
        ("shutter_state", "S6"), ("estimated_source_in_shutter_x", "f4"),
        ("estimated_source_in_shutter_y", "f4"), ("dither_point_index", "i4"),
        ("primary_source", "S1"), ("fixed_slit", "S5"),
    ]), n, nan=nan)
    shutter["background"] = rng.choice(["Y", "N"], n)
    shutter["shutter_state"] = rng.choice(["OPEN", "CLOSED"], n)
    shutter["primary_source"] = rng.choice(["Y", "N"], n)
    shutter["fixed_slit"] = "NONE"
    source = table(rng, np.dtype([
        ("program", "i4"), ("source_id", "i4"), ("source_name", "S20"), ("alias", "S31"),
        ("ra", "f8"), ("dec", "f8"), ("preimage_id", "S20"), ("stellarity", "f8"),
        ("is_reference", "?"), ("flags", "u4"), ("band", "S3", (2,)), ("offsets", "i2", (2, 3)),
    ]), n, nan=nan, extremes=extremes)
    source["band"] = [["F1", "F20"]] * n
    cols = fits.ColDefs(source)
    for name in ("ra", "dec"):
        cols[name].unit = "deg"
    m.extra_fits = {
        "SHUTTER_INFO": {"data": shutter, "header": [["MSAMETFL", "jw01234001001_01_msa.fits", "MSA file"]]},
        "SOURCE_INFO": {"data": fits.FITS_rec.from_columns(cols), "header": []},
    }
    path = _save(m, folder, exposure_filename("nirspec_mos", "msa", **names))
    with fits.open(path) as hdul:  # store "OPEN" blank-padded, as other writers do (astropy pads with NULs)
        hdu = hdul["SHUTTER_INFO"]
        start = hdul.fileinfo(hdul.index_of("SHUTTER_INFO"))["datLoc"] + hdu.data.dtype.fields["shutter_state"][1]
        rowlen = hdu.header["NAXIS1"]
        rows = np.flatnonzero(np.asarray(hdu.data)["shutter_state"] == b"OPEN")
    with open(path, "r+b") as f:
        for i in rows:
            f.seek(start + int(i) * rowlen)
            f.write(b"OPEN  ")
    return path


def write_apcorr(folder, rng, *, nrows=None, nan=False, long_strings=False):
    """NrcImgApcorrModel reference file: the APCORR table with text ``filter``/``pupil`` columns.
    (Not in PRODUCTS: stdatamodels writes reference files without the ASDF extension.)"""
    from stdatamodels.jwst import datamodels as dm

    n = int(nrows if nrows is not None else rng.integers(3, 9))
    m = _new(dm.NrcImgApcorrModel)
    m.meta.telescope = "JWST"
    m.meta.instrument.name = "NIRCAM"
    m.meta.instrument.detector = "NRCA1"
    m.meta.exposure.type = "NRC_IMAGE"
    m.meta.exposure.p_exptype = "NRC_IMAGE|NRC_TSIMAGE|"
    m.meta.reftype = "APCORR"
    m.meta.author = "jwstio tests"
    m.meta.pedigree = "GROUND"
    m.meta.useafter = "2022-01-01T00:00:00"
    m.meta.description = LONG_TEXT if long_strings else "Generated aperture corrections"
    t = table(rng, m.get_dtype("apcorr_table"), n, nan=nan)
    t["filter"] = rng.choice(["F070W", "F200W", "F444W"], n)
    t["pupil"] = rng.choice(["CLEAR", "GRISMR"], n)
    m.apcorr_table = t
    return _save(m, folder, "jwst_nircam_apcorr_0001.fits")


# --------------------------------------------------------------------------- ECSV catalogs


def _ecsv_meta(mode, rng):
    m = MODES[mode]
    return {
        "instrument": m["name"], "detector": m["detector"], "filter": m.get("filter"),
        "exp_type": m["exp_type"], "version": "1.18.0", "program": "01234",
        "date": "2023-07-14T05:06:07.890",
    }


def write_cat(folder, rng, *, nrows=None, mode="nircam", nan=False, **names):
    """Source catalog (*_cat.ecsv): QTable with units and a SkyCoord column."""
    from astropy import units as u
    from astropy.coordinates import SkyCoord
    from astropy.table import QTable

    n = int(nrows if nrows is not None else rng.integers(2, 8))
    t = QTable(meta=_ecsv_meta(mode, rng))
    t["label"] = np.arange(1, n + 1, dtype=np.int32)
    t["xcentroid"] = floats(rng, n, nan=nan, dtype=np.float64)
    t["ycentroid"] = floats(rng, n, dtype=np.float64)
    t["sky_centroid"] = SkyCoord(rng.uniform(0, 360, n) * u.deg, rng.uniform(-90, 90, n) * u.deg)
    t["aper_total_flux"] = floats(rng, n, nan=nan, dtype=np.float64) * u.Jy
    t["aper_total_abmag"] = floats(rng, n, nan=nan, dtype=np.float64)
    t["is_extended"] = rng.integers(0, 2, n).astype(bool)
    path = Path(folder) / source_filename(mode, "cat", **names).replace(".fits", ".ecsv")
    t.write(path, format="ascii.ecsv", overwrite=True)
    return path


def write_phot(folder, rng, *, nrows=None, mode="nircam_tso", nan=False, **names):
    """TSO photometry (*_phot.ecsv): one row per integration."""
    from astropy import units as u
    from astropy.table import QTable

    n = int(nrows if nrows is not None else rng.integers(3, 9))
    t = QTable(meta=_ecsv_meta(mode, rng))
    t["MJD"] = 60000.0 + np.sort(rng.uniform(0, 1, n))
    t["aperture_sum"] = floats(rng, n, nan=nan, dtype=np.float64) * u.MJy / u.sr
    t["aperture_sum_err"] = np.abs(floats(rng, n, dtype=np.float64)) * u.MJy / u.sr
    t["annulus_mean"] = floats(rng, n, nan=nan, dtype=np.float64) * u.MJy / u.sr
    t["net_aperture_sum"] = floats(rng, n, nan=nan, dtype=np.float64) * u.MJy / u.sr
    path = Path(folder) / source_filename(mode, "phot", **names).replace(".fits", ".ecsv")
    t.write(path, format="ascii.ecsv", overwrite=True)
    return path


def write_whtlt(folder, rng, *, nrows=None, mode="niriss_soss", nan=False, **names):
    """White-light curve (*_whtlt.ecsv): MJD and wavelength-integrated flux per integration."""
    from astropy import units as u
    from astropy.table import QTable

    n = int(nrows if nrows is not None else rng.integers(3, 9))
    t = QTable(meta=_ecsv_meta(mode, rng))
    t["MJD"] = 60000.0 + np.sort(rng.uniform(0, 1, n))
    t["whitelight_flux"] = floats(rng, n, nan=nan, dtype=np.float64) * u.Jy
    t["whitelight_flux_err"] = np.abs(floats(rng, n, dtype=np.float64)) * u.Jy
    path = Path(folder) / source_filename(mode, "whtlt", **names).replace(".fits", ".ecsv")
    t.write(path, format="ascii.ecsv", overwrite=True)
    return path


# --------------------------------------------------------------------------- file surgery


def edit_header(path, key, value=None, ext=0, comment=None, delete=False):
    """Set (or delete) one header card after writing, leaving the ASDF tree as it was.

    ``ext`` is anything astropy accepts (0, "SCI", ("SCI", 2)).  The stored _fits_hash
    no longer matches, so stdatamodels re-reads every schema keyword from the headers.
    """
    from astropy.io import fits

    with fits.open(path, mode="update") as hdul:
        header = hdul[ext].header
        if delete:
            del header[key]
        elif comment is None:
            header[key] = value
        else:
            header[key] = (value, comment)
    return path


def remove_asdf(path):
    """Drop the ASDF extension in place (the file then has only FITS HDUs)."""
    from astropy.io import fits

    with fits.open(path) as hdul:
        hdus = fits.HDUList([hdu.copy() for hdu in hdul if hdu.name != "ASDF"])
    hdus.writeto(path, overwrite=True)
    return path


# --------------------------------------------------------------------------- registry

# name -> (writer, keyword arguments, class stdatamodels.open returns; None for ECSV)
PRODUCTS = {
    "uncal": (write_uncal, {}, "Level1bModel"),
    "uncal_miri": (write_uncal, {"mode": "miri"}, "Level1bModel"),
    "uncal_tables": (write_uncal, {"mode": "nirspec_mos", "moving_target": True, "msa_targ_acq": True},
                     "Level1bModel"),
    "ramp": (write_ramp, {}, "RampModel"),
    "rate": (write_rate, {}, "ImageModel"),
    "rateints": (write_rateints, {}, "CubeModel"),
    "bsub": (write_bsub, {"mode": "miri"}, "ImageModel"),
    "bsubints": (write_bsubints, {}, "CubeModel"),
    "cal": (write_cal, {}, "ImageModel"),
    "cal_spec": (write_cal_spec, {}, "ImageModel"),
    "cal_ifu": (write_ifu_cal, {}, "IFUImageModel"),
    "cal_mos": (write_multislit, {"kind": "mos", "n_slits": 4}, "MultiSlitModel"),
    "cal_fs": (write_multislit, {"kind": "fs", "n_slits": 2}, "MultiSlitModel"),
    "cal_wfss": (write_multislit, {"kind": "wfss", "n_slits": 3}, "MultiSlitModel"),
    "cal_source": (write_multiexposure, {}, "MultiExposureModel"),
    "calints": (write_calints, {}, "CubeModel"),
    "calints_spec": (write_calints_spec, {}, "CubeModel"),
    "crf": (write_crf, {}, "ImageModel"),
    "crfints": (write_crfints, {}, "CubeModel"),
    "i2d": (write_i2d, {}, "ImageModel"),
    "s2d": (write_s2d, {}, "MultiSlitModel"),
    "s2d_slit": (write_slit, {}, "SlitModel"),
    "s3d": (write_s3d, {}, "IFUCubeModel"),
    "x1d": (write_x1d, {}, "MultiSpecModel"),
    "x1d_mrs": (write_x1d, {"model": "MRSMultiSpecModel", "mode": "miri_mrs"}, "MRSMultiSpecModel"),
    "x1d_wfss": (write_x1d_wfss, {}, "WFSSMultiSpecModel"),
    "x1dints": (write_x1dints, {}, "TSOMultiSpecModel"),
    "c1d": (write_c1d, {}, "CombinedSpecModel"),
    "c1d_wfss": (write_c1d, {"wfss": True}, "WFSSCombinedSpecModel"),
    "c1d_multi": (write_c1d_multi, {}, "MultiCombinedSpecModel"),
    "c1d_multi_wfss": (write_c1d_multi, {"wfss": True}, "WFSSMultiCombinedSpecModel"),
    "segm": (write_segm, {}, "SegmentationMapModel"),
    "psfstack": (write_psfstack, {}, "CubeModel"),
    "psfalign": (write_psfalign, {}, "QuadModel"),
    "psfsub": (write_psfsub, {}, "CubeModel"),
    "ami": (write_ami, {}, "AmiLgModel"),
    "amiavg": (write_amiavg, {}, "AmiLgModel"),
    "aminorm": (write_aminorm, {}, "AmiLgModel"),
    "amilg": (write_amilg, {}, "AmiLgFitModel"),
    "msa": (write_msa, {}, "JwstDataModel"),
    "ami_oi": (write_amioi, {}, "AmiOIModel"),
    "aminorm_oi": (write_amioi, {"suffix": "aminorm-oi"}, "AmiOIModel"),
    "cat": (write_cat, {}, None),
    "phot": (write_phot, {}, None),
    "whtlt": (write_whtlt, {}, None),
}

# Options each writer understands beyond its own (used by tests to stress every product).
STRESS = {"nan": True, "extremes": True, "long_strings": True}


def write(name, folder, rng, **options):
    """Write product ``name`` from PRODUCTS; options override the registry's defaults.

    Stress options a writer has no use for (e.g. ``extremes`` for an ECSV catalog) are
    dropped; any other unknown option raises TypeError in the writer.
    """
    writer, defaults, _ = PRODUCTS[name]
    kwargs = {**defaults, **options}
    accepted = _accepted(writer)
    for key in ("nan", "extremes", "long_strings", "wcs"):
        if key in kwargs and key not in accepted:
            del kwargs[key]
    return writer(folder, rng, **kwargs)


def _accepted(writer):
    """Keyword names a writer takes, including those a thin wrapper forwards."""
    import inspect

    target = {
        write_rate: write_image, write_bsub: write_image, write_cal: write_image,
        write_crf: write_image, write_cal_spec: write_image, write_rateints: write_cube,
        write_bsubints: write_cube, write_calints: write_cube, write_crfints: write_cube,
        write_calints_spec: write_cube, write_psfstack: write_cube, write_psfsub: write_cube,
        write_s2d: write_multislit, write_amiavg: write_ami, write_aminorm: write_ami,
    }.get(writer)
    names = set(inspect.signature(writer).parameters)
    if target is not None:
        names |= set(inspect.signature(target).parameters)
    return names
