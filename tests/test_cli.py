"""The ``casa`` launcher: every option, -c runs and their exit statuses,
configuration precedence, startup files, the startup log."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASA = [sys.executable, os.path.join(ROOT, "bin", "casa")]
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\t([A-Z0-9]+)\t([^\t]*)\t(.*)$")

#: prints the effective configuration as JSON
DUMP = ("import json, os; from casashell import config; "
        "print('CFG=' + json.dumps(config.current().as_dict()))")


class Casa:
    def __init__(self, tmp_path):
        self.home = tmp_path / "home"
        (self.home / ".casa").mkdir(parents=True)
        self.work = tmp_path / "work"
        self.work.mkdir()

    def __call__(self, *args, env=None, cmd=None, timeout=60):
        e = dict(os.environ, HOME=str(self.home), PYTHONUNBUFFERED="1")
        e.pop("PYTHONNOUSERSITE", None)
        e.pop("MPLBACKEND", None)
        e.pop("CASASITECONFIG", None)
        e.update(env or {})
        return subprocess.run((cmd or CASA) + list(args), cwd=self.work, env=e,
                              capture_output=True, text=True, timeout=timeout)

    def cfg(self, *args, **kw):
        r = self(*args, "-c", DUMP, **kw)
        assert r.returncode == 0, r.stderr
        (line,) = [x for x in r.stdout.splitlines() if x.startswith("CFG=")]
        return json.loads(line[4:]), r

    def logs(self):
        return sorted(p.name for p in self.work.iterdir() if p.name.endswith(".log"))

    def log_lines(self, name=None):
        name = name or self.logs()[0]
        with open(self.work / name) as fh:
            return fh.read().splitlines()


@pytest.fixture
def casa(tmp_path):
    return Casa(tmp_path)


# -- help and version ---------------------------------------------------------

def test_help_lists_every_option(casa):
    r = casa("--help")
    assert r.returncode == 0
    for opt in ("--logfile PATH", "--log2term", "--nologger", "--nologfile", "--nogui",
                "--agg", "--iplog", "--colors {Neutral,NoColor,Linux,LightBG}",
                "--cachedir DIR", "--configfile FILE", "--noconfig", "--nositeconfig",
                "--startupfile FILE",
                "--nostartupfile", "--datapath A:B", "--user-site", "-v, --version",
                "-c CODE_OR_FILE [ARGS ...]", "--notelemetry", "--nocrashreport"):
        assert opt in r.stdout, opt
    assert casa.logs() == []                     # no log file for --help


def test_version(casa):
    from casashell import CASA_COMPAT_VERSION, __version__
    r = casa("-v")
    assert (r.returncode, r.stdout) == (
        0, f"casashell {__version__} (CASA {CASA_COMPAT_VERSION} compatible)\n")
    assert casa("--version").stdout == r.stdout
    assert casa.logs() == []


# -- -c ---------------------------------------------------------------------------

@pytest.mark.parametrize("code,status,out,err", [
    ("pass", 0, "", ""),
    ("print(6 * 7)", 0, "42\n", ""),
    ("import sys; sys.exit(3)", 3, "", ""),
    ("import sys; sys.exit()", 0, "", ""),
    ("import sys; sys.exit(0)", 0, "", ""),
    ("import sys; sys.exit('bye')", 1, "", "bye\n"),
    ("exit(); print('not reached')", 0, "", ""),
    ("raise KeyboardInterrupt", 130, "", "KeyboardInterrupt\n"),
])
def test_c_exit_status(casa, code, status, out, err):
    r = casa("--nologfile", "-c", code)
    assert (r.returncode, r.stdout) == (status, out)
    assert r.stderr.endswith(err), r.stderr


def test_c_exception_traceback_and_severe_log(casa):
    r = casa("-c", "x = 1", "def f():\n    raise ValueError('bad value')", "f()")
    assert r.returncode == 1
    assert r.stderr.startswith("Traceback (most recent call last):\n")
    assert r.stderr.endswith("ValueError: bad value\n")
    assert "cli.py" not in r.stderr            # none of the launcher's own frames
    assert "line 2, in f" in r.stderr
    lines = casa.log_lines()
    severe = [LINE.match(x).groups() for x in lines if "\tSEVERE\t" in x]
    assert severe[0] == ("SEVERE", "::casa", "-c code raised ValueError: bad value")
    assert severe[-1] == ("SEVERE", "::casa+", "ValueError: bad value")
    # the traceback is printed once on the terminal, not echoed again from the log
    assert r.stderr.count("ValueError: bad value") == 1


def test_c_takes_all_remaining_arguments(casa):
    r = casa("-c", "print('ran')", "--nologger")
    assert r.returncode == 1 and r.stdout == "ran\n"
    assert "NameError: name 'nologger' is not defined" in r.stderr


def test_c_statements_share_one_namespace_with_tasks(casa):
    r = casa("--nologfile", "-c", "vis = 'x.ms'", "print(vis, callable(inp), "
             "callable(listobs), casalog.logfile())", "print(__name__)")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "x.ms True True /dev/null\n__main__\n"


def test_c_script_file_with_arguments(casa):
    (casa.work / "lib").mkdir()
    (casa.work / "lib" / "helper.py").write_text("VALUE = 'helped'\n")
    (casa.work / "lib" / "s.py").write_text(
        "import sys, helper\nprint(sys.argv, __name__, helper.VALUE)\n"
        "casalog.post('from the script')\nsys.exit(int(sys.argv[2]))\n")
    r = casa("-c", "lib/s.py", "a", "7")
    assert r.returncode == 7
    assert r.stdout == "['lib/s.py', 'a', '7'] __main__ helped\n"
    msgs = [LINE.match(x).group(3) for x in casa.log_lines()]
    assert "from the script" in msgs


def test_c_missing_script_file(casa):
    r = casa("--nologfile", "-c", "nothere.py", "1")
    assert r.returncode == 1
    assert r.stderr == "casa: error: -c: script file nothere.py does not exist\n"


def test_c_without_code_is_a_usage_error(casa):
    r = casa("--nologfile", "-c")
    assert r.returncode == 2
    assert r.stderr.endswith("casa: error: -c needs a Python statement or a script file\n")
    assert casa("--nologfile", "-c", "").returncode == 0


def test_c_does_not_import_heavy_modules(casa):
    r = casa("--nologger", "--nogui", "-c",
             "import sys; print(sorted(m for m in ('numpy', 'casacore', 'IPython', "
             "'PyQt5', 'matplotlib', 'prompt_toolkit') if m in sys.modules))")
    assert (r.returncode, r.stdout) == (0, "[]\n")


def test_python_m_casashell_is_the_same(casa):
    (casa.home / ".casa" / "config.py").write_text("colors = 'Linux'\n")
    cfg, _ = casa.cfg(cmd=[sys.executable, "-m", "casashell"])
    assert cfg["colors"] == "Linux"
    r = casa("-c", "print(1)", cmd=[sys.executable, "-m", "casashell"])
    assert (r.returncode, r.stdout) == (0, "1\n")


# -- log options ----------------------------------------------------------------

def test_default_logfile_and_startup_lines(casa):
    from casashell import CASA_COMPAT_VERSION, __version__
    r = casa("--nologger", "-c", "print(casalog.logfile())")
    assert r.returncode == 0
    (name,) = casa.logs()
    assert re.fullmatch(r"casa-\d{8}-\d{6}\.log", name)
    assert r.stdout == f"{casa.work / name}\n"
    rows = [LINE.match(x).groups() for x in casa.log_lines()]
    assert rows[0][2].startswith(f"casashell {__version__} (compatible with CASA "
                                 f"{CASA_COMPAT_VERSION}), Python ")
    assert rows[1][2] == "command line: casa --nologger -c 'print(casalog.logfile())'"
    assert rows[2][2] == ("no site configuration file (looked for $CASASITECONFIG, "
                          "/opt/casa/casasiteconfig.py, /home/casa/casasiteconfig.py and "
                          "a casasiteconfig module on sys.path)")
    assert rows[3][2] == (f"configuration file {casa.home}/.casa/config.py not found; "
                          "using the defaults")
    assert rows[4][2] == "configuration values different from the defaults:"
    assert rows[5] == ("INFO", "::casa+", "    nologger = True")
    assert r.stderr == ""                        # nothing on the terminal


def test_logfile_option_appends(casa, tmp_path):
    target = tmp_path / "logs" / "my.log"
    target.parent.mkdir()
    target.write_text("old line\n")
    r = casa("--logfile", str(target), "-c", "casalog.post('hi there')")
    assert r.returncode == 0 and casa.logs() == []
    text = target.read_text().splitlines()
    assert text[0] == "old line" and text[-1].endswith("\tINFO\t::casa\thi there")


def test_logfile_relative_and_in_config(casa):
    (casa.home / ".casa" / "config.py").write_text("logfile = 'fromconfig.log'\n")
    casa("-c", "pass")
    assert casa.logs() == ["fromconfig.log"]
    casa("--logfile", "cmdline.log", "-c", "pass")
    assert casa.logs() == ["cmdline.log", "fromconfig.log"]


def test_nologfile(casa):
    r = casa("--nologfile", "--logfile", "x.log", "-c", "casalog.post('a', 'WARN')")
    assert r.returncode == 0 and casa.logs() == []
    assert r.stderr.endswith("\tWARN\t::casa\ta\n")     # WARN still on the terminal


def test_log2term(casa):
    r = casa("--log2term", "-c", "casalog.post('to the terminal')")
    assert "\tINFO\t::casa\tto the terminal\n" in r.stderr
    assert "\tINFO\t::casa\tcommand line: casa --log2term -c" in r.stderr
    r = casa("-c", "casalog.post('not to the terminal')")
    assert "not to the terminal" not in r.stderr


def test_unwritable_logfile_warns_once_and_goes_on(casa, tmp_path):
    r = casa("--logfile", str(tmp_path / "nodir" / "x.log"), "-c",
             "casalog.post('a'); casalog.post('b'); print('still here')")
    assert r.returncode == 0 and r.stdout == "still here\n"
    assert r.stderr.count("cannot write to log file") == 1
    assert f"{tmp_path}/nodir/x.log" in r.stderr


# -- other options -------------------------------------------------------------------

def test_flags_reach_the_configuration(casa, tmp_path):
    d1, d2 = tmp_path / "d1", tmp_path / "d2"
    d1.mkdir()
    d2.mkdir()
    cfg, r = casa.cfg("--nologger", "--log2term", "--agg", "--iplog", "--colors", "LightBG",
                      "--cachedir", "cache", "--datapath", f"{d1}:{d2}:{tmp_path}/no",
                      "--user-site", "--notelemetry", "--nocrashreport", "--nologfile")
    assert cfg["nologger"] and cfg["log2term"] and cfg["agg"] and cfg["iplog"]
    assert cfg["nologfile"] and cfg["logfile"] == "/dev/null"
    assert cfg["colors"] == "LightBG"
    assert cfg["cachedir"] == str(casa.work / "cache")
    assert cfg["datapath"] == [str(d1), str(d2)]
    assert f"WARN\t::casa\tdatapath entry {tmp_path}/no is not a directory" in r.stderr
    assert cfg["user_site"] is True
    assert cfg["telemetry_enabled"] is False and cfg["crashreporter_enabled"] is False


def test_nogui_implies_nologger_and_agg(casa):
    r = casa("--nogui", "--nologfile", "-c", DUMP + "; print(os.environ.get('MPLBACKEND'))")
    cfg = json.loads(r.stdout.splitlines()[0][4:])
    assert cfg["nogui"] and cfg["nologger"] and cfg["agg"]
    assert r.stdout.splitlines()[1] == "agg"
    r = casa("--nologfile", "-c", "import os; print(os.environ.get('MPLBACKEND'))")
    assert r.stdout == "None\n"


def test_bad_colors_value(casa):
    r = casa("--colors", "Purple", "-c", "pass")
    assert r.returncode == 2
    assert "argument --colors: invalid choice: 'Purple'" in r.stderr


def test_user_site_removed_unless_asked(casa):
    code = "import os; print(os.environ.get('PYTHONNOUSERSITE'))"
    assert casa("--nologfile", "-c", code).stdout == "1\n"
    assert casa("--nologfile", "--user-site", "-c", code).stdout == "None\n"
    # a real user site-packages: importable with --user-site only, also when
    # PYTHONNOUSERSITE was set (CASA refuses that combination)
    usersite = casa.home / ".local" / "lib" / (
        f"python{sys.version_info[0]}.{sys.version_info[1]}") / "site-packages"
    usersite.mkdir(parents=True)
    (usersite / "casatest_usersite_mod.py").write_text("VALUE = 17\n")
    imp = "import casatest_usersite_mod as m; print(m.VALUE)"
    r = casa("--nologfile", "-c", imp)
    assert r.returncode == 1 and "No module named 'casatest_usersite_mod'" in r.stderr
    for env in (None, {"PYTHONNOUSERSITE": "1"}):
        r = casa("--nologfile", "--user-site", "-c", imp, env=env)
        assert (r.returncode, r.stdout) == (0, "17\n"), r.stderr


@pytest.mark.parametrize("opt,replacement", [("--rcdir", "--cachedir"),
                                             ("--norc", "--noconfig")])
def test_obsolete_fatal_options(casa, opt, replacement):
    for args in ((opt, "x"), (opt,)):
        r = casa(*args, "-c", "print('ran')")
        assert r.returncode == 1 and r.stdout == ""
        assert r.stderr.startswith(f"casa: error: {opt} is no longer supported: use "
                                   f"{replacement}")
        assert r.stderr.count("\n") == 1
    assert casa.logs() == []


@pytest.mark.parametrize("opt", ["--trace", "--pipeline"])
def test_unavailable_options_warn(casa, opt):
    r = casa(opt, "--nologfile", "-c", "print('ran')")
    assert r.returncode == 0 and r.stdout == "ran\n"
    assert re.search(rf"\tWARN\t::casa\t{opt} is not available.*; it is ignored\n", r.stderr)


def test_unknown_options_are_ignored_with_a_warning(casa):
    r = casa("--nologfle", "--bogus", "stray.py", "--nologfile", "-c", "print('ran')")
    assert r.returncode == 0 and r.stdout == "ran\n"
    assert ("\tWARN\t::casa\tunknown option --nologfle is ignored "
            "(did you mean --nologfile?)\n") in r.stderr
    assert "\tWARN\t::casa\tunknown option --bogus is ignored\n" in r.stderr
    assert ("\tWARN\t::casa\targument 'stray.py' is ignored (to run a script, use: "
            "casa -c stray.py)\n") in r.stderr


# -- configuration files ------------------------------------------------------------

def test_config_precedence(casa, tmp_path):
    (casa.home / ".casa" / "config.py").write_text(
        "colors = 'Linux'\nagg = True\ncachedir = '/tmp/from-home-config'\n")
    cfg, _ = casa.cfg("--nologfile")
    assert (cfg["colors"], cfg["agg"], cfg["cachedir"]) == ("Linux", True,
                                                           "/tmp/from-home-config")
    cfg, _ = casa.cfg("--nologfile", "--colors", "NoColor")      # command line wins
    assert (cfg["colors"], cfg["agg"]) == ("NoColor", True)
    other = tmp_path / "other.py"
    other.write_text("colors = 'LightBG'\n")
    cfg, _ = casa.cfg("--nologfile", "--configfile", str(other))   # replaces ~/.casa
    assert (cfg["colors"], cfg["agg"]) == ("LightBG", False)
    cfg, _ = casa.cfg("--nologfile", "--noconfig")
    assert (cfg["colors"], cfg["agg"]) == ("Neutral", False)


def test_broken_config_logs_severe_and_starts_with_defaults(casa):
    path = casa.home / ".casa" / "config.py"
    path.write_text("log2term = True\nimport nosuchmodule_xyz\n")
    r = casa("-c", "from casashell import config; print(config.current().log2term)")
    assert r.returncode == 0 and r.stdout == "False\n"
    assert (f"\tSEVERE\t::casa\tconfiguration file {path} failed; it is ignored and "
            "the defaults are used:\n") in r.stderr
    rows = [LINE.match(x).groups() for x in casa.log_lines()]
    severe = [row for row in rows if row[0] == "SEVERE"]
    assert severe[-1] == ("SEVERE", "::casa+",
                          "ModuleNotFoundError: No module named 'nosuchmodule_xyz'")
    assert ("SEVERE", "::casa+", f'  File "{path}", line 2, in <module>') in severe
    assert ("INFO", "::casa", f"configuration file {path} failed; using the defaults") in rows


def test_unknown_config_variable_logged_as_warn(casa):
    path = casa.home / ".casa" / "config.py"
    path.write_text("telemetry_enabled = False\nfoo_unknown = 1\n")
    r = casa("-c", "pass")
    assert r.returncode == 0
    rows = [LINE.match(x).groups() for x in casa.log_lines()]
    assert ("WARN", "::casa", f"configuration file {path}: unknown variable "
            "'foo_unknown' is ignored") in rows
    assert sum(row[0] == "WARN" for row in rows) == 1


# -- startup files ----------------------------------------------------------------------

def test_startup_file_runs_in_the_shell_namespace(casa):
    (casa.home / ".casa" / "startup.py").write_text(
        "greeting = 'hello from startup'\nprint('startup', __name__, callable(listobs))\n")
    r = casa("--nologfile", "-c", "print(greeting)")
    assert r.stdout == "startup __main__ True\nhello from startup\n"
    r = casa("--nologfile", "--nostartupfile", "-c", "print('greeting' in globals())")
    assert r.stdout == "False\n"


def test_startupfile_option_and_conflict(casa, tmp_path):
    s = tmp_path / "s.py"
    s.write_text("print('custom startup', __file__)\n")
    r = casa("--nologfile", "--startupfile", str(s), "-c", "print('__file__' in globals())")
    assert r.stdout == f"custom startup {s}\nFalse\n"
    r = casa("--nologfile", "--startupfile", str(s), "--nostartupfile", "-c", "pass")
    assert r.stdout == ""
    assert ("\tWARN\t::casa\t--nostartupfile and --startupfile are both given: no "
            "startup file is run\n") in r.stderr
    r = casa("--nologfile", "--startupfile", str(tmp_path / "none.py"), "-c", "pass")
    assert f"WARN\t::casa\tstartup file {tmp_path}/none.py does not exist" in r.stderr


def test_failing_startup_file_does_not_stop_the_session(casa):
    path = casa.home / ".casa" / "startup.py"
    path.write_text("a = 1\nraise RuntimeError('startup broke')\n")
    r = casa("-c", "print('a =', a)")
    assert r.returncode == 0 and r.stdout == "a = 1\n"
    assert "RuntimeError: startup broke\n" in r.stderr
    assert "casa: the startup file failed (see above); the session goes on\n" in r.stderr
    msgs = [LINE.match(x).groups() for x in casa.log_lines()]
    assert ("SEVERE", "::casa", f"startup file {path} raised RuntimeError: startup broke") \
        in msgs


def test_startup_file_sys_exit(casa):
    (casa.home / ".casa" / "startup.py").write_text("import sys\nsys.exit(5)\n")
    r = casa("--nologfile", "-c", "print('not reached')")
    assert r.returncode == 5 and r.stdout == ""


def test_c_get_ipython_on_demand(casa):
    r = casa("--nologfile", "-c", "import sys; print('IPython' in sys.modules)",
             "ip = get_ipython(); ip.run_line_magic('time', 'y = 6 * 7')",
             "print(type(ip).__name__, y, get_ipython() is ip)")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "False"                 # IPython only when asked for
    assert lines[-1] == "InteractiveShell 42 True"
    assert any(x.startswith("Wall time:") for x in lines)


def test_c_exit_after_get_ipython(casa):
    # IPython's own exit object must not replace Python's under -c
    r = casa("--nologfile", "-c", "get_ipython()", "exit(4)", "print('not reached')")
    assert (r.returncode, r.stdout) == (4, "")


def test_directory_given_as_config_or_startup_file(casa, tmp_path):
    r = casa("--nologfile", "--configfile", str(tmp_path), "--startupfile", str(tmp_path),
             "-c", "print('ran')")
    assert (r.returncode, r.stdout) == (0, "ran\n")
    warns = [x.split("\t", 3)[3] for x in r.stderr.splitlines() if "\tWARN\t" in x]
    assert warns == [f"configuration file {tmp_path} is a directory, not a file; using "
                     "the defaults",
                     f"startup file {tmp_path} is a directory, not a file; nothing is run "
                     "at startup"]


def test_interactive_shell_on_piped_input_exit_status(casa):
    e = dict(os.environ, HOME=str(casa.home))
    e.pop("CASASITECONFIG", None)
    r = subprocess.run(CASA + ["--nologfile", "--nologger"], cwd=casa.work, env=e,
                       input="x = 6 * 7\nprint(x)\nexit(3)\nprint('not reached')\n",
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 3
    assert "42" in r.stdout.split("CASA <2>:")[1] and "not reached" not in r.stdout
