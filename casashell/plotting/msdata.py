"""Visibility points for plotms: selection, averaging and axis values, streamed.

:func:`iter_points` reads the selected rows of an MS in bounded chunks and yields
batches of points (flattened numpy arrays) with the x and y values, the colour
category, the iteration key and the flag of every point.  A point is one
(row, channel bin, correlation) after averaging, as in CASA's plotms.

Averaging (all vectorised):

* channels: consecutive groups of ``avgchannel`` selected channels, weighted by
  WEIGHT_SPECTRUM (or WEIGHT) over unflagged data; a bin whose data are all
  flagged is a flagged point holding the average of its flagged data;
* time / baseline / field / scan: rows falling in the same time bin (bins of
  ``avgtime`` seconds starting at each scan's first integration, or at the
  first integration of the selection with ``avgscan``) and, unless averaged
  over, on the same baseline, field and scan are combined with the same
  weighting.  When the selected rows are in time order (checked first, cheaply,
  on the TIME column) finished bins are emitted as the data stream past them,
  so memory follows the averaged output of one time bin, not the MS.

* antenna (``avgantenna``): every baseline goes to the averages of both its
  antennas; for its second antenna the visibility is conjugated (and u, v, w
  negated), so all baselines of an antenna are seen from that antenna (this is
  what CASA's plotms computes; checked against its exported values).  An
  autocorrelation counts once.  The plotted point has antenna2 = -1;
* spectral windows (``avgspw``): the selected spectral windows are averaged
  channel by channel (the k-th selected channel bin of each), as CASA's plotms
  does; they must have as many channel bins and the same correlations.  The
  point carries the lowest spw id and that spw's channel numbers/frequencies.

Vector averaging averages complex visibilities; ``scalar=True`` averages the
amplitude, phase, real and imaginary values themselves.

Frequency frames: with ``freqframe`` the frequency (and velocity) axes are
converted from the frame the data are in to another one (LSRK, BARY, ...) with
casacore's measures at each row's time and field direction, seen from the
array reference position (``casashell.ms.transform_regrid.FrameConverter``).
"""

from __future__ import annotations

import numpy as np

C_LIGHT = 299792458.0

#: canonical axis name -> (label, unit)
AXES = {
    "time": ("Time", "UTC"), "uvdist": ("UVdist", "m"), "uvwave": ("UVwave", "\u03bb"),
    "u": ("U", "m"), "v": ("V", "m"), "w": ("W", "m"),
    "uwave": ("Uwave", "\u03bb"), "vwave": ("Vwave", "\u03bb"), "wwave": ("Wwave", "\u03bb"),
    "amp": ("Amp", ""), "phase": ("Phase", "deg"), "real": ("Real", ""), "imag": ("Imag", ""),
    "channel": ("Channel", ""), "frequency": ("Frequency", "GHz"),
    "velocity": ("Velocity", "km/s"),
    "antenna1": ("Antenna1", ""), "antenna2": ("Antenna2", ""), "baseline": ("Baseline", ""),
    "scan": ("Scan", ""), "field": ("Field", ""), "spw": ("Spw", ""), "corr": ("Corr", ""),
    "weight": ("Wt", ""), "flag": ("Flag", ""),
}
ALIASES = {"amplitude": "amp", "ant1": "antenna1", "ant2": "antenna2", "chan": "channel",
           "freq": "frequency", "vel": "velocity", "uvdistl": "uvwave", "wt": "weight",
           "correlation": "corr", "ant": "antenna", "": ""}
DATA_AXES = {"amp", "phase", "real", "imag"}
ROW_AXES = {"time", "uvdist", "u", "v", "w", "antenna1", "antenna2", "baseline", "scan",
            "field", "spw"}
UVW_AXES = {"uvdist", "uvwave", "u", "v", "w", "uwave", "vwave", "wwave"}
COLOR_AXES = ["spw", "field", "antenna1", "antenna2", "baseline", "corr", "scan", "time",
              "channel"]
ITER_AXES = ["field", "spw", "scan", "baseline", "antenna", "corr", "time"]
DATACOLUMNS = ["data", "corrected", "model", "residual", "corrected-model", "data-model",
               "corrected/model", "data/model"]


def canonical_axis(name, what="axis"):
    n = (name or "").strip().lower()
    n = ALIASES.get(n, n)
    if n and n not in AXES:
        raise ValueError(f"{what} '{name}' is not supported; use one of "
                         f"{', '.join(sorted(AXES))}")
    return n


def parse_seconds(text, what):
    """'' -> 0; '60' or '60s' or '1min' -> seconds."""
    t = str(text).strip().lower()
    if t in ("", "0"):
        return 0.0
    for suffix, f in (("min", 60.0), ("h", 3600.0), ("s", 1.0)):
        if t.endswith(suffix):
            t = t[: -len(suffix)]
            break
    else:
        f = 1.0
    try:
        v = float(t) * f
    except ValueError:
        raise ValueError(f"{what} '{text}' is not a number of seconds") from None
    if v < 0:
        raise ValueError(f"{what} '{text}' is negative")
    return v


