"""plotms: what is drawn is checked against values computed here from the MS
with python-casacore and numpy (points, ranges, colours, labels, pixels)."""

from __future__ import annotations

import os

import matplotlib.image as mpimg
import numpy as np
import pytest
from casacore import tables as ct

from casashell import plotting
from casashell.plotting import raster
from casashell.tasks import plotms

from conftest import DATA_DIR

REAL = os.path.join(DATA_DIR, "day2_TDEM0003_10s_norx_1scan.ms")


@pytest.fixture(scope="module")
def syn(tmp_path_factory):
    from casashell.ms.generate import make_ms
    path = str(tmp_path_factory.mktemp("pm") / "syn.ms")
    make_ms(path, nant=8, nfield=4, nscan=5, nspw=2, nchan=64, ntimes_per_scan=3, seed=1)
    return path


def _read(path, cols):
    with ct.table(path, ack=False) as t:
        return {c: t.getcol(c) for c in cols}


def _ddid_spw(path):
    return ct.table(os.path.join(path, "DATA_DESCRIPTION"), ack=False).getcol(
        "SPECTRAL_WINDOW_ID")


def _scatter(ax):
    """(offsets, facecolours) of the unflagged-point collection."""
    coll = [c for c in ax.collections if c.get_label() != "flagged"][-1]
    return np.asarray(coll.get_offsets()), coll.get_facecolors()


def _pixels(png, colour, tol=0.03):
    img = mpimg.imread(png)[..., :3]
    from matplotlib.colors import to_rgb
    return int(np.sum(np.all(np.abs(img - np.array(to_rgb(colour))) < tol, axis=-1)))


def test_casa_on_aws_tutorial_call(syn, tmp_path):
    png = str(tmp_path / "aws.png")
    assert plotms(vis=syn, field="3", xaxis="uvdist", yaxis="amp", correlation="RR,LL",
                  avgchannel="64", spw="0~1:4~60", coloraxis="spw", plotfile=png,
                  showgui=False) is True
    info = plotting.LAST["info"]
    ax = info["pages"][0][0]["axes"]
    # independent expectation: mean over channels 4..60 of unflagged data, RR and LL
    d = _read(syn, ["FIELD_ID", "DATA_DESC_ID", "DATA", "FLAG", "FLAG_ROW", "UVW"])
    corr = list(ct.table(os.path.join(syn, "POLARIZATION"), ack=False).getcell("CORR_TYPE", 0))
    ci = [corr.index(5), corr.index(8)]
    spw = _ddid_spw(syn)[d["DATA_DESC_ID"]]
    rows = d["FIELD_ID"] == 3
    data = d["DATA"][rows][:, 4:61][:, :, ci]
    flag = (d["FLAG"] | d["FLAG_ROW"][:, None, None])[rows][:, 4:61][:, :, ci]
    good = ~flag
    mean = (data * good).sum(axis=1) / np.maximum(good.sum(axis=1), 1)
    ok = good.any(axis=1)
    uvd = np.hypot(d["UVW"][rows, 0], d["UVW"][rows, 1])
    x_exp = np.broadcast_to(uvd[:, None], ok.shape)[ok]
    y_exp = np.abs(mean)[ok]
    s_exp = np.broadcast_to(spw[rows][:, None], ok.shape)[ok]
    assert info["npoints"] == ok.sum() > 100
    off, fc = _scatter(ax)
    assert len(off) == ok.sum()
    o1 = np.lexsort((off[:, 1], off[:, 0]))
    o2 = np.lexsort((y_exp, x_exp))
    np.testing.assert_allclose(off[o1, 0], x_exp[o2], rtol=1e-9)
    np.testing.assert_allclose(off[o1, 1], y_exp[o2], rtol=1e-5)
    # colours: spw 0 and spw 1 in the first two palette colours, in the right numbers
    from matplotlib.colors import to_rgba
    for k in (0, 1):
        n = int(np.sum(np.all(np.isclose(fc, to_rgba(raster.PALETTE[k])), axis=1)))
        assert n == int(np.sum(s_exp == k))
    # spw 1 is drawn last, over spw 0 at the same uv distances: its green dots show
    # (5-pixel dots for so few points)
    assert _pixels(png, raster.PALETTE[1]) > 25 * 20
    assert ax.get_xlabel() == "UVdist (m)" and ax.get_ylabel() == "Amp:data"
    assert ax.get_title() == "Amp vs. UVdist"
    lo, hi = ax.get_xlim()
    assert lo <= x_exp.min() and hi >= x_exp.max()


