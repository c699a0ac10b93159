"""vishead: list, get and put metadata keywords of a MeasurementSet."""

from __future__ import annotations

from ._framework import Param, task

_KEYS = ["cal_grp", "field", "fld_code", "freq_group_name", "log", "observer", "project",
         "ptcs", "release_date", "schedule", "schedule_type", "source_name", "spw_name",
         "telescope"]
_DEFAULT_LIST = ["telescope", "observer", "project", "field", "freq_group_name",
                 "spw_name", "schedule", "schedule_type", "release_date"]


@task(
    summary="List, summary, get, and put metadata in a measurement set",
    category="information",
    params=[
        Param("vis", "path", "", "Name of input visibility file"),
        Param("mode", "string", "summary", "Mode of operation for vishead",
              allowed=["list", "summary", "get", "put", ""],
              sub={"list": ["listitems"], "get": ["hdkey", "hdindex"],
                   "put": ["hdkey", "hdindex", "hdvalue"]}),
        Param("listitems", "stringVec", list(_DEFAULT_LIST),
              "Keyword items to list (list mode); [] lists every keyword"),
        Param("hdkey", "string", "", "Keyword to get/put: " + ", ".join(_KEYS)),
        Param("hdindex", ["string", "int"], "",
              "Row index (counting from 0) of the keyword's table; '' means all rows"),
        Param("hdvalue", "any", "", "Value to put (put mode only)"),
    ],
    history=None,
)
def vishead(vis, mode, listitems, hdkey, hdindex, hdvalue):
    from ..logsink import casalog
    from ..ms.listing import VISHEAD_KEYS, check_key, read_keyword, value_text, write_keyword
    from ..ms.summary import check_ms, format_sections, gather

    path = check_ms(vis)
    mode = (mode or "summary").lower()
    if mode == "summary":
        info = gather(path)
        for s in format_sections(info, verbose=False):
            casalog.post(s)
        return None
    if mode == "list":
        items = list(listitems) if listitems else sorted(VISHEAD_KEYS)
        for k in items:
            check_key(k)
        out = {}
        width = max(len(k) for k in items)
        lines = []
        for k in items:
            key = k.strip().lower()
            value, kws = read_keyword(path, key)
            out[key] = (_as_casa_list_value(path, key, value), kws)
            lines.append(f"    {key:<{width}} = {value_text(value)}")
        casalog.post("\n".join(lines))
        return out
    if not str(hdkey).strip():
        raise ValueError(f"mode='{mode}' needs hdkey (one of {', '.join(sorted(VISHEAD_KEYS))})")
    if mode == "get":
        value, kws = read_keyword(path, hdkey, hdindex)
        key = str(hdkey).strip().lower()
        if str(hdindex).strip() == "":
            return _as_casa_list_value(path, key, value), kws
        return _as_casa_cell(path, key, value), kws
    # put
    write_keyword(path, hdkey, hdvalue, hdindex)
    sub, col = check_key(hdkey)
    where = "all rows" if str(hdindex).strip() == "" else f"row {hdindex}"
    casalog.post(f"Set {hdkey} ({sub}.{col}, {where}) of {path}")
    return None


def _as_casa_cell(path, key, value):
    """One row's value in the form CASA's vishead get returns: a scalar as a
    Python scalar, an array cell in column-major (Fortran) axis order."""
    import numpy as np

    arr = np.asarray(value)
    if arr.ndim == 0:
        return arr.item()
    if arr.size == 0:
        raise RuntimeError(f"hdkey '{key}': the selected row of {path} holds no array")
    return arr.T


def _as_casa_list_value(path, key, value):
    """An array keyword's value in the form CASA's vishead list returns:
    a variable-shaped column as {'r1': cell, 'r2': ...} (each cell in
    casacore's axis order with a trailing row axis of 1, False for an empty or
    undefined cell), a fixed-shaped one as one array with the rows last."""
    import numpy as np

    from ..ms.core import ms_subtable
    from ..ms.listing import check_key

    sub, col = check_key(key)
    t = ms_subtable(path, sub)
    try:
        if col not in t.colnames():
            return value
        desc = t.getcoldesc(col)
    finally:
        t.close()
    if "ndim" not in desc and "shape" not in desc:
        return value                     # a scalar column: one value per row
    cells = [np.asarray(c) for c in value]
    if "shape" in desc and cells and len({c.shape for c in cells}) == 1:
        return np.stack(cells).T
    return {f"r{i + 1}": (c.T[..., None] if c.size else False) for i, c in enumerate(cells)}
