"""partition's engine: share the selected rows out into sub-MSs.

Rows are grouped by the separation axis — ``scan`` (observation, scan),
``spw`` (spectral window), ``baseline`` (antenna pair) or ``auto`` (scan and
spectral window) — and the groups are dealt to ``numsubms`` sub-MSs, biggest
first onto the least loaded one, so that the sub-MSs hold about the same
number of visibilities.  A group is never cut.  Each sub-MS keeps its rows in
the input order and every subtable whole (ids are not renumbered).  The
sub-MSs are written as dask tasks (casacore copies the rows), then the
reference MS is made over them and the finished Multi-MS is renamed into
place.
"""

from __future__ import annotations

import os

import numpy as np

from ..ms import mms as mmslib

_DROP = {"data": ("CORRECTED_DATA", "MODEL_DATA", "FLOAT_DATA"),
         "corrected": ("DATA", "MODEL_DATA", "FLOAT_DATA"),
         "model": ("DATA", "CORRECTED_DATA", "FLOAT_DATA"),
         "float_data": ("DATA", "CORRECTED_DATA", "MODEL_DATA")}


def group_rows(vis: str, rows: np.ndarray, axis: str):
    """(group key per selected row, axis actually used)."""
    from casacore import tables as ct
    from ..ms.metadata import MSMetadata

    with ct.table(vis, ack=False) as t:
        def col(name):
            return t.getcol(name)[rows]
        if axis == "baseline":
            a1, a2 = col("ANTENNA1").astype(np.int64), col("ANTENNA2").astype(np.int64)
            return a1 * 100000 + a2
        spw_of = MSMetadata(vis).spw_of_ddid()
        spw = spw_of[col("DATA_DESC_ID")].astype(np.int64)
        if axis == "spw":
            return spw
        scan = col("OBSERVATION_ID").astype(np.int64) * 10**7 + col("SCAN_NUMBER")
        if axis == "scan":
            return scan
        return scan * 1000 + spw          # auto: scan and spw


def deal(keys: np.ndarray, weights: np.ndarray, n: int) -> list[np.ndarray]:
    """Indices (into ``keys``) of each of at most ``n`` bins of whole groups,
    balanced by total weight; bins ordered by their first index."""
    uk, inv = np.unique(keys, return_inverse=True)
    gw = np.bincount(inv, weights=weights, minlength=len(uk))
    n = max(1, min(n, len(uk)))
    load = np.zeros(n)
    where = np.empty(len(uk), np.int64)
    for g in np.argsort(-gw, kind="stable"):       # groups, not rows
        b = int(np.argmin(load))
        where[g] = b
        load[b] += gw[g]
    binrow = where[inv]
    bins = [np.flatnonzero(binrow == b) for b in range(n)]
    bins = [b for b in bins if len(b)]
    bins.sort(key=lambda b: int(b[0]))
    return bins


#: bytes of main-table data copied at once by :func:`copy_rows` (between two
#: chunks a cancelled run stops); on a 207 MB MS, 50 MB chunks copy as fast as
#: one deep copy, 16 MB chunks take 1.3x as long
COPY_CHUNK_BYTES = 64 << 20
COPY_MIN_ROWS = 1000


def _row_bytes(vis: str, nrows: int) -> float:
    """Bytes per row of the main table's data files."""
    total = 0
    for f in os.listdir(vis):
        if f.startswith("table.f"):
            try:
                total += os.path.getsize(os.path.join(vis, f))
            except OSError:
                pass
    return max(1.0, total / max(1, nrows))


