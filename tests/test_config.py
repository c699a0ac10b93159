"""The typed configuration: defaults, config file, precedence, errors."""

from __future__ import annotations

import os
import re
import time

import pytest

from casashell import config
from casashell.config import CasaConfig, load

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: the documented defaults (docs/shell.md, config/config.py)
DEFAULTS = {
    "nologfile": False, "log2term": False, "nologger": False, "nogui": False,
    "agg": False, "colors": "Neutral", "iplog": False, "datapath": [],
    "user_site": False, "telemetry_enabled": False, "telemetry_log_limit": 20480,
    "telemetry_log_size_interval": 60, "telemetry_submit_interval": 604800,
    "telemetry_submit_url": None, "crashreporter_enabled": True,
}


@pytest.fixture
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    (h / ".casa").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(h))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    # no site configuration file, whatever this machine has (test_siteconfig.py)
    monkeypatch.delenv("CASASITECONFIG", raising=False)
    monkeypatch.setattr(config, "SITE_CONFIG_PATHS", ())
    monkeypatch.setattr(config, "SITE_CONFIG_MODULE", "casasiteconfig_not_in_tests")
    return h


def write(path, text):
    path.write_text(text)
    return str(path)


def test_defaults(home):
    t0 = time.time()
    cfg = load()
    for name, value in DEFAULTS.items():
        assert getattr(cfg, name) == value, name
    assert cfg.cachedir == str(home / ".casa")
    assert cfg.startupfile == str(home / ".casa" / "startup.py")
    assert cfg.telemetry_log_directory == str(home / ".casa" / "telemetry")
    assert cfg.crashreporter_directory == str(home / ".casa" / "crashreports")
    # time-stamped names in the current directory, UTC
    d, name = os.path.split(cfg.logfile)
    assert d == os.getcwd()
    m = re.fullmatch(r"casa-(\d{8}-\d{6})\.log", name)
    assert m
    when = time.mktime(time.strptime(m.group(1), "%Y%m%d-%H%M%S")) - time.timezone
    assert int(t0) - 1 <= when <= time.time() + 1
    assert re.fullmatch(r"ipython-\d{8}-\d{6}\.log", os.path.basename(cfg.iplogfile))
    assert cfg.config_status == "missing" and cfg.messages == []
    assert cfg.configfile == str(home / ".casa" / "config.py")
    assert cfg.changed_items() == []


def test_user_config_file_values(home):
    write(home / ".casa" / "config.py",
          "log2term = True\ncolors = 'Linux'\ncachedir = '~/cache'\n"
          "datapath.append('.')\nlogfile = 'my.log'\ntelemetry_log_limit = 10\n")
    cfg = load()
    assert cfg.config_status == "loaded" and cfg.messages == []
    assert cfg.log2term is True and cfg.colors == "Linux"
    assert cfg.cachedir == str(home / "cache")
    assert cfg.datapath == [os.getcwd()]
    assert cfg.logfile == os.path.join(os.getcwd(), "my.log")
    assert cfg.telemetry_log_limit == 10
    assert dict(cfg.changed_items()) == {
        "log2term": True, "colors": "Linux", "cachedir": str(home / "cache"),
        "datapath": [os.getcwd()], "logfile": os.path.join(os.getcwd(), "my.log"),
        "telemetry_log_limit": 10}


def test_command_line_overrides_file(home):
    write(home / ".casa" / "config.py", "colors = 'Linux'\nlogfile = 'a.log'\nagg = True\n")
    cfg = load(overrides={"colors": "LightBG", "logfile": "b.log"})
    assert cfg.colors == "LightBG"
    assert cfg.logfile.endswith(os.sep + "b.log")
    assert cfg.agg is True                      # not overridden: the file's value
    assert "colors" in cfg.from_command_line and "agg" in cfg.from_file


def test_configfile_option_and_noconfig(home, tmp_path):
    write(home / ".casa" / "config.py", "log2term = True\n")
    other = write(tmp_path / "other.py", "nologger = True\n")
    cfg = load(configfile=other)
    assert cfg.nologger is True and cfg.log2term is False
    assert cfg.configfile == other
    cfg = load(noconfig=True)
    assert cfg.log2term is False and cfg.config_status == "disabled"
    assert cfg.configfile is None


