"""Shell-style tasks: globals, never raising, exact log lines, .last files, laziness."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
import time

import pytest

from casashell import shelltasks
from casashell.logsink import casalog
from casashell.tasks._framework import Param, task

MS = "day2_TDEM0003_10s_norx_1scan.ms"


@task(summary="Shell test task", category="testing",
      params=[
          Param("vis", "path", "", "Name of input visibility file (MS)"),
          Param("action", "string", "count", "What to do", allowed=["count", "fail", "stop"]),
          Param("factor", "double", 1.0, "A factor"),
      ])
def sht_task(vis, action, factor):
    casalog.post(f"action {action}")
    if action == "fail":
        raise ValueError(f"cannot do that with factor {factor}")
    if action == "stop":
        raise KeyboardInterrupt
    return factor * 2


def records(path=None):
    out = []
    with open(path or casalog.logfile()) as f:
        for line in f.read().splitlines():
            _, prio, origin, msg = line.split("\t", 3)
            out.append((prio, origin, msg))
    return out


@pytest.fixture
def ns(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    user_ns = {"__name__": "__main__"}
    shelltasks.populate_namespace(user_ns, colors="NoColor")
    shelltasks.add_task(user_ns, sht_task)
    return user_ns


@pytest.fixture
def vis(data_dir):
    return os.path.join(data_dir, MS)


def run(code, user_ns):
    exec(compile(code, "<prompt>", "exec"), user_ns)


def test_python_style_ignores_globals(ns, vis):
    ns["vis"] = "/nonexistent.ms"
    ns["factor"] = 10.0
    run(f"r = sht_task(vis={vis!r})", ns)
    assert ns["r"] == 2.0                       # factor default, not the global


def test_globals_style(ns, vis):
    run(f"vis = {vis!r}; factor = 4; r = sht_task()", ns)
    assert ns["r"] == 8.0
    run("r = go(sht_task)", ns)
    assert ns["r"] == 8.0
    run("r = sht_task(None, None)", ns)          # all None counts as no argument
    assert ns["r"] == 8.0
    run("default(sht_task); r = sht_task()", ns)
    assert ns["r"] is False and "vis" not in ns and "factor" not in ns


def test_failure_returns_false_with_exact_log_lines(ns, vis):
    run(f"r = sht_task(vis={vis!r}, action='fail', factor=3)", ns)
    assert ns["r"] is False
    recs = records()
    o = "sht_task::::casa"
    assert recs[0] == ("INFO", o, "#" * 42)
    assert recs[1] == ("INFO", o, "##### Begin Task: sht_task           #####")
    assert recs[2] == ("INFO", o, f"sht_task( vis={vis!r}, action='fail', factor=3.0 )")
    assert recs[3] == ("INFO", o, "action fail")
    assert recs[4] == ("SEVERE", o, "Task sht_task raised an exception of class ValueError "
                                    "with the following message: cannot do that with factor 3.0")
    assert recs[5][:2] == ("INFO", o) and recs[5][2].startswith("Task sht_task complete.")
    assert recs[6] == ("INFO", o, "##### End Task: sht_task             #####")
    assert recs[7] == ("INFO", o, "#" * 42)
    assert recs[8] == ("SEVERE", o, "Exception Reported: Error in sht_task: "
                                    "cannot do that with factor 3.0")
    assert recs[9] == ("INFO", o, "Traceback (most recent call last):")
    tb = recs[10:]
    assert all(p == "INFO" and org == o + "+" for p, org, _ in tb)
    assert tb[-1][2] == "ValueError: cannot do that with factor 3.0"
    assert any(f'File "{__file__}"' in m and "in sht_task" in m for _, _, m in tb)
    assert casalog.getOrigin() == ""


def test_invalid_parameter_returns_false(ns, vis, capfd):
    run(f"r = sht_task(vis={vis!r}, action='nope')", ns)
    assert ns["r"] is False
    recs = records()
    msg = ("Exception Reported: Error in sht_task: parameter action='nope' is not allowed; "
           "allowed values: 'count', 'fail', 'stop'")
    assert recs[0] == ("SEVERE", "sht_task::::casa", msg)
    assert recs[1] == ("INFO", "sht_task::::casa", "Traceback (most recent call last):")
    assert recs[-1][2] == "AssertionError: " + msg.split(": ", 2)[2]
    assert not any("Begin Task" in m for _, _, m in recs)      # no banners
    assert msg in capfd.readouterr().err                           # SEVERE reaches the terminal
    # the .last file keeps what was typed
    with open("sht_task.last") as f:
        assert "action   = 'nope'\n" in f.read()


def test_unknown_keyword_and_wrong_type(ns, vis):
    run(f"r1 = sht_task(vis={vis!r}, fctor=2); r2 = sht_task(vis={vis!r}, factor='x')", ns)
    assert ns["r1"] is False and ns["r2"] is False
    severe = [m for p, _, m in records() if p == "SEVERE"]
    assert severe == [
        "Exception Reported: Error in sht_task: sht_task() got an unexpected keyword "
        "argument 'fctor'",
        "Exception Reported: Error in sht_task: parameter factor='x' has the wrong type "
        "(str); expected float"]


def test_interrupt_stops_script_and_is_logged(ns, vis):
    with pytest.raises(KeyboardInterrupt):
        run(f"sht_task(vis={vis!r}, action='stop'); after = 1", ns)
    assert "after" not in ns                        # the rest of the script did not run
    recs = records()
    assert ("WARN", "sht_task::::casa", "Task sht_task was interrupted by the user (Ctrl-C)") in recs
    assert recs[-1][2] == "#" * 42
    assert os.path.exists("sht_task.last")


def test_last_file_every_run(ns, vis, tmp_path):
    run(f"sht_task(vis={vis!r}, factor=2.5)", ns)
    with open(tmp_path / "sht_task.last") as f:
        text = f.read()
    assert text == (f"taskname = 'sht_task'\nvis      = {vis!r}\naction   = 'count'\n"
                    f"factor   = 2.5\n#sht_task( vis={vis!r},action='count',factor=2.5 )\n")
    assert not os.path.exists(tmp_path / "sht_task.pre")
    # a failing run writes it too
    run(f"sht_task(vis={vis!r}, action='fail', factor=7)", ns)
    with open(tmp_path / "sht_task.last") as f:
        assert "factor   = 7.0\n" in f.read()


def test_modular_runs_write_no_last(tmp_path, monkeypatch, vis):
    monkeypatch.chdir(tmp_path)
    sht_task(vis)
    assert os.listdir(tmp_path) == ["casa-test.log"]


def test_namespace_looked_up_at_every_call(ns, vis, tmp_path):
    """A script run in a copy of the namespace (casa -c script.py) sees its own
    globals; the prompt afterwards sees the shell's (no stale cache)."""
    script = tmp_path / "s.py"
    script.write_text(f"vis = {vis!r}\nfactor = 3\nresult = sht_task()\n"
                      f"def helper():\n    return go(sht_task)\nresult2 = helper()\n")
    out = runpy.run_path(str(script), init_globals=ns)
    assert out["result"] == 6.0 and out["result2"] == 6.0
    run(f"vis = {vis!r}; factor = 5; r = sht_task()", ns)
    assert ns["r"] == 10.0


