"""tfcrop and rflag with timeavg/timebin and channelavg/chanbin (no CASA needed).

The algorithms run on averaged data and a flag set on an averaged cell is
set on every original cell of its bin; the expectations are built here from
the data and the bin rules.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from casacore import tables as ct

from casashell.ms import flagalgos
from casashell.ms.generate import make_ms
from casashell.tasks import flagdata


def test_time_slots_bin_each_baseline_from_its_first_integration():
    # integrations 10 s apart with 0.04 s intervals, one baseline 1.5 s late
    times = np.array([0.0, 1.5, 10.0, 19.997, 29.998, 39.999, 50.0])
    present = np.array([[1, 0, 1, 1, 1, 1, 1],
                        [0, 1, 1, 1, 1, 1, 1]], bool)
    slot, new_times = flagalgos.time_slots(times, present, 20.0, 0.04)
    # baseline 0: (0, 10) then (19.997, 29.998) then (39.999, 50)
    # baseline 1 starts at 1.5: (1.5, 10, 19.997) fit in 20 s, then (29.998, 39.999), (50)
    groups = [[tuple(np.flatnonzero(slot[b] == k)) for k in np.unique(slot[b][slot[b] >= 0])]
              for b in range(2)]
    assert groups[0] == [(0, 2), (3, 4), (5, 6)]
    assert groups[1] == [(1, 2, 3), (4, 5), (6,)]
    # each bin sits at the mean time of its members
    assert new_times[slot[0, 0]] == pytest.approx(5.0)
    assert new_times[slot[1, 1]] == pytest.approx((1.5 + 10.0 + 19.997) / 3, abs=1e-3)


def test_average_cube_means_of_unflagged_values():
    rng = np.random.default_rng(1)
    nb, nt, nc, npol = 2, 4, 6, 2
    data = (rng.normal(size=(nb, nt, nc, npol)) + 1j * rng.normal(size=(nb, nt, nc, npol))
            ).astype(np.complex64)
    flags = rng.random((nb, nt, nc, npol)) < 0.3
    flags[0, 0:2, 0:3, 0] = True                   # a whole bin flagged
    present = np.ones((nb, nt), bool)
    present[1, 3] = False
    slot = np.where(present, np.array([0, 0, 1, 1])[None, :], -1)
    cbin = np.arange(nc) // 3
    mask = np.ones((nc, npol), bool)
    d2, f2, p2, m2 = flagalgos.average_cube(data, flags, present, mask, slot, 2, cbin)
    for b in range(nb):
        for tb in range(2):
            ts = [t for t in range(nt) if present[b, t] and slot[b, t] == tb]
            for cb in range(2):
                for p in range(npol):
                    v = data[b, ts, cb * 3:cb * 3 + 3, p]
                    f = flags[b, ts, cb * 3:cb * 3 + 3, p]
                    exp = v[~f].mean() if (~f).any() else v.mean()
                    assert d2[b, tb, cb, p] == pytest.approx(exp, rel=1e-5, abs=1e-6)
                    assert f2[b, tb, cb, p] == f.all()
    assert f2[0, 0, 0, 0] and p2.all() and m2.shape == (2, npol)


@pytest.fixture(scope="module")
def syn(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("avg") / "syn.ms")
    make_ms(path, nant=5, nfield=1, nscan=1, nspw=1, nchan=32, ncorr=4,
            ntimes_per_scan=12, seed=11, flag_fraction=0.0, autocorr=False)
    return path


def _spiked(src, dst, row, chan):
    import shutil
    shutil.copytree(src, dst)
    with ct.table(dst, readonly=False, ack=False) as t:
        d = t.getcell("DATA", row)
        d[chan, :] = 500.0
        t.putcell("DATA", row, d)
        t.putcol("FLAG", np.zeros_like(t.getcol("FLAG")))
        t.putcol("FLAG_ROW", np.zeros(t.nrows(), bool))
    return dst


@pytest.mark.parametrize("mode,chanbin", [("rflag", 4), ("tfcrop", 2)])
def test_channelavg_flags_whole_channel_bins(syn, tmp_path, mode, chanbin):
    with ct.table(syn, ack=False) as t:
        a1, a2 = t.getcol("ANTENNA1"), t.getcol("ANTENNA2")
    row = int(np.flatnonzero((a1 == 1) & (a2 == 3))[5])
    plain = _spiked(syn, str(tmp_path / "p.ms"), row, 13)
    avg = _spiked(syn, str(tmp_path / "a.ms"), row, 13)
    flagdata(vis=plain, mode=mode, extendflags=False, flagbackup=False)
    flagdata(vis=avg, mode=mode, extendflags=False, channelavg=True, chanbin=chanbin,
             flagbackup=False)
    with ct.table(plain, ack=False) as t:
        fp = t.getcell("FLAG", row)
    with ct.table(avg, ack=False) as t:
        fa = t.getcell("FLAG", row)
    assert fp[13].all() and not fp[12].any() and not fp[14].any()
    # every channel of the spike's bin is flagged, in every correlation
    lo = 13 // chanbin * chanbin
    assert fa[lo:lo + chanbin].all()
    assert not fa[lo - 1].any() and not fa[lo + chanbin].any()


def test_timeavg_flags_whole_time_bins(syn, tmp_path):
    with ct.table(syn, ack=False) as t:
        a1, a2 = t.getcol("ANTENNA1"), t.getcol("ANTENNA2")
    rows = np.flatnonzero((a1 == 0) & (a2 == 2))
    avg = _spiked(syn, str(tmp_path / "t.ms"), int(rows[5]), 20)
    # the spectral analysis only (the time windows would also flag the bins
    # around the spike's)
    flagdata(vis=avg, mode="rflag", extendflags=False, timeavg=True, timebin="20s",
             timedev=1e6, flagbackup=False)
    with ct.table(avg, ack=False) as t:
        f = np.array([t.getcell("FLAG", int(r)) for r in rows])
    # 10 s integrations, 20 s bins from the first: integrations 4 and 5 share a bin
    assert f[4, 20].all() and f[5, 20].all()
    assert not f[3, 20].any() and not f[6, 20].any()


def test_bad_averaging_parameters_refused_before_writing(syn, tmp_path):
    import shutil
    ms = str(tmp_path / "e.ms")
    shutil.copytree(syn, ms)
    with pytest.raises(ValueError, match="timebin 'abc'"):
        flagdata(vis=ms, mode="tfcrop", timeavg=True, timebin="abc")
    with pytest.raises(ValueError, match="chanbin"):
        flagdata(vis=ms, mode="rflag", channelavg=True, chanbin=[2, 4])
    assert not os.path.exists(ms + ".flagversions")
