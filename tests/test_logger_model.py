"""casalogger's log index and table model: rows, priorities, continuation
lines, filters and the live tail, checked against an independent parse of
the file written by casashell's own log sink."""

from __future__ import annotations

import os
import random
import re
import time

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from casashell.logsink import LogSink, append_text, format_lines  # noqa: E402
from casalogger_gui.logindex import (LogIndex, compile_text,  # noqa: E402
                                     parse_time_range)

LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\t([^\t]*)\t([^\t]*)\t(.*)$")
PRIOS = ["INFO"] * 12 + ["WARN", "SEVERE", "INFO1", "INFO3", "DEBUG1", "DEBUG2",
                          "DEBUGGING", "INFO5"]
RANKS = ["DEBUGGING", "DEBUG2", "DEBUG1", "INFO5", "INFO4", "INFO3", "INFO2", "INFO1",
         "INFO", "NOTE", "WARN", "SEVERE"]


def parse(text: str):
    """Rows of a log text: [time, prio, origin, [message lines], [raw lines]]."""
    rows = []
    for line in text.split("\n")[:-1]:
        m = LINE.match(line)
        if m and (not m.group(3).endswith("+") or not rows):
            rows.append([m.group(1), m.group(2), m.group(3), [m.group(4)], [line]])
        elif rows:
            rows[-1][3].append(m.group(4) if m else line)
            rows[-1][4].append(line)
        else:
            rows.append(["", "", "", [line], [line]])
    return rows


def write_session(path, n=400, seed=3):
    """A session log written through casalog itself."""
    rnd = random.Random(seed)
    sink = LogSink(str(path))
    sink.filter("DEBUGGING")
    words = "field spw scan Flux calibrator antenna FLAGGED rows casa weight".split()
    tasks = ["listobs", "flagdata", "setjy", ""]
    for i in range(n):
        sink.origin(rnd.choice(tasks))
        msg = " ".join(rnd.choices(words, k=rnd.randint(1, 6))) + f" #{i}"
        if rnd.random() < 0.1:
            msg += "\n" + "\n".join(f"  detail {j} " + rnd.choice(words)
                                    for j in range(rnd.randint(1, 4)))
        sink.post(msg, rnd.choice(PRIOS), rnd.choice(["", "summary", "run"]))
    sink.origin("")
    return path


@pytest.fixture
def session_log(tmp_path):
    return write_session(tmp_path / "casa-20261124-120000.log")


def test_rows_fields_and_priorities_match_independent_parse(session_log):
    text = session_log.read_text()
    # a line not in the log format (e.g. a traceback printed into the log)
    append_text(str(session_log), "Traceback (most recent call last):\n")
    text += "Traceback (most recent call last):\n"
    expected = parse(text)
    ix = LogIndex(str(session_log))
    assert ix.refresh() == ("appended", 0)
    assert ix.nlines == text.count("\n")
    assert ix.nrows == len(expected)
    assert any(len(r[3]) > 1 for r in expected)          # multi-line rows exist
    codes = ix.row_priority()
    for r, exp in enumerate(expected):
        t, p, o, msg, nlines = ix.row_fields(r)
        assert (t, p, o) == tuple(exp[:3])
        assert msg == "\n".join(exp[3])
        assert nlines == len(exp[4])
        assert ix.row_text(r) == "".join(line + "\n" for line in exp[4])
        assert RANKS[codes[r]] == p
    # the stray line is kept with the message above it
    assert ix.row_fields(ix.nrows - 1)[3].endswith("\nTraceback (most recent call last):")


