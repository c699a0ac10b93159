"""Regridding spectra onto a new frequency grid (mstransform's regridms).

An output channel is a combination of the input channels:

* when the output channels are wider than the input ones, each input channel
  contributes with the fraction of its width that falls inside the output
  channel (flux-conserving re-binning): the value is ``sum(c*w*d) / sum(c*w)``
  over unflagged inputs (``c`` the coefficients, ``w`` the averaging weights),
  the output weight ``sum(c*w)``, and an output channel without unflagged
  contributions is flagged (value from all contributions);
* when they are as wide (a grid shifted by a frame change or a start between
  channels) or narrower, the output is interpolated as CASA does: linearly
  between the two input channels around it ('linear') or with the 4-point
  Lagrange polynomial ('cubic'), from every input value; it is flagged when
  one of the two is flagged, and its weight is the linear interpolation of
  theirs; 'nearest' takes the nearest channel.

Output channels outside the input band are zero, flagged, with weight 0.

Frames: the output frame may differ from the input one.  The conversion is
done with casacore's measures for every distinct (time, field) of the data:
each input channel frequency is multiplied by f_out/f_in of that moment and
direction (Doppler shifts are multiplicative), and the regridding matrix is
built for it.  Supported frames: TOPO, GEO, BARY, LSRK, LSRD, GALACTO, LGROUP,
CMB and REST is refused.
"""

from __future__ import annotations

import re

import numpy as np

FRAME_CODES = {"REST": 0, "LSRK": 1, "LSRD": 2, "BARY": 3, "GEO": 4, "TOPO": 5,
               "GALACTO": 6, "LGROUP": 7, "CMB": 8}
FRAME_NAMES = {v: k for k, v in FRAME_CODES.items()}
C = 299792458.0

_FREQ_UNITS = {"hz": 1.0, "khz": 1e3, "mhz": 1e6, "ghz": 1e9, "thz": 1e12}
_VEL_UNITS = {"m/s": 1.0, "km/s": 1e3}


def _quantity(text, units, name):
    if isinstance(text, (int, float)):
        return float(text)
    m = re.fullmatch(r"\s*([-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)\s*([A-Za-z/]*)\s*", str(text))
    if not m or (m.group(2) and m.group(2).lower() not in units):
        raise ValueError(f"{name} '{text}' is not a quantity in {', '.join(units)}")
    return float(m.group(1)) * units[m.group(2).lower() or next(iter(units))]


def edges(freq, width):
    w = np.abs(np.asarray(width, float))
    f = np.asarray(freq, float)
    return f - w / 2, f + w / 2


def regrid_matrix(in_freq, in_width, out_freq, out_width, interpolation="linear",
                  rebin=True):
    """(nout, nin) coefficients mapping input channels to output channels: width
    fractions when the output channels are at least as wide as the input ones (and
    ``rebin``), else interpolation coefficients."""
    in_freq = np.asarray(in_freq, float)
    out_freq = np.asarray(out_freq, float)
    ilo, ihi = edges(in_freq, in_width)
    olo, ohi = edges(out_freq, out_width)
    if rebin and np.min(np.abs(out_width)) >= np.min(np.abs(in_width)) * (1 - 1e-6):
        ov = np.minimum(ohi[:, None], ihi[None, :]) - np.maximum(olo[:, None], ilo[None, :])
        ov = np.clip(ov, 0, None) / (ihi - ilo)[None, :]
        ov[ov < 1e-9] = 0.0
        return ov
    order = np.argsort(in_freq)
    fs = in_freq[order]
    m = np.zeros((len(out_freq), len(in_freq)))
    inside = (out_freq >= ilo.min()) & (out_freq <= ihi.max())
    if interpolation == "nearest":
        j = np.clip(np.searchsorted(fs, out_freq), 1, len(fs) - 1)
        near = np.where(np.abs(fs[j - 1] - out_freq) <= np.abs(fs[j] - out_freq), j - 1, j)
        rows = np.nonzero(inside)[0]
        m[rows, order[near[rows]]] = 1.0
        return m
    if len(fs) == 1:
        m[inside, order[0]] = 1.0
        return m
    j = np.clip(np.searchsorted(fs, out_freq), 1, len(fs) - 1)
    f0, f1 = fs[j - 1], fs[j]
    a = np.clip((f1 - out_freq) / (f1 - f0), 0.0, 1.0)
    rows = np.nonzero(inside)[0]
    m[rows, order[j[rows] - 1]] = a[rows]
    m[rows, order[j[rows]]] += 1.0 - a[rows]
    return m


