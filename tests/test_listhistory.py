"""listhistory: HISTORY rows of pyuvdata's MSs to the log."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from casacore import tables as ct

from casashell.tasks import listhistory

MS = "day2_TDEM0003_10s_norx_1scan.ms"


def _log_lines():
    from casashell.logsink import casalog
    return [ln.rstrip("\n").split("\t", 3) for ln in open(casalog.logfile())]


def test_every_row_in_order_with_time_origin_priority(data_dir):
    path = os.path.join(data_dir, MS)
    with ct.table(os.path.join(path, "HISTORY"), ack=False) as t:
        rows = [(t.getcell("TIME", i), t.getcell("PRIORITY", i), t.getcell("ORIGIN", i),
                 t.getcell("MESSAGE", i)) for i in range(t.nrows())]
    assert len(rows) == 6
    listhistory(vis=path)
    log = _log_lines()
    assert [ln[3] for ln in log if ln[3].startswith("History table entries")] == \
        ["History table entries: 6"]
    hist = [ln for ln in log if "::" in ln[2] and not ln[2].startswith("listhistory::::")]
    assert len(hist) == 6
    base = dt.datetime(1858, 11, 17)
    for (time, prio, origin, msg), (_, lprio, lorigin, ltext) in zip(rows, hist):
        assert lorigin == f"listhistory::{origin}::casa"
        assert lprio == ("INFO" if prio in ("NORMAL", "INFO") else prio)
        stamp = (base + dt.timedelta(seconds=round(time))).strftime("%Y-%m-%d %H:%M:%S")
        assert ltext == f"{stamp}  {msg}"
    # the AIPS row of 2010 and the importuvfits one of 2017
    assert hist[0][3] == "2010-04-26 03:21:56  AIPS WTSCAL = 1.0"
    assert hist[1][3].startswith("2017-01-10 ") and hist[1][3].endswith("  taskname=importuvfits")


def test_each_ms_of_the_data_folder(data_dir):
    from conftest import REAL_MSS
    for name in REAL_MSS:
        path = os.path.join(data_dir, name)
        if not os.path.isfile(os.path.join(path, "table.dat")):
            continue
        with ct.table(os.path.join(path, "HISTORY"), ack=False) as t:
            n = t.nrows()
        listhistory(vis=path)
        assert f"History table entries: {n}" in [ln[3] for ln in _log_lines()]


def test_empty_history(ms_copy):
    path = ms_copy(MS)
    ct.taql(f"DELETE FROM {os.path.join(path, 'HISTORY')}")
    listhistory(vis=path)
    assert "The HISTORY table is empty" in [ln[3] for ln in _log_lines()]


def test_bad_input(tmp_path, ms_copy):
    with pytest.raises(AssertionError, match="nosuch.ms"):
        listhistory(vis=str(tmp_path / "nosuch.ms"))
    with pytest.raises(OSError, match="is not a table"):
        listhistory(vis=str(tmp_path))
