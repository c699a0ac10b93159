"""flagdata's commands: building, list-mode parsing, validation and running.

A *command* is a dict of flagdata parameters (mode plus that mode's
parameters).  ``run_flagdata`` validates every command first (so a bad
line of a list stops the task before anything is written), backs the flags
up once, then runs the commands in order.
"""

from __future__ import annotations

import datetime as _dt
import os
import time

import numpy as np

from ..logsink import casalog
from . import flagging

SEL_KEYS = ("field", "spw", "antenna", "scan", "timerange", "uvrange", "correlation",
            "intent", "observation", "array", "feed")
WRITING_MODES = ("manual", "unflag", "clip", "quack", "shadow", "elevation", "extend",
                 "tfcrop", "rflag", "antint")
# parameters a list line may hold, by mode (besides the selection and 'reason')
MODE_KEYS = {
    "manual": {"autocorr"},
    "unflag": set(),
    "clip": {"datacolumn", "clipminmax", "clipoutside", "channelavg", "chanbin", "timeavg",
             "timebin", "clipzeros"},
    "quack": {"quackinterval", "quackmode", "quackincrement"},
    "shadow": {"tolerance", "addantenna"},
    "elevation": {"lowerlimit", "upperlimit"},
    "tfcrop": {"ntime", "combinescans", "datacolumn", "timecutoff", "freqcutoff", "timefit",
               "freqfit", "maxnpieces", "flagdimension", "usewindowstats", "halfwin",
               "extendflags", "channelavg", "chanbin", "timeavg", "timebin"},
    "rflag": {"ntime", "combinescans", "datacolumn", "winsize", "timedev", "freqdev",
              "timedevscale", "freqdevscale", "spectralmax", "spectralmin", "extendflags",
              "channelavg", "chanbin", "timeavg", "timebin"},
    "extend": {"ntime", "combinescans", "extendpols", "growtime", "growfreq", "growaround",
               "flagneartime", "flagnearfreq"},
    "summary": {"minrel", "maxrel", "minabs", "maxabs", "spwchan", "spwcorr", "basecnt",
                "fieldcnt", "name"},
    "antint": {"antint_ref_antenna", "minchanfrac", "verbose"},
}
ALIASES = {"manualflag": "manual"}


class CommandError(ValueError):
    pass


# ---------------------------------------------------------------------------
# building commands

def command_from_values(values: dict) -> dict:
    mode = values["mode"]
    keys = set(SEL_KEYS) | MODE_KEYS.get(mode, set())
    cmd = {"mode": mode}
    for k in keys:
        if k in values:
            cmd[k] = values[k]
    return cmd


def _defaults():
    from ..tasks.flagdata import PARAMS
    return {p.name: p.default for p in PARAMS}


def _spec():
    from ..tasks.flagdata import flagdata
    return flagdata.spec


def read_inpfile(inpfile) -> list[tuple[str, int, str]]:
    """(source, line number, text) of every non-empty, non-comment line."""
    items = []
    if isinstance(inpfile, str):
        inpfile = [inpfile] if inpfile else []
    if not inpfile:
        raise CommandError("inpfile is empty: give a file name or a list of flag commands")
    # a list is either a list of files or a list of command strings
    if all(isinstance(x, str) and os.path.isfile(x) for x in inpfile):
        for path in inpfile:
            with open(path, encoding="utf-8", errors="replace") as f:
                for ln, line in enumerate(f, 1):
                    items.append((path, ln, line))
    else:
        if len(inpfile) == 1 and "=" not in inpfile[0]:
            raise CommandError(f"inpfile '{inpfile[0]}' does not exist")
        for ln, line in enumerate(inpfile, 1):
            if not isinstance(line, str):
                raise CommandError(f"inpfile line {ln}: {line!r} is not a string")
            items.append(("inpfile", ln, line))
    out = []
    for src, ln, line in items:
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        out.append((src, ln, text))
    return out


