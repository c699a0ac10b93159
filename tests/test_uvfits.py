"""importuvfits / exportuvfits.

Reference: pyuvdata 2.4.5 ships two UVFITS files beside the MSs CASA's
importuvfits made from them.  pyuvdata itself is used here (never in
casashell) as an independent reader of what we write.

Tolerances (stated once, used below):
  * visibilities, flags, weights, antenna indices: exactly equal;
  * TIME: 1 microsecond (we get 0);
  * UVW from the file: exactly equal (both are float32 light-seconds times c);
    UVW after an MS -> UVFITS -> MS trip: relative 1e-7 (float32 storage);
  * SIGMA: relative 1e-6 (CASA computes 1/sqrt(WEIGHT) in float32);
  * channel frequencies 1e-3 Hz, field directions 1e-12 rad, positions 1e-6 m.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from astropy.io import fits
from casacore import tables as ct

from casashell.tasks import exportuvfits, importuvfits

from conftest import DATA_DIR

ONE = "day2_TDEM0003_10s_norx_1src_1spw"
TWO = "day2_TDEM0003_10s_norx_1scan"
TIME_TOL = 1e-6


def _col(path, col, sub=None):
    with ct.table(os.path.join(path, sub) if sub else path, ack=False) as t:
        return t.getcol(col)


def _sorted_main(path, cols):
    with ct.table(path, ack=False) as t:
        k = np.lexsort((t.getcol("DATA_DESC_ID"), t.getcol("ANTENNA2"), t.getcol("ANTENNA1"),
                        t.getcol("TIME")))
        return {c: t.getcol(c)[k] for c in cols}


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    out = {}
    d = tmp_path_factory.mktemp("imp")
    for name in (ONE, TWO):
        vis = str(d / f"{name}.ms")
        importuvfits(fitsfile=os.path.join(DATA_DIR, name + ".uvfits"), vis=vis)
        out[name] = vis
    return out


@pytest.mark.parametrize("name", [ONE, TWO])
def test_import_matches_casa(imported, name):
    ours = imported[name]
    casa = os.path.join(DATA_DIR, name + ".ms")
    with ct.table(ours, ack=False) as a, ct.table(casa, ack=False) as b:
        assert a.nrows() == b.nrows()
        for c in ("ANTENNA1", "ANTENNA2", "DATA_DESC_ID", "FIELD_ID", "SCAN_NUMBER",
                  "ARRAY_ID", "FLAG", "FLAG_ROW", "DATA", "WEIGHT", "WEIGHT_SPECTRUM", "UVW"):
            np.testing.assert_array_equal(a.getcol(c), b.getcol(c), err_msg=c)
        np.testing.assert_allclose(a.getcol("TIME"), b.getcol("TIME"), rtol=0, atol=TIME_TOL)
        np.testing.assert_allclose(a.getcol("SIGMA"), b.getcol("SIGMA"), rtol=1e-6)
    for c in ("NAME", "STATION", "FLAG_ROW", "MOUNT"):
        assert list(_col(ours, c, "ANTENNA")) == list(_col(casa, c, "ANTENNA")), c
    for c, tol in (("POSITION", 1e-6), ("DISH_DIAMETER", 0), ("OFFSET", 1e-9)):
        np.testing.assert_allclose(_col(ours, c, "ANTENNA"), _col(casa, c, "ANTENNA"),
                                   atol=tol)
    for c in ("CHAN_FREQ", "CHAN_WIDTH", "REF_FREQUENCY", "TOTAL_BANDWIDTH"):
        np.testing.assert_allclose(_col(ours, c, "SPECTRAL_WINDOW"),
                                   _col(casa, c, "SPECTRAL_WINDOW"), atol=1e-3)
    for c in ("NUM_CHAN", "MEAS_FREQ_REF", "NET_SIDEBAND"):
        np.testing.assert_array_equal(_col(ours, c, "SPECTRAL_WINDOW"),
                                      _col(casa, c, "SPECTRAL_WINDOW"))
    np.testing.assert_array_equal(_col(ours, "CORR_TYPE", "POLARIZATION"),
                                  _col(casa, "CORR_TYPE", "POLARIZATION"))
    np.testing.assert_array_equal(_col(ours, "CORR_PRODUCT", "POLARIZATION"),
                                  _col(casa, "CORR_PRODUCT", "POLARIZATION"))
    assert list(_col(ours, "NAME", "FIELD")) == list(_col(casa, "NAME", "FIELD"))
    np.testing.assert_allclose(_col(ours, "PHASE_DIR", "FIELD"), _col(casa, "PHASE_DIR", "FIELD"),
                               atol=1e-12)
    assert list(_col(ours, "TELESCOPE_NAME", "OBSERVATION")) == ["EVLA"]
    assert list(_col(ours, "OBSERVER", "OBSERVATION")) == list(
        _col(casa, "OBSERVER", "OBSERVATION"))
    # one SOURCE row per spectral window, as CASA 6.7's importuvfits (test_casa_uvfits.py)
    nspw = len(_col(ours, "NUM_CHAN", "SPECTRAL_WINDOW"))
    assert list(_col(ours, "NAME", "SOURCE")) == ["J1008+0730"] * nspw
    assert list(_col(ours, "SPECTRAL_WINDOW_ID", "SOURCE")) == list(range(nspw))
    hist = list(_col(ours, "MESSAGE", "HISTORY"))
    assert hist[0] == "AIPS WTSCAL = 1.0"           # the FITS HISTORY card, as CASA does
    assert "taskname=importuvfits" in hist


def _pyuvdata(path):
    """pyuvdata's reading of a file, offline (no astropy site download)."""
    from astropy.coordinates import EarthLocation
    from pyuvdata import UVData
    orig = EarthLocation.__dict__["get_site_names"]
    EarthLocation.get_site_names = classmethod(lambda cls: [])
    try:
        uv = UVData()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            uv.read(path)
        return uv
    finally:
        EarthLocation.get_site_names = orig


