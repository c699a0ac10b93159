"""An index of a CASA log file that holds byte offsets, not Python objects.

The whole file is kept as one contiguous ``numpy.uint8`` buffer (read in big
blocks into an anonymous memory map that grows in place), and every line is
described by a few numbers in numpy arrays (14 bytes a line):

* ``line_start``  (int64)  byte offset of the line,
* ``msg_off``     (int32)  offset of the message field from the line start
  (0 for a line that is not in the log format: the whole line is message),
* ``org_off``     (uint8)  offset of the origin field (0: none),
* ``line_prio``   (uint8)  priority code (see :data:`PRIORITY_NAMES`).

A *row* (what the table shows) is one message: a line in the log format
followed by its continuation lines (origin ending in ``+``).  Lines that are
not in the log format at all are also kept with the row above them, so
nothing in the file is ever hidden.  ``row_line`` holds the first line of
every row; a row ends where the next one starts.

Nothing is decoded until it is displayed (:meth:`LogIndex.row_fields`), and
filters work on the buffer and the arrays with vectorised code, returning
arrays of row numbers.

This module needs only numpy (no Qt), so it is cheap to test and to time.
"""

from __future__ import annotations

import mmap
import os
import re
import sys
import time

import numpy as np

#: priority codes, in increasing rank; NOTE (inserted by the user) ranks
#: between INFO and WARN; OTHER is any text not in this list.
PRIORITY_NAMES = ("DEBUGGING", "DEBUG2", "DEBUG1", "INFO5", "INFO4", "INFO3",
                  "INFO2", "INFO1", "INFO", "NOTE", "WARN", "SEVERE", "")
CODE = {name: i for i, name in enumerate(PRIORITY_NAMES)}
OTHER = CODE[""]
#: rank used by the priority threshold filter (OTHER counts as INFO)
RANK = np.array(list(range(12)) + [CODE["INFO"]], dtype=np.uint8)
NEWLINE, TAB = 10, 9

_BLOCK = 4 << 20           # bytes read and indexed at a time
_CHUNK = 4 << 20           # bytes searched at a time by filters
_HEAD_CHECK = 4096         # bytes at the start compared to notice a rewrite
_PROBE = 64                # bytes of each probe (the tail, spread probes)
_PROBES = 16               # probes spread over the file, checked on every change
_LINE_CHECK = 1 << 16      # at most this much of the last indexed line is compared
_FULL_CHECK = 64 << 20     # a same-size rewrite of a log up to this size is
                           # noticed byte for byte (bigger ones: by the probes)


def _prio_key_table():
    """uint64 keys of the first <= 8 bytes of every priority name, with the
    length of the name (so 'INFO' and 'INFO1' differ)."""
    keys = {}
    for code, name in enumerate(PRIORITY_NAMES[:-1]):
        raw = name.encode()[:8].ljust(8, b"\0")
        keys[(int(np.frombuffer(raw, "<u8")[0]), len(name))] = code
    return keys


_PRIO_KEYS = _prio_key_table()
#: masks keeping the first n bytes of a little-endian uint64 (n = 0..8)
_MASKS = np.array([(1 << (8 * n)) - 1 for n in range(8)] + [(1 << 64) - 1],
                  dtype=np.uint64)


_GLOBAL_FLAGS = re.compile(rb"^\(\?[aiLmsux]+\)")
_BLANK_KEEP = np.array([True, False])
_BLANK_KEEP_BLANK = np.array([True, False, True])


def _hash_fields(buf, start, length, width=48, rows=1 << 14):
    """64-bit hash (FNV-style, over 8-byte words) of the byte fields
    ``buf[start:start + length]``, vectorised: the first ``width`` bytes of
    a block of fields are copied as the rows of a matrix (``buf`` must
    extend ``width`` bytes past every field: the index buffer has that
    slack); the rare longer fields are finished a byte column at a time."""
    n = len(start)
    h = np.empty(n, dtype=np.uint64)
    prime = np.uint64(1099511628211)
    cols = np.arange(width)
    windows = np.lib.stride_tricks.sliding_window_view(buf, width)
    with np.errstate(over="ignore"):
        for a in range(0, n, rows):
            st = start[a:a + rows]
            ln = length[a:a + rows]
            m = windows[st]
            m[cols[None, :] >= ln[:, None]] = 0
            words = m.view(np.uint64)
            hh = np.full(len(st), 1469598103934665603, dtype=np.uint64)
            for c in range(words.shape[1]):
                hh = (hh ^ words[:, c]) * prime
            h[a:a + rows] = hh ^ (ln.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))
        longer = np.flatnonzero(length > width)
        for j in range(width, int(length.max()) if len(longer) else width):
            longer = longer[length[longer] > j]
            h[longer] = (h[longer] ^ buf[start[longer] + j].astype(np.uint64)) * prime
    return h


