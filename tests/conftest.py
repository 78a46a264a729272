"""Test-session settings: jwstio's disk cache (merged stdatamodels schemas) goes to a folder of
this session, not the user's ~/.cache, and the pipeline subprocesses inherit it."""

import atexit
import os
import shutil
import tempfile

if "JWSTIO_CACHE_DIR" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="jwstio-test-cache-")
    os.environ["JWSTIO_CACHE_DIR"] = _cache
    atexit.register(shutil.rmtree, _cache, True)
