"""mstransform: split's engine with the full set of transformations."""

from __future__ import annotations

from ._framework import Param, task
from .split import _SEL


@task(summary="Split the MS, combine/separate/regrid spws and do channel and time averaging",
      category="manipulation",
      params=[
          Param("vis", "path", "", "Name of input MeasurementSet or Multi-MS"),
          Param("outputvis", "newpath", "", "Name of output MeasurementSet or Multi-MS"),
          Param("createmms", "bool", False, "Create a Multi-MS output (as partition)",
                sub={True: ["separationaxis", "numsubms"]}),
          Param("separationaxis", "string", "auto", "Axis to do parallelization across (auto, scan, spw, baseline)"),
          Param("numsubms", ["string", "int"], "auto", "The number of Sub-MSs to create"),
          Param("tileshape", "intVec", [0], "List with 1 or 3 elements giving the tile shape of the disk data columns"),
          *_SEL,
          Param("datacolumn", "string", "corrected", "Which data column(s) to process",
                allowed=["data", "corrected", "model", "data,model,corrected", "float_data",
                         "all", "float_data,data", "data,model", "model,corrected",
                         "data,corrected", "float_data,corrected"]),
          Param("realmodelcol", "bool", False, "Make real a virtual MODEL column (not supported)"),
          Param("keepflags", "bool", True, "Keep completely flagged rows instead of dropping them"),
          Param("usewtspectrum", "bool", False, "Create WEIGHT_SPECTRUM and SIGMA_SPECTRUM columns"),
          Param("combinespws", "bool", False, "Combine the input spws into a new output spw"),
          Param("chanaverage", "bool", False, "Average data in channels", sub={True: ["chanbin"]}),
          Param("chanbin", ["int", "intVec"], 1, "Width (bin) of input channels to average to form an output channel"),
          Param("hanning", "bool", False, "Hanning smooth data to remove Gibbs ringing"),
          Param("regridms", "bool", False, "Transform channel labels and visibilities to a different frame",
                sub={True: ["mode", "nchan", "start", "width", "nspw", "interpolation",
                            "phasecenter", "restfreq", "outframe", "veltype", "preaverage"]}),
          Param("mode", "string", "channel", "Regridding mode", allowed=["channel", "frequency",
                                                                       "velocity", "channel_b"]),
          Param("nchan", "int", -1, "Number of channels in the output spw (-1=all)"),
          Param("start", ["int", "string"], 0, "Start or lower limit of the output spw"),
          Param("width", ["int", "string"], 1, "Channel width of the output spw"),
          Param("nspw", "int", 1, "Number of output spws to create in output MS"),
          Param("interpolation", "string", "linear", "Spectral interpolation method (fftshift: not supported)",
                allowed=["nearest", "linear", "cubic", "spline", "fftshift"]),
          Param("phasecenter", ["string", "int"], "", "Direction (or field id) for the spectral frame conversion (outframe)"),
          Param("restfreq", "string", "", "Rest frequency to use for output"),
          Param("outframe", "string", "", "Output reference frame ('' = keep input frame)"),
          Param("veltype", "string", "radio", "Velocity definition", allowed=["radio", "optical"]),
          Param("preaverage", "bool", False, "Pre-average channels before regridding (not supported)"),
          Param("timeaverage", "bool", False, "Average data in time",
                sub={True: ["timebin", "timespan", "maxuvwdistance"]}),
          Param("timebin", "string", "0s", "Bin width for time averaging"),
          Param("timespan", ["string", "stringVec"], "", "Span the timebin across scan, state or both"),
          Param("maxuvwdistance", "double", 0.0, "Maximum separation of start-to-end baselines (not supported)"),
          Param("docallib", "bool", False, "Enable on-the-fly calibration (not supported)"),
          Param("callib", "string", "", "Path to calibration library file"),
          Param("douvcontsub", "bool", False, "Continuum subtraction (not supported)"),
          Param("fitspw", "string", "", "Spectral window:channel selection for fitting the continuum"),
          Param("fitorder", "int", 0, "Polynomial order for the fits"),
          Param("want_cont", "bool", False, "Produce continuum estimate instead of continuum subtracted data"),
          Param("denoising_lib", "bool", True, "Use new denoising library"),
          Param("nthreads", "int", 1, "Number of OMP threads to use"),
          Param("niter", "int", 1, "Number of iterations for re-weighted linear fit"),
          Param("disableparallel", "bool", False, "Hidden parameter for internal use only"),
          Param("ddistart", "int", -1, "Hidden parameter for internal use only"),
          Param("taql", "string", "", "Table query for nested selections (a TaQL WHERE expression)"),
          Param("monolithic_processing", "bool", False, "Hidden parameter for internal use only"),
          Param("reindex", "bool", True, "Re-index the output subtables (False: keep every row and the input ids)"),
      ],
      history="outputvis")
