"""importuvfits antnamescheme: antenna NAME/STATION of every pyuvdata UVFITS file.

CASA 6.7 names antennas 'EA04' only for VLA data with antnamescheme='new'; for all
other arrays (MWA, HERA, PAPER) and with 'old' it names them by their AIPS number
(NOSTA), and the AIPS name (ANNAME) goes to STATION (QA report 2, item 6).
"""

from __future__ import annotations

import glob
import json
import os

import numpy as np
import pytest

from casa_ref import requires_casa, run_casa
from conftest import DATA_DIR

FITS = sorted(os.path.basename(f)[:-7] for f in glob.glob(os.path.join(DATA_DIR or "", "*.uvfits")))
#: CASA refuses it ("Stokes I cannot be decomposed ...")
CASA_REFUSES = {"test_redundant_array"}


def _names(vis):
    from casacore import tables as ct
    with ct.table(os.path.join(vis, "ANTENNA"), ack=False) as t:
        return [list(t.getcol("NAME")), list(t.getcol("STATION"))]


@pytest.mark.parametrize("scheme", ["old", "new"])
def test_mwa_antennas_named_by_number(tmp_path, scheme):
    from astropy.io import fits
    from casashell.tasks import importuvfits
    f = os.path.join(DATA_DIR, "1061316296.uvfits")
    vis = str(tmp_path / "m.ms")
    importuvfits(fitsfile=f, vis=vis, antnamescheme=scheme)
    with fits.open(f) as h:
        an = h["AIPS AN"].data
        nosta = np.asarray(an["NOSTA"], dtype=int)
        anname = [str(x).strip() for x in an["ANNAME"]]
    names, stations = _names(vis)
    assert len(names) == nosta.max()
    for n, a in zip(nosta, anname):
        assert names[n - 1] == str(n)
        assert stations[n - 1] == a
    assert anname[0].startswith("Tile")


@requires_casa
def test_antenna_names_same_as_casa(tmp_path):
    from casashell.tasks import importuvfits
    names = [n for n in FITS if n not in CASA_REFUSES]
    code = f"""
import os
from casatasks import importuvfits
from casatools import table
tb = table()
result = {{}}
for n in {names!r}:
    for s in ('old', 'new'):
        ms = n + '_' + s + '.ms'
        importuvfits(fitsfile=os.path.join({DATA_DIR!r}, n + '.uvfits'), vis=ms,
                     antnamescheme=s)
        tb.open(ms + '/ANTENNA')
        result[n + ':' + s] = [list(tb.getcol('NAME')), list(tb.getcol('STATION'))]
        tb.close()
        os.system('rm -rf ' + ms)
"""
    casa = run_casa(code, str(tmp_path))
    assert len(casa) == 2 * len(names) >= 18
    ours = {}
    for n in names:
        for s in ("old", "new"):
            vis = str(tmp_path / f"{n}_{s}_ours.ms")
            importuvfits(fitsfile=os.path.join(DATA_DIR, n + ".uvfits"), vis=vis,
                         antnamescheme=s)
            ours[f"{n}:{s}"] = _names(vis)
    assert json.loads(json.dumps(ours)) == casa
    # the schemes differ only for the VLA files
    differ = {n for n in names if casa[n + ":old"][0] != casa[n + ":new"][0]}
    assert differ == {n for n in names if n.startswith(("day2", "multi_subarray"))}
