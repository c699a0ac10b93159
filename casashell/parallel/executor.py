"""The dask.distributed client of the session.

``dask_scheduler`` (config.py, or ``casa --dask-scheduler ADDR``):

* ``None`` (default): a local cluster (:class:`LocalProcessCluster`): a
  ``dask scheduler`` and ``cores`` ``dask worker`` processes (one thread
  each: casacore is not thread-safe) started as subprocesses, listening on
  127.0.0.1 only, without dashboards.  ``cores``: config / ``casa --cores N``;
  default the CPUs this process may use.  Started on first use and kept for
  the session.  (Subprocesses rather than ``distributed.LocalCluster``:
  that one starts its workers with multiprocessing's *spawn*, which re-runs
  a user's script that has no ``if __name__ == '__main__'`` guard.)
* an address such as ``'tcp://host:8786'``: connect to that scheduler.  Its
  workers must see the MeasurementSets at the same paths (shared file
  system) and have casashell installed.

Without dask.distributed installed, :func:`map_tasks` runs the calls one
after the other in this process (one INFO line says so).
"""

from __future__ import annotations

import atexit
import os
import sys
import threading

_lock = threading.Lock()
_client = None
_cluster = None
_key = None


def default_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _settings(cfg):
    if cfg is None:
        try:
            from .. import config
            cfg = config.current()
        except Exception:  # noqa: BLE001 - no configuration: defaults
            cfg = None
    addr = getattr(cfg, "dask_scheduler", None) or None
    cores = int(getattr(cfg, "cores", 0) or 0) or default_cores()
    return addr, cores


def have_distributed() -> bool:
    import importlib.util
    return importlib.util.find_spec("distributed") is not None


