"""Which tasks run per sub-MS, and how their results are merged.

=============  ===============================================================
flagdata       each sub-MS flagged by a worker (backup of its flags first when
               ``flagbackup``; a failure restores every sub-MS changed by
               the run); summaries summed key by key, then ``minrel``...
               ``maxabs`` applied to the sums.  ``mode='list'`` and
               ``action='calculate'`` run on the reference MS in the session.
flagmanager    save/restore/delete/rename in every sub-MS; list: the versions
               that every sub-MS has.
split,         every sub-MS transformed by a worker with the ids of the whole
hanningsmooth, Multi-MS; ``keepmms=True`` (mstransform: always) writes a
mstransform    Multi-MS, else the sub-MS outputs are joined into one MS.
               Regridding and spw combination run on the reference MS.
clearcal,      the task on each sub-MS; a failure removes the columns the run
initweights    added from every sub-MS.
listobs        the reference MS read as one table (listobs reads only
               metadata; the listing is that of the whole Multi-MS).
=============  ===============================================================

A selection that matches nothing in one sub-MS skips that sub-MS; a selection
that matches nothing in the whole Multi-MS fails as for a normal MS.

Ctrl-C (see :func:`executor.map_tasks`): the sub-MSs not started are
cancelled, the running ones stop at their next chunk, and then:

=============  ===============================================================
flagdata       with flagbackup: every sub-MS changed is restored and the run's
               ``flagdata_N`` version removed (nothing changed); without:
               the running sub-MSs are finished, not stopped (each sub-MS is
               flagged completely or not at all).
split & co.,   nothing is written.
partition
clearcal,      the columns the run added are removed (as after a failure).
initweights
flagmanager    a save of a new version: the sub-MSs not started are
               cancelled and the version removed where it was saved; any
               other mode is completed in every sub-MS first (the sub-MSs
               keep the same versions).
=============  ===============================================================
"""

from __future__ import annotations

import os

from ..logsink import casalog
from . import worker

_EXC = {"ValueError": ValueError, "RuntimeError": RuntimeError, "OSError": OSError,
        "FileNotFoundError": FileNotFoundError, "FileExistsError": FileExistsError,
        "AssertionError": AssertionError, "KeyboardInterrupt": KeyboardInterrupt,
        "PermissionError": PermissionError, "IsADirectoryError": IsADirectoryError}

_SELECTION = ("field", "spw", "antenna", "scan", "timerange", "uvrange", "correlation",
              "intent", "observation", "array", "feed")


def _level() -> str:
    return casalog.getFilter()


def _names(subs, max_names: int = 8) -> str:
    names = [os.path.basename(s) for s in subs]
    if len(names) > max_names:
        return ", ".join(names[:max_names]) + f", ... ({len(names)} in all)"
    return ", ".join(names)


def log_interrupted(task: str, exc, what: str) -> None:
    """The one WARN line of a task stopped by Ctrl-C."""
    from .executor import outcome_counts
    done, stopped, pending = outcome_counts(exc.outcomes)
    text = (f"{task} interrupted (Ctrl-C): {done} sub-MS(s) finished, {stopped} stopped "
            f"while running, {pending} not started; {what}")
    if getattr(exc, "abandoned", 0):
        text += (f" ({exc.abandoned} sub-MS(s) were still running when waiting was "
                 f"given up: they may still change)")
    casalog.post(text, "WARN")


def relay_logs(outcomes) -> None:
    """Post the workers' log lines in the session's log, worker in the origin."""
    for o in outcomes:
        for message, prio in o.get("logs", ()):
            casalog.post(message, prio, origin=o.get("worker", "worker"))


def failures(outcomes, subs):
    return [(s, o) for s, o in zip(subs, outcomes) if "error" in o]


def raise_first_failure(task: str, outcomes, subs) -> None:
    bad = failures(outcomes, subs)
    if not bad:
        return
    sub, o = bad[0]
    more = f" ({len(bad) - 1} other sub-MS(s) failed too)" if len(bad) > 1 else ""
    names = o.get("bases") or [o.get("type")]
    exc = next((_EXC[n] for n in names if n in _EXC), RuntimeError)
    raise exc(f"{task} failed on sub-MS {os.path.basename(sub)} ({o['worker']}): "
              f"{o['error']}{more}")


