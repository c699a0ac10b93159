"""split: the CASA 6.7 reference, channel and time averaging, staging, errors.

Expected values are computed here with plain numpy from the input read with
casacore, independently of casashell.ms.transform.
"""

from __future__ import annotations

import importlib.util
import json
import os

import numpy as np
import pytest
from casacore import tables as ct

from casashell.tasks import split

DAY2 = "day2_TDEM0003_10s_norx_1scan.ms"
ZEN = "zen.2456865.60537.xy.uvcRREAAM.ms"


def cols(path, *names):
    with ct.table(path, ack=False) as t:
        return [t.getcol(n) for n in names]


def sub(path, name, col):
    with ct.table(os.path.join(path, name), ack=False) as t:
        return t.getcol(col)


def test_matches_casa_reference(data_dir, reference_dir, tmp_path):
    ref = json.load(open(os.path.join(reference_dir, "split_" + DAY2.replace(".ms", ".json"))))
    out = str(tmp_path / "out.ms")
    split(vis=os.path.join(data_dir, DAY2), outputvis=out, spw="0:8~55", antenna="!4",
          correlation="RR,LL", width=8, datacolumn="data")
    data, flag, weight = cols(out, "DATA", "FLAG", "WEIGHT")
    assert len(data) == ref["nrows"]
    assert list(data.T.shape) == ref["DATA_shape_casa_order"]
    assert np.isclose(data.real.sum(dtype=np.float64), ref["DATA_sum_real"], rtol=1e-5)
    assert np.isclose(data.imag.sum(dtype=np.float64), ref["DATA_sum_imag"], rtol=1e-5)
    assert np.isclose(np.abs(data).sum(dtype=np.float64), ref["DATA_abs_sum"], rtol=1e-5)
    assert int(flag.sum()) == ref["FLAG_count"]
    assert np.isclose(weight.sum(dtype=np.float64), ref["WEIGHT_sum"], rtol=1e-5)


def test_subtables_reindexed(data_dir, tmp_path):
    vis = os.path.join(data_dir, DAY2)
    out = str(tmp_path / "out.ms")
    split(vis=vis, outputvis=out, spw="1:8~55", correlation="RR,LL", width=8,
          datacolumn="data")
    in_freq = sub(vis, "SPECTRAL_WINDOW", "CHAN_FREQ")[1]
    in_width = sub(vis, "SPECTRAL_WINDOW", "CHAN_WIDTH")[1]
    freq = sub(out, "SPECTRAL_WINDOW", "CHAN_FREQ")
    assert freq.shape == (1, 6)
    np.testing.assert_allclose(freq[0], in_freq[8:56].reshape(6, 8).mean(axis=1), rtol=0,
                               atol=1e-3)
    np.testing.assert_allclose(sub(out, "SPECTRAL_WINDOW", "CHAN_WIDTH")[0],
                               in_width[8:56].reshape(6, 8).sum(axis=1))
    assert sub(out, "SPECTRAL_WINDOW", "NUM_CHAN").tolist() == [6]
    assert sub(out, "POLARIZATION", "CORR_TYPE").tolist() == [[5, 8]]
    assert sub(out, "DATA_DESCRIPTION", "SPECTRAL_WINDOW_ID").tolist() == [0]
    assert sub(out, "SOURCE", "SPECTRAL_WINDOW_ID").tolist() == [0]
    # ANTENNA is kept whole (ids unchanged), as CASA does
    assert len(sub(out, "ANTENNA", "NAME")) == len(sub(vis, "ANTENNA", "NAME"))
    ddid, = cols(out, "DATA_DESC_ID")
    assert set(ddid.tolist()) == {0}
    # the rows are those of spw 1 in input order
    in_dd, in_time, in_a1 = cols(vis, "DATA_DESC_ID", "TIME", "ANTENNA1")
    out_time, out_a1 = cols(out, "TIME", "ANTENNA1")
    np.testing.assert_array_equal(out_time, in_time[in_dd == 1])
    np.testing.assert_array_equal(out_a1, in_a1[in_dd == 1])
    # a HISTORY row for the call in the new MS
    msgs = sub(out, "HISTORY", "MESSAGE")
    assert "taskname=split" in list(msgs)


