"""The hook the task framework calls instead of a task's implementation.

A task named in :data:`PARALLEL_TASKS` whose ``vis`` is a Multi-MS runs sub-MS
by sub-MS (see :mod:`casashell.parallel.tasks`); anything else runs the
implementation as before.  Only the standard library is imported here.
"""

from __future__ import annotations

import contextlib
import threading

#: tasks that run per sub-MS when their ``vis`` is a Multi-MS
PARALLEL_TASKS = frozenset({"flagdata", "flagmanager", "split", "mstransform",
                            "hanningsmooth", "listobs", "clearcal", "initweights"})

_state = threading.local()


@contextlib.contextmanager
def serial():
    """Inside this block tasks never go parallel (used for the serial parts)."""
    old = getattr(_state, "serial", False)
    _state.serial = True
    try:
        yield
    finally:
        _state.serial = old


def run(spec, values: dict):
    """Run task ``spec`` with validated ``values``; per sub-MS for a Multi-MS."""
    if spec.name in PARALLEL_TASKS and not getattr(_state, "serial", False):
        from ..ms.mms import is_mms
        if is_mms(values.get("vis")):
            from .tasks import run_task
            return run_task(spec, values)
    return spec.impl(**values)