def _selection(values: dict, names=_SELECTION) -> dict:
    return {k: values[k] for k in names if k in values}


def _check_selection(mms: str, sel: dict, result=None) -> dict:
    """Raise the user-facing error when ``sel`` is malformed or empty in the
    whole MMS; return the scan/observation/array ids it selects (for the
    parameters given), see :func:`worker.localize`."""
    from ..ms.transform_params import sel_text
    kw = {k: sel_text(v) for k, v in sel.items() if k != "autocorr"}
    kw = {k: v for k, v in kw.items() if v.strip()}
    if not kw and not sel.get("autocorr"):
        return {}
    if result is None:
        from ..ms.selection import select
        result = select(mms, autocorr=sel.get("autocorr", False), **kw)
    return {p: [int(i) for i in getattr(result, p + "s")]
            for p in ("scan", "observation", "array") if p in kw}


def _serial(spec, values, why: str):
    from .dispatch import serial
    casalog.post(f"{spec.name} on the Multi-MS {values['vis']}: {why}; running on the "
                 f"reference MS in this session")
    with serial():
        return spec.impl(**values)


# ---------------------------------------------------------------------------
# merging

def merge_sum(dicts: list):
    """Sum dicts key by key (numbers added, nested dicts merged, others kept)."""
    dicts = [d for d in dicts if d is not None]
    if not dicts:
        return {}
    if not all(isinstance(d, dict) for d in dicts):
        first = dicts[0]
        if isinstance(first, (int, float)) and not isinstance(first, bool):
            return sum(dicts)
        return first
    out = {}
    for d in dicts:
        for k in d:
            if k not in out:
                out[k] = merge_sum([x[k] for x in dicts if k in x])
    return out


# ---------------------------------------------------------------------------
# handlers

def _flagdata(spec, values, subs):
    from ..ms.flagcmd import ALIASES, WRITING_MODES, _filter_summary
    mode = ALIASES.get(values["mode"], values["mode"])
    action = values["action"] or "none"
    if mode == "list":
        return _serial(spec, values, "list mode")
    if action == "calculate":
        return _serial(spec, values, "action='calculate'")
    if action == "none":
        return _serial(spec, values, "action='none'")
    # correlation selects no rows (and clip's takes expressions such as ABS_ALL):
    # the polarization setups are the same in every sub-MS, so flagdata checks it
    sel = _selection(values, tuple(n for n in _SELECTION if n != "correlation"))
    if mode == "manual":
        sel["autocorr"] = values.get("autocorr", False)
    explicit = _check_selection(values["vis"], sel)
    writes = bool(values.get("writeflags", True)) and mode in WRITING_MODES
    backup = writes and bool(values.get("flagbackup", True))
    sub_values = dict(values, savepars=False, flagbackup=False)
    if mode == "summary":
        sub_values.update(minrel=0.0, maxrel=1.0, minabs=0, maxabs=-1)
    from .executor import SubMSInterrupt, map_tasks
    args = [(dict(sub_values, vis=s), sel, backup, _level(), explicit) for s in subs]
    try:
        # without a backup a running sub-MS is finished rather than half flagged
        outcomes = map_tasks(worker.flagdata_subms, args, interrupt=backup or not writes,
                             labels=subs)
    except SubMSInterrupt as exc:
        if writes:
            _flagdata_interrupted(exc, subs, backup)
        else:
            relay_logs(exc.outcomes)
            log_interrupted("flagdata", exc, "no flags were written")
        raise
    if mode == "summary":
        _drop_summary_listings(outcomes)
    relay_logs(outcomes)
    if failures(outcomes, subs):
        if backup:
            todo = [(s, o["result"][1]) for s, o in zip(subs, outcomes)
                    if "error" not in o and o["result"][1] and not o.get("skipped")]
            res = map_tasks(worker.restore_flags, [(s, n, _level()) for s, n in todo])
            relay_logs(res)
            casalog.post(f"Restored the flags of {len(todo)} sub-MS(s) changed by this run",
                         "WARN")
        raise_first_failure("flagdata", outcomes, subs)
    if values.get("savepars"):
        from .dispatch import serial
        with serial():
            spec.impl(**dict(values, action="none"))
    results = [o["result"][0] for o in outcomes if not o.get("skipped")]
    if mode == "summary":
        from ..ms.flagging import summary_log_lines
        merged = _filter_summary(merge_sum(results), values)
        casalog.post("\n".join(summary_log_lines(merged)))
        if "total" in merged:
            casalog.post(f"Summary '{merged.get('name', 'Summary')}': "
                         f"{merged.get('flagged', 0):.0f} of {merged.get('total', 0):.0f} "
                         f"selected points flagged")
        return merged
    merged = merge_sum([r for r in results if r])
    return merged