def _expected_chanavg(d, f, w, width):
    """Per-bin weighted mean over unflagged channels (all-flagged: over all, flagged)."""
    n, nch, nc = d.shape
    nout = nch // width
    D = d[:, :nout * width].reshape(n, nout, width, nc).astype(np.complex128)
    F = f[:, :nout * width].reshape(n, nout, width, nc)
    W = w[:, :nout * width].reshape(n, nout, width, nc).astype(np.float64)
    good = ~F
    sw = (W * good).sum(2)
    allf = ~good.any(2)
    avg = (D * W * good).sum(2) / np.where(allf, 1, sw)
    avg_all = (D * W).sum(2) / W.sum(2)
    avg = np.where(allf, avg_all, avg)
    wout = np.where(allf, W.sum(2), sw)
    return avg, allf, wout


def _row_weight(wout, allf, sigma=False):
    """Row WEIGHT (or SIGMA) as CASA 6.7 writes it after channel averaging (checked
    live, test_casa_transform.py): the mean over the unflagged output channels of
    WEIGHT_SPECTRUM (of 1/sqrt(WEIGHT_SPECTRUM)); over all when all are flagged."""
    v = 1 / np.sqrt(wout) if sigma else wout
    use = ~allf | allf.all(axis=1, keepdims=True)
    return (v * use).sum(axis=1) / use.sum(axis=1)


def _flag_pattern(path, seed=3):
    """Flag a pseudo-random 30 % of (row, chan, corr) plus whole 4-channel bins."""
    rng = np.random.default_rng(seed)
    with ct.table(path, readonly=False, ack=False) as t:
        f = t.getcol("FLAG")
        f |= rng.random(f.shape) < 0.3
        f[::7, 4:8, :] = True
        t.putcol("FLAG", f)
        # varied sigma per row/corr, weight consistent
        s = t.getcol("SIGMA")
        s = (rng.uniform(0.5, 2.0, s.shape)).astype(np.float32)
        t.putcol("SIGMA", s)
        t.putcol("WEIGHT", (1 / s ** 2).astype(np.float32))


def test_channel_average_partly_flagged_data_column(ms_copy, tmp_path):
    vis = ms_copy(ZEN)
    _flag_pattern(vis)
    out = str(tmp_path / "avg.ms")
    split(vis=vis, outputvis=out, width=4, datacolumn="data")
    d, f, s = cols(vis, "DATA", "FLAG", "SIGMA")
    w = np.broadcast_to((1 / s.astype(np.float64) ** 2)[:, None, :], d.shape)
    avg, allf, wout = _expected_chanavg(d, f, w, 4)
    od, of, ow, ows, osig = cols(out, "DATA", "FLAG", "WEIGHT", "WEIGHT_SPECTRUM", "SIGMA")
    assert od.shape == (len(d), 2, d.shape[2])          # 11 channels -> 2 bins of 4
    assert of.any() and not of.all()
    np.testing.assert_array_equal(of, allf)
    np.testing.assert_allclose(od, avg, rtol=2e-6, atol=1e-6)
    np.testing.assert_allclose(ows, wout, rtol=1e-5)
    np.testing.assert_allclose(ow, _row_weight(wout, allf), rtol=1e-5)
    np.testing.assert_allclose(osig, _row_weight(wout, allf, sigma=True), rtol=1e-5)


