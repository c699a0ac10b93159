"""casalog: CASA's log tool.

One line per text line of a message, in the format CASA writes::

    YYYY-MM-DD HH:MM:SS<TAB>PRIORITY<TAB>ORIGIN<TAB>MESSAGE

Time stamps are UTC, whole seconds.  Continuation lines of a multi-line
message carry the origin with a ``+`` appended.

Writes are line-atomic across processes: each message is written with a
single ``write()`` on a descriptor opened with ``O_APPEND`` while holding an
advisory ``flock``, so two processes (the shell and the logger window, or two
shells) sharing a file never interleave inside a line.  The file is opened
for every message, so a log directory that disappears, or a full disk, is
noticed: one warning goes to stderr and the session goes on.

Only the standard library is used here: importing it costs nothing.
"""

from __future__ import annotations

import os
import sys
import threading
import time

try:  # fcntl is POSIX only
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

#: Priorities from lowest to highest, as written in the file.
PRIORITIES = ("DEBUGGING", "DEBUG2", "DEBUG1", "INFO5", "INFO4", "INFO3",
              "INFO2", "INFO1", "INFO", "WARN", "SEVERE")
_RANK = {p: i for i, p in enumerate(PRIORITIES)}
_ALIASES = {"DEBUG": "DEBUGGING", "NORMAL": "INFO", "ERROR": "SEVERE",
            "WARNING": "WARN", "CRITICAL": "SEVERE",
            **{f"NORMAL{i}": f"INFO{i}" for i in range(1, 6)}}


def normalize_priority(priority) -> str:
    """Map any accepted spelling to the name written in the log.

    CASA's spellings (``DEBUG``, ``NORMAL``, ``NORMAL1``..``NORMAL5``,
    ``ERROR``) are accepted.  Unlike CASA, where ``'warn'`` or ``'WARNING'``
    silently count as INFO, names are case-insensitive and Python's logging
    names ``WARNING``/``CRITICAL`` are understood.  Anything else is INFO.
    """
    if isinstance(priority, bytes):
        priority = priority.decode("utf-8", "replace")
    if not isinstance(priority, str):
        return "INFO"
    p = priority.strip().upper()
    p = _ALIASES.get(p, p)
    return p if p in _RANK else "INFO"


def priority_rank(priority) -> int:
    return _RANK[normalize_priority(priority)]


def default_logfile_name(when: float | None = None) -> str:
    """``casa-YYYYMMDD-HHMMSS.log`` for the UTC time ``when`` (default now)."""
    t = time.gmtime(time.time() if when is None else when)
    return time.strftime("casa-%Y%m%d-%H%M%S.log", t)


