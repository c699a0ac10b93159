"""listobs against CASA 6.7.0's outputs and against counts computed here."""

from __future__ import annotations

import json
import os
import re
import tarfile

import numpy as np
import pytest
from casacore import tables as ct

from casashell.tasks import listobs
from conftest import DATA_DIR, REAL_MSS

SCAN1 = "day2_TDEM0003_10s_norx_1scan.ms"
SRC1 = "day2_TDEM0003_10s_norx_1src_1spw.ms"
TARRED = ["X5707_1spw_1scan_10chan_1time_1bl_noatm.ms.tar.gz",
          "lwasv_cor_58342_05_00_14.ms.tar.gz"]


def _ref_lines(reference_dir, name):
    with open(os.path.join(reference_dir, name)) as fh:
        return fh.read().splitlines()


def _compare(ours: list, ref: list):
    assert len(ours) == len(ref), "\n".join(ours)
    for i, (a, b) in enumerate(zip(ours, ref)):
        if i == 1:   # the MS name line
            assert a.startswith("           MeasurementSet Name:  ")
            assert a.endswith("      MS Version 2")
            continue
        assert a == b, f"line {i + 1} differs:\nours: {a!r}\nCASA: {b!r}"


@pytest.mark.parametrize("ms,ref", [(SCAN1, "listobs_day2_TDEM0003_10s_norx_1scan.txt"),
                                    (SRC1, "listobs_day2_TDEM0003_10s_norx_1src_1spw.txt")])
def test_text_matches_casa_line_by_line(data_dir, reference_dir, tmp_path, ms, ref):
    out = tmp_path / "lo.txt"
    listobs(vis=os.path.join(data_dir, ms), listfile=str(out))
    ours = out.read_text().splitlines()
    _compare(ours, _ref_lines(reference_dir, ref))
    assert ours[1] == ("           MeasurementSet Name:  "
                       f"{os.path.join(data_dir, ms)}      MS Version 2")


def test_text_goes_to_the_log_as_listobs_info(data_dir, reference_dir, tmp_path):
    from casashell.logsink import casalog
    listobs(vis=os.path.join(data_dir, SCAN1))
    log = open(casalog.logfile()).read().splitlines()
    body = [ln.split("\t", 3) for ln in log]
    ours = [b[3] for b in body if b[2].startswith("listobs::::casa") and len(b) == 4]
    ref = _ref_lines(reference_dir, "listobs_day2_TDEM0003_10s_norx_1scan.txt")
    # every reference line but the name appears, in order, as an INFO line
    start = ours.index(ref[0])
    _compare(ours[start:start + len(ref)], ref)
    assert all(b[1] == "INFO" for b in body if b[2].startswith("listobs"))


def test_after_split_matches_casa(data_dir, reference_dir, tmp_path):
    from casashell.tasks import split
    out = str(tmp_path / "sr_split.ms")
    split(vis=os.path.join(data_dir, SCAN1), outputvis=out, spw="0:8~55", antenna="!4",
          correlation="RR,LL", width=8, datacolumn="data")
    lf = tmp_path / "lo.txt"
    listobs(vis=out, listfile=str(lf))
    _compare(lf.read_text().splitlines(), _ref_lines(reference_dir, "listobs_after_split.txt"))


def _assert_same(ours, ref, path=""):
    if isinstance(ref, dict):
        assert isinstance(ours, dict), path
        assert sorted(ours) == sorted(ref), f"{path}: {sorted(ours)} != {sorted(ref)}"
        for k in ref:
            _assert_same(ours[k], ref[k], f"{path}.{k}")
    elif isinstance(ref, float):
        if path.endswith("scan_1.0.IntegrationTime"):
            # CASA's mean of 2828 equal EXPOSUREs differs in the last bits
            assert ours == pytest.approx(ref, rel=1e-12), path
        else:
            assert ours == ref, path
    elif isinstance(ref, str) and isinstance(ours, np.ndarray):
        assert str(ours) == ref, path   # the JSON holds numpy arrays as str()
    else:
        assert ours == ref and type(ours) is type(ref), f"{path}: {ours!r} != {ref!r}"