def test_channel_average_corrected_uses_weight_spectrum(ms_copy, tmp_path):
    vis = ms_copy(ZEN)
    _flag_pattern(vis, seed=5)
    rng = np.random.default_rng(11)
    with ct.table(vis, readonly=False, ack=False) as t:
        desc = t.getcoldesc("DATA")
        desc["comment"] = "corrected"
        t.addcols(ct.maketabdesc(ct.makecoldesc("CORRECTED_DATA", desc)))
        d = t.getcol("DATA")
        t.putcol("CORRECTED_DATA", (2 * d + 0.5j).astype(np.complex64))
        ws = rng.uniform(0.1, 3.0, d.shape).astype(np.float32)
        t.putcol("WEIGHT_SPECTRUM", ws)
    out = str(tmp_path / "corr.ms")
    split(vis=vis, outputvis=out, width=3, datacolumn="corrected")
    c, f, ws = cols(vis, "CORRECTED_DATA", "FLAG", "WEIGHT_SPECTRUM")
    avg, allf, wout = _expected_chanavg(c, f, ws, 3)
    od, of, ow, ows = cols(out, "DATA", "FLAG", "WEIGHT", "WEIGHT_SPECTRUM")
    with ct.table(out, ack=False) as t:
        assert "CORRECTED_DATA" not in t.colnames()
    assert od.shape[1] == 3
    np.testing.assert_array_equal(of, allf)
    np.testing.assert_allclose(od, avg, rtol=2e-6, atol=1e-5)
    np.testing.assert_allclose(ows, wout, rtol=1e-5)
    np.testing.assert_allclose(ow, _row_weight(wout, allf), rtol=1e-5)


def _expected_timeavg(vis, timebin, combine_scan):
    """Independent time averaging: per baseline, greedy bins within each segment."""
    t, a1, a2, scan, d, f, s, iv = cols(vis, "TIME", "ANTENNA1", "ANTENNA2", "SCAN_NUMBER",
                                        "DATA", "FLAG", "SIGMA", "INTERVAL")
    uvw, wrow, expo = cols(vis, "UVW", "WEIGHT", "EXPOSURE")
    w = 1 / s.astype(np.float64) ** 2
    segs = [None] if combine_scan else sorted(set(scan.tolist()))
    out = {}
    for seg in segs:
        m = np.ones(len(t), bool) if seg is None else scan == seg
        times = np.unique(t[m])
        start = None
        bins = {}
        for tt in times:
            if start is None or tt - start >= timebin - 1e-6:
                start = tt
            bins[tt] = start
        for bl in set(zip(a1[m].tolist(), a2[m].tolist())):
            rows = np.nonzero(m & (a1 == bl[0]) & (a2 == bl[1]))[0]
            for b in sorted(set(bins[x] for x in t[rows])):
                rr = [r for r in rows if bins[t[r]] == b]
                dd = d[rr].astype(np.complex128)
                ff = f[rr]
                ww = np.broadcast_to(w[rr][:, None, :], dd.shape)
                good = ~ff
                sw = (ww * good).sum(0)
                allf = ~good.any(0)
                v = np.where(allf, (dd * ww).sum(0) / ww.sum(0),
                             (dd * ww * good).sum(0) / np.where(allf, 1, sw))
                mid = ((t[rr] - iv[rr] / 2).min() + (t[rr] + iv[rr] / 2).max()) / 2
                # row weights: WEIGHT summed over correlations not entirely flagged
                rw = np.array([np.where(~f[r].all(axis=0), wrow[r].astype(np.float64), 0.0).sum()
                               for r in rr])
                if (rw > 0).any():
                    u = (uvw[rr] * rw[:, None]).sum(0) / rw.sum()
                    ex = expo[rr][rw > 0].sum()
                else:
                    u = uvw[rr].mean(0)
                    ex = expo[rr].sum()
                span = (t[rr] + iv[rr] / 2).max() - (t[rr] - iv[rr] / 2).min()
                out[(seg, b, bl)] = (v, allf, np.where(allf, ww.sum(0), sw), mid, u, ex, span)
    return out


