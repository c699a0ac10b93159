"""exportuvfits of an MS whose WEIGHT_SPECTRUM column exists but holds no data.

Such a column (added to the table description, no cell ever written; other
software writes MSs like this) makes casacore fail with "TSM: no array in row 0"
on reading. CASA 6.7 treats it as absent and exports the weights from WEIGHT;
so do we (QA report 2, item 1).
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from casa_ref import requires_casa, run_casa

SRC = "day2_TDEM0003_10s_norx_1src_1spw.ms"


def _empty_ws_ms(data_dir, dst):
    """A copy of SRC whose WEIGHT_SPECTRUM column is replaced by an unwritten one."""
    from casacore import tables as ct
    shutil.copytree(os.path.join(data_dir, SRC), dst)
    with ct.table(dst, readonly=False, ack=False) as t:
        if "WEIGHT_SPECTRUM" in t.colnames():
            t.removecols(["WEIGHT_SPECTRUM"])
        t.addcols(ct.maketabdesc(ct.makearrcoldesc("WEIGHT_SPECTRUM", 0.0, ndim=2,
                                                    valuetype="float")),
                  {"TYPE": "TiledShapeStMan", "NAME": "TiledWSEmpty",
                   "SPEC": {"DEFAULTTILESHAPE": [4, 64, 64]}})
    return dst


@pytest.fixture
def empty_ws(data_dir, tmp_path):
    return _empty_ws_ms(data_dir, str(tmp_path / "emptyws.ms"))


def test_column_has_data_and_data_colnames(empty_ws, data_dir):
    from casacore import tables as ct
    from casashell.ms.core import column_has_data, data_colnames
    with ct.table(empty_ws, ack=False) as t:
        assert "WEIGHT_SPECTRUM" in t.colnames()
        with pytest.raises(RuntimeError, match="no array in row 0"):
            t.getcol("WEIGHT_SPECTRUM", 0, 1)
        assert not column_has_data(t, "WEIGHT_SPECTRUM")
        assert not column_has_data(t, "NO_SUCH_COLUMN")
        assert column_has_data(t, "DATA") and column_has_data(t, "WEIGHT")
        names = data_colnames(t)
        assert "WEIGHT_SPECTRUM" not in names
        assert set(names) == set(t.colnames()) - {"WEIGHT_SPECTRUM"}
    with ct.table(os.path.join(data_dir, "multi_1.ms"), ack=False) as t:
        # a written WEIGHT_SPECTRUM column is kept
        assert ("WEIGHT_SPECTRUM" in data_colnames(t)) == ("WEIGHT_SPECTRUM" in t.colnames())


def test_exportuvfits_uses_weight_when_weight_spectrum_is_empty(empty_ws, tmp_path):
    from astropy.io import fits
    from casacore import tables as ct
    from casashell.tasks import exportuvfits
    out = str(tmp_path / "x.uvfits")
    assert exportuvfits(vis=empty_ws, fitsfile=out, datacolumn="data") is None
    with ct.table(empty_ws, ack=False) as t:
        data = t.getcol("DATA")
        flag = t.getcol("FLAG") | t.getcol("FLAG_ROW")[:, None, None]
        weight = t.getcol("WEIGHT")
        a1, a2, tm = t.getcol("ANTENNA1"), t.getcol("ANTENNA2"), t.getcol("TIME")
    with ct.table(os.path.join(empty_ws, "POLARIZATION"), ack=False) as p:
        ctypes = list(p.getcell("CORR_TYPE", 0))
    # UVFITS (AIPS) correlation order: RR, LL, RL, LR (MS: RR, RL, LR, LL)
    perm = [ctypes.index(c) for c in (5, 8, 6, 7)]
    data, flag, weight = data[:, :, perm], flag[:, :, perm], weight[:, perm]
    nchan = data.shape[1]
    with fits.open(out) as f:
        g = f[0].data
        assert len(g) == len(data)        # one row per group (one spw, no duplicates)
        vis = g.data[:, 0, 0, 0, :, :, :]  # (group, chan, corr, re/im/w)
        bl = g.par("BASELINE").astype(int)
    # groups in (time, baseline) order; rows found by their baseline and time order
    order = np.lexsort([256 * (a1 + 1) + (a2 + 1), tm])
    np.testing.assert_array_equal(bl, (256 * (a1 + 1) + (a2 + 1))[order])
    d, fl, w = data[order], flag[order], weight[order]
    np.testing.assert_array_equal(vis[..., 0], d.real.astype(np.float32))
    np.testing.assert_array_equal(vis[..., 1], d.imag.astype(np.float32))
    want_w = np.repeat((w / nchan).astype(np.float32)[:, None, :], nchan, axis=1)
    want_w = np.where(fl, -np.abs(want_w), np.abs(want_w))
    np.testing.assert_array_equal(vis[..., 2], want_w)


@requires_casa
def test_exportuvfits_empty_weight_spectrum_same_as_casa(empty_ws, tmp_path):
    from astropy.io import fits
    from casashell.tasks import exportuvfits
    ours, theirs = str(tmp_path / "ours.uvfits"), str(tmp_path / "casa.uvfits")
    exportuvfits(vis=empty_ws, fitsfile=ours, datacolumn="data")
    res = run_casa(f"""
import casatasks
result = repr(casatasks.exportuvfits(vis={empty_ws!r}, fitsfile={theirs!r},
                                     datacolumn='data'))
""", str(tmp_path))
    assert res == "None"
    with fits.open(ours) as a, fits.open(theirs) as b:
        ga, gb = a[0].data, b[0].data
        assert a[0].header["GCOUNT"] == b[0].header["GCOUNT"] == len(ga) == len(gb)
        oa = np.lexsort([ga.par("BASELINE"), ga.par("DATE")])
        ob = np.lexsort([gb.par("BASELINE"), gb.par("DATE")])
        np.testing.assert_array_equal(ga.par("BASELINE")[oa], gb.par("BASELINE")[ob])
        # visibilities and the weights CASA takes from WEIGHT: identical float32
        np.testing.assert_array_equal(ga.data[oa], gb.data[ob])