def parse_nchan(text, what="avgchannel"):
    t = str(text).strip()
    if t in ("", "0", "1"):
        return 1
    try:
        v = int(float(t))
    except ValueError:
        raise ValueError(f"{what} '{text}' is not a number of channels") from None
    if v < 1:
        raise ValueError(f"{what} '{text}' must be at least 1")
    return v


class Context:
    """Metadata of the MS needed to turn rows into points."""

    def __init__(self, vis):
        from ..ms.metadata import MSMetadata
        self.md = MSMetadata(vis)
        self.ddid = self.md.ddids
        self.spws = self.md.spws
        self.pol_codes = self.md.pol_codes
        self.nant = max(1, len(self.md.antennas))
        self.antenna_names = self.md.antenna_names
        self.field_names = [f.name for f in self.md.fields]
        from ..ms.metadata import STOKES_NAMES
        self.stokes_names = STOKES_NAMES
        self.vis = vis
        self.freqframe = ""
        self._converters = {}

    def frame_converter(self, spw):
        """FrameConverter from the frame of ``spw`` to ``freqframe`` (None: no
        conversion needed)."""
        if not self.freqframe:
            return None
        src = (self.spws[spw].frame or "TOPO").upper()
        if src == self.freqframe:
            return None
        if src not in self._converters:
            from ..ms.transform_regrid import FrameConverter
            self._converters[src] = FrameConverter(self.vis, src, self.freqframe)
        return self._converters[src]


