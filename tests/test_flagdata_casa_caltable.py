"""flagdata on calibration tables compared with live CASA 6.7.

CASA itself makes the tables from a copy of pyuvdata's day2 MS (gaincal
'G' per integration: CPARAM 2 x 1, ANTENNA2 = reference antenna; gaincal
'K': FPARAM, ANTENNA2 = -1; bandpass: CPARAM 2 x 64) and from a synthetic
MS with several fields and scans (gaincal 'G'), then runs every
case on a fresh copy; the same cases run here on copies of the same
tables and the FLAG columns are compared cell by cell.
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from casacore import tables as ct

from casa_ref import requires_casa, run_casa
from conftest import DATA_DIR

pytestmark = requires_casa

DAY2 = "day2_TDEM0003_10s_norx_1scan.ms"

G_CASES = [
    dict(mode="manual", antenna="1"), dict(mode="manual", antenna="15"),
    dict(mode="manual", antenna="1&15"), dict(mode="manual", antenna="15&&&"),
    dict(mode="manual", antenna="!1"), dict(mode="manual", antenna="0"),
    dict(mode="manual", antenna="1,2;3"), dict(mode="manual", spw="1"),
    dict(mode="manual", timerange="03:22:00~03:23:00"), dict(mode="manual", scan="1"),
    dict(mode="manual", field="0", observation="0"), dict(mode="manual", autocorr=True),
    dict(mode="clip", datacolumn="CPARAM", clipminmax=[0, 0.05], correlation="ABS_Sol1"),
    dict(mode="clip", datacolumn="CPARAM", clipminmax=[0, 0.05], correlation="Sol2"),
    dict(mode="clip", datacolumn="CPARAM", clipminmax=[0, 0.05]),
    dict(mode="clip", datacolumn="CPARAM", clipminmax=[0, 0.05], correlation="ABS_RR"),
    dict(mode="clip", datacolumn="CPARAM", clipminmax=[-0.5, 0.5], correlation="ARG_ALL"),
    dict(mode="clip", datacolumn="CPARAM", clipminmax=[-0.5, 0.5], correlation="ARG_Sol1"),
    dict(mode="clip", datacolumn="CPARAM", clipminmax=[0.9, 1.1], correlation="NORM_Sol2"),
    dict(mode="clip", datacolumn="CPARAM", clipminmax=[0.9, 1.1], correlation="ABS_Sol1,Sol2"),
    dict(mode="clip", datacolumn="CPARAM", clipminmax=[0, 0.05], clipoutside=False),
    dict(mode="clip", datacolumn="CPARAM", clipzeros=True, clipminmax=[0, 0.05]),
    dict(mode="clip", datacolumn="SNR", clipminmax=[5, 1000]),
    dict(mode="quack", quackinterval=20.0), dict(mode="quack", quackinterval=20.0,
                                                 quackmode="endb"),
    dict(mode="extend", growtime=50.0), dict(mode="unflag"),
    dict(mode="unflag", antenna="5"),
    dict(mode="list", inpfile=["antenna='2'", "mode='clip' datacolumn='CPARAM' "
                               "clipminmax=[0, 0.05] correlation='ABS_Sol2'"]),
    dict(mode="tfcrop", datacolumn="CPARAM"), dict(mode="rflag", datacolumn="CPARAM"),
    dict(mode="tfcrop", datacolumn="CPARAM", extendflags=False),
]
K_CASES = [
    dict(mode="clip", datacolumn="FPARAM", clipminmax=[-1, 1]),
    dict(mode="clip", datacolumn="FPARAM", clipminmax=[-1, 1], correlation="Sol1"),
    dict(mode="clip", datacolumn="FPARAM", clipminmax=[0, 1], correlation="ABS_Sol2"),
    dict(mode="clip", datacolumn="FPARAM", clipminmax=[-1, 1], correlation="NORM_Sol2"),
    dict(mode="manual", antenna="3"),
]
B_CASES = [
    dict(mode="manual", spw="0:0~9"), dict(mode="manual", spw="1:10~20;30"),
    dict(mode="manual", spw="*:60~63"),
    dict(mode="clip", datacolumn="CPARAM", clipminmax=[0.5, 2.0], correlation="ABS_Sol1",
         spw="0:5~40"),
    # tfcrop: one pass per solution element; rflag: one over the named elements
    dict(mode="tfcrop", datacolumn="CPARAM"),
    dict(mode="tfcrop", datacolumn="CPARAM", correlation="ABS_Sol1", extendflags=False),
    dict(mode="tfcrop", datacolumn="CPARAM", correlation="Sol2"),
    dict(mode="rflag", datacolumn="CPARAM"), dict(mode="rflag", datacolumn="CPARAM",
                                                 extendflags=False),
    dict(mode="rflag", datacolumn="CPARAM", correlation="Sol2"),
    dict(mode="rflag", datacolumn="CPARAM", freqdev=1.0),
    # CASA 6.7 does not average calibration tables: channelavg/timeavg do nothing
    dict(mode="clip", datacolumn="CPARAM", clipminmax=[0, 0.05], channelavg=True, chanbin=4),
    dict(mode="rflag", datacolumn="CPARAM", channelavg=True, chanbin=4),
    dict(mode="tfcrop", datacolumn="CPARAM", timeavg=True, timebin="100s"),
]
# a table from a synthetic MS with 3 fields in 5 scans (solutions per integration)
S_CASES = [
    dict(mode="manual", field="1"), dict(mode="manual", scan="2,3"),
    dict(mode="manual", field="J1407+2827"), dict(mode="manual", scan="<3"),
    dict(mode="manual", field="0", antenna="ea02"), dict(mode="manual", field="2~3"),
    dict(mode="quack", quackinterval=15.0), dict(mode="quack", quackinterval=15.0,
                                                 quackmode="endb"),
    dict(mode="manual", timerange="06:02:00~06:05:00"),
]
SUMMARIES = [("g.cal", {}), ("k.cal", {}), ("b.cal", dict(spwchan=True)),
             ("g.cal", dict(spwcorr=True, antenna="1,2,3")), ("g.cal", dict(basecnt=True)),
             ("k.cal", dict(basecnt=True, fieldcnt=True)), ("s.cal", dict(fieldcnt=True))]


def _cases():
    return [("g.cal", c) for c in G_CASES] + [("k.cal", c) for c in K_CASES] + \
        [("b.cal", c) for c in B_CASES] + [("s.cal", c) for c in S_CASES]


@pytest.fixture(scope="module")
def casa(tmp_path_factory):
    from casashell.ms.generate import make_ms

    work = tmp_path_factory.mktemp("casacal")
    shutil.copytree(os.path.join(DATA_DIR, DAY2), work / "d.ms")
    make_ms(str(work / "s.ms"), nant=6, nfield=3, nscan=5, nspw=2, nchan=8, ncorr=4,
            ntimes_per_scan=6, seed=4, autocorr=False)
    code = f"""
