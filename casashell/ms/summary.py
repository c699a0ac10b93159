"""The summary of a MeasurementSet that ``listobs`` prints and returns.

Two steps:

* :func:`gather` reads what the summary needs: the subtables (small, through
  :class:`casashell.ms.metadata.MSMetadata`) and a handful of scalar
  main-table columns, streamed in bounded chunks and
  reduced with numpy to one record per (observation, array, scan, field,
  data description, state) group.  Memory depends on the chunk size and the
  number of groups, never on the number of rows.
* :func:`format_sections` lays the result out in CASA's listobs text layout,
  :func:`summary_record` builds the dictionary listobs returns.

Number and angle formatting follows casacore's conventions (sexagesimal
rounding to the last printed digit, C++ stream ``%g``-style numbers), written
here from the observed output, so the text can be compared line by line with
CASA's.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from dataclasses import dataclass, field

import numpy as np

from .core import check_ms  # noqa: F401 - listobs, vishead, listhistory use it
from .geometry import array_reference_position
from .metadata import STOKES_NAMES, MSMetadata

# ---------------------------------------------------------------------------
# number and angle formatting

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
           "Oct", "Nov", "Dec")
_MJD0 = _dt.date(1858, 11, 17)


def fmt_g(value, prec: int = 6) -> str:
    """A number as a C++ stream prints it with ``precision(prec)`` (no fixed)."""
    return "%.*g" % (prec, value)


def _ticks(value: float, decimals: int) -> tuple[int, int, int, int]:
    """|value| (degrees or hours) rounded to 10**-decimals of a second of it:
    (units, minutes, seconds, fraction-of-second ticks)."""
    scale = 10 ** decimals
    n = int(math.floor(abs(value) * 3600.0 * scale + 0.5))
    units, rem = divmod(n, 3600 * scale)
    minutes, rem = divmod(rem, 60 * scale)
    seconds, frac = divmod(rem, scale)
    return units, minutes, seconds, frac


def _sec_text(seconds: int, frac: int, decimals: int) -> str:
    if decimals <= 0:
        return f"{seconds:02d}"
    return f"{seconds:02d}.{frac:0{decimals}d}"


def fmt_angle(rad: float, prec: int, two_digit: bool = False) -> str:
    """Degrees as ``+ddd.mm.ss.s`` (``two_digit``: ``+dd.mm.ss.s``) with
    ``prec`` digits in all (6 for d/m/s, the rest decimals of seconds)."""
    deg = math.degrees(rad)
    sign = "-" if deg < 0 else "+"
    dec = max(prec - 6, 0)
    d, m, s, f = _ticks(deg, dec)
    if two_digit:
        dtext = "**" if d > 99 else f"{d:02d}"
    else:
        dtext = "***" if d > 999 else f"{d:03d}"
    return f"{sign}{dtext}.{m:02d}.{_sec_text(s, f, dec)}"


def fmt_ra(rad: float, prec: int = 12) -> str:
    """Right ascension as ``hh:mm:ss.ssssss`` (angle taken modulo 24 h)."""
    turns = rad / (2 * math.pi)
    hours = (turns - math.floor(turns)) * 24.0
    dec = max(prec - 6, 0)
    h, m, s, f = _ticks(hours, dec)
    if h >= 24:
        h -= 24
    return f"{h:02d}:{m:02d}:{_sec_text(s, f, dec)}"


def fmt_dec(rad: float, prec: int = 11) -> str:
    return fmt_angle(rad, prec, two_digit=True)


def _split_mjd_seconds(seconds: float, decimals: int) -> tuple[int, int]:
    """(MJD day, ticks of 10**-decimals s in that day), rounded once."""
    scale = 10 ** decimals
    total = int(math.floor(seconds * scale + 0.5))
    day, ticks = divmod(total, 86400 * scale)
    return day, ticks


def fmt_time_of_day(seconds: float, decimals: int = 1) -> str:
    """MJD seconds -> ``hh:mm:ss.s``."""
    _, ticks = _split_mjd_seconds(seconds, decimals)
    scale = 10 ** decimals
    h, rem = divmod(ticks, 3600 * scale)
    m, rem = divmod(rem, 60 * scale)
    s, f = divmod(rem, scale)
    return f"{h:02d}:{m:02d}:{_sec_text(s, f, decimals)}"


def fmt_date(seconds: float, decimals: int = 1) -> str:
    """MJD seconds -> ``dd-Mon-yyyy/hh:mm:ss.s``."""
    day, _ = _split_mjd_seconds(seconds, decimals)
    d = _MJD0 + _dt.timedelta(days=day)
    return f"{d.day:02d}-{_MONTHS[d.month - 1]}-{d.year:04d}/" + \
        fmt_time_of_day(seconds, decimals)


def mjd_day(seconds: float) -> int:
    return int(math.floor(seconds / 86400.0))


# ---------------------------------------------------------------------------
# geometry

def spherical(xyz) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ITRF x, y, z (m, shape (..., 3)) -> geocentric longitude, latitude
    (rad) and distance from the Earth's centre (m)."""
    xyz = np.asarray(xyz, dtype=float)
    r = np.sqrt(np.sum(xyz * xyz, axis=-1))
    lon = np.arctan2(xyz[..., 1], xyz[..., 0])
    with np.errstate(invalid="ignore", divide="ignore"):
        lat = np.where(r > 0, np.arcsin(np.clip(xyz[..., 2] / np.where(r > 0, r, 1), -1, 1)), 0.0)
    return lon, lat, r


def offsets_from_center(positions, center) -> np.ndarray:
    """East, north, up offsets (m) of antennas from the array reference point,
    as listobs gives them: the differences of geocentric longitude and
    latitude scaled by the reference point's distance from the Earth's centre
    (east also by the cosine of its latitude), and the difference of the
    distances for the third axis."""
    lon, lat, r = spherical(positions)
    clon, clat, cr = spherical(np.asarray(center, dtype=float))
    dlon = (lon - clon + np.pi) % (2 * np.pi) - np.pi
    east = cr * np.cos(clat) * dlon
    north = cr * (lat - clat)
    up = r - cr
    return np.stack([east, north, up], axis=-1)



