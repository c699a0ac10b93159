"""Multi-MS tasks on the default local dask cluster (two worker processes):
every supported task gives the same result on a Multi-MS as on the
monolithic MS; failures restore the sub-MSs; worker logs reach the log."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from casashell import config
from casashell.parallel import executor

KEY_COLS = ("TIME", "ANTENNA1", "ANTENNA2", "DATA_DESC_ID")


# ---------------------------------------------------------------------------
# helpers (also used by test_partition.py and test_parallel_cli.py)

def use_config(**over):
    """Make config.current() the defaults plus ``over``; returns the old one."""
    old = config._current
    config._current = config.load(noconfig=True, overrides=over)
    return old


def sorted_columns(path, cols):
    """{column: array} of the MS at ``path`` with rows sorted by KEY_COLS."""
    from casacore import tables as ct
    with ct.table(path, ack=False) as t:
        keys = [t.getcol(c) for c in KEY_COLS]
        order = np.lexsort(keys[::-1])
        out = {c: t.getcol(c)[order] for c in cols if c in t.colnames()}
        out["_nrows"] = t.nrows()
    return out


def assert_same_ms(a, b, cols=("DATA", "FLAG", "WEIGHT", "SIGMA", "UVW", "FIELD_ID",
                               "SCAN_NUMBER", "DATA_DESC_ID")):
    ca, cb = sorted_columns(a, cols), sorted_columns(b, cols)
    assert ca["_nrows"] == cb["_nrows"]
    assert sorted(ca) == sorted(cb)
    for c in ca:
        np.testing.assert_array_equal(ca[c], cb[c], err_msg=c)


def subtable_col(path, sub, col):
    from casacore import tables as ct
    with ct.table(os.path.join(path, sub), ack=False) as t:
        return [t.getcell(col, i) for i in range(t.nrows())]


def log_lines(tmp_path):
    with open(tmp_path / "casa-test.log") as fh:
        return fh.read().splitlines()


def make_pair(base, name="g", axis="auto", numsubms=3, **kw):
    """(monolithic MS, Multi-MS of a copy of it)."""
    from casashell.ms.generate import make_ms
    from casashell.tasks import partition
    ms = os.path.join(base, f"{name}.ms")
    opts = dict(nant=6, nscan=4, nspw=2, nchan=8, ntimes_per_scan=5, corrected=True,
                seed=3)
    opts.update(kw)
    make_ms(ms, **opts)
    mms = os.path.join(base, f"{name}.mms")
    partition(vis=ms, outputvis=mms, separationaxis=axis, numsubms=numsubms)
    return ms, mms


@pytest.fixture(scope="module")
def local_cluster():
    old = use_config(cores=2)
    yield executor.get_client()
    config._current = old


@pytest.fixture(scope="module")
def _pristine(local_cluster, tmp_path_factory):
    return make_pair(str(tmp_path_factory.mktemp("pristine")))


@pytest.fixture
def pair(_pristine, tmp_path):
    """A fresh copy of the module's (monolithic MS, Multi-MS) pair."""
    out = []
    for src in _pristine:
        dst = str(tmp_path / os.path.basename(src))
        shutil.copytree(src, dst, symlinks=True)
        out.append(dst)
    return tuple(out)


# ---------------------------------------------------------------------------

def test_local_cluster_is_two_loopback_worker_processes(local_cluster):
    info = local_cluster.scheduler_info()
    workers = info["workers"]
    assert len(workers) == 2
    assert all(a.startswith("tcp://127.0.0.1:") for a in workers)
    assert info["address"].startswith("tcp://127.0.0.1:")
    assert {w["nthreads"] for w in workers.values()} == {1}
    pids = local_cluster.run(os.getpid)
    assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()
    assert executor.get_client() is local_cluster          # reused


