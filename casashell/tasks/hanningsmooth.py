"""hanningsmooth: a new MS with Hanning-smoothed spectra."""

from __future__ import annotations

from ._framework import Param, task
from .split import _SEL


@task(summary="Hanning smooth frequency channel data to remove Gibbs ringing",
      category="manipulation",
      params=[
          Param("vis", "path", "", "Name of input MeasurementSet or Multi-MS"),
          Param("outputvis", "newpath", "", "Name of output MeasurementSet or Multi-MS"),
          Param("keepmms", "bool", True, "Create a Multi-MS as the output if the input is a Multi-MS"),
          *_SEL,
          Param("smooth_spw", ["string", "stringVec", "int", "intVec"], "",
                "Spectral windows to smooth (default: all selected); the others are copied"),
          Param("datacolumn", "string", "all", "Input data column(s) to process",
                allowed=["all", "data", "corrected", "model", "float_data"]),
      ],
      history="outputvis")
def hanningsmooth(vis, outputvis, keepmms, field, spw, scan, antenna, correlation, timerange,
                  intent, array, uvrange, observation, feed, smooth_spw, datacolumn):
    from ..logsink import casalog
    from ..ms.writer import check_new_output
    from .split import _run_split

    out = check_new_output(outputvis)
    values = dict(field=field, spw=spw, scan=scan, antenna=antenna, correlation=correlation,
                  timerange=timerange, intent=intent, array=array, uvrange=uvrange,
                  observation=observation, feed=feed)
    hanning = True
    from ..ms.transform_params import sel_text
    if sel_text(smooth_spw).strip():
        from ..ms.selection import select
        hanning = set(select(vis, spw=sel_text(smooth_spw)).spws)
    if datacolumn.lower() == "corrected":
        from casacore import tables as ct
        with ct.table(vis, ack=False) as t:
            if "CORRECTED_DATA" not in t.colnames():
                casalog.post("Input CORRECTED_DATA does not exist. Will use DATA", "WARN")
                datacolumn = "data"
    casalog.post("Hanning smoothing the spectra of " + vis)
    # as CASA 6.7 (compared live): the output is re-indexed like split's (a spw or
    # field selection leaves only the selected ids, numbered from 0)
    _run_split(vis, out, values, datacolumn, True, 1, "0s", "", casalog, hanning=hanning)
    return None
