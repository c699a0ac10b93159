"""concat: concatenate several MeasurementSets into one."""

from __future__ import annotations

from ._framework import Param, task


@task(summary="Concatenate several visibility data sets",
      category="manipulation",
      params=[
          Param("vis", ["string", "stringVec"], "", "Name of input visibility files to be concatenated"),
          Param("concatvis", "string", "", "Name of output visibility file"),
          Param("freqtol", ["string", "double"], "", "Frequency shift tolerance for considering data as the same spwid"),
          Param("dirtol", ["string", "double"], "", "Direction shift tolerance for considering data as the same field"),
          Param("respectname", "bool", False, "If true, fields with a different name are not merged even if their direction agrees"),
          Param("timesort", "bool", False, "If true, sort by TIME in ascending order"),
          Param("copypointing", "bool", True, "Copy all rows of the POINTING table."),
          Param("visweightscale", "doubleVec", [], "List of the weight scaling factors to be applied to the individual MSs"),
          Param("forcesingleephemfield", ["string", "stringVec", "int", "intVec"], "", "Make sure that there is only one joint ephemeris for every field in this list"),
      ],
      history="concatvis")
def concat(vis, concatvis, freqtol, dirtol, respectname, timesort, copypointing,
           visweightscale, forcesingleephemfield):
    import os
    import shutil
    import uuid

    from ..logsink import casalog
    from ..ms.core import check_ms
    from ..ms import transform_concat as tc

    inputs = [vis] if isinstance(vis, str) else list(vis)
    inputs = [check_ms(v) for v in inputs if str(v).strip()]
    if not inputs:
        raise ValueError("vis: give the MeasurementSets to concatenate")
    if not isinstance(concatvis, str) or not concatvis.strip():
        raise ValueError("concatvis must be the name of the output MeasurementSet")
    target = os.path.abspath(os.path.expanduser(concatvis.rstrip("/")))
    if not os.path.isdir(os.path.dirname(target)):
        raise FileNotFoundError(f"The directory {os.path.dirname(target)} of concatvis "
                                f"does not exist")
    appending = os.path.exists(target)
    if appending:
        # as CASA: an existing concatvis is the first MS and the others are appended
        check_ms(target)
        if target in inputs:
            raise ValueError(f"concatvis {concatvis} is also one of the inputs")
        inputs = [target] + inputs
        casalog.post(f"{concatvis} exists: the input MSs are appended to it")
    ftol = tc.parse_quantity(freqtol, tc._FREQ, 1.0, "freqtol")
    dtol = tc.parse_quantity(dirtol, tc._ANG, tc._ANG["mas"], "dirtol")
    weights = [float(x) for x in visweightscale] if visweightscale else None
    dest = target if not appending else \
        os.path.join(os.path.dirname(target), f".{os.path.basename(target)}.new-{uuid.uuid4().hex[:8]}")
    n = tc.concat(inputs, dest, freqtol=ftol, dirtol=dtol, respectname=respectname,
                  timesort=timesort, copypointing=copypointing, scales=weights,
                  log=lambda m, p="INFO": casalog.post(m, p))
    if appending:
        old = dest + ".old"
        os.rename(target, old)
        try:
            os.rename(dest, target)
        except BaseException:
            os.rename(old, target)
            shutil.rmtree(dest, ignore_errors=True)
            raise
        shutil.rmtree(old, ignore_errors=True)
    casalog.post(f"Wrote {n} rows from {len(inputs)} MeasurementSets to {target}")
    return None
