"""split, mstransform and hanningsmooth against live CASA 6.7 on the cases a QA
round found different (real pyuvdata MSs): the same calls on the same inputs,
outputs compared element by element with ``test_casa_transform.compare_ms``.
"""

from __future__ import annotations

import os
import shutil
import tarfile

import numpy as np
import pytest

from casa_ref import CASA_PYTHON, requires_casa, run_casa
from conftest import DATA_DIR
from test_casa_transform import compare_ms

D2 = os.path.join(DATA_DIR or "", "day2_TDEM0003_10s_norx_1src_1spw.ms")
D2S = os.path.join(DATA_DIR or "", "day2_TDEM0003_10s_norx_1scan.ms")
MWA = os.path.join(DATA_DIR or "", "1102865728_small.ms")
LWA_TGZ = os.path.join(DATA_DIR or "", "lwasv_cor_58342_05_00_14.ms.tar.gz")

#: (name, task, input ('lwa' or a path), parameters)
CASES = [
    # UVW without a fixed shape in the input (LWA correlator MS)
    ("lwa_split", "split", "lwa", dict(datacolumn="data")),
    ("lwa_mst_chanavg", "mstransform", "lwa", dict(datacolumn="data", chanaverage=True,
                                                   chanbin=4)),
    ("lwa_hanning", "hanningsmooth", "lwa", dict(datacolumn="data")),
    # WEIGHT != 1/SIGMA**2 in the input (wa; wb with WEIGHT_SPECTRUM, no SIGMA_SPECTRUM)
    ("wa_data", "split", "wa", dict(datacolumn="data")),
    ("wb_data", "split", "wb", dict(datacolumn="data")),
    ("wb_corrected", "split", "wb", dict(datacolumn="corrected")),
    ("wa_all", "split", "wa", dict(datacolumn="all")),
    ("wa_all_w2", "split", "wa", dict(datacolumn="all", width=2)),
    ("wb_all_w2", "split", "wb", dict(datacolumn="all", width=2)),
    ("wa_all_tb", "split", "wa", dict(datacolumn="all", timebin="20s")),
    ("wb_all_tb", "split", "wb", dict(datacolumn="all", timebin="20s")),
    ("d2_hs_all", "hanningsmooth", D2, dict(datacolumn="all")),
    ("wb_mst_dmc", "mstransform", "wb", dict(datacolumn="data,model,corrected",
                                           chanaverage=True, chanbin=2)),
    # plain split of the MWA MS: WEIGHT = 1/SIGMA**2
    ("mwa_split", "split", MWA, dict(datacolumn="data")),
    ("mwa_split_ant", "split", MWA, dict(datacolumn="data", antenna="!1")),
    # FLAG_ROW copied (121 rows of the MWA MS have every flag set, FLAG_ROW False)
    ("mwa_split_w2", "split", MWA, dict(datacolumn="data", width=2)),
    # hanning + chanaverage: averaged first, then smoothed
    ("d2s_hann_avg", "mstransform", D2S, dict(datacolumn="data", hanning=True,
                                              chanaverage=True, chanbin=4, spw="0")),
    ("mwa_hann_avg", "mstransform", MWA, dict(datacolumn="data", hanning=True,
                                              chanaverage=True, chanbin=3)),
    # hanning + regridding (regridded after smoothing) and + time averaging
    ("d2s_hann_regrid", "mstransform", D2S, dict(datacolumn="data", hanning=True,
                                                 regridms=True, mode="channel", start=3,
                                                 nchan=40, spw="0")),
    ("d2_hann_tavg", "mstransform", D2, dict(datacolumn="data", hanning=True,
                                             timeaverage=True, timebin="30s")),
    # time bins per baseline (time stamps jitter by up to 1.5 s between baselines)
    ("d2_tb20", "split", D2, dict(datacolumn="data", timebin="20s")),
    ("d2_tb30", "split", D2, dict(datacolumn="data", timebin="30s")),
    ("d2_tb40", "split", D2, dict(datacolumn="data", timebin="40s")),
    ("d2_mst_avg_tb20", "mstransform", D2, dict(datacolumn="data", chanaverage=True,
                                                chanbin=4, timeaverage=True,
                                                timebin="20s")),
    ("d2_w8_tb40_ant", "split", D2, dict(datacolumn="data", width=8, timebin="40s",
                                         antenna="!1")),
    # regridding outside the band: a start below it is reset to the band edge; a
    # channel start past the spw to 0; a grid entirely outside is an error
    ("d2s_regrid_below", "mstransform", D2S, dict(datacolumn="data", regridms=True,
                                                  mode="frequency", start="36.305GHz",
                                                  width="125kHz", nchan=20, spw="0")),
    ("d2s_regrid_chan_past", "mstransform", D2S, dict(datacolumn="data", regridms=True,
                                                      mode="channel", start=70, nchan=5,
                                                      spw="0")),
    ("mwa_regrid_hi_vel", "mstransform", MWA, dict(datacolumn="data", regridms=True,
                                                   mode="velocity",
                                                   restfreq="1420.405752MHz",
                                                   start="-50km/s", width="5km/s", nchan=10,
                                                   outframe="LSRK", veltype="radio")),
    # width larger than the selected channels: clamped (one output channel)
    ("d2_w1000", "split", D2, dict(datacolumn="data", width=1000)),
    ("d2_mst_cb1000", "mstransform", D2, dict(datacolumn="data", chanaverage=True,
                                              chanbin=1000)),
    # datacolumn all: each column averaged with its own weights
    ("wc_all_w2", "split", "wc", dict(datacolumn="all", width=2)),
    ("wc_all_tb", "split", "wc", dict(datacolumn="all", timebin="20s")),
    ("wc_all_hs", "hanningsmooth", "wc", dict(datacolumn="all")),
    ("wc_dmc_avg", "mstransform", "wc", dict(datacolumn="data,model,corrected",
                                             chanaverage=True, chanbin=4)),
    # hanningsmooth re-indexes like split (a spw / field selection)
    ("d2s_hs_spw1", "hanningsmooth", D2S, dict(datacolumn="data", spw="1")),
    ("wc_hs_nosel", "hanningsmooth", "wc", dict(datacolumn="corrected")),
    # a virtual model (CASA's setjy, usescratch=False, run on vm first) is dropped
    ("vm_split", "split", "vm", dict(datacolumn="data")),
    ("vm_mst", "mstransform", "vm", dict(datacolumn="data", chanaverage=True, chanbin=2)),
    ("vm_hs", "hanningsmooth", "vm", dict(datacolumn="data")),
    # all columns of the MWA MS (channel-dependent WEIGHT_SPECTRUM, zero for the
    # flagged data): DATA with 1/SIGMA**2, fully flagged zero-weight cells 0
    ("mwacal_all_w2", "split", "mwacal", dict(datacolumn="all", width=2)),
    ("mwacal_all_tb", "split", "mwacal", dict(datacolumn="all", timebin="20s")),
    # FLAG_ROW: copied without time averaging, False with it
    ("fr_w2", "split", "fr", dict(datacolumn="data", width=2)),
    ("fr_tb20", "split", "fr", dict(datacolumn="data", timebin="20s")),
    ("fr_tb20_w2", "split", "fr", dict(datacolumn="data", timebin="20s", width=2)),
    # other pyuvdata MSs (MWA Birli, OVRO-LWA, HERA, VLA multi_1): plain, width, timebin
    *[(f"pyuv{i}_{tag}", "split", os.path.join(DATA_DIR or "", ms), dict(datacolumn="data", **kw))
      for i, ms in enumerate(["1090008640_birli_pyuvdata.ms",
                              "2018-03-21-01_26_33_0004384620257280_000000_downselected.ms",
                              "zen.2456865.60537.xy.uvcRREAAM.ms", "multi_1.ms"])
      for tag, kw in (("plain", {}), ("w2", dict(width=2)), ("tb", dict(timebin="20s")))],
    # concat: equal frequencies but IF_CONV_CHAIN 0 vs 1 -> separate spws
    ("concat_d2", "concat", None, dict(vis=[D2, D2S], timesort=True)),
]


