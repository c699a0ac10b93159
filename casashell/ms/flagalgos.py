"""Flagging algorithms on (baseline, time, channel, correlation) cubes.

Every function takes ``data`` (complex or real, or None), ``flags`` (bool),
``present`` (baseline, time) saying which slots hold a row, and ``mask``
(channel, correlation) of selected cells, and returns the new flag cube
(only ever adding flags inside ``mask``).  Everything is vectorised over
baselines and correlations; the statistics are described in
docs/flagging.md.
"""

from __future__ import annotations

import numpy as np

MAD_TO_SIGMA = 1.4826


def _valid(flags, present, mask):
    return (~flags) & present[:, :, None, None] & mask[None, None]


def _nanmedian(a, axis):
    """Median ignoring NaN over ``axis`` (int or tuple), NaN where all are NaN.

    Vectorised: the reduced axes are moved last and sorted once (NaN sorts
    last), then the middle valid element(s) are picked per lane.
    """
    a = np.asarray(a)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    axes = tuple(ax % a.ndim for ax in axes)
    keep = [i for i in range(a.ndim) if i not in axes]
    b = np.transpose(a, keep + list(axes))
    lead = b.shape[:len(keep)]
    b = b.reshape(lead + (-1,))
    if b.shape[-1] == 0:
        return np.full(lead, np.nan)
    b = np.sort(b, axis=-1)
    n = np.count_nonzero(~np.isnan(b), axis=-1)
    lo = np.clip((n - 1) // 2, 0, None)
    hi = np.clip(n // 2, 0, None)
    vlo = np.take_along_axis(b, lo[..., None], axis=-1)[..., 0]
    vhi = np.take_along_axis(b, hi[..., None], axis=-1)[..., 0]
    out = (vlo + vhi) / 2.0
    return np.where(n > 0, out, np.nan)


def _fill_zeros(y):
    """tfcrop's base values: an average that is exactly 0 (no unflagged
    value, or data of zeros) takes, from left to right, the mean of the value
    before it and the next nonzero one after it (or whichever exists)."""
    zero = y == 0
    if not zero.any():
        return y
    y = y.copy()
    L, n = y.shape
    pos = np.where(~zero, np.arange(n)[None, :], n)
    nxt = np.minimum.accumulate(pos[:, ::-1], axis=1)[:, ::-1]        # next nonzero >= i
    nxt = np.concatenate([nxt[:, 1:], np.full((L, 1), n)], axis=1)      # next nonzero > i
    for i in np.flatnonzero(zero.any(axis=0)):
        rows = np.flatnonzero(y[:, i] == 0)
        j = nxt[rows, i]
        has_r = j < n
        rv = np.where(has_r, y[rows, np.minimum(j, n - 1)], 0)
        if i == 0:
            y[rows, 0] = rv
            continue
        lv = y[rows, i - 1]
        has_l = lv != 0
        y[rows, i] = np.where(has_l & has_r, (lv + rv) / 2,
                              np.where(has_l, lv, np.where(has_r, rv, 0)))
    return y


def _lane_polyfit(y, w, left, right, deg):
    """Least-squares polynomial of degree ``deg`` (> 1) through
    y[:, left:right+1] (weights w, 0 or 1) for every lane (double
    precision, as CASA's polynomial pieces); NaN where a lane has no more
    than ``deg`` usable points (those pieces get a line instead)."""
    seg_y = y[:, left:right + 1].astype(np.float64)
    seg_w = w[:, left:right + 1].astype(np.float64)
    m = right - left + 1
    x = np.linspace(-1.0, 1.0, m) if m > 1 else np.zeros(1)
    cnt = seg_w.sum(axis=1)
    out = np.full(seg_y.shape, np.nan)
    use = cnt > deg
    if use.any():
        V = np.vander(x, deg + 1, increasing=True)
        ww = seg_w[use]
        A = np.einsum("lm,mk,mj->lkj", ww, V, V) + np.eye(deg + 1) * 1e-12
        b = np.einsum("lm,mk,lm->lk", ww, V, seg_y[use])
        c = np.linalg.solve(A, b[..., None])[..., 0]          # in t = alpha*X + beta
        # the same polynomial in CASA's abscissa X = index + 1, evaluated as
        # CASA does: a single-precision sum of the double-precision terms
        # (its rounding moves values by up to ~1e-4: measured on day2)
        X = np.arange(left, right + 1, dtype=np.float64) + 1.0
        alpha = 2.0 / (m - 1) if m > 1 else 0.0
        beta = -1.0 - alpha * (left + 1.0) if m > 1 else 0.0
        coef = np.zeros_like(c)
        from math import comb
        for k in range(deg + 1):
            for j in range(k + 1):
                coef[:, j] += c[:, k] * comb(k, j) * alpha ** j * beta ** (k - j)
        acc = np.zeros((len(c), m), np.float32)
        for j in range(deg + 1):
            acc = (acc.astype(np.float64) + coef[:, j:j + 1] * X[None, :] ** j
                   ).astype(np.float32)
        out[use] = acc
    return out, use


def _lane_stats32(y, w):
    """Mean and rms about it of the usable values of each lane, summed in
    single precision in index order (as CASA's tfcrop)."""
    f32 = np.float32
    s = np.zeros(y.shape[0], f32)
    cnt = w.sum(axis=1)
    for i in range(y.shape[1]):
        s += np.where(w[:, i], y[:, i], f32(0))
    with np.errstate(invalid="ignore", divide="ignore"):
        mn = (s / np.maximum(cnt, 1).astype(f32)).astype(f32)
        q = np.zeros(y.shape[0], f32)
        for i in range(y.shape[1]):
            d = y[:, i] - mn
            q += np.where(w[:, i], d * d, f32(0))
        sd = np.sqrt(q / cnt.astype(f32)).astype(f32)
    return mn, sd


def _line_fit32(y, w, left, right, sd):
    """CASA tfcrop's line through the usable points of y[:, left:right+1],
    with its single-precision sums weighted by 1/sd^2 and x the channel (or
    time) index: a piece with one usable point gives rounding noise or
    0/0, as there."""
    f32 = np.float32
    L = y.shape[0]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        q = (sd * sd).astype(f32)
        S = np.zeros(L, f32)
        Sx = np.zeros(L, f32)
        Sy = np.zeros(L, f32)
        Sxx = np.zeros(L, f32)
        Sxy = np.zeros(L, f32)
        zero = f32(0)
        for i in range(left, right + 1):
            u = w[:, i]
            fi = f32(i)
            S += np.where(u, f32(1) / q, zero)
            Sx += np.where(u, fi / q, zero)
            Sy += np.where(u, y[:, i] / q, zero)
            Sxx += np.where(u, f32(i * i) / q, zero)
            Sxy += np.where(u, (fi * y[:, i]) / q, zero)
        den = S * Sxx - Sx * Sx
        a = (Sxx * Sy - Sx * Sxy) / den
        b = (S * Sxy - Sx * Sy) / den
        xs = np.arange(left, right + 1, dtype=f32)
        return (a[:, None] + b[:, None] * xs[None, :]).astype(f32)


def _fill_zeros(y):
    """tfcrop's base values: an average that is exactly 0 (no unflagged
    value, or data of zeros) takes, from left to right, the mean of the value
    before it and the next nonzero one after it (or whichever exists)."""
    zero = y == 0
    if not zero.any():
        return y
    y = y.copy()
    L, n = y.shape
    pos = np.where(~zero, np.arange(n)[None, :], n)
    nxt = np.minimum.accumulate(pos[:, ::-1], axis=1)[:, ::-1]        # next nonzero >= i
    nxt = np.concatenate([nxt[:, 1:], np.full((L, 1), n)], axis=1)      # next nonzero > i
    for i in np.flatnonzero(zero.any(axis=0)):
        rows = np.flatnonzero(y[:, i] == 0)
        j = nxt[rows, i]
        has_r = j < n
        rv = np.where(has_r, y[rows, np.minimum(j, n - 1)], 0)
        if i == 0:
            y[rows, 0] = rv
            continue
        lv = y[rows, i - 1]
        has_l = lv != 0
        y[rows, i] = np.where(has_l & has_r, (lv + rv) / 2,
                              np.where(has_l, lv, np.where(has_r, rv, 0)))
    return y


def _casa_piecewise_fit(y, valid, maxnpieces, maxdeg):
    """tfcrop's base fit along the last axis of y (lanes, n), in single
    precision as CASA's.

    Averages of 0 are first replaced by their neighbours (see
    :func:`_fill_zeros`; they stay out of the fits); then five passes: pass
    j uses min(2j+1, maxnpieces) pieces of degree 1, 1, 2, 3, 3 (at most
    ``maxdeg``; a piece with no more usable points than the degree gets a
    line); lines are CASA's single-precision weighted sums
    (:func:`_line_fit32`), polynomials double-precision least squares; the
    fit is smoothed with a 5-point running mean; points lying more than 3
    (later 2) x the rms of the fit residuals *above* the fit are left out of
    the next pass.  A piece that cannot be fitted is NaN (and so, through the
    running mean, are its neighbours), as in CASA, whose flagging then leaves
    that row alone.
    """
    f32 = np.float32
    L, n = y.shape
    y = _fill_zeros(np.where(valid, y, 0.0).astype(f32))
    w = valid & (y != 0)
    fit = y.copy()
    for j in range(5):
        npieces = min(2 * j + 1, int(maxnpieces))
        deg = min(1 if j <= 1 else (2 if j == 2 else 3), int(maxdeg))
        npieces = max(1, min(npieces, n))
        psize = n // npieces
        front = (n % npieces) // 2
        _, lsd = _lane_stats32(y, w)
        new = np.empty_like(fit)
        for p in range(npieces):
            if npieces == 1:
                left, right = 0, n - 1
            else:
                left = front + p * psize
                right = left + psize
                if p == 0:
                    left, right = 0, front + psize
                if p == npieces - 1:
                    right = n - 1
            right = min(right, n - 1)
            piece = _line_fit32(y, w, left, right, lsd)
            if deg > 1:
                poly, use = _lane_polyfit(y, w, left, right, deg)
                piece[use] = poly[use].astype(f32)
            new[:, left:right + 1] = piece
        fit = new
        # running 5-point mean, in place from low to high index
        with np.errstate(invalid="ignore", over="ignore"):
            for i in range(2, n - 2):
                acc = np.zeros(L, f32)
                for k in range(i - 2, i + 3):
                    acc += fit[:, k]
                fit[:, i] = acc / f32(5)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            # NaN when an unflagged point has no fit (CASA: the same)
            cnt = np.maximum(w.sum(axis=1), 1).astype(f32)
            q = np.zeros(L, f32)
            for i in range(n):
                d = y[:, i] - fit[:, i]
                q += np.where(w[:, i], d * d, f32(0))
            sd = np.sqrt(q / cnt)
            tol = f32(3.0 if j < 2 else 2.0)
            out = (y - fit) > tol * sd[:, None]
        w = w & ~out
    return fit


def _tf_step(amp, flags, present, mask, direction, cutoff, fitname, maxnpieces, winstats,
             halfwin):
    """One tfcrop direction on a cube (nb, nt, nchan, ncorr); returns new flags."""
    sel = mask[None, None] & present[:, :, None, None]
    cur = flags | ~sel
    nb, nt, nch, nc = amp.shape
    if direction == "freq":     # fit along channels, rows are times
        a = np.moveaxis(amp, 2, -1)           # (nb, nt, ncorr, nchan)
        f = np.moveaxis(cur, 2, -1)
    else:                       # fit along time, rows are channels
        a = np.moveaxis(amp, 1, -1)           # (nb, nchan, ncorr, nt)
        f = np.moveaxis(cur, 1, -1)
    rows = a.shape[1]
    n = a.shape[-1]
    ok = ~f
    cnt = ok.sum(axis=1)                                        # (nb, ncorr, n)
    # single-precision sums in index order, as CASA's tfcrop
    tot = np.cumsum(np.where(ok, a, np.float32(0)), axis=1, dtype=np.float32)[:, -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        avg = np.where(cnt > 0, tot / np.maximum(cnt, 1).astype(np.float32), np.float32(0))
    del tot
    lanes = avg.reshape(-1, n)
    lvalid = (cnt > 0).reshape(-1, n)
    if fitname == "poly":
        fit = _casa_piecewise_fit(lanes, lvalid, maxnpieces, 4)
    else:
        fit = _casa_piecewise_fit(lanes, lvalid, 1, 1)
    fit = fit.reshape(nb, 1, nc, n).astype(np.float32)
    anyok = lvalid.any(axis=1).reshape(nb, 1, nc, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = np.where(ok, a / fit, np.float32(0.0))            # (nb, rows, nc, n)
    newf = f.copy()
    # robust per-row rejection about 1
    prev = np.zeros(norm.shape[:-1])
    active = np.ones(norm.shape[:-1], bool)
    for _ in range(5):
        okn = ~newf
        k = okn.sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            dev = np.abs(norm - np.float32(1.0))
            sq = np.cumsum(np.where(okn, dev * dev, np.float32(0)), axis=-1,
                           dtype=np.float32)[..., -1]
            sd = np.sqrt(sq / k.astype(np.float32))
            del sq
            hit = okn & (dev > cutoff * sd[..., None]) & active[..., None]
            del dev
        newf |= hit
        with np.errstate(invalid="ignore"):
            active &= ~(np.abs(prev - sd) < 0.1)
        prev = sd
        if not active.any():
            break
    if winstats in ("sum", "std", "both") and halfwin > 0 and n > 2 * halfwin:
        dev = norm - 1.0                                         # flagged points are 0 here
        win = 2 * halfwin + 1
        wsum = np.zeros(dev.shape[:-1] + (n - 2 * halfwin,))
        wsq = np.zeros_like(wsum)
        for k_ in range(win):
            seg = dev[..., k_:k_ + n - 2 * halfwin]
            wsum += np.abs(seg)
            wsq += seg * seg
        with np.errstate(invalid="ignore"):
            thr = cutoff * sd[..., None]
            extra = np.zeros(dev.shape, bool)
            if winstats in ("sum", "both"):
                extra[..., halfwin:n - halfwin] |= wsum / win > thr
            if winstats in ("std", "both"):
                extra[..., halfwin:n - halfwin] |= np.sqrt(wsq / win) > thr
        newf |= extra
    newf &= anyok
    newf |= f
    if direction == "freq":
        out = np.moveaxis(newf, -1, 2)
    else:
        out = np.moveaxis(newf, -1, 1)
    return (out & sel) | flags


def tfcrop(data, flags, present, mask, timecutoff=4.0, freqcutoff=3.0, timefit="line",
           freqfit="poly", maxnpieces=7, flagdimension="freqtime", extendflags=True,
           usewindowstats="none", halfwin=1):
    """TFCrop on amplitudes, per baseline and correlation of a chunk.

    For each direction (``flagdimension``: freq then time by default):
    average the unflagged amplitudes across the other axis; fit that with
    tfcrop's iterative piecewise polynomial (``freqfit``/``timefit`` 'poly'
    with up to ``maxnpieces`` pieces, or 'line'); divide every row of the
    plane by the fit and flag, row by row, points whose ratio differs from 1
    by more than ``cutoff`` x the rms of the row's ratios about 1 (repeated
    up to five times while the rms keeps changing by 0.1 or more);
    optionally flag points whose sliding-window mean |ratio - 1| (``sum``) or
    rms (``std``) over 2 x ``halfwin`` + 1 points exceeds the same limit.
    """
    amp = np.abs(data).astype(np.float32)
    new = flags.copy()
    dims = flagdimension.lower()
    if dims == "time":
        order = ["time"]
    elif dims == "freq":
        order = ["freq"]
    elif dims == "timefreq":
        order = ["time", "freq"]
    else:
        order = ["freq", "time"]
    for d in order:
        if d == "freq":
            new = _tf_step(amp, new, present, mask, "freq", freqcutoff, freqfit, maxnpieces,
                           usewindowstats, halfwin)
        else:
            new = _tf_step(amp, new, present, mask, "time", timecutoff, timefit, maxnpieces,
                           usewindowstats, halfwin)
    if extendflags:
        new = extend_agent_flags(flags, new, present, mask)
    return new


def extend_agent_flags(before, after, present, mask, new_only=False):
    """The ``extendflags`` step of tfcrop and rflag.

    On an MS: CASA 6.7's internal extend agent, which uses growtime=50 %
    and growfreq=80 % (not the extend mode's defaults), per correlation,
    both counted on the flags as the algorithm left them (every flag, also
    earlier ones), then extendpols.  Measured cell for cell against CASA 6.7
    on day2_TDEM0003, MWA, OVRO-LWA and PAPER MSs.

    With ``new_only`` (calibration tables) growfreq and growtime count only
    the flags the algorithm itself set (``after`` but not ``before``), over
    whole rows, and extendpols spreads every flag: measured against CASA 6.7
    on gaincal and bandpass tables, whose rows often carry many earlier
    flags that CASA does not grow."""
    if not new_only:
        return _extend_agent(after, present, mask)
    grown = extend_time(after & ~before, present, mask, extendpols=False, growtime=50.0,
                        growfreq=50.0, rowfreq=True)
    out = after | grown
    sel = mask[None, None] & present[:, :, None, None]
    out |= (out & sel).any(axis=3, keepdims=True) & sel
    return out


def _extend_agent(flags, present, mask, growtime=50.0, growfreq=80.0):
    """growfreq and growtime per correlation, each from the flag counts
    before either grows anything (as CASA's extend agent counts them), then
    extendpols."""
    sel = mask[None, None] & present[:, :, None, None]
    f = flags & sel
    nchan = np.maximum(mask.sum(axis=0), 1)[None, None]              # (1, 1, ncorr)
    ntimes = np.maximum(present.sum(axis=1), 1)[:, None, None]       # (nb, 1, 1)
    gf = f.sum(axis=2) / nchan >= growfreq / 100.0 - 1e-12           # (nb, nt, ncorr)
    gt = f.sum(axis=1) / ntimes >= growtime / 100.0 - 1e-12          # (nb, nchan, ncorr)
    del f
    new = flags | (gf[:, :, None] & sel) | (gt[:, None] & sel)
    return new | ((new & sel).any(axis=3, keepdims=True) & sel)


def _median_plus_mad(avg: np.ndarray) -> float:
    """median + 1.4826 x MAD of per-channel averages (the chunk threshold)."""
    if avg.size == 0:
        return 0.0
    med = float(np.median(avg))
    return med + MAD_TO_SIGMA * float(np.median(np.abs(avg - med)))


class RFlag:
    """RFlag-style flagging of one chunk (scan x field x spw), in two passes.

    Time analysis: for every full window of ``winsize`` integrations of a
    baseline (centred on each integration that has one), channel and
    correlation, the scatter of the unflagged values, sqrt(var(Re) +
    var(Im)).  Spectral analysis: for every integration and correlation, the
    medians of Re and Im over the unflagged channels, each channel's
    deviations |Re - med|, |Im - med|, and the robust spectral scatter
    1.4826 x median(deviation) of Re and of Im.

    Thresholds: ``timedevscale`` (``freqdevscale``) x (``timedev``/``freqdev``
    when given, else) the median +
    1.4826 x MAD over the selected channels of the per-channel averages of
    the window scatter (of the deviations) over baselines, times and
    correlations.  A window whose scatter exceeds the time threshold is
    flagged entirely; a channel whose Re or Im deviation exceeds the
    spectral threshold is flagged; a whole spectrum is flagged when its
    spectral scatter is above ``spectralmax`` or below ``spectralmin``.
    """

    #: working memory per cell of the chunk (bytes), for sizing baseline subsets
    cell_bytes = 128

    def __init__(self, winsize=3, timedev=None, freqdev=None, timedevscale=5.0,
                 freqdevscale=5.0, spectralmax=1e6, spectralmin=0.0, extendflags=True):
        self.winsize = max(1, int(winsize))
        self.timedev = timedev
        self.freqdev = freqdev
        self.tscale = float(timedevscale)
        self.fscale = float(freqdevscale)
        self.smax = float(spectralmax)
        self.smin = float(spectralmin)
        self.extendflags = extendflags
        self._totals = {}           # (field, spw) -> accumulated statistics

    # -- statistics ---------------------------------------------------------
    def _window(self, nt):
        w = min(self.winsize, nt)
        return (w - 1) // 2

    def _time_scatter(self, data, valid):
        """(nb, nt - 2*delta, nchan, ncorr) window scatter, NaN if empty."""
        nt = data.shape[1]
        delta = self._window(nt)
        nwin = nt - 2 * delta
        if nwin <= 0:
            return np.zeros((data.shape[0], 0) + data.shape[2:]), delta
        cplx = np.iscomplexobj(data)
        shape = (data.shape[0], nwin) + data.shape[2:]
        n = np.zeros(shape, np.float32)
        s_re = np.zeros(shape)
        s_im = np.zeros(shape)
        q_re = np.zeros(shape)
        q_im = np.zeros(shape)
        # As CASA 6.7: sums in double precision of single-precision values
        # and of their single-precision squares, and each variance clipped
        # at 0.  A window of one point (a chunk with one integration) thus
        # gets the rounding error of its float32 square as its scatter, and
        # so do CASA's thresholds and flags (measured on OVRO-LWA and MWA
        # snapshots).
        for k in range(-delta, delta + 1):
            sl = slice(delta + k, delta + k + nwin)
            v = valid[:, sl]
            d = data[:, sl]
            n += v
            dr = np.where(v, d.real, 0).astype(np.float32)
            s_re += dr
            q_re += dr * dr
            del dr
            if cplx:
                di = np.where(v, d.imag, 0).astype(np.float32)
                s_im += di
                q_im += di * di
                del di
        with np.errstate(invalid="ignore", divide="ignore"):
            m_re = s_re / n
            var = np.clip(q_re / n - m_re * m_re, 0, None)
            del m_re, q_re, s_re
            m_im = s_im / n
            var += np.clip(q_im / n - m_im * m_im, 0, None)
            del m_im, q_im, s_im
        out = np.sqrt(var)
        out[n == 0] = np.nan
        return out, delta

    def _compact_scatter(self, data, valid, present):
        """The window scatter over each baseline's OWN consecutive
        integrations: times at which a baseline has no row are skipped, not
        treated as gaps in its windows (CASA 6.7 does this: its reported
        timedev on day2_TDEM0003_10s_norx_1scan.ms, whose baselines have
        rows at about half of the times, is reproduced to 7 digits only this
        way).  Returns (scatter on the compacted time axis with NaN for
        windows that run past a baseline's last row, delta, order) where
        ``order[b, j]`` is the time index of compacted position j."""
        order = np.argsort(~present, axis=1, kind="stable")
        if bool(np.all(order == np.arange(present.shape[1])[None, :])):
            ts, delta = self._time_scatter(data, valid)
            return ts, delta, None
        idx = order[:, :, None, None]
        dc = np.take_along_axis(data, idx, axis=1)
        vc = np.take_along_axis(valid, idx, axis=1)
        ts, delta = self._time_scatter(dc, vc)
        npres = present.sum(axis=1)
        nwin = ts.shape[1]
        if nwin > 0:
            # a window whose last member is past the baseline's last row
            full = (np.arange(nwin)[None, :] + 2 * delta) < npres[:, None]
            ts[~full] = np.nan
        return ts, delta, order

    @staticmethod
    def _spectral(data, valid):
        """Medians over channels and deviations, as CASA's 'simple median'."""
        def part(x):
            xv = np.where(valid, x, np.nan)
            med = _nanmedian(xv, axis=2)                        # (nb, nt, ncorr)
            dev_all = np.abs(x - np.nan_to_num(med)[:, :, None])
            # CASA 6.7's spectral scatter is 1.4826 x the median of the
            # *signed* deviations x - med, which is 0 (measured: spectralmin
            # = 1e-6 flags every spectrum, spectralmax = 1e-6 none), and
            # 1000 when no channel is unflagged
            std = np.where(np.isfinite(med), 0.0, 1000.0)
            return dev_all, std

        dev_re, std_re = part(data.real.astype(np.float32))
        if np.iscomplexobj(data):
            dev_im, std_im = part(data.imag.astype(np.float32))
        else:
            dev_im, std_im = np.zeros_like(dev_re), np.zeros_like(std_re)
        return dev_re, dev_im, std_re, std_im

    #: calibration tables: the correlations (solution elements) examined, when
    #: fewer than the selection's (the extension step still covers all of these)
    elements = None

    def _detect_mask(self, mask):
        return mask if self.elements is None else mask & self.elements[None, :]

    def statistics(self, data, flags, present, mask):
        mask = self._detect_mask(mask)
        valid = _valid(flags, present, mask)
        self._chan_sel = mask.any(axis=1)
        ts, _, _ = self._compact_scatter(data, valid, present)
        fin = np.isfinite(ts)
        tsum = np.where(fin, ts, 0).sum(axis=(0, 1, 3))
        tcnt = fin.sum(axis=(0, 1, 3)).astype(np.float64)
        dev_re, dev_im, _, _ = self._spectral(data, valid)
        fsum = (np.where(valid, dev_re, 0) + np.where(valid, dev_im, 0)).sum(axis=(0, 1, 3))
        fcnt = valid.sum(axis=(0, 1, 3)).astype(np.float64) * (2 if np.iscomplexobj(data) else 1)
        return tsum, tcnt, fsum, fcnt

    def thresholds(self, parts, ctx):
        tsum = sum(p[0] for p in parts)
        tcnt = sum(p[1] for p in parts)
        fsum = sum(p[2] for p in parts)
        fcnt = sum(p[3] for p in parts)
        sel = self._chan_sel
        with np.errstate(invalid="ignore", divide="ignore"):
            tavg = np.where(tcnt > 0, tsum / np.maximum(tcnt, 1), 0.0)[sel]
            favg = np.where(fcnt > 0, fsum / np.maximum(fcnt, 1), 0.0)[sel]
        # user thresholds are used as given; computed ones are scaled (as CASA)
        td = _lookup(self.timedev, ctx)
        fd = _lookup(self.freqdev, ctx)
        key = (ctx.get("field", -1), ctx.get("spw", -1))
        acc = self._totals.setdefault(key, [0.0, 0.0, 0.0, 0.0, sel, td, fd])
        acc[0] = acc[0] + tsum
        acc[1] = acc[1] + tcnt
        acc[2] = acc[2] + fsum
        acc[3] = acc[3] + fcnt
        # as CASA 6.7 (measured): the scale factors multiply given thresholds
        # as well as computed ones
        if td is None:
            td = _median_plus_mad(tavg)
        if fd is None:
            fd = _median_plus_mad(favg)
        # a threshold of 0 (all windows without scatter) switches that
        # analysis off, as in CASA 6.7, instead of flagging every nonzero value
        return (self.tscale * td if td > 0 else -1.0,
                self.fscale * fd if fd > 0 else -1.0)

    @property
    def reports(self):
        """[[field, spw, timedev, freqdev], ...]: the thresholds (before the
        scale factors, or as given) from the statistics of all chunks of each
        field and spw."""
        out = []
        for (f, s), (tsum, tcnt, fsum, fcnt, sel, utd, ufd) in sorted(self._totals.items()):
            with np.errstate(invalid="ignore", divide="ignore"):
                tavg = np.where(tcnt > 0, tsum / np.maximum(tcnt, 1), 0.0)[sel]
                favg = np.where(fcnt > 0, fsum / np.maximum(fcnt, 1), 0.0)[sel]
            # unscaled, as CASA reports them (they can be given back as
            # timedev/freqdev, and the scale factors then apply again)
            td = utd if utd is not None else _median_plus_mad(tavg)
            fd = ufd if ufd is not None else _median_plus_mad(favg)
            out.append([f, s, float(td), float(fd)])
        return out

    # -- flagging -------------------------------------------------------------
    def apply(self, data, flags, present, mask, thresholds):
        noise, scutof = thresholds
        full_mask, mask = mask, self._detect_mask(mask)
        valid = _valid(flags, present, mask)
        new = flags.copy()
        bad = np.zeros(flags.shape, bool)
        ts, delta, order = self._compact_scatter(data, valid, present)
        if ts.shape[1] > 0 and noise >= 0:
            with np.errstate(invalid="ignore"):
                win_bad = ts > noise
            nwin = ts.shape[1]
            bad_c = np.zeros(flags.shape, bool)
            for k in range(-delta, delta + 1):
                bad_c[:, delta + k:delta + k + nwin] |= win_bad
            if order is None:
                bad |= bad_c
            else:
                np.put_along_axis(bad, order[:, :, None, None], bad_c, axis=1)
        if scutof >= 0:
            dev_re, dev_im, std_re, std_im = self._spectral(data, valid)
            with np.errstate(invalid="ignore"):
                whole = (std_re > self.smax) | (std_im > self.smax) | \
                    (std_re < self.smin) | (std_im < self.smin)
                bad |= (dev_re > scutof) | (dev_im > scutof)
            bad |= whole[:, :, None, :]
        new |= bad & present[:, :, None, None] & mask[None, None]
        if self.extendflags:
            new = extend_agent_flags(flags, new, present, full_mask,
                                     new_only=getattr(self, "extend_new_only", False))
        return new

    def __call__(self, data, flags, present, mask, ctx=None):
        thr = self.thresholds([self.statistics(data, flags, present, mask)], ctx or {})
        return self.apply(data, flags, present, mask, thr)


def element_masks(mask):
    """One mask per selected correlation (solution element) of ``mask``."""
    out = []
    for k in range(mask.shape[1]):
        if mask[:, k].any():
            mk = np.zeros_like(mask)
            mk[:, k] = mask[:, k]
            out.append(mk)
    return out


def tfcrop_per_element(data, flags, present, mask, extendflags=True, elements=None, **kw):
    """tfcrop on a calibration table, as CASA runs it there: one pass per
    solution element (those of ``elements``, default all), each on the flags
    as they were, then one extension step over the union (growth from the
    new flags only) that covers every selected element."""
    out = flags.copy()
    dmask = mask if elements is None else mask & np.asarray(elements, bool)[None, :]
    for mk in element_masks(dmask):
        out |= tfcrop(data, flags, present, mk, extendflags=False, **kw)
    if extendflags:
        out = extend_agent_flags(flags, out, present, mask, new_only=True)
    return out


def _lookup(value, ctx):
    """A user threshold: None, a number, or [[field, spw, value], ...]."""
    if value in (None, "", []):
        return None
    # as CASA 6.7: a value <= 0 means "compute it"
    if isinstance(value, (int, float, np.floating, np.integer, str)):
        v = float(value)
        return v if v > 0 else None
    rows = [list(r) for r in value if isinstance(r, (list, tuple, np.ndarray)) and len(r) >= 3]
    for f, s, v in ((int(r[0]), int(r[1]), float(r[2])) for r in rows):
        if f == ctx.get("field") and s == ctx.get("spw"):
            return v if v > 0 else None
    return None


def extend_time(flags, present, mask, extendpols=True, growtime=50.0, growfreq=50.0,
                growaround=False, flagneartime=False, flagnearfreq=False, rowfreq=False):
    """The extend mode on a cube: grows flags inside ``mask``.

    ``rowfreq``: growfreq counts the flagged cells of the whole row (every
    selected channel and correlation) and grows the whole row - used for the
    ``extendflags`` step on calibration tables (see
    :func:`extend_agent_flags`); the extend mode counts per correlation."""
    new = flags.copy()
    m = mask[None, None]
    pres = present[:, :, None, None]
    sel = m & pres
    if flagnearfreq:
        f = new & sel
        near = np.zeros_like(f)
        near[:, :, 1:] |= f[:, :, :-1]
        near[:, :, :-1] |= f[:, :, 1:]
        new |= near & sel
    if flagneartime:
        f = new & sel
        near = np.zeros_like(f)
        near[:, 1:] |= f[:, :-1]
        near[:, :-1] |= f[:, 1:]
        new |= near & sel
    if growaround:
        f = (new & sel).astype(np.int8)
        pad = np.pad(f, ((0, 0), (1, 1), (1, 1), (0, 0)))
        cnt = np.zeros(f.shape, np.int8)
        for dt in (-1, 0, 1):
            for dc in (-1, 0, 1):
                if dt == 0 and dc == 0:
                    continue
                cnt += pad[:, 1 + dt:1 + dt + f.shape[1], 1 + dc:1 + dc + f.shape[2]]
        new |= (cnt > 4) & sel
    # growfreq before growtime, then extendpols: CASA 6.7's order (measured:
    # rflag with extendflags on day2_TDEM0003 agrees cell for cell only so)
    if growfreq and 0 < growfreq < 100 and rowfreq:
        frac = (new & sel).sum(axis=(2, 3)) / max(int(mask.sum()), 1)    # (nb, nt)
        grow = frac >= growfreq / 100.0 - 1e-12
        new |= grow[:, :, None, None] & sel
    elif growfreq and 0 < growfreq < 100:
        nsel = mask.sum(axis=0)[None, None]                             # (1,1,ncorr)
        frac = (new & sel).sum(axis=2) / np.maximum(nsel, 1)            # (nb, nt, ncorr)
        grow = frac >= growfreq / 100.0 - 1e-12     # CASA: "at least"
        new |= grow[:, :, None] & sel
    if growtime and 0 < growtime < 100:
        ntimes = present.sum(axis=1)[:, None, None]                    # (nb,1,1)
        frac = (new & sel).sum(axis=1) / np.maximum(ntimes, 1)          # (nb, nchan, ncorr)
        grow = frac >= growtime / 100.0 - 1e-12     # CASA: "at least"
        new |= grow[:, None] & sel
    if extendpols:
        anyc = (new & sel).any(axis=3, keepdims=True)
        new |= anyc & sel
    return new


# ---------------------------------------------------------------------------
# timeavg / channelavg for tfcrop and rflag

def _bin_index(n, width):
    return np.arange(n) // max(1, int(width))


def time_slots(times, present, timebin, interval=0.0):
    """Time averaging of a chunk as CASA does it, baseline by baseline: a
    bin starts at a baseline's first integration and takes the following
    ones of that baseline while (t - start) + interval <= ``timebin``
    (measured on day2_TDEM0003, whose integrations are 10 s apart with
    0.04 s intervals: 20 s bins hold two integrations, three when the bin
    starts 1.5 s late).  Each bin becomes one integration at the mean time
    of its members.

    Returns (slot, new_times): ``slot[b, j]`` is the averaged time index of
    integration j of baseline b (-1 where the baseline has no row) and
    ``new_times`` the sorted distinct bin times."""
    times = np.asarray(times, float)
    nb, nt = present.shape
    binno = np.full((nb, nt), -1, np.int64)
    start = np.full(nb, -np.inf)
    cur = np.full(nb, -1, np.int64)
    limit = float(timebin) - float(interval) + 1e-6
    # a loop over the chunk's distinct times, vectorised over baselines
    for j in range(nt):
        p = present[:, j]
        new = p & ((times[j] - start) > limit)
        start[new] = times[j]
        cur[new] += 1
        binno[p, j] = cur[p]
    nbins = cur + 1                                   # bins per baseline
    off = np.concatenate([[0], np.cumsum(nbins)])
    gid = np.where(binno >= 0, binno + off[:-1, None], -1)
    ng = int(off[-1])
    tsum = np.zeros(ng)
    tcnt = np.zeros(ng)
    ok = gid >= 0
    np.add.at(tsum, gid[ok], np.broadcast_to(times[None, :], gid.shape)[ok])
    np.add.at(tcnt, gid[ok], 1)
    centre = np.round(tsum / np.maximum(tcnt, 1), 3)
    new_times, inv = np.unique(centre, return_inverse=True)
    slot = np.where(ok, inv.reshape(-1)[np.where(ok, gid, 0)], -1)
    return slot, new_times


def average_cube(data, flags, present, mask, slot, ntb, cbin):
    """Average a chunk cube: integrations into the time slots ``slot``
    (b, j) -> averaged index (see :func:`time_slots`; -1 = no row) and
    channels into the bins ``cbin``.  A cell of the average is the mean of
    the unflagged values it covers (of all of them when every one is
    flagged; the averaged cell is then flagged).  Returns (data, flags,
    present, mask) of the averaged cube."""
    nb, nt, nc, npol = flags.shape
    ncb = int(cbin.max()) + 1 if nc else 0
    cstart = np.flatnonzero(np.r_[True, np.diff(cbin) != 0])
    ok = slot >= 0
    bb, jj = np.nonzero(ok)                      # row-major: keys never decrease
    key = bb * max(ntb, 1) + slot[bb, jj]
    gstart = np.flatnonzero(np.r_[True, np.diff(key) != 0]) if len(key) else np.zeros(0, int)
    gkey = key[gstart]
    gb, gt = gkey // max(ntb, 1), gkey % max(ntb, 1)

    def bsum(x):
        """x: (ncells, nc, npol) over the present cells -> (nb, ntb, ncb, npol)"""
        if ncb != nc:
            x = np.add.reduceat(x, cstart, axis=1)
        out = np.zeros((nb, ntb) + x.shape[1:], x.dtype)
        if len(key):
            out[gb, gt] = np.add.reduceat(x, gstart, axis=0)
        return out

    fl = flags[bb, jj]
    good = ~fl
    ngood = bsum(good.astype(np.int32))
    npres = bsum(np.ones(fl.shape, np.int32))
    f2 = ngood == 0
    p2 = np.zeros((nb, ntb), bool)
    p2[gb, gt] = True
    d2 = None
    if data is not None:
        d = data[bb, jj]
        # single-precision sums, as CASA 6.7 averages (closer to its tfcrop flags)
        dt = np.complex64 if np.iscomplexobj(d) else np.float32
        sg = bsum(np.where(good, d, 0).astype(dt))
        sa = bsum(d.astype(dt))
        with np.errstate(invalid="ignore", divide="ignore"):
            d2 = np.where(ngood > 0, sg / np.maximum(ngood, 1), sa / np.maximum(npres, 1))
        d2 = d2.astype(np.complex64 if np.iscomplexobj(d) else np.float32)
        del d, sg, sa
    m2 = np.zeros((ncb, npol), bool)
    np.logical_or.at(m2, cbin, mask)
    return d2, f2, p2, m2


class Averaged:
    """tfcrop or rflag on averaged data (flagdata's ``timeavg``/``timebin``
    and ``channelavg``/``chanbin``): each chunk is averaged, the algorithm
    runs on the averages, and a flag it sets on an averaged cell is set on
    every original (present) cell of that bin."""

    def __init__(self, inner, chanbin=1, timebin=0.0):
        self.inner = inner
        self.chanbin = chanbin
        self.timebin = float(timebin or 0.0)
        self.times = None
        self.interval = 0.0
        self.cell_bytes = 2 * getattr(inner, "cell_bytes", 64)

    def _avg(self, data, flags, present, mask):
        nb, nt, nc, npol = flags.shape
        if self.timebin > 0 and self.times is not None:
            slot, new_times = time_slots(self.times, present, self.timebin, self.interval)
            ntb = len(new_times)
        else:
            slot = np.where(present, np.arange(nt)[None, :], -1)
            ntb = nt
        cbin = _bin_index(nc, self.chanbin)
        return (slot, cbin), average_cube(data, flags, present, mask, slot, ntb, cbin)

    @staticmethod
    def _expand(flags, present, mask, maps, f2_before, f2_after):
        slot, cbin = maps
        new2 = f2_after & ~f2_before
        new = new2[np.arange(flags.shape[0])[:, None], np.maximum(slot, 0)][:, :, cbin]
        return flags | (new & (slot >= 0)[:, :, None, None] & mask[None, None])

    def __call__(self, data, flags, present, mask):
        maps, (d2, f2, p2, m2) = self._avg(data, flags, present, mask)
        out2 = self.inner(d2, f2, p2, m2)
        return self._expand(flags, present, mask, maps, f2, out2)


class AveragedTwoPass(Averaged):
    """:class:`Averaged` for a two-pass algorithm (rflag)."""

    def statistics(self, data, flags, present, mask):
        return self.inner.statistics(*self._avg(data, flags, present, mask)[1])

    def thresholds(self, parts, ctx):
        return self.inner.thresholds(parts, ctx)

    def apply(self, data, flags, present, mask, thresholds):
        maps, (d2, f2, p2, m2) = self._avg(data, flags, present, mask)
        out2 = self.inner.apply(d2, f2, p2, m2, thresholds)
        return self._expand(flags, present, mask, maps, f2, out2)

    @property
    def reports(self):
        return self.inner.reports