def test_export_read_by_pyuvdata(tmp_path):
    """CASA's MS exported by us, read by pyuvdata = the original UVFITS read by pyuvdata."""
    out = str(tmp_path / "x.uvfits")
    assert exportuvfits(vis=os.path.join(DATA_DIR, TWO + ".ms"), fitsfile=out,
                        datacolumn="data") is None   # CASA 6.7 returns None
    a = _pyuvdata(os.path.join(DATA_DIR, TWO + ".uvfits"))
    b = _pyuvdata(out)
    np.testing.assert_array_equal(b.data_array, a.data_array)
    np.testing.assert_array_equal(b.flag_array, a.flag_array)
    np.testing.assert_array_equal(b.nsample_array, a.nsample_array)
    np.testing.assert_array_equal(b.uvw_array, a.uvw_array)
    np.testing.assert_allclose(b.time_array, a.time_array, rtol=0, atol=TIME_TOL / 86400)
    np.testing.assert_array_equal(b.ant_1_array, a.ant_1_array)
    np.testing.assert_array_equal(b.ant_2_array, a.ant_2_array)
    np.testing.assert_allclose(b.freq_array, a.freq_array, atol=1e-3)
    np.testing.assert_array_equal(b.polarization_array, a.polarization_array)
    np.testing.assert_allclose(b.antenna_positions, a.antenna_positions, atol=1e-6)
    assert b.Nspws == 2
    names = lambda uv: sorted(c["cat_name"] for c in uv.phase_center_catalog.values())  # noqa
    assert names(b) == names(a) == ["J1008+0730"]


def test_roundtrip_uvfits_ms_uvfits(imported, tmp_path):
    """UVFITS -> MS -> UVFITS: the groups come back bit for bit."""
    out = str(tmp_path / "rt.uvfits")
    exportuvfits(vis=imported[TWO], fitsfile=out, datacolumn="data")
    with fits.open(os.path.join(DATA_DIR, TWO + ".uvfits")) as a, fits.open(out) as b:
        ga, gb = a[0].data, b[0].data
        assert len(ga) == len(gb) == 1414
        np.testing.assert_array_equal(gb.data, ga.data)
        for p in ("UU", "VV", "WW", "BASELINE"):
            np.testing.assert_array_equal(gb.par(p), ga.par(p))
        # our DATE is written as two float32 terms summing to the Julian date
        ta = (ga.par(3).astype(float) + ga.par(4).astype(float) - 2400000.5) * 86400
        tb = (gb.par(3).astype(float) - 2400000.5 + gb.par(4).astype(float)) * 86400
        np.testing.assert_allclose(tb, ta, rtol=0, atol=1e-4)
        assert [h.name for h in b] == ["PRIMARY", "AIPS FQ", "AIPS AN", "AIPS SU"]
        np.testing.assert_allclose(b["AIPS FQ"].data["IF FREQ"],
                                   a["AIPS FQ"].data["IF FREQ"], atol=1e-3)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    from casashell.ms.generate import make_ms
    path = str(tmp_path_factory.mktemp("syn") / "syn.ms")
    make_ms(path, nant=6, nfield=4, nscan=5, nspw=2, nchan=8, ntimes_per_scan=3,
            weight_spectrum=True, seed=3)
    return path