# ---------------------------------------------------------------------------
# reading

_MAIN_INT_COLS = ("OBSERVATION_ID", "ARRAY_ID", "SCAN_NUMBER", "FIELD_ID",
                  "DATA_DESC_ID", "STATE_ID")


@dataclass
class Groups:
    """Per (obs, array, scan, field, ddid, state) group sums of the main table."""
    keys: np.ndarray            # (n, 6) int64
    nrows: np.ndarray           # (n,) int64
    sum_interval: np.ndarray    # (n,)
    sum_exposure: np.ndarray
    tmin: np.ndarray            # min(TIME - INTERVAL/2)
    tmax: np.ndarray            # max(TIME + INTERVAL/2)
    unflagged: np.ndarray | None = None   # sum of unflagged fraction per row


@dataclass
class MSInfo:
    path: str
    ms_version: float
    nrows: int
    timeref: str
    groups: Groups
    antennas_present: np.ndarray          # sorted antenna ids in the rows
    observers: list
    projects: list
    telescopes: list
    obs_time_ranges: list
    field_names: list
    field_codes: list
    field_dirs: np.ndarray                # (nfield, 2) rad
    field_refs: list
    field_source_ids: list
    spw_names: list
    spw_nchan: list
    spw_chan_freq: list
    spw_chan_width: list
    spw_total_bw: list
    spw_frame: list
    spw_bbc: list | None
    dd_spw: np.ndarray
    dd_pol: np.ndarray
    pol_corrs: list                       # pol id -> list of corr names
    state_intents: list                   # state id -> sorted list of intents
    source: dict | None                   # None: no SOURCE table
    ant_names: list
    ant_stations: list
    ant_diameters: np.ndarray
    ant_positions: np.ndarray
    array_center: np.ndarray
    array_center_from: str
    listunfl: bool = False
    notes: list = field(default_factory=list)


def _open(path):
    from casacore import tables as ct
    return ct.table(path, ack=False)


def _measinfo_ref(t, col, default=""):
    try:
        mi = t.getcolkeyword(col, "MEASINFO")
        return mi.get("Ref", default)
    except Exception:  # noqa: BLE001
        return default


def _mixed_key(ints):
    """One int64 per row from several id columns (mixed radix over each
    column's range in this chunk): (key, lo, span)."""
    lo = [int(a.min()) for a in ints]
    span = [int(a.max()) - l + 1 for a, l in zip(ints, lo)]
    total = 1
    for s_ in span:
        total *= s_
    if total >= (1 << 62):  # pragma: no cover - absurd id ranges
        raise ValueError("id columns span too large a range to group")
    key = np.zeros(len(ints[0]), dtype=np.int64)
    for a, l, s_ in zip(ints, lo, span):
        key *= s_
        key += a
        if l:
            key -= l
    return key, lo, span


def _reduce_chunk(cols: dict, flagfrac):
    """Group one chunk: returns (keys (n,6), counts, sums..., tmin, tmax, unfl)."""
    key, lo, span = _mixed_key([np.asarray(cols[c]) for c in _MAIN_INT_COLS])
    return _reduce_keyed(key, lo, span, cols, flagfrac)


def _reduce_keyed(key, lo, span, cols, flagfrac):
    total = 1
    for s_ in span:
        total *= s_
    if total <= (1 << 20):
        # dense: one pass of bincount, no sorting
        inv = key
        counts_all = np.bincount(key, minlength=total)
        present = np.flatnonzero(counts_all)
        ngroup = total
    else:
        present_keys, inv = np.unique(key, return_inverse=True)
        counts_all = np.bincount(inv)
        present = np.arange(len(present_keys))
        ngroup = len(present_keys)
    t = np.asarray(cols["TIME"], dtype=float)
    iv = np.asarray(cols["INTERVAL"], dtype=float)
    ex = np.asarray(cols["EXPOSURE"], dtype=float) if "EXPOSURE" in cols else iv
    half = iv * 0.5
    sum_iv = np.bincount(inv, iv, minlength=ngroup)[present]
    sum_ex = np.bincount(inv, ex, minlength=ngroup)[present]
    tmin = np.full(ngroup, np.inf)
    np.minimum.at(tmin, inv, t - half)
    tmax = np.full(ngroup, -np.inf)
    np.maximum.at(tmax, inv, t + half)
    unfl = (np.bincount(inv, flagfrac, minlength=ngroup)[present]
            if flagfrac is not None else None)
    # decode the group keys
    gk = present if total <= (1 << 20) else present_keys
    keys = np.empty((len(gk), len(span)), dtype=np.int64)
    rem = gk.astype(np.int64)
    for j in range(len(span) - 1, -1, -1):
        rem, keys[:, j] = np.divmod(rem, span[j])
        keys[:, j] += lo[j]
    return keys, counts_all[present], sum_iv, sum_ex, tmin[present], tmax[present], unfl


def _merge(parts) -> Groups:
    if not parts:
        z = np.zeros(0)
        return Groups(np.zeros((0, 6), dtype=np.int64), np.zeros(0, dtype=np.int64),
                      z, z, z, z, None)
    keys = np.concatenate([p[0] for p in parts])
    order = np.lexsort(keys.T[::-1])
    sk = keys[order]
    starts = np.flatnonzero(np.r_[True, np.any(sk[1:] != sk[:-1], axis=1)])

    def red(i, fn):
        return fn.reduceat(np.concatenate([p[i] for p in parts])[order], starts)

    unfl = red(6, np.add) if parts[0][6] is not None else None
    return Groups(sk[starts], red(1, np.add), red(2, np.add), red(3, np.add),
                  red(4, np.minimum), red(5, np.maximum), unfl)


