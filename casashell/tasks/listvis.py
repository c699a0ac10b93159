"""listvis: the selected visibilities of a MeasurementSet as a table."""

from __future__ import annotations

from ._framework import NONEMPTY, Param, task

_SEL = ["antenna", "timerange", "correlation", "scan", "feed", "array", "observation",
        "uvrange"]


@task(
    summary="List measurement set visibilities.",
    category="information",
    params=[
        Param("vis", "path", "", "Name of input visibility file"),
        Param("options", "string", "ap", "List options: ap only"),
        Param("datacolumn", "string", "data", "Column to list: data, float_data, corrected, "
              "model, residual (corrected - model)",
              allowed=["data", "float_data", "corrected", "model", "residual"]),
        Param("field", ["string", "stringVec"], "", "Field names or ids to list. ''=all"),
        Param("spw", ["string", "stringVec"], "", "Spectral windows:channels to list. ''=all"),
        Param("selectdata", "bool", True, "Other data selection parameters",
              sub={True: _SEL}),
        Param("antenna", ["string", "stringVec"], "", "Antenna/baselines to list. ''=all"),
        Param("timerange", ["string", "stringVec"], "", "Time range to list. ''=all"),
        Param("correlation", ["string", "stringVec"], "", "Correlations to list. ''=all"),
        Param("scan", ["string", "stringVec"], "", "Scan numbers to list. ''=all"),
        Param("feed", ["string", "stringVec"], "", "Multi-feed numbers (not used)"),
        Param("array", ["string", "stringVec"], "", "(Sub)array numbers. ''=all"),
        Param("observation", ["string", "int"], "", "Observation ID(s). ''=all"),
        Param("uvrange", ["string", "stringVec"], "",
              "uv range to list (default unit meters; listed UVDist is in wavelengths)"),
        Param("average", "string", "", "Accepted and ignored, as by CASA 6.7: every "
              "selected channel is listed", allowed=["", "chan"]),
        Param("showflags", "bool", False, "Accepted and ignored, as by CASA 6.7: flagged "
              "data are always listed, marked F"),
        Param("pagerows", "int", 50, "Lines per page within a chunk (column header "
              "repeated); 0: one header per chunk",
              range=(0, None)),
        Param("listfile", "newpath", "", "Write the listing to this file (not to the "
              "terminal); an existing file is not overwritten", sub={NONEMPTY: ["overwrite"]}),
        Param("overwrite", "bool", False, "Replace listfile if it exists"),
    ],
    history=None,
)
def listvis(vis, options, datacolumn, field, spw, selectdata, antenna, timerange,
            correlation, scan, feed, array, observation, uvrange, average, showflags,
            pagerows, listfile, overwrite):
    import os
    import sys

    from ..logsink import casalog
    from ..ms.selection import select
    from ..ms.core import check_ms
    from .listobs import selection_text

    path = check_ms(vis)
    if options.strip().lower() not in ("", "ap"):
        raise ValueError(f"options '{options}' is not supported (only 'ap': amplitude "
                         f"and phase)")
    out_path = None
    if listfile:
        out_path = os.path.abspath(os.path.expanduser(listfile))
        if os.path.exists(out_path) and not overwrite:
            raise FileExistsError(f"listfile {listfile} already exists; "
                                  f"set overwrite=True to replace it")
        if not os.path.isdir(os.path.dirname(out_path)):
            raise FileNotFoundError(f"listfile {listfile}: directory "
                                    f"{os.path.dirname(out_path)} does not exist")
    sel = dict(field=field, spw=spw)
    if selectdata:
        sel.update(antenna=antenna, timerange=timerange, correlation=correlation, scan=scan,
                   feed=feed, array=array, observation=observation, uvrange=uvrange)
    sel = {k: selection_text(v) for k, v in sel.items() if selection_text(v).strip()}
    selection = select(path, **sel)
    corr_text = selection_text(correlation) if selectdata else ""
    if out_path:
        tmp = f"{out_path}.tmp{os.getpid()}"
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                _list_chunks(path, selection, datacolumn, corr_text, pagerows, fh.write)
            os.replace(tmp, out_path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        casalog.post(f"Listed {selection.nrows} selected rows of {path} "
                     f"({datacolumn}) to {out_path}")
    else:
        _list_chunks(path, selection, datacolumn, corr_text, pagerows, sys.stdout.write)
        sys.stdout.flush()
        casalog.post(f"Listed {selection.nrows} selected rows of {path} ({datacolumn})")
    return None


# ---------------------------------------------------------------------------
# The listing in CASA's layout.  The selected rows are ordered by (array,
# field, data description, time, antenna1, antenna2) and cut into chunks of
# consecutive rows sharing array, field, data description, 5-minute time bin
# and baseline (so a single-baseline selection lists up to 5 minutes per
# chunk, a many-baseline one a row per chunk).  Every chunk prints its own
# preamble, column widths taken from the chunk's own maxima, its pages and a
# closing rule.

_UNITS = ("Units of columns are: Date/Time(YYMMDD/HH:MM:SS UT), UVDist(wavelength), "
          "Phase(deg), UVW(m)")


def _order(x):
    """max(1, round-half-even(log10(x) + 0.5)) as an int; 1 for x <= 0."""
    import math
    if not (x > 0) or not math.isfinite(x):
        return 1
    return max(1, int(round(math.log10(x) + 0.5)))


def _order_abs(x):
    """max(1, round-half-even(|log10(x)| + 0.5)) as an int; 1 for x <= 0."""
    import math
    if not (x > 0) or not math.isfinite(x):
        return 1
    return max(1, int(round(abs(math.log10(x)) + 0.5)))


def _fmt_g(x):
    """A float as a default-formatted C++ stream writes it (6 significant digits)."""
    return f"{float(x):g}"


def _corr_indices(text, names):
    """Which correlations are listed, in the order the user gave them."""
    import re
    if not text or not re.search("[A-Za-z]", text):
        return list(range(len(names)))
    out = []
    for tok in re.findall("[A-Za-z]{1,2}", text.upper()):
        if tok not in names:
            raise ValueError(f"correlation '{tok}' does not exist in this MS")
        out.append(names.index(tok))
    return out


def _chan_list(selection, spw, nchan):
    import numpy as np
    mask = selection.channels.get(spw) if selection.channels else None
    if mask is None:
        return np.arange(nchan)
    return np.flatnonzero(mask)


def _list_chunks(path, selection, datacolumn, corr_text, pagerows, write):
    import os

    import numpy as np
    from casacore import tables as ct

    from ..ms.listing_vis import data_columns
    from ..ms.metadata import STOKES_NAMES as _STOKES

    main = ct.table(path, ack=False)
    try:
        cols = data_columns(path, main.colnames(), datacolumn)
        is_float = cols == ("FLOAT_DATA",)
        with ct.table(os.path.join(path, "ANTENNA"), ack=False) as t:
            ant_names = [str(n) for n in t.getcol("NAME")]
        with ct.table(os.path.join(path, "DATA_DESCRIPTION"), ack=False) as t:
            dd_spw = t.getcol("SPECTRAL_WINDOW_ID")
            dd_pol = t.getcol("POLARIZATION_ID")
        with ct.table(os.path.join(path, "SPECTRAL_WINDOW"), ack=False) as t:
            ref_freq = t.getcol("REF_FREQUENCY")
            nchans = t.getcol("NUM_CHAN")
        with ct.table(os.path.join(path, "POLARIZATION"), ack=False) as t:
            corr_names = [[_STOKES.get(int(c), "?") for c in t.getcell("CORR_TYPE", i)]
                          for i in range(t.nrows())]
        rows = np.asarray(selection.rows, dtype=np.int64)
        if len(rows) == 0:
            return
        sub = main.selectrows(rows.tolist())
        try:
            time = sub.getcol("TIME")
            arr = sub.getcol("ARRAY_ID")
            fld = sub.getcol("FIELD_ID")
            ddid = sub.getcol("DATA_DESC_ID")
            a1 = sub.getcol("ANTENNA1")
            a2 = sub.getcol("ANTENNA2")
        finally:
            sub.close()
        order = np.lexsort((a2, a1, time, ddid, fld, arr))
        tbin = np.floor((time - time.min()) / 300.0).astype(np.int64)
        keys = np.stack([arr, fld, ddid, tbin, a1, a2])[:, order]
        cut = np.flatnonzero(np.any(keys[:, 1:] != keys[:, :-1], axis=0)) + 1
        bounds = np.concatenate([[0], cut, [len(order)]])
        # the polarization setup of the first selected data description
        pol0 = int(dd_pol[ddid[order[0]]])
        pols = corr_names[pol0]
        ipols = _corr_indices(corr_text, pols)
        sel_spws = sorted({int(dd_spw[d]) for d in np.unique(ddid)}) if selection.spws is None \
            else sorted(int(s) for s in selection.spws)
        chan_lists = {s: _chan_list(selection, s, int(nchans[s])) for s in sel_spws}
        multichan = any(len(c) > 1 for c in chan_lists.values())
        first_chan = int(chan_lists[sel_spws[0]][0]) if sel_spws and \
            len(chan_lists[sel_spws[0]]) else 0
        state = {"fixed": False, "date": ""}
        block = 4000                 # rows read at once (a chunk may exceed it)
        start = 0
        while start < len(bounds) - 1:
            stop = start + 1
            while stop < len(bounds) - 1 and bounds[stop + 1] - bounds[start] <= block:
                stop += 1
            grp_rows = rows[order[bounds[start]:bounds[stop]]]
            piece = main.selectrows(grp_rows.tolist())
            try:
                data = {c: piece.getcol(c) for c in cols}
                flag = piece.getcol("FLAG")
                weight = piece.getcol("WEIGHT")
                uvw = piece.getcol("UVW")
            finally:
                piece.close()
            vis = data[cols[0]] - data[cols[1]] if len(cols) == 2 else data[cols[0]]
            for g in range(start, stop):
                lo = bounds[g] - bounds[start]
                hi = bounds[g + 1] - bounds[start]
                idx = order[bounds[g]:bounds[g + 1]]
                _list_one_chunk(
                    write, state, pagerows, is_float, vis[lo:hi], flag[lo:hi],
                    weight[lo:hi], uvw[lo:hi], time[idx], fld[idx], ddid[idx],
                    [ant_names[i] for i in a1[idx]], [ant_names[i] for i in a2[idx]],
                    dd_spw, ref_freq, chan_lists, multichan, first_chan, pols, ipols)
            start = stop
    finally:
        main.close()


def _time_text(seconds):
    """'HH:MM:SS.S' of MJD seconds (rounded to 0.1 s)."""
    import numpy as np
    tenths = np.floor(np.asarray(seconds) * 10 + 0.5).astype(np.int64) % 864000
    h, rem = np.divmod(tenths, 36000)
    m, rem = np.divmod(rem, 600)
    s, f = np.divmod(rem, 10)
    return [f"{a:02d}:{b:02d}:{c:02d}.{d:d}" for a, b, c, d in zip(h, m, s, f)]


def _date_text(seconds):
    import numpy as np
    day = int(np.floor(seconds / 86400.0 + 0.5 / 864000))
    d = (np.datetime64("1858-11-17") + np.timedelta64(day, "D")).astype(str)
    return d.replace("-", "/")


def _list_one_chunk(write, state, pagerows, is_float, vis, flag, weight, uvw, time, fld,
                    ddid, names1, names2, dd_spw, ref_freq, chan_lists, multichan,
                    first_chan, pols, ipols):
    import numpy as np

    c_light = 299792458.0
    spw = np.asarray(dd_spw)[ddid]
    uvdist = np.hypot(uvw[:, 0], uvw[:, 1]) / (c_light / np.asarray(ref_freq)[spw])
    ampl = np.abs(vis).astype(np.float32)
    phase = (np.angle(vis).astype(np.float32) / np.float32(np.pi / 180.0)) \
        if not is_float else None
    weight = np.asarray(weight, dtype=np.float32)
    fmt = (lambda x: f"{float(x):.2f}") if state["fixed"] else _fmt_g
    out = [_UNITS]
    pos = ampl[ampl >= 0]
    amin, amax = (float(pos.min()) if pos.size else 0.0), float(ampl.max())
    if amin == amax:
        out.append(f"All selected data has AMPLITUDE = {fmt(amin)}")
    if not is_float:
        pa = np.abs(phase)
        if float(pa.min()) == float(pa.max()):
            out.append(f"All selected data has PHASE = {fmt(pa.min())}")
    wa = np.abs(weight)
    if float(wa.min()) == float(wa.max()):
        out.append(f"WEIGHT: {fmt(wa.min())}")
    out.append(f"FIELD: {int(fld[0])}")
    out.append(f"SPW: {int(ddid[0])}")
    if not multichan:
        out.append(f"CHANNEL: {first_chan}")
    w_time = 12
    w_a1 = max(len(n) for n in names1) + 1
    w_a2 = max(len(n) for n in names2)
    w_intrf = w_a1 + 1 + w_a2
    w_chn = 5 if multichan else 0
    w_uvd = max(_order(float(uvdist.max())), 6) + 1
    # amplitude and phase: the order is taken from |log10(max)| (so amplitudes
    # below 1 widen the column as they shrink), as CASA 6.7 lays them out
    w_amp = max(_order_abs(amax) + 1 + 3, 4) + 1
    if not is_float:
        o_ph = _order_abs(float(phase.max()))
        o_ph += 3 if float(phase.min()) < 0 else 1
        w_ph = max(o_ph + 2 + 1, 4)
    else:
        w_ph = 0
    w_wt = max(_order(float(weight.max())), 3) + 1
    w_vis = w_amp + w_ph + w_wt + 2
    w_uvw = max(_order(float(uvw.max())) + 1 + 1 + 2, 9) + 1
    total = w_intrf + w_chn + w_uvd + w_time + len(ipols) * w_vis + 1 + 3 * w_uvw
    sep = ["-"] * (total + 1)
    col = w_time
    sep[col] = "|"
    for w in [w_intrf, w_uvd] + ([w_chn] if w_chn else []):
        col += w
        sep[col] = "|"
    col += 1
    for _ in ipols:
        col += w_vis
        sep[col] = "|"
    for _ in range(3):
        col += w_uvw
        sep[col] = "|"
    sep = "".join(sep)

    def header(date):
        h1 = f"{'Date/Time:':<{w_time}}" + " " * (w_intrf + w_uvd + w_chn) + " "
        h1 += "".join(f"{'  ' + pols[p] + ':':<{w_vis}}" for p in ipols) + " " * (3 * w_uvw)
        h2 = f"{date + '/':<{w_time}}{'Intrf':>{w_intrf}}{'UVDist':>{w_uvd}}"
        if w_chn:
            h2 += f"{'Chn':>{w_chn}}"
        h2 += " "
        for _ in ipols:
            h2 += f"{'Amp':>{w_amp}}" + (f"{'Phs':>{w_ph}}" if w_ph else "") + \
                f"{'Wt':>{w_wt}}" + " F"
        h2 += f"{'U':>{w_uvw}}{'V':>{w_uvw}}{'W':>{w_uvw}}"
        return [h1, h2, sep]

    if not pagerows:
        out += header(state["date"])
    times = _time_text(time)
    count = 0
    for r in range(len(time)):
        chans = chan_lists.get(int(spw[r]))
        if chans is None:
            continue
        date = _date_text(time[r])
        lead = (f"{times[r]:>{w_time}}{names1[r]:>{w_a1}}-{names2[r]:>{w_a2}}"
                f"{uvdist[r]:>{w_uvd}.0f}")
        u = "".join(f"{x:>{w_uvw}.2f}" for x in uvw[r])
        for ch in chans:
            if pagerows and count % pagerows == 0:
                out += header(date)
            count += 1
            line = lead + (f"{int(ch):>{w_chn}d}" if w_chn else "") + ":"
            for p in ipols:
                line += f"{float(ampl[r, ch, p]):>{w_amp}.3f}"
                if w_ph:
                    line += f"{float(phase[r, ch, p]):>{w_ph}.1f}"
                line += f"{float(weight[r, p]):>{w_wt}.0f}"
                line += " F" if flag[r, ch, p] else "  "
            out.append(line + u)
        state["date"] = date
    out.append(sep)
    state["fixed"] = True
    write("\n".join(out) + "\n")
