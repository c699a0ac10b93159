"""flagdata/flagmanager: what the log says about empty selections, Ctrl-C
while flags are written, an existing version name and a locked MS."""

from __future__ import annotations

import numpy as np
import pytest

from casashell.logsink import casalog
from casashell.tasks import flagdata, flagmanager

MS_NAME = "day2_TDEM0003_10s_norx_1src_1spw.ms"     # RR/LL, no autocorrelations


def _log():
    with open(casalog.logfile()) as f:
        return f.read()


def _flags(vis):
    from casacore import tables as ct
    with ct.table(vis, ack=False) as t:
        return t.getcol("FLAG")


def _warns(text):
    return [ln for ln in text.splitlines() if "\tWARN\t" in ln or " WARN " in ln]


def test_empty_selection_names_the_selection(ms_copy):
    vis = ms_copy(MS_NAME)
    flagdata(vis=vis, mode="manual", correlation="XX", flagbackup=False)
    w = [ln for ln in _warns(_log()) if "nothing to flag" in ln]
    assert len(w) == 1
    assert "no data match the selection (correlation='XX')" in w[0]
    assert "autocorr" not in w[0]


def test_empty_selection_autocorr_only(ms_copy):
    vis = ms_copy(MS_NAME)
    flagdata(vis=vis, mode="manual", autocorr=True, flagbackup=False)
    w = [ln for ln in _warns(_log()) if "nothing to flag" in ln]
    assert len(w) == 1
    assert "autocorr=True, but the data hold no autocorrelations" in w[0]


def test_empty_selection_with_autocorr_and_antenna(ms_copy):
    vis = ms_copy(MS_NAME)
    flagdata(vis=vis, mode="manual", antenna="3", autocorr=True, flagbackup=False)
    w = [ln for ln in _warns(_log()) if "nothing to flag" in ln]
    assert len(w) == 1
    assert "no data match the selection (antenna='3', autocorr=True)" in w[0]


def _interrupt_after_first_write(monkeypatch):
    from casashell.ms import flagging
    orig = flagging.write_block
    calls = []

    def write_then_interrupt(table, rows, flags):
        orig(table, rows, flags)
        calls.append(len(rows))
        raise KeyboardInterrupt

    monkeypatch.setattr(flagging, "write_block", write_then_interrupt)
    return calls


def test_ctrl_c_restores_the_backup(ms_copy, monkeypatch):
    vis = ms_copy(MS_NAME)
    before = _flags(vis)
    calls = _interrupt_after_first_write(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        flagdata(vis=vis, mode="manual", antenna="3")
    assert calls and calls[0] > 0           # part of the flags had been written
    np.testing.assert_array_equal(_flags(vis), before)
    lst = flagmanager(vis=vis, mode="list")
    assert not [k for k in lst if k != "MS" and lst[k]["name"] == "flagdata_1"]
    w = _warns(_log())
    assert any("are as before the call (restored from version 'flagdata_1', and the "
               "version 'flagdata_1' removed)" in ln for ln in w), w


def test_ctrl_c_without_backup_says_the_flags_are_partial(ms_copy, monkeypatch):
    vis = ms_copy(MS_NAME)
    before = _flags(vis)
    _interrupt_after_first_write(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        flagdata(vis=vis, mode="manual", antenna="3", flagbackup=False)
    after = _flags(vis)
    assert (after & ~before).any()
    w = _warns(_log())
    assert any("now holds the flags written so far (a partial result) and no backup was "
               "made (flagbackup=False)" in ln for ln in w), w


def test_second_ctrl_c_during_restore_names_the_flagmanager_call(ms_copy, monkeypatch):
    from casashell.ms.flagversions import FlagVersions
    vis = ms_copy(MS_NAME)
    _interrupt_after_first_write(monkeypatch)

    def interrupted_restore(self, name, merge="replace"):
        raise KeyboardInterrupt

    monkeypatch.setattr(FlagVersions, "restore", interrupted_restore)
    with pytest.raises(KeyboardInterrupt):
        flagdata(vis=vis, mode="manual", antenna="3")
    monkeypatch.undo()
    lst = flagmanager(vis=vis, mode="list")
    assert [lst[k]["name"] for k in lst if k != "MS"] == ["flagdata_1"]
    w = _warns(_log())
    call = f"flagmanager(vis='{vis}', mode='restore', versionname='flagdata_1')"
    assert any("holds partial flags" in ln and call in ln for ln in w), w


def test_save_existing_name_warns_with_the_real_old_name(ms_copy):
    vis = ms_copy(MS_NAME)
    flagmanager(vis=vis, mode="save", versionname="v", comment="first")
    flagmanager(vis=vis, mode="save", versionname="v", comment="second")
    lst = flagmanager(vis=vis, mode="list")
    old = lst[0]["name"]
    assert old.startswith("v.old.") and old[len("v.old."):].isdigit()
    w = [ln for ln in _warns(_log()) if "already exists" in ln]
    assert len(w) == 1 and f"kept as '{old}'" in w[0] and "<timestamp>" not in w[0]


def test_lock_failure_is_one_clear_line_with_the_other_pid(ms_copy, monkeypatch):
    """casacore's lock error (two processes writing one MS) becomes one line
    naming the process that has the MS open."""
    import subprocess
    import sys

    from casashell.ms import flagging

    vis = ms_copy(MS_NAME)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, casacore.tables as ct; t = ct.table(sys.argv[1], ack=False); "
         "t.getcell('FLAG', 0); print('open', flush=True); sys.stdin.read()", vis],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"

        def locked(table, rows, flags):
            raise RuntimeError(f"Error (Resource deadlock avoided) when acquiring lock on "
                               f"{vis}/table.lock")

        monkeypatch.setattr(flagging, "write_block", locked)
        with pytest.raises(RuntimeError) as err:
            flagdata(vis=vis, mode="manual", antenna="3")
        msg = str(err.value)
        assert msg.startswith(f"{vis} is locked by another process (pid {holder.pid}?)")
        assert "flagmanager(vis=" in msg and "versionname='flagdata_1'" in msg
        assert "\n" not in msg
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
        holder.stdout.close()


def test_ctrl_c_in_a_submss_call_leaves_the_message_to_the_session(ms_copy, monkeypatch):
    """flagdata on one sub-MS of a Multi-MS (called by the parallel worker,
    which backs the sub-MS up and restores it itself): no WARN from flagdata
    about partial flags or a restore."""
    from casashell.parallel import worker
    from casashell.tasks import flagdata as fd
    vis = ms_copy(MS_NAME)
    before = _flags(vis)
    _interrupt_after_first_write(monkeypatch)
    values = {p.name: p.default for p in fd.spec.params}
    values.update(vis=vis, mode="manual", antenna="3", flagbackup=False)
    out = worker.flagdata_subms(values, {}, True)
    monkeypatch.undo()
    assert out.get("cancelled")
    np.testing.assert_array_equal(_flags(vis), before)       # the worker restored it
    lines = [m for m, _prio in out["logs"]]
    assert not [m for m in lines if "flagdata interrupted" in m], lines
