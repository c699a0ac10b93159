"""inp display (layout and colours as CASA's), tget/tput/saveinputs round trips."""

from __future__ import annotations

import os

import pytest

from casashell import shelltasks
from casashell.inp import format_inp, label_width
from casashell.tasks._framework import NONEMPTY, Param, task

ESC = "\x1b"

# the parameters of CASA's listobs (names, order, types, defaults; help lines
# of the parameters whose display CASA's behaviour notes show verbatim)
_SEL = ["spw", "field", "antenna", "uvrange", "timerange", "correlation", "scan", "intent",
        "feed", "array", "observation"]


@task(summary="Get the summary of a MeasurementSet and list it in the logger or in a file",
      category="testing",
      params=[Param("vis", "path", "", "Name of input visibility file (MS)"),
              Param("selectdata", "bool", True, "Data selection parameters", sub={True: _SEL}),
              Param("spw", "string", "", "Selection based on spectral-window/frequency/channel."),
              *[Param(n, "string", "", f"Selection by {n}") for n in _SEL[1:]],
              Param("verbose", "bool", True, "Controls level of information detail reported."),
              Param("listfile", "newpath", "", "Name of disk file to write output.",
                    sub={NONEMPTY: ["overwrite"]}),
              Param("listunfl", "bool", False, "List unflagged row counts?"),
              Param("cachesize", "double", 50.0, "EXPERIMENTAL. Maximum size in megabytes of "
                    "cache in which data structures can be held."),
              Param("overwrite", "bool", False,
                    "If True, tacitly overwrite listfile if it exists.")])
def inplist(vis, selectdata, spw, field, antenna, uvrange, timerange, correlation, scan,
            intent, feed, array, observation, verbose, listfile, listunfl, cachesize,
            overwrite):
    return True


@task(summary="Nested subparameters", category="testing",
      params=[Param("mode", "string", "list", "Mode", allowed=["list", "clip"],
                    sub={"clip": {"clipminmax": [0.0, 1.0]}, "list": ["outfile"]}),
              Param("clipminmax", "doubleVec", [], "Range"),
              Param("outfile", "string", "", "Output", sub={NONEMPTY: {"overwrite": True}}),
              Param("overwrite", "bool", False, "Overwrite it"),
              Param("comment", "string", "", "Long value: help below")])
def inpnest(mode, clipminmax, outfile, overwrite, comment):
    return mode


def test_label_width_as_casa():
    assert label_width(inplist.spec) == 14          # 'correlation'/'observation' + 3


def test_layout_80_columns_colour():
    """The lines CASA 6.7 prints for listobs with vis='' (behaviour notes, section 5)."""
    text = format_inp(inplist.spec, {}, color=True, columns=80)
    lines = text.splitlines()
    assert lines[0] == ("# inplist -- Get the summary of a MeasurementSet and list it in the "
                        "logger or in a file")
    assert lines[1] == (f"vis            = {ESC}[91m''                     {ESC}[0m # Name of "
                        f"input visibility file (MS)")
    assert lines[2] == (f"{ESC}[1m{ESC}[47mselectdata     ={ESC}[0m True                    "
                        f"# Data selection parameters")
    assert lines[3] == (f"   {ESC}[92mspw         ={ESC}[0m ''                      "
                        f"# Selection based on")
    assert lines[4] == " " * 41 + "# spectral-window/frequency/channel."
    i = lines.index("cachesize      = 50.0                    # EXPERIMENTAL. Maximum size in")
    assert lines[i + 1:i + 3] == [" " * 41 + "# megabytes of cache in which data",
                                  " " * 41 + "# structures can be held."]
    assert not any("overwrite" in ln for ln in lines)          # listfile is empty