def mstransform(vis, outputvis, createmms, separationaxis, numsubms, tileshape, field, spw,
                scan, antenna, correlation, timerange, intent, array, uvrange, observation,
                feed, datacolumn, realmodelcol, keepflags, usewtspectrum, combinespws,
                chanaverage, chanbin, hanning, regridms, mode, nchan, start, width, nspw,
                interpolation, phasecenter, restfreq, outframe, veltype, preaverage,
                timeaverage, timebin, timespan, maxuvwdistance, docallib, callib, douvcontsub,
                fitspw, fitorder, want_cont, denoising_lib, nthreads, niter, disableparallel,
                ddistart, taql, monolithic_processing, reindex):
    from ..logsink import casalog
    from ..ms.transform import Plan, run
    from ..ms.transform_params import chanbin_per_spw, make_selection, parse_combine, sel_text, \
        parse_timebin
    from ..ms.writer import check_new_output

    unsupported = [(realmodelcol, "realmodelcol=True"), (docallib, "docallib=True"),
                   (douvcontsub, "douvcontsub=True"), (preaverage, "preaverage=True"),
                   (timeaverage and maxuvwdistance > 0, "maxuvwdistance"),
                   (regridms and nspw < 1, "nspw < 1")]
    for bad, what in unsupported:
        if bad:
            raise ValueError(f"mstransform: {what} is not supported by casashell")
    tileshape = list(tileshape)
    if len(tileshape) == 1:
        if tileshape[0] not in (0, 1):
            raise ValueError("When tileshape has one element, it should be either 0 or 1.")
    elif len(tileshape) != 3:
        raise ValueError("Parameter tileshape must have 1 or 3 elements.")
    if chanaverage and isinstance(chanbin, int) and chanbin <= 1:
        raise ValueError("Parameter chanbin must be > 1 to do channel averaging")
    if timeaverage and not parse_timebin(timebin) > 0:
        raise ValueError("Parameter timebin must be > '0s' to do time averaging")
    out = check_new_output(outputvis)
    axis = str(separationaxis).strip().lower() if createmms else ""
    if createmms:
        if isinstance(numsubms, str) and numsubms.strip().isdigit():
            numsubms = int(numsubms)
        if axis not in ("auto", "scan", "spw", "baseline"):
            raise ValueError(f"separationaxis '{separationaxis}' is not one of auto, scan, "
                             f"spw, baseline")
        if not ((isinstance(numsubms, int) and not isinstance(numsubms, bool)
                 and numsubms > 0) or str(numsubms).strip().lower() == "auto"):
            raise ValueError(f"numsubms {numsubms!r} must be 'auto' or a positive integer")
    values = dict(field=field, spw=spw, scan=scan, antenna=antenna, correlation=correlation,
                  timerange=timerange, intent=intent, array=array, uvrange=uvrange,
                  observation=observation, feed=feed)
    sel = make_selection(vis, values, taql)
    cb = chanbin_per_spw(chanbin, list(sel.spws)) if chanaverage else 1
    regrid = None
    if regridms:
        if chanaverage and any(v > 1 for v in cb.values()):
            raise ValueError("mstransform: use either chanaverage or regridms (with mode="
                             "'channel' and width) to average channels, not both")
        if nspw > 1:
            # as CASA: every selected spw onto one grid (nchan is per output spw),
            # which is then cut into nspw spws
            combinespws = True
        regrid = build_regrid(vis, sel, mode, nchan * nspw if nspw > 1 and nchan > 0
                              else nchan, start, width, interpolation, restfreq,
                              outframe, veltype, combinespws, phasecenter)
    elif combinespws:
        regrid = build_regrid(vis, sel, "frequency", -1, "", "", "linear", "", "", "radio",
                              True)
    plan = Plan(vis=vis, rows=sel.rows, channels=sel.channels,
                correlations=sel.correlations, datacolumn=datacolumn, chanbin=cb,
                timebin=parse_timebin(timebin) if timeaverage else 0.0,
                combine=parse_combine(timespan, "timespan") if timeaverage else (),
                keepflags=bool(keepflags), hanning=bool(hanning), regrid=regrid,
                combinespws=bool(combinespws),
                reindex=bool(reindex), extra={"usewtspectrum": bool(usewtspectrum),
                                              "spw_text": sel_text(spw)})
    log = lambda m, p="INFO": casalog.post(m, p)  # noqa: E731

    def write(target):
        if regridms and nspw > 1:
            return _run_nspw(plan, target, nspw, bool(usewtspectrum), log)
        return run(plan, target, log=log)

    if createmms:
        info = _run_mms(write, out, axis, numsubms, log)
        casalog.post(f"Wrote the Multi-MS {out}: {info['nsubms']} sub-MSs, {info['nrows']} "
                     f"rows, separation axis '{info['axis']}'")
        return None
    info = write(out)
    casalog.post(f"Wrote {info['nrows']} rows to {out}")
    return None