def test_missing_explicit_configfile_warns(home, tmp_path):
    cfg = load(configfile=str(tmp_path / "nope.py"))
    assert cfg.config_status == "missing"
    assert cfg.messages == [("WARN", f"configuration file {tmp_path / 'nope.py'} does "
                             "not exist; using the defaults")]


def test_unknown_variable_warns_helpers_do_not(home):
    path = write(home / ".casa" / "config.py",
                 "import os\nfrom os import path as _p\ndef helper():\n    return 1\n"
                 "class K: pass\n_private = 3\nlog2term = True\nfoo_unknown = 5\n"
                 "nologer = True\n")
    cfg = load()
    assert cfg.log2term is True
    assert cfg.messages == [
        ("WARN", f"configuration file {path}: unknown variable 'foo_unknown' is ignored"),
        ("WARN", f"configuration file {path}: unknown variable 'nologer' is ignored"),
    ]


def test_colors_any_case(home):
    write(home / ".casa" / "config.py", "colors = 'lightbg'\n")
    cfg = load()
    assert cfg.colors == "LightBG" and cfg.messages == []


def test_wrong_types_warn_and_keep_default(home):
    path = write(home / ".casa" / "config.py",
                 "log2term = 'yes'\ncolors = 'Purple'\ntelemetry_log_limit = True\n"
                 "nologger = True\n")
    cfg = load()
    assert cfg.log2term is False and cfg.colors == "Neutral"
    assert cfg.telemetry_log_limit == 20480 and cfg.nologger is True
    texts = [t for p, t in cfg.messages]
    assert all(p == "WARN" for p, t in cfg.messages) and len(texts) == 3
    assert f"configuration file {path}: log2term = 'yes' is not valid (expected True " \
           "or False); using False" in texts
    assert any("colors = 'Purple' is not valid (expected one of 'Neutral', 'NoColor', "
               "'Linux', 'LightBG'); using 'Neutral'" in t for t in texts)


def test_broken_config_file_is_discarded_with_traceback(home):
    path = write(home / ".casa" / "config.py",
                 "log2term = True\ncolors = 'Linux'\nx = undefined_name\n")
    cfg = load()
    assert cfg.config_status == "failed"
    # nothing of the file is kept, not even what came before the error
    assert cfg.log2term is False and cfg.colors == "Neutral"
    ((prio, text),) = cfg.messages
    assert prio == "SEVERE"
    lines = text.splitlines()
    assert lines[0] == (f"configuration file {path} failed; it is ignored and the "
                        "defaults are used:")
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[2] == f'  File "{path}", line 3, in <module>'
    assert lines[-1] == "NameError: name 'undefined_name' is not defined"
    assert "casashell" not in text             # only the user's file in the traceback


@pytest.mark.parametrize("body,last", [
    ("import sys\nsys.exit(3)\n", "SystemExit: 3"),
    ("x = (\n", "SyntaxError"),
])
def test_config_file_exit_or_syntax_error(home, body, last):
    write(home / ".casa" / "config.py", body)
    cfg = load()
    assert cfg.config_status == "failed"
    assert cfg.messages[0][0] == "SEVERE" and last in cfg.messages[0][1]


def test_implications_and_datapath(home, tmp_path):
    good = tmp_path / "d1"
    good.mkdir()
    cfg = load(overrides={"nogui": True, "nologfile": True,
                          "datapath": [str(good), str(tmp_path / "missing")]})
    assert cfg.nologger is True and cfg.agg is True
    assert cfg.logfile == os.devnull
    assert cfg.datapath == [str(good)]
    assert cfg.messages == [("WARN", f"datapath entry {tmp_path / 'missing'} is not a "
                             "directory; it is left out")]


