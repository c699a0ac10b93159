"""CASA selection syntax: every form against counts computed here with plain
casacore reads and numpy, on pyuvdata's real MSs and a synthetic MS.

The expected values are built differently from casashell.ms.selection:
explicit per-antenna / per-id conditions, Python sets of names, datetime
arithmetic, no shared helpers.
"""

from __future__ import annotations

import datetime
import fnmatch
import json
import os

import numpy as np
import pytest
from casacore import tables as ct

from casashell.ms.generate import make_ms
from casashell.ms.selection import SelectionError, select

DAY2 = "day2_TDEM0003_10s_norx_1scan.ms"
C = 299792458.0


def cols(vis, *names):
    with ct.table(vis, ack=False) as t:
        return [t.getcol(n) for n in names]


def sub(vis, name, col):
    with ct.table(os.path.join(vis, name), ack=False) as t:
        return t.getcol(col) if t.nrows() else []


def rows_of(mask):
    return np.flatnonzero(mask)


def mjd_s(y, mo, d, h, mi, s):
    return (datetime.datetime(y, mo, d, h, mi) - datetime.datetime(1858, 11, 17)
            ).total_seconds() + s


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """10 antennas (with autos), 4 fields, 7 scans, 3 spws (16/32/16 channels,
    4/2/4 correlations), intents."""
    path = str(tmp_path_factory.mktemp("sel") / "synth.ms")
    make_ms(path, nant=10, nfield=4, nscan=7, nspw=3, nchan=[16, 32, 16], ncorr=[4, 2, 4],
            ntimes_per_scan=3, seed=11)
    return path


@pytest.fixture(scope="module")
def day2(data_dir):
    return os.path.join(data_dir, DAY2)


# ----------------------------------------------------------------------------
# against CASA 6.7 itself
def _apply_flags(vis, sel):
    """FLAG after flagging ``sel`` (as flagdata mode='manual' would)."""
    flag, ddid = cols(vis, "FLAG", "DATA_DESC_ID")
    spw_of_dd = sub(vis, "DATA_DESCRIPTION", "SPECTRAL_WINDOW_ID")
    new = flag.copy()
    for r in sel.rows:
        s = spw_of_dd[ddid[r]]
        pol = 0
        new[r] |= np.outer(sel.channels[s], sel.correlations[pol])
    return new


@pytest.mark.parametrize("case", ["antenna_1", "spw1_edges", "timerange", "baseline_corr"])
def test_matches_casa_flagdata(day2, reference_dir, case):
    ref = json.load(open(os.path.join(reference_dir,
                                      "flagdata_day2_TDEM0003_10s_norx_1scan.json")))[case]
    cmd = {k: v for k, v in ref["command"].items() if k != "mode"}
    sel = select(day2, **cmd)
    assert int(_apply_flags(day2, sel).sum()) == int(ref["summary"]["flagged"])


def test_matches_casa_split_rows(day2, reference_dir):
    ref = json.load(open(os.path.join(reference_dir, "split_day2_TDEM0003_10s_norx_1scan.json")))
    sel = select(day2, spw="0:8~55", antenna="!4", correlation="RR,LL")
    assert sel.nrows == ref["nrows"] == 1257
    assert sel.channel_ranges(0) == [(8, 55)]
    assert sel.correlations[0].tolist() == [True, False, False, True]


# ----------------------------------------------------------------------------
# real data
def test_empty_selects_everything(day2):
    sel = select(day2)
    (n,) = [len(c) for c in cols(day2, "TIME")]
    assert sel.nrows == n and sel.all_rows
    assert np.array_equal(sel.rows, np.arange(n))
    assert sel.spws == [0, 1] and sel.fields == [0] and sel.scans == [1]
    assert all(m.all() and len(m) == 64 for m in sel.channels.values())
    assert sel.correlations[0].tolist() == [True] * 4


def test_antenna_digit_names_match_names_first(day2):
    a1, a2 = cols(day2, "ANTENNA1", "ANTENNA2")
    names = list(sub(day2, "ANTENNA", "NAME"))
    # '4' is the NAME of antenna id 3; '6' is nobody's name: id 6 (named '7')
    for token, ant_id in (("4", names.index("4")), ("6", 6), ("27", names.index("27"))):
        expect = [r for r in range(len(a1)) if (a1[r] == ant_id or a2[r] == ant_id)
                  and a1[r] != a2[r]]
        assert select(day2, antenna=token).rows.tolist() == expect, token


def test_antenna_range_resolves_each_number_as_name_first(day2):
    a1, a2 = cols(day2, "ANTENNA1", "ANTENNA2")
    names = list(sub(day2, "ANTENNA", "NAME"))
    ids = {names.index(str(k)) if str(k) in names else k for k in range(1, 4)}
    expect = rows_of((np.isin(a1, list(ids)) | np.isin(a2, list(ids))) & (a1 != a2))
    assert select(day2, antenna="1~3").rows.tolist() == expect.tolist()


