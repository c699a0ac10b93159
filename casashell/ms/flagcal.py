"""Calibration tables as flagdata's ``vis``.

A CASA calibration table (gaincal, bandpass, ... output) is a casacore
table with one row per solution: TIME, FIELD_ID, SPECTRAL_WINDOW_ID,
ANTENNA1, ANTENNA2 (the reference antenna, or -1), SCAN_NUMBER,
OBSERVATION_ID, the solutions CPARAM (complex) or FPARAM (float), PARAMERR,
SNR, WEIGHT and FLAG, whose cells are (channel, solution element) like the
visibility cells of an MS; and ANTENNA, FIELD, SPECTRAL_WINDOW and
OBSERVATION subtables.  It has no DATA_DESCRIPTION, POLARIZATION, STATE or
FLAG_ROW.

The flagging engine treats such a table as an MS whose "data description"
column is SPECTRAL_WINDOW_ID and whose one polarization setup has the
correlations ``Sol1``, ``Sol2``, ... (CASA's names).  This module finds
out whether a path is one, and does the data selection CASA allows on them:
field, spw (with channels), antenna, timerange, scan, observation and
correlation (``Sol1``...).
"""

from __future__ import annotations

import os

import numpy as np

#: columns a calibration table's main table has (besides a solution column)
CAL_COLUMNS = ("TIME", "FIELD_ID", "SPECTRAL_WINDOW_ID", "ANTENNA1", "ANTENNA2", "FLAG")
#: solution columns flagdata may clip on (CASA 6.7 refuses the others)
CAL_DATACOLUMNS = ("CPARAM", "FPARAM", "SNR")
#: selection parameters CASA supports on calibration tables
CAL_SELECTIONS = ("field", "spw", "antenna", "timerange", "scan", "observation", "correlation")


def is_caltable(path) -> bool:
    """True when ``path`` is a casacore table laid out as a calibration table."""
    p = os.path.expanduser(str(path))
    if not os.path.isfile(os.path.join(p, "table.dat")):
        return False
    if os.path.isdir(os.path.join(p, "DATA_DESCRIPTION")):
        return False
    from casacore import tables as ct
    try:
        with ct.table(p, ack=False) as t:
            cols = set(t.colnames())
    except RuntimeError:
        return False
    return all(c in cols for c in CAL_COLUMNS) and bool(cols & {"CPARAM", "FPARAM"})


def check_vis(path) -> tuple[str, bool]:
    """(absolute path, is_caltable) of an MS or calibration table; the MS
    layer's errors otherwise."""
    if path and is_caltable(path):
        return os.path.abspath(os.path.expanduser(str(path))), True
    from .core import check_ms
    return check_ms(path), False


def solution_names(n: int) -> list:
    return [f"Sol{i + 1}" for i in range(n)]


def cal_metadata(path):
    """An ``MSMetadata`` reading the caltable's subtables (fields, spws,
    antennas), so the selection module's parsers work on it."""
    from .metadata import MSMetadata

    class CalMetadata(MSMetadata):
        def __init__(self, p):          # noqa: D401 - no MS check: it is a caltable
            self.path = os.path.abspath(os.path.expanduser(str(p)))
            self._cache = {}

    return CalMetadata(path)