def test_datapath_string_in_config(home, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write(home / ".casa" / "config.py", f"datapath = '{tmp_path / 'a'}:{tmp_path / 'b'}'\n")
    assert load().datapath == [str(tmp_path / "a"), str(tmp_path / "b")]


def test_current_reads_user_config_once_and_posts_messages(home, monkeypatch, tmp_path):
    write(home / ".casa" / "config.py", "log2term = True\nbogus_name = 1\n")
    monkeypatch.setattr(config, "_current", None)
    from casashell.logsink import casalog
    cfg = config.current()
    assert cfg.log2term is True
    assert config.current() is cfg
    with open(casalog.logfile()) as fh:
        text = fh.read()
    assert "\tWARN\t::casa\tconfiguration file " in text and "'bogus_name'" in text


def test_shipped_default_config_changes_nothing(home):
    cfg = load(configfile=os.path.join(ROOT, "config", "config.py"))
    assert cfg.config_status == "loaded" and cfg.messages == [] and cfg.changed_items() == []


def test_every_variable_is_documented():
    with open(os.path.join(ROOT, "config", "config.py")) as fh:
        shipped = fh.read()
    with open(os.path.join(ROOT, "docs", "shell.md")) as fh:
        docs = fh.read()
    for name in CasaConfig.variable_names():
        assert re.search(rf"^#{name} = ", shipped, re.M), f"{name} not in config/config.py"
        assert f"`{name}`" in docs, f"{name} not in docs/shell.md"
    # and the shipped file, uncommented, gives exactly the defaults
    uncommented = re.sub(r"^#(\w+ = )", r"\1", shipped, flags=re.M)
    uncommented = uncommented.replace('"casa-YYYYMMDD-HHMMSS.log"', "logfile").replace(
        '"ipython-YYYYMMDD-HHMMSS.log"', "iplogfile")
    ns = {"logfile": "x", "iplogfile": "y"}
    exec(compile(uncommented, "config.py", "exec"), ns)
    ref = CasaConfig()
    for name in CasaConfig.variable_names():
        if name in ("logfile", "iplogfile"):
            continue
        assert ns[name] == getattr(ref, name) or (
            name == "telemetry_log_directory" and ns[name] == "~/.casa/telemetry") or (
            name == "crashreporter_directory" and ns[name] == "~/.casa/crashreports"), name


def test_library_use_reads_the_same_file(home):
    """``import casashell`` (no launcher) takes logfile and log2term from
    ~/.casa/config.py, in a fresh interpreter."""
    import subprocess
    import sys
    write(home / ".casa" / "config.py", "logfile = 'lib.log'\nlog2term = True\n")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from casashell import casalog; "
            "casalog.post('from a library'); print(casalog.logfile())")
    env = dict(os.environ, HOME=str(home))
    r = subprocess.run([sys.executable, "-c", code, ROOT], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == os.path.join(os.getcwd(), "lib.log") + "\n"
    assert r.stderr.endswith("\tINFO\t::casa\tfrom a library\n")
    with open("lib.log") as fh:
        assert fh.read().endswith("\tINFO\t::casa\tfrom a library\n")


def test_empty_paths_and_negative_cores_are_refused(home):
    conf = write(home / ".casa" / "config.py", "iplogfile = ''\n")
    cfg = load(overrides={"logfile": "", "cachedir": " ", "cores": -2}, when=0)
    # the values from before stay (an empty cachedir would put ./ipython in the CWD)
    assert cfg.logfile == os.path.abspath("casa-19700101-000000.log")
    assert cfg.iplogfile == os.path.abspath("ipython-19700101-000000.log")
    assert cfg.cachedir == str(home / ".casa") and cfg.cores == 0
    assert cfg.messages == [
        ("WARN", f"configuration file {conf}: iplogfile = '' is not valid (expected a "
                 "path); using 'ipython-19700101-000000.log'"),
        ("WARN", "command line: logfile = '' is not valid (expected a path); using "
                 "'casa-19700101-000000.log'"),
        ("WARN", "command line: cachedir = ' ' is not valid (expected a path); using "
                 "'~/.casa'"),
        ("WARN", "command line: cores = -2 is not valid (expected an integer >= 0); "
                 "using 0"),
    ]