def lagrange_matrix(in_freq, out_freq):
    """(nout, nin) coefficients of 4-point Lagrange (cubic) interpolation: each output
    frequency from the 4 input channels around it (the 4 end channels near an edge)."""
    in_freq = np.asarray(in_freq, float)
    out_freq = np.asarray(out_freq, float)
    n = len(in_freq)
    m = np.zeros((len(out_freq), n))
    if n < 4:
        return regrid_matrix(in_freq, np.ones(n), out_freq, np.ones(len(out_freq)),
                             "linear", rebin=False)
    order = np.argsort(in_freq)
    x = in_freq[order]
    i = np.searchsorted(x, out_freq) - 1
    i0 = np.clip(i - 1, 0, n - 4)
    rows = np.arange(len(out_freq))
    for k in range(4):
        lk = np.ones(len(out_freq))
        for j in range(4):
            if j != k:
                lk *= (out_freq - x[i0 + j]) / (x[i0 + k] - x[i0 + j])
        m[rows, order[i0 + k]] += lk
    return m


def spline_matrix(in_freq, out_freq):
    """(nout, nin) coefficients of the natural cubic spline through the input channels
    (zero second derivative at both ends; the end polynomials extend past them)."""
    in_freq = np.asarray(in_freq, float)
    out_freq = np.asarray(out_freq, float)
    n = len(in_freq)
    if n < 3:
        return regrid_matrix(in_freq, np.ones(n), out_freq, np.ones(len(out_freq)),
                             "linear", rebin=False)
    order = np.argsort(in_freq)
    x = in_freq[order]
    h = np.diff(x)
    m = n - 2
    # second derivatives at the inner points: tridiagonal system, right-hand sides
    # as rows of an (m, n) matrix acting on the values
    rhs = np.zeros((m, n))
    i = np.arange(1, n - 1)
    rhs[i - 1, i - 1] = 6 / h[i - 1]
    rhs[i - 1, i] = -6 / h[i - 1] - 6 / h[i]
    rhs[i - 1, i + 1] = 6 / h[i]
    diag = 2 * (h[:-1] + h[1:])
    sub = h[:-1]          # coefficient of M[i-1] in row i
    sup = h[1:]           # coefficient of M[i+1] in row i
    b = diag.copy()
    for k in range(1, m):                     # Thomas algorithm, all columns at once
        wk = sub[k] / b[k - 1]
        b[k] -= wk * sup[k - 1]
        rhs[k] -= wk * rhs[k - 1]
    sec = np.zeros((n, n))
    sec[m] = rhs[m - 1] / b[m - 1]
    for k in range(m - 2, -1, -1):
        sec[k + 1] = (rhs[k] - sup[k] * sec[k + 2]) / b[k]
    j = np.clip(np.searchsorted(x, out_freq) - 1, 0, n - 2)
    hj = h[j]
    a = (x[j + 1] - out_freq) / hj
    c = 1.0 - a
    rows = np.arange(len(out_freq))
    out = ((a ** 3 - a) * hj ** 2 / 6)[:, None] * sec[j] + \
        ((c ** 3 - c) * hj ** 2 / 6)[:, None] * sec[j + 1]
    out[rows, j] += a
    out[rows, j + 1] += c
    res = np.zeros_like(out)
    res[:, order] = out
    return res


def bracket_matrix(in_freq, out_freq):
    """(nout, nin) 1 for the two input channels each output frequency lies between
    (``f[i] < f_out <= f[i+1]`` in increasing frequency; the end pair outside)."""
    in_freq = np.asarray(in_freq, float)
    order = np.argsort(in_freq)
    x = in_freq[order]
    n = len(x)
    m = np.zeros((len(out_freq), n))
    if n < 2:
        m[:, :] = 1.0
        return m
    i = np.clip(np.searchsorted(x, np.asarray(out_freq, float)) - 1, 0, n - 2)
    rows = np.arange(len(out_freq))
    m[rows, order[i]] = 1.0
    m[rows, order[i + 1]] = 1.0
    return m


