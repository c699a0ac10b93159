"""plotms: avgspw, avgantenna and freqframe, checked against values computed here
from the MS (numpy, python-casacore measures) and against numbers CASA 6.7's
plotms (casaplotms 2.9.1) exported as text for the same calls on the same MS."""

from __future__ import annotations

import os

import numpy as np
import pytest
from casacore import tables as ct

from casashell import plotting
from casashell.tasks import plotms

from conftest import DATA_DIR

REAL = os.path.join(DATA_DIR, "day2_TDEM0003_10s_norx_1scan.ms")


@pytest.fixture(scope="module")
def cols():
    with ct.table(REAL, ack=False) as t:
        d = {c: t.getcol(c) for c in ("ANTENNA1", "ANTENNA2", "DATA_DESC_ID", "TIME", "DATA",
                                      "FLAG", "FLAG_ROW", "WEIGHT_SPECTRUM", "UVW",
                                      "FIELD_ID")}
    with ct.table(os.path.join(REAL, "SPECTRAL_WINDOW"), ack=False) as t:
        d["CHAN_FREQ"] = t.getcol("CHAN_FREQ")
    with ct.table(os.path.join(REAL, "FIELD"), ack=False) as t:
        d["PHASE_DIR"] = t.getcol("PHASE_DIR")[:, 0, :]
    return d


def _points(panel=0):
    info = plotting.LAST["info"]
    ax = info["pages"][0][panel]["axes"]
    coll = [c for c in ax.collections if c.get_label() != "flagged"][-1]
    return np.asarray(coll.get_offsets())


def _sorted(a):
    return a[np.lexsort((a[:, 1], a[:, 0]))]


def _good(d, rows, corr=0):
    f = d["FLAG"][rows][:, :, corr] | d["FLAG_ROW"][rows][:, None]
    return d["DATA"][rows][:, :, corr], d["WEIGHT_SPECTRUM"][rows][:, :, corr] * ~f


def test_avgspw_channel_by_channel(cols):
    """Spws 0 and 1 of baseline 1&2 (RR) averaged channel by channel: 9 times x 64
    channels = 576 points (CASA: 576), each the weighted mean of the two spws."""
    d = cols
    plotms(vis=REAL, xaxis="channel", yaxis="amp", avgspw=True, correlation="RR",
           antenna="1&2", showgui=False)
    got = _sorted(_points())
    bl = (d["ANTENNA1"] == 0) & (d["ANTENNA2"] == 1)
    exp = []
    for t in np.unique(d["TIME"][bl]):
        rows = np.nonzero(bl & (d["TIME"] == t))[0]
        assert sorted(d["DATA_DESC_ID"][rows]) == [0, 1]
        data, w = _good(d, rows)
        amp = np.abs((data * w).sum(axis=0) / w.sum(axis=0))
        exp.append(np.stack([np.arange(64.0), amp], axis=1))
    exp = _sorted(np.concatenate(exp))
    assert len(got) == len(exp) == 576
    np.testing.assert_array_equal(got[:, 0], exp[:, 0])
    np.testing.assert_allclose(got[:, 1], exp[:, 1], rtol=1e-5)
    assert plotting.LAST["info"]["npoints"] == 576


def test_avgspw_matches_casa_export(cols):
    """avgspw + all baselines + all times, RR, against frequency: 64 points at spw 0's
    frequencies (CASA shows the first spw); amplitudes as CASA exported them."""
    plotms(vis=REAL, xaxis="frequency", yaxis="amp", avgspw=True, avgtime="1e9",
           avgbaseline=True, correlation="RR", showgui=False)
    got = _sorted(_points())
    assert len(got) == 64
    np.testing.assert_allclose(got[:, 0], cols["CHAN_FREQ"][0] / 1e9, rtol=1e-12)
    casa = [0.000125336, 5.87909e-05, 0.00015421, 5.04347e-05, 0.00019077]
    np.testing.assert_allclose(got[:5, 1], casa, rtol=2e-5)
    # and the time average bins of each channel, computed here
    d = cols
    data, w = _good(d, np.arange(len(d["TIME"])))
    amp = np.abs((data * w).sum(axis=0) / w.sum(axis=0))
    np.testing.assert_allclose(got[:, 1], amp, rtol=1e-5)


def test_avgspw_needs_matching_spws(tmp_path):
    from casashell.ms.generate import make_ms
    path = str(tmp_path / "two.ms")
    make_ms(path, nant=4, nfield=1, nscan=1, nspw=2, nchan=[8, 16], ntimes_per_scan=2,
            seed=3)
    with pytest.raises(ValueError, match="avgspw=True.*spw 0 has 8 channel bins.*spw 1 "
                                         "has 16"):
        plotms(vis=path, xaxis="channel", avgspw=True, showgui=False)
    # channel selections that give as many channels make them averageable
    plotms(vis=path, xaxis="channel", avgspw=True, spw="0,1:0~7", showgui=False)
    assert plotting.LAST["info"]["npoints"] > 0


