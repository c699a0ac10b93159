"""The site configuration file: which file is used, its order with the user
configuration file and the command line, --nositeconfig, and failures.
Real files in a temporary directory; the standard locations
(/opt/casa/..., /home/casa/...) are replaced by temporary paths."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from casashell import config
from casashell.config import find_site_config, load

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASA = [sys.executable, os.path.join(ROOT, "bin", "casa")]
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\t([A-Z0-9]+)\t([^\t]*)\t(.*)$")


@pytest.fixture
def site(tmp_path, monkeypatch):
    """Temporary stand-ins for the two standard site file locations (absent
    until a test writes them), a HOME without config.py, CWD = work/."""
    std = (str(tmp_path / "opt" / "casasiteconfig.py"),
           str(tmp_path / "homecasa" / "casasiteconfig.py"))
    for p in std:
        os.makedirs(os.path.dirname(p))
    monkeypatch.setattr(config, "SITE_CONFIG_PATHS", std)
    monkeypatch.delenv("CASASITECONFIG", raising=False)
    home = tmp_path / "home"
    (home / ".casa").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return std


def write(path, text) -> str:
    path = str(path)
    with open(path, "w") as fh:
        fh.write(text)
    return path


def test_casasiteconfig_variable_then_user_file_then_command_line(site, tmp_path):
    sitefile = write(tmp_path / "sitecfg.py",
                     "datapath = ['/usr']\ncolors = 'Linux'\nagg = True\n"
                     "cachedir = '/tmp/site-cache'\n")
    # a standard location exists too: $CASASITECONFIG wins over it
    write(site[0], "colors = 'LightBG'\n")
    user = write(tmp_path / "user.py",
                 "datapath.append('/etc')\n"           # extends the site value
                 "nologger = (colors == 'Linux')\n"    # reads a site value
                 "agg = False\n")                      # overrides a site value
    env = {"CASASITECONFIG": sitefile}
    cfg = load(configfile=user, environ=env, overrides={"cachedir": "/tmp/cli-cache"})
    assert (cfg.siteconfig, cfg.siteconfig_status) == (sitefile, "loaded")
    assert cfg.config_status == "loaded" and cfg.messages == []
    assert cfg.datapath == ["/usr", "/etc"]
    assert (cfg.colors, cfg.nologger, cfg.agg) == ("Linux", True, False)
    assert cfg.cachedir == "/tmp/cli-cache"              # the command line wins
    assert {"datapath", "colors", "nologger", "cachedir"} <= cfg.from_file
    # the site file alone (no user file)
    cfg = load(noconfig=True, environ=env)
    assert (cfg.datapath, cfg.colors, cfg.agg, cfg.nologger) == (["/usr"], "Linux",
                                                               True, False)
    # --nositeconfig: the user file then sees the defaults
    cfg = load(configfile=user, environ=env, nositeconfig=True)
    assert (cfg.siteconfig, cfg.siteconfig_status) == (None, "disabled")
    assert (cfg.datapath, cfg.colors, cfg.nologger) == (["/etc"], "Neutral", False)


@pytest.mark.parametrize("value,why", [("sitecfg.py", "is not an absolute path"),
                                       ("{tmp}/nosuch.py", "is not an existing file"),
                                       ("{tmp}", "is not an existing file")])
def test_unusable_casasiteconfig_means_no_site_file(site, tmp_path, value, why):
    write(tmp_path / "work" / "sitecfg.py", "colors = 'Linux'\n")
    write(site[0], "colors = 'LightBG'\n")      # not looked at: the variable decides
    value = value.format(tmp=tmp_path)
    assert find_site_config({"CASASITECONFIG": value}) == (
        None, f"CASASITECONFIG={value!r} {why}: no site configuration file is used")
    cfg = load(noconfig=True, environ={"CASASITECONFIG": value})
    assert (cfg.siteconfig, cfg.siteconfig_status, cfg.colors) == (None, "invalid",
                                                                  "Neutral")
    assert cfg.messages == [("SEVERE", f"CASASITECONFIG={value!r} {why}: no site "
                             "configuration file is used")]
    # --nositeconfig: the variable is not even looked at
    cfg = load(noconfig=True, environ={"CASASITECONFIG": value}, nositeconfig=True)
    assert cfg.messages == [] and cfg.siteconfig_status == "disabled"


def test_standard_locations_in_order_then_module_on_sys_path(site, tmp_path, monkeypatch):
    moddir = tmp_path / "modules"
    moddir.mkdir()
    module = write(moddir / "casasiteconfig.py",
                   "colors = 'NoColor'\nimport sys as _s\n"
                   "_s.modules.setdefault('casasiteconfig_ran', None)\n")
    monkeypatch.syspath_prepend(str(moddir))
    sys.modules.pop("casasiteconfig_ran", None)
    try:
        # nothing at the standard locations: the module found on sys.path
        assert find_site_config({}) == (module, None)
        cfg = load(noconfig=True, environ={})
        assert (cfg.siteconfig, cfg.colors) == (module, "NoColor")
        # it is executed as a config file, not imported
        assert "casasiteconfig" not in sys.modules
        assert "casasiteconfig_ran" in sys.modules
        # the second standard location beats the module
        write(site[1], "colors = 'LightBG'\n")
        assert find_site_config({}) == (site[1], None)
        assert load(noconfig=True, environ={}).colors == "LightBG"
        # and the first beats the second
        write(site[0], "colors = 'Linux'\n")
        assert find_site_config({}) == (site[0], None)
        assert load(noconfig=True, environ={}).colors == "Linux"
    finally:
        sys.modules.pop("casasiteconfig_ran", None)


def test_no_site_file_anywhere(site):
    assert find_site_config({}) == (None, None)
    cfg = load(noconfig=True, environ={})
    assert (cfg.siteconfig, cfg.siteconfig_status, cfg.messages) == (None, "missing", [])


def test_failing_site_file_and_failing_user_file(site, tmp_path):
    sitefile = write(site[0], "log2term = True\nraise RuntimeError('site is broken')\n")
    user = write(tmp_path / "user.py", "colors = 'Linux'\n")
    cfg = load(configfile=user, environ={})
    # the site file is ignored as a whole, the user file still applies
    assert (cfg.siteconfig, cfg.siteconfig_status) == (sitefile, "failed")
    assert (cfg.log2term, cfg.colors, cfg.config_status) == (False, "Linux", "loaded")
    ((prio, text),) = cfg.messages
    assert prio == "SEVERE"
    assert text.startswith(f"site configuration file {sitefile} failed; it is ignored "
                           "and the defaults are used:\nTraceback")
    assert text.endswith("RuntimeError: site is broken")
    assert f'File "{sitefile}", line 2, in <module>' in text
    # a good site file and a failing user file: the site values stay
    write(site[0], "log2term = True\nwhatever = 1\n")
    write(user, "colors = 'Linux'\nundefined_name\n")
    cfg = load(configfile=user, environ={})
    assert (cfg.log2term, cfg.colors) == (True, "Neutral")
    assert (cfg.siteconfig_status, cfg.config_status) == ("loaded", "failed")
    assert cfg.messages[0] == ("WARN", f"site configuration file {sitefile}: unknown "
                               "variable 'whatever' is ignored")
    assert cfg.messages[1][1].startswith(
        f"configuration file {user} failed; it is ignored and the site configuration "
        "values are used:\n")
    assert cfg.messages[1][1].endswith("NameError: name 'undefined_name' is not defined")


# -- through the casa command ---------------------------------------------------------

def run_casa(tmp_path, *args, env=None):
    e = dict(os.environ, HOME=str(tmp_path / "home"), PYTHONUNBUFFERED="1")
    for name in ("CASASITECONFIG", "PYTHONNOUSERSITE", "MPLBACKEND"):
        e.pop(name, None)
    e.update(env or {})
    os.makedirs(tmp_path / "home" / ".casa", exist_ok=True)
    os.makedirs(tmp_path / "work", exist_ok=True)
    return subprocess.run(CASA + list(args), cwd=tmp_path / "work", env=e,
                          capture_output=True, text=True, timeout=60)


def log_rows(path):
    with open(path) as fh:
        return [LINE.match(x).groups() for x in fh.read().splitlines()]


def test_casa_logs_the_site_file_and_nositeconfig_skips_it(tmp_path):
    sitefile = write(tmp_path / "site.py", "log2term = True\ndatapath = ['/usr']\n")
    user = write(tmp_path / "home.py", "datapath.append('/etc')\n")
    show = "from casashell import config; c = config.current(); print(c.log2term, c.datapath)"
    log = str(tmp_path / "a.log")
    r = run_casa(tmp_path, "--logfile", log, "--configfile", user, "-c", show,
                 env={"CASASITECONFIG": sitefile})
    assert (r.returncode, r.stdout) == (0, "True ['/usr', '/etc']\n")
    rows = log_rows(log)
    assert rows[2] == ("INFO", "::casa", f"site configuration file {sitefile}")
    assert rows[3] == ("INFO", "::casa", f"configuration file {user}")
    assert ("INFO", "::casa+", "    datapath = ['/usr', '/etc']") in rows
    # log2term from the site file: the startup lines are on the terminal
    assert f"\tINFO\t::casa\tsite configuration file {sitefile}\n" in r.stderr

    log = str(tmp_path / "b.log")
    r = run_casa(tmp_path, "--nositeconfig", "--logfile", log, "--configfile", user,
                 "-c", show, env={"CASASITECONFIG": sitefile})
    assert (r.returncode, r.stdout, r.stderr) == (0, "False ['/etc']\n", "")
    rows = log_rows(log)
    assert rows[2] == ("INFO", "::casa", "no site configuration file (--nositeconfig)")


def test_casa_with_unusable_casasiteconfig_and_module_on_pythonpath(tmp_path):
    moddir = tmp_path / "mods"
    moddir.mkdir()
    module = write(moddir / "casasiteconfig.py", "colors = 'LightBG'\n")
    show = "from casashell import config; print(config.current().colors)"
    log = str(tmp_path / "c.log")
    r = run_casa(tmp_path, "--logfile", log, "--noconfig", "-c", show,
                 env={"CASASITECONFIG": "relative/site.py", "PYTHONPATH": str(moddir)})
    # the variable decides alone: the module is not used either
    assert (r.returncode, r.stdout) == (0, "Neutral\n")
    message = ("CASASITECONFIG='relative/site.py' is not an absolute path: no site "
               "configuration file is used")
    assert r.stderr.endswith(f"\tSEVERE\t::casa\t{message}\n")     # on the terminal
    rows = log_rows(log)
    assert ("SEVERE", "::casa", message) in rows                     # and in the log
    assert rows[2] == ("INFO", "::casa",
                       "no site configuration file ($CASASITECONFIG is not usable)")

    log = str(tmp_path / "d.log")
    r = run_casa(tmp_path, "--logfile", log, "--noconfig", "-c", show,
                 env={"PYTHONPATH": str(moddir)})
    assert (r.returncode, r.stdout, r.stderr) == (0, "LightBG\n", "")
    assert log_rows(log)[2] == ("INFO", "::casa", f"site configuration file {module}")