import os, shutil
from casatasks import gaincal, bandpass, flagdata, flagmanager
import casatasks
gaincal(vis='d.ms', caltable='g.cal', solint='int', refant='15', calmode='ap', gaintype='G')
gaincal(vis='d.ms', caltable='k.cal', solint='inf', refant='15', gaintype='K')
bandpass(vis='d.ms', caltable='b.cal', solint='inf', refant='15')
gaincal(vis='s.ms', caltable='s.cal', solint='int', refant='ea01', gaintype='G',
        calmode='ap', minsnr=0)
os.makedirs('pristine')
for n in ('g.cal', 'k.cal', 'b.cal', 's.cal'):
    shutil.copytree(n, 'pristine/' + n)
cases = {_cases()!r}
for i, (name, c) in enumerate(cases):
    dst = f'casa_{{i}}_' + name
    shutil.copytree(name, dst)
    flagdata(vis=dst, **c)
summ = []
for name, c in {SUMMARIES!r}:
    summ.append(flagdata(vis=name, mode='summary', **c))
# a version saved by flagdata, listed and restored by CASA's flagmanager
shutil.copytree('g.cal', 'fm.cal')
flagdata(vis='fm.cal', mode='manual', antenna='2')
fm = flagmanager(vis='fm.cal', mode='list')
result = {{'summaries': summ, 'fm': {{str(k): v for k, v in fm.items() if k != 'MS'}},
          'fm_dirs': sorted(os.listdir('fm.cal.flagversions'))}}
"""
    res = run_casa(code, str(work))
    return work, res


def _flags(path):
    with ct.table(str(path), ack=False) as t:
        return t.getcol("FLAG")


@pytest.mark.parametrize("i", range(len(_cases())))
def test_same_flags_as_casa(casa, tmp_path, i):
    from casashell.tasks import flagdata

    work, _ = casa
    name, c = _cases()[i]
    ours = tmp_path / name
    shutil.copytree(work / "pristine" / name, ours)
    flagdata(vis=str(ours), **c)
    theirs = _flags(work / f"casa_{i}_{name}")
    mine = _flags(ours)
    before = _flags(work / "pristine" / name)
    assert np.array_equal(mine, theirs), (c, int(mine.sum()), int(theirs.sum()),
                                          int(before.sum()))
    assert os.path.isdir(str(ours) + ".flagversions")


def test_summaries_equal_casa(casa):
    from casashell.tasks import flagdata

    work, res = casa
    for (name, c), theirs in zip(SUMMARIES, res["summaries"]):
        mine = flagdata(vis=str(work / "pristine" / name), mode="summary", **c)
        assert json.loads(json.dumps(mine, sort_keys=True)) == \
            json.loads(json.dumps(theirs, sort_keys=True)), (name, c)


def test_flagmanager_versions_like_casa(casa, tmp_path):
    from casashell.tasks import flagdata, flagmanager

    work, res = casa
    cal = tmp_path / "g.cal"
    shutil.copytree(work / "pristine" / "g.cal", cal)
    before = _flags(cal)
    flagdata(vis=str(cal), mode="manual", antenna="2")
    assert sorted(os.listdir(str(cal) + ".flagversions")) == res["fm_dirs"]
    lst = flagmanager(vis=str(cal), mode="list")
    assert [lst[0]["name"]] == [v["name"] for v in res["fm"].values()]
    # CASA restores the version casashell saved
    code = f"""
from casatasks import flagmanager
from casatools import table
flagmanager(vis={str(cal)!r}, mode='restore', versionname='flagdata_1')
tb = table(); tb.open({str(cal)!r}); result = int(tb.getcol('FLAG').sum()); tb.close()
"""
    assert run_casa(code, str(tmp_path)) == int(before.sum())