def _unpack_lwa(base):
    with tarfile.open(LWA_TGZ) as tf:
        tf.extractall(str(base / "lwa_unpack"))
    (name,) = os.listdir(str(base / "lwa_unpack"))
    path = str(base / "lwa.ms")
    shutil.move(str(base / "lwa_unpack" / name), path)
    return path


def _mk_w(path, ws):
    """A small MS with CORRECTED_DATA whose WEIGHT is not 1/SIGMA**2 (and, with
    ``ws``, a WEIGHT_SPECTRUM equal to neither)."""
    from casacore import tables as ct
    from casashell.ms.generate import make_ms
    make_ms(str(path), nant=4, nfield=1, nscan=1, nspw=1, nchan=8, ncorr=2,
            ntimes_per_scan=4, corrected=True, model=True, flag_fraction=0.1, seed=1,
            autocorr=False, weight_spectrum=ws, history=False)
    with ct.table(str(path), readonly=False, ack=False) as t:
        t.putcol("WEIGHT", t.getcol("WEIGHT") * 3.0)
        t.putcol("SIGMA", t.getcol("SIGMA") * 0 + 0.5)
        if ws:
            t.putcol("WEIGHT_SPECTRUM", t.getcol("WEIGHT_SPECTRUM") * 0 + 7.0)
    return str(path)


