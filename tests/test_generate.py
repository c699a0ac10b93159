"""The synthetic MS generator: structure, geometry, data, flags, determinism,
and the benchmarks/make_ms.py command line."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from casacore import tables as ct

from casashell.ms.core import check_ms
from casashell.ms.generate import make_ms
from casashell.ms.metadata import MSMetadata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUBTABLES = ("ANTENNA", "DATA_DESCRIPTION", "FEED", "FIELD", "FLAG_CMD", "HISTORY",
             "OBSERVATION", "POINTING", "POLARIZATION", "PROCESSOR", "SOURCE",
             "SPECTRAL_WINDOW", "STATE")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("gen") / "small.ms")
    summary = make_ms(path, nant=12, nfield=3, nscan=5, nspw=2, nchan=32, ncorr=4,
                      ntimes_per_scan=4, integration=10.0, corrected=True, model=True,
                      flag_fraction=0.05, seed=3)
    return path, summary


def getcols(path, *names):
    with ct.table(path, ack=False) as t:
        return [t.getcol(n) for n in names]


def test_structure(small):
    path, summary = small
    assert check_ms(path) == path
    for name in SUBTABLES:
        assert os.path.isfile(os.path.join(path, name, "table.dat")), name
    with ct.table(path, ack=False) as t:
        kw = t.getkeywords()
        assert "SOURCE" in kw and kw["MS_VERSION"] == 2.0
        nbl = 12 * 11 // 2 + 12
        assert t.nrows() == summary["nrows"] == nbl * 2 * 5 * 4
        for c in ("DATA", "CORRECTED_DATA", "MODEL_DATA", "FLAG"):
            assert t.getcell(c, 0).shape == (32, 4), c
        assert t.getcell("WEIGHT", 0).shape == (4,)
    md = MSMetadata(path)
    assert [a.name for a in md.antennas] == [f"ea{i:02d}" for i in range(1, 13)]
    assert all(a.station[0] in "NEW" and a.diameter == 25.0 for a in md.antennas)
    assert [f.name for f in md.fields] == ["3C286", "J1407+2827", "NGC5548"]
    assert md.pols == {0: ["RR", "RL", "LR", "LL"]}
    assert [s.nchan for s in md.spws] == [32, 32]
    assert md.spws[0].chan_freq[1] - md.spws[0].chan_freq[0] == pytest.approx(4e6)
    assert len(md.sources) == 6 and len(md.feeds) == 12
    assert [(x.id, x.spw_id) for x in md.sources[:2]] == [(0, 0), (0, 1)]
    assert md.sources[0].rest_frequency.tolist() == [0.0]
    assert md.observations[0].telescope == "VLA"
    assert [s.fields for s in md.scans] == [[0], [1], [2], [1], [2]]
    assert md.scans[0].intents == ["CALIBRATE_BANDPASS#UNSPECIFIED",
                                   "CALIBRATE_FLUX#UNSPECIFIED"]
    assert md.scans[2].intents == ["OBSERVE_TARGET#UNSPECIFIED"]
    # 3C286 at 13:31:08.288 +30:30:32.96
    ra = np.deg2rad(15 * (13 + 31 / 60 + 8.288 / 3600))
    dec = np.deg2rad(30 + 30 / 60 + 32.96 / 3600)
    assert md.fields[0].direction == pytest.approx([ra, dec])
    with ct.table(os.path.join(path, "HISTORY"), ack=False) as h:
        assert "make_ms" in h.getcell("MESSAGE", 0)


def test_corr_product_layout_as_in_real_ms(small, data_dir):
    """CORR_PRODUCT holds one (receptor, receptor) pair per correlation, read
    the same way as in an MS written by CASA."""
    path, _ = small
    with ct.table(os.path.join(data_dir, "day2_TDEM0003_10s_norx_1scan.ms", "POLARIZATION"),
                  ack=False) as t:
        real = t.getcell("CORR_PRODUCT", 0)
    with ct.table(os.path.join(path, "POLARIZATION"), ack=False) as t:
        ours = t.getcell("CORR_PRODUCT", 0)
    assert real.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]       # RR RL LR LL
    assert ours.tolist() == real.tolist()
    two = os.path.join(os.path.dirname(path), "two.ms")
    make_ms(two, nant=3, nfield=1, nscan=1, nspw=1, nchan=4, ncorr=2, ntimes_per_scan=1, seed=1)
    with ct.table(os.path.join(two, "POLARIZATION"), ack=False) as t:
        assert t.getcell("CORR_PRODUCT", 0).tolist() == [[0, 0], [1, 1]]  # RR LL


def test_times_scans_rows(small):
    path, _ = small
    time, interval, scan, field, a1, a2, ddid = getcols(
        path, "TIME", "INTERVAL", "SCAN_NUMBER", "FIELD_ID", "ANTENNA1", "ANTENNA2",
        "DATA_DESC_ID")
    assert np.all(interval == 10.0)
    assert np.all(np.diff(time) >= 0)
    start = (datetime.datetime(2010, 4, 26, 6) - datetime.datetime(1858, 11, 17)
             ).total_seconds()
    assert time[0] == start + 5.0  # centre of the first 10 s integration
    assert sorted(set(scan.tolist())) == [1, 2, 3, 4, 5]
    for s in range(1, 6):
        assert len(set(field[scan == s].tolist())) == 1
        assert len(np.unique(time[scan == s])) == 4
    # per time and spw every baseline once, autocorrelations included
    one = (time == time[0]) & (ddid == 0)
    pairs = set(zip(a1[one].tolist(), a2[one].tolist()))
    assert pairs == {(i, j) for i in range(12) for j in range(i, 12)}


def test_uvw_geometry(small):
    path, _ = small
    uvw, time, a1, a2, field = getcols(path, "UVW", "TIME", "ANTENNA1", "ANTENNA2",
                                       "FIELD_ID")
    pos = ct.table(os.path.join(path, "ANTENNA"), ack=False).getcol("POSITION")
    dirs = ct.table(os.path.join(path, "FIELD"), ack=False).getcol("PHASE_DIR")[:, 0, :]
    b = pos[a1] - pos[a2]
    # a rotation: lengths are the baseline lengths
    assert np.allclose(np.linalg.norm(uvw, axis=1), np.linalg.norm(b, axis=1), atol=1e-6)
    assert np.all(uvw[a1 == a2] == 0)
    # closure at one time: uvw(0,1) + uvw(1,2) = uvw(0,2)
    t0 = time == time[0]

    def at(i, j):
        return uvw[t0 & (a1 == i) & (a2 == j)][0]
    assert np.allclose(at(0, 1) + at(1, 2), at(0, 2), atol=1e-6)
    # textbook projection with Greenwich mean sidereal time and J2000 coordinates:
    # equal to within precession since J2000 (a fraction of a degree)
    jd = time / 86400.0 + 2440587.5 - 40587.0
    gmst = np.deg2rad((280.46061837 + 360.98564736629 * (jd - 2451545.0)) % 360.0)
    h = gmst - dirs[field, 0]
    d = dirs[field, 1]
    u = np.sin(h) * b[:, 0] + np.cos(h) * b[:, 1]
    v = -np.sin(d) * np.cos(h) * b[:, 0] + np.sin(d) * np.sin(h) * b[:, 1] + np.cos(d) * b[:, 2]
    w = np.cos(d) * np.cos(h) * b[:, 0] - np.cos(d) * np.sin(h) * b[:, 1] + np.sin(d) * b[:, 2]
    ref = np.stack([u, v, w], axis=1)
    blen = np.linalg.norm(b, axis=1)
    err = np.linalg.norm(uvw - ref, axis=1)
    assert np.all(err <= 0.006 * blen + 1e-9)
    assert np.median(err[blen > 0] / blen[blen > 0]) > 1e-4  # precession is applied


def test_uvw_matches_casacore_measures(small):
    """A few rows against casacore's own baseline -> uvw conversion."""
    from casacore import quanta as qa
    from casacore.measures import measures
    path, _ = small
    uvw, time, a1, a2, field = getcols(path, "UVW", "TIME", "ANTENNA1", "ANTENNA2",
                                       "FIELD_ID")
    pos = ct.table(os.path.join(path, "ANTENNA"), ack=False).getcol("POSITION")
    dirs = ct.table(os.path.join(path, "FIELD"), ack=False).getcol("PHASE_DIR")[:, 0, :]
    dm = measures()
    dm.do_frame(dm.position("ITRF", *[qa.quantity(x, "m") for x in pos[0]]))
    for r in (13, 400, 1500, len(time) - 2):
        dm.do_frame(dm.epoch("UTC", qa.quantity(time[r], "s")))
        dm.do_frame(dm.direction("J2000", qa.quantity(dirs[field[r], 0], "rad"),
                                 qa.quantity(dirs[field[r], 1], "rad")))
        b = pos[a1[r]] - pos[a2[r]]
        got = dm.to_uvw(dm.baseline("itrf", *[qa.quantity(x, "m") for x in b]))
        expect = np.asarray(got["xyz"].get_value(), float)
        assert np.allclose(uvw[r], expect, atol=1e-3), r


