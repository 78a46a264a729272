"""jwstio.filename.parse_filename against the JWST naming documentation.

Expected fields are read off the documented syntax by hand (sources in each comment): the
exposure-based and source-based schemes and their examples (jwst docs, data_products/
file_naming.rst), the association scheme (associations/jwst_conventions.rst), the suffix tables
(data_products/product_types.rst, science_products.rst) and the stage/level translation table
("Processing Levels and Product Stages").
"""

from __future__ import annotations

import pytest

from jwstio.filename import FIELDS, SUFFIXES, parse_filename

CASES = [
    # file_naming.rst example of a Stage 1 product.
    (
        "jw93065002001_02101_00001_nrca1_rate.fits",
        dict(
            name_kind="exposure", exposure_name="jw93065002001_02101_00001_nrca1",
            program="93065", observation="002", visit="001",
            visit_group="02", parallel_seq="1", activity="01", exposure="00001",
            detector="nrca1", suffix="rate", product_type="rate",
            stage="1", level="2a", mast_level="2",
        ),
    ),
    # file_naming.rst Stage 3 examples.
    (
        "jw87600-a3001_t001_niriss_f480m-nrm_amiavg.fits",
        dict(
            name_kind="source", program="87600", acid="a3001", target="001",
            instrument="niriss", optical_elements="f480m-nrm", suffix="amiavg",
            product_type="amiavg", stage="3", level="3", mast_level="3",
        ),
    ),
    (
        "jw54321-o066_s000123456_nirspec_f170lp_g235m_s2d.fits",
        dict(
            name_kind="source", program="54321", acid="o066", source="000123456",
            source_kind="s", instrument="nirspec", optical_elements="f170lp_g235m",
            suffix="s2d", product_type="s2d", stage="3", level="3", mast_level="3",
        ),
    ),
    # Segmented exposure ("segNNN", 1-indexed with leading zeros), uncal = stage 0 / 1b / MAST 1.
    (
        "jw00016001001_01101_00001-seg001_nis_uncal.fits",
        dict(
            name_kind="exposure", exposure_name="jw00016001001_01101_00001_nis",
            program="00016", observation="001", visit="001",
            visit_group="01", parallel_seq="1", activity="01", exposure="00001",
            segment="001", detector="nis", suffix="uncal", product_type="uncal",
            stage="0", level="1b", mast_level="1",
        ),
    ),
    # Parallel sequence 2, base-36 activity, calints = stage 2 / 2b.
    (
        "jw01234005002_03205_00012_mirimage_calints.fits",
        dict(
            name_kind="exposure", exposure_name="jw01234005002_03205_00012_mirimage",
            program="01234", observation="005", visit="002",
            visit_group="03", parallel_seq="2", activity="05", exposure="00012",
            detector="mirimage", suffix="calints", product_type="calints",
            stage="2", level="2b", mast_level="2",
        ),
    ),
    (
        "jw01234005002_0310a_00012_nrcalong_bsub.fits",
        dict(
            name_kind="exposure", exposure_name="jw01234005002_0310a_00012_nrcalong",
            program="01234", observation="005", visit="002",
            visit_group="03", parallel_seq="1", activity="0a", exposure="00012",
            detector="nrcalong", suffix="bsub", product_type="bsub",
            stage="2", level="2b", mast_level="2",
        ),
    ),
    # crf: exposure root + association candidate id; made in stage 3, level 2c.
    (
        "jw01345001001_02201_00001_nrca1_o001_crf.fits",
        dict(
            name_kind="exposure", exposure_name="jw01345001001_02201_00001_nrca1",
            program="01345", observation="001", visit="001",
            visit_group="02", parallel_seq="2", activity="01", exposure="00001",
            detector="nrca1", acid="o001", suffix="crf", product_type="crf",
            stage="3", level="2c", mast_level="2",
        ),
    ),
    (
        "jw01345001001_02201_00001-seg002_nrcalong_c1001_crfints.fits",
        dict(
            name_kind="exposure", exposure_name="jw01345001001_02201_00001_nrcalong",
            program="01345", observation="001", visit="001",
            visit_group="02", parallel_seq="2", activity="01", exposure="00001",
            segment="002", detector="nrcalong", acid="c1001", suffix="crfints",
            product_type="crfints", stage="3", level="2c", mast_level="2",
        ),
    ),
    # x1d from an exposure-based name is the stage-2 product (calwebb_spec2 table, Base Exp).
    (
        "jw02072001001_04101_00001_nrs1_x1d.fits",
        dict(
            name_kind="exposure", exposure_name="jw02072001001_04101_00001_nrs1",
            program="02072", observation="001", visit="001",
            visit_group="04", parallel_seq="1", activity="01", exposure="00001",
            detector="nrs1", suffix="x1d", product_type="x1d",
            stage="2", level="2b", mast_level="2",
        ),
    ),
    # Source-based with epoch, subarray kept in the optical elements, ACT_ID, b-prefixed source.
    (
        "jw01234-c1001_t002-epoch2_nircam_clear-f200w-sub640_wfscmb-05.fits",
        dict(
            name_kind="source", program="01234", acid="c1001", target="002", epoch="2",
            instrument="nircam", optical_elements="clear-f200w-sub640", suffix="wfscmb",
            act_id="05", product_type="wfscmb", stage="3", level="3", mast_level="3",
        ),
    ),
    (
        "jw01345-o012_b000000042_nirspec_clear-prism_x1d.fits",
        dict(
            name_kind="source", program="01345", acid="o012", source="000000042",
            source_kind="b", instrument="nirspec", optical_elements="clear-prism",
            suffix="x1d", product_type="x1d", stage="3", level="3", mast_level="3",
        ),
    ),
    # Brief's 5-digit source id form; catalogue in ECSV; PSF-prefixed AMI average.
    (
        "jw00042-o001_s00001_nirspec_f290lp-g395h_c1d.fits",
        dict(
            name_kind="source", program="00042", acid="o001", source="00001",
            source_kind="s", instrument="nirspec", optical_elements="f290lp-g395h",
            suffix="c1d", product_type="c1d", stage="3", level="3", mast_level="3",
        ),
    ),
    (
        "jw01345-o001_t001_nircam_clear-f200w_cat.ecsv",
        dict(
            name_kind="source", program="01345", acid="o001", target="001",
            instrument="nircam", optical_elements="clear-f200w", suffix="cat",
            product_type="cat", stage="3", level="3", mast_level="3",
        ),
    ),
    (
        "jw87600-a3001_t001_niriss_f480m-nrm_psf-amiavg.fits",
        dict(
            name_kind="source", program="87600", acid="a3001", target="001",
            instrument="niriss", optical_elements="f480m-nrm", suffix="psf-amiavg",
            product_type="amiavg", stage="3", level="3", mast_level="3",
        ),
    ),
    # Associations: jwPPPPP-TNNNN_YYYYMMDDtHHMMSS_ATYPE_MMM_asn.json
    (
        "jw00623-a3001_20220301t120000_image3_001_asn.json",
        dict(
            name_kind="association", program="00623", acid="a3001",
            asn_version="20220301t120000", asn_type="image3", asn_sequence="001",
            suffix="asn", product_type="asn",
        ),
    ),
    (
        "jw01234-o005_20230115t093012_tso-spec2_012_asn.json",
        dict(
            name_kind="association", program="01234", acid="o005",
            asn_version="20230115t093012", asn_type="tso-spec2", asn_sequence="012",
            suffix="asn", product_type="asn",
        ),
    ),
]


