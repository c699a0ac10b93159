"""Chunked reading and writing of FLAG-shaped columns.

The FLAG column of an MS may change shape from row to row (one shape per
data description).  Everything here works on *blocks*: a sorted set of
rows that share one cell shape and whose cells fit in a bounded number of
bytes.  A block whose rows are contiguous is read with one
``getcol(startrow, nrow)``; scattered rows are read through a reference
table (``selectrows``), which casacore reads in C++ without a Python loop.

Arrays come back in python-casacore's order: ``(nrow, nchan, ncorr)``.
"""

from __future__ import annotations

import numpy as np

#: default budget for the cells of one block (bytes of the unpacked column)
DEFAULT_BLOCK_BYTES = 32 << 20


def ddid_shapes(vis_table) -> dict:
    """``{ddid: (nchan, ncorr)}`` read from the DATA_DESCRIPTION, SPECTRAL_WINDOW
    and POLARIZATION subtables of an open main table."""
    from casacore import tables as ct

    def sub(name):
        return ct.table(vis_table.getkeyword(name), ack=False)

    with sub("DATA_DESCRIPTION") as dd, sub("SPECTRAL_WINDOW") as sw, \
            sub("POLARIZATION") as po:
        spw_ids = dd.getcol("SPECTRAL_WINDOW_ID") if dd.nrows() else []
        pol_ids = dd.getcol("POLARIZATION_ID") if dd.nrows() else []
        nchan = sw.getcol("NUM_CHAN") if sw.nrows() else []
        ncorr = po.getcol("NUM_CORR") if po.nrows() else []
        out = {}
        for i, (s, p) in enumerate(zip(spw_ids, pol_ids)):
            if 0 <= s < len(nchan) and 0 <= p < len(ncorr):
                out[i] = (int(nchan[s]), int(ncorr[p]))
        return out


def plan_blocks(rows: np.ndarray, ddid: np.ndarray, shapes: dict,
                max_bytes: int = DEFAULT_BLOCK_BYTES, itemsize: int = 1):
    """Split ``rows`` (sorted) into blocks of one cell shape each.

    ``ddid`` holds the DATA_DESC_ID of each entry of ``rows``.  Yields
    ``(index_array, ddid_value)`` where ``index_array`` indexes ``rows``;
    rows keep their order, so consecutive blocks walk the table forwards.
    """
    n = len(rows)
    if n == 0:
        return
    cells = np.array([shapes.get(int(d), (1, 1))[0] * shapes.get(int(d), (1, 1))[1]
                      for d in range(int(ddid.max()) + 1)], dtype=np.int64)
    per_row = cells[ddid] * itemsize
    # cut the row list into spans of bounded bytes, then split each span by ddid
    csum = np.cumsum(per_row)
    start = 0
    while start < n:
        base = csum[start - 1] if start else 0
        stop = int(np.searchsorted(csum, base + max_bytes, side="right"))
        stop = max(stop, start + 1)
        span_dd = ddid[start:stop]
        uniq = np.unique(span_dd)
        if len(uniq) == 1:
            yield np.arange(start, stop), int(uniq[0])
        else:
            for d in uniq:
                yield start + np.flatnonzero(span_dd == d), int(d)
        start = stop


def _is_contiguous(r: np.ndarray) -> bool:
    return len(r) > 0 and int(r[-1]) - int(r[0]) + 1 == len(r)


def read_cells(table, column: str, rows: np.ndarray) -> np.ndarray:
    """Cells of ``column`` for sorted ``rows`` of one shape."""
    if _is_contiguous(rows):
        return table.getcol(column, int(rows[0]), len(rows))
    sub = table.selectrows(rows.astype(np.int64).tolist() if len(rows) < 64 else rows)
    try:
        return sub.getcol(column)
    finally:
        sub.close()


def write_cells(table, column: str, rows: np.ndarray, values: np.ndarray) -> None:
    """Write cells of ``column`` for sorted ``rows`` of one shape."""
    if _is_contiguous(rows):
        table.putcol(column, values, int(rows[0]), len(rows))
        return
    sub = table.selectrows(rows.astype(np.int64).tolist() if len(rows) < 64 else rows)
    try:
        sub.putcol(column, values)
    finally:
        sub.close()


def read_scalar(table, column: str, rows: np.ndarray | None = None) -> np.ndarray:
    """A scalar column, whole or for sorted ``rows`` (read in one call)."""
    if rows is None:
        return table.getcol(column)
    if len(rows) == 0:
        return table.getcol(column, 0, 0)
    if _is_contiguous(rows):
        return table.getcol(column, int(rows[0]), len(rows))
    lo, hi = int(rows[0]), int(rows[-1]) + 1
    # reading the covering range and indexing is fast for scalars
    if hi - lo <= 4 * len(rows) + 4096:
        return table.getcol(column, lo, hi - lo)[rows - lo]
    sub = table.selectrows(rows)
    try:
        return sub.getcol(column)
    finally:
        sub.close()
