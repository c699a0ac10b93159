"""Writing new MeasurementSets: staging, main-table layout, subtable copies.

Every task that creates an MS writes it under a temporary name in the
target's directory and renames it at the very end (:func:`staged_output`),
so a failure, an exception or Ctrl-C never leaves a half-written MS behind.

The main table is laid out with casacore's standard storage managers:
scalar columns in one ``StandardStMan``, ``UVW`` in a ``TiledColumnStMan``
and every array column (``DATA``, ``FLAG``, ``WEIGHT_SPECTRUM``, ``WEIGHT``,
...) in its own ``TiledShapeStMan`` with tiles of about 1 MiB that hold whole
cells, so row-contiguous writes touch each tile once.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid

#: array columns stored with TiledShapeStMan, one manager each
TILED_ARRAY_COLUMNS = ("DATA", "CORRECTED_DATA", "MODEL_DATA", "FLOAT_DATA", "FLAG",
                       "WEIGHT_SPECTRUM", "SIGMA_SPECTRUM", "FLAG_CATEGORY", "WEIGHT",
                       "SIGMA", "LAG_DATA", "VIDEO_POINT")

#: subtables whose rows are re-indexed by spectral window / field / polarisation
REINDEXED_SUBTABLES = ("FIELD", "SPECTRAL_WINDOW", "DATA_DESCRIPTION", "POLARIZATION",
                       "SOURCE")

_TILE_BYTES = 1 << 20


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        with contextlib.suppress(OSError):
            os.remove(path)


def check_new_output(path: str, what: str = "outputvis") -> str:
    """Absolute path of a not-yet-existing output; FileExistsError / ValueError otherwise."""
    if not isinstance(path, str) or not path.strip():
        raise ValueError(f"{what} must be the name of the new MeasurementSet")
    path = os.path.abspath(os.path.expanduser(path.rstrip("/")))
    if os.path.lexists(path):
        raise FileExistsError(f"Output MS {path} already exists - will not overwrite it.")
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"The directory {parent} of {what} does not exist")
    return path


@contextlib.contextmanager
def staged_output(target: str):
    """Yield a temporary path beside ``target``; rename it to ``target`` on success.

    On any exception (including KeyboardInterrupt) the temporary output is
    removed and the exception propagates.
    """
    target = os.path.abspath(target)
    parent, name = os.path.split(target)
    tmp = os.path.join(parent, f".{name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    ok = False
    try:
        yield tmp
        if os.path.lexists(target):
            raise FileExistsError(f"Output MS {target} appeared while it was being written")
        os.rename(tmp, target)
        ok = True
    finally:
        if not ok:
            _remove(tmp)


def _tile_shape(cell_shape, itemsize: int) -> list[int]:
    """A tile of whole cells of about 1 MiB (casacore order: cell axes..., rows)."""
    ncell = 1
    for n in cell_shape:
        ncell *= max(int(n), 1)
    rows = max(1, min(8192, _TILE_BYTES // max(1, ncell * itemsize)))
    return [int(n) for n in cell_shape] + [int(rows)]


_ITEMSIZE = {"complex": 8, "dcomplex": 16, "float": 4, "double": 8, "boolean": 1,
             "int": 4, "short": 2}


def main_table_layout(in_desc: dict, columns: dict, cell_shapes: dict):
    """Table description + dminfo for a new main table.

    ``in_desc``: ``getdesc()`` of the input main table (column descriptions are
    taken from it: types, units, measure keywords).  ``columns``: output
    column name -> input column name whose description to use.
    ``cell_shapes``: output column -> typical cell shape (for tile shapes).
    """
    desc = {}
    for out, src in columns.items():
        cd = dict(in_desc[src])
        if out == "WEIGHT_SPECTRUM" and src != out:
            cd["valueType"] = "float"
            cd["comment"] = "Weight for each channel and correlation"
        if out == "SIGMA_SPECTRUM" and src != out:
            cd["valueType"] = "float"
            cd["comment"] = "Estimated rms noise for each data point"
        cd.pop("dataManagerType", None)
        cd.pop("dataManagerGroup", None)
        cd["dataManagerType"] = ""
        cd["dataManagerGroup"] = ""
        if out in cell_shapes and out not in ("UVW",):
            # variable-shaped array columns (cells may differ per spw)
            cd.pop("shape", None)
            cd["ndim"] = len(cell_shapes[out])
            cd["option"] = 0
            cd["maxlen"] = 0
        if out == "UVW":
            # a MeasurementSet's UVW holds 3 values per row; some writers (e.g.
            # the LWA correlator's) declare it without a fixed shape, which a
            # TiledColumnStMan refuses -- the output declares it as the MS
            # definition does (CASA's output does the same)
            cd["shape"] = [3]
            cd["ndim"] = 1
            cd["option"] = 5
            cd["maxlen"] = 0
        cd["comment"] = cd.get("comment", "")
        kw = dict(cd.get("keywords", {}))
        cd["keywords"] = kw
        desc[out] = cd
    desc["_define_hypercolumn_"] = {}
    desc["_keywords_"] = {}
    desc["_private_keywords_"] = {}

    dminfo = {}
    scal = [c for c in columns if c not in cell_shapes and c != "UVW"
            and in_desc[columns[c]].get("ndim", 0) == 0 and "shape" not in in_desc[columns[c]]]
    other = [c for c in columns if c not in cell_shapes and c != "UVW" and c not in scal]
    k = 1
    if scal:
        dminfo[f"*{k}"] = {"TYPE": "StandardStMan", "NAME": "SSM",
                           "SPEC": {"BUCKETSIZE": 32768}, "COLUMNS": scal}
        k += 1
    if "UVW" in columns:
        dminfo[f"*{k}"] = {"TYPE": "TiledColumnStMan", "NAME": "TiledUVW",
                           "SPEC": {"DEFAULTTILESHAPE": [3, 4096]}, "COLUMNS": ["UVW"]}
        k += 1
    for c in other:  # unusual array columns without a known shape
        dminfo[f"*{k}"] = {"TYPE": "StandardStMan", "NAME": f"SSM_{c}",
                           "SPEC": {"BUCKETSIZE": 32768}, "COLUMNS": [c]}
        k += 1
    for c, shp in cell_shapes.items():
        if c == "UVW":
            continue
        vt = str(desc[c].get("valueType", "float")).lower()
        tile = _tile_shape(shp, _ITEMSIZE.get(vt, 8))
        dminfo[f"*{k}"] = {"TYPE": "TiledShapeStMan", "NAME": f"Tiled_{c}",
                           "SPEC": {"DEFAULTTILESHAPE": tile}, "COLUMNS": [c]}
        k += 1
    return desc, dminfo


def create_main_table(path: str, in_table, columns: dict, cell_shapes: dict, nrow: int):
    """Create the main table at ``path`` with ``nrow`` rows; returns it opened for writing."""
    from casacore import tables as ct

    desc, dminfo = main_table_layout(in_table.getdesc(), columns, cell_shapes)
    t = ct.table(path, desc, nrow=int(nrow), dminfo=dminfo, ack=False, readonly=False)
    info = in_table.info()
    if not info.get("type"):
        info = dict(info, type="Measurement Set")
    t.putinfo(info)
    kws = in_table.getkeywords()
    for key, val in kws.items():
        if isinstance(val, str) and val.startswith("Table: "):
            continue  # subtables are linked separately
        with contextlib.suppress(Exception):
            t.putkeyword(key, val)
    if "MS_VERSION" not in kws:
        t.putkeyword("MS_VERSION", 2.0)
    return t


#: table keywords that are not subtables to copy (SORTED_TABLE is a reference
#: table over the main table itself; CASA's outputs do not carry it)
SKIPPED_TABLE_KEYWORDS = ("SORTED_TABLE",)


def subtable_names(in_table) -> list[str]:
    """Names of the subtables linked from a main table's keywords; a keyword whose
    table does not exist (pyuvdata's X5707 MS names an ASDM_CALATMOSPHERE that was
    removed) is left out, as CASA does."""
    out = []
    for key, val in in_table.getkeywords().items():
        if isinstance(val, str) and val.startswith("Table: ") and \
                key not in SKIPPED_TABLE_KEYWORDS:
            if not os.path.isfile(os.path.join(val[len("Table: "):], "table.dat")):
                continue
            out.append(key)
    return out


def copy_subtable(in_table, name: str, out_table, out_path: str, rows=None):
    """Copy subtable ``name`` (all rows, or ``rows``) into the new MS and link it.

    Returns the path of the copy.
    """
    from casacore import tables as ct

    src = in_table.getkeyword(name)
    src_path = src[len("Table: "):] if isinstance(src, str) else str(src)
    dst = os.path.join(out_path, name)
    with ct.table(src_path, ack=False) as st:
        info = st.info()
        if rows is None:
            st.copy(dst, deep=True, valuecopy=True)
        else:
            ref = st.selectrows([int(r) for r in rows])
            try:
                ref.copy(dst, deep=True, valuecopy=True)
            finally:
                ref.close()
    with ct.table(dst, readonly=False, ack=False) as dt:
        dt.putinfo(info)
    out_table.putkeyword(name, "Table: " + dst)
    return dst


def open_subtable(out_path: str, name: str, readonly: bool = False):
    from casacore import tables as ct
    return ct.table(os.path.join(out_path, name), readonly=readonly, ack=False)


def add_array_column(t, name: str, like: str = "DATA", valuetype: str | None = None,
                     comment: str = ""):
    """Add a variable-shaped array column ``name`` (described like ``like``) to
    the open main table ``t``, stored in its own TiledShapeStMan."""
    from casacore import tables as ct

    desc = dict(t.getcoldesc(like))
    for k in ("dataManagerType", "dataManagerGroup", "shape"):
        desc.pop(k, None)
    desc["option"] = 0
    desc["ndim"] = 2
    desc["comment"] = comment or name
    if valuetype:
        desc["valueType"] = valuetype
    desc["keywords"] = {}
    cell = t.getcell(like, 0).shape if t.nrows() else (1, 1)
    itemsize = {"complex": 8, "float": 4, "boolean": 1}.get(desc["valueType"], 8)
    tile = _tile_shape(list(reversed(cell)), itemsize)
    dminfo = {"TYPE": "TiledShapeStMan", "NAME": f"Tiled_{name}",
              "SPEC": {"DEFAULTTILESHAPE": tile}}
    t.addcols(ct.maketabdesc(ct.makecoldesc(name, desc)), dminfo)


def row_groups_by_shape(t, rows=None, step: int = 100_000):
    """Yield sorted row arrays of at most ``step`` rows, each with one cell shape
    of the main table's data (one DATA_DESC_ID shape); contiguous when possible."""
    import numpy as np

    ddid = t.getcol("DATA_DESC_ID")
    rows = np.arange(t.nrows()) if rows is None else np.asarray(rows, np.int64)
    if len(rows) == 0:
        return
    from casacore import tables as ct
    ddt = ct.table(t.getkeyword("DATA_DESCRIPTION")[len("Table: "):], ack=False)
    spwt = ct.table(t.getkeyword("SPECTRAL_WINDOW")[len("Table: "):], ack=False)
    polt = ct.table(t.getkeyword("POLARIZATION")[len("Table: "):], ack=False)
    try:
        nch = spwt.getcol("NUM_CHAN")
        ncor = polt.getcol("NUM_CORR")
        shape_of_dd = np.array([nch[s] * 1000 + ncor[p] for s, p in
                                zip(ddt.getcol("SPECTRAL_WINDOW_ID"),
                                    ddt.getcol("POLARIZATION_ID"))])
    finally:
        ddt.close(), spwt.close(), polt.close()
    shp = shape_of_dd[ddid[rows]]
    if (shp == shp[0]).all():
        for i in range(0, len(rows), step):
            yield rows[i:i + step]
        return
    for i in range(0, len(rows), step):
        r = rows[i:i + step]
        s = shp[i:i + step]
        for v in np.unique(s):
            yield r[s == v]