def test_flagdata_summary_equal(pair, tmp_path):
    from casashell.tasks import flagdata
    ms, mms = pair
    for kw in (dict(), dict(spwchan=True, spwcorr=True, basecnt=True),
               dict(fieldcnt=True), dict(scan="2,3", antenna="ea01"),
               dict(field="NGC5548", minabs=30)):
        a = flagdata(vis=ms, mode="summary", **kw)
        b = flagdata(vis=mms, mode="summary", **kw)
        assert a == b, kw
    assert b["antenna"] and all(v["flagged"] >= 30 for v in b["antenna"].values())
    text = "\n".join(log_lines(tmp_path))
    assert "is a Multi-MS of 3 sub-MSs: flagdata runs on them in parallel" in text


def test_flagdata_clip_manual_equal_and_logged(pair, tmp_path):
    from casashell.ms.flagversions import FlagVersions
    from casashell.ms.mms import submss_names
    from casashell.tasks import flagdata
    ms, mms = pair
    for kw in (dict(mode="clip", clipminmax=[0.0, 2.5], datacolumn="corrected"),
               dict(mode="clip", clipminmax=[0.0, 2.0], correlation="ABS_RR", scan="1~3"),
               dict(mode="manual", antenna="ea02", scan="3"),
               dict(mode="quack", quackinterval=10.0)):
        flagdata(vis=ms, **kw)
        flagdata(vis=mms, **kw)
        assert_same_ms(ms, mms, cols=("FLAG", "FLAG_ROW"))
    assert flagdata(vis=ms, mode="summary") == flagdata(vis=mms, mode="summary")
    # a backup per run in every sub-MS (also those a selection skipped: same names)
    for sub in submss_names(mms):
        assert FlagVersions(sub).names() == ["partition_1"] + [f"flagdata_{k}"
                                                               for k in (1, 2, 3, 4)]
    # flagmanager on the Multi-MS: the sub-MSs' versions
    from casashell.tasks import flagmanager
    lst = flagmanager(vis=mms, mode="list")
    assert [lst[i]["name"] for i in range(5)] == FlagVersions(submss_names(mms)[0]).names()
    flagmanager(vis=ms, mode="restore", versionname="flagdata_3")
    flagmanager(vis=mms, mode="restore", versionname="flagdata_3")
    assert_same_ms(ms, mms, cols=("FLAG", "FLAG_ROW"))
    flagmanager(vis=mms, mode="delete", versionname="flagdata_4")
    for sub in submss_names(mms):
        assert FlagVersions(sub).names()[-1] == "flagdata_3"
    lines = log_lines(tmp_path)
    origins = {ln.split("\t")[2] for ln in lines if "\tflagdata::worker-" in ln}
    assert origins <= {"flagdata::worker-1::casa", "flagdata::worker-2::casa"}
    assert origins, "worker log lines missing"
    assert any("clip:" in ln and "flagdata::worker-" in ln for ln in lines)


def test_split_keepmms_and_joined_equal(pair, tmp_path):
    from casashell.ms.mms import is_mms, submss_names
    from casashell.tasks import split
    ms, mms = pair
    for k, kw in enumerate((dict(width=2, datacolumn="data"),
                            dict(field="J1407+2827", spw="1", width=4, datacolumn="corrected"),
                            dict(timebin="20s", datacolumn="data", scan="2,3,4"))):
        a, b, c = (str(tmp_path / f"s{k}.{x}") for x in ("ms", "mms", "joined.ms"))
        split(vis=ms, outputvis=a, **kw)
        split(vis=mms, outputvis=b, **kw)
        split(vis=mms, outputvis=c, keepmms=False, **kw)
        assert is_mms(b) and not is_mms(c)
        for out in (b, c):
            assert_same_ms(a, out)
            for sub in ("FIELD", "SPECTRAL_WINDOW", "DATA_DESCRIPTION"):
                assert len(subtable_col(a, sub, "FLAG_ROW")) == \
                    len(subtable_col(out, sub, "FLAG_ROW"))
            assert [x.tolist() for x in subtable_col(a, "SPECTRAL_WINDOW", "CHAN_FREQ")] == \
                [x.tolist() for x in subtable_col(out, "SPECTRAL_WINDOW", "CHAN_FREQ")]
            assert subtable_col(a, "FIELD", "NAME") == subtable_col(out, "FIELD", "NAME")
        # every output sub-MS has the whole output's subtables
        for sub in submss_names(b):
            assert subtable_col(sub, "FIELD", "NAME") == subtable_col(a, "FIELD", "NAME")
    assert not [n for n in os.listdir(tmp_path) if ".partial-" in n]


