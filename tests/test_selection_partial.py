"""Selection lists in which some ids do not exist (QA report 1, item 4).

CASA 6.7's rule, measured with ``casatools.ms().msselect`` and split (and
flagdata where it differs; see docs/selection.md): numbers that match nothing
are left out of scan, observation, array, field-id, antenna-id and state-id
lists, and the list is refused only when none of it matches; names, patterns,
regular expressions and bounds that match nothing, and any spw id the MS does
not have, are refused.  Expected rows are computed here from the main table
with plain numpy.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from casacore import tables as ct

from casa_ref import requires_casa, run_casa
from casashell.logsink import casalog
from casashell.ms.generate import make_ms
from casashell.ms.selection import SelectionError, select

DAY2 = "day2_TDEM0003_10s_norx_1scan.ms"
COLS = ("FIELD_ID", "SCAN_NUMBER", "ANTENNA1", "ANTENNA2", "OBSERVATION_ID",
        "STATE_ID", "DATA_DESC_ID")


@pytest.fixture(scope="module")
def mss(data_dir, tmp_path_factory):
    import shutil
    base = tmp_path_factory.mktemp("selpartial")
    day2 = str(base / DAY2)
    shutil.copytree(os.path.join(data_dir, DAY2), day2)
    syn = str(base / "syn.ms")
    make_ms(syn, nant=6, nfield=4, nscan=6, nspw=3, nchan=[8, 16, 4], ncorr=[4, 2, 4],
            ntimes_per_scan=3, nobs=2, seed=3)
    return {"day2": day2, "syn": syn}


def _cols(ms):
    with ct.table(ms, ack=False) as t:
        c = {k: t.getcol(k) for k in COLS}
        c["uvdist"] = np.hypot(*t.getcol("UVW")[:, :2].T)
    with ct.table(os.path.join(ms, "STATE"), ack=False) as t:
        c["modes"] = list(t.getcol("OBS_MODE")) if t.nrows() else []
    return c


def _cross(c, ids):
    a1, a2 = c["ANTENNA1"], c["ANTENNA2"]
    return (np.isin(a1, ids) | np.isin(a2, ids)) & (a1 != a2)


def _pair(c, i, j):
    a1, a2 = c["ANTENNA1"], c["ANTENNA2"]
    return ((a1 == i) & (a2 == j)) | ((a1 == j) & (a2 == i))


def _accepted(d, s):
    """(ms, param, value, expected row mask, ids named in the warning)."""
    n = len(d["FIELD_ID"])
    every = np.ones(n, bool)
    phase = [i for i, m in enumerate(s["modes"]) if "PHASE" in m]
    # day2: VLA antennas are named '1', '2', ...: '1' is id 0, '2' id 1; no 99, 30
    return [
        ("day2", "scan", "1,2", every, "2"),
        ("day2", "scan", "1,2~4", every, "2~4"),
        ("day2", "scan", "1,>5", every, ">5"),
        ("day2", "field", "0,5", every, "5"),
        ("day2", "field", "J1008+0730,5", every, "5"),
        ("day2", "field", "0,5~6", every, "5~6"),
        ("day2", "observation", "0,1", every, "1"),
        ("day2", "array", "0,1", every, "1"),
        ("day2", "antenna", "1,99", _cross(d, [0]), "99"),
        ("day2", "antenna", "1,30", _cross(d, [0]), "30"),
        ("day2", "antenna", "1,50~60", _cross(d, [0]), "50~60"),
        ("day2", "antenna", "1,99&2", _pair(d, 0, 1), "99"),
        ("day2", "antenna", "!1,99", ~_cross(d, [0]), "99"),
        ("day2", "uvrange", "0~100m,1e9~2e9m", d["uvdist"] <= 100, None),
        ("syn", "field", "0,7", s["FIELD_ID"] == 0, "7"),
        ("syn", "field", "3C286,7", s["FIELD_ID"] == 0, "7"),
        ("syn", "scan", "1,9", s["SCAN_NUMBER"] == 1, "9"),
        ("syn", "scan", "1,>9", s["SCAN_NUMBER"] == 1, ">9"),
        ("syn", "observation", "0,3", s["OBSERVATION_ID"] == 0, "3"),
        ("syn", "antenna", "ea01,9", _cross(s, [0]), "9"),
        ("syn", "antenna", "0,9&1", _pair(s, 0, 1), "9"),
        ("syn", "intent", "0,7", s["STATE_ID"] == 0, "7"),
        ("syn", "intent", "*PHASE*,7", np.isin(s["STATE_ID"], phase), "7"),
    ]


# (ms, param, value, part of our message); CASA 6.7's msselect and split refuse these
REFUSED = [
    ("day2", "scan", "2", "scan selection '2': no scan 2 in the MS"),
    ("day2", "scan", "2~4", "no scan 2~4 in the MS"),
    ("day2", "field", "5", "field selection '5': no field with id 5 (the MS has 1 field: 0~0)"),
    ("day2", "field", "5,6", "no field with id 5, 6"),
    ("day2", "field", "5~6", "no field with id 5~6"),
    ("day2", "field", "0,>3", "no field with id >3"),
    ("day2", "field", "J1008+0730,NOSUCH", "no field matches 'NOSUCH'"),
    ("day2", "field", "0,NOSUCH*", "no field matches 'NOSUCH*'"),
    ("day2", "spw", "0,3", "spw selection '0,3': no spectral window with id 3"),
    ("day2", "spw", "0~3", "no spectral window with id 2, 3 (the MS has 2: 0~1)"),
    ("day2", "spw", "0,NOSUCH", "no spectral window matches 'NOSUCH'"),
    ("day2", "antenna", "1,ea99", "no antenna matches 'ea99'"),
    ("day2", "antenna", "99", "antenna selection '99': no antenna named or numbered '99'"),
    ("day2", "antenna", "99,100", "no antenna named or numbered '99, 100'"),
    ("day2", "antenna", "1&99", "no antenna named or numbered '99'"),
    ("day2", "antenna", "1,99&99", "no antenna named or numbered '99'"),
    ("day2", "antenna", "!99", "no antenna named or numbered '99'"),
    ("day2", "antenna", "50~60", "no antenna named or numbered '50~60'"),
    ("day2", "observation", "1", "observation selection '1': no observation 1 in the MS"),
    ("day2", "array", "1", "array selection '1': no array 1 in the MS"),
    ("day2", "uvrange", "1e9~2e9m", "uvrange selection '1e9~2e9m': matches no data"),
    ("day2", "timerange", "00:00:00~00:00:10", "timerange selection '00:00:00~00:00:10': "
     "matches no data"),
    ("syn", "spw", "1~5", "no spectral window with id 3, 4, 5 (the MS has 3: 0~2)"),
    ("syn", "spw", "0:0~3,5:0~3", "no spectral window with id 5"),
    ("syn", "antenna", "ea01,ea99", "no antenna matches 'ea99'"),
    ("syn", "scan", "9", "no scan 9 in the MS"),
    ("syn", "intent", "5~7", "no scan intent matches '5~7'"),
    ("syn", "intent", "*PHASE*,NOSUCH", "no scan intent matches 'NOSUCH'"),
]


def _select_logging(vis, **kw):
    seen = []
    casalog.post_listeners.append(lambda text, prio: seen.append((prio, text)))
    try:
        sel = select(vis, **kw)
    finally:
        casalog.post_listeners.pop()
    return sel, [t for p, t in seen if p == "WARN"]


def test_partial_lists_select_what_exists(mss):
    d, s = _cols(mss["day2"]), _cols(mss["syn"])
    cases = _accepted(d, s)
    assert len(cases) == 23
    for ms, param, value, mask, gone in cases:
        sel, warns = _select_logging(mss[ms], **{param: value})
        assert sel.rows.tolist() == np.flatnonzero(mask).tolist(), (ms, param, value)
        if gone is None:        # parts OR-ed as ranges of values: no warning
            assert warns == []
            continue
        # one warning naming the part that matched nothing
        assert len(warns) == 1 and f"{param} selection '{value}'" in warns[0] \
            and gone in warns[0] and "selecting the others" in warns[0], warns


def test_whole_list_missing_is_refused(mss):
    for ms, param, value, why in REFUSED:
        with pytest.raises(SelectionError) as exc:
            select(mss[ms], **{param: value})
        assert why in str(exc.value), (param, value, str(exc.value))


def test_partial_list_combined_with_other_parameters(mss):
    s = _cols(mss["syn"])
    sel = select(mss["syn"], scan="1,2,9", field="0,7", antenna="ea01,9")
    expect = np.isin(s["SCAN_NUMBER"], [1, 2]) & (s["FIELD_ID"] == 0) & _cross(s, [0])
    assert sel.rows.tolist() == np.flatnonzero(expect).tolist()
    # parts that exist but select nothing together stay an error
    with pytest.raises(SelectionError, match="matches no rows"):
        select(mss["syn"], scan="1,9", field="1,7")


_CASA_CODE = """
from casatools import ms as mstool
from casatasks import flagdata
key = {'timerange': 'time', 'uvrange': 'uvdist', 'field': 'field', 'spw': 'spw', 'antenna': 'baseline', 'scan': 'scan',
       'observation': 'observation', 'array': 'array', 'intent': 'scanintent'}
