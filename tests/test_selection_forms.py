"""Spw lists separated by ';' before the channel part ('0;2:0~3'), as CASA 6.7
reads them: the spws and channel ranges are checked against the MS and, when
CASA is installed, against CASA's own MSSelection."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from casacore import tables as ct

from casa_ref import requires_casa, run_casa
from casashell.ms.generate import make_ms
from casashell.ms.selection import SelectionError, select

#: spw string -> {spw: [(first, last)]} it must select (channels counted by hand
#: for spws of 8, 16 and 4 channels)
CASES = {
    "0;2": {0: [(0, 7)], 2: [(0, 3)]},
    "0,1;2": {0: [(0, 7)], 1: [(0, 15)], 2: [(0, 3)]},
    "0;1:0~3": {0: [(0, 3)], 1: [(0, 3)]},
    "0;2:1~2;3": {0: [(1, 3)], 2: [(1, 3)]},
    "2;0:1,1:5~6": {0: [(1, 1)], 1: [(5, 6)], 2: [(1, 1)]},
    "0:0~3;5": {0: [(0, 3), (5, 5)]},
}


@pytest.fixture(scope="module")
def ms(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("selforms") / "f.ms")
    make_ms(path, nant=4, nfield=2, nscan=3, nspw=3, nchan=[8, 16, 4], ncorr=2,
            ntimes_per_scan=3, seed=11)
    return path


def test_semicolon_lists_spws(ms):
    with ct.table(ms, ack=False) as t:
        dd = t.getcol("DATA_DESC_ID")
    with ct.table(ms + "/DATA_DESCRIPTION", ack=False) as t:
        spw_of_dd = t.getcol("SPECTRAL_WINDOW_ID")
    for value, want in CASES.items():
        sel = select(ms, spw=value)
        assert sel.spws == sorted(want), value
        assert {s: sel.channel_ranges(s) for s in sel.spws} == want, value
        np.testing.assert_array_equal(
            sel.rows, np.flatnonzero(np.isin(spw_of_dd[dd], sorted(want))), err_msg=value)


@pytest.mark.parametrize("value,words", [("0;", "empty spw between ';'"),
                                         (";1", "empty spw between ';'"),
                                         ("0;7", "no spectral window with id 7")])
def test_bad_semicolon_lists(ms, value, words):
    with pytest.raises(SelectionError, match=words):
        select(ms, spw=value)


@requires_casa
def test_same_as_casa(ms, tmp_path):
    code = f"""
from casatools import ms as mstool
m = mstool()
result = {{}}
for value in {sorted(CASES)!r}:
    m.open({ms!r})
    m.msselect({{'spw': value}})
    ch = m.msselectedindices()['channel']
    out = {{}}
    for spw, first, last, step in ch.tolist():
        out.setdefault(str(spw), []).append([first, last])
    result[value] = out
    m.close()
