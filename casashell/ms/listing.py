"""Metadata keywords (vishead), the HISTORY table (listhistory) of an MS.

Subtables are small: reading them cell by cell is fine (undefined cells,
common in the OBSERVATION table's LOG and SCHEDULE columns, read as empty).
"""

from __future__ import annotations

import numpy as np

from .core import ms_subtable

#: vishead keyword -> (subtable, column)
VISHEAD_KEYS = {
    "cal_grp": ("SOURCE", "CALIBRATION_GROUP"),
    "field": ("FIELD", "NAME"),
    "fld_code": ("FIELD", "CODE"),
    "freq_group_name": ("SPECTRAL_WINDOW", "FREQ_GROUP_NAME"),
    "log": ("OBSERVATION", "LOG"),
    "observer": ("OBSERVATION", "OBSERVER"),
    "project": ("OBSERVATION", "PROJECT"),
    "ptcs": ("FIELD", "PHASE_DIR"),
    "release_date": ("OBSERVATION", "RELEASE_DATE"),
    "schedule": ("OBSERVATION", "SCHEDULE"),
    "schedule_type": ("OBSERVATION", "SCHEDULE_TYPE"),
    "source_name": ("SOURCE", "NAME"),
    "spw_name": ("SPECTRAL_WINDOW", "NAME"),
    "telescope": ("OBSERVATION", "TELESCOPE_NAME"),
}

DEFAULT_LISTITEMS = ["telescope", "observer", "project", "field", "freq_group_name",
                     "spw_name", "schedule", "schedule_type", "release_date"]


def _subtable(vis: str, name: str, readonly: bool = True):
    # OSError "<vis> has no <name> subtable" when absent
    return ms_subtable(vis, name, readonly=readonly)


def check_key(hdkey: str) -> tuple:
    key = str(hdkey).strip().lower()
    if key not in VISHEAD_KEYS:
        raise ValueError(f"hdkey '{hdkey}' is not a vishead keyword; known keywords: "
                         + ", ".join(sorted(VISHEAD_KEYS)))
    return VISHEAD_KEYS[key]


def parse_index(hdindex, nrows: int, what: str):
    """'' -> None (all rows); '2' or 2 -> 2, checked against ``nrows``."""
    if hdindex is None or (isinstance(hdindex, str) and hdindex.strip() == ""):
        return None
    try:
        i = int(str(hdindex).strip())
    except ValueError:
        raise ValueError(f"hdindex '{hdindex}' is not an integer row index") from None
    if not 0 <= i < nrows:
        raise ValueError(f"hdindex {i} is out of range: {what} has {nrows} rows")
    return i


def _cell(t, col, row, is_array):
    if not t.iscelldefined(col, row):
        return np.array([], dtype=str) if is_array else None
    v = t.getcell(col, row)
    return np.asarray(v) if is_array else v


def read_keyword(vis: str, hdkey: str, hdindex=""):
    """(value, column keywords) of a vishead keyword.

    The value is a numpy array with one element per subtable row (array
    columns: a list of arrays), or the element at ``hdindex``.
    """
    sub, col = check_key(hdkey)
    t = _subtable(vis, sub)
    try:
        if col not in t.colnames():
            raise ValueError(f"hdkey '{hdkey}': the {sub} table of {vis} has no column {col}")
        kws = t.getcolkeywords(col)
        desc = t.getcoldesc(col)
        is_array = "ndim" in desc or "shape" in desc
        n = t.nrows()
        i = parse_index(hdindex, n, f"the {sub} table")
        if i is not None:
            return _cell(t, col, i, is_array), kws
        if not is_array:
            vals = t.getcol(col) if n else []
            return np.asarray(vals), kws
        cells = [_cell(t, col, r, True) for r in range(n)]
        shapes = {c.shape for c in cells}
        if len(shapes) == 1 and cells:
            return np.stack(cells), kws
        return cells, kws
    finally:
        t.close()


def write_keyword(vis: str, hdkey: str, hdvalue, hdindex="") -> None:
    """Put ``hdvalue`` into the column of ``hdkey`` (all rows, or ``hdindex``)."""
    sub, col = check_key(hdkey)
    t = _subtable(vis, sub, readonly=False)
    try:
        if col not in t.colnames():
            raise ValueError(f"hdkey '{hdkey}': the {sub} table of {vis} has no column {col}")
        desc = t.getcoldesc(col)
        is_array = "ndim" in desc or "shape" in desc
        vtype = desc.get("valueType", "string")
        n = t.nrows()
        i = parse_index(hdindex, n, f"the {sub} table")

        def conv(v):
            try:
                if vtype == "string":
                    if is_array:
                        return np.asarray(v, dtype=str)
                    if not isinstance(v, (str, np.str_)):
                        raise TypeError
                    return str(v)
                if vtype in ("double", "float"):
                    return np.asarray(v, dtype=float) if is_array else float(v)
                if vtype in ("int", "uint", "short"):
                    return np.asarray(v, dtype=np.int32) if is_array else int(v)
                if vtype == "boolean":
                    return np.asarray(v, dtype=bool) if is_array else bool(v)
            except (TypeError, ValueError):
                pass
            raise ValueError(f"hdvalue {v!r} cannot be stored in {sub}.{col} "
                             f"({vtype}{' array' if is_array else ''})")

        if i is not None:
            t.putcell(col, i, conv(hdvalue))
            return
        values = list(hdvalue) if isinstance(hdvalue, (list, tuple, np.ndarray)) else [hdvalue]
        if is_array and n == 1 and not isinstance(hdvalue, (list, tuple)):
            values = [hdvalue]
        if len(values) != n:
            raise ValueError(f"hdvalue has {len(values)} elements but the {sub} table has "
                             f"{n} rows (give hdindex to set one row)")
        for r, v in enumerate(values):
            t.putcell(col, r, conv(v))
    except RuntimeError as exc:
        raise OSError(f"cannot write {sub}.{col} of {vis}: {str(exc).splitlines()[0]}") from None
    finally:
        t.close()


def value_text(value) -> str:
    if isinstance(value, np.ndarray):
        return np.array2string(value, separator=", ", max_line_width=10**6, threshold=10**6)
    if isinstance(value, list):
        return "[" + ", ".join(value_text(v) for v in value) + "]"
    return repr(value)


# ---------------------------------------------------------------------------
# HISTORY

def history_rows(vis: str):
    """(time [MJD s], priority, origin, message) for every HISTORY row."""
    t = _subtable(vis, "HISTORY")
    try:
        n = t.nrows()
        if n == 0:
            return []
        cols = t.colnames()
        times = t.getcol("TIME") if "TIME" in cols else np.zeros(n)
        pri = t.getcol("PRIORITY") if "PRIORITY" in cols else ["INFO"] * n
        org = t.getcol("ORIGIN") if "ORIGIN" in cols else [""] * n
        msg = t.getcol("MESSAGE") if "MESSAGE" in cols else [""] * n
        return [(float(times[i]), str(pri[i]), str(org[i]), str(msg[i])) for i in range(n)]
    finally:
        t.close()


def mjd_seconds_text(seconds: float) -> str:
    """MJD seconds -> 'YYYY-MM-DD HH:MM:SS' (UTC, whole seconds)."""
    import datetime as dt
    base = dt.datetime(1858, 11, 17)
    t = base + dt.timedelta(seconds=round(seconds))
    return t.strftime("%Y-%m-%d %H:%M:%S")