def get_client(cfg=None):
    """The session's dask client (created on first use, then reused).

    Raises RuntimeError when dask.distributed is not installed or the
    scheduler cannot be reached.
    """
    global _client, _cluster, _key
    addr, cores = _settings(cfg)
    key = (addr, None if addr else cores)
    with _lock:
        if _client is not None and _key == key:
            if _client.status == "running" and (_cluster is None or _cluster.alive()):
                return _client
            if _cluster is not None and not _cluster.alive():
                from ..logsink import casalog
                casalog.post("A process of the local dask cluster has died: restarting "
                             "the cluster", "WARN")
        _close_locked()
        if not have_distributed():
            raise RuntimeError("Multi-MS parallel processing needs dask.distributed: "
                               "pip install 'casashell[parallel]'")
        from distributed import Client
        from ..logsink import casalog
        _quiet_distributed_logging()
        # run before distributed's own exit handlers (registered at its import)
        atexit.unregister(_close_at_exit)
        atexit.register(_close_at_exit)
        if addr:
            _probe(addr)
            try:
                client = Client(addr, timeout=20, set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise RuntimeError(f"cannot connect to the dask scheduler {addr}: {exc}") \
                    from None
            nw = len(client.scheduler_info().get("workers", {}))
            casalog.post(f"Connected to the dask scheduler {addr} ({nw} workers)")
        else:
            cluster = LocalProcessCluster(cores)
            try:
                client = Client(cluster.address, timeout=30, set_as_default=False)
                client.wait_for_workers(cores, timeout=60)
            except BaseException:
                cluster.close()
                raise
            _cluster = cluster
            casalog.post(f"Started a local dask cluster: {cores} worker processes "
                         f"({cluster.address})")
        _client, _key = client, key
        return client


def _probe(addr: str) -> None:
    """Fail at once (not after the client's timeout) when nothing listens at a
    tcp:// address."""
    import socket
    from urllib.parse import urlsplit
    try:
        u = urlsplit(addr if "://" in addr else "tcp://" + addr)
        host, port = u.hostname, u.port or 8786
    except ValueError:
        raise RuntimeError(f"dask_scheduler {addr!r} is not an address like "
                           f"tcp://host:8786") from None
    if u.scheme not in ("tcp", "tls", "ws", "wss", "inproc", "ucx"):
        raise RuntimeError(f"dask_scheduler {addr!r} is not an address like tcp://host:8786")
    if u.scheme != "tcp" or not host:
        return
    try:
        socket.create_connection((host, port), timeout=10).close()
    except OSError as exc:
        raise RuntimeError(f"cannot connect to the dask scheduler {addr}: "
                           f"{exc.strerror or exc}") from None


def _close_locked():
    global _client, _cluster, _key
    if _client is not None:
        try:
            _client.close()
        except Exception:  # noqa: BLE001
            pass
    if _cluster is not None:
        try:
            _cluster.close()
        except Exception:  # noqa: BLE001
            pass
    _client = _cluster = _key = None


def close_client():
    """Close the session's client (and the local cluster it started)."""
    with _lock:
        _close_locked()


def _close_at_exit():
    """close_client at exit; a Ctrl-C meanwhile kills the cluster's processes
    instead (no traceback)."""
    cluster = _cluster
    try:
        close_client()
    except KeyboardInterrupt:
        try:
            import signal
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        except (ValueError, OSError):      # not the main thread
            pass
        if cluster is not None:
            cluster.kill()


atexit.register(_close_at_exit)


class _ToCasalog:
    """logging handler of the session's ``distributed`` logger: its messages
    (connection errors and reconnect attempts of the client while the
    cluster stops or restarts, with tracebacks) go to the casalog at DEBUG
    level, first line only, instead of the terminal."""

    _made = None

    @classmethod
    def make(cls):
        import logging

        class Handler(logging.Handler):
            def emit(self, record):
                try:
                    from ..logsink import casalog
                    msg = record.getMessage().strip().splitlines()
                    casalog.post(f"dask {record.name} {record.levelname}: "
                                 f"{msg[0] if msg else ''}", "DEBUG")
                except Exception:  # noqa: BLE001 - never from a logging call
                    pass

        if cls._made is None:
            cls._made = Handler(logging.DEBUG)
        return cls._made


def _quiet_distributed_logging() -> None:
    """Route the session's ``distributed`` log records to the casalog (DEBUG)
    instead of distributed's own terminal handler."""
    import logging
    handler = _ToCasalog.make()
    # distributed gives "distributed" and some of its children (the client's
    # logger among them) terminal handlers of their own
    names = ["distributed"] + [n for n in list(logging.Logger.manager.loggerDict)
                               if n.startswith("distributed.")]
    for name in names:
        log = logging.getLogger(name)
        if name != "distributed" and not log.handlers:
            continue                 # propagates to "distributed"
        for h in list(log.handlers):
            if h is not handler:
                log.removeHandler(h)
        if handler not in log.handlers:
            log.addHandler(handler)
        log.propagate = False


class SubMSInterrupt(KeyboardInterrupt):
    """Ctrl-C during :func:`map_tasks`: every call has stopped (or was never
    started); ``outcomes`` holds one outcome per call (``cancelled`` with
    ``started`` False/True for those not finished)."""

    def __init__(self, outcomes: list, abandoned: int = 0):
        super().__init__("interrupted by the user (Ctrl-C)")
        self.outcomes = outcomes
        self.abandoned = abandoned


def outcome_counts(outcomes) -> tuple[int, int, int]:
    """(finished, stopped while running, not started) of interrupted outcomes."""
    done = sum(1 for o in outcomes if not o.get("cancelled"))
    stopped = sum(1 for o in outcomes if o.get("cancelled") and o.get("started"))
    return done, stopped, len(outcomes) - done - stopped


def _not_started():
    return {"cancelled": True, "started": False, "logs": [], "worker": "?"}


#: seconds the session waits, after Ctrl-C, for the workers to stop their calls
STOP_WAIT = 600.0


def map_tasks(func, arglist: list, cfg=None, interrupt: bool = True,
              labels: list | None = None, finish: bool = False, local: bool = False) -> list:
    """Call ``func(*args)`` for every ``args`` of ``arglist`` on the workers;
    return the results in order.  Every call runs to its end (a failure does
    not cancel the others); a call that could not run at all (worker lost)
    gives ``{"error": text, "type": "RuntimeError"}``.

    Ctrl-C (KeyboardInterrupt) while waiting: the calls not started are
    cancelled, the running ones are stopped at their next checkpoint
    (``interrupt=True``; with False they run to their end), the session waits
    for them to stop, then raises :class:`SubMSInterrupt` with the outcomes.
    With ``finish=True`` nothing is cancelled: every call runs to its end first.
    ``labels`` name the calls (the sub-MSs) for the workers.  ``local=True``
    (or without dask.distributed): the calls run one after the other in this
    process.
    """
    if not arglist:
        return []
    from . import worker
    labels = [str(x) for x in (labels or range(len(arglist)))]
    if local or not have_distributed():
        from ..logsink import casalog
        if not local:
            casalog.post("dask.distributed is not installed: processing the sub-MSs one "
                         "after the other in this process", "WARN")
        out = []
        try:
            for args in arglist:
                o = func(*args)
                out.append(o)
                if o.get("cancelled"):      # Ctrl-C inside the call (caught there)
                    raise KeyboardInterrupt
        except KeyboardInterrupt:
            out += [_not_started() for _ in range(len(arglist) - len(out))]
            raise SubMSInterrupt(out) from None
        return out
    import uuid
    client = get_client(cfg)
    run_id = uuid.uuid4().hex
    futures: list = []
    out: list = [None] * len(arglist)

    def submit_rest():
        for lab, args in list(zip(labels, arglist))[len(futures):]:
            futures.append(client.submit(worker.run_cancellable, run_id, interrupt, lab,
                                         func, *args, pure=False))

    try:
        submit_rest()
        for k, f in enumerate(futures):
            out[k] = _result(f)
    except KeyboardInterrupt:
        if finish:
            submit_rest()
        abandoned = _stop_run(client, run_id, futures, out, interrupt, finish)
        for k in range(len(futures), len(out)):      # never submitted
            out[k] = _not_started()
        raise SubMSInterrupt(out, abandoned) from None
    except BaseException:
        for f in futures:
            f.cancel()
        raise
    return out


def _result(f) -> dict:
    try:
        return f.result()
    except Exception as exc:  # noqa: BLE001 - the call could not run
        return {"error": f"{type(exc).__name__}: {exc}", "type": "RuntimeError",
                "logs": [], "worker": "?"}


def _stop_run(client, run_id, futures, out, interrupt, finish=False) -> int:
    """Cancel run ``run_id`` after Ctrl-C; fill ``out``; return the number of
    calls given up (a second Ctrl-C while waiting)."""
    from ..logsink import casalog
    from . import worker
    if finish:
        casalog.post("Ctrl-C: finishing the sub-MSs first ...", "WARN")
    else:
        casalog.post("Ctrl-C: cancelling the sub-MSs not started" +
                     (" and stopping those running" if interrupt else
                      "; those running are finished first") + " ...", "WARN")
    try:
        if not finish:
            # the flag first (a call starting after it does nothing), then the
            # futures the scheduler has not given to a worker yet
            client.run(worker.cancel_run, run_id, on_error="ignore")
            try:
                busy = {k for keys in client.processing().values() for k in keys}
            except Exception:  # noqa: BLE001 - then every unfinished one is awaited
                busy = None
            for k, f in enumerate(futures):
                if out[k] is None and busy is not None and not f.done() and \
                        f.key not in busy:
                    f.cancel()
        import time
        t_end = time.monotonic() + STOP_WAIT
        for f in futures:
            if f.cancelled() or f.done():
                continue
            try:
                f.exception(timeout=max(0.1, t_end - time.monotonic()))
            except KeyboardInterrupt:
                raise
            except Exception:  # noqa: BLE001 - failed, cancelled or timed out: below
                pass
    except KeyboardInterrupt:
        casalog.post("Ctrl-C again: not waiting for the sub-MSs still running", "WARN")
    except Exception as exc:  # noqa: BLE001 - scheduler lost: report, then give up
        casalog.post(f"Could not stop the sub-MSs on the dask workers: {exc}", "WARN")
    abandoned = 0
    for k, f in enumerate(futures):
        if out[k] is not None:
            continue
        if f.cancelled():
            out[k] = _not_started()
        elif f.done():
            out[k] = _result(f)
        else:
            try:
                f.cancel()
            except Exception:  # noqa: BLE001
                pass
            abandoned += 1
            out[k] = {"cancelled": True, "started": True, "abandoned": True, "logs": [],
                      "worker": "?"}
    return abandoned


def _dask_cmd(*args) -> list:
    """The command line of a cluster process: ``dask ARGS`` run by
    :mod:`.daskproc`, which ends it soon after this process dies."""
    opts = []
    # PR_SET_PDEATHSIG fires when the *thread* that started the child ends:
    # only asked for from the main thread (the watchdog covers the rest)
    if threading.current_thread() is threading.main_thread():
        opts.append("--pdeathsig")
    return [sys.executable, "-m", "casashell.parallel.daskproc", str(os.getpid()), *opts,
            "--", *args]


def _popen(cmd, log, env, cwd):
    """Start a cluster process in a session of its own: the terminal's Ctrl-C
    (sent to the foreground process group) does not reach it."""
    import subprocess
    kw = {"start_new_session": True} if os.name == "posix" else {}
    return subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                            env=env, cwd=cwd, **kw)