def _flagdata_interrupted(exc, subs, backup: bool) -> None:
    """Ctrl-C: with ``backup`` undo the run in every sub-MS (restore the flags
    of those it finished, remove its flag version from all)."""
    from .executor import map_tasks
    relay_logs(exc.outcomes)
    if not backup:
        flagged = [s for s, o in zip(subs, exc.outcomes)
                   if not o.get("cancelled") and "error" not in o and not o.get("skipped")]
        log_interrupted("flagdata", exc, "flagbackup=False: the running sub-MSs were "
                        "finished, not stopped half-way; flagged: " +
                        (_names(flagged) or "none"))
        return
    todo = [(s, o["version"], _level(),
             not o.get("cancelled") and "error" not in o and not o.get("skipped"), True)
            for s, o in zip(subs, exc.outcomes) if o.get("version")]
    names = sorted({t[1] for t in todo})
    try:
        res = map_tasks(worker.restore_flags, todo, interrupt=False,
                        labels=[t[0] for t in todo])
    except KeyboardInterrupt:
        casalog.post("Ctrl-C again while restoring the flags: some sub-MSs may keep the "
                     f"flags of this run; flagmanager(mode='restore', versionname="
                     f"'{names[0] if names else 'flagdata_N'}') restores them", "WARN")
        raise
    relay_logs(res)
    bad = failures(res, [t[0] for t in todo])
    if bad:
        casalog.post(f"Could not restore the flags of {_names([b[0] for b in bad])}: "
                     f"{bad[0][1]['error']}", "SEVERE")
    log_interrupted("flagdata", exc, "the flags of every sub-MS are as before the call" +
                    (f" (flag version {', '.join(names)} removed)" if names else ""))


def _drop_summary_listings(outcomes) -> None:
    """The per-sub-MS summary listings are replaced by the merged one."""
    from ..ms.flagging import summary_log_lines
    for o in outcomes:
        if "error" in o or o.get("skipped"):
            continue
        text = "\n".join(summary_log_lines(o["result"][0] or {}))
        o["logs"] = [(m, p) for m, p in o["logs"]
                     if m != text and not m.startswith("Summary '")]


def _inplace(spec, values, subs):
    """clearcal / initweights: the task on every sub-MS."""
    from casacore import tables as ct
    from .executor import SubMSInterrupt, map_tasks
    sel = _selection(values, ("field", "spw", "intent"))
    explicit = _check_selection(values["vis"], sel)
    with ct.table(subs[0], ack=False) as t:
        before = set(t.colnames())

    def drop_added():
        added = set()
        for s in subs:
            with ct.table(s, ack=False) as t:
                added |= set(t.colnames()) - before
        if added:
            relay_logs(map_tasks(worker.drop_columns,
                                 [(s, sorted(added), _level()) for s in subs],
                                 interrupt=False, labels=subs))
            casalog.post(f"Removed the column(s) {', '.join(sorted(added))} added by this "
                         f"run from every sub-MS", "WARN")
        return added

    try:
        outcomes = map_tasks(worker.run_impl,
                             [(spec.name, dict(values, vis=s), sel, _level(), explicit)
                              for s in subs], labels=subs)
    except SubMSInterrupt as exc:
        relay_logs(exc.outcomes)
        added = drop_added()
        log_interrupted(spec.name, exc, (f"the column(s) {', '.join(sorted(added))} it "
                                         f"added removed; " if added else "") +
                        "values already reset stay reset (run the task again)")
        raise
    relay_logs(outcomes)
    if failures(outcomes, subs):
        drop_added()
        raise_first_failure(spec.name, outcomes, subs)
    # a sub-MS the selection skipped still needs the columns the run added elsewhere
    cols = []
    for s in subs:
        with ct.table(s, ack=False) as t:
            cols.append(set(t.colnames()))
    every = set().union(*cols)
    lacking = [(s, sorted(every - c)) for s, c in zip(subs, cols) if every - c]
    if lacking:
        if spec.name != "clearcal":
            raise RuntimeError(f"{spec.name}: the sub-MSs of {values['vis']} have different "
                               f"columns ({', '.join(lacking[0][1])} missing in "
                               f"{os.path.basename(lacking[0][0])})")
        outcomes = map_tasks(worker.clearcal_new_columns,
                             [(s, c, _level()) for s, c in lacking])
        relay_logs(outcomes)
        raise_first_failure(spec.name, outcomes, [s for s, _ in lacking])
    return None


