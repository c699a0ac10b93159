"""The local dask cluster and the signals of the session's processes.

* Ctrl-C in the interactive shell (a real pseudo-terminal) during a task on
  a Multi-MS reaches only the shell: the cluster's processes are in a session
  of their own, survive, and the task ends with the interruption (not a
  connection error); the next task prints nothing from distributed.
* A session killed with ``kill -9`` takes its cluster with it.
* A Ctrl-C during the clean-up at exit prints no traceback.

Deterministic: a worker-side hook (``worker.install_pause``) holds the sub-MS
calls and leaves marker files; the test polls for them before sending Ctrl-C,
and polls (with generous limits) for processes to end.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pexpect

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASA = os.path.join(ROOT, "bin", "casa")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _prompt(n) -> str:
    esc = r"(?:\x1b\[[0-9;?]*[A-Za-z])*"
    return f"CASA <{esc}{n}{esc}>:"


def _state(pid: int):
    """The /proc state letter of ``pid`` (None: no such process)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def _alive(pid: int) -> bool:
    return _state(pid) not in (None, "Z", "X")


def _poll(cond, limit=120.0) -> bool:
    t_end = time.monotonic() + limit
    while time.monotonic() < t_end:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def _env(tmp_path):
    home = tmp_path / "home"
    (home / ".casa").mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, HOME=str(home), TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1",
               PYTHONPATH=os.pathsep.join([ROOT, os.path.join(ROOT, "tests")]))
    env.pop("MPLBACKEND", None)
    return env


