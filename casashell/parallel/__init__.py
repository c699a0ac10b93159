"""Multi-MS processing on dask.distributed.

* :func:`get_client` — the session's dask client: a LocalCluster (worker
  processes sized to the cores) by default, or the scheduler named by the
  ``dask_scheduler`` configuration variable / ``casa --dask-scheduler``.
* :func:`run_per_subms` — run a task on every sub-MS of a Multi-MS as dask
  tasks and merge the results.
* :mod:`.dispatch` — the framework hook: tasks given a Multi-MS go parallel.

Importing this package is cheap (dask is imported on first use).
"""

from __future__ import annotations


def get_client(cfg=None):
    from .executor import get_client as _get
    return _get(cfg)


def run_per_subms(task_name: str, params: dict, mms: str):
    from .tasks import run_per_subms as _run
    return _run(task_name, params, mms)


def close_client():
    from .executor import close_client as _close
    _close()