def test_hanningsmooth_mstransform_equal(pair, tmp_path):
    from casashell.tasks import hanningsmooth, mstransform
    ms, mms = pair
    a, b = str(tmp_path / "h.ms"), str(tmp_path / "h.mms")
    hanningsmooth(vis=ms, outputvis=a, datacolumn="data", smooth_spw="1")
    hanningsmooth(vis=mms, outputvis=b, datacolumn="data", smooth_spw="1")
    assert_same_ms(a, b)
    a, b = str(tmp_path / "t.ms"), str(tmp_path / "t.mms")
    kw = dict(datacolumn="corrected", chanaverage=True, chanbin=2, timeaverage=True,
              timebin="20s", hanning=True)
    mstransform(vis=ms, outputvis=a, **kw)
    mstransform(vis=mms, outputvis=b, **kw)
    assert_same_ms(a, b)


def test_clearcal_initweights_listobs_equal(pair):
    from casashell.tasks import clearcal, initweights, listobs
    ms, mms = pair
    clearcal(vis=ms, field="3C286", addmodel=True)
    clearcal(vis=mms, field="3C286", addmodel=True)
    assert_same_ms(ms, mms, cols=("CORRECTED_DATA", "MODEL_DATA", "DATA"))
    initweights(vis=ms, wtmode="nyq", dowtsp=True)
    initweights(vis=mms, wtmode="nyq", dowtsp=True)
    assert_same_ms(ms, mms, cols=("WEIGHT", "SIGMA", "WEIGHT_SPECTRUM"))
    a, b = listobs(vis=ms, listunfl=True), listobs(vis=mms, listunfl=True)
    assert a.keys() == b.keys()
    for k in a:
        if k != "name":
            assert repr(a[k]) == repr(b[k]), k
    # run_per_subms is the same path as the task call
    from casashell.parallel import run_per_subms
    r = run_per_subms("flagdata", {"mode": "summary", "scan": "1"}, mms)
    from casashell.tasks import flagdata
    assert r == flagdata(vis=ms, mode="summary", scan="1")


def _break_submss(mms, k=2):
    """Make sub-MS ``k`` fail when its DATA is read (its data file is removed)."""
    from casacore import tables as ct
    from casashell.ms.mms import submss_names
    sub = submss_names(mms)[k]
    with ct.table(sub, ack=False) as t:
        seq = next(int(n[1:]) - 1 for n, v in t.getdminfo().items() if "DATA" in v["COLUMNS"])
    for f in os.listdir(sub):
        if f.startswith(f"table.f{seq}_TSM"):
            os.remove(os.path.join(sub, f))
    return sub


def test_failed_submss_restores_the_others(pair, tmp_path):
    from casashell.ms.flagversions import FlagVersions
    from casashell.ms.mms import submss_names
    from casashell.tasks import clearcal, flagdata
    ms, mms = pair
    subs = submss_names(mms)
    before = [sorted_columns(s, ("FLAG",))["FLAG"] for s in subs[:2]]
    bad = _break_submss(mms)
    with pytest.raises(RuntimeError, match=rf"flagdata failed on sub-MS {os.path.basename(bad)}"
                                           r" \(worker-\d\): .*could not be opened"):
        flagdata(vis=mms, mode="clip", clipminmax=[0.0, 1.0], datacolumn="data")
    for s, f in zip(subs[:2], before):
        np.testing.assert_array_equal(sorted_columns(s, ("FLAG",))["FLAG"], f)
        assert FlagVersions(s).names() == ["partition_1", "flagdata_1"]
    assert any("Restored the flags of 2 sub-MS(s)" in ln for ln in log_lines(tmp_path))
    # a column added by a failed run is removed again: the reference MS stays readable
    from casacore import tables as ct
    with pytest.raises(RuntimeError, match="clearcal failed on sub-MS"):
        clearcal(vis=mms, addmodel=True)
    with ct.table(mms, ack=False) as t:
        assert "MODEL_DATA" not in t.colnames()
        assert t.nrows() == sum(ct.table(s, ack=False).nrows() for s in subs)


