"""Crash reports: when the session dies abnormally, a report is written.

``install(cfg)`` is called by the ``casa`` launcher before anything heavy is
imported.  When ``crashreporter_enabled`` is true it forks: the *child*
goes on and becomes the shell; the *parent* only supervises it:

- it forwards SIGTERM, SIGHUP, SIGUSR1 and SIGUSR2 to the child, and also
  SIGINT and SIGQUIT when they were sent with ``kill`` (to the supervisor's
  pid); a Ctrl-C or Ctrl-\\ typed in the terminal already reaches the child
  (the kernel sends it to the whole foreground process group), so those are
  not forwarded a second time;
- the child runs ``faulthandler`` on a pipe to the parent, so a fatal
  signal (a segfault inside casacore, an abort, ...) sends the Python stack
  of every thread to the parent;
- on Linux with glibc the child's signal handler then pauses for a few
  seconds in the crashed state, so that the parent can take the native
  stack of every thread with ``gdb`` (or ``eu-stack``) when one is
  installed;
- the parent writes ``casashell-crash-YYYYMMDD-HHMMSS-PID.txt`` (in
  ``crashreporter_directory``, default ``<cachedir>/crashreports``) with
  the Python and native stacks, the tail of the session log, memory, OS,
  CPU and mount information, tells the user where it is (on stderr and in
  the session log) and exits the way the child did (same exit status, or
  killed by the same signal).

When the child exits normally nothing is written and the exit status is
passed on unchanged.  When it is killed by another signal (SIGTERM,
SIGHUP, SIGINT...) the supervisor ends the session log with a WARN line
naming the signal, and dies of the same signal.  ``install`` costs a few
milliseconds.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import signal
import sys
import time

#: signals that mean "the process crashed"
CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL,
                 signal.SIGABRT, getattr(signal, "SIGSYS", signal.SIGSEGV),
                 getattr(signal, "SIGTRAP", signal.SIGSEGV), signal.SIGKILL}

#: signals the supervisor passes on to the shell
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP,
                     signal.SIGUSR1, signal.SIGUSR2)
#: ... but only when sent by a process (kill), not by the terminal
_FROM_TERMINAL_TOO = (signal.SIGINT, signal.SIGQUIT)


_FATAL_TEXT = {
    "Segmentation fault": signal.SIGSEGV, "Bus error": signal.SIGBUS,
    "Floating-point exception": signal.SIGFPE, "Floating point exception": signal.SIGFPE,
    "Illegal instruction": signal.SIGILL, "Aborted": signal.SIGABRT,
}

_installed = False
_fh_file = None          # keeps the faulthandler pipe open in the child
LOG_TAIL_LINES = 60
GDB_TIMEOUT = 30.0


def report_directory(cfg) -> str:
    d = getattr(cfg, "crashreporter_directory", None)
    if not d:
        d = os.path.join(getattr(cfg, "cachedir", None) or "~/.casa", "crashreports")
    return os.path.abspath(os.path.expanduser(str(d)))


def install(cfg=None) -> None:
    """Start crash supervision if ``crashreporter_enabled`` (see module doc).

    Returns in the process that goes on to run the shell; never raises.
    """
    global _installed
    if _installed:
        return
    try:
        if cfg is None:
            from . import config
            cfg = config.current()
        if not getattr(cfg, "crashreporter_enabled", False):
            return
        _installed = True
        _start(cfg)
    except Exception as exc:  # noqa: BLE001 - never stop the shell from starting
        sys.stderr.write(f"WARN: crash reports are disabled: {type(exc).__name__}: {exc}\n")


def _start(cfg) -> None:
    import faulthandler
    reportdir = report_directory(cfg)
    os.makedirs(reportdir, exist_ok=True)
    if not hasattr(os, "fork"):
        global _fh_file
        _fh_file = open(os.path.join(reportdir, f"faulthandler-{os.getpid()}.txt"), "w")
        faulthandler.enable(file=_fh_file, all_threads=True)
        return
    native = bool(getattr(cfg, "crashreporter_native_stack", True))
    state_path = os.path.join(reportdir, f".session-{os.getpid()}.json")
    logfile = getattr(cfg, "logfile", None)
    if getattr(cfg, "nologfile", False):
        logfile = None
    rfd, wfd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    parent = os.getpid()
    # blocked from before the fork until the supervisor forwards them (a
    # signal in between stays pending; the child starts with none pending)
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED_SIGNALS)
    pid = os.fork()
    if pid == 0:                      # the child: the shell
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        os.close(rfd)
        _child_setup(wfd, parent, state_path, logfile, native)
        return
    os.close(wfd)
    _supervise(pid, rfd, cfg, reportdir, state_path, logfile, native, old_mask)


# ---------------------------------------------------------------------------
# child side

def _child_setup(wfd, parent, state_path, logfile, native):
    global _fh_file
    import faulthandler
    _fh_file = os.fdopen(wfd, "w")
    if native and sys.platform.startswith("linux"):
        _hold_on_crash(parent)
    faulthandler.enable(file=_fh_file, all_threads=True)
    os.register_at_fork(after_in_child=_forget_in_forked_child)
    _write_state(state_path, logfile)
    try:
        from .logsink import casalog
        casalog.logfile_listeners.append(lambda path: _write_state(state_path, path))
    except Exception:  # noqa: BLE001
        pass


_HOLD_SIGNALS = (signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL, signal.SIGABRT)


def _forget_in_forked_child():
    """A process forked by the shell (multiprocessing...) is not supervised:
    its crashes must not be taken for the shell's."""
    global _fh_file
    import faulthandler
    faulthandler.disable()
    for sig in _HOLD_SIGNALS:
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    if _fh_file is not None:
        try:
            _fh_file.close()
        except OSError:
            pass
        _fh_file = None