def test_baselines_and_negation(day2):
    a1, a2 = cols(day2, "ANTENNA1", "ANTENNA2")
    names = list(sub(day2, "ANTENNA", "NAME"))
    i1, i2, i3, i12 = (names.index(x) for x in ("1", "2", "3", "12"))
    bl = select(day2, antenna="1&2")
    assert bl.rows.tolist() == rows_of(((a1 == i1) & (a2 == i2)) |
                                       ((a1 == i2) & (a2 == i1))).tolist()
    assert sorted(bl.antennas) == sorted([i1, i2])
    lst = select(day2, antenna="1,2&3")
    expect = [r for r in range(len(a1)) if {a1[r], a2[r]} in ({i1, i3}, {i2, i3})]
    assert lst.rows.tolist() == expect
    neg = select(day2, antenna="!12")
    assert neg.rows.tolist() == rows_of((a1 != i12) & (a2 != i12)).tolist()
    both = select(day2, antenna="1;!1&2")
    expect = rows_of(((a1 == i1) | (a2 == i1)) & ~(((a1 == i1) & (a2 == i2)) |
                                                    ((a1 == i2) & (a2 == i1))))
    assert both.rows.tolist() == expect.tolist()


def test_autocorrelation_forms_on_real_autos(data_dir):
    vis = os.path.join(data_dir, "2018-03-21-01_26_33_0004384620257280_000000_downselected.ms")
    a1, a2 = cols(vis, "ANTENNA1", "ANTENNA2")
    autos = rows_of(a1 == a2)
    assert len(autos) == 20
    assert select(vis, antenna="*&&&").rows.tolist() == autos.tolist()
    assert select(vis, antenna="&&&").rows.tolist() == autos.tolist()
    assert select(vis, autocorr=True).rows.tolist() == autos.tolist()
    assert select(vis, autocorr="exclude").rows.tolist() == rows_of(a1 != a2).tolist()
    # ANT001 with autocorrelation vs without
    with_auto = select(vis, antenna="ANT001&&*").rows
    assert with_auto.tolist() == rows_of((a1 == 0) | (a2 == 0)).tolist()
    assert select(vis, antenna="ANT001").rows.tolist() == rows_of(
        ((a1 == 0) | (a2 == 0)) & (a1 != a2)).tolist()
    assert select(vis, antenna="ANT00[1-3]&&").rows.tolist() == rows_of(
        (a1 <= 2) & (a2 <= 2)).tolist()
    assert select(vis, antenna="ANT001,ANT002&&&").rows.tolist() == rows_of(
        (a1 == a2) & (a1 <= 1)).tolist()
    assert select(vis, scan="0").nrows == len(a1)


def test_antenna_wildcards_mwa(data_dir):
    vis = os.path.join(data_dir, "1102865728_small.ms")
    a1, a2 = cols(vis, "ANTENNA1", "ANTENNA2")
    names = list(sub(vis, "ANTENNA", "NAME"))
    ids = [i for i, n in enumerate(names) if fnmatch.fnmatchcase(n, "Tile01*")]
    expect = rows_of((np.isin(a1, ids) | np.isin(a2, ids)) & (a1 != a2))
    assert select(vis, antenna="Tile01*").rows.tolist() == expect.tolist()
    sel = select(vis, antenna="Tile011&Tile012;Tile013&&&")
    expect = rows_of(((a1 == 0) & (a2 == 1)) | ((a1 == 2) & (a2 == 2)))
    assert sel.rows.tolist() == expect.tolist()


def test_timerange_forms(day2):
    (t,) = cols(day2, "TIME")
    (exposure,) = cols(day2, "EXPOSURE")
    d = (2010, 4, 26)
    cases = {
        "03:22:10~03:22:40": (t >= mjd_s(*d, 3, 22, 10)) & (t <= mjd_s(*d, 3, 22, 40)),
        "2010/04/26/03:22:10~2010/04/26/03:22:40":
            (t >= mjd_s(*d, 3, 22, 10)) & (t <= mjd_s(*d, 3, 22, 40)),
        "2010/04/26/03:22:10~03:22:40":
            (t >= mjd_s(*d, 3, 22, 10)) & (t <= mjd_s(*d, 3, 22, 40)),
        "26-Apr-2010/03:22:10~26-Apr-2010/03:22:40":
            (t >= mjd_s(*d, 3, 22, 10)) & (t <= mjd_s(*d, 3, 22, 40)),
        ">03:22:50": t >= mjd_s(*d, 3, 22, 50),
        "<03:22:10": t <= mjd_s(*d, 3, 22, 10),
        "03:22:00+00:00:30": (t >= mjd_s(*d, 3, 22, 0)) & (t <= mjd_s(*d, 3, 22, 30)),
        "03:22:00+30": (t >= mjd_s(*d, 3, 22, 0)) & (t <= mjd_s(*d, 3, 22, 30)),
        "03:22:06": np.abs(t - mjd_s(*d, 3, 22, 6)) <= exposure[0] / 2,
        "<03:22:00,>03:23:00": (t <= mjd_s(*d, 3, 22, 0)) | (t >= mjd_s(*d, 3, 23, 0)),
    }
    for text, mask in cases.items():
        assert mask.any() and not mask.all(), text
        assert select(day2, timerange=text).rows.tolist() == rows_of(mask).tolist(), text


