"""plotants on every real MS of pyuvdata's data folder (and its two tarred MSs).

Offsets are checked against an independent east/north computation made here
with astropy's geodetic conversion; the PNG files are read back and their
pixels inspected.
"""

from __future__ import annotations

import glob
import os
import tarfile

import numpy as np
import pytest
from casacore import tables as ct

from casashell import plotting
from casashell.tasks import plotants

from conftest import DATA_DIR, REAL_MSS

VALID_MSS = [m for m in REAL_MSS if os.path.isfile(os.path.join(DATA_DIR, m, "table.dat"))]
DAY2 = "day2_TDEM0003_10s_norx_1src_1spw.ms"


def _antennas(path):
    with ct.table(os.path.join(path, "ANTENNA"), ack=False) as a:
        pos = a.getcol("POSITION")
        names = list(a.getcol("NAME"))
        flag = a.getcol("FLAG_ROW")
    valid = ~flag & (np.linalg.norm(pos, axis=1) > 1e6)
    return pos, names, valid


def _enu_astropy(pos, ref):
    """East/north offsets with astropy's WGS84 geodetic latitude/longitude."""
    from astropy.coordinates import EarthLocation
    import astropy.units as u
    loc = EarthLocation.from_geocentric(*ref, unit=u.m)
    lon = loc.lon.to_value(u.rad)
    lat = loc.lat.to_value(u.rad)
    d = pos - ref
    east = -np.sin(lon) * d[:, 0] + np.cos(lon) * d[:, 1]
    north = (-np.sin(lat) * np.cos(lon) * d[:, 0] - np.sin(lat) * np.sin(lon) * d[:, 1]
             + np.cos(lat) * d[:, 2])
    return east, north


def _marker_pixels(png):
    import matplotlib.image as mpimg
    img = mpimg.imread(png)[..., :3]
    blue = np.array([31, 119, 180]) / 255.0  # matplotlib's tab:blue, the marker colour
    return int(np.sum(np.all(np.abs(img - blue) < 0.02, axis=-1)))


@pytest.mark.parametrize("name", VALID_MSS)
def test_every_real_ms(name, tmp_path):
    path = os.path.join(DATA_DIR, name)
    png = tmp_path / "ants.png"
    assert plotants(vis=path, figfile=str(png), showgui=False) is None
    info = plotting.LAST["info"]
    pos, names, valid = _antennas(path)
    # every antenna with a position, none of the flagged/empty rows
    assert list(info["ids"]) == list(np.nonzero(valid)[0])
    assert info["names"] == [names[i] for i in np.nonzero(valid)[0]]
    east, north = _enu_astropy(pos[valid], info["centre"])
    np.testing.assert_allclose(info["east"], east, atol=1e-6)
    np.testing.assert_allclose(info["north"], north, atol=1e-6)
    # the plot holds exactly those points and labels
    ax = plotting.LAST["figure"].axes[0]
    np.testing.assert_allclose(ax.lines[0].get_xdata(), east, atol=1e-6)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), north, atol=1e-6)
    assert [t.get_text() for t in ax.texts] == info["names"]
    assert ax.get_xlabel() == "East (m)" and ax.get_ylabel() == "North (m)"
    lo, hi = ax.get_xlim()
    assert lo <= east.min() and hi >= east.max()
    assert _marker_pixels(str(png)) > 10 * min(len(east), 50)


def test_vla_centre_and_scale():
    path = os.path.join(DATA_DIR, DAY2)
    plotants(vis=path, showgui=False)
    info = plotting.LAST["info"]
    assert info["centre_source"] == "observatory EVLA"
    assert info["telescope"] == "EVLA"
    # the D-configuration-sized VLA subset: a few hundred metres from the centre
    r = np.hypot(info["east"], info["north"])
    assert 400 < r.max() < 700
    assert abs(info["up"]).max() < 10  # all on the plain of San Agustin
    assert len(info["ids"]) == 19


def test_arrays_casa_does_not_know(tmp_path):
    """The tarred LWA-SV MS: its centre comes from the antennas themselves."""
    tars = glob.glob(os.path.join(DATA_DIR, "*.ms.tar.gz"))
    assert tars
    for tgz in tars:
        with tarfile.open(tgz) as tf:
            tf.extractall(tmp_path)
    done = {}
    for ms in glob.glob(str(tmp_path / "*.ms")):
        plotants(vis=ms, figfile=str(tmp_path / "a.png"), showgui=False)
        info = plotting.LAST["info"]
        done[info["telescope"]] = info
        pos, names, valid = _antennas(ms)
        assert len(info["ids"]) == valid.sum()
    lwa = done["LWASV"]
    assert lwa["centre_source"] == "mean antenna position"
    # offsets from the mean position: they sum to ~zero east and north
    assert abs(lwa["east"].sum()) < 1e-3 and abs(lwa["north"].sum()) < 1e-3
    assert done["ALMA"]["centre_source"] == "observatory ALMA"