def test_millions_of_points_raster_is_exact_per_cell(tmp_path):
    """All 696,320 unflagged points of a real VLA MS, binned: the occupied raster
    columns and rows are exactly those of the data (1-pixel symbols: no dilation)."""
    png = str(tmp_path / "r.png")
    plotms(vis=REAL, xaxis="uvdist", yaxis="amp", plotfile=png, showgui=False,
           customsymbol=True, symbolshape="pixel")
    info = plotting.LAST["info"]
    p = info["pages"][0][0]
    d = _read(REAL, ["DATA", "FLAG", "FLAG_ROW", "UVW"])
    good = ~(d["FLAG"] | d["FLAG_ROW"][:, None, None])
    assert info["npoints"] == int(good.sum()) == 696320
    assert p["mode"] == "raster"
    uvd = np.hypot(d["UVW"][:, 0], d["UVW"][:, 1])
    amp = np.abs(d["DATA"])
    x = np.broadcast_to(uvd[:, None, None], good.shape)[good]
    y = amp[good]
    assert p["xrange"] == pytest.approx([x.min(), x.max()])
    assert p["yrange"] == pytest.approx([y.min(), y.max()], rel=1e-6)
    ax = p["axes"]
    im = ax.images[-1]
    arr = im.get_array()
    x0, x1, y0, y1 = im.get_extent()
    ny, nx = arr.shape[:2]
    occ = arr[..., 3] > 0
    cols = set(np.nonzero(occ.any(axis=0))[0].tolist())
    rows = set(np.nonzero(occ.any(axis=1))[0].tolist())
    want_c = set(np.clip(np.floor((x - x0) / ((x1 - x0) / nx)), 0, nx - 1).astype(int).tolist())
    want_r = set(np.clip(np.floor((y - y0) / ((y1 - y0) / ny)), 0, ny - 1).astype(int).tolist())
    # allow for values lying exactly on a cell edge (float rounding of the extent)
    assert len(cols ^ want_c) <= 0.01 * len(want_c)
    assert len(rows ^ want_r) <= 0.01 * len(want_r)
    assert _pixels(png, raster.DEFAULT_COLOR) > 1000


def test_avgtime_avgchannel_counts(syn):
    plotms(vis=syn, xaxis="channel", yaxis="amp", avgtime="30", avgchannel="8",
           showgui=False)
    info = plotting.LAST["info"]
    d = _read(syn, ["SCAN_NUMBER", "ANTENNA1", "ANTENNA2", "DATA_DESC_ID", "FIELD_ID",
                    "FLAG", "FLAG_ROW"])
    key = np.stack([d["SCAN_NUMBER"], d["ANTENNA1"], d["ANTENNA2"], d["DATA_DESC_ID"],
                    d["FIELD_ID"]], axis=1)
    uk, inv = np.unique(key, axis=0, return_inverse=True)
    good = ~(d["FLAG"] | d["FLAG_ROW"][:, None, None])          # (row, 64, 4)
    gb = good.reshape(len(good), 8, 8, 4).any(axis=2)            # 8-channel bins
    anyg = np.zeros((len(uk), 8, 4), bool)
    np.logical_or.at(anyg, inv.ravel(), gb)
    # 3 integrations of 10 s per scan: one 30 s bin per scan and baseline
    assert info["npoints"] == int(anyg.sum())
    p = info["pages"][0][0]
    assert p["xrange"] == [3.5, 59.5]   # mean channel of the bins 0-7 ... 56-63