def test_uvrange_forms(day2):
    uvw, ddid = cols(day2, "UVW", "DATA_DESC_ID")
    ref = sub(day2, "SPECTRAL_WINDOW", "REF_FREQUENCY")
    spw = sub(day2, "DATA_DESCRIPTION", "SPECTRAL_WINDOW_ID")
    uvm = np.sqrt(uvw[:, 0] ** 2 + uvw[:, 1] ** 2)
    uvl = np.array([uvm[r] * ref[spw[ddid[r]]] / C for r in range(len(uvm))])
    cases = {
        "<1km": uvm <= 1000,
        "100~500m": (uvm >= 100) & (uvm <= 500),
        "0.1~0.5km": (uvm >= 100) & (uvm <= 500),
        ">5klambda": uvl >= 5000,
        "20~60klambda": (uvl >= 20e3) & (uvl <= 60e3),
        "<0.02Mlambda": uvl <= 2e4,
        "100~200,>900": ((uvm >= 100) & (uvm <= 200)) | (uvm >= 900),
        "300m:20%": (uvm >= 240) & (uvm <= 360),
    }
    for text, mask in cases.items():
        assert mask.any() and not mask.all(), text
        assert select(day2, uvrange=text).rows.tolist() == rows_of(mask).tolist(), text


def test_frequency_selection_real(data_dir):
    vis = os.path.join(data_dir, "multi_1.ms")
    freqs = sub(vis, "SPECTRAL_WINDOW", "CHAN_FREQ")[0]
    lo, hi = freqs[5], freqs[12]
    text = f"0:{lo / 1e6:.6f}~{hi / 1e6:.6f}MHz"
    sel = select(vis, spw=text)
    expect = [i for i, f in enumerate(freqs) if lo - 1 <= f <= hi + 1]
    assert np.flatnonzero(sel.channels[0]).tolist() == expect == list(range(5, 13))
    # spw chosen by a frequency range (no channel part): as CASA, the spws whose
    # centre frequency is in the range, with all their channels
    sel = select(vis, spw=f"{freqs[5] / 1e9:.9f}~{freqs[-3] / 1e9:.9f}GHz")
    assert sel.channels[0].all() and len(sel.channels[0]) == 32
    with pytest.raises(SelectionError, match="no spectral window covers"):
        select(vis, spw=f"{lo / 1e9:.9f}~{hi / 1e9:.9f}GHz")


def test_correlation_real(day2):
    sel = select(day2, correlation="RR,LL")
    assert sel.correlations == {0: sel.correlations[0]}
    assert sel.correlations[0].tolist() == [True, False, False, True]
    assert select(day2, correlation="rl").correlations[0].tolist() == [False, True, False,
                                                                       False]
    zen = os.path.join(os.path.dirname(day2), "zen.2456865.60537.xy.uvcRREAAM.ms")
    assert select(zen, correlation="XY").correlations[0].tolist() == [True]


def test_zen_digit_names(data_dir):
    vis = os.path.join(data_dir, "zen.2456865.60537.xy.uvcRREAAM.ms")
    a1, a2, scan = cols(vis, "ANTENNA1", "ANTENNA2", "SCAN_NUMBER")
    # names are '1'..'30' for ids 0..29: '1' is id 0 by name; '0' is nobody's name: id 0
    expect = rows_of((a1 == 0) | (a2 == 0))
    assert select(vis, antenna="1").rows.tolist() == expect.tolist()
    assert select(vis, antenna="0").rows.tolist() == expect.tolist()
    assert select(vis, scan="2~3").rows.tolist() == rows_of((scan >= 2) & (scan <= 3)).tolist()
    assert select(vis, scan="<2,>3").rows.tolist() == rows_of((scan < 2) | (scan > 3)).tolist()


# ----------------------------------------------------------------------------
# synthetic MS: several fields, scans, intents, spws, polarization setups
def test_field_forms(synth):
    (fid,) = cols(synth, "FIELD_ID")
    names = list(sub(synth, "FIELD", "NAME"))
    cases = {
        "0": {0}, "1~2": {1, 2}, "0,3": {0, 3}, "3C286": {0}, "J14*": {1},
        "3C286,NGC5548": {0, 2}, "*": {0, 1, 2, 3}, "<2": {0, 1}, ">1": {2, 3},
        "!3C286": {1, 2, 3}, "TARGET_?": {3}, "ngc5548": {2},
    }
    for text, ids in cases.items():
        sel = select(synth, field=text)
        assert sel.rows.tolist() == rows_of(np.isin(fid, sorted(ids))).tolist(), text
        assert sel.fields == sorted(ids), text
    assert names[0] == "3C286"


