"""split: a new MS holding a selection of the input, optionally averaged."""

from __future__ import annotations

from ._framework import Param, task

_SEL = [
    Param("field", ["string", "stringVec", "int", "intVec"], "", "Select field using field id(s) or field name(s)"),
    Param("spw", ["string", "stringVec", "int", "intVec"], "", "Select spectral window/channels"),
    Param("scan", ["string", "stringVec", "int", "intVec"], "", "Select data by scan numbers"),
    Param("antenna", ["string", "stringVec", "int", "intVec"], "", "Select data based on antenna/baseline"),
    Param("correlation", ["string", "stringVec"], "", "Correlation: '' ==> all, correlation='XX,YY'"),
    Param("timerange", ["string", "stringVec"], "", "Select data by time range"),
    Param("intent", ["string", "stringVec"], "", "Select data by scan intent"),
    Param("array", ["string", "stringVec"], "", "Select (sub)array(s) by array ID number"),
    Param("uvrange", ["string", "stringVec"], "", "Select data by baseline length"),
    Param("observation", ["string", "stringVec", "int", "intVec"], "", "Select by observation ID(s)"),
    Param("feed", ["string", "stringVec"], "", "Multi-feed numbers: Not yet implemented"),
]


@task(summary="Create a visibility subset from an existing visibility set",
      category="manipulation",
      params=[
          Param("vis", "path", "", "Name of input MeasurementSet or Multi-MS"),
          Param("outputvis", "newpath", "", "Name of output MeasurementSet or Multi-MS"),
          Param("keepmms", "bool", True, "Create a Multi-MS as the output if the input is a Multi-MS"),
          *_SEL,
          Param("datacolumn", "string", "corrected", "Which data column(s) to process",
                allowed=["data", "corrected", "model", "data,model,corrected", "float_data",
                         "all", "float_data,data", "data,model", "model,corrected",
                         "data,corrected", "float_data,corrected"]),
          Param("keepflags", "bool", True, "Keep completely flagged rows instead of dropping them"),
          Param("width", ["int", "intVec", "string", "stringVec"], 1,
                "Number of channels to average to form one output channel"),
          Param("timebin", "string", "0s", "Bin width for time averaging"),
          Param("combine", ["string", "stringVec"], "", "Span the timebin across scan, state, field or a combination"),
      ],
      history="outputvis")
def split(vis, outputvis, keepmms, field, spw, scan, antenna, correlation, timerange,
          intent, array, uvrange, observation, feed, datacolumn, keepflags, width, timebin,
          combine):
    from ..logsink import casalog
    from ..ms.writer import check_new_output

    out = check_new_output(outputvis)
    values = dict(field=field, spw=spw, scan=scan, antenna=antenna, correlation=correlation,
                  timerange=timerange, intent=intent, array=array, uvrange=uvrange,
                  observation=observation, feed=feed)
    return _run_split(vis, out, values, datacolumn, keepflags, width, timebin, combine,
                      casalog)


def _widths(width):
    if isinstance(width, str) or (isinstance(width, list) and width and
                                  isinstance(width[0], str)):
        text = width if isinstance(width, str) else ",".join(width)
        parts = [w for w in text.replace(" ", "").split(",") if w]
        if not parts or not all(p.isdigit() for p in parts):
            from ..logsink import casalog
            casalog.post("Parameter width is invalid. Using 1 as default", "WARN")
            return 1
        width = [int(w) for w in parts]
        if len(width) == 1:
            width = width[0]
    elif isinstance(width, (list, tuple)):
        width = [int(w) for w in width]
    ws = width if isinstance(width, list) else [width]
    if any(w < 1 for w in ws):
        raise ValueError(f"width {width} must be >= 1")
    return width


def _run_split(vis, out, values, datacolumn, keepflags, width, timebin, combine, casalog,
               hanning=False, regrid=None, reindex=True):
    from ..ms.transform_params import parse_timebin, parse_combine, chanbin_per_spw, sel_text, \
        make_selection
    from ..ms.transform import Plan, run

    sel = make_selection(vis, values)
    chanbin = chanbin_per_spw(_widths(width), list(sel.spws))
    plan = Plan(vis=vis, rows=sel.rows, channels=sel.channels,
                correlations=sel.correlations, datacolumn=datacolumn, chanbin=chanbin,
                timebin=parse_timebin(timebin), combine=parse_combine(combine),
                keepflags=bool(keepflags), hanning=hanning, regrid=regrid,
                reindex=reindex, extra={"spw_text": sel_text(values.get("spw", ""))})
    info = run(plan, out, log=lambda m, p="INFO": casalog.post(m, p))
    casalog.post(f"Wrote {info['nrows']} rows to {out} (fields {info['fields']}, "
                 f"spectral windows {info['spws']})")
    return None