def parse_list(inpfile, reason="any", tbuff=0.0) -> list[dict]:
    """Commands from list-mode input; a bad line raises CommandError naming it."""
    spec = _spec()
    defaults = _defaults()
    reasons = [reason] if isinstance(reason, str) else list(reason or [])
    reasons = [r for r in reasons if r]
    any_reason = not reasons or any(r.lower() == "any" for r in reasons)
    cmds = []
    for src, ln, text in read_inpfile(inpfile):
        where = f"{src} line {ln}" if src != "inpfile" else f"inpfile line {ln}"
        try:
            kv = flagging.parse_command_line(text)
        except ValueError as exc:
            raise CommandError(f"{where}: {exc}: {text}") from None
        mode = str(kv.pop("mode", "manual"))
        mode = ALIASES.get(mode, mode)
        if mode not in MODE_KEYS:
            raise CommandError(f"{where}: unknown mode '{mode}': {text}")
        line_reason = kv.pop("reason", "")
        allowed = set(SEL_KEYS) | MODE_KEYS[mode] | {"cmdreason"}
        for k in kv:
            if k not in allowed:
                raise CommandError(f"{where}: parameter '{k}' is not valid for mode "
                                   f"'{mode}': {text}")
        if not any_reason:
            lr = [x.strip() for x in str(line_reason).split(",")] if line_reason else [""]
            if not any(r in reasons for r in lr):
                continue
        cmd = {"mode": mode}
        for k, v in kv.items():
            if k == "cmdreason":
                continue
            p = spec.by_name[k]
            try:
                cmd[k] = p.validate(v)
            except AssertionError as exc:
                raise CommandError(f"{where}: {exc}") from None
        if line_reason:
            cmd["reason"] = str(line_reason)
        if tbuff and cmd.get("timerange"):
            try:
                cmd["timerange"] = pad_timerange(cmd["timerange"], tbuff)
            except ValueError as exc:
                raise CommandError(f"{where}: {exc}") from None
        cmd["_where"] = where
        cmd["_text"] = text
        for k in MODE_KEYS[mode] | set(SEL_KEYS):
            cmd.setdefault(k, defaults[k] if k not in _CONTEXT.get(mode, {}) else
                           _CONTEXT[mode][k])
        cmds.append(cmd)
    return cmds


# mode-specific defaults (as the task applies them)
_CONTEXT = {"quack": {"quackinterval": 1.0}}


def pad_timerange(tr: str, tbuff) -> str:
    """Widen every 'a~b' range by tbuff seconds (a number, or [before, after])."""
    if isinstance(tbuff, (list, tuple)):
        before = float(tbuff[0]) if tbuff else 0.0
        after = float(tbuff[1]) if len(tbuff) > 1 else before
    else:
        before = after = float(tbuff)
    out = []
    for part in str(tr).split(","):
        part = part.strip()
        if "~" not in part:
            out.append(part)
            continue
        a, b = (x.strip() for x in part.split("~", 1))
        out.append(f"{_shift_time(a, -before)}~{_shift_time(b, after)}")
    return ",".join(out)


