"""The visibility table that listvis prints.

Rows are read in bounded chunks; within a chunk every (row, channel) line is
formatted with numpy string operations, one array per column, so there is no
Python loop over visibilities.  Lines come out in main-table row order,
channels in increasing order within a row.
"""

from __future__ import annotations

import os

import numpy as np

C_LIGHT = 299792458.0

_DATACOLS = {"data": ("DATA",), "corrected": ("CORRECTED_DATA",), "model": ("MODEL_DATA",),
             "residual": ("CORRECTED_DATA", "MODEL_DATA"), "float_data": ("FLOAT_DATA",)}


def data_columns(vis: str, colnames, datacolumn: str) -> tuple:
    dc = datacolumn.strip().lower()
    if dc not in _DATACOLS:
        raise ValueError(f"datacolumn '{datacolumn}' is not one of "
                         + ", ".join(_DATACOLS))
    cols = _DATACOLS[dc]
    for c in cols:
        if c not in colnames:
            raise ValueError(f"datacolumn '{datacolumn}': {vis} has no {c} column")
    return cols


def _fmt(fmt: str, values) -> np.ndarray:
    return np.char.mod(fmt, values)


def _join(parts) -> np.ndarray:
    out = parts[0]
    for p in parts[1:]:
        out = np.char.add(out, p)
    return out


def _date_text(seconds: np.ndarray) -> np.ndarray:
    """MJD seconds -> 'YYYY/MM/DD/HH:MM:SS.S' (vectorised)."""
    tenths = np.floor(np.asarray(seconds) * 10 + 0.5).astype(np.int64)
    days, rem = np.divmod(tenths, 864000)
    dates = (np.datetime64("1858-11-17") + days.astype("timedelta64[D]")).astype(str)
    dates = np.char.replace(dates, "-", "/")
    h, rem = np.divmod(rem, 36000)
    m, rem = np.divmod(rem, 600)
    s, f = np.divmod(rem, 10)
    return _join([dates, "/", _fmt("%02d", h), ":", _fmt("%02d", m), ":", _fmt("%02d", s),
                  ".", _fmt("%d", f)])


