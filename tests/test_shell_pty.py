"""The interactive shell, driven through a pseudo-terminal with pexpect."""

from __future__ import annotations

import os
import re
import sqlite3
import sys
import time

import pexpect
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASA = os.path.join(ROOT, "bin", "casa")
ESC = r"(?:\x1b\[[0-9;?]*[A-Za-z])*"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\t([A-Z0-9]+)\t([^\t]*)\t(.*)$")


def prompt(n) -> str:
    """Regexp of the input prompt ``CASA <n>:`` (colour codes allowed)."""
    return f"CASA <{ESC}{n}{ESC}>:"


class Session:
    def __init__(self, tmp_path, *args):
        self.home = tmp_path / "home"
        (self.home / ".casa").mkdir(parents=True, exist_ok=True)
        self.work = tmp_path / "work"
        self.work.mkdir(exist_ok=True)
        env = dict(os.environ, HOME=str(self.home), TERM="xterm",
                   PROMPT_TOOLKIT_NO_CPR="1")
        env.pop("MPLBACKEND", None)
        self.screen = ""
        self.child = pexpect.spawn(sys.executable, [CASA, "--nologger"] + list(args),
                                   cwd=str(self.work), env=env, encoding="utf-8",
                                   timeout=30, dimensions=(50, 150))

    def expect(self, pattern, timeout=30):
        try:
            self.child.expect(pattern, timeout=timeout)
        finally:
            self.screen += (self.child.before or "") + (
                self.child.after if isinstance(self.child.after, str) else "")
        return self.child.match

    def run(self, line, n_next):
        """Type ``line``; return the plain-text output lines up to prompt
        ``n_next`` (the echoed input line and prompt redraws left out)."""
        start = len(self.screen)
        self.child.sendline(line)
        self.expect(prompt(n_next))
        out = []
        for text in ANSI.sub("", self.screen[start:]).replace("\r", "\n").split("\n"):
            if text.strip() and "CASA <" not in text and text.strip() != line.strip():
                out.append(text.strip())
        return out

    def text(self):
        return ANSI.sub("", self.screen)

    def close(self):
        self.child.close(force=True)


@pytest.fixture
def session(tmp_path):
    made = []

    def start(*args):
        s = Session(tmp_path, *args)
        made.append(s)
        return s

    yield start
    for s in made:
        s.close()


def test_interactive_session(session, tmp_path):
    from casashell import CASA_COMPAT_VERSION, __version__
    s = session("--nologfile", "--cachedir", str(tmp_path / "cache"))
    s.expect(prompt(1))
    banner = s.text()
    assert f"casashell {__version__} -- CASA {CASA_COMPAT_VERSION} compatible shell" in banner
    assert "No log file." in banner
    # default Neutral colours: the prompt is coloured
    assert re.search(r"\x1b\[[0-9;]*32mCASA <", s.screen)

    assert s.run("x = 3", 2) == []
    # autocall: print(x), with no "------> print(x)" echo
    assert s.run("print x", 3) == ["3"]
    # a call, not abs - 3
    assert s.run("abs -3", 4) == ["Out[3]: 3"]
    assert s.run("len 'four'", 5) == ["Out[4]: 4"]
    # binary minus with blanks stays an expression
    assert s.run("x - 1", 6) == ["Out[5]: 2"]
    # a multi-line definition with continuation lines
    s.child.sendline("def twice(v):")
    s.child.sendline("    return 2 * v")
    s.child.sendline("")
    s.expect(prompt(7))
    assert "return 2 * v" in s.text()
    assert s.run("twice 21", 8) == ["Out[7]: 42"]
    assert s.run("casalog.logfile()", 9) == ["Out[8]: '/dev/null'"]
    # Ctrl-C during a running command returns to the prompt, session intact
    t0 = time.time()
    s.child.sendline("import time; print('sle' + 'eping'); time.sleep(30)")
    s.expect("sleeping")                     # the command is running
    time.sleep(0.3)
    s.child.sendintr()
    s.expect(prompt(10), timeout=10)
    assert time.time() - t0 < 10
    assert "KeyboardInterrupt" in s.text()
    assert s.run("print(x + 1)", 11) == ["4"]
    # IPython's rewrite echo ("------> print(x)") is never shown
    assert "------>" not in s.text()
    s.child.sendline("exit")
    s.expect(pexpect.EOF)
    s.child.close()
    assert s.child.exitstatus == 0
    # history kept under the cache directory
    hist = tmp_path / "cache" / "ipython" / "history.sqlite"
    with sqlite3.connect(str(hist)) as db:
        raw = [r[0] for r in db.execute("select source_raw from history order by line")]
    assert raw[:3] == ["x = 3", "print x", "abs -3"]
    assert os.listdir(s.work) == []           # --nologfile: no log file


