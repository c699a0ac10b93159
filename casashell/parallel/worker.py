"""Functions that run on the dask workers, one call per sub-MS.

Every function returns a plain dict: ``result`` (or ``error`` + ``type``),
``logs`` (the ``(message, priority)`` pairs the work posted to casalog in
that worker, shipped back so that the session's log gets them with the
worker named in the origin) and ``worker`` (the worker's name).  Exceptions
are caught here so that the logs of a failed sub-MS are not lost.

Cancellation (Ctrl-C in the session): every call runs through
:func:`run_cancellable` with the id of its run.  The session cancels a run
with ``client.run(cancel_run, run_id)``, which sets a flag in every worker
process at once (dask runs it on the worker's event loop, beside the busy
task thread).  A call that starts after that does nothing (``started``
False); a running one raises :class:`SubMSCancelled` at its next
*checkpoint*: the next read of table data (python-casacore's ``getcol``,
``getcolslice``, ... are wrapped in the worker processes), i.e. between two
chunks of the work, never between the FLAG and FLAG_ROW writes of a chunk.
The exception is raised once per call, so the call's own clean-up (a flag
restore, the removal of a staged output) runs normally.  Calls made with
``interrupt=False`` are not stopped once started (they run to their end).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time


class SubMSCancelled(KeyboardInterrupt):
    """Raised at a checkpoint of a sub-MS call whose run was cancelled."""


#: ids of the runs cancelled in this process (set by :func:`cancel_run`)
_cancelled_runs: set = set()
#: the cancellable call running in this thread (None elsewhere)
_local = threading.local()
#: functions called as ``hook(state)`` at every checkpoint of a cancellable
#: call, and at its end (tests and diagnostics; see :func:`install_pause`)
_checkpoint_hooks: list = []
_end_hooks: list = []
_installed = False

#: python-casacore table methods that read data: the checkpoints
_READS = ("getcol", "getcolnp", "getvarcol", "getcolslice", "getcolslicenp",
          "getcellslice", "getcellslicenp")


class _Call:
    __slots__ = ("run_id", "interrupt", "label", "raised", "paused")

    def __init__(self, run_id, interrupt, label):
        self.run_id, self.interrupt, self.label = run_id, interrupt, label
        self.raised = self.paused = False


def cancel_run(run_id: str) -> bool:
    """Mark run ``run_id`` cancelled in this process (called with client.run)."""
    _cancelled_runs.add(run_id)
    return True


def run_cancelled(run_id) -> bool:
    return run_id in _cancelled_runs


def checkpoint() -> None:
    """Raise :class:`SubMSCancelled` (once) if the current call's run is cancelled."""
    st = getattr(_local, "call", None)
    if st is None:
        return
    for hook in list(_checkpoint_hooks):
        hook(st)
    if st.interrupt and not st.raised and st.run_id in _cancelled_runs:
        st.raised = True
        raise SubMSCancelled(f"{st.label}: stopped (the run was cancelled)")


def _install_checkpoints() -> None:
    """Wrap python-casacore's data-reading table methods with :func:`checkpoint`."""
    global _installed
    if _installed:
        return
    from casacore.tables import table

    def wrap(orig):
        def method(self, *args, **kwargs):
            if getattr(_local, "call", None) is not None:
                checkpoint()
            return orig(self, *args, **kwargs)
        method.__name__ = orig.__name__
        method.__doc__ = orig.__doc__
        method.__wrapped__ = orig
        return method

    for name in _READS:
        orig = getattr(table, name, None)
        if orig is not None and not hasattr(orig, "__wrapped__"):
            setattr(table, name, wrap(orig))
    _installed = True


def run_cancellable(run_id, interrupt: bool, label: str, func, *args):
    """Run ``func(*args)`` (a sub-MS call returning an outcome dict) as part of
    run ``run_id``: not at all if the run is already cancelled, else with
    checkpoints that stop it (``interrupt``) once the run is cancelled."""
    if run_id in _cancelled_runs:
        return {"cancelled": True, "started": False, "logs": [], "worker": worker_label()}
    _install_checkpoints()
    old = getattr(_local, "call", None)
    _local.call = _Call(run_id, bool(interrupt), label)
    try:
        return func(*args)
    finally:
        st, _local.call = _local.call, old
        for hook in list(_end_hooks):
            hook(st)


def install_pause(marker_dir=None, labels=None, timeout: float = 300.0) -> bool:
    """Test/diagnostic hook (run on the workers with ``client.run``): at its
    first checkpoint every cancellable call whose label's base name is in
    ``labels`` (None: all) creates ``<marker_dir>/<label>.started``, then
    waits until its run is cancelled or ``<marker_dir>/release`` exists (at
    most ``timeout`` seconds), creates ``<label>.cancel-seen`` if it was
    cancelled, and goes on.  Every call that ends creates
    ``<label>.finished``.  ``install_pause(None)`` removes the hooks."""
    _checkpoint_hooks.clear()
    _end_hooks.clear()
    if marker_dir is None:
        return True
    names = None if labels is None else {os.path.basename(str(x)) for x in labels}

    def finished(st):
        open(os.path.join(marker_dir, os.path.basename(str(st.label)) + ".finished"),
             "w").close()

    def pause(st):
        if st.paused or (names is not None and os.path.basename(str(st.label)) not in names):
            return
        st.paused = True
        base = os.path.join(marker_dir, os.path.basename(str(st.label)))
        open(base + ".started", "w").close()
        t_end = time.monotonic() + timeout
        release = os.path.join(marker_dir, "release")
        while st.run_id not in _cancelled_runs and not os.path.exists(release) and \
                time.monotonic() < t_end:
            time.sleep(0.01)
        if st.run_id in _cancelled_runs:
            open(base + ".cancel-seen", "w").close()

    _checkpoint_hooks.append(pause)
    _end_hooks.append(finished)
    return True


