"""The Qt table model of the log window, on top of :class:`LogIndex`.

The model shows one row per message (a log line and its continuation
lines, merged into a multi-line Message cell).  It keeps no Python object
per row: ``view`` is either ``None`` (every row) or an int64 numpy array of
the row numbers that pass the current filter, and the text of a row is
decoded only when Qt asks for it (a small cache keeps the rows on screen).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import io
import re

import numpy as np
from PyQt5.QtCore import QAbstractTableModel, QModelIndex, Qt
from PyQt5.QtGui import QBrush, QColor, QFont

from .logindex import CODE, LogIndex, Matcher, PRIORITY_NAMES, _Grow, compile_text

COLUMNS = ("Time", "Priority", "Origin", "Message")
FILTER_KINDS = ("Message", "Origin", "Priority", "Time")
#: at most this many lines of one message are shown in its row (the
#: tooltip and Copy have them all)
MAX_ROW_LINES = 40

# background, foreground, bold -- by priority code
_STYLE = {
    CODE["SEVERE"]: ("#ff9c9c", "#6e0000", True),
    CODE["WARN"]: ("#ffc56e", "#4d2a00", False),
    CODE["NOTE"]: ("#c6e2ff", "#00306e", True),
}
for _name in ("INFO1", "INFO2", "INFO3", "INFO4", "INFO5"):
    _STYLE[CODE[_name]] = (None, "#3c3c3c", False)
for _name in ("DEBUG1", "DEBUG2", "DEBUGGING"):
    _STYLE[CODE[_name]] = (None, "#787878", False)


def _brushes():
    bg, fg, bold = {}, {}, set()
    for code, (b, f, strong) in _STYLE.items():
        if b:
            bg[code] = QBrush(QColor(b))
        fg[code] = QBrush(QColor(f))
        if strong:
            bold.add(code)
    return bg, fg, bold


def release_memory():
    """Give freed heap memory back to the system (glibc keeps the big
    temporaries of indexing and filtering otherwise)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


