"""Spw lists separated by ';' before the channel part ('0;2:0~3'), as CASA 6.7
reads them: the spws and channel ranges are checked against the MS and, when
CASA is installed, against CASA's own MSSelection."""

from __future__ import annotations

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
