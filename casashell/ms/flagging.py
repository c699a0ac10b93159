"""The flagging engine behind ``flagdata``.

A run walks the selected rows of an MS in bounded blocks (one cell shape
per block, see :mod:`flagio`), gives each block to an *agent* that changes
the block's flag cube inside the selection mask, and writes back only the
blocks that changed, keeping FLAG_ROW equal to "every cell of FLAG is set".

Row-local agents (manual, unflag, clip, shadow, elevation, quack, the
row-local parts of extend, summary) see one block at a time.  Agents that
need a baseline's time series (tfcrop, rflag, extend's time growth) run
on *groups*: one scan (or ``ntime`` window) of one data description,
rearranged as a cube (baseline, time, channel, correlation); see
:func:`run_grouped`.

Nothing here writes unless ``write=True``; the caller backs the flags up
first.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

from . import flagio

C_LIGHT = 299792458.0
SIDEREAL_RATE = 1.00273790935  # sidereal seconds per solar second

CORR_NAMES = {1: "I", 2: "Q", 3: "U", 4: "V", 5: "RR", 6: "RL", 7: "LR", 8: "LL",
              9: "XX", 10: "XY", 11: "YX", 12: "YY", 13: "RX", 14: "RY", 15: "LX",
              16: "LY", 17: "XR", 18: "XL", 19: "YR", 20: "YL", 21: "PP", 22: "PQ",
              23: "QP", 24: "QQ"}


# ---------------------------------------------------------------------------
# MS description (subtables; small)

@dataclass
class MSInfo:
    vis: str
    nrows: int
    ant_names: list
    ant_pos: np.ndarray          # (nant, 3) ITRF m
    ant_diam: np.ndarray
    field_names: list
    field_dirs: np.ndarray       # (nfield, 2) rad (first polynomial term)
    field_ref: list
    spw_nchan: list
    spw_freqs: list
    pol_corrs: list              # pol id -> list of corr names
    ddid_spw: np.ndarray
    ddid_pol: np.ndarray
    state_intents: list          # state id -> list of intents
    shapes: dict                 # ddid -> (nchan, ncorr)
    colnames: list
    obs_position: np.ndarray | None = None   # observatory ITRF position if known
    telescope: str = ""
    ddcol: str = "DATA_DESC_ID"  # the column giving each row's cell shape
    is_cal: bool = False         # a calibration table (see flagcal)

    @classmethod
    def read(cls, vis: str, table=None) -> "MSInfo":
        from casacore import tables as ct

        from . import flagcal
        if flagcal.is_caltable(vis):
            return cls._read_cal(vis)
        own = table is None
        t = ct.table(vis, ack=False) if own else table
        try:
            def sub(name):
                return ct.table(t.getkeyword(name), ack=False)

            with sub("ANTENNA") as a:
                names = list(a.getcol("NAME")) if a.nrows() else []
                pos = a.getcol("POSITION") if a.nrows() else np.zeros((0, 3))
                diam = a.getcol("DISH_DIAMETER") if a.nrows() else np.zeros(0)
            with sub("FIELD") as f:
                fnames = list(f.getcol("NAME")) if f.nrows() else []
                if f.nrows():
                    d = f.getcol("PHASE_DIR")
                    dirs = d[:, 0, :] if d.ndim == 3 else d.reshape(-1, 2)
                    try:
                        ref = f.getcolkeyword("PHASE_DIR", "MEASINFO").get("Ref", "J2000")
                    except Exception:
                        ref = "J2000"
                else:
                    dirs, ref = np.zeros((0, 2)), "J2000"
            with sub("SPECTRAL_WINDOW") as s:
                nchan = [int(x) for x in s.getcol("NUM_CHAN")] if s.nrows() else []
                freqs = [np.asarray(s.getcell("CHAN_FREQ", i), float) for i in range(s.nrows())]
            with sub("POLARIZATION") as p:
                corrs = [[CORR_NAMES.get(int(c), str(int(c))) for c in p.getcell("CORR_TYPE", i)]
                         for i in range(p.nrows())]
            with sub("DATA_DESCRIPTION") as dd:
                dspw = dd.getcol("SPECTRAL_WINDOW_ID") if dd.nrows() else np.zeros(0, int)
                dpol = dd.getcol("POLARIZATION_ID") if dd.nrows() else np.zeros(0, int)
            intents = []
            if "STATE" in t.getkeywords():
                with sub("STATE") as st:
                    if st.nrows() and "OBS_MODE" in st.colnames():
                        for m in st.getcol("OBS_MODE"):
                            intents.append([x for x in str(m).split(",") if x])
            tel = ""
            if "OBSERVATION" in t.getkeywords():
                with sub("OBSERVATION") as o:
                    if o.nrows():
                        tel = str(o.getcell("TELESCOPE_NAME", 0))
            shapes = flagio.ddid_shapes(t)
            return cls(vis=vis, nrows=t.nrows(), ant_names=names, ant_pos=np.asarray(pos, float),
                       ant_diam=np.asarray(diam, float), field_names=fnames,
                       field_dirs=np.asarray(dirs, float), field_ref=[ref] * len(fnames),
                       spw_nchan=nchan, spw_freqs=freqs, pol_corrs=corrs,
                       ddid_spw=np.asarray(dspw), ddid_pol=np.asarray(dpol),
                       state_intents=intents, shapes=shapes, colnames=t.colnames(),
                       telescope=tel)
        finally:
            if own:
                t.close()

    @classmethod
    def _read_cal(cls, vis: str) -> "MSInfo":
        """A calibration table: one "data description" per spectral window
        (column SPECTRAL_WINDOW_ID) and one polarization setup whose
        correlations are the solution elements Sol1, Sol2, ..."""
        from casacore import tables as ct

        from . import flagcal
        with ct.table(vis, ack=False) as t:
            def sub(name):
                return ct.table(os.path.join(vis, name), ack=False)

            with sub("ANTENNA") as a:
                names = list(a.getcol("NAME")) if a.nrows() else []
                pos = a.getcol("POSITION") if a.nrows() else np.zeros((0, 3))
                diam = a.getcol("DISH_DIAMETER") if a.nrows() else np.zeros(0)
            with sub("FIELD") as f:
                fnames = list(f.getcol("NAME")) if f.nrows() else []
                d = f.getcol("PHASE_DIR") if f.nrows() else np.zeros((0, 1, 2))
                dirs = d[:, 0, :] if d.ndim == 3 else d.reshape(-1, 2)
            with sub("SPECTRAL_WINDOW") as s:
                nchan = [int(x) for x in s.getcol("NUM_CHAN")] if s.nrows() else []
                freqs = [np.asarray(s.getcell("CHAN_FREQ", i), float) for i in range(s.nrows())]
            npol = int(t.getcell("FLAG", 0).shape[-1]) if t.nrows() else 1
            nspw = len(nchan)
            shapes = {i: (nchan[i], npol) for i in range(nspw)}
            return cls(vis=vis, nrows=t.nrows(), ant_names=names, ant_pos=np.asarray(pos, float),
                       ant_diam=np.asarray(diam, float), field_names=fnames,
                       field_dirs=np.asarray(dirs, float), field_ref=["J2000"] * len(fnames),
                       spw_nchan=nchan, spw_freqs=freqs,
                       pol_corrs=[flagcal.solution_names(npol)],
                       ddid_spw=np.arange(nspw), ddid_pol=np.zeros(nspw, int),
                       state_intents=[], shapes=shapes, colnames=t.colnames(),
                       ddcol="SPECTRAL_WINDOW_ID", is_cal=True)


# ---------------------------------------------------------------------------
# selection (the project's selection module, or "everything")

@dataclass
class AllSelection:
    rows: np.ndarray
    channels: dict
    correlations: dict

    @property
    def nrows(self):
        return len(self.rows)

    @property
    def is_empty(self):
        return len(self.rows) == 0


SELECTION_KEYS = ("field", "spw", "antenna", "scan", "timerange", "uvrange", "correlation",
                  "intent", "observation", "array", "feed")


def select_rows(vis: str, info: MSInfo, autocorr: bool = False, **sel):
    """Rows, channel masks and correlation masks for the selection strings.

    Uses :func:`casashell.ms.selection.select`; an all-empty selection is
    answered here without it (so summary/flag-everything work alone).
    """
    if info.is_cal:
        from .flagcal import select_cal
        if autocorr:
            sel = dict(sel, antenna="*&&&")
        return select_cal(vis, info, **sel)
    sel = {k: ("" if v is None else v) for k, v in sel.items()}
    for k, v in list(sel.items()):
        if isinstance(v, (list, tuple)):
            sel[k] = ",".join(str(x) for x in v)
        elif not isinstance(v, str):
            sel[k] = str(v)
    if not any(sel.get(k, "") for k in SELECTION_KEYS) and not autocorr:
        return AllSelection(
            rows=np.arange(info.nrows, dtype=np.int64),
            channels={i: np.ones(n, bool) for i, n in enumerate(info.spw_nchan)},
            correlations={i: np.ones(len(c), bool) for i, c in enumerate(info.pol_corrs)})
    try:
        from .selection import select
    except ImportError as exc:  # pragma: no cover - only before the module exists
        raise RuntimeError("data selection is not available in this installation "
                           f"(casashell.ms.selection: {exc})") from None
    if not autocorr and sel.get("antenna") and not any(
            sel.get(k, "") for k in SELECTION_KEYS if k != "antenna"):
        fast = _antenna_only(vis, info, sel["antenna"])
        if fast is not None:
            return fast
    kwargs = {k: sel.get(k, "") for k in SELECTION_KEYS}
    if autocorr:
        # flagging the autocorrelations of data that have none is a no-op (as
        # in CASA), not an error: pipelines do it unconditionally
        kwargs["autocorr"] = True
        kwargs["allow_empty"] = True
    corr = kwargs.get("correlation", "")
    if corr:
        from .selection import SelectionError, parse_correlation
        from .metadata import MSMetadata
        try:
            parse_correlation(MSMetadata(vis), corr)
        except SelectionError as exc:
            if "no polarization setup" not in str(exc):
                raise
            # CASA's flagdata flags nothing (and does not fail) when the MS
            # has none of the correlations: a flag list written for another
            # polarization basis still runs
            from ..logsink import casalog
            casalog.post(f"{exc}: nothing selected", "WARN")
            return AllSelection(rows=np.zeros(0, np.int64),
                                channels={i: np.ones(n, bool)
                                          for i, n in enumerate(info.spw_nchan)},
                                correlations={i: np.ones(len(c), bool)
                                              for i, c in enumerate(info.pol_corrs)})
    return select(vis, **kwargs)


def _antenna_only(vis: str, info: MSInfo, value: str):
    """The rows of an antenna/baseline-only selection, reading just ANTENNA1
    and ANTENNA2 (the general selection reads every id column, which is most
    of the time of a one-antenna flag on a big MS).  The expression itself is
    parsed by the selection module, so the syntax and the errors are the
    same.  Returns None when that parser is not available (the caller then
    uses the general selection)."""
    try:
        from .metadata import MSMetadata
        from .selection import SelectionError, parse_baselines
    except ImportError:
        return None
    from casacore import tables as ct

    md = MSMetadata(vis)
    try:
        bl = np.asarray(parse_baselines(md, value), bool)
    except SelectionError:
        raise
    except Exception:  # noqa: BLE001 - a changed helper: use the general path
        return None
    n = bl.shape[0]
    pieces = []
    with ct.table(vis, ack=False) as t:
        nrow = t.nrows()
        step = 1 << 20
        for s0 in range(0, nrow, step):
            m = min(step, nrow - s0)
            a1 = t.getcol("ANTENNA1", s0, m)
            a2 = t.getcol("ANTENNA2", s0, m)
            ok = (a1 >= 0) & (a1 < n) & (a2 >= 0) & (a2 < n)
            hit = np.zeros(m, bool)
            hit[ok] = bl[a1[ok], a2[ok]]
            pieces.append(s0 + np.flatnonzero(hit))
    rows = np.concatenate(pieces).astype(np.int64) if pieces else np.zeros(0, np.int64)
    if len(rows) == 0:
        raise SelectionError(f"antenna selection '{value}': matches no data in the MS")
    return AllSelection(
        rows=rows,
        channels={i: np.ones(nc, bool) for i, nc in enumerate(info.spw_nchan)},
        correlations={i: np.ones(len(c), bool) for i, c in enumerate(info.pol_corrs)})


def _sel_mask(sel, info: MSInfo, ddid: int) -> np.ndarray:
    """(nchan, ncorr) selection mask of one data description."""
    spw = int(info.ddid_spw[ddid])
    pol = int(info.ddid_pol[ddid])
    nchan, ncorr = info.shapes[ddid]
    ch = sel.channels.get(spw) if sel.channels is not None else None
    co = sel.correlations.get(pol) if sel.correlations is not None else None
    if ch is None:
        ch = np.ones(nchan, bool) if not sel.channels else np.zeros(nchan, bool)
    if co is None:
        co = np.ones(ncorr, bool)
    ch = np.asarray(ch, bool)
    co = np.asarray(co, bool)
    if ch.shape != (nchan,) or co.shape != (ncorr,):
        raise RuntimeError(f"selection mask shape does not match data description {ddid}")
    return ch[:, None] & co[None, :]


# ---------------------------------------------------------------------------
# blocks

@dataclass
class Block:
    table: object
    info: MSInfo
    rows: np.ndarray
    ddid: int
    mask: np.ndarray                 # (nchan, ncorr) selected cells
    meta: dict                       # column -> values for rows
    flags: np.ndarray                # (n, nchan, ncorr)
    parent_rows: np.ndarray | None = None   # rows of the enclosing read block
    sub: object = None                      # index of these rows in parent_rows
    shared: dict = field(default_factory=dict)  # columns read for parent_rows

    @property
    def spw(self):
        return int(self.info.ddid_spw[self.ddid])

    @property
    def pol(self):
        return int(self.info.ddid_pol[self.ddid])

    @property
    def corr_names(self):
        return self.info.pol_corrs[self.pol]

    def column(self, name: str) -> np.ndarray:
        """An array column for these rows (read once for the enclosing block)."""
        if self.parent_rows is None:
            if name not in self.shared:
                self.shared[name] = flagio.read_cells(self.table, name, self.rows)
            return self.shared[name]
        if name not in self.shared:
            self.shared[name] = flagio.read_cells(self.table, name, self.parent_rows)
        v = self.shared[name]
        return v if isinstance(self.sub, slice) else v[self.sub]


def iter_blocks(table, info: MSInfo, rows: np.ndarray, meta_cols=(),
                max_bytes: int = flagio.DEFAULT_BLOCK_BYTES, span_rows: int = 1 << 17):
    """Yield ``(block_rows, meta)`` over sorted ``rows``; a block's rows share
    one cell shape (they may belong to several data descriptions).

    Scalar columns are read span by span (bounded memory), so the whole
    MS's metadata is never held at once.
    """
    cols = [c for c in dict.fromkeys(meta_cols) if c != "DATA_DESC_ID"]
    have = set(info.colnames)
    for s0 in range(0, len(rows), span_rows):
        span = rows[s0:s0 + span_rows]
        # a calibration table's shape column is SPECTRAL_WINDOW_ID; columns it
        # does not have (ARRAY_ID, STATE_ID) read as -1, as CASA reports them
        meta = {"DATA_DESC_ID": flagio.read_scalar(table, info.ddcol, span)}
        for c in cols:
            meta[c] = flagio.read_scalar(table, c, span) if c in have else \
                np.full(len(span), -1, np.int32)
        ddid = meta["DATA_DESC_ID"]
        for idx, _shape in flagio.plan_blocks(span, ddid, info.shapes, max_bytes):
            if len(idx) == len(span):
                yield span, meta
            else:
                yield span[idx], {c: v[idx] for c, v in meta.items()}


class RunStats:
    def __init__(self):
        self.selected = 0          # selected cells visited
        self.newly_flagged = 0
        self.newly_unflagged = 0
        self.rows_written = 0

    def add(self, before, after, mask):
        self.selected += int(mask.sum()) * len(before)
        self.newly_flagged += int(np.count_nonzero(after & ~before))
        self.newly_unflagged += int(np.count_nonzero(before & ~after))


def run_rowwise(vis: str, info: MSInfo, sel, agents: list, write: bool,
                meta_cols=(), max_bytes: int | None = None, progress=None) -> RunStats:
    """Apply row-local ``agents`` (objects with ``apply(block)``) to the selection."""
    from casacore import tables as ct

    stats = RunStats()
    need = set(meta_cols)
    for a in agents:
        need.update(getattr(a, "meta_cols", ()))
    needs_flags = any(getattr(a, "needs_flags", True) for a in agents)
    # bytes of working memory per flag cell (data columns, temporaries)
    per_cell = max([getattr(a, "cell_bytes", 3) for a in agents] or [3])
    if max_bytes is None:
        max_bytes = flagio.DEFAULT_BLOCK_BYTES
    max_bytes = max(1 << 16, int(max_bytes * 3 // per_cell))
    modifies = any(getattr(a, "modifies", True) for a in agents)
    t = ct.table(vis, readonly=not write, ack=False)
    try:
        for a in agents:
            if hasattr(a, "prepare"):
                a.prepare(t, info, sel)
        masks = {}
        for rows, meta in iter_blocks(t, info, np.asarray(sel.rows, np.int64),
                                      sorted(need), max_bytes):
            dd = meta["DATA_DESC_ID"]
            uniq = np.unique(dd)
            for d in uniq:
                if int(d) not in masks:
                    masks[int(d)] = _sel_mask(sel, info, int(d))
            if not any(masks[int(d)].any() for d in uniq):
                continue
            flags = flagio.read_cells(t, "FLAG", rows) if needs_flags else None
            if flags is not None and flags.shape[1:] != info.shapes[int(uniq[0])]:
                raise RuntimeError(
                    f"{vis}: FLAG cells of row {int(rows[0])} have shape {flags.shape[1:]} but "
                    f"its spectral window and polarization give {info.shapes[int(uniq[0])]}")
            before = flags.copy() if (flags is not None and modifies) else None
            shared = {}
            for d in uniq:
                d = int(d)
                mask = masks[d]
                if not mask.any():
                    continue
                if len(uniq) == 1:
                    sub = slice(None)
                    bflags, bmeta, brows = flags, meta, rows
                else:
                    sub = np.flatnonzero(dd == d)
                    bflags = flags[sub] if flags is not None else None
                    bmeta = {c: v[sub] for c, v in meta.items()}
                    brows = rows[sub]
                blk = Block(t, info, brows, d, mask, bmeta, bflags, parent_rows=rows, sub=sub,
                            shared=shared)
                for a in agents:
                    a.apply(blk)
                if flags is not None and modifies and not isinstance(sub, slice):
                    flags[sub] = blk.flags
                if before is not None:
                    b0 = before if isinstance(sub, slice) else before[sub]
                    stats.add(b0, blk.flags, mask)
            del shared
            if before is not None and write and not np.array_equal(before, flags):
                write_block(t, rows, flags)
                stats.rows_written += len(rows)
        if write:
            t.flush()
    finally:
        t.close()
    return stats


class _BlockWrite:
    """Makes the FLAG + FLAG_ROW writes of one block atomic with respect to
    Ctrl-C: a SIGINT arriving inside is held and raised when the block is
    complete (main thread only; elsewhere it does nothing)."""

    def __enter__(self):
        import signal
        import threading
        self._old = None
        self._hit = False
        if threading.current_thread() is threading.main_thread():
            try:
                self._old = signal.signal(signal.SIGINT, self._hold)
            except (ValueError, OSError):
                self._old = None
        return self

    def _hold(self, signum, frame):
        self._hit = True

    def __exit__(self, *exc):
        import signal
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        if self._hit and exc[0] is None:
            raise KeyboardInterrupt
        return False


def write_block(table, rows, flags):
    """FLAG and the matching FLAG_ROW of ``rows``, as one uninterruptible step
    (a calibration table has no FLAG_ROW)."""
    with _BlockWrite():
        flagio.write_cells(table, "FLAG", rows, flags)
        if flagio.has_flag_row(table):
            _put_scalar(table, "FLAG_ROW", rows, flags.reshape(len(rows), -1).all(axis=1))


def _put_scalar(table, column, rows, values):
    if len(rows) and int(rows[-1]) - int(rows[0]) + 1 == len(rows):
        table.putcol(column, values, int(rows[0]), len(rows))
    else:
        sub = table.selectrows(rows)
        try:
            sub.putcol(column, values)
        finally:
            sub.close()


# ---------------------------------------------------------------------------
# row-local agents

class ManualAgent:
    meta_cols = ()

    def __init__(self, unflag: bool = False):
        self.unflag = unflag

    def apply(self, b: Block):
        if self.unflag:
            b.flags &= ~b.mask[None]
        else:
            b.flags |= b.mask[None]


def count_row_corr(f: np.ndarray) -> np.ndarray:
    """Flagged cells per (row, correlation) of a bool cube (row, chan, corr).

    The correlations of one channel are adjacent bytes: viewed as one
    unsigned integer they are summed over channels in a single pass, each
    byte lane counting one correlation (lanes cannot carry for up to 255
    channels, so longer spectra are summed in pieces).
    """
    n, nchan, ncorr = f.shape
    lane = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}.get(ncorr)
    if lane is None or n == 0 or not f.flags.c_contiguous:
        return np.count_nonzero(f, axis=1).astype(np.int64)
    v = f.view(np.uint8).view(lane).reshape(n, nchan)
    out = np.zeros((n, ncorr), np.int64)
    for c0 in range(0, nchan, 255):
        s = v[:, c0:c0 + 255].sum(axis=1, dtype=lane)
        out += s.view(np.uint8).reshape(n, ncorr)
    return out


class SummaryAgent:
    """CASA's summary counts: per field (name), spw, antenna (name; a
    cross-correlation counts for both antennas, an autocorrelation once),
    scan, correlation, observation, array and intent."""

    needs_flags = True
    modifies = False
    meta_cols = ("ANTENNA1", "ANTENNA2", "FIELD_ID", "SCAN_NUMBER", "ARRAY_ID",
                 "OBSERVATION_ID", "STATE_ID")

    def __init__(self, spwchan=False, spwcorr=False, basecnt=False, fieldcnt=False,
                 name="Summary"):
        self.spwchan, self.spwcorr, self.basecnt, self.fieldcnt = spwchan, spwcorr, basecnt, fieldcnt
        self.name = name
        self.acc = {}      # (fieldkey) -> dict category -> {key: [flagged, total]}

    def _cat(self, fkey, cat):
        return self.acc.setdefault(fkey, {}).setdefault(cat, {})

    @staticmethod
    def _add(d, keys, flagged, total):
        """Accumulate integer-keyed counts (vectorised with bincount)."""
        keys = np.asarray(keys, np.int64)
        if keys.size == 0:
            return
        off = int(keys.min())
        span = int(keys.max()) - off + 1
        if span <= 4 * keys.size + 65536:
            k = keys - off
            uk = None
        else:  # sparse keys (e.g. antenna*1e9+scan): compress them first
            uk, k = np.unique(keys, return_inverse=True)
            k = k.reshape(-1)
        f = np.bincount(k, weights=flagged)
        tt = np.bincount(k, weights=total)
        for i in np.flatnonzero(tt > 0) if tt.size else []:
            key = int(i + off) if uk is None else int(uk[i])
            cur = d.setdefault(key, [0, 0])
            cur[0] += int(round(f[i]))
            cur[1] += int(round(tt[i]))

    def apply(self, b: Block):
        m = b.mask
        fm = b.flags if m.all() else (b.flags & m[None])
        n = len(b.rows)
        rc = count_row_corr(fm)                    # (n, ncorr) flagged cells
        per_row_flag = rc.sum(axis=1)
        per_row_total = np.full(n, int(m.sum()), np.int64)
        fields = b.meta["FIELD_ID"]
        groups = [(None, slice(None))]
        if self.fieldcnt:
            groups = [(int(f), fields == f) for f in np.unique(fields)]
        for fkey, sl in groups:
            rf, rt = per_row_flag[sl], per_row_total[sl]
            if rt.size == 0:
                continue
            meta = {k: v[sl] for k, v in b.meta.items()}
            self._add(self._cat(fkey, "field"), meta["FIELD_ID"], rf, rt)
            self._add(self._cat(fkey, "spw"), np.full(rt.size, b.spw), rf, rt)
            self._add(self._cat(fkey, "scan"), meta["SCAN_NUMBER"], rf, rt)
            self._add(self._cat(fkey, "observation"), meta["OBSERVATION_ID"], rf, rt)
            self._add(self._cat(fkey, "array"), meta["ARRAY_ID"], rf, rt)
            a1, a2 = meta["ANTENNA1"], meta["ANTENNA2"]
            cross = (a1 != a2) & (a2 >= 0)    # caltables: ANTENNA2 = -1 (no reference)
            self._add(self._cat(fkey, "antenna"), np.concatenate([a1, a2[cross]]),
                      np.concatenate([rf, rf[cross]]), np.concatenate([rt, rt[cross]]))
            if self.basecnt:
                # a caltable row without a second antenna is 'a1&&a1' (CASA)
                bl = a1.astype(np.int64) * 100000 + np.where(a2 < 0, a1, a2)
                self._add(self._cat(fkey, "baseline"), bl, rf, rt)
                ascan_keys = np.concatenate([a1, a2[cross]]).astype(np.int64) * 10**9 + \
                    np.concatenate([meta["SCAN_NUMBER"], meta["SCAN_NUMBER"][cross]])
                self._add(self._cat(fkey, "antenna:scan"), ascan_keys,
                          np.concatenate([rf, rf[cross]]), np.concatenate([rt, rt[cross]]))
            fsub = fm[sl]
            nsel = rt.size
            per_corr_flag = rc[sl].sum(axis=0)
            per_corr_total = m.sum(axis=0) * nsel
            d = self._cat(fkey, "correlation_by_pol")
            for ci in range(m.shape[1]):
                if per_corr_total[ci]:
                    cur = d.setdefault((b.pol, ci), [0, 0])
                    cur[0] += int(per_corr_flag[ci])
                    cur[1] += int(per_corr_total[ci])
            if self.spwchan:
                d = self._cat(fkey, "spw:channel")
                cf = np.count_nonzero(fsub, axis=(0, 2))
                ct_ = m.sum(axis=1) * nsel
                for c in np.flatnonzero(ct_):
                    cur = d.setdefault((b.spw, int(c)), [0, 0])
                    cur[0] += int(cf[c])
                    cur[1] += int(ct_[c])
            if self.spwcorr:
                d = self._cat(fkey, "spw:correlation")
                for ci in range(m.shape[1]):
                    if per_corr_total[ci]:
                        cur = d.setdefault((b.spw, b.corr_names[ci]), [0, 0])
                        cur[0] += int(per_corr_flag[ci])
                        cur[1] += int(per_corr_total[ci])

    @staticmethod
    def state_ok(state):
        return state.size and state.max() >= 0

    def result(self, info: MSInfo) -> dict:
        def build(acc):
            out = {}
            names = {
                "field": lambda k: info.field_names[k] if 0 <= k < len(info.field_names) else str(k),
                "antenna": lambda k: info.ant_names[k] if 0 <= k < len(info.ant_names) else str(k),
            }
            total = flagged = 0
            for cat in ("field", "spw", "scan", "observation", "array", "antenna"):
                d = acc.get(cat, {})
                fn = names.get(cat, str)
                out[cat] = {}
                for k in sorted(d):
                    key = fn(k)
                    cur = out[cat].setdefault(key, {"flagged": 0.0, "total": 0.0})
                    cur["flagged"] += float(d[k][0])
                    cur["total"] += float(d[k][1])
                if cat == "spw":
                    total = sum(v[1] for v in d.values())
                    flagged = sum(v[0] for v in d.values())
            corr = {}
            for (pol, ci), (f, t) in sorted(acc.get("correlation_by_pol", {}).items()):
                cname = info.pol_corrs[pol][ci]
                cur = corr.setdefault(cname, {"flagged": 0.0, "total": 0.0})
                cur["flagged"] += float(f)
                cur["total"] += float(t)
            out["correlation"] = corr
            # no 'intent' entry: CASA 6.7's summary has none (checked live)
            if self.spwchan:
                out["spw:channel"] = {f"{s}:{c}": {"flagged": float(f), "total": float(t)}
                                      for (s, c), (f, t) in sorted(acc.get("spw:channel", {}).items())}
            if self.spwcorr:
                out["spw:correlation"] = {
                    f"{s}:{c}": {"flagged": float(f), "total": float(t)}
                    for (s, c), (f, t) in sorted(acc.get("spw:correlation", {}).items())}
            if self.basecnt:
                bl = {}
                for k, (f, t) in sorted(acc.get("baseline", {}).items()):
                    a1, a2 = divmod(k, 100000)
                    key = f"{names['antenna'](a1)}&&{names['antenna'](a2)}"
                    # antennas of one name (empty names) add up, as in CASA
                    cur = bl.setdefault(key, {"flagged": 0.0, "total": 0.0})
                    cur["flagged"] += float(f)
                    cur["total"] += float(t)
                out["baseline"] = bl
                asc = {}
                for k, (f, t) in sorted(acc.get("antenna:scan", {}).items()):
                    a, s = divmod(k, 10**9)
                    # here one of the antennas of a shared name wins (CASA 6.7:
                    # measured on day2's empty names), unlike 'baseline'
                    asc[f"{names['antenna'](a)}:{s}"] = {"flagged": float(f), "total": float(t)}
                out["antenna:scan"] = asc
            out["flagged"] = float(flagged)
            out["total"] = float(total)
            out["name"] = self.name
            out["type"] = "summary"
            return out

        if not self.fieldcnt:
            return build(self.acc.get(None, {}))
        # one breakdown per field name; 'name' and 'type' only at the top
        res = {}
        for fkey in sorted(k for k in self.acc if k is not None):
            fname = info.field_names[fkey] if 0 <= fkey < len(info.field_names) else str(fkey)
            sub = build(self.acc[fkey])
            sub.pop("name", None)
            sub.pop("type", None)
            res[fname] = sub
        res["name"] = self.name
        res["type"] = "summary"
        return res


def summary_log_lines(res: dict) -> list:
    """Readable lines for a summary dictionary (one per entry)."""
    def pct(e):
        return f" ({100.0 * e['flagged'] / e['total']:.3g}%)" if e.get("total") else ""

    def one(d, prefix=""):
        out = []
        for cat, v in d.items():
            if isinstance(v, dict) and v and all(isinstance(x, dict) and "total" in x
                                                 for x in v.values()):
                for k, e in v.items():
                    out.append(f"{prefix}{cat} {k} flagged: {e['flagged']:.0f} "
                               f"total: {e['total']:.0f}{pct(e)}")
        if "total" in d:
            out.append(f"{prefix}Total Flagged: {d['flagged']:.0f} Total Counts: "
                       f"{d['total']:.0f}{pct(d)}")
        return out

    if "total" in res:
        return one(res)
    lines = []
    for k, v in res.items():
        if isinstance(v, dict):
            lines.append(f"Field {k} breakdown")
            lines.extend(one(v, "  "))
    return lines


# -- clip -----------------------------------------------------------------
_FLT_EPSILON = float(np.finfo(np.float32).eps)


_FUNCS = {"ABS": np.abs, "REAL": np.real, "IMAG": np.imag,
          "ARG": lambda z: np.angle(z) if np.iscomplexobj(z) else np.zeros_like(z, float),
          "NORM": lambda z: np.abs(z) ** 2}


def parse_clip_expression(expr: str, corr_names_all: set):
    """'ABS_ALL', 'REAL_XX', 'ARG_RR,LL', 'RR', 'ABS_I', 'WVR', 'SOL1' ->
    (function name, list of correlation names or ['ALL'])."""
    e = (expr or "").strip().upper()
    if not e:
        return "ABS", ["ALL"]
    func = "ABS"
    if "_" in e:
        head, _, rest = e.partition("_")
        if head not in _FUNCS:
            raise ValueError(f"correlation expression '{expr}': unknown function '{head}' "
                             f"(use ABS, ARG, REAL, IMAG or NORM)")
        func, e = head, rest
    elif e in _FUNCS:
        return e, ["ALL"]
    corrs = [c.strip() for c in e.replace(";", ",").split(",") if c.strip()]
    if not corrs:
        corrs = ["ALL"]
    return func, corrs


class ClipAgent:
    meta_cols = ()
    cell_bytes = 24      # complex64 data + float amplitudes + masks

    def __init__(self, clipminmax, clipoutside=True, clipzeros=False,
                 datacolumn="DATA", correlation="ABS_ALL", channelavg=False, chanbin=1):
        self.minmax = list(clipminmax or [])
        if self.minmax and len(self.minmax) != 2:
            raise ValueError(f"clipminmax must be [min, max], not {clipminmax}")
        if self.minmax and self.minmax[0] > self.minmax[1]:
            raise ValueError(f"clipminmax {clipminmax}: min is larger than max")
        self.outside = bool(clipoutside)
        self.zeros = bool(clipzeros)
        self.datacolumn = datacolumn.upper()
        self.func, self.corrs = parse_clip_expression(correlation, set())
        self.channelavg = bool(channelavg)
        self.chanbin = chanbin if isinstance(chanbin, (list, tuple)) else [chanbin]
        if any(int(c) < 1 for c in self.chanbin):
            raise ValueError(f"chanbin {chanbin} must be >= 1")

    def prepare(self, table, info, sel):
        cols = set(info.colnames)
        dc = self.datacolumn
        if info.is_cal:
            self.need = [check_cal_datacolumn(info, dc)]
            if cal_is_real(info, dc):
                self.func = "REAL"   # CASA: no complex operator on FPARAM/SNR
            return
        need = {"DATA": ["DATA"], "CORRECTED": ["CORRECTED_DATA"], "MODEL": ["MODEL_DATA"],
                "RESIDUAL": ["CORRECTED_DATA", "MODEL_DATA"], "RESIDUAL_DATA": ["DATA", "MODEL_DATA"],
                "FLOAT_DATA": ["FLOAT_DATA"], "WEIGHT_SPECTRUM": ["WEIGHT_SPECTRUM"],
                "WEIGHT": ["WEIGHT"], "SIGMA_SPECTRUM": ["SIGMA_SPECTRUM"], "SIGMA": ["SIGMA"],
                "CORRECTED_DATA": ["CORRECTED_DATA"], "MODEL_DATA": ["MODEL_DATA"]}.get(dc)
        if need is None:
            raise ValueError(f"datacolumn '{self.datacolumn}' is not one of DATA, CORRECTED, "
                             f"MODEL, RESIDUAL, RESIDUAL_DATA, FLOAT_DATA, WEIGHT_SPECTRUM, "
                             f"WEIGHT, SIGMA_SPECTRUM, SIGMA")
        missing = [c for c in need if c not in cols]
        if missing:
            raise ValueError(f"datacolumn '{self.datacolumn}': {info.vis} has no "
                             f"{missing[0]} column")
        self.need = need

    def values(self, b: Block) -> np.ndarray:
        dc = self.datacolumn
        if dc in ("RESIDUAL",):
            return b.column("CORRECTED_DATA") - b.column("MODEL_DATA")
        if dc == "RESIDUAL_DATA":
            return b.column("DATA") - b.column("MODEL_DATA")
        if dc in ("WEIGHT", "SIGMA"):
            w = b.column(dc)  # (n, ncorr)
            return np.broadcast_to(w[:, None, :], b.flags.shape)
        return b.column(self.need[0])

    def corr_mask(self, b: Block) -> np.ndarray:
        names = [c.upper() for c in b.corr_names]
        if self.corrs == ["ALL"]:
            return np.ones(len(names), bool)
        m = np.zeros(len(names), bool)
        for c in self.corrs:
            if c in names:
                m[names.index(c)] = True
            elif c == "I":
                for pair in (("RR", "LL"), ("XX", "YY")):
                    if all(p in names for p in pair):
                        for p in pair:
                            m[names.index(p)] = True
        return m

    def apply(self, b: Block):
        cm = self.corr_mask(b)
        mask = b.mask & cm[None, :]
        if not mask.any():
            return
        cols = np.flatnonzero(mask.any(axis=0))
        allc = len(cols) == b.flags.shape[2]
        data = self.values(b)
        fn = _FUNCS[self.func]
        if self.corrs == ["I"] and not (set(c.upper() for c in b.corr_names) & {"I"}):
            # Stokes I from the parallel hands; flags go to both hands
            d = data[:, :, cols].mean(axis=2)[:, :, None]
            fl = b.flags[:, :, cols].any(axis=2, keepdims=True)
        else:
            d = data if allc else data[:, :, cols]
            fl = b.flags if allc else b.flags[:, :, cols]
        cb = self._chanbin(b.spw)
        if self.channelavg and cb > 1:
            # the visibilities are averaged (a vector average), then the
            # expression is taken, as CASA 6.7 does (measured on day2_TDEM0003)
            d = _bin_average(d, fl, cb)
        v = fn(d)
        del d
        bad = self._bad(v)
        if bad.shape[2] != len(cols):
            bad = np.repeat(bad, len(cols), axis=2)
        if allc:
            bad &= mask[None]
            b.flags |= bad
        else:
            bad &= mask[None][:, :, cols]
            view = b.flags[:, :, cols]
            view |= bad
            b.flags[:, :, cols] = view

    def _chanbin(self, spw):
        if len(self.chanbin) == 1:
            return int(self.chanbin[0])
        return int(self.chanbin[spw]) if spw < len(self.chanbin) else int(self.chanbin[-1])

    def _bad(self, v):
        v = np.asarray(v)
        bad = ~np.isfinite(v)
        if self.minmax:
            lo, hi = float(self.minmax[0]), float(self.minmax[1])
            with np.errstate(invalid="ignore"):
                if self.outside:
                    bad |= (v < lo) | (v > hi)
                else:
                    bad |= (v >= lo) & (v <= hi)
        if self.zeros:
            # CASA counts as zero every value smaller in magnitude than the
            # single-precision epsilon (measured: |V| = 1.187e-7 is clipped,
            # 1.197e-7 is not), not only exact zeros
            with np.errstate(invalid="ignore"):
                bad |= np.abs(v) < _FLT_EPSILON
        return bad


def _bin_average(v, flags, cb):
    """Average of ``v`` (row, chan, corr; complex or real) over bins of
    ``cb`` channels, from the unflagged channels of each bin (all of them
    when the bin is fully flagged), broadcast back to every channel of the
    bin."""
    n, nchan, nc = v.shape
    nb = -(-nchan // cb)
    pad = nb * cb - nchan
    dt = np.complex128 if np.iscomplexobj(v) else np.float64
    vv = np.pad(np.asarray(v, dt), ((0, 0), (0, pad), (0, 0)))
    ok = np.pad(~flags, ((0, 0), (0, pad), (0, 0)))
    real = np.pad(np.ones(v.shape, bool), ((0, 0), (0, pad), (0, 0)))
    vv = vv.reshape(n, nb, cb, nc)
    ok = ok.reshape(n, nb, cb, nc)
    real = real.reshape(n, nb, cb, nc)
    cnt = ok.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        good = (vv * ok).sum(axis=2) / cnt
        plain = (vv * real).sum(axis=2) / real.sum(axis=2)
    avg = np.where(cnt > 0, good, plain)
    return np.repeat(avg, cb, axis=1)[:, :nchan]


# -- quack ------------------------------------------------------------------

class QuackAgent:
    meta_cols = ("SCAN_NUMBER", "TIME")

    def __init__(self, quackinterval=1.0, quackmode="beg", quackincrement=False):
        self.interval = float(quackinterval)
        self.mode = quackmode
        if quackmode not in ("beg", "endb", "end", "tail"):
            raise ValueError(f"quackmode '{quackmode}' is not one of beg, endb, end, tail")
        self.increment = bool(quackincrement)

    def prepare(self, table, info, sel):
        """Scan start/stop: the first and last TIME of each scan number among
        the selected rows (as CASA keys them); with quackincrement only rows
        that still hold an unflagged cell count, so the scan's effective
        start (end) moves past integrations that are already flagged."""
        self.start, self.stop = {}, {}
        rows = np.asarray(sel.rows, np.int64)
        for s0 in range(0, len(rows), 1 << 18):
            r = rows[s0:s0 + (1 << 18)]
            scan = flagio.read_scalar(table, "SCAN_NUMBER", r).astype(np.int64)
            tim = flagio.read_scalar(table, "TIME", r)
            if self.increment:
                dd = flagio.read_scalar(table, info.ddcol, r)
                full = np.zeros(len(r), bool)
                for idx, _shape in flagio.plan_blocks(r, dd, info.shapes):
                    f = flagio.read_cells(table, "FLAG", r[idx])
                    full[idx] = f.reshape(len(idx), -1).all(axis=1)
                scan, tim = scan[~full], tim[~full]
            if len(scan) == 0:
                continue
            uk, inv = np.unique(scan, return_inverse=True)
            inv = inv.reshape(-1)
            mn = np.full(len(uk), np.inf)
            mx = np.full(len(uk), -np.inf)
            np.minimum.at(mn, inv, tim)
            np.maximum.at(mx, inv, tim)
            for k, a, z in zip(uk.tolist(), mn, mx):
                self.start[k] = min(self.start.get(k, np.inf), a)
                self.stop[k] = max(self.stop.get(k, -np.inf), z)

    def apply(self, b: Block):
        keys = b.meta["SCAN_NUMBER"].astype(np.int64)
        uk, inv = np.unique(keys, return_inverse=True)
        inv = inv.reshape(-1)
        start = np.array([self.start.get(k, np.nan) for k in uk.tolist()])[inv]
        stop = np.array([self.stop.get(k, np.nan) for k in uk.tolist()])[inv]
        t = b.meta["TIME"]
        q = self.interval
        with np.errstate(invalid="ignore"):
            if self.mode == "beg":
                hit = t <= start + q
            elif self.mode == "endb":
                hit = t >= stop - q
            elif self.mode == "tail":      # all but the beginning
                hit = t > start + q
            else:                          # 'end': all but the end
                hit = t < stop - q
        hit &= np.isfinite(start)          # a scan with nothing unflagged is left alone
        if hit.any():
            b.flags[hit] |= b.mask[None]


class AntIntAgent:
    """antint: flag whole integrations when the reference antenna is lost.

    For each integration (TIME) and spectral window of the selection, the
    cross-correlations of ``ref`` are examined: a channel counts as flagged
    when it is flagged (in any selected correlation) on *every* such baseline.
    If the fraction of such channels exceeds ``minchanfrac`` (with a single
    channel: if it is flagged), every selected row of that integration and
    spectral window is flagged."""

    meta_cols = ("TIME",)

    def __init__(self, ref, minchanfrac=0.6, verbose=False):
        self.ref = str(ref)
        self.minchanfrac = float(minchanfrac)
        self.verbose = bool(verbose)

    def prepare(self, table, info, sel):
        names = list(info.ant_names)
        if self.ref in names:
            ref = names.index(self.ref)
        elif self.ref.isdigit() and int(self.ref) < len(names):
            ref = int(self.ref)
        else:
            raise ValueError(f"antint_ref_antenna '{self.ref}' is not an antenna of {info.vis}")
        self.times = {}
        rows = np.asarray(sel.rows, np.int64)
        for s0 in range(0, len(rows), 1 << 18):
            r = rows[s0:s0 + (1 << 18)]
            a1 = flagio.read_scalar(table, "ANTENNA1", r)
            a2 = flagio.read_scalar(table, "ANTENNA2", r)
            mine = (a1 == ref) != (a2 == ref)
            rr = r[mine]
            if len(rr) == 0:
                continue
            dd = flagio.read_scalar(table, info.ddcol, rr)
            tm = flagio.read_scalar(table, "TIME", rr)
            for idx, _shape in flagio.plan_blocks(rr, dd, info.shapes):
                f = flagio.read_cells(table, "FLAG", rr[idx])
                for d in np.unique(dd[idx]):
                    w = dd[idx] == d
                    m = _sel_mask(sel, info, int(d))
                    chans = m.any(axis=1)
                    # channel flagged on a baseline: any selected correlation flagged
                    cf = (f[w] & m[None]).any(axis=2)[:, chans]          # (rows, nsel)
                    t = tm[idx][w]
                    ut, inv = np.unique(t, return_inverse=True)
                    allb = np.ones((len(ut), cf.shape[1]), bool)
                    np.logical_and.at(allb, inv.reshape(-1), cf)
                    nsel = cf.shape[1]
                    if nsel == 1:
                        hit = allb[:, 0]
                    else:
                        hit = allb.sum(axis=1) / max(nsel, 1) > self.minchanfrac
                    cur = self.times.setdefault(int(d), set())
                    cur.update(ut[hit].tolist())
        if self.verbose:
            from ..logsink import casalog
            for d, ts in sorted(self.times.items()):
                for t in sorted(ts):
                    casalog.post(f"antint: flagging the integration at MJD seconds {t:.3f} "
                                 f"(data description {d})")

    def apply(self, b: Block):
        ts = self.times.get(b.ddid)
        if not ts:
            return
        hit = np.isin(b.meta["TIME"], np.fromiter(ts, float))
        if hit.any():
            b.flags[hit] |= b.mask[None]


def _combine_keys(*cols):
    k = np.zeros(len(cols[0]), np.int64)
    for c in cols:
        c = np.asarray(c, np.int64)
        k = k * 1_000_003 + (c + 1)
    return k


# -- geometry: elevation and shadow ----------------------------------------

def _itrf_to_geocentric(xyz: np.ndarray):
    """Longitude and geocentric latitude (rad) of ITRF positions (n, 3)."""
    return np.arctan2(xyz[:, 1], xyz[:, 0]), np.arctan2(xyz[:, 2], np.hypot(xyz[:, 0], xyz[:, 1]))


class Geometry:
    """Hour angles and apparent declinations of the fields, per time.

    The apparent place of each field (precession + nutation + aberration,
    from casacore measures) is taken once at a reference time; the hour
    angle then advances at the sidereal rate.  Over one day this differs
    from a full per-time conversion by well under an arcsecond.
    """

    def __init__(self, info: MSInfo, t_ref: float):
        self.info = info
        self.t_ref = float(t_ref)
        pos = info.ant_pos
        if len(pos) == 0:
            raise RuntimeError(f"{info.vis} has no antennas")
        good = np.linalg.norm(pos, axis=1) > 1e5
        self.ref = pos[good].mean(axis=0) if good.any() else pos[0]
        # casacore's AZEL frame (which CASA's elevation flagging uses) measures
        # elevation from the geocentric zenith, so geocentric latitudes here
        self.ant_lon, self.ant_lat = _itrf_to_geocentric(np.where(good[:, None], pos, self.ref))
        self.ref_lon, self.ref_lat = _itrf_to_geocentric(self.ref[None])
        self._ha0 = {}

    def _field_hadec(self, fid: int):
        if fid in self._ha0:
            return self._ha0[fid]
        from casacore.measures import measures
        from casacore import quanta as qa
        dm = measures()
        ra, dec = self.info.field_dirs[fid]
        ref = self.info.field_ref[fid] if fid < len(self.info.field_ref) else "J2000"
        dm.do_frame(dm.epoch("UTC", qa.quantity(self.t_ref, "s")))
        dm.do_frame(dm.position("ITRF", *[qa.quantity(float(v), "m") for v in self.ref]))
        d = dm.direction(ref, qa.quantity(float(ra), "rad"), qa.quantity(float(dec), "rad"))
        hd = dm.measure(d, "HADEC")
        val = (float(hd["m0"]["value"]), float(hd["m1"]["value"]))
        self._ha0[fid] = val
        return val

    def hadec(self, fid: np.ndarray, t: np.ndarray):
        """Hour angle at the array reference, apparent dec, per entry."""
        fid = np.asarray(fid)
        ha = np.empty(len(fid))
        dec = np.empty(len(fid))
        for f in np.unique(fid):
            h0, d0 = self._field_hadec(int(f))
            m = fid == f
            ha[m] = h0 + (t[m] - self.t_ref) * SIDEREAL_RATE * 2 * math.pi / 86400.0
            dec[m] = d0
        return ha, dec

    def elevation(self, ant: np.ndarray, ha_ref: np.ndarray, dec: np.ndarray):
        lon = self.ant_lon[ant]
        lat = self.ant_lat[ant]
        h = ha_ref + (lon - self.ref_lon[0])
        s = np.sin(lat) * np.sin(dec) + np.cos(lat) * np.cos(dec) * np.cos(h)
        return np.arcsin(np.clip(s, -1, 1))

    def uvw_antennas(self, xyz: np.ndarray, ha_ref: float, dec: float):
        """(n, 3) u, v, w of positions ``xyz`` (ITRF, relative to the reference)
        toward the direction with hour angle ``ha_ref`` at the reference
        longitude and declination ``dec``."""
        # Greenwich hour angle: H_G = H_local(ref) - lon_ref
        hg = ha_ref - self.ref_lon[0]
        sh, ch = math.sin(hg), math.cos(hg)
        sd, cd = math.sin(dec), math.cos(dec)
        x, y, z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
        u = sh * x + ch * y
        v = -sd * ch * x + sd * sh * y + cd * z
        w = cd * ch * x - cd * sh * y + sd * z
        return np.stack([u, v, w], axis=1)


class ElevationAgent:
    meta_cols = ("TIME", "FIELD_ID", "ANTENNA1", "ANTENNA2")

    def __init__(self, lowerlimit=0.0, upperlimit=90.0):
        self.lo = math.radians(float(lowerlimit))
        self.hi = math.radians(float(upperlimit))
        if self.lo > self.hi:
            raise ValueError(f"lowerlimit {lowerlimit} is above upperlimit {upperlimit}")

    def prepare(self, table, info, sel):
        r = np.asarray(sel.rows)
        t0 = float(table.getcell("TIME", int(r[0]))) if len(r) else 0.0
        self.geo = Geometry(info, t0)

    def apply(self, b: Block):
        ha, dec = self.geo.hadec(b.meta["FIELD_ID"], b.meta["TIME"])
        e1 = self.geo.elevation(b.meta["ANTENNA1"], ha, dec)
        e2 = self.geo.elevation(b.meta["ANTENNA2"], ha, dec)
        hit = (e1 < self.lo) | (e2 < self.lo) | (e1 > self.hi) | (e2 > self.hi)
        if hit.any():
            b.flags[hit] |= b.mask[None]


class ShadowAgent:
    """An antenna is shadowed at a time when another antenna (any antenna of
    the array, or one given in ``addantenna``) lies in front of it
    (larger w toward the source) with a projected (u, v) separation smaller
    than the sum of the two radii minus ``tolerance``.  A baseline is
    flagged when either of its antennas is shadowed."""

    meta_cols = ("TIME", "FIELD_ID", "ANTENNA1", "ANTENNA2")

    def __init__(self, tolerance=0.0, addantenna=None):
        self.tol = float(tolerance)
        self.extra = parse_addantenna(addantenna)

    def prepare(self, table, info, sel):
        r = np.asarray(sel.rows)
        t0 = float(table.getcell("TIME", int(r[0]))) if len(r) else 0.0
        self.geo = Geometry(info, t0)
        pos = info.ant_pos
        diam = info.ant_diam
        if self.extra:
            pos = np.vstack([pos, self.extra["position"]])
            diam = np.concatenate([diam, self.extra["diameter"]])
        self.pos = pos - self.geo.ref
        self.radius = diam / 2.0
        self.nreal = len(info.ant_pos)
        self._cache = {}

    def shadowed(self, fid: int, t: float) -> np.ndarray:
        key = (fid, t)
        if key in self._cache:
            return self._cache[key]
        ha, dec = self.geo.hadec(np.array([fid]), np.array([t]))
        uvw = self.geo.uvw_antennas(self.pos, float(ha[0]), float(dec[0]))
        du = uvw[None, :, 0] - uvw[:, None, 0]
        dv = uvw[None, :, 1] - uvw[:, None, 1]
        dw = uvw[None, :, 2] - uvw[:, None, 2]   # >0: j in front of i
        sep = np.hypot(du, dv)
        lim = self.radius[:, None] + self.radius[None, :] - self.tol
        sh = (sep < lim) & (dw > 0)
        np.fill_diagonal(sh, False)
        res = sh.any(axis=1)[: self.nreal]
        if len(self._cache) > 20000:
            self._cache.clear()
        self._cache[key] = res
        return res

    def apply(self, b: Block):
        t = b.meta["TIME"]
        f = b.meta["FIELD_ID"]
        a1, a2 = b.meta["ANTENNA1"], b.meta["ANTENNA2"]
        keys, inv = np.unique(np.stack([f.astype(float), t]), axis=1, return_inverse=True)
        inv = np.asarray(inv).reshape(-1)
        table = np.stack([self.shadowed(int(k[0]), float(k[1])) for k in keys.T])
        hit = table[inv, a1] | table[inv, a2]
        if hit.any():
            b.flags[hit] |= b.mask[None]


def parse_addantenna(addantenna):
    """``addantenna``: a dict {'name': [...], 'diameter': [...], 'position':
    [[x, y, z], ...]} (ITRF metres) or a file of lines ``name=..
    diameter=.. position=[x,y,z]``."""
    if not addantenna:
        return None
    if isinstance(addantenna, str):
        if not os.path.isfile(addantenna):
            raise ValueError(f"addantenna file '{addantenna}' does not exist")
        names, diam, pos = [], [], []
        with open(addantenna) as fh:
            for ln, line in enumerate(fh, 1):
                line = line.split("#", 1)[0].strip()
                if not line:
                    continue
                try:
                    kv = parse_command_line(line)
                    names.append(str(kv.get("name", f"extra{ln}")))
                    diam.append(float(kv["diameter"]))
                    p = kv["position"]
                    pos.append([float(x) for x in p])
                except Exception as exc:
                    raise ValueError(f"addantenna file '{addantenna}' line {ln}: {exc}") from None
        addantenna = {"name": names, "diameter": diam, "position": pos}
    if not isinstance(addantenna, dict):
        raise ValueError("addantenna must be a dict or a file name")
    try:
        diam = np.atleast_1d(np.asarray(addantenna["diameter"], float))
        pos = np.asarray(addantenna["position"], float).reshape(-1, 3)
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"addantenna needs 'diameter' and 'position' ([x, y, z] per antenna): "
                         f"{exc}") from None
    if len(diam) != len(pos):
        raise ValueError("addantenna: 'diameter' and 'position' have different lengths")
    return {"diameter": diam, "position": pos}


# -- extend (row-local parts) --------------------------------------------------

class ExtendRowAgent:
    """extendpols, growfreq and flagnearfreq: they only need one row."""

    meta_cols = ()

    def __init__(self, extendpols=True, growfreq=50.0, flagnearfreq=False):
        self.extendpols = extendpols
        self.growfreq = float(growfreq)
        self.flagnearfreq = flagnearfreq

    def apply(self, b: Block):
        extend_cube_rows(b.flags, b.mask, self.extendpols, self.growfreq, self.flagnearfreq)


def extend_cube_rows(flags, mask, extendpols, growfreq, flagnearfreq):
    """In-place on flags (..., nchan, ncorr) inside mask (nchan, ncorr)."""
    m = mask
    if flagnearfreq:
        f = flags & m
        near = np.zeros_like(f)
        near[..., 1:, :] |= f[..., :-1, :]
        near[..., :-1, :] |= f[..., 1:, :]
        flags |= near & m
    if growfreq and 0 < growfreq < 100:
        nsel = m.sum(axis=-2)  # per corr
        frac = (flags & m).sum(axis=-2) / np.maximum(nsel, 1)
        grow = frac >= growfreq / 100.0 - 1e-12     # CASA: "at least"
        flags |= grow[..., None, :] & m
    if extendpols:
        anyc = (flags & m).any(axis=-1, keepdims=True)
        flags |= anyc & m


# ---------------------------------------------------------------------------
# command-line parsing (list mode, addantenna files)

def parse_command_line(line: str) -> dict:
    """``key=value key2='a b' key3=[1,2]`` -> dict with Python values.

    Quoted values stay strings; bare values are read as Python literals
    when they are (numbers, True/False, lists), otherwise as strings.
    Raises ValueError naming the bad part.
    """
    import ast

    out = {}
    i, n = 0, len(line)
    while i < n:
        while i < n and line[i] in " \t,":
            i += 1
        if i >= n or line[i] == "#":   # end of line or a trailing comment
            break
        j = i
        while j < n and (line[j].isalnum() or line[j] == "_"):
            j += 1
        key = line[i:j]
        k = j
        while k < n and line[k] in " \t":
            k += 1
        if not key or k >= n or line[k] != "=":
            raise ValueError(f"expected key=value at '{line[i:i + 30]}'")
        k += 1
        while k < n and line[k] in " \t":
            k += 1
        if k >= n:
            raise ValueError(f"no value for '{key}'")
        c = line[k]
        if c in "'\"":
            end = line.find(c, k + 1)
            if end < 0:
                raise ValueError(f"unterminated quote in value of '{key}'")
            val = line[k + 1:end]
            i = end + 1
        elif c in "[{(":
            close = {"[": "]", "{": "}", "(": ")"}[c]
            depth, q, e = 0, None, k
            while e < n:
                ch = line[e]
                if q:
                    if ch == q:
                        q = None
                elif ch in "'\"":
                    q = ch
                elif ch == c:
                    depth += 1
                elif ch == close:
                    depth -= 1
                    if depth == 0:
                        break
                e += 1
            if e >= n:
                raise ValueError(f"unbalanced '{c}' in value of '{key}'")
            text = line[k:e + 1]
            try:
                val = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                raise ValueError(f"value of '{key}' is not a valid list: {text}") from None
            i = e + 1
        else:
            e = k
            while e < n and line[e] not in " \t":
                e += 1
            text = line[k:e]
            try:
                val = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                val = text
            if text in ("true", "false"):
                val = text == "true"
            i = e
        if key in out:
            raise ValueError(f"'{key}' given twice")
        out[key] = val
    return out


# ---------------------------------------------------------------------------
# time-series algorithms on cubes: (nbl, ntime, nchan, ncorr)

def run_grouped(vis: str, info: MSInfo, sel, algo, write: bool, ntime="scan",
                combinescans=False, datacolumn="DATA", need_data=True,
                max_bytes: int = 160 << 20) -> RunStats:
    """Run ``algo(data, flags, present, mask) -> flags`` per group.

    Groups: rows of one data description in one scan (or, with a numeric
    ``ntime``, in consecutive windows of that many seconds; with
    ``combinescans``, scans are merged before cutting the windows).  The
    group is laid out as a cube over (baseline, time) slots; ``present``
    tells which slots hold a row.  A group larger than ``max_bytes`` is cut
    into subsets of baselines.
    """
    from casacore import tables as ct

    stats = RunStats()
    window = None
    if not (isinstance(ntime, str) or ntime is None):
        window = float(ntime) if float(ntime) > 0 else None
    elif isinstance(ntime, str) and ntime.strip() not in ("", "scan"):
        window = _seconds(ntime)
    rows = np.asarray(sel.rows, np.int64)
    t = ct.table(vis, readonly=not write, ack=False)
    try:
        # Groups are collected while streaming through the selected rows; a
        # group is processed as soon as a span of rows no longer contains it,
        # so for a time-ordered MS only about one scan's row numbers are held.
        open_rows, open_dd, seen = {}, {}, {}
        t_origin = None

        def flush(key):
            g_rows = np.sort(np.concatenate(open_rows.pop(key)))
            d, f = open_dd.pop(key)
            seen.pop(key, None)
            mask = _sel_mask(sel, info, d)
            if mask.any():
                ctx = {"field": f, "spw": int(info.ddid_spw[d]), "ddid": d}
                _run_group(t, info, g_rows, d, mask, algo, write, stats, datacolumn,
                           need_data, max_bytes, ctx)

        span_rows = 1 << 18
        for si, s0 in enumerate(range(0, len(rows), span_rows)):
            r = rows[s0:s0 + span_rows]
            scan = flagio.read_scalar(t, "SCAN_NUMBER", r).astype(np.int64)
            dd = flagio.read_scalar(t, info.ddcol, r).astype(np.int64)
            fld = flagio.read_scalar(t, "FIELD_ID", r).astype(np.int64)
            win = np.zeros(len(r), np.int64) if combinescans else scan
            if window is not None:
                tim = flagio.read_scalar(t, "TIME", r)
                if t_origin is None:
                    t_origin = float(tim[0])
                w = np.floor((tim - t_origin) / window).astype(np.int64)
                win = _combine_keys(win, w)
            gkey = _combine_keys(win, dd, fld)      # one field per chunk, as CASA
            uk, inv = np.unique(gkey, return_inverse=True)
            inv = inv.reshape(-1)
            order = np.argsort(inv, kind="stable")
            bounds = np.flatnonzero(np.diff(inv[order])) + 1
            for k, idx in zip(uk.tolist(), np.split(order, bounds)):
                open_rows.setdefault(k, []).append(r[idx])
                open_dd[k] = (int(dd[idx[0]]), int(fld[idx[0]]))
                seen[k] = si
            for k in [k for k, last in seen.items() if last < si]:
                flush(k)
        for k in list(open_rows):
            flush(k)
        if write:
            t.flush()
    finally:
        t.close()
    return stats


def _seconds(text: str) -> float:
    s = str(text).strip().lower()
    for unit, f in (("min", 60.0), ("h", 3600.0), ("s", 1.0), ("m", 60.0)):
        if s.endswith(unit):
            try:
                return float(s[: -len(unit)]) * f
            except ValueError:
                break
    try:
        return float(s)
    except ValueError:
        raise ValueError(f"ntime '{text}' is not 'scan' or a time in seconds/minutes") from None


def _run_group(t, info, g_rows, ddid, mask, algo, write, stats, datacolumn, need_data,
               max_bytes, ctx=None):
    """One chunk.  ``algo`` is a function ``(data, flags, present, mask) ->
    flags`` or an object with ``statistics(...)`` (partial sums),
    ``thresholds(list of partial sums, ctx)`` and ``apply(..., thresholds)``:
    the thresholds then come from the whole chunk even when it is processed
    in subsets of baselines (read twice in that case)."""
    a1 = flagio.read_scalar(t, "ANTENNA1", g_rows)
    a2 = flagio.read_scalar(t, "ANTENNA2", g_rows)
    tm = flagio.read_scalar(t, "TIME", g_rows)
    nchan, ncorr = info.shapes[ddid]
    bl = a1.astype(np.int64) * 65536 + a2
    ubl, bl_idx = np.unique(bl, return_inverse=True)
    bl_idx = bl_idx.reshape(-1)
    utime, t_idx = np.unique(tm, return_inverse=True)
    t_idx = t_idx.reshape(-1)
    cell = nchan * ncorr * getattr(algo, "cell_bytes", 64 if need_data else 6)
    per_bl = len(utime) * cell
    nb_chunk = max(1, int(max_bytes // max(per_bl, 1)))
    starts = list(range(0, len(ubl), nb_chunk))

    def load(b0):
        sel_b = (bl_idx >= b0) & (bl_idx < b0 + nb_chunk)
        r = g_rows[sel_b]
        bi = bl_idx[sel_b] - b0
        ti = t_idx[sel_b]
        nb = int(bi.max()) + 1
        flags = flagio.read_cells(t, "FLAG", r)
        cube_f = np.ones((nb, len(utime), nchan, ncorr), bool)
        present = np.zeros((nb, len(utime)), bool)
        cube_f[bi, ti] = flags
        present[bi, ti] = True
        cube_d = None
        if need_data:
            data = _read_datacolumn(t, datacolumn, r)
            cube_d = np.zeros((nb, len(utime), nchan, ncorr), data.dtype)
            cube_d[bi, ti] = data
            del data
        return r, bi, ti, flags, cube_d, cube_f, present

    if hasattr(algo, "times"):
        # time averaging bins the chunk's integrations
        algo.times = utime
        if "INTERVAL" in info.colnames and len(g_rows):
            algo.interval = float(np.median(flagio.read_scalar(t, "INTERVAL", g_rows)))
    two_pass = hasattr(algo, "statistics")
    thresholds = None
    cached = None
    if two_pass:
        parts = []
        for b0 in starts:
            loaded = load(b0)
            parts.append(algo.statistics(*loaded[4:], mask))
            if len(starts) == 1:
                cached = loaded
        thresholds = algo.thresholds(parts, ctx or {})
    for b0 in starts:
        r, bi, ti, flags, cube_d, cube_f, present = cached if cached is not None else load(b0)
        cached = None
        before = flags
        if two_pass:
            new = algo.apply(cube_d, cube_f, present, mask, thresholds)
        else:
            new = algo(cube_d, cube_f, present, mask)
        after = before | (new[bi, ti] & mask[None])
        stats.add(before, after, mask)
        if write and not np.array_equal(before, after):
            write_block(t, r, after)
            stats.rows_written += len(r)


def _read_datacolumn(t, datacolumn, rows):
    dc = datacolumn.upper()
    cols = set(t.colnames())
    if dc in ("CPARAM", "FPARAM", "SNR") and dc in cols:
        return flagio.read_cells(t, dc, rows)
    names = {"DATA": "DATA", "CORRECTED": "CORRECTED_DATA", "CORRECTED_DATA": "CORRECTED_DATA",
             "MODEL": "MODEL_DATA", "MODEL_DATA": "MODEL_DATA", "FLOAT_DATA": "FLOAT_DATA",
             "WEIGHT_SPECTRUM": "WEIGHT_SPECTRUM"}
    if dc == "RESIDUAL":
        return flagio.read_cells(t, "CORRECTED_DATA", rows) - flagio.read_cells(t, "MODEL_DATA", rows)
    if dc == "RESIDUAL_DATA":
        return flagio.read_cells(t, "DATA", rows) - flagio.read_cells(t, "MODEL_DATA", rows)
    col = names.get(dc)
    if col is None or col not in cols:
        raise ValueError(f"datacolumn '{datacolumn}' is not available in this MS")
    return flagio.read_cells(t, col, rows)


def cal_is_real(info: MSInfo, datacolumn: str) -> bool:
    """Whether ``datacolumn`` of a calibration table holds real values."""
    return info.is_cal and str(datacolumn).upper() in ("FPARAM", "SNR")


def check_cal_datacolumn(info: MSInfo, datacolumn: str) -> str:
    """The solution column a caltable is flagged on (CPARAM, FPARAM, SNR:
    the ones CASA 6.7 accepts); ValueError otherwise."""
    from .flagcal import CAL_DATACOLUMNS
    dc = str(datacolumn).upper()
    if dc not in CAL_DATACOLUMNS:
        raise ValueError(f"datacolumn '{datacolumn}' is not a column of calibration table "
                         f"{info.vis}: use one of {', '.join(c for c in CAL_DATACOLUMNS if c in info.colnames)}")
    if dc not in info.colnames:
        raise ValueError(f"datacolumn '{datacolumn}': calibration table {info.vis} has no "
                         f"{dc} column")
    return dc


def check_datacolumn(info: MSInfo, datacolumn: str) -> None:
    if info.is_cal:
        check_cal_datacolumn(info, datacolumn)
        return
    dc = datacolumn.upper()
    need = {"DATA": ["DATA"], "CORRECTED": ["CORRECTED_DATA"], "MODEL": ["MODEL_DATA"],
            "RESIDUAL": ["CORRECTED_DATA", "MODEL_DATA"], "RESIDUAL_DATA": ["DATA", "MODEL_DATA"],
            "FLOAT_DATA": ["FLOAT_DATA"], "WEIGHT_SPECTRUM": ["WEIGHT_SPECTRUM"],
            "CORRECTED_DATA": ["CORRECTED_DATA"], "MODEL_DATA": ["MODEL_DATA"]}.get(dc)
    if need is None:
        raise ValueError(f"datacolumn '{datacolumn}' is not one of DATA, CORRECTED, MODEL, "
                         f"RESIDUAL, RESIDUAL_DATA, FLOAT_DATA, WEIGHT_SPECTRUM")
    for c in need:
        if c not in info.colnames:
            raise ValueError(f"datacolumn '{datacolumn}': {info.vis} has no {c} column")
