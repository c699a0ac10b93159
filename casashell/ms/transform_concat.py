"""Concatenating MeasurementSets (the engine of the concat task).

Subtables are merged: antennas with the same name and station within 1 m,
spectral windows with the same number of channels, frame and channel
frequencies within ``freqtol``, polarization setups with the same
correlations, fields within ``dirtol`` (and of the same name when
``respectname``), sources of the same name and direction, and identical
OBSERVATION / STATE / PROCESSOR rows become one row; everything else is
appended and the ids in the main table are mapped to the merged rows.
Main-table rows are streamed in blocks (one cell shape per block).
"""

from __future__ import annotations

import os
import re

import numpy as np

from .writer import (create_main_table, row_groups_by_shape, staged_output, subtable_names,
                     unit_model)

_FREQ = {"hz": 1.0, "khz": 1e3, "mhz": 1e6, "ghz": 1e9}
_ANG = {"rad": 1.0, "deg": np.pi / 180, "arcmin": np.pi / 180 / 60,
        "arcsec": np.pi / 180 / 3600, "mas": np.pi / 180 / 3600e3}

#: columns holding ids that the merge re-maps
ID_COLUMNS = ("ANTENNA1", "ANTENNA2", "DATA_DESC_ID", "FIELD_ID", "OBSERVATION_ID",
              "STATE_ID", "PROCESSOR_ID")


def parse_quantity(text, units: dict, default: float, name: str) -> float:
    if text is None or str(text).strip() == "":
        return default
    if isinstance(text, (int, float)):
        return float(text) * units[next(iter(units))]
    m = re.fullmatch(r"\s*([-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)\s*([A-Za-z]*)\s*", str(text))
    if not m:
        raise ValueError(f"{name} '{text}' is not a quantity")
    unit = m.group(2).lower() or next(iter(units))
    if unit not in units:
        raise ValueError(f"{name} '{text}': unknown unit '{m.group(2)}'")
    return float(m.group(1)) * units[unit]


def _sub(path, name, readonly=True):
    from casacore import tables as ct
    return ct.table(os.path.join(path, name), readonly=readonly, ack=False)


def _rows(t):
    """All rows of a (small) table as a list of {col: value} (undefined cells: None)."""
    out = []
    cols = t.colnames()
    for i in range(t.nrows()):
        r = {}
        for c in cols:
            try:
                r[c] = t.getcell(c, i) if t.iscelldefined(c, i) else None
            except RuntimeError:
                r[c] = None
        out.append(r)
    return out


def _append(t, rows):
    """Append row dicts to table ``t`` (columns missing in ``t`` are skipped)."""
    if not rows:
        return
    cols = set(t.colnames())
    start = t.nrows()
    t.addrows(len(rows))
    for k, r in enumerate(rows):
        for c, v in r.items():
            if c in cols and v is not None:
                try:
                    t.putcell(c, start + k, v)
                except Exception:  # noqa: BLE001 - a cell of an odd type: leave default
                    pass


def _same(a, b, skip=()):
    for c in a:
        if c in skip or c not in b:
            continue
        x, y = a[c], b[c]
        if x is None or y is None:
            if x is not y:
                return False
            continue
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            x, y = np.asarray(x), np.asarray(y)
            if x.shape != y.shape:
                return False
            nan_ok = x.dtype.kind in "fc" and y.dtype.kind in "fc"
            if not np.array_equal(x, y, equal_nan=nan_ok):
                return False
        elif x != y and not (isinstance(x, float) and isinstance(y, float)
                             and np.isnan(x) and np.isnan(y)):
            return False
    return True


def _angle(d1, d2):
    """Angular distance between two (lon, lat) pairs in radians."""
    l1, b1 = d1
    l2, b2 = d2
    c = np.sin(b1) * np.sin(b2) + np.cos(b1) * np.cos(b2) * np.cos(l1 - l2)
    return float(np.arccos(np.clip(c, -1.0, 1.0)))