def _row_unflagged_fraction(t, start, n, rows=None):
    """Per row: the fraction of its FLAG cells that are False (0 for FLAG_ROW)."""
    if rows is not None:
        sub = t.selectrows(rows)
        start, n = 0, len(rows)
    else:
        sub = t
    out = np.empty(n)
    # Cells of different shapes (data descriptions) are read group by group:
    # casacore's getcol over a whole TiledShapeStMan column with several
    # hypercubes does not refuse mixed shapes, it returns every cell in the
    # first cell's shape (wrong values), so an exception cannot be relied on.
    dd = sub.getcol("DATA_DESC_ID", start, n)
    udd = np.unique(dd)
    try:
        if len(udd) > 1:
            raise RuntimeError("several data descriptions")
        flag = sub.getcol("FLAG", start, n)
        flag = flag.reshape(n, -1)
        out[:] = 1.0 - flag.mean(axis=1)
    except RuntimeError:
        for d in udd:
            idx = np.flatnonzero(dd == d)
            part = t.selectrows(((rows[idx]) if rows is not None else (start + idx)).tolist())
            f = part.getcol("FLAG").reshape(len(idx), -1)
            out[idx] = 1.0 - f.mean(axis=1)
    if "FLAG_ROW" in sub.colnames():
        out[sub.getcol("FLAG_ROW", start, n)] = 0.0
    return out


def gather(path: str, rows=None, listunfl: bool = False, chunk_mb: float = 50.0,
           parallel: bool | None = None, metadata: MSMetadata | None = None) -> MSInfo:
    """Read everything listobs needs from the MS at ``path``.

    ``rows``: sorted main-table row numbers to summarise (None: all).
    ``parallel``: read the id columns in a second process (default: when the
    selection is large and ``os.fork`` exists).
    ``metadata``: the MS's :class:`MSMetadata` if the caller has one (the
    subtables are read through it; a new one is made otherwise).
    """
    path = os.path.abspath(os.path.expanduser(path))
    # the main table is opened (and so checked) below
    md = metadata if metadata is not None else MSMetadata(path, check=False)
    main = _open(path)
    try:
        colnames = set(main.colnames())
        kw = main.getkeywords()
        timeref = _measinfo_ref(main, "TIME", "UTC") or "UTC"
        nrows_total = main.nrows()
    finally:
        main.close()
    try:
        ms_version = float(kw.get("MS_VERSION", 1.0))
    except (TypeError, ValueError):
        ms_version = 1.0
    nsel = nrows_total if rows is None else len(rows)
    # bytes per row held at once: 3 doubles + 6 ints read, the int64 key and
    # float temporaries of the grouping
    per_row = 3 * 8 + 6 * 4 + 8 * 6
    chunk = max(1000, int(max(chunk_mb, 1.0) * (1 << 20) / per_row))
    if parallel is None:
        parallel = (nsel >= 200_000 and hasattr(os, "fork") and not listunfl
                    and not os.environ.get("CASASHELL_NO_FORK")
                    and (os.environ.get("CASASHELL_FORK") == "1" or _spare_core()))
    early: dict = {}

    def while_waiting(tab):
        # the helper reads more columns than this process: use the time
        early["antennas"] = _antennas_present(md, tab, rows, nsel, chunk)
        early["subtables"] = _subtable_info(md)

    parts = (_parallel_parts(path, rows, nsel, chunk, colnames, while_waiting)
             if parallel else None)
    main = _open(path)
    try:
        if parts is None:
            parts = _serial_parts(main, rows, nsel, chunk, colnames, listunfl, chunk_mb)
        groups = _merge(parts)
        antennas_present = early.get("antennas")
        if antennas_present is None:
            antennas_present = _antennas_present(md, main, rows, nsel, chunk)
    finally:
        main.close()

    info = early.get("subtables") or _subtable_info(md)
    info.update(dict(path=path, ms_version=ms_version, nrows=nsel, timeref=timeref,
                     groups=groups, antennas_present=antennas_present, listunfl=listunfl))
    return MSInfo(**info)


def _spare_core() -> bool:
    """Is a second core free for the helper process?  (At least two usable
    cores and a 1-minute load average below their number plus one: on a
    saturated machine a second process only adds waiting.)"""
    try:
        ncpu = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        ncpu = os.cpu_count() or 1
    if ncpu < 2:
        return False
    try:
        return os.getloadavg()[0] < ncpu + 1
    except (OSError, AttributeError):  # pragma: no cover
        return True


def _read_cols(src, s0, n, names, colnames, idx=None) -> dict:
    """Columns ``names`` of ``n`` rows from ``s0`` (then ``[idx]`` if given);
    absent optional id columns read as CASA's defaults."""
    if idx is not None:
        n = len(idx)
    cols = {}
    for c in names:
        if c in colnames:
            cols[c] = src.getcol(c, s0, n if idx is None else int(idx[-1]) + 1)
            if idx is not None:
                cols[c] = cols[c][idx]
        elif c in ("OBSERVATION_ID", "ARRAY_ID"):
            cols[c] = np.zeros(n, dtype=np.int32)
        elif c == "STATE_ID":
            cols[c] = np.full(n, -1, dtype=np.int32)
    return cols


def _chunk_source(main, rows, start, n):
    """(table, first row, row index or None) to read chunk [start, start+n)
    of the selection: row runs that fill at least half of their span (a scan,
    a field, a time range...) are read as one contiguous span and indexed,
    which is much faster than a reference table of scattered rows."""
    if rows is None:
        return main, start, None
    r = np.asarray(rows[start:start + n])
    span = int(r[-1]) - int(r[0]) + 1
    if span == n:
        return main, int(r[0]), None
    if span <= 2 * n:
        return main, int(r[0]), r - r[0]
    return main.selectrows(r), 0, None