def test_message_origin_priority_time_filters(session_log):
    text = session_log.read_text()
    rows = parse(text)
    ix = LogIndex(str(session_log))
    ix.refresh()

    def got(field, s, **kw):
        return ix.match_rows(compile_text(s, **kw), field).tolist()

    # plain text, case-insensitive by default, in the message only
    exp = [i for i, r in enumerate(rows) if any("flux" in m.lower() for m in r[3])]
    assert exp and got("message", "FLUX") == exp
    exp_cs = [i for i, r in enumerate(rows) if any("Flux" in m for m in r[3])]
    assert got("message", "Flux", case=True) == exp_cs
    assert got("message", "flux", case=True) == []
    # "casa" is in most origins but only some messages
    exp = [i for i, r in enumerate(rows) if any("casa" in m.lower() for m in r[3])]
    assert got("message", "casa") == exp
    assert len(exp) < len(rows) // 2
    # origin: by searching the origin fields, and by the distinct origins
    exp = [i for i, r in enumerate(rows) if "flagdata" in r[2]]
    assert exp and got("origin", "FlagData") == exp
    assert ix.origin_rows(compile_text("FlagData")).tolist() == exp
    exp = [i for i, r in enumerate(rows) if r[2].endswith("::summary::casa")]
    assert exp and got("origin", r"::summary::casa$", regex=True) == exp
    assert ix.origin_rows(compile_text(r"::summary::casa$", regex=True)).tolist() == exp
    assert sorted(ix.origin_texts()) == sorted({r[2] for r in rows})
    assert [ix.origin_texts()[k] for k in ix.origin_ids()] == [r[2] for r in rows]
    # regex with anchors at the field ends, on any line of the message
    exp = [i for i, r in enumerate(rows)
           if any(re.match(r"\s*detail [0-2] ", m) for m in r[3])]
    assert exp and got("message", r"^\s*detail [0-2] ", regex=True) == exp
    exp = [i for i, r in enumerate(rows) if any(re.search(r"#\d*7$", m) for m in r[3])]
    assert exp and got("message", r"#\d*7$", regex=True) == exp
    with pytest.raises(re.error):
        compile_text("(unclosed", regex=True)
    # priority threshold
    exp = [i for i, r in enumerate(rows) if r[1] in ("WARN", "SEVERE")]
    assert exp and ix.priority_rows("warn").tolist() == exp
    exp = [i for i, r in enumerate(rows) if RANKS.index(r[1]) >= RANKS.index("INFO1")]
    assert ix.priority_rows("INFO1").tolist() == exp
    with pytest.raises(ValueError):
        ix.priority_rows("LOUD")
    # time range: compare the text stamps
    stamps = sorted({r[0] for r in rows})
    lo, hi = stamps[0], stamps[-1]
    exp = [i for i, r in enumerate(rows) if lo <= r[0] <= hi]
    assert ix.time_rows(f"{lo} ~ {hi}").tolist() == exp == list(range(len(rows)))
    exp = [i for i, r in enumerate(rows) if r[0] == hi]
    assert ix.time_rows(hi).tolist() == exp
    assert ix.time_rows(f" ~ {lo[:10]}").tolist() == [
        i for i, r in enumerate(rows) if r[0][:10] <= lo[:10]]


def test_time_range_parsing():
    assert parse_time_range("2026-11-24 13 ~ 2026-11-24 14:30") == (
        20261124130000, 20261124143099)
    assert parse_time_range("2026-11-24") == (20261124000000, 20261124999999)
    assert parse_time_range("~ 2026") == (-1, 20269999999999)
    with pytest.raises(ValueError, match="bad time"):
        parse_time_range("yesterday")


def _line(msg, prio="INFO", origin="::casa", when=1795000000):
    return format_lines(msg, prio, origin, when)


def test_tail_partial_lines_continuations_truncation_and_replacement(tmp_path):
    path = tmp_path / "tail.log"
    ix = LogIndex(str(path))
    assert ix.refresh() == ("missing", 0) and ix.nrows == 0
    path.write_text(_line("first") + _line("second"))
    assert ix.refresh() == ("appended", 0) and ix.nrows == 2
    assert ix.refresh() == ("same", 0)
    # a partial line is not shown until its newline arrives
    text = _line("third\ncont one")
    with open(path, "a") as fh:
        fh.write(text[:30])
    assert ix.refresh() == ("same", 0) and ix.nrows == 2
    with open(path, "a") as fh:
        fh.write(text[30:])
    what, first = ix.refresh()
    assert (what, first, ix.nrows) == ("appended", 1, 3)
    assert ix.row_fields(2)[3] == "third\ncont one"
    # a continuation line arriving later grows the last row
    append_text(str(path), "2026-11-18 11:06:40\tINFO\t::casa+\tcont two\n")
    assert ix.refresh() == ("appended", 2) and ix.nrows == 3
    assert ix.row_fields(2)[3] == "third\ncont one\ncont two"
    # truncated, then written again
    with open(path, "w") as fh:
        fh.write(_line("after truncation", "WARN"))
    assert ix.refresh() == ("reset", 0)
    assert ix.nrows == 1 and ix.row_fields(0)[1:4] == ("WARN", "::casa", "after truncation")
    # rewritten in place, longer, with other content (same inode)
    with open(path, "r+") as fh:
        fh.write(_line("rewritten!!", "SEVERE") + _line("more"))
    assert ix.refresh() == ("reset", 0)
    assert [ix.row_fields(i)[3] for i in range(ix.nrows)] == ["rewritten!!", "more"]
    # replaced by another file (new inode), e.g. log rotation
    new = tmp_path / "new.log"
    new.write_text(_line("a") + _line("b") + _line("c") + _line("d") + _line("e"))
    os.replace(new, path)
    assert ix.refresh() == ("reset", 0) and ix.nrows == 5
    # removed: what was read stays
    os.remove(path)
    assert ix.refresh() == ("missing", 0) and ix.nrows == 5


