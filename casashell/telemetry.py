"""Task usage statistics ("telemetry"), off unless ``telemetry_enabled = True``.

When enabled, every task run appends one JSON line to
``<telemetry_log_directory>/casashell-usage.jsonl``::

    {"task": "split", "start": "2026-11-24T21:45:40.525Z",
     "end": "2026-11-24T21:45:41.003Z", "success": true,
     "casashell": "0.1.0", "python": "3.11", "os": "Linux"}

Nothing else: no user name, host name, file path, parameter value or log
text is ever recorded.

- The file stops growing once it is larger than ``telemetry_log_limit`` KB;
  the size is checked at most every ``telemetry_log_size_interval`` seconds.
- At startup (``startup(cfg)``), when ``telemetry_submit_interval`` seconds
  have passed since the last time (``submitted.stamp``), the pending records
  are packed into a dated bundle ``casashell-telemetry-YYYYMMDD-HHMMSS.json``
  in the same directory.  Nothing leaves the machine unless
  ``telemetry_submit_url`` is set: then each bundle not yet sent is POSTed
  there (``application/json``) from a background thread, and moved to
  ``sent/`` once the server accepted it (HTTP 2xx).

Why off by default: CASA used to collect this by default, but a tool that
astronomers run on observatory and university machines should not phone
home without being asked; the data is only useful to the developers.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
import threading
import time

DEFAULTS = {
    "telemetry_enabled": False,
    "telemetry_log_directory": None,          # default: <cachedir>/telemetry
    "telemetry_log_limit": 20480,             # KB
    "telemetry_log_size_interval": 60,        # s
    "telemetry_submit_interval": 604800,      # s (a week)
    "telemetry_submit_url": None,
}

PENDING_NAME = "casashell-usage.jsonl"
STAMP_NAME = "submitted.stamp"
BUNDLE_PREFIX = "casashell-telemetry-"
FORMAT = "casashell-telemetry-1"

#: the active recorder of this process (None when telemetry is off)
active = None


def _setting(cfg, name):
    value = getattr(cfg, name, None) if cfg is not None else None
    return DEFAULTS[name] if value is None else value


def _iso(t: float) -> str:
    d = datetime.datetime.fromtimestamp(t, tz=datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


class Telemetry:
    """Records task runs into ``directory``; see the module documentation."""

    def __init__(self, directory: str, log_limit_kb: float = 20480,
                 size_interval: float = 60, submit_interval: float = 604800,
                 submit_url: str | None = None):
        self.directory = directory
        self.pending = os.path.join(directory, PENDING_NAME)
        self.limit_bytes = float(log_limit_kb) * 1024
        self.size_interval = float(size_interval)
        self.submit_interval = float(submit_interval)
        self.submit_url = submit_url or None
        self.stopped = False
        self._last_check = None
        self.submit_thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- recording -------------------------------------------------------------
    def record(self, task: str, start: float, end: float, success: bool) -> bool:
        """Append one record; returns False when logging has stopped."""
        with self._lock:
            if self.stopped:
                return False
            now = time.monotonic()
            if self._last_check is None or now - self._last_check >= self.size_interval:
                self._last_check = now
                try:
                    size = os.path.getsize(self.pending)
                except OSError:
                    size = 0
                if size > self.limit_bytes:
                    self.stopped = True
                    _log(f"telemetry: {PENDING_NAME} is larger than "
                         f"{self.limit_bytes / 1024:g} KB (telemetry_log_limit); "
                         f"no more usage records are written in this session")
                    return False
            rec = {"task": str(task), "start": _iso(start), "end": _iso(end),
                   "success": bool(success), "casashell": _version(),
                   "python": "%d.%d" % sys.version_info[:2], "os": platform.system()}
            from .logsink import append_text
            try:
                append_text(self.pending, json.dumps(rec) + "\n")
            except OSError:
                self.stopped = True
                return False
            return True

    def hook(self, name, start, end, success):
        """The ``after_task_hooks`` entry."""
        self.record(name, start, end, success)

    # -- bundles -----------------------------------------------------------------
    def _stamp_path(self):
        return os.path.join(self.directory, STAMP_NAME)

    def last_submission(self, now: float) -> float:
        """Time of the last bundling (creating the stamp at ``now`` if absent)."""
        path = self._stamp_path()
        try:
            with open(path) as f:
                return float(f.read().strip())
        except (OSError, ValueError):
            self._write_stamp(now)
            return now

    def _write_stamp(self, now: float):
        tmp = self._stamp_path() + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{now!r}\n")          # full precision: a rounded-up stamp
                                            # would make "due now" look early
        os.replace(tmp, self._stamp_path())

    def bundle_if_due(self, now: float | None = None) -> str | None:
        """Pack the pending records into a dated bundle when the submit
        interval has passed; returns the bundle's path or None."""
        now = time.time() if now is None else now
        elapsed = now - self.last_submission(now)
        if elapsed < 0:                        # the clock went back: start counting again
            self._write_stamp(now)
            elapsed = 0.0
        if self.submit_interval > 0 and elapsed < self.submit_interval:
            return None
        try:
            if os.path.getsize(self.pending) == 0:
                return None
        except OSError:
            return None
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
        bundle = os.path.join(self.directory, f"{BUNDLE_PREFIX}{stamp}.json")
        n = 1
        while os.path.exists(bundle):
            n += 1
            bundle = os.path.join(self.directory, f"{BUNDLE_PREFIX}{stamp}-{n}.json")
        taking = self.pending + f".bundling-{os.getpid()}"
        os.replace(self.pending, taking)       # new records go to a fresh file
        records = []
        with open(taking, "rb") as f:
            try:  # wait for a writer that opened the file before the rename
                import fcntl
                fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            except (ImportError, OSError):
                pass
            for line in f.read().decode("utf-8", "replace").splitlines():
                try:
                    records.append(json.loads(line))
                except ValueError:
                    continue
        doc = {"format": FORMAT, "created": _iso(now), "casashell": _version(),
               "records": records}
        tmp = bundle + ".tmp"
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        os.replace(tmp, bundle)
        os.unlink(taking)
        self._write_stamp(now)
        return bundle

    def unsent_bundles(self) -> list[str]:
        return sorted(os.path.join(self.directory, n) for n in os.listdir(self.directory)
                      if n.startswith(BUNDLE_PREFIX) and n.endswith(".json"))

    def submit(self) -> list[str]:
        """POST every unsent bundle to ``submit_url``; returns those accepted."""
        import urllib.request
        sent = []
        if not self.submit_url or not self.submit_url.lower().startswith(("http://", "https://")):
            return sent
        for path in self.unsent_bundles():
            with open(path, "rb") as f:
                body = f.read()
            req = urllib.request.Request(self.submit_url, data=body, method="POST",
                                         headers={"Content-Type": "application/json",
                                                  "User-Agent": f"casashell/{_version()}"})
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    ok = 200 <= resp.status < 300
            except Exception as exc:  # noqa: BLE001 - offline is normal
                _log(f"telemetry: could not submit {os.path.basename(path)} "
                     f"({type(exc).__name__}); it will be retried at the next start")
                break
            if ok:
                os.makedirs(os.path.join(self.directory, "sent"), exist_ok=True)
                os.replace(path, os.path.join(self.directory, "sent", os.path.basename(path)))
                sent.append(path)
        return sent