def _mk_wc(path):
    """Like wb with MODEL_DATA, but WEIGHT_SPECTRUM and SIGMA random (row and
    channel dependent): every column's averaging weights matter."""
    from casacore import tables as ct
    _mk_w(path, True)
    rng = np.random.default_rng(7)
    with ct.table(str(path), readonly=False, ack=False) as t:
        ws = t.getcol("WEIGHT_SPECTRUM")
        t.putcol("WEIGHT_SPECTRUM", rng.uniform(1, 10, ws.shape).astype(np.float32))
        sg = t.getcol("SIGMA")
        t.putcol("SIGMA", rng.uniform(0.2, 2, sg.shape).astype(np.float32))
        f = t.getcol("FLAG")
        f[[0, 5]] = True                          # whole rows
        f[7, :4] = True                           # a whole 4-channel bin
        t.putcol("FLAG", f)
    return str(path)


def _mk_fr(path):
    """wa-like MS whose baseline 0-1 has its first two integrations flagged with
    FLAG_ROW set, 0-2 the same with FLAG_ROW unset, 0-3 its first one flagged."""
    from casacore import tables as ct
    from casashell.ms.generate import make_ms
    make_ms(str(path), nant=4, nfield=1, nscan=1, nspw=1, nchan=8, ncorr=2,
            ntimes_per_scan=4, corrected=False, model=False, flag_fraction=0.1, seed=2,
            autocorr=False, weight_spectrum=False, history=False)
    with ct.table(str(path), readonly=False, ack=False) as t:
        tm, a1, a2 = t.getcol("TIME"), t.getcol("ANTENNA1"), t.getcol("ANTENNA2")
        u = np.unique(tm)
        f, fr = t.getcol("FLAG"), t.getcol("FLAG_ROW")
        for b, n, r in ((1, 2, True), (2, 2, False), (3, 1, True)):
            m = (a1 == 0) & (a2 == b) & (tm < u[n])
            f[m] = True
            fr[m] = r
        t.putcol("FLAG", f)
        t.putcol("FLAG_ROW", fr)
    return str(path)