def test_resolving_tasks(ns, capsys):
    run("inp(); inp('nosuchtask'); inp(3)", ns)
    assert capsys.readouterr().out.splitlines() == [
        "ERROR task not specified and no active task",
        "ERROR nosuchtask does not seem to be a CASA task",
        "ERROR 3 does not seem to be a CASA task"]
    run("r = go('sht_task')", ns)                     # a name works and failures are not hidden
    assert ns["r"] is False
    assert records()[0][2].startswith("Exception Reported: Error in sht_task: the vis parameter")
    run("inp(sht_task); r = go()", ns)                 # last task
    assert ns["r"] is False


def test_task_that_cannot_load(ns, monkeypatch):
    from casashell import tasks
    monkeypatch.setitem(tasks.TASK_MODULES, "sht_missing", "sht_no_such_module")
    st = shelltasks.ShellTask("sht_missing", shelltasks._state_of(ns))
    ns["sht_missing"] = st
    run("r = sht_missing(vis='x')", ns)
    assert ns["r"] is False
    assert records()[0] == ("SEVERE", "sht_missing::::casa",
                            "Exception Reported: Error in sht_missing: No module named "
                            "'casashell.tasks.sht_no_such_module'")
    assert "cannot be loaded" in st.__doc__


def test_help_shows_parameters(ns):
    import pydoc
    text = pydoc.render_doc(ns["sht_task"], renderer=pydoc.plaintext)
    assert "sht_task(vis='', action='count', factor=1.0)" in text
    assert "action : str = 'count'\n        What to do\n        Allowed: 'count', 'fail', 'stop'" \
        in text
    assert repr(ns["sht_task"]) == "<casashell task sht_task>"
    assert ns["sht_task"].spec is sht_task.spec