class LocalProcessCluster:
    """A scheduler and ``nworkers`` single-threaded workers as subprocesses on
    127.0.0.1 (ports chosen by the OS), each in a session of its own (the
    terminal's Ctrl-C reaches only this process).  ``close()`` ends exactly
    these processes; they also end by themselves within seconds if this
    process dies, even by ``kill -9`` (see :mod:`.daskproc`)."""

    def __init__(self, nworkers: int, timeout: float = 60.0, name_prefix: str = "worker"):
        import tempfile
        import time

        self.dir = tempfile.mkdtemp(prefix="casashell-dask-")
        self.procs: list = []
        self.address = None
        sfile = os.path.join(self.dir, "scheduler.json")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        log = open(os.path.join(self.dir, "cluster.log"), "ab")
        try:
            self.procs.append(_popen(
                _dask_cmd("scheduler", "--host", "127.0.0.1", "--port", "0",
                          "--no-dashboard", "--scheduler-file", sfile,
                          "--idle-timeout", "3600"), log, env, self.dir))
            t_end = time.monotonic() + timeout
            while not os.path.exists(sfile):
                if self.procs[0].poll() is not None or time.monotonic() > t_end:
                    raise RuntimeError("the local dask scheduler did not start (see "
                                       f"{os.path.join(self.dir, 'cluster.log')})")
                time.sleep(0.05)
            import json
            while True:
                try:
                    with open(sfile) as fh:
                        self.address = json.load(fh)["address"]
                    break
                except (ValueError, KeyError):
                    if time.monotonic() > t_end:
                        raise
                    time.sleep(0.05)
            for k in range(int(nworkers)):
                self.procs.append(_popen(
                    _dask_cmd("worker", self.address, "--nthreads", "1", "--no-nanny",
                              "--name", f"{name_prefix}-{k + 1}", "--no-dashboard",
                              "--host", "127.0.0.1", "--death-timeout", "60",
                              "--local-directory", self.dir), log, env, self.dir))
        except BaseException:
            self.close()
            raise
        finally:
            log.close()

    def alive(self) -> bool:
        return bool(self.procs) and all(p.poll() is None for p in self.procs)

    def kill(self) -> None:
        """End the processes at once (SIGKILL), no clean shutdown."""
        import shutil
        for p in self.procs:
            try:
                p.kill()
                p.wait(timeout=10)
            except Exception:  # noqa: BLE001 - gone already
                pass
        self.procs = []
        shutil.rmtree(self.dir, ignore_errors=True)

    def close(self) -> None:
        import shutil
        import subprocess
        if self.address and any(p.poll() is None for p in self.procs):
            try:    # the scheduler stops itself and its workers
                from distributed import Client
                with Client(self.address, timeout=5, set_as_default=False) as c:
                    c.shutdown()
            except Exception:  # noqa: BLE001 - then the signals below
                pass
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []
        shutil.rmtree(self.dir, ignore_errors=True)