def test_startup_file_colors_log_and_ctrl_d(session, tmp_path):
    startup = tmp_path / "startup.py"
    startup.write_text("def hello(name):\n    print('hello', name)\nloaded = 'yes'\n")
    log = tmp_path / "session.log"
    s = session("--logfile", str(log), "--colors", "NoColor", "--startupfile", str(startup),
                "--iplog")
    s.expect(prompt(1))
    # NoColor: no colour codes around the prompt text
    assert "CASA <1>:" in s.screen
    assert not re.search(r"\x1b\[[0-9;]*3[0-9]m", s.screen.split("CASA <1>:")[0][-40:])
    assert f"Log file: {log}" in s.text()
    assert s.run("hello 'casa'", 2) == ["hello casa"]
    out = s.run("casalog.post('typed at the prompt', 'WARN')", 3)
    assert out[0].endswith("\tWARN\t::casa\ttyped at the prompt")   # WARN on the terminal
    assert out[1:] == ["Out[2]: True"]
    out = s.run("raise ValueError('oops')", 4)
    assert "ValueError: oops" in out
    assert s.run("print(loaded)", 5) == ["yes"]
    assert s.run("from math import sin", 6) == []
    assert s.run("sin 0", 7) == ["Out[6]: 0.0"]
    # a task called with autocall: it runs (and reports the missing MS)
    out = s.run("listobs 'nonexist.ms'", 8)
    assert any("\tSEVERE\tlistobs::" in x and "nonexist.ms" in x for x in out), out
    s.child.sendcontrol("d")
    s.expect(r"Do you really want to exit \(\[y\]/n\)\?")
    s.child.sendline("y")
    s.expect(pexpect.EOF)
    s.child.close()
    assert s.child.exitstatus == 0
    lines = log.read_text().splitlines()
    rows = [LINE.match(x) for x in lines]
    assert all(rows), lines                        # every line complete
    msgs = [m.group(3) for m in rows]
    assert f"startup file {startup} done" in msgs
    assert ("WARN", "::casa", "typed at the prompt") in [m.groups() for m in rows]
    assert any(m.group(1) == "SEVERE" and m.group(2).startswith("listobs::")
               and "nonexist.ms" in m.group(3) for m in rows)
    assert msgs[-1] == "casashell session ended"   # closed cleanly
    iplogs = [p for p in os.listdir(s.work) if p.startswith("ipython-")]
    assert len(iplogs) == 1
    iplog = (s.work / iplogs[0]).read_text()
    assert "hello('casa')" in iplog and "print(loaded)" in iplog


@pytest.mark.parametrize("scheme,code", [("Neutral", "0;32m"), ("Linux", "0;92m"),
                                         ("LightBG", "0;94m")])
def test_color_schemes_and_unusable_cachedir(session, tmp_path, scheme, code):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    s = session("--nologfile", "--colors", scheme, "--cachedir", str(blocker))
    s.expect(prompt(1))
    # the prompt text has the scheme's colour, as in CASA
    assert "\x1b[" + code + "CASA <" in s.screen
    # an unusable cache directory: one warning, the shell still works
    assert s.text().count("the command history is not saved") == 1
    assert f"cannot use the cache directory {blocker} (Not a directory)" in s.text()
    assert s.run("6 * 7", 2) == ["Out[1]: 42"]
    s.child.sendline("exit")
    s.expect(pexpect.EOF)
    s.child.close()
    assert s.child.exitstatus == 0


# -- exit statuses of an interactive session -------------------------------------------

@pytest.mark.parametrize("line,status,shown", [
    ("exit(3)", 3, None),
    ("quit 4", 4, None),                     # autocall: quit(4)
    ("import sys; sys.exit(5)", 5, None),
    ("import sys; sys.exit('bye now')", 1, "bye now"),
    ("exit(0)", 0, None),
])
def test_exit_status_typed_at_the_prompt(session, tmp_path, line, status, shown):
    log = tmp_path / "s.log"
    s = session("--logfile", str(log))
    s.expect(prompt(1))
    assert s.run("x = 1", 2) == []
    s.child.sendline(line)
    s.expect(pexpect.EOF)
    s.child.close()
    assert (s.child.exitstatus, s.child.signalstatus) == (status, None)
    after = s.text().rsplit(line, 1)[1]
    # no IPython traceback and no "To exit: use 'exit'..." advice
    assert "SystemExit" not in after and "To exit" not in after
    if shown:
        assert after.strip() == shown
    rows = [LINE.match(x) for x in log.read_text().splitlines()]
    assert all(rows)
    assert rows[-1].group(3) == ("casashell session ended" +
                                 (f", exit status {status}" if status else ""))


def test_exit_from_execfile_script_and_startup_file(session, tmp_path):
    script = tmp_path / "stop.py"
    script.write_text("import sys\nprint('script runs')\nsys.exit(7)\nprint('not reached')\n")
    s = session("--nologfile")
    s.expect(prompt(1))
    s.child.sendline(f"execfile({str(script)!r})")
    s.expect(pexpect.EOF)
    s.child.close()
    assert s.child.exitstatus == 7
    assert "script runs" in s.text() and "not reached" not in s.text()

    startup = tmp_path / "startup.py"
    startup.write_text("print('startup runs')\nexit(6)\n")
    log = tmp_path / "t.log"
    s = session("--logfile", str(log), "--startupfile", str(startup))
    s.expect(pexpect.EOF)
    s.child.close()
    assert s.child.exitstatus == 6
    assert "startup runs" in s.text() and "CASA <1>" not in s.text()
    msgs = [LINE.match(x).group(3) for x in log.read_text().splitlines()]
    assert msgs[-2:] == [f"startup file {startup} called sys.exit: exit status 6",
                         "casashell session ended, exit status 6"]