@pytest.mark.parametrize("combine", ["", "scan"])
def test_time_average_across_scans(ms_copy, tmp_path, combine):
    vis = ms_copy(ZEN)
    _flag_pattern(vis, seed=7)
    out = str(tmp_path / f"t{combine}.ms")
    split(vis=vis, outputvis=out, timebin="100s", combine=combine, datacolumn="data")
    exp = _expected_timeavg(vis, 100.0, combine == "scan")
    od, of, ows, oa1, oa2, oscan = cols(out, "DATA", "FLAG", "WEIGHT_SPECTRUM", "ANTENNA1",
                                        "ANTENNA2", "SCAN_NUMBER")
    assert len(od) == len(exp)
    ot, ouvw, oexp, oiv = cols(out, "TIME", "UVW", "EXPOSURE", "INTERVAL")
    assert np.all(np.diff(ot) >= -50)   # output in (bin) time order
    # match output rows to expected bins by baseline and time within the baseline
    for bl in set(zip(oa1.tolist(), oa2.tolist())):
        rows = np.nonzero((oa1 == bl[0]) & (oa2 == bl[1]))[0]
        rows = rows[np.argsort(ot[rows], kind="stable")]
        keys = sorted((k for k in exp if k[2] == bl), key=lambda k: exp[k][3])
        assert len(rows) == len(keys)
        for r, k in zip(rows, keys):
            v, allf, wsum, mid, u, ex, span = exp[k]
            assert abs(ot[r] - mid) < 1e-3
            np.testing.assert_allclose(ouvw[r], u, rtol=1e-9, atol=1e-9)
            assert np.isclose(oexp[r], ex) and np.isclose(oiv[r], span)
            np.testing.assert_allclose(od[r], v, rtol=2e-6, atol=1e-6)
            np.testing.assert_array_equal(of[r], allf)
            np.testing.assert_allclose(ows[r], wsum, rtol=1e-5)
    nscan_rows = len(exp)
    if combine == "scan":
        # bins cross the scan boundaries: fewer rows than per-scan binning
        assert nscan_rows < len(_expected_timeavg(vis, 100.0, False))


def test_missing_column_error(data_dir, tmp_path):
    vis = os.path.join(data_dir, DAY2)
    out = tmp_path / "x.ms"
    with pytest.raises(RuntimeError) as exc:
        split(vis=vis, outputvis=str(out), datacolumn="corrected")
    assert str(exc.value) == f"Desired column (CORRECTED_DATA) not found in the input MS ({vis})"
    assert not out.exists()
    assert os.listdir(tmp_path) == [] or all(not n.startswith(".x.ms") for n in
                                             os.listdir(tmp_path))


def test_existing_output_refused(data_dir, tmp_path):
    out = tmp_path / "exists.ms"
    out.mkdir()
    with pytest.raises(FileExistsError):
        split(vis=os.path.join(data_dir, DAY2), outputvis=str(out), datacolumn="data")
    assert os.listdir(out) == []