def _shift_time(text: str, dt: float) -> str:
    parts = text.split("/")
    if len(parts) >= 4:  # YYYY/MM/DD/hh:mm:ss
        y, mo, d = (int(x) for x in parts[:3])
        h, mi, s = _hms(parts[3])
        t = _dt.datetime(y, mo, d) + _dt.timedelta(hours=h, minutes=mi, seconds=s + dt)
        frac = t.microsecond / 1e6
        return t.strftime("%Y/%m/%d/%H:%M:") + f"{t.second + frac:06.3f}"
    h, mi, s = _hms(text)
    total = h * 3600 + mi * 60 + s + dt
    if total < 0:
        total = 0.0
    hh = int(total // 3600)
    mm = int((total - hh * 3600) // 60)
    ss = total - hh * 3600 - mm * 60
    return f"{hh:02d}:{mm:02d}:{ss:06.3f}"


def _hms(text):
    try:
        bits = [float(x) for x in text.split(":")]
    except ValueError:
        raise ValueError(f"cannot pad timerange '{text}' with tbuff") from None
    while len(bits) < 3:
        bits.append(0.0)
    return int(bits[0]), int(bits[1]), bits[2]


# ---------------------------------------------------------------------------
# plans

class Plan:
    """A validated command: its selection and agent."""

    def __init__(self, cmd: dict, info: flagging.MSInfo, vis: str):
        self.cmd = cmd
        self.mode = cmd["mode"]
        self.vis = vis
        self.info = info
        self.kind = "row"
        self.agents = []
        self.sel = None
        self._build()

    def selection_args(self):
        sel = {k: self.cmd.get(k, "") for k in SEL_KEYS}
        if self.mode in ("clip", "tfcrop", "rflag"):
            corr = sel.get("correlation", "")
            if isinstance(corr, (list, tuple)):
                corr = ",".join(corr)
            func, corrs = flagging.parse_clip_expression(corr, set())
            self.clip_expr = f"{func}_{','.join(corrs)}"
            if corrs == ["ALL"] or "I" in corrs or any(c.startswith(("WVR", "SOL")) for c in corrs) \
                    or self.info.is_cal:
                # the agent picks the correlations (on a caltable: Sol1, ...;
                # other names flag nothing there, as in CASA)
                sel["correlation"] = ""
            else:
                sel["correlation"] = ",".join(corrs)
        return sel

    def empty_reason(self) -> str:
        """What selected nothing, for the empty-selection warning."""
        given = [f"{k}={self.cmd[k]!r}" for k in SEL_KEYS
                 if self.cmd.get(k) not in (None, "", [], ())]
        autocorr = bool(self.cmd.get("autocorr", False)) and self.mode == "manual"
        if autocorr and not given:
            return "autocorr=True, but the data hold no autocorrelations"
        if autocorr:
            given.append("autocorr=True")
        if given:
            return f"no data match the selection ({', '.join(given)})"
        return "the data hold no rows"

    def select(self):
        autocorr = bool(self.cmd.get("autocorr", False)) and self.mode == "manual"
        return flagging.select_rows(self.vis, self.info, autocorr=autocorr,
                                    **self.selection_args())

    def _build(self):
        c, m = self.cmd, self.mode
        if m in ("manual", "unflag"):
            self.agents = [flagging.ManualAgent(unflag=(m == "unflag"))]
        elif m == "summary":
            self.kind = "summary"
            self.agents = [flagging.SummaryAgent(c.get("spwchan", False), c.get("spwcorr", False),
                                                 c.get("basecnt", False), c.get("fieldcnt", False),
                                                 c.get("name", "Summary"))]
        elif m == "clip":
            corr = c.get("correlation", "") or "ABS_ALL"
            if isinstance(corr, (list, tuple)):
                corr = ",".join(corr)
            if (corr.upper().startswith(("WVR", "SOL")) or "_WVR" in corr.upper()) \
                    and not self.info.is_cal:
                self.kind = "skip"
                return
            self._warn_cal_averaging()
            agent = flagging.ClipAgent(c.get("clipminmax", []), c.get("clipoutside", True),
                                       c.get("clipzeros", False), c.get("datacolumn", "DATA"),
                                       corr, c.get("channelavg", False) and not self.info.is_cal,
                                       c.get("chanbin", 1))
            agent.prepare(None, self.info, None)
            self.agents = [agent]
            if c.get("timeavg") and not self.info.is_cal:
                casalog.post("clip: timeavg is not supported; clipping the data without "
                             "time averaging", "WARN")
        elif m == "quack":
            self.agents = [flagging.QuackAgent(c.get("quackinterval", 1.0),
                                               c.get("quackmode", "beg"),
                                               c.get("quackincrement", False))]
        elif m == "shadow":
            self.agents = [flagging.ShadowAgent(c.get("tolerance", 0.0), c.get("addantenna"))]
        elif m == "elevation":
            self.agents = [flagging.ElevationAgent(c.get("lowerlimit", 0.0),
                                                   c.get("upperlimit", 90.0))]
        elif m == "extend":
            time_needed = (0 < float(c.get("growtime", 50.0)) < 100 or c.get("growaround")
                           or c.get("flagneartime"))
            if time_needed:
                self.kind = "group"
            else:
                self.agents = [flagging.ExtendRowAgent(c.get("extendpols", True),
                                                       c.get("growfreq", 50.0),
                                                       c.get("flagnearfreq", False))]
        elif m in ("tfcrop", "rflag"):
            self.kind = "group"
            flagging.check_datacolumn(self.info, c.get("datacolumn", "DATA"))
            self._averaging(None)         # timebin/chanbin checked before anything runs
            self._warn_cal_averaging()
            if self.info.is_cal:
                if flagging.cal_is_real(self.info, c.get("datacolumn", "DATA")):
                    # as CASA: no complex operator on a float column (FPARAM,
                    # SNR), the values themselves are used
                    self.clip_expr = "REAL_" + self.clip_expr.split("_", 1)[1]
            flagging._seconds(c.get("ntime", "scan")) if isinstance(c.get("ntime"), str) and \
                c.get("ntime") not in ("", "scan") else None
            if m == "rflag":
                for k in ("timedev", "freqdev"):
                    v = c.get(k, "")
                    if v not in ("", None, []) and not isinstance(v, (int, float)):
                        if isinstance(v, str):
                            try:
                                float(v)
                            except ValueError:
                                raise CommandError(f"rflag {k}='{v}' must be a number, a list "
                                                   f"of [field, spw, value] or empty") from None
        elif m == "antint":
            ref = c.get("antint_ref_antenna", "")
            if not ref:
                raise CommandError("mode 'antint' needs antint_ref_antenna")
            if ref not in self.info.ant_names and not (
                    str(ref).isdigit() and int(ref) < len(self.info.ant_names)):
                raise CommandError(f"antint_ref_antenna '{ref}' is not an antenna of {self.vis}")
            self.agents = [flagging.AntIntAgent(ref, c.get("minchanfrac", 0.6),
                                                c.get("verbose", False))]
        else:
            raise CommandError(f"unknown mode '{m}'")

    # -- running ---------------------------------------------------------------
    def run(self, write: bool):
        sel = self.sel if self.sel is not None else self.select()
        self.sel = None
        if self.kind == "skip":
            casalog.post(f"{self.mode}: correlation '{self.cmd.get('correlation')}' applies "
                         f"to calibration tables only; nothing to do for an MS", "WARN")
            return None, None
        if len(sel.rows) == 0:
            casalog.post(f"{self.mode}: {self.empty_reason()}; nothing to flag", "WARN")
            return None, None
        if self.kind in ("row", "summary"):
            stats = flagging.run_rowwise(self.vis, self.info, sel, self.agents,
                                         write=write and self.kind == "row")
            if self.kind == "summary":
                res = self.agents[0].result(self.info)
                return _filter_summary(res, self.cmd), stats
            return None, stats
        return self._run_group(sel, write)

    def _cal_elements(self):
        """The solution elements the expression names (Sol1, ...; 'ALL' for
        every one; MS correlation names select none)."""
        names = [n.upper() for n in self.info.pol_corrs[0]]
        corrs = self.clip_expr.split("_", 1)[1].split(",") if "_" in self.clip_expr else ["ALL"]
        return np.array([corrs == ["ALL"] or n in corrs for n in names], bool)

    def _warn_cal_averaging(self):
        c = self.cmd
        if self.info.is_cal and (c.get("channelavg") or c.get("timeavg")):
            casalog.post(f"{self.mode}: timeavg/channelavg do not apply to calibration tables "
                         f"(as in CASA 6.7): the solutions are used unaveraged", "WARN")

    def _averaging(self, algo):
        """``algo`` on time/channel averages when timeavg/channelavg ask for it
        (never on a calibration table: CASA 6.7 ignores them there)."""
        from . import flagalgos
        c = self.cmd
        if self.info.is_cal:
            return algo
        tb = 0.0
        if c.get("timeavg"):
            try:
                tb = flagging._seconds(c.get("timebin", "0s") or "0s")
            except ValueError:
                raise CommandError(f"{self.mode}: timebin '{c.get('timebin')}' is not a time "
                                   f"('20s', '1min')") from None
        cb = c.get("chanbin", 1) if c.get("channelavg") else 1
        if isinstance(cb, (list, tuple)):
            cb = [int(x) for x in cb]
            if len(set(cb)) > 1:
                raise CommandError(f"{self.mode}: chanbin per spw ({cb}) is not supported; "
                                   f"give one bin width")
            cb = cb[0] if cb else 1
        cb = int(cb)
        if cb < 1:
            raise CommandError(f"{self.mode}: chanbin {cb} must be >= 1")
        if tb <= 0 and cb <= 1:
            return algo
        if algo is None:
            return None
        if hasattr(algo, "statistics"):
            return flagalgos.AveragedTwoPass(algo, chanbin=cb, timebin=tb)
        # the complex values are averaged (a vector average; averaging the
        # amplitudes agrees less with CASA 6.7's tfcrop: measured)
        return flagalgos.Averaged(algo, chanbin=cb, timebin=tb)

    def _run_group(self, sel, write):
        from . import flagalgos
        c = self.cmd
        extra = None
        if self.mode == "extend":
            def algo(data, flags, present, mask):
                return flagalgos.extend_time(
                    flags, present, mask, extendpols=c.get("extendpols", True),
                    growtime=c.get("growtime", 50.0), growfreq=c.get("growfreq", 50.0),
                    growaround=c.get("growaround", False),
                    flagneartime=c.get("flagneartime", False),
                    flagnearfreq=c.get("flagnearfreq", False))
            need_data = False
        elif self.mode == "tfcrop":
            tf = flagalgos.tfcrop_per_element if self.info.is_cal else flagalgos.tfcrop
            kw = dict(timecutoff=c.get("timecutoff", 4.0), freqcutoff=c.get("freqcutoff", 3.0),
                      timefit=c.get("timefit", "line"), freqfit=c.get("freqfit", "poly"),
                      maxnpieces=c.get("maxnpieces", 7),
                      flagdimension=c.get("flagdimension", "freqtime"),
                      extendflags=c.get("extendflags", True),
                      usewindowstats=c.get("usewindowstats", "none"),
                      halfwin=c.get("halfwin", 1))

            if self.info.is_cal:
                kw["elements"] = self._cal_elements()

            def algo(data, flags, present, mask):
                return tf(_expr_values(data, self.clip_expr), flags, present, mask, **kw)
            need_data = True
        else:  # rflag
            algo = _ExprRFlag(self.clip_expr, c.get("winsize", 3),
                              _user_dev(c.get("timedev", "")), _user_dev(c.get("freqdev", "")),
                              c.get("timedevscale", 5.0), c.get("freqdevscale", 5.0),
                              c.get("spectralmax", 1e6), c.get("spectralmin", 0.0),
                              c.get("extendflags", True))
            # on a caltable CASA runs one rflag over the named elements together
            # (its thresholds are those of all of them: measured), and grows
            # only the new flags (see flagalgos.extend_agent_flags)
            algo.extend_new_only = self.info.is_cal
            if self.info.is_cal:
                # the extension step covers every element of the selection (CASA)
                algo.elements = self._cal_elements()
            extra = algo
            need_data = True
        if self.mode in ("tfcrop", "rflag"):
            algo = self._averaging(algo)
            if self.mode == "rflag":
                extra = algo
        stats = flagging.run_grouped(self.vis, self.info, sel, algo, write=write,
                                     ntime=c.get("ntime", "scan"),
                                     combinescans=c.get("combinescans", False),
                                     datacolumn=c.get("datacolumn", "DATA"),
                                     need_data=need_data)
        if self.mode == "rflag":
            reps = algo.reports
            extra = {"timedev": [[r[0], r[1], r[2]] for r in reps],
                     "freqdev": [[r[0], r[1], r[3]] for r in reps]}
            for r in reps:
                casalog.post(f"rflag field {r[0]} spw {r[1]}: time threshold {r[2]:.6g}, "
                             f"spectral threshold {r[3]:.6g}")
        return extra, stats


def _make_expr_rflag():
    from . import flagalgos

    class ExprRFlag(flagalgos.RFlag):
        """RFlag on the values of a correlation expression (complex for ABS)."""

        def __init__(self, expr, *args):
            super().__init__(*args)
            self.expr = expr

        def statistics(self, data, flags, present, mask):
            return super().statistics(_expr_values(data, self.expr, keep_complex=True),
                                      flags, present, mask)

        def apply(self, data, flags, present, mask, thresholds):
            return super().apply(_expr_values(data, self.expr, keep_complex=True),
                                 flags, present, mask, thresholds)

    return ExprRFlag


def _ExprRFlag(expr, *args):
    return _make_expr_rflag()(expr, *args)


def _user_dev(v):
    """rflag's timedev/freqdev: '' -> None, a number, or [[field, spw, value], ...]."""
    if v in ("", None, []):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        return float(v)
    return [list(r) for r in v]


def _expr_values(data, expr, keep_complex=False):
    func = expr.split("_", 1)[0] if expr else "ABS"
    if keep_complex and func == "ABS":
        return data
    if func == "ABS" and np.iscomplexobj(data):
        # as CASA 6.7's tfcrop: the amplitude from double-precision squares,
        # rounded to single precision (np.abs's single-precision hypot differs
        # in the last bit, which tfcrop's fits amplify: measured on the MWA MS)
        amp = data.real.astype(np.float64)
        amp *= amp
        im = data.imag.astype(np.float64)
        im *= im
        amp += im
        del im
        return np.sqrt(amp, out=amp).astype(np.float32)
    fn = flagging._FUNCS.get(func, np.abs)
    return fn(data)


def _filter_summary(res: dict, cmd: dict) -> dict:
    minrel, maxrel = float(cmd.get("minrel", 0.0)), float(cmd.get("maxrel", 1.0))
    minabs, maxabs = int(cmd.get("minabs", 0)), int(cmd.get("maxabs", -1))
    if (minrel, maxrel, minabs, maxabs) == (0.0, 1.0, 0, -1):
        return res

    def keep(e):
        f, t = e["flagged"], e["total"]
        rel = f / t if t else 0.0
        return (minrel <= rel <= maxrel and f >= minabs and (maxabs < 0 or f <= maxabs))

    out = {}
    for k, v in res.items():
        if isinstance(v, dict) and v and all(isinstance(x, dict) and "total" in x
                                             for x in v.values()):
            out[k] = {kk: vv for kk, vv in v.items() if keep(vv)}
        else:
            out[k] = v
    return out


# ---------------------------------------------------------------------------
# savepars

def command_text(cmd: dict, reason: str = "") -> str:
    defaults = _defaults()
    parts = [f"mode='{cmd['mode']}'"]
    for k, v in cmd.items():
        if k.startswith("_") or k in ("mode", "reason"):
            continue
        if v == defaults.get(k) or v in ("", [], None):
            continue
        parts.append(f"{k}={v!r}" if not isinstance(v, str) else f"{k}='{v}'")
    r = reason or cmd.get("reason", "")
    if r:
        parts.append(f"reason='{r}'")
    return " ".join(parts)


def save_commands(vis: str, cmds: list[dict], cmdreason: str, outfile: str, overwrite: bool,
                  applied: bool) -> None:
    lines = [command_text(c, cmdreason) for c in cmds]
    if outfile:
        path = os.path.abspath(os.path.expanduser(outfile))
        if os.path.exists(path) and not overwrite:
            raise FileExistsError(f"outfile {outfile} exists and overwrite=False")
        tmp = path + ".tmp-flagcmd"
        with open(tmp, "w", encoding="utf-8") as f:
            for ln in lines:
                f.write(ln + "\n")
        os.replace(tmp, path)
        casalog.post(f"Saved {len(lines)} flag command(s) to {outfile}")
        return
    from casacore import tables as ct
    path = os.path.join(vis, "FLAG_CMD")
    if not os.path.isdir(path):
        raise OSError(f"{vis} has no FLAG_CMD subtable")
    with ct.table(path, readonly=False, ack=False) as t:
        n0 = t.nrows()
        n = len(lines)
        t.addrows(n)
        now = time.time() + 3506716800.0
        t.putcol("TIME", np.full(n, now), n0, n)
        t.putcol("INTERVAL", np.zeros(n), n0, n)
        t.putcol("TYPE", ["FLAG"] * n, n0, n)
        t.putcol("REASON", [cmdreason or c.get("reason", "") or "any" for c in cmds], n0, n)
        t.putcol("LEVEL", np.zeros(n, np.int32), n0, n)
        t.putcol("SEVERITY", np.zeros(n, np.int32), n0, n)
        t.putcol("APPLIED", np.full(n, bool(applied)), n0, n)
        t.putcol("COMMAND", lines, n0, n)
    casalog.post(f"Saved {len(lines)} flag command(s) to the FLAG_CMD table of {vis}")


# ---------------------------------------------------------------------------
# the task body

def run_flagdata(values: dict):
    from .flagcal import check_vis
    from .flagversions import backup_flags
    from .selection import SelectionError

    vis, is_cal = check_vis(values["vis"])
    mode = ALIASES.get(values["mode"], values["mode"])
    action = values["action"] or "none"
    if values.get("display"):
        raise ValueError(f"display='{values['display']}' is not supported (only display='')")
    if mode == "list":
        try:
            cmds = parse_list(values["inpfile"], values["reason"], values["tbuff"])
        except CommandError as exc:
            raise ValueError(f"flagdata list: {exc}") from None
        if not cmds:
            casalog.post("No flag commands selected from inpfile (check reason)", "WARN")
    else:
        cmds = [command_from_values(dict(values, mode=mode))]

    info = flagging.MSInfo.read(vis)
    plans = []
    for c in cmds:
        where = c.get("_where")
        try:
            p = Plan(c, info, vis)
            sel = p.select()
            if len(cmds) == 1:
                p.sel = sel
            del sel
        except (SelectionError, CommandError, ValueError) as exc:
            msg = f"{where}: {exc} ({c.get('_text')})" if where else str(exc)
            raise ValueError(msg) from None
        plans.append(p)

    def savepars():
        if values["savepars"] and is_cal and not values.get("outfile"):
            casalog.post("savepars: a calibration table has no FLAG_CMD table; give outfile "
                         "to save the commands (nothing saved)", "WARN")
            return
        if values["savepars"]:
            save_commands(vis, cmds, values.get("cmdreason", ""), values.get("outfile", ""),
                          values.get("overwrite", True), applied=(action == "apply"))

    if values["savepars"] and values.get("outfile") and not values.get("overwrite", True):
        out = os.path.abspath(os.path.expanduser(values["outfile"]))
        if os.path.exists(out):
            raise FileExistsError(f"outfile {values['outfile']} exists and overwrite=False")
    if action == "none":
        savepars()
        return {}

    write = action == "apply" and bool(values.get("writeflags", True))
    writes = write and any(p.mode in WRITING_MODES for p in plans)
    backup = None
    try:
        if writes and values.get("flagbackup", True):
            backup = backup_flags(vis, "flagdata")
            casalog.post(f"Saved the flags of {vis} as version '{backup}' before flagging")
        summaries, rflag_reports = _run_plans(plans, write)
    except KeyboardInterrupt as exc:
        # a sub-MS of a Multi-MS: the session restores it and says so
        if writes and type(exc).__name__ != "SubMSCancelled" and not _in_subms_call():
            _interrupted(vis, backup)
        raise
    except RuntimeError as exc:
        if "lock" in str(exc).lower() and "table.lock" in str(exc):
            raise RuntimeError(_locked_message(vis, backup)) from None
        raise
    if writes and not is_cal:
        _history(vis, values)
    savepars()   # after the flags are in: APPLIED rows of FLAG_CMD are true
    if summaries:
        if len(summaries) == 1:
            return summaries[0]
        return {f"report{i}": s for i, s in enumerate(summaries)}
    if action == "calculate" and rflag_reports:
        out = {"type": "list"}
        for i, r in enumerate(rflag_reports):
            out[f"report{i}"] = {"type": "rflag", "name": "Rflag",
                                 "timedev": r["timedev"], "freqdev": r["freqdev"]}
        return out
    return {}


def _other_pids(vis) -> list:
    """Processes other than this one that have a file of ``vis`` open
    (Linux /proc; empty where that cannot be read)."""
    base = os.path.realpath(vis) + os.sep
    me = os.getpid()
    out = []
    try:
        procs = [p for p in os.listdir("/proc") if p.isdigit() and int(p) != me]
    except OSError:
        return out
    for p in procs:
        fd_dir = f"/proc/{p}/fd"
        try:
            for fd in os.listdir(fd_dir):
                try:
                    if os.readlink(os.path.join(fd_dir, fd)).startswith(base):
                        out.append(int(p))
                        break
                except OSError:
                    continue
        except OSError:
            continue
    return sorted(out)


def _locked_message(vis, backup) -> str:
    """One line for casacore's lock failure (two processes writing one MS)."""
    pids = _other_pids(vis)
    who = (f"pid {', '.join(str(p) for p in pids)}?" if pids else "pid unknown")
    text = (f"{vis} is locked by another process ({who}): another task or session is "
            f"writing it; run flagdata again when that has finished")
    if backup:
        text += (f" (flags this call may have written: flagmanager(vis='{vis}', "
                 f"mode='restore', versionname='{backup}') undoes them)")
    return text


def _in_subms_call() -> bool:
    """Is this flagdata the call of one sub-MS of a Multi-MS (made by
    casashell.parallel.worker, on a dask worker or in the session)?"""
    import sys
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_globals.get("__name__") == "casashell.parallel.worker":
            return True
        frame = frame.f_back
    return False


def _interrupted(vis, backup):
    """Ctrl-C while flags were being written: the MS holds part of them.
    With a backup the flags are restored from it and the version removed
    (nothing changed, as after a Ctrl-C of a Multi-MS); a second Ctrl-C
    during that restore leaves the version and says how to restore it."""
    if backup is None:
        casalog.post(f"flagdata interrupted (Ctrl-C): {vis} now holds the flags written so "
                     f"far (a partial result) and no backup was made (flagbackup=False)",
                     "WARN")
        return
    from .flagversions import FlagVersions
    call = f"flagmanager(vis='{vis}', mode='restore', versionname='{backup}')"
    casalog.post(f"flagdata interrupted (Ctrl-C): restoring the flags of {vis} from version "
                 f"'{backup}' (Ctrl-C again to stop that too)", "WARN")
    fv = FlagVersions(vis)
    try:
        fv.restore(backup)
    except KeyboardInterrupt:
        casalog.post(f"Ctrl-C again while restoring: {vis} holds partial flags; {call} "
                     f"restores the flags it had before the call", "WARN")
        raise
    except Exception as exc:  # noqa: BLE001
        casalog.post(f"Could not restore the flags of {vis} ({exc}): it holds partial flags; "
                     f"{call} restores the flags it had before the call", "SEVERE")
        return
    try:
        fv.delete(backup)
        gone = f", and the version '{backup}' removed"
    except Exception:  # noqa: BLE001
        gone = ""
    casalog.post(f"flagdata interrupted (Ctrl-C): the flags of {vis} are as before the call "
                 f"(restored from version '{backup}'{gone})", "WARN")


def _run_plans(plans, write):
    summaries = []
    rflag_reports = []
    for p in plans:
        res, stats = p.run(write)
        if p.kind == "summary":
            summaries.append(res)
            casalog.post("\n".join(flagging.summary_log_lines(res)) or "empty summary")
        elif stats is not None:
            verb = "unflagged" if p.mode == "unflag" else "flagged"
            n = stats.newly_unflagged if p.mode == "unflag" else stats.newly_flagged
            what = "would be " if not write else ""
            casalog.post(f"{p.mode}: {n} of {stats.selected} selected points {what}{verb}")
            if p.mode == "rflag" and res:
                rflag_reports.append(res)
    return summaries, rflag_reports


def _history(vis, values):
    try:
        from ..tasks._framework import history_lines
        from ..tasks.flagdata import flagdata
        from .history import append_history
        append_history(vis, history_lines(flagdata.spec, values), origin="flagdata")
    except Exception as exc:  # noqa: BLE001
        casalog.post(f'*** Error "{exc}" updating HISTORY of {vis}', "WARN")