def _run_mms(write, out, axis, numsubms, log):
    """createmms=True: the transformed MS is written to a hidden temporary MS, which
    partition's code (casashell.parallel.partitioning.write_mms) then cuts into the
    sub-MSs of the Multi-MS ``out``; the temporary MS is removed in any case."""
    import os
    import uuid

    from ..ms.writer import _remove
    from ..parallel.partitioning import write_mms

    parent, name = os.path.split(out)
    tmp = os.path.join(parent, f".{name}.transformed-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        write(tmp)
        return write_mms(tmp, out, {}, axis, numsubms, "all", False)
    finally:
        _remove(tmp)


def _run_nspw(plan, out, nspw, usewtspectrum, log):
    """regridms with nspw > 1: the combined spw is written to a hidden temporary MS,
    then cut into ``nspw`` spws (see transform.split_output_spw)."""
    import os
    import uuid

    from casacore import tables as ct

    from ..ms.core import column_has_data
    from ..ms.transform import nspw_counts, run, split_output_spw
    from ..ms.writer import _remove, staged_output

    total = next(iter(plan.regrid.values())).nchan
    counts = nspw_counts(total, nspw)
    with ct.table(plan.vis, ack=False) as t:
        keep_ws = usewtspectrum or column_has_data(t, "WEIGHT_SPECTRUM")
        keep_ss = keep_ws or column_has_data(t, "SIGMA_SPECTRUM")
    plan.extra["usewtspectrum"] = True      # the parts' WEIGHT/SIGMA come from it
    parent, name = os.path.split(out)
    tmp = os.path.join(parent, f".{name}.combined-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        info = run(plan, tmp, log=log)
        drop = [c for c, k in (("WEIGHT_SPECTRUM", keep_ws), ("SIGMA_SPECTRUM", keep_ss))
                if not k]
        with staged_output(out) as stage:
            split_output_spw(tmp, stage, counts, drop)
    finally:
        _remove(tmp)
    log(f"nspw={nspw}: the {total} output channels were cut into spws of "
        f"{', '.join(str(c) for c in counts)} channels")
    return {"nrows": int(info["nrows"]) * nspw}


def build_regrid(vis, sel, mode, nchan, start, width, interpolation, restfreq, outframe,
                 veltype, combine, phasecenter=""):
    """{spw: SpwRegrid} for the selected spws (one shared grid when ``combine``).

    ``phasecenter`` ('' or a field id or a direction) is the direction of the
    frame conversion (as CASA's: the data are not phase-shifted)."""
    import numpy as np
    from casacore import tables as ct

    from ..logsink import casalog
    from ..ms.transform_regrid import FRAME_CODES, FRAME_NAMES, FrameConverter, SpwRegrid, \
        make_grid, parse_phasecenter

    if interpolation not in ("linear", "nearest", "cubic", "spline"):
        raise ValueError(f"interpolation '{interpolation}' is not supported (linear, "
                         f"nearest, cubic, spline)")
    if mode == "channel_b":
        mode = "channel"
    if mode in ("frequency", "velocity"):
        # the integer defaults (start=0, width=1) mean 'from the input spw'
        if isinstance(start, int) or str(start).strip() in ("", "0"):
            start = ""
        if isinstance(width, int) or str(width).strip() in ("", "1"):
            width = ""
    with ct.table(f"{vis}/SPECTRAL_WINDOW", ack=False) as t:
        freqs = {s: t.getcell("CHAN_FREQ", s) for s in sel.spws}
        widths = {s: t.getcell("CHAN_WIDTH", s) for s in sel.spws}
        frames = {s: int(t.getcell("MEAS_FREQ_REF", s)) for s in sel.spws}
    with ct.table(vis, ack=False) as t:
        r0 = int(sel.rows[0])
        t_ref = float(t.getcell("TIME", r0))
        f_ref = int(t.getcell("FIELD_ID", r0))
    out = {}
    in_frames = {FRAME_NAMES.get(frames[s], "TOPO") for s in sel.spws}
    of = outframe.strip().upper() if outframe else ""
    if of and of not in FRAME_CODES:
        raise ValueError(f"outframe '{outframe}' is not one of {', '.join(FRAME_CODES)}")
    direction = parse_phasecenter(phasecenter)
    convs = {}
    sel_f, sel_w = {}, {}
    for s in sel.spws:
        m = np.asarray(sel.channels[s], bool)
        sel_f[s], sel_w[s] = np.asarray(freqs[s])[m], np.asarray(widths[s])[m]
        fin = FRAME_NAMES.get(frames[s], "TOPO")
        convs[s] = FrameConverter(vis, fin, of or fin, direction)
    if combine:
        if len(in_frames) > 1 and not of:
            raise ValueError("combinespws: the spws are in different frames; give outframe")
        fac = {s: convs[s].factors([t_ref], [f_ref])[0] for s in sel.spws}
        allf = np.concatenate([sel_f[s] * fac[s] for s in sel.spws])
        allw = np.concatenate([np.abs(sel_w[s]) * fac[s] for s in sel.spws])
        order = np.argsort(allf)
        gf, gw = make_grid("frequency" if mode == "channel" else mode,
                           nchan if mode != "channel" else -1,
                           start if mode != "channel" else "",
                           width if mode != "channel" else "",
                           allf[order], allw[order], restfreq, veltype, log=casalog.post)
        if mode == "channel":
            # channel mode counts the channels of the combined grid
            gf, gw = make_grid("channel", -1, start, width, gf, gw, log=casalog.post)
            if 0 < nchan < len(gf):
                gf, gw = gf[:nchan], gw[:nchan]
            elif nchan > len(gf):
                # as CASA (nspw * nchan past the band): the grid goes on, the extra
                # channels hold no data
                step = gf[-1] - gf[-2] if len(gf) > 1 else gw[-1]
                extra = gf[-1] + step * np.arange(1, nchan - len(gf) + 1)
                gf = np.concatenate([gf, extra])
                gw = np.concatenate([gw, np.full(len(extra), gw[-1])])
        for s in sel.spws:
            code = FRAME_CODES[of or FRAME_NAMES.get(frames[s], "TOPO")]
            out[s] = SpwRegrid(sel_f[s], sel_w[s], gf, gw, convs[s], interpolation, code)
        return out
    for s in sel.spws:
        fac = convs[s].factors([t_ref], [f_ref])[0]
        gf, gw = make_grid(mode, nchan, start, width, sel_f[s] * fac, sel_w[s] * fac,
                           restfreq, veltype, log=casalog.post, spw=s)
        code = FRAME_CODES[of or FRAME_NAMES.get(frames[s], "TOPO")]
        out[s] = SpwRegrid(sel_f[s], sel_w[s], gf, gw, convs[s], interpolation, code)
    return out