@pytest.fixture(scope="module")
def qa_outputs(tmp_path_factory):
    """Every case run by CASA (one CASA start) and by casashell; the casashell
    status is 'ok' or the exception's repr, as CASA's."""
    base = tmp_path_factory.mktemp("casa_transform_qa")
    inputs = {"lwa": _unpack_lwa(base), "wa": _mk_w(base / "wa.ms", False),
              "wb": _mk_w(base / "wb.ms", True), "fr": _mk_fr(base / "fr.ms"),
              "wc": _mk_wc(base / "wc.ms"), "vm": _mk_fr(base / "vm.ms"),
              "mwacal": str(base / "mwacal.ms")}
    shutil.copytree(MWA, inputs["mwacal"])     # CASA's clearcal(addmodel=True) runs on it
    cases = [(n, t, inputs.get(s, s), kw) for n, t, s, kw in CASES]
    for who in ("casa", "ours"):
        (base / who).mkdir()
    code = f"""
import os, casatasks
casatasks.setjy(vis={inputs['vm']!r}, field='0', standard='manual',
                fluxdensity=[2.5, 0, 0, 0], usescratch=False)
casatasks.clearcal(vis={inputs['mwacal']!r}, addmodel=True)
result = {{}}
for name, tk, src, kw in {cases!r}:
    out = os.path.join({str(base / 'casa')!r}, name + '.ms')
    kw = dict(kw, concatvis=out) if tk == 'concat' else dict(kw, vis=src, outputvis=out)
    if tk == 'concat':   # CASA's concat writes HISTORY rows into its inputs: give it copies
        import shutil
        copies = []
        for i, v in enumerate(kw['vis']):
            c = os.path.join({str(base / 'casa')!r}, f'_in_{{name}}_{{i}}.ms')
            shutil.copytree(v, c)
            copies.append(c)
        kw['vis'] = copies
    try:
        r = getattr(casatasks, tk)(**kw)
        result[name] = 'ok' if r is not False else 'False'
    except Exception as e:
        result[name] = 'error'
"""
    casa_status = run_casa(code, str(base / "casa")) if CASA_PYTHON else None
    import casashell.tasks as tasks
    ours = {}
    for name, task, src, kw in cases:
        try:
            out = str(base / "ours" / (name + ".ms"))
            r = getattr(tasks, task)(**(dict(kw, concatvis=out) if task == "concat" else
                                        dict(kw, vis=src, outputvis=out)))
            ours[name] = "ok" if r is not False else "False"
        except Exception:
            ours[name] = "error"
    return {"base": base, "casa": casa_status, "ours": ours, "inputs": inputs}


def _cmp(out, name, **kw):
    b = out["base"]
    compare_ms(str(b / "ours" / (name + ".ms")), str(b / "casa" / (name + ".ms")), name, **kw)


@requires_casa
def test_status_as_casa(qa_outputs):
    assert qa_outputs["ours"] == qa_outputs["casa"]


@requires_casa
@pytest.mark.parametrize("name", ["lwa_split", "lwa_mst_chanavg", "lwa_hanning"])
def test_lwa_uvw_not_fixed_shape(qa_outputs, name):
    """pyuvdata's LWA MS declares UVW without a fixed shape: written as CASA."""
    from casacore import tables as ct
    _cmp(qa_outputs, name)
    with ct.table(str(qa_outputs["base"] / "ours" / (name + ".ms")), ack=False) as t:
        assert t.getcoldesc("UVW")["shape"] == [3]


@requires_casa
@pytest.mark.parametrize("name", ["wa_data", "wb_data", "wb_corrected", "wa_all", "wa_all_w2",
                                  "wb_all_w2", "wa_all_tb", "wb_all_tb", "d2_hs_all",
                                  "wb_mst_dmc", "mwa_split", "mwa_split_ant",
                                  "mwa_split_w2", "wc_all_w2", "wc_all_tb", "wc_all_hs",
                                  "wc_dmc_avg", "mwacal_all_w2", "mwacal_all_tb"])
def test_weight_sigma_as_casa(qa_outputs, name):
    """WEIGHT = 1/SIGMA**2 for DATA without averaging; with CORRECTED_DATA and DATA
    written together SIGMA follows DATA, WEIGHT follows CORRECTED_DATA."""
    _cmp(qa_outputs, name)


