"""Aggregating millions of points before drawing them.

A :class:`Panel` receives batches of points (x, y, colour category, flagged)
and keeps, in memory independent of the number of points:

* the exact count of points and the exact data range of each axis;
* the points themselves while there are at most ``keep_points`` of them
  (then the plot is an ordinary scatter, exact at any zoom);
* a :class:`Grid`: a 2-D raster of about twice the screen resolution of the
  axes, each cell holding the number of points that fell in it and the colour
  category of the last point drawn there (as a scatter plot would show it:
  later points are drawn over earlier ones).  The raster grows by doubling its
  cell size (merging cells 2 by 2) when new points fall outside it, so one
  pass over the data is enough.

Rendering draws either the scatter (few points) or the raster with ``imshow``
(many points), each occupied cell as a solid dot of its category's colour.
"""

from __future__ import annotations

import numpy as np

#: CASA-like default colour of uncoloured points, the flagged colour, and the
#: palette cycled over categories when a colour axis is given
DEFAULT_COLOR = "#0000ff"
FLAGGED_COLOR = "#ff0000"
PALETTE = ["#0000ff", "#00aa00", "#ff0000", "#00cccc", "#cc00cc", "#cc9900", "#000000",
           "#ff8000", "#8000ff", "#808080", "#006060", "#a05050", "#60a000", "#ff60c0",
           "#4080ff", "#806000"]


class _Axis:
    """Cell layout of one raster axis: ``lo`` + k * ``step``, ``n`` cells."""

    def __init__(self, n, fixed=None):
        self.n = int(n)
        self.fixed = fixed          # (lo, hi) when the user fixed the range
        self.lo = None
        self.step = None
        if fixed is not None:
            lo, hi = float(fixed[0]), float(fixed[1])
            self.lo = lo
            self.step = (hi - lo) / self.n if hi > lo else 1.0

    def init(self, vmin, vmax):
        span = vmax - vmin
        if not np.isfinite(span) or span <= 0:
            span = max(abs(vmin) * 1e-6, 1e-9)
        # the first data fill 90 % of the cells; later data outside make the grid
        # double its cell size (so it ends between half and 90 % full)
        self.step = span / (self.n * 0.9) * (1 + 1e-9)
        self.lo = vmin - self.step * (self.n * 0.05)

    def covers(self, vmin, vmax):
        return vmin >= self.lo and vmax < self.lo + self.n * self.step

    def index(self, v):
        """Cell index (int32; values below ``lo`` give 0 or less)."""
        t = np.subtract(v, self.lo, dtype=np.float64 if v.dtype != np.float32 else np.float32)
        t *= 1.0 / self.step
        np.floor(t, out=t)
        # points outside the grid or not finite are masked out by the caller; keep the
        # cast quiet and in range for them
        np.clip(t, -1.0, self.n, out=t)
        with np.errstate(invalid="ignore"):
            return t.astype(np.int32)


