"""flagdata: flag, unflag and count flags of a MeasurementSet or calibration table.

The engine is :mod:`casashell.ms.flagging`; this module turns the task's
parameters (or the lines of ``inpfile`` in list mode) into validated
commands, backs the flags up, runs the commands and writes ``savepars``.
"""

from __future__ import annotations

from ._framework import Param, task

_SELS = ["spw", "field", "antenna", "uvrange", "timerange", "correlation", "scan", "intent",
         "array", "observation", "feed"]
_CLIP = ["datacolumn", "clipminmax", "clipoutside", "channelavg", "chanbin", "timeavg",
         "timebin", "clipzeros"]
_QUACK = ["quackinterval", "quackmode", "quackincrement"]
_TFCROP = ["ntime", "combinescans", "datacolumn", "timecutoff", "freqcutoff", "timefit",
           "freqfit", "maxnpieces", "flagdimension", "usewindowstats", "halfwin", "extendflags",
           "channelavg", "chanbin", "timeavg", "timebin"]
_RFLAG = ["ntime", "combinescans", "datacolumn", "winsize", "timedev", "freqdev",
          "timedevscale", "freqdevscale", "spectralmax", "spectralmin", "extendflags",
          "channelavg", "chanbin", "timeavg", "timebin"]
_EXTEND = ["ntime", "combinescans", "extendpols", "growtime", "growfreq", "growaround",
           "flagneartime", "flagnearfreq"]
_SUMMARY = ["minrel", "maxrel", "minabs", "maxabs", "spwchan", "spwcorr", "basecnt",
            "fieldcnt", "name"]

_MODE_SUB = {
    "list": ["inpfile", "reason", "tbuff"],
    "manual": ["autocorr", *_SELS],
    "clip": [*_SELS, *_CLIP],
    "quack": [*_SELS, *_QUACK],
    "shadow": [*_SELS, "tolerance", "addantenna"],
    "elevation": [*_SELS, "lowerlimit", "upperlimit"],
    "tfcrop": [*_SELS, *_TFCROP],
    "rflag": [*_SELS, *_RFLAG],
    "antint": [*_SELS, "antint_ref_antenna", "minchanfrac", "verbose"],
    "extend": [*_SELS, *_EXTEND],
    "unflag": [*_SELS],
    "summary": [*_SELS, *_SUMMARY],
}

_SELTYPES = ["string", "stringVec", "int", "intVec"]

