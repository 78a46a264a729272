"""jwstio.fits.write: cards formatted as astropy formats them, data round-tripped through
jwstio and astropy, every readable corpus file written back, fitsverify, atomic and safe writes."""

from __future__ import annotations

import glob
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
from astropy.io import fits as afits

import jwstio
from jwstio import _core, fits
from jwstio._write import _prepare_cards

HERE = os.path.dirname(__file__)
sys.path.insert(0, HERE)

FITSVERIFY = shutil.which("fitsverify") or ("/usr/bin/fitsverify" if os.path.exists("/usr/bin/fitsverify") else None)


# --- cards ---------------------------------------------------------------------------------------


def _astropy_image(k, v, c):
    """astropy's card image, or None when astropy refuses the card."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return str(afits.Card(k, v, c))
        except Exception:  # noqa: BLE001  (astropy raises ValueError/VerifyError)
            return None


def _ours(k, v, c):
    try:
        block = _core.format_header(_prepare_cards([(k, v, c)], "test"))
    except jwstio.FormatError:
        return None
    text = block.decode("ascii")
    end = [i for i in range(0, len(text), 80) if text[i : i + 80].rstrip() == "END"][0]
    return text[:end]


def _broken(image, value):
    """astropy's image of a card whose value it cut off (astropy truncates over-long cards)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            h = afits.Header.fromstring(image)
            for card in h.cards:
                card.verify("exception")
            got = h.cards[0].value
        except Exception:  # noqa: BLE001
            return True
    return got != value


def _float_values(rng):
    out = [0.0, -0.0, 1.0, 0.1, 1e16, 1e15, 9999999999999998.0, 1e-4, 1e-5, 5e-324, 1.7976931348623157e308,
           -2.2250738585072014e-308, 123456789.123456789, 1 / 3, 2**53, 2.0**-1074]
    bits = rng.integers(0, 2**63, 400, dtype=np.int64).view(np.float64)
    out += [float(x) for x in bits if np.isfinite(x)]
    out += [float(x) for x in rng.standard_normal(200) * 10.0 ** rng.integers(-30, 30, 200)]
    return out


def _text(rng, n, alphabet=" abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789'&/=.-_"):
    return "".join(alphabet[i] for i in rng.integers(0, len(alphabet), n))


def _card_cases():
    rng = np.random.default_rng(7)
    keys = ["A", "naxis", "EXTNAME", "DATE-OBS", "X_Y-Z", "ESO DET CHIP", "HIERARCH ESO INS",
            "longkeyword", "a b", "TWELVECHARS1", "DP1.AXIS.1", "DP1", "COMMENT", "HISTORY", "", "END",
            "CONTINUE", "bad=key", "kéy", " lead"]
    cases = []
    for f in _float_values(rng):
        cases.append(("F", f, ""))
        if abs(f) < 3.4e38:
            cases.append(("F", np.float32(f), "c"))
    cases += [("C", complex(a, b), "") for a, b in zip(_float_values(rng)[:100], _float_values(rng)[100:200])]
    cases += [("C", np.complex64(1.5 + 2.25j), ""), ("F", np.float16(0.1), ""), ("F", np.longdouble(0.1), "")]
    for n in [0, 1, 7, 8, 9, 17, 18, 19, 20, 67, 68, 69, 70, 71, 72, 100, 200, 500]:
        for k in ["S", "ESO DET CHIP NAME", "HISTORY", "COMMENT", ""]:
            cases.append((k, _text(rng, n), ""))
            cases.append((k, _text(rng, n), _text(rng, int(rng.integers(0, 120)))))
    for i in [0, 1, -1, 2**31, -(2**63), 2**64, 10**19, 10**40, 10**69, 10**70, 10**75, np.int64(5), np.uint64(2**64 - 1),
              np.int8(-3)]:
        cases.append(("I", i, "int"))
    cases += [("B", True, ""), ("B", False, "x"), ("B", np.bool_(True), ""), ("U", None, ""), ("U", None, "undef")]
    cases += [("F", float("nan"), ""), ("F", float("inf"), ""), ("F", np.float32("nan"), ""), ("S", "é", ""),
              ("S", "a\nb", ""), ("S", "ok", "é"), ("S", b"bytes", ""), ("S", [1], "")]
    for _ in range(1500):
        k = keys[int(rng.integers(len(keys)))]
        kind = int(rng.integers(6))
        v = [lambda: _text(rng, int(rng.integers(0, 150))), lambda: int(rng.integers(-(2**62), 2**62)),
             lambda: float(rng.standard_normal() * 10.0 ** rng.integers(-20, 20)), lambda: bool(rng.integers(2)),
             lambda: None, lambda: "AXIS.1: " + str(int(rng.integers(0, 9)))][kind]()
        c = _text(rng, int(rng.integers(0, 90))) if rng.integers(2) else ""
        cases.append((k, v, c))
    return cases


def _string_pieces(image):
    """The quoted texts of a long-string card's images (first card and CONTINUE cards)."""
    out = []
    for i in range(0, len(image), 80):
        card = image[i : i + 80]
        rest = card[10:] if card.startswith("CONTINUE") else card[card.index("= ") + 2 :] if "= " in card else ""
        rest = rest.lstrip()
        if rest.startswith("'"):
            out.append(rest[1:].rstrip().split(" / ")[0].rstrip())
    return out


def _splits_a_doubled_quote(image):
    """A card whose quoted text holds an odd run of quotes before its closing quote (the text
    was cut inside a doubled quote; fitsverify rejects it)."""
    for piece in _string_pieces(image):
        body = piece[:-1]  # without the closing quote
        body = body[:-1] if body.endswith("&") else body
        run = len(body) - len(body.rstrip("'"))
        if run % 2:
            return True
    return False


def _read_value(image, key):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return afits.Header.fromstring(image + "END".ljust(80)).cards[0].value


def test_long_strings_never_cut_a_doubled_quote(tmp_path):
    """Quotes at every position of a CONTINUE cut: no card ends inside a doubled quote (astropy
    cuts there, and fitsverify reports the card); astropy and jwstio read the value back."""
    cut = 0
    for key in ("Q", "ESO LONG KEY"):
        for n in range(1, 150):
            for v in ("'" * n, "a" * n + "'" * 5, "x" * (n % 70) + "'" + "y" * 80):
                theirs, ours = _astropy_image(key, v, ""), _ours(key, v, "")
                cut += _splits_a_doubled_quote(theirs)
                assert not _splits_a_doubled_quote(ours), (key, v)
                assert _read_value(ours, key) == v
    assert cut > 10
    p = tmp_path / "q.fits"
    fits.write(p, [fits.PrimaryHDU(header=[(f"Q{n}", "'" * n) for n in range(60, 80)])])
    with fits.open(p) as f, afits.open(p) as ah:
        for n in range(60, 80):
            assert f[0].header[f"Q{n}"] == ah[0].header[f"Q{n}"] == "'" * n
    if FITSVERIFY:
        assert _fitsverify(p)[0] == []


def test_cards_as_astropy_formats_them():
    """Thousands of keys/values/comments: the 80-character images astropy's Card gives, or a
    refusal where astropy refuses (or would write a card whose value is cut off)."""
    same = refused_both = refused_broken = split_pair = 0
    for k, v, c in _card_cases():
        theirs = _astropy_image(k, v, c)
        ours = _ours(k, v, c)
        if theirs is not None and "<astropy.io.fits.card.Undefined" in theirs:
            # astropy writes the repr of its UNDEFINED on a commentary card given None: jwstio
            # writes no text
            theirs = theirs[:8].ljust(80)
        if theirs is None:
            assert ours is None, f"astropy refuses {(k, v, c)!r}, jwstio wrote {ours!r}"
            refused_both += 1
        elif ours is None:
            # Only cards astropy writes broken (value cut at 80 columns, or a CONTINUE keyword).
            assert _broken(theirs, v) or k.strip().upper() == "CONTINUE", f"jwstio refuses {(k, v, c)!r}: {theirs!r}"
            refused_broken += 1
        elif ours != theirs and _splits_a_doubled_quote(theirs):
            # astropy cuts a long string inside a doubled quote: jwstio one character earlier
            assert not _splits_a_doubled_quote(ours) and _read_value(ours, k) == _read_value(theirs, k)
            split_pair += 1
        else:
            assert ours == theirs, f"{(k, v, c)!r}:\n{ours!r}\n{theirs!r}"
            same += 1
    assert same > 2500 and refused_both > 20 and split_pair > 0


