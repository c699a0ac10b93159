"""Chunked reading and writing of main-table columns.

Memory stays bounded by ``max_bytes`` per chunk whatever the size of the MS:

    with open_ms(vis) as t:
        for rownrs, cols in iter_chunks(t, ["DATA", "FLAG"], rows=sel.rows):
            ...                          # cols["DATA"]: (nrow, nchan, ncorr)
            put_chunk(tw, "FLAG", rownrs, newflags)

Arrays are in python-casacore's order: ``(nrow, nchan, ncorr)`` for DATA-like
columns, ``(nrow, 3)`` for UVW, ``(nrow,)`` for scalars.
"""

from __future__ import annotations

import numpy as np

_DTYPE_BYTES = {"boolean": 1, "bool": 1, "uchar": 1, "short": 2, "ushort": 2, "int": 4,
                "uint": 4, "int64": 8, "float": 4, "double": 8, "complex": 8,
                "dcomplex": 16, "string": 32}

#: rows read at once when nothing else limits the chunk
MAX_CHUNK_ROWS = 4_000_000


def row_bytes(table, columns) -> int:
    """Estimated bytes per row of ``columns`` (array columns from their first cell)."""
    total = 0
    nrows = table.nrows()
    for col in columns:
        desc = table.getcoldesc(col)
        vt = desc.get("valueType", "double").lower()
        size = _DTYPE_BYTES.get(vt, 8)
        ncell = 1
        if desc.get("ndim", 0) != 0 or "shape" in desc:
            shape = desc.get("shape")
            if shape is not None and len(shape):
                ncell = int(np.prod(shape))
            elif nrows:
                try:
                    ncell = int(np.prod(np.shape(table.getcell(col, 0))))
                except RuntimeError:
                    ncell = 1
        total += size * max(ncell, 1)
    return max(total, 1)


def chunk_rows(table, columns, max_bytes: int = 64 << 20) -> int:
    """Number of rows of ``columns`` that fit in ``max_bytes``."""
    return int(max(1, min(MAX_CHUNK_ROWS, max_bytes // row_bytes(table, columns))))


def _read_span(table, columns, start, n):
    return {c: table.getcol(c, startrow=int(start), nrow=int(n)) for c in columns}


def iter_chunks(table, columns, rows=None, max_bytes: int = 64 << 20, startrow: int = 0,
                nrow: int | None = None):
    """Yield ``(rownrs, {column: ndarray})`` covering ``rows`` (or all rows) in order.

    ``rows`` must be sorted ascending (a ``Selection.rows`` is).  Each chunk holds
    at most about ``max_bytes`` of column data.  Contiguous runs are read with
    ``getcol(startrow, nrow)``; sparse rows with a reference table.
    """
    columns = list(columns)
    step = chunk_rows(table, columns, max_bytes) if columns else MAX_CHUNK_ROWS
    if rows is None:
        total = table.nrows() if nrow is None else int(nrow)
        end = int(startrow) + total
        for s in range(int(startrow), end, step):
            n = min(step, end - s)
            yield np.arange(s, s + n, dtype=np.int64), _read_span(table, columns, s, n)
        return
    rows = np.asarray(rows, dtype=np.int64)
    i = 0
    nsel = len(rows)
    while i < nsel:
        first = rows[i]
        # all rows within one chunk-sized span of the first
        j = int(np.searchsorted(rows, first + step, side="left"))
        j = max(j, i + 1)
        chunk = rows[i:j]
        span = int(chunk[-1] - first + 1)
        if span == len(chunk):
            data = _read_span(table, columns, first, span)
        elif len(chunk) * 4 >= span:
            full = _read_span(table, columns, first, span)
            idx = chunk - first
            data = {c: v[idx] for c, v in full.items()}
            del full
        else:
            sub = table.selectrows(chunk.tolist())
            try:
                data = {c: sub.getcol(c) for c in columns}
            finally:
                sub.close()
        yield chunk, data
        i = j


def put_chunk(table, column, rownrs, array) -> None:
    """Write ``array`` (first axis = rows) into ``column`` at rows ``rownrs`` (sorted)."""
    rownrs = np.asarray(rownrs, dtype=np.int64)
    if len(rownrs) == 0:
        return
    if not table.iswritable():
        raise OSError(f"{table.name()} is opened read-only; cannot write {column}")
    if len(array) != len(rownrs):
        raise ValueError(f"put_chunk: {len(array)} values for {len(rownrs)} rows of {column}")
    first = int(rownrs[0])
    if int(rownrs[-1]) - first + 1 == len(rownrs) and np.all(np.diff(rownrs) == 1):
        table.putcol(column, array, startrow=first, nrow=len(rownrs))
        return
    # split into contiguous runs; few runs -> direct puts, many -> reference table
    breaks = np.nonzero(np.diff(rownrs) != 1)[0] + 1
    if len(breaks) < 64:
        bounds = np.concatenate([[0], breaks, [len(rownrs)]])
        for a, b in zip(bounds[:-1], bounds[1:]):
            table.putcol(column, array[a:b], startrow=int(rownrs[a]), nrow=int(b - a))
        return
    sub = table.selectrows(rownrs.tolist())
    try:
        sub.putcol(column, array)
    finally:
        sub.close()
