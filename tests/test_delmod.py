"""delmod: virtual (otf) model keywords and the MODEL_DATA column."""

from __future__ import annotations

import os

import numpy as np
from casacore import tables as ct

from casashell.tasks import clearcal, delmod

DAY2 = "day2_TDEM0003_10s_norx_1scan.ms"


def _add_otf(vis):
    """What CASA's setjy/ft leave for a virtual model of field 0."""
    with ct.table(vis, readonly=False, ack=False) as t:
        t.putkeyword("definedmodel_field_0", "model_0")
    with ct.table(os.path.join(vis, "SOURCE"), readonly=False, ack=False) as s:
        s.putkeyword("model_0", {"cl_0": {"container": {"component0": {"flux": [1.0]}}},
                                 "fields": np.array([0], np.int32)})


def test_otf_removed(ms_copy):
    vis = ms_copy(DAY2)
    _add_otf(vis)
    delmod(vis=vis)
    with ct.table(vis, ack=False) as t:
        assert "definedmodel_field_0" not in t.keywordnames()
    with ct.table(os.path.join(vis, "SOURCE"), ack=False) as s:
        assert "model_0" not in s.keywordnames()


def test_otf_other_field_kept(ms_copy):
    vis = ms_copy(DAY2)
    _add_otf(vis)
    with ct.table(vis, readonly=False, ack=False) as t:
        t.putkeyword("definedmodel_field_5", "model_5")
    delmod(vis=vis, field="0")
    with ct.table(vis, ack=False) as t:
        assert "definedmodel_field_0" not in t.keywordnames()
        assert "definedmodel_field_5" in t.keywordnames()


def test_scr_column(ms_copy):
    vis = ms_copy(DAY2)
    clearcal(vis=vis, addmodel=True)
    delmod(vis=vis, otf=False, scr=True)
    with ct.table(vis, ack=False) as t:
        assert "MODEL_DATA" not in t.colnames()
        assert "CORRECTED_DATA" in t.colnames()