#: Stokes codes of the parallel hands and of I (a unit point source model is 1 there)
_PARALLEL_CODES = (1, 5, 8, 9, 12)


def unit_model(table, rows_ddid, shape):
    """MODEL_DATA of a 1 Jy Stokes I point source at the phase centre: 1 in the
    parallel-hand correlations (RR, LL, XX, YY, I), 0 in the others (as CASA's
    clearcal/concat write it).  ``rows_ddid``: DATA_DESC_ID of each row;
    ``shape``: (nrow, nchan, ncorr)."""
    import numpy as np
    from casacore import tables as ct
    path = table.name()
    with ct.table(path + "/DATA_DESCRIPTION", ack=False) as dd:
        pol_of_dd = np.asarray(dd.getcol("POLARIZATION_ID"), np.int64)
    with ct.table(path + "/POLARIZATION", ack=False) as pt:
        ctypes = [np.asarray(pt.getcell("CORR_TYPE", i)) for i in range(pt.nrows())]
    ncorr = shape[-1]
    masks = np.ones((len(pol_of_dd), ncorr), np.complex64)
    for d, p in enumerate(pol_of_dd):
        if 0 <= p < len(ctypes) and len(ctypes[p]) == ncorr:
            masks[d] = np.isin(ctypes[p], _PARALLEL_CODES).astype(np.complex64)
    ddid = np.clip(np.asarray(rows_ddid, np.int64), 0, len(masks) - 1)
    return np.ascontiguousarray(np.broadcast_to(masks[ddid][:, None, :], shape))


def fill_scratch_columns(t, columns, src: str, rows=None) -> None:
    """Fill MODEL_DATA with the unit model and CORRECTED_DATA with ``src``
    (DATA or FLOAT_DATA), for ``rows`` (None: every row), in groups of rows of
    one cell shape.  What clearcal writes, in one place for every caller."""
    import numpy as np
    for c in columns:
        for r in row_groups_by_shape(t, rows):
            start, cnt = int(r[0]), len(r)
            contiguous = int(r[-1]) - start + 1 == cnt
            ref = t if contiguous else t.selectrows(r.tolist())
            kw = dict(startrow=start, nrow=cnt) if contiguous else {}
            try:
                if c == "MODEL_DATA":
                    shape = ref.getcell(src, start if contiguous else 0).shape
                    val = unit_model(t, ref.getcol("DATA_DESC_ID", **kw), (cnt,) + shape)
                else:
                    val = ref.getcol(src, **kw).astype(np.complex64)
                ref.putcol(c, val, **kw)
            finally:
                if not contiguous:
                    ref.close()
