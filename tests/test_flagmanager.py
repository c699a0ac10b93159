"""flagmanager and flag versions: layout, save/restore/merge, safety on interruption."""

from __future__ import annotations

import os

import numpy as np
import pytest
from casacore import tables as ct

from casashell.tasks import flagdata, flagmanager

MS_NAME = "day2_TDEM0003_10s_norx_1scan.ms"


def flags(vis):
    with ct.table(vis, ack=False) as t:
        return t.getcol("FLAG"), t.getcol("FLAG_ROW")


def test_flagbackup_then_restore_gives_original_flags(ms_copy):
    vis = ms_copy(MS_NAME)
    f0, r0 = flags(vis)
    flagdata(vis=vis, mode="manual", antenna="3,7")
    flagdata(vis=vis, mode="unflag", spw="1")
    f1, _ = flags(vis)
    assert not np.array_equal(f0, f1)
    lst = flagmanager(vis=vis, mode="list")
    assert [lst[i]["name"] for i in range(2)] == ["flagdata_1", "flagdata_2"]
    assert lst[0]["comment"].startswith("Flags autosave on ")
    assert lst["MS"] == os.path.abspath(vis)
    flagmanager(vis=vis, mode="restore", versionname="flagdata_1")
    f2, r2 = flags(vis)
    np.testing.assert_array_equal(f2, f0)
    np.testing.assert_array_equal(r2, r0)


def test_layout_is_casa_flagversions(ms_copy):
    vis = ms_copy(MS_NAME)
    f0, r0 = flags(vis)
    flagmanager(vis=vis, mode="save", versionname="before_cal", comment="my comment")
    d = vis + ".flagversions"
    assert sorted(os.listdir(d)) == ["FLAG_VERSION_LIST", "flags.before_cal"]
    with open(os.path.join(d, "FLAG_VERSION_LIST")) as fh:
        assert fh.read() == "before_cal : my comment\n"
    with ct.table(os.path.join(d, "flags.before_cal"), ack=False) as t:
        assert sorted(t.colnames()) == ["FLAG", "FLAG_ROW"]
        assert t.nrows() == len(f0)
        np.testing.assert_array_equal(t.getcol("FLAG"), f0)
        np.testing.assert_array_equal(t.getcol("FLAG_ROW"), r0)
        assert t.getdminfo("FLAG")["TYPE"] == "TiledShapeStMan"
        assert t.getkeywords() == {}            # no links to the MS's subtables
        assert t.info()["type"] != "Measurement Set"


def test_merge_or_and(ms_copy):
    vis = ms_copy(MS_NAME)
    with ct.table(vis, readonly=False, ack=False) as t:
        f = t.getcol("FLAG")
        a = np.zeros_like(f)
        a[:, :10] = True
        t.putcol("FLAG", a)
        t.putcol("FLAG_ROW", a.reshape(len(a), -1).all(axis=1))
    flagmanager(vis=vis, mode="save", versionname="A")
    with ct.table(vis, readonly=False, ack=False) as t:
        b = np.zeros_like(f)
        b[:, 5:20] = True
        t.putcol("FLAG", b)
    flagmanager(vis=vis, mode="restore", versionname="A", merge="or")
    np.testing.assert_array_equal(flags(vis)[0], a | b)
    with ct.table(vis, readonly=False, ack=False) as t:
        t.putcol("FLAG", b)
    flagmanager(vis=vis, mode="restore", versionname="A", merge="and")
    np.testing.assert_array_equal(flags(vis)[0], a & b)
    # save with merge='or' combines the current flags into the saved version
    with ct.table(vis, readonly=False, ack=False) as t:
        t.putcol("FLAG", b)
    flagmanager(vis=vis, mode="save", versionname="A", merge="or")
    with ct.table(os.path.join(vis + ".flagversions", "flags.A"), ack=False) as t:
        np.testing.assert_array_equal(t.getcol("FLAG"), a | b)


