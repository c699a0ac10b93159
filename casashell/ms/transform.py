"""The engine behind split, mstransform and hanningsmooth.

One pass over the selected rows of the input MS writes a new MS:

* rows, spectral windows, channels and correlations are selected (a
  :class:`Plan` holds the result of ``casashell.ms.selection.select``);
* optionally rows are averaged in time (``timebin``; each baseline binned on
  its own; bins never cross a scan / state / field boundary unless that axis
  is in ``combine``);
* optionally the spectrum is averaged in channel bins (``chanbin``, per spw),
  then Hanning-smoothed, then regridded (CASA's order);
* FIELD, SPECTRAL_WINDOW, DATA_DESCRIPTION, POLARIZATION, SOURCE and FEED are
  re-indexed to the ids that remain; other subtables are copied whole.

Averaging rules (those CASA's mstransform documents): an output value is
the weighted mean of the unflagged inputs; if every input is flagged the
output is the weighted mean of all of them (0 if their weights are all 0)
and is flagged.  The averaging weights are ``1/SIGMA_SPECTRUM**2`` (or
``1/SIGMA**2`` per channel) when the DATA / MODEL_DATA / FLOAT_DATA column is
the source, and ``WEIGHT_SPECTRUM`` (or ``WEIGHT`` per channel) for
CORRECTED_DATA (with both, DATA keeps its own weights, MODEL_DATA takes the
CORRECTED ones).  The
output WEIGHT_SPECTRUM is the sum of the contributing weights, WEIGHT its
mean over channels, SIGMA(_SPECTRUM) ``1/sqrt`` of those.

Memory is bounded: rows are processed in blocks of about ``block_bytes`` of
visibility data, read with ``getcolslice`` over contiguous row runs (only
the selected channel range is read) and written with row-contiguous
``putcol`` into tiled storage managers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field as dcfield

import numpy as np

from .core import column_has_data
from .writer import copy_subtable, create_main_table, staged_output, subtable_names

DATA_COLUMNS = ("DATA", "MODEL_DATA", "CORRECTED_DATA", "FLOAT_DATA")

#: main-table columns copied row by row (when present); the rest are data-like
SCALAR_COLUMNS = ("TIME", "TIME_CENTROID", "INTERVAL", "EXPOSURE", "ANTENNA1", "ANTENNA2",
                  "FEED1", "FEED2", "ARRAY_ID", "OBSERVATION_ID", "PROCESSOR_ID",
                  "SCAN_NUMBER", "STATE_ID", "FIELD_ID", "DATA_DESC_ID", "FLAG_ROW")


class TransformError(RuntimeError):
    pass


def resolve_datacolumn(colnames, datacolumn: str, vis: str) -> list[tuple[str, str]]:
    """[(output column, input column)] for a split/mstransform ``datacolumn``.

    Raises RuntimeError (as CASA) when a requested column is missing.
    """
    cols = set(colnames)
    dc = datacolumn.strip().lower().replace(" ", "")

    def need(name):
        if name not in cols:
            raise RuntimeError(f"Desired column ({name}) not found in the input MS ({vis})")
        return name

    if dc == "data":
        return [("DATA", need("DATA"))]
    if dc == "corrected":
        return [("DATA", need("CORRECTED_DATA"))]
    if dc == "model":
        return [("DATA", need("MODEL_DATA"))]
    if dc == "float_data":
        return [("FLOAT_DATA", need("FLOAT_DATA"))]
    if dc == "all":
        out = [(c, c) for c in DATA_COLUMNS if c in cols]
        if not out:
            raise RuntimeError(f"Desired column (DATA) not found in the input MS ({vis})")
        return out
    parts = [p for p in dc.split(",") if p]
    names = {"data": "DATA", "model": "MODEL_DATA", "corrected": "CORRECTED_DATA",
             "float_data": "FLOAT_DATA"}
    if parts and all(p in names for p in parts) and len(parts) > 1:
        out = []
        for c in DATA_COLUMNS:
            if any(names[p] == c for p in parts):
                out.append((c, need(c)))
        return out
    raise ValueError(f"datacolumn '{datacolumn}' is not one of data, corrected, model, "
                     f"data,model,corrected, float_data, all")


@dataclass
class Plan:
    """What to do.  Built by the tasks from their parameters."""

    vis: str
    rows: np.ndarray                      # selected input rows, sorted
    channels: dict                        # spw -> bool mask (nchan)
    correlations: dict                    # pol -> bool mask (ncorr)
    datacolumn: str = "data"
    chanbin: dict | int = 1               # spw -> int, or one int for all
    timebin: float = 0.0                  # seconds; 0 = no time averaging
    combine: tuple = ()                   # subset of ('scan', 'state', 'field')
    keepflags: bool = True
    hanning: bool | set = False           # True, or the set of spws to smooth
    regrid: dict | None = None            # spw -> (new_freqs, new_widths) for regridding
    combinespws: bool = False
    reindex: bool = True                  # False: keep every subtable row and all ids
    block_bytes: int = 48 << 20
    extra: dict = dcfield(default_factory=dict)


# ---------------------------------------------------------------------------
# reading helpers


def _read(t, col, rows, blc=None, trc=None, shape_ok=None):
    """Read ``col`` for sorted ``rows``; slice ``blc..trc`` of each cell if given.

    ``shape_ok(lo, hi)`` says whether every row in [lo, hi] has the same
    cell shape (so a span covering rows not asked for can be read at once).
    """
    rows = np.asarray(rows, dtype=np.int64)
    n = len(rows)
    first, last = int(rows[0]), int(rows[-1])
    span = last - first + 1

    def get(tab, start=0, nrow=-1):
        if blc is None:
            return tab.getcol(col, startrow=start, nrow=nrow)
        return tab.getcolslice(col, blc, trc, startrow=start, nrow=nrow)

    if span == n:
        return get(t, first, n)
    if span <= 3 * n and (shape_ok is None or shape_ok(first, last)):
        full = get(t, first, span)
        return full[rows - first]
    breaks = np.nonzero(np.diff(rows) != 1)[0] + 1
    if len(breaks) + 1 <= max(1, n // 16):
        # long contiguous runs (e.g. one spw's baselines per time): read each run
        bounds = np.concatenate([[0], breaks, [n]])
        parts = [get(t, int(rows[a]), int(b - a)) for a, b in zip(bounds[:-1], bounds[1:])]
        return np.concatenate(parts, axis=0)
    sub = t.selectrows(rows.tolist())
    try:
        return get(sub)
    finally:
        sub.close()


def _put_rows(t, col, rows, values):
    """Write ``values`` to sorted ``rows``: by contiguous runs when they are long,
    else through a reference table."""
    rows = np.asarray(rows, dtype=np.int64)
    n = len(rows)
    breaks = np.nonzero(np.diff(rows) != 1)[0] + 1
    if len(breaks) + 1 <= max(1, n // 16):
        bounds = np.concatenate([[0], breaks, [n]])
        for a, b in zip(bounds[:-1], bounds[1:]):
            t.putcol(col, np.ascontiguousarray(values[a:b]), startrow=int(rows[a]),
                     nrow=int(b - a))
        return
    ref = t.selectrows(rows.tolist())
    try:
        ref.putcol(col, np.ascontiguousarray(values))
    finally:
        ref.close()


def _inv_sq(x):
    """1/x**2 with 0 where x <= 0 (as float32)."""
    x = np.asarray(x, dtype=np.float32)
    out = np.zeros_like(x)
    np.divide(1.0, x * x, out=out, where=x > 0)
    return out


def _row_weight_sigma(w, flag):
    """WEIGHT and SIGMA of rows from a weight spectrum (n, nchan, ncorr), as
    CASA's mstransform: the means over the unflagged channels of WEIGHT_SPECTRUM
    and of 1/sqrt(WEIGHT_SPECTRUM) (over all channels when all are flagged)."""
    ss = _inv_sqrt(w)
    good = ~flag
    ng = good.sum(axis=1)
    allf = ng == 0
    use = good | allf[:, None, :]
    n = np.where(allf, flag.shape[1], ng).astype(np.float32)
    n = np.maximum(n, 1)
    wrow = (np.where(use, w, 0).sum(axis=1) / n).astype(np.float32)
    srow = (np.where(use, ss, 0).sum(axis=1) / n).astype(np.float32)
    # CASA's mark of a zero weight: sigma -1 (compared live)
    return wrow, _neg_zero(srow), _neg_zero(ss)


def _neg_zero(sigma):
    """-1 where a sigma derived from a weight is 0 (the weight was 0), as CASA."""
    return np.where(sigma > 0, sigma, np.float32(-1)).astype(np.float32)


def _inv_sqrt(w):
    w = np.asarray(w, dtype=np.float32)
    out = np.zeros_like(w)
    np.divide(1.0, np.sqrt(w, where=w > 0, out=np.zeros_like(w)), out=out, where=w > 0)
    return out


# ---------------------------------------------------------------------------
# the arithmetic (pure numpy; tests call these directly too)


def weighted_reduce(data_list, flag, weight, starts):
    """Weighted mean along axis 0 over segments beginning at ``starts``.

    ``data_list``: arrays (n, ...) to average (complex or real); ``flag`` (n, ...)
    bool; ``weight`` (n, ...) float32.  Returns (means, flag_out, weight_out):
    unflagged inputs only, unless all are flagged (then all inputs, flagged; 0
    when all their weights are 0).  Unflagged inputs of zero total weight give
    their plain mean.
    """
    with np.errstate(invalid="ignore", over="ignore"):   # inf/nan samples (LWA data):
        return _weighted_reduce(data_list, flag, weight, starts)   # results as CASA's


def _weighted_reduce(data_list, flag, weight, starts):
    good = ~flag
    wg = weight * good
    sw = np.add.reduceat(wg, starts, axis=0)
    cnt = np.add.reduceat(good.astype(np.float32), starts, axis=0)
    allf = cnt == 0
    swall = np.add.reduceat(weight, starts, axis=0)
    means = []
    for d in data_list:
        num = np.add.reduceat(d * wg, starts, axis=0)
        out = np.empty(num.shape, dtype=d.dtype)
        okw = sw > 0
        np.divide(num, sw, out=out, where=okw)
        bad = ~okw
        if bad.any():
            # unflagged but zero weight -> plain mean of unflagged
            s_good = np.add.reduceat(d * good, starts, axis=0)
            m1 = bad & ~allf
            if m1.any():
                out[m1] = s_good[m1] / cnt[m1]
            if allf.any():
                # every input flagged: their weighted mean; 0 when their weights
                # are all 0 too (as CASA 6.7, compared live on the MWA MS)
                s_all_w = np.add.reduceat(d * weight, starts, axis=0)
                wpos = swall > 0
                fb = np.where(wpos, s_all_w / np.where(wpos, swall, 1), 0)
                out[allf] = fb[allf]
        means.append(out)
    wout = np.where(allf, swall, sw).astype(np.float32)
    return means, allf, wout


def channel_average(data_list, flag, weight, width: int):
    """Average channel bins of ``width`` along axis 1 (arrays (n, nchan, ncorr)).

    ``nchan`` must be a multiple of ``width`` (the caller drops the rest).
    """
    n, nch, nc = flag.shape
    nout = nch // width

    def r(a):
        return np.ascontiguousarray(np.moveaxis(a.reshape(n, nout, width, nc), 2, 0))

    starts = np.array([0])
    # move the bin axis first and reduce it as a single segment
    means, fl, w = weighted_reduce([r(d) for d in data_list], r(flag), r(weight), starts)
    return [m[0] for m in means], fl[0], w[0]


def hanning_smooth(data_list, flag, weight):
    """Hanning-smooth along axis 1 (channels): 1/4, 1/2, 1/4.

    The first and last channel are flagged and keep their values; a smoothed
    channel is flagged if it or a neighbour is flagged.  The weights are
    returned unchanged: CASA's mstransform does not propagate weights through
    the smoothing (only through averaging and regridding).
    """
    out = []
    for d in data_list:
        s = d.copy()
        if d.shape[1] >= 3:
            # complex values as (re, im) pairs: real coefficients times a complex
            # inf stay inf, as in CASA (numpy's complex product makes them nan)
            dv = np.ascontiguousarray(d)
            sv = s
            if np.iscomplexobj(d):
                dv = dv.view(dv.real.dtype)
                sv = s.view(dv.dtype)
            with np.errstate(invalid="ignore", over="ignore"):   # inf/nan in the data
                sv[:, 1:-1] = 0.25 * dv[:, :-2] + 0.5 * dv[:, 1:-1] + 0.25 * dv[:, 2:]
        out.append(s)
    f = flag.copy()
    if flag.shape[1] >= 3:
        f[:, 1:-1] = flag[:, :-2] | flag[:, 1:-1] | flag[:, 2:]
    f[:, 0] = True
    f[:, -1] = True
    if weight is not None and weight.shape[1] >= 3:
        # the variance of the smoothed value: sum of kernel**2 / weight
        wt = np.asarray(weight, dtype=np.float64)
        inv = np.full(wt.shape, np.inf)
        np.divide(1.0, wt, out=inv, where=wt > 0)
        var = inv[:, :-2] / 16 + inv[:, 1:-1] / 4 + inv[:, 2:] / 16
        nw = np.array(weight, dtype=np.float32)
        mid = np.zeros(var.shape)
        np.divide(1.0, var, out=mid, where=np.isfinite(var))
        nw[:, 1:-1] = mid
        weight = nw
    return out, f, weight


# ---------------------------------------------------------------------------
# the plan, resolved against the MS


@dataclass
class _DDOut:
    ddid: int
    spw: int
    pol: int
    in_nchan: int
    in_ncorr: int
    chan_idx: np.ndarray          # selected input channels (sorted)
    corr_idx: np.ndarray          # selected input correlations
    width: int                    # channel bin
    nout: int                     # output channels
    new_ddid: int = -1
    new_spw: int = -1
    new_pol: int = -1

    @property
    def blc_trc(self):
        lo, hi = int(self.chan_idx[0]), int(self.chan_idx[-1])
        clo, chi = int(self.corr_idx[0]), int(self.corr_idx[-1])
        return [lo, clo], [hi, chi]


def _subtable(t, name):
    from casacore import tables as ct
    kw = t.getkeyword(name)
    return ct.table(kw[len("Table: "):] if isinstance(kw, str) else kw, ack=False)


class Transformer:
    """Runs one :class:`Plan` into ``outputvis``."""

    def __init__(self, plan: Plan, outputvis: str, log=None):
        self.plan = plan
        self.out = outputvis
        self.log = log or (lambda msg, prio="INFO": None)

    # -- preparation -----------------------------------------------------------
    def _prepare(self, tin):
        plan = self.plan
        self.colmap = resolve_datacolumn(tin.colnames(), plan.datacolumn, plan.vis)
        self.has_ws = column_has_data(tin, "WEIGHT_SPECTRUM")
        self.has_ss = column_has_data(tin, "SIGMA_SPECTRUM")
        srcs = [s for _, s in self.colmap]
        # which weights drive the averaging
        self.weight_from_sigma = "CORRECTED_DATA" not in srcs
        self.corrected_to_data = ("DATA", "CORRECTED_DATA") in self.colmap
        # CORRECTED_DATA written next to DATA (MODEL_DATA, FLOAT_DATA): as CASA 6.7
        # (compared live), WEIGHT/WEIGHT_SPECTRUM follow the CORRECTED weights and
        # SIGMA/SIGMA_SPECTRUM the DATA ones (1/SIGMA**2), each averaged on its own
        self.sigma_from_data = not self.weight_from_sigma and any(
            s_ != "CORRECTED_DATA" for s_ in srcs)

        with _subtable(tin, "DATA_DESCRIPTION") as t:
            dd_spw = t.getcol("SPECTRAL_WINDOW_ID")
            dd_pol = t.getcol("POLARIZATION_ID")
        with _subtable(tin, "SPECTRAL_WINDOW") as t:
            self.spw_nchan = t.getcol("NUM_CHAN")
        with _subtable(tin, "POLARIZATION") as t:
            self.pol_ncorr = t.getcol("NUM_CORR")

        rows = np.asarray(plan.rows, dtype=np.int64)
        nrow = tin.nrows()
        self.ddid_all = tin.getcol("DATA_DESC_ID").astype(np.int32) if nrow else \
            np.zeros(0, np.int32)
        ddid_sel = self.ddid_all[rows]
        used = np.unique(ddid_sel)
        self.dds = {}
        for d in used:
            spw, pol = int(dd_spw[d]), int(dd_pol[d])
            if spw not in plan.channels:
                continue
            cmask = np.asarray(plan.channels[spw], bool)
            pmask = np.asarray(plan.correlations.get(pol, np.ones(self.pol_ncorr[pol], bool)),
                               bool)
            cidx = np.nonzero(cmask)[0]
            pidx = np.nonzero(pmask)[0]
            if len(cidx) == 0 or len(pidx) == 0:
                continue
            w = plan.chanbin.get(spw, 1) if isinstance(plan.chanbin, dict) else plan.chanbin
            w = max(1, int(w))
            if w > len(cidx):
                # as CASA 6.7: the bin is clamped to the selected channels (one
                # output channel), with its WARN
                self.log(f"Number of selected channels {len(cidx)} for SPW {spw} is "
                         f"smaller than specified chanbin {w}", "WARN")
                self.log(f"Setting chanbin to {len(cidx)} for SPW {spw}", "WARN")
                w = len(cidx)
            nout = len(cidx) // w
            self.dds[int(d)] = _DDOut(int(d), spw, pol, int(self.spw_nchan[spw]),
                                      int(self.pol_ncorr[pol]), cidx, pidx, w, nout)
        keep = np.isin(ddid_sel, np.array(sorted(self.dds), dtype=np.int32))
        rows = rows[keep]
        if len(rows) == 0:
            raise ValueError("The data selection matches no rows of " + plan.vis)
        self.rows = rows
        # ids that remain
        spws = sorted({dd.spw for dd in self.dds.values()})
        if plan.combinespws:
            corr = {tuple(dd.corr_idx.tolist()) + (dd.in_ncorr,) for dd in self.dds.values()}
            if len({dd.pol for dd in self.dds.values()}) > 1 or len(corr) > 1:
                raise ValueError("combinespws: the selected spws have different "
                                 "polarization setups; select one correlation setup")
            if any(dd.width > 1 for dd in self.dds.values()):
                raise ValueError("combinespws: channel averaging of the combined spw is "
                                 "done with regridms=True, mode='channel', width=N")
            self.spw_map = {s: 0 for s in spws}
        else:
            self.spw_map = {s: i for i, s in enumerate(spws)}
        # the input spw whose SPECTRAL_WINDOW (and SOURCE, FEED...) rows stand for
        # each output spw
        self.spw_rep = {}
        for s_ in spws:
            self.spw_rep.setdefault(self.spw_map[s_], s_)
        self._rep_set = set(self.spw_rep.values())
        polkeys = []
        for dd in sorted(self.dds.values(), key=lambda x: x.ddid):
            key = (dd.pol, tuple(dd.corr_idx.tolist()))
            if key not in polkeys:
                polkeys.append(key)
        self.pol_keys = polkeys
        ddkeys = []
        for dd in sorted(self.dds.values(), key=lambda x: x.ddid):
            dd.new_spw = self.spw_map[dd.spw]
            dd.new_pol = polkeys.index((dd.pol, tuple(dd.corr_idx.tolist())))
            key = (dd.new_spw, dd.new_pol)
            if key not in ddkeys:
                ddkeys.append(key)
            dd.new_ddid = ddkeys.index(key)
        self.dd_keys = ddkeys
        fields_all = tin.getcol("FIELD_ID")
        fsel = fields_all[rows]
        self.fields = sorted(int(f) for f in np.unique(fsel))
        self.field_map = {f: i for i, f in enumerate(self.fields)}
        del fields_all
        if not plan.reindex:
            if plan.combinespws:
                raise ValueError("combinespws=True needs reindex=True")
            with _subtable(tin, "FIELD") as t:
                nfield = t.nrows()
            self.fields = list(range(nfield))
            self.field_map = {f: f for f in self.fields}
            self.spw_map = {s_: s_ for s_ in range(len(self.spw_nchan))}
            self.spw_rep = dict(self.spw_map)
            self._rep_set = set(self.spw_map)
            for dd in self.dds.values():
                dd.new_spw, dd.new_pol, dd.new_ddid = dd.spw, dd.pol, dd.ddid
        # input cell shape per ddid (to know when a span of rows is uniform)
        self.shape_id = np.zeros(len(dd_spw), np.int64)
        shapes = {}
        for d in range(len(dd_spw)):
            shp = (int(self.spw_nchan[dd_spw[d]]), int(self.pol_ncorr[dd_pol[d]]))
            self.shape_id[d] = shapes.setdefault(shp, len(shapes))
        self.uniform_shapes = len(set(self.shape_id[np.unique(self.ddid_all)].tolist())) <= 1 \
            if nrow else True

    def _smooth(self, spw):
        h = self.plan.hanning
        if isinstance(h, (set, frozenset, list, tuple)):
            return spw in h
        return bool(h)

    def _shape_ok(self, lo, hi):
        if self.uniform_shapes:
            return True
        s = self.shape_id[self.ddid_all[lo:hi + 1]]
        return bool((s == s[0]).all())

    # -- row grouping ------------------------------------------------------------
    def _drop_flagged_rows(self):
        """keepflags=False: drop rows with FLAG_ROW set or every FLAG set (whole
        cells, before the channel/correlation selection, as CASA's split)."""
        from casacore import tables as ct
        keep = np.ones(len(self.rows), bool)
        step = 200_000
        with ct.table(self.plan.vis, ack=False) as tin:
            frow = tin.getcol("FLAG_ROW")[self.rows] if "FLAG_ROW" in tin.colnames() else \
                np.zeros(len(self.rows), bool)
        for i in range(0, len(self.rows), step):
            r = self.rows[i:i + step]
            dd = self.ddid_all[r]
            for d in np.unique(dd):
                m = dd == d
                with ct.table(self.plan.vis, ack=False) as reader:
                    f = _read(reader, "FLAG", r[m], None, None, self._shape_ok)
                keep[i:i + step][m] = ~f.reshape(len(f), -1).all(axis=1)
        keep &= ~frow
        dropped = int((~keep).sum())
        self.rows = self.rows[keep]
        if dropped:
            self.log(f"keepflags=False: {dropped} completely flagged rows were dropped")
        if len(self.rows) == 0:
            raise ValueError("Every selected row is flagged and keepflags=False: "
                             "nothing to write")

    def _time_groups(self, tin):
        """Output groups for time averaging.

        Returns (order, starts): ``self.rows[order]`` lists input rows grouped by
        output row; ``starts`` are the group starts (output rows in order of
        their first input row).
        """
        plan = self.plan
        r = self.rows
        get = lambda c: tin.getcol(c)[r]  # noqa: E731
        time = get("TIME")
        interval = get("INTERVAL")
        ddkey = self.ddid_all[r].astype(np.int64) if not plan.combinespws else \
            np.zeros(len(r), np.int64)
        keys = [get("ARRAY_ID").astype(np.int64), get("OBSERVATION_ID").astype(np.int64),
                ddkey, get("ANTENNA1").astype(np.int64),
                get("ANTENNA2").astype(np.int64), get("FEED1").astype(np.int64),
                get("FEED2").astype(np.int64)]
        seg_keys = [keys[0], keys[1]]
        comb = set(plan.combine)
        fld = get("FIELD_ID").astype(np.int64)
        scan = get("SCAN_NUMBER").astype(np.int64)
        state = get("STATE_ID").astype(np.int64)
        if "field" not in comb:
            seg_keys.append(fld)
        if "scan" not in comb:
            seg_keys.append(scan)
        if "state" not in comb:
            seg_keys.append(state)
        seg = _group_ids(seg_keys)[1]
        # bins per baseline (and spw, feed) within each segment (CASA's rule)
        gid = _group_ids([seg] + keys[2:])[1]
        binid = _baseline_bins(gid, time, _bin_span(plan.timebin))[0]
        first, inv = _group_ids([binid] + keys[2:] + [keys[0], keys[1]])
        # output rows in time order (earliest input time of the group), then
        # in the order of their first input row
        tmin = np.full(len(first), np.inf)
        np.minimum.at(tmin, inv, time)
        rank = np.empty(len(first), np.int64)
        rank[np.lexsort((first, tmin))] = np.arange(len(first))
        out_of_in = rank[inv]
        order = np.argsort(out_of_in, kind="stable")
        counts = np.bincount(out_of_in, minlength=len(first))
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        self._time_cache = dict(time=time, interval=interval)
        return order, starts

    # -- output structure ---------------------------------------------------------
    def _out_columns(self, tin):
        cols = set(tin.colnames())
        out = {}
        for c in ("UVW",) + SCALAR_COLUMNS:
            if c in cols:
                out[c] = c
        for o, s in self.colmap:
            out[o] = s
        out["FLAG"] = "FLAG"
        out["WEIGHT"] = "WEIGHT"
        out["SIGMA"] = "SIGMA"
        if self.has_ws:
            out["WEIGHT_SPECTRUM"] = "WEIGHT_SPECTRUM"
        elif self.plan.extra.get("usewtspectrum"):
            # described like FLAG, stored as float
            out["WEIGHT_SPECTRUM"] = "FLAG"
            self._ws_from_flag_desc = True
        if self.has_ss:
            out["SIGMA_SPECTRUM"] = "SIGMA_SPECTRUM"
        elif "WEIGHT_SPECTRUM" in out:
            # as CASA: an output with WEIGHT_SPECTRUM also gets SIGMA_SPECTRUM
            out["SIGMA_SPECTRUM"] = out["WEIGHT_SPECTRUM"]
            self.out_ss = True
        if "FLAG_CATEGORY" in cols:
            out["FLAG_CATEGORY"] = "FLAG_CATEGORY"
        return out

    def _cell_shapes(self, outcols):
        dd0 = self.dds[sorted(self.dds)[0]]
        rg = self.plan.regrid
        nchan = rg[dd0.spw].nchan if rg and dd0.spw in rg else dd0.nout
        ncorr = len(dd0.corr_idx)
        shapes = {}
        for c in outcols:
            if c in DATA_COLUMNS or c in ("FLAG", "WEIGHT_SPECTRUM", "SIGMA_SPECTRUM"):
                shapes[c] = [ncorr, nchan]
            elif c in ("WEIGHT", "SIGMA"):
                shapes[c] = [ncorr]
            elif c == "FLAG_CATEGORY":
                shapes[c] = [1, ncorr, nchan]
        return shapes

    def _write_subtables_kept(self, tin, tout, path):
        """reindex=False: every subtable whole; only the spws / polarizations whose
        channels or correlations changed are rewritten (in their own rows)."""
        from casacore import tables as ct
        for name in subtable_names(tin):
            copy_subtable(tin, name, tout, path, None)
        by_spw = {}
        for dd in self.dds.values():
            by_spw.setdefault(dd.spw, dd)
        with ct.table(os.path.join(path, "SPECTRAL_WINDOW"), readonly=False, ack=False) as t:
            for spw, dd in by_spw.items():
                self._rewrite_spw_row(t, spw, dd)
        with ct.table(os.path.join(path, "POLARIZATION"), readonly=False, ack=False) as t:
            done = set()
            for dd in self.dds.values():
                if dd.pol in done or len(dd.corr_idx) == dd.in_ncorr:
                    continue
                done.add(dd.pol)
                cidx = list(dd.corr_idx)
                t.putcell("CORR_TYPE", dd.pol, np.asarray(t.getcell("CORR_TYPE", dd.pol))[cidx])
                t.putcell("CORR_PRODUCT", dd.pol,
                          np.asarray(t.getcell("CORR_PRODUCT", dd.pol))[cidx])
                t.putcell("NUM_CORR", dd.pol, len(cidx))

    def _warn_flag_cmd(self, path):
        """FLAG_CMD commands naming spws: rewritten for the output's spw ids and
        channels (:func:`rewrite_flag_command`) when spws were selected, re-indexed
        or channel-averaged; copied with a WARN when the channels were regridded or
        the spws combined (no channel mapping then)."""
        from casacore import tables as ct
        changed = any(k != v for k, v in self.spw_map.items()) or any(
            dd.width > 1 or dd.chan_idx[0] != 0 or len(dd.chan_idx) != dd.in_nchan
            for dd in self.dds.values()) or bool(self.plan.regrid) or \
            bool(self.plan.extra.get("spw_text", ""))
        if not changed:
            return
        try:
            with ct.table(path, ack=False) as t:
                if t.nrows() == 0 or "COMMAND" not in t.colnames():
                    return
                cmds = [str(c) for c in t.getcol("COMMAND")]
        except RuntimeError:
            return
        n = sum(1 for c in cmds if "spw" in c)
        if not n:
            return
        if self.plan.regrid or self.plan.combinespws:
            self.log(f"{n} FLAG_CMD command(s) select spectral windows; they were copied "
                     f"unchanged and still use the input's spw ids and channel numbers",
                     "WARN")
            return
        from .metadata import MSMetadata
        md = MSMetadata(self.plan.vis)
        out_spw = {}
        for dd in self.dds.values():
            out_spw[dd.spw] = (self.spw_map[dd.spw], np.asarray(dd.chan_idx), dd.width,
                               dd.nout)
        spw_text = str(self.plan.extra.get("spw_text", "") or "")
        new = [rewrite_flag_command(c, md, out_spw, spw_text) for c in cmds]
        nchanged = sum(1 for a, b in zip(cmds, new) if a != b)
        if nchanged:
            with ct.table(path, readonly=False, ack=False) as t:
                t.putcol("COMMAND", [str(c) for c in new])
            self.log(f"{nchanged} FLAG_CMD command(s) rewritten for the output's spectral "
                     f"windows and channels")

    def _refresh_spw_rep(self):
        """The input spw standing for each output spw, from ``spw_map`` (which a
        subclass may have replaced after ``_prepare``)."""
        self.spw_rep = {}
        for s_ in sorted(self.spw_map):
            self.spw_rep.setdefault(self.spw_map[s_], s_)
        self._rep_set = set(self.spw_rep.values())

    def _write_subtables(self, tin, tout, path):
        from casacore import tables as ct
        if not self.plan.reindex:
            return self._write_subtables_kept(tin, tout, path)
        self._refresh_spw_rep()
        names = subtable_names(tin)
        for name in names:
            if name in ("FIELD", "SPECTRAL_WINDOW", "DATA_DESCRIPTION", "POLARIZATION",
                        "SOURCE", "FEED"):
                continue
            sub = _subtable(tin, name)
            try:
                spwcol = "SPECTRAL_WINDOW_ID" in sub.colnames()
                n = sub.nrows()
                if spwcol and n:
                    s = sub.getcol("SPECTRAL_WINDOW_ID")
                    keep = [i for i in range(n) if int(s[i]) < 0 or int(s[i]) in self._rep_set]
                else:
                    keep = None
            finally:
                sub.close()
            dst = copy_subtable(tin, name, tout, path, keep)
            if name == "FLAG_CMD":
                self._warn_flag_cmd(dst)
            if keep is not None and keep:
                with ct.table(dst, readonly=False, ack=False) as t:
                    s = t.getcol("SPECTRAL_WINDOW_ID")
                    t.putcol("SPECTRAL_WINDOW_ID",
                             np.array([self.spw_map.get(int(x), int(x)) if x >= 0 else x
                                       for x in s], dtype=np.int32))
        # FIELD
        dst = copy_subtable(tin, "FIELD", tout, path, self.fields)
        # as CASA: SOURCE keeps the sources of the kept fields only, re-indexed
        # from 0 (FIELD.SOURCE_ID follows); a source no field names is dropped
        # (pyuvdata's MWA MS: FIELD SOURCE_ID -1, one SOURCE row -> none, as CASA)
        src_map = None
        if "SOURCE" in names:
            with ct.table(dst, readonly=False, ack=False) as t:
                if "SOURCE_ID" in t.colnames() and t.nrows():
                    fsid = np.asarray(t.getcol("SOURCE_ID"), np.int64)
                    used = sorted(int(x) for x in np.unique(fsid) if x >= 0)
                    src_map = {sid: i for i, sid in enumerate(used)}
                    t.putcol("SOURCE_ID", np.array([src_map.get(int(x), int(x))
                                                    for x in fsid], np.int32))
        # FEED: rows of kept spws (or -1), spw re-indexed
        if "FEED" in names:
            with _subtable(tin, "FEED") as t:
                s = t.getcol("SPECTRAL_WINDOW_ID") if t.nrows() else np.zeros(0, int)
            keep = [i for i in range(len(s)) if s[i] < 0 or int(s[i]) in self._rep_set]
            dst = copy_subtable(tin, "FEED", tout, path, keep)
            if keep:
                with ct.table(dst, readonly=False, ack=False) as t:
                    s2 = t.getcol("SPECTRAL_WINDOW_ID")
                    t.putcol("SPECTRAL_WINDOW_ID", np.array(
                        [self.spw_map.get(int(x), int(x)) if x >= 0 else x for x in s2],
                        dtype=np.int32))
        # SOURCE
        if "SOURCE" in names:
            with _subtable(tin, "SOURCE") as t:
                s = t.getcol("SPECTRAL_WINDOW_ID") if t.nrows() else np.zeros(0, int)
                sid = t.getcol("SOURCE_ID") if t.nrows() else np.zeros(0, int)
            keep = [i for i in range(len(s)) if (s[i] < 0 or int(s[i]) in self._rep_set)
                    and (src_map is None or int(sid[i]) in src_map)]
            dst = copy_subtable(tin, "SOURCE", tout, path, keep)
            if keep:
                with ct.table(dst, readonly=False, ack=False) as t:
                    if src_map is not None:
                        t.putcol("SOURCE_ID", np.array(
                            [src_map[int(x)] for x in t.getcol("SOURCE_ID")], np.int32))
                    s2 = t.getcol("SPECTRAL_WINDOW_ID")
                    t.putcol("SPECTRAL_WINDOW_ID", np.array(
                        [self.spw_map.get(int(x), int(x)) if x >= 0 else x for x in s2],
                        dtype=np.int32))
        # SPECTRAL_WINDOW
        spws = [self.spw_rep[k] for k in sorted(self.spw_rep)]
        dst = copy_subtable(tin, "SPECTRAL_WINDOW", tout, path, spws)
        by_spw = {}
        for dd in self.dds.values():
            by_spw.setdefault(dd.spw, dd)
        with ct.table(dst, readonly=False, ack=False) as t:
            for i, spw in enumerate(spws):
                dd = by_spw[spw]
                self._rewrite_spw_row(t, i, dd)
        # POLARIZATION
        pols = [k[0] for k in self.pol_keys]
        dst = copy_subtable(tin, "POLARIZATION", tout, path, pols)
        with ct.table(dst, readonly=False, ack=False) as t:
            for i, (_pol, cidx) in enumerate(self.pol_keys):
                cidx = list(cidx)
                ctype = t.getcell("CORR_TYPE", i)
                cprod = t.getcell("CORR_PRODUCT", i)
                if len(cidx) != len(ctype):
                    t.putcell("CORR_TYPE", i, np.asarray(ctype)[cidx])
                    t.putcell("CORR_PRODUCT", i, np.asarray(cprod)[cidx])
                    t.putcell("NUM_CORR", i, len(cidx))
        # DATA_DESCRIPTION
        ddrows = []
        for key in self.dd_keys:
            dd = next(d for d in sorted(self.dds.values(), key=lambda x: x.ddid)
                      if (d.new_spw, d.new_pol) == key)
            ddrows.append(dd.ddid)
        dst = copy_subtable(tin, "DATA_DESCRIPTION", tout, path, ddrows)
        with ct.table(dst, readonly=False, ack=False) as t:
            t.putcol("SPECTRAL_WINDOW_ID", np.array([k[0] for k in self.dd_keys], np.int32))
            t.putcol("POLARIZATION_ID", np.array([k[1] for k in self.dd_keys], np.int32))

    def _rewrite_spw_row(self, t, i, dd):
        freq = np.asarray(t.getcell("CHAN_FREQ", i), float)
        width = np.asarray(t.getcell("CHAN_WIDTH", i), float)
        cols = set(t.colnames())
        ebw = np.asarray(t.getcell("EFFECTIVE_BW", i), float) if "EFFECTIVE_BW" in cols \
            else np.abs(width)
        res = np.asarray(t.getcell("RESOLUTION", i), float) if "RESOLUTION" in cols \
            else np.abs(width)
        if self.plan.regrid and dd.spw in self.plan.regrid:
            spec = self.plan.regrid[dd.spw]
            nf = np.asarray(spec.freq, float)
            nw = np.asarray(spec.width, float)
            if "MEAS_FREQ_REF" in cols:
                t.putcell("MEAS_FREQ_REF", i, int(spec.frame_code))
            ne = np.abs(nw)
            nr = np.abs(nw)
        else:
            idx = dd.chan_idx[:dd.nout * dd.width].reshape(dd.nout, dd.width)
            nf = freq[idx].mean(axis=1)
            nw = width[idx].sum(axis=1)
            ne = ebw[idx].sum(axis=1)
            nr = res[idx].sum(axis=1) if dd.width > 1 else res[idx][:, 0]
        unchanged = len(nf) == len(freq) and np.array_equal(nf, freq) and \
            np.array_equal(nr, res)
        if unchanged:
            if self.plan.regrid and dd.spw in self.plan.regrid and "REF_FREQUENCY" in cols:
                # as CASA: a regridded spw's REF_FREQUENCY is its first channel
                t.putcell("REF_FREQUENCY", i, float(nf[0]))
            return
        t.putcell("CHAN_FREQ", i, nf)
        t.putcell("CHAN_WIDTH", i, nw)
        if "EFFECTIVE_BW" in cols:
            t.putcell("EFFECTIVE_BW", i, ne)
        if "RESOLUTION" in cols:
            t.putcell("RESOLUTION", i, nr)
        t.putcell("NUM_CHAN", i, int(len(nf)))
        lo = np.min(nf - np.abs(nw) / 2)
        hi = np.max(nf + np.abs(nw) / 2)
        t.putcell("TOTAL_BANDWIDTH", i, float(hi - lo))
        if "REF_FREQUENCY" in cols and not (len(nf) == len(freq) and np.array_equal(nf, freq)):
            t.putcell("REF_FREQUENCY", i, float(nf[0]))

    # -- run -----------------------------------------------------------------------
    def run(self):
        from casacore import tables as ct
        plan = self.plan
        tin = ct.table(plan.vis, ack=False)
        try:
            self._prepare(tin)
            if not plan.keepflags:
                tin.close()   # see the note below on tile caches
                self._drop_flagged_rows()
                tin = ct.table(plan.vis, ack=False)
            # time averaging of time-ordered rows: the bins are formed chunk by
            # chunk while the data are written (memory bounded by the chunk and
            # the bins still open), else from whole-selection arrays
            stream = bool(plan.timebin and plan.timebin > 0) and not plan.combinespws \
                and self._rows_time_sorted(tin)
            if stream:
                order, starts = None, None
            elif (plan.timebin and plan.timebin > 0) or plan.combinespws:
                order, starts = self._time_groups(tin)
            else:
                order, starts = None, None
            nout = 0 if stream else len(self.rows) if starts is None else len(starts)
            outcols = self._out_columns(tin)
            shapes = self._cell_shapes(outcols)
            with staged_output(self.out) as tmp:
                tout = create_main_table(tmp, tin, outcols, shapes, nout)
                try:
                    self._write_subtables(tin, tout, tmp)
                    _drop_virtual_model(tout)
                    # no handle of the input may stay open while the data are
                    # streamed: casacore's tile caches of a table object grow with
                    # every getcolslice; each block opens (and closes) its own.
                    tin.close()
                    if stream:
                        nout = 0
                        for sel, grp_starts in self._stream_time_groups():
                            nout = self._write_groups(tout, outcols, sel, grp_starts, nout)
                    else:
                        self._write_main(None, tout, outcols, order, starts)
                    tout.flush()
                finally:
                    tout.close()
            return {"nrows": int(nout)}
        finally:
            tin.close()

    def _block_rows(self):
        """Input rows per block from the widest selected cell."""
        per = 0
        for dd in self.dds.values():
            blc, trc = dd.blc_trc
            ncell = (trc[0] - blc[0] + 1) * (trc[1] - blc[1] + 1)
            per = max(per, ncell * (8 * len(self.colmap) + 1 + 4 * (1 + self.has_ws
                                                                      + self.has_ss)))
        # working arrays take a few times the input size
        return int(max(64, self.plan.block_bytes // max(1, per * 4)))

    def _write_main(self, tin, tout, outcols, order, starts):
        nblock = self._block_rows()
        if starts is None:
            nout = len(self.rows)
            for o0 in range(0, nout, nblock):
                o1 = min(nout, o0 + nblock)
                rows = self.rows[o0:o1]
                self._process(tin, tout, outcols, rows, None, o0)
        else:
            nout = len(starts)
            ends = np.append(starts[1:], len(order))
            o0 = 0
            while o0 < nout:
                # as many output rows as keep the input rows under nblock
                lim = starts[o0] + nblock
                o1 = int(np.searchsorted(ends, lim, side="right"))
                o1 = max(o1, o0 + 1)
                o1 = min(o1, nout)
                sel = order[starts[o0]:ends[o1 - 1]]
                seg_starts = starts[o0:o1] - starts[o0]
                self._process(tin, tout, outcols, self.rows[sel], seg_starts, o0, sel)
                o0 = o1

    def _write_groups(self, tout, outcols, sel, starts, out0):
        """Append the output rows of groups ``starts`` of ``self.rows[sel]`` at
        ``out0``, in blocks of bounded size; returns the next output row."""
        nblock = self._block_rows()
        nout = len(starts)
        ends = np.append(starts[1:], len(sel))
        tout.addrows(nout)
        o0 = 0
        while o0 < nout:
            lim = starts[o0] + nblock
            o1 = min(nout, max(o0 + 1, int(np.searchsorted(ends, lim, side="right"))))
            part = sel[starts[o0]:ends[o1 - 1]]
            self._process(None, tout, outcols, self.rows[part], starts[o0:o1] - starts[o0],
                          out0 + o0, part)
            o0 = o1
        return out0 + nout

    def _scalar_rows(self, tin, rs, cols):
        """Scalar columns of the sorted input rows ``rs``."""
        span = int(rs[-1] - rs[0] + 1)
        out = {}
        if span <= 3 * len(rs):
            for c in cols:
                out[c] = tin.getcol(c, int(rs[0]), span)[rs - rs[0]]
        else:
            sub = tin.selectrows(rs.tolist())
            for c in cols:
                out[c] = sub.getcol(c)
            sub.close()
        return out

    def _group_chunk_rows(self):
        # ~100 bytes of ids and times per row: 50,000 rows are ~5 MB
        return max(50_000, self._block_rows())

    def _rows_time_sorted(self, tin):
        """True when TIME does not decrease along the selected rows (read in chunks)."""
        last = -np.inf
        step = self._group_chunk_rows()
        for i0 in range(0, len(self.rows), step):
            t = self._scalar_rows(tin, self.rows[i0:i0 + step], ["TIME"])["TIME"]
            if len(t) and (t[0] < last or (np.diff(t) < 0).any()):
                return False
            if len(t):
                last = t[-1]
        return True

    def _stream_time_groups(self):
        """Time-averaging groups of time-ordered rows, chunk by chunk.

        Yields (sel, starts): ``self.rows[sel]`` grouped by output row, ``starts``
        the group starts, in the output order of :meth:`_time_groups` (groups by
        earliest time, then first row).  A bin is complete once the data have
        passed its end; a complete group is emitted once no open bin can hold an
        earlier group.  Memory: one chunk plus the rows of the bins still open.
        """
        from casacore import tables as ct
        plan = self.plan
        thr = _bin_span(plan.timebin)
        comb = set(plan.combine)
        segcols = ["ARRAY_ID", "OBSERVATION_ID"] + [
            c for c, k in (("FIELD_ID", "field"), ("SCAN_NUMBER", "scan"),
                           ("STATE_ID", "state")) if k not in comb]
        grpcols = ["ANTENNA1", "ANTENNA2", "FEED1", "FEED2", "ARRAY_ID", "OBSERVATION_ID"]
        cols = sorted(set(["TIME"] + segcols + grpcols))
        nrows = len(self.rows)
        step = self._group_chunk_rows()
        state = {}          # (segment, baseline, spw, feeds) -> (its last bin's start, id)
        bin_start = np.zeros(0)   # bin id -> start time
        next_id = 0
        pend = None         # rows not emitted yet: {"idx", "time", "bin", "dd", grpcols...}
        tin = ct.table(plan.vis, ack=False)
        try:
            for i0 in range(0, nrows, step):
                i1 = min(nrows, i0 + step)
                rs = self.rows[i0:i1]
                d = self._scalar_rows(tin, rs, cols)
                t = np.asarray(d["TIME"], np.float64)
                gk = [np.asarray(d[c], np.int64) for c in segcols + grpcols] + \
                    [self.ddid_all[rs].astype(np.int64)]
                gfirst, ginv = _group_ids(gk)
                keys = list(zip(*[a[gfirst].tolist() for a in gk]))
                ost = np.array([state.get(k, (np.nan, -1))[0] for k in keys], np.float64)
                oid = np.array([state.get(k, (np.nan, -1))[1] for k in keys], np.int64)
                old_next = next_id
                binid, ls, lid, next_id = _baseline_bins(ginv, t, thr, ost, oid, next_id)
                for k, a_, b_ in zip(keys, ls.tolist(), lid.tolist()):
                    state[k] = (a_, b_)
                if next_id > old_next:
                    bs_new = np.full(next_id - old_next, np.inf)
                    m = binid >= old_next
                    np.minimum.at(bs_new, binid[m] - old_next, t[m])
                    bin_start = np.concatenate([bin_start, bs_new])
                del gk
                new = {"idx": np.arange(i0, i1, dtype=np.int64), "time": t, "bin": binid,
                       "dd": self.ddid_all[rs].astype(np.int64)}
                for c in grpcols:
                    new[c] = np.asarray(d[c], np.int64)
                del d
                pend = new if pend is None else {c: np.concatenate([pend[c], new[c]])
                                                 for c in new}
                t_next = float(tin.getcell("TIME", int(self.rows[i1]))) if i1 < nrows \
                    else np.inf
                bs = bin_start[pend["bin"]]
                closed = bs + thr < t_next
                open_start = bs[~closed].min() if (~closed).any() else np.inf
                if not closed.any():
                    continue
                c_idx = np.nonzero(closed)[0]
                first, inv = _group_ids([pend["bin"][c_idx], pend["dd"][c_idx]] +
                                        [pend[c][c_idx] for c in grpcols])
                tmin = np.full(len(first), np.inf)
                np.minimum.at(tmin, inv, pend["time"][c_idx])
                emit_g = tmin < open_start
                if not emit_g.any():
                    continue
                emit_rows = emit_g[inv]
                e_idx = c_idx[emit_rows]
                g_of = inv[emit_rows]
                gsel = np.nonzero(emit_g)[0]
                rank = np.full(len(first), -1, np.int64)
                rank[gsel[np.lexsort((first[gsel], tmin[gsel]))]] = np.arange(len(gsel))
                out_of_in = rank[g_of]
                order = np.argsort(out_of_in, kind="stable")
                counts = np.bincount(out_of_in, minlength=len(gsel))
                starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
                yield pend["idx"][e_idx[order]], starts
                keep = np.ones(len(pend["idx"]), bool)
                keep[e_idx] = False
                pend = {c: a[keep] for c, a in pend.items()}
        finally:
            tin.close()

    def _read_dd_block(self, tin, rows, m_in, dd, scal):
        """The data, FLAG and weight columns of ``rows[m_in]`` (one ddid), and their
        flags with FLAG_ROW applied."""
        names = [s for _, s in self.colmap] + ["FLAG", "WEIGHT", "SIGMA"]
        if self.has_ws:
            names.append("WEIGHT_SPECTRUM")
        if self.has_ss:
            names.append("SIGMA_SPECTRUM")
        arr = self._read_block(tin, rows[m_in], dd, names)
        flag = arr["FLAG"]
        if "FLAG_ROW" in scal:
            fr = scal["FLAG_ROW"][m_in]
            if fr.any():
                flag = flag | fr[:, None, None]
        return arr, flag

    def _read_block(self, tin, rows, dd, names):
        """Read the selected channels/correlations of ``names`` for ``rows`` (one ddid)."""
        blc, trc = dd.blc_trc
        srt = np.argsort(rows, kind="stable")
        rs = rows[srt]
        contiguous_chan = dd.chan_idx[-1] - dd.chan_idx[0] + 1 == len(dd.chan_idx)
        contiguous_corr = dd.corr_idx[-1] - dd.corr_idx[0] + 1 == len(dd.corr_idx)
        out = {}
        for name in names:
            if name in ("WEIGHT", "SIGMA"):
                a = _read(tin, name, rs, [blc[1]], [trc[1]], self._shape_ok)
                if not contiguous_corr:
                    a = a[:, dd.corr_idx - blc[1]]
            else:
                full = blc[0] == 0 and trc[0] == dd.in_nchan - 1 and blc[1] == 0 and \
                    trc[1] == dd.in_ncorr - 1
                a = _read(tin, name, rs, None if full else blc, None if full else trc,
                          self._shape_ok)
                if not contiguous_chan:
                    a = a[:, dd.chan_idx - blc[0]]
                if not contiguous_corr:
                    a = a[:, :, dd.corr_idx - blc[1]]
            inv = np.empty_like(srt)
            inv[srt] = np.arange(len(srt))
            out[name] = a[inv] if not np.array_equal(srt, np.arange(len(srt))) else a
        return out

    def _process(self, tin, tout, outcols, rows, seg_starts, out0, sel=None):
        """Process input ``rows`` (grouped by output row when ``seg_starts``)."""
        from casacore import tables as ct
        plan = self.plan
        tin = ct.table(plan.vis, ack=False)   # this block's own handle (see run())
        n_in = len(rows)
        n_out = n_in if seg_starts is None else len(seg_starts)
        dd_of = self.ddid_all[rows]
        averaging = seg_starts is not None
        chanavg = any(d.width > 1 for d in self.dds.values())
        needs_weights = averaging or chanavg or bool(plan.hanning) or bool(plan.regrid)
        # scalar columns
        srt = np.argsort(rows, kind="stable")
        rs = rows[srt]
        inv = np.empty_like(srt)
        inv[srt] = np.arange(len(srt))
        span = int(rs[-1] - rs[0] + 1)
        scal = {}
        for c in [c for c in outcols if c in SCALAR_COLUMNS or c == "UVW"]:
            if span <= 3 * n_in:
                a = tin.getcol(c, int(rs[0]), span)[rs - rs[0]]
            else:
                sub = tin.selectrows(rs.tolist())
                a = sub.getcol(c)
                sub.close()
            scal[c] = a[inv]
        # output row index of each input row (relative to the block)
        if averaging:
            grp = np.zeros(n_in, np.int64)
            grp[seg_starts[1:]] = 1
            grp = np.cumsum(grp)
            seg_dd = dd_of[seg_starts]
        else:
            grp = np.arange(n_in)
            seg_dd = dd_of
        results = []  # (positions in block, {col: array})
        row_allflag = np.zeros(n_out, bool)
        row_w = np.zeros(n_in) if averaging else None   # row weights (0: row flagged)
        if plan.combinespws:
            results, row_allflag = self._combined(tin, rows, seg_starts, scal, dd_of, row_w)
        for d in ([] if plan.combinespws else np.unique(dd_of)):
            dd = self.dds[int(d)]
            m_in = np.nonzero(dd_of == d)[0]
            m_out = np.nonzero(seg_dd == d)[0]
            arr, flag = self._read_dd_block(tin, rows, m_in, dd, scal)
            if averaging:
                self._note_row_weights(row_w, m_in, arr["WEIGHT"], flag)
            datas = [arr[s] for _, s in self.colmap]
            res = {}
            dd_weights = averaging or dd.width > 1 or self._smooth(dd.spw) or \
                bool(plan.regrid and dd.spw in plan.regrid)
            if not dd_weights:
                out_flag = arr["FLAG"]
                if self._smooth(dd.spw):
                    # smoothing only: weights and sigmas are copied (as CASA)
                    datas, out_flag, _ = hanning_smooth(datas, out_flag, None)
                if "FLAG_ROW" in scal:
                    row_allflag[m_out] = scal["FLAG_ROW"][m_in]
                for (o, s), dta in zip(self.colmap, datas):
                    res[o] = dta
                res["FLAG"] = out_flag
                # without averaging (as CASA 6.7, compared live): the DATA side
                # writes WEIGHT = 1/SIGMA**2 (the input WEIGHT is not copied), the
                # CORRECTED side copies WEIGHT; SIGMA comes from the DATA side when
                # there is one, else SIGMA(_SPECTRUM) = 1/sqrt(WEIGHT(_SPECTRUM))
                res["WEIGHT"] = _inv_sq(arr["SIGMA"]) if self.weight_from_sigma \
                    else arr["WEIGHT"]
                if self.corrected_to_data:
                    res["SIGMA"] = _inv_sqrt(arr["WEIGHT"])
                    if self.has_ws:
                        res["SIGMA_SPECTRUM"] = _inv_sqrt(arr["WEIGHT_SPECTRUM"])
                    elif self.has_ss:
                        res["SIGMA_SPECTRUM"] = np.broadcast_to(
                            res["SIGMA"][:, None, :], flag.shape).copy()
                else:
                    res["SIGMA"] = arr["SIGMA"]
                    if self.has_ss:
                        res["SIGMA_SPECTRUM"] = arr["SIGMA_SPECTRUM"]
                if getattr(self, "out_ss", False) and "SIGMA_SPECTRUM" not in res:
                    res["SIGMA_SPECTRUM"] = np.ascontiguousarray(np.broadcast_to(
                        res["SIGMA"].astype(np.float32)[:, None, :], flag.shape))
                if self.has_ws:
                    res["WEIGHT_SPECTRUM"] = arr["WEIGHT_SPECTRUM"]
                elif plan.extra.get("usewtspectrum"):
                    res["WEIGHT_SPECTRUM"] = np.ascontiguousarray(np.broadcast_to(
                        arr["WEIGHT"].astype(np.float32)[:, None, :], flag.shape))
                results.append((m_out, res))
                continue
            # averaging weights per channel
            w = self._avg_weights(arr, flag.shape)
            # the DATA weights that SIGMA follows when CORRECTED_DATA is written too
            w2 = self._avg_weights(arr, flag.shape, from_sigma=True) \
                if self.sigma_from_data else None
            rtime = scal["TIME"][m_in] if "TIME" in scal else np.zeros(len(m_in))
            rfield = scal["FIELD_ID"][m_in] if "FIELD_ID" in scal else np.zeros(len(m_in), int)
            # CASA's order (compared live): time averaging, channel averaging,
            # Hanning smoothing, regridding (channel averaging and regridding
            # exclude each other)
            steps = []
            if averaging:
                local = seg_starts_for(grp[m_in])
                steps.append(lambda d_, f_, w_: weighted_reduce(d_, f_, w_, local))
                rtime, rfield = rtime[local], rfield[local]
            if dd.width > 1 and not (plan.regrid and dd.spw in plan.regrid):
                k = dd.nout * dd.width
                steps.append(lambda d_, f_, w_: channel_average(
                    [x[:, :k] for x in d_], f_[:, :k], w_[:, :k], dd.width))
            if self._smooth(dd.spw):
                steps.append(hanning_smooth)
            if plan.regrid and dd.spw in plan.regrid:
                rg = plan.regrid[dd.spw]
                steps.append(lambda d_, f_, w_: rg.apply(d_, f_, w_, rtime, rfield))
            # with CORRECTED_DATA and DATA together each column is averaged with
            # its own weights (as CASA 6.7, compared live): DATA (FLOAT_DATA) with
            # 1/SIGMA**2, CORRECTED_DATA and MODEL_DATA with the CORRECTED ones
            own = [w2 is not None and s_ in ("DATA", "FLOAT_DATA") for _, s_ in self.colmap]
            for step in steps:
                if w2 is not None:
                    d2, _, w2 = step([d for d, o in zip(datas, own) if o], flag, w2)
                    d1, flag, w = step([d for d, o in zip(datas, own) if not o], flag, w)
                    it1, it2 = iter(d1), iter(d2)
                    datas = [next(it2) if o else next(it1) for o in own]
                else:
                    datas, flag, w = step(datas, flag, w)
            for (o, s), dta in zip(self.colmap, datas):
                res[o] = dta
            res["FLAG"] = flag
            res["WEIGHT_SPECTRUM"] = w
            res["WEIGHT"], res["SIGMA"], res["SIGMA_SPECTRUM"] = _row_weight_sigma(w, flag)
            wrow_sigma = res["WEIGHT"]
            if w2 is not None:
                wrow_sigma, res["SIGMA"], res["SIGMA_SPECTRUM"] = _row_weight_sigma(w2, flag)
            if not (dd.width > 1 or self._smooth(dd.spw) or
                    (plan.regrid and dd.spw in plan.regrid)):
                # time averaging alone: SIGMA from the row WEIGHT (as CASA)
                res["SIGMA"] = _neg_zero(_inv_sqrt(wrow_sigma))
            row_allflag[m_out] = flag.reshape(len(flag), -1).all(axis=1)
            results.append((m_out, res))

        tin.close()
        # scalar / UVW columns of the output rows
        out_scal = {}
        if averaging:
            out_scal = self._average_scalars(scal, seg_starts, row_w)
        else:
            out_scal = dict(scal)
        if "FIELD_ID" in out_scal:
            fm = np.zeros(max(self.field_map) + 1, np.int32)
            for k, v in self.field_map.items():
                fm[k] = v
            out_scal["FIELD_ID"] = fm[out_scal["FIELD_ID"]]
        ddm = np.full(len(self.ddid_all) and (self.ddid_all.max() + 1), -1, np.int32)
        for k, v in self.dds.items():
            ddm[k] = v.new_ddid
        out_scal["DATA_DESC_ID"] = ddm[seg_dd]
        if averaging and "FLAG_ROW" in out_scal:
            # as CASA 6.7 (compared live): time-averaged rows have FLAG_ROW False,
            # also when every flag is set (the flags say it); without time
            # averaging FLAG_ROW is copied
            out_scal["FLAG_ROW"] = np.zeros(n_out, bool)
        for c, a in out_scal.items():
            tout.putcol(c, np.ascontiguousarray(a), startrow=out0, nrow=n_out)
        # array columns
        for c in [c for c in outcols if c not in SCALAR_COLUMNS and c != "UVW"
                  and c != "FLAG_CATEGORY"]:
            parts = [(pos, r[c]) for pos, r in results if c in r]
            if not parts:
                continue
            shapes = {p[1].shape[1:] for p in parts}
            if len(shapes) == 1:
                if len(parts) == 1 and len(parts[0][0]) == n_out:
                    full = parts[0][1]
                else:
                    full = np.empty((n_out,) + parts[0][1].shape[1:], parts[0][1].dtype)
                    for pos, a in parts:
                        full[pos] = a
                tout.putcol(c, np.ascontiguousarray(full), startrow=out0, nrow=n_out)
            else:
                for pos, a in parts:
                    _put_rows(tout, c, out0 + pos, a)

    def _avg_weights(self, arr, shape, from_sigma=False):
        """Per-channel averaging weights (see the module docstring); ``from_sigma``:
        those of DATA (1/SIGMA**2) whatever the columns."""
        if self.weight_from_sigma or from_sigma:
            if self.has_ss:
                w = _inv_sq(arr["SIGMA_SPECTRUM"])
            else:
                w = np.broadcast_to(_inv_sq(arr["SIGMA"])[:, None, :], shape)
        elif self.has_ws:
            w = arr["WEIGHT_SPECTRUM"].astype(np.float32, copy=False)
        else:
            w = np.broadcast_to(arr["WEIGHT"].astype(np.float32)[:, None, :], shape)
        return np.ascontiguousarray(w, dtype=np.float32)

    @staticmethod
    def _note_row_weights(row_w, m_in, weight, flag):
        """Row weight for TIME_CENTROID/UVW/EXPOSURE averages: the sum of WEIGHT over
        the correlations that are not entirely flagged (0 for a flagged row)."""
        corr_ok = ~flag.all(axis=1)                       # (n, ncorr)
        row_w[m_in] = np.where(corr_ok, weight.astype(np.float64), 0.0).sum(axis=1)
        # a row with unflagged data but zero weights still counts (tiny weight)
        live = corr_ok.any(axis=1) & (row_w[m_in] <= 0)
        row_w[m_in[live]] = 1e-30

    def _combined(self, tin, rows, seg_starts, scal, dd_of, row_w=None):
        """combinespws: every row regridded onto the common grid, then the rows of
        one output row (same time bin and baseline, any spw) combined."""
        plan = self.plan
        n_in = len(rows)
        n_out = len(seg_starts)
        dall = fall = wall = None
        for d in np.unique(dd_of):
            dd = self.dds[int(d)]
            m_in = np.nonzero(dd_of == d)[0]
            arr, flag = self._read_dd_block(tin, rows, m_in, dd, scal)
            if row_w is not None:
                self._note_row_weights(row_w, m_in, arr["WEIGHT"], flag)
            datas = [arr[s] for _, s in self.colmap]
            w = self._avg_weights(arr, flag.shape)
            if self._smooth(dd.spw):
                datas, flag, w = hanning_smooth(datas, flag, w)
            datas, flag, w = plan.regrid[dd.spw].apply(
                datas, flag, w, scal["TIME"][m_in], scal["FIELD_ID"][m_in])
            if dall is None:
                dall = [np.empty((n_in,) + x.shape[1:], x.dtype) for x in datas]
                fall = np.empty((n_in,) + flag.shape[1:], bool)
                wall = np.empty((n_in,) + w.shape[1:], np.float32)
            for a, x in zip(dall, datas):
                a[m_in] = x
            fall[m_in] = flag
            wall[m_in] = w
        datas, flag, w = weighted_reduce(dall, fall, wall, seg_starts)
        for x in datas:
            # as CASA 6.7 (compared live): a combined channel whose inputs are all
            # flagged is 0
            x[flag] = 0
        res = {o: x for (o, _), x in zip(self.colmap, datas)}
        res["FLAG"] = flag
        res["WEIGHT_SPECTRUM"] = w
        res["WEIGHT"], res["SIGMA"], res["SIGMA_SPECTRUM"] = _row_weight_sigma(w, flag)
        return [(np.arange(n_out), res)], flag.reshape(n_out, -1).all(axis=1)

    def _average_scalars(self, scal, seg_starts, row_w):
        """Row values of averaged rows.

        TIME is the midpoint of the first and last input times, INTERVAL the span
        from the start of the first to the end of the last integration; EXPOSURE
        the sum over unflagged input rows; TIME_CENTROID and UVW the means
        weighted by the row weights of unflagged rows (plain means when every
        input row is flagged); ids come from the first input row.
        """
        n_in = len(next(iter(scal.values())))
        counts = np.diff(np.append(seg_starts, n_in)).astype(float)
        out = {}
        for c, a in scal.items():
            out[c] = a[seg_starts]
        live = row_w > 0
        nlive = np.add.reduceat(live.astype(float), seg_starts)
        wsum = np.add.reduceat(row_w, seg_starts)
        use_w = nlive > 0
        wt = np.where(use_w[np.repeat(np.arange(len(seg_starts)), counts.astype(int))],
                      row_w, 1.0)
        den = np.where(use_w, wsum, counts)
        if "TIME" in scal:
            t = scal["TIME"]
            tmin = np.minimum.reduceat(t, seg_starts)
            # as CASA: the bin ends with its last row holding unflagged data (its
            # last row when all are flagged); it starts with its first row, flagged
            # or not
            rep_live = np.repeat(nlive > 0, counts.astype(int))
            tmax = np.maximum.reduceat(np.where(rep_live & ~live, -np.inf, t), seg_starts)
            out["TIME"] = tmin + (tmax - tmin) / 2
            if "INTERVAL" in scal:
                iv = scal["INTERVAL"]
                # the intervals of the first and the last integration
                big = np.iinfo(np.int64).max
                idx = np.arange(n_in)
                first_i = np.minimum.reduceat(np.where(t == np.repeat(tmin, counts.astype(int)),
                                                       idx, big), seg_starts)
                last_i = np.minimum.reduceat(np.where(t == np.repeat(tmax, counts.astype(int)),
                                                      idx, big), seg_starts)
                span = tmax - tmin
                out["INTERVAL"] = np.where(span > 0, span + iv[first_i] / 2 + iv[last_i] / 2,
                                           iv[first_i])
        if "TIME_CENTROID" in scal:
            tc = scal["TIME_CENTROID"]
            base = np.repeat(tc[seg_starts], counts.astype(int))
            out["TIME_CENTROID"] = tc[seg_starts] + \
                np.add.reduceat((tc - base) * wt, seg_starts) / den
        if "EXPOSURE" in scal:
            ex = scal["EXPOSURE"]
            rep_use = np.repeat(use_w, counts.astype(int))
            ex_used = np.where(rep_use & ~live, 0.0, ex)
            exs = np.add.reduceat(ex_used, seg_starts)
            if self.plan.combinespws and "INTERVAL" in out:
                # rows of several spws cover the same time: not summed over spws
                exs = np.minimum(exs, out["INTERVAL"])
            out["EXPOSURE"] = exs
        if "UVW" in scal:
            out["UVW"] = np.add.reduceat(scal["UVW"] * wt[:, None], seg_starts, axis=0) / \
                den[:, None]
        return out

    # convenience
    @property
    def summary(self):
        return {"fields": self.fields, "spws": sorted(self.spw_map)}


def _group_ids(columns):
    """(first index, group id) of the distinct rows of several integer columns.

    Each column is factorised and the codes combined in one int64 key (mixed
    radix), so memory stays a few arrays of the column length.
    """
    key = np.zeros(len(columns[0]), np.int64)
    radix = 1
    for col in columns:
        codes = np.unique(col, return_inverse=True)[1].ravel().astype(np.int64)
        n = int(codes.max()) + 1 if len(codes) else 1
        if radix * n >= 2 ** 62:   # would overflow: compact what we have so far
            key = np.unique(key, return_inverse=True)[1].ravel().astype(np.int64)
            radix = int(key.max()) + 1 if len(key) else 1
        key = key * n + codes
        radix *= n
    _, first, inv = np.unique(key, return_index=True, return_inverse=True)
    return first, inv.ravel()


def _drop_virtual_model(tout):
    """As CASA 6.7's split/mstransform/hanningsmooth (compared live): the virtual
    model of setjy/ft (``definedmodel_field_N`` and the ``model_N`` records, in
    the SOURCE keywords or the main table's) is not carried into the output; its
    field ids would be stale after re-indexing anyway."""
    from casacore import tables as ct

    def is_vm(k):
        return k.startswith("definedmodel_field_") or k.startswith("model_") or \
            k == "definedmodel"

    holders = [tout]
    if "SOURCE" in tout.keywordnames():
        kw = tout.getkeyword("SOURCE")
        if isinstance(kw, str) and kw.startswith("Table: "):
            holders.append(ct.table(kw[len("Table: "):], readonly=False, ack=False))
    try:
        for h in holders:
            for k in [k for k in h.keywordnames() if is_vm(k)]:
                h.removekeyword(k)
    finally:
        for h in holders[1:]:
            h.close()


def _bin_span(timebin) -> float:
    """The longest time from a bin's first time to a later time in it: CASA's
    0.999 x timebin (its allowance for rounding)."""
    return 0.999 * float(timebin)


def _baseline_bins(gid, time, thr, open_start=None, open_id=None, next_id=0):
    """Time bins of each baseline (group ``gid``) on its own, as CASA 6.7's time
    averaging (compared live on VLA data whose time stamps jitter between
    baselines): a bin starts at the group's first time and holds the times t
    with t - start <= ``thr`` (0.999 timebin); the next bin starts at the
    group's next time.

    ``open_start``/``open_id`` (per group, NaN / -1 for none): a bin still open
    from an earlier chunk of rows.  Returns (bin id per row, new bins numbered
    from ``next_id``; last bin start per group; its id; the next free id).
    """
    gid = np.asarray(gid, np.int64)
    time = np.asarray(time, np.float64)
    ngroup = int(gid.max()) + 1 if len(gid) else 0
    last_start = np.full(ngroup, np.nan) if open_start is None else \
        np.array(open_start, np.float64)
    last_id = np.full(ngroup, -1, np.int64) if open_id is None else \
        np.array(open_id, np.int64)
    order = np.lexsort((time, gid))
    g, t = gid[order], time[order]
    bins = np.empty(len(g), np.int64)
    os_ = last_start[g]
    cont = ~np.isnan(os_) & (t - np.where(np.isnan(os_), 0.0, os_) <= thr)
    bins[cont] = last_id[g[cont]]
    ri = np.nonzero(~cont)[0]
    if len(ri):
        gr, tr = g[ri], t[ri]
        t0 = tr.min()
        width = float(tr.max() - t0) + 2 * thr + 10.0
        # one sorted key for every group: searchsorted finds, for each row, the
        # first row of its group more than ``thr`` later
        key = gr.astype(np.float64) * width + (tr - t0)
        nxt = np.searchsorted(key, key + thr, side="right")
        firsts = seg_starts_for(gr)
        ends = np.append(firsts[1:], len(gr))
        gend = np.repeat(ends, np.diff(np.append(firsts, len(gr))))
        is_start = np.zeros(len(gr), bool)
        cur = firsts
        while len(cur):
            is_start[cur] = True
            nx = nxt[cur]
            cur = nx[nx < gend[cur]]
        ids = np.cumsum(is_start) - 1 + next_id
        bins[ri] = ids
        sidx = np.nonzero(is_start)[0]
        # the last bin of each group: its start time and id
        lastpos = np.searchsorted(sidx, ends, side="left") - 1
        last_start[gr[firsts]] = tr[sidx[lastpos]]
        last_id[gr[firsts]] = ids[sidx[lastpos]]
        next_id = int(ids[-1]) + 1
    out = np.empty(len(gid), np.int64)
    out[order] = bins
    return out, last_start, last_id, next_id


def seg_starts_for(groups):
    """Start indices of runs of equal values in a sorted 1-D array."""
    groups = np.asarray(groups)
    if len(groups) == 0:
        return np.zeros(0, np.int64)
    return np.concatenate([[0], np.nonzero(np.diff(groups))[0] + 1]).astype(np.int64)


def run(plan: Plan, outputvis: str, log=None) -> dict:
    """Write ``outputvis`` (must not exist) from ``plan``; returns a summary."""
    tr = Transformer(plan, outputvis, log)
    info = tr.run()
    info.update(tr.summary)
    return info


# ---------------------------------------------------------------------------
# FLAG_CMD commands of the output

_SPW_ARG = None


def rewrite_flag_command(cmd: str, md, out_spw: dict, spw_text: str = "") -> str:
    """A FLAG_CMD command with its ``spw='...'`` selection written for the output MS.

    ``out_spw``: input spw -> (output id, selected input channels, channel bin,
    output channel count).  As CASA 6.7's split: the command's spw/channel
    selection (read against the input MS) is intersected with the output; its
    channels become output channels (rank among the selected channels // bin);
    spws not in the output are left out.  The command becomes '' when nothing
    of a named spw remains.  Output spws covered whole are written without
    channels (with a bin > 1 CASA writes the channel range anyway, as we do);
    consecutive ids with the same channels are joined (``0~1:2~4``).  A command
    whose spw text equals the split's own ``spw`` loses its spw argument.
    A selection we cannot read is left as it is.
    """
    import re
    from .selection import SelectionError, mask_to_ranges, parse_spw
    global _SPW_ARG
    if _SPW_ARG is None:
        _SPW_ARG = re.compile(r"""\bspw\s*=\s*(['"])(.*?)\1""")
    m = _SPW_ARG.search(cmd)
    if not m:
        return cmd
    value = m.group(2)
    if spw_text.strip() and value.strip() == spw_text.strip():
        rest = (cmd[:m.start()] + cmd[m.end():])
        return rest if rest.strip() else ""
    try:
        masks = parse_spw(md, value)
    except (SelectionError, ValueError):
        return cmd
    parts = []          # (output id, channel key, whole)
    for spw in sorted(masks):
        if spw not in out_spw:
            continue
        oid, cidx, width, nout = out_spw[spw]
        inside = np.asarray(masks[spw], bool)[cidx]
        chans = np.unique(np.nonzero(inside)[0] // max(1, width))
        chans = chans[chans < nout]
        if len(chans) == 0:
            return ""
        whole = width == 1 and len(chans) == nout
        parts.append((oid, () if whole else tuple(chans.tolist()), nout))
    if not parts:
        return ""
    parts.sort()
    items = []
    i = 0
    while i < len(parts):
        j = i
        while j + 1 < len(parts) and parts[j + 1][0] == parts[j][0] + 1 and \
                parts[j + 1][1] == parts[i][1]:
            j += 1
        ids = f"{parts[i][0]}" if i == j else f"{parts[i][0]}~{parts[j][0]}"
        if parts[i][1]:
            mask = np.zeros(parts[i][2], bool)
            mask[list(parts[i][1])] = True
            ranges = ";".join(f"{a}" if a == b else f"{a}~{b}" for a, b in mask_to_ranges(mask))
            ids += ":" + ranges
        items.append(ids)
        i = j + 1
    return cmd[:m.start()] + "spw='" + ",".join(items) + "'" + cmd[m.end():]


# ---------------------------------------------------------------------------
# mstransform nspw > 1: the combined output spw cut into several


def nspw_counts(total: int, nspw: int) -> list[int]:
    """Channels of each of ``nspw`` output spws cut from ``total`` channels, as CASA
    6.7: ceil(total / nspw) each, the last one the rest (64 / 3 -> 22, 22, 20)."""
    per = -(-int(total) // int(nspw))
    counts = [per] * (nspw - 1) + [int(total) - per * (nspw - 1)]
    if min(counts) <= 0:
        raise ValueError(f"nspw={nspw}: {total} output channels cannot make {nspw} "
                         f"spectral windows")
    return counts


_CHANNEL_COLUMNS = ("DATA", "MODEL_DATA", "CORRECTED_DATA", "FLOAT_DATA", "FLAG",
                    "WEIGHT_SPECTRUM", "SIGMA_SPECTRUM")


def split_output_spw(src: str, dst: str, counts, drop=(), block_bytes: int = 32 << 20):
    """Write ``dst`` (must not exist) from the one-spw MS ``src``, its channels cut
    into ``len(counts)`` consecutive spws of ``counts`` channels.

    Every input row gives one row per new spw (consecutive, as CASA orders them);
    WEIGHT, SIGMA and FLAG_ROW are recomputed from each part's WEIGHT_SPECTRUM and
    FLAG; SPECTRAL_WINDOW and DATA_DESCRIPTION get one row per part; SOURCE and
    FEED rows of the spw are repeated for each part.  ``drop``: main-table
    columns to leave out (the weight spectra used only to derive WEIGHT/SIGMA).
    """
    from casacore import tables as ct

    nspw = len(counts)
    bounds = np.concatenate([[0], np.cumsum(counts)]).astype(int)
    with ct.table(src, ack=False) as tin:
        nrow = tin.nrows()
        desc = tin.getdesc()
        dminfo = tin.getdminfo()
        keep = [c for c in tin.colnames() if c not in drop]
        for c in list(desc):
            if c in drop:
                del desc[c]
        for k in list(dminfo):
            dminfo[k]["COLUMNS"] = [c for c in dminfo[k]["COLUMNS"] if c not in drop]
            if not dminfo[k]["COLUMNS"]:
                del dminfo[k]
        tout = ct.table(dst, desc, nrow=nrow * nspw, dminfo=dminfo, ack=False,
                        readonly=False)
        try:
            tout.putinfo(tin.info())
            for key, val in tin.getkeywords().items():
                if not (isinstance(val, str) and val.startswith("Table: ")):
                    tout.putkeyword(key, val)
            for name in subtable_names(tin):
                copy_subtable(tin, name, tout, dst)
            _split_spw_subtables(dst, bounds)
            chancols = [c for c in keep if c in _CHANNEL_COLUMNS]
            other = [c for c in keep if c not in chancols and c != "FLAG_CATEGORY"]
            nchan = int(bounds[-1])
            ncorr = tin.getcell("FLAG", 0).shape[1] if nrow else 1
            step = max(16, block_bytes // max(1, nchan * ncorr * 8 * (len(chancols) + 2)))
            for r0 in range(0, nrow, step):
                n = min(step, nrow - r0)
                scal = {c: tin.getcol(c, r0, n) for c in other}
                arrs = {c: tin.getcol(c, r0, n) for c in chancols}
                ws = tin.getcol("WEIGHT_SPECTRUM", r0, n)
                for k in range(nspw):
                    a, b = int(bounds[k]), int(bounds[k + 1])
                    put = dict(startrow=r0 * nspw + k, nrow=n, rowincr=nspw)
                    flag = arrs["FLAG"][:, a:b]
                    w, s, _ = _row_weight_sigma(ws[:, a:b], flag)
                    for c, v in scal.items():
                        if c == "DATA_DESC_ID":
                            v = np.full(n, k, np.int32)
                        elif c == "WEIGHT":
                            v = w
                        elif c == "SIGMA":
                            v = s
                        elif c == "FLAG_ROW":
                            v = flag.reshape(n, -1).all(axis=1)
                        tout.putcol(c, np.ascontiguousarray(v), **put)
                    for c, v in arrs.items():
                        tout.putcol(c, np.ascontiguousarray(v[:, a:b]), **put)
            tout.flush()
        finally:
            tout.close()


def _split_spw_subtables(path, bounds):
    """SPECTRAL_WINDOW / DATA_DESCRIPTION / SOURCE / FEED of :func:`split_output_spw`."""
    from casacore import tables as ct

    nspw = len(bounds) - 1
    with ct.table(os.path.join(path, "SPECTRAL_WINDOW"), readonly=False, ack=False) as t:
        cols = set(t.colnames())
        row = {c: t.getcell(c, 0) for c in cols if t.iscelldefined(c, 0)}
        t.addrows(nspw - 1)
        for k in range(nspw):
            a, b = int(bounds[k]), int(bounds[k + 1])
            for c, v in row.items():
                if isinstance(v, np.ndarray) and v.ndim == 1 and len(v) == bounds[-1] and \
                        c in ("CHAN_FREQ", "CHAN_WIDTH", "EFFECTIVE_BW", "RESOLUTION"):
                    v = v[a:b]
                t.putcell(c, k, v)
            f = np.asarray(row["CHAN_FREQ"], float)[a:b]
            w = np.abs(np.asarray(row["CHAN_WIDTH"], float)[a:b])
            t.putcell("NUM_CHAN", k, b - a)
            t.putcell("TOTAL_BANDWIDTH", k, float((f + w / 2).max() - (f - w / 2).min()))
            if "REF_FREQUENCY" in cols:
                t.putcell("REF_FREQUENCY", k, float(f[0]))
    with ct.table(os.path.join(path, "DATA_DESCRIPTION"), readonly=False, ack=False) as t:
        pol = int(t.getcell("POLARIZATION_ID", 0))
        t.addrows(nspw - 1)
        t.putcol("SPECTRAL_WINDOW_ID", np.arange(nspw, dtype=np.int32))
        t.putcol("POLARIZATION_ID", np.full(nspw, pol, np.int32))
        if "FLAG_ROW" in t.colnames():
            t.putcol("FLAG_ROW", np.zeros(nspw, bool))
    for name in ("SOURCE", "FEED"):
        sub = os.path.join(path, name)
        if not os.path.isdir(sub):
            continue
        with ct.table(sub, readonly=False, ack=False) as t:
            if "SPECTRAL_WINDOW_ID" not in t.colnames() or t.nrows() == 0:
                continue
            spw = t.getcol("SPECTRAL_WINDOW_ID")
            rows = np.nonzero(spw == 0)[0]
            if len(rows) == 0:
                continue
            # new rows at the end: copies of the spw-0 rows, for spws 1..nspw-1
            sel = t.selectrows(rows.tolist())
            try:
                for k in range(1, nspw):
                    n0 = t.nrows()
                    t.addrows(len(rows))
                    for c in t.colnames():
                        for j in range(len(rows)):
                            if sel.iscelldefined(c, j):
                                t.putcell(c, n0 + j, sel.getcell(c, j))
                    t.putcol("SPECTRAL_WINDOW_ID", np.full(len(rows), k, np.int32),
                             startrow=n0, nrow=len(rows))
            finally:
                sel.close()
