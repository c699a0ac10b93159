"""listvis: the selected visibilities of a MeasurementSet as a table."""

from __future__ import annotations

from ._framework import NONEMPTY, Param, task

_SEL = ["antenna", "timerange", "correlation", "scan", "feed", "array", "observation",
        "uvrange"]


@task(
    summary="List measurement set visibilities.",
    category="information",
    params=[
        Param("vis", "path", "", "Name of input visibility file"),
        Param("options", "string", "ap", "List options: ap only"),
        Param("datacolumn", "string", "data", "Column to list: data, float_data, corrected, "
              "model, residual (corrected - model)",
              allowed=["data", "float_data", "corrected", "model", "residual"]),
        Param("field", ["string", "stringVec"], "", "Field names or ids to list. ''=all"),
        Param("spw", ["string", "stringVec"], "", "Spectral windows:channels to list. ''=all"),
        Param("selectdata", "bool", True, "Other data selection parameters",
              sub={True: _SEL}),
        Param("antenna", ["string", "stringVec"], "", "Antenna/baselines to list. ''=all"),
        Param("timerange", ["string", "stringVec"], "", "Time range to list. ''=all"),
        Param("correlation", ["string", "stringVec"], "", "Correlations to list. ''=all"),
        Param("scan", ["string", "stringVec"], "", "Scan numbers to list. ''=all"),
        Param("feed", ["string", "stringVec"], "", "Multi-feed numbers (not used)"),
        Param("array", ["string", "stringVec"], "", "(Sub)array numbers. ''=all"),
        Param("observation", ["string", "int"], "", "Observation ID(s). ''=all"),
        Param("uvrange", ["string", "stringVec"], "",
              "uv range to list (default unit meters; listed UVDist is in wavelengths)"),
        Param("average", "string", "", "'' (no averaging) or 'chan' (average the selected "
              "channels of each row)", allowed=["", "chan"]),
        Param("showflags", "bool", False, "Kept for CASA compatibility: flagged data are "
              "always listed, marked F"),
        Param("pagerows", "int", 50, "Rows per page (column header repeated); 0: one page",
              range=(0, None)),
        Param("listfile", "newpath", "", "Write the listing to this file (not to the "
              "terminal); an existing file is not overwritten", sub={NONEMPTY: ["overwrite"]}),
        Param("overwrite", "bool", False, "Replace listfile if it exists"),
    ],
    history=None,
)
def listvis(vis, options, datacolumn, field, spw, selectdata, antenna, timerange,
            correlation, scan, feed, array, observation, uvrange, average, showflags,
            pagerows, listfile, overwrite):
    import os
    import sys

    from ..logsink import casalog
    from ..ms.listing_vis import VisLister
    from ..ms.selection import select
    from ..ms.summary import check_ms
    from .listobs import selection_text

    path = check_ms(vis)
    if options.strip().lower() not in ("", "ap"):
        raise ValueError(f"options '{options}' is not supported (only 'ap': amplitude "
                         f"and phase)")
    out_path = None
    if listfile:
        out_path = os.path.abspath(os.path.expanduser(listfile))
        if os.path.exists(out_path) and not overwrite:
            raise FileExistsError(f"listfile {listfile} already exists; "
                                  f"set overwrite=True to replace it")
        if not os.path.isdir(os.path.dirname(out_path)):
            raise FileNotFoundError(f"listfile {listfile}: directory "
                                    f"{os.path.dirname(out_path)} does not exist")
    sel = dict(field=field, spw=spw)
    if selectdata:
        sel.update(antenna=antenna, timerange=timerange, correlation=correlation, scan=scan,
                   feed=feed, array=array, observation=observation, uvrange=uvrange)
    sel = {k: selection_text(v) for k, v in sel.items() if selection_text(v).strip()}
    selection = select(path, **sel)
    lister = VisLister(path, selection, datacolumn=datacolumn, average=average,
                       pagerows=pagerows)
    nblocks = 0
    try:
        if out_path:
            tmp = f"{out_path}.tmp{os.getpid()}"
            try:
                with open(tmp, "w", encoding="utf-8") as fh:
                    for block in lister.pages():
                        fh.write(block + "\n")
                        nblocks += 1
                os.replace(tmp, out_path)
            finally:
                if os.path.exists(tmp):
                    os.remove(tmp)
            casalog.post(f"Listed {selection.nrows} selected rows of {path} "
                         f"({datacolumn}) to {out_path}")
        else:
            for block in lister.pages():
                sys.stdout.write(block + "\n")
            sys.stdout.flush()
            casalog.post(f"Listed {selection.nrows} selected rows of {path} ({datacolumn})")
    finally:
        lister.close()
    return None