def test_write_rows_and_many_blocks(tmp_path, monkeypatch):
    import casalogger_gui.logindex as li
    monkeypatch.setattr(li, "_BLOCK", 4096)     # many read blocks
    monkeypatch.setattr(li, "_CHUNK", 2048)     # many filter chunks
    path = write_session(tmp_path / "b.log", n=600, seed=11)
    text = path.read_text()
    rows = parse(text)
    ix = LogIndex(str(path))
    ix.refresh()
    assert ix.nrows == len(rows)
    exp = [i for i, r in enumerate(rows) if any("scan" in m.lower() for m in r[3])]
    got = ix.match_rows(compile_text("SCAN"), "message")
    assert got.tolist() == exp
    out = tmp_path / "out.log"
    with open(out, "wb") as fh:
        ix.write_rows(got, fh)
    assert out.read_text() == "".join(
        line + "\n" for i in exp for line in rows[i][4])
    with open(out, "wb") as fh:
        ix.write_rows(None, fh)
    assert out.read_text() == text


def test_qt_model_filter_follows_new_lines(qtmodeltester, qtbot, session_log):
    from casalogger_gui.model import LogTableModel
    model = LogTableModel(str(session_log))
    qtmodeltester.check(model)
    rows = parse(session_log.read_text())
    assert model.rowCount() == len(rows) and model.columnCount() == 4
    assert [model.headerData(i, 1) for i in range(4)] == ["Time", "Priority", "Origin",
                                                          "Message"]
    model.set_filter("Message", "needle")
    assert model.rowCount() == 0
    with pytest.raises(ValueError, match="regular expression"):
        model.set_filter("Message", "(", regex=True)
    assert model.rowCount() == 0 and model.filter_arg.text == "needle"
    with qtbot.waitSignal(model.rowsInserted):
        append_text(str(session_log), _line("a Needle here") + _line("nothing")
                    + _line("needle again\nsecond line", "WARN"))
        model.refresh()
    assert model.rowCount() == 2
    idx = model.index(1, 3)
    assert model.data(idx) == "needle again\nsecond line"
    assert model.data(model.index(1, 1)) == "WARN"
    assert model.data(model.index(1, 0), 8).color().name() == "#ffc56e"   # background
    # a continuation that matches brings its row in
    append_text(str(session_log), _line("plain") + "2026-11-18 11:06:40\tINFO\t::casa+"
                "\tneedle in a continuation\n")
    model.refresh()
    assert model.rowCount() == 3
    assert model.data(model.index(2, 3)) == "plain\nneedle in a continuation"
    qtmodeltester.check(model)
    model.set_filter("Priority", "SEVERE")
    exp = [r for r in rows if r[1] == "SEVERE"]
    assert model.rowCount() == len(exp)
    assert model.data(model.index(0, 0), 8).color().name() == "#ff9c9c"
    model.set_filter(None)
    assert model.rowCount() == len(rows) + 4