def test_spw_forms(synth):
    (ddid,) = cols(synth, "DATA_DESC_ID")
    spw_of_dd = sub(synth, "DATA_DESCRIPTION", "SPECTRAL_WINDOW_ID")
    spw = np.array([spw_of_dd[d] for d in ddid])
    nchan = list(sub(synth, "SPECTRAL_WINDOW", "NUM_CHAN"))
    freqs = [sub(synth, "SPECTRAL_WINDOW", "CHAN_FREQ")] if False else None
    with ct.table(os.path.join(synth, "SPECTRAL_WINDOW"), ack=False) as t:
        freqs = [t.getcell("CHAN_FREQ", i) for i in range(t.nrows())]

    def chans(n, wanted):
        m = np.zeros(n, bool)
        m[list(wanted)] = True
        return m.tolist()

    cases = {
        "0": {0: range(16)},
        "0~1": {0: range(16), 1: range(32)},
        "0:4~10": {0: range(4, 11)},
        "0:0~4;10~15": {0: list(range(0, 5)) + list(range(10, 16))},
        "*:2~5": {0: range(2, 6), 1: range(2, 6), 2: range(2, 6)},
        "1:4~20^2": {1: range(4, 21, 2)},
        "0:3,2:7": {0: [3], 2: [7]},
        "0~1:1~2": {0: [1, 2], 1: [1, 2]},
        ">0:0": {1: [0], 2: [0]},
        "!1": {0: range(16), 2: range(16)},
        "0:<3": {0: [0, 1, 2]},
    }
    # frequency forms: channels whose centre lies in the range
    f1 = freqs[1]
    cases[f"1:{f1[3] / 1e6}~{f1[9] / 1e6}MHz"] = {1: range(3, 10)}
    cases[f"{f1[10] / 1e9}~{f1[20] / 1e9}GHz"] = {1: range(32)}
    cases["<1.2GHz"] = {0: range(16), 1: range(32)}
    cases[">1.2GHz"] = {2: range(16)}
    cases["0:1000~1100MHz^16MHz"] = {0: range(0, 13, 2)}
    cases[f"*:{f1[3]}~{f1[9]}Hz"] = {1: range(3, 10)}
    cases[f"{f1[0] / 1e3 - 1}~{freqs[2][-1] / 1e3 + 1}kHz"] = {1: range(32), 2: range(16)}
    for text, expect in cases.items():
        sel = select(synth, spw=text)
        assert sel.spws == sorted(expect), text
        assert sel.rows.tolist() == rows_of(np.isin(spw, sorted(expect))).tolist(), text
        for s, ch in expect.items():
            assert sel.channels[s].tolist() == chans(nchan[s], ch), (text, s)


def test_antenna_forms_synthetic(synth):
    a1, a2 = cols(synth, "ANTENNA1", "ANTENNA2")
    names = list(sub(synth, "ANTENNA", "NAME"))
    stations = list(sub(synth, "ANTENNA", "STATION"))
    i7, i8, i12 = names.index("ea07"), names.index("ea08"), names.index("ea02")
    pair = lambda x, y: ((a1 == x) & (a2 == y)) | ((a1 == y) & (a2 == x))  # noqa: E731
    has = lambda x: (a1 == x) | (a2 == x)  # noqa: E731
    cases = {
        "ea07": has(i7) & (a1 != a2),
        "6": has(6) & (a1 != a2),
        "ea07&ea08": pair(i7, i8),
        "ea07,ea08&": pair(i7, i8),
        "ea07,ea08&&": pair(i7, i8) | ((a1 == a2) & ((a1 == i7) | (a1 == i8))),
        "ea07&&": (a1 == i7) & (a2 == i7),
        "ea07&&&": (a1 == i7) & (a2 == i7),
        "&&&": a1 == a2,
        "!ea02": ~(has(i12) & (a1 != a2)),
        "ea07;ea08": (has(i7) | has(i8)) & (a1 != a2),
        "ea07&ea08;ea02&&&": pair(i7, i8) | ((a1 == i12) & (a2 == i12)),
        "ea0*&ea10": (a1 != a2) & ((a2 == 9) & (a1 < 9)),
        "0~2&3": pair(0, 3) | pair(1, 3) | pair(2, 3),
        f"ea07@{stations[i7]}": has(i7) & (a1 != a2),
        "ea07&*": has(i7) & (a1 != a2),
    }
    for text, mask in cases.items():
        assert mask.any(), text
        assert select(synth, antenna=text).rows.tolist() == rows_of(mask).tolist(), text


