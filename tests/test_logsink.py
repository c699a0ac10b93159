"""casalog: line format, origins, priorities and filter, continuation lines,
log file switching, concurrent writers, unwritable log files."""

from __future__ import annotations

import calendar
import os
import re
import subprocess
import sys
import time

import pytest

from casashell.logsink import (PRIORITIES, LogSink, casalog, default_logfile_name,
                               format_lines, normalize_priority)

LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\t([A-Z0-9]+)\t([^\t]*)\t(.*)$")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def lines_of(path) -> list[str]:
    with open(path, encoding="utf-8") as fh:
        return fh.read().splitlines()


@pytest.fixture
def log(tmp_path):
    path = tmp_path / "t.log"
    casalog.setlogfile(str(path))
    return path


def test_line_format_and_utc_timestamp(log):
    t0 = time.time()
    assert casalog.post("hello world") is True
    t1 = time.time()
    (line,) = lines_of(log)
    m = LINE.match(line)
    assert m, line
    stamp, prio, origin, msg = m.groups()
    assert (prio, origin, msg) == ("INFO", "::casa", "hello world")
    # the stamp is UTC, whole seconds, rounded to the nearest second
    when = calendar.timegm(time.strptime(stamp, "%Y-%m-%d %H:%M:%S"))
    assert round(t0) <= when <= round(t1)


def test_origins(log):
    casalog.post("a")
    casalog.post("b", origin="argo")
    assert casalog.origin("listobs") is True
    assert casalog.getOrigin() == "listobs"
    casalog.post("c")
    casalog.post("d", "WARN", "argo")
    casalog.origin("")
    got = [LINE.match(x).group(3) for x in lines_of(log)]
    assert got == ["::casa", "argo::argo::casa", "listobs::::casa", "listobs::argo::casa"]


def test_multiline_message_continuation_origin(log):
    casalog.origin("mytask")
    casalog.post("first\nsecond\n\nfourth\n", "WARN")
    casalog.post("")
    casalog.post("dos\r\nline")
    rows = [LINE.match(x).groups()[1:] for x in lines_of(log)]
    assert rows == [
        ("WARN", "mytask::::casa", "first"),
        ("WARN", "mytask::::casa+", "second"),
        ("WARN", "mytask::::casa+", ""),
        ("WARN", "mytask::::casa+", "fourth"),
        ("INFO", "mytask::::casa", ""),
        ("INFO", "mytask::::casa", "dos"),
        ("INFO", "mytask::::casa+", "line"),
    ]


def test_priority_names_and_default_filter(log):
    assert casalog.getFilter() == "INFO"
    results = {p: casalog.post(f"msg {p}", p) for p in PRIORITIES}
    # default threshold INFO: INFO, WARN, SEVERE pass; INFO1..5 and DEBUG* are dropped
    assert [p for p, ok in results.items() if ok] == ["INFO", "WARN", "SEVERE"]
    assert [LINE.match(x).group(2) for x in lines_of(log)] == ["INFO", "WARN", "SEVERE"]


def test_filter_threshold(log):
    assert casalog.filter("INFO2") is True
    assert casalog.getFilter() == "INFO2"
    assert casalog.post("one", "INFO1") and casalog.post("two", "INFO2")
    assert casalog.post("three", "INFO3") is False
    casalog.filter("DEBUG")          # CASA's spelling of the lowest level
    assert casalog.getFilter() == "DEBUGGING"
    casalog.post("dbg", "DEBUG")
    casalog.filter("SEVERE")
    assert casalog.post("warn", "WARN") is False
    assert casalog.post("bad", "ERROR") is True
    rows = [LINE.match(x).group(2, 4) for x in lines_of(log)]
    assert rows == [("INFO1", "one"), ("INFO2", "two"), ("DEBUGGING", "dbg"),
                    ("SEVERE", "bad")]


def test_priority_spellings():
    assert normalize_priority("NORMAL3") == "INFO3"
    assert normalize_priority("NORMAL") == "INFO"
    assert normalize_priority("ERROR") == "SEVERE"
    # better than CASA, where these silently become INFO
    assert normalize_priority("warning") == "WARN"
    assert normalize_priority("warn") == "WARN"
    assert normalize_priority("info2") == "INFO2"
    assert normalize_priority("FOO") == "INFO"
    assert normalize_priority(3) == "INFO"


def test_message_types(log):
    with pytest.raises(TypeError, match="_message must be a string"):
        casalog.post(3)
    with pytest.raises(TypeError, match="_origin must be a string"):
        casalog.post("x", "INFO", 5)
    assert casalog.post(b"bytes \xc3\xa9")
    assert LINE.match(lines_of(log)[0]).group(4) == "bytes \u00e9"


def test_console_echo(log, capsys):
    casalog.post("quiet info")
    casalog.post("loud warning", "WARN")
    err = capsys.readouterr().err
    assert "quiet info" not in err
    assert re.search(r"\tWARN\t::casa\tloud warning\n", err)
    casalog.showconsole(True)
    assert casalog.consoleShown()
    casalog.post("now echoed")
    casalog.post("filtered", "INFO4")
    err = capsys.readouterr().err
    assert err.endswith("\tINFO\t::casa\tnow echoed\n") and "filtered" not in err


def test_filter_msg(log):
    casalog.filterMsg(["secret", "hidden"])
    assert casalog.post("a secret line") is False
    casalog.post("visible")
    casalog.clearFilterMsgList()
    casalog.post("secret again")
    assert [LINE.match(x).group(4) for x in lines_of(log)] == ["visible", "secret again"]