def test_without_distributed_the_submss_run_in_the_session(pair, tmp_path, monkeypatch):
    from casashell.tasks import flagdata, split
    ms, mms = pair
    monkeypatch.setattr(executor, "have_distributed", lambda: False)
    kw = dict(mode="manual", field="J1407+2827", spw="1:2~5")
    flagdata(vis=ms, **kw)
    flagdata(vis=mms, **kw)
    assert_same_ms(ms, mms, cols=("FLAG",))
    split(vis=ms, outputvis=str(tmp_path / "a.ms"), width=2, datacolumn="data")
    split(vis=mms, outputvis=str(tmp_path / "a.mms"), width=2, datacolumn="data")
    assert_same_ms(str(tmp_path / "a.ms"), str(tmp_path / "a.mms"))
    lines = log_lines(tmp_path)
    assert sum("dask.distributed is not installed: processing the sub-MSs one after "
               "the other in this process" in ln for ln in lines) == 2
    assert any(f"\tflagdata::worker-{os.getpid()}::casa\t" in ln for ln in lines)


def test_split_keepflags_false_with_a_fully_flagged_submss(pair, tmp_path):
    from casashell.tasks import flagdata, split
    ms, mms = pair
    from casashell.ms.mms import submss_names
    # flag all of the sub-MS holding the fewest (scan, spw) groups
    groups = []
    for s in submss_names(mms):
        c = sorted_columns(s, ("SCAN_NUMBER", "DATA_DESC_ID"))
        groups.append(sorted(set(zip(c["SCAN_NUMBER"].tolist(), c["DATA_DESC_ID"].tolist()))))
    full = min(groups, key=len)
    for v in (ms, mms):
        for scan, spw in full:
            flagdata(vis=v, mode="manual", scan=str(scan), spw=str(spw))
    a, b = str(tmp_path / "k.ms"), str(tmp_path / "k.mms")
    split(vis=ms, outputvis=a, keepflags=False, datacolumn="data")
    split(vis=mms, outputvis=b, keepflags=False, datacolumn="data")
    assert_same_ms(a, b)
    assert len(submss_names(b)) == len(groups) - 1


def test_a_dead_local_worker_restarts_the_cluster(pair, tmp_path):
    from casashell.tasks import flagdata
    ms, mms = pair
    client = executor.get_client()
    victim = executor._cluster.procs[-1]
    victim.kill()
    victim.wait()
    assert flagdata(vis=mms, mode="summary") == flagdata(vis=ms, mode="summary")
    assert executor._cluster.alive() and executor.get_client() is not client
    assert any("local dask cluster has died: restarting" in ln for ln in log_lines(tmp_path))


def test_tfcrop_rflag_extend_equal(pair):
    from casashell.tasks import flagdata
    ms, mms = pair
    for kw in (dict(mode="tfcrop", datacolumn="data", timecutoff=3.0, freqcutoff=3.0),
               dict(mode="rflag", datacolumn="corrected", timedevscale=4.0),
               dict(mode="extend", growtime=40.0, growfreq=40.0)):
        n0 = flagdata(vis=ms, mode="summary")["flagged"]
        flagdata(vis=ms, **kw)
        flagdata(vis=mms, **kw)
        assert flagdata(vis=ms, mode="summary")["flagged"] > n0, kw     # it flagged data
        assert_same_ms(ms, mms, cols=("FLAG",))
    assert flagdata(vis=ms, mode="summary") == flagdata(vis=mms, mode="summary")
