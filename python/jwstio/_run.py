"""``jwstio run -- CMD ...``: run a command with every Python process of it reading JWST models
through jwstio (``jwstio.stdatamodels.install()``), e.g. ``jwstio run -- strun calwebb_image3 asn.json``.

It sets ``JWSTIO_STDATAMODELS=1`` and puts a ``sitecustomize`` hook first on ``PYTHONPATH``;
the hook installs the switch at interpreter start-up when stdatamodels is installed. This module
does not import ``jwstio.stdatamodels`` (nor stdatamodels)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence

ENV_VAR = "JWSTIO_STDATAMODELS"
HOOK_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stdatamodels", "_hook")


def environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment ``jwstio run`` gives the command."""
    env = dict(os.environ if base is None else base)
    env[ENV_VAR] = "1"
    old = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = HOOK_DIR + (os.pathsep + old if old else "")
    return env


def run(cmd: Sequence[str], report: bool = False) -> int:
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        print("jwstio run: no command given (jwstio run -- CMD ...)", file=sys.stderr)
        return 2
    env = environment()
    if report:
        env["JWSTIO_STDATAMODELS_REPORT"] = "1"
    try:
        return subprocess.call(list(cmd), env=env)
    except FileNotFoundError:
        print(f"jwstio run: command not found: {cmd[0]}", file=sys.stderr)
        return 127