def test_ctrl_c_in_the_shell_reaches_only_the_shell(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    markers = tmp_path / "markers"
    markers.mkdir()
    log = tmp_path / "session.log"
    child = pexpect.spawn(sys.executable, [CASA, "--nologger", "--nogui", "--cores", "2",
                                           "--logfile", str(log)],
                          cwd=str(work), env=_env(tmp_path), encoding="utf-8", timeout=180,
                          dimensions=(50, 200))
    screen = []

    def expect(pattern, timeout=180):
        try:
            child.expect(pattern, timeout=timeout)
        finally:
            screen.append((child.before or "") +
                          (child.after if isinstance(child.after, str) else ""))
        return ANSI.sub("", screen[-1])

    pids = []
    try:
        expect(_prompt(1))
        child.sendline("from casashell.ms.generate import make_ms; "
                       "make_ms('s.ms', nant=6, nscan=4, nspw=2, nchan=8, ntimes_per_scan=5, "
                       "corrected=True, seed=3); "
                       "partition(vis='s.ms', outputvis='s.mms', separationaxis='scan', "
                       "numsubms=3)")
        expect(_prompt(2))
        child.sendline("from casashell.parallel import executor, worker; "
                       "c = executor.get_client(); "
                       f"c.run(worker.install_pause, {str(markers)!r}); "
                       "print('PIDS', *[p.pid for p in executor._cluster.procs])")
        out = expect(_prompt(3))
        pids = [int(x) for x in re.search(r"PIDS ([0-9 ]+)", out).group(1).split()]
        assert len(pids) == 3                         # scheduler + 2 workers
        shell_pgid = os.getpgid(child.pid)
        assert all(os.getpgid(p) != shell_pgid for p in pids)
        # a task on the Multi-MS, held on the workers at its first checkpoint
        child.sendline("flagdata(vis='s.mms', mode='clip', clipminmax=[0.0, 2.5], "
                       "datacolumn='corrected')")
        assert _poll(lambda: any(f.endswith(".started") for f in os.listdir(markers)))
        child.sendintr()                              # the terminal's Ctrl-C
        out = expect(_prompt(4))
        assert "flagdata interrupted (Ctrl-C)" in out
        assert "KeyboardInterrupt" in out
        for bad in ("CommClosedError", "Could not stop", "Stream is closed",
                    "distributed.", "has died"):
            assert bad not in out
        assert any(f.endswith(".cancel-seen") for f in os.listdir(markers))
        # the cluster is intact: every process running (none <defunct>)
        assert all(_alive(p) for p in pids), [_state(p) for p in pids]
        # the next task on the Multi-MS uses the same cluster, without noise
        child.sendline("c.run(worker.install_pause, None); "
                       "r = flagdata(vis='s.mms', mode='summary'); "
                       "print('TOTAL', r['total'], 'PIDS2', "
                       "*[p.pid for p in executor._cluster.procs])")
        out = expect(_prompt(5))
        assert re.search(r"PIDS2 ([0-9 ]+)", out).group(1).split() == [str(p) for p in pids]
        assert "TOTAL" in out
        for bad in ("Traceback", "distributed.", "ERROR", "Error", "restarting"):
            assert bad not in out
        child.sendline("exit")
        expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0
    finally:
        child.close(force=True)
    # the cluster ended with the session
    assert _poll(lambda: not any(_alive(p) for p in pids))
    text = log.read_text()
    assert "flagdata interrupted (Ctrl-C)" in text
    assert "A process of the local dask cluster has died" not in text


_STARTER = textwrap.dedent("""
    import time
    from casashell.parallel import executor
    executor.get_client()
    with open({out!r} + '.tmp', 'w') as fh:
        fh.write(' '.join(str(p.pid) for p in executor._cluster.procs))
    import os
    os.replace({out!r} + '.tmp', {out!r})
    {tail}
""")


def _start_casa(tmp_path, tail):
    """Start ``casa -c`` on a script that starts the local cluster, writes the
    pids of its processes, then runs ``tail``; return (Popen, pids)."""
    pidfile = str(tmp_path / "cluster.pids")
    script = tmp_path / "start.py"
    script.write_text(_STARTER.format(out=pidfile, tail=tail))
    proc = subprocess.Popen([sys.executable, CASA, "--nologger", "--nogui", "--nologfile",
                             "--cores", "2", "-c", str(script)], cwd=str(tmp_path),
                            env=_env(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert _poll(lambda: os.path.exists(pidfile) or proc.poll() is not None, 180)
        with open(pidfile) as fh:
            pids = [int(x) for x in fh.read().split()]
        assert len(pids) == 3
    except BaseException:
        _end(proc)
        raise
    return proc, pids


def _end(proc):
    if proc.poll() is None:
        proc.kill()
    return proc.communicate()


def _ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[1])


def test_cluster_ends_when_the_session_is_killed(tmp_path):
    proc, pids = _start_casa(tmp_path, "time.sleep(600)")
    try:
        assert all(_alive(p) for p in pids)
        # their parent: the shell (casa itself, or the child of casa's
        # crash-report supervisor)
        shell = _ppid(pids[0])
        assert all(_ppid(p) == shell for p in pids)
        assert shell == proc.pid or _ppid(shell) == proc.pid
        os.kill(shell, signal.SIGKILL)                    # the shell dies hard
        assert _poll(lambda: not any(_alive(p) for p in pids), 120), \
            [(p, _state(p)) for p in pids]
        _poll(lambda: proc.poll() is not None, 60)        # the supervisor ends too
    finally:
        _end(proc)


def test_ctrl_c_during_the_clean_up_at_exit_is_quiet(tmp_path):
    # the clean-up at exit is interrupted by a SIGINT sent from inside it
    tail = textwrap.dedent("""
        import os, signal
        cl = executor._cluster
        orig = cl.close
        def close():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(60)
            orig()
        cl.close = close
    """)
    proc, pids = _start_casa(tmp_path, tail)
    try:
        out, err = proc.communicate(timeout=180)
    finally:
        _end(proc)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert "atexit" not in err and "distributed" not in err, err
    assert _poll(lambda: not any(_alive(p) for p in pids), 120)


def test_task_after_a_cluster_process_died_is_quiet(tmp_path):
    """The scheduler killed between two tasks: the next task restarts the
    cluster (one WARN) and the client's connection errors stay off the
    terminal."""
    script = tmp_path / "died.py"
    script.write_text(textwrap.dedent("""
        import os, signal
        from casashell.ms.generate import make_ms
        make_ms('g.ms', nant=5, nscan=3, nspw=1, nchan=4, ntimes_per_scan=3, seed=1)
        partition(vis='g.ms', outputvis='g.mms', separationaxis='scan', numsubms=2)
        from casashell.parallel import executor
        first = executor._cluster.procs[0]
        os.kill(first.pid, signal.SIGKILL)            # the scheduler dies
        first.wait()
        print('TOTAL', flagdata(vis='g.mms', mode='summary')['total'])
    """))
    log = tmp_path / "died.log"
    proc = subprocess.run([sys.executable, CASA, "--nologger", "--nogui", "--logfile", str(log),
                           "--cores", "2", "-c", str(script)], cwd=str(tmp_path),
                          env=_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    from casacore import tables as ct
    with ct.table(str(tmp_path / "g.ms"), ack=False) as t:
        want = t.nrows() * int(np.prod(t.getcell("DATA", 0).shape))
    assert f"TOTAL {float(want)}" in proc.stdout
    for text in (proc.stdout, proc.stderr):
        assert "distributed" not in text and "Traceback" not in text, text
    assert log.read_text().count("A process of the local dask cluster has died: "
                                 "restarting the cluster") == 1
