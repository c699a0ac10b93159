"""Shared fixtures.

Real MeasurementSets come from pyuvdata 2.4.5's ``data/`` folder, found
without importing pyuvdata.  Tests that change an MS work on a copy in
``tmp_path``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest


def pyuvdata_data_dir() -> str | None:
    spec = importlib.util.find_spec("pyuvdata")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], "data")
    return path if os.path.isdir(path) else None


DATA_DIR = pyuvdata_data_dir()
REFERENCE_DIR = os.path.abspath(os.path.join(
    os.path.dirname(__file__), "..", "..", "shared", "reference", "casa-6.7.0"))

#: the MSs in pyuvdata 2.4.5's data folder
REAL_MSS = sorted(n for n in os.listdir(DATA_DIR) if n.endswith(".ms")) if DATA_DIR else []


@pytest.fixture(scope="session")
def data_dir():
    if DATA_DIR is None:
        pytest.fail("pyuvdata 2.4.5 is not installed: install the test extra "
                    "(pip install -e '.[test]')")
    return DATA_DIR


@pytest.fixture(scope="session")
def reference_dir():
    if not os.path.isdir(REFERENCE_DIR):
        pytest.fail(f"CASA reference outputs not found at {REFERENCE_DIR}")
    return REFERENCE_DIR


@pytest.fixture
def ms_copy(data_dir, tmp_path):
    """ms_copy('name.ms') -> path of a fresh copy of a pyuvdata MS in tmp_path."""

    def _copy(name: str) -> str:
        dst = tmp_path / name
        shutil.copytree(os.path.join(data_dir, name), dst)
        return str(dst)

    return _copy


@pytest.fixture(autouse=True)
def _session_log(tmp_path, monkeypatch):
    """Every test logs to its own file in tmp_path, never into the checkout."""
    from casashell.logsink import casalog
    old = casalog._logfile
    old_filter = casalog.getFilter()
    path = tmp_path / "casa-test.log"
    casalog.setlogfile(str(path))
    yield
    casalog._logfile = old
    casalog.filter(old_filter)
    casalog.origin("")
    casalog.showconsole(False)
