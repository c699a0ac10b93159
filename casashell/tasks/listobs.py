"""listobs: the summary of a MeasurementSet, in CASA's layout."""

from __future__ import annotations

from ._framework import NONEMPTY, Param, task

SELECTION = ["spw", "field", "antenna", "uvrange", "timerange", "correlation", "scan",
             "intent", "feed", "array", "observation"]


def selection_text(value) -> str:
    """A selection parameter given as a list (or an int) as one string."""
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return "" if value is None else str(value)


def select_rows(vis: str, sel: dict):
    """Row numbers selected by the (non-empty) CASA selection ``sel``, or None
    for 'all rows'.  Raises ValueError for a selection that is malformed or
    matches nothing."""
    sel = {k: selection_text(v) for k, v in sel.items()}
    if not any(v.strip() for v in sel.values()):
        return None
    from ..ms.selection import select
    res = select(vis, **{k: v for k, v in sel.items() if v.strip()})
    return res.rows


def write_listfile(listfile: str, text: str, overwrite: bool) -> str:
    """Write ``text`` to ``listfile`` (temporary file + rename)."""
    import os
    path = os.path.abspath(os.path.expanduser(listfile))
    if os.path.isdir(path):
        raise IsADirectoryError(f"listfile {listfile} is a directory")
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"listfile {listfile} already exists; "
                              f"set overwrite=True to replace it")
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"listfile {listfile}: directory {parent} does not exist")
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


_SEL_HELP = {
    "spw": "Selection based on spectral-window/frequency/channel.",
    "field": "Selection based on field names or field index numbers. Default is all.",
    "antenna": "Selection based on antenna/baselines. Default is all.",
    "uvrange": "Selection based on uv range. Default: entire range. Default units: meters.",
    "timerange": "Selection based on time range. Default is entire range.",
    "correlation": "Selection based on correlation. Default is all.",
    "scan": "Selection based on scan numbers. Default is all.",
    "intent": "Selection based on observation intent. Default is all.",
    "feed": "Selection based on multi-feed numbers.",
    "array": "Selection based on (sub)array numbers. Default is all.",
    "observation": "Selection based on observation ID. Default is all.",
}


@task(
    summary="Get the summary of a MeasurementSet and list it in the logger or in a file",
    category="information",
    params=[
        Param("vis", "path", "", "Name of input visibility file (MS)"),
        Param("selectdata", "bool", True, "Data selection parameters",
              sub={True: SELECTION}),
        *[Param(n, ["string", "stringVec"] if n != "observation" else ["string", "int"],
                "", _SEL_HELP[n]) for n in SELECTION],
        Param("verbose", "bool", True,
              "Controls level of information detail reported. True reports more than False."),
        Param("listfile", "newpath", "",
              "Name of disk file to write output. Default is none (output is written to "
              "logger only).", sub={NONEMPTY: ["overwrite"]}),
        Param("listunfl", "bool", False,
              "List unflagged row counts? If True, it can have significant negative impact "
              "on performance."),
        Param("cachesize", "double", 50.0,
              "Maximum size in megabytes of the buffers used while reading the main table.",
              range=(0, None)),
        Param("overwrite", "bool", False, "If True, tacitly overwrite listfile if it exists."),
    ],
    history=None,
)
def listobs(vis, selectdata, spw, field, antenna, uvrange, timerange, correlation, scan,
            intent, feed, array, observation, verbose, listfile, listunfl, cachesize,
            overwrite):
    import os

    from ..logsink import casalog
    from ..ms.summary import check_ms, format_sections, gather, summary_record

    path = check_ms(vis)
    if listfile:
        lf = os.path.abspath(os.path.expanduser(listfile))
        if os.path.exists(lf) and not overwrite:
            raise FileExistsError(f"listfile {listfile} already exists; "
                                  f"set overwrite=True to replace it")
    rows = None
    if selectdata:
        rows = select_rows(path, dict(spw=spw, field=field, antenna=antenna, uvrange=uvrange,
                                      timerange=timerange, correlation=correlation, scan=scan,
                                      intent=intent, feed=feed, array=array,
                                      observation=observation))
    info = gather(path, rows=rows, listunfl=listunfl, chunk_mb=cachesize or 50.0)
    sections = format_sections(info, verbose=verbose)
    for s in sections:
        casalog.post(s)
    if listfile:
        write_listfile(listfile, "\n".join(sections) + "\n", overwrite)
    return summary_record(info)