def test_antenna_bounds_are_baseline_lengths(synth):
    """CASA 6.7 reads antenna='<2' / '>3' as baseline lengths in metres (live
    comparison in test_casa_flagdata.py): '<2' is the autocorrelations."""
    a1, a2 = cols(synth, "ANTENNA1", "ANTENNA2")
    pos = sub(synth, "ANTENNA", "POSITION")
    length = np.sqrt(((pos[a1] - pos[a2]) ** 2).sum(axis=1))
    mid = float(np.median(length[a1 != a2]))
    cases = {"<2": a1 == a2, f">{mid:.3f}": length > round(mid, 3),
             f"<{mid / 1000:.4f}km": length < round(mid / 1000, 4) * 1000,
             f"100~{mid:.1f}m": (length >= 100) & (length <= round(mid, 1)),
             f"!<{mid:.3f}": ~(length < round(mid, 3))}
    for text, mask in cases.items():
        assert mask.any(), text
        assert select(synth, antenna=text).rows.tolist() == rows_of(mask).tolist(), text
    with pytest.raises(SelectionError, match="no baseline has a length"):
        select(synth, antenna=">1000km")


def test_scan_intent_observation_array_feed(synth):
    scan, state, obs, arr, f1 = cols(synth, "SCAN_NUMBER", "STATE_ID", "OBSERVATION_ID",
                                      "ARRAY_ID", "FEED1")
    modes = list(sub(synth, "STATE", "OBS_MODE"))
    for text, keep in {"1~3,5": {1, 2, 3, 5}, "<3": {1, 2}, ">5": {6, 7}, "4": {4},
                       "!2": {1, 3, 4, 5, 6, 7}}.items():
        sel = select(synth, scan=text)
        assert sel.rows.tolist() == rows_of(np.isin(scan, sorted(keep))).tolist(), text
        assert sel.scans == sorted(keep)
    for pattern in ("*CALIBRATE_PHASE*", "OBSERVE_TARGET*", "CALIBRATE_FLUX#UNSPECIFIED",
                    "CALIBRATE_BANDPASS", "*AMPLI*,*FLUX*"):
        ids = set()
        for i, m in enumerate(modes):
            for p in pattern.split(","):
                parts = m.split(",")
                if fnmatch.fnmatchcase(m, p) or any(
                        x == p or x.split("#")[0] == p or fnmatch.fnmatchcase(x, p)
                        for x in parts):
                    ids.add(i)
        assert ids, pattern
        sel = select(synth, intent=pattern)
        assert sel.rows.tolist() == rows_of(np.isin(state, sorted(ids))).tolist(), pattern
    assert select(synth, observation="0").nrows == len(obs)
    assert select(synth, array="0").nrows == len(arr)
    assert select(synth, feed="0").nrows == len(f1)
    assert select(synth, feed="0&0").nrows == len(f1)


def test_correlation_per_polarization_setup(synth):
    (ddid,) = cols(synth, "DATA_DESC_ID")
    # spw 1 has RR LL only (pol 1); spws 0 and 2 have RR RL LR LL (pol 0)
    sel = select(synth, correlation="RL")
    assert sel.correlations == {0: sel.correlations[0]}
    assert sel.correlations[0].tolist() == [False, True, False, False]
    assert sel.rows.tolist() == rows_of(ddid != 1).tolist()
    sel = select(synth, correlation="LL")
    assert sel.correlations[0].tolist() == [False, False, False, True]
    assert sel.correlations[1].tolist() == [False, True]
    assert sel.nrows == len(ddid)
    sel = select(synth, spw="1", correlation="RR")
    assert list(sel.correlations) == [1] and sel.correlations[1].tolist() == [True, False]


def test_combined_selection(synth):
    fid, ddid, a1, a2, scan, t = cols(synth, "FIELD_ID", "DATA_DESC_ID", "ANTENNA1",
                                      "ANTENNA2", "SCAN_NUMBER", "TIME")
    t_mid = np.median(t)
    mask = (fid == 2) & (ddid == 0) & (a1 != a2) & ((a1 == 6) | (a2 == 6)) & (scan > 3) & \
        (t >= t_mid)
    d = datetime.datetime(1858, 11, 17) + datetime.timedelta(seconds=float(t_mid))
    sel = select(synth, field="NGC5548", spw="0:2~3", antenna="ea07", scan=">3",
                 timerange=f">{d:%Y/%m/%d/%H:%M:%S.%f}")
    assert sel.rows.tolist() == rows_of(mask).tolist()
    assert sel.channel_ranges(0) == [(2, 3)] and sel.nchan(0) == 2
    assert sel.fields == [2] and sel.scans == [6]


def test_autocorr_and_empty(synth):
    a1, a2 = cols(synth, "ANTENNA1", "ANTENNA2")
    assert select(synth, autocorr=True).rows.tolist() == rows_of(a1 == a2).tolist()
    assert select(synth, autocorr="only").nrows == int((a1 == a2).sum())
    assert select(synth, autocorr="exclude").rows.tolist() == rows_of(a1 != a2).tolist()
    assert select(synth, antenna="ea07&ea08", autocorr=True, allow_empty=True).is_empty
    with pytest.raises(SelectionError, match=r"matches no rows"):
        select(synth, antenna="ea07&ea08", autocorr=True)
    with pytest.raises(SelectionError, match=r"field='3C286', scan='2'"):
        select(synth, field="3C286", scan="2")