class _Merger:
    def __init__(self, out_path, first, freqtol, dirtol, respectname):
        self.out = out_path
        self.freqtol = freqtol
        self.dirtol = dirtol
        self.respectname = respectname
        self.maps = []

    def merge(self, vis, index):
        """Merge the subtables of ``vis`` into the output; return its id maps."""
        m = {}
        ant = _sub(self.out, "ANTENNA", False)
        try:
            cur = _rows(ant)
            new = []
            amap = []
            for i, r in enumerate(_rows(_sub(vis, "ANTENNA"))):
                hit = None
                pool = cur + new
                # the same row number first (unnamed placeholder antennas are alike)
                order = ([i] if i < len(pool) else []) + list(range(len(pool)))
                for j in order:
                    c = pool[j]
                    if c["NAME"] == r["NAME"] and c.get("STATION") == r.get("STATION") and \
                            np.linalg.norm(np.asarray(c["POSITION"]) -
                                           np.asarray(r["POSITION"])) < 1.0:
                        hit = j
                        break
                if hit is None:
                    new.append(r)
                    hit = len(cur) + len(new) - 1
                amap.append(hit)
            _append(ant, new)
        finally:
            ant.close()
        m["ANTENNA"] = np.array(amap, np.int64)

        spw = _sub(self.out, "SPECTRAL_WINDOW", False)
        try:
            cur = _rows(spw)
            new, smap = [], []
            for r in _rows(_sub(vis, "SPECTRAL_WINDOW")):
                hit = None
                for j, c in enumerate(cur + new):
                    # as CASA 6.7 (compared live): spws of different IF conversion
                    # chains stay apart even with equal frequencies
                    if int(c["NUM_CHAN"]) == int(r["NUM_CHAN"]) and \
                            int(c.get("MEAS_FREQ_REF", 5)) == int(r.get("MEAS_FREQ_REF", 5)) \
                            and int(c.get("IF_CONV_CHAIN", 0)) == int(r.get("IF_CONV_CHAIN", 0)) \
                            and np.max(np.abs(np.asarray(c["CHAN_FREQ"]) -
                                              np.asarray(r["CHAN_FREQ"]))) <= self.freqtol:
                        hit = j
                        break
                if hit is None:
                    new.append(r)
                    hit = len(cur) + len(new) - 1
                smap.append(hit)
            _append(spw, new)
        finally:
            spw.close()
        m["SPW"] = np.array(smap, np.int64)

        pol = _sub(self.out, "POLARIZATION", False)
        try:
            cur = _rows(pol)
            new, pmap = [], []
            for r in _rows(_sub(vis, "POLARIZATION")):
                hit = None
                for j, c in enumerate(cur + new):
                    if np.array_equal(np.asarray(c["CORR_TYPE"]), np.asarray(r["CORR_TYPE"])):
                        hit = j
                        break
                if hit is None:
                    new.append(r)
                    hit = len(cur) + len(new) - 1
                pmap.append(hit)
            _append(pol, new)
        finally:
            pol.close()

        dd = _sub(self.out, "DATA_DESCRIPTION", False)
        try:
            cur = [(int(a), int(b)) for a, b in zip(dd.getcol("SPECTRAL_WINDOW_ID"),
                                                    dd.getcol("POLARIZATION_ID"))] \
                if dd.nrows() else []
            dmap = []
            with _sub(vis, "DATA_DESCRIPTION") as ind:
                pairs = list(zip(ind.getcol("SPECTRAL_WINDOW_ID"), ind.getcol("POLARIZATION_ID")))
            for s, p in pairs:
                key = (int(m["SPW"][s]), int(pmap[p]))
                if key not in cur:
                    cur.append(key)
                    _append(dd, [{"SPECTRAL_WINDOW_ID": key[0], "POLARIZATION_ID": key[1],
                                  "FLAG_ROW": False}])
                dmap.append(cur.index(key))
        finally:
            dd.close()
        m["DATA_DESC_ID"] = np.array(dmap, np.int64)

        # SOURCE ids: same name and direction -> same id
        srcmap = {}
        if os.path.isdir(os.path.join(vis, "SOURCE")) and \
                os.path.isdir(os.path.join(self.out, "SOURCE")):
            src = _sub(self.out, "SOURCE", False)
            try:
                cur = _rows(src)
                new = []
                for r in _rows(_sub(vis, "SOURCE")):
                    sid = int(r["SOURCE_ID"])
                    if sid not in srcmap:
                        hit = None
                        for c in cur + new:
                            if c["NAME"] == r["NAME"] and _angle(
                                    np.asarray(c["DIRECTION"]), np.asarray(r["DIRECTION"])) \
                                    <= self.dirtol:
                                hit = int(c["SOURCE_ID"])
                                break
                        if hit is None:
                            ids = [int(c["SOURCE_ID"]) for c in cur + new] + \
                                list(srcmap.values())
                            hit = max(ids) + 1 if ids else 0
                        srcmap[sid] = hit
                    r = dict(r)
                    r["SOURCE_ID"] = srcmap[sid]
                    if int(r["SPECTRAL_WINDOW_ID"]) >= 0:
                        r["SPECTRAL_WINDOW_ID"] = int(m["SPW"][int(r["SPECTRAL_WINDOW_ID"])])
                    if not any(int(c["SOURCE_ID"]) == r["SOURCE_ID"] and
                               int(c["SPECTRAL_WINDOW_ID"]) == int(r["SPECTRAL_WINDOW_ID"])
                               for c in cur + new):
                        new.append(r)
                _append(src, new)
            finally:
                src.close()

        fld = _sub(self.out, "FIELD", False)
        try:
            cur = _rows(fld)
            new, fmap = [], []
            for r in _rows(_sub(vis, "FIELD")):
                r = dict(r)
                if "SOURCE_ID" in r and int(r["SOURCE_ID"]) in srcmap:
                    r["SOURCE_ID"] = srcmap[int(r["SOURCE_ID"])]
                hit = None
                for j, c in enumerate(cur + new):
                    if self.respectname and c["NAME"] != r["NAME"]:
                        continue
                    if _angle(np.asarray(c["PHASE_DIR"])[0], np.asarray(r["PHASE_DIR"])[0]) \
                            <= self.dirtol:
                        hit = j
                        break
                if hit is None:
                    new.append(r)
                    hit = len(cur) + len(new) - 1
                fmap.append(hit)
            _append(fld, new)
        finally:
            fld.close()
        m["FIELD_ID"] = np.array(fmap, np.int64)

        for name, key in (("OBSERVATION", "OBSERVATION_ID"), ("STATE", "STATE_ID"),
                          ("PROCESSOR", "PROCESSOR_ID")):
            m[key] = self._merge_identical(vis, name)

        # FEED: antenna / spw re-mapped, identical rows once
        if os.path.isdir(os.path.join(vis, "FEED")):
            feed = _sub(self.out, "FEED", False)
            try:
                cur = _rows(feed)
                new = []
                for r in _rows(_sub(vis, "FEED")):
                    r = dict(r)
                    r["ANTENNA_ID"] = int(m["ANTENNA"][int(r["ANTENNA_ID"])])
                    if int(r["SPECTRAL_WINDOW_ID"]) >= 0:
                        r["SPECTRAL_WINDOW_ID"] = int(m["SPW"][int(r["SPECTRAL_WINDOW_ID"])])
                    if not any(_same(r, c) for c in cur + new):
                        new.append(r)
                _append(feed, new)
            finally:
                feed.close()

        if index > 0:
            self._append_rows(vis, "HISTORY", {"OBSERVATION_ID": m["OBSERVATION_ID"]})
            self._append_rows(vis, "FLAG_CMD", {})
        return m

    def _merge_identical(self, vis, name):
        if not os.path.isdir(os.path.join(vis, name)) or \
                not os.path.isdir(os.path.join(self.out, name)):
            return np.zeros(0, np.int64)
        t = _sub(self.out, name, False)
        try:
            cur = _rows(t)
            new, mp = [], []
            for r in _rows(_sub(vis, name)):
                hit = None
                for j, c in enumerate(cur + new):
                    if _same(r, c):
                        hit = j
                        break
                if hit is None:
                    new.append(r)
                    hit = len(cur) + len(new) - 1
                mp.append(hit)
            _append(t, new)
        finally:
            t.close()
        return np.array(mp, np.int64)

    def _append_rows(self, vis, name, remap):
        if not os.path.isdir(os.path.join(vis, name)) or \
                not os.path.isdir(os.path.join(self.out, name)):
            return
        with _sub(vis, name) as s:
            n = s.nrows()
            if n == 0:
                return
            with _sub(self.out, name, False) as t:
                start = t.nrows()
                t.addrows(n)
                common = [c for c in s.colnames() if c in t.colnames()]
                for c in common:
                    try:
                        v = s.getcol(c)
                        if c in remap and len(remap[c]):
                            mp = remap[c]
                            v = np.where((v >= 0) & (v < len(mp)), mp[np.clip(v, 0, len(mp) - 1)],
                                         v).astype(np.int32)
                        t.putcol(c, v, start, n)
                    except RuntimeError:
                        for i in range(n):
                            if s.iscelldefined(c, i):
                                t.putcell(c, start + i, s.getcell(c, i))

    def append_pointing(self, vis, amap):
        self._append_rows(vis, "POINTING", {"ANTENNA_ID": amap})