def _listobs(spec, values, subs):
    from .dispatch import serial
    with serial():
        return spec.impl(**values)


def _transform(spec, values, subs):
    """split / hanningsmooth / mstransform of a Multi-MS."""
    from ..ms import mms as mmslib
    from ..ms.transform import Plan
    from ..ms.transform_params import chanbin_per_spw, make_selection, parse_combine, \
        parse_timebin
    from ..ms.writer import check_new_output, staged_output
    from .executor import SubMSInterrupt, map_tasks
    from .transform import global_ids

    name, mms = spec.name, values["vis"]
    sel_values = _selection(values)
    if name == "mstransform":
        if (values["regridms"] or values["combinespws"] or values["createmms"] or
                values["docallib"] or values["douvcontsub"] or values["taql"] or
                values["realmodelcol"] or values["preaverage"] or not values["reindex"]):
            return _serial(spec, values, "regridding, spw combination and the other "
                           "whole-MS options are not parallel")
        keepmms = True
    else:
        keepmms = bool(values["keepmms"])
    out = check_new_output(values["outputvis"])
    sel = make_selection(mms, sel_values)
    kw = dict(vis=mms, channels=sel.channels, correlations=sel.correlations,
              datacolumn=values["datacolumn"])
    if name == "split":
        from ..tasks.split import _widths
        kw.update(chanbin=chanbin_per_spw(_widths(values["width"]), list(sel.spws)),
                  timebin=parse_timebin(values["timebin"]),
                  combine=parse_combine(values["combine"]),
                  keepflags=bool(values["keepflags"]))
    elif name == "hanningsmooth":
        from ..ms.transform_params import sel_text
        hanning = True
        if sel_text(values["smooth_spw"]).strip():
            from ..ms.selection import select
            hanning = set(select(mms, spw=sel_text(values["smooth_spw"])).spws)
        kw.update(hanning=hanning, keepflags=True)
        casalog.post("Hanning smoothing the spectra of " + mms)
    else:
        cb = chanbin_per_spw(values["chanbin"], list(sel.spws)) if values["chanaverage"] \
            else 1
        ta = values["timeaverage"]
        kw.update(chanbin=cb, hanning=bool(values["hanning"]),
                  timebin=parse_timebin(values["timebin"]) if ta else 0.0,
                  combine=parse_combine(values["timespan"], "timespan") if ta else (),
                  keepflags=bool(values["keepflags"]))
    ids = global_ids(Plan(rows=sel.rows, **kw))
    explicit = _check_selection(mms, sel_values, sel)
    del sel
    staged = mmslib.staging_dir(out)
    try:
        outs = [os.path.join(staged, mmslib.SUBMSS, mmslib.submss_name(out, k))
                for k in range(len(subs))]
        args = [(dict(kw, vis=s), sel_values, o, ids, _level(), explicit)
                for s, o in zip(subs, outs)]
        try:
            outcomes = map_tasks(worker.transform_subms, args, labels=subs)
        except SubMSInterrupt as exc:
            relay_logs(exc.outcomes)
            log_interrupted(name, exc, f"nothing is written ({out} not created)")
            raise
        relay_logs(outcomes)
        raise_first_failure(name, outcomes, subs)
        written = [o for o, r in zip(outs, outcomes) if not r.get("skipped")]
        nrows = sum(r["result"]["nrows"] for r in outcomes if not r.get("skipped"))
        if not written:
            raise ValueError(f"The data selection matches no rows of {mms}")
        if keepmms:
            # number the written sub-MSs 0..n-1
            final = []
            for k, o in enumerate(written):
                dst = os.path.join(staged, mmslib.SUBMSS, mmslib.submss_name(out, k))
                if o != dst:
                    os.rename(o, dst)
                final.append(dst)
            mmslib.share_subtables(final)
            mmslib.make_reference(staged, final, mmslib.separation_axis(mms))
            mmslib.finish(staged, out)
            casalog.post(f"Wrote {nrows} rows to the Multi-MS {out} ({len(final)} sub-MSs)")
        else:
            from casacore import tables as ct
            with staged_output(out) as tmp:
                parts = [ct.table(o, ack=False) for o in written]
                try:
                    joined = ct.table(parts, ack=False)
                    try:
                        joined.copy(tmp, deep=True, valuecopy=True)
                    finally:
                        joined.close()
                finally:
                    for p in parts:
                        p.close()
            casalog.post(f"Wrote {nrows} rows to {out} (joined from {len(written)} "
                         f"sub-MS outputs)")
    finally:
        if os.path.lexists(staged):
            mmslib.remove_tree(staged)
        if os.path.lexists(staged + ".aside"):
            mmslib.remove_tree(staged + ".aside")
    return None