def _serial_parts(main, rows, nsel, chunk, colnames, listunfl, chunk_mb) -> list:
    names = ["TIME", "INTERVAL", "EXPOSURE", *_MAIN_INT_COLS]
    parts = []
    for start in range(0, nsel, chunk):
        n = min(chunk, nsel - start)
        src, s0, idx = _chunk_source(main, rows, start, n)
        cols = _read_cols(src, s0, n, names, colnames, idx)
        frac = None
        if listunfl:
            frac = _flag_fraction_chunks(main, start if rows is None else None, n,
                                         None if rows is None else rows[start:start + n],
                                         chunk_mb)
        parts.append(_reduce_chunk(cols, frac))
    return parts


#: columns the helper process reads (the caller reads TIME, INTERVAL, EXPOSURE)
_CHILD_COLS = _MAIN_INT_COLS


class _Fallback(Exception):
    pass


def _read_line(fd, buf: bytearray, timeout: float) -> bytes:
    import select
    while b"\n" not in buf:
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            raise _Fallback("helper process timed out")
        data = os.read(fd, 65536)
        if not data:
            raise _Fallback("helper process ended early")
        buf.extend(data)
    k = buf.index(b"\n")
    line = bytes(buf[:k])
    del buf[:k + 1]
    return line


def _parallel_parts(path, rows, nsel, chunk, colnames, while_waiting=None):
    """Group the rows with a forked helper reading five of the id columns
    while this process reads the others: the column reads (the cost of
    listobs) run on two cores.  Returns None (the caller reads serially)
    when the helper cannot be used.  ``while_waiting(table)`` is called once,
    after this process's first chunk, while the helper is still reading.

    The helper opens the MS through a symbolic link so that casacore gives
    it its own table object and file descriptors, never those of a table
    this process may have open."""
    import json
    import mmap
    import shutil
    import signal
    import tempfile
    import warnings

    tmpdir = tempfile.mkdtemp(prefix="casashell-listobs-")
    link = os.path.join(tmpdir, "ms")
    slots = []
    fds = []
    pid = None
    try:
        os.symlink(path, link)
        slots = [mmap.mmap(-1, max(chunk, 1) * 8) for _ in range(2)]
        r_data, w_data = os.pipe()
        r_free, w_free = os.pipe()
        fds = [r_data, w_data, r_free, w_free]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pid = os.fork()
    except OSError:
        for fd in fds:
            os.close(fd)
        for m in slots:
            m.close()
        shutil.rmtree(tmpdir, ignore_errors=True)
        return None
    if pid == 0:  # the helper
        code = 0
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            os.close(r_data)
            os.close(w_free)
            t = _open(link)
            for k, start in enumerate(range(0, nsel, chunk)):
                n = min(chunk, nsel - start)
                if k >= 2 and not os.read(r_free, 1):
                    break  # the caller has gone
                src, s0, idx = _chunk_source(t, rows, start, n)
                cols = _read_cols(src, s0, n, _CHILD_COLS, colnames, idx)
                key, lo, span = _mixed_key([cols[c] for c in _CHILD_COLS])
                np.frombuffer(slots[k % 2], dtype=np.int64, count=n)[:] = key
                os.write(w_data, (json.dumps([k, n, lo, span]) + "\n").encode())
        except BaseException as exc:  # noqa: BLE001 - report and leave
            code = 1
            try:
                os.write(w_data, (json.dumps(["error", str(exc)]) + "\n").encode())
            except BaseException:  # noqa: BLE001
                pass
        finally:
            os._exit(code)
    # the caller
    os.close(w_data)
    os.close(r_free)
    fds = [r_data, w_free]
    done = False
    try:
        main = _open(path)
        try:
            parts = []
            buf = bytearray()
            for k, start in enumerate(range(0, nsel, chunk)):
                n = min(chunk, nsel - start)
                src, s0, idx = _chunk_source(main, rows, start, n)
                cols = _read_cols(src, s0, n, ("TIME", "INTERVAL", "EXPOSURE"), colnames, idx)
                if k == 0 and while_waiting is not None:
                    while_waiting(main)
                head = json.loads(_read_line(r_data, buf, 300.0))
                if head[0] == "error" or head[0] != k or head[1] != n:
                    raise _Fallback(f"helper process: {head}")
                key = np.frombuffer(slots[k % 2], dtype=np.int64, count=n).copy()
                try:   # the slot is copied: the helper may reuse it
                    os.write(w_free, b"x")
                except OSError:
                    pass   # the helper has finished
                lo, span = list(head[2]), list(head[3])
                parts.append(_reduce_keyed(key, lo, span, cols, None))
            done = True
            return parts
        finally:
            main.close()
    except _Fallback:
        return None
    finally:
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass
        if pid:
            if not done:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        for m in slots:
            m.close()
        shutil.rmtree(tmpdir, ignore_errors=True)


def _antennas_present(md, main, rows, nsel, max_chunk) -> np.ndarray:
    """Sorted antenna ids in ANTENNA1/ANTENNA2 of the rows.

    Read in growing chunks and stopped as soon as every antenna of the
    ANTENNA table has been seen (usually within the first integrations), so
    a large MS costs far less than two full column reads."""
    nant = len(md.antennas)
    seen = np.zeros(max(nant, 1), dtype=bool)
    start = 0
    step = min(max_chunk, 65536)
    while start < nsel:
        n = min(step, nsel - start)
        src, s0, idx = _chunk_source(main, rows, start, n)
        cols = _read_cols(src, s0, n, ("ANTENNA1", "ANTENNA2"), {"ANTENNA1", "ANTENNA2"}, idx)
        for col in ("ANTENNA1", "ANTENNA2"):
            a = cols[col]
            if len(a) and a.min() < 0:
                a = a[a >= 0]
            if len(a):
                c = np.bincount(a, minlength=len(seen)) > 0
                if len(c) > len(seen):
                    c[:len(seen)] |= seen
                    seen = c
                else:
                    seen |= c
        start += n
        if nant and seen[:nant].all() and len(seen) == nant:
            break
        step = min(step * 2, max_chunk)
    return np.flatnonzero(seen)


