"""Headers with the card forms astropy has special rules for, generated and compared with
astropy value by value: CONTINUE cards after every kind of card (commentary, numbers, strings
without '&', HIERARCH, record-valued, invalid, another CONTINUE), record-valued keyword cards
(the FITS distortion paper's ``DP1 = 'AXIS.1: 1'``) and their near misses, keywords astropy
cuts oddly, and ``SIMPLE = F`` files (astropy's _NonstandardHDU)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from astropy.io import fits as afits
from astropy.io.fits import Card
from fits_compare import assert_header_like_astropy, assert_same_as_astropy

import jwstio
from jwstio import _core, fits

BASE = ["SIMPLE  =                    T", "BITPIX  =                    8", "NAXIS   =                    0"]

# Cards a CONTINUE card may follow, and whatever else a header holds.
CARDS = [
    "HISTORY = 'Missing images: 0, &'",
    "HISTORY Missing images: 0, science frames: 12, &",
    "HISTORY plain history text",
    "HISTORY",
    "history lower-case keyword",
    "COMMENT a comment &",
    "COMMENT = 'X: 1'",
    "        blank keyword &",
    "        ",
    "NUM     =                    5 / a number",
    "FLT     =                  1.5",
    "BOOL    =                    T",
    "UNDEF   =",
    "UNDEF2  =                      / only a comment",
    "CPLX    = (1.0, 2.0)",
    "STR     = 'no ampersand'  / c1",
    "STR2    = 'ampersand &'",
    "STR3    = 'amp&' / c3",
    "STR4    = ''",
    "STR5    = '&'",
    "STR6    = 'it''s &'",
    "STR7    = 'x: 1'",
    "HIERARCH ESO LONG = 'hierarch &'",
    "HIERARCH ESO NUM = 3",
    "HIERARCH ESO DP1.X = 'A: 1'",
    "BAD     = abc",
    "NOEQ    abc",
    " LEAD = 'lead &'",
    "AB= 'ab &'",
    "AB = 3",
    "  AB = 4",
    "ab      = 5 / lower",
    "A B     = 6",
    "AB      ",
    "AB  x",
    # record-valued keyword cards and near misses
    "DP1     = 'NAXES: 2'           / number of axes",
    "DP1     = 'AXIS.1: 1'",
    "DP1     = 'AXIS.2: 2.5' / axis 2",
    "DP1     = 'NAUX:   -3e2'",
    "DP1     = 'EXTVER: 1'",
    "D2IM1   = 'EXTVER: 1'",
    "D2IM1   =    'NAXES:   2'",
    "dp2     = 'lower.x: +.5E1'",
    "DP3     = 'X:   -7' / c",
    "DP4 = 'X: 1'",
    "  DP5 = 'Y: 2'",
    "DP6     = 'A: B'",
    "DP6     = 'plain'",
    "DP7     = 'X..Y: 1'",
    "DP8     = ' A: 1'",
    "DP8     = 'A: 1 '",
    "DP8     = 'A:1'",
    "DP9     = 'X: 1' junk",
    "DP10    = 'X.1.Y: 1.E3'",
    "DP10    = 'X.1.2: 1'",
    "HIERARCH= 'X: 1'",
    "D.P     = 'Q: 1'",
    "DPX     = '_Q9: 0017'",
    "DPY     = 'Q: 1' / tab\tin comment",
    "DPZ     = 'Q: 99999999999999999999999999'",
]

CONTINUES = [
    "CONTINUE  'def'",
    "CONTINUE  'def&'",
    "CONTINUE  'def' / continued comment",
    "CONTINUE  '&' / only a comment",
    "CONTINUE  ''",
    "CONTINUE  5",
    "CONTINUE  def",
    "CONTINUE  ",
    "CONTINUE",
    "CONTINUE= 'X: 1'",
    "CONTINUE 'one blank'",
    "CONTINUE'no blank'",
    "CONTINUE  'it''s'",
    "CONTINUE  'a' junk",
    "CONTINUE  'Q: 1'",
    "continue  'lower case: not a CONTINUE card'",
]


def _write(path, cards, simple="T", tail=b""):
    text = "".join(c.ljust(80)[:80] for c in [BASE[0].replace("T", simple, 1), *BASE[1:], *cards, "END"])
    text += " " * (-len(text) % 2880)
    with open(path, "wb") as f:
        f.write(text.encode("latin1") + tail)
    return path


def _generated(seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    cards = []
    for _ in range(int(rng.integers(10, 30))):
        cards.append(CARDS[int(rng.integers(len(CARDS)))])
        if rng.random() < 0.35:
            cards += [CONTINUES[int(rng.integers(len(CONTINUES)))] for _ in range(int(rng.integers(1, 4)))]
    return cards


def _compare(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ah = afits.getheader(path)
        with fits.open(path) as f:
            assert_header_like_astropy(f[0].header, ah, str(path))
            # to_astropy() is astropy's own parse of the same images (._image: .image would verify)
            assert [(c.keyword, c._image) for c in f[0].header.to_astropy().cards] == [(c.keyword, c._image) for c in ah.cards]
        assert_same_as_astropy(path)


@pytest.mark.parametrize("seed", range(40))
def test_generated_headers_read_like_astropy(tmp_path, seed):
    _compare(_write(tmp_path / f"h{seed}.fits", _generated(seed)))


@pytest.mark.parametrize("card", CARDS)
@pytest.mark.parametrize("cont", CONTINUES)
def test_every_card_followed_by_every_continue(tmp_path, card, cont):
    _compare(_write(tmp_path / "c.fits", [card, cont, "AFTER   = 'after'", card, cont, cont]))


@pytest.mark.parametrize("card", CARDS)
def test_every_card_alone(tmp_path, card):
    _compare(_write(tmp_path / "a.fits", [card, "AFTER   = 'after'", card]))


def test_history_continue_values(tmp_path):
    """The reported case: HISTORY text keeps the CONTINUE card as astropy keeps it."""
    path = _write(tmp_path / "hist.fits", ["HISTORY = 'Missing images: 0, &'", "CONTINUE  'science frames: 12'", "HISTORY second"])
    want = ["= 'Missing images: 0, &'" + " " * 48 + "CONTINUE  'science frames: 12'", "second"]
    assert list(afits.getheader(path)["HISTORY"]) == want
    with fits.open(path) as f:
        assert f[0].header["HISTORY"] == want
        assert len(f[0].header) == 5
        assert f._core.values(0, "HISTORY") == want


def test_record_valued_cards(tmp_path):
    path = _write(tmp_path / "dp.fits", [
        "DP1     = 'NAXES: 2'           / number of axes",
        "DP1     = 'AXIS.1: 1'",
        "DP1     = 'AXIS.2: 2'",
        "DP2     = 'plain'",
        "DP2     = 'NAXES: 3'",
    ])
    with fits.open(path) as f:
        h = f[0].header
        assert h["DP1.NAXES"] == 2.0 and type(h["DP1.NAXES"]) is float
        assert h["dp1.AXIS.2"] == 2.0 and "DP1.axis.2" not in h
        assert h["DP1"] == "NAXES: 2" and h["dp1"] == 2.0  # astropy: the raw value only as written
        assert h["DP2"] == "plain" and h["DP2.NAXES"] == 3.0
        assert h.keys()[3:6] == ["DP1.NAXES", "DP1.AXIS.1", "DP1.AXIS.2"]
        assert h.cards[3] == ("DP1.NAXES", 2.0, "number of axes")
        c = h.card("DP1")
        assert (c.keyword, c.value, c.field_specifier, c.rawkeyword, c.rawvalue) == ("DP1.NAXES", 2.0, "NAXES", "DP1", "NAXES: 2")
        assert h.card("NAXIS").field_specifier is None
        assert h.comments["DP1"] == "number of axes"
        assert h["DP1.*"].keys() == ["DP1.NAXES", "DP1.AXIS.1", "DP1.AXIS.2"]
        assert h["DP1.AXIS.*"]["DP1.AXIS.2"] == 2.0
        assert "DP1.*" not in h and h.get("DP9.*").keys() == []
        assert h.to_astropy()["DP1.AXIS.1"] == 1.0
        assert f[0].data is None


def test_record_valued_with_d_exponent(tmp_path):
    """astropy cannot convert a D exponent in a record-valued card, so cannot build that
    header: it refuses the file when it is the primary header (built at open); in another HDU
    every access to that header raises. jwstio refuses the file, or that card."""
    bad = "DP1     = 'X: 1.5D3'"
    path = _write(tmp_path / "d.fits", [bad, "OTHER   = 1"])
    with pytest.raises(OSError):
        afits.open(path)
    with pytest.raises(jwstio.FormatError, match="D exponent"):
        fits.open(path)
    bad_ext = afits.ImageHDU(name="BAD").header
    bad_ext["DP1"] = "X: 1"
    bad_bytes = bad_ext.tostring().replace("'X: 1'    ", "'X: 1.5D3'").encode()
    path = _write(tmp_path / "e.fits", [], tail=bad_bytes)
    with afits.open(path) as ah:
        assert len(ah) == 2
        with pytest.raises(ValueError):
            ah[1].header  # noqa: B018
    with fits.open(path) as f:
        assert len(f) == 2 and f[1].header["EXTNAME"] == "BAD"
        assert f[1].header.keys()[-1] == "DP1.X"
        for key in ("DP1.X", "DP1", -1):
            with pytest.raises(jwstio.FormatError):
                f[1].header[key]


def test_normalized_keys_are_astropys():
    keys = ["NAXIS", "naxis", " naxis ", "HIERARCH eso det", "hierarch x", "DP1.NAXES", "dp1.naxes", "dp1.AXIS.1",
            "D.p", "DP4 .X", "dp4 .x", " dp1.x", "dp1.x ", "AB ", "", "a.b.c", "a.1", "a.1.2", "a..b", "_x.y", "1x.y",
            "x.y\n", "ESO DET.CHIP", "é.x", "x.é", "HIERARCH  dp1.x", "HIERARCH", "HIERARCH ", "ABCDEFGHI", "abcdefgh"]
    for k in keys:
        assert _core.normalize_key(k) == Card.normalize_keyword(k), k


def test_simple_false_is_nonstandard(tmp_path):
    """astropy opens a SIMPLE = F primary header as a _NonstandardHDU: one HDU, named '' (or
    EXTNAME), data every byte after the header, nothing read after it."""
    ext = afits.ImageHDU(np.arange(6, dtype=">i2").reshape(2, 3), name="SCI")
    tail = ext.header.tostring().encode() + ext.data.tobytes().ljust(2880, b"\0") + b"trailing"
    for cards, name in [([], ""), (["EXTNAME = 'raw '", "EXTVER  =                    3"], "raw"), (["GROUPS  =                    F"], "")]:
        path = _write(tmp_path / "f.fits", ["DP1     = 'NAXES: 2'", *cards], simple="F", tail=tail)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with afits.open(path) as ah:
                assert [type(h).__name__ for h in ah] == ["_NonstandardHDU"]
        assert_same_as_astropy(path)
        with fits.open(path) as f:
            assert len(f) == 1
            h = f[0]
            assert (h.kind, h.name, h.shape, h.dtype) == ("nonstandard", name, (len(tail),), None)
            assert h.data.dtype == np.uint8 and h.data.tobytes() == tail
            assert h.raw.tobytes() == tail
            assert f.index_of("PRIMARY") == 0 and ("SCI", 1) not in f
            assert_header_like_astropy(h.header, afits.getheader(path))
    # Empty data; GROUPS = T makes it random groups, as in astropy.
    path = _write(tmp_path / "e.fits", [], simple="F")
    with fits.open(path) as f:
        assert f[0].kind == "nonstandard" and f[0].data.shape == (0,) and f[0].raw is None
    assert_same_as_astropy(path)


def test_nonstandard_files_in_scan_and_models(tmp_path):
    """A SIMPLE = F file scans (primary keywords read, extensions missing, as astropy sees no
    extension); read_metadata raises stdatamodels' KeyError (no ASDF extension); open refuses
    it (stdatamodels fails with an AttributeError)."""
    import products

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        good = products.write("cal", tmp_path, np.random.default_rng(3))
    data = bytearray(good.read_bytes())
    assert data[:30].endswith(b"T")
    data[29] = ord("F")
    bad = tmp_path / "jw01234001001_02101_00001_nrca1_cal_f.fits"
    bad.write_bytes(bytes(data))
    t = jwstio.scan(str(tmp_path), keywords=["SIMPLE", "TELESCOP", "SCI:BUNIT"], pattern="*_f.fits")
    row = t[0]
    assert row["error"] == ""
    assert row["SIMPLE"] == False and row["TELESCOP"] == "JWST"  # noqa: E712
    assert np.ma.is_masked(row["SCI:BUNIT"])
    with pytest.raises(KeyError, match="ASDF"):
        jwstio.read_metadata(bad)
    pytest.importorskip("stdatamodels")
    from stdatamodels.jwst.datamodels import util

    with pytest.raises(KeyError, match="ASDF"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        util.read_metadata(str(bad))
    with pytest.raises(jwstio.FormatError, match="SIMPLE = F"):
        jwstio.open(bad)


def _insert_cards(path, cards):
    """Put raw card images at the end of the primary header (before END), as instrument-team
    software writes them; whole blocks are added when needed."""
    data = path.read_bytes()
    end = next(i for i in range(0, len(data), 80) if data[i : i + 80] == b"END".ljust(80))
    header_end = (end // 2880 + 1) * 2880
    body = data[:end] + b"".join(c.ljust(80)[:80].encode("latin1") for c in cards) + b"END".ljust(80)
    body += b" " * (-len(body) % 2880)
    path.write_bytes(body + data[header_end:])


MODEL_CARDS = [
    "HISTORY = 'Missing images: 0, science frames: 12, &'",
    "CONTINUE  'reference files: jwst_nircam_flat_0001.fits&'",
    "CONTINUE  'done' / with a comment",
    "HISTORY plain entry",
    "HISTORY entry &",
    "CONTINUE  'five'",
    "COMMENT a comment &",
    "CONTINUE  'more'",
    "        blank keyword &",
    "CONTINUE  'more'",
    "NOTE    = 'no ampersand' / c1",
    "CONTINUE  'continued' / c2",
    "DP1     = 'NAXES: 2'           / number of axes",
    "DP1     = 'AXIS.1: 1'",
    "D2IM1   = 'EXTVER: 1'",
    "DP2     = 'NAXES: 3'",
    "DP2     = 'not a record'",
    "SUBARRAY= 'FULL: 1'",
    "TARG_RA = 'X: 12.5'",
]


def _replace_card(path, key, image):
    """Replace the primary header's first card with keyword ``key`` by ``image`` in place."""
    data = bytearray(path.read_bytes())
    at = next(i for i in range(0, 2880 * 40, 80) if data[i : i + 8] == key.ljust(8).encode())
    data[at : at + 80] = image.ljust(80).encode()
    path.write_bytes(bytes(data))