def test_data_weights_flags(small):
    path, summary = small
    data, model, corr, flag, frow, w, s, field, a1, a2, ddid = getcols(
        path, "DATA", "MODEL_DATA", "CORRECTED_DATA", "FLAG", "FLAG_ROW", "WEIGHT", "SIGMA",
        "FIELD_ID", "ANTENNA1", "ANTENNA2", "DATA_DESC_ID")
    assert np.allclose(w, 1.0 / s.astype(np.float64) ** 2, rtol=1e-5)
    assert np.all(s > 0)
    assert np.array_equal(corr, data)
    # flags: ~5 %, flagged rows are entirely flagged
    assert abs(flag.mean() - 0.05) < 0.015
    assert flag.mean() == pytest.approx(summary["flagged_fraction"])
    assert frow.any() and np.all(flag[frow])
    # the calibrator: 14.9 Jy at 1.4 GHz with spectral index -0.7, gains ~1
    cross = (a1 != a2) & (field == 0)
    freqs = ct.table(os.path.join(path, "SPECTRAL_WINDOW"), ack=False).getcol("CHAN_FREQ")
    expect = 14.9 * (freqs[ddid[cross]] / 1.4e9) ** -0.7
    amp = np.abs(data[cross][:, :, 0])
    ratio = np.median(amp / expect)
    assert 0.9 < ratio < 1.1
    # MODEL_DATA is the gain-free sky model in the parallel hands only
    mod = model[cross]
    assert np.allclose(np.abs(mod[:, :, 0]) / expect, 1.0, atol=0.06)
    assert np.all(mod[:, :, 1] == 0) and np.all(mod[:, :, 2] == 0)
    # noise: the std of the cross hands on the target ~ SIGMA / sqrt(2) per part
    tgt = (a1 != a2) & (field == 2)
    resid = data[tgt][:, :, 1].real  # RL of a weak target: mostly noise
    assert np.std(resid) == pytest.approx(np.median(s[tgt][:, 1]) / np.sqrt(2), rel=0.2)
    # autocorrelations are real and positive
    auto = data[a1 == a2][:, :, 0]
    assert np.all(auto.imag == 0) and np.all(auto.real > 0)


