"""Parameter handling shared by split, mstransform and hanningsmooth.

Only the standard library at import time: the task modules import this.
"""

from __future__ import annotations

import re

SELECTION_PARAMS = ("field", "spw", "scan", "antenna", "correlation", "timerange", "intent",
                    "array", "uvrange", "observation", "feed")

_TIME_UNITS = {"": 1.0, "s": 1.0, "sec": 1.0, "min": 60.0, "m": 60.0, "h": 3600.0,
               "hr": 3600.0, "d": 86400.0, "ms": 1e-3, "us": 1e-6}


def sel_text(value) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return "" if value is None else str(value)


def parse_timebin(value, name="timebin") -> float:
    """'10s', '1min', '0.5h', 30 -> seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        secs = float(value)
    else:
        m = re.fullmatch(r"\s*([-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)\s*([a-zA-Z]*)\s*",
                         str(value))
        if not m or m.group(2).lower() not in _TIME_UNITS:
            raise ValueError(f"{name} '{value}' is not a time (e.g. '10s', '2min')")
        secs = float(m.group(1)) * _TIME_UNITS[m.group(2).lower()]
    if secs < 0:
        raise ValueError(f"{name} '{value}' is negative")
    return secs


def parse_combine(value, name="combine") -> tuple:
    text = sel_text(value).replace(" ", "").lower()
    parts = tuple(p for p in text.split(",") if p)
    bad = [p for p in parts if p not in ("scan", "state", "field")]
    if bad:
        raise ValueError(f"{name} '{value}': '{bad[0]}' is not one of scan, state, field")
    return parts


def chanbin_per_spw(width, spws) -> dict:
    """An int or a list (one per selected spw, in order) -> {spw: width}."""
    if isinstance(width, (list, tuple)):
        if len(width) == 1:
            return {s: int(width[0]) for s in spws}
        if len(width) != len(spws):
            raise ValueError(f"width {list(width)} has {len(width)} values for "
                             f"{len(spws)} selected spectral windows")
        return {s: int(w) for s, w in zip(spws, width)}
    return {s: int(width) for s in spws}


def make_selection(vis, values: dict, taql: str = ""):
    """casashell.ms.selection.select with the task's selection parameters (and an
    extra TaQL WHERE expression, mstransform's ``taql``)."""
    from .selection import select
    kw = {k: sel_text(values.get(k, "")) for k in SELECTION_PARAMS}
    if taql and str(taql).strip():
        return select(vis, **kw, taql=str(taql))
    return select(vis, **kw)