def test_comments_right_stripped_as_astropy():
    """astropy strips trailing blanks of comments: a blank comment makes no ' / ' and no extra
    CONTINUE card after a long string."""
    n = 0
    for k in ("A", "ESO DET CHIP NAME", "LONGKEYWORD1"):
        for v in ("x" * 70 + " yy", "w " * 60, "short", 5, 1.5, True, None):
            for c in (" ", "   ", "c  ", "c " * 40 + "   ", " " * 90):
                theirs, ours = _astropy_image(k, v, c), _ours(k, v, c)
                assert ours == theirs, f"{(k, v, c)!r}:\n{ours!r}\n{theirs!r}"
                n += theirs is not None
    assert n > 80


def test_long_header_as_astropy_tostring():
    cards = [("LONGSTR", "word " * 60, "a comment " * 20), ("HISTORY", "h" * 300, ""), ("ESO A VERY LONG KEY", "v" * 90, "c"),
             ("", "blank " * 30, ""), ("SHORT", 1, "x" * 100)]
    ah = afits.Header()
    for k, v, c in cards:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ah.append((k, v, c), bottom=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # astropy: "Card is too long, comment will be truncated."
        theirs = ah.tostring()
    assert _core.format_header(_prepare_cards(cards, "t")).decode() == theirs


# --- round trips ---------------------------------------------------------------------------------


def _same_values(a, b, what):
    a, b = np.asarray(a), np.asarray(b)
    if b.dtype == object:
        assert a.dtype == object and len(a) == len(b), what
        for i, (x, y) in enumerate(zip(a, b)):
            _same_values(x, y, f"{what}[{i}]")
        return
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    assert a.dtype.kind == b.dtype.kind, f"{what}: dtype {a.dtype} != {b.dtype}"
    if b.dtype.kind in "SU":
        assert np.array_equal(np.char.rstrip(a), np.char.rstrip(b)), what
        return
    assert np.array_equal(a, b, equal_nan=b.dtype.kind in "fc"), f"{what}: values differ"


def _card_value(card):
    try:
        return card.value
    except Exception:  # noqa: BLE001  (astropy refuses an unparsable card's value)
        return ("unparsable", card.image)


def _read_both(path, checksum=True):
    """Every HDU as (name, ver, header cards, data) by astropy and by jwstio."""
    out_a, out_j = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with afits.open(path, memmap=False, checksum=checksum) as ah:
            for h in ah:
                # the cards before .data (astropy blanks scaling cards when it scales)
                cards = [(c.keyword, _card_value(c)) for c in h.header.cards]
                data = h.data
                if data is not None and data.dtype.names:
                    data = {n: np.asarray(data[n]) for n in data.dtype.names}
                out_a.append((h.name, h.ver, cards, data))
    with fits.open(path) as f:
        for h in f:
            try:
                data = h.data
            except jwstio.FormatError as e:  # random groups: jwstio reads headers only
                assert "random-groups" in str(e)
                data = "refused"
            if isinstance(data, np.ndarray) and data.dtype.names:
                data = {n: np.asarray(data[n]) for n in data.dtype.names}
            out_j.append((h.name, h.ver, [(c[0], c[1]) for c in h.header.cards], data))
    return out_a, out_j


def _same_data(a, b, what):
    if isinstance(b, str):
        assert a == b, what
    elif isinstance(b, dict):
        assert isinstance(a, dict) and list(a) == list(b), f"{what}: columns {list(a)} != {list(b)}"
        for n in b:
            _same_values(a[n], b[n], f"{what} column {n}")
    elif b is None:
        assert a is None, f"{what}: data"
    else:
        _same_values(a, b, what)


def _check_round_trip(path, expected):
    """Both readers give the expected data (a list of arrays / dicts of columns / None)."""
    out_a, out_j = _read_both(path)
    assert len(out_a) == len(out_j) == len(expected)
    for i, exp in enumerate(expected):
        if isinstance(exp, np.ndarray) and exp.size == 0:
            # astropy gives an empty array, jwstio's reader None (as for any empty data unit)
            _same_data(out_a[i][3], exp, f"astropy HDU {i}")
            assert out_j[i][3] is None or out_j[i][3].shape == exp.shape, f"jwstio HDU {i}"
            continue
        _same_data(out_a[i][3], exp, f"astropy HDU {i}")
        _same_data(out_j[i][3], exp, f"jwstio HDU {i}")
        assert out_a[i][:3] == out_j[i][:3] or _cards_equal(out_a[i][2], out_j[i][2]), f"HDU {i} header"
    return out_a


def _cards_equal(a, b):
    if len(a) != len(b):
        return False
    for (ka, va), (kb, vb) in zip(a, b):
        if ka != kb:
            return False
        if isinstance(va, float) and isinstance(vb, float) and math.isnan(va) and math.isnan(vb):
            continue
        if va != vb and not (va is afits.card.UNDEFINED and vb is None):
            return False
    return True


IMAGE_DTYPES = ["u1", "i1", "i2", "u2", "i4", "u4", "i8", "u8", "f4", "f8"]


def _image(dtype, shape, rng):
    dt = np.dtype(dtype)
    if dt.kind == "f":
        a = rng.standard_normal(shape).astype(dt)
        flat = a.reshape(-1)
        if flat.size >= 5:
            flat[:5] = [np.nan, np.inf, -np.inf, np.finfo(dt).max, np.finfo(dt).tiny]
        return a
    info = np.iinfo(dt)
    a = rng.integers(info.min, info.max, shape, dtype=dt, endpoint=True)
    flat = a.reshape(-1)
    if flat.size >= 3:
        flat[:3] = [info.min, info.max, 0]
    return a


@pytest.mark.parametrize("order", ["=", ">", "<"])
@pytest.mark.parametrize("dtype", IMAGE_DTYPES)
def test_images_round_trip(tmp_path, dtype, order):
    rng = np.random.default_rng(1)
    a = _image(dtype, (5, 7), rng).astype(np.dtype(dtype).newbyteorder(order))
    cube = _image(dtype, (3, 4, 6), rng)[:, ::2, ::-1]  # non-contiguous
    fortran = np.asfortranarray(_image(dtype, (4, 3), rng))
    empty = np.zeros((0, 3), dtype)
    big = _image(dtype, (6, 40, 64), rng)[::2, 5:30]  # contiguous blocks, written without a copy
    p = tmp_path / "img.fits"
    fits.write(p, [fits.PrimaryHDU(a), fits.ImageHDU(cube, name="CUBE"), fits.ImageHDU(fortran, name="F", ver=3),
                   fits.ImageHDU(empty), fits.ImageHDU(None, name="NONE"), fits.ImageHDU(big)])
    out = _check_round_trip(p, [a, cube, fortran, empty, None, big])
    with afits.open(p) as ah:
        assert ah[1].header["EXTNAME"] == "CUBE" and ah[2].header["EXTVER"] == 3
        assert ah[3].header["NAXIS"] == 2 and ah[3].header["NAXIS1"] == 3 and ah[3].header["NAXIS2"] == 0
        # unsigned and int8 exactly as astropy writes them
        ref = afits.HDUList([afits.PrimaryHDU(a.astype(np.dtype(dtype).newbyteorder("=")))])
        ref_path = tmp_path / "ref.fits"
        ref.writeto(ref_path)
        assert open(ref_path, "rb").read() == _bytes_of_hdu0(p)
    assert out[0][0] == "PRIMARY"


def _bytes_of_hdu0(path):
    """The bytes of HDU 0 of ``path`` with EXTEND kept (astropy's single-HDU file)."""
    with fits.open(path) as f:
        info = f[1]._info
        start = info["header_start"] if "header_start" in info else None
    raw = open(path, "rb").read()
    if start is None:
        # header of HDU 1 begins at the first block whose card is XTENSION
        for off in range(0, len(raw), 2880):
            if raw[off : off + 8] == b"XTENSION":
                return raw[:off]
    return raw[:start]


def test_unsigned_primary_scale_cards_before_commentary(tmp_path):
    """BSCALE/BZERO of an unsigned primary image go where astropy puts them: after the last
    keyword card, before trailing HISTORY/COMMENT/blank cards."""
    header = [("A", 1, "a"), ("HISTORY", "h1"), ("B", "x"), ("COMMENT", "c"), ("", "blank")]
    data = np.arange(6, dtype="u2").reshape(2, 3)
    fits.write(tmp_path / "j.fits", [fits.PrimaryHDU(data, header=header)])
    afits.PrimaryHDU(data, header=afits.Header([afits.Card(*c) for c in header])).writeto(tmp_path / "a.fits")
    images = []
    for who in "ja":
        with afits.open(tmp_path / f"{who}.fits", do_not_scale_image_data=True) as h:
            images.append([c.image for c in h[0].header.cards if c.keyword != "EXTEND"])
            np.testing.assert_array_equal(afits.getdata(tmp_path / f"{who}.fits"), data)
    assert images[0] == images[1]


def test_refused_image_types(tmp_path):
    p = tmp_path / "x.fits"
    for bad in [np.zeros(3, "f2"), np.zeros(3, bool), np.zeros(3, "c8"), np.zeros(3, object), np.array(1.0),
                np.zeros(3, "U2"), np.zeros(2, dtype=[("a", "f4")])]:
        with pytest.raises(jwstio.FormatError, match="HDU 1"):
            fits.write(p, [fits.PrimaryHDU(), fits.ImageHDU(bad)])
        assert not p.exists() and os.listdir(tmp_path) == []


def _table(rng, n=6):
    dt = [("u1", "u1"), ("i1", "i1"), ("i2", ">i2"), ("u2", "u2"), ("i4", "i4"), ("u4", ">u4"), ("i8", "i8"),
          ("u8", "u8"), ("f4", "f4"), ("f8", ">f8"), ("c8", "c8"), ("c16", ">c16"), ("b", "?"), ("s", "S5"),
          ("u", "U4"), ("vec", "f4", (3,)), ("mat", "i2", (2, 3)), ("bits", "?", (4,)), ("strs", "S3", (2,)),
          ("zero", "f8", (0,)), ("cplx", "c8", (2,))]
    t = np.zeros(n, dtype=dt)
    for name in t.dtype.names:
        base = t.dtype[name].base
        shape = (n, *t.dtype[name].shape)
        if base.kind in "iuf":
            t[name] = _image(base.newbyteorder("="), shape, rng)
        elif base.kind == "c":
            t[name] = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
        elif base.kind == "b":
            t[name] = rng.integers(0, 2, shape).astype(bool)
        elif base.kind == "S":
            t[name] = np.array([_text(rng, int(rng.integers(0, base.itemsize + 1)), "abc xyz") for _ in range(int(np.prod(shape)))],
                               dtype=base).reshape(shape)
        else:
            t[name] = [_text(rng, int(rng.integers(0, 5)), "abc XYZ") for _ in range(n)]
    return t


def _vla_table(rng, n=5):
    t = np.zeros(n, dtype=[("id", "i4"), ("pf", object), ("pd", object), ("pi", object), ("pl", object),
                           ("pa", object), ("pb", object), ("pc", object)])
    t["id"] = np.arange(n)
    t["pf"] = [rng.standard_normal(int(rng.integers(0, 6))).astype("f4") for _ in range(n)]
    t["pd"] = [rng.standard_normal(int(rng.integers(0, 6))) for _ in range(n)]
    t["pi"] = [rng.integers(-1000, 1000, int(rng.integers(0, 6))).astype(">i2") for _ in range(n)]
    t["pl"] = [rng.integers(0, 2, int(rng.integers(0, 6))).astype(bool) for _ in range(n)]
    t["pa"] = [_text(rng, int(rng.integers(0, 9)), "abc def") for _ in range(n)]
    t["pb"] = [rng.integers(0, 255, int(rng.integers(0, 6))).astype("u1") for _ in range(n)]
    t["pc"] = [(rng.standard_normal(2) + 1j).astype("c16") for _ in range(n)]
    return t


def _expected_columns(t):
    out = {}
    for n in t.dtype.names:
        col = t[n]
        if col.dtype.kind == "O":
            col = np.array([np.frombuffer(x.encode(), "S1") if isinstance(x, str) else x for x in col] + [None],
                           dtype=object)[:-1]
        out[n] = col
    return out


def test_tables_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    t = _table(rng)
    vla = _vla_table(rng)
    p = tmp_path / "tab.fits"
    fits.write(p, [fits.PrimaryHDU(), fits.BinTableHDU(t, name="T", units={"f4": "m / s", "u": "Jy"}),
                   fits.BinTableHDU(t[::-2], name="T", ver=2), fits.BinTableHDU(t[:0], name="EMPTY"),
                   fits.BinTableHDU(vla, name="VLA")])
    out_a, out_j = _read_both(p)
    assert all(len(out[3][3][n]) == 0 for out in (out_a, out_j) for n in t.dtype.names)
    for i, tab in [(1, t), (2, t[::-2])]:
        for name in t.dtype.names:
            exp = tab[name]
            for who, out in (("astropy", out_a), ("jwstio", out_j)):
                got = out[i][3][name]
                if exp.dtype.kind == "U":
                    exp = exp.astype("S").astype("U")
                if name == "i1":
                    # TZERO = -128 on a B column (FITS signed bytes): astropy and jwstio read float64
                    _same_values(np.asarray(got).astype("i1"), exp, f"{who} HDU {i} {name}")
                    assert np.asarray(got).dtype.kind == "f"
                    continue
                if name == "strs" and who == "astropy":
                    exp_s = exp.astype("U")
                    _same_values(np.asarray(got), exp_s, f"{who} HDU {i} {name}")
                    continue
                _same_values(np.asarray(got).astype(exp.dtype.newbyteorder("=")) if exp.dtype.kind == "S" else got,
                             exp.astype(exp.dtype.newbyteorder("=")) if exp.dtype.kind not in "SU" else exp,
                             f"{who} HDU {i} {name}")
    with afits.open(p) as ah:
        h = ah[1].header
        cols = {h[f"TTYPE{i}"]: (h[f"TFORM{i}"], h.get(f"TZERO{i}"), h.get(f"TDIM{i}"), h.get(f"TUNIT{i}"))
                for i in range(1, h["TFIELDS"] + 1)}
        assert cols["u2"] == ("I", 32768, None, None) and cols["u8"][:2] == ("K", 2**63)
        assert cols["i1"][:2] == ("B", -128) and cols["b"][0] == "L" and cols["u"] == ("4A", None, None, "Jy")
        assert cols["mat"] == ("6I", None, "(3,2)", None) and cols["strs"][:3] == ("6A", None, "(3,2)")
        assert cols["f4"][3] == "m / s" and cols["c16"][0] == "M" and cols["bits"][0] == "4L"
        assert ah["EMPTY"].header["NAXIS2"] == 0
        vh = ah["VLA"].header
        assert [vh[f"TFORM{i}"][:2] for i in range(2, 9)] == ["PE", "PD", "PI", "PL", "PA", "PB", "PM"]
        for name in vla.dtype.names[1:]:
            for k, x in enumerate(vla[name]):
                got = ah["VLA"].data[name][k]
                if isinstance(x, str):  # astropy: a chararray of the characters (blanks as '')
                    assert len(got) == len(x) and "".join(got) == x.replace(" ", ""), name
                else:
                    np.testing.assert_array_equal(np.asarray(got), x, err_msg=name)
    with fits.open(p) as f:
        for name in vla.dtype.names[1:]:
            for k, x in enumerate(vla[name]):
                got = f["VLA"].data[name][k]
                if isinstance(x, str):
                    assert np.asarray(got).reshape(-1)[0] == x, name
                else:
                    np.testing.assert_array_equal(np.asarray(got), x, err_msg=name)


def test_q_descriptors_when_the_heap_needs_them(tmp_path, monkeypatch):
    from jwstio import _write

    monkeypatch.setattr(_write, "_P_HEAP_LIMIT", 16)
    vla = _vla_table(np.random.default_rng(8))
    p = tmp_path / "q.fits"
    fits.write(p, [fits.PrimaryHDU(), fits.BinTableHDU(vla, name="VLA")])
    with afits.open(p) as ah, fits.open(p) as f:
        assert [ah[1].header[f"TFORM{i}"][:2] for i in range(2, 9)] == ["QE", "QD", "QI", "QL", "QA", "QB", "QM"]
        for name in ("pf", "pd", "pi", "pb", "pc"):
            for k, x in enumerate(vla[name]):
                np.testing.assert_array_equal(ah[1].data[name][k], x)
                np.testing.assert_array_equal(f[1].data[name][k], x)


def _astropy_and_ours(tmp_path, table):
    """The table written by astropy and by jwstio, each read back by astropy: (TTYPE/TFORM/TDIM
    cards, {name: column}) per file."""
    out = []
    for who in ("astropy", "jwstio"):
        p = tmp_path / f"{who}.fits"
        if who == "astropy":
            afits.HDUList([afits.PrimaryHDU(), afits.BinTableHDU(table)]).writeto(p)
        else:
            fits.write(p, [fits.PrimaryHDU(), fits.BinTableHDU(table)])
        with afits.open(p, checksum=True) as ah:
            h = ah[1].header
            cards = [(k, h[k]) for k in h if re.match(r"^T(TYPE|FORM|DIM)\d+$", k)]
            cols = {n: list(ah[1].data[n]) if ah[1].data[n].dtype == object else np.asarray(ah[1].data[n])
                    for n in ah[1].data.dtype.names}
        with fits.open(p) as f:
            assert list(f[1].data.dtype.names) == list(table.dtype.names), who
        out.append((cards, cols))
    return out


def test_vla_columns_keep_their_place(tmp_path):
    """Variable-length columns before fixed ones stay where they are (they were moved last)."""
    t = np.zeros(3, dtype=[("v", object), ("a", "f4"), ("w", object), ("b", "i2", (2,))])
    for k in range(3):
        t["v"][k] = np.arange(k, dtype="f8")
        t["w"][k] = np.arange(2 * k, dtype="i2")
    t["a"] = [1.5, -2, 3]
    t["b"] = [[1, 2], [3, 4], [5, 6]]
    (cards_a, cols_a), (cards_j, cols_j) = _astropy_and_ours(tmp_path, t)
    assert [v for k, v in cards_j if k.startswith("TTYPE")] == ["v", "a", "w", "b"]
    assert [c for c in cards_j if not c[0].startswith("TDIM")] == [c for c in cards_a if not c[0].startswith("TDIM")]
    assert list(cols_j) == list(cols_a)
    for n in cols_a:
        for x, y in zip(cols_j[n], cols_a[n]):
            np.testing.assert_array_equal(x, y, err_msg=n)


def test_sub_array_fields_keep_their_shape(tmp_path):
    """One-element and 1-d sub-array fields: TFORM and TDIM as astropy writes them (but TDIM
    of 1-d fields of 2+ elements), and the shape read back (an (n, 1) field came back (n,))."""
    t = np.zeros(3, dtype=[("a", "i2", (1,)), ("b", "?", (1,)), ("c", "f8", (2,)), ("d", "c8", (1, 1)),
                           ("e", "f4", (2, 1)), ("s", "S3", (1,)), ("u", "U2", (2,))])
    rng = np.random.default_rng(5)
    for n in t.dtype.names:
        t[n] = rng.integers(0, 9, t[n].shape).astype(t.dtype[n].base) if t.dtype[n].kind not in "SU" else "ab"
    t["b"][1] = True
    (cards_a, cols_a), (cards_j, cols_j) = _astropy_and_ours(tmp_path, t)
    # astropy also writes TDIM for 1-d number fields of 2+ elements (c); jwstio does not
    assert cards_j == [c for c in cards_a if c != ("TDIM3", "(2)")]
    for n in t.dtype.names:
        assert cols_j[n].shape == cols_a[n].shape == t[n].shape, n
        _same_values(cols_j[n], cols_a[n], n)
    with fits.open(tmp_path / "jwstio.fits") as f:
        for n in t.dtype.names:
            assert f[1].data[n].shape == t[n].shape, n


@pytest.mark.parametrize("dtype", ["i1", "u2", "u4", "u8"])
def test_vla_refusal_names_what_can_be_written(tmp_path, dtype):
    t = np.zeros(2, dtype=[("v", object)])
    t["v"][0], t["v"][1] = np.arange(3, dtype=dtype), np.arange(1, dtype=dtype)
    with pytest.raises(jwstio.FormatError, match=r"variable-length arrays of .* \(uint8, int16/32/64, floats"):
        fits.write(tmp_path / "v.fits", [fits.PrimaryHDU(), fits.BinTableHDU(t)])
    assert os.listdir(tmp_path) == []


def test_read_tables_written_back(tmp_path):
    """A table read by jwstio: whole (its stored record, heap and column keywords), a column
    subset or a FitsTable without a file (its converted columns), and an image first/primary
    later (converted as astropy does)."""
    rng = np.random.default_rng(9)
    t = _table(rng)
    vla = _vla_table(rng)
    src = tmp_path / "src.fits"
    scaled = afits.BinTableHDU.from_columns([afits.Column(name="sc", format="I", array=np.arange(6, dtype="i2"))],
                                            name="S")
    scaled.header["TSCAL1"] = 0.5  # stored 0..5, read 10, 10.5, ...
    scaled.header["TZERO1"] = 10.0
    afits.HDUList([afits.PrimaryHDU(), afits.BinTableHDU(t, name="T"), scaled]).writeto(src)
    fits.write(tmp_path / "vla.fits", [fits.PrimaryHDU(), fits.BinTableHDU(vla, name="V")])
    with fits.open(src) as f, fits.open(tmp_path / "vla.fits") as g:
        whole, sub, sc, v = f["T"].data, f["T"].data[["f4", "s", "u2"]], f["S"].data, g["V"].data
        plain = jwstio.fits.FitsTable.build(np.asarray(t[["i2", "f8"]]))
        out = tmp_path / "out.fits"
        fits.write(out, [fits.ImageHDU(np.arange(3.0), name="FIRST"), fits.BinTableHDU(whole, name="W"),
                         fits.BinTableHDU(sub, name="SUB"), fits.BinTableHDU(sc, name="SC"),
                         fits.BinTableHDU(v[1:4], name="V"), fits.BinTableHDU(plain, name="P"),
                         fits.PrimaryHDU(np.ones(2))])
        with fits.open(out) as o, afits.open(out) as ah:
            assert o[0].name == "FIRST" and o[0].kind == "primary" and o[6].kind == "image"
            for name in t.dtype.names:
                _same_values(np.asarray(o["W"].data[name]), np.asarray(whole[name]), name)
            assert ah["W"].header["TFORM1"] == f["T"].header["TFORM1"]
            for name in ("f4", "s", "u2"):
                _same_values(np.asarray(o["SUB"].data[name]), np.asarray(whole[name]), name)
            # the scaled column keeps its TSCAL/TZERO through the stored record
            assert ah["SC"].header["TSCAL1"] == 0.5 and ah["SC"].header["TZERO1"] == 10.0
            np.testing.assert_array_equal(ah["SC"].data["sc"], np.arange(6) * 0.5 + 10)
            for k in range(3):
                np.testing.assert_array_equal(o["V"].data["pd"][k], vla["pd"][k + 1])
                np.testing.assert_array_equal(ah["V"].data["pi"][k], vla["pi"][k + 1])
            np.testing.assert_array_equal(ah["P"].data["f8"], t["f8"])


def test_asdf_metadata_table(tmp_path):
    """The product writer's ASDF extension: one row, one ``nB`` field, written without copies."""
    blob = np.frombuffer(b"#ASDF 1.0.0\n" + os.urandom(3_000_000), np.uint8)
    rec = np.zeros(1, dtype=[("ASDF_METADATA", "u1", (len(blob),))])
    rec["ASDF_METADATA"][0] = blob
    p = tmp_path / "asdf.fits"
    fits.write(p, [fits.PrimaryHDU(), fits.BinTableHDU(rec, name="ASDF")], checksum=True)
    with afits.open(p, checksum=True) as ah:
        assert ah[1].header["TFORM1"] == f"{len(blob)}B" and "TDIM1" not in ah[1].header
        assert ah[1].data["ASDF_METADATA"][0].tobytes() == blob.tobytes()
    with fits.open(p) as f:
        assert f["ASDF"].data["ASDF_METADATA"][0].tobytes() == blob.tobytes()


def test_headers_in_every_form(tmp_path):
    rng = np.random.default_rng(3)
    cards = [("TELESCOP", "JWST", "telescope"), ("HISTORY", "one"), ("HISTORY", "two"), ("COMMENT", "c" * 200),
             ("", "blank text"), ("LONGSTR", "word " * 40, "long comment " * 8), ("ESO DET NAME", "chip", "hier"),
             ("DUP", 1), ("DUP", 2), ("NAXIS", 99, "ignored: structural"), ("BZERO", 5), ("F32", np.float32(0.1)),
             ("BIGINT", 2**70), ("UNDEF", None, "undefined"), ("CPLX", 1 + 2j), ("DP1.AXIS.1", 3.0)]
    a = _image("f4", (3, 4), rng)
    p = tmp_path / "h.fits"
    ah = afits.Header()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for c in cards:
            ah.append(c)
    fits.write(p, [fits.PrimaryHDU(a, header=cards), fits.ImageHDU(a, header={"A": 1, "B": ("x", "c")}),
                   fits.ImageHDU(a, header=ah, name="AST")])
    with fits.open(p) as f:
        h = f[0].header
        assert h["NAXIS"] == 2 and h["TELESCOP"] == "JWST" and h.comments["TELESCOP"] == "telescope"
        assert h["HISTORY"] == ["one", "two"] and h["COMMENT"] == ["c" * 72, "c" * 72, "c" * 56]
        assert h["LONGSTR"] == ("word " * 40).rstrip() and h["ESO DET NAME"] == "chip" and h[("DUP", 1)] == 2
        assert "BZERO" not in h and h["BIGINT"] == 2**70 and h["UNDEF"] is None and h["CPLX"] == 1 + 2j
        assert h["F32"] == 0.1 and h["DP1.AXIS.1"] == 3.0
        assert f[1].header["B"] == "x" and f[1].header.comments["B"] == "c"
        # a read header (jwstio's Header) and astropy's give the same cards again
        q = tmp_path / "h2.fits"
        fits.write(q, [fits.PrimaryHDU(a, header=f[0].header), fits.ImageHDU(a, header=f[2].header.to_astropy())])
    with afits.open(p) as x, afits.open(q) as y:
        # read values rewritten give the same values (astropy strips trailing blanks of strings)
        assert list(x[0].header.items()) == list(y[0].header.items())
        assert [i for i in x[2].header.items() if i[0] != "EXTNAME"] == [i for i in y[1].header.items() if i[0] != "EXTNAME"]


def test_astropy_header_keeps_comments(tmp_path):
    """An astropy Header (a Mapping too) is taken card by card: comments kept, the header block
    the same as astropy writes."""
    cards = [("TELESCOP", "JWST", "telescope"), ("HISTORY", "one"), ("LONGSTR", "word " * 20 + "end", "long comment " * 8),
             ("ESO DET NAME", "chip", "hier"), ("DUP", 1, "first"), ("DUP", 2, "second"), ("UNDEF", None, "undef"),
             ("DP1.AXIS.1", 3.0, "record"), ("COMMENT", "c")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ah = afits.Header([afits.Card(*c) for c in cards])
        fits.write(tmp_path / "j.fits", [fits.PrimaryHDU(np.ones(3), header=ah)])
        afits.PrimaryHDU(np.ones(3), header=ah).writeto(tmp_path / "a.fits")
    ours, theirs = [[b[i : i + 80] for i in range(0, 2880, 80)] for b in
                    ((tmp_path / f"{w}.fits").read_bytes()[:2880] for w in "ja")]
    # jwstio writes EXTEND = T in a single-HDU file too (astropy only when there are extensions)
    assert [c for c in ours if not c.startswith(b"EXTEND ")] + [b" " * 80] == theirs
    with fits.open(tmp_path / "j.fits") as f:
        h = f[0].header
        assert h.comments["TELESCOP"] == "telescope" and h.comments["ESO DET NAME"] == "hier"
        assert h.comments["LONGSTR"] == ("long comment " * 8).rstrip() and h.comments[("DUP", 1)] == "second"


def test_short_hierarch_keywords_stay_hierarch(tmp_path):
    """``HIERARCH abc`` (a short keyword astropy keeps as HIERARCH, case kept) from an astropy
    Header or a header read by jwstio is written as astropy writes it (it became ``ABC``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ah = afits.Header([afits.Card("HIERARCH abc", 1, "c"), afits.Card("HIERARCH XY", 2),
                           afits.Card("ESO A B", 3), afits.Card("PLAIN", 4)])
        afits.PrimaryHDU(np.ones(2), header=ah).writeto(tmp_path / "a.fits")
    with fits.open(tmp_path / "a.fits") as f:
        fits.write(tmp_path / "read.fits", [fits.PrimaryHDU(f[0].data, header=f[0].header)])
    fits.write(tmp_path / "ast.fits", [fits.PrimaryHDU(np.ones(2), header=ah)])
    fits.write(tmp_path / "tup.fits", [fits.PrimaryHDU(np.ones(2), header=[("HIERARCH abc", 1, "c"),
                                                                          ("HIERARCH XY", 2), ("ESO A B", 3),
                                                                          ("PLAIN", 4)])])
    def cards(name):  # without EXTEND (jwstio writes it in single-HDU files too)
        block = (tmp_path / f"{name}.fits").read_bytes()[:2880]
        return [c for c in (block[i : i + 80] for i in range(0, 2880, 80)) if c.strip() and c[:8] != b"EXTEND  "]

    for name in ("read", "ast", "tup"):
        assert cards(name) == cards("a"), name
    with afits.open(tmp_path / "read.fits") as h:
        assert h[0].header["abc"] == 1 and h[0].header.comments["abc"] == "c"


def test_names_upper_cased_as_astropy(tmp_path):
    """``name=`` gives EXTNAME in upper case as astropy's HDUs do; an EXTNAME card of a given
    header keeps its case (astropy keeps it too)."""
    hdus = [("dq", None), ("Sci 1", None), (None, [("EXTNAME", "lower")])]
    fits.write(tmp_path / "j.fits", [fits.PrimaryHDU()] + [fits.ImageHDU(np.ones(2), name=n, header=h)
                                                            for n, h in hdus])
    afits.HDUList([afits.PrimaryHDU()] + [afits.ImageHDU(np.ones(2), name=n, header=afits.Header(h or []))
                                          for n, h in hdus]).writeto(tmp_path / "a.fits")
    names = []
    for who in "ja":
        with afits.open(tmp_path / f"{who}.fits") as ah:
            names.append([h.header.get("EXTNAME") for h in ah[1:]])
    assert names[0] == names[1] == ["DQ", "SCI 1", "lower"]


def test_many_extvers(tmp_path):
    rng = np.random.default_rng(4)
    hdus = [fits.PrimaryHDU()] + [fits.ImageHDU(_image("i2", (2, 2), rng), name="SCI", ver=v) for v in range(1, 301)]
    p = tmp_path / "many.fits"
    fits.write(p, hdus)
    with fits.open(p) as f:
        assert len(f) == 301 and f[("SCI", 300)].ver == 300
        np.testing.assert_array_equal(f[("SCI", 150)].data, hdus[150].data)
    with afits.open(p) as ah:
        assert ah[("SCI", 299)].header["EXTVER"] == 299


def test_checksum_as_astropy_verifies(tmp_path):
    rng = np.random.default_rng(5)
    p = tmp_path / "c.fits"
    fits.write(p, [fits.PrimaryHDU(_image("u2", (7, 9), rng)), fits.ImageHDU(_image("f8", (3, 5), rng), name="X"),
                   fits.BinTableHDU(_vla_table(rng), name="V"), fits.BinTableHDU(_table(rng), name="T")], checksum=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # astropy warns on a checksum mismatch
        with afits.open(p, checksum=True) as ah:
            for h in ah:
                assert h._checksum_valid and h._datasum_valid  # noqa: SLF001
                assert h.verify_checksum() == 1 and h.verify_datasum() == 1


# --- HDUs read by jwstio, and the corpus sweep ---------------------------------------------------


def _astropy_files():
    from test_fits_astropy_data import FILES  # noqa: PLC0415

    return FILES


_SKIP_KEYS = {"CHECKSUM", "DATASUM"}


def _compare_files(orig, new, data_path):
    """The new file reads (astropy and jwstio) as the original: names, versions, header keyword
    values (CHECKSUM/DATASUM aside; scaling keywords aside when data was re-encoded) and data."""
    a0, j0 = _read_both(orig, checksum=False)
    a1, j1 = _read_both(new, checksum=False)
    assert len(a1) == len(a0) == len(j1)
    for i in range(len(a0)):
        assert a1[i][:2] == a0[i][:2], f"HDU {i} name/ver"
        skip = set(_SKIP_KEYS)
        if data_path:
            skip |= {"BSCALE", "BZERO", "BLANK", "EXTEND", "THEAP", "PCOUNT", "GCOUNT", "GROUPS"}
        def cards(cs):
            return [(k, v) for k, v in cs if k not in skip]
        assert _cards_equal(cards(a1[i][2]), cards(a0[i][2])) or data_path, f"HDU {i} header"
        if data_path:
            want = {k: v for k, v in cards(a0[i][2]) if not k.startswith(("NAXIS", "PCOUNT"))}
            got = {k: v for k, v in cards(a1[i][2])}
            for k, v in want.items():
                assert k in got, f"HDU {i}: {k} lost"
        _same_data(a1[i][3], a0[i][3], f"astropy HDU {i}")
        _same_data(j1[i][3], j0[i][3], f"jwstio HDU {i}")


def _corpus():
    files = [(os.path.basename(f), f) for f in _astropy_files()]
    real = "/work/shared/fixtures/real"
    files += [(os.path.basename(f), f) for f in sorted(glob.glob(os.path.join(real, "*.fits")))]
    return files


def _readable(path):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with afits.open(path, memmap=False) as ah:
                ah.readall()
                for h in ah:
                    h.data  # noqa: B018
    except Exception as e:  # noqa: BLE001
        return f"{type(e).__name__}: {e}"
    return None


CORPUS = _corpus()


@pytest.mark.parametrize("how", ["verbatim", "data"])
def test_corpus_written_back(tmp_path, how):
    """Every corpus file: read with jwstio, written with jwstio, read back by astropy and jwstio
    as the original. Files a reader refuses are listed; files jwstio refuses to write must be
    refused with a FormatError naming the HDU (listed, and only the kinds known unwritable)."""
    written, refused, unreadable = [], [], []
    for name, path in CORPUS:
        why = _readable(path)
        if why is not None:
            unreadable.append((name, why))
            continue
        out = tmp_path / f"{len(written)}_{name.replace('.gz', '')}"
        if not out.name.endswith((".fits", ".fit")):
            out = out.with_suffix(".fits")
        try:
            with fits.open(path) as f:
                hdus = list(f)
                if how == "data":
                    for h in hdus:
                        if not h._info["groups"]:  # jwstio reads no random-groups data
                            h.data  # noqa: B018  (written from data, not the stored bytes)
                fits.write(out, hdus)
        except jwstio.FormatError as e:
            assert "HDU" in str(e), str(e)
            refused.append((name, str(e)))
            assert not out.exists()
            continue
        try:
            _compare_files(path, out, how == "data")
        except AssertionError as e:
            raise AssertionError(f"{path}: {e}") from None
        written.append(name)
    print(f"\n{how}: written {len(written)}, refused {len(refused)}, unreadable {len(unreadable)}")
    for name, why in refused + unreadable:
        print(f"  {name}: {why[:150]}")
    assert len(written) >= 50
    for name, why in refused:
        assert "non-standard" in why or "random-groups" in why, (name, why)


@pytest.mark.parametrize("take_data", [False, True])
def test_ascii_table_copied_with_blank_fill(tmp_path, take_data):
    """An ASCII table read by jwstio and written back: its data unit padded with blanks as the
    standard requires (it was padded with zeros), the same bytes as astropy's file."""
    src, out = tmp_path / "src.fits", tmp_path / "out.fits"
    asc = afits.TableHDU.from_columns([afits.Column(name="a", format="E12.4", array=np.arange(3.0)),
                                       afits.Column(name="s", format="A5", array=np.array(["ab", "", "xyz"]))],
                                      name="ASC")
    afits.HDUList([afits.PrimaryHDU(), asc]).writeto(src)
    with fits.open(src) as f:
        if take_data:
            f["ASC"].data
        fits.write(out, list(f), checksum=True)
    with afits.open(src) as a, afits.open(out, checksum=True) as b:
        fa, fb = a.fileinfo(1), b.fileinfo(1)
        raw_a, raw_b = src.read_bytes(), out.read_bytes()
        assert raw_b[fb["datLoc"] : fb["datLoc"] + fb["datSpan"]] == raw_a[fa["datLoc"] : fa["datLoc"] + fa["datSpan"]]
        for n in ("a", "s"):
            _same_values(b[1].data[n], a[1].data[n], n)
    if FITSVERIFY:
        assert _fitsverify(out)[0] == []


def test_read_hdus_moved(tmp_path):
    """Read HDUs written at other positions (stored cards and data copied): a primary HDU as an
    extension, an extension as the primary HDU."""
    from test_fits_astropy_data import DATA  # noqa: PLC0415

    names = ["fixed-1890.fits", "arange.fits", "test0.fits", "scale.fits", "tb.fits"]
    for n in names:
        src = os.path.join(DATA, n)
        out = tmp_path / f"moved_{n}"
        with fits.open(src) as f:
            hdus = list(f)
            moved = [hdus[1]] + hdus if len(hdus) > 1 and hdus[1].kind == "image" else [fits.PrimaryHDU()] + hdus
            fits.write(out, moved)
        with afits.open(src) as a, afits.open(out) as b:
            off = len(b) - len(a)
            for i, h in enumerate(a):
                x, y = h.data, b[i + off].data
                if x is None:
                    assert y is None or y.size == 0, n
                elif x.dtype.names:
                    assert x.dtype.names == y.dtype.names and all(np.array_equal(x[c], y[c]) for c in x.dtype.names), n
                else:
                    np.testing.assert_array_equal(y, x, err_msg=n)
        if FITSVERIFY:
            errors, _, _, text = _fitsverify(out)
            assert not errors, text


def _products():
    import products  # noqa: PLC0415

    return [n for n, (_, _, cls) in products.PRODUCTS.items() if cls]


def test_products_written_back(tmp_path):
    import products  # noqa: PLC0415

    names = _products()
    for n in names:
        (tmp_path / n).mkdir()
        src = products.write(n, tmp_path / n, np.random.default_rng(11), **products.STRESS)
        for how in ("verbatim", "data"):
            out = tmp_path / f"{n}_{how}.fits"
            with fits.open(src) as f:
                hdus = list(f)
                if how == "data":
                    for h in hdus:
                        h.data  # noqa: B018
                fits.write(out, hdus, checksum=how == "verbatim")
            _compare_files(src, out, how == "data")
            if how == "verbatim":
                with warnings.catch_warnings():
                    warnings.simplefilter("error")
                    with afits.open(out, checksum=True) as ah:
                        assert all(h.verify_checksum() == 1 for h in ah)
    assert len(names) >= 30


# --- fitsverify ----------------------------------------------------------------------------------


def _fitsverify(path):
    r = subprocess.run([FITSVERIFY, str(path)], capture_output=True, text=True, check=False)
    text = r.stdout + r.stderr
    errors = [ln for ln in text.splitlines() if ln.strip().startswith("*** Error")]
    warns = [ln for ln in text.splitlines() if ln.strip().startswith("*** Warning")]
    total = [ln for ln in text.splitlines() if "Verification found" in ln]
    return errors, warns, total, text


def _astropy_hdus(name, rng):
    """The same HDUs built by jwstio and by astropy (the baseline of fitsverify warnings)."""
    if name == "images":
        cards = [("HISTORY", "x" * 100), ("LONG", "s" * 100)]
        prim = _image("u2", (9, 8), rng)
        imgs = [(d, _image(d, (4, 5), rng)) for d in IMAGE_DTYPES]
        ours = [fits.PrimaryHDU(prim, header=cards)] + [fits.ImageHDU(a, name=d) for d, a in imgs]
        ah = afits.Header()
        for c in cards:
            ah.append(c, bottom=True)
        theirs = [afits.PrimaryHDU(prim, header=ah)] + [afits.ImageHDU(a, name=d) for d, a in imgs]
        return ours, theirs
    t = _table(rng)
    vla = _vla_table(rng)
    ours = [fits.PrimaryHDU(), fits.BinTableHDU(t, name="T", units={"f4": "m"}), fits.BinTableHDU(vla, name="V")]
    cols = [afits.Column(name=n, format=f, array=vla[n]) for n, f in
            [("id", "J"), ("pf", "PE()"), ("pd", "PD()"), ("pi", "PI()"), ("pl", "PL()"), ("pa", "PA()"),
             ("pb", "PB()"), ("pc", "PM()")]]
    at = afits.BinTableHDU(t, name="T")
    at.columns["f4"].unit = "m"
    theirs = [afits.PrimaryHDU(), at, afits.BinTableHDU.from_columns(cols, name="V")]
    return ours, theirs


def _warning_texts(lines):
    return {ln.split("Warning:", 1)[1].strip() for ln in lines}


@pytest.mark.skipif(FITSVERIFY is None, reason="fitsverify is not installed (Debian package fitsverify)")
@pytest.mark.parametrize("name", ["images", "tables"])
@pytest.mark.parametrize("checksum", [False, True])
def test_fitsverify_generated(tmp_path, name, checksum):
    """0 errors; no warning that astropy's output of the same data does not also get."""
    ours, theirs = _astropy_hdus(name, np.random.default_rng(6))
    p, ref = tmp_path / "ours.fits", tmp_path / "astropy.fits"
    fits.write(p, ours, checksum=checksum)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        afits.HDUList(theirs).writeto(ref, checksum=checksum)
    errors, warns, total, text = _fitsverify(p)
    assert total and not errors and " 0 error(s)" in total[0], text
    ref_warns = _fitsverify(ref)[1]
    assert _warning_texts(warns) <= _warning_texts(ref_warns), text


@pytest.mark.skipif(FITSVERIFY is None, reason="fitsverify is not installed (Debian package fitsverify)")
def test_fitsverify_products(tmp_path):
    """Products read and written again from their data (with checksums): 0 errors; only the
    warnings of the astropy-written original."""
    import products  # noqa: PLC0415

    for n in ["cal", "x1d", "uncal_tables", "cal_mos", "ami_oi", "cal_source", "s3d"]:
        (tmp_path / n).mkdir()
        src = products.write(n, tmp_path / n, np.random.default_rng(12), **products.STRESS)
        p = tmp_path / f"{n}_again.fits"
        with fits.open(src) as f:
            hdus = list(f)
            for h in hdus:
                h.data  # noqa: B018
            fits.write(p, hdus, checksum=True)
        errors, warns, total, text = _fitsverify(p)
        assert total and not errors and " 0 error(s)" in total[0], text
        assert _warning_texts(warns) <= _warning_texts(_fitsverify(src)[1]), text


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "hdus, match",
    [
        (lambda: [fits.PrimaryHDU(header=[("X", float("nan"))])], "HDU 0: keyword 'X'.*nan"),
        (lambda: [fits.PrimaryHDU(), fits.ImageHDU(header=[("X", np.float32("inf"))])], "HDU 1: keyword 'X'"),
        (lambda: [fits.PrimaryHDU(header=[("X", "café")])], "keyword 'X'.*ASCII"),
        (lambda: [fits.PrimaryHDU(header=[("X", 1, "comment é")])], "keyword 'X'.*comments"),
        (lambda: [fits.PrimaryHDU(header=[("BAD=KEY", 1)])], "Illegal keyword"),
        (lambda: [fits.PrimaryHDU(header=[("END", 1)])], "END"),
        (lambda: [fits.PrimaryHDU(header=[("X", b"bytes")])], "Illegal value"),
        (lambda: [fits.PrimaryHDU(header=[("X", 10**80)])], "does not fit"),
        (lambda: [fits.PrimaryHDU(), fits.BinTableHDU(np.array([(1, {"a": 1})], dtype=[("a", "i4"), ("o", object)]))],
         "column 'o'"),
        (lambda: [fits.PrimaryHDU(), fits.BinTableHDU(np.array([("é",), ("a",)], dtype=[("u", "U3")]))],
         "column 'u'.*ASCII"),
        (lambda: [fits.PrimaryHDU(), fits.BinTableHDU(np.zeros(2, [("a", "f4")]), units={"b": "m"})], "'b'"),
        (lambda: [fits.BinTableHDU(np.zeros(2, [("a", "f4")]))], "HDU 0: the first HDU"),
        (lambda: [fits.PrimaryHDU(), fits.ImageHDU(np.zeros(2), name=5)], "name"),
        (lambda: [fits.PrimaryHDU(), "nope"], "not an HDU"),
        (lambda: [fits.PrimaryHDU(header=[(5, 1)])], "keyword 5 is not a string"),
        (lambda: [fits.PrimaryHDU(header=[("A", 1, 2)])], "comment 2 is not a string"),
        (lambda: [fits.PrimaryHDU(header=[("A",)])], "tuples"),
        (lambda: [fits.PrimaryHDU(np.zeros(3), header=[("A", 1)]), fits.ImageHDU(np.zeros(2), ver="1")], "ver"),
        (lambda: [fits.PrimaryHDU(), fits.BinTableHDU(np.zeros(3))], "structured"),
        (lambda: [fits.PrimaryHDU(), fits.BinTableHDU(np.zeros(2, [("a", "f2")]))], "column 'a'"),
        (lambda: [fits.PrimaryHDU(), fits.BinTableHDU(np.zeros(2, [("v", object)]))], "column 'v'"),
    ],
)
def test_errors_write_nothing(tmp_path, hdus, match):
    p = tmp_path / "bad.fits"
    with pytest.raises(jwstio.FormatError, match=match) as e:
        fits.write(p, hdus())
    assert str(p) in str(e.value)
    assert os.listdir(tmp_path) == []


def test_overwrite_and_targets(tmp_path):
    p = tmp_path / "t.fits"
    fits.write(p, [fits.PrimaryHDU(np.zeros(3))])
    old = p.read_bytes()
    with pytest.raises(jwstio.errors.FileExistsError) as e:
        fits.write(p, [fits.PrimaryHDU(np.ones(3))])
    assert isinstance(e.value, FileExistsError) and isinstance(e.value, jwstio.JwstioError) and str(p) in str(e.value)
    assert p.read_bytes() == old
    fits.write(p, [fits.PrimaryHDU(np.ones(3))], overwrite=True)
    np.testing.assert_array_equal(afits.getdata(p), np.ones(3))
    with pytest.raises(jwstio.errors.FileNotFoundError):
        fits.write(tmp_path / "missing" / "x.fits", [fits.PrimaryHDU()])
    with pytest.raises(OSError):
        fits.write(tmp_path, [fits.PrimaryHDU()], overwrite=True)
    assert sorted(os.listdir(tmp_path)) == ["t.fits"]


def test_bytes_and_relative_paths(tmp_path, monkeypatch):
    """A bytes path (as astropy takes) and a relative one (the folder is '.')."""
    monkeypatch.chdir(tmp_path)
    fits.write(os.fsencode(tmp_path / "b.fits"), [fits.PrimaryHDU(np.arange(3.0))])
    fits.write("r.fits", [fits.PrimaryHDU(np.arange(3.0))])
    for name in ("b.fits", "r.fits"):
        np.testing.assert_array_equal(afits.getdata(tmp_path / name), np.arange(3.0))
    assert sorted(os.listdir(tmp_path)) == ["b.fits", "r.fits"]


# --- atomicity -----------------------------------------------------------------------------------

_WRITER = r"""
import sys, numpy as np
from jwstio import fits
path, seed, overwrite = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
rng = np.random.default_rng(seed)
hdus = [fits.PrimaryHDU(header=[("SEED", seed)])]
for i in range(20):
    hdus.append(fits.ImageHDU(np.full((1000, 2500), seed, dtype="f4"), name="SCI", ver=i + 1))
print("ready", flush=True)
fits.write(path, hdus, overwrite=overwrite)
print("done", flush=True)
"""


def _temps(folder):
    return [n for n in os.listdir(folder) if n.startswith(".") and ".jwstio-" in n and n.endswith(".tmp")]


def _check_target(path, allowed_seeds):
    """The target is absent, or one complete file of an allowed seed."""
    if not os.path.exists(path):
        return None
    with afits.open(path, memmap=False) as ah:
        seed = ah[0].header["SEED"]
        assert seed in allowed_seeds
        assert len(ah) == 21
        assert float(ah[20].data[-1, -1]) == seed
    return seed


def test_sigkill_leaves_old_or_new(tmp_path):
    """A writer of a 200 MB file SIGKILLed at random moments: the target is always the old file
    (byte-equal) or the complete new one; only temp files of the documented pattern remain."""
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    target = tmp_path / "big.fits"
    proc = subprocess.Popen([sys.executable, str(script), str(target), "1", "0"], stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"ready"
    t_ready = time.monotonic()
    assert proc.wait() == 0
    write_time = time.monotonic() - t_ready  # kill moments spread over the write (and a bit after)
    old = target.read_bytes()
    rnd = random.Random(0)
    t0 = time.monotonic()
    kills = completed = 0
    for i in range(40):
        proc = subprocess.Popen([sys.executable, str(script), str(target), str(2 + i), "1"], stdout=subprocess.PIPE)
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(rnd.uniform(0.0, 1.2 * write_time))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        data = target.read_bytes()
        if data == old:
            kills += 1
        else:
            seed = _check_target(target, {2 + i})
            assert seed == 2 + i
            completed += 1
            old = data
        for t in _temps(tmp_path):
            os.remove(tmp_path / t)  # what a SIGKILL can leave (cleanup impossible)
        assert sorted(os.listdir(tmp_path)) == ["big.fits", "writer.py"]
        if time.monotonic() - t0 > 240:  # bounded on a slow machine
            break
    assert i >= 29 and kills >= 10


def test_rewrite_the_file_being_read(tmp_path):
    """Writing over the file whose HDUs are being copied: the new file is complete (the old one
    stays mapped until the rename), and arrays read before stay valid."""
    p = tmp_path / "same.fits"
    a = np.arange(20000, dtype=">i4").reshape(100, 200)
    fits.write(p, [fits.PrimaryHDU(a), fits.BinTableHDU(_vla_table(np.random.default_rng(1)), name="V")])
    with fits.open(p) as f:
        before = f[0].data
        fits.write(p, list(f) + [fits.ImageHDU(np.ones(3), name="NEW")], overwrite=True)
        np.testing.assert_array_equal(before, a)
    with fits.open(p) as g, afits.open(p) as ah:
        assert [h.name for h in g] == ["PRIMARY", "V", "NEW"]
        np.testing.assert_array_equal(ah[0].data, a)
        assert len(ah["V"].data) == 5
    assert os.listdir(tmp_path) == ["same.fits"]


def test_clean_error_in_last_hdu_leaves_nothing(tmp_path):
    p = tmp_path / "x.fits"
    hdus = [fits.PrimaryHDU(np.zeros((1000, 1000)))] + [fits.ImageHDU(np.zeros((500, 500))) for _ in range(5)]
    hdus.append(fits.ImageHDU(np.zeros(3), header=[("BAD", float("nan"))]))
    with pytest.raises(jwstio.FormatError, match="HDU 6: keyword 'BAD'"):
        fits.write(p, hdus)
    assert os.listdir(tmp_path) == []
    fits.write(p, hdus[:-1])
    with pytest.raises(jwstio.FormatError):
        fits.write(p, hdus, overwrite=True)
    assert os.listdir(tmp_path) == ["x.fits"]


def test_concurrent_writers(tmp_path):
    """Two processes writing the same name at once: one complete valid file, no temp files."""
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    for rep in range(4):
        target = tmp_path / f"c{rep}.fits"
        for overwrite in ("1", "0"):
            if target.exists():
                target.unlink()
            procs = [subprocess.Popen([sys.executable, str(script), str(target), str(100 + k), overwrite],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE) for k in range(2)]
            outs = [p.communicate() for p in procs]
            codes = [p.returncode for p in procs]
            if overwrite == "1":
                assert codes == [0, 0], outs
            else:  # exactly one wins; the other is refused cleanly
                assert sorted(codes) == [0, 1], outs
                loser = outs[codes.index(1)][1].decode()
                assert "FileExistsError" in loser, loser
            _check_target(target, {100, 101})
            assert not _temps(tmp_path)


# --- edits to converted columns of a read table (astropy keeps them: FITS_rec._scale_back) ---------


def _edit_table_file(path):
    cols = [
        afits.Column("u", format="I", bzero=32768, array=np.array([1, 2, 60000], "u2")),
        afits.Column("w", format="J", bzero=2**31, array=np.array([1, 2, 4_000_000_000], "u4")),
        afits.Column("s", format="5A", array=np.array(["a", "bb", "ccc"])),
        afits.Column("l", format="L", array=np.array([True, False, True])),
        afits.Column("x", format="3X", array=np.array([[1, 0, 1], [0, 0, 0], [1, 1, 1]], bool)),
        afits.Column("f", format="E", bscale=0.5, bzero=10, array=np.array([10.5, 11, 12], "f4")),
        afits.Column("k", format="J", array=np.array([1, 2, 3], "i4")),
        afits.Column("v", format="PJ()", array=np.array([np.array([1, 2]), np.array([3]), np.array([], "i4")], dtype=object)),
    ]
    t = afits.BinTableHDU.from_columns(cols, name="T")
    afits.HDUList([afits.PrimaryHDU(), t]).writeto(path)
    # An integer column with TSCAL/TZERO (physical 3, 5, 7): astropy 8 cannot write one from values.
    with afits.open(path, mode="update") as f:
        f[1].header.insert("TFORM7", ("TSCAL7", 2), after=True)
        f[1].header.insert("TSCAL7", ("TZERO7", 1), after=True)


def _edit(t, vla, astropy=False):
    t["u"][0] = 7
    t["w"][2] = 5
    t.field("s")[1] = "zz"
    t["l"][1] = True
    t["x"][1, 2] = True
    t["f"][2] = 20.5
    if not astropy:  # astropy 8's _scale_back fails on integer columns with TSCAL
        t["k"][0] = 11
    t["l"] = t["l"]  # whole-column assignment through __setitem__
    if vla:
        t["v"][2] = np.array([9, 9, 9], "i4")


@pytest.mark.parametrize("vla", [False, True], ids=["fixed", "with-vla-edit"])
def test_edits_to_converted_columns_are_written(tmp_path, vla):
    src = tmp_path / "t0.fits"
    _edit_table_file(src)
    with afits.open(src) as a:
        _edit(a[1].data, vla, astropy=True)
        a.writeto(tmp_path / "astropy.fits")
    with fits.open(src) as f:
        t = f["T"].data
        _edit(t, vla)
        assert t["u"] is t["u"]  # converted columns are kept, as astropy keeps them
        fits.write(tmp_path / "jwstio.fits", [fits.PrimaryHDU(), f["T"]])
    with afits.open(tmp_path / "astropy.fits") as a, afits.open(tmp_path / "jwstio.fits") as j:
        ea, ej = a[1].data, j[1].data
        for name in ea.names:
            if name == "k":
                np.testing.assert_array_equal(ej[name], [11, 5, 7])
                assert ej[name].dtype.kind == "f"
            elif name == "v":
                assert [list(r) for r in ej[name]] == [list(r) for r in ea[name]]
            else:
                np.testing.assert_array_equal(ej[name], ea[name], err_msg=name)
                if not vla:  # a handed-out variable-length column: written from values (README)
                    assert ej[name].dtype == ea[name].dtype, name
        if not vla:
            assert ej.columns.formats == ea.columns.formats
    with fits.open(tmp_path / "jwstio.fits") as g:
        assert g["T"].data["u"][0] == 7 and g["T"].data["s"][1] == "zz" and g["T"].data["k"][0] == 11


def test_non_ascii_edit_to_a_text_column_is_refused(tmp_path):
    src = tmp_path / "t0.fits"
    _edit_table_file(src)
    with fits.open(src) as f:
        f["T"].data["s"][0] = "é"
        with pytest.raises(ValueError, match="not ASCII"):
            fits.write(tmp_path / "out.fits", [fits.PrimaryHDU(), f["T"]])
    assert sorted(os.listdir(tmp_path)) == ["t0.fits"]