def _hold_on_crash(parent):
    """Make a fatal signal pause the crashed process for a few seconds (after
    faulthandler has written the Python stack) so the parent can read the
    native stack; the process then dies of the original signal."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    try:  # if the supervisor is killed (kill -9), end the session as a hangup would
        libc.prctl(1, int(signal.SIGHUP), 0, 0, 0)     # PR_SET_PDEATHSIG
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGHUP)
    except (AttributeError, OSError):
        pass
    sysv_signal = getattr(libc, "sysv_signal", None)   # glibc: SA_RESETHAND|SA_NODEFER
    if sysv_signal is None:
        return
    sysv_signal.argtypes = [ctypes.c_int, ctypes.c_void_p]
    sysv_signal.restype = ctypes.c_void_p
    sleep_addr = ctypes.cast(libc.sleep, ctypes.c_void_p).value
    # the handler is sleep(signum): 11 s for SIGSEGV, 6 s for SIGABRT...
    for sig in _HOLD_SIGNALS:
        sysv_signal(int(sig), sleep_addr)
    try:  # Yama: let the parent's gdb attach
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            if f.read().strip() == "1":
                libc.prctl(0x59616D61, ctypes.c_ulong(parent), 0, 0, 0)  # PR_SET_PTRACER
    except OSError:
        pass


def _write_state(path, logfile):
    try:
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"logfile": logfile}, f)
        os.replace(tmp, path)
    except OSError:
        pass


# ---------------------------------------------------------------------------
# parent side

def _start_forwarding(child, old_mask=()) -> None:
    """Pass signals sent to the supervisor on to the child.

    The signals are blocked and a thread takes them with ``sigwaitinfo``,
    which tells who sent each one: ``si_code <= 0`` is a process (kill,
    sigqueue, tgkill), a positive code the kernel, i.e. the terminal's
    Ctrl-C / Ctrl-\\, which the child has received itself.
    """
    if not hasattr(signal, "sigwaitinfo"):   # no siginfo (macOS): Ctrl-C only
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGQUIT, signal.SIG_IGN)
        for sig in FORWARDED_SIGNALS:
            if sig not in _FROM_TERMINAL_TOO:
                signal.signal(sig, lambda s, f: _forward(child, s))
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        return
    import threading
    wanted = set(FORWARDED_SIGNALS)
    signal.pthread_sigmask(signal.SIG_BLOCK, wanted)

    def loop():
        while True:
            try:
                info = signal.sigwaitinfo(wanted)
            except OSError:   # pragma: no cover - EINTR is retried by Python
                continue
            if info.si_signo in _FROM_TERMINAL_TOO and info.si_code > 0:
                continue
            _forward(child, info.si_signo)

    threading.Thread(target=loop, name="casashell-signal-forwarder", daemon=True).start()


def _supervise(child, rfd, cfg, reportdir, state_path, logfile, native, old_mask=()):
    """Wait for the child; write a report if it crashed; exit like it."""
    import select
    _start_forwarding(child, old_mask)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    os.set_blocking(wake_r, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda s, f: None)
    start = time.time()
    fault = b""
    status = rusage = None
    pipe_open = True
    while status is None:
        pid, st, ru = os.wait4(child, os.WNOHANG)
        if pid == child:
            status, rusage = st, ru
            break
        fds = [wake_r] + ([rfd] if pipe_open else [])
        ready, _, _ = select.select(fds, [], [], 5.0)
        if wake_r in ready:
            try:
                os.read(wake_r, 512)
            except BlockingIOError:
                pass
        if pipe_open and rfd in ready:
            data = os.read(rfd, 65536)
            if not data:
                pipe_open = False
                continue
            fault += data
            # the child is crashing: collect the rest, then the native stack
            fault += _read_until_quiet(rfd, 0.5, 3.0)
            native_text = _native_stack(child) if native else "not collected (disabled)"
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
            pid, st, ru = os.wait4(child, 0)
            status, rusage = st, ru
            sig = _signal_from_text(fault.decode("utf-8", "replace"))
            _crashed(sig, fault, native_text, rusage, cfg, reportdir, state_path,
                     logfile, start, child)
            _cleanup(state_path)
            _die_by(sig)
    # the child ended by itself
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if pipe_open:
            fault += _read_until_quiet(rfd, 0.05, 0.5)
        if sig in CRASH_SIGNALS:
            _crashed(sig, fault, "not available (the process had already ended)", rusage,
                     cfg, reportdir, state_path, logfile, start, child)
        else:   # SIGTERM, SIGHUP...: the shell could not close its log itself
            _append_to_log(_session_logfile(state_path, logfile),
                           f"casashell session ended: the shell was killed by "
                           f"{_signame(sig)}", "WARN")
        _cleanup(state_path)
        _die_by(sig)
    _cleanup(state_path)
    os._exit(os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode")
             else os.WEXITSTATUS(status))


def _forward(child, sig):
    try:
        os.kill(child, sig)
    except ProcessLookupError:
        pass


def _read_until_quiet(fd, quiet: float, limit: float) -> bytes:
    import select
    out = b""
    end = time.time() + limit
    while time.time() < end:
        ready, _, _ = select.select([fd], [], [], quiet)
        if not ready:
            break
        data = os.read(fd, 65536)
        if not data:
            break
        out += data
    return out


def _signal_from_text(text: str) -> int:
    for key, sig in _FATAL_TEXT.items():
        if key in text:
            return int(sig)
    return int(signal.SIGSEGV)


def _unblock_signals():
    """In a process started by the supervisor: not the supervisor's blocked
    signals (which a child would otherwise inherit)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED_SIGNALS)


