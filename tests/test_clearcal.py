"""clearcal: MODEL_DATA = 1 (RR, LL; 0 in RL, LR, as CASA), CORRECTED_DATA = DATA, created or reset, with selection."""

from __future__ import annotations

import numpy as np
import pytest
from casacore import tables as ct

from casashell.tasks import clearcal

DAY2 = "day2_TDEM0003_10s_norx_1scan.ms"


def test_creates_corrected_and_model(ms_copy):
    vis = ms_copy(DAY2)
    clearcal(vis=vis, addmodel=True)
    with ct.table(vis, ack=False) as t:
        assert {"CORRECTED_DATA", "MODEL_DATA"} <= set(t.colnames())
        np.testing.assert_array_equal(t.getcol("CORRECTED_DATA"), t.getcol("DATA"))
        m = t.getcol("MODEL_DATA")
        assert m.shape == t.getcol("DATA").shape
        # a 1 Jy Stokes I model: 1 in the parallel hands, 0 in the cross hands (the
        # MS's correlations are RR RL LR LL), as CASA 6.7 writes it
        np.testing.assert_array_equal(m[..., [0, 3]], 1)
        np.testing.assert_array_equal(m[..., [1, 2]], 0)
        hist = t.getkeyword("HISTORY")
    with ct.table(hist[len("Table: "):], ack=False) as h:
        assert "taskname=clearcal" in list(h.getcol("MESSAGE"))


def test_without_addmodel_no_model(ms_copy):
    vis = ms_copy(DAY2)
    clearcal(vis=vis)
    with ct.table(vis, ack=False) as t:
        assert "CORRECTED_DATA" in t.colnames()
        assert "MODEL_DATA" not in t.colnames()


def test_reset_with_selection(ms_copy):
    vis = ms_copy(DAY2)
    clearcal(vis=vis, addmodel=True)
    with ct.table(vis, readonly=False, ack=False) as t:
        c = t.getcol("CORRECTED_DATA")
        t.putcol("CORRECTED_DATA", c * 0 + 7)
        t.putcol("MODEL_DATA", c * 0 + 5)
    clearcal(vis=vis, spw="1")
    with ct.table(vis, ack=False) as t:
        dd = t.getcol("DATA_DESC_ID")
        d = t.getcol("DATA")
        c = t.getcol("CORRECTED_DATA")
        m = t.getcol("MODEL_DATA")
    np.testing.assert_array_equal(c[dd == 1], d[dd == 1])
    np.testing.assert_array_equal(c[dd == 0], 7)
    np.testing.assert_array_equal(m[dd == 1][..., [0, 3]], 1)
    np.testing.assert_array_equal(m[dd == 1][..., [1, 2]], 0)
    np.testing.assert_array_equal(m[dd == 0], 5)


def test_failure_removes_new_columns(ms_copy, monkeypatch):
    vis = ms_copy(DAY2)
    import casashell.ms.writer as w
    orig = w.row_groups_by_shape

    def boom(*a, **k):
        yield from orig(*a, **k)
        raise KeyboardInterrupt

    monkeypatch.setattr(w, "row_groups_by_shape", boom)
    with pytest.raises(KeyboardInterrupt):
        clearcal(vis=vis, addmodel=True)
    with ct.table(vis, ack=False) as t:
        assert "CORRECTED_DATA" not in t.colnames()
        assert "MODEL_DATA" not in t.colnames()


def test_selection_ignored_when_creating(ms_copy, tmp_path):
    vis = ms_copy(DAY2)
    clearcal(vis=vis, spw="1")
    with ct.table(vis, ack=False) as t:
        np.testing.assert_array_equal(t.getcol("CORRECTED_DATA"), t.getcol("DATA"))
    assert "Need to create scratch columns; ignoring selection." in \
        open(str(tmp_path / "casa-test.log")).read()