def test_roundtrip_ms_uvfits_ms(synthetic, tmp_path):
    """Multi-source, 2 spws as IFs, flags and channel weights: MS -> UVFITS -> MS."""
    fitsfile = str(tmp_path / "s.uvfits")
    exportuvfits(vis=synthetic, fitsfile=fitsfile, datacolumn="data")
    with fits.open(fitsfile) as h:
        assert h[0].header["NAXIS5"] == 2                    # two IFs
        assert len(h["AIPS SU"].data) == 4                    # four sources
        nflag = (h[0].data.data[..., 2] <= 0).sum()
    back = str(tmp_path / "back.ms")
    importuvfits(fitsfile=fitsfile, vis=back)
    cols = ["TIME", "ANTENNA1", "ANTENNA2", "DATA_DESC_ID", "FIELD_ID", "DATA", "FLAG",
            "WEIGHT_SPECTRUM", "UVW"]
    a, b = _sorted_main(back, cols), _sorted_main(synthetic, cols)
    for c in ("ANTENNA1", "ANTENNA2", "DATA_DESC_ID", "FIELD_ID", "DATA", "FLAG",
              "WEIGHT_SPECTRUM"):
        np.testing.assert_array_equal(a[c], b[c], err_msg=c)
    np.testing.assert_allclose(a["TIME"], b["TIME"], rtol=0, atol=TIME_TOL)
    np.testing.assert_allclose(a["UVW"], b["UVW"], rtol=1e-7, atol=1e-6)
    assert a["FLAG"].sum() == nflag
    # WEIGHT is re-derived as the sum of the channel weights (as CASA's import does)
    np.testing.assert_allclose(_sorted_main(back, ["WEIGHT"])["WEIGHT"],
                               b["WEIGHT_SPECTRUM"].sum(axis=1), rtol=1e-6)
    assert list(_col(back, "NAME", "FIELD")) == list(_col(synthetic, "NAME", "FIELD"))
    np.testing.assert_allclose(_col(back, "PHASE_DIR", "FIELD"),
                               _col(synthetic, "PHASE_DIR", "FIELD"), atol=1e-12)
    np.testing.assert_allclose(_col(back, "CHAN_FREQ", "SPECTRAL_WINDOW"),
                               _col(synthetic, "CHAN_FREQ", "SPECTRAL_WINDOW"), atol=1e-3)
    np.testing.assert_array_equal(_col(back, "CORR_TYPE", "POLARIZATION"),
                                  _col(synthetic, "CORR_TYPE", "POLARIZATION"))
    np.testing.assert_allclose(_col(back, "POSITION", "ANTENNA"),
                               _col(synthetic, "POSITION", "ANTENNA"), atol=1e-6)
    assert list(_col(back, "STATION", "ANTENNA")) == list(_col(synthetic, "STATION",
                                                                "ANTENNA"))