@pytest.mark.parametrize("name,expected", CASES, ids=[c[0] for c in CASES])
def test_documented_names(name, expected):
    got = parse_filename(name)
    assert set(got) == set(FIELDS)
    want = dict.fromkeys(FIELDS, "")
    want.update(expected)
    assert got == want


def test_paths_reduce_to_base_name():
    import pathlib

    a = parse_filename("/data/mast/jw93065002001_02101_00001_nrca1_rate.fits")
    b = parse_filename(pathlib.Path("jw93065002001_02101_00001_nrca1_rate.fits"))
    assert a == b == parse_filename("jw93065002001_02101_00001_nrca1_rate.fits")


@pytest.mark.parametrize(
    "name",
    [
        "",
        "foo.fits",
        "test1_cal.fits",
        "jw1234_cal.fits",  # too few digits
        "jw93065002001_02101_nrca1_rate.fits",  # no exposure number
        "jw00623-x3001_t001_nircam_f200w_i2d.fits",  # unknown candidate type
        "jw00623-a3001_20220301_image3_001_asn.json",  # bad version id
    ],
)
def test_unknown_names_are_empty(name):
    assert parse_filename(name) == dict.fromkeys(FIELDS, "")


def test_unknown_suffix_keeps_name_fields_without_stage():
    f = parse_filename("jw93065002001_02101_00001_nrca1_assign_wcs.fits")
    assert (f["name_kind"], f["detector"], f["suffix"]) == ("exposure", "nrca1", "assign_wcs")
    assert f["stage"] == f["level"] == f["mast_level"] == ""


# Stage <-> processing level <-> MAST level, rows of the "Processing Levels and Product Stages"
# table (seed 000): Level 1b / Stage 0 / MAST 1; 2a / 1 / 2; 2b / 2 / 2; 3 / 3 / 3.
LEVEL_TABLE = {"0": ("1b", "1"), "1": ("2a", "2"), "2": ("2b", "2"), "3": ("3", "3")}

# Stage of each product for the naming(s) the product tables use (Base column: Exp / Src).
# Products in both the stage-2 and stage-3 tables are stage 2 when exposure-based (calwebb_image2
# / calwebb_spec2 outputs) and stage 3 when source-based.
DOC_STAGES = {
    **{s: {"exposure": "0"} for s in ["uncal"]},
    **{s: {"exposure": "1"} for s in ["dark", "trapsfilled", "rateints", "rate", "fitopt", "ramp"]},
    **{s: {"exposure": "2"} for s in ["bsub", "bsubints", "calints", "flat"]},
    **{s: {"exposure": "2", "source": "3"} for s in ["cal", "i2d", "s2d", "s3d", "x1d", "x1dints"]},
    **{s: {"exposure": "3"} for s in ["crf", "crfints", "ami", "psfalign", "psfsub"]},
    **{
        s: {"source": "3"}
        for s in ["cat", "segm", "c1d", "amiavg", "aminorm", "psfstack", "phot", "whtlt", "wfscmb"]
    },
}
NAMES = {
    "exposure": "jw93065002001_02101_00001_nrca1_{}.fits",
    "source": "jw93065-o001_t001_nircam_clear-f200w_{}.fits",
}


def test_every_known_suffix_is_documented():
    assert set(SUFFIXES) == set(DOC_STAGES)


@pytest.mark.parametrize("suffix", sorted(DOC_STAGES))
def test_suffix_stage_and_levels(suffix):
    for based, stage in DOC_STAGES[suffix].items():
        f = parse_filename(NAMES[based].format(suffix))
        assert f["name_kind"] == based
        assert (f["suffix"], f["product_type"], f["stage"]) == (suffix, suffix, stage)
        level, mast = LEVEL_TABLE[stage]
        if suffix in ("crf", "crfints"):
            level, mast = "2c", "2"  # Level 2c = CR-flagged exposure, in the "2 = calibrated" row
        assert (f["level"], f["mast_level"]) == (level, mast)