def _flag_fraction_chunks(main, start, n, rows, chunk_mb):
    """Unflagged fraction per row for ``n`` rows, reading FLAG in pieces that
    stay within ``chunk_mb``."""
    out = np.empty(n)
    try:
        shape = main.getcell("FLAG", int(rows[0]) if rows is not None else start).shape
        cell = max(1, int(np.prod(shape)))
    except Exception:  # noqa: BLE001
        cell = 1
    step = max(100, int(max(chunk_mb, 1.0) * (1 << 20) / cell))
    for k in range(0, n, step):
        m = min(step, n - k)
        if rows is None:
            out[k:k + m] = _row_unflagged_fraction(main, start + k, m)
        else:
            out[k:k + m] = _row_unflagged_fraction(main, 0, m, np.asarray(rows[k:k + m]))
    return out


def _subtable_info(md: MSMetadata) -> dict:
    """The subtable part of :class:`MSInfo`, from the MS's :class:`MSMetadata`."""
    d: dict = {}
    obs = md.observations
    d["observers"] = [o.observer for o in obs]
    d["projects"] = [o.project for o in obs]
    d["telescopes"] = [o.telescope for o in obs]
    d["obs_time_ranges"] = [[float(x) for x in o.time_range] for o in obs]
    tel_loc = obs[0].telescope_location if obs else None

    fields = md.fields
    d["field_names"] = [f.name for f in fields]
    d["field_codes"] = [f.code for f in fields]
    d["field_source_ids"] = [f.source_id for f in fields]
    d["field_dirs"] = (np.array([f.direction for f in fields], dtype=float).reshape(-1, 2)
                       if fields else np.zeros((0, 2)))
    d["field_refs"] = [f.direction_ref for f in fields]

    spws = md.spws
    d.update(spw_names=[s_.name for s_ in spws], spw_nchan=[s_.nchan for s_ in spws],
             spw_chan_freq=[s_.chan_freq for s_ in spws],
             spw_chan_width=[s_.chan_width for s_ in spws],
             spw_total_bw=[s_.total_bw for s_ in spws], spw_frame=[s_.frame for s_ in spws],
             spw_bbc=([s_.bbc_no for s_ in spws]
                      if spws and "BBC_NO" in (md.columns("SPECTRAL_WINDOW") or ()) else None))

    dd = md.ddids
    d["dd_spw"] = np.array([dd[i][0] for i in range(len(dd))], dtype=np.int64)
    d["dd_pol"] = np.array([dd[i][1] for i in range(len(dd))], dtype=np.int64)
    # unknown and undefined correlation codes print as '?'
    d["pol_corrs"] = [[STOKES_NAMES.get(int(c), "?") if int(c) else "?" for c in codes.ravel()]
                      for _, codes in sorted(md.pol_codes.items())]
    d["state_intents"] = [sorted(set(st.intents)) for st in md.states]

    sources = md.sources      # first: it opens SOURCE, which gives its columns and size
    cols = md.columns("SOURCE")
    if cols is None:
        d["source"] = None
    else:
        d["source"] = {"n": md.subtable_nrows("SOURCE"),
                       "has_restfreq": "REST_FREQUENCY" in cols,
                       "has_sysvel": "SYSVEL" in cols,
                       "rows": [(src.id, src.name, src.spw_id, src.rest_frequency.ravel(),
                                 src.sysvel.ravel()) for src in sources]}

    ants = md.antennas
    d["ant_names"] = [a.name for a in ants]
    d["ant_stations"] = [a.station for a in ants]
    d["ant_diameters"] = np.array([a.diameter for a in ants], dtype=float)
    d["ant_positions"] = (np.array([a.position for a in ants], dtype=float).reshape(-1, 3)
                          if ants else np.zeros((0, 3)))
    arrpos = md.array_position if ants else None
    tel = d["telescopes"][0] if d["telescopes"] else ""
    center, origin = array_reference_position(tel, d["ant_positions"], None, tel_loc, arrpos)
    d["array_center"] = np.asarray(center, dtype=float)
    d["array_center_from"] = origin
    return d


# ---------------------------------------------------------------------------
# derived tables


@dataclass
class SubScan:
    obs: int
    arr: int
    scan: int
    field: int
    nrows: int
    unflagged: float
    spws: list
    mean_interval: dict      # spw -> seconds
    mean_exposure: float
    states: list
    intents: list
    scan_begin: float
    scan_end: float


def subscans(info: MSInfo) -> list:
    """Subscans (obs, array, scan, field), in that sort order."""
    g = info.groups
    if len(g.nrows) == 0:
        return []
    k = g.keys
    ss_key = k[:, :4]
    scan_key = k[:, :3]
    # scan time ranges
    order = np.lexsort(scan_key.T[::-1])
    sk = scan_key[order]
    st = np.flatnonzero(np.r_[True, np.any(sk[1:] != sk[:-1], axis=1)])
    scan_tr = {tuple(int(x) for x in sk[i]): (float(a), float(b)) for i, a, b in zip(
        st, np.minimum.reduceat(g.tmin[order], st), np.maximum.reduceat(g.tmax[order], st))}
    # group rows of `groups` per subscan (already sorted by all 6 keys)
    starts = np.flatnonzero(np.r_[True, np.any(ss_key[1:] != ss_key[:-1], axis=1)])
    ends = np.r_[starts[1:], len(k)]
    out = []
    for s, e in zip(starts, ends):
        obs, arr, scan, fld = (int(x) for x in k[s, :4])
        ddids = k[s:e, 4]
        spw_of = np.array([info.dd_spw[d] if 0 <= d < len(info.dd_spw) else -1 for d in ddids])
        mi = {}
        for sp in sorted(set(int(x) for x in spw_of)):
            m = spw_of == sp
            mi[sp] = float(g.sum_interval[s:e][m].sum() / g.nrows[s:e][m].sum())
        n = int(g.nrows[s:e].sum())
        states = sorted(set(int(x) for x in k[s:e, 5]))
        intents = set()
        for st_ in states:
            if 0 <= st_ < len(info.state_intents):
                intents.update(info.state_intents[st_])
        tr = scan_tr[(obs, arr, scan)]
        out.append(SubScan(obs, arr, scan, fld, n,
                           float(g.unflagged[s:e].sum()) if g.unflagged is not None else 0.0,
                           sorted(mi), mi, float(g.sum_exposure[s:e].sum() / n), states,
                           sorted(intents), tr[0], tr[1]))
    return out