class VisLister:
    """Formats the selected visibilities of one MS, page by page."""

    def __init__(self, vis, selection, datacolumn="data", average="", pagerows=50,
                 chunk_rows=20000):
        from casacore import tables as ct

        from .summary import _STOKES
        self.vis = vis
        self.sel = selection
        self.average = (average or "").strip().lower()
        if self.average not in ("", "chan"):
            raise ValueError(f"average '{average}' is not supported (use '' or 'chan')")
        self.pagerows = max(0, int(pagerows))
        self.chunk_rows = chunk_rows
        self.main = ct.table(vis, ack=False)
        self.cols = data_columns(vis, self.main.colnames(), datacolumn)
        self.datacolumn = datacolumn
        with ct.table(os.path.join(vis, "ANTENNA"), ack=False) as t:
            self.ant_names = np.asarray(t.getcol("NAME"), dtype=str)
        with ct.table(os.path.join(vis, "DATA_DESCRIPTION"), ack=False) as t:
            self.dd_spw = t.getcol("SPECTRAL_WINDOW_ID")
            self.dd_pol = t.getcol("POLARIZATION_ID")
        with ct.table(os.path.join(vis, "SPECTRAL_WINDOW"), ack=False) as t:
            self.freqs = [np.asarray(t.getcell("CHAN_FREQ", i)) for i in range(t.nrows())]
        with ct.table(os.path.join(vis, "POLARIZATION"), ack=False) as t:
            self.corr_names = [[_STOKES.get(int(c), "?") for c in t.getcell("CORR_TYPE", i)]
                               for i in range(t.nrows())]
        with ct.table(os.path.join(vis, "FIELD"), ack=False) as t:
            self.field_names = list(t.getcol("NAME"))
        rows = selection.rows
        self.rows = np.asarray(rows, dtype=np.int64)

    def close(self):
        self.main.close()

    # -- layout -------------------------------------------------------------
    def _uniform(self):
        """Which of field / spw / channel are the same on every listed line."""
        dd = self._column_over_rows("DATA_DESC_ID")
        fld = self._column_over_rows("FIELD_ID")
        spws = sorted({int(self.dd_spw[d]) for d in dd})
        chans = set()
        for s in spws:
            mask = self.sel.channels.get(s)
            n = len(self.freqs[s])
            idx = np.flatnonzero(mask) if mask is not None else np.arange(n)
            chans.update(int(i) for i in idx)
        if self.average == "chan":
            chans = {-1}
        pols = sorted({int(self.dd_pol[d]) for d in dd})
        return sorted(fld), spws, sorted(chans), pols

    def _column_over_rows(self, col):
        out = set()
        for s in range(0, len(self.rows), 500000):
            part = self.rows[s:s + 500000]
            if len(part) == self.main.nrows() and s == 0:
                vals = self.main.getcol(col)
            else:
                vals = self.main.selectrows(part).getcol(col)
            out.update(np.unique(vals).tolist())
        return out

    def header_lines(self) -> list:
        fields, spws, chans, pols = self._uniform()
        self.show_fld = len(fields) > 1
        self.show_spw = len(spws) > 1
        self.show_chn = len(chans) > 1
        corr = []
        for p in pols:
            names = self.corr_names[p]
            mask = self.sel.correlations.get(p)
            sel = [n for k, n in enumerate(names) if mask is None or mask[k]]
            if len(sel) > len(corr):
                corr = sel
        self.ncorr_shown = len(corr)
        self.corr_labels = corr
        bar = "=" * 80
        out = [bar, f"           MeasurementSet Name:  {self.vis}", bar,
               f"Data column: {self.datacolumn.upper()}   Selected rows: {len(self.rows)}"]
        if not self.show_fld and fields:
            f = fields[0]
            name = self.field_names[f] if 0 <= f < len(self.field_names) else "?"
            out.append(f"All listed data are of field {f} ({name}): the Fld column is omitted")
        if not self.show_spw and spws:
            out.append(f"All listed data are in spectral window {spws[0]}: "
                       f"the SpW column is omitted")
        if not self.show_chn and chans:
            what = "averaged over the selected channels" if chans == [-1] else \
                f"of channel {chans[0]}"
            out.append(f"All listed data are {what}: the Chn column is omitted")
        return out

    def column_header(self) -> list:
        left = f"{'Date/Time (UTC)':<21s} {'Intrf':<13s} {'UVDist':>10s}"
        if self.show_fld:
            left += f" {'Fld':>4s}"
        if self.show_spw:
            left += f" {'SpW':>4s}"
        if self.show_chn:
            left += f" {'Chn':>5s}"
        top = " " * len(left)
        sub = left
        for c in self.corr_labels:
            top += f"  {c + ':':<31s}"
            sub += f"  {'Amp':>11s} {'Phs':>7s} {'Wt':>9s} F"
        rule = "-" * len(sub)
        return [top.rstrip(), sub, rule]

    # -- body -----------------------------------------------------------------
    def iter_lines(self):
        """Yield lists of body lines (no headers), chunk by chunk."""
        for s in range(0, len(self.rows), self.chunk_rows):
            rows = self.rows[s:s + self.chunk_rows]
            sub = self.main.selectrows(rows)
            dd = sub.getcol("DATA_DESC_ID")
            pieces = []
            for d in np.unique(dd):
                idx = np.flatnonzero(dd == d)
                part = sub.selectrows(idx) if len(idx) != len(rows) else sub
                pieces.append(self._format(part, int(d), idx))
            if not pieces:
                continue
            order_keys = np.concatenate([p[0] for p in pieces])
            lines = np.concatenate([p[1] for p in pieces])
            order = np.argsort(order_keys, kind="stable")
            yield lines[order].tolist()

    def _format(self, part, d, idx):
        spw = int(self.dd_spw[d])
        pol = int(self.dd_pol[d])
        freqs = self.freqs[spw]
        chmask = self.sel.channels.get(spw)
        chans = np.flatnonzero(chmask) if chmask is not None else np.arange(len(freqs))
        cmask = self.sel.correlations.get(pol)
        corrs = np.flatnonzero(cmask) if cmask is not None else \
            np.arange(len(self.corr_names[pol]))
        if self.cols == ("FLOAT_DATA",):
            vis = part.getcol("FLOAT_DATA").astype(np.complex128)
        else:
            vis = part.getcol(self.cols[0])
            if len(self.cols) == 2:
                vis = vis - part.getcol(self.cols[1])
        vis = vis[:, chans][:, :, corrs]
        flag = part.getcol("FLAG")[:, chans][:, :, corrs]
        wt = part.getcol("WEIGHT")[:, corrs] if "WEIGHT" in part.colnames() else \
            np.ones((vis.shape[0], len(corrs)))
        nrow = vis.shape[0]
        fsel = freqs[chans]
        if self.average == "chan":
            good = ~flag
            n = good.sum(axis=1)
            vsum = np.where(good, vis, 0).sum(axis=1)
            allf = n == 0
            vis = np.where(allf, vis.mean(axis=1), vsum / np.maximum(n, 1))[:, None, :]
            flag = allf[:, None, :]
            fsel = np.array([fsel.mean()])
            chan_id = np.array([-1])
        else:
            chan_id = chans
        nch = vis.shape[1]
        time = part.getcol("TIME")
        a1 = part.getcol("ANTENNA1")
        a2 = part.getcol("ANTENNA2")
        fld = part.getcol("FIELD_ID")
        uvw = part.getcol("UVW")
        uvd_m = np.hypot(uvw[:, 0], uvw[:, 1])
        # one line per (row, channel)
        r = np.repeat(np.arange(nrow), nch)
        c = np.tile(np.arange(nch), nrow)
        uvd = uvd_m[r] * fsel[c] / C_LIGHT
        intrf = np.char.add(np.char.add(self.ant_names[a1][r], "-"), self.ant_names[a2][r])
        parts = [_date_text(time)[r], " ", np.char.ljust(intrf, 13), " ",
                 _fmt("%10.1f", uvd)]
        if self.show_fld:
            parts += [" ", _fmt("%4d", fld[r])]
        if self.show_spw:
            parts += [" ", _fmt("%4d", np.full(len(r), spw))]
        if self.show_chn:
            parts += [" ", _fmt("%5d", chan_id[c])]
        v = vis.reshape(nrow * nch, len(corrs))
        fl = flag.reshape(nrow * nch, len(corrs))
        for k in range(len(corrs)):
            amp = np.abs(v[:, k])
            phs = np.degrees(np.angle(v[:, k]))
            parts += ["  ", _fmt("%11.5f", amp), " ", _fmt("%7.1f", phs), " ",
                      _fmt("%9.3g", wt[r, k]), np.where(fl[:, k], " F", "  ")]
        lines = _join(parts)
        keys = idx[r].astype(np.int64) * (1 << 24) + c
        return keys, lines

    def pages(self):
        """Yield text blocks: the header, then pages of at most pagerows lines
        (each page starting with the column header)."""
        yield "\n".join(self.header_lines())
        colhdr = "\n".join(self.column_header())
        on_page = None          # lines on the current page
        for lines in self.iter_lines():
            pos = 0
            out = []
            while pos < len(lines):
                if on_page is None or (self.pagerows and on_page >= self.pagerows):
                    out.append(colhdr)
                    on_page = 0
                room = (self.pagerows - on_page) if self.pagerows else len(lines) - pos
                take = lines[pos:pos + room]
                out.extend(take)
                on_page += len(take)
                pos += len(take)
            yield "\n".join(out)
