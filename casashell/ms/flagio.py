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
DEFAULT_BLOCK_BYTES = 16 << 20


def has_flag_row(table) -> bool:
    """Whether an open table has FLAG_ROW (an MS does, a calibration table not)."""
    return "FLAG_ROW" in table.colnames()


def shape_column(table) -> str:
    """The column whose value gives a row's cell shape: DATA_DESC_ID in an MS,
    SPECTRAL_WINDOW_ID in a calibration table."""
    cols = table.colnames()
    return "DATA_DESC_ID" if "DATA_DESC_ID" in cols or "SPECTRAL_WINDOW_ID" not in cols \
        else "SPECTRAL_WINDOW_ID"


def ddid_shapes(vis_table) -> dict:
    """``{ddid: (nchan, ncorr)}`` read from the DATA_DESCRIPTION, SPECTRAL_WINDOW
    and POLARIZATION subtables of an open main table (for a calibration
    table: ``{spw: (nchan, number of solution elements)}``)."""
    from casacore import tables as ct

    if shape_column(vis_table) == "SPECTRAL_WINDOW_ID":
        with ct.table(vis_table.getkeyword("SPECTRAL_WINDOW"), ack=False) as sw:
            nchan = sw.getcol("NUM_CHAN") if sw.nrows() else []
        npol = int(vis_table.getcell("FLAG", 0).shape[-1]) if vis_table.nrows() else 1
        return {i: (int(n), npol) for i, n in enumerate(nchan)}

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
    """Split ``rows`` (sorted) into blocks whose cells share one shape.

    ``ddid`` holds the DATA_DESC_ID of each entry of ``rows``.  Rows of
    different data descriptions with the same cell shape stay together (so
    a contiguous run is read with one ``getcol``).  Yields ``(index_array,
    shape)`` where ``index_array`` indexes ``rows``; consecutive blocks walk
    the table forwards.
    """
    n = len(rows)
    if n == 0:
        return
    ndd = int(ddid.max()) + 1
    dshape = [shapes.get(d, (1, 1)) for d in range(ndd)]
    uniq_shapes = sorted(set(dshape))
    shape_id = np.array([uniq_shapes.index(sh) for sh in dshape], dtype=np.int64)
    cells = np.array([sh[0] * sh[1] for sh in dshape], dtype=np.int64)
    per_row = cells[ddid] * itemsize
    row_shape = shape_id[ddid]
    single = len(uniq_shapes) == 1
    csum = np.cumsum(per_row)
    start = 0
    while start < n:
        base = csum[start - 1] if start else 0
        stop = int(np.searchsorted(csum, base + max_bytes, side="right"))
        stop = max(stop, start + 1)
        if single:
            yield np.arange(start, stop), uniq_shapes[0]
        else:
            span = row_shape[start:stop]
            for sid in np.unique(span):
                yield start + np.flatnonzero(span == sid), uniq_shapes[int(sid)]
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


def write_scalar(table, column: str, rows: np.ndarray, values: np.ndarray) -> None:
    """Write a scalar column for sorted ``rows``."""
    if _is_contiguous(rows):
        table.putcol(column, values, int(rows[0]), len(rows))
        return
    sub = table.selectrows(rows)
    try:
        sub.putcol(column, values)
    finally:
        sub.close()