def along_channels(mat, a):
    """``mat`` (nout, nin) applied along axis 1 of ``a`` (n, nin, ...), real or complex,
    as one matrix product (BLAS): (n, nout, ...)."""
    a = np.ascontiguousarray(a)
    cplx = np.iscomplexobj(a)
    r = a.view(np.float32 if a.dtype == np.complex64 else np.float64) if cplx else a
    if r.dtype.kind != "f":
        r = r.astype(np.float32)
    n, nin = r.shape[:2]
    rest = r.shape[2:]
    x = np.moveaxis(r, 1, 0).reshape(nin, -1)
    y = np.asarray(mat, dtype=x.dtype) @ x
    y = np.ascontiguousarray(np.moveaxis(y.reshape((len(mat), n) + rest), 0, 1))
    return y.view(a.dtype) if cplx else y


def apply_interpolation(cmat, lmat, datas, flag, w, tmat=None):
    """Interpolating regridding, as CASA 6.7's mstransform (compared live): the data
    are the interpolation ``cmat`` (linear, or 4-point Lagrange for cubic) of every
    input value, flagged ones too; an output channel is flagged when an input
    channel it lies between is flagged (the non-zero entries of the linear
    interpolation matrix ``lmat``); weights are interpolated linearly (``lmat``)
    from all inputs.  Channels outside the input band: 0, flagged, weight 0."""
    cover = lmat.sum(axis=1) > 0
    # the input channels whose flags an output channel takes: ``tmat`` (cubic:
    # the bracketing pair), else those with a linear coefficient (an output
    # channel on an input channel's frequency, to rounding, takes that one only)
    touch = (tmat if tmat is not None else lmat > 1e-9).astype(np.float32)
    out = []
    for d in datas:
        res = along_channels(cmat, d)
        res[:, ~cover] = 0
        out.append(res)
    fout = along_channels(touch, flag.astype(np.float32)) > 0
    fout[:, ~cover] = True
    wout = along_channels(lmat.astype(np.float32), w.astype(np.float32))
    wout[:, ~cover] = 0.0
    return out, fout, wout


def apply_matrix(mat, datas, flag, w):
    """Apply (nout, nin) ``mat`` along axis 1 of (n, nin, ncorr) arrays."""
    mat32 = mat.astype(np.float32)
    good = (~flag).astype(np.float32)
    wg = w * good
    den = along_channels(mat32, wg)
    den_all = along_channels(mat32, w.astype(np.float32))
    cover = np.broadcast_to(mat32.sum(axis=1)[None, :, None], den.shape)
    anyg = along_channels(mat32, good) > 0
    out = []
    for d in datas:
        num = along_channels(mat32, d * wg)
        num_all = along_channels(mat32, d * w)
        res = np.zeros(num.shape, d.dtype)
        ok = anyg & (den > 0)
        np.divide(num, den, out=res, where=ok)
        fb = ~ok & (den_all > 0)
        res[fb] = (num_all[fb] / den_all[fb])
        out.append(res)
    fout = ~anyg | (cover == 0)
    wout = np.where(anyg, den, den_all).astype(np.float32)
    wout[cover == 0] = 0.0
    return out, fout, wout