PARAMS = [
    Param("vis", "path", "", "Name of MS file or calibration table to flag"),
    Param("mode", "string", "manual", "Flagging mode",
          allowed=["list", "manual", "clip", "quack", "shadow", "elevation", "tfcrop", "rflag",
                   "antint", "extend", "unflag", "summary"],
          sub={k: list(dict.fromkeys(v)) for k, v in _MODE_SUB.items()}),
    Param("autocorr", "bool", False, "Flag only the auto-correlations"),
    Param("inpfile", ["string", "stringVec"], "",
          "Input ASCII file, list of files or Python list of strings with flag commands"),
    Param("reason", ["string", "stringVec"], "any", "Select by REASON types"),
    Param("tbuff", ["double", "doubleVec"], 0.0,
          "List of time buffers (sec) to pad timerange in flag commands"),
    Param("spw", _SELTYPES, "", "Spectral-window/frequency/channel: '' ==> all, spw='0:17~19'"),
    Param("field", _SELTYPES, "", "Field names or field index numbers: '' ==> all"),
    Param("antenna", _SELTYPES, "", "Antenna/baselines: '' ==> all, antenna ='3,VA04'"),
    Param("uvrange", ["string", "stringVec"], "", "UV range: '' ==> all; uvrange ='0~100klambda'"),
    Param("timerange", ["string", "stringVec"], "", "Time range: '' ==> all"),
    Param("correlation", ["string", "stringVec"], "",
          "Correlation: '' ==> all, correlation='XX,YY' (clip: ABS_ALL, REAL_RR, ...)"),
    Param("scan", _SELTYPES, "", "Scan numbers: '' ==> all"),
    Param("intent", ["string", "stringVec"], "", "Scan intent: '' ==> all"),
    Param("array", ["string", "stringVec"], "", "(Sub)array numbers: '' ==> all"),
    Param("observation", _SELTYPES, "", "Observation ID: '' ==> all"),
    Param("feed", ["string", "stringVec"], "", "Multi-feed numbers: Not yet implemented"),
    Param("clipminmax", "doubleVec", [], "Range to use for clipping"),
    Param("datacolumn", "string", "DATA",
          "Data column on which to operate (data,corrected,model,residual,...)"),
    Param("clipoutside", "bool", True, "Clip outside the range, or within it"),
    Param("channelavg", "bool", False,
          "Average the complex data over channels (bins of chanbin)"),
    Param("chanbin", ["int", "intVec"], 1, "Width (bin) of input channels to average"),
    Param("timeavg", "bool", False, "Average across time (tfcrop, rflag)"),
    Param("timebin", "string", "0s", "Bin width for time averaging"),
    Param("clipzeros", "bool", False, "Clip zero-value data"),
    Param("quackinterval", "double", 1.0, "Quack n seconds from scan beginning or end",
          range=(0.0, None)),
    Param("quackmode", "string", "beg", "Quack mode: beg, endb, tail, end",
          allowed=["beg", "endb", "tail", "end"]),
    Param("quackincrement", "bool", False, "Flag incrementally in time?"),
    Param("tolerance", "double", 0.0, "Amount of shadow allowed (in meters)"),
    Param("addantenna", ["string", "dict"], "",
          "File name or dictionary with additional antenna names, positions and diameters"),
    Param("lowerlimit", "double", 0.0, "Lower limiting elevation (in degrees)"),
    Param("upperlimit", "double", 90.0, "Upper limiting elevation (in degrees)"),
    Param("ntime", ["string", "double"], "scan",
          "Time-range to use for each chunk (in seconds or minutes)"),
    Param("combinescans", "bool", False, "Accumulate data across scans depending on ntime"),
    Param("timecutoff", "double", 4.0, "Flagging thresholds in units of deviation from the fit"),
    Param("freqcutoff", "double", 3.0, "Flagging thresholds in units of deviation from the fit"),
    Param("timefit", "string", "line", "Fitting function for the time direction (poly/line)",
          allowed=["line", "poly"]),
    Param("freqfit", "string", "poly", "Fitting function for the frequency direction (poly/line)",
          allowed=["line", "poly"]),
    Param("maxnpieces", "int", 7, "Number of pieces in the polynomial-fits", range=(1, 9)),
    Param("flagdimension", "string", "freqtime",
          "Dimensions along which to calculate fits (freq/time/freqtime/timefreq)",
          allowed=["freq", "time", "freqtime", "timefreq"]),
    Param("usewindowstats", "string", "none",
          "Calculate additional flags using sliding window statistics (none,sum,std,both)",
          allowed=["none", "sum", "std", "both"]),
    Param("halfwin", "int", 1, "Half-width of sliding window to use with 'usewindowstats'",
          range=(1, 3)),
    Param("extendflags", "bool", True, "Extend flags along time, frequency and correlation"),
    Param("winsize", "int", 3, "Number of timesteps in the sliding time window", range=(1, None)),
    Param("timedev", ["string", "double", "any"], "", "Time-series noise estimate"),
    Param("freqdev", ["string", "double", "any"], "", "Spectral noise estimate"),
    Param("timedevscale", "double", 5.0, "Threshold scaling for timedev"),
    Param("freqdevscale", "double", 5.0, "Threshold scaling for freqdev"),
    Param("spectralmax", "double", 1e6, "Flag whole spectrum if freqdev is greater than spectralmax"),
    Param("spectralmin", "double", 0.0, "Flag whole spectrum if freqdev is less than spectralmin"),
    Param("antint_ref_antenna", "string", "", "Antenna of interest (antint mode)"),
    Param("minchanfrac", "double", 0.6, "Minimum fraction of flagged channels (antint mode)"),
    Param("verbose", "bool", False, "Print timestamps of flagged integrations (antint mode)"),
    Param("extendpols", "bool", True, "If any correlation is flagged, flag all correlations"),
    Param("growtime", "double", 50.0,
          "Flag all 'ntime' integrations if more than X% of the timerange is flagged (0-100)",
          range=(0.0, 100.0)),
    Param("growfreq", "double", 50.0,
          "Flag all selected channels if more than X% of the frequency range is flagged (0-100)",
          range=(0.0, 100.0)),
    Param("growaround", "bool", False, "Flag data based on surrounding flags"),
    Param("flagneartime", "bool", False, "Flag one timestep before and after a flagged one"),
    Param("flagnearfreq", "bool", False, "Flag one channel before and after a flagged one"),
    Param("minrel", "double", 0.0, "minimum number of flags (relative)"),
    Param("maxrel", "double", 1.0, "maximum number of flags (relative)"),
    Param("minabs", "int", 0, "minimum number of flags (absolute)"),
    Param("maxabs", "int", -1, "maximum number of flags (absolute); negative means infinity"),
    Param("spwchan", "bool", False, "Print summary of channels per spw"),
    Param("spwcorr", "bool", False, "Print summary of correlation per spw"),
    Param("basecnt", "bool", False, "Print summary counts per baseline"),
    Param("fieldcnt", "bool", False, "Produce a separated breakdown for each field"),
    Param("name", "string", "Summary", "Name of this summary report (key in summary dictionary)"),
    Param("action", "string", "apply",
          "Action to perform in MS and/or in inpfile (none/apply/calculate)",
          allowed=["none", "apply", "calculate", ""],
          sub={"apply": ["display", "flagbackup"], "calculate": ["display"]}),
    Param("display", "string", "", "Display data and/or end-of-MS reports at runtime "
          "(only '' is supported)", allowed=[""]),
    Param("flagbackup", "bool", True, "Back up the state of flags before the run"),
    Param("savepars", "bool", False, "Save the current parameters to the FLAG_CMD table or to a file",
          sub={True: ["cmdreason", "outfile", "overwrite"]}),
    Param("cmdreason", "string", "", "Reason to save to output file or to FLAG_CMD table"),
    Param("outfile", "newpath", "", "Name of output file to save current parameters. "
          "If empty, save to FLAG_CMD"),
    Param("overwrite", "bool", True, "Overwrite the existing file to save the flag commands"),
    Param("writeflags", "bool", True, "Do not modify the flags in the MS"),
]


@task(summary="All-purpose flagging task based on data-selections and flagging modes/algorithms.",
      category="flagging", params=PARAMS, history=None)
def flagdata(vis, mode, autocorr, inpfile, reason, tbuff, spw, field, antenna, uvrange,
             timerange, correlation, scan, intent, array, observation, feed, clipminmax,
             datacolumn, clipoutside, channelavg, chanbin, timeavg, timebin, clipzeros,
             quackinterval, quackmode, quackincrement, tolerance, addantenna, lowerlimit,
             upperlimit, ntime, combinescans, timecutoff, freqcutoff, timefit, freqfit,
             maxnpieces, flagdimension, usewindowstats, halfwin, extendflags, winsize,
             timedev, freqdev, timedevscale, freqdevscale, spectralmax, spectralmin,
             antint_ref_antenna, minchanfrac, verbose, extendpols, growtime, growfreq,
             growaround, flagneartime, flagnearfreq, minrel, maxrel, minabs, maxabs, spwchan,
             spwcorr, basecnt, fieldcnt, name, action, display, flagbackup, savepars,
             cmdreason, outfile, overwrite, writeflags):
    from ..ms import flagcmd

    values = dict(locals())
    return flagcmd.run_flagdata(values)