def test_deterministic(tmp_path):
    kw = dict(nant=5, nfield=2, nscan=2, nspw=1, nchan=8, ncorr=2, ntimes_per_scan=2)
    make_ms(str(tmp_path / "a.ms"), seed=7, **kw)
    make_ms(str(tmp_path / "b.ms"), seed=7, **kw)
    make_ms(str(tmp_path / "c.ms"), seed=8, **kw)
    # the chunk size does not change the output
    make_ms(str(tmp_path / "d.ms"), seed=7, max_bytes=1, **kw)
    assert np.array_equal(getcols(str(tmp_path / "d.ms"), "DATA")[0],
                          getcols(str(tmp_path / "a.ms"), "DATA")[0])
    da, fa, ua = getcols(str(tmp_path / "a.ms"), "DATA", "FLAG", "UVW")
    db, fb, ub = getcols(str(tmp_path / "b.ms"), "DATA", "FLAG", "UVW")
    dc, = getcols(str(tmp_path / "c.ms"), "DATA")
    assert np.array_equal(da, db) and np.array_equal(fa, fb) and np.array_equal(ua, ub)
    assert not np.array_equal(da, dc)
    with pytest.raises(FileExistsError):
        make_ms(str(tmp_path / "a.ms"), **kw)
    make_ms(str(tmp_path / "a.ms"), overwrite=True, seed=8, **kw)
    assert np.array_equal(getcols(str(tmp_path / "a.ms"), "DATA")[0], dc)


