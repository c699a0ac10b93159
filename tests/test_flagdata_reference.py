"""flagdata against CASA 6.7.0: the five reference commands and their summaries."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

REF_NAME = "flagdata_day2_TDEM0003_10s_norx_1scan.json"
MS_NAME = "day2_TDEM0003_10s_norx_1scan.ms"


def _reference(reference_dir):
    with open(os.path.join(reference_dir, REF_NAME)) as f:
        return json.load(f)


def _ref_keys():
    from conftest import REFERENCE_DIR
    with open(os.path.join(REFERENCE_DIR, REF_NAME)) as f:
        return sorted(json.load(f))


@pytest.mark.parametrize("key", _ref_keys())
def test_reference_summary_after_command(key, reference_dir, ms_copy):
    from casashell.tasks import flagdata

    ref = _reference(reference_dir)[key]
    vis = ms_copy(MS_NAME)
    flagdata(vis=vis, **ref["command"])
    got = flagdata(vis=vis, mode="summary")
    assert got == ref["summary"]


def test_initial_summary_matches_independent_counts(ms_copy):
    """The summary of the untouched MS, recomputed here from the columns."""
    from casacore import tables as ct
    from casashell.tasks import flagdata

    vis = ms_copy(MS_NAME)
    with ct.table(vis, ack=False) as t:
        flag = t.getcol("FLAG")                      # (row, chan, corr)
        a1, a2 = t.getcol("ANTENNA1"), t.getcol("ANTENNA2")
        dd = t.getcol("DATA_DESC_ID")
    with ct.table(os.path.join(vis, "ANTENNA"), ack=False) as t:
        names = t.getcol("NAME")
    s = flagdata(vis=vis, mode="summary")
    per_row = flag.reshape(len(flag), -1).sum(axis=1)
    cells = flag.shape[1] * flag.shape[2]
    assert s["flagged"] == float(flag.sum())
    assert s["total"] == float(flag.size)
    for ant in np.unique(np.concatenate([a1, a2])):
        rows = (a1 == ant) | (a2 == ant)
        assert s["antenna"][names[ant]] == {"flagged": float(per_row[rows].sum()),
                                            "total": float(rows.sum() * cells)}
    for d in np.unique(dd):
        assert s["spw"][str(d)]["flagged"] == float(per_row[dd == d].sum())
    for ci, cname in enumerate(["RR", "RL", "LR", "LL"]):
        assert s["correlation"][cname]["flagged"] == float(flag[:, :, ci].sum())


def test_summary_with_selection_counts_only_selected(ms_copy):
    from casacore import tables as ct
    from casashell.tasks import flagdata

    vis = ms_copy(MS_NAME)
    with ct.table(vis, ack=False) as t:
        flag = t.getcol("FLAG")
        dd = t.getcol("DATA_DESC_ID")
    s = flagdata(vis=vis, mode="summary", spw="1:10~19", correlation="LL")
    sub = flag[dd == 1][:, 10:20, 3]
    assert s["total"] == float(sub.size)
    assert s["flagged"] == float(sub.sum())
    assert list(s["correlation"]) == ["LL"]
    assert list(s["spw"]) == ["1"]