def test_save_existing_name_keeps_old_copy(ms_copy):
    vis = ms_copy(MS_NAME)
    flagmanager(vis=vis, mode="save", versionname="v", comment="first")
    flagdata(vis=vis, mode="manual", spw="0", flagbackup=False)
    flagmanager(vis=vis, mode="save", versionname="v", comment="second")
    lst = flagmanager(vis=vis, mode="list")
    names = [lst[i]["name"] for i in range(2)]
    assert names[1] == "v" and names[0].startswith("v.old.")
    assert lst[0]["comment"] == "first" and lst[1]["comment"] == "second"


def test_rename_and_delete(ms_copy):
    vis = ms_copy(MS_NAME)
    flagmanager(vis=vis, mode="save", versionname="a", comment="c1")
    flagmanager(vis=vis, mode="save", versionname="b", comment="c2")
    flagmanager(vis=vis, mode="rename", oldname="a", versionname="z", comment="renamed")
    lst = flagmanager(vis=vis, mode="list")
    assert [(lst[i]["name"], lst[i]["comment"]) for i in range(2)] == \
        [("z", "renamed"), ("b", "c2")]
    assert os.path.isdir(vis + ".flagversions/flags.z")
    flagmanager(vis=vis, mode="delete", versionname="z")
    lst = flagmanager(vis=vis, mode="list")
    assert [lst[i]["name"] for i in range(1)] == ["b"] and 1 not in lst
    assert not os.path.exists(vis + ".flagversions/flags.z")


def test_errors_are_clear(ms_copy):
    vis = ms_copy(MS_NAME)
    with pytest.raises(ValueError, match="'nope' does not exist"):
        flagmanager(vis=vis, mode="restore", versionname="nope")
    with pytest.raises(ValueError, match="needs a versionname"):
        flagmanager(vis=vis, mode="save")
    with pytest.raises(ValueError, match="blanks"):
        flagmanager(vis=vis, mode="save", versionname="two words")
    flagmanager(vis=vis, mode="save", versionname="x")
    with pytest.raises(ValueError, match="already exists"):
        flagmanager(vis=vis, mode="rename", oldname="x", versionname="x")


def test_restore_from_other_ms_is_refused(ms_copy, data_dir, tmp_path):
    import shutil
    vis = ms_copy(MS_NAME)
    other = str(tmp_path / "other.ms")
    shutil.copytree(os.path.join(data_dir, "day2_TDEM0003_10s_norx_1src_1spw.ms"), other)
    flagmanager(vis=other, mode="save", versionname="o")
    os.makedirs(vis + ".flagversions", exist_ok=True)
    shutil.copytree(other + ".flagversions/flags.o", vis + ".flagversions/flags.o")
    with open(vis + ".flagversions/FLAG_VERSION_LIST", "w") as f:
        f.write("o : from another MS\n")
    f0, _ = flags(vis)
    with pytest.raises(ValueError, match="not saved from this MS"):
        flagmanager(vis=vis, mode="restore", versionname="o")
    np.testing.assert_array_equal(flags(vis)[0], f0)


def test_interrupted_flagdata_leaves_ms_restorable(ms_copy, monkeypatch):
    """Ctrl-C in the middle of writing: the MS still opens, the backup is
    complete, and restoring it gives the original flags back."""
    from casashell.ms import flagio

    vis = ms_copy(MS_NAME)
    f0, r0 = flags(vis)
    real = flagio.write_cells
    calls = {"n": 0}

    def boom(table, column, rows, values):
        if column == "FLAG" and os.path.basename(table.name()) == MS_NAME:
            calls["n"] += 1
            if calls["n"] > 1:
                raise KeyboardInterrupt
        return real(table, column, rows, values)

    monkeypatch.setattr(flagio, "write_cells", boom)
    monkeypatch.setattr(flagio, "DEFAULT_BLOCK_BYTES", 200_000)   # several blocks
    with pytest.raises(KeyboardInterrupt):
        flagdata(vis=vis, mode="manual", spw="0,1")
    monkeypatch.setattr(flagio, "write_cells", real)
    f1, _ = flags(vis)                       # the table is still readable
    assert f1.sum() > f0.sum()               # the first block was written
    assert not f1.all()                      # but not everything
    flagmanager(vis=vis, mode="restore", versionname="flagdata_1")
    f2, r2 = flags(vis)
    np.testing.assert_array_equal(f2, f0)
    np.testing.assert_array_equal(r2, r0)


