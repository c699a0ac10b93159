"""mstransform: regridding (channel / frequency, frames), chanaverage, timeaverage, hanning."""

from __future__ import annotations

import os

import numpy as np
import pytest
from casacore import tables as ct

from casashell.tasks import mstransform, split

DAY2 = "day2_TDEM0003_10s_norx_1scan.ms"
ZEN = "zen.2456865.60537.xy.uvcRREAAM.ms"


def cols(path, *names):
    with ct.table(path, ack=False) as t:
        return [t.getcol(n) for n in names]


def sub(path, name, col):
    with ct.table(os.path.join(path, name), ack=False) as t:
        return t.getcol(col)


def test_chanaverage_equals_split_width(data_dir, tmp_path):
    vis = os.path.join(data_dir, DAY2)
    a, b = str(tmp_path / "a.ms"), str(tmp_path / "b.ms")
    mstransform(vis=vis, outputvis=a, datacolumn="data", spw="0", chanaverage=True, chanbin=4)
    split(vis=vis, outputvis=b, datacolumn="data", spw="0", width=4)
    for c in ("DATA", "FLAG", "WEIGHT", "WEIGHT_SPECTRUM"):
        np.testing.assert_array_equal(cols(a, c)[0], cols(b, c)[0])


def test_regrid_channel_mode(data_dir, tmp_path):
    vis = os.path.join(data_dir, DAY2)
    out = str(tmp_path / "r.ms")
    mstransform(vis=vis, outputvis=out, datacolumn="data", spw="0", regridms=True,
                mode="channel", start=4, width=3, nchan=10)
    d, f, s, dd = cols(vis, "DATA", "FLAG", "SIGMA", "DATA_DESC_ID")
    m = dd == 0
    d, f, s = d[m], f[m], s[m]
    od, of = cols(out, "DATA", "FLAG")
    assert od.shape == (m.sum(), 10, 4)
    D = d[:, 4:34].reshape(len(d), 10, 3, 4).astype(np.complex128)
    G = ~f[:, 4:34].reshape(len(d), 10, 3, 4)
    W = np.zeros_like(s, dtype=np.float64)
    np.divide(1, s.astype(np.float64) ** 2, out=W, where=s > 0)
    W = np.broadcast_to(W[:, None, None, :], D.shape)
    ok = (W * G).sum(2) > 0
    exp = (D * W * G).sum(2) / np.where(ok, (W * G).sum(2), 1)
    np.testing.assert_allclose(od[ok], exp[ok], rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(of, ~G.any(2))
    fin = sub(vis, "SPECTRAL_WINDOW", "CHAN_FREQ")[0]
    np.testing.assert_allclose(sub(out, "SPECTRAL_WINDOW", "CHAN_FREQ")[0],
                               fin[4:34].reshape(10, 3).mean(1))


def test_regrid_frequency_same_frame_interpolates(data_dir, tmp_path):
    vis = os.path.join(data_dir, DAY2)
    out = str(tmp_path / "f.ms")
    fin = sub(vis, "SPECTRAL_WINDOW", "CHAN_FREQ")[0]
    # a grid offset by half a channel, same width: linear interpolation between neighbours
    start = fin[10] + 62500.0
    mstransform(vis=vis, outputvis=out, datacolumn="data", spw="0", regridms=True,
                mode="frequency", start=f"{start}Hz", width="125kHz", nchan=20)
    d, f, dd = cols(vis, "DATA", "FLAG", "DATA_DESC_ID")
    m = (dd == 0)
    good = ~f[m].reshape(m.sum(), -1).any(axis=1)
    od, = cols(out, "DATA")
    exp = 0.5 * d[m][:, 10:30].astype(np.complex128) + 0.5 * d[m][:, 11:31]
    np.testing.assert_allclose(od[good], exp[good], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(sub(out, "SPECTRAL_WINDOW", "CHAN_FREQ")[0],
                               start + 125e3 * np.arange(20))


def test_regrid_to_lsrk(data_dir, tmp_path):
    """TOPO -> LSRK: the output grid and each row's shift come from casacore measures."""
    from casacore.measures import measures
    vis = os.path.join(data_dir, DAY2)
    out = str(tmp_path / "l.ms")
    mstransform(vis=vis, outputvis=out, datacolumn="data", spw="0", regridms=True,
                mode="frequency", width="500kHz", outframe="LSRK")
    assert sub(out, "SPECTRAL_WINDOW", "MEAS_FREQ_REF").tolist() == [1]
    ofreq = sub(out, "SPECTRAL_WINDOW", "CHAN_FREQ")[0]
    # expected first channel: lower band edge in LSRK at the first time + half a width
    t0, = cols(vis, "TIME")
    fin = sub(vis, "SPECTRAL_WINDOW", "CHAN_FREQ")[0]
    ra, dec = sub(vis, "FIELD", "PHASE_DIR")[0, 0]
    dm = measures()
    # the observatory's position, as CASA (checked live: test_casa_transform.py)
    dm.doframe(dm.observatory("VLA"))
    dm.doframe(dm.epoch("UTC", f"{t0[0]}s"))
    dm.doframe(dm.direction("J2000", f"{ra}rad", f"{dec}rad"))
    lo = fin[0] - 62500.0
    lo_lsrk = dm.measure(dm.frequency("TOPO", f"{lo}Hz"), "LSRK")["m0"]["value"]
    assert abs(ofreq[0] - (lo_lsrk + 250e3)) < 1.0
    assert len(ofreq) == 16
    # the shift is several MHz at 36 GHz: the data are not just copied
    od, = cols(out, "DATA")
    assert od.shape[1] == 16 and np.isfinite(od).all()


def test_timeaverage_timespan_scan(ms_copy, tmp_path):
    vis = ms_copy(ZEN)
    a, b = str(tmp_path / "a.ms"), str(tmp_path / "b.ms")
    mstransform(vis=vis, outputvis=a, datacolumn="data", timeaverage=True, timebin="1000s",
                timespan="scan")
    split(vis=vis, outputvis=b, datacolumn="data", timebin="1000s", combine="scan")
    np.testing.assert_array_equal(cols(a, "DATA")[0], cols(b, "DATA")[0])
    # one row per baseline: all 19 times in one bin across the 4 scans
    assert len(cols(a, "TIME")[0]) == 15


def test_hanning_and_unsupported(data_dir, tmp_path):
    vis = os.path.join(data_dir, DAY2)
    out = str(tmp_path / "h.ms")
    mstransform(vis=vis, outputvis=out, datacolumn="data", hanning=True)
    d, = cols(vis, "DATA")
    od, of = cols(out, "DATA", "FLAG")
    np.testing.assert_allclose(od[:, 5], 0.25 * d[:, 4] + 0.5 * d[:, 5] + 0.25 * d[:, 6],
                               rtol=1e-6, atol=1e-7)
    assert of[:, 0].all()
    with pytest.raises(ValueError, match="douvcontsub"):
        mstransform(vis=vis, outputvis=str(tmp_path / "x.ms"), douvcontsub=True)
    assert not os.path.exists(tmp_path / "x.ms")


def test_combinespws_adjacent_windows(data_dir, tmp_path):
    from casashell.tasks import concat
    both = str(tmp_path / "both.ms")
    concat(vis=[os.path.join(data_dir, "multi_1.ms"), os.path.join(data_dir, "multi_2.ms")],
           concatvis=both)
    out = str(tmp_path / "comb.ms")
    mstransform(vis=both, outputvis=out, datacolumn="data", combinespws=True)
    f1 = sub(os.path.join(data_dir, "multi_1.ms"), "SPECTRAL_WINDOW", "CHAN_FREQ")[0]
    f2 = sub(os.path.join(data_dir, "multi_2.ms"), "SPECTRAL_WINDOW", "CHAN_FREQ")[0]
    freq = sub(out, "SPECTRAL_WINDOW", "CHAN_FREQ")
    assert freq.shape == (1, 64)
    np.testing.assert_allclose(freq[0], np.concatenate([f1, f2]), atol=1.0)
    d1, t1, a1, b1 = cols(os.path.join(data_dir, "multi_1.ms"), "DATA", "TIME", "ANTENNA1",
                          "ANTENNA2")
    d2, t2, a2, b2 = cols(os.path.join(data_dir, "multi_2.ms"), "DATA", "TIME", "ANTENNA1",
                          "ANTENNA2")
    od, ot, oa, ob, odd = cols(out, "DATA", "TIME", "ANTENNA1", "ANTENNA2", "DATA_DESC_ID")
    assert len(od) == len(d1) and set(odd.tolist()) == {0}
    k1 = {(t, a, b): i for i, (t, a, b) in enumerate(zip(t1, a1, b1))}
    k2 = {(t, a, b): i for i, (t, a, b) in enumerate(zip(t2, a2, b2))}
    for r in range(0, len(od), 37):
        key = (ot[r], oa[r], ob[r])
        np.testing.assert_allclose(od[r, :32], d1[k1[key]], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(od[r, 32:], d2[k2[key]], rtol=1e-5, atol=1e-7)


def test_usewtspectrum_creates_column(ms_copy, tmp_path):
    vis = ms_copy(DAY2)
    from casashell.tasks import initweights
    initweights(vis=vis, wtmode="delwtsp")
    out = str(tmp_path / "w.ms")
    mstransform(vis=vis, outputvis=out, datacolumn="data", spw="1", usewtspectrum=True)
    w, dd = cols(vis, "WEIGHT", "DATA_DESC_ID")
    ows, = cols(out, "WEIGHT_SPECTRUM")
    assert ows.dtype == np.float32 and ows.shape == (int((dd == 1).sum()), 64, 4)
    np.testing.assert_array_equal(ows, np.repeat(w[dd == 1][:, None, :], 64, axis=1))


def test_reindex_false_keeps_ids(data_dir, tmp_path):
    vis = os.path.join(data_dir, DAY2)
    out = str(tmp_path / "r.ms")
    mstransform(vis=vis, outputvis=out, datacolumn="data", spw="1:0~31", correlation="LL",
                reindex=False)
    odd, od = cols(out, "DATA_DESC_ID", "DATA")
    assert set(odd.tolist()) == {1} and od.shape[1:] == (32, 1)
    nchan = sub(out, "SPECTRAL_WINDOW", "NUM_CHAN").tolist()
    assert nchan == [64, 32]                      # spw 0 row kept as it was
    assert sub(out, "POLARIZATION", "NUM_CORR").tolist() == [1]
    assert sub(out, "POLARIZATION", "CORR_TYPE").tolist() == [[8]]


def test_parameter_checks_as_casa(data_dir, tmp_path):
    vis = os.path.join(data_dir, DAY2)
    out = str(tmp_path / "p.ms")
    with pytest.raises(ValueError, match="chanbin must be > 1"):
        mstransform(vis=vis, outputvis=out, datacolumn="data", chanaverage=True, chanbin=1)
    with pytest.raises(ValueError, match="timebin must be > '0s'"):
        mstransform(vis=vis, outputvis=out, datacolumn="data", timeaverage=True, timebin="0s")
    with pytest.raises(ValueError, match="tileshape"):
        mstransform(vis=vis, outputvis=out, datacolumn="data", tileshape=[4, 4])
    assert not os.path.exists(out)


def test_outputs_pass_listobs(data_dir, tmp_path):
    """Outputs of every writing path open in casacore and pass our listobs."""
    from casashell.tasks import concat, hanningsmooth, listobs
    vis = os.path.join(data_dir, DAY2)
    outs = {}
    outs["lsrk"] = str(tmp_path / "lsrk.ms")
    mstransform(vis=vis, outputvis=outs["lsrk"], datacolumn="data", regridms=True,
                mode="frequency", outframe="LSRK", spw="1")
    outs["comb"] = str(tmp_path / "comb.ms")
    mstransform(vis=vis, outputvis=outs["comb"], datacolumn="data", combinespws=True)
    outs["tavg"] = str(tmp_path / "tavg.ms")
    split(vis=vis, outputvis=outs["tavg"], datacolumn="data", timebin="20s", width=4)
    outs["hs"] = str(tmp_path / "hs.ms")
    hanningsmooth(vis=vis, outputvis=outs["hs"], spw="0")
    outs["cat"] = str(tmp_path / "cat.ms")
    concat(vis=[os.path.join(data_dir, "multi_1.ms"), os.path.join(data_dir, "multi_2.ms")],
           concatvis=outs["cat"])
    for name, out in outs.items():
        with ct.table(out, ack=False) as t:
            n = t.nrows()
        res = listobs(vis=out, listfile=str(tmp_path / f"{name}.txt"))
        assert res["numrecords"] == n > 0, name
        text = open(str(tmp_path / f"{name}.txt")).read()
        assert f"Data records: {n}" in text, name