def test_selection_combinespw_multisource(synthetic, tmp_path):
    f1 = str(tmp_path / "one.uvfits")
    exportuvfits(vis=synthetic, fitsfile=f1, datacolumn="data", field="1", spw="1",
                 multisource=False, combinespw=False)
    with ct.table(synthetic, ack=False) as t:
        want = int(np.sum((t.getcol("FIELD_ID") == 1) & (t.getcol("DATA_DESC_ID") == 1)))
        fname = ct.table(os.path.join(synthetic, "FIELD"), ack=False).getcol("NAME")[1]
    with fits.open(f1) as h:
        assert h[0].header["GCOUNT"] == want
        assert "AIPS SU" not in [x.name for x in h]
        assert h[0].header["OBJECT"] == fname
        assert "SOURCE" not in h[0].data.parnames
    f2 = str(tmp_path / "sep.uvfits")
    exportuvfits(vis=synthetic, fitsfile=f2, datacolumn="data", combinespw=False)
    with fits.open(f2) as h:
        assert h[0].header["NAXIS5"] == 1 and len(h["AIPS FQ"].data) == 2
        assert sorted(set(h[0].data.par("FREQSEL").astype(int))) == [1, 2]
    back = str(tmp_path / "sep.ms")
    importuvfits(fitsfile=f2, vis=back)
    np.testing.assert_allclose(_col(back, "CHAN_FREQ", "SPECTRAL_WINDOW"),
                               _col(synthetic, "CHAN_FREQ", "SPECTRAL_WINDOW"), atol=1e-3)
    with pytest.raises(ValueError, match="multisource=False"):
        exportuvfits(vis=synthetic, fitsfile=str(tmp_path / "bad.uvfits"),
                     datacolumn="data", multisource=False)


def test_every_pyuvdata_uvfits_imports(tmp_path):
    names = sorted(n for n in os.listdir(DATA_DIR) if n.endswith(".uvfits"))
    assert len(names) >= 10
    for name in names:
        vis = str(tmp_path / (name + ".ms"))
        importuvfits(fitsfile=os.path.join(DATA_DIR, name), vis=vis)
        with fits.open(os.path.join(DATA_DIR, name)) as h:
            hdr = h[0].header
            nif = next((hdr[f"NAXIS{i}"] for i in range(2, hdr["NAXIS"] + 1)
                        if hdr[f"CTYPE{i}"].strip() == "IF"), 1)
            ngroups = hdr["GCOUNT"]
            nchan = next(hdr[f"NAXIS{i}"] for i in range(2, hdr["NAXIS"] + 1)
                         if hdr[f"CTYPE{i}"].strip() == "FREQ")
            wt = h[0].data.data[..., -1]
        with ct.table(vis, ack=False) as t:
            assert t.nrows() == ngroups * nif, name
            assert t.getcell("DATA", 0).shape[0] == nchan, name
            assert int(t.getcol("FLAG").sum()) == int((wt <= 0).sum()), name


def test_errors_and_nothing_half_written(tmp_path, synthetic):
    vis = str(tmp_path / "x.ms")
    importuvfits(fitsfile=os.path.join(DATA_DIR, ONE + ".uvfits"), vis=vis)
    with pytest.raises(FileExistsError, match="already exists"):
        importuvfits(fitsfile=os.path.join(DATA_DIR, ONE + ".uvfits"), vis=vis)
    notfits = tmp_path / "n.uvfits"
    notfits.write_text("hello")
    with pytest.raises(ValueError, match="not a FITS file"):
        importuvfits(fitsfile=str(notfits), vis=str(tmp_path / "n.ms"))
    img = tmp_path / "img.fits"
    fits.PrimaryHDU(np.zeros((4, 4), np.float32)).writeto(img)
    with pytest.raises(ValueError, match="not random-group UVFITS"):
        importuvfits(fitsfile=str(img), vis=str(tmp_path / "img.ms"))
    out = tmp_path / "e.uvfits"
    exportuvfits(vis=synthetic, fitsfile=str(out), datacolumn="data")
    with pytest.raises(FileExistsError, match="overwrite=False"):
        exportuvfits(vis=synthetic, fitsfile=str(out), datacolumn="data")
    exportuvfits(vis=synthetic, fitsfile=str(out), datacolumn="data", overwrite=True)
    with pytest.raises(ValueError, match="no MODEL_DATA"):
        exportuvfits(vis=synthetic, fitsfile=str(tmp_path / "m.uvfits"), datacolumn="model")
    with pytest.raises(ValueError, match="channel selections"):
        exportuvfits(vis=synthetic, fitsfile=str(tmp_path / "c.uvfits"), spw="0:1~3")
    leftovers = [p for p in os.listdir(tmp_path) if p.startswith(".")]
    assert leftovers == []
    assert sorted(p for p in os.listdir(tmp_path) if not p.endswith(".log")) == [
        "e.uvfits", "img.fits", "n.uvfits", "x.ms"]


