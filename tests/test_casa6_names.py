"""CASA tasks and tools casashell lacks fail with one clear line; CASA 6
scripts' ``from casatasks import ...`` finds casashell's tasks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from casashell import casa6

from test_shell_pty import CASA, Session, prompt

MS = "day2_TDEM0003_10s_norx_1scan.ms"


def test_placeholders_fail_with_their_name():
    names = casa6.missing_names({"listobs": 1, "split": 2})
    assert "listobs" not in names and "split" not in names
    assert "tclean" in names and "gaincal" in names and "tb" in names and "msmd" in names
    with pytest.raises(casa6.NotInCasashell,
                       match=r"^tclean is a CASA task that casashell does not provide"):
        names["tclean"](vis="x.ms", imagename="y")
    with pytest.raises(casa6.NotInCasashell,
                       match=r"^tb \(casatools.table\) is a CASA tool .*casacore.tables.table"):
        names["tb"].open("x.ms")
    assert repr(names["statwt"]) == "<CASA task statwt: not provided by casashell>"
    assert isinstance(casa6.NotInCasashell("x"), NotImplementedError)


def test_casa6_script_imports_from_casatasks(tmp_path, data_dir):
    """A CASA 6 script run with casa -c: casashell's tasks come from
    'casatasks'; a task casashell lacks stops the script with its name."""
    shutil.copytree(os.path.join(data_dir, MS), tmp_path / "v.ms")
    (tmp_path / "s.py").write_text(
        "from casatasks import listobs, flagdata, tclean\n"
        "from casatools import table\n"
        "r = listobs(vis='v.ms')\n"
        "s = flagdata(vis='v.ms', mode='summary')\n"
        "print('rows', r['numrecords'], 'total', int(s['total']))\n"
        "print(repr(table))\n"
        "tclean(vis='v.ms', imagename='img')\n"
        "print('not reached')\n")
    p = subprocess.run([sys.executable, CASA, "--nologger", "--nogui", "--nologfile",
                        "-c", "s.py"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 1
    assert "rows 2828 total 723968" in p.stdout
    assert "<CASA tool casatools.table: not provided by casashell>" in p.stdout
    assert "not reached" not in p.stdout
    assert ("NotInCasashell: tclean is a CASA task that casashell does not provide"
            in p.stderr.splitlines()[-1])


def test_prompt_shows_one_line_for_missing_tasks_and_tools(tmp_path):
    s = Session(tmp_path)
    try:
        s.expect(prompt(1), timeout=60)
        out = s.run("statwt 'x.ms'", 2)        # autocall works on the placeholder
        assert len(out) == 1, out
        assert "SEVERE" in out[0] and out[0].endswith(
            "statwt is a CASA task that casashell does not provide; tasklist shows the "
            "tasks it has"), out
        out = s.run("tb.open('x.ms')", 3)
        assert len(out) == 1 and "tb (casatools.table) is a CASA tool" in out[0], out
        assert "Traceback" not in s.text()
        out = s.run("tclean", 4)                # full autocall: a bare name is a call
        assert len(out) == 1 and "tclean is a CASA task that casashell does not" in out[0]
        out = s.run("print(repr(tclean))", 5)
        assert out == ["<CASA task tclean: not provided by casashell>"]
        s.child.sendline("exit")
        s.expect(r"\$|$|EOF", timeout=30)
    finally:
        s.child.close(force=True)