def baseline_index(a1, a2, nant):
    """CASA-style baseline number: a1*(nant+1) - a1*(a1+1)/2 + a2 (a1 <= a2); -1 for
    points averaged over baselines (avgbaseline, avgantenna: antenna -1)."""
    lo = np.minimum(a1, a2).astype(np.int64)
    hi = np.maximum(a1, a2).astype(np.int64)
    return np.where(lo < 0, -1, lo * (nant + 1) - lo * (lo + 1) // 2 + hi)


def _uses_model(dc):
    return "model" in dc or dc == "residual"


def _data_value(chunk, colname_map, datacolumn):
    """Complex data of a chunk for a datacolumn expression."""
    dc = datacolumn
    get = lambda key: chunk[colname_map[key]] if colname_map.get(key) else None  # noqa: E731
    if dc == "data":
        return get("data")
    if dc == "corrected":
        return get("corrected")
    if dc == "model":
        m = get("model")
        return m
    base = get("corrected") if dc.startswith(("residual", "corrected")) else get("data")
    model = get("model")
    if model is None:
        model = np.ones_like(base)
    if "/" in dc:
        with np.errstate(divide="ignore", invalid="ignore"):
            return base / model
    return base - model


class Request:
    """What to compute: axes, data columns, averaging, colour and iteration."""

    def __init__(self, xaxis, yaxis, xdatacolumn="data", ydatacolumn="data", avgchannel=1,
                 avgtime=0.0, avgscan=False, avgfield=False, avgbaseline=False,
                 scalar=False, coloraxis="", iteraxis="", showflags=False, restfreq=None,
                 veldef="RADIO", avgantenna=False, avgspw=False, freqframe=""):
        self.x, self.y = xaxis, yaxis
        self.xdc, self.ydc = xdatacolumn, ydatacolumn
        self.avgchannel = avgchannel
        self.avgtime = avgtime
        self.avgscan, self.avgfield, self.avgbaseline = avgscan, avgfield, avgbaseline
        self.avgantenna, self.avgspw = avgantenna, avgspw
        self.freqframe = (freqframe or "").upper()
        self.scalar = scalar
        self.coloraxis = coloraxis
        self.iteraxis = iteraxis
        self.showflags = showflags
        self.restfreq = restfreq
        self.veldef = veldef

    @property
    def row_averaging(self):
        return (self.avgtime > 0 or self.avgbaseline or self.avgantenna or self.avgspw
                or (self.avgfield and self.avgtime > 0))

    @property
    def converts_frequency(self):
        return bool(self.freqframe) and bool({self.x, self.y} & {"frequency", "velocity"})

    def needs(self, name):
        axes = {self.x, self.y, self.coloraxis, self.iteraxis}
        return name in axes


def _columns(req, have, colmap):
    cols = {"DATA_DESC_ID", "FLAG", "FLAG_ROW"}
    data_needed = any(a in DATA_AXES for a in (req.x, req.y))
    if data_needed:
        cols.update(c for c in colmap.values() if c)
    if req.row_averaging or req.avgchannel > 1:
        cols.add("WEIGHT_SPECTRUM" if colmap.get("wtsp") else "WEIGHT")
    axes = {req.x, req.y, req.coloraxis, req.iteraxis}
    if axes & {"time"} or req.avgtime > 0 or req.row_averaging or req.converts_frequency:
        cols.add("TIME")
    if axes & UVW_AXES:
        cols.add("UVW")
    if axes & {"antenna1", "antenna2", "baseline", "antenna"} or req.row_averaging:
        cols.update(["ANTENNA1", "ANTENNA2"])
    if axes & {"scan"} or req.avgtime > 0:
        cols.add("SCAN_NUMBER")
    if axes & {"field", "velocity"} or req.row_averaging or req.converts_frequency:
        cols.add("FIELD_ID")
    if "weight" in axes:
        cols.add("WEIGHT")
    return sorted(c for c in cols if c in have)


def _bin_starts(nsel, n):
    return np.arange(0, nsel, n)


class _Unit:
    """Arrays of one (chunk, data description) after channel averaging:
    per row (n,), per bin (nb,), per point (n, nb, nc)."""


def _bin_sum(a, starts, nav):
    """Sum over channel bins (axis 1): equal bins by reshaping, else reduceat."""
    n, nch = a.shape[0], a.shape[1]
    if nch % nav == 0 and len(starts) == nch // nav:
        return a.reshape(n, nch // nav, nav, *a.shape[2:]).sum(axis=2)
    return np.add.reduceat(a, starts, axis=1)


def _channel_average(arr, w, flag, starts, nav, need_flagged=True):
    """(weighted mean over unflagged, bin flagged) along axis 1; a flagged bin holds
    the weighted mean of its (flagged) data when ``need_flagged``, else NaN."""
    good = ~flag
    wg = w * good
    # flagged samples may hold NaN/inf: keep them out of the unflagged sums
    s_good = _bin_sum(np.where(good, arr, 0) * wg, starts, nav)
    w_good = _bin_sum(wg, starts, nav)
    fb = ~(w_good > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = s_good / w_good
        if need_flagged and fb.any():
            with np.errstate(over="ignore"):
                s_all = _bin_sum(arr * w, starts, nav)
            w_all = _bin_sum(w, starts, nav)
            mean = np.where(fb, s_all / np.where(w_all > 0, w_all, 1), mean)
    return mean, fb


def iter_points(vis, sel, req, ctx, log=lambda m, p="INFO": None, max_bytes=64 << 20):
    """Yield dicts of flattened arrays: x, y, cat, it, flag (bool)."""
    from ..ms.core import open_ms
    from ..ms.io import iter_chunks

    t = open_ms(vis)
    try:
        have = set(t.colnames())
        colmap = {"data": "DATA" if "DATA" in have else None,
                  "corrected": "CORRECTED_DATA" if "CORRECTED_DATA" in have else None,
                  "model": "MODEL_DATA" if "MODEL_DATA" in have else None,
                  "wtsp": None}
        if "WEIGHT_SPECTRUM" in have:
            try:
                t.getcell("WEIGHT_SPECTRUM", int(sel.rows[0]) if len(sel.rows) else 0)
                colmap["wtsp"] = "WEIGHT_SPECTRUM"
            except RuntimeError:
                pass
        for which in ("x", "y"):
            ax = getattr(req, which)
            dc = getattr(req, which + "dc")
            if ax not in DATA_AXES:
                continue
            if dc in ("corrected", "residual", "corrected-model", "corrected/model") and \
                    not colmap["corrected"]:
                log(f"{vis} has no CORRECTED_DATA column; using DATA for "
                    f"{which}datacolumn='{dc}'", "WARN")
                dc = dc.replace("corrected", "data").replace("residual", "data-model")
                setattr(req, which + "dc", dc)
            if _uses_model(dc) and not colmap["model"]:
                if dc == "model":
                    log(f"{vis} has no MODEL_DATA column; the model is taken as 1 (a 1 Jy "
                        f"point source at the phase centre)", "WARN")
                else:
                    log(f"{vis} has no MODEL_DATA column; using a model of 1", "WARN")
            if dc == "data" and not colmap["data"]:
                raise ValueError(f"{vis} has no DATA column")
        need_cols = {"data": False, "corrected": False, "model": False}
        for which in ("x", "y"):
            if getattr(req, which) in DATA_AXES:
                dc = getattr(req, which + "dc")
                need_cols["data"] |= dc.startswith("data")
                need_cols["corrected"] |= dc.startswith(("corrected", "residual"))
                need_cols["model"] |= _uses_model(dc)
        readmap = {k: (colmap[k] if need_cols.get(k) else None) for k in ("data", "corrected",
                                                                         "model")}
        readmap["wtsp"] = colmap["wtsp"]
        cols = _columns(req, have, readmap)
        if not (req.row_averaging or req.avgchannel > 1):
            cols = [c for c in cols if c != "WEIGHT_SPECTRUM"]
        flush_ok = True
        scan_start = {}
        if req.row_averaging:
            flush_ok = _time_sorted(t, sel)
            if not flush_ok:
                log("the selected rows are not in time order: averages are kept until "
                    "the end of the data (memory follows the averaged output)", "INFO1")
            for s in ctx.md.scans:
                scan_start[s.scan] = min(scan_start.get(s.scan, np.inf), s.start)
        acc = _Accumulators(req, ctx) if req.row_averaging else None
        t_first = None
        for rownrs, chunk in iter_chunks(t, cols, rows=sel.rows, max_bytes=max_bytes):
            if len(rownrs) == 0:
                continue
            ddids = chunk["DATA_DESC_ID"]
            for dd in np.unique(ddids):
                m = ddids == dd
                spw, pol = ctx.ddid[int(dd)]
                chan_mask = sel.channels.get(spw)
                corr_mask = sel.correlations.get(pol)
                if chan_mask is None or corr_mask is None:
                    continue
                chans = np.nonzero(chan_mask)[0]
                corrs = np.nonzero(corr_mask)[0]
                if len(chans) == 0 or len(corrs) == 0:
                    continue
                sub = {k: v[m] for k, v in chunk.items()}
                unit = _make_unit(sub, readmap, req, ctx, spw, pol, chans, corrs)
                if acc is None:
                    yield from _emit_unit(unit, req, ctx)
                else:
                    if t_first is None:
                        t_first = float(sub["TIME"].min())
                    acc.add(unit, scan_start, t_first)
            if acc is not None and flush_ok:
                yield from acc.flush(float(chunk["TIME"].max()))
        if acc is not None:
            yield from acc.flush(np.inf)
    finally:
        t.close()


def _time_sorted(t, sel):
    from ..ms.io import iter_chunks
    last = -np.inf
    for _, c in iter_chunks(t, ["TIME"], rows=sel.rows):
        tt = c["TIME"]
        if len(tt) == 0:
            continue
        if tt[0] < last or np.any(np.diff(tt) < 0):
            return False
        last = tt[-1]
    return True


def _make_unit(sub, readmap, req, ctx, spw, pol, chans, corrs):
    u = _Unit()
    n = len(sub["DATA_DESC_ID"])
    u.n = n
    u.spw, u.pol = spw, pol
    contiguous = len(chans) == chans[-1] - chans[0] + 1
    csl = slice(chans[0], chans[-1] + 1) if contiguous else chans

    def pick(a):
        a = a[:, csl]
        if len(corrs) != a.shape[2]:
            a = a[:, :, corrs]
        return a

    flag = pick(sub["FLAG"])
    if "FLAG_ROW" in sub:
        flag = flag | sub["FLAG_ROW"][:, None, None]
    freqs = ctx.spws[spw].chan_freq[chans]
    nav = req.avgchannel
    w = None
    if nav > 1 or req.row_averaging:
        if "WEIGHT_SPECTRUM" in sub:
            w = pick(sub["WEIGHT_SPECTRUM"]).astype(np.float32)
        elif "WEIGHT" in sub:
            w = np.broadcast_to(sub["WEIGHT"][:, None, corrs], flag.shape).astype(np.float32)
        else:
            w = np.ones(flag.shape, np.float32)
        w = np.where(w > 0, w, 0.0) if np.any(w <= 0) else w
        if not np.any(w > 0):
            w = np.ones(flag.shape, np.float32)
    u.values = {}
    for which in ("x", "y"):
        ax = getattr(req, which)
        if ax in DATA_AXES:
            dc = getattr(req, which + "dc")
            key = (dc, ax if req.scalar else "complex")
            if key in u.values:
                continue
            cols = {k: sub[v] for k, v in readmap.items() if v and v in sub}
            raw = _data_value({k: pick(v) for k, v in cols.items()},
                              {k: k for k in cols}, dc)
            if raw is None:  # MODEL_DATA missing and model asked: unity
                raw = np.ones(flag.shape, dtype=np.complex64)
            # NaN/inf visibilities (some writers leave them) are treated as flagged
            finite = np.isfinite(raw)
            if not finite.all():
                flag = flag | ~finite
            if req.scalar:
                raw = _component(raw, ax)
            u.values[key] = raw
    if nav > 1:
        starts = _bin_starts(len(chans), nav)
        newflag = None
        for key, arr in list(u.values.items()):
            mean, fb = _channel_average(arr, w, flag, starts, nav,
                                        need_flagged=req.showflags)
            u.values[key] = mean
            newflag = fb
        if newflag is None:
            newflag = np.logical_and.reduceat(flag, starts, axis=1)
        w_binned = _bin_sum(w, starts, nav)
        chan_val = np.add.reduceat(chans.astype(np.float64), starts) / np.diff(
            np.append(starts, len(chans)))
        freq_val = np.add.reduceat(freqs, starts) / np.diff(np.append(starts, len(chans)))
        flag = newflag
        w = w_binned
    else:
        chan_val = chans.astype(np.float64)
        freq_val = freqs
    u.flag = flag
    u.w = w
    u.chan = chan_val
    u.freq = freq_val
    u.corrs = corrs
    u.corr_codes = ctx.pol_codes[pol][corrs]
    u.rows = {k: sub[k] for k in ("TIME", "ANTENNA1", "ANTENNA2", "SCAN_NUMBER", "FIELD_ID")
              if k in sub}
    if "UVW" in sub:
        u.rows["UVW"] = sub["UVW"]
    if "WEIGHT" in sub:
        u.rows["WEIGHT"] = sub["WEIGHT"][:, corrs]
    if req.converts_frequency:
        # f_out / f_in of every row (Doppler shifts are multiplicative); 1 for spws
        # already in the frame
        conv = ctx.frame_converter(spw)
        u.rows["FREQ_FACTOR"] = conv.factors(sub["TIME"], sub["FIELD_ID"]) \
            if conv is not None else np.ones(n)
    return u


def _by_antenna(u):
    """The unit seen per antenna: every cross-correlation row twice, once for
    ANTENNA1 as it is, once for ANTENNA2 with the visibility conjugated; ANTENNA2
    becomes -1.  Autocorrelations appear once.  UVW is kept as it is (CASA's
    per-antenna u, v, w are the plain means of the baselines' values)."""
    rows = u.rows
    a1 = rows["ANTENNA1"].astype(np.int64)
    a2 = rows["ANTENNA2"].astype(np.int64)
    cross = np.nonzero(a1 != a2)[0]
    v = _Unit()
    v.__dict__.update(u.__dict__)
    v.n = u.n + len(cross)

    def dup(a):
        return np.concatenate([a, a[cross]], axis=0)

    v.flag = dup(u.flag)
    v.w = dup(u.w) if u.w is not None else None
    v.values = {}
    for key, arr in u.values.items():
        second = arr[cross]
        comp = key[1]
        if comp == "complex":
            second = np.conj(second)
        elif comp in ("phase", "imag"):
            second = -second
        v.values[key] = np.concatenate([arr, second], axis=0)
    v.rows = {}
    for k, a in rows.items():
        if k == "ANTENNA1":
            v.rows[k] = np.concatenate([a1, a2[cross]])
        elif k == "ANTENNA2":
            v.rows[k] = np.full(v.n, -1, np.int64)
        else:
            v.rows[k] = dup(a)
    return v


def _component(v, ax):
    if ax == "amp":
        return np.abs(v)
    if ax == "phase":
        return np.degrees(np.angle(v))
    if ax == "real":
        return v.real
    if ax == "imag":
        return v.imag
    raise ValueError(ax)


def _axis_value(ax, dc, u, req, ctx):
    """Value of axis ``ax`` broadcastable to (n, nb, nc)."""
    rows = u.rows
    if ax in DATA_AXES:
        if req.scalar:
            return u.values[(dc, ax)]
        return _component(u.values[(dc, "complex")], ax)
    if ax == "time":
        return rows["TIME"][:, None, None]
    if ax in ("u", "v", "w"):
        return rows["UVW"][:, "uvw".index(ax)][:, None, None]
    if ax == "uvdist":
        return np.hypot(rows["UVW"][:, 0], rows["UVW"][:, 1])[:, None, None]
    if ax == "uvwave":
        d = np.hypot(rows["UVW"][:, 0], rows["UVW"][:, 1])
        return (d[:, None] * (u.freq / C_LIGHT)[None, :])[:, :, None]
    if ax in ("uwave", "vwave", "wwave"):
        k = "uvw".index(ax[0])
        return (rows["UVW"][:, k][:, None] * (u.freq / C_LIGHT)[None, :])[:, :, None]
    if ax == "channel":
        return u.chan[None, :, None]
    if ax == "frequency":
        if "FREQ_FACTOR" in rows:
            return (rows["FREQ_FACTOR"][:, None] * (u.freq / 1e9)[None, :])[:, :, None]
        return (u.freq / 1e9)[None, :, None]
    if ax == "velocity":
        f0 = req.restfreq or ctx.spws[u.spw].ref_freq
        f = u.freq
        if "FREQ_FACTOR" in rows:
            f = rows["FREQ_FACTOR"][:, None] * f[None, :]
        if req.veldef == "OPTICAL":
            v = C_LIGHT * (f0 / f - 1.0)
        elif req.veldef == "TRUE":
            v = C_LIGHT * (f0 * f0 - f * f) / (f0 * f0 + f * f)
        else:
            v = C_LIGHT * (1.0 - f / f0)
        v = v / 1e3
        return v[:, :, None] if v.ndim == 2 else v[None, :, None]
    if ax == "antenna1":
        return rows["ANTENNA1"][:, None, None]
    if ax == "antenna2":
        return rows["ANTENNA2"][:, None, None]
    if ax == "baseline":
        return baseline_index(rows["ANTENNA1"], rows["ANTENNA2"], ctx.nant)[:, None, None]
    if ax == "scan":
        return rows["SCAN_NUMBER"][:, None, None]
    if ax == "field":
        return rows["FIELD_ID"][:, None, None]
    if ax == "spw":
        return np.array(u.spw)[None, None, None]
    if ax == "corr":
        return u.corr_codes[None, None, :]
    if ax == "weight":
        return rows["WEIGHT"][:, None, :]
    if ax == "flag":
        return u.flag.astype(np.float64)
    raise ValueError(ax)


def _category(axis, u, ctx):
    rows = u.rows
    if axis == "":
        return np.zeros((1, 1, 1), dtype=np.int64)
    if axis == "spw":
        return np.array(u.spw, dtype=np.int64)[None, None, None]
    if axis == "field":
        return rows["FIELD_ID"].astype(np.int64)[:, None, None]
    if axis == "antenna1":
        return rows["ANTENNA1"].astype(np.int64)[:, None, None]
    if axis == "antenna2":
        return rows["ANTENNA2"].astype(np.int64)[:, None, None]
    if axis == "baseline":
        return baseline_index(rows["ANTENNA1"], rows["ANTENNA2"], ctx.nant)[:, None, None]
    if axis == "corr":
        return u.corr_codes.astype(np.int64)[None, None, :]
    if axis == "scan":
        return rows["SCAN_NUMBER"].astype(np.int64)[:, None, None]
    if axis == "time":
        return np.round(rows["TIME"] * 1000).astype(np.int64)[:, None, None]
    if axis == "channel":
        return np.round(u.chan).astype(np.int64)[None, :, None]
    raise ValueError(axis)


def _emit_unit(u, req, ctx):
    """Yield the points of a unit as compact arrays (each broadcastable to the full
    (row, channel bin, correlation) shape of ``flag``): x, y, cat, it, flag."""
    x = _axis_value(req.x, req.xdc, u, req, ctx)
    y = _axis_value(req.y, req.ydc, u, req, ctx)
    cat = _category(req.coloraxis, u, ctx)
    flag = u.flag
    if req.iteraxis == "antenna":
        a1 = u.rows["ANTENNA1"].astype(np.int64)[:, None, None]
        a2 = u.rows["ANTENNA2"].astype(np.int64)[:, None, None]
        yield dict(x=x, y=y, cat=cat, it=a1, flag=flag)
        # the baseline also belongs to its second antenna's panel (-1: autocorrelation)
        yield dict(x=x, y=y, cat=cat, it=np.where(a1 != a2, a2, -1), flag=flag)
    else:
        yield dict(x=x, y=y, cat=cat, it=_category(req.iteraxis, u, ctx), flag=flag)


class _Accumulators:
    """Sums over time/baseline/field/scan averaging groups, one set per spw."""

    def __init__(self, req, ctx):
        self.req = req
        self.ctx = ctx
        self.per_spw = {}

    def add(self, u, scan_start, t_first):
        req = self.req
        if req.avgantenna:
            u = _by_antenna(u)
        rows = u.rows
        n = u.n
        time = rows["TIME"]
        scan = rows.get("SCAN_NUMBER", np.zeros(n, np.int64))
        if req.avgtime > 0:
            if req.avgscan:
                origin = np.full(n, t_first)
            else:
                starts = np.array([scan_start.get(int(s), t_first) for s in np.unique(scan)])
                lut = dict(zip(np.unique(scan).tolist(), starts.tolist()))
                origin = np.vectorize(lut.get, otypes=[float])(scan) if len(lut) > 1 else \
                    np.full(n, next(iter(lut.values())))
            # a small tolerance keeps integrations at exact bin edges together
            tb = np.floor((time - origin) / req.avgtime + 1e-6).astype(np.int64)
            bin_end = origin + (tb + 1) * req.avgtime
            tkey = np.round((origin + tb * req.avgtime) * 1000).astype(np.int64)
        else:
            tkey = np.round(time * 1000).astype(np.int64)
            bin_end = time + 1e-3
        a1 = rows["ANTENNA1"].astype(np.int64)
        a2 = rows["ANTENNA2"].astype(np.int64)
        if req.avgbaseline:
            a1 = np.full(n, -1, np.int64)
            a2 = np.full(n, -1, np.int64)
        field = rows["FIELD_ID"].astype(np.int64) if not req.avgfield else np.full(n, -1)
        scank = scan.astype(np.int64) if not req.avgscan else np.full(n, -1, np.int64)
        keys = np.stack([tkey, a1, a2, field, scank], axis=1)
        uk, inv = _unique_rows(keys)
        ng = len(uk)
        gkey = -1 if req.avgspw else u.spw
        st = self.per_spw.get(gkey)
        nb, nc = len(u.chan), len(u.corrs)
        if st is not None and req.avgspw:
            if st["shape"] != (nb, nc) or not np.array_equal(st["corr_codes"], u.corr_codes):
                raise ValueError(
                    f"avgspw=True averages spectral windows channel by channel: spw "
                    f"{st['spw']} has {st['shape'][0]} channel bins and correlations "
                    f"{_corr_text(self.ctx, st['corr_codes'])}, spw {u.spw} has {nb} and "
                    f"{_corr_text(self.ctx, u.corr_codes)}; select spws that match")
            if u.spw < st["spw"]:   # the point shows the lowest spw
                st.update(spw=u.spw, chan=u.chan, freq=u.freq)
        # sort the rows by group once; every sum is then one reduceat
        order = np.argsort(inv, kind="stable")
        starts = np.concatenate([[0], np.nonzero(np.diff(inv[order]))[0] + 1])
        good = ~u.flag[order]
        w = u.w[order].astype(np.float32)
        wg = w * good
        sums = {}
        for key, arr in u.values.items():
            arr = arr[order]
            acc = np.complex128 if np.iscomplexobj(arr) else np.float64
            sums[key + ("g",)] = _sums(np.where(good, arr, 0) * wg, starts, acc)
            with np.errstate(invalid="ignore", over="ignore"):  # flagged NaN stay NaN
                sums[key + ("a",)] = _sums(arr * w, starts, acc)
        sums["wg"] = _sums(wg, starts, np.float64)
        sums["wa"] = _sums(w, starts, np.float64)
        rowsum = {"n": np.bincount(inv, minlength=ng).astype(np.float64)}
        for k in ("TIME",):
            rowsum[k] = np.bincount(inv, weights=time, minlength=ng)
        if "UVW" in rows:
            uvw = rows["UVW"]
            for j, c in enumerate("uvw"):
                rowsum[c] = np.bincount(inv, weights=uvw[:, j], minlength=ng)
            rowsum["uvd"] = np.bincount(inv, weights=np.hypot(uvw[:, 0], uvw[:, 1]),
                                        minlength=ng)
            if req.avgantenna:
                # CASA: the mean uvw of the rows with unflagged data
                goodrow = (~u.flag).reshape(n, -1).any(axis=1).astype(np.float64)
                rowsum["ngood"] = np.bincount(inv, weights=goodrow, minlength=ng)
                for j, c in enumerate("uvw"):
                    rowsum[c + "g"] = np.bincount(inv, weights=uvw[:, j] * goodrow,
                                                  minlength=ng)
        if "FREQ_FACTOR" in rows:
            rowsum["ff"] = np.bincount(inv, weights=rows["FREQ_FACTOR"], minlength=ng)
        if "WEIGHT" in rows:
            wt = rows["WEIGHT"]
            rowsum["WT"] = np.stack([np.bincount(inv, weights=wt[:, c], minlength=ng)
                                     for c in range(wt.shape[1])], axis=1)
        end = np.zeros(ng)
        np.maximum.at(end, inv, bin_end)
        if st is None:
            st = dict(keys=uk, sums=sums, rowsum=rowsum, end=end, chan=u.chan, freq=u.freq,
                      corrs=u.corrs, corr_codes=u.corr_codes, shape=(nb, nc), spw=u.spw)
            self.per_spw[gkey] = st
            return
        allk = np.concatenate([st["keys"], uk])
        mk, minv = _unique_rows(allk)
        m = len(mk)
        i_old, i_new = minv[:len(st["keys"])], minv[len(st["keys"]):]

        both = np.concatenate([i_old, i_new])
        morder = np.argsort(both, kind="stable")
        mstarts = np.concatenate([[0], np.nonzero(np.diff(both[morder]))[0] + 1])

        def merge(a, b):
            return np.add.reduceat(np.concatenate([a, b])[morder], mstarts, axis=0)

        st["sums"] = {k: merge(st["sums"][k], sums[k]) for k in sums}
        st["rowsum"] = {k: merge(st["rowsum"][k], rowsum[k]) for k in rowsum}
        e = np.zeros(m)
        np.maximum.at(e, i_old, st["end"])
        np.maximum.at(e, i_new, end)
        st["end"] = e
        st["keys"] = mk

    def flush(self, tmax):
        """Emit (and forget) the groups whose time bin ended at or before ``tmax``."""
        for spw, st in list(self.per_spw.items()):
            done = st["end"] <= tmax + 1e-9 if np.isfinite(tmax) else np.ones(len(st["keys"]),
                                                                                  bool)
            if not done.any():
                continue
            yield from self._emit(spw, st, done)
            keep = ~done
            if not keep.any():
                del self.per_spw[spw]
                continue
            st["keys"] = st["keys"][keep]
            st["sums"] = {k: v[keep] for k, v in st["sums"].items()}
            st["rowsum"] = {k: v[keep] for k, v in st["rowsum"].items()}
            st["end"] = st["end"][keep]

    def _emit(self, spw, st, sel):
        req, ctx = self.req, self.ctx
        u = _Unit()
        keys = st["keys"][sel]
        rs = {k: v[sel] for k, v in st["rowsum"].items()}
        nrow = rs["n"]
        u.n = len(keys)
        u.spw = st.get("spw", spw)
        u.chan, u.freq = st["chan"], st["freq"]
        u.corrs, u.corr_codes = st["corrs"], st["corr_codes"]
        wg = st["sums"]["wg"][sel]
        wa = st["sums"]["wa"][sel]
        u.flag = ~(wg > 0)
        u.values = {}
        for key in st["sums"]:
            if isinstance(key, tuple) and key[-1] == "g":
                base = key[:-1]
                g = st["sums"][key][sel]
                a = st["sums"][base + ("a",)][sel]
                with np.errstate(divide="ignore", invalid="ignore"):
                    u.values[base] = np.where(wg > 0, g / np.where(wg > 0, wg, 1),
                                              a / np.where(wa > 0, wa, 1))
        u.rows = {"TIME": rs["TIME"] / nrow,
                  "ANTENNA1": keys[:, 1], "ANTENNA2": keys[:, 2],
                  "FIELD_ID": keys[:, 3], "SCAN_NUMBER": keys[:, 4]}
        if "ngood" in rs:
            ok = rs["ngood"] > 0
            den = np.where(ok, rs["ngood"], nrow)
            u.rows["UVW"] = np.stack([np.where(ok, rs[c + "g"], rs[c]) / den for c in "uvw"],
                                     axis=1)
        elif "u" in rs:
            u.rows["UVW"] = np.stack([rs["u"] / nrow, rs["v"] / nrow, rs["w"] / nrow], axis=1)
            if req.needs("uvdist") or req.needs("uvwave"):
                # the mean of the baselines' lengths (not the length of the mean uvw)
                u.rows["UVW_D"] = rs["uvd"] / nrow
        if "WT" in rs:
            u.rows["WEIGHT"] = rs["WT"]
        if "ff" in rs:
            u.rows["FREQ_FACTOR"] = rs["ff"] / nrow
        if "UVW_D" in u.rows:
            d = u.rows["UVW_D"]
            uvw = u.rows["UVW"].copy()
            # scale u, v so that hypot(u, v) is the mean length
            with np.errstate(divide="ignore", invalid="ignore"):
                f = np.where(np.hypot(uvw[:, 0], uvw[:, 1]) > 0,
                             d / np.hypot(uvw[:, 0], uvw[:, 1]), 0.0)
            if not (req.needs("u") or req.needs("v")):
                uvw[:, 0] *= f
                uvw[:, 1] *= f
            u.rows["UVW"] = uvw
        yield from _emit_unit(u, req, ctx)


def _corr_text(ctx, codes):
    return ",".join(str(ctx.stokes_names.get(int(c), c)) for c in codes)


def _unique_rows(keys):
    """(unique rows in sorted order, inverse) of an int64 (n, k) array, through one
    packed 1-D key (each column replaced by its rank) instead of a row lexsort."""
    packed = np.zeros(len(keys), dtype=np.int64)
    size = 1
    for j in range(keys.shape[1]):
        u, code = np.unique(keys[:, j], return_inverse=True)
        if size * len(u) >= 2 ** 62:  # cannot pack: fall back to the row sort
            uk, inv = np.unique(keys, axis=0, return_inverse=True)
            return uk, inv.ravel()
        packed = packed * len(u) + code.ravel()
        size *= len(u)
    up, first, inv = np.unique(packed, return_index=True, return_inverse=True)
    return keys[first], inv.ravel()


def _sums(arr, starts, acc):
    """Sums over the row runs beginning at ``starts`` of ``arr`` (sorted by group).

    Few long runs: numpy's pairwise sum of each slice in the array's own precision
    (fast and accurate); many short runs: one reduceat.  Results in ``acc``."""
    if len(starts) <= 2048:
        ends = np.append(starts[1:], len(arr))
        out = np.empty((len(starts),) + arr.shape[1:], dtype=acc)
        for i, (a, b) in enumerate(zip(starts.tolist(), ends.tolist())):
            out[i] = arr[a:b].sum(axis=0)
        return out
    return np.add.reduceat(arr, starts, axis=0).astype(acc)