def test_interrupted_save_leaves_no_partial_version(ms_copy, monkeypatch):
    from casashell.ms import flagversions

    vis = ms_copy(MS_NAME)
    flagmanager(vis=vis, mode="save", versionname="good")
    real = flagversions.FlagVersions._copy_flags

    def boom(ms, dest, merge_with, merge):
        real(ms, dest, merge_with, merge)      # the copy is written under a temp name...
        assert os.path.isdir(dest) and "flags.partial" in dest and dest.count(".tmp-")
        raise KeyboardInterrupt                # ...and Ctrl-C comes before the rename

    monkeypatch.setattr(flagversions.FlagVersions, "_copy_flags", staticmethod(boom))
    with pytest.raises(KeyboardInterrupt):
        flagmanager(vis=vis, mode="save", versionname="partial")
    monkeypatch.undo()
    d = vis + ".flagversions"
    assert sorted(os.listdir(d)) == ["FLAG_VERSION_LIST", "flags.good"]
    lst = flagmanager(vis=vis, mode="list")
    assert lst[0]["name"] == "good" and 1 not in lst


def test_save_fallback_copy_matches(ms_copy, monkeypatch):
    """The chunked Python copy (used when casacore cannot copy the columns
    itself) writes the same version."""
    from casacore import tables as cct

    vis = ms_copy(MS_NAME)
    f0, r0 = flags(vis)

    def no_taql(*a, **k):
        raise RuntimeError("no TaQL here")

    monkeypatch.setattr(cct, "taql", no_taql)
    flagmanager(vis=vis, mode="save", versionname="py")
    monkeypatch.undo()
    with ct.table(os.path.join(vis + ".flagversions", "flags.py"), ack=False) as t:
        np.testing.assert_array_equal(t.getcol("FLAG"), f0)
        np.testing.assert_array_equal(t.getcol("FLAG_ROW"), r0)


def test_sigint_during_a_block_write_is_held_until_flag_row_is_written(ms_copy, monkeypatch):
    """A real SIGINT arriving between the FLAG and FLAG_ROW writes of a block
    takes effect only after FLAG_ROW is written: the MS stays consistent."""
    import signal

    from casashell.ms import flagio

    vis = ms_copy(MS_NAME)
    f0, _ = flags(vis)
    real = flagio.write_cells
    state = {"sent": False}
    names = (MS_NAME, "day2_TDEM0003_10s_norx_1src_1spw.ms")

    def write_then_signal(table, column, rows, values):
        real(table, column, rows, values)
        if column == "FLAG" and os.path.basename(table.name()) in names and not state["sent"]:
            state["sent"] = True
            signal.raise_signal(signal.SIGINT)     # arrives before FLAG_ROW is written

    monkeypatch.setattr(flagio, "write_cells", write_then_signal)
    monkeypatch.setattr(flagio, "DEFAULT_BLOCK_BYTES", 200_000)
    # without a backup the partial flags stay (with one, flagdata restores it:
    # tests/test_flagdata_messages.py)
    with pytest.raises(KeyboardInterrupt):
        flagdata(vis=vis, mode="manual", spw="0,1", flagbackup=False)
    f1, r1 = flags(vis)
    np.testing.assert_array_equal(r1, f1.reshape(len(f1), -1).all(axis=1))
    assert f0.sum() < f1.sum() < f1.size
    # with the backup: the flags as before, FLAG_ROW consistent
    state["sent"] = False
    vis2 = ms_copy("day2_TDEM0003_10s_norx_1src_1spw.ms")
    g0, _ = flags(vis2)
    with pytest.raises(KeyboardInterrupt):
        flagdata(vis=vis2, mode="manual", spw="0")
    monkeypatch.undo()
    g1, s1 = flags(vis2)
    np.testing.assert_array_equal(g1, g0)
    np.testing.assert_array_equal(s1, g1.reshape(len(g1), -1).all(axis=1))