def _native_stack(pid: int) -> str:
    """Native stacks of every thread of ``pid`` via gdb or eu-stack."""
    import shutil
    import subprocess
    gdb = shutil.which("gdb")
    if gdb:
        cmd = [gdb, "-p", str(pid), "-batch", "-nx", "-q",
               "-ex", "set pagination off", "-ex", "thread apply all bt"]
    elif shutil.which("eu-stack"):
        cmd = [shutil.which("eu-stack"), "-p", str(pid)]
    else:
        return "not available (install gdb or elfutils' eu-stack to get it)"
    try:
        res = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                             timeout=GDB_TIMEOUT, text=True, errors="replace",
                             preexec_fn=_unblock_signals)
    except subprocess.TimeoutExpired:
        return f"not available ({os.path.basename(cmd[0])} took more than {GDB_TIMEOUT:g} s)"
    except OSError as exc:
        return f"not available ({exc})"
    text = res.stdout.strip()
    lines = [ln for ln in text.splitlines() if ln.startswith(("#", "Thread", "TID", "  "))]
    return "\n".join(lines) if lines else f"not available ({res.stderr.strip()[:300]})"


def _crashed(sig, fault, native_text, rusage, cfg, reportdir, state_path, logfile,
             start, child):
    logfile = _session_logfile(state_path, logfile)
    fault_text = fault.decode("utf-8", "replace")
    if fault_text:
        sys.stderr.write(fault_text if fault_text.endswith("\n") else fault_text + "\n")
    try:
        path = write_report(sig, fault_text, native_text, rusage=rusage, logfile=logfile,
                            reportdir=reportdir, started=start, pid=child)
    except Exception as exc:  # noqa: BLE001
        sys.stderr.write(f"casashell crashed ({_signame(sig)}); the crash report could "
                         f"not be written: {exc}\n")
        sys.stderr.flush()
        return
    msg = (f"casashell crashed ({_signame(sig)}). A crash report was written to {path}")
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()
    _append_to_log(logfile, msg, "SEVERE")


def _append_to_log(logfile, message, priority):
    """Add a line to the session log (the file only: the shell is gone)."""
    if logfile and logfile != os.devnull:
        try:
            from .logsink import append_text, format_lines
            append_text(logfile, format_lines(message, priority, "::casa"))
        except Exception:  # noqa: BLE001
            pass