def test_avgbaseline_values(syn):
    plotms(vis=syn, xaxis="time", yaxis="real", spw="0:5", correlation="RR",
           avgbaseline=True, showgui=False)
    info = plotting.LAST["info"]
    d = _read(syn, ["TIME", "DATA_DESC_ID", "DATA", "FLAG", "FLAG_ROW", "WEIGHT"])
    rows = _ddid_spw(syn)[d["DATA_DESC_ID"]] == 0
    t = d["TIME"][rows]
    v = d["DATA"][rows][:, 5, 0]
    g = ~(d["FLAG"][rows][:, 5, 0] | d["FLAG_ROW"][rows])
    w = d["WEIGHT"][rows][:, 0] * g
    ut = np.unique(t)
    exp = np.array([np.sum((w * v.real)[t == x]) / np.sum(w[t == x]) for x in ut])
    off, _ = _scatter(info["pages"][0][0]["axes"])
    o = np.argsort(off[:, 0])
    np.testing.assert_allclose(off[o, 0], ut)
    np.testing.assert_allclose(off[o, 1], exp, rtol=1e-6)
    assert info["npoints"] == len(ut)


def test_iteraxis_field_grid(syn, tmp_path):
    plotms(vis=syn, xaxis="time", yaxis="amp", iteraxis="field", gridrows=2, gridcols=2,
           plotfile=str(tmp_path / "it.png"), showgui=False)
    info = plotting.LAST["info"]
    page = info["pages"][0]
    assert len(page) == 4 and info["npages"] == 1
    names = list(ct.table(os.path.join(syn, "FIELD"), ack=False).getcol("NAME"))
    d = _read(syn, ["FIELD_ID", "FLAG", "FLAG_ROW"])
    good = ~(d["FLAG"] | d["FLAG_ROW"][:, None, None])
    for k, panel in enumerate(page):
        assert panel["iteration"] == k
        assert panel["axes"].get_title().endswith(f"Field: {names[k]}")
        assert panel["npoints"] == int(good[d["FIELD_ID"] == k].sum())
    assert len(plotting.LAST["figure"].axes) == 4


def test_iteraxis_antenna_all_pages(syn, tmp_path):
    out = str(tmp_path / "ant.png")
    plotms(vis=syn, xaxis="uvdist", yaxis="amp", iteraxis="antenna", gridrows=2, gridcols=2,
           exprange="all", plotfile=out, showgui=False)
    info = plotting.LAST["info"]
    assert info["npages"] == 2
    assert [os.path.basename(f) for f in info["files"]] == ["ant.png", "ant_2.png"]
    for f in info["files"]:
        assert open(f, "rb").read(4) == b"\x89PNG"
    d = _read(syn, ["ANTENNA1", "ANTENNA2", "FLAG", "FLAG_ROW"])
    good = ~(d["FLAG"] | d["FLAG_ROW"][:, None, None])
    for page in info["pages"]:
        for panel in page:
            a = panel["iteration"]
            m = (d["ANTENNA1"] == a) | (d["ANTENNA2"] == a)
            assert panel["npoints"] == int(good[m].sum())


def test_coloraxis_corr_legend_and_showflags(syn, tmp_path):
    png = str(tmp_path / "f.png")
    plotms(vis=syn, xaxis="frequency", yaxis="phase", coloraxis="corr", showlegend=True,
           showflags=True, plotfile=png, showgui=False)
    info = plotting.LAST["info"]
    p = info["pages"][0][0]
    d = _read(syn, ["FLAG", "FLAG_ROW"])
    flagged = d["FLAG"] | d["FLAG_ROW"][:, None, None]
    assert info["nflagged"] == int(flagged.sum()) > 0
    assert info["npoints"] == int((~flagged).sum())
    legend = p["axes"].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["RR", "RL", "LR", "LL"]
    freqs = ct.table(os.path.join(syn, "SPECTRAL_WINDOW"), ack=False).getcol("CHAN_FREQ")
    assert p["xrange"] == pytest.approx([freqs.min() / 1e9, freqs.max() / 1e9])
    assert -180 <= p["yrange"][0] < p["yrange"][1] <= 180
    assert p["axes"].get_xlabel() == "Frequency (GHz)"
    assert p["axes"].get_ylabel() == "Phase:data (deg)"
    assert _pixels(png, raster.FLAGGED_COLOR) > 10
    for k in range(4):
        assert _pixels(png, raster.PALETTE[k]) > 10


