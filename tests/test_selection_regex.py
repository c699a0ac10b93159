"""Regular expressions (/.../), quoted names and station names in selections.

Counts are computed here from the main table and the subtables with plain
numpy/str operations, and the same strings are run through CASA 6.7's own
MSSelection (``casatools.ms().msselect``) when CASA is installed.
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from casacore import tables as ct

from casa_ref import requires_casa, run_casa
from casashell.ms.generate import make_ms
from casashell.ms.selection import SelectionError, select


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    base = tmp_path_factory.mktemp("selrx")
    path = str(base / "rx.ms")
    make_ms(path, nant=6, nfield=4, nscan=6, nspw=2, nchan=[8, 4], ncorr=4,
            ntimes_per_scan=4, seed=5)
    # a copy where antenna 1 stands on a station named like antenna 0
    clash = str(base / "clash.ms")
    shutil.copytree(path, clash)
    with ct.table(os.path.join(clash, "ANTENNA"), readonly=False, ack=False) as t:
        st = list(t.getcol("STATION"))
        st[1] = "ea01"
        t.putcol("STATION", st)
    return path, clash


def _tables(ms):
    with ct.table(ms, ack=False) as t:
        cols = {c: t.getcol(c) for c in ("FIELD_ID", "ANTENNA1", "ANTENNA2", "STATE_ID",
                                         "DATA_DESC_ID")}
    with ct.table(os.path.join(ms, "FIELD"), ack=False) as t:
        cols["fields"] = list(t.getcol("NAME"))
    with ct.table(os.path.join(ms, "ANTENNA"), ack=False) as t:
        cols["names"] = list(t.getcol("NAME"))
        cols["stations"] = list(t.getcol("STATION"))
    with ct.table(os.path.join(ms, "STATE"), ack=False) as t:
        cols["modes"] = list(t.getcol("OBS_MODE"))
    with ct.table(os.path.join(ms, "SPECTRAL_WINDOW"), ack=False) as t:
        cols["spws"] = list(t.getcol("NAME"))
    return cols


def _cross_with(c, ids):
    a1, a2 = c["ANTENNA1"], c["ANTENNA2"]
    return (np.isin(a1, ids) | np.isin(a2, ids)) & (a1 != a2)


def _ids(names, pred):
    return [i for i, n in enumerate(names) if pred(n)]


def _expected(c):
    """selection -> expected row mask, each computed without the parser."""
    f, st = c["FIELD_ID"], c["STATE_ID"]
    fld, ant, sta = c["fields"], c["names"], c["stations"]
    a1, a2 = c["ANTENNA1"], c["ANTENNA2"]
    per_intent = [m.split(",") for m in c["modes"]]
    return {
        ("field", "/J1.*/"): np.isin(f, _ids(fld, lambda n: n.startswith("J1"))),
        ("field", "/3C.*|NGC.*/"): np.isin(f, _ids(fld, lambda n: n[:2] == "3C"
                                                    or n[:3] == "NGC")),
        # a comma inside the expression does not split the list
        ("field", "/3C.{1,5}/"): np.isin(f, _ids(fld, lambda n: n[:2] == "3C"
                                                  and 3 <= len(n) <= 7)),
        ("field", "/J1407[+]2827/"): f == fld.index("J1407+2827"),
        ("field", "0,/J1.*/,TARGET*"): np.isin(f, [0] + _ids(fld, lambda n: n[:2] == "J1"
                                                             or n[:6] == "TARGET")),
        ("field", '"J1407+2827"'): f == fld.index("J1407+2827"),
        ("field", '"3C286","NGC5548"'): np.isin(f, [fld.index("3C286"),
                                                    fld.index("NGC5548")]),
        ("antenna", "/ea0[12]/"): _cross_with(c, [ant.index("ea01"), ant.index("ea02")]),
        ("antenna", "/ea0[12]/&&&"): (a1 == a2) & np.isin(a1, [0, 1]),
        ("antenna", "/ea0[1-3]/&&/ea0[45]/"): (np.isin(a1, [0, 1, 2]) & np.isin(a2, [3, 4]))
        | (np.isin(a2, [0, 1, 2]) & np.isin(a1, [3, 4])),
        ("antenna", "!/ea01/"): ~_cross_with(c, [0]),
        ("antenna", "/ea0[12]/;!ea01&ea02"): _cross_with(c, [0, 1])
        & ~(((a1 == 0) & (a2 == 1)) | ((a1 == 1) & (a2 == 0))),
        # names and stations
        ("antenna", "/E0.*/"): _cross_with(c, _ids(sta, lambda n: n.startswith("E0"))),
        ("antenna", "@/W.*/"): _cross_with(c, _ids(sta, lambda n: n.startswith("W"))),
        ("antenna", "W0*"): _cross_with(c, _ids(sta, lambda n: n.startswith("W0"))),
        ("antenna", sta[3]): _cross_with(c, [3]),
        ("antenna", f"/ea0[1-3]/@{sta[1]}"): _cross_with(c, [1]),
        ("antenna", '"ea03"'): _cross_with(c, [2]),
        ("intent", "/.*PHASE.*/"): np.isin(st, [i for i, p in enumerate(per_intent)
                                                if any("PHASE" in x for x in p)]),
        ("intent", "/CALIBRATE_BANDPASS.*/"): np.isin(
            st, [i for i, p in enumerate(per_intent)
                 if any(x.startswith("CALIBRATE_BANDPASS") for x in p)]),
        ("intent", '"OBSERVE_TARGET#UNSPECIFIED"'): np.isin(
            st, [i for i, p in enumerate(per_intent) if "OBSERVE_TARGET#UNSPECIFIED" in p]),
        ("spw", f'"{c["spws"][1]}"'): c["DATA_DESC_ID"] == 1,
    }


#: strings both CASA and casashell refuse, with a word of our message
REFUSED = [
    ("field", "!/3C.*/", "cannot be negated"),
    ("field", "/3c.*/", "no field name matches"),       # case-sensitive, as CASA
    ("field", "/NGC/", "no field name matches"),        # must match the whole name
    ("field", "/3C.*/~2", "unterminated or followed"),
    ("field", "/3C.*", "unterminated or followed"),
    ("field", '"0"', "no field is named"),              # quoted: a name, never an id
    ("field", "/3C.*/,/X.*/", "no field name matches the regular expression /X.*/"),
    ("spw", "/.*/", "not supported for spw"),
    ("spw", '"0"', "no spectral window is named"),
    ("spw", "*:-10~10km/s", "velocity units"),
    ("spw", "0:-100~100km/s", "velocity units"),
    ("antenna", "/EA01/", "no antenna name or station matches"),
    ("antenna", '"99"', "no antenna or station is named"),
    ("intent", "/CALIBRATE_FLUX/", "no scan intent matches"),   # one whole intent
    ("intent", "/observe.*/", "no scan intent matches"),
    ("scan", "/1/", "is not a number"),
]


def test_forms_select_the_rows_computed_independently(synth):
    ms, _ = synth
    c = _tables(ms)
    exp = _expected(c)
    for (param, value), mask in exp.items():
        assert mask.any(), (param, value)
        sel = select(ms, **{param: value})
        np.testing.assert_array_equal(sel.rows, np.flatnonzero(mask),
                                      err_msg=f"{param}={value!r}")


def test_quoted_spw_name_with_channels(synth):
    ms, _ = synth
    name = _tables(ms)["spws"][0]
    sel = select(ms, spw=f'"{name}":1~3')
    assert sel.spws == [0] and sel.channel_ranges(0) == [(1, 3)]


def test_station_names_and_precedence(synth):
    """A plain name is an antenna name first (station only when no name
    matches); quoted names, globs and regexes take names and stations."""
    _, clash = synth
    c = _tables(clash)
    assert c["stations"][1] == "ea01"
    np.testing.assert_array_equal(select(clash, antenna="ea01").rows,
                                  np.flatnonzero(_cross_with(c, [0])))
    for value in ('"ea01"', "/ea01/"):
        np.testing.assert_array_equal(select(clash, antenna=value).rows,
                                      np.flatnonzero(_cross_with(c, [0, 1])), err_msg=value)


@pytest.mark.parametrize("param,value,words", REFUSED)
def test_refused_with_a_clear_message(synth, param, value, words):
    ms, _ = synth
    with pytest.raises(SelectionError) as info:
        select(ms, **{param: value})
    msg = str(info.value)
    assert msg.startswith(f"{param} selection '{value}': ") and words in msg
    assert "\n" not in msg


def test_slash_inside_a_name_is_not_a_regex(synth, tmp_path):
    ms = str(tmp_path / "slash.ms")
    shutil.copytree(synth[0], ms)
    with ct.table(os.path.join(ms, "FIELD"), readonly=False, ack=False) as t:
        names = list(t.getcol("NAME"))
        names[2] = "M31/A"
        t.putcol("NAME", names)
    with ct.table(ms, ack=False) as t:
        f = t.getcol("FIELD_ID")
    np.testing.assert_array_equal(select(ms, field="M31/A").rows, np.flatnonzero(f == 2))
    np.testing.assert_array_equal(select(ms, field="0,M31/A").rows,
                                  np.flatnonzero(np.isin(f, [0, 2])))


_CASA_CODE = """
from casatools import ms as mstool
m = mstool()
result = []
for vis, param, value in cases:
    key = 'scanintent' if param == 'intent' else param
    m.open(vis)
    try:
        ok = m.msselect({key: value})
        result.append(m.nrow(True) if ok else 'refused')
    except Exception as exc:
        result.append('refused')
    m.close()
"""


@requires_casa
def test_same_as_casa(synth, tmp_path):
    ms, clash = synth
    c = _tables(ms)
    cases = [(ms, p, v) for (p, v) in _expected(c)]
    cases += [(ms, p, v) for p, v, _ in REFUSED]
    cases += [(clash, "antenna", v) for v in ("ea01", '"ea01"', "/ea01/")]
    casa = run_casa(f"cases = {cases!r}\n" + _CASA_CODE, str(tmp_path))
    ours = []
    for vis, param, value in cases:
        try:
            ours.append(select(vis, **{param: value}).nrows)
        except SelectionError:
            ours.append("refused")
    diff = [(p, v, o, k) for (_, p, v), o, k in zip(cases, ours, casa) if o != k]
    assert not diff, diff
    assert len(cases) == 22 + len(REFUSED) + 3
