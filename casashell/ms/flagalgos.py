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


def _nanmean(a, axis):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(a, axis=axis)


def _robust_sigma(resid, axis):
    med = _nanmedian(resid, axis=axis)
    mad = _nanmedian(np.abs(resid - np.expand_dims(med, axis) if not isinstance(axis, tuple)
                            else resid - _expand(med, axis)), axis=axis)
    return MAD_TO_SIGMA * mad


def _expand(a, axes):
    for ax in sorted(axes):
        a = np.expand_dims(a, ax)
    return a


def _piecewise_fit(y, w, npieces, degree):
    """Weighted least-squares fit along the last axis of ``y`` (..., n) with
    ``npieces`` independent polynomial pieces of ``degree``; ``w`` is 0/1.
    Returns the fitted curve (..., n)."""
    n = y.shape[-1]
    out = np.zeros_like(y, dtype=float)
    npieces = max(1, min(int(npieces), max(1, n // max(2, degree + 2))))
    edges = np.linspace(0, n, npieces + 1).round().astype(int)
    yz = np.where(w > 0, y, 0.0)
    for p in range(npieces):
        lo, hi = edges[p], edges[p + 1]
        if hi <= lo:
            continue
        x = np.linspace(-1, 1, hi - lo) if hi - lo > 1 else np.zeros(1)
        deg = min(degree, hi - lo - 1)
        V = np.vander(x, deg + 1)                         # (m, k)
        ww = w[..., lo:hi]
        # normal equations per leading index: (V^T W V) c = V^T W y
        A = np.einsum("...m,mk,ml->...kl", ww, V, V)
        b = np.einsum("...m,mk,...m->...k", ww, V, yz[..., lo:hi])
        A = A + np.eye(deg + 1) * 1e-9
        try:
            c = np.linalg.solve(A, b[..., None])[..., 0]
        except np.linalg.LinAlgError:
            c = np.zeros(b.shape)
        out[..., lo:hi] = np.einsum("mk,...k->...m", V, c)
    return out


def tfcrop(data, flags, present, mask, timecutoff=4.0, freqcutoff=3.0, timefit="line",
           freqfit="poly", maxnpieces=7, flagdimension="freqtime", extendflags=True,
           iterations=3):
    """TFCrop-style outlier detection on amplitudes.

    For each baseline and correlation: (freq) the time-averaged spectrum is
    fitted with a piecewise polynomial (``freqfit='poly'``, ``maxnpieces``
    pieces of degree 2) or a line; every point whose amplitude deviates
    from the fit by more than ``freqcutoff`` robust sigmas (1.4826 x MAD of
    the residuals of that baseline/correlation) is flagged.  (time) the
    channel-averaged time series is fitted the same way (``timefit``) and
    points deviating by more than ``timecutoff`` sigmas are flagged.  Both
    steps are iterated, each time excluding what was flagged.
    """
    amp = np.abs(data).astype(float)
    new = flags.copy()
    dims = flagdimension.lower()
    for _ in range(int(iterations)):
        valid = _valid(new, present, mask)
        if "freq" in dims:
            a = np.where(valid, amp, np.nan)
            bp = _nanmean(a, axis=1)                          # (nb, nchan, ncorr)
            w = np.isfinite(bp).astype(float)
            y = np.nan_to_num(bp)
            deg = 1 if freqfit == "line" else 2
            npieces = 1 if freqfit == "line" else maxnpieces
            fit = _piecewise_fit(np.moveaxis(y, 1, -1), np.moveaxis(w, 1, -1), npieces, deg)
            fit = np.moveaxis(fit, -1, 1)                     # (nb, nchan, ncorr)
            resid = a - fit[:, None]
            sig = _robust_sigma(resid, axis=(1, 2))           # (nb, ncorr)
            bad = np.abs(resid) > freqcutoff * _expand(sig, (1, 2))
            new |= bad & valid
        valid = _valid(new, present, mask)
        if "time" in dims:
            a = np.where(valid, amp, np.nan)
            ts = _nanmean(a, axis=2)                          # (nb, ntime, ncorr)
            w = np.isfinite(ts).astype(float)
            y = np.nan_to_num(ts)
            deg = 1 if timefit == "line" else 2
            npieces = 1 if timefit == "line" else maxnpieces
            fit = _piecewise_fit(np.moveaxis(y, 1, -1), np.moveaxis(w, 1, -1), npieces, deg)
            fit = np.moveaxis(fit, -1, 1)                     # (nb, ntime, ncorr)
            resid = a - fit[:, :, None]
            sig = _robust_sigma(resid, axis=(1, 2))
            bad = np.abs(resid) > timecutoff * _expand(sig, (1, 2))
            new |= bad & valid
    if extendflags:
        new = extend_time(new, present, mask, extendpols=True, growtime=50.0, growfreq=50.0)
    return new


def rflag_stats(data, flags, present, mask, winsize=3):
    """Per (channel, correlation) sliding-window time RMS and per
    (time, correlation) spectral deviation, for every baseline.

    Returns (trms (nb, nt, nchan, ncorr), sdev (nb, nt, nchan, ncorr),
    srms (nb, nt, ncorr)); NaN where nothing valid.
    """
    valid = _valid(flags, present, mask)
    v = np.where(valid, data, np.nan + 0j if np.iscomplexobj(data) else np.nan)
    nt = v.shape[1]
    half = max(1, int(winsize) // 2)
    # sliding mean and mean-square over time with NaN handling (cumulative sums)
    ok = valid.astype(float)
    z = np.nan_to_num(v)
    def window_sum(x):
        c = np.cumsum(np.concatenate([np.zeros_like(x[:, :1]), x], axis=1), axis=1)
        idx = np.arange(nt)
        lo = np.clip(idx - half, 0, nt)
        hi = np.clip(idx + half + 1, 0, nt)
        return c[:, hi] - c[:, lo]
    n = window_sum(ok)
    s1 = window_sum(z)
    s2 = window_sum(np.abs(z) ** 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / n
        var = s2 / n - np.abs(mean) ** 2
    trms = np.sqrt(np.clip(var, 0, None))
    trms[(n < 2) | ~valid] = np.nan
    # spectral: deviation from the median over channels (real, imag separately)
    if np.iscomplexobj(v):
        med = _nanmedian(v.real, axis=2) + 1j * _nanmedian(v.imag, axis=2)
    else:
        med = _nanmedian(v, axis=2)
    sdev = np.abs(v - med[:, :, None])
    srms = MAD_TO_SIGMA * _nanmedian(sdev, axis=2)            # (nb, nt, ncorr)
    return trms, sdev, srms


def rflag(data, flags, present, mask, winsize=3, timedev=None, freqdev=None,
          timedevscale=5.0, freqdevscale=5.0, spectralmax=1e6, spectralmin=0.0,
          extendflags=True):
    """RFlag-style flagging; returns (new_flags, timedev_used, freqdev_used)."""
    trms, sdev, srms = rflag_stats(data, flags, present, mask, winsize)
    if timedev is None:
        # per channel and correlation: median over baselines and times
        td = _nanmedian(trms.reshape(-1, *trms.shape[2:]), axis=0)
    else:
        td = np.full(trms.shape[2:], float(timedev))
    if freqdev is None:
        fd = _nanmedian(srms.reshape(-1, srms.shape[-1]), axis=0)   # per correlation
    else:
        fd = np.full(srms.shape[-1], float(freqdev))
    valid = _valid(flags, present, mask)
    new = flags.copy()
    with np.errstate(invalid="ignore"):
        bad_t = trms > timedevscale * td[None, None]
        bad_f = sdev > freqdevscale * fd[None, None, None, :]
        whole = (srms > spectralmax) | (srms < spectralmin)
    new |= (bad_t | bad_f | whole[:, :, None, :]) & valid
    if extendflags:
        new = extend_time(new, present, mask, extendpols=True, growtime=50.0, growfreq=50.0)
    return new, td, fd


def extend_time(flags, present, mask, extendpols=True, growtime=50.0, growfreq=50.0,
                growaround=False, flagneartime=False, flagnearfreq=False):
    """The extend mode on a cube: grows flags inside ``mask``."""
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
    if growtime and 0 < growtime < 100:
        ntimes = present.sum(axis=1)[:, None, None]                    # (nb,1,1)
        frac = (new & sel).sum(axis=1) / np.maximum(ntimes, 1)          # (nb, nchan, ncorr)
        grow = frac > growtime / 100.0
        new |= grow[:, None] & sel
    if growfreq and 0 < growfreq < 100:
        nsel = mask.sum(axis=0)[None, None]                             # (1,1,ncorr)
        frac = (new & sel).sum(axis=2) / np.maximum(nsel, 1)            # (nb, nt, ncorr)
        grow = frac > growfreq / 100.0
        new |= grow[:, :, None] & sel
    if extendpols:
        anyc = (new & sel).any(axis=3, keepdims=True)
        new |= anyc & sel
    return new