def test_avgantenna_conjugates_second_antenna(cols):
    """Per-antenna averages of spw 0, RR, 64 channels averaged: 193 points (CASA: 193);
    a baseline counts for both antennas, conjugated for its second one."""
    d = cols
    plotms(vis=REAL, xaxis="time", yaxis="amp", avgantenna=True, avgchannel="64", spw="0",
           correlation="RR", iteraxis="antenna", gridrows=5, gridcols=6, showgui=False)
    info = plotting.LAST["info"]
    assert info["npoints"] == 193
    s0 = d["DATA_DESC_ID"] == 0
    panels = {p["iteration"]: i for i, p in enumerate(info["pages"][0])}
    used = np.unique(np.concatenate([d["ANTENNA1"][s0], d["ANTENNA2"][s0]]))
    assert sorted(panels) == used.tolist() and len(used) == 18   # CASA: 18 antennas
    for ant, i in panels.items():
        got = _sorted(_points(i))
        exp = []
        for t in np.unique(d["TIME"][s0]):
            rows = np.nonzero(s0 & (d["TIME"] == t) & ((d["ANTENNA1"] == ant) |
                                                        (d["ANTENNA2"] == ant)))[0]
            if len(rows) == 0:
                continue
            data, w = _good(d, rows)
            if not w.any():
                continue
            data = np.where((d["ANTENNA2"][rows] == ant)[:, None], np.conj(data), data)
            exp.append((t, abs((data * w).sum() / w.sum())))
        exp = np.array(exp)
        assert len(got) == len(exp)
        np.testing.assert_allclose(got[:, 0], exp[:, 0], rtol=0, atol=1e-6)
        np.testing.assert_allclose(got[:, 1], exp[:, 1], rtol=1e-5)
        if ant == 3:   # CASA's export for antenna '4' (id 3)
            casa = [0.000102404, 0.00047403, 0.00052994, 0.000350685, 0.000176342,
                    0.000330008, 0.000371538, 0.0003127, 0.000395389, 0.000337375,
                    0.000410166, 0.000922562, 0.000486821]
            np.testing.assert_allclose(got[:, 1], casa, rtol=2e-5)


def test_avgantenna_uvdist_is_length_of_mean_uvw(cols):
    """CASA's per-antenna uv distance: the length of the plain mean u, v over the rows
    with unflagged data (386 points = 193 x 2 channels, as CASA)."""
    d = cols
    plotms(vis=REAL, xaxis="uvdist", yaxis="amp", avgantenna=True, spw="0:0~1",
           correlation="RR", showgui=False)
    got = np.sort(_points()[:, 0])
    assert len(got) == 386
    s0 = d["DATA_DESC_ID"] == 0
    exp = []
    for t in np.unique(d["TIME"][s0]):
        for ant in range(28):
            rows = np.nonzero(s0 & (d["TIME"] == t) & ((d["ANTENNA1"] == ant) |
                                                        (d["ANTENNA2"] == ant)))[0]
            if len(rows) == 0:
                continue
            f = d["FLAG"][rows][:, 0:2, 0] | d["FLAG_ROW"][rows][:, None]
            good = ~f.all(axis=1)
            if not good.any():
                continue
            uvw = d["UVW"][rows][good].mean(axis=0)
            exp += [np.hypot(uvw[0], uvw[1])] * int((~f).any(axis=0).sum())
    np.testing.assert_allclose(got, np.sort(exp), rtol=1e-9)
    # CASA's first values (antenna '4' and '8', first integration)
    assert np.any(np.isclose(got, 65.0053, rtol=2e-6))
    assert np.any(np.isclose(got, 45.72, rtol=2e-6))


def test_avgantenna_and_avgbaseline_refused():
    with pytest.raises(ValueError, match="avgantenna and avgbaseline"):
        plotms(vis=REAL, avgantenna=True, avgbaseline=True, showgui=False)


def _measures_freqs(d, rows, chans, frame):
    """Frequencies of ``chans`` of spw 0 in ``frame`` at each row, with casacore's
    measures directly (the EVLA observatory position, field direction, row time)."""
    from casacore.measures import measures
    dm = measures()
    dm.doframe(dm.observatory("EVLA"))
    out = []
    for r in rows:
        dm.doframe(dm.epoch("UTC", f"{d['TIME'][r]}s"))
        ra, dec = d["PHASE_DIR"][d["FIELD_ID"][r]]
        dm.doframe(dm.direction("J2000", f"{ra}rad", f"{dec}rad"))
        for c in chans:
            f = dm.measure(dm.frequency("TOPO", f"{d['CHAN_FREQ'][0, c]}Hz"), frame)
            out.append(f["m0"]["value"])
    return np.array(out)