def format_lines(message: str, priority: str, origin: str,
                 when: float | None = None) -> str:
    """The text (with final newline) that one message adds to the log."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S",
                          time.gmtime(round(time.time() if when is None else when)))
    if "\r" in message:
        message = message.replace("\r\n", "\n")
    if message.endswith("\n"):
        message = message[:-1]
    lines = message.split("\n")
    out = [f"{stamp}\t{priority}\t{origin}\t{lines[0]}\n"]
    out.extend(f"{stamp}\t{priority}\t{origin}+\t{line}\n" for line in lines[1:])
    return "".join(out)


def append_text(path: str, text: str) -> None:
    """Append ``text`` to ``path`` atomically with respect to other writers.

    Raises OSError on failure (the caller decides how to report it).
    """
    data = text.encode("utf-8", "replace")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
    finally:
        os.close(fd)  # closing releases the lock


def _physical_memory_kib() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 1024
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return 0


class LogSink:
    """The CASA log tool (``casalog``).

    ``logfile`` may be a path, ``None`` (decide on first write: the
    configured log file, or ``casa-YYYYMMDD-HHMMSS.log`` in the current
    directory) or ``os.devnull`` (write nothing).
    """

    def __init__(self, logfile: str | None = None):
        self._lock = threading.RLock()
        self._logfile = os.path.abspath(os.path.expanduser(logfile)) if logfile else None
        self._threshold = _RANK["INFO"]
        self._task_origin = ""
        self._console = False
        self._msg_filters: list[str] = []
        self._warned_paths: set[str] = set()
        #: called with the new path after ``setlogfile`` (the logger window follows it)
        self.logfile_listeners: list = []
        #: called with (line_text, priority) for every message written
        self.post_listeners: list = []

    # -- file -------------------------------------------------------------
    def _resolve_logfile(self) -> str:
        if self._logfile is None:
            path = None
            try:
                from . import config as _config
                cfg = _config.current()
                if getattr(cfg, "nologfile", False):
                    path = os.devnull
                elif getattr(cfg, "logfile", None):
                    path = cfg.logfile
                if getattr(cfg, "log2term", False):
                    # library use honours log2term too (CASA's modular tasks do not)
                    self._console = True
            except Exception:
                path = None
            if not path:
                path = default_logfile_name()
            self._logfile = path if path == os.devnull else os.path.abspath(
                os.path.expanduser(path))
        return self._logfile

    def setlogfile(self, filename: str = "casapy.log") -> bool:
        """Switch to another log file (relative paths are made absolute;
        an existing file is appended to)."""
        with self._lock:
            if filename in (None, "", os.devnull):
                self._logfile = os.devnull
            else:
                self._logfile = os.path.abspath(os.path.expanduser(str(filename)))
            new = self._logfile
        for cb in list(self.logfile_listeners):
            try:
                cb(new)
            except Exception:
                pass
        return True

    def logfile(self) -> str:
        """Absolute path of the current log file (``/dev/null`` when none)."""
        with self._lock:
            return self._resolve_logfile()

    # -- settings -----------------------------------------------------------
    def filter(self, level: str = "DEBUG2") -> bool:
        """Set the threshold: messages of lower priority are dropped."""
        self._threshold = priority_rank(level)
        return True

    def getFilter(self) -> str:
        return PRIORITIES[self._threshold]

    def filterMsg(self, msgs=None):
        """Drop every message containing one of these substrings."""
        if isinstance(msgs, str):
            msgs = [msgs]
        self._msg_filters.extend(str(m) for m in (msgs or []))

    def clearFilterMsgList(self):
        self._msg_filters.clear()

    def origin(self, fromwhere: str = "") -> bool:
        """Set the task part of the origin column."""
        self._task_origin = str(fromwhere or "")
        return True

    def getOrigin(self) -> str:
        return self._task_origin

    def processorOrigin(self, fromwhere: str = "") -> bool:
        return True

    def showconsole(self, onconsole: bool = False) -> bool:
        """Echo every message that passes the filter to stderr."""
        self._console = bool(onconsole)
        return True

    def consoleShown(self) -> bool:
        return self._console

    def setglobal(self, isglobal: bool = True) -> bool:
        return True

    def id(self) -> str:
        return "TSLogSink"

    def localId(self) -> str:
        return "LogSinkInterface"

    def version(self) -> str:
        from . import __version__, CASA_COMPAT_VERSION
        text = f"casashell {__version__} (compatible with CASA {CASA_COMPAT_VERSION})"
        self.post(text)
        self.post("")
        return text

    def getNumCPUs(self, use_aipsrc: bool = True) -> int:
        return getattr(self, "_ncpu", None) or os.cpu_count() or 1

    def setNumCPUs(self, cores: int) -> int:
        self._ncpu = int(cores)
        return 0

    # -- resources (CASA's logsink also answers these) ---------------------------
    def ompGetNumThreads(self) -> int:
        """Threads numerical code may use: OMP_NUM_THREADS, else the CPUs."""
        n = getattr(self, "_nthreads", None)
        if n:
            return n
        try:
            n = int(os.environ.get("OMP_NUM_THREADS", "0").split(",")[0])
        except ValueError:
            n = 0
        return n if n > 0 else self.getNumCPUs()

    def ompNumThreadsTest(self) -> int:
        return self.ompGetNumThreads()

    def ompSetNumThreads(self, numThreads: int) -> bool:
        self._nthreads = max(1, int(numThreads))
        return True

    def getMemoryTotal(self, use_aipsrc: bool = True) -> int:
        """Memory available to casashell, in KiB (physical memory unless
        limited with setMemoryTotal / setMemoryFraction)."""
        limit = getattr(self, "_memory_kib", None)
        return limit if limit else _physical_memory_kib()

    def setMemoryTotal(self, mem: int) -> int:
        """Limit the memory to ``mem`` MiB (0: no limit)."""
        self._memory_kib = int(mem) * 1024 if int(mem) > 0 else None
        return 0

    def setMemoryFraction(self, memfrac: float) -> int:
        """Limit the memory to ``memfrac`` percent of the physical memory."""
        frac = float(memfrac)
        self._memory_kib = (int(_physical_memory_kib() * frac / 100.0)
                            if 0 < frac < 100 else None)
        return 0

    # -- posting --------------------------------------------------------------
    def _origin_text(self, origin: str) -> str:
        task = self._task_origin
        if task:
            return f"{task}::{origin}::casa"
        if origin:
            return f"{origin}::{origin}::casa"
        return "::casa"

    def post(self, message="", priority: str = "INFO", origin: str = "") -> bool:
        """Write ``message`` if its priority passes the filter.

        Returns True if it was written, False if it was filtered out.
        """
        return self._post(message, priority, origin, echo=True)

    def _post_file_only(self, message="", priority: str = "INFO", origin: str = "") -> bool:
        """As ``post``, but never echo to the terminal (for text, such as a
        traceback, that has just been printed there already)."""
        return self._post(message, priority, origin, echo=False)

    def _post(self, message, priority, origin, echo) -> bool:
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        if not isinstance(message, str):
            raise TypeError("argument _message must be a string")
        if isinstance(origin, bytes):
            origin = origin.decode("utf-8", "replace")
        if not isinstance(origin, str):
            raise TypeError("argument _origin must be a string")
        prio = normalize_priority(priority)
        if _RANK[prio] < self._threshold:
            return False
        if self._msg_filters and any(f in message for f in self._msg_filters):
            return False
        text = format_lines(message, prio, self._origin_text(origin))
        with self._lock:
            path = self._resolve_logfile()
            if path != os.devnull:
                try:
                    append_text(path, text)
                    self._warned_paths.discard(path)
                except OSError as exc:
                    if path not in self._warned_paths:
                        self._warned_paths.add(path)
                        try:
                            sys.stderr.write(
                                f"WARN: cannot write to log file {path}: "
                                f"{exc.strerror or exc}; log messages are not "
                                f"saved until this is fixed\n")
                        except (OSError, ValueError, AttributeError):
                            pass
        if echo and (self._console or _RANK[prio] >= _RANK["WARN"]):
            try:
                sys.stderr.write(text)
                sys.stderr.flush()
            except (OSError, ValueError, AttributeError):
                pass
        for cb in list(self.post_listeners):
            try:
                cb(text, prio)
            except Exception:
                pass
        return True

    postLocally = post


#: The session's log tool.
casalog = LogSink()
