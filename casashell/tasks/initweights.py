"""initweights: initialize WEIGHT, SIGMA and the spectral weight columns."""

from __future__ import annotations

from ._framework import Param, task

_MODES = ["nyq", "sigma", "weight", "ones", "delwtsp", "delsigsp", "tsys", "tinttsys"]


@task(summary="Initializes weight information in the MS",
      category="calibration",
      params=[
          Param("vis", "path", "", "Name of input visibility file (MS)"),
          Param("wtmode", "string", "nyq", "Initialization mode", allowed=_MODES,
                sub={"tsys": ["tsystable", "gainfield", "interp", "spwmap"],
                     "tinttsys": ["tsystable", "gainfield", "interp", "spwmap"]}),
          Param("tsystable", "string", "", "Tsys calibration table to apply on the fly"),
          Param("gainfield", "string", "", "Select a subset of calibrators from Tsys table "
                "(tsys modes only)"),
          Param("interp", ["string", "stringVec"], "", "Interpolation type in time[,freq]"),
          Param("spwmap", "intVec", [], "Spectral windows combinations to form for gaintables(s)"),
          Param("dowtsp", "bool", False, "Initialize the WEIGHT_SPECTRUM column"),
      ],
      history="vis")
def initweights(vis, wtmode, tsystable, gainfield, interp, spwmap, dowtsp):
    from casacore import tables as ct

    from ..logsink import casalog
    from ..ms.core import check_ms, column_has_data
    from ..ms.writer import add_array_column, row_groups_by_shape

    vis = check_ms(vis)
    mode = wtmode.lower()
    if mode in ("tsys", "tinttsys"):
        raise ValueError(f"wtmode '{wtmode}' needs Tsys calibration tables, which casashell "
                         f"does not apply; use nyq, sigma, weight, ones, delwtsp or delsigsp")
    with ct.table(vis, readonly=False, ack=False) as t:
        cols = set(t.colnames())
        if mode in ("delwtsp", "delsigsp"):
            col = "WEIGHT_SPECTRUM" if mode == "delwtsp" else "SIGMA_SPECTRUM"
            if col in cols:
                t.removecols([col])
                casalog.post(f"Removed the {col} column of {vis}")
            else:
                casalog.post(f"{vis} has no {col} column; nothing to remove", "WARN")
            return None
        if mode == "weight" and not dowtsp:
            # CASA 6.7 refuses it even when WEIGHT_SPECTRUM exists
            raise ValueError("wtmode='weight' initializes WEIGHT_SPECTRUM from WEIGHT: set "
                             "dowtsp=True")
        has_ws = column_has_data(t, "WEIGHT_SPECTRUM")
        has_ss = column_has_data(t, "SIGMA_SPECTRUM")
        new = []
        if dowtsp and not has_ws:
            new.append("WEIGHT_SPECTRUM")
        try:
            for c in new:
                if c in t.colnames():   # column present but without cells
                    t.removecols([c])
                add_array_column(t, c, like="FLAG", valuetype="float",
                                 comment="weight for each channel and correlation")
                casalog.post(f"Adding {c} column to {vis}")
            write_ws = has_ws or bool(new)
            chan_width = _chan_widths(t)
            dd_spw = _dd_spw(t)
            for r in row_groups_by_shape(t):
                start, n = int(r[0]), len(r)
                contiguous = int(r[-1]) - start + 1 == n
                ref = t if contiguous else t.selectrows(r.tolist())
                kw = dict(startrow=start, nrow=n) if contiguous else {}
                try:
                    _init_rows(ref, kw, mode, write_ws, has_ss, chan_width, dd_spw, n)
                finally:
                    if not contiguous:
                        ref.close()
            t.flush()
        except BaseException:
            for c in new:
                if c in t.colnames():
                    t.removecols([c])
            raise
    casalog.post(f"Initialized the weights of {vis} with wtmode='{mode}'"
                 + (" (WEIGHT_SPECTRUM too)" if dowtsp or has_ws else ""))
    return None


