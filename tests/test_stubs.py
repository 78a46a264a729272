"""The type stub of the Rust module matches what the module exports (mypy's stubtest)."""

import subprocess
import sys

import pytest

pytest.importorskip("mypy")


def test_core_stub_matches_runtime():
    r = subprocess.run([sys.executable, "-m", "mypy.stubtest", "jwstio._core"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
