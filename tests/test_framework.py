"""The task framework: declaration, validation, modular runs, banners, HISTORY."""

from __future__ import annotations

import inspect
import os
import re
import shutil

import pytest

from casashell.logsink import casalog
from casashell.tasks import _framework as fw
from casashell.tasks._framework import NONEMPTY, Param, task

MS = "day2_TDEM0003_10s_norx_1scan.ms"


@task(summary="Framework test task", category="testing",
      params=[
          Param("vis", "path", "", "Name of input visibility file (MS)"),
          Param("mode", "string", "list", "Operation", allowed=["list", "clip", "fail"],
                sub={"clip": {"clipminmax": [0.0, 1.0], "clipoutside": True},
                     "list": ["listfile"]}),
          Param("clipminmax", "doubleVec", [], "Range of amplitudes"),
          Param("clipoutside", "bool", False, "Clip outside the range"),
          Param("listfile", "newpath", "", "Output file", sub={NONEMPTY: ["overwrite"]}),
          Param("overwrite", "bool", False, "Overwrite listfile"),
          Param("niter", "int", 10, "Iterations", range=(0, 100)),
          Param("gain", "double", 0.1, "Loop gain"),
          Param("spws", ["string", "intVec"], "", "Spectral windows"),
      ])
def fwt_main(vis, mode, clipminmax, clipoutside, listfile, overwrite, niter, gain, spws):
    casalog.post(f"working on {os.path.basename(vis)}")
    if mode == "fail":
        raise Exception("the data are bad")        # bare Exception -> RuntimeError
    if niter == 99:
        raise KeyboardInterrupt
    return {"mode": mode, "clipminmax": clipminmax, "clipoutside": clipoutside,
            "niter": niter, "gain": gain, "spws": spws}


@task(summary="Writes history", category="testing", history="vis",
      params=[Param("vis", "path", "", "MS"), Param("factor", "double", 1.0, "A factor"),
              Param("label", "string", "x", "A label")])
def fwt_hist(vis, factor, label):
    casalog.post("changing nothing")
    return True


def log_records(path):
    """(priority, origin, message) of every line of a log file."""
    out = []
    with open(path) as f:
        for line in f.read().splitlines():
            stamp, prio, origin, msg = line.split("\t", 3)
            assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", stamp)
            out.append((prio, origin, msg))
    return out


@pytest.fixture
def vis(data_dir):
    return os.path.join(data_dir, MS)


# -- declaration -------------------------------------------------------------------

def test_signature_and_docstring():
    sig = inspect.signature(fwt_main)
    assert list(sig.parameters) == ["vis", "mode", "clipminmax", "clipoutside", "listfile",
                                    "overwrite", "niter", "gain", "spws"]
    assert sig.parameters["niter"].default == 10
    assert sig.parameters["mode"].default == "list"
    doc = fwt_main.__doc__
    assert doc.splitlines()[0] == "Framework test task"
    assert "niter : int = 10\n    Iterations\n    Range: 0..100" in doc
    assert "mode : str = 'list'\n    Operation\n    Allowed: 'list', 'clip', 'fail'" in doc
    assert "clipoutside : bool = False\n    Clip outside the range\n" \
           "    (subparameter, shown when mode='clip')" in doc
    assert "(subparameter, shown when listfile=<non-empty>)" in doc


def test_declaration_errors():
    with pytest.raises(ValueError, match="subparameter nope of a is not declared"):
        task(summary="x", params=[Param("a", sub={True: ["nope"]})])(lambda a: None)
    with pytest.raises(ValueError, match="differ from the declaration"):
        @task(summary="x", params=[Param("a"), Param("b")])
        def fwt_bad(a):
            return None


def test_context_defaults_and_activity():
    spec = fwt_main.spec
    d = spec.defaults({"mode": "clip"})
    assert d["clipminmax"] == [0.0, 1.0] and d["clipoutside"] is True
    assert spec.defaults({})["clipminmax"] == [] and spec.defaults({})["clipoutside"] is False
    assert spec.is_active("listfile", {"mode": "list"})
    assert not spec.is_active("listfile", {"mode": "clip"})
    # nested: overwrite needs listfile non-empty, which needs mode='list'
    assert spec.is_active("overwrite", {"mode": "list", "listfile": "a.txt"})
    assert not spec.is_active("overwrite", {"mode": "clip", "listfile": "a.txt"})
    names = [(p.name, depth) for p, depth in
             spec.display_order(spec.defaults({"listfile": "a.txt"}))]
    assert names == [("vis", 0), ("mode", 0), ("listfile", 1), ("overwrite", 2),
                     ("niter", 0), ("gain", 0), ("spws", 0)]