def _chan_widths(t):
    """Per spw, the channels' bandwidths for nyq: EFFECTIVE_BW, as CASA 6.7 uses
    (not CHAN_WIDTH; they differ after smoothing or averaging)."""
    from casacore import tables as ct
    with ct.table(t.getkeyword("SPECTRAL_WINDOW")[len("Table: "):], ack=False) as s:
        col = "EFFECTIVE_BW" if "EFFECTIVE_BW" in s.colnames() else "CHAN_WIDTH"
        return [abs(s.getcell(col, i)) for i in range(s.nrows())]


def _dd_spw(t):
    from casacore import tables as ct
    with ct.table(t.getkeyword("DATA_DESCRIPTION")[len("Table: "):], ack=False) as s:
        return s.getcol("SPECTRAL_WINDOW_ID")


def _inv_sqrt(w):
    import numpy as np
    w = np.asarray(w, np.float64)
    out = np.zeros_like(w)
    np.divide(1.0, np.sqrt(np.where(w > 0, w, 1.0)), out=out, where=w > 0)
    return out.astype(np.float32)


def _init_rows(ref, kw, mode, write_ws, has_ss, chan_width, dd_spw, n):
    """New WEIGHT/SIGMA(/_SPECTRUM) for one block of rows with one cell shape."""
    import numpy as np
    nchan, ncorr = ref.getcell("FLAG", kw["startrow"] if kw else 0).shape
    if mode == "nyq":
        ddid = ref.getcol("DATA_DESC_ID", **kw)
        exposure = ref.getcol("EXPOSURE", **kw).astype(np.float64)
        # autocorrelations: Δν·Δt, cross-correlations 2·Δν·Δt (as CASA 6.7; Δν the
        # channel's EFFECTIVE_BW)
        auto = ref.getcol("ANTENNA1", **kw) == ref.getcol("ANTENNA2", **kw)
        factor = np.where(auto, 1.0, 2.0)
        # one cell shape here, but possibly several spws (same NUM_CHAN, other widths)
        uniq, inv = np.unique(ddid, return_inverse=True)
        df = np.stack([np.asarray(chan_width[dd_spw[d]], np.float64) for d in uniq])[inv]
        wsp = df[:, :, None] * (factor * exposure)[:, None, None]
        wsp = np.broadcast_to(wsp, (n, nchan, ncorr))
        w = wsp.mean(axis=1)
        ref.putcol("WEIGHT", w.astype(np.float32), **kw)
        ref.putcol("SIGMA", _inv_sqrt(w), **kw)
        if write_ws:
            ref.putcol("WEIGHT_SPECTRUM", np.ascontiguousarray(wsp, np.float32), **kw)
        if has_ss:
            ref.putcol("SIGMA_SPECTRUM", _inv_sqrt(wsp), **kw)
    elif mode == "ones":
        ref.putcol("WEIGHT", np.ones((n, ncorr), np.float32), **kw)
        ref.putcol("SIGMA", np.ones((n, ncorr), np.float32), **kw)
        if write_ws:
            ref.putcol("WEIGHT_SPECTRUM", np.ones((n, nchan, ncorr), np.float32), **kw)
        if has_ss:
            ref.putcol("SIGMA_SPECTRUM", np.ones((n, nchan, ncorr), np.float32), **kw)
    elif mode == "sigma":
        sig = ref.getcol("SIGMA", **kw).astype(np.float64)
        w = np.zeros_like(sig)
        np.divide(1.0, sig * sig, out=w, where=sig > 0)
        ref.putcol("WEIGHT", w.astype(np.float32), **kw)
        if write_ws:
            if has_ss:
                ss = ref.getcol("SIGMA_SPECTRUM", **kw).astype(np.float64)
                wsp = np.zeros_like(ss)
                np.divide(1.0, ss * ss, out=wsp, where=ss > 0)
            else:
                wsp = np.broadcast_to(w[:, None, :], (n, nchan, ncorr))
            ref.putcol("WEIGHT_SPECTRUM", np.ascontiguousarray(wsp, np.float32), **kw)
    elif mode == "weight":
        w = ref.getcol("WEIGHT", **kw).astype(np.float32)
        wsp = np.broadcast_to(w[:, None, :], (n, nchan, ncorr))
        ref.putcol("WEIGHT_SPECTRUM", np.ascontiguousarray(wsp), **kw)
