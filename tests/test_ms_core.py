"""casashell.ms.core / metadata / io on pyuvdata's real MSs and a synthetic MS."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from casacore import tables as ct

from casashell.ms.core import check_ms, ms_subtable, open_ms
from casashell.ms.generate import make_ms
from casashell.ms.io import chunk_rows, iter_chunks, put_chunk
from casashell.ms.metadata import MSMetadata

DAY2 = "day2_TDEM0003_10s_norx_1scan.ms"


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("core") / "synth.ms")
    make_ms(path, nant=6, nfield=3, nscan=4, nspw=2, nchan=[8, 16], ncorr=[4, 2],
            ntimes_per_scan=2, seed=5)
    return path


# ----------------------------------------------------------------------------
# open / check
def test_open_real_ms(data_dir):
    vis = os.path.join(data_dir, DAY2)
    with open_ms(vis) as t:
        assert t.nrows() == 2828
        assert "DATA" in t.colnames()
    assert check_ms(vis) == os.path.abspath(vis)


def test_open_missing(tmp_path):
    missing = str(tmp_path / "nothere.ms")
    with pytest.raises(FileNotFoundError) as exc:
        open_ms(missing)
    assert str(exc.value) == f"MeasurementSet {missing} does not exist"
    with pytest.raises(FileNotFoundError):
        check_ms(missing)
    with pytest.raises(FileNotFoundError, match="empty"):
        open_ms("")


def test_open_not_a_table(tmp_path, data_dir):
    d = tmp_path / "plain.ms"
    d.mkdir()
    (d / "junk.txt").write_text("x")
    with pytest.raises(OSError) as exc:
        open_ms(str(d))
    assert str(exc.value) == f"{d} is not a table"
    f = tmp_path / "file.ms"
    f.write_text("x")
    with pytest.raises(OSError, match="is not a table"):
        check_ms(str(f))
    # pyuvdata's multi_len_spw.ms holds only two subtables, no main table
    with pytest.raises(OSError, match="multi_len_spw.ms is not a table"):
        open_ms(os.path.join(data_dir, "multi_len_spw.ms"))


def test_open_table_that_is_not_ms(data_dir, tmp_path):
    ant = os.path.join(data_dir, DAY2, "ANTENNA")
    with pytest.raises(OSError) as exc:
        open_ms(ant)
    msg = str(exc.value)
    assert msg.startswith(f"{ant} is not a MeasurementSet (")
    assert "TIME" in msg and "\n" not in msg
    # a table with the main columns but no subtables
    path = str(tmp_path / "bare.tab")
    desc = ct.maketabdesc([ct.makescacoldesc(c, 0) for c in
                           ("TIME", "ANTENNA1", "ANTENNA2", "DATA_DESC_ID", "FIELD_ID",
                            "SCAN_NUMBER")] +
                          [ct.makearrcoldesc("UVW", 0.0), ct.makearrcoldesc("FLAG", False)])
    ct.table(path, desc, ack=False).close()
    with pytest.raises(OSError, match=r"is not a MeasurementSet \(no subtable ANTENNA"):
        check_ms(path)


def test_ms_subtable(data_dir):
    vis = os.path.join(data_dir, DAY2)
    with ms_subtable(vis, "SPECTRAL_WINDOW") as t:
        assert t.nrows() == 2
    with pytest.raises(OSError, match="has no NOPE subtable"):
        ms_subtable(vis, "NOPE")


# ----------------------------------------------------------------------------
# metadata
def test_metadata_real_vla(data_dir):
    vis = os.path.join(data_dir, DAY2)
    md = MSMetadata(vis)
    names = ct.table(os.path.join(vis, "ANTENNA"), ack=False).getcol("NAME")
    pos = ct.table(os.path.join(vis, "ANTENNA"), ack=False).getcol("POSITION")
    assert [a.name for a in md.antennas] == list(names)
    assert md.antennas[0].station == "W09" and md.antennas[0].diameter == 25.0
    assert np.allclose(md.antennas[3].position, pos[3])
    assert md.fields[0].name == "J1008+0730"
    # 10:08:00.016 +07:30:16.552 (listobs) in radians
    ra = (10 + 8 / 60 + 0.016 / 3600) * 15 * np.pi / 180
    dec = (7 + 30 / 60 + 16.55201 / 3600) * np.pi / 180
    assert md.fields[0].direction == pytest.approx([ra, dec], abs=1e-9)
    assert md.fields[0].source_id == 0
    assert [s.nchan for s in md.spws] == [64, 64]
    assert md.spws[0].chan_freq[0] == pytest.approx(36387.229e6, abs=1e3)
    assert md.spws[0].chan_width[0] == pytest.approx(125e3)
    assert md.spws[0].total_bw == pytest.approx(8000e3)
    assert md.spws[0].frame == "TOPO"
    assert md.ddids == {0: (0, 0), 1: (1, 0)}
    assert md.pols == {0: ["RR", "RL", "LR", "LL"]}
    assert md.states == []
    assert md.observations[0].telescope == "EVLA"
    assert md.observations[0].observer == "Mark J. Mark Claussen"
    assert [(s.id, s.name, s.spw_id) for s in md.sources] == [(0, "J1008+0730", 0),
                                                              (0, "J1008+0730", 1)]
    (scan,) = md.scans
    t = ct.table(vis, ack=False).getcol("TIME")
    assert (scan.scan, scan.nrows, scan.fields, scan.spws) == (1, 2828, [0], [0, 1])
    assert scan.start == t.min() and scan.end == t.max()
    assert md.time_range == (t.min(), t.max())
    assert md.nrows == 2828


def test_metadata_linear_mwa(data_dir):
    md = MSMetadata(os.path.join(data_dir, "1102865728_small.ms"))
    assert md.pols == {0: ["XX", "XY", "YX", "YY"]}
    assert md.pol_codes[0].tolist() == [9, 10, 11, 12]
    assert len(md.antennas) == 128 and md.antennas[0].name == "Tile011"


def test_metadata_synthetic(synth):
    md = MSMetadata(synth)
    t = ct.table(synth, ack=False)
    scan, field, ddid, state, time = (t.getcol(c) for c in (
        "SCAN_NUMBER", "FIELD_ID", "DATA_DESC_ID", "STATE_ID", "TIME"))
    assert md.pols == {0: ["RR", "RL", "LR", "LL"], 1: ["RR", "LL"]}
    assert md.ddids == {0: (0, 0), 1: (1, 1)}
    assert [s.nchan for s in md.spws] == [8, 16]
    assert [f.name for f in md.fields] == ["3C286", "J1407+2827", "NGC5548"]
    assert len(md.states) == 3
    assert "CALIBRATE_PHASE#UNSPECIFIED" in md.states[1].intents
    assert len(md.scans) == 4
    for rec in md.scans:
        m = scan == rec.scan
        assert rec.nrows == int(m.sum())
        assert rec.fields == sorted(set(field[m].tolist()))
        assert rec.start == time[m].min() and rec.end == time[m].max()
        sts = sorted(set(state[m].tolist()))
        assert rec.states == sts
        assert rec.intents == sorted(set(md.states[sts[0]].obs_mode.split(",")))
        assert rec.spws == sorted(set(ddid[m].tolist()))
    assert [f["antenna_id"] for f in md.feeds] == list(range(6))
    assert md.spw_of_ddid().tolist() == [0, 1]
    assert md.pol_of_ddid().tolist() == [0, 1]
    assert md.telescope_name() == "VLA"


# ----------------------------------------------------------------------------
# io
def test_iter_chunks_all_rows_bounded(data_dir):
    vis = os.path.join(data_dir, DAY2)
    with open_ms(vis) as t:
        full = t.getcol("DATA")
        per_row = 64 * 4 * 8 + 64 * 4
        step = chunk_rows(t, ["DATA", "FLAG"], max_bytes=100 * per_row)
        assert 90 <= step <= 100
        got, sizes = [], []
        for rows, c in iter_chunks(t, ["DATA", "FLAG"], max_bytes=100 * per_row):
            assert c["DATA"].shape == (len(rows), 64, 4)
            sizes.append(len(rows))
            got.append(c["DATA"])
        assert max(sizes) == step and sum(sizes) == 2828
        assert np.array_equal(np.concatenate(got), full)


def test_iter_chunks_selected_rows(data_dir):
    vis = os.path.join(data_dir, DAY2)
    with open_ms(vis) as t:
        full = t.getcol("UVW")
        ant1 = t.getcol("ANTENNA1")
        for rows in (np.flatnonzero(ant1 == 0),            # sparse
                     np.arange(100, 700),                   # contiguous
                     np.r_[np.arange(5, 50), np.arange(1000, 1003), [2827]]):  # mixed
            seen = []
            for r, c in iter_chunks(t, ["UVW", "TIME"], rows=rows, max_bytes=40 * 32):
                assert np.array_equal(c["UVW"], full[r])
                seen.append(r)
            assert np.array_equal(np.concatenate(seen), rows)
        assert list(iter_chunks(t, ["UVW"], rows=np.zeros(0, dtype=np.int64))) == []
        with pytest.raises(ValueError, match="sorted and unique"):
            list(iter_chunks(t, ["UVW"], rows=[5, 3]))
        with pytest.raises(ValueError, match="outside the table"):
            list(iter_chunks(t, ["UVW"], rows=[5, 2828]))


def test_put_chunk(ms_copy):
    vis = ms_copy(DAY2)
    with open_ms(vis, readonly=False) as t:
        before = t.getcol("FLAG")
        rows = np.r_[np.arange(10, 20), [50, 52, 54], np.arange(100, 300, 2)]
        new = np.ones((len(rows), 64, 4), dtype=bool)
        put_chunk(t, "FLAG", rows, new)
        put_chunk(t, "FLAG", np.arange(2000, 2010), np.ones((10, 64, 4), bool))
    after = ct.table(vis, ack=False).getcol("FLAG")
    expect = before.copy()
    expect[rows] = True
    expect[2000:2010] = True
    assert np.array_equal(after, expect)
    with open_ms(vis) as t:
        with pytest.raises(OSError, match="read-only"):
            put_chunk(t, "FLAG", [0], np.ones((1, 64, 4), bool))
    with open_ms(vis, readonly=False) as t:
        with pytest.raises(ValueError, match="2 values for 1 rows"):
            put_chunk(t, "FLAG", [0], np.ones((2, 64, 4), bool))


def test_iter_chunks_variable_shapes(synth):
    """Rows of spws with different shapes come back per chunk of one shape."""
    with open_ms(synth) as t:
        ddid = t.getcol("DATA_DESC_ID")
        rows = np.flatnonzero(ddid == 1)
        for r, c in iter_chunks(t, ["DATA"], rows=rows):
            assert c["DATA"].shape[1:] == (16, 2)
            for k in (0, len(r) - 1):
                assert np.array_equal(c["DATA"][k], t.getcell("DATA", int(r[k])))


def test_copy_is_independent(ms_copy, data_dir):
    vis = ms_copy(DAY2)
    shutil.rmtree(os.path.join(vis, "FIELD"))
    with pytest.raises(OSError, match="no subtable FIELD"):
        open_ms(vis)
    assert check_ms(os.path.join(data_dir, DAY2))


def test_open_corrupt_table_dat(data_dir, tmp_path):
    """A garbage or empty table.dat is named as corrupt, not "does not exist"
    (CASA 6.7: "table.dat - no magic value found")."""
    vis = tmp_path / "m5.ms"
    shutil.copytree(os.path.join(data_dir, DAY2), vis)
    (vis / "table.dat").write_text("garbage\n")
    with pytest.raises(OSError) as exc:
        open_ms(str(vis))
    assert str(exc.value) == (f"{vis} is a corrupt or unreadable table: {vis}/table.dat is "
                              f"corrupt (no AipsIO magic value found)")
    (vis / "table.dat").write_bytes(b"")
    with pytest.raises(OSError, match=r"m5.ms/table.dat is empty$"):
        check_ms(str(vis))
