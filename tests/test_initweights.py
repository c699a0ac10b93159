"""initweights: each wtmode against values computed here from the MS."""

from __future__ import annotations

import os

import numpy as np
import pytest
from casacore import tables as ct

from casashell.tasks import initweights

from casa_ref import requires_casa, run_casa

DAY2 = "day2_TDEM0003_10s_norx_1scan.ms"
ZEN = "zen.2456865.60537.xy.uvcRREAAM.ms"


def cols(path, *names):
    with ct.table(path, ack=False) as t:
        return [t.getcol(n) for n in names]


def test_nyq(ms_copy):
    vis = ms_copy(DAY2)
    initweights(vis=vis, wtmode="nyq")
    exp_, dd, w, s, ws = cols(vis, "EXPOSURE", "DATA_DESC_ID", "WEIGHT", "SIGMA",
                              "WEIGHT_SPECTRUM")
    with ct.table(os.path.join(vis, "SPECTRAL_WINDOW"), ack=False) as t:
        cw = np.abs(t.getcol("EFFECTIVE_BW"))
    with ct.table(os.path.join(vis, "DATA_DESCRIPTION"), ack=False) as t:
        spw = t.getcol("SPECTRAL_WINDOW_ID")
    per_chan = 2.0 * cw[spw[dd]] * exp_[:, None]            # (row, chan)
    np.testing.assert_allclose(ws, np.repeat(per_chan[:, :, None], 4, axis=2), rtol=1e-6)
    np.testing.assert_allclose(w, np.repeat(per_chan.mean(1)[:, None], 4, 1), rtol=1e-6)
    np.testing.assert_allclose(s, 1 / np.sqrt(w), rtol=1e-6)


def test_sigma_weight_ones(ms_copy):
    vis = ms_copy(ZEN)
    rng = np.random.default_rng(4)
    with ct.table(vis, readonly=False, ack=False) as t:
        t.putcol("SIGMA", rng.uniform(0.2, 2, t.getcol("SIGMA").shape).astype(np.float32))
    initweights(vis=vis, wtmode="sigma")
    s, w, ws = cols(vis, "SIGMA", "WEIGHT", "WEIGHT_SPECTRUM")
    np.testing.assert_allclose(w, 1 / s.astype(np.float64) ** 2, rtol=1e-6)
    np.testing.assert_allclose(ws, np.repeat((1 / s.astype(np.float64) ** 2)[:, None, :],
                                             ws.shape[1], 1), rtol=1e-6)
    with ct.table(vis, readonly=False, ack=False) as t:
        t.putcol("WEIGHT", (t.getcol("WEIGHT") * 3).astype(np.float32))
    initweights(vis=vis, wtmode="weight", dowtsp=True)
    w, ws = cols(vis, "WEIGHT", "WEIGHT_SPECTRUM")
    np.testing.assert_allclose(ws, np.repeat(w[:, None, :], ws.shape[1], 1), rtol=1e-6)
    initweights(vis=vis, wtmode="ones")
    w, s, ws = cols(vis, "WEIGHT", "SIGMA", "WEIGHT_SPECTRUM")
    assert (w == 1).all() and (s == 1).all() and (ws == 1).all()


def test_delwtsp_then_dowtsp(ms_copy):
    vis = ms_copy(ZEN)
    initweights(vis=vis, wtmode="delwtsp")
    with ct.table(vis, ack=False) as t:
        assert "WEIGHT_SPECTRUM" not in t.colnames()
    with pytest.raises(ValueError):
        initweights(vis=vis, wtmode="weight")
    initweights(vis=vis, wtmode="ones", dowtsp=True)
    ws, d = cols(vis, "WEIGHT_SPECTRUM", "DATA")
    assert ws.shape == d.shape and (ws == 1).all()


def test_delsigsp(ms_copy):
    vis = ms_copy(ZEN)
    with ct.table(vis, readonly=False, ack=False) as t:
        from casashell.ms.writer import add_array_column
        add_array_column(t, "SIGMA_SPECTRUM", like="FLAG", valuetype="float")
        t.putcol("SIGMA_SPECTRUM", np.full(t.getcol("FLAG").shape, 0.5, np.float32))
    initweights(vis=vis, wtmode="sigma")
    ws, = cols(vis, "WEIGHT_SPECTRUM")
    np.testing.assert_allclose(ws, 4.0)                   # from SIGMA_SPECTRUM
    initweights(vis=vis, wtmode="delsigsp")
    with ct.table(vis, ack=False) as t:
        assert "SIGMA_SPECTRUM" not in t.colnames()


MWA = "1102865728_small.ms"      # 7381 rows, 121 of them autocorrelations


def test_nyq_autocorrelations_half(ms_copy):
    """CASA 6.7: Δν·Δt for autocorrelations, 2·Δν·Δt for cross-correlations."""
    vis = ms_copy(MWA)
    initweights(vis=vis, wtmode="nyq")
    a1, a2, exp_, w, s, ws = cols(vis, "ANTENNA1", "ANTENNA2", "EXPOSURE", "WEIGHT", "SIGMA",
                                  "WEIGHT_SPECTRUM")
    with ct.table(os.path.join(vis, "SPECTRAL_WINDOW"), ack=False) as t:
        cw = np.abs(t.getcol("EFFECTIVE_BW"))[0]
    auto = a1 == a2
    assert auto.sum() == 121
    factor = np.where(auto, 1.0, 2.0)
    per_chan = factor[:, None] * cw[None, :] * exp_[:, None]
    np.testing.assert_allclose(ws, np.repeat(per_chan[:, :, None], 4, axis=2), rtol=1e-6)
    np.testing.assert_allclose(w[auto], 3.4384e8, rtol=1e-6)     # CASA 6.7's value
    np.testing.assert_allclose(w[~auto], 6.8768e8, rtol=1e-6)
    np.testing.assert_allclose(s, 1 / np.sqrt(w.astype(np.float64)), rtol=1e-6)