def test_million_line_filter_speed(tmp_path):
    """Vectorised filtering: 1,000,000 lines filtered well under a second
    (benchmarks/bench_logger.py has the real figures)."""
    block = "".join(_line(f"msg {i} flux calibrator" if i % 7 == 0 else f"msg {i} scan",
                          "WARN" if i % 50 == 0 else "INFO",
                          "flagdata::::casa" if i % 3 == 0 else "::casa",
                          1795000000 + i) for i in range(1000))
    path = tmp_path / "big.log"
    with open(path, "w") as fh:
        for _ in range(1000):
            fh.write(block)
    ix = LogIndex(str(path))
    t = time.perf_counter()
    ix.refresh()
    t_index = time.perf_counter() - t
    assert ix.nrows == 1_000_000
    t = time.perf_counter()
    rows = ix.match_rows(compile_text("CALIBRATOR"), "message")
    t_filter = time.perf_counter() - t
    assert len(rows) == 143 * 1000
    assert np.array_equal(rows[:3], [0, 7, 14])
    assert len(ix.priority_rows("WARN")) == 20_000
    assert len(ix.match_rows(compile_text("flagdata"), "origin")) == 334_000
    # generous bounds (shared CI machines): a per-line Python loop would
    # take ten times longer; benchmarks/bench_logger.py has the real figures
    assert t_index < 4.0 and t_filter < 2.0, (t_index, t_filter)


@pytest.mark.parametrize("pattern", [
    r"flux\s+\w+", r"^[A-Z]+ ", r"\S+ed\b", r"(cal|FLAG)[a-z]*", r"CASA\W", r"\x41",
    r"(?P<w>field) (?P=w)", r"[^A-Z ]{4} \d+$", r"(?i)rows",
])
def test_case_insensitive_regex_on_folded_text_equals_ignorecase(session_log, pattern):
    """Case-insensitive regexes run on lower-cased text (faster): same rows
    as Python's re.IGNORECASE."""
    rows = parse(session_log.read_text())
    ix = LogIndex(str(session_log))
    ix.refresh()
    rx = re.compile(pattern, re.IGNORECASE | re.MULTILINE)
    exp = [i for i, r in enumerate(rows) if any(rx.search(m) for m in r[3])]
    assert ix.match_rows(compile_text(pattern, regex=True), "message").tolist() == exp


def test_time_keys_extend_with_new_rows(tmp_path):
    path = tmp_path / "t.log"
    path.write_text(_line("a", when=1795000000) + _line("b", when=1795000060))
    ix = LogIndex(str(path))
    ix.refresh()
    assert ix.time_rows("2026-11-18 11:07").tolist() == [1]
    assert ix.time_keys().tolist() == [20261118110640, 20261118110740]
    append_text(str(path), _line("c", when=1795000120) + _line("d\ne", when=1795000180))
    ix.refresh()
    assert ix.time_keys().tolist() == [20261118110640, 20261118110740, 20261118110840,
                                       20261118110940]
    assert ix.time_rows("2026-11-18 11:08 ~", first_row=2).tolist() == [2, 3]
    path.write_text(_line("new", when=1795003600))          # truncated: keys redone
    ix.refresh()
    assert ix.time_keys().tolist() == [20261118120640]


def test_buffer_grows_in_place_as_the_log_grows(tmp_path):
    path = tmp_path / "grow.log"
    path.write_text("".join(_line(f"first {i} " + "x" * 80) for i in range(10000)))
    ix = LogIndex(str(path))
    ix.refresh()
    cap0 = len(ix.buf)
    for k in range(4):
        append_text(str(path), "".join(_line(f"more {k} {i} " + "y" * 80)
                                        for i in range(10000)))
        assert ix.refresh() == ("appended", 10000 * (k + 1) - 1)
    assert len(ix.buf) > cap0 and ix.nrows == 50000
    assert ix.row_fields(0)[3].startswith("first 0 ")
    assert ix.row_fields(49999)[3].startswith("more 3 9999 ")
    assert ix.row_text(12345) == _line("more 0 2345 " + "y" * 80)
    assert len(ix.match_rows(compile_text("MORE 2 "), "message")) == 10000


def test_origin_ids_extend_and_long_origins(tmp_path):
    path = tmp_path / "o.log"
    long1 = "task::" + "x" * 300 + "::casa"
    long2 = "task::" + "x" * 300 + "::casb"
    path.write_text(_line("a", origin=long1) + _line("b", origin="::casa")
                    + _line("c", origin=long2) + "not a log line\n")
    ix = LogIndex(str(path))
    ix.refresh()
    texts = ix.origin_texts()
    assert [texts[k] for k in ix.origin_ids()] == [long1, "::casa", long2]
    append_text(str(path), _line("d\ne", origin="new::origin") + _line("f", origin=long2))
    ix.refresh()
    assert [ix.origin_texts()[k] for k in ix.origin_ids()] == [
        long1, "::casa", long2, "new::origin", long2]
    assert ix.origin_rows(compile_text("CASB")).tolist() == [2, 4]
    assert ix.origin_rows(compile_text("origin"), first_row=3).tolist() == [3]