def copy_rows(vis: str, rows, dst: str, datacolumn: str = "all", flagbackup: bool = False):
    """New MS ``dst``: ``rows`` of ``vis`` with all subtables; returns its row count.

    The rows are copied in chunks of about :data:`COPY_CHUNK_BYTES` (the
    first with the subtables, the others appended), with a cancellation
    checkpoint between two chunks (see :mod:`.worker`).
    """
    from casacore import tables as ct

    from .worker import checkpoint

    def part(t, r):
        if int(r[-1]) - int(r[0]) + 1 == len(r):
            return t.query(offset=int(r[0]), limit=len(r))
        return t.selectrows(r.tolist())

    rows = np.asarray(rows, np.int64)
    with ct.table(vis, ack=False) as t:
        step = len(rows) if not len(rows) else \
            max(COPY_MIN_ROWS, int(COPY_CHUNK_BYTES // _row_bytes(vis, t.nrows())))
        checkpoint()
        ref = part(t, rows[:step]) if len(rows) else t.selectrows([])
        try:
            ref.copy(dst, deep=True, valuecopy=True)
        finally:
            ref.close()
        if len(rows) > step:
            with ct.table(dst, readonly=False, ack=False) as out:
                for k in range(step, len(rows), step):
                    checkpoint()
                    ref = part(t, rows[k:k + step])
                    try:
                        ref.copyrows(out)
                    finally:
                        ref.close()
    dc = datacolumn.lower()
    if dc != "all":
        with ct.table(dst, readonly=False, ack=False) as t:
            cols = set(t.colnames())
            src = {"data": "DATA", "corrected": "CORRECTED_DATA", "model": "MODEL_DATA",
                   "float_data": "FLOAT_DATA"}[dc]
            if src not in cols:
                raise RuntimeError(f"Desired column ({src}) not found in the input MS ({vis})")
            gone = [c for c in _DROP[dc] if c in cols]
            if gone:
                t.removecols(gone)
            if src in ("CORRECTED_DATA", "MODEL_DATA"):
                t.renamecol(src, "DATA")
    if flagbackup:
        from ..ms.flagversions import FlagVersions
        FlagVersions(dst).save("partition_1", "Flags at the time of partition")
    with ct.table(dst, ack=False) as t:
        return t.nrows()


def resolve_numsubms(numsubms, ngroups: int) -> int:
    """'auto': the worker threads of the configured scheduler (the local
    cluster's ``cores``), at most the number of groups."""
    if isinstance(numsubms, str):
        from .executor import _settings, get_client, have_distributed
        addr, n = _settings(None)
        if addr and have_distributed():
            n = max(1, sum(get_client().nthreads().values()))
    else:
        n = int(numsubms)
    return max(1, min(n, ngroups))


def write_mms(vis: str, out: str, sel_values: dict, axis: str, numsubms, datacolumn: str,
              flagbackup: bool, taql: str = "", serial: bool = False) -> dict:
    """Write the Multi-MS ``out`` (absolute, not existing) from ``vis``: the rows
    of the selection ``sel_values`` (and the TaQL WHERE expression ``taql``);
    ``serial``: the sub-MSs one after the other in this process."""
    from ..logsink import casalog
    from ..ms.core import check_ms
    from ..ms.transform_params import make_selection
    from .executor import SubMSInterrupt, map_tasks
    from .tasks import log_interrupted, raise_first_failure, relay_logs

    vis = check_ms(vis)
    if mmslib.is_mms(vis):
        raise ValueError(f"{vis} is already a Multi-MS; partition needs a normal MS")
    sel = make_selection(vis, sel_values, taql or "")
    if sel.is_empty:
        raise ValueError(f"The data selection matches no rows of {vis}")
    partial = [s for s in sel.spws if not np.asarray(sel.channels[s]).all()]
    partial_corr = [p for p, m in sel.correlations.items() if not np.asarray(m).all()]
    if partial or partial_corr:
        raise ValueError("partition copies whole rows: select channels or correlations "
                         "with split or mstransform first (spw "
                         f"{partial[0] if partial else ''} has a channel selection)"
                         if partial else "partition copies whole rows: a correlation "
                         "selection needs split or mstransform first")
    rows = np.asarray(sel.rows, np.int64)
    keys = group_rows(vis, rows, axis)
    ngroups = len(np.unique(keys))
    n = resolve_numsubms(numsubms, ngroups)
    if not isinstance(numsubms, str) and int(numsubms) > ngroups:
        casalog.post(f"numsubms={numsubms} but the '{axis}' axis has only {ngroups} "
                     f"group(s): writing {n} sub-MSs", "WARN")
    # weight each row by its number of visibilities (channels x correlations)
    from ..ms.metadata import MSMetadata
    from casacore import tables as ct
    md = MSMetadata(vis)
    spw_of, pol_of = md.spw_of_ddid(), md.pol_of_ddid()
    nchan = np.array([s.nchan for s in md.spws], np.int64)
    ncorr = np.array([len(md.pols[p]) for p in sorted(md.pols)], np.int64)
    with ct.table(vis, ack=False) as t:
        dd = t.getcol("DATA_DESC_ID")[rows]
    weights = (nchan[spw_of[dd]] * ncorr[pol_of[dd]]).astype(float)
    bins = deal(keys, weights, n)
    casalog.post(f"Partitioning {len(rows)} rows of {vis} into {len(bins)} sub-MSs "
                 f"by {axis}")
    staged = mmslib.staging_dir(out)
    try:
        subs = [os.path.join(staged, mmslib.SUBMSS, mmslib.submss_name(out, k))
                for k in range(len(bins))]
        try:
            outcomes = map_tasks(_write_one, [(vis, rows[b], s, datacolumn, flagbackup)
                                              for b, s in zip(bins, subs)], labels=subs,
                                   local=serial)
        except SubMSInterrupt as exc:
            relay_logs(exc.outcomes)
            log_interrupted("partition", exc, f"nothing is written ({out} not created)")
            raise
        relay_logs(outcomes)
        raise_first_failure("partition", outcomes, subs)
        mmslib.share_subtables(subs)
        mmslib.make_reference(staged, subs, axis)
        mmslib.finish(staged, out)
    finally:
        if os.path.lexists(staged):
            mmslib.remove_tree(staged)
        if os.path.lexists(staged + ".aside"):
            mmslib.remove_tree(staged + ".aside")
    return {"nsubms": len(bins), "nrows": int(len(rows)), "axis": axis}


def _write_one(vis, rows, dst, datacolumn, flagbackup):
    from .worker import write_submss
    return write_submss(vis, rows, dst, datacolumn, flagbackup)
