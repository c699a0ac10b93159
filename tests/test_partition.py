"""partition and listpartition: the Multi-MS layout, the axes, the balance,
errors; a real MS (pyuvdata) and generated ones."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from casashell import config
from casa_ref import requires_casa, run_casa
from test_parallel import assert_same_ms, log_lines, use_config


@pytest.fixture(scope="module", autouse=True)
def _two_workers():
    from casashell.parallel import executor
    old = use_config(cores=2)
    executor.get_client()
    yield
    config._current = old


@pytest.fixture
def gen(tmp_path):
    from casashell.ms.generate import make_ms
    ms = str(tmp_path / "g.ms")
    make_ms(ms, nant=5, nscan=5, nspw=3, nchan=[4, 8, 4], ntimes_per_scan=4, corrected=True,
            seed=11)
    return ms


def _col(path, name):
    from casacore import tables as ct
    with ct.table(path, ack=False) as t:
        return t.getcol(name)


def test_layout_and_contents(gen, tmp_path):
    from casashell.ms.core import check_ms
    from casashell.ms.flagversions import FlagVersions
    from casashell.ms.mms import SUBMSS, is_mms, separation_axis, submss_names
    from casashell.tasks import listpartition, partition
    mms = str(tmp_path / "g.mms")
    partition(vis=gen, outputvis=mms, separationaxis="scan", numsubms=3)
    assert is_mms(mms) and not is_mms(gen)
    with open(os.path.join(mms, "table.dat"), "rb") as fh:
        assert b"ConcatTable" in fh.read(64)
    subs = submss_names(mms)
    assert [os.path.basename(s) for s in subs] == [f"g.mms.000{k}.ms" for k in range(3)]
    assert all(os.path.dirname(s) == os.path.join(mms, SUBMSS) for s in subs)
    assert separation_axis(mms) == "scan"
    # top-level subtables are links into the first sub-MS; later sub-MSs share POINTING
    assert os.readlink(os.path.join(mms, "ANTENNA")) == f"{SUBMSS}/g.mms.0000.ms/ANTENNA"
    for s in subs[1:]:
        assert os.readlink(os.path.join(s, "POINTING")) == "../g.mms.0000.ms/POINTING"
        assert not os.path.islink(os.path.join(s, "FLAG_CMD"))
    # every sub-MS is an MS; scans never split; balance by visibilities: 5 scans -> 2/2/1
    scan_sets = []
    for s in subs:
        check_ms(s)
        scan_sets.append(set(_col(s, "SCAN_NUMBER").tolist()))
        assert FlagVersions(s).names() == ["partition_1"]
    assert sorted(len(x) for x in scan_sets) == [1, 2, 2]
    assert set().union(*scan_sets) == {1, 2, 3, 4, 5} and sum(map(len, scan_sets)) == 5
    # the reference MS reads as the whole MS
    assert_same_ms(gen, mms, cols=("DATA", "CORRECTED_DATA", "FLAG", "WEIGHT", "UVW", "TIME"))
    # listpartition, checked against the sub-MSs read directly
    d = listpartition(vis=mms, createdict=True, listfile=str(tmp_path / "lp.txt"))
    assert sorted(d) == [0, 1, 2]
    for k, s in enumerate(subs):
        scan, ddid = _col(s, "SCAN_NUMBER"), _col(s, "DATA_DESC_ID")
        assert sorted(d[k]) == ["MS", "scanId", "size"]
        assert d[k]["MS"] == os.path.basename(s)
        assert sum(e["nrows"] for e in d[k]["scanId"].values()) == len(scan)
        assert sorted(d[k]["scanId"]) == sorted(set(scan.tolist()))
        for sc, e in d[k]["scanId"].items():
            assert e["nrows"] == int((scan == sc).sum())
            assert e["spwIds"].tolist() == sorted(set(ddid[scan == sc].tolist()))
            assert e["nchans"].tolist() == [[4, 8, 4][w] for w in e["spwIds"]]
    text = (tmp_path / "lp.txt").read_text().splitlines()
    assert text[0].split() == ["Sub-MS", "Scan", "Spw", "Nchan", "Nrows", "Size"]
    assert len(text) == 1 + 5                                    # one line per scan
    assert text[1].startswith("g.mms.0000.ms  ") and text[1].endswith("  ")
    assert any("This is a Multi-MS with separation axis = scan" in ln
               for ln in log_lines(tmp_path))
    assert listpartition(vis=mms) == {}
    # moving the Multi-MS keeps it readable
    moved = str(tmp_path / "moved.mms")
    os.rename(mms, moved)
    assert_same_ms(gen, moved, cols=("DATA", "FLAG"))
    whole = listpartition(vis=gen, createdict=True)[0]["scanId"]
    assert sum(e["nrows"] for e in whole.values()) == len(_col(gen, "TIME"))


def test_spw_baseline_auto_axes_on_real_data(data_dir, tmp_path):
    from casashell.ms.mms import submss_names
    from casashell.tasks import flagdata, partition
    src = os.path.join(data_dir, "day2_TDEM0003_10s_norx_1scan.ms")
    ms = str(tmp_path / "day2.ms")
    shutil.copytree(src, ms)
    nrow = len(_col(ms, "TIME"))
    for axis, n, want in (("spw", "auto", 2), ("baseline", 4, 4), ("auto", 8, 2)):
        mms = str(tmp_path / f"{axis}.mms")
        partition(vis=ms, outputvis=mms, separationaxis=axis, numsubms=n)
        subs = submss_names(mms)
        assert len(subs) == want, axis
        rows = [len(_col(s, "TIME")) for s in subs]
        assert sum(rows) == nrow
        if axis == "spw":
            assert [set(_col(s, "DATA_DESC_ID").tolist()) for s in subs] == [{0}, {1}]
            # split of sub-MSs holding one spw each: the output ids are the whole MS's
            from casashell.tasks import split
            split(vis=ms, outputvis=str(tmp_path / "o.ms"), width=2, datacolumn="data")
            split(vis=mms, outputvis=str(tmp_path / "o.mms"), width=2, datacolumn="data")
            assert_same_ms(str(tmp_path / "o.ms"), str(tmp_path / "o.mms"))
        if axis == "baseline":
            bls = [set(zip(_col(s, "ANTENNA1").tolist(), _col(s, "ANTENNA2").tolist()))
                   for s in subs]
            assert sum(len(b) for b in bls) == len(set().union(*bls))
            assert max(rows) - min(rows) <= max(rows) // 4     # balanced
        assert flagdata(vis=ms, mode="summary", basecnt=True) == \
            flagdata(vis=mms, mode="summary", basecnt=True)
        assert_same_ms(ms, mms, cols=("DATA", "FLAG", "UVW"))


def test_selection_datacolumn_and_plain_ms(gen, tmp_path):
    from casashell.ms.mms import is_mms, submss_names
    from casashell.tasks import partition
    mms = str(tmp_path / "sel.mms")
    partition(vis=gen, outputvis=mms, separationaxis="spw", spw="0,2", field="3C286,NGC5548",
              datacolumn="corrected", flagbackup=False)
    subs = submss_names(mms)
    assert len(subs) == 2
    from casacore import tables as ct
    with ct.table(gen, ack=False) as t:
        sel = t.query("DATA_DESC_ID IN [0,2] AND FIELD_ID IN [0,2]")
        want = {"n": sel.nrows(), "sum": complex(sel.getcol("CORRECTED_DATA").sum(
            dtype=np.complex128))}
        sel.close()
    with ct.table(mms, ack=False) as t:
        assert "CORRECTED_DATA" not in t.colnames() and "MODEL_DATA" not in t.colnames()
        assert t.nrows() == want["n"]
        assert complex(t.getcol("DATA").sum(dtype=np.complex128)) == \
            pytest.approx(want["sum"], rel=1e-12)
    assert not os.path.exists(subs[0] + ".flagversions")
    plain = str(tmp_path / "plain.ms")
    partition(vis=gen, outputvis=plain, createmms=False, scan="2", datacolumn="data")
    assert not is_mms(plain)
    assert set(_col(plain, "SCAN_NUMBER").tolist()) == {2}


def test_errors_leave_nothing_behind(gen, tmp_path):
    from casashell.tasks import partition
    mms = str(tmp_path / "e.mms")
    with pytest.raises(AssertionError, match="separationaxis"):
        partition(vis=gen, outputvis=mms, separationaxis="field")
    with pytest.raises(AssertionError, match="numsubms"):
        partition(vis=gen, outputvis=mms, numsubms=0)
    with pytest.raises(ValueError, match="channel"):
        partition(vis=gen, outputvis=mms, spw="0:1~2")
    with pytest.raises(ValueError, match="field selection 'NOPE'"):
        partition(vis=gen, outputvis=mms, field="NOPE")
    partition(vis=gen, outputvis=mms, separationaxis="scan", numsubms=2)
    with pytest.raises(FileExistsError, match="already exists"):
        partition(vis=gen, outputvis=mms)
    with pytest.raises(ValueError, match="already a Multi-MS"):
        partition(vis=mms, outputvis=str(tmp_path / "again.mms"))
    with pytest.raises(RuntimeError, match=r"Desired column \(MODEL_DATA\) not found"):
        partition(vis=gen, outputvis=str(tmp_path / "m.mms"), datacolumn="model")
    assert sorted(os.listdir(tmp_path)) == ["casa-test.log", "e.mms", "g.ms"]


def test_rows_copied_in_chunks(tmp_path, monkeypatch):
    """Sub-MSs written in several chunks (the cancellation points) equal one copy."""
    from casashell.ms.generate import make_ms
    from casashell.ms.mms import submss_names
    from casashell.parallel import executor, partitioning
    from casashell.tasks import partition
    gen = str(tmp_path / "u.ms")        # one shape for all rows: getcol reads it whole
    make_ms(gen, nant=5, nscan=5, nspw=3, nchan=8, ntimes_per_scan=4, corrected=True,
            seed=12)
    monkeypatch.setattr(executor, "have_distributed", lambda: False)   # chunk size here
    monkeypatch.setattr(partitioning, "COPY_CHUNK_BYTES", 1)
    monkeypatch.setattr(partitioning, "COPY_MIN_ROWS", 70)              # 70-row chunks
    nrow = len(_col(gen, "TIME"))
    mms = str(tmp_path / "c.mms")
    partition(vis=gen, outputvis=mms, separationaxis="spw", numsubms=2)
    rows = [len(_col(s, "TIME")) for s in submss_names(mms)]
    assert sum(rows) == nrow and min(rows) > 70          # copied in several chunks
    assert_same_ms(gen, mms, cols=("DATA", "CORRECTED_DATA", "FLAG", "WEIGHT", "UVW", "TIME",
                                   "SIGMA", "FLAG_ROW", "FIELD_ID", "DATA_DESC_ID"))


def _set_subtype(mms, subtype):
    path = os.path.join(mms, "table.info")
    lines = open(path).read().splitlines(True)
    lines[1] = f"SubType = {subtype}\n"
    open(path, "w").write("".join(lines))


@requires_casa
def test_casa_reads_our_mms_as_a_multi_ms(tmp_path):
    """CASA 6.7 takes our Multi-MS for a Multi-MS (ms.ismultims(); table.info
    has CASA's subtype CONCATENATED and axis) and its listpartition equals ours
    (the listing and the dict).  A Multi-MS written by an earlier casashell
    (empty subtype) is one plain MS to CASA."""
    from casashell.ms.generate import make_ms
    from casashell.tasks import listpartition, partition
    ms = str(tmp_path / "g.ms")
    make_ms(ms, nant=5, nscan=4, nspw=3, nchan=[8, 16, 4], ntimes_per_scan=3, seed=4)
    cases = (("scan", 2), ("auto", 3), ("baseline", 2), ("spw", 3))
    ours = {}
    for axis, n in cases:
        mms = str(tmp_path / f"{axis}.mms")
        partition(vis=ms, outputvis=mms, separationaxis=axis, numsubms=n)
        lf = str(tmp_path / f"{axis}.ours.txt")
        d = listpartition(vis=mms, createdict=True, listfile=lf)
        ours[axis] = (d, open(lf).read())
    ours["ms"] = (listpartition(vis=ms, createdict=True, listfile=str(tmp_path / "ms.txt")),
                  open(tmp_path / "ms.txt").read())
    old = str(tmp_path / "old.mms")
    shutil.copytree(str(tmp_path / "scan.mms"), old, symlinks=True)
    _set_subtype(old, "")
    for axis, _ in cases:
        with open(os.path.join(str(tmp_path / f"{axis}.mms"), "table.info")) as fh:
            assert fh.read().splitlines()[1] == "SubType = CONCATENATED"
    plain = run_casa(f"""
from casatools import ms
m = ms()
m.open({old!r})
result = m.ismultims()
m.close()
""", str(tmp_path))
    assert plain is False
    code = f"""
import os
from casatools import ms
from casatasks import listpartition, casalog
m = ms()
result = {{}}
for name in {[a for a, _ in cases] + ["ms"]!r}:
    path = os.path.join({str(tmp_path)!r}, name + '.mms' if name != 'ms' else 'g.ms')
    m.open(path)
    multi = m.ismultims()
    m.close()
    lf = name + '.casa.txt'
    d = listpartition(vis=path, createdict=True, listfile=lf)
    d = {{str(k): {{'MS': v['MS'], 'size': v['size'],
                  'scanId': {{str(s): {{'nrows': e['nrows'], 'spwIds': list(e['spwIds']),
                                      'nchans': list(e['nchans'])}}
                             for s, e in v['scanId'].items()}}}} for k, v in d.items()}}
    result[name] = {{'multi': multi, 'dict': d, 'text': open(lf).read(),
                    'log': open(casalog.logfile()).read()}}
"""
    casa = run_casa(code, str(tmp_path))
    for name, (d, text) in ours.items():
        c = casa[name]
        assert c["multi"] == (name != "ms"), name
        assert text == c["text"], f"{name}:\nours:\n{text}\nCASA:\n{c['text']}"
        plain = {str(k): {"MS": v["MS"], "size": v["size"],
                          "scanId": {str(s): {"nrows": e["nrows"],
                                              "spwIds": e["spwIds"].tolist(),
                                              "nchans": e["nchans"].tolist()}
                                     for s, e in v["scanId"].items()}}
                 for k, v in d.items()}
        assert plain == c["dict"], name
    for axis, _ in cases:
        want = "scan,spw" if axis == "auto" else axis
        assert f"This is a Multi-MS with separation axis = {want}" in casa[axis]["log"]


@requires_casa
def test_casa_hidden_parameters(gen, tmp_path, monkeypatch):
    """CASA 6.7's partition has the hidden disableparallel, ddistart and taql:
    scripts that spell them out run; taql is a nested selection (rows as in
    CASA); disableparallel writes the sub-MSs in this process."""
    import inspect
    from casacore import tables as ct
    from casashell.ms.mms import submss_names
    from casashell.parallel import partitioning
    from casashell.tasks import partition
    where = "ANTENNA1 < 2 && SCAN_NUMBER != 3"

    def rows_and_sum(path, cond="TRUE"):
        n, total = 0, 0j
        with ct.table(path, ack=False) as t:
            for dd in np.unique(t.getcol("DATA_DESC_ID")):
                q = t.query(f"({cond}) && DATA_DESC_ID == {dd}")
                n += q.nrows()
                total += complex(q.getcol("DATA").sum(dtype=np.complex128)) if q.nrows() \
                    else 0j
                q.close()
        return n, total

    want = rows_and_sum(gen, where)
    assert 0 < want[0] < rows_and_sum(gen)[0]
    common = dict(createmms=True, separationaxis="scan", numsubms=2, flagbackup=True,
                  datacolumn="all", field="", spw="", scan="", antenna="", correlation="",
                  timerange="", intent="", array="", uvrange="", observation="", feed="",
                  ddistart=-1, taql=where)
    par = str(tmp_path / "par.mms")
    partition(vis=gen, outputvis=par, disableparallel=False, **common)
    # disableparallel=True: every sub-MS written by this process
    pids = []
    orig = partitioning._write_one

    def write_one(*args):
        pids.append(os.getpid())
        return orig(*args)

    monkeypatch.setattr(partitioning, "_write_one", write_one)
    ser = str(tmp_path / "ser.mms")
    partition(gen, ser, disableparallel=True, **common)
    assert pids == [os.getpid()] * 2
    for mms in (par, ser):
        assert len(submss_names(mms)) == 2
        got = rows_and_sum(mms)
        assert got[0] == want[0] and got[1] == pytest.approx(want[1], rel=1e-12)
    assert_same_ms(par, ser)
    # the same call in CASA 6.7: same parameters, same rows
    casa = run_casa(f"""
import inspect
from casatasks import partition
from casatools import table
params = list(inspect.signature(partition.__call__).parameters)
partition(vis={gen!r}, outputvis='casa.mms', disableparallel=False, **{common!r})
tb = table()
tb.open('casa.mms')
result = {{'params': params, 'nrows': tb.nrows()}}
tb.close()
""", str(tmp_path))
    ours = [p for p in inspect.signature(partition).parameters]
    assert ours == casa["params"]
    assert casa["nrows"] == want[0]