def _version() -> str:
    from . import __version__
    return __version__


def _log(msg: str) -> None:
    try:
        from .logsink import casalog
        casalog.post(msg, "INFO", "telemetry")
    except Exception:  # noqa: BLE001
        pass


def startup(cfg=None) -> Telemetry | None:
    """Called once by the shell at startup.  Does nothing unless
    ``telemetry_enabled``; otherwise registers the task hook, bundles the
    pending records when due and starts the submission thread when a
    ``telemetry_submit_url`` is configured.  Never raises."""
    global active
    try:
        if cfg is None:
            from . import config
            cfg = config.current()
        if not _setting(cfg, "telemetry_enabled"):
            return None
        directory = _setting(cfg, "telemetry_log_directory")
        if not directory:
            cachedir = getattr(cfg, "cachedir", None) or "~/.casa"
            directory = os.path.join(cachedir, "telemetry")
        directory = os.path.abspath(os.path.expanduser(str(directory)))
        os.makedirs(directory, exist_ok=True)
        tel = Telemetry(directory, _setting(cfg, "telemetry_log_limit"),
                        _setting(cfg, "telemetry_log_size_interval"),
                        _setting(cfg, "telemetry_submit_interval"),
                        _setting(cfg, "telemetry_submit_url"))
        from .tasks import _framework
        if active is not None and active.hook in _framework.after_task_hooks:
            _framework.after_task_hooks.remove(active.hook)
        _framework.after_task_hooks.append(tel.hook)
        active = tel
        tel.bundle_if_due()
        if tel.submit_url and tel.unsent_bundles():
            tel.submit_thread = threading.Thread(target=tel.submit, name="casashell-telemetry",
                                                 daemon=True)
            tel.submit_thread.start()
        return tel
    except Exception as exc:  # noqa: BLE001 - telemetry must never break the shell
        _log(f"telemetry disabled: {type(exc).__name__}: {exc}")
        return None


def stop() -> None:
    """Unregister the active recorder (tests, or the user changing their mind)."""
    global active
    if active is not None:
        from .tasks import _framework
        if active.hook in _framework.after_task_hooks:
            _framework.after_task_hooks.remove(active.hook)
        active = None