def test_weight_sigma_values(qa_outputs):
    """The same rule from the input values: SIGMA 0.5 everywhere, WEIGHT 3x the
    generated one, WEIGHT_SPECTRUM 7 (independent of CASA)."""
    from casacore import tables as ct
    b = qa_outputs["base"] / "ours"
    with ct.table(str(b / "wa_data.ms"), ack=False) as t:
        assert np.allclose(t.getcol("WEIGHT"), 4.0)
    with ct.table(str(b / "wb_all_w2.ms"), ack=False) as t:
        ws, f = t.getcol("WEIGHT_SPECTRUM"), t.getcol("FLAG")
        # 2 channels of weight 7 (one if the other is flagged)
        assert set(np.unique(ws).tolist()) <= {7.0, 14.0}
        ss = t.getcol("SIGMA_SPECTRUM")
        assert np.allclose(ss[ws == 7.0], 0.5) and np.allclose(ss[ws == 14.0], 0.5 / np.sqrt(2))
    with ct.table(str(b / "wb_corrected.ms"), ack=False) as t:
        assert np.allclose(t.getcol("SIGMA_SPECTRUM"), 1 / np.sqrt(7.0))


@requires_casa
@pytest.mark.parametrize("name", ["d2s_hann_avg", "mwa_hann_avg", "d2s_hann_regrid",
                                  "d2_hann_tavg"])
def test_hanning_after_channel_average(qa_outputs, name):
    """hanning + chanaverage: the averaged channels are smoothed (first and last
    output channels flagged), as CASA; hanning + regridding: smoothed, then
    regridded; hanning + time averaging: averaged, then smoothed."""
    from casacore import tables as ct
    # data to float32 rounding of sums of values up to 5e4 (MWA); a zero weight
    # has sigma -1 (CASA's mark)
    _cmp(qa_outputs, name, tol={"DATA": (1e-5, 1e-5)})
    with ct.table(str(qa_outputs["base"] / "ours" / (name + ".ms")), ack=False) as t:
        f = t.getcol("FLAG")
        if "avg" in name:     # the averaged channels are smoothed: edges flagged
            assert f[:, 0].all() and f[:, -1].all()
        if name == "d2s_hann_avg":
            assert (t.getcol("SIGMA") == -1).any()


#: output rows of CASA 6.7 (the QA's numbers)
TB_ROWS = {"d2_tb20": 614, "d2_tb30": 459, "d2_tb40": 309, "d2_mst_avg_tb20": 614,
           "d2_w8_tb40_ant": 275}


@requires_casa
@pytest.mark.parametrize("name", sorted(TB_ROWS))
def test_time_bins_per_baseline_as_casa(qa_outputs, name):
    """Each baseline's bins start at its own first time (CASA 6.7): on day2 the
    row counts, TIME/INTERVAL/EXPOSURE and data equal CASA's."""
    from casacore import tables as ct
    with ct.table(str(qa_outputs["base"] / "ours" / (name + ".ms")), ack=False) as t:
        assert t.nrows() == TB_ROWS[name]
    _cmp(qa_outputs, name)


def test_time_bins_streamed_equal_whole_on_jittered_times(tmp_path, monkeypatch):
    """The chunked (streamed) time binning equals the whole-selection one on day2
    (baselines' time stamps jitter): 614 rows at 20 s, row for row.  Values from
    the rule itself: baseline 3-7 gets 5 rows, the first four of 2 integrations
    (INTERVAL 10.041 s), the last of one (0.04 s)."""
    from casacore import tables as ct
    from casashell.ms import transform
    from casashell.tasks import split
    whole, streamed = str(tmp_path / "whole.ms"), str(tmp_path / "streamed.ms")
    with monkeypatch.context() as m:
        m.setattr(transform.Transformer, "_rows_time_sorted", lambda self, tin: False)
        split(vis=D2, outputvis=whole, datacolumn="data", timebin="20s")
    monkeypatch.setattr(transform.Transformer, "_group_chunk_rows", lambda self: 37)
    split(vis=D2, outputvis=streamed, datacolumn="data", timebin="20s")
    with ct.table(whole, ack=False) as a, ct.table(streamed, ack=False) as b:
        assert a.nrows() == b.nrows() == 614
        for c in a.colnames():
            if c != "FLAG_CATEGORY":
                np.testing.assert_array_equal(a.getcol(c), b.getcol(c), err_msg=c)
        sel = (a.getcol("ANTENNA1") == 3) & (a.getcol("ANTENNA2") == 7)
        np.testing.assert_allclose(a.getcol("INTERVAL")[sel],
                                   [10.041, 10.041, 10.041, 10.041, 0.04], atol=2e-3)