class LogTableModel(QAbstractTableModel):
    """Rows of a log file, filtered by one filter (see :meth:`set_filter`)."""

    def __init__(self, path: str | None = None, parent=None):
        super().__init__(parent)
        self.index_ = LogIndex(path)
        self.view = None                 # None: all rows; else int64 row ids
        self._view_buf = None            # the _Grow behind view
        self._shown = 0                  # rows exposed to Qt when view is None
        self.filter_kind = None
        self.filter_arg = None           # Matcher, or priority / time text
        self._cache: dict[int, tuple] = {}
        self._bg, self._fg, self._bold = _brushes()
        self._bold_font = QFont()
        self._bold_font.setBold(True)
        if path:
            self.refresh()

    # -- Qt interface ------------------------------------------------------------
    def rowCount(self, parent=QModelIndex()):
        if parent.isValid():
            return 0
        return self._shown if self.view is None else len(self.view)

    def columnCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if role == Qt.DisplayRole:
            if orientation == Qt.Horizontal:
                return COLUMNS[section]
            return str(section + 1)
        return None

    def flags(self, index):
        if not index.isValid():
            return Qt.NoItemFlags
        return Qt.ItemIsEnabled | Qt.ItemIsSelectable

    def row_id(self, view_row: int) -> int:
        return int(view_row if self.view is None else self.view[view_row])

    def fields(self, view_row: int):
        """(time, priority, origin, message, nlines) of a displayed row."""
        rid = self.row_id(view_row)
        got = self._cache.get(rid)
        if got is None:
            if len(self._cache) > 4096:
                self._cache.clear()
            got = self._cache[rid] = self.index_.row_fields(rid)
        return got

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        row, col = index.row(), index.column()
        if role == Qt.DisplayRole:
            return self.fields(row)[col]
        if role == Qt.ToolTipRole:
            f = self.fields(row)
            text = f[3] if col == 3 else f[col]
            return text if len(text) < 20000 else text[:20000] + "\n..."
        if role in (Qt.BackgroundRole, Qt.ForegroundRole, Qt.FontRole):
            rid = self.row_id(row)
            code = int(self.index_.line_prio.a[self.index_.row_line.a[rid]])
            if role == Qt.BackgroundRole:
                return self._bg.get(code)
            if role == Qt.ForegroundRole:
                return self._fg.get(code)
            return self._bold_font if code in self._bold else None
        if role == Qt.TextAlignmentRole:
            return int(Qt.AlignLeft | Qt.AlignTop)
        return None

    # -- helpers for the window ------------------------------------------------------
    def priority_code(self, view_row: int) -> int:
        rid = self.row_id(view_row)
        return int(self.index_.line_prio.a[self.index_.row_line.a[rid]])

    def line_counts(self, first: int, last: int):
        """Number of log lines of displayed rows first..last (inclusive)."""
        ix = self.index_
        if self.view is None:
            rows = np.arange(first, last + 1)
        else:
            rows = self.view[first:last + 1]
        rl = ix.row_line.view()
        nxt = np.where(rows + 1 < len(rl), rl[np.minimum(rows + 1, len(rl) - 1)], ix.nlines)
        return nxt - rl[rows]

    def view_rows_of(self, row_ids):
        """Display positions of row ids that are shown (others dropped)."""
        row_ids = np.asarray(row_ids, dtype=np.int64)
        if self.view is None:
            return row_ids[row_ids < self._shown]
        pos = np.searchsorted(self.view, row_ids)
        ok = pos < len(self.view)
        ok[ok] = self.view[pos[ok]] == row_ids[ok]
        return pos[ok]

    def rows_text(self, view_rows) -> str:
        """The displayed rows as the log's own text (all their lines)."""
        rows = np.asarray(view_rows, dtype=np.int64)
        ids = np.sort(rows if self.view is None else self.view[rows])
        out = io.BytesIO()
        self.index_.write_rows(ids, out)
        return out.getvalue().decode("utf-8", "replace")

    def save_view(self, path: str) -> int:
        """Write the rows shown (the filtered view) to ``path`` as log text."""
        with open(path, "wb") as fh:
            return self.index_.write_rows(self.view, fh)

    @property
    def path(self):
        return self.index_.path

    @property
    def total_rows(self) -> int:
        return self.index_.nrows

    # -- file ----------------------------------------------------------------------
    def open(self, path: str, max_bytes: int | None = None,
             max_seconds: float | None = None):
        """Show the log ``path``; with ``max_bytes`` / ``max_seconds``, read
        only a slice of it now (see :meth:`refresh`)."""
        self.beginResetModel()
        self._deferred = None
        self.index_.set_path(path)
        self._cache.clear()
        self._set_view(None if self.filter_kind is None else np.zeros(0, np.int64))
        self._shown = 0
        self.endResetModel()
        return self.refresh(max_bytes, max_seconds)

    @property
    def pending(self) -> bool:
        """Whether part of the file is still to be read (refresh again)."""
        return self.index_.pending

    def _set_view(self, rows):
        """Set the filtered view (None: all rows), kept in a growable
        buffer so rows that arrive later are added without copying it."""
        if rows is None:
            self._view_buf = None
            self.view = None
            return
        self._view_buf = _Grow(np.int64, max(1024, len(rows) + (len(rows) >> 2)))
        self._view_buf.extend(rows)
        self.view = self._view_buf.view()

    def refresh(self, max_bytes: int | None = None, max_seconds: float | None = None,
                defer: bool = False) -> tuple[str, int]:
        """Read what the file gained (or re-read it); update the rows.

        With ``max_bytes`` / ``max_seconds``, only a slice is read (of a big
        log: :attr:`pending` says if more is left).  The rows indexed are
        shown, and filtered, at once -- unless ``defer`` is true and more
        is left to read: then they are kept for a later call (fewer table
        updates and repaints while a big log is indexed).  The first rows
        of a file, and the rows of the last slice, are never deferred.

        Returns what :meth:`LogIndex.refresh` returned (``('same', 0)`` when
        the new rows were deferred; ``'appended'`` from the first deferred
        row on when they are shown).
        """
        ix = self.index_
        old_total = ix.nrows
        what, first = ix.refresh(max_bytes, max_seconds)
        if what == "reset" or (what == "appended" and old_total == 0):
            self._deferred = None
            self.beginResetModel()
            self._cache.clear()
            self._set_view(None if self.filter_kind is None else self._filter_rows(0))
            self._shown = ix.nrows
            self.endResetModel()
            release_memory()
            return what, first
        if what == "appended" and defer and ix.pending:
            self._deferred = first if self._deferred is None else min(first,
                                                                      self._deferred)
            return "same", 0
        if self._deferred is not None and not (defer and ix.pending):
            first = self._deferred if what != "appended" else min(first, self._deferred)
            what = "appended"
            self._deferred = None
        if what == "appended":
            self._cache.pop(first, None)        # the last old row may have grown
            self._append(first)
        return what, first

    _deferred = None       # first row indexed but not shown yet (defer=True)

    def _append(self, first: int):
        """Rows from ``first`` on are new, or (``first`` itself) grew."""
        if self.view is None:
            old = self.rowCount()
            if old:
                self.dataChanged.emit(self.index(old - 1, 0),
                                      self.index(old - 1, len(COLUMNS) - 1))
            new = self.index_.nrows
            if new > old:
                self.beginInsertRows(QModelIndex(), old, new - 1)
                self._shown = new
                self.endInsertRows()
            return
        extra = self._filter_rows(first)
        view = self.view
        if len(view) and view[-1] >= first:
            # the grown row was shown: it stays if it still passes
            if len(extra) and extra[0] == first:
                self.dataChanged.emit(self.index(len(view) - 1, 0),
                                      self.index(len(view) - 1, len(COLUMNS) - 1))
                extra = extra[1:]
            else:
                self.beginRemoveRows(QModelIndex(), len(view) - 1, len(view) - 1)
                self._view_buf.n -= 1
                self.view = view = self._view_buf.view()
                self.endRemoveRows()
        if len(extra):
            self.beginInsertRows(QModelIndex(), len(view), len(view) + len(extra) - 1)
            self._view_buf.extend(extra)
            self.view = self._view_buf.view()
            self.endInsertRows()

    # -- filter -------------------------------------------------------------------
    def set_filter(self, kind: str | None, text: str = "", regex: bool = False,
                   case: bool = False):
        """Show only the rows that pass one filter.

        ``kind`` is 'Message' or 'Origin' (``text`` is plain text, or a
        regular expression if ``regex``; case-insensitive unless ``case``),
        'Priority' (``text`` names the lowest priority shown) or 'Time'
        (``text`` as in :func:`casalogger_gui.logindex.parse_time_range`).
        An empty text, or ``kind=None``, shows everything.  Raises
        ValueError (with a message for the user) for a bad text; the view
        is then unchanged.
        """
        if kind is not None and kind not in FILTER_KINDS:
            raise ValueError(f"unknown filter kind {kind!r}")
        if kind is None or not text.strip():
            kind, arg = None, None
        elif kind in ("Message", "Origin"):
            try:
                arg = compile_text(text, regex=regex, case=case)
            except re.error as exc:
                raise ValueError(f"bad regular expression: {exc}") from None
        elif kind == "Priority":
            name = text.strip().upper()
            if name not in CODE or not name:
                raise ValueError(f"unknown priority {text.strip()!r}: use one of "
                                 + ", ".join(PRIORITY_NAMES[:-1]))
            arg = name
        else:
            from .logindex import parse_time_range
            parse_time_range(text)           # raises ValueError
            arg = text
        old = (self.filter_kind, self.filter_arg)
        self.filter_kind, self.filter_arg = kind, arg
        try:
            view = None if kind is None else self._filter_rows(0)
        except Exception:
            self.filter_kind, self.filter_arg = old
            raise
        self.beginResetModel()
        self._set_view(view)
        self._shown = self.index_.nrows
        self._deferred = None               # every row indexed is in the view
        self._cache.clear()
        self.endResetModel()
        release_memory()

    def _filter_rows(self, first_row: int):
        ix = self.index_
        kind, arg = self.filter_kind, self.filter_arg
        if ix.nrows == 0 or first_row >= ix.nrows:
            return np.zeros(0, dtype=np.int64)
        if kind == "Message":
            return ix.match_rows(arg, "message", first_row)
        if kind == "Origin":
            return ix.origin_rows(arg, first_row)
        if kind == "Priority":
            return ix.priority_rows(arg, first_row)
        if kind == "Time":
            return ix.time_rows(arg, first_row)
        return np.arange(first_row, ix.nrows, dtype=np.int64)

    def search(self, matcher: Matcher, first_row: int = 0):
        """Row ids (not display positions) from ``first_row`` on with a match
        anywhere in their text."""
        return self.index_.match_rows(matcher, "all", first_row)