def test_layout_100_columns_changed_and_invalid():
    values = {"vis": "nonexist.ms", "selectdata": False, "listfile": "x.txt",
              "cachesize": "abc"}
    lines = format_inp(inplist.spec, values, color=True, columns=100).splitlines()
    assert lines[1] == (f"vis            = {ESC}[91m'nonexist.ms'          {ESC}[0m # Name of "
                        f"input visibility file (MS)")
    assert lines[2] == (f"{ESC}[1m{ESC}[47mselectdata     ={ESC}[0m {ESC}[34mFalse"
                        f"                  {ESC}[0m # Data selection parameters")
    assert not any("spw" in ln for ln in lines)                # selectdata=False hides them
    i = [n for n, ln in enumerate(lines) if "listfile" in ln][0]
    assert lines[i] == (f"{ESC}[1m{ESC}[47mlistfile       ={ESC}[0m {ESC}[34m'x.txt'"
                        f"                {ESC}[0m # Name of disk file to write output.")
    # the subparameter comes right under its parent
    assert lines[i + 1] == (f"   {ESC}[92moverwrite   ={ESC}[0m False                   "
                            f"# If True, tacitly overwrite listfile if it exists.")
    j = [n for n, ln in enumerate(lines) if ln.startswith("cachesize")][0]
    assert lines[j] == (f"cachesize      = {ESC}[91m'abc'                  {ESC}[0m # "
                        f"EXPERIMENTAL. Maximum size in megabytes of cache in which")
    assert lines[j + 1] == " " * 41 + "# data structures can be held."


def test_nested_plain_and_long_values():
    text = format_inp(inpnest.spec, {"outfile": "o.txt", "comment": "x" * 30},
                      color=False, columns=80)
    assert text.splitlines() == [
        "# inpnest -- Nested subparameters",
        "mode            = 'list'                  # Mode",
        "   outfile      = 'o.txt'                 # Output",
        "      overwrite = True                    # Overwrite it",
        "comment         = '" + "x" * 30 + "'",
        " " * 42 + "# Long value: help below",
    ]
    assert ESC not in text
    text = format_inp(inpnest.spec, {"mode": "clip"}, color=False, columns=80)
    assert text.splitlines()[2] == "   clipminmax   = [0.0, 1.0]              # Range"


@pytest.fixture
def ns(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "80")
    user_ns = {"__name__": "__main__"}
    shelltasks.populate_namespace(user_ns, colors="Neutral")
    shelltasks.add_task(user_ns, inplist)
    shelltasks.add_task(user_ns, inpnest)
    return user_ns


def run(code, user_ns):
    exec(compile(code, "<prompt>", "exec"), user_ns)


def test_inp_command_uses_globals_plain_when_not_a_tty(ns, capsys, data_dir):
    vis = os.path.join(data_dir, "day2_TDEM0003_10s_norx_1scan.ms")
    run(f"vis = {vis!r}; selectdata = False; inp(inplist)", ns)
    out = capsys.readouterr().out
    assert ESC not in out                                     # stdout is not a tty
    lines = out.splitlines()
    assert lines[1] == f"vis            = {vis!r}"             # long value: help below
    assert lines[2] == " " * 41 + "# Name of input visibility file (MS)"
    assert lines[3] == "selectdata     = False                   # Data selection parameters"
    run("inp()", ns)                                           # the last task
    assert capsys.readouterr().out == out