class Grid:
    """Counts and last category per cell, growing to cover whatever arrives."""

    def __init__(self, nx, ny, xfixed=None, yfixed=None):
        self.ax = _Axis(nx, xfixed)
        self.ay = _Axis(ny, yfixed)
        self.count = np.zeros((ny, nx), dtype=np.int64)
        self.cat = np.full((ny, nx), -1, dtype=np.int64)
        self.const_cat = None    # the only category seen so far (cat grid not written)
        self.cat_used = False

    def _grow(self, axis, vmin, vmax):
        a = self.ax if axis == 1 else self.ay
        while not a.covers(vmin, vmax):
            low = vmin < a.lo
            high = vmax >= a.lo + a.n * a.step
            shift = a.n // 2 if (low and high) else (a.n if low else 0)
            old = np.arange(a.n)
            new = (old + shift) // 2
            cnt = np.zeros_like(self.count)
            cat = np.full_like(self.cat, -1)
            if axis == 1:
                np.add.at(cnt, (slice(None), new), self.count)
                np.maximum.at(cat, (slice(None), new), self.cat)  # keep a non-empty one
            else:
                np.add.at(cnt, new, self.count)
                np.maximum.at(cat, new, self.cat)
            self.count, self.cat = cnt, cat
            a.lo -= shift * a.step
            a.step *= 2.0

    def add(self, x, y, cat, mask, shape, xr, yr):
        """Count the points ``mask`` (full ``shape``) of ``x``, ``y``, ``cat`` (each
        broadcastable to ``shape``); ``xr``/``yr`` are their (min, max)."""
        for axis, a, (vmin, vmax) in ((1, self.ax, xr), (0, self.ay, yr)):
            if a.fixed is None:
                if a.lo is None:
                    a.init(vmin, vmax)
                elif not a.covers(vmin, vmax):
                    self._grow(axis, vmin, vmax)
        ix = self.ax.index(x)
        iy = self.ay.index(y)
        if self.ax.fixed is not None or self.ay.fixed is not None:
            mask = mask & (ix >= 0) & (ix < self.ax.n) & (iy >= 0) & (iy < self.ay.n)
            np.clip(ix, 0, self.ax.n - 1, out=ix)
            np.clip(iy, 0, self.ay.n - 1, out=iy)
        else:
            np.minimum(ix, self.ax.n - 1, out=ix)
            np.minimum(iy, self.ay.n - 1, out=iy)
            np.maximum(ix, 0, out=ix)
            np.maximum(iy, 0, out=iy)
        iy *= self.ax.n
        flat = np.broadcast_to(iy + ix, shape)[np.broadcast_to(mask, shape)]
        self.count += np.bincount(flat, minlength=self.count.size).reshape(self.count.shape)
        # last point wins, as in a scatter plot drawn in data order
        if cat.size == 1:
            c = int(cat.ravel()[0])
            if self.const_cat is None and not self.cat_used:
                self.const_cat = c
            if self.const_cat == c:
                return
            self._materialize()
            self.cat.ravel()[flat] = c
        else:
            self._materialize()
            self.cat.ravel()[flat] = np.broadcast_to(cat, shape)[np.broadcast_to(mask, shape)]

    def _materialize(self):
        """Leave the one-category shortcut: write that category into the cells."""
        if self.const_cat is not None:
            self.cat[self.count > 0] = self.const_cat
            self.const_cat = None
        self.cat_used = True

    def categories_grid(self):
        if self.const_cat is not None:
            return np.where(self.count > 0, self.const_cat, -1)
        return self.cat

    def extent(self):
        ax, ay = self.ax, self.ay
        return (ax.lo, ax.lo + ax.n * ax.step, ay.lo, ay.lo + ay.n * ay.step)


def _range(v, m, shape):
    """(min, max) of ``v`` (broadcastable to ``shape``) over the points ``m``."""
    if v.size == 1:
        f = float(v.ravel()[0])
        return [f, f]
    if v.dtype.kind != "f":
        v = v.astype(np.float64)
    # reduce the mask over the axes along which v is constant
    axes = tuple(i for i, (a, b) in enumerate(zip(v.shape, shape)) if a == 1 and b > 1)
    mv = m.any(axis=axes, keepdims=True) if axes else m
    mv = np.broadcast_to(mv, v.shape)
    return [float(np.min(v, where=mv, initial=np.inf)),
            float(np.max(v, where=mv, initial=-np.inf))]


class Panel:
    """Everything one plot panel needs, independent of how many points came in."""

    def __init__(self, nx=1600, ny=1200, keep_points=200_000, xfixed=None, yfixed=None):
        self.grid = Grid(nx, ny, xfixed, yfixed)
        self._grid_args = (nx, ny, xfixed, yfixed)
        self._flag_grid = None    # made when the first flagged point arrives
        self.keep_points = keep_points
        self.points = []          # list of (x, y, cat, flagged) while few
        self.kept = 0
        self.npoints = 0          # unflagged points plotted
        self.nflagged = 0         # flagged points plotted (showflags)
        self.xrange = [np.inf, -np.inf]
        self.yrange = [np.inf, -np.inf]
        self.categories = {}      # category id -> points

    @property
    def flag_grid(self):
        if self._flag_grid is None:
            self._flag_grid = Grid(*self._grid_args)
        return self._flag_grid

    def add(self, x, y, cat, flag, sel=None):
        """Add points: ``x``, ``y``, ``cat`` broadcastable to the shape of ``flag``
        (full); ``sel`` (full bool, optional) chooses the points to add, flagged ones
        (``flag``) going to the flagged layer."""
        x, y, cat = np.asarray(x), np.asarray(y), np.asarray(cat)
        shape = np.broadcast_shapes(x.shape, y.shape, cat.shape, flag.shape)
        flag = np.broadcast_to(flag, shape)
        base = np.ones(shape, bool) if sel is None else np.broadcast_to(sel, shape)
        for flagged in (False, True):
            m = base & (flag if flagged else ~flag)
            n = int(np.count_nonzero(m))
            if n == 0:
                continue
            grid = self.flag_grid if flagged else self.grid
            xr = _range(x, m, shape)
            yr = _range(y, m, shape)
            if not all(np.isfinite(xr + yr)):
                m = m & np.isfinite(x) & np.isfinite(y)
                n = int(np.count_nonzero(m))
                if n == 0:
                    continue
                xr = _range(x, m, shape)
                yr = _range(y, m, shape)
            self.xrange = [min(self.xrange[0], xr[0]), max(self.xrange[1], xr[1])]
            self.yrange = [min(self.yrange[0], yr[0]), max(self.yrange[1], yr[1])]
            if flagged:
                self.nflagged += n
            else:
                self.npoints += n
                if cat.size == 1:
                    c = int(cat.ravel()[0])
                    self.categories[c] = self.categories.get(c, 0) + n
                else:
                    cv = np.broadcast_to(cat, shape)[m]
                    u, cnt = np.unique(cv, return_counts=True)
                    for k, v in zip(u.tolist(), cnt.tolist()):
                        self.categories[k] = self.categories.get(k, 0) + v
            if self.points is not None:
                if self.kept + n <= self.keep_points:
                    self.points.append(tuple(np.broadcast_to(a, shape)[m] for a in (x, y, cat))
                                       + (np.full(n, flagged),))
                    self.kept += n
                else:
                    self.points = None
            grid.add(x, y, cat, m, shape, xr, yr)

    @property
    def total(self):
        return self.npoints + self.nflagged

    def is_scatter(self):
        return self.points is not None