def test_taql_extra(synth):
    (a1,) = cols(synth, "ANTENNA1")
    assert select(synth, taql="ANTENNA1 == 3").rows.tolist() == rows_of(a1 == 3).tolist()
    with pytest.raises(SelectionError, match="mscal functions are not allowed"):
        select(synth, taql="mscal.time() > 0")
    with pytest.raises(SelectionError, match="taql selection 'NOSUCHCOL > 1'"):
        select(synth, taql="NOSUCHCOL > 1")


BAD = [
    (dict(field="FOO"), "field selection 'FOO': no field matches 'FOO'"),
    (dict(field="9"), "field selection '9': no field with id 9"),
    (dict(field="0,,1"), "field selection '0,,1': empty element"),
    (dict(spw="7"), "spw selection '7': no spectral window with id 7"),
    (dict(spw="0:40"), "spw selection '0:40': channel 40 is out of range for spw 0"),
    (dict(spw="0:9~3"), "spw selection '0:9~3': channel range '9~3' has its start after"),
    (dict(spw="0:a~b"), "spw selection '0:a~b': 'a~b' is not a channel"),
    (dict(spw="0:1~3^0"), "must be a positive integer"),
    (dict(spw="5~6GHz"), "spw selection '5~6GHz': no spectral window covers '5~6GHz'"),
    (dict(spw="1~2km/s"), "velocity units"),
    (dict(spw="0:"), "has an empty channel part"),
    (dict(antenna="ea99"), "antenna selection 'ea99': no antenna matches 'ea99'"),
    (dict(antenna="42"), "antenna selection '42': no antenna named or numbered '42'"),
    (dict(antenna="ea01&ea02&ea03"), "malformed baseline"),
    (dict(antenna="ea07;;ea08"), "empty element between ';'"),
    (dict(antenna="&ea02"), "has no antenna before '&'"),
    (dict(scan="99"), "scan selection '99': no scan 99 in the MS"),
    (dict(scan="1~x"), "scan selection '1~x': '1~x' is not a number"),
    (dict(scan="5~2"), "has its start after its end"),
    (dict(timerange="25:99:00"), "timerange selection '25:99:00': '25:99:00' is not a valid"),
    (dict(timerange="03:00~02:00"), "ends before it starts"),
    (dict(timerange="2011/01/01/00:00:00"), "timerange selection '2011/01/01/00:00:00': "
                                            "matches no data"),
    (dict(timerange="2010/13/01/00:00"), "is not a valid date"),
    (dict(timerange="noon"), "'noon' is not a time"),
    (dict(uvrange="5parsec"), "uvrange selection '5parsec': unknown unit 'parsec'"),
    (dict(uvrange="1~2km~3"), "uvrange selection '1~2km~3'"),
    (dict(uvrange=">500km"), "uvrange selection '>500km': matches no data"),
    (dict(uvrange="1klambda~2m"), "mixes metres and wavelengths"),
    (dict(correlation="XX"), "correlation selection 'XX': no polarization setup has these"),
    (dict(correlation="QQQ"), "correlation selection 'QQQ': unknown correlation 'QQQ'"),
    (dict(intent="*POINTING*"), "intent selection '*POINTING*': no scan intent matches"),
    (dict(observation="3"), "observation selection '3': no observation 3 in the MS"),
    (dict(array="1"), "array selection '1': no array 1 in the MS"),
    (dict(feed="x"), "feed selection 'x'"),
    (dict(feed="2"), "feed selection '2': matches no data"),
    (dict(field=3.5), "field selection must be a string"),
    (dict(autocorr="maybe"), "autocorr must be"),
]


@pytest.mark.parametrize("kwargs,message", BAD, ids=[str(b[0]) for b in BAD])
def test_bad_forms(synth, kwargs, message):
    with pytest.raises(SelectionError) as exc:
        select(synth, **kwargs)
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)
    assert isinstance(exc.value, ValueError)


def test_intent_on_ms_without_states(day2):
    with pytest.raises(SelectionError, match=r"intent selection '\*PHASE\*': the MS has no "
                                             r"scan intents"):
        select(day2, intent="*PHASE*")


