"""Crash reports.  Placeholder: filled in with the task framework issue."""


def install(cfg) -> None:
    return None