class FrameConverter:
    """f_out / f_in factors for (time, field) pairs of one MS."""

    def __init__(self, vis, in_frame: str, out_frame: str, direction=None):
        """``direction``: None (each row's field PHASE_DIR), an input field id, or
        ``(ref, lon_rad, lat_rad)`` used for every row (mstransform's phasecenter)."""
        self.in_frame = in_frame
        self.out_frame = out_frame
        self.identity = in_frame == out_frame
        self._cache = {}
        self.fixed = None
        if self.identity:
            return
        if "REST" in (in_frame, out_frame):
            raise ValueError("conversion to or from the REST frame needs a source velocity; "
                             "it is not supported")
        from casacore import tables as ct
        from casacore.measures import measures
        self.dm = measures()
        from .geometry import read_array_reference_position
        # the array reference position (the observatory's for a known telescope,
        # as CASA uses)
        pos, _ = read_array_reference_position(vis)
        self.dm.doframe(self.dm.position("ITRF", f"{pos[0]}m", f"{pos[1]}m", f"{pos[2]}m"))
        with ct.table(f"{vis}/FIELD", ack=False) as t:
            self.dirs = t.getcol("PHASE_DIR")[:, 0, :]
            kw = t.getcolkeywords("PHASE_DIR")
        self.dir_ref = kw.get("MEASINFO", {}).get("Ref", "J2000")
        if isinstance(direction, int):
            if not 0 <= direction < len(self.dirs):
                raise ValueError(f"phasecenter {direction}: the MS has fields 0~"
                                 f"{len(self.dirs) - 1}")
            self.fixed = (self.dir_ref, float(self.dirs[direction][0]),
                          float(self.dirs[direction][1]))
        elif direction is not None:
            self.fixed = (str(direction[0]), float(direction[1]), float(direction[2]))

    def factors(self, times, fields):
        times = np.asarray(times, float)
        fields = np.asarray(fields, int)
        if self.identity:
            return np.ones(len(times))
        out = np.empty(len(times))
        keys = np.stack([times, fields.astype(float)], axis=1)
        uk, inv = np.unique(keys, axis=0, return_inverse=True)
        inv = inv.ravel()
        vals = np.empty(len(uk))
        for k, (t, f) in enumerate(uk):
            key = (float(t), int(f))
            if key not in self._cache:
                self._cache[key] = self._factor(*key)
            vals[k] = self._cache[key]
        out[:] = vals[inv]
        return out

    def _factor(self, t, f):
        dm = self.dm
        dm.doframe(dm.epoch("UTC", f"{t}s"))
        if self.fixed is not None:
            ref, ra, dec = self.fixed
        else:
            ref, (ra, dec) = self.dir_ref, self.dirs[f]
        dm.doframe(dm.direction(ref, f"{ra}rad", f"{dec}rad"))
        f0 = 1e9
        r = dm.measure(dm.frequency(self.in_frame, f"{f0}Hz"), self.out_frame)
        return r["m0"]["value"] / f0


DIRECTION_FRAMES = ("J2000", "JMEAN", "JTRUE", "APP", "B1950", "B1950_VLA", "BMEAN",
                    "BTRUE", "GALACTIC", "HADEC", "AZEL", "AZELSW", "AZELGEO", "AZELSWGEO",
                    "JNAT", "ECLIPTIC", "MECLIPTIC", "TECLIPTIC", "SUPERGAL", "ICRS")


