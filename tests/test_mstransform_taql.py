"""mstransform's ``taql`` (an extra TaQL WHERE expression on the selection) against
live CASA 6.7: the same output, element by element."""

from __future__ import annotations

import os

import pytest

from casa_ref import requires_casa, run_casa
from conftest import DATA_DIR
from test_casa_transform import compare_ms

D2 = os.path.join(DATA_DIR or "", "day2_TDEM0003_10s_norx_1scan.ms")
CASES = [("taql_u", dict(taql="UVW[1] > 0")),
         ("taql_ant_spw", dict(taql="ANTENNA1 < 5 && TIME > 4778968950", spw="1:8~39",
                               timeaverage=True, timebin="30s"))]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    base = tmp_path_factory.mktemp("mst_taql")
    for who in ("casa", "ours"):
        (base / who).mkdir()
    code = f"""
import os, casatasks
for name, kw in {CASES!r}:
    casatasks.mstransform(vis={D2!r}, outputvis=os.path.join({str(base / 'casa')!r},
                          name + '.ms'), datacolumn='data', **kw)
result = 'ok'
"""
    run_casa(code, str(base / "casa"))
    from casashell.tasks import mstransform
    for name, kw in CASES:
        mstransform(vis=D2, outputvis=str(base / "ours" / (name + ".ms")), datacolumn="data",
                    **kw)
    return base


@requires_casa
@pytest.mark.parametrize("name", [n for n, _ in CASES])
def test_taql_same_as_casa(outputs, name):
    compare_ms(str(outputs / "ours" / (name + ".ms")), str(outputs / "casa" / (name + ".ms")),
               name)


def test_taql_rows(tmp_path):
    """'UVW[1] > 0' is u > 0 (TaQL's Glish-style 1-based index, as CASA): the rows
    kept are exactly those, counted here from the input."""
    from casacore import tables as ct
    from casashell.tasks import mstransform
    out = str(tmp_path / "u.ms")
    mstransform(vis=D2, outputvis=out, datacolumn="data", taql="UVW[1] > 0")
    with ct.table(D2, ack=False) as t:
        want = int((t.getcol("UVW")[:, 0] > 0).sum())
    with ct.table(out, ack=False) as t:
        assert t.nrows() == want == 1468
        assert (t.getcol("UVW")[:, 0] > 0).all()
