"""Put on ``PYTHONPATH`` by ``jwstio run``: every Python process of the command reads JWST
models through jwstio (``jwstio.stdatamodels.install()``) when ``JWSTIO_STDATAMODELS=1``.

An interpreter whose own ``sitecustomize`` this file shadows gets it run afterwards."""

import os
import sys


def _chain() -> None:
    """Run the next ``sitecustomize`` on the path (the one this file shadows), if any."""
    import importlib.machinery
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.loader is not None and os.path.dirname(os.path.abspath(spec.origin or "")) != here:
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)


def _install() -> None:
    if os.environ.get("JWSTIO_STDATAMODELS", "") not in ("1", "true", "yes"):
        return
    try:
        import stdatamodels  # noqa: F401
    except ImportError:
        return  # a process without stdatamodels (pip, a shell helper, ...): nothing to switch
    import atexit
    import logging

    from jwstio import stdatamodels as jsd

    names = jsd.install()
    log = logging.getLogger("jwstio.stdatamodels")
    log.debug("jwstio run: reading through jwstio (%d names patched: %s)", len(names), ", ".join(names))

    def report() -> None:
        s = jsd.stats()
        msg = (f"jwstio: {s['open_fast']} opens built by jwstio, {s['open_fallback']} by stdatamodels; "
               f"read_metadata {s['read_metadata_fast']} by jwstio, {s['read_metadata_fallback']} by stdatamodels")
        log.debug(msg)
        if os.environ.get("JWSTIO_STDATAMODELS_REPORT"):
            print(msg, file=sys.stderr)

    atexit.register(report)


_chain()
_install()