@pytest.mark.parametrize("exc_type", [RuntimeError, KeyboardInterrupt])
def test_failure_mid_write_leaves_nothing(data_dir, tmp_path, monkeypatch, exc_type):
    import casashell.ms.transform as tr
    calls = {"n": 0}
    orig = tr.Transformer._process

    def boom(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise exc_type("disk on fire")
        return orig(self, *a, **k)

    monkeypatch.setattr(tr.Transformer, "_process", boom)
    monkeypatch.setattr(tr.Transformer, "_block_rows", lambda self: 300)
    out = tmp_path / "half.ms"
    with pytest.raises(exc_type):
        split(vis=os.path.join(data_dir, DAY2), outputvis=str(out), datacolumn="data")
    assert calls["n"] == 2
    assert os.listdir(tmp_path) == ["casa-test.log"]


def test_keepflags_false_drops_flagged_rows(data_dir, tmp_path):
    vis = os.path.join(data_dir, DAY2)
    out = str(tmp_path / "kf.ms")
    split(vis=vis, outputvis=out, spw="0", datacolumn="data", keepflags=False)
    dd, f, fr = cols(vis, "DATA_DESC_ID", "FLAG", "FLAG_ROW")
    keep = (dd == 0) & ~f.reshape(len(f), -1).all(axis=1) & ~fr
    n, = cols(out, "TIME")
    assert len(n) == int(keep.sum()) < int((dd == 0).sum())


def test_all_columns_and_reopen(ms_copy, tmp_path):
    vis = ms_copy(DAY2)
    with ct.table(vis, readonly=False, ack=False) as t:
        desc = t.getcoldesc("DATA")
        t.addcols(ct.maketabdesc(ct.makecoldesc("MODEL_DATA", desc)))
        t.putcol("MODEL_DATA", np.ones_like(t.getcol("DATA")))
    out = str(tmp_path / "all.ms")
    split(vis=vis, outputvis=out, field="0", spw="0", datacolumn="all")
    with ct.table(out, ack=False) as t:
        assert {"DATA", "MODEL_DATA"} <= set(t.colnames())
        assert "CORRECTED_DATA" not in t.colnames()
        assert t.nrows() == 1414
        np.testing.assert_array_equal(t.getcol("MODEL_DATA"), 1)
    d_in, dd = cols(vis, "DATA", "DATA_DESC_ID")
    np.testing.assert_array_equal(cols(out, "DATA")[0], d_in[dd == 0])


def test_listobs_of_output_matches_casa(data_dir, reference_dir, tmp_path):
    """Our listobs of the split output equals CASA's listobs of CASA's split output."""
    from casashell.tasks import listobs
    out = str(tmp_path / "sr_split.ms")
    split(vis=os.path.join(data_dir, DAY2), outputvis=out, spw="0:8~55", antenna="!4",
          correlation="RR,LL", width=8, datacolumn="data")
    listfile = str(tmp_path / "lo.txt")
    listobs(vis=out, listfile=listfile)
    ours = open(listfile).read().splitlines()
    ref = open(os.path.join(reference_dir, "listobs_after_split.txt")).read().splitlines()
    # the name line differs (paths); everything else must be identical
    assert [l for l in ours if "MeasurementSet Name" not in l] == \
        [l for l in ref if "MeasurementSet Name" not in l]


def test_generated_ms_fields_spws_corrected(tmp_path):
    """A synthetic MS with 3 fields, 2 spws and CORRECTED_DATA: ids re-indexed."""
    from casashell.ms.generate import make_ms
    vis = str(tmp_path / "gen.ms")
    make_ms(vis, nant=6, nfield=3, nscan=4, nspw=2, nchan=[16, 8], ncorr=[4, 2],
            ntimes_per_scan=3, corrected=True, seed=3)
    with ct.table(vis, ack=False) as t:
        f_in = t.getcol("FIELD_ID")
        dd_in = t.getcol("DATA_DESC_ID")
    with ct.table(os.path.join(vis, "DATA_DESCRIPTION"), ack=False) as t:
        spw_of_dd = t.getcol("SPECTRAL_WINDOW_ID")
    rows = np.nonzero((f_in == 2) & (spw_of_dd[dd_in] == 1))[0]
    out = str(tmp_path / "g.ms")
    split(vis=vis, outputvis=out, field="2", spw="1", datacolumn="corrected")
    with ct.table(vis, ack=False) as t:
        c = np.stack([t.getcell("CORRECTED_DATA", int(r)) for r in rows])
        w = np.stack([t.getcell("WEIGHT", int(r)) for r in rows])
    od, ow, osig, of, odd = cols(out, "DATA", "WEIGHT", "SIGMA", "FIELD_ID", "DATA_DESC_ID")
    np.testing.assert_array_equal(od, c)
    np.testing.assert_array_equal(ow, w)
    # CORRECTED_DATA became DATA: SIGMA follows the (calibrated) weights
    np.testing.assert_allclose(osig, 1 / np.sqrt(w), rtol=1e-6)
    assert set(of.tolist()) == {0} and set(odd.tolist()) == {0}
    assert len(sub(out, "FIELD", "NAME")) == 1
    assert sub(out, "FIELD", "NAME")[0] == sub(vis, "FIELD", "NAME")[2]
    assert sub(out, "SPECTRAL_WINDOW", "NUM_CHAN").tolist() == [8]
    assert sub(out, "POLARIZATION", "NUM_CORR").tolist() == [2]


if importlib.util.find_spec("casatasks") is not None:   # only where CASA is installed
    def test_casa_listobs_opens_output(data_dir, tmp_path):
        from casatasks import listobs as casa_listobs
        out = str(tmp_path / "c.ms")
        split(vis=os.path.join(data_dir, DAY2), outputvis=out, spw="0:8~55", width=8,
              datacolumn="data")
        res = casa_listobs(vis=out, listfile="")
        assert res["nrows"] == len(cols(out, "TIME")[0])


def test_table_info_kept(data_dir, tmp_path):
    vis = os.path.join(data_dir, DAY2)
    out = str(tmp_path / "i.ms")
    split(vis=vis, outputvis=out, spw="1", datacolumn="data")
    with ct.table(out, ack=False) as t, ct.table(vis, ack=False) as t0:
        assert t.info()["type"] == "Measurement Set" == t0.info()["type"]
    for name in ("ANTENNA", "SPECTRAL_WINDOW", "FIELD"):
        with ct.table(os.path.join(out, name), ack=False) as t, \
                ct.table(os.path.join(vis, name), ack=False) as t0:
            assert t.info()["type"] == t0.info()["type"]


def test_averaging_rules_by_hand():
    """The arithmetic on a tiny spectrum, values worked out by hand."""
    from casashell.ms.transform import channel_average
    d = np.array([[[1 + 1j], [3 + 0j], [10 + 0j], [20 + 0j], [5 + 5j], [7 - 1j]]],
                 np.complex64)                            # 1 row, 6 channels, 1 corr
    f = np.array([[[False], [False], [True], [True], [False], [True]]])
    w = np.array([[[1.0], [3.0], [2.0], [2.0], [0.0], [4.0]]], np.float32)
    (m,), fl, wo = channel_average([d], f, w, 2)
    # bin 0: (1*(1+1j) + 3*3) / 4 ; bin 1: all flagged -> mean of all weighted, flagged;
    # bin 2: only unflagged channel has weight 0 -> its plain value, weight 0
    np.testing.assert_allclose(m[0, :, 0], [(1 + 1j + 9) / 4, 15, 5 + 5j], rtol=1e-6)
    assert fl[0, :, 0].tolist() == [False, True, False]
    np.testing.assert_allclose(wo[0, :, 0], [4, 4, 0])


def test_sorted_table_keyword_not_copied(ms_copy, tmp_path):
    """A SORTED_TABLE (a reference table over the main table) is not carried over."""
    vis = ms_copy(DAY2)
    with ct.table(vis, readonly=False, ack=False) as t:
        ref = t.sort("TIME")
        ref.rename(os.path.join(vis, "SORTED_TABLE"))
        ref.close()
        t.putkeyword("SORTED_TABLE", "Table: " + os.path.join(vis, "SORTED_TABLE"))
    out = str(tmp_path / "s.ms")
    split(vis=vis, outputvis=out, spw="0", datacolumn="data")
    assert not os.path.exists(os.path.join(out, "SORTED_TABLE"))
    with ct.table(out, ack=False) as t:
        assert "SORTED_TABLE" not in t.keywordnames()


def test_flag_cmd_with_spw_renumbered(ms_copy, tmp_path):
    """split renumbers the spws of FLAG_CMD commands (as CASA; more cases, compared
    with CASA, in test_mstransform_flagcmd.py); regridding copies them with a WARN."""
    vis = ms_copy(DAY2)
    with ct.table(os.path.join(vis, "FLAG_CMD"), readonly=False, ack=False) as t:
        t.addrows(1)
        t.putcell("COMMAND", 0, "antenna='ea01' spw='1:10~20'")
    out = str(tmp_path / "f.ms")
    split(vis=vis, outputvis=out, spw="1", datacolumn="data")
    with ct.table(os.path.join(out, "FLAG_CMD"), ack=False) as t:
        assert t.getcol("COMMAND") == ["antenna='ea01' spw='0:10~20'"]
    log = open(str(tmp_path / "casa-test.log")).read()
    assert "1 FLAG_CMD command(s) rewritten" in log
    from casashell.tasks import mstransform
    out2 = str(tmp_path / "g.ms")
    mstransform(vis=vis, outputvis=out2, spw="1", datacolumn="data", regridms=True,
                mode="channel", width=2)
    with ct.table(os.path.join(out2, "FLAG_CMD"), ack=False) as t:
        assert t.getcol("COMMAND") == ["antenna='ea01' spw='1:10~20'"]
    log = open(str(tmp_path / "casa-test.log")).read()
    assert "1 FLAG_CMD command(s) select spectral windows" in log
