"""Appending rows to an MS's HISTORY subtable."""

from __future__ import annotations

import os
import time

# seconds between the MJD epoch (1858-11-17) and the Unix epoch
_MJD_UNIX_OFFSET = 3506716800.0


def append_history(vis: str, messages: list[str], origin: str,
                   priority: str = "INFO") -> None:
    """Append one HISTORY row per message (as CASA's tasks do).

    Raises OSError/RuntimeError if the MS or its HISTORY table cannot be written.
    """
    from casacore import tables as ct

    path = os.path.join(vis, "HISTORY")
    if not os.path.isdir(path):
        raise OSError(f"{vis} has no HISTORY subtable")
    now = time.time() + _MJD_UNIX_OFFSET
    with ct.table(path, readonly=False, ack=False) as t:
        start = t.nrows()
        n = len(messages)
        t.addrows(n)
        cols = set(t.colnames())
        t.putcol("TIME", [now] * n, start, n)
        t.putcol("MESSAGE", list(messages), start, n)
        t.putcol("ORIGIN", [origin] * n, start, n)
        t.putcol("PRIORITY", [priority] * n, start, n)
        if "OBSERVATION_ID" in cols:
            t.putcol("OBSERVATION_ID", [-1] * n, start, n)
        if "OBJECT_ID" in cols:
            t.putcol("OBJECT_ID", [0] * n, start, n)
        if "APPLICATION" in cols:
            t.putcol("APPLICATION", ["casashell"] * n, start, n)
        for c in ("CLI_COMMAND", "APP_PARAMS"):
            if c in cols:
                for r in range(start, start + n):
                    t.putcell(c, r, [""])