rows = []
for vis, param, value in cases:
    m = mstool()
    m.open(vis)
    try:
        ok = m.msselect({key[param]: value})
        rows.append(m.nrow(True) if ok else 'refused')
    except Exception:
        rows.append('refused')
    m.close()
totals = []
for param, value in flag_cases:
    try:
        r = flagdata(day2, mode='summary', **{param: value})
        totals.append(r['total'] if r else 'refused')
    except Exception:
        totals.append('refused')
result = [rows, totals]
"""


@requires_casa
def test_same_as_casa_msselect(mss, tmp_path):
    d, s = _cols(mss["day2"]), _cols(mss["syn"])
    cases = [(mss[ms], p, v) for ms, p, v, *_ in _accepted(d, s)]
    cases += [(mss[ms], p, v) for ms, p, v, _ in REFUSED]
    cases += [(mss["day2"], "timerange", "03:22:10~03:22:40,00:00:00~00:00:10")]
    # flagdata accepts these two, its split and msselect refuse them (docs/selection.md)
    flag_cases = [("spw", "0,3"), ("antenna", "1,ea99"), ("scan", "1,2")]
    casa_rows, casa_totals = run_casa(
        f"cases = {cases!r}\nflag_cases = {flag_cases!r}\nday2 = {mss['day2']!r}\n"
        + _CASA_CODE, str(tmp_path))
    ours = []
    for vis, param, value in cases:
        try:
            ours.append(select(vis, **{param: value}).nrows)
        except SelectionError:
            ours.append("refused")
    diff = [(os.path.basename(v), p, x, o, k)
            for (v, p, x), o, k in zip(cases, ours, casa_rows) if o != k]
    assert not diff, diff
    assert ours.count("refused") == len(REFUSED) and ours[-1] > 0
    # 4 * 64 channels * 2 spws * rows: spw 0 only, antenna '1' only, everything
    n0 = int(np.count_nonzero(d["DATA_DESC_ID"] == 0))
    assert casa_totals == [n0 * 4 * 64, int(_cross(d, [0]).sum()) * 4 * 64,
                           len(d["FIELD_ID"]) * 4 * 64]