"""
    casa = run_casa(code, str(tmp_path))
    for value, want in CASES.items():
        # CASA lists one range per part; merge touching ones as channel_ranges does
        got = {}
        for spw, rngs in casa[value].items():
            mask = np.zeros(64, bool)
            for a, b in rngs:
                mask[a:b + 1] = True
            idx = np.flatnonzero(mask)
            runs = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)
            got[int(spw)] = [(int(r[0]), int(r[-1])) for r in runs]
        assert got == want, (value, casa[value])


# -- correlation: SPW:CORRS parts separated by ';'

#: correlation string -> {spw: correlations it keeps} on the MS below (every spw
#: has the setup RR RL LR LL, spws 0 and 2 share it, spw 1 has RR LL)
CORR_CASES = {
    "0:RR,LL": {0: ["RR", "LL"]},
    "0~1:LL": {0: ["LL"], 1: ["LL"]},
    "*:RL": {0: ["RL"], 2: ["RL"]},
    "RR;LL": {0: ["RR", "LL"], 1: ["RR", "LL"], 2: ["RR", "LL"]},
    "1:RR;RL": {0: ["RL"], 1: ["RR"], 2: ["RL"]},
}


@pytest.fixture(scope="module")
def corr_ms(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("selcorr") / "c.ms")
    make_ms(path, nant=3, nfield=1, nscan=1, nspw=3, nchan=4, ncorr=[4, 2, 4],
            ntimes_per_scan=2, flag_fraction=0.0, seed=12)
    return path


def _corr_names(ms):
    with ct.table(ms + "/POLARIZATION", ack=False) as t:
        from casashell.ms.metadata import STOKES_NAMES
        pols = [[STOKES_NAMES[int(c)] for c in t.getcell("CORR_TYPE", i)]
                for i in range(t.nrows())]
    with ct.table(ms + "/DATA_DESCRIPTION", ack=False) as t:
        dd = list(zip(t.getcol("SPECTRAL_WINDOW_ID"), t.getcol("POLARIZATION_ID")))
    return pols, dd


def test_correlation_per_spw(corr_ms):
    pols, dd = _corr_names(corr_ms)
    with ct.table(corr_ms, ack=False) as t:
        ddcol = t.getcol("DATA_DESC_ID")
    for value, want in CORR_CASES.items():
        sel = select(corr_ms, correlation=value)
        dds = [d for d, (spw, _) in enumerate(dd) if spw in want]
        assert sel.ddids == dds, value
        np.testing.assert_array_equal(sel.rows, np.flatnonzero(np.isin(ddcol, dds)))
        for d in dds:
            spw, pol = dd[d]
            names = [n for n, m in zip(pols[pol], sel.correlations[pol]) if m]
            assert names == want[spw], (value, spw)


@pytest.mark.parametrize("value,words", [
    ("0:RR;2:LL", "share polarization setup"),       # one mask per setup only
    ("0:RR,1:LL", "one ':' at most"),
    ("1:RL", "no polarization setup of spectral window(s) '1' has RL"),
    ("7:RR", "no spectral window with id 7"),
    ("0:", "no correlation given"),
])
def test_bad_correlation_parts(corr_ms, value, words):
    with pytest.raises(SelectionError) as info:
        select(corr_ms, correlation=value)
    assert words in str(info.value)


@requires_casa
def test_correlation_same_as_casa_split(corr_ms, tmp_path):
    """CASA's split (MSSelection) keeps the same rows, spws and correlations.

    (CASA's flagdata does not: it applies the correlations of every part to
    every spw, e.g. '0:RR,LL' flags RR and LL of all spws; casashell follows
    MSSelection, see docs/selection.md.)"""
    from casashell.ms.metadata import STOKES_NAMES
    cases = sorted(CORR_CASES)
    casa = run_casa(f"""
from casatasks import split
from casatools import table
tb = table()
result = {{}}
for k, value in enumerate({cases!r}):
    out = 'o%d.ms' % k
    split(vis={corr_ms!r}, outputvis=out, correlation=value, datacolumn='data')
    tb.open(out); n = tb.nrows(); tb.close()
    tb.open(out + '/POLARIZATION')
    pols = [tb.getcell('CORR_TYPE', i).tolist() for i in range(tb.nrows())]
    tb.close()
    tb.open(out + '/DATA_DESCRIPTION')
    dd = [[int(tb.getcell('SPECTRAL_WINDOW_ID', i)), pols[int(tb.getcell('POLARIZATION_ID', i))]]
          for i in range(tb.nrows())]
    tb.close()
    result[value] = [n, dd]
""", str(tmp_path))
    pols, dd = _corr_names(corr_ms)
    for value in cases:
        sel = select(corr_ms, correlation=value)
        n, casa_dd = casa[value]
        assert sel.nrows == n, value
        ours = sorted([dd[d][0], [name for name, m in zip(pols[dd[d][1]],
                                                          sel.correlations[dd[d][1]]) if m]]
                      for d in sel.ddids)
        theirs = sorted([spw, [STOKES_NAMES[c] for c in codes]] for spw, codes in casa_dd)
        assert ours == theirs, value
