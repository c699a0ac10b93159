"""exportuvfits: write a MeasurementSet as a random-group UVFITS file."""

from __future__ import annotations

from ._framework import Param, task


@task(summary="Convert a CASA visibility data set to a UVFITS file",
      category="import/export",
      params=[
          Param("vis", "path", "", "Name of input visibility file (MS)"),
          Param("fitsfile", "newpath", "", "Name of the output UVFITS file"),
          Param("datacolumn", "string", "corrected", "Data column to write: data, corrected "
                "(falls back to DATA when there is no CORRECTED_DATA) or model",
                allowed=["data", "corrected", "model"]),
          Param("field", ["string", "int", "intVec"], "", "Field selection"),
          Param("spw", ["string", "int", "intVec"], "", "Spectral window selection (whole "
                "windows; they must have equal channel counts)"),
          Param("antenna", ["string", "int", "intVec"], "", "Antenna/baseline selection"),
          Param("timerange", "string", "", "Time range selection"),
          Param("writesyscal", "bool", False, "Write GC and TY tables (not supported: must "
                "be False)"),
          Param("multisource", "bool", True, "Write a multi-source file (SU table and "
                "SOURCE random parameter)"),
          Param("combinespw", "bool", True, "Write the spectral windows as IFs of one "
                "group (False: one FREQSEL per window)"),
          Param("writestation", "bool", True, "Write station names (not antenna names) "
                "as the AIPS antenna names"),
          Param("padwithflags", "bool", True, "With combinespw, fill missing windows "
                "with flagged data (False: drop incomplete groups)"),
          Param("overwrite", "bool", False, "Replace an existing fitsfile"),
      ],
      history=None)
def exportuvfits(vis, fitsfile, datacolumn, field, spw, antenna, timerange, writesyscal,
                 multisource, combinespw, writestation, padwithflags, overwrite):
    import os
    import time
    from ..logsink import casalog
    from ..ms.core import check_ms
    from ..ms.selection import select
    from ..ms.uvfits import ms_to_uvfits

    check_ms(vis)
    if not fitsfile:
        raise ValueError("the fitsfile parameter (output UVFITS file) must be given")
    if writesyscal:
        raise ValueError("writesyscal=True is not supported (no GC/TY tables are written)")
    target = os.path.abspath(os.path.expanduser(fitsfile))
    if os.path.exists(target) and not overwrite:
        raise FileExistsError(f"output file {fitsfile} exists and overwrite=False")
    if os.path.isdir(target):
        raise FileExistsError(f"output {fitsfile} is a directory")
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"directory {folder} for the output file does not exist")

    def text(v):
        if isinstance(v, (list, tuple)):
            return ",".join(str(x) for x in v)
        return str(v)

    rows = None
    if any(text(x) for x in (field, spw, antenna, timerange)):
        sel = select(vis, field=text(field), spw=text(spw), antenna=text(antenna),
                     timerange=timerange)
        partial = [s for s, m in sel.channels.items() if not m.all()]
        if partial:
            raise ValueError(f"spw selection '{text(spw)}': exportuvfits writes whole spectral "
                             f"windows; channel selections are not supported (use split first)")
        rows = sel.rows
    tmp = os.path.join(folder, f".{os.path.basename(target)}.exportuvfits-{os.getpid()}")
    t0 = time.time()
    try:
        info = ms_to_uvfits(vis, tmp, datacolumn=datacolumn, rows=rows,
                            multisource=multisource, combinespw=combinespw,
                            writestation=writestation, padwithflags=padwithflags,
                            log=lambda m, p="INFO": casalog.post(m, p))
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    casalog.post(f"{vis}: {info['nrows']} rows -> {info['ngroups']} groups in {fitsfile} "
                 f"({info['nif']} IF(s) x {info['nchan']} channels x {info['ncorr']} "
                 f"correlations, {info['nfield']} source(s)) in {time.time() - t0:.2f} s")
    return None
