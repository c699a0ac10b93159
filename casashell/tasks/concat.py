"""concat: concatenate several MeasurementSets into one."""

from __future__ import annotations

from ._framework import Param, task


@task(summary="Concatenate several visibility data sets",
      category="manipulation",
      params=[
          Param("vis", ["string", "stringVec"], "", "Name of input visibility files to be concatenated"),
          Param("concatvis", "newpath", "", "Name of output visibility file"),
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

    given = [vis] if isinstance(vis, str) else list(vis)
    given = [v for v in given if str(v).strip()]
    inputs = [check_ms(v) for v in given]
    # as CASA (which compares the names as given): the same MS twice is refused;
    # here also when spelled differently (trailing slash, relative/absolute, symlink)
    seen = {}
    for v, p in zip(given, inputs):
        real = os.path.realpath(p)
        if real in seen:
            first = str(seen[real])
            also = "" if str(v).rstrip("/") == first.rstrip("/") else f" (also as {v})"
            raise ValueError(f"{first}{also} is contained in the list more than once")
        seen[real] = v
    if not inputs:
        raise ValueError("vis: give the MeasurementSets to concatenate")
    if not isinstance(concatvis, str) or not concatvis.strip():
        raise ValueError("concatvis must be the name of the output MeasurementSet")
    target = os.path.abspath(os.path.expanduser(concatvis.rstrip("/")))
    if not os.path.isdir(os.path.dirname(target)):
        raise FileNotFoundError(f"The directory {os.path.dirname(target)} of concatvis "
                                f"does not exist")
    weights = [float(x) for x in visweightscale] if visweightscale else None
    if weights is not None:
        if len(weights) != len(inputs):
            raise ValueError("parameter visweightscale must have same number of elements as "
                             "parameter vis")
        if any(w < 0 for w in weights):
            raise ValueError("parameter visweightscale must only contain positive numbers")
    # as CASA: the MSs are concatenated in chronological order (earliest integration)
    from casacore import tables as ct
    starts = []
    for v in inputs:
        with ct.table(v, ack=False) as t:
            starts.append(float(t.getcol("TIME").min()) if t.nrows() else float("inf"))
    order = sorted(range(len(inputs)), key=lambda i: starts[i])
    if order != list(range(len(inputs))):
        casalog.post("The list of input MSs is not in chronological order and needed to be "
                     "sorted; the order is: " + ", ".join(inputs[i] for i in order))
        inputs = [inputs[i] for i in order]
        if weights is not None:
            weights = [weights[i] for i in order]
    appending = os.path.exists(target)
    weights_for_target = False
    if appending and target in inputs:
        if inputs[0] != target:
            raise RuntimeError("If concatvis is set to the name of an existing MS in vis, it "
                               "must be the chronologically first. I.e. in this case you "
                               f"should set concatvis to {inputs[0]}")
        k = inputs.index(target)
        inputs.pop(k)
        if weights is not None:
            weights = [weights[k]] + weights[:k] + weights[k + 1:]
            weights_for_target = True
    if appending:
        # as CASA: an existing concatvis is the first MS and the others are appended
        check_ms(target)
        inputs = [target] + inputs
        if weights is not None and not weights_for_target:
            weights = [1.0] + weights
        casalog.post(f"Will be concatenating into the existing ms {concatvis}", "WARN")
    ftol = tc.parse_quantity(freqtol, tc._FREQ, 1.0, "freqtol")
    dtol = tc.parse_quantity(dirtol, tc._ANG, tc._ANG["mas"], "dirtol")
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