# -- validation ----------------------------------------------------------------------

def test_wrong_type(vis):
    with pytest.raises(AssertionError) as e:
        fwt_main(vis, niter="ten")
    assert str(e.value) == ("parameter niter='ten' has the wrong type (str); expected int")
    with pytest.raises(AssertionError) as e:
        fwt_main(vis, niter=True)
    assert str(e.value) == "parameter niter=True has the wrong type (bool); expected int"
    with pytest.raises(AssertionError) as e:
        fwt_main(vis, spws=[0, "a"])
    assert str(e.value) == ("parameter spws=[0, 'a'] has the wrong type (list); "
                            "expected str or list of int")


def test_not_allowed_and_range(vis):
    with pytest.raises(AssertionError) as e:
        fwt_main(vis, mode="flag")
    assert str(e.value) == ("parameter mode='flag' is not allowed; allowed values: "
                            "'list', 'clip', 'fail'")
    with pytest.raises(AssertionError) as e:
        fwt_main(vis, niter=101)
    assert str(e.value) == "parameter niter=101 is out of range; allowed: 0..100"


def test_missing_path_and_unknown_keyword(tmp_path):
    with pytest.raises(AssertionError) as e:
        fwt_main(str(tmp_path / "nope.ms"))
    assert str(e.value) == (f"the vis parameter must be a path that exists "
                            f"('{tmp_path / 'nope.ms'}' does not exist)")
    with pytest.raises(TypeError, match="unexpected keyword argument 'nsc'"):
        fwt_main(str(tmp_path), nsc=1)
    # nothing is logged for invalid parameters
    assert not os.path.exists(casalog.logfile())


def test_coercion(vis):
    res = fwt_main(vis, mode="CLIP", gain=1, clipminmax=(1, 2), spws=[1, 2])
    assert res == {"mode": "clip", "clipminmax": [1.0, 2.0], "clipoutside": True,
                   "niter": 10, "gain": 1.0, "spws": [1, 2]}
    assert type(res["gain"]) is float
    # an inactive subparameter keeps its default whatever is passed
    res = fwt_main(vis, mode="list", clipminmax="junk")
    assert res["clipminmax"] == []


# -- modular runs ------------------------------------------------------------------------

def test_banner_padding():
    assert fw.banner("Begin", "listobs") == "##### Begin Task: listobs            #####"
    assert fw.banner("End", "listobs") == "##### End Task: listobs              #####"
    for name in ("split", "flagdata", "hanningsmooth", "a" * 18):
        assert len(fw.banner("Begin", name)) == 42
        assert len(fw.banner("End", name)) == 42


def test_modular_log_lines(vis):
    fwt_main(vis, niter=3)
    recs = log_records(casalog.logfile())
    origin = "fwt_main::::casa"
    assert all(o == origin for _, o, _ in recs)
    msgs = [m for _, _, m in recs]
    assert msgs[:3] == ["#" * 42, "##### Begin Task: fwt_main           #####",
                        f"fwt_main( vis={vis!r}, mode='list', clipminmax=[], "
                        f"clipoutside=False, listfile='', overwrite=False, niter=3, "
                        f"gain=0.1, spws='' )"]
    assert msgs[3] == f"working on {MS}"
    assert re.fullmatch(r"Task fwt_main complete\. Start time: \d{4}-\d\d-\d\d "
                        r"\d\d:\d\d:\d\d\.\d+ End time: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+",
                        msgs[4])
    assert msgs[5:] == ["##### End Task: fwt_main             #####", "#" * 42]
    assert [p for p, _, _ in recs] == ["INFO"] * 7
    assert casalog.getOrigin() == ""        # the origin is restored


def test_modular_result_debug_line(vis):
    casalog.filter("DEBUG")
    fwt_main(vis)
    recs = log_records(casalog.logfile())
    assert recs[5][0] == "DEBUGGING"
    assert recs[5][2].startswith("Result fwt_main: {'mode': 'list'")
    assert recs[6][2] == "##### End Task: fwt_main             #####"