def _session_logfile(state_path, logfile):
    try:
        with open(state_path) as f:
            return json.load(f).get("logfile") or logfile
    except (OSError, ValueError):
        return logfile


def _cleanup(state_path):
    for p in (state_path, state_path + ".tmp"):
        try:
            os.unlink(p)
        except OSError:
            pass


def _die_by(sig):
    try:
        import resource
        resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
    except Exception:  # noqa: BLE001
        pass
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
        signal.raise_signal(sig)    # to this thread, not to the forwarding one
    except (OSError, ValueError):
        pass
    os._exit(128 + sig)


def _signame(sig) -> str:
    try:
        name = signal.Signals(sig).name
        desc = signal.strsignal(sig) or ""
        return f"{name}, {desc}" if desc else name
    except ValueError:
        return f"signal {sig}"


# ---------------------------------------------------------------------------
# the report

def _read(path, limit=1 << 20):
    try:
        with open(path, errors="replace") as f:
            return f.read(limit)
    except OSError:
        return ""


def _tail(path, n):
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 256 * 1024))
            data = f.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc.strerror or exc})"
    return "\n".join(data.splitlines()[-n:])


def system_sections() -> list[tuple[str, str]]:
    """(title, text) of the machine description parts of a report."""
    meminfo = _read("/proc/meminfo")
    mem = "\n".join(ln for ln in meminfo.splitlines()
                    if ln.split(":")[0] in ("MemTotal", "MemFree", "MemAvailable",
                                            "SwapTotal", "SwapFree"))
    osrel = ""
    for ln in _read("/etc/os-release").splitlines():
        if ln.startswith("PRETTY_NAME="):
            osrel = ln.split("=", 1)[1].strip('"')
    u = platform.uname()
    os_text = "\n".join(filter(None, [
        f"system: {u.system} {u.release} {u.version}", f"machine: {u.machine}",
        f"distribution: {osrel}" if osrel else "", f"platform: {platform.platform()}",
        f"libc: {' '.join(platform.libc_ver())}"]))
    cpuinfo = _read("/proc/cpuinfo")
    model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines()
                  if ln.startswith(("model name", "Processor", "cpu model"))), u.processor)
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "?"
    cpu = f"model: {model}\ncount: {os.cpu_count()}\nload average: {load}"
    mounts = _read("/proc/mounts") or "(no /proc/mounts)"
    try:
        st = os.statvfs(os.getcwd())
        mounts += (f"\nfree space in the current directory: "
                   f"{st.f_bavail * st.f_frsize / 2**30:.1f} GiB")
    except OSError:
        pass
    return [("Memory", mem or "(no /proc/meminfo)"), ("Operating system", os_text),
            ("CPU", cpu), ("Mounts", mounts)]


def write_report(sig: int, python_stack: str, native_stack: str = "", *, rusage=None,
                 logfile: str | None = None, reportdir: str | None = None,
                 started: float | None = None, pid: int | None = None) -> str:
    """Write a crash report; returns its path."""
    from . import __version__
    reportdir = reportdir or report_directory(None)
    os.makedirs(reportdir, exist_ok=True)
    now = time.time()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
    path = os.path.join(reportdir, f"casashell-crash-{stamp}-{pid or os.getpid()}.txt")
    parts = [
        "casashell crash report",
        "=" * 22,
        f"time (UTC): {datetime.datetime.fromtimestamp(now, datetime.timezone.utc):%Y-%m-%d %H:%M:%S}",
        f"casashell: {__version__}",
        f"python: {sys.version.split()[0]} ({sys.executable})",
        f"command: {' '.join(sys.argv)}",
        f"process: {pid} ended by {_signame(sig)}",
    ]
    if sig == signal.SIGKILL:
        parts.append("note: SIGKILL comes from outside the process: kill -9, or the kernel's "
                     "out-of-memory killer (see dmesg)")
    if started is not None:
        parts.append(f"run time: {now - started:.1f} s")
    if rusage is not None:
        parts.append(f"peak memory of the process: {rusage.ru_maxrss / 1024:.1f} MiB")
    sections = [
        ("Python stack (faulthandler)", python_stack.strip() or
         "not available (no faulthandler output was received)"),
        ("Native stack", native_stack.strip() or "not available"),
    ]
    if logfile and logfile != os.devnull:
        sections.append((f"Session log (last {LOG_TAIL_LINES} lines of {logfile})",
                         _tail(logfile, LOG_TAIL_LINES)))
    else:
        sections.append(("Session log", "(no log file)"))
    sections += system_sections()
    text = "\n".join(parts) + "\n"
    for title, body in sections:
        text += f"\n## {title}\n{body.rstrip()}\n"
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return path
