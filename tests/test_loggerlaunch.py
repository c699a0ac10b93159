"""casashell.loggerlaunch: when the logger window is started, the one INFO
line when it is not, no Qt in the shell process, setlogfile followed, the
window closed at the end of the session."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from casashell import loggerlaunch
from casashell.logsink import casalog

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cfg(**kw):
    base = dict(nologger=False, nogui=False, nologfile=False, logfile=None)
    base.update(kw)
    return SimpleNamespace(**base)


@pytest.fixture
def session_log(tmp_path, monkeypatch):
    """casalog writes to a log in tmp_path during the test."""
    old = casalog.logfile()
    path = tmp_path / "casa-20261124-140000.log"
    casalog.setlogfile(str(path))
    monkeypatch.setenv("DISPLAY", ":4242")          # a display is "available"
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    yield path
    loggerlaunch.stop_logger()
    casalog.setlogfile(old)


def new_lines(path, before):
    return path.read_text().splitlines()[before:] if path.exists() else []


@pytest.mark.parametrize("config, env, why", [
    (cfg(nologger=True), {}, "--nologger was given"),
    (cfg(nogui=True), {}, "--nogui was given"),
    (cfg(), {"DISPLAY": None}, "no display is available (DISPLAY is not set)"),
])
def test_not_started_says_why_in_one_info_line(session_log, monkeypatch, config, env,
                                               why):
    for k, v in env.items():
        monkeypatch.delenv(k, raising=False) if v is None else monkeypatch.setenv(k, v)
    casalog.post("before")
    n = len(session_log.read_text().splitlines())
    assert loggerlaunch.maybe_start_logger(config) is None
    got = new_lines(session_log, n)
    assert len(got) == 1
    assert got[0].split("\t")[1:] == ["INFO", "::casa", f"casalogger is not started: {why}"]
    assert loggerlaunch.logger_process() is None


def test_wayland_display_is_enough_and_missing_pyqt_is_reported(session_log, monkeypatch):
    monkeypatch.delenv("DISPLAY")
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    real = importlib.util.find_spec

    def no_qt(name, *a, **kw):
        return None if name == "PyQt5" else real(name, *a, **kw)
    monkeypatch.setattr(importlib.util, "find_spec", no_qt)
    casalog.post("before")
    n = len(session_log.read_text().splitlines())
    loggerlaunch.maybe_start_logger(cfg())
    got = new_lines(session_log, n)
    assert len(got) == 1 and got[0].endswith(
        "\tcasalogger is not started: PyQt5 is not installed (pip install "
        "'casashell[gui]')")


def test_nologfile_says_why(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DISPLAY", ":4242")
    old = casalog.logfile()
    seen = []
    casalog.post_listeners.append(lambda text, prio: seen.append(text))
    try:
        casalog.setlogfile(os.devnull)
        loggerlaunch.maybe_start_logger(cfg(nologfile=True))
    finally:
        casalog.post_listeners.pop()
        casalog.setlogfile(old)
    assert len(seen) == 1
    assert seen[0].rstrip("\n").split("\t")[1:] == [
        "INFO", "::casa", "casalogger is not started: there is no log file (--nologfile)"]


def test_shell_process_never_imports_qt(tmp_path):
    code = (
        "import sys, os\n"
        "from types import SimpleNamespace as N\n"
        "from casashell.logsink import casalog\n"
        "casalog.setlogfile(sys.argv[1])\n"
        "import casashell.loggerlaunch as L\n"
        "L.maybe_start_logger(N(nologger=False, nogui=False, nologfile=False))\n"
        "p = L.logger_process()\n"
        "print(p is not None, 'PyQt5' in sys.modules, 'numpy' in sys.modules)\n"
        "L.stop_logger()\n")
    env = dict(os.environ, PYTHONPATH=ROOT, DISPLAY=":4242", QT_QPA_PLATFORM="offscreen",
               XDG_CONFIG_HOME=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "x.log")],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.stdout.split() == ["True", "False", "False"], out.stderr


def _status(path):
    if not path.exists():
        return []
    return [line.split("\t") for line in path.read_text().splitlines()]


def test_window_started_follows_setlogfile_and_closes_at_exit(session_log, tmp_path,
                                                              monkeypatch):
    status = tmp_path / "status.txt"
    monkeypatch.setenv("CASALOGGER_STATUS", str(status))
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    casalog.post("first message")
    casalog.post("second message")
    loggerlaunch.maybe_start_logger(cfg())
    proc = loggerlaunch.logger_process()
    assert proc is not None and proc.poll() is None
    assert proc.args[-1] == str(session_log)
    # the window shows the session log: 2 messages
    deadline = time.time() + 20
    while time.time() < deadline and ["open", str(session_log), "2", "2"] not in _status(
            status):
        time.sleep(0.05)
    assert ["open", str(session_log), "2", "2"] in _status(status), _status(status)
    casalog.post("third message")
    deadline = time.time() + 5
    while time.time() < deadline and _status(status)[-1][2:] != ["3", "3"]:
        time.sleep(0.05)
    assert _status(status)[-1] == ["appended", str(session_log), "3", "3"]
    # setlogfile: the window follows the new file
    new = tmp_path / "elsewhere" / "new.log"
    new.parent.mkdir()
    casalog.setlogfile(str(new))
    casalog.post("in the new file")
    deadline = time.time() + 5
    while time.time() < deadline and ["appended", str(new), "1", "1"] not in _status(
            status) and ["open", str(new), "1", "1"] not in _status(status):
        time.sleep(0.05)
    got = _status(status)
    assert ["open", str(new), "1", "1"] in got or ["appended", str(new), "1", "1"] in got
    # a second call does not start a second window
    loggerlaunch.maybe_start_logger(cfg())
    assert loggerlaunch.logger_process() is proc
    # end of the session: the window closes by itself
    loggerlaunch.stop_logger()
    assert proc.wait(5) == 0
    assert loggerlaunch.logger_process() is None
    assert loggerlaunch._follow not in casalog.logfile_listeners


def test_window_closes_when_the_shell_dies(tmp_path):
    """The pipe closes with the shell, so no window is left behind."""
    code = (
        "import sys, os, time\n"
        "from types import SimpleNamespace as N\n"
        "from casashell.logsink import casalog\n"
        "casalog.setlogfile(sys.argv[1])\n"
        "import casashell.loggerlaunch as L\n"
        "L.maybe_start_logger(N(nologger=False, nogui=False, nologfile=False))\n"
        "print(L.logger_process().pid, flush=True)\n"
        "time.sleep(1.5)\n"
        "print(L.logger_process().poll() is None, flush=True)\n"
        "os._exit(9)\n")
    env = dict(os.environ, PYTHONPATH=ROOT, DISPLAY=":4242", QT_QPA_PLATFORM="offscreen",
               XDG_CONFIG_HOME=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "x.log")],
                         capture_output=True, text=True, env=env, timeout=60)
    pid = int(out.stdout.split()[0])
    assert out.stdout.split()[1] == "True"          # it was running

    def alive():
        try:
            with open(f"/proc/{pid}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return False
        return state not in ("Z", "X")      # an unreaped zombie has exited
    deadline = time.time() + 10
    while time.time() < deadline and alive():
        time.sleep(0.1)
    assert not alive()


def test_unwritable_log_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("DISPLAY", ":4242")
    path = tmp_path / "ro.log"
    path.write_text("")
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(path)
                        else real_access(p, mode))
    old = casalog.logfile()
    seen = []
    casalog.post_listeners.append(lambda text, prio: seen.append(text))
    try:
        casalog.setlogfile(str(path))
        loggerlaunch.maybe_start_logger(cfg())
    finally:
        casalog.post_listeners.pop()
        casalog.setlogfile(old)
    assert [t.rstrip("\n").split("\t", 3)[3] for t in seen] == [
        f"casalogger is not started: the log file {path} is not writable"]
    assert loggerlaunch.logger_process() is None