def test_setlogfile_relative_append_and_listeners(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "old.log").write_text("existing line\n")
    seen = []
    casalog.logfile_listeners.append(seen.append)
    try:
        assert casalog.setlogfile("old.log") is True
    finally:
        casalog.logfile_listeners.remove(seen.append)
    assert casalog.logfile() == str(tmp_path / "old.log")
    assert seen == [str(tmp_path / "old.log")]
    casalog.post("appended")
    got = lines_of(tmp_path / "old.log")
    assert got[0] == "existing line" and got[1].endswith("\tappended")


def test_post_listeners(log):
    seen = []
    cb = lambda text, prio: seen.append((prio, text))  # noqa: E731
    casalog.post_listeners.append(cb)
    try:
        casalog.post("x\ny", "WARN")
        casalog.post("dropped", "DEBUG2")
    finally:
        casalog.post_listeners.remove(cb)
    assert len(seen) == 1 and seen[0][0] == "WARN"
    assert seen[0][1].count("\n") == 2 and "\t::casa+\ty\n" in seen[0][1]


def test_version(log):
    from casashell import CASA_COMPAT_VERSION, __version__
    text = casalog.version()
    assert __version__ in text and CASA_COMPAT_VERSION in text
    msgs = [LINE.match(x).group(4) for x in lines_of(log)]
    assert msgs == [text, ""]


def test_default_logfile_name_is_utc():
    when = calendar.timegm((2026, 1, 2, 3, 4, 5, 0, 0, 0))
    assert default_logfile_name(when) == "casa-20260102-030405.log"


def test_format_lines_helper():
    when = calendar.timegm((2026, 1, 2, 3, 4, 5, 0, 0, 0))
    assert format_lines("a\nb", "WARN", "t::o::casa", when) == (
        "2026-01-02 03:04:05\tWARN\tt::o::casa\ta\n"
        "2026-01-02 03:04:05\tWARN\tt::o::casa+\tb\n")


def test_removed_log_directory_warns_once(tmp_path, capfd):
    d = tmp_path / "logs"
    d.mkdir()
    sink = LogSink(str(d / "x.log"))
    assert sink.post("before")
    (d / "x.log").unlink()
    d.rmdir()
    for i in range(5):
        assert sink.post(f"lost {i}") is True      # the session goes on
    err = capfd.readouterr().err
    assert err.count("cannot write to log file") == 1
    assert str(d / "x.log") in err and "No such file or directory" in err
    d.mkdir()                                       # fixed: writing resumes
    sink.post("after")
    assert [LINE.match(x).group(4) for x in lines_of(d / "x.log")] == ["after"]


def test_unwritable_log_path_warns_once(tmp_path, capfd):
    # a directory where the log file should be: unwritable even for root
    target = tmp_path / "x.log"
    target.mkdir()
    sink = LogSink(str(target))
    sink.post("a")
    sink.post("b", "WARN")
    err = capfd.readouterr().err
    assert err.count("cannot write to log file") == 1
    assert "Is a directory" in err
    assert "\tWARN\t::casa\tb" in err             # WARN still reaches the terminal


def test_nologfile_sink_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sink = LogSink(os.devnull)
    assert sink.post("nothing") is True
    assert sink.logfile() == os.devnull
    assert os.listdir(tmp_path) == []


WRITER = r"""
import sys
sys.path.insert(0, sys.argv[3])
from casashell.logsink import LogSink
sink = LogSink(sys.argv[1])
tag = sys.argv[2]
pad = tag * 150
for i in range(10000):
    sink.post(f"{tag} {i:05d} {pad}" + ("\nmore " + tag if i % 100 == 0 else ""))
"""


def test_concurrent_writers_never_interleave(tmp_path):
    path = tmp_path / "shared.log"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), tag, ROOT])
             for tag in ("A", "B")]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    lines = lines_of(path)
    assert len(lines) == 2 * (10000 + 100)
    seen = {"A": [], "B": []}
    for line in lines:
        m = LINE.match(line)
        assert m, f"damaged line: {line[:80]!r}"
        msg = m.group(4)
        if m.group(3) == "::casa+":
            assert msg in ("more A", "more B")
            continue
        tag, num, pad = msg.split(" ")
        assert pad == tag * 150, f"damaged line: {line[:80]!r}"
        seen[tag].append(int(num))
    # every line of each writer is there, in its order
    assert seen["A"] == list(range(10000)) and seen["B"] == list(range(10000))


def test_resource_queries(monkeypatch):
    sink = LogSink(os.devnull)
    assert sink.getNumCPUs() == os.cpu_count()
    assert sink.setNumCPUs(1) == 0 and sink.getNumCPUs() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert sink.ompGetNumThreads() == 3 == sink.ompNumThreadsTest()
    assert sink.ompSetNumThreads(2) is True and sink.ompGetNumThreads() == 2
    with open("/proc/meminfo") as fh:
        total = int(fh.readline().split()[1])        # MemTotal, KiB
    assert abs(sink.getMemoryTotal() - total) <= 0.01 * total
    assert sink.setMemoryTotal(1000) == 0 and sink.getMemoryTotal() == 1024000
    sink.setMemoryFraction(50)
    assert abs(sink.getMemoryTotal() - total / 2) <= 0.01 * total
    sink.setMemoryTotal(0)
    assert abs(sink.getMemoryTotal() - total) <= 0.01 * total
