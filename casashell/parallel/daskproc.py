"""Entry point of the local dask cluster's processes (scheduler, workers).

``python -m casashell.parallel.daskproc PARENT_PID [--pdeathsig] -- ARGS``
runs ``dask ARGS`` (as ``python -m dask ARGS`` would) in a process that

* ignores the terminal's Ctrl-C: the session starts it in a session of its
  own (``start_new_session``), so the SIGINT of the terminal's foreground
  process group never reaches it; only the session's cancellation path
  (``worker.cancel_run``) stops work;
* ends soon after the session process ``PARENT_PID`` has died (even by
  ``kill -9``): with ``--pdeathsig`` on Linux the kernel sends SIGTERM at
  once (``prctl(PR_SET_PDEATHSIG)``), and everywhere a watchdog thread
  notices the change of the parent pid within a second and sends SIGTERM
  itself; a process that has not ended 20 s after that is ended with
  ``os._exit``.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

#: seconds between two checks of the parent pid
POLL = 1.0
#: seconds a process has for a clean exit after its parent died
GRACE = 20.0


def set_pdeathsig(sig=signal.SIGTERM) -> bool:
    """Ask Linux to send ``sig`` to this process when its parent dies."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        return libc.prctl(pr_set_pdeathsig, int(sig), 0, 0, 0) == 0
    except Exception:  # noqa: BLE001 - no prctl: the watchdog alone
        return False


def _watchdog(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(POLL)
    try:
        os.kill(os.getpid(), signal.SIGTERM)
    except OSError:
        pass
    time.sleep(GRACE)
    os._exit(1)


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv or not argv or not argv[0].isdigit():
        sys.exit("usage: python -m casashell.parallel.daskproc PARENT_PID "
                 "[--pdeathsig] -- DASK_ARGS")
    sep = argv.index("--")
    parent, opts, rest = int(argv[0]), argv[1:sep], argv[sep + 1:]
    if "--pdeathsig" in opts:
        set_pdeathsig()
    if os.getppid() != parent:        # the parent died before the line above
        sys.exit(1)
    threading.Thread(target=_watchdog, args=(parent,), name="parent-watchdog",
                     daemon=True).start()
    import runpy
    sys.argv = ["dask", *rest]
    runpy.run_module("dask", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
