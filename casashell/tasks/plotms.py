"""plotms: plot visibility data of a MeasurementSet (the core of CASA's plotms).

Points are aggregated before drawing (see ``casashell.plotting.raster``):
up to 200,000 points are drawn as an exact scatter plot; more are binned on a
raster of about twice the screen resolution and drawn as an image, one solid
dot per occupied cell in the colour of the last point that fell there.
"""

from __future__ import annotations

from ._framework import Param, task

_AXES = ["", "time", "uvdist", "uvwave", "u", "v", "w", "uwave", "vwave", "wwave", "amp",
         "amplitude", "phase", "real", "imag", "channel", "chan", "frequency", "freq",
         "velocity", "antenna1", "ant1", "antenna2", "ant2", "baseline", "scan", "field",
         "spw", "corr", "weight", "wt", "flag"]
_DC = ["", "data", "corrected", "model", "residual", "corrected-model", "data-model",
       "corrected/model", "data/model"]
_SEL = ["field", "spw", "timerange", "uvrange", "antenna", "scan", "correlation", "array",
        "observation", "intent", "feed", "msselect"]
_SHAPES = ["autoscaling", "circle", "square", "diamond", "pixel", "nosymbol"]
_MARKERS = {"autoscaling": "s", "circle": "o", "square": "s", "diamond": "D", "pixel": "s",
            "nosymbol": "s"}
_LEGEND = {"": "best", "upperright": "upper right", "upperleft": "upper left",
           "lowerright": "lower right", "lowerleft": "lower left",
           "exteriorright": "center left", "exteriorleft": "center right",
           "exteriortop": "lower center", "exteriorbottom": "upper center"}
_AVG = ["avgchannel", "avgtime", "avgscan", "avgfield", "avgbaseline", "avgantenna",
        "avgspw", "scalar"]