def test_modular_failure(vis):
    with pytest.raises(RuntimeError, match="^the data are bad$"):
        fwt_main(vis, mode="fail")
    recs = log_records(casalog.logfile())
    assert recs[4] == ("SEVERE", "fwt_main::::casa",
                       "Task fwt_main raised an exception of class RuntimeError with the "
                       "following message: the data are bad")
    assert recs[5][2].startswith("Task fwt_main complete. Start time: ")
    assert [m for _, _, m in recs[6:]] == ["##### End Task: fwt_main             #####",
                                          "#" * 42]


def test_modular_interrupt(vis):
    with pytest.raises(KeyboardInterrupt):
        fwt_main(vis, niter=99)
    recs = log_records(casalog.logfile())
    assert recs[4] == ("WARN", "fwt_main::::casa",
                       "Task fwt_main was interrupted by the user (Ctrl-C)")
    assert recs[-1][2] == "#" * 42


def test_after_task_hooks(vis):
    seen = []
    fw.after_task_hooks.append(lambda *a: seen.append(a))
    try:
        fwt_main(vis)
        with pytest.raises(RuntimeError):
            fwt_main(vis, mode="fail")
    finally:
        fw.after_task_hooks.pop()
    assert [(n, ok) for n, _, _, ok in seen] == [("fwt_main", True), ("fwt_main", False)]
    assert all(t1 >= t0 for _, t0, t1, _ in seen)


# -- HISTORY ---------------------------------------------------------------------------------

def _history(vis):
    from casacore import tables as ct
    with ct.table(os.path.join(vis, "HISTORY"), ack=False) as t:
        return t.nrows(), t.getcol("MESSAGE"), t.getcol("ORIGIN"), t.getcol("PRIORITY")


def test_history_rows(ms_copy):
    from casashell import __version__
    vis = ms_copy(MS)
    n0, _, _, _ = _history(vis)
    assert fwt_hist(vis, factor=2, label="abc") is True
    n1, msgs, origins, prios = _history(vis)
    assert n1 == n0 + 5
    assert list(msgs[n0:]) == ["taskname=fwt_hist", f"version: casashell {__version__}",
                               f'vis         = "{vis}"', "factor      = 2.0",
                               'label       = "abc"']
    assert set(origins[n0:]) == {"fwt_hist"} and set(prios[n0:]) == {"INFO"}


def test_history_failure_is_one_warning(ms_copy):
    vis = ms_copy(MS)
    shutil.rmtree(os.path.join(vis, "HISTORY"))
    assert fwt_hist(vis) is True
    recs = log_records(casalog.logfile())
    warns = [r for r in recs if r[0] == "WARN"]
    assert warns == [("WARN", "fwt_hist::::casa",
                      f'*** Error "{vis} has no HISTORY subtable" updating HISTORY of {vis}')]
    assert recs[-1][2] == "#" * 42


def test_no_history_on_failure(ms_copy):
    vis = ms_copy(MS)
    n0 = _history(vis)[0]
    with pytest.raises(AssertionError):
        fwt_hist(vis, factor="x")
    assert _history(vis)[0] == n0


# -- .last text and literals ---------------------------------------------------------------

def test_last_text_is_python(vis):
    spec = fwt_main.spec
    values = spec.bind((vis,), {"mode": "clip", "gain": float("inf")})
    text = spec.last_text(values, python_style=True)
    lines = text.splitlines()
    assert lines[0] == "taskname    = 'fwt_main'"
    assert lines[1] == f"vis         = {vis!r}"
    # python-style order: top-level first, subparameters after
    assert [ln.split()[0] for ln in lines[1:-1]] == [
        "vis", "mode", "niter", "gain", "spws", "clipminmax", "clipoutside", "listfile",
        "overwrite"]
    scope = {}
    exec(text, scope)
    assert scope["gain"] == float("inf") and scope["clipminmax"] == [0.0, 1.0]
    assert lines[-1].startswith("#fwt_main( vis=") and lines[-1].endswith(",overwrite=False )")


def test_python_literal():
    import numpy as np
    assert fw.python_literal(np.float64(2.5)) == "2.5"
    assert fw.python_literal(np.array([1, 2])) == "[1, 2]"
    assert fw.python_literal(object()) == "None"
    assert fw.python_literal(float("nan")) == "float('nan')"
    assert fw.python_literal((1,)) == "(1,)"


# -- task list ------------------------------------------------------------------------------