def test_returned_record_matches_casa_json(data_dir, reference_dir):
    with open(os.path.join(reference_dir, "listobs_day2_TDEM0003_10s_norx_1scan.json")) as fh:
        ref = json.load(fh)
    rec = listobs(vis=os.path.join(data_dir, SCAN1))
    _assert_same(rec, ref)
    assert rec["scan_1"]["0"]["SpwIds"].dtype == np.int32


# -- every MS of pyuvdata's data folder ---------------------------------------

def _all_ms(tmp_path_factory):
    out = [os.path.join(DATA_DIR, n) for n in REAL_MSS]
    dest = tmp_path_factory.mktemp("untarred")
    for t in TARRED:
        with tarfile.open(os.path.join(DATA_DIR, t)) as tf:
            names = {m.name.split("/")[0] for m in tf.getmembers()}
            tf.extractall(dest)
        out += [str(dest / n) for n in sorted(names)]
    return out


@pytest.fixture(scope="module")
def every_ms(tmp_path_factory):
    return _all_ms(tmp_path_factory)


def _expected(path):
    """Counts computed directly from the tables."""
    with ct.table(path, ack=False) as t:
        nrow = t.nrows()
        fld = np.unique(t.getcol("FIELD_ID"))
        dd = np.unique(t.getcol("DATA_DESC_ID"))
        ants = np.union1d(t.getcol("ANTENNA1"), t.getcol("ANTENNA2"))
        scans = np.unique(t.getcol("SCAN_NUMBER"))
    with ct.table(os.path.join(path, "DATA_DESCRIPTION"), ack=False) as t:
        spws = np.unique(t.getcol("SPECTRAL_WINDOW_ID")[dd])
    with ct.table(os.path.join(path, "ANTENNA"), ack=False) as t:
        names = t.getcol("NAME")
        pos = t.getcol("POSITION")
    return nrow, fld, spws, ants, scans, names, pos


def test_every_ms_in_the_data_folder(every_ms, tmp_path):
    done = 0
    for path in every_ms:
        if not os.path.isfile(os.path.join(path, "table.dat")):
            # pyuvdata's multi_len_spw.ms is a folder with two subtables only
            with pytest.raises(OSError, match=re.escape(os.path.basename(path))):
                listobs(vis=path)
            continue
        nrow, fld, spws, ants, scans, names, pos = _expected(path)
        lf = tmp_path / (os.path.basename(path) + ".txt")
        rec = listobs(vis=path, listfile=str(lf))
        text = lf.read_text()
        lines = text.splitlines()
        assert f"Data records: {nrow} " in text
        assert rec["numrecords"] == nrow
        assert f"\nFields: {len(fld)}\n" in text and rec["nfields"] == len(fld)
        assert f"Spectral Windows:  ({len(spws)} unique spectral windows" in text
        assert f"\nAntennas: {len(ants)}:\n" in text
        # one line per antenna present, with its name and ITRF position
        i = lines.index(f"Antennas: {len(ants)}:") + 3
        rows = lines[i:i + len(ants)]
        assert [int(r.split()[0]) for r in rows] == list(ants)
        for r, a in zip(rows, ants):
            assert r[2:].split()[1].startswith(names[a][:6])
            assert np.allclose([float(v) for v in r.split()[-3:]], pos[a], atol=1e-6)
        # scan table: one line per (scan, field) with the row counts
        assert sorted(int(k[5:]) for k in rec if k.startswith("scan_")) == list(scans)
        assert sum(s["nRow"] for k, v in rec.items() if k.startswith("scan_")
                   for s in v.values()) == nrow
        done += 1
    assert done == len(every_ms) - 1


