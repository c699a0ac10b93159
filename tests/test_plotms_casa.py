"""plotms freqframe measured against live CASA 6.7: CASA's measures tool
(casatools) converts the channel frequencies of every row of one baseline at the
row's time and field direction, seen from the observatory; ours must agree to 1 Hz.
(CASA's plotms itself is a separate application, casaplotms, that CASA 6.7's
casatasks do not include; its text export of the same plot was compared by hand,
see docs/plots.md.)"""

from __future__ import annotations

import os

import numpy as np
import pytest

from casa_ref import requires_casa, run_casa
from conftest import DATA_DIR

pytestmark = requires_casa

MS = os.path.join(DATA_DIR, "day2_TDEM0003_10s_norx_1scan.ms")
FRAMES = ["LSRK", "BARY", "GEO", "LSRD", "GALACTO"]


@pytest.fixture(scope="module")
def casa_freqs(tmp_path_factory):
    d = tmp_path_factory.mktemp("casa_plotms")
    return run_casa(f"""
        from casatools import measures, quanta, table
        me, qa, tb = measures(), quanta(), table()
        tb.open({MS!r})
        sel = tb.query('ANTENNA1 == 0 && ANTENNA2 == 1 && DATA_DESC_ID == 0')
        times, fields = sel.getcol('TIME'), sel.getcol('FIELD_ID')
        sel.close(); tb.close()
        tb.open({MS!r} + '/SPECTRAL_WINDOW'); cf = tb.getcell('CHAN_FREQ', 0); tb.close()
        tb.open({MS!r} + '/FIELD'); pd = tb.getcol('PHASE_DIR')[:, 0, :]; tb.close()
        tb.open({MS!r} + '/OBSERVATION'); tel = tb.getcell('TELESCOPE_NAME', 0); tb.close()
        me.doframe(me.observatory(tel))
        result = {{}}
        for frame in {FRAMES!r}:
            out = []
            for t, f in zip(times, fields):
                me.doframe(me.epoch('UTC', qa.quantity(t, 's')))
                me.doframe(me.direction('J2000', qa.quantity(pd[0, f], 'rad'),
                                        qa.quantity(pd[1, f], 'rad')))
                out += [me.measure(me.frequency('TOPO', qa.quantity(x, 'Hz')),
                                   frame)['m0']['value'] for x in cf]
            result[frame] = out
        """, cwd=str(d))


@pytest.mark.parametrize("frame", FRAMES)
def test_freqframe_matches_casa_measures(casa_freqs, frame):
    from casashell import plotting
    from casashell.tasks import plotms
    plotms(vis=MS, xaxis="frequency", yaxis="amp", spw="0", correlation="RR", antenna="1&2",
           transform=True, freqframe=frame, showgui=False, showflags=True)
    ax = plotting.LAST["info"]["pages"][0][0]["axes"]
    xs = np.sort(np.concatenate([np.asarray(c.get_offsets())[:, 0]
                                 for c in ax.collections])) * 1e9
    exp = np.sort(np.asarray(casa_freqs[frame]))
    assert len(xs) == len(exp) == 9 * 64
    np.testing.assert_allclose(xs, exp, rtol=0, atol=1.0)
