"""mstransform regridding with ``nspw > 1`` and ``phasecenter`` against live CASA 6.7.

The same calls on pyuvdata's real day2 MSs (one spw of 64 channels; two spws of
64 channels 80 MHz apart) in CASA and in casashell, compared spw by spw (rows
sorted by TIME, ANTENNA1, ANTENNA2 within each DATA_DESC_ID), element by
element.  Where CASA does something we deliberately do not (docs/transform.md,
"Where casashell differs from CASA") exactly those values are left out.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from casa_ref import requires_casa, run_casa
from conftest import DATA_DIR

D1 = os.path.join(DATA_DIR or "", "day2_TDEM0003_10s_norx_1src_1spw.ms")
D2 = os.path.join(DATA_DIR or "", "day2_TDEM0003_10s_norx_1scan.ms")

PC_J2000 = "J2000 19h00m00s 10d00m00s"

CASES = [
    ("nspw2", D1, dict(nspw=2)),
    ("nspw3", D1, dict(nspw=3)),
    ("nspw5", D1, dict(nspw=5)),
    ("nspw3_nchan30", D1, dict(nspw=3, nchan=30)),
    ("nspw2_lsrk", D1, dict(nspw=2, outframe="LSRK")),
    ("nspw2_two_spws", D2, dict(nspw=2)),
    ("pc_hms", D1, dict(outframe="LSRK", phasecenter=PC_J2000)),
    ("pc_colons", D1, dict(outframe="LSRK", phasecenter="J2000 19:00:00 10.00.00")),
    ("pc_galactic", D1, dict(outframe="LSRK", phasecenter="GALACTIC 10deg 20deg")),
    ("pc_b1950", D1, dict(outframe="LSRK", phasecenter="B1950 19h00m00s 10d00m00s")),
    ("pc_rad", D1, dict(outframe="BARY", phasecenter="J2000 4.97rad 0.17rad")),
    ("pc_field0", D1, dict(outframe="LSRK", phasecenter=0)),
    ("pc_no_frame_change", D1, dict(phasecenter=PC_J2000)),
    ("cubic_lsrk", D1, dict(outframe="LSRK", interpolation="cubic")),
    ("spline_lsrk", D1, dict(outframe="LSRK", interpolation="spline")),
    ("flagged_spline", "syn", dict(outframe="LSRK", field="0", spw="0",
                                   interpolation="spline")),
    ("lsrk_6h", "long", dict(outframe="LSRK")),
    ("flagged_linear", "syn", dict(outframe="LSRK", field="0", spw="0")),
    ("flagged_cubic", "syn", dict(outframe="LSRK", field="0", spw="0",
                                  interpolation="cubic")),
    ("cubic_bary_nspw2", D1, dict(outframe="BARY", interpolation="cubic", nspw=2)),
]

MAIN = ["DATA", "FLAG", "WEIGHT", "SIGMA", "WEIGHT_SPECTRUM", "SIGMA_SPECTRUM", "UVW", "TIME",
        "INTERVAL", "EXPOSURE", "TIME_CENTROID", "ANTENNA1", "ANTENNA2", "FIELD_ID",
        "SCAN_NUMBER", "FLAG_ROW", "STATE_ID", "ARRAY_ID", "OBSERVATION_ID"]
TOL = {"DATA": (1e-6, 1e-6), "WEIGHT": (1e-6, 0), "SIGMA": (1e-6, 0),
       "WEIGHT_SPECTRUM": (1e-6, 0), "SIGMA_SPECTRUM": (1e-6, 0), "UVW": (1e-9, 1e-6),
       "TIME": (0, 1e-4), "TIME_CENTROID": (0, 1e-4), "INTERVAL": (0, 1e-6),
       "EXPOSURE": (0, 1e-6)}
SPW_COLS = ["NUM_CHAN", "CHAN_FREQ", "CHAN_WIDTH", "EFFECTIVE_BW", "RESOLUTION",
            "TOTAL_BANDWIDTH", "REF_FREQUENCY", "MEAS_FREQ_REF"]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    base = tmp_path_factory.mktemp("mst_regrid")
    for who in ("casa", "ours"):
        (base / who).mkdir()
    from test_casa_transform import _mk
    syn = str(base / "syn.ms")          # 2 fields, 3 scans, 15 % flagged (blocks too)
    _mk(syn, 3, False)
    from casashell.ms.generate import make_ms
    long = str(base / "long.ms")        # 3 scans over 6 hours, 10 kHz channels
    make_ms(long, nant=3, nfield=1, nscan=3, nspw=1, nchan=64, ncorr=2, ntimes_per_scan=3,
            scan_gap=10800, spw_bandwidth=640e3, flag_fraction=0, seed=2, autocorr=False,
            history=False)
    srcs = {"syn": syn, "long": long}
    cases = [(n, srcs.get(src, src), kw) for n, src, kw in CASES]
    code = f"""