def test_unknown_array_centre_from_the_antennas(every_ms):
    lwa = [p for p in every_ms if os.path.basename(p).startswith("test_adp4")][0]
    with ct.table(os.path.join(lwa, "OBSERVATION"), ack=False) as t:
        assert t.getcol("TELESCOPE_NAME")[0] == "LWASV"   # not a CASA observatory
    nrow, fld, spws, ants, scans, names, pos = _expected(lwa)
    from casashell.ms.summary import format_text, gather
    lines = format_text(gather(lwa)).splitlines()
    i = lines.index(f"Antennas: {len(ants)}:") + 3
    off = np.array([[float(v) for v in r.split()[-6:-3]] for r in lines[i:i + len(ants)]])
    # centre = mean antenna position: offsets average to zero, and they agree
    # with a local east/north/up frame to well under a centimetre at this size
    assert np.all(np.abs(off.mean(axis=0)) < 0.01)
    c = pos.mean(axis=0)
    lon = np.arctan2(c[1], c[0])
    lat = np.arctan2(c[2], np.hypot(c[0], c[1]))
    d = pos[ants] - c
    east = -np.sin(lon) * d[:, 0] + np.cos(lon) * d[:, 1]
    north = (-np.sin(lat) * np.cos(lon) * d[:, 0] - np.sin(lat) * np.sin(lon) * d[:, 1]
             + np.cos(lat) * d[:, 2])
    assert np.allclose(off[:, 0], east, atol=0.005)
    assert np.allclose(off[:, 1], north, atol=0.005)


# -- selection ---------------------------------------------------------------

def _cols(path):
    with ct.table(path, ack=False) as t:
        return {c: t.getcol(c) for c in ("ANTENNA1", "ANTENNA2", "DATA_DESC_ID", "TIME")}


def test_selection_spw_and_baseline(data_dir):
    path = os.path.join(data_dir, SCAN1)
    c = _cols(path)
    rec = listobs(vis=path, spw="1")
    assert rec["numrecords"] == int((c["DATA_DESC_ID"] == 1).sum())
    assert str(rec["scan_1"]["0"]["SpwIds"]) == "[1]"
    # antenna names are "1".."28": baseline 1&2 is ids 0 and 1
    rec = listobs(vis=path, antenna="1&2", spw="0")
    m = (c["ANTENNA1"] == 0) & (c["ANTENNA2"] == 1) & (c["DATA_DESC_ID"] == 0)
    assert rec["numrecords"] == int(m.sum())
    t = c["TIME"][m]
    assert rec["BeginTime"] * 86400 == pytest.approx(t.min() - 0.02, abs=1e-6)


def test_selection_shows_only_selected_antennas(data_dir, tmp_path):
    path = os.path.join(data_dir, SCAN1)
    lf = tmp_path / "x.txt"
    listobs(vis=path, antenna="1&2", listfile=str(lf))
    text = lf.read_text()
    assert "\nAntennas: 2:\n" in text
    assert "selectdata" not in text


def test_selectdata_false_ignores_selection(data_dir):
    path = os.path.join(data_dir, SCAN1)
    assert listobs(vis=path, selectdata=False)["numrecords"] == 2828


def test_bad_selection_is_a_clear_error(data_dir):
    with pytest.raises(ValueError, match="field"):
        listobs(vis=os.path.join(data_dir, SCAN1), field="NOSUCHFIELD")
    with pytest.raises(ValueError, match="scan"):
        listobs(vis=os.path.join(data_dir, SCAN1), scan="7")


# -- multi-scan, verbose=False, listunfl ---------------------------------------------

def test_scans_of_paper_ms(data_dir, tmp_path):
    path = os.path.join(data_dir, "zen.2456865.60537.xy.uvcRREAAM.ms")
    with ct.table(path, ack=False) as t:
        scan = t.getcol("SCAN_NUMBER")
        time = t.getcol("TIME")
        iv = t.getcol("INTERVAL")
    lf = tmp_path / "x.txt"
    rec = listobs(vis=path, listfile=str(lf))
    lines = lf.read_text().splitlines()
    i = lines.index("   ObservationID = 0         ArrayID = 0") + 2
    for k, s in enumerate(np.unique(scan)):
        line = lines[i + k]
        m = scan == s
        assert line[39:45] == f"{s:4d}  "
        assert int(line[71:81]) == int(m.sum())
        assert rec[f"scan_{s}"]["0"]["nRow"] == int(m.sum())
        assert rec[f"scan_{s}"]["0"]["BeginTime"] == (time[m] - iv[m] / 2).min() / 86400
        # the date is printed only on the first line of a day
        assert (line[2:13] == "27-Jul-2014") == (k == 0)