# Schema keywords whose only card is record-valued: astropy's header[key] gives its raw value.
SHADOWED = {"TELESCOP": "TELESCOP= 'JWST: 1'", "INSTRUME": "INSTRUME= 'NIRCAM: 1' / instrument", "TARG_RA": "TARG_RA = 'X: 12.5'"}


@pytest.mark.parametrize("cards", [MODEL_CARDS, MODEL_CARDS[:6], ["TELESCOP= 'JWST: 1'"], SHADOWED],
                         ids=["all", "history", "duplicate-rvkc", "schema-rvkc"])
def test_models_history_and_extra_fits_like_stdatamodels(tmp_path, cards):
    """stdatamodels' history entries (HISTORY texts, CONTINUE cards kept as astropy keeps them),
    extra_fits triples (record-valued cards as DP1.NAXES = 2.0) and schema keywords a
    record-valued card shadows (its raw value, validated), through jwstio.open and
    read_metadata."""
    pytest.importorskip("stdatamodels")
    import products
    from stdatamodels.jwst import datamodels as dm
    from stdatamodels.jwst.datamodels import util
    from test_models_oracle import check

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = products.write("cal", tmp_path, np.random.default_rng(4))
    if isinstance(cards, dict):
        for key, image in cards.items():
            _replace_card(path, key, image)
        assert afits.getheader(path)["TELESCOP"] == "JWST: 1"
        assert util.read_metadata(str(path))["meta.telescope"] == "JWST: 1"
    else:
        _insert_cards(path, cards)
    check(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = dm.open(path)
        ours = jwstio.open(path)
        want = [e["description"] for e in ref.instance["history"].get("entries", [])]
        assert [e["description"] for e in ours.instance["history"].get("entries", [])] == want
        if want:
            assert [e.description for e in ours.history.entries] == want
        assert want == list(afits.getheader(path).get("HISTORY", []))
        want_extra = ref.extra_fits.PRIMARY.header if "extra_fits" in ref.instance else None
        got_extra = ours.extra_fits.PRIMARY.header if "extra_fits" in ours.instance else None
        assert (got_extra is None) == (want_extra is None)
        if want_extra is not None:
            assert [list(c) for c in got_extra] == [list(c) for c in want_extra]
        assert jwstio.read_metadata(path) == util.read_metadata(str(path))
        ref.close()
        ours.close()
