"""mstransform(createmms=True): a Multi-MS written with partition's code, its
content compared with live CASA 6.7's Multi-MS element by element."""

from __future__ import annotations

import os

import numpy as np
import pytest

from casa_ref import requires_casa, run_casa
from test_casa_transform import _mk, compare_ms

CASES = [("mm_scan", dict(separationaxis="scan", numsubms=2, chanaverage=True, chanbin=2)),
         ("mm_spw", dict(separationaxis="spw", numsubms="auto", spw="0,1")),
         ("mm_auto", dict(separationaxis="auto", numsubms=4, timeaverage=True,
                          timebin="20s"))]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    base = tmp_path_factory.mktemp("mst_mms")
    vis = str(base / "in.ms")
    _mk(vis, 3, False)
    for who in ("casa", "ours"):
        (base / who).mkdir()
    code = f"""
import os, casatasks
result = {{}}
for name, kw in {CASES!r}:
    casatasks.mstransform(vis={vis!r}, outputvis=os.path.join({str(base / 'casa')!r},
                          name + '.mms'), datacolumn='data', createmms=True, **kw)
    result[name] = sorted(os.listdir(os.path.join({str(base / 'casa')!r}, name + '.mms',
                                                  'SUBMSS')))
"""
    subs = run_casa(code, str(base / "casa"))
    from casashell.tasks import mstransform
    for name, kw in CASES:
        mstransform(vis=vis, outputvis=str(base / "ours" / (name + ".mms")),
                    datacolumn="data", createmms=True, **kw)
    return {"base": base, "subs": subs, "vis": vis}


@requires_casa
@pytest.mark.parametrize("name", [n for n, _ in CASES])
def test_mms_same_as_casa(outputs, name):
    """The Multi-MS read as one table (rows sorted) and its subtables as CASA's, and
    as many sub-MSs with the same names.  Which scans / spws go to which sub-MS is
    partition's choice (docs/multims.md) and may differ from CASA's.  With
    separationaxis='spw' CASA lists the first sub-MS's SOURCE rows in another
    order: SOURCE is compared as a set of rows there."""
    from casacore import tables as ct
    from casashell.ms.mms import is_mms
    base = outputs["base"]
    ours, casa = str(base / "ours" / (name + ".mms")), str(base / "casa" / (name + ".mms"))
    assert is_mms(ours)
    assert sorted(os.listdir(os.path.join(ours, "SUBMSS"))) == outputs["subs"][name]
    skip = ("SOURCE",) if name == "mm_spw" else ()
    compare_ms(ours, casa, name, sub_skip=skip)
    if skip:
        with ct.table(ours + "/SOURCE", ack=False) as a, ct.table(casa + "/SOURCE",
                                                                  ack=False) as b:
            ka = sorted(zip(a.getcol("SOURCE_ID"), a.getcol("SPECTRAL_WINDOW_ID"),
                            a.getcol("NAME")))
            kb = sorted(zip(b.getcol("SOURCE_ID"), b.getcol("SPECTRAL_WINDOW_ID"),
                            b.getcol("NAME")))
            assert ka == kb


def test_mms_equals_the_plain_output(tmp_path):
    """The Multi-MS holds exactly the rows of createmms=False (same call), split by
    scan over the sub-MSs; bad separationaxis / numsubms are refused before any
    output is written."""
    from casacore import tables as ct
    from casashell.ms.mms import is_mms, submss_names
    from casashell.tasks import mstransform
    vis = str(tmp_path / "in.ms")
    _mk(vis, 5, True)
    plain, mms = str(tmp_path / "plain.ms"), str(tmp_path / "out.mms")
    kw = dict(datacolumn="data", chanaverage=True, chanbin=4, spw="1")
    mstransform(vis=vis, outputvis=plain, **kw)
    mstransform(vis=vis, outputvis=mms, createmms=True, separationaxis="scan", numsubms=3,
                **kw)
    assert is_mms(mms)
    subs = submss_names(mms)
    assert len(subs) == 3
    scans = []
    for s in subs:
        with ct.table(s, ack=False) as t:
            scans.append(sorted(set(t.getcol("SCAN_NUMBER").tolist())))
    assert sorted(x for sc in scans for x in sc) == [1, 2, 3]    # each scan in one sub-MS
    with ct.table(plain, ack=False) as a, ct.table(mms, ack=False) as b:
        assert a.nrows() == b.nrows()
        oa = np.lexsort([a.getcol(c) for c in ("ANTENNA2", "ANTENNA1", "TIME")])
        ob = np.lexsort([b.getcol(c) for c in ("ANTENNA2", "ANTENNA1", "TIME")])
        for c in ("DATA", "FLAG", "WEIGHT", "SIGMA", "WEIGHT_SPECTRUM", "UVW", "TIME"):
            np.testing.assert_array_equal(a.getcol(c)[oa], b.getcol(c)[ob], err_msg=c)
    left = [p for p in os.listdir(tmp_path) if p.startswith(".")]
    assert left == []                                   # no temporary MS left behind
    for bad, msg in [(dict(separationaxis="field"), "separationaxis"),
                     (dict(numsubms=0), "numsubms")]:
        with pytest.raises((ValueError, AssertionError), match=msg):
            mstransform(vis=vis, outputvis=str(tmp_path / "bad.mms"), createmms=True,
                        datacolumn="data", **bad)
        assert not os.path.exists(tmp_path / "bad.mms")