def test_formats_overwrite_plotrange_time_ticks(syn, tmp_path):
    for fmt, magic in (("pdf", b"%PDF"), ("jpg", b"\xff\xd8")):
        out = str(tmp_path / f"p.{fmt}")
        plotms(vis=syn, plotfile=out, expformat=fmt, showgui=False,
               plotrange=[0, 0, 0, 50])
        assert open(out, "rb").read(len(magic)) == magic
        p = plotting.LAST["info"]["pages"][0][0]
        assert p["ylim"] == (0, 50)
    ax = plotting.LAST["info"]["pages"][0][0]["axes"]
    assert ax.get_xlabel() == "Time (UTC)"
    plotting.LAST["figure"].canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert labels and all(len(s) == 8 and s[2] == ":" and s[5] == ":" for s in labels)
    before = os.path.getmtime(str(tmp_path / "p.pdf"))
    with pytest.raises(FileExistsError):
        plotms(vis=syn, plotfile=str(tmp_path / "p.pdf"), showgui=False)
    assert os.path.getmtime(str(tmp_path / "p.pdf")) == before
    plotms(vis=syn, plotfile=str(tmp_path / "p.pdf"), showgui=False, overwrite=True)


def test_errors_and_fallbacks(syn):
    from casashell.ms.selection import SelectionError
    with pytest.raises(AssertionError, match="xaxis"):
        plotms(vis=syn, xaxis="foo", showgui=False)
    with pytest.raises(SelectionError, match="field selection 'NOPE'"):
        plotms(vis=syn, field="NOPE", showgui=False)
    with pytest.raises(ValueError, match="msselect.*mscal"):
        plotms(vis=syn, msselect="mscal.time() > 0", showgui=False)
    with pytest.raises(ValueError, match="avgantenna and avgbaseline"):
        plotms(vis=syn, avgantenna=True, avgbaseline=True, showgui=False)
    from casashell.logsink import casalog
    plotms(vis=REAL, ydatacolumn="corrected", spw="0:0~3", showgui=False)
    assert "has no CORRECTED_DATA column; using DATA" in open(casalog.logfile()).read()
    assert plotting.LAST["info"]["npoints"] > 0


