"""importuvfits: convert a random-group UVFITS file into a MeasurementSet."""

from __future__ import annotations

from ._framework import Param, task


@task(summary="Convert a UVFITS file to a CASA visibility data set", category="import/export",
      params=[
          Param("fitsfile", "path", "", "Name of the input UVFITS file"),
          Param("vis", "newpath", "", "Name of the output MeasurementSet"),
          Param("antnamescheme", "string", "old", "VLA/EVLA antenna names: 'old' (the "
                "antenna number, e.g. '4') or 'new' ('EA04'); other arrays get the number "
                "either way; the AIPS name goes to STATION",
                allowed=["old", "new"]),
      ],
      history="vis")
def importuvfits(fitsfile, vis, antnamescheme):
    import os
    import shutil
    import time
    from ..logsink import casalog
    from ..ms.uvfits import uvfits_to_ms

    if not vis:
        raise ValueError("the vis parameter (output MeasurementSet) must be given")
    target = os.path.abspath(os.path.expanduser(vis))
    if os.path.exists(target):
        raise FileExistsError(f"output MeasurementSet {vis} already exists; remove it or "
                              f"choose another name")
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"directory {folder} for the output MS does not exist")
    tmp = os.path.join(folder, f".{os.path.basename(target)}.importuvfits-{os.getpid()}")
    t0 = time.time()
    done = False
    try:
        info = uvfits_to_ms(fitsfile, tmp, antnamescheme=antnamescheme)
        os.rename(tmp, target)
        done = True
    finally:
        if not done and os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    casalog.post(f"{fitsfile}: {info['ngroups']} groups -> {info['nrows']} rows in {vis} "
                 f"({info['nspw']} spectral window(s) of {info['nchan']} channels, "
                 f"{info['ncorr']} correlations, {info['nfield']} field(s), "
                 f"{info['nant']} antennas) in {time.time() - t0:.2f} s")
    return None
