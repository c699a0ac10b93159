"""FLAG_CMD commands of split/mstransform outputs: spw ids and channels rewritten
for the output, compared with live CASA 6.7 command by command."""

from __future__ import annotations

import numpy as np
import pytest

from casa_ref import requires_casa, run_casa

COMMANDS = ["antenna='ea01' spw='1:3~5'", "spw='0,2'", "spw='2'",
            "mode='clip' clipminmax=[0,1]", "spw='0~2:2~4;8~10'", "spw='*:0~3'",
            "mode='manual' spw='1' timerange='10:00:00~11:00:00'",
            "spw='1:4~11' antenna='ea02'", "spw = '1'", 'spw="2:0~1"', "spw='>0'",
            "spw='0'"]

CASES = [("s1", "split", dict(spw="1")),
         ("s12", "split", dict(spw="1,2")),
         ("s1ch", "split", dict(spw="1:2~9")),
         ("w2", "split", dict(spw="1,2", width=2)),
         ("all", "split", dict()),
         ("s0ch2", "split", dict(spw="0:4~11,2")),
         ("mst_cb2", "mstransform", dict(spw="0,2", chanaverage=True, chanbin=2))]


def _input(path):
    from casacore import tables as ct
    from casashell.ms.generate import make_ms
    make_ms(path, nant=4, nfield=1, nscan=2, nspw=3, nchan=16, ncorr=2, ntimes_per_scan=2,
            seed=1, history=False)
    n = len(COMMANDS)
    with ct.table(f"{path}/FLAG_CMD", readonly=False, ack=False) as t:
        t.addrows(n)
        t.putcol("COMMAND", COMMANDS)
        t.putcol("TYPE", ["FLAG"] * n)
        t.putcol("REASON", ["any"] * n)
        t.putcol("TIME", np.zeros(n))
        t.putcol("INTERVAL", np.zeros(n))
        t.putcol("APPLIED", np.zeros(n, bool))
        t.putcol("LEVEL", np.zeros(n, np.int32))
        t.putcol("SEVERITY", np.zeros(n, np.int32))


def _commands(path):
    from casacore import tables as ct
    with ct.table(f"{path}/FLAG_CMD", ack=False) as t:
        return [str(c) for c in t.getcol("COMMAND")]


@pytest.fixture(scope="module")
def vis(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("flagcmd") / "in.ms")
    _input(path)
    return path


@pytest.fixture(scope="module")
def casa_commands(vis, tmp_path_factory):
    base = tmp_path_factory.mktemp("flagcmd_casa")
    code = f"""
import os, casatasks
from casatools import table
result = {{}}
tb = table()
for name, tk, kw in {CASES!r}:
    out = os.path.join({str(base)!r}, name + '.ms')
    getattr(casatasks, tk)(vis={vis!r}, outputvis=out, datacolumn='data', **kw)
    tb.open(out + '/FLAG_CMD')
    result[name] = [str(c) for c in tb.getcol('COMMAND')]
    tb.close()
"""
    return run_casa(code, str(base))


@requires_casa
@pytest.mark.parametrize("name,task,kw", CASES)
def test_flag_cmd_same_as_casa(vis, casa_commands, tmp_path, name, task, kw):
    import casashell.tasks as tasks
    out = str(tmp_path / "o.ms")
    getattr(tasks, task)(vis=vis, outputvis=out, datacolumn="data", **kw)
    ours, casa = _commands(out), casa_commands[name]
    assert len(ours) == len(casa) == len(COMMANDS)
    for i, (a, b) in enumerate(zip(ours, casa)):
        if a != b and "timerange" in a and a.startswith(b):
            # CASA cuts a command it lengthened to the original length (a bug):
            # "... timerange='10:00:00~11:00" -- ours keeps the whole command
            continue
        assert a == b, f"{name} command {i}: ours {a!r}, CASA {b!r}"


@pytest.mark.parametrize("kw,expected", [
    (dict(spw="1"), ["antenna='ea01' spw='0:3~5'", "", "", "mode='clip' clipminmax=[0,1]",
                     "spw='0:2~4;8~10'", "spw='0:0~3'",
                     "mode='manual'  timerange='10:00:00~11:00:00'",
                     "spw='0:4~11' antenna='ea02'", "", "", "spw='0'", ""]),
    (dict(spw="1,2", width=4), ["antenna='ea01' spw='0:0~1'", "spw='1:0~3'", "spw='1:0~3'",
                                "mode='clip' clipminmax=[0,1]", "spw='0~1:0~2'",
                                "spw='0~1:0'",
                                "mode='manual' spw='0:0~3' timerange='10:00:00~11:00:00'",
                                "spw='0:1~2' antenna='ea02'", "spw='0:0~3'", "spw='1:0'",
                                "spw='0~1:0~3'", ""]),
])
def test_flag_cmd_rewritten(vis, tmp_path, kw, expected):
    """Written out by hand from the rules (no CASA needed): channels are ranks
    among the selected channels divided by the bin; spws not in the output are
    dropped; a command naming only such spws, or a spw with none of its channels
    left, becomes ''."""
    from casashell.tasks import split
    out = str(tmp_path / "o.ms")
    split(vis=vis, outputvis=out, datacolumn="data", **kw)
    assert _commands(out) == expected


def test_flag_cmd_unchanged_without_spw_change(vis, tmp_path):
    from casashell.tasks import split
    out = str(tmp_path / "o.ms")
    split(vis=vis, outputvis=out, datacolumn="data", field="0")
    assert _commands(out) == COMMANDS