def test_unknown_observatory_uses_keyword_then_mean():
    path = os.path.join(DATA_DIR, "zen.2456865.60537.xy.uvcRREAAM.ms")
    plotants(vis=path, showgui=False)
    info = plotting.LAST["info"]
    kw = ct.table(os.path.join(path, "ANTENNA"), ack=False).getcolkeywords("POSITION")
    assert info["centre_source"] == "ANTENNA POSITION ARRAY_POSITION keyword"
    np.testing.assert_allclose(info["centre"], kw["ARRAY_POSITION"])


def test_antindex_exclude_checkbaselines_title(tmp_path):
    path = os.path.join(DATA_DIR, DAY2)
    plotants(vis=path, antindex=True, exclude="1,3~4,2*", checkbaselines=True,
             title="My array", showgui=False, figfile=str(tmp_path / "x.png"))
    info = plotting.LAST["info"]
    ax = plotting.LAST["figure"].axes[0]
    with ct.table(path, ack=False) as t:
        used = set(np.unique(np.r_[t.getcol("ANTENNA1"), t.getcol("ANTENNA2")]).tolist())
    pos, names, valid = _antennas(path)
    excluded = {i for i, n in enumerate(names) if n == "1" or n.startswith("2")} | {3, 4}
    want = [i for i in range(len(names)) if valid[i] and i in used and i not in excluded]
    assert list(info["ids"]) == want
    assert [t.get_text() for t in ax.texts] == [f"{names[i]} ({i})" for i in want]
    assert ax.get_title() == "My array"
    assert "excluded by request" in info["skipped"] and "in no baseline" in info["skipped"]


def test_logpos_polar(tmp_path):
    path = os.path.join(DATA_DIR, DAY2)
    plotants(vis=path, logpos=True, figfile=str(tmp_path / "log.png"), showgui=False)
    info = plotting.LAST["info"]
    ax = plotting.LAST["figure"].axes[0]
    assert ax.name == "polar"
    theta, r = ax.lines[0].get_xdata(), ax.lines[0].get_ydata()
    np.testing.assert_allclose(r, np.log10(np.hypot(info["east"], info["north"])))
    np.testing.assert_allclose(theta, np.arctan2(info["north"], info["east"]))
    assert [t.get_text() for t in ax.get_xticklabels()] == ["E", "N", "W", "S"]


def test_figfile_formats(tmp_path):
    path = os.path.join(DATA_DIR, DAY2)
    for ext, magic in (("pdf", b"%PDF"), ("jpg", b"\xff\xd8"), ("png", b"\x89PNG")):
        out = tmp_path / f"a.{ext}"
        plotants(vis=path, figfile=str(out), showgui=False)
        assert out.read_bytes()[:len(magic)] == magic
    assert not [p for p in os.listdir(tmp_path) if ".tmp" in p]


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="no antenna named 'ea99'"):
        plotants(vis=os.path.join(DATA_DIR, DAY2), exclude="ea99", showgui=False)
    with pytest.raises(OSError, match="multi_len_spw.ms"):
        plotants(vis=os.path.join(DATA_DIR, "multi_len_spw.ms"), showgui=False)
    with pytest.raises(AssertionError, match="does not exist"):
        plotants(vis=str(tmp_path / "nope.ms"), showgui=False)
    with pytest.raises(FileNotFoundError):
        plotants(vis=os.path.join(DATA_DIR, DAY2), figfile=str(tmp_path / "no" / "a.png"),
                 showgui=False)


def test_showgui_opens_qt_window_with_toolbar(monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    plotants(vis=os.path.join(DATA_DIR, DAY2), showgui=True)
    fig = plotting.LAST["figure"]
    try:
        assert "QT" in type(fig.canvas).__name__.upper()
        window = fig._casashell_window
        assert window.isVisible()
        toolbar = fig.canvas.toolbar
        # matplotlib's navigation toolbar: zoom and pan act on the axes
        ax = fig.axes[0]
        before = ax.get_xlim()
        toolbar.pan()
        assert toolbar.mode.name == "PAN"
        toolbar.push_current()
        ax.set_xlim(before[0] / 2, before[1] / 2)   # what a zoom does to the view
        toolbar.push_current()
        toolbar.back()
        assert ax.get_xlim() == pytest.approx(before)
        toolbar.forward()
        assert ax.get_xlim()[1] < before[1]
    finally:
        fig._casashell_window.close()
        plotting.WINDOWS.clear()