def category_colors(categories, colored):
    """{category id: colour}: the palette in category order, or one colour."""
    if not colored:
        return {c: DEFAULT_COLOR for c in categories}
    return {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(sorted(categories))}


def _rgba_of(cats, colors):
    """RGBA rows for an array of category ids (vectorised lookup)."""
    from matplotlib.colors import to_rgba
    keys = np.array(sorted(colors), dtype=np.int64)
    table = np.array([to_rgba(colors[int(k)]) for k in keys] + [to_rgba(DEFAULT_COLOR)])
    if len(keys) == 0:
        return np.repeat(table[-1:], len(cats), axis=0)
    idx = np.searchsorted(keys, cats)
    idx = np.clip(idx, 0, len(keys) - 1)
    found = keys[idx] == cats
    return table[np.where(found, idx, len(keys))]


def _rgb(c):
    from matplotlib.colors import to_rgb
    return np.array(to_rgb(c))


def render(ax, panel, colors, axes_px, markersize=2.0, dpi=100.0, marker="s",
           flagged_color=FLAGGED_COLOR, flagged_marker="s", interactive=False):
    """Draw ``panel`` on matplotlib axes ``ax``; returns 'scatter' or 'raster'.

    ``interactive``: a raster is redrawn from the full-resolution grid for the
    region shown whenever the view changes (zoom, pan), so zooming in by up to the
    grid's oversampling (about 2x) shows real detail."""
    if panel.total == 0:
        return "empty"
    if panel.is_scatter():
        xs = np.concatenate([p[0] for p in panel.points])
        ys = np.concatenate([p[1] for p in panel.points])
        cs = np.concatenate([p[2] for p in panel.points])
        fs = np.concatenate([p[3] for p in panel.points])
        ok = ~fs
        # square dots of ``markersize`` pixels, not antialiased (solid colours)
        size = (max(markersize, 1.0) * 72.0 / dpi) ** 2
        if fs.any():
            ax.scatter(xs[fs], ys[fs], s=size, c=flagged_color, marker=flagged_marker,
                       antialiased=False,
                       linewidths=0, rasterized=len(xs) > 20000, label="flagged")
        cols = _rgba_of(cs[ok], colors)
        ax.scatter(xs[ok], ys[ok], s=size, c=cols, marker=marker, linewidths=0,
                   antialiased=False,
                   rasterized=len(xs) > 20000)
        return "scatter"
    # raster: pool the grid to about the axes' pixel size, then draw each cell
    layers = []
    size = int(round(markersize))
    for grid, flagged in ((panel._flag_grid, True), (panel.grid, False)):
        if grid is None or grid.ax.lo is None:
            continue
        img, ext = _pooled_rgba(grid, colors, axes_px, flagged, size, flagged_color)
        artist = ax.imshow(img, origin="lower", extent=ext, aspect="auto",
                           interpolation="nearest", zorder=1 if flagged else 2)
        layers.append((artist, grid, flagged))
    if interactive and layers:
        busy = []

        def redraw(_ax):
            if busy:
                return
            busy.append(1)
            try:
                view = tuple(_ax.get_xlim()) + tuple(_ax.get_ylim())
                bbox = _ax.get_window_extent()
                px = (max(10, int(bbox.width)), max(10, int(bbox.height)))
                for artist, grid, flagged in layers:
                    got = _pooled_rgba(grid, colors, px, flagged, size, flagged_color,
                                       view=view)
                    if got is None:
                        artist.set_visible(False)
                        continue
                    artist.set_visible(True)
                    artist.set_data(got[0])
                    artist.set_extent(got[1])
                _ax.set_xlim(view[0], view[1])
                _ax.set_ylim(view[2], view[3])
            finally:
                busy.clear()

        ax.callbacks.connect("xlim_changed", redraw)
        ax.callbacks.connect("ylim_changed", redraw)
        ax._casashell_redraw = redraw
    return "raster" if layers else "empty"