def select_cal(vis: str, info, **sel):
    """Rows, channel masks and correlation masks of a caltable selection.

    Returns an object with ``rows``, ``channels`` ({spw: mask}) and
    ``correlations`` ({0: mask over Sol1..SolN}).  Raises
    ``SelectionError`` for a malformed selection, one that matches no row,
    or a selection CASA does not support on calibration tables.
    """
    from . import selection as S
    from .flagging import AllSelection

    vals = {}
    for k, v in sel.items():
        if isinstance(v, (list, tuple)):
            v = ",".join(str(x) for x in v)
        vals[k] = "" if v is None else str(v).strip()
    bad = [k for k, v in vals.items() if v and k not in CAL_SELECTIONS]
    if bad:
        raise S.SelectionError(
            f"{bad[0]} selection '{vals[bad[0]]}': calibration tables can only be selected "
            f"by field, spw, antenna, timerange, scan, observation and correlation")
    npol = len(info.pol_corrs[0]) if info.pol_corrs else 1
    channels = {i: np.ones(n, bool) for i, n in enumerate(info.spw_nchan)}
    corr = np.ones(npol, bool)
    if vals.get("correlation"):
        corr = parse_solutions(vals["correlation"], npol)
    if not any(vals.get(k) for k in CAL_SELECTIONS if k != "correlation"):
        return AllSelection(rows=np.arange(info.nrows, dtype=np.int64), channels=channels,
                            correlations={0: corr})
    md = cal_metadata(vis)
    field_ids = S.parse_field(md, vals["field"]) if vals.get("field") else None
    spw_chans = S.parse_spw(md, vals["spw"]) if vals.get("spw") else None
    bl = S.parse_baselines(md, vals["antenna"]) if vals.get("antenna") else None
    scan_sp = S._parse_int_list("scan", vals["scan"], allow_negation=True) \
        if vals.get("scan") else None
    obs_sp = S._parse_int_list("observation", vals["observation"]) \
        if vals.get("observation") else None
    from casacore import tables as ct
    pieces = []
    with ct.table(vis, ack=False) as t:
        nrow = t.nrows()
        time_ranges = None
        if vals.get("timerange"):
            if nrow == 0:
                raise S.SelectionError(f"timerange selection '{vals['timerange']}': "
                                       f"{vis} has no rows")
            t0 = float(t.getcell("TIME", 0))
            iv0 = float(t.getcell("INTERVAL", 0)) if "INTERVAL" in t.colnames() else 0.0
            time_ranges = S.parse_timerange(vals["timerange"], t0, iv0)
        step = 1 << 20
        for s0 in range(0, nrow, step):
            m = min(step, nrow - s0)
            keep = np.ones(m, bool)
            if field_ids is not None:
                keep &= np.isin(t.getcol("FIELD_ID", s0, m), sorted(field_ids))
            if spw_chans is not None:
                keep &= np.isin(t.getcol("SPECTRAL_WINDOW_ID", s0, m), sorted(spw_chans))
            if bl is not None:
                keep &= _baseline_rows(bl, t.getcol("ANTENNA1", s0, m),
                                       t.getcol("ANTENNA2", s0, m))
            if scan_sp is not None:
                sc = t.getcol("SCAN_NUMBER", s0, m)
                sm = S._ranges_mask(sc, scan_sp[0]) if scan_sp[0] else np.ones(m, bool)
                if scan_sp[1]:
                    sm &= ~S._ranges_mask(sc, scan_sp[1])
                keep &= sm
            if obs_sp is not None:
                keep &= S._ranges_mask(t.getcol("OBSERVATION_ID", s0, m), obs_sp[0])
            if time_ranges is not None:
                keep &= S._ranges_mask(t.getcol("TIME", s0, m), time_ranges)
            pieces.append(s0 + np.flatnonzero(keep))
    rows = np.concatenate(pieces).astype(np.int64) if pieces else np.zeros(0, np.int64)
    if len(rows) == 0:
        given = ", ".join(f"{k}='{v}'" for k, v in vals.items() if v)
        raise S.SelectionError(f"selection {given}: matches no rows of {vis}")
    if spw_chans is not None:
        channels = {int(s): np.asarray(m, bool) for s, m in spw_chans.items()}
    return AllSelection(rows=rows, channels=channels, correlations={0: corr})


def _baseline_rows(bl: np.ndarray, a1: np.ndarray, a2: np.ndarray) -> np.ndarray:
    """Rows whose (ANTENNA1, ANTENNA2) is a selected baseline; a row without a
    second antenna (ANTENNA2 = -1) counts when its antenna is selected with
    every other antenna (it is named on its own, as in antenna='3') or with
    itself (autocorrelation syntax): CASA 6.7 flags the rows of antenna 3
    only for antenna='3' on such a table."""
    n = bl.shape[0]
    out = np.zeros(len(a1), bool)
    ok1 = (a1 >= 0) & (a1 < n)
    pair = ok1 & (a2 >= 0) & (a2 < n)
    out[pair] = bl[a1[pair], a2[pair]]
    single = ok1 & (a2 < 0)
    if single.any():
        either = bl | bl.T
        off = ~np.eye(n, dtype=bool)
        alone = np.where(off, either, True).all(axis=1) if n > 1 else np.ones(n, bool)
        alone |= np.diag(bl)
        out[single] = alone[a1[single]]
    return out


def parse_solutions(value: str, npol: int) -> np.ndarray:
    """'Sol1,Sol2' -> mask over the solution elements (case-insensitive)."""
    from .selection import SelectionError
    m = np.zeros(npol, bool)
    for tok in value.replace(";", ",").replace(" ", ",").split(","):
        tok = tok.strip()
        if not tok:
            continue
        up = tok.upper()
        if up.startswith("SOL") and up[3:].isdigit() and 1 <= int(up[3:]) <= npol:
            m[int(up[3:]) - 1] = True
        elif up in ("ALL", "*"):
            m[:] = True
        elif up.startswith("SOL") and up[3:].isdigit():
            continue                    # an element the table does not have
        else:
            raise SelectionError(f"correlation selection '{value}': '{tok}' is not a "
                                 f"solution element of a calibration table (Sol1 ... "
                                 f"Sol{npol})")
    return m