def worker_label() -> str:
    try:
        from distributed import get_worker
        w = get_worker()
        name = str(w.name)
        if "://" in name:
            name = name.split("://", 1)[1]
        return name if name.startswith("worker") else f"worker-{name}"
    except Exception:  # noqa: BLE001 - not on a dask worker
        return f"worker-{os.getpid()}"


@contextlib.contextmanager
def captured_log(level: str = "INFO"):
    """Collect what this thread posts to casalog (nothing is written to a file)."""
    from ..logsink import casalog, normalize_priority, priority_rank

    lines: list = []
    me = threading.get_ident()
    threshold = priority_rank(level)
    original = casalog._post

    def _post(message, priority, origin, echo):
        if threading.get_ident() != me:
            return original(message, priority, origin, echo)
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        if not isinstance(message, str):
            raise TypeError("argument _message must be a string")
        prio = normalize_priority(priority)
        if priority_rank(prio) < threshold:
            return False
        lines.append((message, prio))
        return True

    casalog._post = _post
    try:
        yield lines
    finally:
        casalog._post = original


def _impl(task_name: str):
    import importlib
    mod = importlib.import_module(f"casashell.tasks.{task_name}")
    return getattr(mod, task_name).spec.impl


def _outcome(fn, level):
    label = worker_label()
    with captured_log(level) as logs:
        try:
            return {"result": fn(), "logs": logs, "worker": label}
        except KeyboardInterrupt:
            # SubMSCancelled at a checkpoint, or Ctrl-C when the sub-MSs run in
            # the session: the call's clean-up has run; the session stops the task
            return {"cancelled": True, "started": True, "logs": logs, "worker": label}
        except BaseException as exc:  # noqa: BLE001 - reported to the session
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            return {"error": text, "type": type(exc).__name__, "logs": logs,
                    "worker": label, "bases": [c.__name__ for c in type(exc).__mro__]}


def selection_empty(sub: str, sel: dict) -> bool:
    """Does the (non-empty) selection ``sel`` match no row of ``sub``?"""
    from ..ms.selection import select
    from ..ms.transform_params import sel_text
    kw = {k: sel_text(v) for k, v in sel.items() if k != "autocorr"}
    kw = {k: v for k, v in kw.items() if v.strip()}
    auto = sel.get("autocorr", False)
    if not kw and not auto:
        return False
    try:
        return select(sub, autocorr=auto, allow_empty=True, **kw).is_empty
    except ValueError:
        # the selection was checked on the whole Multi-MS: an id or name that
        # this sub-MS's rows lack (a scan of another sub-MS) selects nothing here
        return True


_ROW_IDS = (("scan", "SCAN_NUMBER"), ("observation", "OBSERVATION_ID"),
            ("array", "ARRAY_ID"))


def localize(sub: str, sel: dict, explicit: dict | None):
    """``sel`` for one sub-MS, or None when it selects nothing there.

    Scan, observation and array ids are checked against the rows of an MS
    (an id no row has is an error); ``explicit`` holds the ids the selection
    picked in the whole Multi-MS, and each sub-MS gets those it has.  This
    selects the same rows: only ids of finally selected rows are kept.
    """
    sel = dict(sel or {})
    if not explicit:
        return sel
    import numpy as np
    from casacore import tables as ct
    with ct.table(sub, ack=False) as t:
        for param, col in _ROW_IDS:
            if param in explicit:
                have = set(np.unique(t.getcol(col)).tolist()) if t.nrows() else set()
                ids = [i for i in explicit[param] if i in have]
                if not ids:
                    return None
                sel[param] = ",".join(str(i) for i in ids)
    return sel


# ---------------------------------------------------------------------------
# per-sub-MS jobs

def run_impl(task_name: str, values: dict, sel: dict, level: str = "INFO",
             explicit: dict | None = None):
    """Run task ``task_name``'s implementation with ``values`` (vis = the sub-MS).

    Skipped (result ``None``, ``skipped`` True) when ``sel`` matches no row.
    """
    def work():
        checkpoint()
        local = localize(values["vis"], sel, explicit)
        if local is None or (local and selection_empty(values["vis"], local)):
            return "__skipped__"
        vals = dict(values, **{k: v for k, v in local.items() if k in values})
        return _impl(task_name)(**vals)
    out = _outcome(work, level)
    if out.get("result") == "__skipped__":
        out["result"], out["skipped"] = None, True
    return out


