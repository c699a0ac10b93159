"""listhistory: the HISTORY table of a MeasurementSet, to the log."""

from __future__ import annotations

from ._framework import Param, task

#: HISTORY priorities as the log writes them
_PRIORITY = {"NORMAL": "INFO", "NORMAL1": "INFO1", "NORMAL2": "INFO2", "NORMAL3": "INFO3",
             "NORMAL4": "INFO4", "NORMAL5": "INFO5", "DEBUG": "DEBUGGING", "ERROR": "SEVERE"}


@task(
    summary="List the processing history of a dataset",
    category="information",
    params=[Param("vis", "path", "", "Name of input visibility file (MS)")],
    history=None,
)
def listhistory(vis):
    from ..logsink import casalog
    from ..ms.listing import history_rows, mjd_seconds_text
    from ..ms.core import check_ms

    path = check_ms(vis)
    rows = history_rows(path)
    if not rows:
        casalog.post("The HISTORY table is empty")
        return None
    casalog.post(f"History table entries: {len(rows)}")
    for time, priority, origin, message in rows:
        prio = _PRIORITY.get(priority.strip().upper(), priority.strip().upper() or "INFO")
        casalog.post(f"{mjd_seconds_text(time)}  {message}", prio, origin.strip())
    return None
