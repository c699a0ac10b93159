"""Cached reads of a MeasurementSet's subtables.

``MSMetadata(path)`` reads each subtable the first time one of its properties
is used and keeps the result.  Records are :class:`Record` objects: dicts whose
keys can also be read as attributes (``md.fields[0].name`` or
``md.fields[0]['name']``).  For the lists ``fields``, ``spws``, ``antennas``,
``observations``, ``states``, ``sources`` and ``feeds`` list index == row id
(except ``sources`` and ``feeds`` which have one record per row).

Besides the records: ``columns(name)`` / ``subtable_nrows(name)`` (None when the
subtable is absent), ``array_position`` (the ANTENNA POSITION keyword
ARRAY_POSITION).  Field records carry ``direction_ref`` (the row's own frame
when PHASE_DIR has a variable reference column), spw records ``bbc_no`` (None
without a BBC_NO column), observation records ``telescope_location``.
"""

from __future__ import annotations

import os

import numpy as np

from .core import check_ms, ms_subtable

#: Stokes / correlation type codes (casacore's Stokes enum) -> names
STOKES_NAMES = {
    0: "Undefined", 1: "I", 2: "Q", 3: "U", 4: "V", 5: "RR", 6: "RL", 7: "LR", 8: "LL",
    9: "XX", 10: "XY", 11: "YX", 12: "YY", 13: "RX", 14: "RY", 15: "LX", 16: "LY",
    17: "XR", 18: "XL", 19: "YR", 20: "YL", 21: "PP", 22: "PQ", 23: "QP", 24: "QQ",
    25: "RCircular", 26: "LCircular", 27: "Linear", 28: "Ptotal", 29: "Plinear",
    30: "PFtotal", 31: "PFlinear", 32: "Pangle",
}
STOKES_CODES = {v.upper(): k for k, v in STOKES_NAMES.items()}

#: MEAS_FREQ_REF codes -> frame names
FREQ_FRAMES = {0: "REST", 1: "LSRK", 2: "LSRD", 3: "BARY", 4: "GEO", 5: "TOPO",
               6: "GALACTO", 7: "LGROUP", 8: "CMB", 64: "Undefined"}

_FRAME_CODES = {v.upper(): k for k, v in FREQ_FRAMES.items()}


class Record(dict):
    """A dict whose keys are also attributes."""

    __slots__ = ()

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _col(t, name, default=None):
    if name in t.colnames() and t.nrows() > 0:
        try:
            return t.getcol(name)
        except RuntimeError:  # column with undefined cells
            return [t.getcell(name, i) if t.iscelldefined(name, i) else default
                    for i in range(t.nrows())]
    return [default] * t.nrows()


def _varcol(t, name, default=None):
    """Read a possibly variable-shaped column cell by cell."""
    if name not in t.colnames():
        return [default] * t.nrows()
    out = []
    for i in range(t.nrows()):
        out.append(t.getcell(name, i) if t.iscelldefined(name, i) else default)
    return out


def _row_refs(t, measinfo, n):
    """Per-row reference frame names of a measure column with a variable
    reference (MEASINFO ``VarRefCol``), or None when the column has one frame."""
    col = measinfo.get("VarRefCol")
    if not col or col not in t.colnames() or n == 0:
        return None
    try:
        lut = dict(zip((int(c) for c in measinfo.get("TabRefCodes", [])),
                       measinfo.get("TabRefTypes", [])))
        default = measinfo.get("Ref", "J2000")
        return [str(lut.get(int(c), default)) for c in t.getcol(col)]
    except Exception:  # noqa: BLE001 - a malformed keyword: use the column frame
        return None


def _array_position(t):
    """The ANTENNA table ``t``'s POSITION keyword ARRAY_POSITION (None if absent)."""
    try:
        return np.asarray(t.getcolkeyword("POSITION", "ARRAY_POSITION"), float)
    except Exception:  # noqa: BLE001 - no such keyword
        return None