def flagdata_subms(values: dict, sel: dict, backup: bool, level: str = "INFO",
                   explicit: dict | None = None):
    """flagdata on one sub-MS; with ``backup`` the flags are saved first and
    restored if the run fails.  ``result`` is ``(summary, version_name)``."""
    saved = {}

    def work():
        sub = values["vis"]
        name = None
        if backup:
            # every sub-MS gets the version, so that its name is the same in all
            from ..ms.flagversions import backup_flags
            name = saved["version"] = backup_flags(sub, "flagdata")
        local = localize(sub, sel, explicit)
        if local is None or (local and selection_empty(sub, local)):
            return ("__skipped__", name)
        vals = dict(values, **{k: v for k, v in local.items()
                               if k in values and k != "autocorr"})
        try:
            res = _impl("flagdata")(**vals)
        except BaseException:
            if name:
                from ..ms.flagversions import FlagVersions
                FlagVersions(sub).restore(name)
            raise
        return (res, name)
    out = _outcome(work, level)
    out["version"] = saved.get("version")
    res = out.get("result")
    if isinstance(res, tuple) and res[0] == "__skipped__":
        out["result"], out["skipped"] = (None, res[1]), True
    return out


def restore_flags(sub: str, name: str, level: str = "INFO", restore: bool = True,
                  delete: bool = False):
    """Restore (and/or delete) flag version ``name`` of ``sub``."""
    def work():
        from ..ms.flagversions import FlagVersions
        fv = FlagVersions(sub)
        if restore:
            fv.restore(name)
        if delete and fv.exists(name):
            fv.delete(name)
        return name
    return _outcome(work, level)


def drop_columns(sub: str, columns: list, level: str = "INFO"):
    def work():
        from casacore import tables as ct
        with ct.table(sub, readonly=False, ack=False) as t:
            gone = [c for c in columns if c in t.colnames()]
            if gone:
                t.removecols(gone)
        return gone
    return _outcome(work, level)


def transform_subms(plan_kw: dict, sel: dict, out: str, global_ids: dict,
                    level: str = "INFO", explicit: dict | None = None):
    """Write the transformed sub-MS ``out`` from ``plan_kw['vis']`` with the
    ids (fields, spws, polarizations, data descriptions) of the whole Multi-MS."""
    def work():
        from ..ms.selection import select
        from ..ms.transform import Plan
        from ..ms.transform_params import sel_text
        from .transform import GlobalIdTransformer
        from ..logsink import casalog
        sub = plan_kw["vis"]
        local = localize(sub, sel, explicit)
        if local is None or selection_empty(sub, local):
            return "__skipped__"
        kw = {k: sel_text(v) for k, v in local.items()}
        s = select(sub, allow_empty=True, **{k: v for k, v in kw.items() if v.strip()})
        if s.is_empty:
            return "__skipped__"
        plan = Plan(rows=s.rows, **plan_kw)
        tr = GlobalIdTransformer(plan, out, lambda m, p="INFO": casalog.post(m, p),
                                 global_ids)
        try:
            info = tr.run()
        except ValueError as exc:
            # nothing of this sub-MS is written (every selected row flagged with
            # keepflags=False, or no selected channel/correlation): others may be
            text = str(exc)
            if "keepflags=False" in text or text.startswith("The data selection matches no"):
                return "__skipped__"
            raise
        info.update(tr.summary)
        casalog.post(f"Wrote {info['nrows']} rows to {os.path.basename(out)}")
        return info
    res = _outcome(work, level)
    if res.get("result") == "__skipped__":
        res["result"], res["skipped"] = None, True
    return res


def write_submss(vis: str, rows, dst: str, datacolumn: str, flagbackup: bool,
                 level: str = "INFO"):
    """Copy ``rows`` of ``vis`` (every column, every subtable) into the new sub-MS ``dst``."""
    def work():
        from .partitioning import copy_rows
        return copy_rows(vis, rows, dst, datacolumn, flagbackup)
    return _outcome(work, level)


def clearcal_new_columns(sub: str, columns: list, level: str = "INFO"):
    """Add ``columns`` (MODEL_DATA and/or CORRECTED_DATA) to a sub-MS whose rows
    a clearcal selection skipped, filled as clearcal fills a new column for
    every row (MODEL_DATA = unit model, CORRECTED_DATA = DATA), so that every sub-MS
    keeps the same columns."""
    def work():
        from casacore import tables as ct

        from ..ms.writer import add_array_column, fill_scratch_columns
        with ct.table(sub, readonly=False, ack=False) as t:
            src = "DATA" if "DATA" in t.colnames() else "FLOAT_DATA"
            todo = [c for c in columns if c not in t.colnames()]
            try:
                for c in todo:
                    add_array_column(t, c, like=src, valuetype="complex")
                fill_scratch_columns(t, todo, src)
                t.flush()
            except BaseException:
                gone = [c for c in todo if c in t.colnames()]
                if gone:
                    t.removecols(gone)
                raise
        return todo
    return _outcome(work, level)
