"""hanningsmooth: smoothed values, flags and weights computed independently."""

from __future__ import annotations

import os

import numpy as np
import pytest
from casacore import tables as ct

from casashell.tasks import hanningsmooth

DAY2 = "day2_TDEM0003_10s_norx_1scan.ms"


def cols(path, *names):
    with ct.table(path, ack=False) as t:
        return [t.getcol(n) for n in names]


def test_hanning_values_flags_weights(ms_copy, tmp_path):
    vis = ms_copy(DAY2)
    rng = np.random.default_rng(2)
    with ct.table(vis, readonly=False, ack=False) as t:
        f = t.getcol("FLAG")
        f[::5, 10, :] = True          # isolated flagged channel
        t.putcol("FLAG", f)
    out = str(tmp_path / "h.ms")
    hanningsmooth(vis=vis, outputvis=out, datacolumn="data")
    d, f, s, dd = cols(vis, "DATA", "FLAG", "SIGMA", "DATA_DESC_ID")
    od, of, ow, ows, osig = cols(out, "DATA", "FLAG", "WEIGHT", "WEIGHT_SPECTRUM", "SIGMA")
    assert od.shape == d.shape
    # interior channels: 1/4, 1/2, 1/4
    exp = 0.25 * d[:, :-2].astype(np.complex128) + 0.5 * d[:, 1:-1] + 0.25 * d[:, 2:]
    np.testing.assert_allclose(od[:, 1:-1], exp, rtol=1e-6, atol=1e-7)
    # edges keep their values and are flagged
    np.testing.assert_array_equal(od[:, 0], d[:, 0])
    np.testing.assert_array_equal(od[:, -1], d[:, -1])
    assert of[:, 0].all() and of[:, -1].all()
    # a channel is flagged when it or a neighbour was
    expf = f[:, :-2] | f[:, 1:-1] | f[:, 2:]
    np.testing.assert_array_equal(of[:, 1:-1], expf)
    assert of[::5, 9:12].all()
    # weights (live CASA 6.7, test_casa_transform.py): the input weights are 1/SIGMA**2
    # (DATA); a smoothed channel's weight is 1/sum(kernel**2/w) = 8/3 w, the edge
    # channels keep theirs; WEIGHT and SIGMA are the means over the unflagged channels
    # of WEIGHT_SPECTRUM and 1/sqrt(WEIGHT_SPECTRUM)
    s64 = s.astype(np.float64)
    win = np.broadcast_to(np.where(s64 > 0, 1 / np.where(s64 > 0, s64, 1) ** 2, 0)[:, None, :],
                          d.shape)                     # a zero sigma is a zero weight
    expw = win.copy()
    with np.errstate(divide="ignore"):
        expw[:, 1:-1] = 1 / (1 / 16 / win[:, :-2] + 1 / 4 / win[:, 1:-1] + 1 / 16 / win[:, 2:])
    sig = np.zeros_like(expw)
    np.divide(1, np.sqrt(expw), out=sig, where=expw > 0)
    np.testing.assert_allclose(ows, expw, rtol=1e-6)
    use = ~of | of.all(axis=1, keepdims=True)
    np.testing.assert_allclose(ow, (expw * use).sum(1) / use.sum(1), rtol=1e-6)
    esig = (use * sig).sum(1) / use.sum(1)
    esig[esig == 0] = -1                       # CASA's sigma of a zero weight
    np.testing.assert_allclose(osig, esig, rtol=1e-6)
    # spectral windows untouched
    with ct.table(os.path.join(out, "SPECTRAL_WINDOW"), ack=False) as t1, \
            ct.table(os.path.join(vis, "SPECTRAL_WINDOW"), ack=False) as t2:
        np.testing.assert_array_equal(t1.getcol("CHAN_FREQ"), t2.getcol("CHAN_FREQ"))