class MSMetadata:
    """Subtable metadata of one MS, read lazily and cached."""

    def __init__(self, path, check=True):
        # check=False: the caller has already validated ``path`` as an MS
        self.path = (check_ms(path) if check
                     else os.path.abspath(os.path.expanduser(str(path))))
        self._cache = {}

    def _sub(self, name):
        t = ms_subtable(self.path, name)
        # facts every open gives for free (see columns(), subtable_nrows())
        self._cache.setdefault(("columns", name), list(t.colnames()))
        self._cache.setdefault(("nrows", name), t.nrows())
        return t

    def _has_sub(self, name):
        return os.path.isfile(os.path.join(self.path, name, "table.dat"))

    def _cached(self, key, fn):
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    def columns(self, name) -> list | None:
        """Column names of subtable ``name`` (None when the MS has no such subtable)."""
        def read():
            if not self._has_sub(name):
                return None
            with self._sub(name) as t:
                return list(t.colnames())
        return self._cached(("columns", name), read)

    def subtable_nrows(self, name) -> int | None:
        """Row count of subtable ``name`` (None when the MS has no such subtable)."""
        def read():
            if not self._has_sub(name):
                return None
            with self._sub(name) as t:
                return t.nrows()
        return self._cached(("nrows", name), read)

    # ------------------------------------------------------------------ fields
    @property
    def fields(self) -> list:
        return self._cached("fields", self._read_fields)

    def _read_fields(self):
        with self._sub("FIELD") as t:
            n = t.nrows()
            names = _col(t, "NAME", "")
            codes = _col(t, "CODE", "")
            srcs = _col(t, "SOURCE_ID", -1)
            flags = _col(t, "FLAG_ROW", False)
            times = _col(t, "TIME", 0.0)
            dirs = {}
            for c in ("PHASE_DIR", "DELAY_DIR", "REFERENCE_DIR"):
                if c in t.colnames() and n:
                    try:
                        d = np.asarray(t.getcol(c), dtype=float).reshape(n, -1, 2)[:, 0, :]
                    except (RuntimeError, ValueError):  # polynomials of different orders
                        d = np.array([np.asarray(t.getcell(c, i), float).reshape(-1, 2)[0]
                                      for i in range(n)])
                    dirs[c] = d
                else:
                    dirs[c] = np.zeros((n, 2))
            frame = "J2000"
            refs = None
            if "PHASE_DIR" in t.colnames():
                kw = t.getcolkeywords("PHASE_DIR")
                ref = kw.get("MEASINFO", {}).get("Ref")
                if ref:
                    frame = ref
                refs = _row_refs(t, kw.get("MEASINFO", {}), n)
        return [Record(id=i, name=str(names[i]), code=str(codes[i]),
                       direction=dirs["PHASE_DIR"][i], delay_dir=dirs["DELAY_DIR"][i],
                       reference_dir=dirs["REFERENCE_DIR"][i], frame=frame,
                       direction_ref=refs[i] if refs else frame,
                       source_id=int(srcs[i]), flag_row=bool(flags[i]), time=float(times[i]))
                for i in range(n)]

    # ---------------------------------------------------------------- spws
    @property
    def spws(self) -> list:
        return self._cached("spws", self._read_spws)

    def _read_spws(self):
        out = []
        with self._sub("SPECTRAL_WINDOW") as t:
            n = t.nrows()
            names = _col(t, "NAME", "")
            nchan = _col(t, "NUM_CHAN", 0)
            ref = _col(t, "REF_FREQUENCY", 0.0)
            tbw = _col(t, "TOTAL_BANDWIDTH", 0.0)
            mfr = _col(t, "MEAS_FREQ_REF", 5)
            if "MEAS_FREQ_REF" not in t.colnames() and "CHAN_FREQ" in t.colnames():
                # no per-row frame: the CHAN_FREQ column's own frame
                try:
                    fref = t.getcolkeyword("CHAN_FREQ", "MEASINFO").get("Ref", "TOPO")
                except Exception:  # noqa: BLE001
                    fref = "TOPO"
                mfr = [_FRAME_CODES.get(str(fref).upper(), 5)] * n
            bbc = _col(t, "BBC_NO", None) if "BBC_NO" in t.colnames() else [None] * n
            flags = _col(t, "FLAG_ROW", False)
            netsb = _col(t, "NET_SIDEBAND", 1)
            freqs = _varcol(t, "CHAN_FREQ")
            widths = _varcol(t, "CHAN_WIDTH")
            ebw = _varcol(t, "EFFECTIVE_BW")
            res = _varcol(t, "RESOLUTION")
            for i in range(n):
                f = np.asarray(freqs[i] if freqs[i] is not None else [], dtype=float)
                w = np.asarray(widths[i] if widths[i] is not None else np.zeros_like(f),
                               dtype=float)
                code = int(mfr[i])
                out.append(Record(
                    id=i, name=str(names[i]), nchan=int(nchan[i]), chan_freq=f, chan_width=w,
                    effective_bw=np.asarray(ebw[i] if ebw[i] is not None else np.abs(w), float),
                    resolution=np.asarray(res[i] if res[i] is not None else np.abs(w), float),
                    ref_freq=float(ref[i]), total_bw=float(tbw[i]), meas_freq_ref=code,
                    frame=FREQ_FRAMES.get(code, str(code)), net_sideband=int(netsb[i]),
                    flag_row=bool(flags[i]),
                    bbc_no=None if bbc[i] is None else int(bbc[i])))
        return out

    # ----------------------------------------------------------- ddids / pols
    @property
    def ddids(self) -> dict:
        """ddid -> (spw_id, pol_id)."""
        return self._cached("ddids", self._read_ddids)

    def _read_ddids(self):
        with self._sub("DATA_DESCRIPTION") as t:
            spw = _col(t, "SPECTRAL_WINDOW_ID", -1)
            pol = _col(t, "POLARIZATION_ID", -1)
            return {i: (int(spw[i]), int(pol[i])) for i in range(t.nrows())}

    @property
    def pols(self) -> dict:
        """pol_id -> list of correlation names ('RR', 'XY', ...)."""
        return self._cached("pols", lambda: {
            i: [STOKES_NAMES.get(int(c), str(c)) for c in codes]
            for i, codes in self.pol_codes.items()})

    @property
    def pol_codes(self) -> dict:
        """pol_id -> np.ndarray of Stokes codes."""
        def read():
            with self._sub("POLARIZATION") as t:
                return {i: np.asarray(c if c is not None else [], dtype=int)
                        for i, c in enumerate(_varcol(t, "CORR_TYPE"))}
        return self._cached("pol_codes", read)

    # ---------------------------------------------------------------- antennas
    @property
    def antennas(self) -> list:
        return self._cached("antennas", self._read_antennas)

    def _read_antennas(self):
        with self._sub("ANTENNA") as t:
            n = t.nrows()
            names = _col(t, "NAME", "")
            stations = _col(t, "STATION", "")
            diam = _col(t, "DISH_DIAMETER", 0.0)
            pos = np.asarray(t.getcol("POSITION"), float) if n else np.zeros((0, 3))
            off = (np.asarray(t.getcol("OFFSET"), float) if n and "OFFSET" in t.colnames()
                   else np.zeros((n, 3)))
            flags = _col(t, "FLAG_ROW", False)
            mount = _col(t, "MOUNT", "")
            typ = _col(t, "TYPE", "")
            if "array_position" not in self._cache:
                self._cache["array_position"] = _array_position(t)
        return [Record(id=i, name=str(names[i]), station=str(stations[i]),
                       diameter=float(diam[i]), position=pos[i], offset=off[i],
                       flag_row=bool(flags[i]), mount=str(mount[i]), type=str(typ[i]))
                for i in range(n)]

    @property
    def array_position(self):
        """The ANTENNA table's POSITION keyword ARRAY_POSITION [ITRF m] (None if absent)."""
        def read():
            with self._sub("ANTENNA") as t:
                return _array_position(t)
        return self._cached("array_position", read)

    @property
    def antenna_names(self) -> list:
        return [a.name for a in self.antennas]

    # ----------------------------------------------------------- observations
    @property
    def observations(self) -> list:
        def read():
            if not self._has_sub("OBSERVATION"):
                return []
            with self._sub("OBSERVATION") as t:
                n = t.nrows()
                tel = _col(t, "TELESCOPE_NAME", "")
                obs = _col(t, "OBSERVER", "")
                proj = _col(t, "PROJECT", "")
                tr = (np.asarray(t.getcol("TIME_RANGE"), float) if n and
                      "TIME_RANGE" in t.colnames() else np.zeros((n, 2)))
                rel = _col(t, "RELEASE_DATE", 0.0)
                sched = _varcol(t, "SCHEDULE_TYPE", "")
                loc = _varcol(t, "TELESCOPE_LOCATION")
            return [Record(id=i, telescope=str(tel[i]), observer=str(obs[i]),
                           project=str(proj[i]), time_range=tr[i], release_date=float(rel[i]),
                           schedule_type=str(sched[i] or ""),
                           telescope_location=(None if loc[i] is None
                                               else np.asarray(loc[i], float)))
                    for i in range(n)]
        return self._cached("observations", read)

    # ------------------------------------------------------------------ states
    @property
    def states(self) -> list:
        """index == STATE_ID: Record(id, obs_mode, intents, sig, ref, cal, load, sub_scan)."""
        def read():
            if not self._has_sub("STATE"):
                return []
            with self._sub("STATE") as t:
                n = t.nrows()
                modes = _col(t, "OBS_MODE", "")
                sig = _col(t, "SIG", True)
                ref = _col(t, "REF", False)
                sub = _col(t, "SUB_SCAN", 0)
            return [Record(id=i, obs_mode=str(modes[i]),
                           intents=[s for s in str(modes[i]).split(",") if s],
                           sig=bool(sig[i]), ref=bool(ref[i]), sub_scan=int(sub[i]))
                    for i in range(n)]
        return self._cached("states", read)

    # ----------------------------------------------------------------- sources
    @property
    def sources(self) -> list:
        def read():
            if not self._has_sub("SOURCE"):
                return []
            with self._sub("SOURCE") as t:
                n = t.nrows()
                if n == 0:
                    return []
                ids = _col(t, "SOURCE_ID", -1)
                names = _col(t, "NAME", "")
                spw = _col(t, "SPECTRAL_WINDOW_ID", -1)
                dirs = (np.asarray(t.getcol("DIRECTION"), float).reshape(n, 2)
                        if "DIRECTION" in t.colnames() else np.zeros((n, 2)))
                rest = _varcol(t, "REST_FREQUENCY")
                sysv = _varcol(t, "SYSVEL")
                code = _col(t, "CODE", "")
            return [Record(id=int(ids[i]), name=str(names[i]), spw_id=int(spw[i]),
                           direction=dirs[i], code=str(code[i]),
                           rest_frequency=np.asarray(rest[i] if rest[i] is not None else [],
                                                     float),
                           sysvel=np.asarray(sysv[i] if sysv[i] is not None else [], float))
                    for i in range(n)]
        return self._cached("sources", read)

    # ------------------------------------------------------------------ feeds
    @property
    def feeds(self) -> list:
        def read():
            if not self._has_sub("FEED"):
                return []
            with self._sub("FEED") as t:
                n = t.nrows()
                ant = _col(t, "ANTENNA_ID", -1)
                fid = _col(t, "FEED_ID", 0)
                spw = _col(t, "SPECTRAL_WINDOW_ID", -1)
                pt = _varcol(t, "POLARIZATION_TYPE")
            return [Record(antenna_id=int(ant[i]), feed_id=int(fid[i]), spw_id=int(spw[i]),
                           polarization_type=list(pt[i]) if pt[i] is not None else [])
                    for i in range(n)]
        return self._cached("feeds", read)

    # ------------------------------------------------------- main-table facts
    @property
    def nrows(self) -> int:
        def read():
            from .core import open_ms
            with open_ms(self.path) as t:
                return t.nrows()
        return self._cached("nrows", read)

    @property
    def first_time(self) -> float:
        """TIME [MJD s] of the earliest row (0.0 for an empty MS)."""
        return self.time_range[0]

    @property
    def time_range(self):
        """(min TIME, max TIME) over the main table [MJD seconds]."""
        def read():
            from .core import open_ms
            from .io import iter_chunks
            lo, hi = np.inf, -np.inf
            with open_ms(self.path) as t:
                for _, c in iter_chunks(t, ["TIME"]):
                    if len(c["TIME"]):
                        lo = min(lo, float(c["TIME"].min()))
                        hi = max(hi, float(c["TIME"].max()))
            return (lo, hi) if np.isfinite(lo) else (0.0, 0.0)
        return self._cached("time_range", read)

    @property
    def scans(self) -> list:
        """One Record per (observation, array, scan number), in time order.

        Keys: scan, observation, array, start, end (MJD s, row TIME min/max), nrows,
        fields, spws, ddids, states, intents (sorted lists).
        """
        return self._cached("scans", self._read_scans)

    def _read_scans(self):
        from .core import open_ms
        from .io import iter_chunks
        cols = ["SCAN_NUMBER", "OBSERVATION_ID", "ARRAY_ID", "TIME", "FIELD_ID",
                "DATA_DESC_ID", "STATE_ID"]
        # per chunk: distinct (obs, array, scan, field, ddid, state) combinations with
        # their time range and row count, merged across chunks
        acc = {}
        with open_ms(self.path) as t:
            present = [c for c in cols if c in t.colnames()]
            for _, c in iter_chunks(t, present):
                n = len(c["TIME"])
                if n == 0:
                    continue
                parts = [c.get("OBSERVATION_ID", np.zeros(n, np.int64)),
                         c.get("ARRAY_ID", np.zeros(n, np.int64)), c["SCAN_NUMBER"],
                         c["FIELD_ID"], c["DATA_DESC_ID"], c.get("STATE_ID", np.full(n, -1))]
                codes, uniqs = [], []
                for p in parts:
                    u, inv = np.unique(p, return_inverse=True)
                    uniqs.append(u)
                    codes.append(inv.ravel().astype(np.int64))
                key = codes[0]
                for u, code in zip(uniqs[1:], codes[1:]):
                    key = key * len(u) + code
                order = np.argsort(key, kind="stable")
                ks = key[order]
                starts = np.concatenate([[0], np.nonzero(np.diff(ks))[0] + 1])
                tt = c["TIME"][order]
                tmin = np.minimum.reduceat(tt, starts)
                tmax = np.maximum.reduceat(tt, starts)
                counts = np.diff(np.concatenate([starts, [n]]))
                first = order[starts]
                for j in range(len(starts)):
                    r = first[j]
                    combo = tuple(int(uniqs[k][codes[k][r]]) for k in range(6))
                    old = acc.get(combo)
                    if old is None:
                        acc[combo] = [float(tmin[j]), float(tmax[j]), int(counts[j])]
                    else:
                        old[0] = min(old[0], float(tmin[j]))
                        old[1] = max(old[1], float(tmax[j]))
                        old[2] += int(counts[j])
        states = self.states
        dd = self.ddids
        scans = {}
        for (o, a, s, f, d, st), (t0, t1, cnt) in acc.items():
            r = scans.setdefault((o, a, s), {"start": np.inf, "end": -np.inf, "nrows": 0,
                                             "fields": set(), "ddids": set(), "states": set()})
            r["start"] = min(r["start"], t0)
            r["end"] = max(r["end"], t1)
            r["nrows"] += cnt
            r["fields"].add(f)
            r["ddids"].add(d)
            r["states"].add(st)
        out = []
        for (o, a, s), r in scans.items():
            intents = set()
            for sid in r["states"]:
                if 0 <= sid < len(states):
                    intents.update(states[sid].intents)
            out.append(Record(scan=s, observation=o, array=a, start=r["start"], end=r["end"],
                              nrows=r["nrows"], fields=sorted(r["fields"]),
                              ddids=sorted(r["ddids"]),
                              spws=sorted({dd[x][0] for x in r["ddids"] if x in dd}),
                              states=sorted(r["states"]), intents=sorted(intents)))
        out.sort(key=lambda r: (r.start, r.observation, r.array, r.scan))
        return out

    # ------------------------------------------------------------- helpers
    def spw_of_ddid(self) -> np.ndarray:
        """Lookup array ddid -> spw id (-1 for unknown)."""
        dd = self.ddids
        lut = np.full(max(dd) + 1 if dd else 1, -1, dtype=np.int64)
        for k, (s, _) in dd.items():
            lut[k] = s
        return lut

    def pol_of_ddid(self) -> np.ndarray:
        dd = self.ddids
        lut = np.full(max(dd) + 1 if dd else 1, -1, dtype=np.int64)
        for k, (_, p) in dd.items():
            lut[k] = p
        return lut

    def telescope_name(self) -> str:
        obs = self.observations
        return obs[0].telescope if obs else ""