def test_verbose_false_layout(data_dir, reference_dir, tmp_path):
    lf = tmp_path / "x.txt"
    listobs(vis=os.path.join(data_dir, SRC1), verbose=False, listfile=str(lf))
    ours = lf.read_text().splitlines()
    ref = _ref_lines(reference_dir, "listobs_day2_TDEM0003_10s_norx_1src_1spw.txt")
    assert ours[4] == "Observation: EVLA(28 antennas)"
    assert ours[5:7] == ref[5:7]
    assert "ObservationID" not in "\n".join(ours)
    assert "Sources:" not in "\n".join(ours)
    i = ours.index("Fields: 1")
    assert ours[i:i + 6] == ref[12:18]
    assert ours[i + 6:] == [
        "Antennas: 18 'name'='station' ",
        "   ID=   0-7: '1'='W09', '2'='E02', '3'='E09', '4'='W01', '7'='N06', '8'='N01', ",
        "   ID=  8-19: '9'='E06', '12'='E08', '15'='W06', '19'='W04', '20'='N05', ",
        "   ID= 20-24: '21'='E01', '22'='N04', '23'='E07', '24'='W05', '25'='N02', ",
        "   ID= 25-27: '27'='E03', '28'='N08'",
    ]


def test_listunfl_counts_unflagged_fraction(data_dir, tmp_path):
    path = os.path.join(data_dir, SCAN1)
    with ct.table(path, ack=False) as t:
        flag = t.getcol("FLAG")
        frow = t.getcol("FLAG_ROW")
    frac = 1.0 - flag.reshape(len(flag), -1).mean(axis=1)
    frac[frow] = 0.0
    lf = tmp_path / "x.txt"
    listobs(vis=path, listunfl=True, listfile=str(lf))
    lines = lf.read_text().splitlines()
    i = lines.index("   ObservationID = 0         ArrayID = 0")
    assert "nRows     nUnflRows   SpwIds" in lines[i + 1]
    assert lines[i + 2][71:94] == f"{2828:10d}{frac.sum():13.2f}"
    j = lines.index("Fields: 1")
    assert lines[j + 1].endswith("nRows    nUnflRows")
    assert lines[j + 2].endswith(f"{2828:10d}{frac.sum():13.2f}")


# -- bad input ---------------------------------------------------------------

def test_missing_ms(tmp_path):
    with pytest.raises(AssertionError, match="nosuch.ms"):
        listobs(vis=str(tmp_path / "nosuch.ms"))


def test_not_an_ms(tmp_path):
    d = tmp_path / "plain"
    d.mkdir()
    with pytest.raises(OSError, match="is not a table"):
        listobs(vis=str(d))
    tab = str(tmp_path / "t.tab")
    with ct.table(tab, ct.maketabdesc([ct.makescacoldesc("A", 0)]), nrow=2, ack=False):
        pass
    with pytest.raises(OSError, match="is not a MeasurementSet"):
        listobs(vis=tab)


def test_existing_listfile(data_dir, tmp_path):
    lf = tmp_path / "x.txt"
    lf.write_text("keep me\n")
    with pytest.raises(FileExistsError, match="x.txt"):
        listobs(vis=os.path.join(data_dir, SRC1), listfile=str(lf))
    assert lf.read_text() == "keep me\n"
    listobs(vis=os.path.join(data_dir, SRC1), listfile=str(lf), overwrite=True)
    assert lf.read_text().startswith("=" * 80 + "\n")
    # no temporary file left behind
    assert {p.name for p in tmp_path.iterdir()} <= {"x.txt", "casa-test.log"}


def test_parameters_and_subparameters():
    spec = listobs.spec
    names = [p.name for p in spec.params]
    assert names == ["vis", "selectdata", "spw", "field", "antenna", "uvrange", "timerange",
                     "correlation", "scan", "intent", "feed", "array", "observation",
                     "verbose", "listfile", "listunfl", "cachesize", "overwrite"]
    assert spec.is_active("field", {"selectdata": True})
    assert not spec.is_active("field", {"selectdata": False})
    assert not spec.is_active("overwrite", {"listfile": ""})
    assert spec.is_active("overwrite", {"listfile": "a.txt"})