# ---------------------------------------------------------------------------
# text


def _title(info: MSInfo, name: str) -> str:
    bar = "=" * 80
    return (f"{bar}\n           MeasurementSet Name:  {name}      MS Version "
            f"{fmt_g(info.ms_version)}\n{bar}")


def _observation(info: MSInfo, verbose: bool) -> str:
    if not info.projects:
        return "The OBSERVATION table is empty"
    s = f"   Observer: {info.observers[0]}     Project: {info.projects[0]}  "
    if info.telescopes:
        s += f"\nObservation: {info.telescopes[0]}"
    if not verbose:
        s += f"({len(info.ant_names)} antennas)"
    if len(info.projects) > 1:
        lines = ["", "  " + "Telescope".ljust(10) + "Observation Date".ljust(20)
                 + "Observer".ljust(15) + "Project".ljust(15)]
        for i in range(len(info.projects)):
            tr = info.obs_time_ranges[i] if i < len(info.obs_time_ranges) else []
            # the start of the observation (CASA prints the raw TIME_RANGE
            # array here, which tells a reader nothing)
            if tr:
                day, ticks = _split_mjd_seconds(tr[0], 0)
                d = _MJD0 + _dt.timedelta(days=day)
                h, rem = divmod(ticks, 3600)
                trt = (f"{d.year:04d}/{d.month:02d}/{d.day:02d}/"
                       f"{h:02d}:{rem // 60:02d}:{rem % 60:02d}")
            else:
                trt = ""
            lines.append("  " + str(info.telescopes[i]).ljust(10) + trt.ljust(20)
                         + str(info.observers[i]).ljust(15) + str(info.projects[i]).ljust(15))
        s += "\n" + "\n".join(lines)
    return s


def _main_sections(info: MSInfo, subs: list, verbose: bool) -> list:
    if info.nrows <= 0:
        return ["The MAIN table is empty: there are no data!!!"]
    g = info.groups
    t0 = float(g.tmin.min())
    t1 = float(g.tmax.max())
    head = (f"Data records: {info.nrows}       Total elapsed time = {fmt_g(t1 - t0)} seconds\n"
            f"   Observed from   {fmt_date(t0)}   to   {fmt_date(t1)} ({info.timeref})")
    out = [head]
    if not verbose:
        # CASA leaves one empty line before the field list here
        return [head + "\n"]
    tref = info.timeref
    datetime_hdr = list("  Date        Timerange                ")
    text = "".join(datetime_hdr[:24]) + "(" + tref + ")"
    text = text + "  Date        Timerange                "[len(text):]
    by_array: dict = {}
    for ss in subs:
        by_array.setdefault((ss.obs, ss.arr), []).append(ss)
    for (obs, arr), lst in sorted(by_array.items()):
        lines = ["", f"   ObservationID = {obs}         ArrayID = {arr}",
                 text + "Scan  FldId FieldName             nRows     "
                 + ("nUnflRows   " if info.listunfl else "")
                 + "SpwIds   Average Interval(s)    ScanIntent"]
        lastday = None
        for ss in lst:
            day = mjd_day(ss.scan_begin)
            if day != lastday:
                begin = fmt_date(ss.scan_begin)
            else:
                begin = fmt_time_of_day(ss.scan_begin)
            name = info.field_names[ss.field] if 0 <= ss.field < len(info.field_names) else ""
            if len(name) > 20:
                name = name[:19] + "*"
            line = ("  " + begin.rjust(22) + " - " + fmt_time_of_day(ss.scan_end).rjust(10)
                    + "  " + str(ss.scan).rjust(4) + "  " + str(ss.field).rjust(5) + " "
                    + name.ljust(20) + str(ss.nrows).rjust(10))
            if info.listunfl:
                line += f"{ss.unflagged:.2f}".rjust(13)
            line += "  [" + ",".join(str(s) for s in ss.spws) + "]"
            line += "  [" + ", ".join(fmt_g(ss.mean_interval[s], 3) for s in ss.spws) + "] "
            if ss.intents:
                line += "[" + ",".join(ss.intents) + "]"
            lines.append(line)
            lastday = day
        out.append("\n".join(lines))
    out.append("           (nRows = Total number of rows per scan) ")
    return out


def _field_rows(info: MSInfo):
    """field id -> (rows, unflagged rows) for fields in the selected rows."""
    g = info.groups
    res: dict = {}
    for i in range(len(g.nrows)):
        f = int(g.keys[i, 3])
        r, u = res.get(f, (0, 0.0))
        res[f] = (r + int(g.nrows[i]),
                  u + (float(g.unflagged[i]) if g.unflagged is not None else 0.0))
    return dict(sorted(res.items()))