def _dilate(pc, pk, size):
    """Grow every occupied cell into a size x size square (points of ``size`` pixels)."""
    if size <= 1:
        return pc, pk
    ny, nx = pc.shape
    oc = np.zeros((ny + size - 1, nx + size - 1), dtype=pc.dtype)
    ok = np.full(oc.shape, -1, dtype=pk.dtype)
    lo = (size - 1) // 2
    for dy in range(size):
        for dx in range(size):
            oc[dy:dy + ny, dx:dx + nx] += pc
            ok[dy:dy + ny, dx:dx + nx] = np.maximum(ok[dy:dy + ny, dx:dx + nx], pk)
    # keep each cell's own category where it has one
    core = ok[lo:lo + ny, lo:lo + nx]
    own = pc > 0
    core[own] = pk[own]
    return oc[lo:lo + ny, lo:lo + nx], core


def _pooled_rgba(grid, colors, axes_px, flagged, size=1, flagged_color=FLAGGED_COLOR,
                 view=None):
    """RGBA image of a grid pooled by an integer factor towards ``axes_px`` (w, h);
    occupied cells drawn as ``size``-pixel squares.  ``view`` (x0, x1, y0, y1)
    limits it to the cells in that region (None when none is occupied there)."""
    cnt, cat = grid.count, grid.categories_grid()
    ax_, ay_ = grid.ax, grid.ay
    vr0, vc0, vr1, vc1 = 0, 0, cnt.shape[0], cnt.shape[1]
    if view is not None:
        xa, xb = sorted(view[:2])
        ya, yb = sorted(view[2:])
        vc0 = int(np.clip(np.floor((xa - ax_.lo) / ax_.step), 0, cnt.shape[1]))
        vc1 = int(np.clip(np.ceil((xb - ax_.lo) / ax_.step), 0, cnt.shape[1]))
        vr0 = int(np.clip(np.floor((ya - ay_.lo) / ay_.step), 0, cnt.shape[0]))
        vr1 = int(np.clip(np.ceil((yb - ay_.lo) / ay_.step), 0, cnt.shape[0]))
        if vc1 <= vc0 or vr1 <= vr0:
            return None
    sub = cnt[vr0:vr1, vc0:vc1]
    # crop to occupied cells
    rows = np.nonzero(sub.any(axis=1))[0]
    cols = np.nonzero(sub.any(axis=0))[0]
    if len(rows) == 0:
        return None
    r0, r1 = vr0 + rows[0], vr0 + rows[-1] + 1
    c0, c1 = vc0 + cols[0], vc0 + cols[-1] + 1
    if view is not None:
        # pool relative to the whole view so cells keep their size on screen
        fy_ = max(1, -(-(vr1 - vr0) // max(1, int(axes_px[1]))))
        fx_ = max(1, -(-(vc1 - vc0) // max(1, int(axes_px[0]))))
        axes_px = (max(1, (c1 - c0) // fx_), max(1, (r1 - r0) // fy_))
    cnt = cnt[r0:r1, c0:c1]
    cat = cat[r0:r1, c0:c1]
    # at most one cell per screen pixel (a finer image would lose cells when drawn)
    fy = max(1, -(-(r1 - r0) // max(1, int(axes_px[1]))))
    fx = max(1, -(-(c1 - c0) // max(1, int(axes_px[0]))))
    ny, nx = -(-cnt.shape[0] // fy), -(-cnt.shape[1] // fx)
    pc = np.zeros((ny * fy, nx * fx), dtype=np.int64)
    pk = np.full((ny * fy, nx * fx), -1, dtype=np.int64)
    pc[:cnt.shape[0], :cnt.shape[1]] = cnt
    pk[:cat.shape[0], :cat.shape[1]] = cat
    pc = pc.reshape(ny, fy, nx, fx).sum(axis=(1, 3))
    pk = pk.reshape(ny, fy, nx, fx).max(axis=(1, 3))
    pc, pk = _dilate(pc, pk, size)
    img = np.zeros((ny, nx, 4))
    occupied = pc > 0
    if flagged:
        img[occupied, :3] = _rgb(flagged_color)
    else:
        img[occupied, :3] = _rgba_of(pk[occupied], colors)[:, :3]
    img[occupied, 3] = 1.0
    x0 = ax_.lo + c0 * ax_.step
    y0 = ay_.lo + r0 * ay_.step
    ext = (x0, x0 + nx * fx * ax_.step, y0, y0 + ny * fy * ay_.step)
    return img, ext
