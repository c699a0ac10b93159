"""Crash reports: a deliberate segfault in a ``casa -c`` child process."""

from __future__ import annotations

import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

from casashell import crashreport

CASA = os.path.join(os.path.dirname(sys.executable), "casa")


def casa(tmp_path, *args, **kw):
    env = dict(os.environ, HOME=str(tmp_path))
    env.pop("PYTHONFAULTHANDLER", None)
    cmd = [CASA] if os.path.exists(CASA) else [sys.executable, "-m", "casashell"]
    return subprocess.run(cmd + ["--nologger", "--nogui", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, **kw)


def sections(text):
    out = {}
    for part in text.split("\n## ")[1:]:
        title, _, body = part.partition("\n")
        out[title] = body
    return out


def test_segfault_writes_report(tmp_path):
    res = casa(tmp_path, "-c", "import ctypes; ctypes.string_at(0)")
    assert res.returncode == -signal.SIGSEGV               # dies like the child did
    m = re.search(r"casashell crashed \(SIGSEGV, Segmentation fault\)\. A crash report was "
                  r"written to (\S+)\n", res.stderr)
    assert m, res.stderr
    path = m.group(1)
    assert os.path.dirname(path) == str(tmp_path / ".casa" / "crashreports")
    assert glob.glob(str(tmp_path / ".casa" / "crashreports" / "*")) == [path]
    text = open(path).read()
    head = text.split("\n## ")[0].splitlines()
    assert head[0] == "casashell crash report"
    assert any(re.fullmatch(r"process: \d+ ended by SIGSEGV, Segmentation fault", ln)
               for ln in head)
    assert any(re.fullmatch(r"peak memory of the process: [\d.]+ MiB", ln) for ln in head)
    sec = sections(text)
    logname = glob.glob(str(tmp_path / "casa-*.log"))
    assert len(logname) == 1
    assert list(sec) == ["Python stack (faulthandler)", "Native stack",
                         f"Session log (last 60 lines of {logname[0]})", "Memory",
                         "Operating system", "CPU", "Mounts"]
    py = sec["Python stack (faulthandler)"]
    assert py.startswith("Fatal Python error: Segmentation fault")
    assert re.search(r'File ".*ctypes/__init__\.py", line \d+ in string_at', py)
    assert 'File "<casa -c>", line 1 in <module>' in py
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            ptrace_ok = f.read().strip() in ("0", "1")
    except OSError:
        ptrace_ok = True
    if shutil.which("gdb") and ptrace_ok:
        native = sec["Native stack"]
        assert re.search(r"#\d+ .*string_at", native), native
        assert "<signal handler called>" in native
    else:
        assert sec["Native stack"].startswith("not available")
    with open(logname[0]) as f:
        log = f.read().splitlines()
    assert log[0].split("\t")[3] in sec[f"Session log (last 60 lines of {logname[0]})"]
    # the session log says where the report is
    assert log[-1].split("\t")[1:] == [
        "SEVERE", "::casa",
        f"casashell crashed (SIGSEGV, Segmentation fault). A crash report was written to {path}"]
    meminfo = open("/proc/meminfo").read().splitlines()[0].split()
    assert "MemTotal:" in sec["Memory"] and meminfo[1] in sec["Memory"]
    assert f"system: {os.uname().sysname} {os.uname().release}" in sec["Operating system"]
    assert f"count: {os.cpu_count()}" in sec["CPU"]
    assert re.search(r"^\S+ / \S+ ", sec["Mounts"], re.M)
    # faulthandler's text also reaches the terminal, as without supervision
    assert "Fatal Python error: Segmentation fault" in res.stderr


def test_normal_exit_and_exit_status(tmp_path):
    res = casa(tmp_path, "-c", "import sys; print('fine'); sys.exit(3)")
    assert res.returncode == 3 and res.stdout.strip().endswith("fine")
    assert "crash" not in res.stderr
    assert not os.listdir(tmp_path / ".casa" / "crashreports")     # no report, no leftovers


def test_disabled_means_no_supervisor(tmp_path):
    res = casa(tmp_path, "--nocrashreport", "-c",
               "import ctypes; ctypes.string_at(0)")
    assert res.returncode == -signal.SIGSEGV
    assert "crash report" not in res.stderr
    assert not os.path.exists(tmp_path / ".casa" / "crashreports")


def test_forked_grandchild_crash_is_not_the_shells(tmp_path):
    code = ("import os, ctypes\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    ctypes.string_at(0)\n"
            "_, st = os.waitpid(pid, 0)\n"
            "print('survived', os.WTERMSIG(st))\n")
    res = casa(tmp_path, "-c", code)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().endswith(f"survived {int(signal.SIGSEGV)}")
    assert not os.listdir(tmp_path / ".casa" / "crashreports")


def test_sigterm_is_forwarded(tmp_path):
    env = dict(os.environ, HOME=str(tmp_path))
    cmd = [CASA] if os.path.exists(CASA) else [sys.executable, "-m", "casashell"]
    flag = tmp_path / "started"
    p = subprocess.Popen(cmd + ["--nologger", "--nogui", "-c",
                                f"import time; open({str(flag)!r}, 'w').close(); time.sleep(60)"],
                         cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 30
    while not flag.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert flag.exists()
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=30)
    assert p.returncode == -signal.SIGTERM
    assert not os.listdir(tmp_path / ".casa" / "crashreports")
    # the supervisor ends the session log for the killed shell
    (log,) = glob.glob(str(tmp_path / "casa-*.log"))
    with open(log) as f:
        last = f.read().splitlines()[-1].split("\t")
    assert last[1:] == ["WARN", "::casa", "casashell session ended: the shell was killed "
                        "by SIGTERM, Terminated"]


def _spawn(tmp_path, *args):
    """casa in a pseudo-terminal (its pid is the supervisor's)."""
    import pexpect
    env = dict(os.environ, HOME=str(tmp_path), TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1")
    env.pop("PYTHONFAULTHANDLER", None)
    cmd = [CASA] if os.path.exists(CASA) else [sys.executable, "-m", "casashell"]
    return pexpect.spawn(cmd[0], cmd[1:] + ["--nologger", "--nologfile", *args],
                         cwd=str(tmp_path), env=env, encoding="utf-8", timeout=30,
                         dimensions=(50, 150))


def test_sigint_from_kill_is_forwarded_once_terminal_ctrl_c_not_twice(tmp_path):
    import pexpect
    script = tmp_path / "count.py"
    script.write_text(
        "import signal, time\n"
        "count = 0\n"
        "def handler(signum, frame):\n"
        "    global count\n"
        "    count += 1\n"
        "signal.signal(signal.SIGINT, handler)\n"
        "print('ready', flush=True)\n"
        "while count < 1:\n"
        "    time.sleep(0.01)\n"
        "time.sleep(1.0)\n"          # a second, forwarded copy would arrive meanwhile
        "print('after the terminal Ctrl-C:', count, flush=True)\n"
        "while count < 2:\n"
        "    time.sleep(0.01)\n"
        "time.sleep(1.0)\n"
        "print('after kill -INT:', count, flush=True)\n")
    c = _spawn(tmp_path, "-c", str(script))
    try:
        c.expect("ready")
        c.sendintr()                              # Ctrl-C typed in the terminal
        c.expect(r"after the terminal Ctrl-C: (\d+)")
        assert c.match.group(1) == "1"
        os.kill(c.pid, signal.SIGINT)             # kill -INT <supervisor>
        c.expect(r"after kill -INT: (\d+)")
        assert c.match.group(1) == "2"
        c.expect(pexpect.EOF)
    finally:
        c.close(force=True)
    assert c.exitstatus == 0


def test_kill_int_and_term_to_the_supervisor_of_an_interactive_shell(tmp_path):
    import pexpect
    c = _spawn(tmp_path, "--colors", "NoColor")
    try:
        c.expect("CASA <1>:")
        c.sendline("import os; x = 5; print('PIDS', os.getpid(), os.getppid())")
        c.expect(r"PIDS (\d+) (\d+)")
        shell_pid, parent = int(c.match.group(1)), int(c.match.group(2))
        assert parent == c.pid and shell_pid != c.pid    # casa supervises the shell
        # the supervisor blocks the signals it forwards; the shell does not
        with open(f"/proc/{shell_pid}/status") as f:
            blocked = int(next(x for x in f if x.startswith("SigBlk:")).split()[1], 16)
        assert [s for s in crashreport.FORWARDED_SIGNALS if blocked & (1 << (s - 1))] == []
        with open(f"/proc/{c.pid}/status") as f:
            blocked = int(next(x for x in f if x.startswith("SigBlk:")).split()[1], 16)
        assert all(blocked & (1 << (s - 1)) for s in crashreport.FORWARDED_SIGNALS)
        c.expect("CASA <2>:")
        c.sendline("import time; print('sle' + 'eping'); time.sleep(60)")
        c.expect("sleeping")
        os.kill(c.pid, signal.SIGINT)
        c.expect("CASA <3>:")
        assert "KeyboardInterrupt" in c.before
        c.sendline("print('x is', x)")          # the session goes on
        c.expect("x is 5")
        c.expect("CASA <4>:")
        os.kill(c.pid, signal.SIGTERM)
        c.expect(pexpect.EOF)
    finally:
        c.close(force=True)
    assert c.signalstatus == signal.SIGTERM      # ended like the shell
    assert not os.path.exists(f"/proc/{shell_pid}")
    assert not os.listdir(tmp_path / ".casa" / "crashreports")


def test_sigint_from_kill_ends_a_c_script_with_130(tmp_path):
    env = dict(os.environ, HOME=str(tmp_path))
    cmd = [CASA] if os.path.exists(CASA) else [sys.executable, "-m", "casashell"]
    flag = tmp_path / "started"
    p = subprocess.Popen(cmd + ["--nologger", "--nogui", "-c",
                                f"import time; open({str(flag)!r}, 'w').close(); time.sleep(60)"],
                         cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    deadline = time.time() + 30
    while not flag.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert flag.exists()
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 130
    assert err.endswith("KeyboardInterrupt\n")
    (log,) = glob.glob(str(tmp_path / "casa-*.log"))
    with open(log) as f:
        assert f.read().splitlines()[-1].endswith(
            "\tWARN\t::casa\t-c code interrupted (KeyboardInterrupt): exit status 130")


def test_write_report_directly(tmp_path):
    log = tmp_path / "s.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    path = crashreport.write_report(int(signal.SIGABRT), "Fatal Python error: Aborted\n",
                                    "", logfile=str(log), reportdir=str(tmp_path / "r"),
                                    pid=1234)
    assert re.fullmatch(r"casashell-crash-\d{8}-\d{6}-1234\.txt", os.path.basename(path))
    sec = sections(open(path).read())
    body = sec[f"Session log (last 60 lines of {log})"].splitlines()
    assert body == [f"line {i}" for i in range(40, 100)]
    assert sec["Native stack"].strip() == "not available"
    assert crashreport.report_directory(SimpleNamespace(cachedir=str(tmp_path))) == \
        str(tmp_path / "crashreports")


def test_native_stack_tool_does_not_inherit_the_supervisors_blocked_signals(
        tmp_path, monkeypatch):
    # a stand-in gdb that reports its own blocked-signal mask as a stack line
    fake = tmp_path / "gdb"
    fake.write_text("#!/bin/sh\necho \"#0 $(grep SigBlk /proc/self/status)\"\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    wanted = set(crashreport.FORWARDED_SIGNALS)
    old = signal.pthread_sigmask(signal.SIG_BLOCK, wanted)     # as in the supervisor
    try:
        text = crashreport._native_stack(os.getpid())
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
    m = re.fullmatch(r"#0 SigBlk:\s+([0-9a-f]+)", text)
    assert m, text
    mask = int(m.group(1), 16)
    assert [s for s in wanted if mask & (1 << (int(s) - 1))] == []