@task(summary="Plot visibility data: amplitude, phase, uv distance, time, ... against "
              "each other", category="visualization",
      params=[
          Param("vis", "path", "", "Input MeasurementSet"),
          Param("gridrows", "int", 1, "Number of rows of plots on a page", range=(1, 10)),
          Param("gridcols", "int", 1, "Number of columns of plots on a page", range=(1, 10)),
          Param("rowindex", "int", 0, "Row of the plot on the page (no iteraxis)",
                range=(0, 9)),
          Param("colindex", "int", 0, "Column of the plot on the page (no iteraxis)",
                range=(0, 9)),
          Param("xaxis", "string", "", "X axis (default time): amp, phase, uvdist, "
                "frequency, channel, ...", allowed=_AXES),
          Param("xdatacolumn", "string", "", "Data column for a data x axis", allowed=_DC),
          Param("yaxis", "string", "", "Y axis (default amp); the same choices as xaxis",
                allowed=_AXES),
          Param("ydatacolumn", "string", "", "Data column for a data y axis (data, "
                "corrected, model, residual, ...)", allowed=_DC),
          Param("selectdata", "bool", True, "Select data with the selection parameters",
                sub={True: _SEL}),
          Param("field", ["string", "int", "intVec"], "", "Field selection"),
          Param("spw", ["string", "int", "intVec"], "", "Spectral window / channel selection"),
          Param("timerange", "string", "", "Time range selection"),
          Param("uvrange", "string", "", "UV range selection"),
          Param("antenna", ["string", "int", "intVec"], "", "Antenna/baseline selection"),
          Param("scan", ["string", "int", "intVec"], "", "Scan selection"),
          Param("correlation", "string", "", "Correlation selection (e.g. 'RR,LL')"),
          Param("array", "string", "", "Array (subarray) selection"),
          Param("observation", ["string", "int"], "", "Observation selection"),
          Param("intent", "string", "", "Scan intent selection"),
          Param("feed", "string", "", "Feed selection"),
          Param("msselect", "string", "", "TaQL expression selecting main-table rows "
                "(1-based indices as CASA: 'ANTENNA1 < 5 && UVW[1] > 100'); no mscal "
                "functions"),
          Param("averagedata", "bool", True, "Average the data with the averaging "
                "parameters", sub={True: _AVG}),
          Param("avgchannel", ["string", "int"], "", "Average this many channels"),
          Param("avgtime", ["string", "int", "double"], "", "Average over this many "
                "seconds"),
          Param("avgscan", "bool", False, "Average over scans (with avgtime)"),
          Param("avgfield", "bool", False, "Average over fields (with avgtime)"),
          Param("avgbaseline", "bool", False, "Average all baselines together"),
          Param("avgantenna", "bool", False, "Average per antenna: all baselines of an "
                "antenna together (each baseline counts for both its antennas)"),
          Param("avgspw", "bool", False, "Average the selected spectral windows together, "
                "channel by channel (they need as many channels)"),
          Param("scalar", "bool", False, "Scalar averaging (of amplitudes, phases) instead "
                "of vector averaging of complex visibilities"),
          Param("transform", "bool", True, "Frequency frame and velocity settings (False "
                "ignores freqframe, restfreq, veldef, phasecenter; default True as CASA)",
                sub={True: ["freqframe", "restfreq", "veldef", "phasecenter"]}),
          Param("freqframe", "string", "", "Frequency frame of the frequency and velocity "
                "axes: '' (as stored), LSRK, LSRD, BARY, GEO, TOPO, GALACTO, LGROUP, CMB",
                allowed=["", "LSRK", "LSRD", "BARY", "GEO", "TOPO", "GALACTO", "LGROUP",
                         "CMB", "lsrk", "lsrd", "bary", "geo", "topo", "galacto", "lgroup",
                         "cmb"]),
          Param("restfreq", "string", "", "Rest frequency for the velocity axis (e.g. "
                "'1420.405752MHz'); default: the spw reference frequency"),
          Param("veldef", "string", "RADIO", "Velocity definition",
                allowed=["RADIO", "OPTICAL", "TRUE"]),
          Param("phasecenter", "string", "", "Phase shift (not supported: must be empty)"),
          Param("iteraxis", "string", "", "Iterate plots over: field, spw, scan, baseline, "
                "antenna, corr, time", allowed=["", "field", "spw", "scan", "baseline",
                                                "antenna", "corr", "time"]),
          Param("xselfscale", "bool", False, "Iterated plots share one x range"),
          Param("yselfscale", "bool", False, "Iterated plots share one y range"),
          Param("xsharedaxis", "bool", False, "Iterated plots in a grid share the x axis "
                "(tick labels only on the bottom row; needs xselfscale)"),
          Param("ysharedaxis", "bool", False, "Iterated plots in a grid share the y axis "
                "(tick labels only on the left column; needs yselfscale)"),
          Param("coloraxis", "string", "", "Colour points by: spw, field, antenna1, "
                "antenna2, baseline, corr, scan, time, channel",
                allowed=["", "spw", "field", "antenna1", "antenna2", "baseline", "corr",
                         "scan", "time", "channel"]),
          Param("showflags", "bool", False, "Also plot flagged points (in red)"),
          Param("customsymbol", "bool", False, "Use symbolshape/symbolcolor for the "
                "unflagged points", sub={True: ["symbolshape", "symbolsize", "symbolcolor",
                                                "symbolfill", "symboloutline"]}),
          Param("symbolshape", "string", "autoscaling", "Shape of the points",
                allowed=_SHAPES),
          Param("symbolsize", "int", 0, "Size of the points in pixels (0: automatic, "
                "larger for fewer points as CASA's 'autoscaling' symbol)", range=(0, 20)),
          Param("symbolcolor", "string", "0000ff", "Colour of the points (hex RRGGBB or a "
                "name) when there is no coloraxis"),
          Param("symbolfill", "string", "fill", "Accepted for compatibility"),
          Param("symboloutline", "bool", False, "Accepted for compatibility"),
          Param("customflaggedsymbol", "bool", False, "Show flagged points with "
                "flaggedsymbolshape/flaggedsymbolcolor (CASA's way of showing flags)",
                sub={True: ["flaggedsymbolshape", "flaggedsymbolsize", "flaggedsymbolcolor",
                            "flaggedsymbolfill", "flaggedsymboloutline"]}),
          Param("flaggedsymbolshape", "string", "circle", "Shape of flagged points "
                "('nosymbol' hides them)", allowed=_SHAPES),
          Param("flaggedsymbolsize", "int", 2, "Size of flagged points in pixels",
                range=(1, 20)),
          Param("flaggedsymbolcolor", "string", "ff0000", "Colour of flagged points"),
          Param("flaggedsymbolfill", "string", "fill", "Accepted for compatibility"),
          Param("flaggedsymboloutline", "bool", False, "Accepted for compatibility"),
          Param("plotrange", "doubleVec", [], "[xmin, xmax, ymin, ymax]; a pair of equal "
                "values leaves that axis automatic"),
          Param("title", "string", "", "Plot title (default '<y> vs. <x>')"),
          Param("titlefont", "int", 0, "Title font size (0: automatic)", range=(0, 60)),
          Param("xlabel", "string", "", "X axis label"),
          Param("xaxisfont", "int", 0, "X axis label font size (0: automatic)",
                range=(0, 60)),
          Param("ylabel", "string", "", "Y axis label"),
          Param("yaxisfont", "int", 0, "Y axis label font size (0: automatic)",
                range=(0, 60)),
          Param("yaxislocation", "string", "", "Y axis on the 'left' (default) or 'right'",
                allowed=["", "left", "right"]),
          Param("showmajorgrid", "bool", False, "Show major grid lines"),
          Param("showlegend", "bool", False, "Show a legend of the colours",
                sub={True: ["legendposition"]}),
          Param("legendposition", "string", "", "Legend position: upperRight, upperLeft, "
                "lowerRight, lowerLeft, exteriorRight, exteriorLeft, exteriorTop, "
                "exteriorBottom", allowed=list(_LEGEND)[0:1] + ["upperRight", "upperLeft",
                "lowerRight", "lowerLeft", "exteriorRight", "exteriorLeft", "exteriorTop",
                "exteriorBottom"]),
          Param("plotfile", "newpath", "", "Export the plot to this file"),
          Param("expformat", "string", "", "Export format: png, pdf, jpg, ps, svg "
                "(default from the plotfile extension)",
                allowed=["", "png", "pdf", "jpg", "jpeg", "ps", "eps", "svg"]),
          Param("exprange", "string", "current", "Export the first page ('current') or "
                "every page ('all') of an iterated plot", allowed=["current", "all"]),
          Param("verbose", "bool", True, "Log the export"),
          Param("highres", "bool", False, "Export at twice the resolution"),
          Param("dpi", "int", -1, "Resolution of the exported image (-1: 100)"),
          Param("width", "int", -1, "Width of the exported image in pixels (-1: 800)"),
          Param("height", "int", -1, "Height of the exported image in pixels (-1: 600)"),
          Param("overwrite", "bool", False, "Overwrite an existing plotfile"),
          Param("showgui", "bool", True, "Show the plot in a window when there is a display"),
          Param("clearplots", "bool", True, "Start a new figure (False: add to the previous "
                "plotms figure of the same grid: another panel, or an overplot with "
                "plotindex > 0)"),
          Param("plotindex", "int", 0, "Index of the plot in its panel: > 0 draws over the "
                "previous plotms plot (with clearplots=False)", range=(0, 15)),
          Param("callib", ["string", "stringVec"], "", "On-the-fly calibration (not "
                "supported: must be empty)"),
          Param("headeritems", "string", "", "Page header items, comma separated: "
                "filename, ycolumn, obsdate, obstime, observer, projid, telescope, "
                "targname, targdir"),
          Param("showatm", "bool", False, "Atmospheric transmission overlay (not "
                "supported: must be False)"),
          Param("showtsky", "bool", False, "Sky temperature overlay (not supported: must "
                "be False)"),
      ],
      history=None)
