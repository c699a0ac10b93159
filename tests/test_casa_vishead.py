"""vishead(mode='get') measured against live CASA 6.7: the value and the
column keywords for every keyword, for all rows ('') and for row '0', in
CASA's own form (array cells column-major; all rows of a variable-shaped
column as {'r1': ...}; an undefined cell as False)."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from casa_ref import requires_casa, run_casa
from conftest import DATA_DIR

from casashell.tasks import vishead

pytestmark = requires_casa

MS = "day2_TDEM0003_10s_norx_1scan.ms"
KEYS = ["cal_grp", "field", "fld_code", "freq_group_name", "log", "observer", "project",
        "ptcs", "release_date", "schedule", "schedule_type", "source_name", "spw_name",
        "telescope"]


def _plain(v):
    """JSON-like form of a value (what run_casa hands back from CASA)."""
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, np.ndarray):
        return _plain(v.tolist())
    if isinstance(v, np.generic):
        return v.item()
    return v


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    d = tmp_path_factory.mktemp("casa_vishead")
    shutil.copytree(os.path.join(DATA_DIR, MS), d / MS)
    casa = run_casa(f"""
        from casatasks import vishead
        result = {{}}
        for k in {KEYS!r}:
            for i in ['', '0']:
                try:
                    v, kw = vishead(vis={MS!r}, mode='get', hdkey=k, hdindex=i)
                    result[k + '/' + i] = [v, kw, [list(np.shape(v))] if not isinstance(v, dict)
                                           else {{r: list(np.shape(c)) for r, c in v.items()}}]
                except Exception as e:
                    result[k + '/' + i] = 'error'
        """, cwd=str(d))
    from casashell.tasks import vishead
    ours = {}
    for k in KEYS:
        for i in ["", "0"]:
            try:
                v, kw = vishead(vis=str(d / MS), mode="get", hdkey=k, hdindex=i)
                shape = ([list(np.shape(v))] if not isinstance(v, dict)
                         else {r: list(np.shape(c)) for r, c in v.items()})
                ours[k + "/" + i] = _plain([v, kw, shape])
            except RuntimeError:
                ours[k + "/" + i] = "error"
    return casa, ours


@pytest.mark.parametrize("key", [f"{k}/{i}" for k in KEYS for i in ["", "0"]])
def test_get_matches_casa(both, key):
    casa, ours = both
    c, o = casa[key], ours[key]
    if c == "error":
        assert o == "error"
        return
    assert o[2] == c[2]                                   # shape(s)
    assert o[1] == c[1]                                   # column keywords
    if key.startswith(("ptcs", "release_date")):
        np.testing.assert_allclose(np.asarray(o[0]["r1"] if isinstance(o[0], dict) else o[0]),
                                   np.asarray(c[0]["r1"] if isinstance(c[0], dict) else c[0]),
                                   rtol=0, atol=0)
    else:
        assert o[0] == c[0]


LIST_MSS = ["day2_TDEM0003_10s_norx_1src_1spw.ms", "multi_1.ms",
            "zen.2456865.60537.xy.uvcRREAAM.ms"]


def _list_lines(logfile):
    """The `key: value` lines vishead(mode='list') logged (message text only)."""
    out = []
    for line in open(logfile).read().splitlines():
        msg = line.split("\t", 3)[-1]
        if "\tvishead::" in line and not msg.startswith(("#", "vishead(", "Task vishead")):
            out.append(msg)
    return out


def test_list_log_text_matches_casa(tmp_path):
    """vishead(mode='list') logs CASA 6.7's text: one `key: value` line per keyword,
    ptcs as 'J2000 hh:mm:ss.ss +ddd.mm.ss.sss', release_date as YYYY/MM/DD/hh:mm:ss."""
    for m in LIST_MSS:
        shutil.copytree(os.path.join(DATA_DIR, m), tmp_path / m)
    casa = run_casa(f"""
        from casatasks import vishead, casalog
        casalog.setlogfile('casa.log')
        for m in {LIST_MSS!r}:
            vishead(vis=m, mode='list', listitems=[])
            vishead(vis=m, mode='list')
        result = open('casa.log').read()
        """, cwd=str(tmp_path))
    (tmp_path / "casa-only.log").write_text(casa)
    from casashell.logsink import casalog
    mark = len(open(casalog.logfile()).read()) if os.path.exists(casalog.logfile()) else 0
    for m in LIST_MSS:
        vishead(vis=str(tmp_path / m), mode="list", listitems=[])
        vishead(vis=str(tmp_path / m), mode="list")
    (tmp_path / "ours-only.log").write_text(open(casalog.logfile()).read()[mark:])
    expected = _list_lines(tmp_path / "casa-only.log")
    assert len(expected) == 3 * (14 + 9)
    assert "ptcs: ['J2000 10:08:00.02 +007.30.16.564']" in expected
    assert "release_date: 2010/04/26/03:21:56" in expected
    assert _list_lines(tmp_path / "ours-only.log") == expected