def test_mixed_shapes_and_options(tmp_path):
    path = str(tmp_path / "mixed.ms")
    summary = make_ms(path, nant=4, nfield=1, nscan=1, nspw=2, nchan=[8, 5], ncorr=[2, 1],
                      ntimes_per_scan=2, autocorr=False, intents=False, linear=True)
    md = MSMetadata(path)
    assert md.pols == {0: ["XX", "YY"], 1: ["XX"]}
    assert md.states == []
    with ct.table(path, ack=False) as t:
        ddid = t.getcol("DATA_DESC_ID")
        a1, a2 = t.getcol("ANTENNA1"), t.getcol("ANTENNA2")
        assert t.nrows() == summary["nrows"] == 6 * 2 * 2
        assert not np.any(a1 == a2)
        assert np.all(t.getcol("STATE_ID") == -1)
        for r in range(t.nrows()):
            assert t.getcell("DATA", r).shape == ((8, 2) if ddid[r] == 0 else (5, 1))
    for bad, msg in ((dict(ncorr=3), "ncorr must be 1, 2 or 4"),
                     (dict(nant=1), "nant must be at least 2"),
                     (dict(nchan=[4, 4, 4]), "nchan has 3 values for 2")):
        with pytest.raises(ValueError, match=msg):
            make_ms(str(tmp_path / "bad.ms"), **{"nspw": 2, **bad})
    assert not os.path.exists(str(tmp_path / "bad.ms"))


def test_make_ms_cli(tmp_path):
    out = str(tmp_path / "cli.ms")
    cmd = [sys.executable, os.path.join(ROOT, "benchmarks", "make_ms.py"), "--out", out,
           "--rows", "3000", "--nant", "8", "--nchan", "8", "--seed", "2"]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "rows        " in first.stdout and "3C286, J1407+2827, NGC5548" in first.stdout
    with ct.table(out, ack=False) as t:
        n = t.nrows()
    per_time = (8 * 7 // 2 + 8) * 2
    assert n % per_time == 0 and abs(n - 3000) <= per_time
    meta = json.load(open(out + ".json"))
    assert meta["summary"]["nrows"] == n and meta["params"]["seed"] == 2
    mtime = os.path.getmtime(os.path.join(out, "table.dat"))
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "up to date" in again.stdout
    assert os.path.getmtime(os.path.join(out, "table.dat")) == mtime
    other = subprocess.run(cmd[:-1] + ["3"], capture_output=True, text=True, timeout=120)
    assert other.returncode == 0 and "made" in other.stdout
    assert json.load(open(out + ".json"))["params"]["seed"] == 3
    assert not os.path.exists(out + ".new") and not os.path.exists(out + ".old")


def test_several_observations(tmp_path):
    from casashell.ms.selection import select
    path = str(tmp_path / "obs.ms")
    make_ms(path, nant=4, nfield=2, nscan=5, nspw=1, nchan=4, ncorr=2, ntimes_per_scan=2,
            nobs=2)
    obs, scan, time = getcols(path, "OBSERVATION_ID", "SCAN_NUMBER", "TIME")
    assert sorted(set(zip(scan.tolist(), obs.tolist()))) == [(1, 0), (2, 0), (3, 0), (4, 1),
                                                             (5, 1)]
    tr = ct.table(os.path.join(path, "OBSERVATION"), ack=False).getcol("TIME_RANGE")
    for o in (0, 1):
        assert tr[o][0] <= time[obs == o].min() and time[obs == o].max() <= tr[o][1]
    assert select(path, observation="1").rows.tolist() == np.flatnonzero(obs == 1).tolist()
    with pytest.raises(ValueError, match="nobs must be between 1 and nscan"):
        make_ms(str(tmp_path / "x.ms"), nscan=2, nobs=3)