def _flagmanager(spec, values, subs):
    """Flag versions of a Multi-MS are those of its sub-MSs (SUBMSS/<sub>.flagversions)."""
    from ..ms.flagversions import FlagVersions
    from .executor import map_tasks
    mms = os.path.abspath(values["vis"])
    if values["mode"] == "list":
        lists = [FlagVersions(s).list() for s in subs]
        common = set.intersection(*[{n for n, _ in x} for x in lists])
        entries = [(n, c) for n, c in lists[0] if n in common]
        casalog.post(f"MS : {mms} (a Multi-MS: the versions saved in all of its "
                     f"{len(subs)} sub-MSs)")
        casalog.post("")
        casalog.post("main : working copy in main table")
        for n, c in entries:
            casalog.post(f"{n} : {c}")
        out = {i: {"name": n, "comment": c} for i, (n, c) in enumerate(entries)}
        out["MS"] = mms
        return out
    from .executor import SubMSInterrupt
    name = values["versionname"]
    # the sub-MSs must keep the same versions: on Ctrl-C a save of a new
    # version is undone where it was done, any other mode is completed first
    undo = values["mode"] == "save" and bool(name) and \
        not FlagVersions(subs[0]).exists(name)
    try:
        outcomes = map_tasks(worker.run_impl, [(spec.name, dict(values, vis=s), {}, _level())
                                               for s in subs], interrupt=False, labels=subs,
                             finish=not undo)
    except SubMSInterrupt as exc:
        relay_logs(exc.outcomes)
        if undo:
            done = [s for s, o in zip(subs, exc.outcomes)
                    if not o.get("cancelled") and "error" not in o]
            relay_logs(map_tasks(worker.restore_flags, [(s, name, _level(), False, True)
                                                        for s in done],
                                 interrupt=False, labels=done))
            log_interrupted("flagmanager", exc, f"version '{name}' removed again from the "
                            f"{len(done)} sub-MS(s) where it was saved")
        else:
            log_interrupted("flagmanager", exc, f"mode '{values['mode']}' was completed in "
                            f"every sub-MS first")
        raise
    relay_logs(outcomes)
    raise_first_failure(spec.name, outcomes, subs)
    return None


HANDLERS = {"flagdata": _flagdata, "flagmanager": _flagmanager,
            "clearcal": _inplace, "initweights": _inplace,
            "listobs": _listobs, "split": _transform, "hanningsmooth": _transform,
            "mstransform": _transform}


def run_task(spec, values: dict):
    """Run ``spec`` on the Multi-MS ``values['vis']`` sub-MS by sub-MS."""
    from ..ms.mms import submss_names
    subs = submss_names(values["vis"])
    handler = HANDLERS.get(spec.name)
    if handler is None:
        from .dispatch import serial
        with serial():
            return spec.impl(**values)
    if spec.name == "listobs":
        casalog.post(f"{values['vis']} is a Multi-MS of {len(subs)} sub-MSs, listed as one "
                     f"MS through its reference table")
    else:
        casalog.post(f"{values['vis']} is a Multi-MS of {len(subs)} sub-MSs: {spec.name} "
                     f"runs on them in parallel")
    return handler(spec, values, subs)


def run_per_subms(task_name: str, params: dict, mms: str):
    """Run task ``task_name`` with ``params`` on every sub-MS of ``mms``; merged result."""
    from ..tasks import get_spec
    spec = get_spec(task_name)
    values = spec.bind((), dict(params, vis=mms))
    return run_task(spec, values)