def test_parallel_reading_gives_the_same_summary(data_dir):
    """The forked helper (used on large MSs) and the serial reader agree,
    also with chunks small enough to cycle the shared buffers."""
    from casashell.ms.summary import format_text, gather, summary_record
    path = os.path.join(data_dir, SCAN1)     # 2828 rows: 3 chunks of 1000
    serial = gather(path, parallel=False)
    for kw in ({}, {"chunk_mb": 0.0001}):
        par = gather(path, parallel=True, **kw)
        assert format_text(par) == format_text(serial)
        assert str(summary_record(par)) == str(summary_record(serial))
    rows = np.arange(20, 2700, 2)
    assert format_text(gather(path, rows=rows, parallel=True, chunk_mb=0.0001)) == \
        format_text(gather(path, rows=rows, parallel=False))


@pytest.mark.parametrize("step", [1, 2, 3, 7])
def test_row_subsets_read_by_span_or_reference(data_dir, step):
    """Selected rows are read as spans (dense) or through a reference table
    (sparse); both give the counts computed here."""
    from casashell.ms.summary import gather, summary_record
    path = os.path.join(data_dir, SCAN1)
    with ct.table(path, ack=False) as t:
        dd = t.getcol("DATA_DESC_ID")
        a1 = t.getcol("ANTENNA1")
        a2 = t.getcol("ANTENNA2")
    rows = np.arange(5, 2828, step)
    for par in (False, True):
        info = gather(path, rows=rows, parallel=par, chunk_mb=0.0001)
        rec = summary_record(info)
        assert rec["numrecords"] == len(rows)
        assert list(info.antennas_present) == sorted(set(a1[rows]) | set(a2[rows]))
        spw_rows = {int(s): int((dd[rows] == s).sum()) for s in np.unique(dd[rows])}
        got = {}
        for i in range(len(info.groups.nrows)):
            got[int(info.groups.keys[i, 4])] = got.get(int(info.groups.keys[i, 4]), 0) + \
                int(info.groups.nrows[i])
        assert got == spw_rows


# -- a synthetic MS: two observations, three fields with intents, two pol setups

@pytest.fixture(scope="module")
def synth_ms(tmp_path_factory):
    from casashell.ms.generate import make_ms
    path = str(tmp_path_factory.mktemp("synth") / "syn.ms")
    make_ms(path, nant=5, nfield=3, nscan=5, nspw=2, nchan=4, ncorr=[4, 2],
            ntimes_per_scan=3, nobs=2)
    return path


def test_synthetic_scans_intents_observations(synth_ms, tmp_path):
    with ct.table(synth_ms, ack=False) as t:
        obs = t.getcol("OBSERVATION_ID")
        scan = t.getcol("SCAN_NUMBER")
        fld = t.getcol("FIELD_ID")
        state = t.getcol("STATE_ID")
    with ct.table(os.path.join(synth_ms, "STATE"), ack=False) as t:
        modes = t.getcol("OBS_MODE")
    with ct.table(os.path.join(synth_ms, "FIELD"), ack=False) as t:
        names = t.getcol("NAME")
    lf = tmp_path / "x.txt"
    rec = listobs(vis=synth_ms, listfile=str(lf))
    lines = lf.read_text().splitlines()
    # one block per observation, each with its own scans
    for o in np.unique(obs):
        i = lines.index(f"   ObservationID = {o}         ArrayID = 0")
        scans = np.unique(scan[obs == o])
        block = lines[i + 2:i + 2 + len(scans)]
        for line, s in zip(block, scans):
            m = scan == s
            f = int(np.unique(fld[m])[0])
            intents = sorted({x for st in np.unique(state[m]) for x in modes[st].split(",")})
            assert int(line[39:43]) == s
            assert int(line[45:50]) == f and line[51:71].rstrip() == names[f]
            assert int(line[71:81]) == int(m.sum())
            assert line.endswith("] [" + ",".join(intents) + "]")
            assert rec[f"scan_{s}"]["0"]["StateId"] == int(state[m].min())
    # fields: rows per field
    j = lines.index("Fields: 3")
    for k, f in enumerate(range(3)):
        assert int(lines[j + 2 + k].split()[-1]) == int((fld == f).sum())
    assert "(2 unique spectral windows and 2 unique polarization setups)" in lines[j + 5]
    assert lines[j + 7].endswith("  RR  RL  LR  LL") and lines[j + 8].endswith("  RR  LL")
    # two OBSERVATION rows: the per-observation table
    assert lines[6].startswith("  Telescope Observation Date    Observer")
    assert lines[7].startswith("  VLA       2010/04/26/06:00:00 ")