def plotms(vis, gridrows, gridcols, rowindex, colindex, xaxis, xdatacolumn, yaxis,
           ydatacolumn, selectdata, field, spw, timerange, uvrange, antenna, scan,
           correlation, array, observation, intent, feed, msselect, averagedata, avgchannel,
           avgtime, avgscan, avgfield, avgbaseline, avgantenna, avgspw, scalar, restfreq,
           transform, freqframe, veldef, phasecenter,
           iteraxis, xselfscale, yselfscale, xsharedaxis, ysharedaxis, coloraxis, showflags,
           customsymbol, symbolshape, symbolsize, symbolcolor, symbolfill, symboloutline,
           customflaggedsymbol, flaggedsymbolshape, flaggedsymbolsize, flaggedsymbolcolor,
           flaggedsymbolfill, flaggedsymboloutline, plotrange, title, titlefont, xlabel,
           xaxisfont, ylabel, yaxisfont, yaxislocation, showmajorgrid, showlegend,
           legendposition, plotfile, expformat, exprange, verbose, highres, dpi, width,
           height, overwrite, showgui, clearplots, plotindex, callib, headeritems, showatm,
           showtsky):
    import os
    import time as _time
    import numpy as np
    from ..logsink import casalog
    from .. import plotting
    from ..plotting import msdata, raster
    from ..ms.core import check_ms
    from ..ms.selection import select

    t_start = _time.time()
    check_ms(vis)
    xaxis = msdata.canonical_axis(xaxis, "xaxis") or "time"
    yaxis = msdata.canonical_axis(yaxis, "yaxis") or "amp"
    xdc = (xdatacolumn or "data").lower()
    ydc = (ydatacolumn or "data").lower()
    msselect = (msselect or "").strip() if selectdata else ""
    if "mscal" in msselect.lower():
        raise ValueError(f"msselect '{msselect}': TaQL mscal functions (mscal.time(), "
                         f"mscal.scan(), ...) are not supported (they crash python-casacore); "
                         f"use the selection parameters (timerange, scan, ...) instead")
    if averagedata and avgantenna and avgbaseline:
        raise ValueError("avgantenna and avgbaseline cannot both be True (average per "
                         "antenna or over all baselines)")
    if callib:
        raise ValueError("callib (on-the-fly calibration) is not supported; apply the "
                         "calibration first")
    if showatm or showtsky:
        raise ValueError("showatm/showtsky overlays are not supported")
    if transform and phasecenter:
        raise ValueError("phasecenter (phase shifting) is not supported")
    if not transform:
        restfreq, veldef, freqframe = "", "RADIO", ""
    freqframe = (freqframe or "").upper()
    if freqframe == "REST":
        raise ValueError("freqframe 'REST' needs a source velocity; it is not supported")
    show_flagged = showflags or (customflaggedsymbol and flaggedsymbolshape != "nosymbol")
    flag_color = "#" + flaggedsymbolcolor.lstrip("#") if customflaggedsymbol and \
        _is_hex(flaggedsymbolcolor) else (flaggedsymbolcolor if customflaggedsymbol
                                          else raster.FLAGGED_COLOR)
    point_color = None
    if customsymbol:
        point_color = "#" + symbolcolor.lstrip("#") if _is_hex(symbolcolor) else symbolcolor
        _check_color(point_color, "symbolcolor")
    _check_color(flag_color, "flaggedsymbolcolor")
    if not customsymbol:
        symbolshape = "autoscaling"
    if highres:
        dpi = (100 if dpi <= 0 else dpi) * 2
    if plotrange and len(plotrange) != 4:
        raise ValueError(f"plotrange must be [xmin, xmax, ymin, ymax], got {plotrange}")
    if not iteraxis and (rowindex >= gridrows or colindex >= gridcols):
        raise ValueError(f"rowindex/colindex ({rowindex}, {colindex}) outside the "
                         f"{gridrows}x{gridcols} grid")
    plotfile = os.path.expanduser(plotfile) if plotfile else ""
    if plotfile:
        fmt = plotting.output_format(plotfile, expformat)
        first = _page_file(plotfile, fmt, 0, 1)
        if os.path.exists(first) and not overwrite:
            raise FileExistsError(f"plot file {first} exists and overwrite=False")

    def text(v):
        if isinstance(v, (list, tuple)):
            return ",".join(str(x) for x in v)
        return str(v)

    selargs = dict(field=text(field), spw=text(spw), timerange=timerange, uvrange=uvrange,
                   antenna=text(antenna), scan=text(scan), correlation=correlation,
                   array=array, observation=text(observation), intent=intent, feed=feed)
    if not selectdata:
        selargs = {}
    sel = select(vis, **selargs)
    if msselect:
        sel = _apply_msselect(vis, sel, msselect)
    if not averagedata:
        avgchannel, avgtime, avgscan, avgfield, avgbaseline, scalar = "", "", False, False, \
            False, False
        avgantenna, avgspw = False, False
    req = msdata.Request(
        xaxis, yaxis, xdc, ydc, avgchannel=msdata.parse_nchan(avgchannel),
        avgtime=msdata.parse_seconds(avgtime, "avgtime"), avgscan=avgscan,
        avgfield=avgfield, avgbaseline=avgbaseline, scalar=scalar,
        coloraxis=coloraxis.lower(), iteraxis=iteraxis.lower(), showflags=show_flagged,
        restfreq=_restfreq(restfreq), veldef=veldef.upper(), avgantenna=avgantenna,
        avgspw=avgspw, freqframe=freqframe)
    if (avgscan or avgfield) and req.avgtime == 0:
        casalog.post("avgscan/avgfield have no effect without avgtime", "WARN")
    ctx = msdata.Context(vis)
    ctx.freqframe = req.freqframe
    header = _header_items(headeritems, vis, sel, ctx, yaxis, req.ydc)
    if req.converts_frequency:
        frames = sorted({(ctx.spws[s].frame or "TOPO").upper() for s in sel.spws})
        casalog.post(f"frequencies converted from {', '.join(frames)} to {req.freqframe} "
                     f"at each row's time and field direction")

    width = 800 if width <= 0 else width
    height = 600 if height <= 0 else height
    dpi = 100 if dpi <= 0 else dpi
    ppp = gridrows * gridcols
    panel_px = (max(50, int(width / gridcols * 0.8)), max(50, int(height / gridrows * 0.75)))
    expected = _expected_iterations(req.iteraxis, sel, ctx)
    # memory for rasters (16 bytes a cell): at most ~20 million cells over all panels
    scale = 2.0 if not req.iteraxis else 1.0
    cells = panel_px[0] * panel_px[1] * scale * scale
    if cells * expected > 20e6:
        scale *= float(np.sqrt(20e6 / (cells * expected)))
    nx = max(64, int(panel_px[0] * scale))
    ny = max(48, int(panel_px[1] * scale))
    keep = max(2000, 200_000 // max(1, expected))   # points kept for exact scatters
    fixed_x = fixed_y = None
    if plotrange:
        if plotrange[0] != plotrange[1]:
            fixed_x = (min(plotrange[:2]), max(plotrange[:2]))
        if plotrange[2] != plotrange[3]:
            fixed_y = (min(plotrange[2:]), max(plotrange[2:]))
    panels = {}
    nbatch = 0
    for batch in msdata.iter_points(vis, sel, req, ctx,
                                    log=lambda m, p="INFO": casalog.post(m, p)):
        nbatch += 1
        for v, part in _split_by_iteration(batch):
            if v == -1 and req.iteraxis == "antenna":
                continue
            p = panels.get(v)
            if p is None:
                p = panels[v] = raster.Panel(nx, ny, keep_points=keep, xfixed=fixed_x,
                                             yfixed=fixed_y)
            flag = part["flag"]
            p.add(part["x"], part["y"], part["cat"], flag, None if show_flagged else ~flag)
    total = sum(p.npoints for p in panels.values())
    nflag = sum(p.nflagged for p in panels.values())
    if total + nflag == 0:
        casalog.post("no unflagged data to plot (all selected data are flagged; "
                     "showflags=True plots them)", "WARN")
    it_values = sorted(panels) if panels else [0]
    npages = max(1, -(-len(it_values) // ppp)) if req.iteraxis else 1
    cats = sorted({c for p in panels.values() for c in p.categories})
    colors = raster.category_colors(cats, bool(req.coloraxis))
    if point_color and not req.coloraxis:
        colors = {c: point_color for c in colors}
    casalog.post(f"Plotting {total} points{f' and {nflag} flagged points' if nflag else ''} "
                 f"of {yaxis} vs. {xaxis} from {sel.nrows} rows"
                 + (f" in {len(it_values)} iterations on {npages} page(s)"
                    if req.iteraxis else ""))

    xr = _union([p.xrange for p in panels.values()])
    yr = _union([p.yrange for p in panels.values()])
    pages_to_draw = range(npages) if (plotfile and exprange == "all") else range(1)
    info = dict(npoints=total, nflagged=nflag, nrows=sel.nrows, xaxis=xaxis, yaxis=yaxis,
                npages=npages, pages=[], files=[], colors={int(k): v for k, v in colors.items()},
                categories=cats, category_labels={int(c): _cat_label(req.coloraxis, c, ctx)
                                                  for c in cats}, header=header)
    # clearplots=False: draw into the previous plotms figure (another panel, or over a
    # panel with plotindex > 0)
    reuse = None
    if not clearplots and not req.iteraxis:
        prev = plotting.LAST if plotting.LAST.get("task") == "plotms" else {}
        pinfo = prev.get("info", {})
        if prev.get("figure") is not None and pinfo.get("grid") == (gridrows, gridcols) \
                and not pinfo.get("iterated"):
            reuse = prev
    if plotindex > 0 and reuse is None:
        raise ValueError("plotindex > 0 draws over the previous plotms plot: make that plot "
                         "first (same gridrows/gridcols, no iteraxis) and pass "
                         "clearplots=False")
    if plotindex > 0 and not req.coloraxis and not customsymbol:
        colors = {c: raster.PALETTE[plotindex % len(raster.PALETTE)] for c in colors}
    slots_axes = dict(reuse["info"].get("slots", {})) if reuse else {}
    figures = []
    for page in pages_to_draw:
        interactive_page = showgui and page == 0
        if reuse is not None:
            fig = reuse["figure"]
            interactive = hasattr(fig, "_casashell_window")
        else:
            fig, interactive = plotting.new_figure(figsize=(width / dpi, height / dpi),
                                                   dpi=dpi, showgui=interactive_page,
                                                   outfile_param="plotfile" if plotfile
                                                   else None)
        page_info = []
        if req.iteraxis:
            vals = it_values[page * ppp:(page + 1) * ppp]
            slots = [(i // gridcols, i % gridcols, v) for i, v in enumerate(vals)]
        else:
            slots = [(rowindex, colindex, it_values[0])]
        for r, c, v in slots:
            over = reuse is not None and (r, c) in slots_axes
            if over:
                ax = slots_axes[(r, c)]
                old_x, old_y = ax.get_xlim(), ax.get_ylim()
            else:
                ax = fig.add_subplot(gridrows, gridcols, r * gridcols + c + 1)
                if not req.iteraxis:
                    slots_axes[(r, c)] = ax
            p = panels.get(v)
            mode = "empty"
            if p is not None:
                size = symbolsize or (5 if p.total <= 2000 else 3 if p.total <= 50000 else 2)
                if symbolshape == "pixel":
                    size = 1
                if symbolshape == "nosymbol":
                    p.points, p.grid = [], raster.Grid(1, 1)
                mode = raster.render(ax, p, colors, panel_px, markersize=size, dpi=dpi,
                                     marker=_MARKERS[symbolshape], flagged_color=flag_color,
                                     flagged_marker=_MARKERS[flaggedsymbolshape]
                                     if customflaggedsymbol else "s",
                                     interactive=interactive)
            lx, ly = _limits(p.xrange if p else [0, 1], fixed_x, xr if xselfscale else None), \
                _limits(p.yrange if p else [0, 1], fixed_y, yr if yselfscale else None)
            if over:  # the panel shows both plots
                if fixed_x is None:
                    lx = (min(lx[0], old_x[0]), max(lx[1], old_x[1]))
                if fixed_y is None:
                    ly = (min(ly[0], old_y[0]), max(ly[1], old_y[1]))
            ax.set_xlim(*lx)
            ax.set_ylim(*ly)
            ax.set_xlabel(xlabel or _axis_label(xaxis, req.xdc),
                          fontsize=xaxisfont or None)
            ax.set_ylabel(ylabel or _axis_label(yaxis, req.ydc),
                          fontsize=yaxisfont or None)
            if yaxislocation == "right":
                ax.yaxis.tick_right()
                ax.yaxis.set_label_position("right")
            if req.iteraxis and xsharedaxis and xselfscale and r < gridrows - 1 and \
                    (r + 1) * gridcols + c < len(slots):
                ax.tick_params(labelbottom=False)
                ax.set_xlabel("")
            if req.iteraxis and ysharedaxis and yselfscale and c > 0:
                ax.tick_params(labelleft=False)
                ax.set_ylabel("")
            if xaxis == "time":
                _time_ticks(ax)
            if yaxis == "time":
                _time_ticks(ax, "y")
            ttl = title or f"{_axis_name(yaxis)} vs. {_axis_name(xaxis)}"
            if req.iteraxis:
                ttl += f"  {_iter_label(req.iteraxis, v, ctx)}"
            ax.set_title(ttl, fontsize=titlefont or (10 if ppp == 1 else 8))
            if showmajorgrid:
                ax.grid(True, alpha=0.4)
            if showlegend and req.coloraxis and p is not None:
                from matplotlib.patches import Patch
                present = sorted(p.categories)
                ax.legend(handles=[Patch(color=colors[k], label=_cat_label(req.coloraxis, k,
                                                                           ctx))
                                   for k in present[:30]], fontsize=7,
                          loc=_LEGEND[legendposition.lower()],
                          **({"bbox_to_anchor": _LEGEND_ANCHOR[legendposition.lower()]}
                             if legendposition.lower().startswith("exterior") else {}))
            page_info.append(dict(iteration=v if req.iteraxis else None,
                                  label=_iter_label(req.iteraxis, v, ctx) if req.iteraxis
                                  else "", axes=ax, mode=mode,
                                  npoints=p.npoints if p else 0,
                                  nflagged=p.nflagged if p else 0,
                                  xrange=list(p.xrange) if p else None,
                                  yrange=list(p.yrange) if p else None,
                                  xlim=tuple(lx), ylim=tuple(ly),
                                  categories=dict(p.categories) if p else {}))
        if header and reuse is None:
            top = _draw_header(fig, header, height)
            fig.tight_layout(rect=(0, 0, 1, top))
        elif reuse is not None and reuse["info"].get("header"):
            fig.tight_layout(rect=(0, 0, 1, reuse["info"].get("header_top", 1.0)))
        else:
            fig.tight_layout()
        info["pages"].append(page_info)
        figures.append(fig)
        if plotfile:
            path = _page_file(plotfile, fmt, page, npages if exprange == "all" else 1)
            written = plotting.save_figure(fig, path, fmt, overwrite=overwrite, dpi=dpi)
            info["files"].append(written)
            if verbose:
                casalog.post(f"Plot exported to {written}")
        if interactive:
            if reuse is not None:
                fig.canvas.draw_idle()
            else:
                plotting.show(fig)
    info["grid"] = (gridrows, gridcols)
    if reuse is not None and not header:
        info["header"] = reuse["info"].get("header", [])
    info["header_top"] = _header_top(info["header"], height) if info["header"] else 1.0
    info["iterated"] = bool(req.iteraxis)
    info["slots"] = slots_axes
    plotting.LAST.clear()
    plotting.LAST.update(task="plotms", figure=figures[0], figures=figures, info=info)
    casalog.post(f"plotms finished in {_time.time() - t_start:.2f} s", "INFO1")
    return True


_LEGEND_ANCHOR = {"exteriorright": (1.02, 0.5), "exteriorleft": (-0.15, 0.5),
                  "exteriortop": (0.5, 1.08), "exteriorbottom": (0.5, -0.15)}


def _is_hex(text):
    t = text.lstrip("#")
    return len(t) == 6 and all(ch in "0123456789abcdefABCDEF" for ch in t)


def _check_color(c, what):
    from matplotlib.colors import is_color_like
    if not is_color_like(c):
        raise ValueError(f"{what} '{c}' is not a colour (use RRGGBB hex or a name)")


def _apply_msselect(vis, sel, expr):
    """The selection restricted to the rows a TaQL WHERE expression selects.

    As CASA's msselect the expression is evaluated in TaQL's Glish style: array
    indices start at 1 and run in the table's (Fortran) axis order, so UVW[1] is u
    and FLAG[1,1] the first correlation of the first channel."""
    import numpy as np
    from ..ms.core import open_ms
    from ..ms.selection import Selection, SelectionError
    t = open_ms(vis)
    try:
        try:
            sub = t.query(expr, style="Glish")
        except RuntimeError as exc:
            raise SelectionError(f"msselect '{expr}': "
                                 f"{str(exc).strip().splitlines()[0]}") from None
        try:
            taql_rows = np.asarray(sub.rownumbers(), dtype=np.int64)
        finally:
            sub.close()
    finally:
        t.close()
    rows = np.intersect1d(sel.rows, taql_rows, assume_unique=True)
    if len(rows) == 0:
        given = ", ".join(f"{k}='{v}'" for k, v in (sel.params or {}).items()
                          if v not in ("", None, False))
        raise SelectionError(f"selection msselect='{expr}'" + (f", {given}" if given else "")
                             + f" matches no rows of {vis}")
    if len(rows) == len(sel.rows):
        return sel
    return Selection(vis, rows, sel.channels, sel.correlations, sel.spws, sel.ddids,
                     params=dict(sel.params or {}, msselect=expr), total_rows=sel.total_rows)


_HEADER_LABELS = {"filename": "File", "ycolumn": "Y Column(s)",
                  "obsdate": "Observation date", "obstime": "Observation time",
                  "observer": "Observer", "projid": "Project ID", "telescope": "Telescope",
                  "targname": "Target name", "targdir": "Target direction"}


def _header_items(text, vis, sel, ctx, yaxis, ydc):
    """[(label, value)] of the page header items named in ``text``, in that order."""
    import datetime
    import os
    items = [w.strip().lower() for w in (text or "").split(",") if w.strip()]
    bad = [w for w in items if w not in _HEADER_LABELS]
    if bad:
        raise ValueError(f"headeritems: unknown item '{bad[0]}'; use "
                         f"{', '.join(_HEADER_LABELS)}")
    if not items:
        return []
    md = ctx.md
    obs_ids = sel.observations if len(sel.rows) else []
    obs = md.observations[int(obs_ids[0])] if len(obs_ids) and md.observations else None
    start = float(obs.time_range[0]) if obs is not None and obs.time_range[0] > 0 else \
        float(md.time_range[0])
    t0 = datetime.datetime(1858, 11, 17) + datetime.timedelta(seconds=round(start / 60) * 60)
    fields = sel.fields if len(sel.rows) else []
    fld = md.fields[int(fields[0])] if len(fields) else None
    out = []
    for w in items:
        if w == "filename":
            v = os.path.basename(os.path.normpath(vis))
        elif w == "ycolumn":
            v = _axis_name(yaxis) + (f":{ydc}" if yaxis in ("amp", "phase", "real", "imag")
                                     else "")
        elif w == "obsdate":
            v = t0.strftime("%d %b %Y")
        elif w == "obstime":
            v = t0.strftime("%H:%M") + " UTC"
        elif w == "observer":
            v = obs.observer if obs is not None else ""
        elif w == "projid":
            v = obs.project if obs is not None else ""
        elif w == "telescope":
            v = obs.telescope if obs is not None else ""
        elif w == "targname":
            v = fld.name if fld is not None else ""
        else:
            v = _direction_text(fld) if fld is not None else ""
        out.append((_HEADER_LABELS[w], v))
    return out


def _direction_text(fld):
    """'hh:mm:ss.sss +dd.mm.ss.ss FRAME' of a field's phase centre."""
    import numpy as np
    ra, dec = (float(x) for x in np.asarray(fld.direction, float).ravel()[:2])
    h = (np.degrees(ra) / 15.0) % 24.0
    hh, rem = int(h), (h - int(h)) * 60
    mm, ss = int(rem), (rem - int(rem)) * 60
    if round(ss, 3) >= 60:
        ss, mm = 0.0, mm + 1
    if mm >= 60:
        mm, hh = mm - 60, (hh + 1) % 24
    d = abs(np.degrees(dec))
    dd, rem = int(d), (d - int(d)) * 60
    dm, ds = int(rem), (rem - int(rem)) * 60
    if round(ds, 2) >= 60:
        ds, dm = 0.0, dm + 1
    if dm >= 60:
        dm, dd = dm - 60, dd + 1
    sign = "-" if dec < 0 else "+"
    frame = getattr(fld, "direction_ref", None) or "J2000"
    return f"{hh:02d}:{mm:02d}:{ss:06.3f} {sign}{dd:02d}.{dm:02d}.{ds:05.2f} {frame}"


def _header_top(header, height_px):
    """Fraction of the figure height left for the plots under the header."""
    nlines = -(-len(header) // 2)
    return max(0.5, 1.0 - (nlines * 18 + 8) / float(height_px))


def _draw_header(fig, header, height_px):
    """The header items in two columns (filled row by row) above the plots; returns
    the top of the plot area (figure fraction)."""
    for i, (label, value) in enumerate(header):
        row, col = divmod(i, 2)
        y = 1.0 - (row * 18 + 6) / float(height_px)
        fig.text(0.01 + 0.5 * col, y, f"{label}: {value}", ha="left", va="top",
                 fontsize=9, gid="casashell-header")
    return _header_top(header, height_px)


def _split_by_iteration(batch):
    """Yield (iteration value, sub-batch): the batch's arrays cut along the one axis on
    which the iteration key varies (rows, or correlations), with one sort."""
    import numpy as np
    it = np.asarray(batch["it"])
    shape = np.broadcast_shapes(*(np.shape(batch[k]) for k in ("x", "y", "cat", "flag")))
    varying = [k for k, n in enumerate(it.shape) if n > 1]
    if not varying:
        yield int(it.ravel()[0]), batch
        return
    k = varying[0]
    key = it.reshape(-1) if it.ndim == 1 else np.moveaxis(it, k, 0).reshape(it.shape[k], -1)[:, 0]
    order = np.argsort(key, kind="stable")
    sk = key[order]
    starts = np.concatenate([[0], np.nonzero(np.diff(sk))[0] + 1, [len(sk)]])
    if len(starts) == 2:
        yield int(sk[0]), batch
        return
    full = {name: (np.broadcast_to(batch[name], shape) if name == "flag" else batch[name])
            for name in ("x", "y", "cat", "flag")}
    for a, b in zip(starts[:-1], starts[1:]):
        idx = order[a:b]
        part = {}
        for name, arr in full.items():
            arr = np.asarray(arr)
            part[name] = np.take(arr, idx, axis=k) if arr.shape[k] > 1 else arr
        yield int(sk[a]), part


def _restfreq(text):
    if not text:
        return None
    from casacore.quanta import quantity
    try:
        return float(quantity(text).get_value("Hz"))
    except Exception:  # noqa: BLE001
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"restfreq '{text}' is not a frequency") from None


def _expected_iterations(axis, sel, ctx):
    if not axis:
        return 1
    if axis == "field":
        return max(1, len(sel.fields))
    if axis == "spw":
        return max(1, len(sel.spws))
    if axis == "scan":
        return max(1, len(sel.scans))
    if axis == "corr":
        return max(1, max(int(m.sum()) for m in sel.correlations.values()))
    if axis == "antenna":
        return max(1, len(sel.antennas))
    if axis == "baseline":
        n = len(sel.antennas)
        return max(1, n * (n + 1) // 2)
    return 100


def _union(ranges):
    import numpy as np
    lo = min((r[0] for r in ranges), default=np.inf)
    hi = max((r[1] for r in ranges), default=-np.inf)
    return [lo, hi]


def _limits(rng, fixed, shared):
    import numpy as np
    if fixed is not None:
        return fixed
    lo, hi = (shared if shared is not None else rng)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return (0.0, 1.0)
    span = hi - lo
    pad = span * 0.05 if span > 0 else max(abs(lo) * 0.05, 0.5)
    return (lo - pad, hi + pad)


def _axis_name(ax):
    from ..plotting.msdata import AXES
    return AXES[ax][0]


def _axis_label(ax, dc):
    from ..plotting.msdata import AXES, DATA_AXES
    name, unit = AXES[ax]
    if ax in DATA_AXES:
        name = f"{name}:{dc}"
    return f"{name} ({unit})" if unit else name


def _time_ticks(ax, which="x"):
    import datetime
    from matplotlib.ticker import FuncFormatter

    axis = ax.xaxis if which == "x" else ax.yaxis

    def fmt(v, pos=None):
        t = datetime.datetime(1858, 11, 17) + datetime.timedelta(seconds=float(v))
        lo, hi = axis.get_view_interval()
        if abs(hi - lo) > 86400.0:  # more than a day: the date matters
            return t.strftime("%Y/%m/%d %H:%M")
        return t.strftime("%H:%M:%S")

    axis.set_major_formatter(FuncFormatter(fmt))
    if which == "x":
        for lab in ax.get_xticklabels():
            lab.set_rotation(0)


def _iter_label(axis, v, ctx):
    import datetime
    if axis == "field":
        name = ctx.field_names[v] if 0 <= v < len(ctx.field_names) else str(v)
        return f"Field: {name}"
    if axis == "spw":
        return f"Spw: {v}"
    if axis == "scan":
        return f"Scan: {v}"
    if axis == "corr":
        return f"Corr: {ctx.stokes_names.get(int(v), v)}"
    if axis == "antenna":
        return f"Antenna: {_ant(ctx, v)}"
    if axis == "baseline":
        return f"Baseline: {_bl_label(ctx, v)}"
    if axis == "time":
        t = datetime.datetime(1858, 11, 17) + datetime.timedelta(seconds=v / 1000.0)
        return "Time: " + t.strftime("%Y/%m/%d/%H:%M:%S.%f")[:-3]
    return ""


def _ant(ctx, i):
    i = int(i)
    return ctx.antenna_names[i] if 0 <= i < len(ctx.antenna_names) else str(i)


def _bl_label(ctx, b):
    """Antenna names of a baseline number (inverse of msdata.baseline_index)."""
    n = ctx.nant
    b = int(b)
    if b < 0:
        return "*"   # averaged over baselines
    for a1 in range(n):
        first = a1 * (n + 1) - a1 * (a1 + 1) // 2 + a1
        last = first + (n - 1 - a1)
        if first <= b <= last:
            return f"{_ant(ctx, a1)}&{_ant(ctx, b - first + a1)}"
    return str(b)


def _cat_label(axis, c, ctx):
    if axis == "spw":
        return f"spw {c}"
    if axis == "field":
        return ctx.field_names[c] if 0 <= c < len(ctx.field_names) else str(c)
    if axis in ("antenna1", "antenna2"):
        return _ant(ctx, c)
    if axis == "baseline":
        return _bl_label(ctx, c)
    if axis == "corr":
        return str(ctx.stokes_names.get(int(c), c))
    if axis == "scan":
        return f"scan {c}"
    if axis == "channel":
        return f"chan {c}"
    if axis == "time":
        import datetime
        t = datetime.datetime(1858, 11, 17) + datetime.timedelta(seconds=c / 1000.0)
        return t.strftime("%H:%M:%S")
    return ""


def _page_file(plotfile, fmt, page, npages):
    import os
    root, ext = os.path.splitext(plotfile)
    if ext.lstrip(".").lower() not in (fmt, "jpeg" if fmt == "jpg" else fmt):
        root, ext = plotfile, "." + fmt
    if npages <= 1 or page == 0:
        return root + ext
    return f"{root}_{page + 1}{ext}"