def test_populate_is_lazy_and_cheap():
    code = (
        "import sys, time\n"
        "t = time.perf_counter()\n"
        "from casashell import shelltasks\n"
        "ns = {}\n"
        "shelltasks.populate_namespace(ns)\n"
        "dt = time.perf_counter() - t\n"
        "heavy = [m for m in ('numpy', 'casacore', 'matplotlib', 'casashell.tasks.listobs',"
        " 'casashell.tasks._framework') if m in sys.modules]\n"
        "names = sorted(k for k in ('inp', 'go', 'default', 'tget', 'tput', 'saveinputs',"
        " 'execfile', 'tasklist', 'taskhelp', 'casalog', 'listobs') if k in ns)\n"
        "print(heavy, names, dt < 1.0)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == ("[] ['casalog', 'default', 'execfile', 'go', 'inp', 'listobs', "
                   "'saveinputs', 'taskhelp', 'tasklist', 'tget', 'tput'] True")


def test_shell_task_loads_on_first_use():
    code = (
        "import sys\n"
        "from casashell import shelltasks\n"
        "ns = {}\n"
        "shelltasks.populate_namespace(ns)\n"
        "before = 'casashell.tasks.listobs' in sys.modules\n"
        "spec = ns['listobs'].spec\n"
        "print(before, 'casashell.tasks.listobs' in sys.modules, spec.name)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False True listobs"


def test_ipython_autocall_and_run_i(tmp_path, monkeypatch, vis):
    """In a real IPython shell: ``inp sht_task`` / ``go sht_task`` by autocall,
    and ``%run -i`` scripts see and set the shell's globals."""
    from IPython.core.interactiveshell import InteractiveShell
    monkeypatch.chdir(tmp_path)
    sh = InteractiveShell.instance()
    old_autocall = sh.autocall
    sh.autocall = 2
    try:
        shelltasks.populate_namespace(sh.user_ns, colors="NoColor")
        shelltasks.add_task(sh.user_ns, sht_task)
        sh.run_cell(f"vis = {vis!r}")
        sh.run_cell("factor = 6")
        res = sh.run_cell("go sht_task", store_history=False)
        assert res.result == 12.0
        (tmp_path / "r.py").write_text("factor = 7\nr = go(sht_task)\n")
        sh.run_cell("%run -i r.py")
        assert sh.user_ns["r"] == 14.0 and sh.user_ns["factor"] == 7
    finally:
        sh.autocall = old_autocall


def test_ipython_probing_does_not_load(ns):
    st = shelltasks.ShellTask("listobs", shelltasks._state_of(ns))
    for attr in ("_repr_html_", "_ipython_display_", "__wrapped__"):
        assert not hasattr(st, attr)
    assert st._modular is None


_SLOW_STARTUP = '''
import os, time
from casashell import shelltasks
from casashell.tasks._framework import Param, task

@task(summary="Slow test task", category="testing",
      params=[Param("outfile", "newpath", "", "Output file")])
def sht_slow(outfile):
    tmp = outfile + ".tmp"
    open(tmp, "w").write("partial")
    open("started", "w").close()
    try:
        time.sleep(60)
        os.rename(tmp, outfile)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)

shelltasks.add_task(globals(), sht_slow)
'''


def test_ctrl_c_in_a_task_in_the_real_shell(tmp_path):
    """Ctrl-C in a running task at the casa prompt: back to the prompt, the
    interruption logged, no output left behind, .last written, session alive."""
    import pexpect
    home = tmp_path / "home"
    (home / ".casa").mkdir(parents=True)
    work = tmp_path / "work"
    work.mkdir()
    startup = tmp_path / "startup.py"
    startup.write_text(_SLOW_STARTUP)
    env = dict(os.environ, HOME=str(home), TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1")
    casa = os.path.join(os.path.dirname(sys.executable), "casa")
    child = pexpect.spawn(casa, ["--nologger", "--nogui", "--startupfile", str(startup)],
                          cwd=str(work), env=env, encoding="utf-8", timeout=30,
                          dimensions=(50, 150))
    try:
        child.expect(r"CASA <.*1.*>:")
        child.sendline("r = sht_slow(outfile='out.txt')")
        deadline = time.time() + 30
        while not (work / "started").exists() and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        child.sendintr()
        child.expect("KeyboardInterrupt")
        child.expect(r"CASA <.*2.*>:")
        child.sendline("print('alive', 6 * 7)")
        child.expect("alive 42")
        child.sendline("exit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert sorted(os.listdir(work)) == sorted(
        ["started", "sht_slow.last"] + [n for n in os.listdir(work) if n.startswith("casa-")])
    assert (work / "sht_slow.last").read_text().startswith("taskname = 'sht_slow'\n")
    logs = [n for n in os.listdir(work) if n.startswith("casa-") and n.endswith(".log")]
    assert len(logs) == 1
    recs = [ln.split("\t")[1:] for ln in (work / logs[0]).read_text().splitlines()]
    i = recs.index(["INFO", "sht_slow::::casa", "##### Begin Task: sht_slow           #####"])
    assert ["WARN", "sht_slow::::casa", "Task sht_slow was interrupted by the user (Ctrl-C)"] \
        in recs[i:]
    assert recs[i:].index(["INFO", "sht_slow::::casa", "##### End Task: sht_slow             #####"])
    assert not any(r[0] == "SEVERE" for r in recs)


def test_shell_tasklist_and_taskhelp_print_only(capsys):
    """At the prompt tasklist/taskhelp print and return None (no second Out[N] copy)."""
    from casashell import shelltasks
    ns = {}
    shelltasks.populate_namespace(ns)
    assert ns["tasklist"]() is None
    out = capsys.readouterr().out
    assert "listobs" in out and "flagdata" in out
    assert ns["taskhelp"]() is None
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "Available tasks, with a one-line description:"
    assert any(ln.startswith("split ") for ln in out.splitlines())
