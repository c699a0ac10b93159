"""Ctrl-C during a task on a Multi-MS: the sub-MSs not started are cancelled,
the running ones stop at their next chunk, and the outputs stay consistent.

Deterministic: a worker-side hook (``worker.install_pause``) holds chosen
sub-MSs at their first checkpoint and leaves marker files; a thread of the
test sends SIGINT to the main thread once the markers say that the run is
in the wanted state (no timing)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
import time

import numpy as np
import pytest

from casashell import config
from casashell.parallel import executor, worker
from test_parallel import assert_same_ms, log_lines, make_pair, sorted_columns, use_config


@pytest.fixture(scope="module")
def client():
    old = use_config(cores=2)
    c = executor.get_client()
    yield c
    c.run(worker.install_pause, None)
    config._current = old


@pytest.fixture(scope="module")
def _pristine(client, tmp_path_factory):
    return make_pair(str(tmp_path_factory.mktemp("pristine")), name="c", axis="scan",
                     numsubms=3)


@pytest.fixture
def pair(_pristine, tmp_path):
    out = []
    for src in _pristine:
        dst = str(tmp_path / os.path.basename(src))
        shutil.copytree(src, dst, symlinks=True)
        out.append(dst)
    return tuple(out)


@pytest.fixture
def markers(client, tmp_path):
    d = tmp_path / "markers"
    d.mkdir()
    yield str(d)
    client.run(worker.install_pause, None)
    (d / "release").touch()          # a call still held (a failed test) goes on


@contextlib.contextmanager
def interrupt_when(paths, timeout=180.0, then=None):
    """Send SIGINT to the main thread as soon as every path in ``paths`` exists;
    then call ``then(deadline)`` if given."""
    main = threading.main_thread().ident
    stop = threading.Event()

    def watch():
        t_end = time.monotonic() + timeout
        while not stop.is_set() and time.monotonic() < t_end:
            if all(os.path.exists(p) for p in paths):
                signal.pthread_kill(main, signal.SIGINT)
                if then is not None:
                    then(t_end)
                return
            time.sleep(0.01)

    th = threading.Thread(target=watch, daemon=True)
    th.start()
    try:
        yield
    finally:
        stop.set()
        th.join()


def _mark(markers, sub, what):
    return os.path.join(markers, os.path.basename(sub) + "." + what)


def _flags(path):
    return sorted_columns(path, ("FLAG", "FLAG_ROW"))


def _warn(tmp_path, start):
    return [ln for ln in log_lines(tmp_path) if start in ln]


CLIP = dict(mode="clip", clipminmax=[0.0, 2.5], datacolumn="corrected")


def test_flagdata_interrupted_restores_every_submss(client, pair, markers, tmp_path):
    from casashell.ms.flagversions import FlagVersions
    from casashell.ms.mms import submss_names
    from casashell.tasks import flagdata
    ms, mms = pair
    subs = submss_names(mms)
    before = [_flags(s) for s in subs]
    # the clip changes the flags of every sub-MS (so a restore is needed)
    flagdata(vis=ms, flagbackup=False, **CLIP)
    assert not np.array_equal(_flags(ms)["FLAG"], sorted_columns(mms, ("FLAG",))["FLAG"])
    # sub-MSs 0 and 1 run to their end; sub-MS 2 is held, then interrupted
    client.run(worker.install_pause, markers, [subs[2]])
    with interrupt_when([_mark(markers, subs[0], "finished"),
                         _mark(markers, subs[1], "finished"),
                         _mark(markers, subs[2], "started")]):
        with pytest.raises(KeyboardInterrupt):
            flagdata(vis=mms, **CLIP)
    assert os.path.exists(_mark(markers, subs[2], "cancel-seen"))
    for s, b in zip(subs, before):
        a = _flags(s)
        for c in ("FLAG", "FLAG_ROW"):
            np.testing.assert_array_equal(a[c], b[c], err_msg=f"{s} {c}")
        assert FlagVersions(s).names() == ["partition_1"]
    assert _warn(tmp_path, "flagdata interrupted (Ctrl-C): 2 sub-MS(s) finished, 1 stopped "
                           "while running, 0 not started; the flags of every sub-MS are as "
                           "before the call (flag version flagdata_1 removed)")
    assert _warn(tmp_path, "Task flagdata was interrupted by the user (Ctrl-C)")
    # the flag versions still agree: the next run works and equals the monolithic one
    client.run(worker.install_pause, None)
    flagdata(vis=mms, **CLIP)
    assert_same_ms(ms, mms, cols=("FLAG", "FLAG_ROW"))
    for s in subs:
        assert FlagVersions(s).names() == ["partition_1", "flagdata_1"]


def test_flagdata_without_backup_finishes_the_running_submss(client, pair, markers, tmp_path):
    from casashell.ms.flagversions import FlagVersions
    from casashell.ms.mms import submss_names
    from casashell.tasks import flagdata
    ms, mms = pair
    subs = submss_names(mms)
    before2 = _flags(subs[2])
    client.run(worker.install_pause, markers, subs[:2])
    with interrupt_when([_mark(markers, s, "started") for s in subs[:2]]):
        with pytest.raises(KeyboardInterrupt):
            flagdata(vis=mms, flagbackup=False, **CLIP)
    # both running sub-MSs saw the cancel and were finished; sub-MS 2 never started
    for s in subs[:2]:
        assert os.path.exists(_mark(markers, s, "cancel-seen"))
    assert not os.path.exists(_mark(markers, subs[2], "finished"))
    after2 = _flags(subs[2])
    np.testing.assert_array_equal(after2["FLAG"], before2["FLAG"])
    assert _warn(tmp_path, "flagdata interrupted (Ctrl-C): 2 sub-MS(s) finished, 0 stopped "
                           "while running, 1 not started; flagbackup=False: the running "
                           "sub-MSs were finished, not stopped half-way; flagged: "
                           f"{os.path.basename(subs[0])}, {os.path.basename(subs[1])}")
    # completing the last sub-MS gives the monolithic result: 0 and 1 were whole
    client.run(worker.install_pause, None)
    from casashell.parallel.dispatch import serial
    with serial():
        flagdata(vis=subs[2], flagbackup=False, **CLIP)
    flagdata(vis=ms, flagbackup=False, **CLIP)
    assert_same_ms(ms, mms, cols=("FLAG", "FLAG_ROW"))
    assert all(FlagVersions(s).names() == ["partition_1"] for s in subs)


def test_split_and_clearcal_interrupted_write_nothing(client, pair, markers, tmp_path):
    from casacore import tables as ct
    from casashell.ms.mms import submss_names
    from casashell.tasks import clearcal, split
    ms, mms = pair
    subs = submss_names(mms)
    client.run(worker.install_pause, markers, subs[:2])
    out = str(tmp_path / "out.mms")
    with interrupt_when([_mark(markers, s, "started") for s in subs[:2]]):
        with pytest.raises(KeyboardInterrupt):
            split(vis=mms, outputvis=out, width=2, datacolumn="data")
    for s in subs[:2]:
        assert os.path.exists(_mark(markers, s, "cancel-seen"))
    assert not os.path.exists(out)
    assert not [n for n in os.listdir(tmp_path) if ".partial-" in n or n.endswith(".aside")]
    assert _warn(tmp_path, "split interrupted (Ctrl-C): 0 sub-MS(s) finished, 2 stopped "
                           f"while running, 1 not started; nothing is written ({out} not "
                           "created)")
    # clearcal adding MODEL_DATA, finished in sub-MSs 0 and 1, stopped in 2: the
    # column is removed from every sub-MS again
    for f in os.listdir(markers):
        os.remove(os.path.join(markers, f))
    client.run(worker.install_pause, markers, [subs[2]])
    with interrupt_when([_mark(markers, subs[0], "finished"),
                         _mark(markers, subs[1], "finished"),
                         _mark(markers, subs[2], "started")]):
        with pytest.raises(KeyboardInterrupt):
            clearcal(vis=mms, addmodel=True)
    for s in subs + [mms]:
        with ct.table(s, ack=False) as t:
            assert "MODEL_DATA" not in t.colnames()
    assert _warn(tmp_path, "clearcal interrupted (Ctrl-C): 2 sub-MS(s) finished, 1 stopped "
                           "while running, 0 not started; the column(s) MODEL_DATA it added "
                           "removed")
    # and the Multi-MS still works as before
    client.run(worker.install_pause, None)
    split(vis=ms, outputvis=str(tmp_path / "a.ms"), width=2, datacolumn="data")
    split(vis=mms, outputvis=out, width=2, datacolumn="data")
    assert_same_ms(str(tmp_path / "a.ms"), out)


def test_interrupt_without_distributed(pair, tmp_path, monkeypatch):
    """Sub-MSs run in the session: Ctrl-C inside one stops the loop; the same rollback."""
    from casashell.ms.flagversions import FlagVersions
    from casashell.ms.mms import submss_names
    from casashell.tasks import flagdata
    ms, mms = pair
    subs = submss_names(mms)
    before = [_flags(s) for s in subs]
    monkeypatch.setattr(executor, "have_distributed", lambda: False)
    real = worker._impl

    def impl(name):
        fn = real(name)

        def run(**kw):
            res = fn(**kw)                      # the flags of sub-MS 1 are written...
            if kw["vis"] == subs[1]:
                raise KeyboardInterrupt         # ...then Ctrl-C
            return res
        return run
    monkeypatch.setattr(worker, "_impl", impl)
    with pytest.raises(KeyboardInterrupt):
        flagdata(vis=mms, **CLIP)
    for s, b in zip(subs, before):
        np.testing.assert_array_equal(_flags(s)["FLAG"], b["FLAG"])
        assert FlagVersions(s).names() == ["partition_1"]
    assert _warn(tmp_path, "flagdata interrupted (Ctrl-C): 1 sub-MS(s) finished, 1 stopped "
                           "while running, 1 not started; the flags of every sub-MS are as "
                           "before the call (flag version flagdata_1 removed)")


def test_partition_interrupted_writes_nothing(client, pair, markers, tmp_path):
    from casashell.ms.mms import submss_name
    from casashell.tasks import partition
    ms, _ = pair
    out = str(tmp_path / "p.mms")
    held = [submss_name(out, k) for k in (0, 1)]
    client.run(worker.install_pause, markers, held)
    with interrupt_when([os.path.join(markers, h + ".started") for h in held]):
        with pytest.raises(KeyboardInterrupt):
            partition(vis=ms, outputvis=out, separationaxis="scan", numsubms=3)
    for h in held:
        assert os.path.exists(os.path.join(markers, h + ".cancel-seen"))
    assert not os.path.exists(out)
    assert not [n for n in os.listdir(tmp_path) if ".partial-" in n or n.endswith(".aside")]
    assert _warn(tmp_path, "partition interrupted (Ctrl-C): 0 sub-MS(s) finished, 2 stopped "
                           f"while running, 1 not started; nothing is written ({out} not "
                           "created)")


def test_flagmanager_interrupted_keeps_the_versions_equal(client, pair, markers, tmp_path):
    from casashell.ms.flagversions import FlagVersions
    from casashell.ms.mms import submss_names
    from casashell.tasks import flagmanager
    _, mms = pair
    subs = submss_names(mms)
    # save of a new version: undone where it was done, the last sub-MS cancelled
    client.run(worker.install_pause, markers, subs[:2])
    with interrupt_when([_mark(markers, s, "started") for s in subs[:2]]):
        with pytest.raises(KeyboardInterrupt):
            flagmanager(vis=mms, mode="save", versionname="v1")
    assert all(FlagVersions(s).names() == ["partition_1"] for s in subs)
    assert _warn(tmp_path, "flagmanager interrupted (Ctrl-C): 2 sub-MS(s) finished, 0 "
                           "stopped while running, 1 not started; version 'v1' removed "
                           "again from the 2 sub-MS(s) where it was saved")
    # rename: completed in every sub-MS first (the held ones are released once the
    # session has seen the Ctrl-C)
    for f in os.listdir(markers):
        os.remove(os.path.join(markers, f))
    log = tmp_path / "casa-test.log"

    def release(deadline):
        while time.monotonic() < deadline and \
                "Ctrl-C: finishing the sub-MSs first" not in log.read_text():
            time.sleep(0.01)
        open(os.path.join(markers, "release"), "w").close()

    with interrupt_when([_mark(markers, s, "started") for s in subs[:2]], then=release):
        with pytest.raises(KeyboardInterrupt):
            flagmanager(vis=mms, mode="rename", oldname="partition_1", versionname="p1")
    assert all(FlagVersions(s).names() == ["p1"] for s in subs)
    assert _warn(tmp_path, "flagmanager interrupted (Ctrl-C): 3 sub-MS(s) finished, 0 "
                           "stopped while running, 0 not started; mode 'rename' was "
                           "completed in every sub-MS first")


def test_summary_interrupted_stops_at_once(client, pair, markers, tmp_path):
    from casashell.ms.mms import submss_names
    from casashell.tasks import flagdata
    _, mms = pair
    subs = submss_names(mms)
    client.run(worker.install_pause, markers, subs[:2])
    with interrupt_when([_mark(markers, s, "started") for s in subs[:2]]):
        with pytest.raises(KeyboardInterrupt):
            flagdata(vis=mms, mode="summary")
    assert _warn(tmp_path, "flagdata interrupted (Ctrl-C): 0 sub-MS(s) finished, 2 stopped "
                           "while running, 1 not started; no flags were written")