def test_tasklist_and_taskhelp(capsys):
    from casashell import tasks
    specs, broken = tasks._loaded_specs()
    cats = tasks.tasklist()
    out = capsys.readouterr().out
    expected = {}
    for name, spec in specs.items():
        expected.setdefault(spec.category, []).append(name)
    assert cats == {c: sorted(n) for c, n in expected.items()}
    for cat, names in cats.items():
        assert f"{cat}:\n  " + "  ".join(names) + "\n" in out
    helps = tasks.taskhelp()
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "Available tasks, with a one-line description:"
    for name, summary in helps.items():
        assert f"{name:<15} : {summary}" in out
    assert set(helps) == set(specs)


@task(summary="Vectors", category="testing",
      params=[Param("corr", ["string", "stringVec"], "", "Correlations",
                    allowed=["", "XX", "YY", "XY", "YX"]),
              Param("chans", "intVec", [], "Channels", range=(0, 63)),
              Param("extra", "any", None, "Anything")])
def fwt_vec(corr, chans, extra):
    return corr, chans, extra


def test_vectors_allowed_and_range_per_element():
    assert fwt_vec(corr=["xx", "Yy"], chans=(0, 63)) == (["XX", "YY"], [0, 63], None)
    assert fwt_vec(corr="xy") == ("XY", [], None)
    with pytest.raises(AssertionError) as e:
        fwt_vec(corr=["XX", "RR"])
    assert str(e.value) == ("parameter corr=['XX', 'RR'] is not allowed; allowed values: "
                            "'', 'XX', 'YY', 'XY', 'YX'")
    with pytest.raises(AssertionError) as e:
        fwt_vec(chans=[0, 64])
    assert str(e.value) == "parameter chans=[0, 64] is out of range; allowed: 0..63"


def test_none_means_default_unless_any():
    assert fwt_vec(None, None) == ("", [], None)
    assert fwt_vec(extra=None) == ("", [], None)
    assert fwt_vec.spec.bind((), {"extra": None})["extra"] is None


@task(summary="History into several MSs", category="testing", history="vislist",
      params=[Param("vislist", "stringVec", [], "MSs")])
def fwt_histlist(vislist):
    return len(vislist)


def test_history_into_each_ms_of_a_list(ms_copy, tmp_path):
    a = ms_copy(MS)
    b = str(tmp_path / "b.ms")
    shutil.copytree(a, b)
    n0 = _history(a)[0]
    assert fwt_histlist([a, b, str(tmp_path / "missing.ms")]) == 3
    for vis in (a, b):
        n, msgs, _, _ = _history(vis)
        assert n == n0 + 3 and list(msgs[n0:n0 + 1]) == ["taskname=fwt_histlist"]
    warns = [r for r in log_records(casalog.logfile()) if r[0] == "WARN"]
    assert len(warns) == 1 and "missing.ms" in warns[0][2]


def test_star_import_gives_the_available_tasks():
    from casashell import tasks
    scope = {}
    exec("from casashell.tasks import *", scope)
    names = tasks.available_tasks()
    assert names and all(callable(scope[n]) and scope[n].spec.name == n for n in names)
    assert callable(scope["tasklist"]) and callable(scope["taskhelp"])


@task(summary="Path expansion test task", category="testing", history="vis",
      params=[Param("vis", "path", "", "MS"), Param("outfile", "newpath", "", "Output"),
              Param("label", "string", "~keep", "Not a path")])
def fwt_paths(vis, outfile, label):
    return {"vis": vis, "outfile": outfile, "label": label}


def test_tilde_in_path_parameters_is_expanded(tmp_path, monkeypatch, data_dir):
    """CASA expands '~' in path parameters: the task (and its HISTORY row) see
    the real path; plain strings are left alone."""
    from casacore import tables as ct
    home = tmp_path / "home"
    home.mkdir()
    shutil.copytree(os.path.join(data_dir, MS), home / "h.ms")
    monkeypatch.setenv("HOME", str(home))
    out = fwt_paths("~/h.ms", outfile="~/out.txt", label="~/x")
    assert out == {"vis": str(home / "h.ms"), "outfile": str(home / "out.txt"), "label": "~/x"}
    t = ct.table(str(home / "h.ms" / "HISTORY"), ack=False)
    msgs = t.getcol("MESSAGE")
    t.close()
    assert any("fwt_paths" in m for m in msgs)
    with pytest.raises(AssertionError, match=r"'~/missing.ms' does not exist"):
        fwt_paths("~/missing.ms")
