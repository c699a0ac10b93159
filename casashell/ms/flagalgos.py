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


def _tf_step(amp, valid, avg_axis, cutoff, fitname, maxnpieces):
    """One tfcrop pass: average over ``avg_axis`` (1 = time, giving spectra;
    2 = channel, giving time series), fit along the other axis, flag points
    whose |amplitude - fit| exceeds ``cutoff`` robust sigmas of their
    baseline and correlation."""
    cnt = valid.sum(axis=avg_axis, dtype=np.int32)
    tot = np.where(valid, amp, 0).sum(axis=avg_axis, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = tot / cnt
    ok = cnt > 0
    y = np.where(ok, mean, 0.0)                            # (nb, n, ncorr)
    deg = 1 if fitname == "line" else 2
    npieces = 1 if fitname == "line" else maxnpieces
    fit = _piecewise_fit(np.moveaxis(y, 1, -1), np.moveaxis(ok.astype(float), 1, -1),
                         npieces, deg)
    fit = np.expand_dims(np.moveaxis(fit, -1, 1).astype(amp.dtype), avg_axis)
    absr = np.abs(amp - fit)
    sig = MAD_TO_SIGMA * _nanmedian(np.where(valid, absr, np.nan), axis=(1, 2))
    with np.errstate(invalid="ignore"):
        return (absr > cutoff * sig[:, None, None, :]) & valid


def tfcrop(data, flags, present, mask, timecutoff=4.0, freqcutoff=3.0, timefit="line",
           freqfit="poly", maxnpieces=7, flagdimension="freqtime", extendflags=True,
           iterations=3):
    """TFCrop-style outlier detection on amplitudes.

    For each baseline and correlation: (freq) the time-averaged spectrum is
    fitted with a piecewise polynomial (``freqfit='poly'``, ``maxnpieces``
    pieces of degree 2) or a line; every point whose amplitude deviates
    from the fit by more than ``freqcutoff`` robust sigmas (1.4826 x the
    median absolute residual of that baseline/correlation) is flagged.
    (time) the channel-averaged time series is fitted the same way
    (``timefit``) and points deviating by more than ``timecutoff`` sigmas
    are flagged.  Both steps are iterated, each time excluding what was
    flagged.
    """
    amp = np.abs(data).astype(np.float32)
    new = flags.copy()
    dims = flagdimension.lower()
    order = ["time", "freq"] if dims == "timefreq" else ["freq", "time"]
    for _ in range(int(iterations)):
        for d in order:
            if d not in dims:
                continue
            valid = _valid(new, present, mask)
            if d == "freq":
                new |= _tf_step(amp, valid, 1, freqcutoff, freqfit, maxnpieces)
            else:
                new |= _tf_step(amp, valid, 2, timecutoff, timefit, maxnpieces)
    if extendflags:
        new = extend_time(new, present, mask, extendpols=True, growtime=50.0, growfreq=50.0)
    return new


def _shift_time(x, k):
    """``x`` moved by ``k`` slots along the time axis (axis 1), zero-filled."""
    if k == 0:
        return x
    out = np.zeros_like(x)
    if k > 0:
        out[:, :-k] = x[:, k:]
    else:
        out[:, -k:] = x[:, :k]
    return out


def rflag_stats(data, flags, present, mask, winsize=3):
    """Per point sliding-window time RMS and spectral deviation, and per
    (baseline, time, correlation) the robust spectral RMS.

    Returns (trms (nb, nt, nchan, ncorr), sdev (nb, nt, nchan, ncorr),
    srms (nb, nt, ncorr)); NaN where nothing valid.  Single precision.
    """
    valid = _valid(flags, present, mask)
    cplx = np.iscomplexobj(data)
    z = np.where(valid, data, 0).astype(np.complex64 if cplx else np.float32, copy=False)
    okf = valid.astype(np.float32)
    half = max(1, int(winsize) // 2)
    offsets = range(-half, half + 1)
    n = np.zeros(okf.shape, np.float32)
    s1 = np.zeros(z.shape, z.dtype)
    for k in offsets:
        n += _shift_time(okf, k)
        s1 += _shift_time(z, k)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / n
        del s1
        ss = np.zeros(okf.shape, np.float32)
        for k in offsets:
            ss += _shift_time(okf, k) * np.abs(_shift_time(z, k) - mean) ** 2
        trms = np.sqrt(ss / n)
    del ss, mean
    trms[(n < 2) | ~valid] = np.nan
    del n
    # spectral: deviation from the median over channels (real, imag separately)
    if cplx:
        re = np.where(valid, z.real, np.nan)
        med = _nanmedian(re, axis=2).astype(np.float32)
        dev_re = re - med[:, :, None]
        del re
        im = np.where(valid, z.imag, np.nan)
        medi = _nanmedian(im, axis=2).astype(np.float32)
        sdev = np.hypot(dev_re, im - medi[:, :, None])
        del dev_re, im
    else:
        re = np.where(valid, z, np.nan)
        med = _nanmedian(re, axis=2).astype(np.float32)
        sdev = np.abs(re - med[:, :, None])
        del re
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