def _sorted_unique(a):
    """np.unique for an array already sorted (much faster)."""
    if len(a) < 2:
        return a
    keep = np.empty(len(a), dtype=bool)
    keep[0] = True
    np.not_equal(a[1:], a[:-1], out=keep[1:])
    return a[keep]


class _Grow:
    """A growable 1-d numpy array (amortised doubling)."""

    __slots__ = ("a", "n")

    def __init__(self, dtype, cap=1024):
        self.a = np.empty(cap, dtype=dtype)
        self.n = 0

    def extend(self, values):
        k = len(values)
        if self.n + k > len(self.a):
            new = np.empty(max(2 * len(self.a), self.n + k), dtype=self.a.dtype)
            new[:self.n] = self.a[:self.n]
            self.a = new
        self.a[self.n:self.n + k] = values
        self.n += k

    def reserve(self, cap: int):
        """Room for ``cap`` values without growing again (one copy now
        instead of several doublings later)."""
        if cap > len(self.a):
            new = np.empty(cap, dtype=self.a.dtype)
            new[:self.n] = self.a[:self.n]
            self.a = new

    def view(self):
        return self.a[:self.n]

    def clear(self):
        self.n = 0


def _allocate(cap: int):
    """(map, uint8 array) of ``cap`` bytes.  On Linux a private anonymous
    memory map, which ``mmap.resize`` grows with mremap (a shared one would
    not be backed beyond its first size); elsewhere a plain numpy array."""
    if sys.platform.startswith("linux") and hasattr(mmap, "MAP_PRIVATE"):
        mm = mmap.mmap(-1, cap, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        return mm, np.frombuffer(mm, dtype=np.uint8)
    return None, np.empty(cap, dtype=np.uint8)


class Matcher:
    """A compiled search: a bytes pattern, and whether the text must be
    lower-cased before matching (plain text, case-insensitive: matching a
    lower-cased copy with a case-sensitive pattern is several times faster
    than ``re.IGNORECASE``)."""

    __slots__ = ("pattern", "lower", "text", "regex", "case", "_str_rx")

    def __init__(self, text: str, regex: bool = False, case: bool = False):
        self.text, self.regex, self.case = text, regex, case
        raw = text.encode("utf-8")
        flags = re.MULTILINE
        pat = raw if regex else re.escape(raw)
        self.lower = False
        if not case:
            folded = _fold_pattern(pat)
            if folded is not None:
                pat, self.lower = folded, True
            else:
                flags |= re.IGNORECASE
        self.pattern = re.compile(pat, flags)
        if regex and self.lower:
            re.compile(raw, flags)          # report errors in the user's spelling

    def search_str(self, text: str) -> bool:
        """Whether the pattern occurs in a str (same rules as on bytes)."""
        rx = getattr(self, "_str_rx", None)
        if rx is None:
            flags = re.MULTILINE if self.case else re.MULTILINE | re.IGNORECASE
            rx = re.compile(self.text if self.regex else re.escape(self.text), flags)
            object.__setattr__(self, "_str_rx", rx)
        return rx.search(text) is not None

    def spans(self, text: str):
        """(start, end) character spans of the matches in a str (display)."""
        flags = 0 if self.case else re.IGNORECASE
        pat = self.text if self.regex else re.escape(self.text)
        try:
            return [m.span() for m in re.finditer(pat, text, flags | re.MULTILINE)
                    if m.end() > m.start()]
        except re.error:
            return []


def _fold_pattern(pat: bytes):
    """The pattern to use on lower-cased text instead of ``re.IGNORECASE``:
    ASCII letters lower-cased except in escapes (``\\S`` stays ``\\S``).
    None when that is not equivalent (escapes naming characters by code,
    or an inline flag group)."""
    out = bytearray()
    i, n = 0, len(pat)
    while i < n:
        c = pat[i]
        if c == 0x5C:                                   # backslash
            if i + 1 >= n:
                return None
            nxt = pat[i + 1]
            if chr(nxt) in "xuUN0123456789":
                return None
            out += pat[i:i + 2]
            i += 2
            continue
        if c == 0x28 and pat[i + 1:i + 2] == b"?" and pat[i + 2:i + 3] not in (
                b":", b"=", b"!", b"<"):
            return None                                  # (?i) (?P<..>) etc.
        out.append(c + 32 if 65 <= c <= 90 else c)
        i += 1
    return bytes(out)


def compile_text(text: str, regex: bool = False, case: bool = False) -> Matcher:
    """A :class:`Matcher` for ``text`` (plain text unless ``regex``).

    Raises ``re.error`` for a bad regular expression.
    """
    return Matcher(text, regex, case)


class LogIndex:
    """Index of one log file; see the module documentation."""

    def __init__(self, path: str | None = None):
        self.path = None
        self.clear()
        if path:
            self.set_path(path)

    # -- state -----------------------------------------------------------------
    def clear(self):
        self.buf = np.empty(0, dtype=np.uint8)
        self._mm = None            # the anonymous memory map behind buf
        self.nbytes = 0            # bytes of the file held in buf
        self.indexed = 0           # bytes covered by complete, indexed lines
        self.line_start = _Grow(np.int64)
        self.msg_off = _Grow(np.int32)
        self.org_off = _Grow(np.uint8)    # offset of the origin field (0: none)
        self._origin_uid = _Grow(np.int32)  # origin id of every row (lazy)
        self._origin_ids: dict[int, int] = {}   # origin hash -> id
        self._origin_text: list[str] = []       # id -> origin
        self.line_prio = _Grow(np.uint8)
        self.row_line = _Grow(np.int64)
        self._ident = None         # (st_dev, st_ino) of the file read
        self._stat = None          # (dev, ino, size, mtime_ns, ctime_ns) last seen
        self.size = 0              # size of the file when last looked at
        self._time_key = _Grow(np.int64)   # int64 YYYYMMDDhhmmss per row (lazy)

    def set_path(self, path: str):
        self.path = os.path.abspath(os.path.expanduser(path))
        self.clear()

    @property
    def nrows(self) -> int:
        return self.row_line.n

    @property
    def nlines(self) -> int:
        return self.line_start.n

    @property
    def exists(self) -> bool:
        return self._ident is not None

    @property
    def pending(self) -> bool:
        """Whether part of the file is still to be read (a refresh with a
        ``max_bytes`` budget stopped before the end)."""
        return self._ident is not None and self.nbytes < self.size

    def progress(self) -> tuple[int, int]:
        """(bytes read, size of the file) for a progress display."""
        return self.nbytes, max(self.size, self.nbytes)

    def row_span(self, rows):
        """(start, end) byte offsets of rows (arrays or ints)."""
        rl = self.row_line.view()
        ls = self.line_start.view()
        rows = np.asarray(rows, dtype=np.int64)
        start = ls[rl[rows]]
        nxt = rows + 1
        last = nxt >= len(rl)
        end = np.where(last, self.indexed,
                       ls[rl[np.minimum(nxt, len(rl) - 1)]] if len(rl) else 0)
        return start, end

    def row_priority(self, first_row: int = 0):
        """uint8 priority code of every row (from ``first_row`` on)."""
        return self.line_prio.view()[self.row_line.view()[first_row:]]

    # -- reading -----------------------------------------------------------------
    def refresh(self, max_bytes: int | None = None,
                max_seconds: float | None = None) -> tuple[str, int]:
        """Bring the index up to date with the file.

        With ``max_bytes``, at most that many new bytes are read and
        indexed; with ``max_seconds``, reading stops after the first read
        block that ends later than that (at least one block is read).
        :attr:`pending` then says whether more is left, and the next call
        goes on from there.  This is how the window indexes a huge log in
        slices, between which it stays responsive.

        Returns ``(what, first_changed_row)`` where ``what`` is ``'same'``,
        ``'appended'`` (rows from ``first_changed_row`` on are new or grew),
        ``'reset'`` (file replaced, truncated or rewritten: what was read is
        dropped and the file is read again from the start) or ``'missing'``
        (the file does not exist (any more); what was read is kept).
        """
        if not self.path:
            return "same", 0
        try:
            st = os.stat(self.path)
        except OSError:
            return "missing", 0
        if self._signature(st) == self._stat and not self.pending:
            return "same", 0
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return "same", 0
        try:
            st = os.fstat(fd)
            sig = self._signature(st)
            ident = (st.st_dev, st.st_ino)
            had = self._ident is not None
            reset = had and (ident != self._ident or st.st_size < self.nbytes
                             or (sig != self._stat and not self._content_matches(fd, st)))
            if reset or not had:
                self.clear()
                self._ident = ident
            old_rows, old_indexed = self.nrows, self.indexed
            self.size = st.st_size
            self._stat = sig
            self._read_from(fd, st.st_size, max_bytes, max_seconds)
        finally:
            os.close(fd)
        if reset:
            return "reset", 0
        if not had:
            return "appended", 0
        if self.indexed == old_indexed:
            return "same", 0
        return "appended", max(old_rows - 1, 0)

    @staticmethod
    def _signature(st):
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def _content_matches(self, fd, st) -> bool:
        """Whether the bytes read so far are still the start of the file
        (same inode, not shorter, but maybe rewritten in place).

        Compared: the head, the last indexed line (whole, up to 64 KB), the
        last bytes read, and probes spread evenly over what was read.  When
        the size did not change but the file was written (mtime/ctime
        changed) -- no append, so a rewrite in place or a ``touch`` --
        everything read is compared, for logs up to ``_FULL_CHECK`` bytes.
        """
        n = self.nbytes
        if n == 0:
            return True
        spans = [(0, min(_HEAD_CHECK, n)), (max(n - _PROBE, 0), min(_PROBE, n))]
        if self.nlines:
            a = int(self.line_start.view()[-1])
            a = max(a, self.indexed - _LINE_CHECK)
            spans.append((a, self.indexed - a))
        if n > _HEAD_CHECK:
            step = n / (_PROBES + 1)
            spans += [(int(step * (k + 1)), min(_PROBE, n - int(step * (k + 1))))
                      for k in range(_PROBES)]
        same_size = self._stat is not None and st.st_size == self._stat[2]
        if same_size and n <= _FULL_CHECK:
            spans = [(a, min(_BLOCK, n - a)) for a in range(0, n, _BLOCK)]
        for a, k in spans:
            if k <= 0:
                continue
            try:
                got = os.pread(fd, k, a)
            except OSError:
                return False
            if got != self.buf[a:a + k].tobytes():
                return False
        return True

    def _ensure_capacity(self, size: int):
        """Room for ``size`` bytes in ``buf``.  The buffer is an anonymous
        memory map: growing it is a ``mremap`` (no copy, no second buffer
        in memory while the log grows) where the system has one."""
        if size <= len(self.buf):
            return
        cap = max(size + (size >> 3) + (1 << 20), 2 * len(self.buf))
        mm = self._mm
        if mm is not None:
            self.buf = None                   # drop our export of the map
            try:
                mm.resize(cap)
                self.buf = np.frombuffer(mm, dtype=np.uint8)
                return
            except (BufferError, OSError, SystemError, ValueError, TypeError):
                self.buf = np.frombuffer(mm, dtype=np.uint8)
        new_mm, new = _allocate(cap)
        new[:self.nbytes] = self.buf[:self.nbytes]
        self.buf, self._mm = new, new_mm

    def _read_from(self, fd, size: int, max_bytes: int | None = None,
                   max_seconds: float | None = None):
        self._ensure_capacity(size)
        mv = memoryview(self.buf)
        stop = size if max_bytes is None else min(size, self.nbytes + max(max_bytes, 1))
        t_end = None if max_seconds is None else time.monotonic() + max_seconds
        first = self.nbytes
        while self.nbytes < stop:
            if t_end is not None and self.nbytes > first and time.monotonic() >= t_end:
                break
            want = min(_BLOCK, stop - self.nbytes)
            n = os.preadv(fd, [mv[self.nbytes:self.nbytes + want]], self.nbytes) \
                if hasattr(os, "preadv") else self._pread_into(fd, mv, want)
            if n <= 0:
                self.size = self.nbytes    # shorter than it said: stop here
                break
            self.nbytes += n
            self._index_complete_lines()
            if self.nbytes == n and n < size:
                self._reserve_for(size)
        mv.release()      # (time keys of old rows stay valid: see time_keys)

    def _reserve_for(self, size: int):
        """After the first block of a big file: size the line and row
        arrays for the whole file (from the lines per byte of that block,
        plus 10%), so they are not copied again and again while it is
        indexed.  Untouched room costs no memory (pages are given on use)."""
        if self.indexed == 0 or self.nlines < 100:
            return
        per_byte = 1.1 * size / self.indexed
        lines, rows = int(self.nlines * per_byte), int(self.nrows * per_byte)
        try:
            for g in (self.line_start, self.msg_off, self.org_off, self.line_prio):
                g.reserve(lines)
            self.row_line.reserve(rows)
        except MemoryError:         # the arrays grow as they need to instead
            pass

    def _pread_into(self, fd, mv, want):  # pragma: no cover - non-Linux
        data = os.pread(fd, want, self.nbytes)
        mv[self.nbytes:self.nbytes + len(data)] = data
        return len(data)

    def _index_complete_lines(self):
        a = self.indexed
        block = self.buf[a:self.nbytes]
        nl = np.flatnonzero(block == NEWLINE)
        if len(nl) == 0:
            return
        b = a + int(nl[-1]) + 1
        block = self.buf[a:b]
        ends = nl + a                                   # offsets of '\n'
        starts = np.empty_like(ends)
        starts[0] = a
        starts[1:] = ends[:-1] + 1
        tabs = np.flatnonzero(block == TAB) + a
        buf = self.buf

        def at(off):
            return buf[np.minimum(off, b - 1)]

        length = ends - starts
        ok = length >= 21
        for pos, ch in ((4, b"-"), (7, b"-"), (10, b" "), (13, b":"), (16, b":"),
                        (19, b"\t")):
            ok &= at(starts + pos) == ch[0]
        k = np.searchsorted(tabs, starts + 20)
        k1 = np.minimum(k + 1, max(len(tabs) - 1, 0))
        if len(tabs):
            tab2 = tabs[np.minimum(k, len(tabs) - 1)]
            tab3 = tabs[k1]
            ok &= (k + 1 < len(tabs)) & (tab3 < ends)
        else:
            tab2 = tab3 = ends
            ok &= False
        plen = tab2 - (starts + 20)
        # priority code from the first 8 bytes and the length of the field
        idx = (starts + 20)[:, None] + np.arange(8)
        raw = np.ascontiguousarray(buf[np.minimum(idx, b - 1)]).view("<u8").ravel()
        key = raw & _MASKS[np.clip(plen, 0, 8)]
        prio = np.full(len(starts), OTHER, dtype=np.uint8)
        for (kv, ln), code in _PRIO_KEYS.items():
            prio[(key == np.uint64(kv)) & (plen == ln)] = code
        ok &= plen <= 200                      # origin offset fits in a uint8
        cont = ~ok | (at(tab3 - 1) == ord("+"))
        prio[~ok] = OTHER
        msg = np.where(ok, tab3 + 1 - starts, 0).astype(np.int32)
        org = np.where(ok, plen + 21, 0).astype(np.uint8)
        first_line = self.line_start.n
        if first_line == 0:
            cont[0] = False        # a file (or a tail) starting mid-message
        self.line_start.extend(starts)
        self.msg_off.extend(msg)
        self.org_off.extend(org)
        self.line_prio.extend(prio)
        self.row_line.extend(np.flatnonzero(~cont) + first_line)
        self.indexed = b

    # -- display -------------------------------------------------------------------
    def row_bytes(self, row: int) -> bytes:
        s, e = self.row_span(row)
        return self.buf[int(s):int(e)].tobytes()

    def row_text(self, row: int) -> str:
        """The row as it is in the log file (all its lines, final newline)."""
        return self.row_bytes(row).decode("utf-8", "replace")

    def row_fields(self, row: int):
        """(time, priority, origin, message, nlines) for display.

        The message of a multi-line row joins the message fields of its
        lines with newlines (and keeps lines not in the log format whole).
        """
        rl = self.row_line.view()
        ls = self.line_start.view()
        mo = self.msg_off.view()
        first = int(rl[row])
        last = int(rl[row + 1]) if row + 1 < len(rl) else self.nlines
        buf = self.buf
        end = int(ls[last]) if last < self.nlines else self.indexed
        parts = []
        for i in range(first, last):
            s = int(ls[i])
            e = int(ls[i + 1]) - 1 if i + 1 < last else end - 1
            parts.append(buf[s + int(mo[i]):e].tobytes())
        message = b"\n".join(parts).decode("utf-8", "replace")
        if mo[first]:
            s = int(ls[first])
            head = buf[s:s + int(mo[first]) - 1].tobytes().decode("utf-8", "replace")
            time_, prio, origin = (head.split("\t", 2) + ["", ""])[:3]
        else:
            time_ = prio = origin = ""
        return time_, prio, origin, message, last - first

    def write_rows(self, rows, fh) -> int:
        """Write ``rows`` (sorted array, or None for all) as the log's own
        text to the binary file ``fh``; returns bytes written."""
        if rows is None:
            fh.write(self.buf[:self.indexed])
            return self.indexed
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) == 0:
            return 0
        # contiguous runs of rows become one write each
        brk = np.flatnonzero(np.diff(rows) != 1) + 1
        first = rows[np.concatenate([[0], brk])]
        last = rows[np.concatenate([brk - 1, [len(rows) - 1]])]
        s, _ = self.row_span(first)
        _, e = self.row_span(last)
        total = 0
        for a, b in zip(s.tolist(), e.tolist()):
            fh.write(self.buf[a:b])
            total += b - a
        return total

    # -- filters ---------------------------------------------------------------------
    def rows_of_lines(self, lines):
        """Row number of each line number (vectorised)."""
        return np.searchsorted(self.row_line.view(), lines, side="right") - 1

    def _chunks(self, first_row: int):
        """(a, b, first_line, end_line) byte/line ranges covering rows from
        ``first_row`` on, each ending at a line boundary."""
        ls = self.line_start.view()
        if first_row >= self.nrows:
            return
        line = int(self.row_line.view()[first_row])
        while line < self.nlines:
            a = int(ls[line])
            want = a + _CHUNK
            end_line = int(np.searchsorted(ls, want, side="left"))
            end_line = max(end_line, line + 1)
            end_line = min(end_line, self.nlines)
            b = int(ls[end_line]) if end_line < self.nlines else self.indexed
            yield a, b, line, end_line
            line = end_line

    def match_lines(self, pattern, field: str = "message", first_row: int = 0):
        """Line numbers (sorted, unique) whose ``field`` matches the
        :class:`Matcher` ``pattern``; ``field`` is 'message', 'origin' or 'all'.

        One match per line is enough, so the pattern is extended to swallow
        the rest of its line.  Plain text in the message is searched in the
        lines as they are (see :meth:`_message_fast`).  Otherwise the fields
        that must not match are overwritten with newlines in a copy of each
        chunk (the mask is built with ``np.repeat`` of run lengths), so a
        match is always inside the field and ``^``/``$`` anchor at the
        field's ends.
        """
        user = pattern.pattern
        m = _GLOBAL_FLAGS.match(user.pattern)
        head = m.group(0) if m else b""
        pat = re.compile(head + b"(?:" + user.pattern[len(head):] + b")[^\n]*",
                         user.flags)
        one_line = pattern.regex      # a regex may match across a newline
        ls = self.line_start.view()
        mo = self.msg_off.view()
        found = []
        fast = field == "message" and not one_line
        for a, b, l0, l1 in self._chunks(first_row):
            starts = ls[l0:l1] - a
            if fast:
                got = self._message_fast(pat, pattern.lower, a, b, starts, mo[l0:l1])
                if got is not None:
                    if len(got):
                        found.append(got + l0)
                    continue
                fast = False    # the text is common outside messages: blank from now on
            chunk = self.buf[a:b].copy()
            if field != "all":
                self._blank(chunk, field, starts, mo[l0:l1])
            if pattern.lower:
                chunk = chunk.tobytes().lower()
            if one_line:
                pos = self._line_matches(pat, user, chunk, starts)
            else:
                pos = [m.start() for m in pat.finditer(chunk)]
            if pos:
                found.append(np.searchsorted(starts, np.array(pos, dtype=np.int64),
                                             side="right") - 1 + l0)
        if not found:
            return np.zeros(0, dtype=np.int64)
        return _sorted_unique(np.concatenate(found))

    def _message_fast(self, pat, lower, a, b, starts, mo):
        """Plain text in the message field without blanking: search the
        whole lines, then look again, from the message start, in the few
        lines whose first match was in the time/priority/origin part.
        Returns the chunk's line numbers, or None when too many lines need
        that second look (the caller blanks the chunk instead)."""
        text = self.buf[a:b]
        if lower:
            text = text.tobytes().lower()
        pos = np.array([m.start() for m in pat.finditer(text)], dtype=np.int64)
        if len(pos) == 0:
            return pos
        li = np.searchsorted(starts, pos, side="right") - 1
        msg = starts[li] + mo[li]
        ok = pos >= msg
        if ok.all():
            return li
        again = li[~ok]
        if len(again) > max(256, len(starts) // 50):
            return None
        hits = [li[ok]]
        extra = []
        for line, start in zip(again.tolist(), msg[~ok].tolist()):
            end = int(starts[line + 1]) - 1 if line + 1 < len(starts) else (b - a) - 1
            if pat.search(text, start, end) is not None:
                extra.append(line)
        hits.append(np.array(extra, dtype=np.int64))
        return np.sort(np.concatenate(hits))

    @staticmethod
    def _blank(chunk, field, starts, mo):
        """Overwrite with newlines the parts of the lines in ``chunk`` that
        are not ``field`` ('message' or 'origin')."""
        nxt = np.empty_like(starts)
        nxt[:-1] = starts[1:]
        nxt[-1] = len(chunk)
        msg = starts + mo
        if field == "message":
            # runs: [start, msg) blanked, [msg, next line) kept
            runs = np.empty(2 * len(starts), dtype=np.int64)
            runs[0::2] = msg - starts
            runs[1::2] = nxt - msg
            pattern_ = _BLANK_KEEP
        else:
            # runs: [start, origin) blanked, [origin, tab3) kept,
            # [tab3, next line) blanked; lines not in the format blanked
            has = mo > 0
            o_start = np.where(has, LogIndex._origin_starts(starts, msg, chunk), nxt)
            o_end = np.where(has, msg - 1, nxt)
            runs = np.empty(3 * len(starts), dtype=np.int64)
            runs[0::3] = o_start - starts
            runs[1::3] = o_end - o_start
            runs[2::3] = nxt - o_end
            pattern_ = _BLANK_KEEP_BLANK
        mask = np.repeat(np.tile(pattern_, len(starts)), runs)
        np.putmask(chunk, mask, NEWLINE)

    @staticmethod
    def _line_matches(pat, user, chunk, starts):
        """Match starts of ``pat`` in ``chunk``, each match kept inside one
        line: a match that runs over a newline (``\\s``, ``\\W``, ``[^x]`` can)
        is replaced by searching each line it covered on its own."""
        spans = [m.span() for m in pat.finditer(chunk)]
        if not spans:
            return []
        sp = np.array(spans, dtype=np.int64)
        nl_end = np.empty(len(starts), dtype=np.int64)     # offset of each '\n'
        nl_end[:-1] = starts[1:] - 1
        nl_end[-1] = len(chunk) - 1          # chunks end with a complete line
        first = np.searchsorted(starts, sp[:, 0], side="right") - 1
        last = np.searchsorted(starts, np.maximum(sp[:, 1] - 1, sp[:, 0]),
                               side="right") - 1
        bad = (last > first) | (sp[:, 1] > nl_end[first])
        pos = sp[~bad, 0].tolist()
        for a, b in zip(first[bad].tolist(), last[bad].tolist()):
            for li in range(a, b + 1):
                hit = user.search(chunk, int(starts[li]), int(nl_end[li]))
                if hit is not None:
                    pos.append(hit.start())
        pos.sort()
        return pos

    @staticmethod
    def _origin_starts(starts, msg, chunk):
        """Start (chunk offset) of the origin field: after the 2nd tab."""
        tabs = np.flatnonzero(chunk == TAB)
        k = np.searchsorted(tabs, starts + 20)
        k = np.minimum(k, max(len(tabs) - 1, 0))
        if len(tabs) == 0:
            return msg
        return np.minimum(tabs[k] + 1, np.maximum(msg - 1, starts))

    def match_rows(self, pattern, field: str = "message", first_row: int = 0):
        """Row numbers (sorted, unique) with a line whose field matches."""
        lines = self.match_lines(pattern, field, first_row)
        if len(lines) == 0:
            return lines
        return _sorted_unique(self.rows_of_lines(lines))

    def origin_ids(self):
        """Origin id (int32) of every row; ``origin_texts()[id]`` is the text.

        Origins repeat a lot (a few hundred distinct ones in a long log),
        so each row gets the id of its origin from a 64-bit hash of the
        origin bytes (:func:`_hash_fields`, vectorised); only the distinct
        origins are decoded.  Extended as rows arrive.
        """
        done = self._origin_uid.n
        n = self.nrows
        if done >= n:
            return self._origin_uid.view()
        for a in range(done, n, 1 << 18):     # blocks: bounded temporaries
            self._origin_uid.extend(self._origin_block(a, min(n, a + (1 << 18))))
        return self._origin_uid.view()

    def _origin_block(self, first, end):
        lines = self.row_line.view()[first:end]
        s = self.line_start.view()[lines]
        oo = self.org_off.view()[lines]
        start = s + oo
        length = np.where(oo > 0, s + self.msg_off.view()[lines] - 1 - start, 0)
        h = _hash_fields(self.buf, start, length)
        hs_order = np.argsort(h)
        hs = h[hs_order]
        new_group = np.empty(len(hs), dtype=bool)
        new_group[0] = True
        np.not_equal(hs[1:], hs[:-1], out=new_group[1:])
        first_in_group = np.flatnonzero(new_group)
        gid = np.empty(len(h), dtype=np.int32)
        gid[hs_order] = np.cumsum(new_group, dtype=np.int32) - 1
        uid_of_group = np.empty(len(first_in_group), dtype=np.int32)
        for g, i in enumerate(first_in_group.tolist()):
            key = int(hs[i])
            uid = self._origin_ids.get(key)
            if uid is None:
                r = int(hs_order[i])
                a = int(start[r])
                text = self.buf[a:a + int(length[r])].tobytes().decode("utf-8", "replace")
                uid = self._origin_ids[key] = len(self._origin_text)
                self._origin_text.append(text)
            uid_of_group[g] = uid
        return uid_of_group[gid]

    def origin_texts(self) -> list:
        self.origin_ids()
        return self._origin_text

    def origin_rows(self, matcher, first_row: int = 0):
        """Rows whose origin contains the :class:`Matcher` (each distinct
        origin is tested once)."""
        ids = self.origin_ids()[first_row:]
        texts = self._origin_text
        ok = np.fromiter((matcher.search_str(t) for t in texts), dtype=bool,
                         count=len(texts))
        return np.flatnonzero(ok[ids]) + first_row

    def priority_rows(self, threshold: str, first_row: int = 0):
        """Rows whose priority ranks at least ``threshold``."""
        code = CODE.get(threshold.strip().upper(), None)
        if code is None:
            raise ValueError(f"unknown priority {threshold!r}: use one of "
                             + ", ".join(PRIORITY_NAMES[:-1]))
        ranks = RANK[self.row_priority(first_row)]
        return np.flatnonzero(ranks >= RANK[code]) + first_row

    def time_keys(self):
        """int64 YYYYMMDDhhmmss of every row (-1 for rows not in the format).
        Computed for new rows only as the log grows."""
        start = self._time_key.n
        if start < self.nrows:
            lines = self.row_line.view()[start:]
            s = self.line_start.view()[lines]
            key = np.zeros(len(s), dtype=np.int64)
            bad = self.msg_off.view()[lines] == 0
            last = max(self.indexed - 1, 0)
            for col in (0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18):
                d = self.buf[np.minimum(s + col, last)].astype(np.int64) - 48
                bad |= (d < 0) | (d > 9)
                key *= 10
                key += d
            key[bad] = -1
            self._time_key.extend(key)
        return self._time_key.view()

    def time_rows(self, spec: str, first_row: int = 0):
        """Rows whose time is in the range ``spec`` (see :func:`parse_time_range`)."""
        lo, hi = parse_time_range(spec)
        key = self.time_keys()[first_row:]
        return np.flatnonzero((key >= lo) & (key <= hi)) + first_row


def _time_bound(text: str, upper: bool) -> int:
    text = text.strip()
    if not text:
        return 99999999999999 if upper else -1
    m = re.fullmatch(r"(\d{4})(?:[-/](\d\d)(?:[-/](\d\d)(?:[ T/](\d\d)"
                     r"(?::(\d\d)(?::(\d\d))?)?)?)?)?", text)
    if not m:
        raise ValueError(f"bad time {text!r}: use YYYY-MM-DD HH:MM:SS or a "
                         f"leading part of it")
    given = [g for g in m.groups() if g is not None]
    digits = "".join(given)
    fill = "99999999999999" if upper else "00000000000000"
    return int(digits + fill[len(digits):])


def parse_time_range(spec: str) -> tuple[int, int]:
    """``'FROM ~ TO'`` (either side may be empty) or a single time, each a
    leading part of ``YYYY-MM-DD HH:MM:SS`` (e.g. ``2026-11-24 13``).

    A single time selects everything that starts with it; ``FROM`` is
    inclusive from the earliest time it names and ``TO`` inclusive up to the
    latest.  Returns the (low, high) YYYYMMDDhhmmss integer bounds.
    """
    if "~" in spec:
        a, b = spec.split("~", 1)
        return _time_bound(a, False), _time_bound(b, True)
    return _time_bound(spec, False), _time_bound(spec, True)