import os, casatasks
result = {{}}
for name, src, kw in {cases!r}:
    try:
        casatasks.mstransform(vis=src, outputvis=os.path.join({str(base / 'casa')!r},
                              name + '.ms'), datacolumn='data', regridms=True, **kw)
        result[name] = 'ok'
    except Exception as e:
        result[name] = repr(e)
"""
    status = run_casa(code, str(base / "casa"))
    from casashell.tasks import mstransform
    for name, src, kw in cases:
        mstransform(vis=src, outputvis=str(base / "ours" / (name + ".ms")),
                    datacolumn="data", regridms=True, **kw)
    return {"base": base, "status": status, "syn": syn}


def _spw(path):
    from casacore import tables as ct
    with ct.table(os.path.join(path, "SPECTRAL_WINDOW"), ack=False) as t:
        return [{c: t.getcell(c, i) for c in SPW_COLS} for i in range(t.nrows())]


def _rows(t, ddid):
    rows = np.nonzero(t.getcol("DATA_DESC_ID") == ddid)[0]
    sub = t.selectrows(rows.tolist())
    order = np.lexsort([sub.getcol(c) for c in ("ANTENNA2", "ANTENNA1", "TIME")])
    return sub, order


def compare(base, name, skip=(), chan_mask=None):
    """Every output spw of ours and CASA's: SPECTRAL_WINDOW rows, then the main-table
    columns of its rows.  ``chan_mask(spw, freqs)``: channels to compare in the
    channel-shaped columns (None: all)."""
    from casacore import tables as ct
    ours, casa = str(base / "ours" / (name + ".ms")), str(base / "casa" / (name + ".ms"))
    sa, sb = _spw(ours), _spw(casa)
    assert len(sa) == len(sb), f"{name}: {len(sa)} vs {len(sb)} spws"
    for k, (a, b) in enumerate(zip(sa, sb)):
        for c in SPW_COLS:
            if np.asarray(b[c]).dtype.kind == "f":
                # frequencies to 10 mHz
                np.testing.assert_allclose(a[c], b[c], rtol=0, atol=1e-2,
                                           err_msg=f"{name} spw {k} {c}")
            else:
                assert np.array_equal(a[c], b[c]), f"{name} spw {k} {c}: {a[c]} vs {b[c]}"
    with ct.table(ours, ack=False) as ta, ct.table(casa, ack=False) as tb:
        assert ta.nrows() == tb.nrows(), f"{name}: {ta.nrows()} vs {tb.nrows()} rows"
        assert sorted(ta.colnames()) == sorted(tb.colnames())
        for k in range(len(sb)):
            xa, oa = _rows(ta, k)
            xb, ob = _rows(tb, k)
            assert xa.nrows() == xb.nrows(), f"{name} spw {k}: {xa.nrows()} vs {xb.nrows()}"
            m = chan_mask(k, np.asarray(sb[k]["CHAN_FREQ"])) if chan_mask else None
            for c in MAIN:
                if c in skip or c not in tb.colnames():
                    continue
                x, y = xa.getcol(c)[oa], xb.getcol(c)[ob]
                if c in ("WEIGHT_SPECTRUM", "SIGMA_SPECTRUM") and x.ndim == 3 and \
                        y.shape[1] > x.shape[1] == int(sb[k]["NUM_CHAN"]):
                    # CASA writes the weight spectra of a shorter last spw with the
                    # channel count of the others (64 / 3: 22-channel cells in the
                    # 20-channel spw); its first NUM_CHAN values are compared
                    assert k == len(sb) - 1, f"{name} spw {k} {c}: {y.shape}"
                    y = y[:, :x.shape[1]]
                if m is not None and x.ndim == 3:
                    x, y = x[:, m], y[:, m]
                if x.dtype.kind in "biu":
                    bad = x != y
                    assert not bad.any(), f"{name} spw {k} {c}: {bad.sum()} differ"
                else:
                    rt, at = TOL.get(c, (0, 0))
                    np.testing.assert_allclose(x, y, rtol=rt, atol=at,
                                               err_msg=f"{name} spw {k} {c}")
            xa.close()
            xb.close()


@requires_casa
def test_casa_ran_every_case(outputs):
    assert outputs["status"] == {n: "ok" for n, *_ in CASES}


@requires_casa
@pytest.mark.parametrize("name,counts", [("nspw2", [32, 32]), ("nspw3", [22, 22, 20]),
                                         ("nspw5", [13, 13, 13, 13, 12])])
def test_nspw_same_as_casa(outputs, name, counts):
    """64 channels cut into ceil(64 / nspw) per spw, the last one the rest; every
    spw's frequencies, data, flags and weights as CASA's."""
    assert [int(s["NUM_CHAN"]) for s in _spw(str(outputs["base"] / "ours" /
                                                 (name + ".ms")))] == counts
    compare(outputs["base"], name)


@requires_casa
def test_nspw_nchan_is_per_output_spw(outputs):
    """nchan=30 with nspw=3: 90 channels from the start of the band, past its end
    (CASA's rule).  Inside the band everything as CASA; past it CASA extrapolates
    the edge channel's value (flagged or not as ours), ours writes 0 flagged:
    the channel-shaped columns are compared inside the input band."""
    lo, hi = 36304541952.42 - 62500, 36312416952.42 + 62500   # the input band edges
    inside = lambda k, f: (f > lo) & (f < hi)   # noqa: E731
    compare(outputs["base"], "nspw3_nchan30", chan_mask=inside,
            skip=("WEIGHT", "SIGMA", "FLAG_ROW"))
    sp = _spw(str(outputs["base"] / "ours" / "nspw3_nchan30.ms"))
    assert [int(s["NUM_CHAN"]) for s in sp] == [30, 30, 30]
    assert sp[2]["CHAN_FREQ"][-1] == pytest.approx(36304541952.42 + 89 * 125000, abs=1e-2)


@requires_casa
def test_nspw_lsrk_same_as_casa_inside_the_band(outputs):
    """nspw=2 after TOPO -> LSRK: as CASA except the first and last channel of the
    band, which the shifted data cover only partly (see the LSRK case of
    test_casa_transform: CASA flags them, ours keeps the covered fraction)."""
    def inner(k, f):
        m = np.ones(len(f), bool)
        m[0 if k == 0 else -1] = False
        return m
    compare(outputs["base"], "nspw2_lsrk", chan_mask=inner)


@requires_casa
def test_nspw_two_spws_same_as_casa_outside_the_gap(outputs):
    """Two input spws 80 MHz apart, nspw=2: as CASA, one grid from the lowest to the
    highest frequency (725 channels -> 363 + 362) and each input spw's channels as
    CASA's; CASA interpolates across the gap between them (ours flags it) --
    the gap channels are left out."""
    from casacore import tables as ct
    with ct.table(os.path.join(D2, "SPECTRAL_WINDOW"), ack=False) as t:
        bands = [(f.min() - 62500, f.max() + 62500) for f in t.getcol("CHAN_FREQ")]

    def data(k, f):
        return np.any([(f > lo) & (f < hi) for lo, hi in bands], axis=0)
    compare(outputs["base"], "nspw2_two_spws", chan_mask=data,
            skip=("WEIGHT", "SIGMA", "FLAG_ROW"))


@requires_casa
@pytest.mark.parametrize("name", ["pc_hms", "pc_colons", "pc_galactic", "pc_b1950", "pc_rad",
                                  "pc_field0"])
def test_phasecenter_grid_same_as_casa(outputs, name):
    """phasecenter is the direction of the frame conversion: the output grid (every
    SPECTRAL_WINDOW value) as CASA's for each way of writing a direction, the
    FIELD table unchanged (no phase shift, as CASA).  The data columns are left
    out: CASA converts the data with another direction than its grid's (its
    unflagged channels are the input shifted by ~21-25 channels, the rest
    flagged); ours converts them with the phasecenter, consistent with the grid."""
    from casacore import tables as ct
    compare(outputs["base"], name, skip=("DATA", "FLAG", "WEIGHT", "SIGMA", "WEIGHT_SPECTRUM",
                                         "SIGMA_SPECTRUM", "FLAG_ROW"))
    with ct.table(os.path.join(D1, "FIELD"), ack=False) as a, \
            ct.table(str(outputs["base"] / "ours" / (name + ".ms") / "FIELD"), ack=False) as b:
        assert np.array_equal(a.getcol("PHASE_DIR"), b.getcol("PHASE_DIR"))


@requires_casa
def test_phasecenter_without_frame_change_same_as_casa(outputs):
    """phasecenter with the input frame kept: the data are not touched (as CASA)."""
    compare(outputs["base"], "pc_no_frame_change")


def test_phasecenter_field_direction_equals_default(tmp_path):
    """The field's own direction as phasecenter gives the output of phasecenter=''
    (the conversion uses each row's field direction), value for value; a far
    direction gives another grid, shifted by the Doppler factor casacore computes
    for it (independently here)."""
    from casacore import tables as ct
    from casacore.measures import measures
    from casashell.tasks import mstransform
    with ct.table(os.path.join(D1, "FIELD"), ack=False) as t:
        ra, dec = t.getcol("PHASE_DIR")[0, 0]
    with ct.table(D1, ack=False) as t:
        t0 = t.getcol("TIME").min()
    outs = {}
    for name, pc in [("dflt", ""), ("own", f"J2000 {ra}rad {dec}rad"), ("id", "0"),
                     ("far", PC_J2000)]:
        outs[name] = str(tmp_path / f"{name}.ms")
        mstransform(vis=D1, outputvis=outs[name], datacolumn="data", regridms=True,
                    outframe="LSRK", phasecenter=pc)
    for name in ("own", "id"):
        with ct.table(outs["dflt"], ack=False) as a, ct.table(outs[name], ack=False) as b:
            for c in ("DATA", "FLAG", "WEIGHT", "SIGMA"):
                np.testing.assert_allclose(a.getcol(c), b.getcol(c), rtol=1e-6, atol=1e-7)
    dm = measures()
    dm.doframe(dm.observatory("VLA"))
    dm.doframe(dm.epoch("UTC", f"{t0}s"))
    dm.doframe(dm.direction("J2000", "19h00m00s", "10d00m00s"))
    with ct.table(os.path.join(D1, "SPECTRAL_WINDOW"), ack=False) as t:
        fin = t.getcell("CHAN_FREQ", 0)
    want = np.array([dm.measure(dm.frequency("TOPO", f"{f}Hz"), "LSRK")["m0"]["value"]
                     for f in fin[[0, -1]]])
    with ct.table(os.path.join(outs["far"], "SPECTRAL_WINDOW"), ack=False) as t:
        got = t.getcell("CHAN_FREQ", 0)[[0, -1]]
    np.testing.assert_allclose(got, want, rtol=0, atol=2.0)   # Hz, of 36 GHz


@pytest.mark.parametrize("value,msg", [("J2000 19h00m00s", "field id or a direction"),
                                       ("J2000 abc def", "cannot read"),
                                       (7, "fields 0~0")])
def test_phasecenter_bad_values(tmp_path, value, msg):
    from casashell.tasks import mstransform
    with pytest.raises(ValueError, match=msg):
        mstransform(vis=D1, outputvis=str(tmp_path / "x.ms"), datacolumn="data",
                    regridms=True, outframe="LSRK", phasecenter=value)
    assert not os.path.exists(tmp_path / "x.ms")


def test_nspw_counts():
    from casashell.ms.transform import nspw_counts
    assert nspw_counts(64, 3) == [22, 22, 20]
    assert nspw_counts(725, 2) == [363, 362]
    assert nspw_counts(64, 64) == [1] * 64
    assert nspw_counts(10, 4) == [3, 3, 3, 1]
    with pytest.raises(ValueError, match="cannot make"):
        nspw_counts(10, 6)          # 2 each leaves nothing for the sixth


@requires_casa
@pytest.mark.parametrize("name", ["cubic_lsrk", "cubic_bary_nspw2"])
def test_cubic_same_as_casa_inside_the_band(outputs, name):
    """interpolation='cubic' (4-point Lagrange of the shifted input channels) as
    CASA's, except the band's first and last channel (partly covered after the
    frame shift: CASA flags them, ours keeps them, as for linear)."""
    def inner(k, f):
        m = np.ones(len(f), bool)
        if k == 0:
            m[0] = False
        if k == (1 if name.endswith("nspw2") else 0):
            m[-1] = False
        return m
    compare(outputs["base"], name, chan_mask=inner)


def test_lagrange_matrix_is_exact_for_cubics():
    """The cubic coefficients reproduce any cubic polynomial exactly (inside the
    band and on its edges), for ascending and descending channel order."""
    from casashell.ms.transform_regrid import lagrange_matrix
    x = 1e9 + 1e5 * np.arange(12) + np.random.default_rng(2).uniform(-1e4, 1e4, 12)
    xo = np.linspace(x[0] - 2e4, x[-1] + 2e4, 37)
    p = lambda f: 3 - 2 * ((f - 1e9) / 1e6) + 0.5 * ((f - 1e9) / 1e6) ** 3  # noqa: E731
    for xs in (x, x[::-1]):
        m = lagrange_matrix(xs, xo)
        np.testing.assert_allclose(m @ p(xs), p(xo), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(m.sum(axis=1), 1.0, rtol=1e-12)


@requires_casa
@pytest.mark.parametrize("name", ["flagged_linear", "flagged_cubic", "flagged_spline"])
def test_frame_shift_of_flagged_data_same_as_casa(outputs, name):
    """TOPO -> LSRK of a field of the synthetic MS with flagged channels: every output
    channel is interpolated from every input value (flagged ones too) and flagged
    when an input channel it lies between is flagged, as CASA.  Left out: the band's
    first and last channel (partly covered, see above) and the flags of the rows at
    the reference time, where the output grid falls on the input channels to
    rounding and which neighbour counts depends on the last bit of the
    frequencies."""
    from casacore import tables as ct
    inner = lambda k, f: np.arange(len(f)) % (len(f) - 1) != 0   # noqa: E731
    compare(outputs["base"], name, chan_mask=inner, skip=("FLAG_ROW", "FLAG"))
    ours = str(outputs["base"] / "ours" / (name + ".ms"))
    casa = str(outputs["base"] / "casa" / (name + ".ms"))
    with ct.table(ours, ack=False) as a, ct.table(casa, ack=False) as b:
        oa = np.lexsort([a.getcol(c) for c in ("ANTENNA2", "ANTENNA1", "TIME")])
        ob = np.lexsort([b.getcol(c) for c in ("ANTENNA2", "ANTENNA1", "TIME")])
        fa, fb = a.getcol("FLAG")[oa][:, 1:-1], b.getcol("FLAG")[ob][:, 1:-1]
        t = a.getcol("TIME")[oa]
    later = t > t.min()
    assert fb[later].sum() > 500                 # flagged inputs reach the output
    assert np.array_equal(fa[later], fb[later])
    with ct.table(outputs["syn"], ack=False) as t_in:
        sel = (t_in.getcol("FIELD_ID") == 0) & (t_in.getcol("DATA_DESC_ID") == 0)
        nin = t_in.getcol("FLAG")[sel][:, 1:-1].sum()
    assert fb[later].sum() > nin * later.mean()  # flags spread to the neighbours


@requires_casa
def test_doppler_tracking_over_six_hours_same_as_casa(outputs):
    """TOPO -> LSRK of 3 scans spread over 6 hours with 10 kHz channels: the Doppler
    factor changes by 1.5e-6 (0.15 channel) between the scans; every row is
    converted with its own time's factor, as CASA -- the partly covered edge
    channels (flagged by both) included."""
    compare(outputs["base"], "lsrk_6h")


@requires_casa
def test_spline_same_as_casa(outputs):
    """interpolation='spline': the natural cubic spline through the shifted input
    channels, as CASA -- except, in CASA, the first three channels of the band
    (off a natural spline by up to 2.8e-5 Jy on day2, at most 1e-8 elsewhere),
    which are left out of DATA here (flags and weights compared)."""
    from casacore import tables as ct
    edges = lambda k, f: np.arange(len(f)) % (len(f) - 1) != 0   # noqa: E731
    compare(outputs["base"], "spline_lsrk", chan_mask=edges, skip=("DATA",))
    ours = str(outputs["base"] / "ours" / "spline_lsrk.ms")
    casa = str(outputs["base"] / "casa" / "spline_lsrk.ms")
    with ct.table(ours, ack=False) as a, ct.table(casa, ack=False) as b:
        oa = np.lexsort([a.getcol(c) for c in ("ANTENNA2", "ANTENNA1", "TIME")])
        ob = np.lexsort([b.getcol(c) for c in ("ANTENNA2", "ANTENNA1", "TIME")])
        x, y = a.getcol("DATA")[oa], b.getcol("DATA")[ob]
    np.testing.assert_allclose(x[:, 3:-1], y[:, 3:-1], rtol=1e-6, atol=1e-6)
    assert np.abs(x[:, 1:3] - y[:, 1:3]).max() < 4e-5


def test_spline_matrix_is_the_natural_spline():
    """The spline coefficients give scipy's natural cubic spline (an independent
    implementation), inside the band and past its ends, for ascending and
    descending channel order."""
    from scipy.interpolate import CubicSpline
    from casashell.ms.transform_regrid import spline_matrix
    rng = np.random.default_rng(4)
    x = np.sort(rng.uniform(0, 10, 15))
    y = rng.normal(size=15)
    xo = np.linspace(-1, 11, 41)
    want = CubicSpline(x, y, bc_type="natural")(xo)
    np.testing.assert_allclose(spline_matrix(x, xo) @ y, want, atol=1e-9)
    np.testing.assert_allclose(spline_matrix(x[::-1], xo) @ y[::-1], want, atol=1e-9)
