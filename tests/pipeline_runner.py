"""Run one offline jwst step or pipeline, plainly or reading through jwstio; print a JSON line
with the wall time, the time spent in model reads (open + read_metadata, outermost calls), in
``DataModel.save`` calls, and jwstio's counts. Used by tests/test_pipeline.py and benches/bench_pipeline.py in subprocesses
(each run gets a fresh interpreter, so no state is shared between the two runs).

    python pipeline_runner.py {plain|jwstio} {image3|combine1d|resample|mtwcs} INPUT OUTDIR
"""

import importlib
import json
import os
import sys
import threading
import time

NAMES = [
    ("stdatamodels.jwst.datamodels", "open"), ("stdatamodels.jwst.datamodels.util", "open"),
    ("stdatamodels.jwst.datamodels", "read_metadata"), ("stdatamodels.jwst.datamodels.util", "read_metadata"),
    ("jwst.datamodels", "open"), ("jwst.datamodels.container", "datamodel_open"),
    ("jwst.datamodels.library", "datamodels_open"), ("jwst.datamodels.library", "read_metadata"),
    ("jwst.stpipe.core", "read_metadata"),
]

_state = threading.local()
_read_seconds = [0.0]
_calls = [0]
_save_seconds = [0.0]
_saves = [0]


def _timed(fn, seconds=_read_seconds, calls=_calls, key="depth"):
    def wrapper(*args, **kwargs):
        if getattr(_state, key, 0):
            return fn(*args, **kwargs)
        setattr(_state, key, 1)
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            seconds[0] += time.perf_counter() - t0
            calls[0] += 1
            setattr(_state, key, 0)

    wrapper.__wrapped__ = fn
    return wrapper


def main(mode, what, inp, outdir):
    if mode == "jwstio":
        from jwstio import stdatamodels as jsd

        jsd.install()
    for mod, attr in NAMES:
        m = importlib.import_module(mod)
        setattr(m, attr, _timed(getattr(m, attr)))
    from stdatamodels.model_base import DataModel  # saves (jwstio's writer when installed)

    DataModel.save = _timed(DataModel.save, _save_seconds, _saves, "save_depth")
    os.makedirs(outdir, exist_ok=True)
    t0 = time.perf_counter()
    if what == "image3":
        from jwst.pipeline import Image3Pipeline

        Image3Pipeline.call(inp, output_dir=outdir, save_results=True, steps={"source_catalog": {"skip": True}})
    elif what == "combine1d":
        from jwst.combine_1d import Combine1dStep

        Combine1dStep.call(inp, output_dir=outdir, save_results=True)
    elif what == "resample":
        from jwst.resample import ResampleStep

        ResampleStep.call(inp, output_dir=outdir, save_results=True)
    elif what == "mtwcs":
        from jwst.assign_mtwcs import AssignMTWcsStep

        AssignMTWcsStep.call(inp, output_dir=outdir, save_results=True)
    else:
        raise SystemExit(f"unknown step {what}")
    wall = time.perf_counter() - t0
    out = {"wall": wall, "reads": _read_seconds[0], "read_calls": _calls[0], "saves": _save_seconds[0],
           "save_calls": _saves[0]}
    if mode == "jwstio":
        out.update(jsd.stats())
    print("RESULT " + json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:5])