@pytest.mark.parametrize("frame", ["LSRK", "BARY"])
def test_freqframe_frequency_axis(cols, frame):
    d = cols
    plotms(vis=REAL, xaxis="frequency", yaxis="amp", spw="0:0;63", correlation="RR",
           antenna="1&2", transform=True, freqframe=frame, showgui=False, showflags=True)
    ax = plotting.LAST["info"]["pages"][0][0]["axes"]
    xs = np.sort(np.concatenate([np.asarray(c.get_offsets())[:, 0] for c in ax.collections]))
    rows = np.nonzero((d["ANTENNA1"] == 0) & (d["ANTENNA2"] == 1) &
                      (d["DATA_DESC_ID"] == 0))[0]
    exp = np.sort(_measures_freqs(d, rows, [0, 63], frame))
    assert len(xs) == len(exp) == 18
    np.testing.assert_allclose(xs * 1e9, exp, rtol=0, atol=1e-3)  # 1 mHz
    # the shift from TOPO is real (tens of kHz at 36 GHz), not a no-op
    assert np.all(np.abs(exp - np.sort(np.repeat(d["CHAN_FREQ"][0, [0, 63]], 9))) > 1e3)


def test_freqframe_velocity_and_identity(cols):
    d = cols
    # TOPO (the frame the data are in): the stored frequencies exactly
    plotms(vis=REAL, xaxis="frequency", spw="0", antenna="1&2", correlation="RR",
           transform=True, freqframe="TOPO", showgui=False)
    xs = np.unique(_points()[:, 0])
    np.testing.assert_allclose(xs, d["CHAN_FREQ"][0] / 1e9, rtol=1e-13)
    # LSRK velocity (radio) against a rest frequency, from the converted frequencies
    plotms(vis=REAL, xaxis="velocity", spw="0:10", antenna="1&2", correlation="RR",
           transform=True, freqframe="LSRK", restfreq="36.4GHz", showgui=False)
    got = np.sort(_points()[:, 0])
    rows = np.nonzero((d["ANTENNA1"] == 0) & (d["ANTENNA2"] == 1) &
                      (d["DATA_DESC_ID"] == 0))[0]
    f = _measures_freqs(d, rows, [10], "LSRK")
    exp = np.sort(299792458.0 * (1 - f / 36.4e9) / 1e3)
    assert len(got) == len(exp)
    np.testing.assert_allclose(got, exp, rtol=0, atol=1e-5)   # 1 cm/s


def test_freqframe_refused_values():
    for bad in ("REST", "FOO"):
        with pytest.raises(AssertionError):
            plotms(vis=REAL, xaxis="frequency", transform=True, freqframe=bad,
                   showgui=False)


def test_averaged_points_antenna_axes(cols):
    """Per-antenna points: antenna1 is the antenna, antenna2 -1 (CASA's export shows
    -1 and '*'), baseline -1; avgbaseline points have baseline -1 too."""
    d = cols
    s0 = d["DATA_DESC_ID"] == 0
    used = np.unique(np.concatenate([d["ANTENNA1"][s0], d["ANTENNA2"][s0]]))
    for axis, expect in (("antenna1", used), ("antenna2", [-1]), ("baseline", [-1])):
        plotms(vis=REAL, xaxis=axis, yaxis="amp", avgantenna=True, avgchannel="64",
               spw="0", correlation="RR", showgui=False)
        assert np.unique(_points()[:, 0]).tolist() == list(expect)
        assert plotting.LAST["info"]["npoints"] == 193
    plotms(vis=REAL, xaxis="baseline", avgbaseline=True, spw="0:0", correlation="RR",
           showgui=False)
    assert np.unique(_points()[:, 0]).tolist() == [-1]


def test_avgantenna_phase_matches_casa_count(cols):
    """Phases of per-antenna averages (spw 1, LL, 8-channel bins): 1912 points as
    CASA's plotms, each the phase of the conjugation-aware weighted mean."""
    d = cols
    plotms(vis=REAL, xaxis="time", yaxis="phase", avgantenna=True, avgchannel="8",
           spw="1", correlation="LL", showgui=False)
    got = _sorted(_points())
    s1 = np.nonzero(d["DATA_DESC_ID"] == 1)[0]
    a1, a2, t = d["ANTENNA1"][s1], d["ANTENNA2"][s1], d["TIME"][s1]
    data, w = _good(d, s1, corr=3)
    exp = []
    for ant in np.unique(np.concatenate([a1, a2])):
        mine = (a1 == ant) | (a2 == ant)
        for tt in np.unique(t[mine]):
            r = np.nonzero(mine & (t == tt))[0]
            v = np.where((a2[r] == ant)[:, None], np.conj(data[r]), data[r])
            num = (v * w[r]).reshape(len(r), 8, 8).sum(axis=(0, 2))
            den = w[r].reshape(len(r), 8, 8).sum(axis=(0, 2))
            ok = den > 0
            exp += [(tt, p) for p in np.degrees(np.angle(num[ok] / den[ok]))]
    exp = _sorted(np.array(exp))
    assert len(got) == len(exp) == 1912
    np.testing.assert_allclose(got[:, 0], exp[:, 0], rtol=0, atol=1e-6)
    np.testing.assert_allclose(got[:, 1], exp[:, 1], rtol=0, atol=2e-3)