def _fields(info: MSInfo) -> str:
    nf = len(info.field_names)
    frows = _field_rows(info)
    if nf == 0:
        return "The FIELD table is empty"
    if not frows:
        return "The MAIN table is empty"
    srcok = info.source is not None and info.source["n"] > 0
    lines = [f"Fields: {len(frows)}"]
    hdr = "  " + "ID".ljust(5) + "Code".ljust(5) + "Name".ljust(20) + "RA".ljust(16) \
        + " Decl".ljust(16) + "Epoch".ljust(8)
    if srcok:
        hdr += "SrcId".ljust(6)
    hdr += "nRows".rjust(10)
    if info.listunfl:
        hdr += "nUnflRows".rjust(13)
    lines.append(hdr)
    for f, (nr, nu) in frows.items():
        if not (0 <= f < nf):
            lines.append(f"Field {f} not found in FIELD table")
            continue
        name = info.field_names[f]
        if len(name) > 20:
            name = name[:19] + "*"
        ra, dec = info.field_dirs[f]
        line = ("  " + str(f).ljust(5) + str(info.field_codes[f]).ljust(5) + name.ljust(20)
                + fmt_ra(ra).ljust(16) + fmt_dec(dec).ljust(16)
                + str(info.field_refs[f]).ljust(8))
        if srcok:
            line += str(info.field_source_ids[f]).ljust(6)
        line += str(nr).rjust(10)
        if info.listunfl:
            line += f"{nu:.2f}".rjust(13)
        lines.append(line)
    return "\n".join(lines)


def _center_freq_mhz(cf, cw) -> float:
    lo = np.min(cf - np.abs(cw) / 2)
    hi = np.max(cf + np.abs(cw) / 2)
    return float((lo + hi) / 2) / 1e6


def _spectral(info: MSInfo) -> str:
    out = []
    if len(info.dd_spw) == 0:
        out.append("The DATA_DESCRIPTION table is empty: see the FEED table")
    if len(info.spw_nchan) == 0:
        out.append("The SPECTRAL_WINDOW table is empty: see the FEED table")
    if len(info.pol_corrs) == 0:
        out.append("The POLARIZATION table is empty: see the FEED table")
    ddset = sorted(set(int(x) for x in info.groups.keys[:, 4])) if len(info.groups.nrows) else []
    ddset = [d for d in ddset if 0 <= d < len(info.dd_spw)]
    if not ddset:
        return "\n".join(out)
    uspw = {int(info.dd_spw[d]) for d in ddset}
    upol = {int(info.dd_pol[d]) for d in ddset}
    out.append(f"Spectral Windows:  ({len(uspw)} unique spectral windows and "
               f"{len(upol)} unique polarization setups)")
    wname = max([5] + [len(n) for n in info.spw_names])
    ncorr0 = len(info.pol_corrs[0]) if info.pol_corrs else 0
    hdr = ("  " + "SpwID  " + "Name  ".ljust(wname) + " #Chans" + " " + "  Frame"
           + "   Ch0(MHz)".ljust(12) + " ChanWid(kHz) " + " TotBW(kHz)".ljust(12)
           + "CtrFreq(MHz) ")
    has_bbc = info.spw_bbc is not None
    if has_bbc:
        hdr += "BBC Num "
    hdr += " Corrs".ljust(4 * ncorr0)
    out.append(hdr)
    for spw in sorted(set(int(x) for x in info.dd_spw)):
        parts = []
        for dd in sorted(np.flatnonzero(info.dd_spw == spw)):
            if dd not in ddset:
                continue
            cf = info.spw_chan_freq[spw]
            cw = info.spw_chan_width[spw]
            s = ("  " + str(spw).ljust(7) + str(info.spw_names[spw]).ljust(wname) + " "
                 + str(info.spw_nchan[spw]).rjust(6) + " " + info.spw_frame[spw].rjust(6)
                 + f"{cf[0] / 1e6:.3f}".rjust(12) + f"{cw[0] / 1e3:.3f}".rjust(14)
                 + f"{info.spw_total_bw[spw] / 1000:.1f}".rjust(12)
                 + f"{_center_freq_mhz(cf, cw):.4f}".rjust(12) + " ")
            if has_bbc:
                s += str(info.spw_bbc[spw]).rjust(8)
            pol = int(info.dd_pol[dd])
            if 0 <= pol < len(info.pol_corrs):
                s += "".join(c.rjust(4) for c in info.pol_corrs[pol])
            parts.append(s)
        if parts:
            out.append("".join(parts))
    return "\n".join(out)


def _sources(info: MSInfo, verbose: bool) -> str | None:
    src = info.source
    if src is None:
        return "The SOURCE table is absent: see the FIELD table"
    if src["n"] <= 0:
        return "The SOURCE table is empty: see the FIELD table"
    if not verbose:
        return None
    lines = [f"Sources: {src['n']}"]
    hdr = "  " + "ID".ljust(5) + "Name".ljust(20) + "SpwId".ljust(6)
    if src["has_restfreq"]:
        hdr += "RestFreq(MHz)".ljust(15)
    if src["has_sysvel"]:
        hdr += "SysVel(km/s)".ljust(13)
    lines.append(hdr)
    for sid, name, spw, rf, sv in src["rows"]:
        if len(name) > 20:
            name = name[:19] + "*"
        spw_text = "any" if spw < 0 else str(spw)
        line = "  " + str(sid).ljust(5) + name.ljust(20) + spw_text.ljust(6)
        if src["has_restfreq"]:
            line += (fmt_g(rf[0] / 1e6, 12) if rf is not None and rf.size else "-").ljust(15)
        if src["has_sysvel"]:
            line += (fmt_g(sv[0] / 1e3, 12) if sv is not None and sv.size else "-").ljust(13)
        lines.append(line)
    if not src["has_restfreq"]:
        lines.append("  NB: No rest frequency information found in SOURCE table.")
    if not src["has_sysvel"]:
        lines.append("  NB: No systemic velocity information found in SOURCE table.")
    return "\n".join(lines)


