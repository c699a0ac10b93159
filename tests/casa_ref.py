"""Running NRAO's CASA 6.7 itself, to compare with it live.

CASA (``casatasks==6.7.0.31`` + ``casadata``) lives in its own virtual
environment; ``.ci/run`` makes it and exports

    CASASHELL_CASA_PYTHON   that environment's python
    CASASHELL_CASA_HOME     a HOME whose .casa/config.py points CASA at casadata
                            and turns its network updates off

Tests marked ``requires_casa`` run only when CASASHELL_CASA_PYTHON is set (the
README says so); everything else never needs CASA.

Use ``run_casa(code, cwd)``: ``code`` runs in CASA's Python with ``casatasks``
importable and must assign a JSON-serialisable ``result`` (numpy values are
converted).  Start CASA as few times as possible (each start costs ~2 s):
batch a module's commands into one call in a module-scoped fixture.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap

import pytest

CASA_PYTHON = os.environ.get("CASASHELL_CASA_PYTHON", "")
CASA_HOME = os.environ.get("CASASHELL_CASA_HOME", "")

requires_casa = pytest.mark.skipif(
    not CASA_PYTHON,
    reason="CASA 6.7 is not installed: .ci/run installs it and sets CASASHELL_CASA_PYTHON "
           "(see README, Tests)")

_PRELUDE = """
import json, sys
import numpy as np

def _plain(o):
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, (bytes, bytearray)):
        return o.decode('utf-8', 'replace')
    raise TypeError(type(o).__name__)

result = None
"""

_EPILOGUE = """
sys.stdout.write("\\nCASA-RESULT " + json.dumps(result, default=_plain) + "\\n")
"""


def casa_env() -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    if CASA_HOME:
        env["HOME"] = CASA_HOME
    env["PYTHONNOUSERSITE"] = "1"
    return env


def run_casa(code: str, cwd: str, timeout: float = 600):
    """Run ``code`` in CASA's Python in ``cwd``; return its ``result``."""
    if not CASA_PYTHON:
        raise RuntimeError("CASASHELL_CASA_PYTHON is not set")
    script = _PRELUDE + textwrap.dedent(code) + _EPILOGUE
    proc = subprocess.run([CASA_PYTHON, "-c", script], cwd=cwd, env=casa_env(),
                          capture_output=True, text=True, timeout=timeout)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("CASA-RESULT "):
            return json.loads(line[len("CASA-RESULT "):])
    raise RuntimeError(f"CASA failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