def test_intent_selection_on_synthetic(synth_ms):
    with ct.table(synth_ms, ack=False) as t:
        state = t.getcol("STATE_ID")
    with ct.table(os.path.join(synth_ms, "STATE"), ack=False) as t:
        modes = t.getcol("OBS_MODE")
    target = [i for i, m in enumerate(modes) if "OBSERVE_TARGET" in m]
    rec = listobs(vis=synth_ms, intent="*TARGET*")
    assert rec["numrecords"] == int(np.isin(state, target).sum())
    assert rec["nfields"] == 1 and rec["field_2"]["name"] == "NGC5548"


def test_listfile_in_missing_directory(data_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        listobs(vis=os.path.join(data_dir, SRC1), listfile=str(tmp_path / "no" / "x.txt"))


# -- subtables are read through MSMetadata

def test_subtables_through_msmetadata(synth_ms, tmp_path):
    """BBC numbers, per-row field direction frames (VarRefCol) and a shared
    MSMetadata: what listobs prints comes from the MS layer's records."""
    import shutil

    from casashell.ms.metadata import MSMetadata
    from casashell.ms.summary import format_text, gather
    ms = str(tmp_path / "bbc.ms")
    shutil.copytree(synth_ms, ms)
    with ct.table(os.path.join(ms, "SPECTRAL_WINDOW"), readonly=False, ack=False) as t:
        t.addcols(ct.makescacoldesc("BBC_NO", 0))
        t.putcol("BBC_NO", np.array([3, 7], dtype=np.int32))
    with ct.table(os.path.join(ms, "FIELD"), readonly=False, ack=False) as t:
        t.addcols(ct.makescacoldesc("PhaseDir_Ref", 0))
        t.putcol("PhaseDir_Ref", np.array([0, 1, 0], dtype=np.int32))
        mi = dict(t.getcolkeyword("PHASE_DIR", "MEASINFO"))
        mi.pop("Ref", None)
        mi.update(VarRefCol="PhaseDir_Ref", TabRefTypes=["J2000", "B1950"], TabRefCodes=[0, 1])
        t.putcolkeyword("PHASE_DIR", "MEASINFO", mi)
    md = MSMetadata(ms)
    assert [s.bbc_no for s in md.spws] == [3, 7]
    assert [f.direction_ref for f in md.fields] == ["J2000", "B1950", "J2000"]
    text = format_text(gather(ms, metadata=md))
    assert "fields" in md._cache and "spws" in md._cache   # the given one was used
    assert text == format_text(gather(ms))
    lines = text.splitlines()
    hdr = next(ln for ln in lines if ln.startswith("  SpwID"))
    assert "BBC Num" in hdr
    rows = lines[lines.index(hdr) + 1:lines.index(hdr) + 3]
    col = hdr.index("BBC Num")
    assert [int(r[col - 1:col + 7]) for r in rows] == [3, 7]
    j = lines.index("Fields: 3")
    ep = lines[j + 1].index("Epoch")
    epochs = [lines[j + 2 + k][ep:ep + 8].strip() for k in range(3)]
    assert epochs == ["J2000", "B1950", "J2000"]
    # without the column: no BBC field, and bbc_no is None
    assert all(s.bbc_no is None for s in MSMetadata(synth_ms).spws)
    assert "BBC Num" not in format_text(gather(synth_ms))