def test_smooth_spw_subset_and_all(ms_copy, tmp_path):
    vis = ms_copy(DAY2)
    with ct.table(vis, readonly=False, ack=False) as t:
        desc = t.getcoldesc("DATA")
        t.addcols(ct.maketabdesc(ct.makecoldesc("CORRECTED_DATA", desc)))
        t.putcol("CORRECTED_DATA", t.getcol("DATA") * 3)
    out = str(tmp_path / "h1.ms")
    hanningsmooth(vis=vis, outputvis=out, smooth_spw="1")
    d, c, dd = cols(vis, "DATA", "CORRECTED_DATA", "DATA_DESC_ID")
    od, oc = cols(out, "DATA", "CORRECTED_DATA")
    s0, s1 = dd == 0, dd == 1
    np.testing.assert_array_equal(od[s0], d[s0])          # spw 0 copied
    w, f = cols(vis, "WEIGHT", "FLAG")
    ow, of = cols(out, "WEIGHT", "FLAG")
    np.testing.assert_array_equal(ow[s0], w[s0])
    np.testing.assert_array_equal(of[s0], f[s0])
    np.testing.assert_array_equal(oc[s0], c[s0])
    exp = 0.25 * c[s1][:, :-2] + 0.5 * c[s1][:, 1:-1] + 0.25 * c[s1][:, 2:]
    np.testing.assert_allclose(oc[s1][:, 1:-1], exp, rtol=1e-5, atol=1e-6)


def test_existing_output_refused(data_dir, tmp_path):
    out = tmp_path / "o.ms"
    out.mkdir()
    with pytest.raises(FileExistsError):
        hanningsmooth(vis=os.path.join(data_dir, DAY2), outputvis=str(out))


def test_spw_selection_reindexed_and_corrected_falls_back(data_dir, tmp_path):
    """As CASA 6.7 (compared live in test_casa_transform_qa.py): a spw selection is
    re-indexed (1 spw, DATA_DESC_ID 0), and a missing CORRECTED_DATA means DATA."""
    vis = os.path.join(data_dir, DAY2)
    out = str(tmp_path / "k.ms")
    hanningsmooth(vis=vis, outputvis=out, spw="1", datacolumn="corrected")
    d, dd = cols(vis, "DATA", "DATA_DESC_ID")
    od, odd = cols(out, "DATA", "DATA_DESC_ID")
    assert set(odd.tolist()) == {0}
    with ct.table(os.path.join(out, "SPECTRAL_WINDOW"), ack=False) as t:
        assert t.nrows() == 1
    np.testing.assert_allclose(od[:, 1:-1], 0.25 * d[dd == 1][:, :-2] + 0.5 * d[dd == 1][:, 1:-1]
                               + 0.25 * d[dd == 1][:, 2:], rtol=1e-5, atol=1e-7)
    log = open(str(tmp_path / "casa-test.log")).read()
    assert "Input CORRECTED_DATA does not exist. Will use DATA" in log


def test_mixed_shapes_generated_ms(tmp_path):
    """Two spws of different channel and correlation counts interleaved in time."""
    from casashell.ms.generate import make_ms
    vis = str(tmp_path / "mix.ms")
    make_ms(vis, nant=6, nfield=1, nscan=2, nspw=2, nchan=[16, 8], ncorr=[4, 2],
            ntimes_per_scan=4, seed=2)
    out = str(tmp_path / "h.ms")
    hanningsmooth(vis=vis, outputvis=out, datacolumn="data")
    with ct.table(vis, ack=False) as a, ct.table(out, ack=False) as b:
        assert a.nrows() == b.nrows()
        dd = a.getcol("DATA_DESC_ID")
        np.testing.assert_array_equal(b.getcol("DATA_DESC_ID"), dd)
        for r in range(0, a.nrows(), 5):
            x = a.getcell("DATA", r)
            y = b.getcell("DATA", r)
            assert y.shape == x.shape
            np.testing.assert_allclose(y[1:-1], 0.25 * x[:-2] + 0.5 * x[1:-1] + 0.25 * x[2:],
                                       rtol=1e-5, atol=1e-6)
            assert b.getcell("FLAG", r)[[0, -1]].all()
