"""execfile (CASA 5 semantics) and an ALMA-restore-style script run unchanged.

The restore scripts in tests/data/restore_script call ``listobs``, ``flagdata``
and ``split``.  So that this test does not depend on the real tasks (written
in parallel and tested on their own), it offers stand-ins under those names:
small tasks declared here with the same framework, doing real work with
casacore on a copy of a pyuvdata MS.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import traceback

import numpy as np
import pytest

from casashell import shelltasks
from casashell.logsink import casalog
from casashell.tasks import _framework as fw
from casashell.tasks._framework import NONEMPTY, Param, task

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "data", "restore_script")
RAW_MS = "1102865728_small.ms"          # MWA: 7381 rows, 121 autocorrelations

_saved_specs = dict(fw._SPECS)


@task(summary="stand-in listobs", name="listobs",
      params=[Param("vis", "path", "", "MS"),
              Param("listfile", "newpath", "", "Output file", sub={NONEMPTY: ["overwrite"]}),
              Param("overwrite", "bool", False, "Overwrite listfile")])
def rs_listobs(vis, listfile, overwrite):
    from casacore import tables as ct
    with ct.table(vis, ack=False) as t:
        nrows = t.nrows()
        with ct.table(t.getkeyword("FIELD"), ack=False) as f:
            names = list(f.getcol("NAME"))
    text = f"MeasurementSet Name: {os.path.abspath(vis)}\nrows: {nrows}\nfields: {names}\n"
    casalog.post(text)
    if listfile:
        if os.path.exists(listfile) and not overwrite:
            raise FileExistsError(f"listfile {listfile} exists and overwrite is False")
        with open(listfile, "w") as fh:
            fh.write(text)
    return {"nrows": nrows}


@task(summary="stand-in flagdata", name="flagdata", history="vis",
      params=[Param("vis", "path", "", "MS"),
              Param("mode", "string", "manual", "Mode", allowed=["manual", "unflag"],
                    sub={"manual": ["autocorr"]}),
              Param("autocorr", "bool", False, "Flag autocorrelations"),
              Param("flagbackup", "bool", True, "Back up flags")])
def rs_flagdata(vis, mode, autocorr, flagbackup):
    from casacore import tables as ct
    with ct.table(vis, readonly=False, ack=False) as t:
        flags = t.getcol("FLAG")
        if mode == "unflag":
            rows = np.ones(t.nrows(), bool)
        else:
            rows = (t.getcol("ANTENNA1") == t.getcol("ANTENNA2")) if autocorr else \
                np.zeros(t.nrows(), bool)
        flags[rows] = mode == "manual"
        t.putcol("FLAG", flags)
    casalog.post(f"{int(rows.sum())} rows changed")
    return {"rows": int(rows.sum())}


@task(summary="stand-in split", name="split", history="outputvis",
      params=[Param("vis", "path", "", "MS"), Param("outputvis", "newpath", "", "Output MS"),
              Param("field", "string", "", "Field ids"),
              Param("datacolumn", "string", "corrected", "Column",
                    allowed=["data", "corrected"])])
def rs_split(vis, outputvis, field, datacolumn):
    from casacore import tables as ct
    if os.path.exists(outputvis):
        raise FileExistsError(f"output MS {outputvis} exists")
    tmp = outputvis + ".tmp-split"
    shutil.copytree(vis, tmp)
    try:
        with ct.table(tmp, readonly=False, ack=False) as t:
            if datacolumn == "corrected" and "CORRECTED_DATA" not in t.colnames():
                raise ValueError(f"{vis} has no CORRECTED_DATA column")
            if field:
                keep = np.isin(t.getcol("FIELD_ID"), [int(f) for f in field.split(",")])
                t.removerows(np.nonzero(~keep)[0])
        os.rename(tmp, outputvis)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp)
    return True


fw._SPECS.clear()
fw._SPECS.update(_saved_specs)          # leave the registry of the real tasks alone


@pytest.fixture
def ipshell(tmp_path, monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell
    sh = InteractiveShell.instance()
    for name in ("mysteps", "applyonly", "vis", "mode", "autocorr", "flagbackup",
                 "__file__"):
        sh.user_ns.pop(name, None)
    shelltasks.populate_namespace(sh.user_ns, colors="NoColor")
    for t in (rs_listobs, rs_flagdata, rs_split):
        shelltasks.add_task(sh.user_ns, t)
    return sh


def _layout(tmp_path, data_dir):
    shutil.copytree(SCRIPTS, tmp_path / "script")
    (tmp_path / "raw").mkdir()
    shutil.copytree(os.path.join(data_dir, RAW_MS), tmp_path / "raw" / "uid___A002_Xtest_X1.ms")
    (tmp_path / "calibrated").mkdir()
    return tmp_path / "calibrated"


def test_restore_script_runs_unchanged(ipshell, tmp_path, data_dir, monkeypatch, capsys):
    from casacore import tables as ct
    cal = _layout(tmp_path, data_dir)
    monkeypatch.chdir(cal)
    argv = list(sys.argv)
    res = ipshell.run_cell("execfile('../script/scriptForPI.py')")
    assert res.success, res.error_in_exec
    ns = ipshell.user_ns
    out = capsys.readouterr().out
    # all steps ran, in the shell's namespace
    assert ns["steps_done"] == [0, 1, 2, 3]
    assert "global variable mysteps not set." in out
    assert ns["helpers_version"] == 2 and callable(ns["count_rows"])
    # __file__ and sys.argv[0] were the script while it ran, and are restored
    assert ns["file_inside_script"] == "../script/scriptForPI.py"
    assert ns["script_argv0"] == "../script/scriptForPI.py"
    assert "__file__" not in ns and sys.argv == argv and ns["__name__"] == "__main__"
    # step 1: listobs python style
    listing = (cal / "uid___A002_Xtest_X1.ms.listobs").read_text()
    assert listing.splitlines()[1:] == ["rows: 7381", "fields: ['FDS_DEC-40.0']"]
    # step 2: inp/go style flagged the autocorrelations
    assert "   autocorr = True " in out and "mode        = 'manual' " in out
    assert ns["flag_result"] == {"rows": 121}
    with ct.table(os.path.join(data_dir, RAW_MS), ack=False) as t:
        flags = t.getcol("FLAG")
        flags[t.getcol("ANTENNA1") == t.getcol("ANTENNA2")] = True
        expected = float(flags.sum()) / flags.size
    assert ns["flagged_after_step2"] == pytest.approx(expected, rel=0, abs=0)
    # step 3: split, with a HISTORY row; then the final listobs
    out_ms = str(cal / "uid___A002_Xtest_X1.ms.split.cal")
    assert ns["split_ok"] is True and ns["restored_rows"] == 7381
    with ct.table(os.path.join(out_ms, "HISTORY"), ack=False) as h:
        msgs = list(h.getcol("MESSAGE"))
    assert "taskname=split" in msgs and "datacolumn  = \"data\"" in msgs
    assert (cal / "uid___A002_Xtest_X1.ms.split.cal.listobs").read_text().startswith(
        f"MeasurementSet Name: {out_ms}\n")
    # every task run left its .last file
    for name in ("listobs", "flagdata", "split"):
        assert re.match(rf"taskname *= '{name}'\n", (cal / f"{name}.last").read_text())
    with open(casalog.logfile()) as f:
        log = f.read()
    assert "*** Restore finished: 7381 rows in uid___A002_Xtest_X1.ms.split.cal ***" in log
    assert "SEVERE" not in log

    # a second run of one step only, as users do with mysteps
    ipshell.run_cell("mysteps = [1]")
    res = ipshell.run_cell("execfile('../script/scriptForPI.py')")
    assert res.success
    assert ns["steps_done"] == [1]
    assert "List of steps to be executed ... [1]" in capsys.readouterr().out


def _write(path, text):
    path.write_text(text)
    return str(path)


def test_nested_execfile_shares_globals(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    user_ns = {"__name__": "__main__"}
    shelltasks.populate_namespace(user_ns)
    _write(tmp_path / "inner.py", "z = x + 10\ninner_file = __file__\n")
    _write(tmp_path / "inner2.py", "w = 5\n")
    _write(tmp_path / "outer.py",
           "x = 1\n"
           "execfile('inner.py', globals())\n"
           "y = z + 1\n"
           "outer_file_after = __file__\n"
           "def f():\n"
           "    execfile('inner2.py')\n"
           "f()\n")
    # outer run in its own namespace (like casa -c script.py): the nested
    # execfile shares *that* namespace both ways, nothing leaks to the shell
    script_ns = dict(user_ns)
    exec(compile("execfile('outer.py', globals())", "<c>", "exec"), script_ns)
    assert (script_ns["x"], script_ns["z"], script_ns["y"], script_ns["w"]) == (1, 11, 12, 5)
    assert script_ns["inner_file"] == "inner.py"
    assert script_ns["outer_file_after"] == "outer.py"      # restored after the nested run
    assert "__file__" not in script_ns
    assert not any(k in user_ns for k in ("x", "y", "z", "w"))
    # at the prompt: no globals -> the shell's namespace
    exec(compile("execfile('outer.py')", "<prompt>", "exec"), user_ns)
    assert (user_ns["x"], user_ns["y"], user_ns["w"]) == (1, 12, 5)


def test_explicit_dict_without_marker(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    user_ns = {}
    shelltasks.populate_namespace(user_ns)
    _write(tmp_path / "a.py", "a = 1\nexecfile('b.py')\n")
    _write(tmp_path / "b.py", "b = a + 1\n")
    mine = {}
    user_ns["mine"] = mine
    exec("execfile('a.py', mine)", user_ns)
    assert mine["a"] == 1 and mine["b"] == 2 and "b" not in user_ns


def test_error_traceback_names_script_and_line(tmp_path, monkeypatch, ipshell, capsys):
    monkeypatch.chdir(tmp_path)
    path = _write(tmp_path / "bad.py", "a = 1\nb = 2\nc = undefined_name + 1\n")
    argv = list(sys.argv)
    with pytest.raises(NameError) as e:
        exec("execfile('bad.py')", ipshell.user_ns)
    frames = traceback.extract_tb(e.value.__traceback__)
    assert (frames[-1].filename, frames[-1].lineno, frames[-1].line) == (
        path, 3, "c = undefined_name + 1")
    assert sys.argv == argv and "__file__" not in ipshell.user_ns
    ipshell.run_cell("execfile('bad.py')")
    out = capsys.readouterr()
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.out + out.err)
    assert f"File {path}:3" in text
    assert "----> 3 c = undefined_name + 1" in text
    assert "NameError: name 'undefined_name' is not defined" in text
    assert "shelltasks.py" not in text                 # our own frame is hidden


def test_syntax_error_and_missing_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    user_ns = {}
    shelltasks.populate_namespace(user_ns)
    path = _write(tmp_path / "syn.py", "x = 1\nif x = 2:\n    pass\n")
    with pytest.raises(SyntaxError) as e:
        exec("execfile('syn.py')", user_ns)
    assert (e.value.filename, e.value.lineno) == (path, 2)
    with pytest.raises(FileNotFoundError, match="nonexist.py"):
        exec("execfile('nonexist.py')", user_ns)


def test_python2_restore_script_runs_unchanged(ipshell, tmp_path, data_dir, monkeypatch,
                                               capsys):
    """An ALMA script of the CASA 4/5 era, in Python 2 syntax, through execfile."""
    from casacore import tables as ct
    cal = _layout(tmp_path, data_dir)
    monkeypatch.chdir(cal)
    ipshell.run_cell("SPACESAVING = 1")
    res = ipshell.run_cell("execfile('../script/py2/scriptForPI.py')")
    assert res.success, res.error_in_exec
    ns = ipshell.user_ns
    out = capsys.readouterr().out.splitlines()
    assert out[:5] == ["*** Restore script (Python 2 style) ***", "SPACESAVING = 1",
                       "Found 1 calibration script(s)", "global variable mysteps not set.",
                       "Executing all steps:  range(0, 3)"]
    assert "done with script 0 " in out
    assert ns["py2_steps_done"] == [0, 1, 2] and ns["py2_restore_done"] == (1, "1")
    with ct.table(str(cal / "uid___A002_Xtest_X1.ms"), ack=False) as t:
        autoc = t.getcol("ANTENNA1") == t.getcol("ANTENNA2")
        assert t.getcol("FLAG")[autoc].all() and autoc.sum() == 121
    warns = [ln.split("\t")[3] for ln in open(casalog.logfile()).read().splitlines()
             if ln.split("\t")[1] == "WARN"]
    assert warns == [
        "execfile: ../script/py2/scriptForPI.py is written in Python 2; it was run with these "
        "constructs translated: cElementTree, print statement, has_key, except E, e, "
        "backticks",
        f"execfile: {tmp_path}/script/py2/member.uid___A002_Xtest_X1.scriptForCalibration.py "
        f"is written in Python 2; it was run with these constructs translated: "
        f"print statement"]


def test_python2_translation():
    from casashell.taskpy2 import translate
    src = ("if globals().has_key('X') and f(a)[1].d.has_key(k or j): pass\n"
           "print 'a', b,\n"
           "print >>sys.stderr, 'err'\n"
           "print\n"
           "if x: print 'inline'; y = 2\n"
           "try:\n    pass\nexcept (IOError, OSError), e:\n    raise ValueError, 'bad' + str(e)\n"
           "z = 0755 + 3L if a <> b else `a`\n"
           "exec 'q = 1' in ns\n"
           "print('already python 3')\n")
    out, kinds = translate(src)
    assert out == ("if ('X' in globals()) and ((k or j) in f(a)[1].d): pass\n"
                   "print('a', b, end=' ')\n"
                   "print('err', file=sys.stderr)\n"
                   "print()\n"
                   "if x: print('inline'); y = 2\n"
                   "try:\n    pass\nexcept (IOError, OSError) as e:\n"
                   "    raise ValueError('bad' + str(e))\n"
                   "z = 0o755 + 3 if a != b else repr(a)\n"
                   "exec('q = 1', ns)\n"
                   "print('already python 3')\n")
    assert kinds == ["has_key", "print statement", "except E, e", "raise E, V", "octal literal",
                     "long literal", "<>", "backticks", "exec statement"]


def test_python2_untranslatable_keeps_original_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    user_ns = {}
    shelltasks.populate_namespace(user_ns)
    path = _write(tmp_path / "p.py", "print 'fine'\nx = = 2\n")
    with pytest.raises(SyntaxError) as e:
        exec("execfile('p.py')", user_ns)
    assert (e.value.filename, e.value.lineno) == (path, 1)


def test_python2_literals_and_operators():
    from casashell.taskpy2 import translate
    out, kinds = translate("x = 0644\ny = 00\nif x <> y: print x\n")
    assert out == "x = 0o644\ny = 0\nif x != y: print(x)\n"
    assert kinds == ["octal literal", "<>", "print statement"]


def test_python2_renamed_attributes_and_builtins(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    user_ns = {}
    shelltasks.populate_namespace(user_ns)
    _write(tmp_path / "old.py",
           "import sys\n"
           "d = {'a': 1}\n"
           "pairs = [(k, v) for k, v in d.iteritems()]\n"
           "big = sys.maxint > 0\n"
           "total = reduce(lambda x, y: x + y, xrange(5))\n"
           "print 'done'\n")
    exec("execfile('old.py')", user_ns)
    assert user_ns["pairs"] == [("a", 1)] and user_ns["big"] is True and user_ns["total"] == 10


def test_python2_constructs_inside_translated_statements(tmp_path, monkeypatch, capsys):
    """QA's scripts (report2 #2): backticks and sys.maxint inside a print statement,
    and other constructs nested in print/exec/raise/has_key, run as Python 2 did."""
    monkeypatch.chdir(tmp_path)
    user_ns = {}
    shelltasks.populate_namespace(user_ns)
    _write(tmp_path / "r21.py", 'x = 1\nprint "x is", `x`\n')
    _write(tmp_path / "r21b.py", "import sys\nprint sys.maxint > 0\n")
    _write(tmp_path / "typical.py",
           "import sys\nx = 'a'\n"
           "print 'value = ' + `x`\n"
           "d = {'k': 1}\n"
           "print >>sys.stdout, `d['k']`, 010, 2L,\n"
           "print\n"
           "ok = d.has_key(`x`[1:-1] <> 'b' and 'k')\n"
           "try:\n"
           "    raise ValueError, 'max %d' % (sys.maxint > 0)\n"
           "except ValueError, e:\n"
           "    err = str(e)\n"
           "exec 'z = %d > 0' % sys.maxint in ns\n")
    exec("execfile('r21.py')", user_ns)
    exec("execfile('r21b.py')", user_ns)
    ns = {}
    user_ns["ns"] = ns
    exec("execfile('typical.py')", user_ns)
    out = capsys.readouterr().out
    assert out.splitlines()[:4] == ["x is 1", "True", "value = 'a'", "1 8 2 "]
    assert user_ns["ok"] is True and user_ns["err"] == "max 1" and ns["z"] is True
    from casashell.taskpy2 import translate
    assert translate('print "x is", `x`\n')[0] == "print(\"x is\", repr(x))\n"
    assert translate("print sys.maxint > 0\n")[0] == "print(sys.maxsize > 0)\n"
    assert translate("print `a` + `d.iteritems()`\n")[0] == "print(repr(a) + repr(d.items()))\n"