@requires_casa
@pytest.mark.parametrize("name", ["d2s_regrid_below", "d2s_regrid_chan_past", "d2_w1000",
                                  "d2_mst_cb1000"])
def test_reset_as_casa(qa_outputs, name):
    """CASA's resets: a frequency start below the band -> the first channel at the
    band edge (with the input's 125 kHz width: the input grid, 20 channels); a
    channel start past the spw -> 0; a width larger than the selected channels
    -> all of them in one channel."""
    from casacore import tables as ct
    _cmp(qa_outputs, name)
    with ct.table(str(qa_outputs["base"] / "ours" / (name + ".ms") / "SPECTRAL_WINDOW"),
                  ack=False) as t:
        n = int(t.getcell("NUM_CHAN", 0))
    assert n == {"d2s_regrid_below": 20, "d2s_regrid_chan_past": 5, "d2_w1000": 1,
                 "d2_mst_cb1000": 1}[name]


def test_regrid_outside_band_writes_nothing(qa_outputs):
    """HI velocities on 200 MHz MWA data: an error (CASA: 'calcChanFreqs failed'),
    and no output MS."""
    assert qa_outputs["ours"]["mwa_regrid_hi_vel"] == "error"
    assert not os.path.exists(str(qa_outputs["base"] / "ours" / "mwa_regrid_hi_vel.ms"))


@requires_casa
def test_concat_keeps_if_chains_apart(qa_outputs):
    """day2 1src_1spw + 1scan: the first MS's spw and the second's spw 1 have the
    same channel frequencies (to 0.007 Hz) but IF_CONV_CHAIN 0 and 1: 3 spws and
    data descriptions, 1360/1414/1414 rows, as CASA."""
    from casacore import tables as ct
    # the ANTENNA rows past 28: CASA appends the second MS's unnamed placeholder
    # antennas again (documented difference)
    _cmp(qa_outputs, "concat_d2", nant=28)
    with ct.table(str(qa_outputs["base"] / "ours" / "concat_d2.ms"), ack=False) as t:
        assert np.bincount(t.getcol("DATA_DESC_ID")).tolist() == [1360, 1414, 1414]


def test_missing_subtable_keyword_is_left_out(tmp_path):
    """pyuvdata's X5707 MS links an ASDM_CALATMOSPHERE subtable that is not there:
    split writes every row (40) and leaves the dangling link out.  (CASA 6.7 writes
    an MS with 0 rows here, and fails with width or timebin.)"""
    from casacore import tables as ct
    from casashell.tasks import split
    with tarfile.open(os.path.join(DATA_DIR or "", "X5707_1spw_1scan_10chan_1time_1bl_noatm"
                                   ".ms.tar.gz")) as tf:
        tf.extractall(str(tmp_path))
    vis = str(tmp_path / "X5707_1spw_1scan_10chan_1time_1bl_noatm.ms")
    assert not os.path.exists(os.path.join(vis, "ASDM_CALATMOSPHERE"))
    out = str(tmp_path / "o.ms")
    split(vis=vis, outputvis=out, datacolumn="data", width=2)
    with ct.table(vis, ack=False) as a, ct.table(out, ack=False) as b:
        assert "ASDM_CALATMOSPHERE" in a.getkeywords()
        assert "ASDM_CALATMOSPHERE" not in b.getkeywords()
        assert b.nrows() == a.nrows() == 40
        assert os.path.isdir(os.path.join(out, "ASDM_ANTENNA"))


@requires_casa
@pytest.mark.parametrize("name", ["fr_w2", "fr_tb20", "fr_tb20_w2"])
def test_flag_row_as_casa(qa_outputs, name):
    """FLAG_ROW is copied (a fully flagged row keeps FLAG_ROW False); time-averaged
    rows get FLAG_ROW False even when all their flags are set."""
    from casacore import tables as ct
    _cmp(qa_outputs, name)
    with ct.table(str(qa_outputs["base"] / "ours" / (name + ".ms")), ack=False) as t:
        fr = t.getcol("FLAG_ROW")
        allf = t.getcol("FLAG").reshape(t.nrows(), -1).all(axis=1)
        if "tb" in name:
            assert not fr.any() and allf.sum() == 2
        else:
            assert fr.sum() == 3 and allf.sum() == 5