def antenna_table(info: MSInfo, ids=None):
    """(ids, lon, lat, offsets (n,3)) for antennas ``ids`` (default: present)."""
    ids = info.antennas_present if ids is None else np.asarray(ids, dtype=int)
    pos = info.ant_positions[ids]
    lon, lat, _ = spherical(pos)
    off = offsets_from_center(pos, info.array_center)
    return ids, lon, lat, off


def _antennas(info: MSInfo, verbose: bool) -> str:
    if len(info.ant_names) == 0:
        return "The ANTENNA table is empty"
    ids = [int(a) for a in info.antennas_present if a < len(info.ant_names)]
    if not verbose:
        lines = [f"Antennas: {len(ids)} 'name'='station' "]
        if not ids:
            return lines[0]
        line = ""
        last = ids[0] - 1
        amax = max(ids)
        for a in ids:
            line += f"'{info.ant_names[a]}'='{info.ant_stations[a]}'"
            if a != amax:
                line += ", "
            if len(line) > 55 or a == amax:
                leader = f"{last + 1}-{a}: "
                lines.append("   ID=" + leader.rjust(8) + line)
                line = ""
                last = a
        return "\n".join(lines)
    lines = [f"Antennas: {len(ids)}:"]
    lines.append("  " + "ID".ljust(5) + "Name".ljust(6) + "Station".ljust(10) + "Diam.".ljust(9)
                 + "Long.".ljust(14) + "Lat.".ljust(13)
                 + "       Offset from array center (m)".ljust(42)
                 + "         ITRF Geocentric coordinates (m)".ljust(48))
    lines.append("  " + " ".ljust(57) + "East".rjust(14) + "North".rjust(14)
                 + "Elevation".rjust(14) + "x".rjust(16) + "y".rjust(16) + "z".rjust(16))
    if ids:
        _, lon, lat, off = antenna_table(info, ids)
        for k, a in enumerate(ids):
            xyz = info.ant_positions[a]
            lines.append(
                "  " + str(a).ljust(5) + str(info.ant_names[a]).ljust(6)
                + str(info.ant_stations[a]).ljust(10)
                + f"{info.ant_diameters[a]:.1f}".ljust(5) + "m   "
                + fmt_angle(lon[k], 7).ljust(14) + fmt_angle(lat[k], 7, True).ljust(13)
                + "".join(f"{v:.4f}".rjust(14) for v in off[k])
                + "".join(f"{v:.6f}".rjust(16) for v in xyz))
    return "\n".join(lines)


def format_sections(info: MSInfo, verbose: bool = True, name: str | None = None) -> list:
    """The listobs text as a list of messages (each possibly several lines)."""
    subs = subscans(info)
    secs = [_title(info, name or info.path), _observation(info, verbose)]
    secs += _main_sections(info, subs, verbose)
    secs.append(_fields(info))
    secs.append(_spectral(info))
    s = _sources(info, verbose)
    if s:
        secs.append(s)
    secs.append(_antennas(info, verbose))
    return [s for s in secs if s]


def format_text(info: MSInfo, verbose: bool = True, name: str | None = None) -> str:
    return "\n".join(format_sections(info, verbose, name)) + "\n"


# ---------------------------------------------------------------------------
# the returned dictionary


def summary_record(info: MSInfo, max_records: int = 10000) -> dict:
    """The dictionary listobs returns (keys and value types as CASA's)."""
    rec: dict = {}
    if info.nrows <= 0:
        return rec
    g = info.groups
    t0 = float(g.tmin.min())
    t1 = float(g.tmax.max())
    rec["numrecords"] = int(info.nrows)
    rec["IntegrationTime"] = t1 - t0
    rec["BeginTime"] = t0 / 86400.0
    rec["EndTime"] = t1 / 86400.0
    rec["timeref"] = info.timeref
    subs = subscans(info)
    count = 0
    prev_arr = None
    lastscan = 0
    idx = 0
    for k, ss in enumerate(subs):
        if (ss.obs, ss.arr) != prev_arr:
            prev_arr = (ss.obs, ss.arr)
            lastscan = 0
            first = True
        else:
            first = False
        if count < max_records:
            idx = idx + 1 if (lastscan == ss.scan and not first) else 0
            name = info.field_names[ss.field] if 0 <= ss.field < len(info.field_names) else ""
            if len(name) > 20:
                # the dictionary keeps the rest of a long name (CASA marks char 20 only)
                name = name[:19] + "*" + name[20:]
            scanrec = rec.setdefault(f"scan_{ss.scan}", {})
            scanrec[str(idx)] = {
                "BeginTime": ss.scan_begin / 86400.0,
                "EndTime": ss.scan_end / 86400.0,
                "FieldId": int(ss.field),
                "FieldName": name,
                "IntegrationTime": ss.mean_exposure,
                "SpwIds": np.array(ss.spws, dtype=np.int32),
                "StateId": int(ss.states[0]) if ss.states else -1,
                "nRow": int(ss.nrows),
                "scanId": int(ss.scan),
            }
        count += 1
        lastscan = ss.scan
    frows = _field_rows(info)
    rec["nfields"] = len(frows)
    for f in frows:
        if not (0 <= f < len(info.field_names)):
            continue
        name = info.field_names[f]
        if len(name) > 20:
            # the dictionary keeps the rest of a long name (CASA marks char 20 only)
            name = name[:19] + "*" + name[20:]
        ra, dec = info.field_dirs[f]
        # CASA returns the longitude as its direction measure holds it,
        # normalised into [-pi, pi]
        ra = math.remainder(float(ra), 2 * math.pi)
        rec[f"field_{f}"] = {
            "name": name,
            "code": str(info.field_codes[f]),
            "direction": {"m0": {"unit": "rad", "value": float(ra)},
                          "m1": {"unit": "rad", "value": float(dec)},
                          "refer": str(info.field_refs[f]), "type": "direction"},
        }
    return rec