def test_inp_colour_on_a_tty(ns, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    run("inp(inplist)", ns)
    assert f"{ESC}[91m''" in capsys.readouterr().out
    shelltasks._state_of(ns).colors = "NoColor"
    run("inp(inplist)", ns)
    assert ESC not in capsys.readouterr().out


def test_tput_tget_round_trip(ns, tmp_path):
    run("mode = 'clip'; clipminmax = [0.5, 2]; comment = 'it''s'\ntput(inpnest)", ns)
    text = (tmp_path / "inpnest.last").read_text()
    assert text.splitlines() == [
        "taskname   = 'inpnest'",
        "mode       = 'clip'",
        "clipminmax = [0.5, 2]",
        "outfile    = ''",
        "overwrite  = False",
        "comment    = 'its'",
        "#inpnest( mode='clip',clipminmax=[0.5, 2],outfile='',overwrite=False,comment='its' )",
    ]
    run("default(inpnest)", ns)
    assert "mode" not in ns and "clipminmax" not in ns
    run("tget(inpnest)", ns)
    assert ns["mode"] == "clip" and ns["clipminmax"] == [0.5, 2] and ns["comment"] == "its"
    assert ns.get("__file__") is None                  # only the parameters are taken
    assert ns["taskname"] == "inpnest"                  # the active task, as in CASA 5
    # explicit files, and saveinputs is the same as tput
    run("comment = 'second'; saveinputs(inpnest, 'saved.py'); comment = 'x'", ns)
    run("tget(inpnest, 'saved.py')", ns)
    assert ns["comment"] == "second"
    scope = {}
    exec((tmp_path / "saved.py").read_text(), scope)           # valid Python
    assert scope["taskname"] == "inpnest" and scope["comment"] == "second"


def test_tget_missing_files(ns, tmp_path, capsys):
    run("mode = 'clip'; tget(inpnest, 'nofile.last')", ns)
    assert capsys.readouterr().out == ("ERROR tget: file nofile.last does not exist; "
                                       "parameters unchanged\n")
    assert ns["mode"] == "clip"
    run("tget(inpnest)", ns)                                   # neither .last nor .saved
    assert capsys.readouterr().out == ("could not find last file: inpnest.last or "
                                       "inpnest.saved\nsetting defaults instead...\n")
    assert "mode" not in ns
    (tmp_path / "inpnest.saved").write_text("taskname = 'inpnest'\noutfile = 'from_saved'\n")
    run("tget(inpnest)", ns)
    assert ns["outfile"] == "from_saved"
    (tmp_path / "bad.last").write_text("outfile = \n")
    run("tget(inpnest, 'bad.last')", ns)
    assert capsys.readouterr().out.startswith("ERROR tget: cannot read bad.last: SyntaxError")
    assert ns["outfile"] == "from_saved"


def test_task_run_last_file_read_by_tget(ns, tmp_path):
    run("inpnest(mode='clip', comment='run')", ns)
    run("default(inpnest); tget(inpnest)", ns)
    assert ns["mode"] == "clip" and ns["comment"] == "run" and ns["clipminmax"] == [0.0, 1.0]


def test_task_object_methods(ns, tmp_path, capsys):
    run("comment = 'm'; inpnest.tput(); comment = 'z'; inpnest.tget()", ns)
    assert ns["comment"] == "m"
    run("inpnest.inp()", ns)
    assert "comment         = 'm'" in capsys.readouterr().out


def test_taskname_global_is_the_active_task(ns, tmp_path, capsys):
    """CASA 5 style: a .last/.saved file run with execfile sets 'taskname', and
    go()/inp() without argument then use that task."""
    run("inp(inplist)", ns)
    assert ns["taskname"] == "inplist"
    capsys.readouterr()
    run("comment = 'from file'; tput(inpnest, 'nest.saved'); default(inplist)", ns)
    assert ns["taskname"] == "inplist"
    run("execfile('nest.saved'); r = go()", ns)
    assert ns["r"] == "list" and ns["taskname"] == "inpnest"
    run("inp()", ns)
    assert capsys.readouterr().out.startswith("# inpnest -- Nested subparameters")
    run("taskname = 'no_such_task'; inp()", ns)         # not a task: the last one used
    assert capsys.readouterr().out.startswith("# inpnest -- ")


def test_globals_holding_tasks_or_modules_are_not_values(ns, capsys):
    import os as os_module
    ns["outfile"] = ns["inplist"]
    ns["comment"] = os_module
    run("r = inpnest()", ns)
    assert ns["r"] == "list"


def test_casa5_argument_forms(ns, tmp_path):
    run("comment = 'g'; saveinputs('inpnest', 'five.py', myparams={'outfile': 'o.ms'}, "
        "scriptstr=[''])", ns)
    text = (tmp_path / "five.py").read_text()
    assert "outfile    = 'o.ms'\n" in text and "comment    = 'g'\n" in text
    run("tput(inpnest, ''); comment = 'changed'; tget(inpnest, '')", ns)   # '' = TASK.last
    assert ns["comment"] == "g"
