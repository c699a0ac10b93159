"""Starting the casalogger window beside the shell.

``maybe_start_logger(cfg)`` starts ``python -m casalogger_gui --control-stdin
<logfile>`` as a separate process (its own session, so Ctrl+C at the
prompt does not reach it), unless

* ``cfg.nologger`` or ``cfg.nogui`` is set (``--nologger``, ``--nogui``),
* there is no log file (``--nologfile``), or it (or, before it exists, its
  folder) is not writable,
* no display is available (neither ``DISPLAY`` nor ``WAYLAND_DISPLAY``),
* PyQt5 is not installed (checked with ``importlib.util.find_spec``: the
  shell never imports Qt);

then it posts one INFO line saying why, and the session goes on.

The shell talks to the window through the window's standard input (a
pipe): when the user calls ``casalog.setlogfile(new)``, a listener in
``casalog.logfile_listeners`` writes ``open <new path>`` to it and the window
shows the new file.  At shell exit (``atexit``) the pipe is closed and the
window closes, as CASA closes its logger when the session ends; if the shell
dies, the pipe closes all the same, so no window is left behind.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import sys

_proc = None


def _why_not(cfg, logfile: str) -> str | None:
    if getattr(cfg, "nogui", False):
        return "--nogui was given"
    if getattr(cfg, "nologger", False):
        return "--nologger was given"
    if getattr(cfg, "nologfile", False) or logfile == os.devnull:
        return "there is no log file (--nologfile)"
    if os.path.exists(logfile):
        if not os.access(logfile, os.W_OK):
            return f"the log file {logfile} is not writable"
    else:
        folder = os.path.dirname(logfile) or "."
        if not os.access(folder, os.W_OK):
            return f"the log folder {folder} is not writable"
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display is available (DISPLAY is not set)"
    try:
        found = importlib.util.find_spec("PyQt5") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        return "PyQt5 is not installed (pip install 'casashell[gui]')"
    return None


def logger_process():
    """The running logger's ``subprocess.Popen`` (None if not started)."""
    return _proc


def maybe_start_logger(cfg) -> None:
    """Start the log window on the session's log file, or say why not."""
    global _proc
    from .logsink import casalog
    if _proc is not None and _proc.poll() is None:
        return None
    logfile = casalog.logfile()
    reason = _why_not(cfg, logfile)
    if reason:
        casalog.post(f"casalogger is not started: {reason}", "INFO")
        return None
    import subprocess
    try:
        _proc = subprocess.Popen(
            [sys.executable, "-m", "casalogger_gui", "--control-stdin", logfile],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, close_fds=True, start_new_session=True)
    except OSError as exc:
        casalog.post(f"casalogger is not started: {exc.strerror or exc}", "INFO")
        return None
    casalog.logfile_listeners.append(_follow)
    atexit.register(stop_logger)
    return None


def _send(line: str) -> bool:
    proc = _proc
    if proc is None or proc.poll() is not None or proc.stdin is None:
        return False
    try:
        proc.stdin.write((line + "\n").encode("utf-8", "surrogateescape"))
        proc.stdin.flush()
        return True
    except (OSError, ValueError):
        return False


def _follow(path: str) -> None:
    """casalog.logfile_listeners callback: the window shows the new file."""
    if path and path != os.devnull:
        _send(f"open {path}")


def stop_logger(timeout: float = 0.5) -> None:
    """Close the window (at shell exit): end of input, then terminate."""
    global _proc
    proc, _proc = _proc, None
    from .logsink import casalog
    try:
        casalog.logfile_listeners.remove(_follow)
    except ValueError:
        pass
    if proc is None:
        return
    try:
        if proc.stdin is not None:
            proc.stdin.close()
    except OSError:
        pass
    try:
        proc.wait(timeout)
    except Exception:
        proc.terminate()      # its own pid only
