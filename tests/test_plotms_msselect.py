"""plotms: msselect (TaQL on the main table) and page header items."""

from __future__ import annotations

import os

import numpy as np
import pytest
from casacore import tables as ct

from casashell import plotting
from casashell.tasks import plotms

from conftest import DATA_DIR

REAL = os.path.join(DATA_DIR, "day2_TDEM0003_10s_norx_1scan.ms")


def _cols():
    with ct.table(REAL, ack=False) as t:
        return {c: t.getcol(c) for c in ("ANTENNA1", "ANTENNA2", "DATA_DESC_ID", "UVW",
                                          "FLAG", "FLAG_ROW", "DATA")}


def test_msselect_taql_rows():
    """msselect restricts rows like the selection parameters: points equal those
    computed here for the same rows (and combine with the other parameters).  As in
    CASA, array indices are 1-based (TaQL's Glish style): UVW[1] is u.  CASA 6.7's
    plotms plotted 314 points for this call."""
    d = _cols()
    plotms(vis=REAL, xaxis="uvdist", yaxis="amp", spw="0:5", correlation="LL",
           msselect="ANTENNA1 < 5 && UVW[1] > 0", showgui=False)
    info = plotting.LAST["info"]
    rows = (d["ANTENNA1"] < 5) & (d["UVW"][:, 0] > 0) & (d["DATA_DESC_ID"] == 0)
    good = ~(d["FLAG"][rows][:, 5, 3] | d["FLAG_ROW"][rows])
    assert info["nrows"] == int(rows.sum()) > 10
    assert info["npoints"] == int(good.sum()) == 314
    ax = info["pages"][0][0]["axes"]
    off = np.asarray([c for c in ax.collections if c.get_label() != "flagged"][-1]
                     .get_offsets())
    uvd = np.hypot(d["UVW"][rows, 0], d["UVW"][rows, 1])[good]
    amp = np.abs(d["DATA"][rows][:, 5, 3])[good]
    np.testing.assert_allclose(np.sort(off[:, 0]), np.sort(uvd), rtol=1e-12)
    np.testing.assert_allclose(np.sort(off[:, 1]), np.sort(amp), rtol=1e-6)


def test_msselect_errors():
    from casashell.ms.selection import SelectionError
    with pytest.raises(ValueError, match="msselect 'mscal.time\\(\\) > 0'.*mscal"):
        plotms(vis=REAL, msselect="mscal.time() > 0", showgui=False)
    with pytest.raises(ValueError, match="MSCAL"):
        plotms(vis=REAL, msselect="MSCAL.SCAN() == 1", showgui=False)
    with pytest.raises(SelectionError, match="^msselect 'NOSUCHCOLUMN > 1'"):
        plotms(vis=REAL, msselect="NOSUCHCOLUMN > 1", showgui=False)
    with pytest.raises(SelectionError, match="msselect='ANTENNA1 > 1000' matches no rows"):
        plotms(vis=REAL, msselect="ANTENNA1 > 1000", showgui=False)
    # selectdata=False ignores the selection parameters, msselect included
    plotms(vis=REAL, selectdata=False, msselect="ANTENNA1 > 1000", spw="0:0",
           showgui=False)
    assert plotting.LAST["info"]["nrows"] == 2828


def test_page_header_items(tmp_path):
    """headeritems: the items in the given order, two per line above the plots (the
    values CASA 6.7's plotms showed for this MS: 'd2.ms'-style file name, 'Amp:data',
    '26 Apr 2010', '03:22 UTC', observer 'Mark J. Mark Claussen', empty project)."""
    png = str(tmp_path / "h.png")
    plotms(vis=REAL, spw="0:0~3", plotfile=png, showgui=False,
           headeritems="filename, ycolumn,obsdate,obstime,observer,projid,telescope,"
                       "targname,targdir")
    info = plotting.LAST["info"]
    with ct.table(os.path.join(REAL, "FIELD"), ack=False) as t:
        ra, dec = t.getcol("PHASE_DIR")[0, 0]
    h = np.degrees(ra) / 15
    ra_txt = f"{int(h):02d}:{int(h % 1 * 60):02d}:{(h * 60 % 1) * 60:06.3f}"
    d = np.degrees(dec)
    dec_txt = f"+{int(d):02d}.{int(d % 1 * 60):02d}.{(d * 60 % 1) * 60:05.2f}"
    assert info["header"] == [
        ("File", "day2_TDEM0003_10s_norx_1scan.ms"), ("Y Column(s)", "Amp:data"),
        ("Observation date", "26 Apr 2010"), ("Observation time", "03:22 UTC"),
        ("Observer", "Mark J. Mark Claussen"), ("Project ID", ""), ("Telescope", "EVLA"),
        ("Target name", "J1008+0730"), ("Target direction", f"{ra_txt} {dec_txt} J2000")]
    fig = plotting.LAST["figure"]
    texts = [t for t in fig.texts if t.get_gid() == "casashell-header"]
    assert [t.get_text() for t in texts][:3] == [
        "File: day2_TDEM0003_10s_norx_1scan.ms", "Y Column(s): Amp:data",
        "Observation date: 26 Apr 2010"]
    # two columns, row by row; the plot sits below the last header line
    xs = sorted({round(t.get_position()[0], 3) for t in texts})
    assert xs == [0.01, 0.51]
    lowest = min(t.get_position()[1] for t in texts)
    ax = info["pages"][0][0]["axes"]
    assert ax.get_position().y1 < lowest
    with pytest.raises(ValueError, match="headeritems: unknown item 'foo'"):
        plotms(vis=REAL, headeritems="filename,foo", showgui=False)


def test_msselect_glish_axes_order():
    """FLAG[1,6] (Glish style: correlation 1, channel 6) selects the rows whose first
    correlation of channel 5 is flagged; NOT of it the others."""
    d = _cols()
    flagged = d["FLAG"][:, 5, 0][d["DATA_DESC_ID"] == 0]
    assert 0 < flagged.sum() < len(flagged)
    plotms(vis=REAL, xaxis="time", spw="0:5", msselect="FLAG[1,6]", showgui=False,
           showflags=True)
    assert plotting.LAST["info"]["nrows"] == int(flagged.sum())
    plotms(vis=REAL, xaxis="time", spw="0:5", msselect="!FLAG[1,6]", showgui=False)
    assert plotting.LAST["info"]["nrows"] == int((~flagged).sum())
