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
#: default bytes of column data per chunk: on the 1.5 GB benchmark MS, streaming
#: DATA+FLAG takes 0.8 s / 83 MB peak with 8 MB chunks, 1.0 s / 113 MB with 16 MB and
#: 3.4 s / 252 MB with 64 MB (casacore's copies of big chunks cost time and memory)
DEFAULT_CHUNK_BYTES = 8 << 20


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


def chunk_rows(table, columns, max_bytes: int = DEFAULT_CHUNK_BYTES) -> int:
    """Number of rows of ``columns`` that fit in ``max_bytes``."""
    return int(max(1, min(MAX_CHUNK_ROWS, max_bytes // row_bytes(table, columns))))


def _read_span(table, columns, start, n):
    return {c: table.getcol(c, startrow=int(start), nrow=int(n)) for c in columns}


def _is_variable(table, col) -> bool:
    """True for an array column whose cells may differ in shape."""
    desc = table.getcoldesc(col)
    if desc.get("ndim", 0) == 0 and "shape" not in desc:
        return False
    shape = desc.get("shape")
    return shape is None or len(shape) == 0


def _shape_key_of_ddid(table):
    """Lookup ddid -> integer key of (nchan, ncorr), or None when unavailable."""
    from casacore import tables as ct
    try:
        kw = table.getkeywords()

        def sub(name):
            ref = kw[name]
            path = ref.split(":", 1)[1].strip() if isinstance(ref, str) else ref
            return ct.table(path, ack=False)

        with sub("DATA_DESCRIPTION") as t:
            spw = t.getcol("SPECTRAL_WINDOW_ID")
            pol = t.getcol("POLARIZATION_ID")
        with sub("SPECTRAL_WINDOW") as t:
            nchan = t.getcol("NUM_CHAN")
        with sub("POLARIZATION") as t:
            ncorr = t.getcol("NUM_CORR")
        key = np.array([int(nchan[s]) * 1_000_000 + int(ncorr[p])
                        if 0 <= s < len(nchan) and 0 <= p < len(ncorr) else -1 - i
                        for i, (s, p) in enumerate(zip(spw, pol))], dtype=np.int64)
        return key if len(key) else None
    except Exception:
        return None


def _read_rows(table, columns, chunk, allow_span=True):
    """Read sorted row numbers ``chunk`` (all within one chunk-sized span).

    ``allow_span=False``: the rows between those of ``chunk`` may have other
    shapes, so never read the whole span."""
    first = int(chunk[0])
    span = int(chunk[-1]) - first + 1
    if span == len(chunk):
        return _read_span(table, columns, first, span)
    if allow_span and len(chunk) * 4 >= span:
        full = _read_span(table, columns, first, span)
        idx = chunk - first
        return {c: v[idx] for c, v in full.items()}
    sub = table.selectrows(chunk.tolist())
    try:
        return {c: sub.getcol(c) for c in columns}
    finally:
        sub.close()


def _span_keys(table, first, span, key_lut, var_col):
    """Shape keys of rows first .. first+span-1."""
    if key_lut is not None:
        dd = table.getcol("DATA_DESC_ID", startrow=first, nrow=span)
        ok = (dd >= 0) & (dd < len(key_lut))
        keys = np.full(span, -10**9, dtype=np.int64)
        keys[ok] = key_lut[dd[ok]]
        return keys
    shapes = np.asarray(table.getcolshapestring(var_col, startrow=first, nrow=span))
    _, keys = np.unique(shapes, return_inverse=True)
    return keys.ravel()


def _chunks_of(rows, step, total, startrow):
    if rows is None:
        end = int(startrow) + total
        for s in range(int(startrow), end, step):
            yield np.arange(s, min(s + step, end), dtype=np.int64)
        return
    i, nsel = 0, len(rows)
    while i < nsel:
        j = max(int(np.searchsorted(rows, rows[i] + step, side="left")), i + 1)
        yield rows[i:j]
        i = j


def iter_chunks(table, columns, rows=None, max_bytes: int = DEFAULT_CHUNK_BYTES, startrow: int = 0,
                nrow: int | None = None):
    """Yield ``(rownrs, {column: ndarray})`` covering ``rows`` (or all rows) in order.

    ``rows`` must be sorted ascending (a ``Selection.rows`` is).  Each chunk holds
    at most about ``max_bytes`` of column data.  Contiguous runs are read with
    ``getcol(startrow, nrow)``; sparse rows with a reference table.  When a
    variable-shaped column (DATA in most real MSs) changes shape between
    spectral windows, a chunk is cut where the shape changes, so every array is
    rectangular; the row numbers of all chunks still concatenate to ``rows``.
    """
    columns = list(columns)
    step = chunk_rows(table, columns, max_bytes) if columns else MAX_CHUNK_ROWS
    total = table.nrows() - int(startrow) if nrow is None else int(nrow)
    if rows is not None:
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) > 1 and np.any(np.diff(rows) <= 0):
            raise ValueError("iter_chunks: rows must be sorted and unique")
        if len(rows) and (rows[0] < 0 or rows[-1] >= table.nrows()):
            raise ValueError(f"iter_chunks: row {rows[-1] if rows[-1] >= 0 else rows[0]} "
                             f"is outside the table (0~{table.nrows() - 1})")
    var_cols = [c for c in columns if _is_variable(table, c)]
    key_lut = None
    if var_cols:
        key_lut = _shape_key_of_ddid(table) if "DATA_DESC_ID" in table.colnames() else None
    for chunk in _chunks_of(rows, step, total, startrow):
        if len(chunk) == 0:
            continue
        if var_cols:
            first = int(chunk[0])
            skeys = _span_keys(table, first, int(chunk[-1]) - first + 1, key_lut, var_cols[0])
            keys = skeys[chunk - first]
            cuts = np.flatnonzero(np.diff(keys)) + 1
            bounds = np.concatenate([[0], cuts, [len(chunk)]])
            for a, b in zip(bounds[:-1], bounds[1:]):
                piece = chunk[a:b]
                seg = skeys[int(piece[0]) - first:int(piece[-1]) - first + 1]
                yield piece, _read_rows(table, columns, piece,
                                        allow_span=bool(np.all(seg == seg[0])))
            continue
        yield chunk, _read_rows(table, columns, chunk)


def put_chunk(table, column, rownrs, array) -> None:
    """Write ``array`` (first axis = rows) into ``column`` at rows ``rownrs`` (sorted)."""
    rownrs = np.asarray(rownrs, dtype=np.int64)
    if len(rownrs) == 0:
        return
    if not table.iswritable():
        raise OSError(f"{table.name()} is opened read-only; cannot write {column}")
    if len(array) != len(rownrs):
        raise ValueError(f"put_chunk: {len(array)} values for {len(rownrs)} rows of {column}")
    if len(rownrs) > 1 and np.any(np.diff(rownrs) <= 0):
        raise ValueError("put_chunk: row numbers must be sorted and unique")
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
