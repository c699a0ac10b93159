"""Configuration.  Placeholder: filled in with the shell issue."""

from types import SimpleNamespace

_current = None


def current():
    global _current
    if _current is None:
        _current = SimpleNamespace(logfile=None, nologfile=False)
    return _current