def test_corrected_falls_back_to_data_with_warning(tmp_path):
    from casashell.logsink import casalog
    out = str(tmp_path / "c.uvfits")
    exportuvfits(vis=os.path.join(DATA_DIR, ONE + ".ms"), fitsfile=out)  # default corrected
    log = open(casalog.logfile()).read()
    assert "has no CORRECTED_DATA column; exporting DATA" in log
    with fits.open(out) as h:
        assert h[0].header["BUNIT"] == "UNCALIB"
        assert h[0].header["GCOUNT"] == 1360


def test_antnamescheme_new(tmp_path):
    vis = str(tmp_path / "new.ms")
    importuvfits(fitsfile=os.path.join(DATA_DIR, ONE + ".uvfits"), vis=vis,
                 antnamescheme="new")
    names = list(_col(vis, "NAME", "ANTENNA"))
    casa = list(_col(os.path.join(DATA_DIR, ONE + ".ms"), "NAME", "ANTENNA"))
    # EVLA antennas: 'ea' numbering, the same numbers CASA's 'old' scheme shows
    assert [n for n in names if n] == [f"EA{int(c):02d}" for c in casa if c]
    assert list(_col(vis, "STATION", "ANTENNA")) == list(
        _col(os.path.join(DATA_DIR, ONE + ".ms"), "STATION", "ANTENNA"))


def test_more_than_255_antennas(tmp_path):
    """OVRO-LWA, 256 antennas: ANTENNA1/ANTENNA2 parameters; pyuvdata reads the same
    visibilities as it reads from the MS (its MS antenna numbers are 0-based, UVFITS
    ones 1-based)."""
    ms = os.path.join(DATA_DIR, "2018-03-21-01_26_33_0004384620257280_000000_downselected.ms")
    out = str(tmp_path / "lwa.uvfits")
    exportuvfits(vis=ms, fitsfile=out, datacolumn="data")
    with fits.open(out) as h:
        assert {"ANTENNA1", "ANTENNA2", "SUBARRAY"} <= set(h[0].data.parnames)
        assert len(h["AIPS AN"].data) == 256
    a, b = _pyuvdata(ms), _pyuvdata(out)
    ia = np.lexsort((a.ant_2_array, a.ant_1_array, a.time_array))
    ib = np.lexsort((b.ant_2_array, b.ant_1_array, b.time_array))
    np.testing.assert_array_equal(b.ant_1_array[ib], a.ant_1_array[ia] + 1)
    np.testing.assert_array_equal(b.ant_2_array[ib], a.ant_2_array[ia] + 1)
    np.testing.assert_array_equal(b.data_array[ib], a.data_array[ia])
    np.testing.assert_array_equal(b.polarization_array, a.polarization_array)
    back = str(tmp_path / "lwa.ms")
    importuvfits(fitsfile=out, vis=back)
    x = _sorted_main(back, ["ANTENNA1", "ANTENNA2", "TIME"])
    y = _sorted_main(ms, ["ANTENNA1", "ANTENNA2", "TIME"])
    for c in x:
        np.testing.assert_array_equal(x[c], y[c])


def test_decreasing_frequencies_roundtrip(synthetic, tmp_path):
    """A spw whose frequency falls with channel number (lower sideband) next to a
    rising one: both come back with the same channel frequencies."""
    import shutil
    ms = str(tmp_path / "lsb.ms")
    shutil.copytree(synthetic, ms)
    with ct.table(os.path.join(ms, "SPECTRAL_WINDOW"), readonly=False, ack=False) as s:
        f = s.getcell("CHAN_FREQ", 1)
        s.putcell("CHAN_FREQ", 1, f[::-1].copy())
        s.putcell("NET_SIDEBAND", 1, -1)
        want = s.getcol("CHAN_FREQ")
    out = str(tmp_path / "lsb.uvfits")
    exportuvfits(vis=ms, fitsfile=out, datacolumn="data")
    back = str(tmp_path / "back.ms")
    importuvfits(fitsfile=out, vis=back)
    np.testing.assert_allclose(_col(back, "CHAN_FREQ", "SPECTRAL_WINDOW"), want, atol=1e-3)
    assert list(_col(back, "NET_SIDEBAND", "SPECTRAL_WINDOW")) == [1, -1]