def test_missing_ms(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        select(str(tmp_path / "nope.ms"), field="0")


def test_list_and_int_arguments(synth):
    (fid,) = cols(synth, "FIELD_ID")
    assert select(synth, field=["0", "2"]).rows.tolist() == rows_of(np.isin(fid, [0, 2])).tolist()
    assert select(synth, field=1).rows.tolist() == rows_of(fid == 1).tolist()


def test_more_documented_forms(synth):
    fid, ddid, a1, a2, scan, t = cols(synth, "FIELD_ID", "DATA_DESC_ID", "ANTENNA1",
                                      "ANTENNA2", "SCAN_NUMBER", "TIME")
    stations = list(sub(synth, "ANTENNA", "STATION"))
    with ct.table(os.path.join(synth, "SPECTRAL_WINDOW"), ack=False) as tt:
        f2 = tt.getcell("CHAN_FREQ", 2)
        w2 = tt.getcell("CHAN_WIDTH", 2)
    # a single frequency: the spw whose band contains it / the channel containing it
    sel = select(synth, spw=f"{(f2[5] + 0.3 * w2[5]) / 1e9}GHz")
    assert sel.spws == [2] and sel.channels[2].all()
    sel = select(synth, spw=f"2:{(f2[5] + 0.3 * w2[5]) / 1e9}GHz")
    assert sel.spws == [2] and np.flatnonzero(sel.channels[2]).tolist() == [5]
    assert select(synth, spw="EVLA*#1").spws == [1]
    assert select(synth, field="[3N]*").fields == [0, 2]
    on_w = [i for i, s in enumerate(stations) if s.startswith("W")]
    expect = rows_of((np.isin(a1, on_w) | np.isin(a2, on_w)) & (a1 != a2))
    assert select(synth, antenna="@W*").rows.tolist() == expect.tolist()
    assert select(synth, scan="<=2,>=6").scans == [1, 2, 6, 7]
    assert select(synth, correlation="rr ll").correlations[1].tolist() == [True, True]
    # ISO date-time form and a date carried from the start of a range to its end
    d0 = datetime.datetime(1858, 11, 17) + datetime.timedelta(seconds=float(t.min()))
    d1 = d0 + datetime.timedelta(seconds=65)
    text = f"{d0:%Y-%m-%dT%H:%M:%S}~{d1:%H:%M:%S}"
    lo = mjd_s(d0.year, d0.month, d0.day, d0.hour, d0.minute, d0.second)
    assert select(synth, timerange=text).rows.tolist() == rows_of(
        (t >= lo) & (t <= lo + 65)).tolist()
    uvw, = cols(synth, "UVW")
    uvd = np.hypot(uvw[:, 0], uvw[:, 1])
    assert select(synth, uvrange="<=150m").rows.tolist() == rows_of(uvd <= 150).tolist()


def test_empty_ms_and_bounded_ranges(tmp_path, synth):
    path = str(tmp_path / "empty.ms")
    ct.default_ms(path).close()
    sel = select(path)
    assert sel.nrows == 0 and sel.is_empty and sel.spws == [] and sel.fields == []
    with pytest.raises(SelectionError, match="field selection '0': the MS has no fields"):
        select(path, field="0")
    (fid,) = cols(synth, "FIELD_ID")
    assert select(synth, field=">0&<3").rows.tolist() == rows_of((fid > 0) & (fid < 3)).tolist()


def test_channel_range_past_the_end_is_clipped_with_warning(synth):
    from casashell.logsink import casalog
    seen = []
    casalog.post_listeners.append(lambda text, prio: seen.append((prio, text)))
    try:
        sel = select(synth, spw="0:10~40")
    finally:
        casalog.post_listeners.pop()
    assert np.flatnonzero(sel.channels[0]).tolist() == list(range(10, 16))
    warns = [t for p, t in seen if p == "WARN"]
    assert len(warns) == 1 and "channel 40 is out of range for spw 0 (0~15)" in warns[0]


def test_timerange_casa_grammar_details(day2):
    """CASA's time grammar: omitted fields from the first row (or, in a range end,
    from the start); two fields are mm:ss; 'hh:mm:' has seconds 0; N[T0~T1] widens."""
    (t,) = cols(day2, "TIME")
    d = (2010, 4, 26)
    first = datetime.datetime(1858, 11, 17) + datetime.timedelta(seconds=float(t[0]))
    assert (first.hour, first.minute) == (3, 21)
    cases = {
        "03:22:10~40": (t >= mjd_s(*d, 3, 22, 10)) & (t <= mjd_s(*d, 3, 22, 40)),
        ">03:22:": t >= mjd_s(*d, 3, 22, 0),
        # a lone number is seconds, hour and minute from the first row (03:21)
        "<57": t <= mjd_s(*d, 3, 21, 57),
        "2010/04/26/03:22:10~2010/04/26/03:22:40":
            (t >= mjd_s(*d, 3, 22, 10)) & (t <= mjd_s(*d, 3, 22, 40)),
        "1[03:22:07~03:22:15]": (t > mjd_s(*d, 3, 22, 6)) & (t < mjd_s(*d, 3, 22, 16)),
    }
    for text, mask in cases.items():
        assert mask.any() and not mask.all(), text
        assert select(day2, timerange=text).rows.tolist() == rows_of(mask).tolist(), text
    # 'mm:ss': 22:10 is 00:22:10 on the first day, before the data
    with pytest.raises(SelectionError, match="timerange selection '22:10~22:40': matches no"):
        select(day2, timerange="22:10~22:40")
    with pytest.raises(SelectionError, match="cannot have a date"):
        select(day2, timerange="03:22:00+2010/01/01")


@pytest.fixture(scope="module")
def alma(data_dir, tmp_path_factory):
    import tarfile
    out = tmp_path_factory.mktemp("alma")
    with tarfile.open(os.path.join(data_dir, "X5707_1spw_1scan_10chan_1time_1bl_noatm.ms.tar.gz")) \
            as tf:
        tf.extractall(out, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    return str(out / "X5707_1spw_1scan_10chan_1time_1bl_noatm.ms")


def test_alma_names_intents(alma):
    fid, state, a1 = cols(alma, "FIELD_ID", "STATE_ID", "ANTENNA1")
    n = len(fid)
    spw_name = sub(alma, "SPECTRAL_WINDOW", "NAME")[0]
    assert "#" in spw_name
    assert select(alma, spw=spw_name).nrows == n
    assert select(alma, spw="*FULL_RES").spws == [0]
    assert select(alma, field="GAMA*").rows.tolist() == rows_of(fid == 2).tolist()
    assert select(alma, intent="OBSERVE_TARGET#ON_SOURCE").nrows == int((state >= 0).sum())
    assert select(alma, intent="*TARGET*", antenna="DA41&DA42").nrows == n
    yy = select(alma, correlation="YY").correlations
    assert list(yy) == [0] and yy[0].tolist() == [False, True]
    with pytest.raises(SelectionError, match="field selection 'J1337-1257': matches no data"):
        select(alma, field="J1337-1257")
    with pytest.raises(SelectionError, match="no spectral window matches 'FOO#\\*'"):
        select(alma, spw="FOO#*")


def test_column_cache_follows_changes(ms_copy, monkeypatch):
    from casashell.ms import selection
    vis = ms_copy(DAY2)
    selection.clear_cache()
    first = select(vis, antenna="1").rows
    assert selection._CACHE_BYTES[0] > 0
    assert select(vis, antenna="1").rows.tolist() == first.tolist()   # from the cache
    with ct.table(vis, readonly=False, ack=False) as t:
        a1 = t.getcol("ANTENNA1")
        a2 = t.getcol("ANTENNA2")
        a1[:100] = 0
        t.putcol("ANTENNA1", a1)
    expect = rows_of(((a1 == 0) | (a2 == 0)) & (a1 != a2))
    assert len(expect) > len(first)
    assert select(vis, antenna="1").rows.tolist() == expect.tolist()
    # without the cache (limit 0) the chunked path gives the same rows
    monkeypatch.setenv("CASASHELL_SELECTION_CACHE_MB", "0")
    selection.clear_cache()
    assert select(vis, antenna="1", max_bytes=5000).rows.tolist() == expect.tolist()
    assert selection._CACHE_BYTES[0] == 0


@pytest.mark.parametrize("kwargs", [
    dict(field="J14*", spw="1:3~9"), dict(antenna="ea07&&;!ea07&ea08", scan="2~6"),
    dict(timerange=">06:05:00", uvrange="<300m", intent="*TARGET*"),
    dict(correlation="LL", autocorr="exclude"), dict(scan="1,7", feed="0")])
def test_chunked_path_equals_whole_columns(synth, monkeypatch, kwargs):
    from casashell.ms import selection
    whole = select(synth, **kwargs)
    monkeypatch.setenv("CASASHELL_SELECTION_CACHE_MB", "0")
    chunked = select(synth, max_bytes=3000, **kwargs)   # ~100-row chunks
    assert chunked.rows.tolist() == whole.rows.tolist()
    assert chunked.spws == whole.spws and chunked.scans == whole.scans
    assert chunked.fields == whole.fields and chunked.antennas == whole.antennas
    selection.clear_cache()


def test_chunked_path_errors(synth, monkeypatch):
    monkeypatch.setenv("CASASHELL_SELECTION_CACHE_MB", "0")
    with pytest.raises(SelectionError, match="scan selection '98,99': no scan 98, 99 in the MS"):
        select(synth, scan="98,99", max_bytes=3000)
    # a list with one scan that exists selects it (CASA 6.7), chunked or not
    assert select(synth, scan="1,99", max_bytes=3000).scans == [1]
    with pytest.raises(SelectionError, match="matches no rows"):
        select(synth, field="3C286", scan="2", max_bytes=3000)


def test_taql_uses_casa_glish_indexing(data_dir):
    """CASA evaluates TaQL selections in Glish style: UVW[1] is u (measured:
    CASA 6.7's mstransform(taql='UVW[1] > 0') keeps 1468 of day2's 2828 rows)."""
    from casacore.tables import table
    vis = os.path.join(data_dir, "day2_TDEM0003_10s_norx_1scan.ms")
    t = table(vis, ack=False)
    uvw = t.getcol("UVW")
    data = t.getcol("DATA")
    t.close()
    sel = select(vis, taql="UVW[1] > 0")
    assert sel.rows.tolist() == np.flatnonzero(uvw[:, 0] > 0).tolist()
    assert sel.nrows == 1468
    # DATA[corr, chan] in Fortran order: DATA[2,1] is correlation 1 of channel 0
    sel = select(vis, taql="real(DATA[2,1]) > 0")
    assert sel.rows.tolist() == np.flatnonzero(data[:, 0, 1].real > 0).tolist()