# -- a big log indexed in slices; rewrites noticed -----------------------------------

def _index_state(ix):
    return (ix.line_start.view().tolist(), ix.msg_off.view().tolist(),
            ix.org_off.view().tolist(), ix.line_prio.view().tolist(),
            ix.row_line.view().tolist(), ix.indexed)


def test_slices_give_the_same_index_and_grow_with_the_file(tmp_path, monkeypatch):
    import casalogger_gui.logindex as li
    monkeypatch.setattr(li, "_BLOCK", 1000)      # slices end inside lines
    path = write_session(tmp_path / "big.log", n=1500, seed=11)
    whole = LogIndex(str(path))
    whole.refresh()
    ix = LogIndex(str(path))
    size = os.path.getsize(path)
    assert ix.refresh(max_bytes=3000) == ("appended", 0)
    assert ix.pending and ix.progress() == (3000, size)
    text = path.read_text()
    head = text[:text.rindex("\n", 0, 3000) + 1]
    assert ix.nrows == len(parse(head)) and ix.indexed == len(head.encode())
    nrows, done, slices = [ix.nrows], [3000], 1
    while ix.pending:
        if slices == 20:      # the log grows while it is being indexed
            append_text(str(path), _line("late line\nwith a continuation", "WARN"))
            size = os.path.getsize(path)
        what, first = ix.refresh(max_bytes=3000)
        assert what == "appended" and first == nrows[-1] - 1
        nrows.append(ix.nrows)
        done.append(ix.progress()[0])
        slices += 1
    assert slices > 40 and nrows == sorted(nrows) and done == sorted(done)
    assert ix.progress() == (size, size) and ix.refresh(max_bytes=3000) == ("same", 0)
    rows = parse(path.read_text())
    assert ix.nrows == len(rows) == whole.nrows + 1
    whole.refresh()
    assert _index_state(ix) == _index_state(whole)
    assert ix.row_fields(ix.nrows - 1)[1:4] == ("WARN", "::casa",
                                                "late line\nwith a continuation")
    # a time budget of zero still reads one block at a time
    tb = LogIndex(str(path))
    tb.refresh(max_seconds=0.0)
    assert tb.pending and tb.progress()[0] == 1000


def _rewrite(path, text, keep_mtime=False):
    st = os.stat(path)
    with open(path, "r+b") as fh:          # in place: same inode
        fh.write(text.encode())
        fh.truncate()
    if keep_mtime:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    else:                 # a later mtime even on a file system with coarse stamps
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


def test_rewrite_of_the_same_size_is_noticed(tmp_path):
    path = tmp_path / "same.log"
    lines = [_line(f"message number {i:03d}") for i in range(200)]
    path.write_text("".join(lines))
    ix = LogIndex(str(path))
    ix.refresh()
    ino = os.stat(path).st_ino
    # only the first message changed, same size: the last bytes are equal
    _rewrite(path, "".join([_line("MESSAGE NUMBER 000")] + lines[1:]))
    assert os.stat(path).st_ino == ino
    assert ix.refresh() == ("reset", 0)
    assert ix.row_fields(0)[3] == "MESSAGE NUMBER 000"
    # one byte in the middle changed (not at any probe): compared in full
    new = lines[:]
    new[123] = _line("message number 12X")
    _rewrite(path, "".join([_line("MESSAGE NUMBER 000")] + new[1:]))
    assert ix.refresh() == ("reset", 0)
    assert ix.row_fields(123)[3] == "message number 12X"
    # touched (newer mtime, same bytes): nothing is read again
    _rewrite(path, "".join([_line("MESSAGE NUMBER 000")] + new[1:]))
    assert ix.refresh() == ("same", 0) and ix.nrows == 200


