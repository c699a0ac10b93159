"""flagdata and flagmanager on calibration tables (no CASA needed).

The tables are written here with python-casacore in CASA's caltable layout
(main table TIME, FIELD_ID, SPECTRAL_WINDOW_ID, ANTENNA1, ANTENNA2,
INTERVAL, SCAN_NUMBER, OBSERVATION_ID, CPARAM or FPARAM, PARAMERR, FLAG,
SNR, WEIGHT; subtables ANTENNA, FIELD, SPECTRAL_WINDOW, OBSERVATION copied
from pyuvdata's day2 MS).  Expected flags are computed here with numpy.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from casacore import tables as ct

from casashell.tasks import flagdata, flagmanager

DAY2 = "day2_TDEM0003_10s_norx_1scan.ms"
NT = 6            # solution times
NANT = 28         # day2's antennas (some have empty names)
REF = 14          # reference antenna (named '15')
T0 = 4.8e9


def make_caltable(path, ms, *, real=False, nchan=None, seed=3, ref=REF):
    """A gain-like table: NT times x 2 spws x NANT antennas, 2 solution elements."""
    rng = np.random.default_rng(seed)
    with ct.table(os.path.join(ms, "SPECTRAL_WINDOW"), ack=False) as s:
        ms_nchan = list(s.getcol("NUM_CHAN"))
    nspw = len(ms_nchan)
    nch = [nchan or 1] * nspw
    n = NT * nspw * NANT
    t_idx = np.repeat(np.arange(NT), nspw * NANT)
    spw = np.tile(np.repeat(np.arange(nspw), NANT), NT)
    a1 = np.tile(np.arange(NANT), NT * nspw)
    col = "FPARAM" if real else "CPARAM"
    cols = [ct.makescacoldesc("TIME", 0.0), ct.makescacoldesc("FIELD_ID", 0),
            ct.makescacoldesc("SPECTRAL_WINDOW_ID", 0), ct.makescacoldesc("ANTENNA1", 0),
            ct.makescacoldesc("ANTENNA2", 0), ct.makescacoldesc("INTERVAL", 0.0),
            ct.makescacoldesc("SCAN_NUMBER", 0), ct.makescacoldesc("OBSERVATION_ID", 0),
            ct.makearrcoldesc(col, 0.0 if real else 0j, ndim=2,
                              valuetype="float" if real else "complex"),
            ct.makearrcoldesc("PARAMERR", 0.0, ndim=2, valuetype="float"),
            ct.makearrcoldesc("FLAG", False, ndim=2),
            ct.makearrcoldesc("SNR", 0.0, ndim=2, valuetype="float"),
            ct.makearrcoldesc("WEIGHT", 0.0, ndim=2, valuetype="float")]
    nc = nch[0]
    if real:
        vals = rng.normal(0.0, 1.0, (n, nc, 2)).astype(np.float32)
    else:
        amp = rng.uniform(0.0, 2.0, (n, nc, 2))
        ph = rng.uniform(-np.pi, np.pi, (n, nc, 2))
        vals = (amp * np.exp(1j * ph)).astype(np.complex64)
    flags = rng.random((n, nc, 2)) < 0.1
    with ct.table(path, ct.maketabdesc(cols), nrow=n, ack=False) as t:
        t.putcol("TIME", T0 + 10.0 * t_idx)
        t.putcol("FIELD_ID", np.zeros(n, np.int32))
        t.putcol("SPECTRAL_WINDOW_ID", spw.astype(np.int32))
        t.putcol("ANTENNA1", a1.astype(np.int32))
        t.putcol("ANTENNA2", np.full(n, ref, np.int32))
        t.putcol("INTERVAL", np.full(n, 10.0))
        t.putcol("SCAN_NUMBER", (1 + t_idx // 3).astype(np.int32))
        t.putcol("OBSERVATION_ID", np.zeros(n, np.int32))
        t.putcol(col, vals)
        t.putcol("PARAMERR", np.full((n, nc, 2), 0.01, np.float32))
        t.putcol("FLAG", flags)
        t.putcol("SNR", rng.uniform(0.0, 50.0, (n, nc, 2)).astype(np.float32))
        t.putcol("WEIGHT", np.ones((n, nc, 2), np.float32))
        for sub in ("ANTENNA", "FIELD", "OBSERVATION"):
            with ct.table(os.path.join(ms, sub), ack=False) as s:
                s.copy(os.path.join(path, sub), deep=True).close()
            t.putkeyword(sub, "Table: " + os.path.abspath(os.path.join(path, sub)))
        with ct.table(os.path.join(ms, "SPECTRAL_WINDOW"), ack=False) as s:
            s.copy(os.path.join(path, "SPECTRAL_WINDOW"), deep=True).close()
        if nc != ms_nchan[0]:
            with ct.table(os.path.join(path, "SPECTRAL_WINDOW"), readonly=False, ack=False) as s:
                for i in range(s.nrows()):
                    s.putcell("NUM_CHAN", i, nc)
                    for c in ("CHAN_FREQ", "CHAN_WIDTH", "EFFECTIVE_BW", "RESOLUTION"):
                        s.putcell(c, i, np.asarray(s.getcell(c, i))[:nc])
        t.putkeyword("SPECTRAL_WINDOW",
                     "Table: " + os.path.abspath(os.path.join(path, "SPECTRAL_WINDOW")))
        t.putkeyword("ParType", "Float" if real else "Complex")
        t.putkeyword("VisCal", "K Jones" if real else "G Jones")
        t.putinfo({"type": "Calibration", "subType": "K Jones" if real else "G Jones",
                   "readme": ""})
    return path


def cols(path, *names):
    with ct.table(path, ack=False) as t:
        return [t.getcol(n) for n in names]


@pytest.fixture
def cal(data_dir, tmp_path):
    return make_caltable(str(tmp_path / "g.cal"), os.path.join(data_dir, DAY2))


@pytest.fixture
def names(data_dir):
    with ct.table(os.path.join(data_dir, DAY2, "ANTENNA"), ack=False) as a:
        return list(a.getcol("NAME"))


def test_summary_counts(cal, names):
    flag, a1, a2, spw = cols(cal, "FLAG", "ANTENNA1", "ANTENNA2", "SPECTRAL_WINDOW_ID")
    s = flagdata(vis=cal, mode="summary")
    assert s["total"] == flag.size and s["flagged"] == flag.sum()
    assert s["correlation"]["Sol1"]["flagged"] == flag[..., 0].sum()
    assert s["correlation"]["Sol2"]["total"] == flag[..., 1].size
    per_row = flag.reshape(len(flag), -1).sum(axis=1)
    for k in (0, 1):
        assert s["spw"][str(k)]["flagged"] == per_row[spw == k].sum()
    # every row counts for both antennas (the reference antenna's own rows once)
    a = names.index("3")
    mine = (a1 == a) | (a2 == a)
    assert s["antenna"]["3"] == {"flagged": float(per_row[mine].sum()),
                                 "total": float(mine.sum() * 2)}
    assert s["antenna"]["15"]["total"] == float(len(a1) * 2)
    assert s["array"] == {"-1": {"flagged": float(flag.sum()), "total": float(flag.size)}}
    assert not os.path.exists(cal + ".flagversions")


def test_manual_selections_and_backup(cal, names):
    flag0, a1, a2, tm, spw = cols(cal, "FLAG", "ANTENNA1", "ANTENNA2", "TIME",
                                  "SPECTRAL_WINDOW_ID")
    a = names.index("3")
    flagdata(vis=cal, mode="manual", antenna="3", timerange="", spw="1")
    flag1, = cols(cal, "FLAG")
    sel = ((a1 == a) | (a2 == a)) & (a1 != a2) & (spw == 1)
    exp = flag0.copy()
    exp[sel] = True
    assert np.array_equal(flag1, exp)
    # the backup holds FLAG only (a caltable has no FLAG_ROW), as CASA's
    vdir = cal + ".flagversions"
    with ct.table(os.path.join(vdir, "flags.flagdata_1"), ack=False) as v:
        assert v.colnames() == ["FLAG"]
        assert np.array_equal(v.getcol("FLAG"), flag0)
    lst = flagmanager(vis=cal, mode="list")
    assert lst[0]["name"] == "flagdata_1"
    # scan and the reference antenna's own rows (autocorr=True selects a1 == a2)
    flagdata(vis=cal, mode="manual", scan="2", autocorr=True)
    flag2, scan = cols(cal, "FLAG", "SCAN_NUMBER")
    exp[(scan == 2) & (a1 == a2)] = True
    assert np.array_equal(flag2, exp)
    flagmanager(vis=cal, mode="restore", versionname="flagdata_1")
    assert np.array_equal(cols(cal, "FLAG")[0], flag0)


def test_manual_solution_element_and_unflag(cal):
    flag0, = cols(cal, "FLAG")
    flagdata(vis=cal, mode="manual", correlation="Sol2", flagbackup=False)
    f, = cols(cal, "FLAG")
    assert f[..., 1].all() and np.array_equal(f[..., 0], flag0[..., 0])
    flagdata(vis=cal, mode="unflag", flagbackup=False)
    assert not cols(cal, "FLAG")[0].any()
    assert not os.path.exists(cal + ".flagversions")


def test_clip_cparam(cal):
    flag0, cp = cols(cal, "FLAG", "CPARAM")
    flagdata(vis=cal, mode="clip", datacolumn="CPARAM", clipminmax=[0.2, 1.5],
             correlation="ABS_Sol1", flagbackup=False)
    f, = cols(cal, "FLAG")
    a = np.abs(cp[..., 0])
    exp0 = flag0[..., 0] | (a < 0.2) | (a > 1.5)
    assert np.array_equal(f[..., 0], exp0)
    assert np.array_equal(f[..., 1], flag0[..., 1])
    # the phase, both elements, inside the range (clipoutside=False)
    flagdata(vis=cal, mode="clip", datacolumn="CPARAM", clipminmax=[-0.5, 0.5],
             correlation="ARG_ALL", clipoutside=False, flagbackup=False)
    g, = cols(cal, "FLAG")
    ph = np.angle(cp)
    assert np.array_equal(g, f | ((ph >= -0.5) & (ph <= 0.5)))


def test_clip_fparam_uses_the_values(data_dir, tmp_path):
    cal = make_caltable(str(tmp_path / "k.cal"), os.path.join(data_dir, DAY2), real=True)
    flag0, fp = cols(cal, "FLAG", "FPARAM")
    # no complex operator on a float column: ABS_ means the value itself (CASA)
    flagdata(vis=cal, mode="clip", datacolumn="FPARAM", clipminmax=[0.0, 1.0],
             correlation="ABS_Sol2", flagbackup=False)
    f, = cols(cal, "FLAG")
    v = fp[..., 1]
    assert np.array_equal(f[..., 1], flag0[..., 1] | (v < 0) | (v > 1))
    assert np.array_equal(f[..., 0], flag0[..., 0])
    assert (v < 0).sum() > 50


def test_errors_write_nothing(cal):
    flag0, = cols(cal, "FLAG")
    with pytest.raises(ValueError, match="CPARAM"):
        flagdata(vis=cal, mode="clip", clipminmax=[0, 1])          # datacolumn='DATA'
    with pytest.raises(ValueError, match="FPARAM"):
        flagdata(vis=cal, mode="clip", datacolumn="FPARAM", clipminmax=[0, 1])
    with pytest.raises(ValueError, match="intent"):
        flagdata(vis=cal, mode="manual", intent="*CAL*")
    with pytest.raises(ValueError, match="uvrange"):
        flagdata(vis=cal, mode="manual", uvrange="<1km")
    with pytest.raises(ValueError, match="scan='7'"):
        flagdata(vis=cal, mode="manual", scan="7")
    assert np.array_equal(cols(cal, "FLAG")[0], flag0)
    assert not os.path.exists(cal + ".flagversions")


def test_bandpass_channels_and_tfcrop_per_element(data_dir, tmp_path):
    cal = make_caltable(str(tmp_path / "b.cal"), os.path.join(data_dir, DAY2), nchan=16)
    flag0, spw = cols(cal, "FLAG", "SPECTRAL_WINDOW_ID")
    flagdata(vis=cal, mode="manual", spw="0:2~4;10", flagbackup=False)
    f, = cols(cal, "FLAG")
    exp = flag0.copy()
    exp[np.ix_(spw == 0, [2, 3, 4, 10])] = True
    assert np.array_equal(f, exp)
    # tfcrop works on each solution element alone: a spike in Sol1 flags Sol1 only
    with ct.table(cal, readonly=False, ack=False) as t:
        t.putcol("FLAG", np.zeros_like(flag0))
        cp = np.ones_like(t.getcol("CPARAM"))
        cp += 0.01 * np.sin(np.arange(16))[None, :, None]
        cp[7, 5, 0] = 30.0
        t.putcol("CPARAM", cp)
    flagdata(vis=cal, mode="tfcrop", datacolumn="CPARAM", extendflags=False, flagbackup=False)
    g, = cols(cal, "FLAG")
    assert g[7, 5, 0] and not g[..., 1].any()
    # the extension step (as CASA's) spreads it to the other element
    flagdata(vis=cal, mode="tfcrop", datacolumn="CPARAM", flagbackup=False)
    g, = cols(cal, "FLAG")
    assert g[7, 5].all() and g.sum() == 2


def test_savepars(cal, tmp_path):
    from casashell.logsink import casalog
    # no FLAG_CMD in a caltable: a warning (as CASA), the flags are still applied
    flagdata(vis=cal, mode="manual", antenna="3", savepars=True, flagbackup=False)
    text = open(casalog.logfile()).read()
    assert "no FLAG_CMD table" in text
    assert not os.path.exists(os.path.join(cal, "FLAG_CMD"))
    out = tmp_path / "cmds.txt"
    flagdata(vis=cal, mode="clip", datacolumn="CPARAM", clipminmax=[0, 1.5],
             correlation="ABS_Sol1", savepars=True, outfile=str(out), flagbackup=False)
    line = out.read_text().strip()
    assert "mode='clip'" in line and "datacolumn='CPARAM'" in line and "ABS_Sol1" in line
    # the saved line runs again on the table (nothing new to flag)
    before, = cols(cal, "FLAG")
    flagdata(vis=cal, mode="list", inpfile=str(out), flagbackup=False)
    assert np.array_equal(cols(cal, "FLAG")[0], before)