@requires_casa
@pytest.mark.parametrize("name", ["d2s_hs_spw1", "wc_hs_nosel"])
def test_hanningsmooth_reindexed_as_casa(qa_outputs, name):
    """hanningsmooth(spw='1') of a 2-spw MS: 1 spw, DATA_DESC_ID 0 (CASA 6.7)."""
    from casacore import tables as ct
    _cmp(qa_outputs, name)
    if name == "d2s_hs_spw1":
        b = qa_outputs["base"] / "ours" / (name + ".ms")
        with ct.table(str(b / "SPECTRAL_WINDOW"), ack=False) as t:
            assert t.nrows() == 1
        with ct.table(str(b), ack=False) as t:
            assert set(t.getcol("DATA_DESC_ID").tolist()) == {0}


@requires_casa
@pytest.mark.parametrize("name", ["vm_split", "vm_mst", "vm_hs"])
def test_virtual_model_dropped_as_casa(qa_outputs, name):
    """CASA's setjy(usescratch=False) puts model_0/definedmodel_field_0 in the
    SOURCE keywords; split/mstransform/hanningsmooth outputs have neither (CASA
    6.7), the input keeps them."""
    from casacore import tables as ct
    b = qa_outputs["base"]
    with ct.table(str(b / "vm.ms" / "SOURCE"), ack=False) as t:
        assert {"model_0", "definedmodel_field_0"} <= set(t.keywordnames())
    for who in ("ours", "casa"):
        p = str(b / who / (name + ".ms"))
        with ct.table(p, ack=False) as t, ct.table(p + "/SOURCE", ack=False) as s_:
            names = set(t.keywordnames()) | set(s_.keywordnames())
        assert not [k for k in names if "model" in k], (who, names)
    _cmp(qa_outputs, name)


def test_concat_with_empty_weight_spectrum(tmp_path):
    """A WEIGHT_SPECTRUM column without written cells counts as absent: concat with
    day2 1scan writes all 4188 rows (CASA 6.7: 4188 too) without that column,
    with a WARN, instead of failing."""
    from casacore import tables as ct
    from casacore.tables import makearrcoldesc, maketabdesc
    from casashell.tasks import concat
    vis = str(tmp_path / "emptyws.ms")
    shutil.copytree(D2, vis)
    with ct.table(vis, readonly=False, ack=False) as t:
        t.removecols(["WEIGHT_SPECTRUM"])
        t.addcols(maketabdesc(makearrcoldesc("WEIGHT_SPECTRUM", 0.0, ndim=2,
                                             valuetype="float")),
                  {"TYPE": "TiledShapeStMan", "NAME": "TiledWSEmpty",
                   "SPEC": {"DEFAULTTILESHAPE": [4, 64, 64]}})
        assert not t.iscelldefined("WEIGHT_SPECTRUM", 0)
    out = str(tmp_path / "c.ms")
    concat(vis=[vis, D2S], concatvis=out)
    with ct.table(out, ack=False) as t, ct.table(vis, ack=False) as a, \
            ct.table(D2S, ack=False) as b:
        assert t.nrows() == a.nrows() + b.nrows() == 4188
        assert "WEIGHT_SPECTRUM" not in t.colnames()
        np.testing.assert_array_equal(np.sort(np.abs(t.getcol("DATA")).ravel()),
                                      np.sort(np.abs(np.concatenate(
                                          [a.getcol("DATA"), b.getcol("DATA")])).ravel()))


@requires_casa
@pytest.mark.parametrize("name", [f"pyuv{i}_{t}" for i in range(4) for t in ("plain", "w2", "tb")])
def test_pyuvdata_ms_as_casa(qa_outputs, name):
    """split of pyuvdata's other MSs (plain, width=2, timebin='20s') equal to CASA's."""
    _cmp(qa_outputs, name, tol={"DATA": (1e-5, 1e-5)})
