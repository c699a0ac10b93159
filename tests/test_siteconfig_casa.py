"""Site and user configuration files: the values casashell computes are the
ones CASA 6.7's casaconfig computes from the same files (run live)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from casa_ref import CASA_PYTHON, casa_env, requires_casa

from casashell import config
from casashell.config import load

NAMES = ("colors", "datapath", "log2term", "nologger", "agg", "cachedir")

SHOW = ("import json; from casaconfig import config as c; "
        f"print('VALUES=' + json.dumps({{n: getattr(c, n) for n in {NAMES!r}}}))")


def casa_values(cwd, args=(), env=None) -> dict:
    e = casa_env()
    e.pop("CASASITECONFIG", None)
    e.update(env or {})
    proc = subprocess.run([CASA_PYTHON, "-c", SHOW, *args], cwd=cwd, env=e,
                          capture_output=True, text=True, timeout=300)
    (line,) = [x for x in proc.stdout.splitlines() if x.startswith("VALUES=")]
    return json.loads(line[len("VALUES="):]), proc.stderr


def ours(cfg) -> dict:
    return {n: getattr(cfg, n) for n in NAMES}


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "SITE_CONFIG_PATHS", ())   # as on the CASA host
    monkeypatch.chdir(tmp_path)
    site = tmp_path / "site.py"
    site.write_text("colors = 'Linux'\ndatapath = ['/usr']\nlog2term = True\n"
                    "cachedir = '/tmp/site-cache'\n")
    user = tmp_path / "user.py"
    user.write_text("datapath.append('/etc')\nnologger = (colors == 'Linux')\n"
                    "agg = log2term\n")
    return tmp_path, str(site), str(user)


@requires_casa
def test_user_file_sees_and_extends_the_site_values_as_in_casa(files):
    tmp, site, user = files
    theirs, _ = casa_values(tmp, ["--configfile", user], env={"CASASITECONFIG": site})
    mine = ours(load(configfile=user, environ={"CASASITECONFIG": site}))
    assert mine == theirs
    assert mine == {"colors": "Linux", "datapath": ["/usr", "/etc"], "log2term": True,
                    "nologger": True, "agg": True, "cachedir": "/tmp/site-cache"}
    # --nositeconfig: the user file alone (datapath: CASA puts measurespath in
    # an empty datapath, casashell has no measures data)
    theirs, _ = casa_values(tmp, ["--configfile", user, "--nositeconfig"],
                            env={"CASASITECONFIG": site})
    mine = ours(load(configfile=user, environ={"CASASITECONFIG": site}, nositeconfig=True))
    assert mine["datapath"] == ["/etc"] == theirs["datapath"]
    assert {k: v for k, v in mine.items() if k not in ("datapath", "cachedir")} == \
        {k: v for k, v in theirs.items() if k not in ("datapath", "cachedir")}
    assert (mine["colors"], mine["nologger"], mine["agg"]) == ("Neutral", False, False)


@requires_casa
def test_unusable_variable_and_module_on_pythonpath_as_in_casa(files):
    tmp, site, user = files
    moddir = tmp / "mods"
    moddir.mkdir()
    (moddir / "casasiteconfig.py").write_text("colors = 'LightBG'\nlog2term = True\n")
    env = {"PYTHONPATH": str(moddir)}
    # the module on sys.path is the site file when the variable is not set
    theirs, _ = casa_values(tmp, ["--configfile", user], env=env)
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(moddir))
        mine = ours(load(configfile=user, environ={}))
    # (the user file's agg = log2term reads the module's value)
    assert (mine["colors"], mine["agg"]) == (theirs["colors"], theirs["agg"]) == (
        "LightBG", True)
    assert mine["nologger"] == theirs["nologger"] is False
    # a relative $CASASITECONFIG: no site file at all, not even the module
    theirs, err = casa_values(tmp, ["--configfile", user],
                              env=dict(env, CASASITECONFIG="site.py"))
    assert "CASASITECONFIG" in err
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(moddir))
        cfg = load(configfile=user, environ={"CASASITECONFIG": "site.py"})
    assert cfg.siteconfig is None and cfg.messages[0][0] == "SEVERE"
    mine = ours(cfg)
    assert (mine["colors"], mine["agg"], mine["nologger"]) == (
        theirs["colors"], theirs["agg"], theirs["nologger"]) == ("Neutral", False, False)
