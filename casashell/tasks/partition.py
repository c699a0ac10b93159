"""partition: write a Multi-MS (a reference MS over sub-MSs in SUBMSS/)."""

from __future__ import annotations

from ._framework import Param, task
from .split import _SEL


@task(summary="Task to produce Multi-MSs using parallelism",
      category="manipulation",
      params=[
          Param("vis", "path", "", "Name of input MeasurementSet"),
          Param("outputvis", "newpath", "", "Name of output Multi-MS"),
          Param("createmms", "bool", True, "Create a Multi-MS (False: a normal MS, as split)",
                sub={True: ["separationaxis", "numsubms", "flagbackup"]}),
          Param("separationaxis", "string", "auto",
                "Axis to do parallelization across (scan, spw, baseline, auto)",
                allowed=["auto", "scan", "spw", "baseline"]),
          Param("numsubms", ["string", "int"], "auto",
                "The number of Sub-MSs to create (auto or any number)",
                check=lambda v: None if (isinstance(v, int) and v > 0) or
                (isinstance(v, str) and v.strip().lower() == "auto")
                else "must be 'auto' or a positive integer"),
          Param("flagbackup", "bool", True, "Make a backup of the FLAG column of each sub-MS"),
          Param("datacolumn", "string", "all", "Which data column(s) to process",
                allowed=["all", "data", "corrected", "model", "float_data"]),
          *_SEL,
          Param("disableparallel", "bool", False,
                "Hidden parameter: True writes the sub-MSs one after the other in this "
                "process (no dask workers)"),
          Param("ddistart", "int", -1, "Hidden parameter for internal use only (no effect)"),
          Param("taql", "string", "", "Table query for nested selections (a TaQL WHERE "
                "expression)"),
      ],
      history="outputvis")
def partition(vis, outputvis, createmms, separationaxis, numsubms, flagbackup, datacolumn,
              field, spw, scan, antenna, correlation, timerange, intent, array, uvrange,
              observation, feed, disableparallel, ddistart, taql):
    from ..logsink import casalog
    from ..ms.writer import check_new_output

    out = check_new_output(outputvis)
    values = dict(field=field, spw=spw, scan=scan, antenna=antenna, correlation=correlation,
                  timerange=timerange, intent=intent, array=array, uvrange=uvrange,
                  observation=observation, feed=feed)
    if not createmms:
        from .split import _run_split
        if taql and str(taql).strip():
            raise ValueError("partition: taql needs createmms=True (or use mstransform "
                             "with taql)")
        return _run_split(vis, out, values, datacolumn, True, 1, "0s", "", casalog)
    from ..parallel.partitioning import write_mms
    info = write_mms(vis, out, values, separationaxis.lower(), numsubms, datacolumn,
                     flagbackup, taql=taql, serial=bool(disableparallel))
    casalog.post(f"Wrote the Multi-MS {out}: {info['nsubms']} sub-MSs, {info['nrows']} rows, "
                 f"separation axis '{info['axis']}'")
    return None