def concat(inputs, target, freqtol=1.0, dirtol=None, respectname=False, timesort=False,
           copypointing=True, scales=None, log=None):
    """Write the concatenation of ``inputs`` to ``target`` (staged; see writer)."""
    from casacore import tables as ct

    log = log or (lambda m, p="INFO": None)
    dirtol = (np.pi / 180 / 3600e3) if dirtol is None else dirtol
    scales = list(scales or [])
    if scales and len(scales) != len(inputs):
        raise ValueError(f"visweightscale has {len(scales)} values for {len(inputs)} MSs")
    with ct.table(inputs[0], ack=False) as t0:
        colsets = []
        for v in inputs:
            with ct.table(v, ack=False) as t:
                colsets.append({c for c in t.colnames() if _has_cells(t, c)})
        common = set.intersection(*colsets)
        union = set.union(*colsets)
        # scratch columns: present in the output if any input has them; inputs without
        # them get the defaults (MODEL_DATA 1, CORRECTED_DATA = DATA), as CASA
        scratch = [c for c in ("MODEL_DATA", "CORRECTED_DATA") if c in union]
        data_cols = [c for c in ("DATA", "FLOAT_DATA", "MODEL_DATA", "CORRECTED_DATA")
                     if c in common or c in scratch]
        dropped = sorted(union - common - set(scratch))
        if dropped:
            log(f"Columns not in every input MS are not written: {', '.join(dropped)}", "WARN")
        total = 0
        for v in inputs:
            with ct.table(v, ack=False) as t:
                total += t.nrows()
        cell = t0.getcell("FLAG", 0).shape if t0.nrows() else (1, 1)
        shp = [cell[1], cell[0]]
        columns = {}
        for c in t0.colnames():
            if c in common:
                columns[c] = c
        for c in scratch:
            if c not in columns:
                columns[c] = c if c in colsets[0] else "DATA"
        shapes = {c: shp for c in columns if c in data_cols or c in
                  ("FLAG", "WEIGHT_SPECTRUM", "SIGMA_SPECTRUM")}
        for c in ("WEIGHT", "SIGMA"):
            if c in columns:
                shapes[c] = [shp[0]]
        if "FLAG_CATEGORY" in columns:
            # a required MS column (CASA's tools refuse an MS without it); written
            # empty, as the other transforms do
            shapes["FLAG_CATEGORY"] = [1] + shp
        final = target
        with staged_output(final) as tmp:
            work = tmp if not timesort else tmp + ".unsorted"
            try:
                tout = create_main_table(work, t0, columns, shapes, total)
                try:
                    for name in subtable_names(t0):
                        src = os.path.join(inputs[0], name)
                        if os.path.isdir(src):
                            with ct.table(src, ack=False) as st:
                                st.copy(os.path.join(work, name), deep=True, valuecopy=True,
                                        copynorows=(name == "POINTING" and not copypointing))
                                info = st.info()
                            with ct.table(os.path.join(work, name), readonly=False,
                                          ack=False) as dt:
                                dt.putinfo(info)
                            tout.putkeyword(name, "Table: " + os.path.join(work, name))
                    merger = _Merger(work, inputs[0], freqtol, dirtol, respectname)
                    offset = 0
                    for k, vis in enumerate(inputs):
                        if k == 0:
                            maps = {key: None for key in ID_COLUMNS}
                        else:
                            mm = merger.merge(vis, k)
                            if copypointing:
                                merger.append_pointing(vis, mm["ANTENNA"])
                            maps = {"ANTENNA1": mm["ANTENNA"], "ANTENNA2": mm["ANTENNA"],
                                    "DATA_DESC_ID": mm["DATA_DESC_ID"],
                                    "FIELD_ID": mm["FIELD_ID"],
                                    "OBSERVATION_ID": mm["OBSERVATION_ID"],
                                    "STATE_ID": mm["STATE_ID"],
                                    "PROCESSOR_ID": mm["PROCESSOR_ID"]}
                        scale = float(scales[k]) if scales else 1.0
                        offset += _copy_rows(vis, tout, [c for c in columns if c != "FLAG_CATEGORY"],
                                         maps, offset, scale)
                        log(f"Appended {vis}")
                    tout.flush()
                finally:
                    tout.close()
                if timesort:
                    with ct.table(work, ack=False) as tu:
                        srt = tu.sort("TIME")
                        srt.copy(tmp, deep=True, valuecopy=True)
                        srt.close()
                    _relink(tmp)
            finally:
                if timesort and os.path.isdir(work):
                    import shutil
                    shutil.rmtree(work, ignore_errors=True)
    return total


