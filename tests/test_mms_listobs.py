"""listobs on a Multi-MS lists it as one MS: the same text (bar the MS name)
and the same returned dict as listobs on the MS it was partitioned from, for
every separation axis (CASA 6.7 does the same: checked by hand, its listobs
of an MMS equals that of the MS)."""

from __future__ import annotations

import os
import shutil

import pytest

from casashell import config
from casa_ref import requires_casa, run_casa
from test_parallel import use_config

SELECTIONS = (dict(), dict(listunfl=True), dict(verbose=False),
              dict(scan="2,3", spw="1"), dict(field="1", antenna="ea02"))


@pytest.fixture(scope="module", autouse=True)
def _two_workers():
    from casashell.parallel import executor
    old = use_config(cores=2)
    executor.get_client()
    yield
    config._current = old


def _listing(vis, tmp_path, tag, **kw):
    from casashell.tasks import listobs
    lf = str(tmp_path / f"{tag}.txt")
    d = listobs(vis=vis, listfile=lf, **kw)
    with open(lf) as fh:
        text = fh.read()
    return text.replace(vis, "<MS>"), d


def _same(ms, mms, tmp_path, kw):
    ta, da = _listing(ms, tmp_path, "a", **kw)
    tb, db = _listing(mms, tmp_path, "b", **kw)
    os.remove(tmp_path / "a.txt")
    os.remove(tmp_path / "b.txt")
    assert ta.splitlines() == tb.splitlines(), kw
    assert sorted(da) == sorted(db)
    for k in da:
        if k != "name":
            assert repr(da[k]) == repr(db[k]), (k, kw)
    return ta, da


@pytest.mark.parametrize("axis", ["scan", "spw", "baseline", "auto"])
def test_listobs_of_generated_mms_equals_the_ms(tmp_path, axis):
    from casashell.ms.generate import make_ms
    from casashell.ms.mms import submss_names
    from casashell.tasks import flagdata, partition
    ms = str(tmp_path / "g.ms")
    make_ms(ms, nant=6, nscan=4, nspw=2, nchan=8, ntimes_per_scan=5, seed=5)
    flagdata(vis=ms, mode="manual", scan="2", antenna="ea03", flagbackup=False)
    mms = str(tmp_path / "g.mms")
    partition(vis=ms, outputvis=mms, separationaxis=axis, numsubms=3)
    assert len(submss_names(mms)) >= 2
    for kw in SELECTIONS:
        text, d = _same(ms, mms, tmp_path, kw)
    assert "Observed from" in text and d["numrecords"] > 0


def test_listobs_of_real_mms_equals_the_ms(data_dir, tmp_path):
    from casashell.ms.mms import submss_names
    from casashell.tasks import partition
    ms = str(tmp_path / "day2.ms")
    shutil.copytree(os.path.join(data_dir, "day2_TDEM0003_10s_norx_1scan.ms"), ms)
    for axis, n in (("spw", 2), ("baseline", 4)):
        mms = str(tmp_path / f"{axis}.mms")
        partition(vis=ms, outputvis=mms, separationaxis=axis, numsubms=n)
        assert len(submss_names(mms)) == n
        for kw in (dict(), dict(listunfl=True), dict(spw="1", antenna="1~4", scan="1")):
            _same(ms, mms, tmp_path, kw)


def _plain(o):
    """JSON-like: numpy arrays and scalars as lists and numbers."""
    import numpy as np
    if isinstance(o, dict):
        return {str(k): _plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple, np.ndarray)):
        return [_plain(v) for v in (o.tolist() if isinstance(o, np.ndarray) else o)]
    if isinstance(o, np.generic):
        return o.item()
    return o


def _close(a, b, where="rec"):
    import math
    if isinstance(b, dict):
        assert sorted(a) == sorted(b), where
        for k in b:
            _close(a[k], b[k], f"{where}.{k}")
    elif isinstance(b, list):
        assert len(a) == len(b), where
        for k, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{where}[{k}]")
    elif isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), f"{where}: {a} != {b}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


@requires_casa
def test_listobs_of_mms_as_casa_lists_its_mms(data_dir, tmp_path):
    """CASA 6.7 partitions the MS and lists its Multi-MS; we do the same with
    ours: the same text (bar the MS name line) and the same dict."""
    from casashell.tasks import listobs, partition
    src = os.path.join(data_dir, "day2_TDEM0003_10s_norx_1scan.ms")
    cases = (("baseline", 3), ("spw", 2))
    (tmp_path / "casa").mkdir()
    code = f"""
import os, shutil
from casatasks import listobs, partition
shutil.copytree({src!r}, 'd.ms')
result = {{}}
for axis, n in {cases!r}:
    partition(vis='d.ms', outputvis=axis + '.mms', separationaxis=axis, numsubms=n,
              flagbackup=False)
    rec = listobs(vis=axis + '.mms', listfile=axis + '.txt')
    result[axis] = {{'text': open(axis + '.txt').read(), 'rec': rec,
                    'nsub': len(os.listdir(axis + '.mms/SUBMSS'))}}
"""
    casa = run_casa(code, str(tmp_path / "casa"))
    ms = str(tmp_path / "d.ms")
    shutil.copytree(src, ms)
    for axis, n in cases:
        mms = str(tmp_path / f"{axis}.mms")
        partition(vis=ms, outputvis=mms, separationaxis=axis, numsubms=n, flagbackup=False)
        rec = listobs(vis=mms, listfile=str(tmp_path / f"{axis}.txt"))
        ours = (tmp_path / f"{axis}.txt").read_text().splitlines()
        theirs = casa[axis]["text"].splitlines()
        assert casa[axis]["nsub"] == n
        assert len(ours) == len(theirs), axis
        for i, (a, b) in enumerate(zip(ours, theirs)):
            if "MeasurementSet Name:" in a:
                assert "MeasurementSet Name:" in b and a.split()[-3:] == b.split()[-3:]
                continue
            assert a == b, f"{axis} line {i + 1}:\nours: {a!r}\nCASA: {b!r}"
        _close(_plain(rec), casa[axis]["rec"], axis)