def test_weight_needs_dowtsp_even_with_weight_spectrum(ms_copy):
    vis = ms_copy(MWA)                    # has WEIGHT_SPECTRUM; CASA still refuses
    before, = cols(vis, "WEIGHT_SPECTRUM")
    with pytest.raises(ValueError, match="dowtsp=True"):
        initweights(vis=vis, wtmode="weight")
    after, = cols(vis, "WEIGHT_SPECTRUM")
    np.testing.assert_array_equal(before, after)


def test_gainfield_parameter(ms_copy):
    """Every CASA 6.7 parameter spelled out, in CASA's positional order."""
    vis = ms_copy(MWA)
    assert initweights(vis=vis, wtmode="nyq", tsystable="", gainfield="", interp="",
                       spwmap=[], dowtsp=False) is None
    assert initweights(vis, "ones", "", "", "", [], True) is None
    w, = cols(vis, "WEIGHT_SPECTRUM")
    assert (w == 1).all()
    with pytest.raises(ValueError, match="Tsys"):
        initweights(vis=vis, wtmode="tsys", tsystable="x.tsys", gainfield="0")
    names = [p.name for p in initweights.spec.params]
    assert names == ["vis", "wtmode", "tsystable", "gainfield", "interp", "spwmap", "dowtsp"]


@requires_casa
def test_nyq_and_gainfield_as_casa(ms_copy, tmp_path):
    """nyq on the MWA MS (autocorrelations included) against live CASA 6.7, with every
    parameter spelled out as CASA's scripts do; wtmode='weight' without dowtsp fails in both."""
    import shutil
    vis = ms_copy(MWA)
    d = tmp_path / "casa"
    d.mkdir()
    shutil.copytree(vis, d / MWA)
    shutil.copytree(vis, d / "w.ms")
    casa = run_casa(f"""
        from casatasks import initweights
        from casatools import table
        initweights(vis={MWA!r}, wtmode='nyq', tsystable='', gainfield='', interp='',
                    spwmap=[], dowtsp=False)
        tb = table(); tb.open({MWA!r})
        result = {{c: tb.getcol(c).T for c in ('WEIGHT', 'SIGMA', 'WEIGHT_SPECTRUM')}}
        tb.close()
        try:
            initweights(vis='w.ms', wtmode='weight')
            result['weight'] = 'ok'
        except Exception:
            result['weight'] = 'error'
        """, cwd=str(d))
    initweights(vis=vis, wtmode="nyq", tsystable="", gainfield="", interp="", spwmap=[],
                dowtsp=False)
    for c, ours in zip(("WEIGHT", "SIGMA", "WEIGHT_SPECTRUM"),
                       cols(vis, "WEIGHT", "SIGMA", "WEIGHT_SPECTRUM")):
        np.testing.assert_allclose(ours, np.array(casa[c]), rtol=1e-6, err_msg=c)
    assert casa["weight"] == "error"


@requires_casa
def test_nyq_uses_effective_bw_per_spw_as_casa(tmp_path):
    """Two spws with the same channel count but different EFFECTIVE_BW (and a
    CHAN_WIDTH that differs from it), with autocorrelations: nyq as CASA 6.7, which
    uses EFFECTIVE_BW of each row's own spw."""
    import shutil
    from casashell.ms.generate import make_ms
    vis = str(tmp_path / "syn.ms")
    make_ms(vis, nant=4, nfield=1, nscan=2, nspw=2, nchan=[8, 8], ncorr=[2, 2],
            ntimes_per_scan=2, seed=3)
    with ct.table(os.path.join(vis, "SPECTRAL_WINDOW"), readonly=False, ack=False) as t:
        eb = t.getcol("EFFECTIVE_BW")
        eb[1] = eb[1] / 4
        t.putcol("EFFECTIVE_BW", eb)
        cw = t.getcol("CHAN_WIDTH")
        cw[0] = cw[0] * 3
        t.putcol("CHAN_WIDTH", cw)
    d = tmp_path / "casa"
    d.mkdir()
    shutil.copytree(vis, d / "syn.ms")
    casa = run_casa("""
        from casatasks import initweights
        from casatools import table
        initweights(vis='syn.ms', wtmode='nyq', dowtsp=True)
        tb = table(); tb.open('syn.ms')
        result = {c: tb.getcol(c).T for c in ('WEIGHT', 'SIGMA', 'WEIGHT_SPECTRUM')}
        tb.close()
        """, cwd=str(d))
    initweights(vis=vis, wtmode="nyq", dowtsp=True)
    a1, a2, dd, exp_, w, s, ws = cols(vis, "ANTENNA1", "ANTENNA2", "DATA_DESC_ID", "EXPOSURE",
                                      "WEIGHT", "SIGMA", "WEIGHT_SPECTRUM")
    factor = np.where(a1 == a2, 1.0, 2.0)
    per_chan = factor[:, None] * eb[dd] * exp_[:, None]    # DATA_DESC_ID i is spw i here
    np.testing.assert_allclose(ws, np.repeat(per_chan[:, :, None], 2, axis=2), rtol=1e-6)
    for c, ours in zip(("WEIGHT", "SIGMA", "WEIGHT_SPECTRUM"), (w, s, ws)):
        np.testing.assert_allclose(ours, np.array(casa[c]), rtol=1e-6, err_msg=c)