def _has_cells(t, col):
    """False for an array column without written cells (another program's empty
    WEIGHT_SPECTRUM or SIGMA_SPECTRUM): such a column counts as absent, as in CASA."""
    if col not in ("WEIGHT_SPECTRUM", "SIGMA_SPECTRUM") or t.nrows() == 0:
        return True
    try:
        return bool(t.iscelldefined(col, 0))
    except RuntimeError:
        return False


def _relink(path):
    from casacore import tables as ct
    with ct.table(path, readonly=False, ack=False) as t:
        for k, v in t.getkeywords().items():
            if isinstance(v, str) and v.startswith("Table: "):
                t.putkeyword(k, "Table: " + os.path.join(path, k))


def _copy_rows(vis, tout, columns, maps, offset, scale):
    from casacore import tables as ct
    with ct.table(vis, ack=False) as t:
        n = t.nrows()
        for r in row_groups_by_shape(t, step=20_000):
            start, cnt = int(r[0]), len(r)
            contiguous = int(r[-1]) - start + 1 == cnt
            ref = t if contiguous else t.selectrows(r.tolist())
            kw = dict(startrow=start, nrow=cnt) if contiguous else {}
            out_rows = offset + r
            out_contig = contiguous
            oref = tout if out_contig else tout.selectrows(out_rows.tolist())
            okw = dict(startrow=int(out_rows[0]), nrow=cnt) if out_contig else {}
            try:
                have = set(t.colnames())
                for c in columns:
                    if c in have:
                        v = ref.getcol(c, **kw)
                    elif c == "CORRECTED_DATA":
                        v = ref.getcol("DATA", **kw)
                    elif c == "MODEL_DATA":
                        v = unit_model(t, ref.getcol("DATA_DESC_ID", **kw),
                                       ref.getcol("FLAG", **kw).shape)
                    else:
                        continue
                    mp = maps.get(c)
                    if mp is not None and len(mp):
                        ok = (v >= 0) & (v < len(mp))
                        v = np.where(ok, mp[np.clip(v, 0, len(mp) - 1)], v).astype(np.int32)
                    if scale != 1.0:
                        if c in ("WEIGHT", "WEIGHT_SPECTRUM"):
                            v = (v * scale).astype(np.float32)
                        elif c in ("SIGMA", "SIGMA_SPECTRUM"):
                            v = (v / np.sqrt(scale)).astype(np.float32)
                    oref.putcol(c, v, **okw)
            finally:
                if not contiguous:
                    ref.close()
                if not out_contig:
                    oref.close()
    return n