def parse_phasecenter(value):
    """mstransform's ``phasecenter`` -> None (the fields' own directions), an input
    field id (an int or a string of digits), or ``(frame, lon_rad, lat_rad)``.

    Directions: ``'[FRAME] LON LAT'`` with the frame optional (J2000) and the
    angles as casacore quantities: ``19h00m00s``/``19:00:00``, ``10d00m00s``/
    ``10.00.00``, ``285deg``, ``4.97rad``.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return int(value)
    text = str(value).strip()
    if not text:
        return None
    if text.isdigit():
        return int(text)
    parts = text.replace(",", " ").split()
    frame = "J2000"
    if parts and parts[0].upper() in DIRECTION_FRAMES:
        frame = parts.pop(0).upper()
    if len(parts) != 2:
        raise ValueError(f"phasecenter '{value}' is not a field id or a direction "
                         f"'[frame] longitude latitude' (e.g. 'J2000 19h00m00s 10d00m00s')")
    from casacore.measures import measures
    try:
        d = measures().direction(frame, parts[0], parts[1])
    except RuntimeError:
        raise ValueError(f"phasecenter '{value}': cannot read '{parts[0]} {parts[1]}' as "
                         f"angles (give units: 19h00m00s, 19:00:00, 285deg, 10.00.00, "
                         f"4.97rad)") from None
    return (frame, float(d["m0"]["value"]), float(d["m1"]["value"]))


class SpwRegrid:
    """The output grid of one spw and how to map its (selected) channels onto it."""

    #: bytes of regridding matrices kept between blocks (one per Doppler factor)
    CACHE_BYTES = 128 << 20

    def __init__(self, in_freq, in_width, out_freq, out_width, converter, interpolation,
                 out_frame_code):
        self.in_freq = np.asarray(in_freq, float)
        self.in_width = np.asarray(in_width, float)
        self.freq = np.asarray(out_freq, float)
        self.width = np.asarray(out_width, float)
        self.conv = converter
        self.interp = interpolation
        self.frame_code = out_frame_code
        self._mats = {}

    @property
    def nchan(self):
        return len(self.freq)

    def apply(self, datas, flag, w, times, fields):
        fac = self.conv.factors(times, fields)
        keys = np.round(fac, 12)
        out_d = [np.empty((len(flag), self.nchan, flag.shape[2]), d.dtype) for d in datas]
        out_f = np.empty((len(flag), self.nchan, flag.shape[2]), bool)
        out_w = np.empty((len(flag), self.nchan, flag.shape[2]), np.float32)
        for k in np.unique(keys):
            rows = np.nonzero(keys == k)[0]
            mat = self._mats.get(k)
            if mat is None:
                kx = fac[rows[0]]           # the exact factor (the key is rounded)
                fi, wi = self.in_freq * kx, self.in_width * kx
                ratio = np.min(np.abs(self.width)) / np.min(np.abs(wi))
                if self.interp == "nearest" or ratio > 1 + 1e-4:
                    # wider output channels: re-binning (see the module docstring)
                    mat = regrid_matrix(fi, wi, self.freq, self.width, self.interp)
                else:
                    # the same width (shifted grid, e.g. a frame change) or narrower:
                    # interpolation, as CASA
                    lmat = regrid_matrix(fi, wi, self.freq, self.width, "linear",
                                         rebin=False)
                    if self.interp in ("cubic", "spline"):
                        poly = lagrange_matrix(fi, self.freq) if self.interp == "cubic" \
                            else spline_matrix(fi, self.freq)
                        mat = (lmat, poly, bracket_matrix(fi, self.freq) > 0)
                    else:
                        mat = (lmat, lmat, None)
                    # as CASA 6.7 (compared live): an output channel the shifted
                    # input band covers only partly is flagged
                    ilo, ihi = edges(fi, wi)
                    olo, ohi = edges(self.freq, self.width)
                    tol = 1e-6 * float(np.min(np.abs(wi)))
                    partial = ((olo < ilo.min() - tol) | (ohi > ihi.max() + tol)) & \
                        (ohi > ilo.min()) & (olo < ihi.max())
                    mat = mat + (partial,)
                # stored as float32 (the products are float32 anyway; half the memory)
                if isinstance(mat, tuple):
                    mat = tuple(None if m is None else m if m.dtype == bool
                                else m.astype(np.float32) for m in mat)
                else:
                    mat = mat.astype(np.float32)
                # the matrices are (nout, nin) dense: keep at most ~128 MB of them
                size = sum(m.nbytes for m in (mat if isinstance(mat, tuple) else (mat,))
                           if m is not None)
                if (len(self._mats) + 1) * size <= self.CACHE_BYTES:
                    self._mats[k] = mat
            if isinstance(mat, tuple):
                d2, f2, w2 = apply_interpolation(mat[1], mat[0], [d[rows] for d in datas],
                                                 flag[rows], w[rows], mat[2])
                if mat[3].any():
                    f2[:, mat[3]] = True
            else:
                d2, f2, w2 = apply_matrix(mat, [d[rows] for d in datas], flag[rows],
                                          w[rows])
            for o, x in zip(out_d, d2):
                o[rows] = x
            out_f[rows] = f2
            out_w[rows] = w2
        return out_d, out_f, out_w


def make_grid(mode, nchan, start, width, in_freq, in_width, restfreq="", veltype="radio",
              log=None, spw=""):
    """Output (freq, width) for one spw from mstransform's regridding parameters.

    ``in_freq``/``in_width``: the selected input channels, already in the output
    frame (at the reference time).  As CASA 6.7: a channel ``start`` past the
    spw becomes 0, a frequency ``start`` below the band its lower edge (both
    with a WARN through ``log``); a grid none of whose channels overlaps the
    band raises ``ValueError`` (nothing is written).
    """
    log = log or (lambda msg, prio="INFO": None)
    freqs, widths = _make_grid(mode, nchan, start, width, in_freq, in_width, restfreq,
                               veltype, log, spw)
    in_freq = np.asarray(in_freq, float)
    aw = np.abs(np.asarray(in_width, float))
    lo, hi = float((in_freq - aw / 2).min()), float((in_freq + aw / 2).max())
    olo = np.asarray(freqs) - np.abs(widths) / 2
    ohi = np.asarray(freqs) + np.abs(widths) / 2
    if not ((ohi > lo) & (olo < hi)).any():
        raise ValueError(
            f"regridding{' spw ' + str(spw) if spw != '' else ''}: no output channel "
            f"({olo.min():.9g}~{ohi.max():.9g} Hz) overlaps the input band "
            f"({lo:.9g}~{hi:.9g} Hz); check start, width and nchan")
    return freqs, widths


def _make_grid(mode, nchan, start, width, in_freq, in_width, restfreq, veltype, log, spw):
    in_freq = np.asarray(in_freq, float)
    in_width = np.asarray(in_width, float)
    ascending = in_freq[-1] >= in_freq[0] if len(in_freq) > 1 else True
    sign = 1.0 if ascending else -1.0
    nchan = int(nchan)
    mode = mode.lower()
    if mode == "channel":
        s = 0 if start in ("", None) else int(start)
        if s >= len(in_freq):
            log(f"start {s} exceeds the {len(in_freq)} channels of spw {spw}: set to 0 "
                f"(as CASA)", "WARN")
            s = 0
        wd = 1 if width in ("", None) else int(width)
        if wd < 1:
            raise ValueError(f"width {width} must be a positive number of channels")
        avail = (len(in_freq) - s) // wd
        n = avail if nchan < 0 else min(nchan, avail)
        if n <= 0:
            raise ValueError(f"start={start}, width={width} leave no channel in the spw")
        idx = s + np.arange(n * wd).reshape(n, wd)
        return in_freq[idx].mean(axis=1), in_width[idx].sum(axis=1)
    if mode == "frequency":
        w0 = float(np.abs(in_width).min())
        step = sign * w0 if width in ("", None) else _quantity(width, _FREQ_UNITS, "width")
        if step == 0:
            raise ValueError("width must not be 0")
        lo = float((in_freq - np.abs(in_width) / 2).min())
        hi = float((in_freq + np.abs(in_width) / 2).max())
        if start in ("", None):
            f0 = lo + abs(step) / 2 if step > 0 else hi - abs(step) / 2
        else:
            f0 = _quantity(start, _FREQ_UNITS, "start")
            if step > 0 and f0 - step / 2 < lo - 1e-3:
                # as CASA 6.7: a first channel below the band starts at its edge
                log(f"regridding spw {spw}: start {f0:.9g} Hz lies below the band "
                    f"(lower edge {lo:.9g} Hz); reset to {lo + step / 2:.9g} Hz, the "
                    f"first channel at the band edge (as CASA)", "WARN")
                f0 = lo + step / 2
        if nchan < 0:
            span = (hi - (f0 - abs(step) / 2)) if step > 0 else ((f0 + abs(step) / 2) - lo)
            nchan = int(np.floor(span / abs(step) + 1e-6))
        if nchan <= 0:
            raise ValueError(f"start={start}, width={width} leave no channel in the band")
        if nchan > 100 * len(in_freq) + 1000:
            raise ValueError(f"start={start}, width={width}, nchan={nchan} make {nchan} "
                             f"output channels from {len(in_freq)}: check the units")
        freqs = f0 + step * np.arange(nchan)
        return freqs, np.full(nchan, step)
    if mode == "velocity":
        if restfreq in ("", None):
            raise ValueError("mode='velocity' needs restfreq")
        f_rest = _quantity(restfreq, _FREQ_UNITS, "restfreq")

        def v2f(v):
            return f_rest * (1 - v / C) if veltype == "radio" else f_rest / (1 + v / C)

        def f2v(f):
            return C * (1 - f / f_rest) if veltype == "radio" else C * (f_rest / f - 1)

        vin = f2v(in_freq)
        dv = np.abs(np.diff(vin)).min() if len(vin) > 1 else abs(f2v(in_freq[0] + in_width[0])
                                                                 - vin[0])
        vw = dv if width in ("", None) else _quantity(width, _VEL_UNITS, "width")
        v0 = vin.min() if start in ("", None) else _quantity(start, _VEL_UNITS, "start")
        if nchan < 0:
            nchan = int(np.floor((vin.max() - v0) / abs(vw) + 1 + 1e-9))
        vs = v0 + vw * np.arange(nchan)
        freqs = v2f(vs)
        widths = np.abs(v2f(vs - vw / 2) - v2f(vs + vw / 2))
        if len(freqs) > 1 and freqs[1] < freqs[0]:
            widths = -widths
        return freqs, widths
    raise ValueError(f"mode '{mode}' is not supported (channel, frequency, velocity)")
