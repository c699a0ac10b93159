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
    from ..ms.listing import VISHEAD_KEYS, check_key, read_keyword, write_keyword
    from ..ms.summary import check_ms, format_sections, gather

    path = check_ms(vis)
    mode = (mode or "list").lower()      # as CASA 6.7: mode='' lists
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
        for k in items:
            key = k.strip().lower()
            if not _column_exists(path, key):
                casalog.post(f"{key}: <undefined>")      # as CASA: not in the result
                continue
            value, kws = read_keyword(path, key)
            out[key] = (_as_casa_list_value(path, key, value), kws)
            # as CASA 6.7: one "key: value" line per keyword
            casalog.post(f"{key}: {_list_text(key, *out[key])}")
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


def _column_exists(path, key):
    import os

    from ..ms.core import ms_subtable
    from ..ms.listing import check_key
    sub, col = check_key(key)
    if not os.path.isdir(os.path.join(path, sub)):
        return False
    t = ms_subtable(path, sub)
    try:
        return col in t.colnames()
    finally:
        t.close()


def _list_text(key, value, kws):
    """The text CASA 6.7's vishead(mode='list') logs for one keyword (from the
    value in CASA's form): release_date as a UTC date, ptcs as J2000 sexagesimal
    strings, anything else as the value (a 1-d array as a list of numpy
    scalars, the row layer of a one-row variable-shaped column dropped),
    followed by the column keywords if there are any."""
    import numpy as np

    if key == "release_date":
        arr = np.asarray(value, np.float64).ravel()
        units = (kws.get("QuantumUnits") or ["s"])[0]
        return _ymd_time(float(arr[0]) * _TIME_UNITS.get(units, 1.0)) if arr.size else "[]"
    if key == "ptcs":
        units = list(kws.get("QuantumUnits") or ["rad", "rad"])
        frame = (kws.get("MEASINFO") or {}).get("Ref", "UNKNOWN")
        if isinstance(value, dict):
            cells = [value[k] for k in sorted(value)]       # CASA sorts 'r1', 'r10', 'r2'
        else:
            arr = np.asarray(value)                         # fixed shape: rows last
            cells = [arr[..., i] for i in range(arr.shape[-1])] if arr.ndim else []
        return str([_direction_text(np.asarray(c).ravel(order="F"), frame, units)
                    for c in cells if np.asarray(c).size >= 2])
    v = value
    if isinstance(v, np.ndarray) and v.ndim < 2:
        v = v.ravel()
        if v.dtype.kind in "iu":
            v = v.astype(np.int64)        # what CASA's table tool hands back
        v = list(v)
    elif isinstance(v, dict) and "r1" in v:
        v = v["r1"]
    text = str(v)
    if kws:
        text += " " + str(kws)
    return text


_TIME_UNITS = {"s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_DEG = 0.017453292519943295
_ANGLE_UNITS = {"rad": 1.0, "deg": _DEG, "arcmin": _DEG / 60, "arcsec": _DEG / 3600}


def _ymd_time(mjd_seconds):
    """'YYYY/MM/DD/hh:mm:ss' of MJD seconds, to the nearest second of the day
    fraction (computed in days, as CASA's quanta does: ties fall as in CASA)."""
    import datetime
    import math
    days = mjd_seconds / 86400.0
    whole = math.floor(days)
    sec = int(math.floor((days - whole) * 86400.0 + 0.5))
    t = datetime.datetime(1858, 11, 17) + datetime.timedelta(days=whole, seconds=sec)
    return t.strftime("%Y/%m/%d/%H:%M:%S")


def _direction_text(lonlat, frame, units):
    """'J2000 hh:mm:ss.ss +ddd.mm.ss.sss' of a (longitude, latitude) pair; like CASA,
    each angle is first rounded to 6 decimals in its unit ('%f')."""
    import math
    lon, lat = (float("%f" % x) * _ANGLE_UNITS.get(u, 1.0)
                for x, u in zip(lonlat[:2], (units + units)[:2]))
    hours = (lon % (2 * math.pi)) * 12 / math.pi
    cs = int(math.floor(hours * 360000 + 0.5))          # hundredths of a second of time
    h, rem = divmod(cs, 360000)
    m, rem = divmod(rem, 6000)
    ra = f"{h:02d}:{m:02d}:{rem // 100:02d}.{rem % 100:02d}"
    deg = lat * 180 / math.pi
    ms = int(math.floor(abs(deg) * 3600000 + 0.5))      # milliarcseconds
    d, rem = divmod(ms, 3600000)
    m, rem = divmod(rem, 60000)
    sign = "-" if deg < 0 and ms else "+"
    dec = f"{sign}{d:03d}.{m:02d}.{rem // 1000:02d}.{rem % 1000:03d}"
    return f"{frame} {ra} {dec}"