def test_rewrite_that_keeps_the_last_bytes_and_grows_is_noticed(tmp_path, monkeypatch):
    import casalogger_gui.logindex as li
    monkeypatch.setattr(li, "_FULL_CHECK", 0)        # probes only, as for a huge log
    path = tmp_path / "grow.log"
    tail = " and a long ending that stays the same " * 4
    path.write_text("".join(_line(f"m{i:04d}") for i in range(300))
                    + _line("last one" + tail))
    ix = LogIndex(str(path))
    ix.refresh()
    assert ix.nrows == 301
    # the start of the last line changed (its last 64 bytes did not), and
    # the file grew: the last indexed line is compared whole
    body = "".join(_line(f"m{i:04d}") for i in range(300))
    _rewrite(path, body + _line("LAST ONE" + tail) + _line("new"))
    assert ix.refresh() == ("reset", 0)
    assert [ix.row_fields(i)[3] for i in (300, 301)] == ["LAST ONE" + tail, "new"]
    # the head changed, the rest grew normally
    _rewrite(path, _line("M0000") + path.read_text()[len(_line("m0000")):] + _line("x"))
    assert ix.refresh() == ("reset", 0) and ix.row_fields(0)[3] == "M0000"
    assert ix.nrows == 303
    # a normal append is not a rewrite
    append_text(str(path), _line("appended"))
    assert ix.refresh() == ("appended", 302) and ix.nrows == 304


def test_rewrite_while_indexing_in_slices(tmp_path):
    path = tmp_path / "slices.log"
    path.write_text("".join(_line(f"old {i}") for i in range(2000)))
    ix = LogIndex(str(path))
    ix.refresh(max_bytes=10000)
    assert ix.pending and 0 < ix.nrows < 2000
    new = "".join(_line(f"new {i}", "WARN") for i in range(2100))
    tmp = tmp_path / "other.log"
    tmp.write_text(new)
    _rewrite(path, new)                    # same inode, longer
    assert ix.refresh(max_bytes=10000) == ("reset", 0)
    while ix.pending:
        ix.refresh(max_bytes=10000)
    assert ix.nrows == 2100 and ix.row_fields(0)[1:4] == ("WARN", "::casa", "new 0")
    assert ix.row_text(2099) == _line("new 2099", "WARN")


def test_model_defers_rows_of_slices_and_shows_them_once(tmp_path, qtbot):
    from casalogger_gui.model import LogTableModel
    path = write_session(tmp_path / "defer.log", n=1200, seed=5)
    rows = parse(path.read_text())
    model = LogTableModel(None)
    model.open(str(path), max_bytes=4000)
    first = model.rowCount()
    assert model.pending and 0 < first < len(rows)
    # slices read while deferring change the index, not the table
    model.refresh(max_bytes=4000, defer=True)
    model.refresh(max_bytes=4000, defer=True)
    assert model.rowCount() == first < model.index_.nrows
    assert model.view_rows_of([first, first + 1]).tolist() == []
    # the rows come out once, with the last one shown possibly grown
    with qtbot.waitSignal(model.rowsInserted):
        what, _ = model.refresh(max_bytes=4000)
    assert what == "appended" and model.rowCount() == model.index_.nrows
    model.refresh(max_bytes=4000, defer=True)
    model.set_filter("Priority", "WARN")          # while rows are deferred
    while model.pending:
        model.refresh(max_bytes=4000, defer=True)  # the last slice is shown anyway
    want = [i for i, r in enumerate(rows) if r[1] in ("WARN", "SEVERE")]
    assert model.view.tolist() == want
    model.set_filter(None)
    assert [model.fields(i)[3] for i in range(model.rowCount())] == [
        "\n".join(r[3]) for r in rows]


def test_arrays_are_sized_for_the_file_after_the_first_block(tmp_path, monkeypatch):
    import casalogger_gui.logindex as li
    monkeypatch.setattr(li, "_BLOCK", 20000)         # ~300 lines a block
    path = write_session(tmp_path / "sized.log", n=3000, seed=2)
    whole = LogIndex(str(path))
    whole.refresh()
    ix = LogIndex(str(path))
    ix.refresh(max_bytes=20000)
    cap = len(ix.line_start.a)
    assert cap >= whole.nlines and len(ix.row_line.a) >= whole.nrows
    arrays = [ix.line_start.a, ix.row_line.a]
    while ix.pending:
        ix.refresh(max_bytes=20000)
    # never copied to grow: the same arrays from the first block to the end
    assert all(a is b for a, b in zip([ix.line_start.a, ix.row_line.a], arrays))
    assert _index_state(ix) == _index_state(whole)