def test_showgui_qt_window(syn, monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    plotms(vis=syn, spw="0:0~3", showgui=True)
    fig = plotting.LAST["figure"]
    try:
        assert "QT" in type(fig.canvas).__name__.upper()
        assert fig._casashell_window.isVisible()
        assert fig.canvas.toolbar is not None
    finally:
        fig._casashell_window.close()
        plotting.WINDOWS.clear()


def _real_mss():
    from conftest import REAL_MSS
    return [m for m in REAL_MSS if os.path.isfile(os.path.join(DATA_DIR, m, "table.dat"))]


@pytest.mark.parametrize("name", _real_mss())
def test_every_real_ms_amp_vs_uvdist(name, tmp_path):
    """Every point of every real MS: unflagged, finite visibilities, all counted."""
    path = os.path.join(DATA_DIR, name)
    plotms(vis=path, xaxis="uvdist", yaxis="amp", showgui=False,
           plotfile=str(tmp_path / "a.png"))
    info = plotting.LAST["info"]
    d = _read(path, ["DATA", "FLAG", "FLAG_ROW", "UVW"])
    good = ~(d["FLAG"] | d["FLAG_ROW"][:, None, None]) & np.isfinite(d["DATA"])
    assert info["npoints"] == int(good.sum())
    if good.any():
        uvd = np.hypot(d["UVW"][:, 0], d["UVW"][:, 1])
        x = np.broadcast_to(uvd[:, None, None], good.shape)[good]
        p = info["pages"][0][0]
        assert p["xrange"] == pytest.approx([x.min(), x.max()])
        assert p["yrange"][1] == pytest.approx(np.abs(d["DATA"][good]).max(), rel=1e-6)


def test_custom_symbols_fonts_legend_velocity(syn, tmp_path):
    png = str(tmp_path / "c.png")
    plotms(vis=syn, spw="0:0~7", xaxis="velocity", yaxis="amp", transform=True,
           restfreq="1.1GHz", veldef="OPTICAL", customsymbol=True, symbolshape="circle",
           symbolcolor="ff8000", customflaggedsymbol=True, flaggedsymbolshape="square",
           flaggedsymbolcolor="00ffff", titlefont=16, xaxisfont=12, yaxislocation="right",
           plotfile=png, showgui=False)
    info = plotting.LAST["info"]
    p = info["pages"][0][0]
    ax = p["axes"]
    freqs = ct.table(os.path.join(syn, "SPECTRAL_WINDOW"), ack=False).getcell("CHAN_FREQ", 0)
    v = 299792458.0 * (1.1e9 / freqs[:8] - 1.0) / 1e3      # optical definition, km/s
    assert p["xrange"] == pytest.approx([v.min(), v.max()])
    d = _read(syn, ["DATA_DESC_ID", "FLAG", "FLAG_ROW"])
    rows = _ddid_spw(syn)[d["DATA_DESC_ID"]] == 0
    flagged = (d["FLAG"] | d["FLAG_ROW"][:, None, None])[rows][:, :8]
    assert info["nflagged"] == int(flagged.sum()) > 0      # customflaggedsymbol shows flags
    assert ax.title.get_fontsize() == 16 and ax.xaxis.label.get_fontsize() == 12
    assert ax.yaxis.get_label_position() == "right"
    assert _pixels(png, "#ff8000") > 100 and _pixels(png, "#00ffff") > 10
    with pytest.raises(ValueError, match="symbolcolor"):
        plotms(vis=syn, customsymbol=True, symbolcolor="notacolour", showgui=False)


def test_time_average_uvdist_and_row_order(syn, tmp_path):
    """avgtime: the uv distance of a point is the mean of its rows' uv distances, and
    the result does not depend on the row order of the MS (the time-ordered MS is
    streamed bin by bin; a reversed copy is averaged at the end)."""
    kw = dict(xaxis="uvdist", yaxis="amp", avgtime="30", avgchannel="64", spw="0",
              correlation="RR", showgui=False)
    plotms(vis=syn, **kw)
    off1, _ = _scatter(plotting.LAST["info"]["pages"][0][0]["axes"])
    rev = str(tmp_path / "reversed.ms")
    with ct.table(syn, ack=False) as t:
        t.query(sortlist="TIME DESC, ANTENNA1 DESC").copy(rev, deep=True).close()
    plotms(vis=rev, **kw)
    off2, _ = _scatter(plotting.LAST["info"]["pages"][0][0]["axes"])
    o1 = np.lexsort((off1[:, 1], off1[:, 0]))
    o2 = np.lexsort((off2[:, 1], off2[:, 0]))
    np.testing.assert_allclose(off2[o2], off1[o1], rtol=1e-6)
    # independent: per scan and baseline (3 integrations = one 30 s bin)
    d = _read(syn, ["SCAN_NUMBER", "ANTENNA1", "ANTENNA2", "DATA_DESC_ID", "UVW", "FLAG",
                    "FLAG_ROW"])
    m = _ddid_spw(syn)[d["DATA_DESC_ID"]] == 0
    key = np.stack([d["SCAN_NUMBER"][m], d["ANTENNA1"][m], d["ANTENNA2"][m]], axis=1)
    uk, inv = np.unique(key, axis=0, return_inverse=True)
    inv = inv.ravel()
    uvd = np.hypot(d["UVW"][m, 0], d["UVW"][m, 1])
    mean_uvd = np.bincount(inv, weights=uvd) / np.bincount(inv)
    good = ~(d["FLAG"][m][:, :, 0] | d["FLAG_ROW"][m][:, None])
    anyg = np.zeros(len(uk), bool)
    np.logical_or.at(anyg, inv, good.any(axis=1))
    assert len(off1) == int(anyg.sum())
    np.testing.assert_allclose(np.sort(off1[:, 0]), np.sort(mean_uvd[anyg]), rtol=1e-9)


def test_selection_parameters_reach_the_plot(syn):
    names = list(ct.table(os.path.join(syn, "ANTENNA"), ack=False).getcol("NAME"))
    d = _read(syn, ["ANTENNA1", "ANTENNA2", "SCAN_NUMBER", "UVW", "FLAG", "FLAG_ROW"])
    good = ~(d["FLAG"] | d["FLAG_ROW"][:, None, None])
    plotms(vis=syn, antenna=f"{names[0]}&{names[1]}", showgui=False)
    m = (d["ANTENNA1"] == 0) & (d["ANTENNA2"] == 1)
    assert plotting.LAST["info"]["npoints"] == int(good[m].sum()) > 0
    plotms(vis=syn, scan="2,4", correlation="LL", spw="1:10~19", showgui=False)
    m = np.isin(d["SCAN_NUMBER"], [2, 4])
    spw = _ddid_spw(syn)[_read(syn, ["DATA_DESC_ID"])["DATA_DESC_ID"]]
    m &= spw == 1
    assert plotting.LAST["info"]["npoints"] == int(good[m][:, 10:20, 3].sum())
    plotms(vis=syn, uvrange="100~300m", showgui=False, xaxis="uvdist")
    uvd = np.hypot(d["UVW"][:, 0], d["UVW"][:, 1])
    m = (uvd >= 100) & (uvd <= 300)
    info = plotting.LAST["info"]
    assert info["npoints"] == int(good[m].sum())
    assert 100 <= info["pages"][0][0]["xrange"][0] <= info["pages"][0][0]["xrange"][1] <= 300


def test_gui_zoom_redraws_raster_from_the_grid(monkeypatch):
    """In the window, zooming re-pools the raster for the region shown: the image
    then covers just that region, with finer cells."""
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    plotms(vis=REAL, xaxis="uvdist", yaxis="amp", showgui=True)
    fig = plotting.LAST["figure"]
    try:
        p = plotting.LAST["info"]["pages"][0][0]
        assert p["mode"] == "raster"
        ax = p["axes"]
        im = ax.images[-1]
        x0, x1, y0, y1 = im.get_extent()
        cell_before = (x1 - x0) / im.get_array().shape[1]
        lo, hi = 100.0, 300.0                      # zoom on 100-300 m
        ax.set_xlim(lo, hi)
        nx0, nx1, ny0, ny1 = im.get_extent()
        assert lo - cell_before <= nx0 and nx1 <= hi + cell_before
        cell_after = (nx1 - nx0) / im.get_array().shape[1]
        assert cell_after < cell_before / 1.5       # finer than the full view's cells
        assert ax.get_xlim() == pytest.approx((lo, hi))
        # every column in the zoomed image still corresponds to real uv distances
        d = _read(REAL, ["UVW", "FLAG", "FLAG_ROW"])
        good = ~(d["FLAG"] | d["FLAG_ROW"][:, None, None])
        uvd = np.hypot(d["UVW"][:, 0], d["UVW"][:, 1])[good.any(axis=(1, 2))]
        occ = np.nonzero(im.get_array()[..., 3].any(axis=0))[0]
        centres = nx0 + (occ + 0.5) * cell_after
        near = np.min(np.abs(centres[:, None] - uvd[None, :]), axis=1)
        assert near.max() <= 3 * cell_after   # dots are at most a few cells wide
    finally:
        fig._casashell_window.close()
        plotting.WINDOWS.clear()


def test_overplot_and_panels_with_clearplots_false(syn, tmp_path):
    """CASA's multi-call plots: plotindex=1 draws over the previous plot (in another
    colour), another rowindex/colindex adds a panel to the same figure."""
    plotms(vis=syn, xaxis="time", yaxis="amp", spw="0:0~3", correlation="RR",
           gridrows=1, gridcols=2, showgui=False)
    fig = plotting.LAST["figure"]
    ax = plotting.LAST["info"]["pages"][0][0]["axes"]
    n0 = plotting.LAST["info"]["npoints"]
    out = str(tmp_path / "over.png")
    plotms(vis=syn, xaxis="time", yaxis="amp", ydatacolumn="data", spw="1:0~3",
           correlation="LL", gridrows=1, gridcols=2, plotindex=1, clearplots=False,
           plotfile=out, showgui=False)
    assert plotting.LAST["figure"] is fig
    assert plotting.LAST["info"]["pages"][0][0]["axes"] is ax
    assert len(ax.collections) == 2            # two scatter layers in one panel
    assert _pixels(out, raster.PALETTE[1]) > 100 and _pixels(out, raster.PALETTE[0]) > 100
    plotms(vis=syn, xaxis="uvdist", yaxis="phase", spw="0:0~3", gridrows=1, gridcols=2,
           colindex=1, clearplots=False, showgui=False)
    assert plotting.LAST["figure"] is fig and len(fig.axes) == 2
    assert fig.axes[1].get_xlabel() == "UVdist (m)"
    assert n0 > 0
    with pytest.raises(ValueError, match="plotindex > 0"):
        plotms(vis=syn, gridrows=2, gridcols=2, plotindex=1, clearplots=False,
               showgui=False)


def test_iteraxis_corr_splits_the_correlation_axis(syn):
    plotms(vis=syn, iteraxis="corr", gridrows=2, gridcols=2, showgui=False)
    page = plotting.LAST["info"]["pages"][0]
    d = _read(syn, ["FLAG", "FLAG_ROW"])
    good = ~(d["FLAG"] | d["FLAG_ROW"][:, None, None])
    assert [p["label"] for p in page] == ["Corr: RR", "Corr: RL", "Corr: LR", "Corr: LL"]
    assert [p["npoints"] for p in page] == good.sum(axis=(0, 1)).tolist()


def test_corrected_model_residual_columns(tmp_path):
    from casashell.ms.generate import make_ms
    path = str(tmp_path / "cm.ms")
    make_ms(path, nant=4, nfield=1, nscan=1, nspw=1, nchan=4, ntimes_per_scan=2,
            corrected=True, model=True, seed=5)
    d = _read(path, ["DATA", "CORRECTED_DATA", "MODEL_DATA", "FLAG", "FLAG_ROW"])
    good = ~(d["FLAG"] | d["FLAG_ROW"][:, None, None])
    for dc, want in (("corrected", d["CORRECTED_DATA"]), ("model", d["MODEL_DATA"]),
                     ("residual", d["CORRECTED_DATA"] - d["MODEL_DATA"]),
                     ("data-model", d["DATA"] - d["MODEL_DATA"]),
                     ("data/model", np.divide(d["DATA"], d["MODEL_DATA"],
                                              out=np.full(d["DATA"].shape, np.nan, complex),
                                              where=d["MODEL_DATA"] != 0))):
        plotms(vis=path, xaxis="time", yaxis="real", ydatacolumn=dc, showgui=False)
        info = plotting.LAST["info"]
        off, _ = _scatter(info["pages"][0][0]["axes"])
        # a zero model (the cross-hands) makes data/model infinite: not plotted
        ok = good & np.isfinite(want)
        np.testing.assert_allclose(np.sort(off[:, 1]), np.sort(want.real[ok]), rtol=1e-5,
                                   atol=1e-6, err_msg=dc)
        assert info["pages"][0][0]["axes"].get_ylabel() == f"Real:{dc}"


def test_scalar_versus_vector_channel_average(syn):
    d = _read(syn, ["DATA_DESC_ID", "DATA", "FLAG", "FLAG_ROW", "TIME"])
    rows = _ddid_spw(syn)[d["DATA_DESC_ID"]] == 0
    v = d["DATA"][rows][:, :, 0]
    g = ~(d["FLAG"][rows][:, :, 0] | d["FLAG_ROW"][rows][:, None])
    ok = g.any(axis=1)
    n = np.maximum(g.sum(axis=1), 1)
    vector = np.abs((v * g).sum(axis=1) / n)[ok]
    scalar = ((np.abs(v) * g).sum(axis=1) / n)[ok]
    assert np.all(scalar >= vector - 1e-4)      # |mean| <= mean |.|
    for sc, want in ((False, vector), (True, scalar)):
        plotms(vis=syn, xaxis="time", yaxis="amp", spw="0", correlation="RR",
               avgchannel="64", scalar=sc, showgui=False)
        off, _ = _scatter(plotting.LAST["info"]["pages"][0][0]["axes"])
        np.testing.assert_allclose(np.sort(off[:, 1]), np.sort(want), rtol=1e-5)
