"""The casalogger main window."""

from __future__ import annotations

import getpass
import os
import time

import numpy as np
from PyQt5.QtCore import (QFileSystemWatcher, QItemSelectionModel,
                          QRect, QSettings, QSize, Qt, QTimer)
from PyQt5.QtGui import QColor, QFont, QKeySequence, QPalette
from PyQt5.QtWidgets import (QAbstractItemView, QAction, QApplication, QCheckBox,
                             QComboBox, QCompleter, QFileDialog, QFontDialog, QHBoxLayout,
                             QHeaderView, QLabel, QLineEdit, QMainWindow, QMessageBox,
                             QProgressBar, QStyle, QStyledItemDelegate, QTableView, QToolBar,
                             QToolButton, QVBoxLayout, QWidget)

from casashell.logsink import append_text, format_lines

from .logindex import PRIORITY_NAMES, _Grow, compile_text
from .model import COLUMNS, FILTER_KINDS, MAX_ROW_LINES, LogTableModel

POLL_MS = 100           # the file is checked this often (new lines < 250 ms)
#: a big log is read and indexed in slices, between which the window
#: handles its events: a slice ends after the 4 MB read block that takes it
#: past SLICE_SECONDS, or at SLICE_BYTES
SLICE_SECONDS = 0.04
SLICE_BYTES = 256 << 20
PUBLISH_SECONDS = 0.25
HIGHLIGHT = QColor("#fff35c")
_MAX_DRAWN = 3000       # characters of one line drawn (the tooltip has more)
_FILTER_HINT = {
    "Message": "text in the message (Enter applies)",
    "Origin": "text in the origin, e.g. flagdata",
    "Priority": "lowest priority shown, e.g. WARN",
    "Time": "FROM ~ TO, e.g. 2026-11-24 13:05 ~ 2026-11-24 14",
}


def _mb(n: int) -> str:
    if n >= 10e9:
        return f"{n / 1e9:,.1f} GB"
    return f"{n / 1e6:,.1f} MB" if n < 10e6 else f"{n / 1e6:,.0f} MB"


def user_name() -> str:
    try:
        return getpass.getuser() or "user"
    except Exception:
        return os.environ.get("USER") or "user"


class _Delegate(QStyledItemDelegate):
    """Paints a cell: the priority colours, every search match highlighted,
    and multi-line messages one text line under the other."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window

    def paint(self, painter, option, index):
        self.initStyleOption(option, index)
        text = index.data() or ""
        option.text = ""
        style = option.widget.style() if option.widget else QApplication.style()
        selected = bool(option.state & QStyle.State_Selected)
        bg = index.data(Qt.BackgroundRole)
        if bg is not None and not selected:
            painter.fillRect(option.rect, bg)
        style.drawControl(QStyle.CE_ItemViewItem, option, painter, option.widget)
        painter.save()
        painter.setClipRect(option.rect)
        font = option.font
        painter.setFont(font)
        fm = painter.fontMetrics()
        if selected:
            color = option.palette.color(QPalette.HighlightedText)
        else:
            fg = index.data(Qt.ForegroundRole)
            color = fg.color() if fg is not None else option.palette.color(QPalette.Text)
        matcher = self.window.matcher
        x0 = option.rect.left() + 4
        y = option.rect.top() + 2
        lh = fm.lineSpacing()
        ascent = fm.ascent()
        lines = text.replace("\t", "    ").split("\n")
        if len(lines) > MAX_ROW_LINES:
            more = len(lines) - MAX_ROW_LINES + 1
            lines = lines[:MAX_ROW_LINES - 1] + [f"... {more} more lines (in the "
                                                 f"tooltip, Copy and Save)"]
        for line in lines:
            line = line[:_MAX_DRAWN]
            if y > option.rect.bottom():
                break
            spans = matcher.spans(line) if matcher is not None and line else ()
            boxes = [(a, b, x0 + fm.horizontalAdvance(line[:a]),
                      fm.horizontalAdvance(line[a:b])) for a, b in spans]
            if not selected:
                for _a, _b, xa, w in boxes:
                    painter.fillRect(QRect(xa, y, w, lh), HIGHLIGHT)
            painter.setPen(color)
            painter.drawText(x0, y + ascent, line)
            if selected and boxes:     # yellow boxes with dark text on the selection
                painter.setPen(Qt.black)
                for a, b, xa, w in boxes:
                    painter.fillRect(QRect(xa, y, w, lh), HIGHLIGHT)
                    painter.drawText(xa, y + ascent, line[a:b])
            y += lh
        painter.restore()

    def sizeHint(self, option, index):
        fm = option.fontMetrics
        n = index.model().fields(index.row())[4] if index.column() == 3 else 1
        return QSize(fm.horizontalAdvance(str(index.data())[:_MAX_DRAWN] or " ") + 8,
                     fm.lineSpacing() * min(n, MAX_ROW_LINES) + 4)


class LogTable(QTableView):
    def __init__(self, window):
        super().__init__(window)
        self.window_ = window

    def keyPressEvent(self, event):
        if event.matches(QKeySequence.Copy):
            self.window_.copy_selection()
            return
        super().keyPressEvent(event)


class LogWindow(QMainWindow):
    """``LogWindow(path, settings=QSettings)``: the log window on ``path``
    (which need not exist yet)."""

    def __init__(self, path: str | None = None, settings: QSettings | None = None,
                 parent=None):
        super().__init__(parent)
        self.settings = settings if settings is not None else QSettings("casashell",
                                                                         "casalogger")
        self.matcher = None
        self.search_rows = np.zeros(0, dtype=np.int64)     # row ids with a match
        self._follow = True
        self._status_file = os.environ.get("CASALOGGER_STATUS")
        self.model = LogTableModel(None, self)
        self._build()
        self._restore_settings()
        self._watcher = QFileSystemWatcher(self)
        self._watcher.fileChanged.connect(lambda _p: self.poll())
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.poll)
        self._timer.start()
        if path:
            self.open_file(path)
        else:
            self._update_title()

    # -- construction ------------------------------------------------------------
    def _action(self, text, tip, slot, shortcut=None, checkable=False, icon=None):
        act = QAction(text, self)
        act.setToolTip(tip)
        act.setStatusTip(tip)
        if icon is not None:
            act.setIcon(self.style().standardIcon(icon))
        if shortcut is not None:
            act.setShortcuts(shortcut if isinstance(shortcut, list) else [shortcut])
            act.setToolTip(f"{tip} ({act.shortcut().toString()})")
        act.setCheckable(checkable)
        act.triggered.connect(slot)
        return act

    def _build(self):
        self.setWindowTitle("casalogger")
        # actions
        self.act_open = self._action("&Open...", "Open another log file", self.choose_file,
                                     QKeySequence.Open, icon=QStyle.SP_DialogOpenButton)
        self.act_save = self._action("&Save view as...",
                                     "Save the rows shown (the filtered view) to a file",
                                     self.choose_save, QKeySequence.Save,
                                     icon=QStyle.SP_DialogSaveButton)
        self.act_copy = self._action("&Copy", "Copy the selected rows, as log text, "
                                     "to the clipboard", self.copy_selection,
                                     QKeySequence.Copy, icon=QStyle.SP_FileDialogDetailedView)
        self.act_quit = self._action("&Quit", "Close the log window", self.close,
                                     QKeySequence.Quit)
        self.act_find = self._action("&Find", "Search the log (highlights every match)",
                                     self.focus_search, QKeySequence.Find)
        self.act_next = self._action("&Next", "Go to the next match",
                                     self.find_next, [QKeySequence(Qt.Key_F3)],
                                     icon=QStyle.SP_ArrowDown)
        self.act_prev = self._action("&Previous", "Go to the previous match",
                                     self.find_previous,
                                     [QKeySequence(Qt.SHIFT + Qt.Key_F3)],
                                     icon=QStyle.SP_ArrowUp)
        self.act_font = self._action("&Font...", "Change the font of the table",
                                     self.choose_font)
        self.act_follow = self._action("Follow &end", "Scroll to new lines as they arrive "
                                       "(turned off by scrolling up)",
                                       self._toggle_follow, checkable=True)
        self.act_follow.setChecked(True)
        self.col_actions = []
        for i, name in enumerate(COLUMNS):
            act = self._action(name, f"Show or hide the {name} column",
                               lambda on, c=i: self.set_column_visible(c, on),
                               checkable=True)
            act.setChecked(True)
            self.col_actions.append(act)
        # menus
        mb = self.menuBar()
        m = mb.addMenu("&File")
        for a in (self.act_open, self.act_save, self.act_copy):
            m.addAction(a)
        m.addSeparator()
        m.addAction(self.act_quit)
        m = mb.addMenu("&Search")
        for a in (self.act_find, self.act_next, self.act_prev):
            m.addAction(a)
        m = mb.addMenu("&View")
        for a in self.col_actions:
            m.addAction(a)
        m.addSeparator()
        m.addAction(self.act_font)
        m.addAction(self.act_follow)
        # tool bar: file actions, search, filter
        tb = QToolBar("Main", self)
        tb.setObjectName("main_toolbar")
        tb.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        self.addToolBar(tb)
        for a in (self.act_open, self.act_save, self.act_copy):
            tb.addAction(a)
        tb.addSeparator()
        tb.addWidget(QLabel(" Search: "))
        self.search_box = QLineEdit()
        self.search_box.setClearButtonEnabled(True)
        self.search_box.setPlaceholderText("search (Ctrl+F)")
        self.search_box.setToolTip("Text to find: every match is highlighted; Enter or F3 "
                                   "goes to the next one, Shift+F3 to the previous")
        self.search_box.setMinimumWidth(160)
        tb.addWidget(self.search_box)
        tb.addAction(self.act_prev)
        tb.addAction(self.act_next)
        self.case_box = QCheckBox("Aa")
        self.case_box.setToolTip("Match case in the search and the filter "
                                 "(off: case-insensitive)")
        tb.addWidget(self.case_box)
        tb2 = QToolBar("Filter", self)
        tb2.setObjectName("filter_toolbar")
        self.addToolBarBreak()
        self.addToolBar(tb2)
        tb2.addWidget(QLabel(" Filter: "))
        self.filter_kind = QComboBox()
        self.filter_kind.addItems(FILTER_KINDS)
        self.filter_kind.setToolTip("What the filter text applies to: the Message, the "
                                    "Origin, a Priority threshold, or a Time range")
        tb2.addWidget(self.filter_kind)
        self.filter_box = QLineEdit()
        self.filter_box.setClearButtonEnabled(True)
        self.filter_box.setMinimumWidth(220)
        self.filter_box.setToolTip("Only rows matching this are shown (also rows that "
                                   "arrive later); empty shows all")
        tb2.addWidget(self.filter_box)
        self.regex_box = QCheckBox("Regex")
        self.regex_box.setToolTip("Treat the Message/Origin filter text as a Python "
                                  "regular expression (off: plain text)")
        tb2.addWidget(self.regex_box)
        self.clear_filter_button = QToolButton()
        self.clear_filter_button.setText("Clear")
        self.clear_filter_button.setToolTip("Remove the filter: show every row")
        self.clear_filter_button.clicked.connect(self.clear_filter)
        tb2.addWidget(self.clear_filter_button)
        for w in tb.findChildren(QToolButton) + tb2.findChildren(QToolButton):
            if not w.toolTip() and w.defaultAction() is not None:
                w.setToolTip(w.defaultAction().toolTip())
        # the table
        self.table = LogTable(self)
        self.table.setModel(self.model)
        self.table.setItemDelegate(_Delegate(self))
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.table.setWordWrap(False)
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(False)
        self.table.setVerticalScrollMode(QAbstractItemView.ScrollPerItem)
        self.table.setHorizontalScrollMode(QAbstractItemView.ScrollPerPixel)
        vh = self.table.verticalHeader()
        vh.setVisible(False)
        vh.setSectionResizeMode(QHeaderView.Fixed)
        hh = self.table.horizontalHeader()
        hh.setStretchLastSection(True)
        hh.setHighlightSections(False)
        self.act_select_all = self._action("Select &all", "Select every row shown",
                                           self.table.selectAll)
        self.table.setContextMenuPolicy(Qt.ActionsContextMenu)
        self.table.addAction(self.act_copy)
        self.table.addAction(self.act_select_all)
        # the Insert Message box
        self.note_box = QLineEdit()
        self.note_box.setPlaceholderText("Insert a message into the log (NOTE)")
        self.note_box.setToolTip("A note to add to the log file with priority NOTE and "
                                 "your user name as origin; Enter or + adds it")
        self.add_button = QToolButton()
        self.add_button.setText("+")
        self.add_button.setToolTip("Add the message to the log file as a NOTE line")
        self.add_button.clicked.connect(self.insert_note)
        self.note_box.returnPressed.connect(self.insert_note)
        bottom = QHBoxLayout()
        bottom.setContentsMargins(4, 0, 4, 2)
        lab = QLabel("Insert Message:")
        bottom.addWidget(lab)
        bottom.addWidget(self.note_box, 1)
        bottom.addWidget(self.add_button)
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addWidget(self.table, 1)
        lay.addLayout(bottom)
        self.setCentralWidget(central)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(220)
        self.progress.setFormat("%p%")
        self.progress.setToolTip("Part of the log file read and indexed so far: the "
                                 "rows read are shown, filtered and searched already")
        self.progress.hide()
        self.statusBar().addPermanentWidget(self.progress)
        self.status_label = QLabel()
        self.statusBar().addPermanentWidget(self.status_label)
        # the next slice of a big log is read as soon as events are handled
        self._load_timer = QTimer(self, singleShot=True, interval=0, timeout=self.poll)
        # behaviour
        self._search_timer = QTimer(self, singleShot=True, interval=250,
                                    timeout=self.run_search)
        self._filter_timer = QTimer(self, singleShot=True, interval=300,
                                    timeout=self.apply_filter)
        self._fit_timer = QTimer(self, singleShot=True, interval=0,
                                 timeout=self.fit_visible_rows)
        self.search_box.textChanged.connect(lambda _t: self._search_timer.start())
        self.search_box.returnPressed.connect(self._search_enter)
        self.case_box.toggled.connect(lambda _on: (self.run_search(), self.apply_filter()))
        self.filter_box.textChanged.connect(lambda _t: self._filter_timer.start())
        self.filter_box.returnPressed.connect(self.apply_filter)
        self.filter_kind.currentTextChanged.connect(self._filter_kind_changed)
        self.regex_box.toggled.connect(lambda _on: self.apply_filter())
        self._filter_kind_changed(self.filter_kind.currentText(), apply=False)
        sb = self.table.verticalScrollBar()
        sb.valueChanged.connect(self._scrolled)
        sb.rangeChanged.connect(lambda *_: self._fit_timer.start())
        self.model.modelReset.connect(self._fit_timer.start)
        self.model.rowsInserted.connect(lambda *_: self._fit_timer.start())
        self.resize(1100, 700)

    # -- settings ----------------------------------------------------------------
    _user_widths = False

    def _restore_settings(self):
        s = self.settings
        hidden = s.value("view/hidden_columns", [], type=list) or []
        for i, name in enumerate(COLUMNS):
            self.set_column_visible(i, name not in hidden, save=False)
        font = s.value("view/font", "", type=str)
        if font:
            f = QFont()
            if f.fromString(font):
                self.apply_font(f, save=False)
        else:
            self.apply_font(self.table.font(), save=False)
        widths = s.value("view/column_widths", [], type=list) or []
        for i, w in enumerate(widths[:len(COLUMNS) - 1]):
            try:
                if int(w) >= 10:
                    self.table.setColumnWidth(i, int(w))
                    self._user_widths = True
            except (TypeError, ValueError):
                pass
        geom = s.value("window/geometry")
        if geom is not None:
            self.restoreGeometry(geom)

    def save_settings(self):
        s = self.settings
        s.setValue("view/hidden_columns",
                   [n for i, n in enumerate(COLUMNS) if self.table.isColumnHidden(i)])
        s.setValue("view/font", self.table.font().toString())
        widths = [self.table.columnWidth(i) if not self.table.isColumnHidden(i)
                  else self.table.horizontalHeader().sectionSize(i)
                  for i in range(len(COLUMNS) - 1)]
        if widths != getattr(self, "_auto_widths", None) or self._user_widths:
            s.setValue("view/column_widths", widths)
        s.setValue("window/geometry", self.saveGeometry())
        s.sync()

    def closeEvent(self, event):
        self.save_settings()
        self._timer.stop()
        self._load_timer.stop()
        super().closeEvent(event)

    # -- view ------------------------------------------------------------------------
    def set_column_visible(self, column: int, visible: bool, save: bool = True):
        self.table.setColumnHidden(column, not visible)
        auto = getattr(self, "_auto_widths", None)
        if visible and auto and column < len(auto) and self.table.columnWidth(column) < 10:
            self.table.setColumnWidth(column, auto[column])
        act = self.col_actions[column]
        if act.isChecked() != visible:
            act.blockSignals(True)
            act.setChecked(visible)
            act.blockSignals(False)
        if save:
            self.save_settings()

    def apply_font(self, font: QFont, save: bool = True):
        self.table.setFont(font)
        from PyQt5.QtGui import QFontMetrics
        fm = QFontMetrics(font)
        self._line_height = fm.lineSpacing()
        vh = self.table.verticalHeader()
        vh.setMinimumSectionSize(1)
        vh.setDefaultSectionSize(self._line_height + 4)
        bold = QFont(font)
        bold.setBold(True)
        fb = QFontMetrics(bold)
        self._auto_widths = [fb.horizontalAdvance("2026-11-24 13:11:57") + 14,
                             fb.horizontalAdvance("DEBUGGING") + 14,
                             fb.horizontalAdvance("flagdata::FlagAgentBase::x") + 14]
        if not self._user_widths:
            for i, w in enumerate(self._auto_widths):
                self.table.setColumnWidth(i, w)
        self._fit_timer.start()
        if save:
            self.save_settings()

    def choose_font(self):
        font, ok = QFontDialog.getFont(self.table.font(), self, "Log font")
        if ok:
            self.apply_font(font)

    def fit_visible_rows(self):
        """Give the rows on screen the height of their messages (a multi-line
        message shows all its lines, up to MAX_ROW_LINES).  Only rows on
        screen are measured, so this costs nothing on huge logs."""
        n = self.model.rowCount()
        if n == 0:
            return
        vh = self.table.verticalHeader()
        base = self._line_height + 4
        height = self.table.viewport().height()
        for _ in range(3):
            first = self.table.rowAt(0)
            if first < 0:
                return
            last = self.table.rowAt(height - 1)
            last = n - 1 if last < 0 else last
            counts = self.model.line_counts(first, last)
            changed = False
            for r, c in zip(range(first, last + 1), counts.tolist()):
                h = base if c <= 1 else self._line_height * min(c, MAX_ROW_LINES) + 4
                if vh.sectionSize(r) != h:
                    vh.resizeSection(r, h)
                    changed = True
            if not changed:
                break
        sb = self.table.verticalScrollBar()
        if self.act_follow.isChecked() and sb.value() < sb.maximum():
            self.table.scrollToBottom()        # taller rows moved the end

    def _scrolled(self, value):
        sb = self.table.verticalScrollBar()
        at_end = value >= sb.maximum()
        if self.act_follow.isChecked() != at_end:
            self.act_follow.setChecked(at_end)
        self._fit_timer.start()

    def _scroll_end_if_following(self):
        if self.act_follow.isChecked():
            self.table.scrollToBottom()

    def showEvent(self, event):
        super().showEvent(event)
        QTimer.singleShot(0, self._scroll_end_if_following)

    def _toggle_follow(self, on):
        if on:
            self.table.scrollToBottom()

    # -- file ------------------------------------------------------------------------
    def open_file(self, path: str):
        """Show the log ``path`` (waiting for it if it does not exist yet)."""
        path = os.path.abspath(os.path.expanduser(path))
        if self._watcher.files():
            self._watcher.removePaths(self._watcher.files())
        self.search_rows = np.zeros(0, dtype=np.int64)
        self.model.open(path, self.slice_bytes, self.slice_seconds)
        self._published = time.monotonic()
        self._watch()
        self._after_load(0, reset=True)
        if self.model.pending:
            self._load_timer.start()       # the rest of a big log, in slices
        QTimer.singleShot(0, self._scroll_end_if_following)
        self._status("open")

    def choose_file(self):
        start = os.path.dirname(self.model.path or os.getcwd())
        path, _ = QFileDialog.getOpenFileName(self, "Open a log file", start,
                                              "Log files (*.log);;All files (*)")
        if path:
            self.open_file(path)

    def _watch(self):
        p = self.model.path
        if p and os.path.exists(p) and p not in self._watcher.files():
            self._watcher.addPath(p)

    def poll(self):
        """Check the file; show new lines (the timer calls this)."""
        if not self.model.path:
            return
        sb = self.table.verticalScrollBar()
        at_end = sb.value() >= sb.maximum()
        was_pending = self.model.pending
        defer = was_pending and time.monotonic() < self._published + self.publish_seconds
        what, first = self.model.refresh(self.slice_bytes, self.slice_seconds, defer)
        if what == "missing":
            if not self.model.index_.exists:
                self._update_title()
            return
        if what != "same":
            self._published = time.monotonic()
            self._watch()
            self._after_load(first, reset=(what == "reset"), at_end=at_end)
            self._status(what)
            if self.matcher is not None and (was_pending or self.model.pending):
                self._show_match_count()       # the count grows while indexing
        if self.model.pending:
            self._update_progress()
            self._load_timer.start()       # the next slice, after pending events
        elif was_pending:
            self._update_title()
            self._status("indexed")

    #: at most this many bytes, or about this long, per slice of a big log
    #: (tests make slices small)
    slice_bytes = SLICE_BYTES
    slice_seconds = SLICE_SECONDS
    #: while a big log is indexed, new rows are shown (and the table
    #: repainted) at most this often; the progress bar moves every slice
    publish_seconds = PUBLISH_SECONDS
    _published = 0.0

    @property
    def loading(self) -> bool:
        """Whether the log is still being read and indexed (in slices)."""
        return self.model.pending

    def _after_load(self, first_row, reset=False, at_end=True):
        if self.matcher is not None:
            if reset or first_row == 0:
                self._set_search_rows(self.model.search(self.matcher))
            else:
                buf = self._search_buf
                buf.n = int(np.searchsorted(buf.view(), first_row))
                buf.extend(self.model.search(self.matcher, first_row))
                self.search_rows = buf.view()
            self.table.viewport().update()
        if at_end and self.act_follow.isChecked():
            self.table.scrollToBottom()
        self._update_title()

    def _set_search_rows(self, rows):
        """Row ids with a search match, in a growable buffer (extended as
        slices of a big log, or new lines, arrive)."""
        self._search_buf = _Grow(np.int64, max(1024, len(rows) + (len(rows) >> 2)))
        self._search_buf.extend(rows)
        self.search_rows = self._search_buf.view()

    def _update_title(self):
        p = self.model.path
        self.setWindowTitle(f"casalogger - {p}" if p else "casalogger")
        if p and not self.model.index_.exists:
            text = f"waiting for {p} to be created"
        elif p:
            shown, total = self.model.rowCount(), self.model.total_rows
            text = (f"{total:,} messages" if self.model.view is None
                    else f"{shown:,} of {total:,} messages shown")
            if self.model.pending:
                done, size = self.model.index_.progress()
                text = (f"indexing {_mb(done)} of {_mb(size)}: {text} so far")
        else:
            text = "no log file: use File > Open"
        self.status_label.setText(text)
        self._update_progress()

    def _update_progress(self):
        if not self.model.pending:
            if not self.progress.isHidden():
                self.progress.hide()
            return
        done, size = self.model.index_.progress()
        self.progress.setValue(int(1000 * done / size) if size else 0)
        if self.progress.isHidden():
            self.progress.show()

    def _status(self, event):
        if not self._status_file:
            return
        try:
            with open(self._status_file, "a") as fh:
                fh.write(f"{event}\t{self.model.path}\t{self.model.total_rows}\t"
                         f"{self.model.rowCount()}\n")
        except OSError:
            pass

    def choose_save(self):
        start = os.path.dirname(self.model.path or os.getcwd())
        path, _ = QFileDialog.getSaveFileName(self, "Save the rows shown", start,
                                              "Log files (*.log);;All files (*)")
        if path:
            self.save_view(path)

    def save_view(self, path: str) -> int:
        try:
            n = self.model.save_view(path)
        except OSError as exc:
            QMessageBox.warning(self, "casalogger", f"Cannot save {path}: {exc.strerror}")
            return -1
        self.statusBar().showMessage(f"saved {self.model.rowCount():,} messages to {path}",
                                     5000)
        return n

    # -- copy / note -------------------------------------------------------------
    def selected_rows(self):
        """Display rows selected (sorted numpy array), from the selection's
        ranges: selecting a million rows costs no Python object per row."""
        ranges = [np.arange(r.top(), r.bottom() + 1)
                  for r in self.table.selectionModel().selection()]
        if not ranges:
            return np.zeros(0, dtype=np.int64)
        rows = np.unique(np.concatenate(ranges))
        return rows[rows < self.model.rowCount()]

    def copy_selection(self):
        rows = self.selected_rows()
        if not len(rows):
            cur = self.table.currentIndex()
            rows = [cur.row()] if cur.isValid() else []
        if not len(rows):
            return ""
        text = self.model.rows_text(rows)
        QApplication.clipboard().setText(text)
        self.statusBar().showMessage(f"copied {len(rows)} message(s)", 3000)
        return text

    def insert_note(self):
        """Append the Insert Message text to the log as a NOTE line."""
        text = self.note_box.text().strip()
        path = self.model.path
        if not text or not path:
            return False
        line = format_lines(text, "NOTE", user_name(), time.time())
        try:
            append_text(path, line)
        except OSError as exc:
            QMessageBox.warning(self, "casalogger",
                                f"Cannot write to {path}: {exc.strerror or exc}")
            return False
        self.note_box.clear()
        self.act_follow.setChecked(True)
        self.poll()
        self.table.scrollToBottom()
        return True

    # -- search --------------------------------------------------------------------
    def focus_search(self):
        self.search_box.setFocus(Qt.ShortcutFocusReason)
        self.search_box.selectAll()

    def _search_enter(self):
        if self._search_timer.isActive():
            self._search_timer.stop()
            self.run_search()
        self.find_next()

    def run_search(self):
        """Find every row matching the search text (highlighted when shown)."""
        self._search_timer.stop()
        text = self.search_box.text()
        if not text:
            self.matcher = None
            self.search_rows = np.zeros(0, dtype=np.int64)
        else:
            self.matcher = compile_text(text, regex=False, case=self.case_box.isChecked())
            self._set_search_rows(self.model.search(self.matcher))
        self.table.viewport().update()
        self._show_match_count()

    def _match_positions(self):
        return self.model.view_rows_of(self.search_rows)

    def _show_match_count(self, current=None):
        if self.matcher is None:
            self.statusBar().clearMessage()
            return
        pos = self._match_positions()
        if len(pos) == 0:
            self.statusBar().showMessage(f"'{self.matcher.text}' not found")
        elif current is None:
            self.statusBar().showMessage(f"{len(pos):,} rows match '{self.matcher.text}'")
        else:
            k = int(np.searchsorted(pos, current)) + 1
            self.statusBar().showMessage(f"match {k:,} of {len(pos):,}")

    def find_next(self):
        self._find(+1)

    def find_previous(self):
        self._find(-1)

    def _find(self, step):
        if self._search_timer.isActive() or (self.matcher is None and self.search_box.text()):
            self.run_search()
        if self.matcher is None:
            self.focus_search()
            return
        pos = self._match_positions()
        if len(pos) == 0:
            self._show_match_count()
            return
        cur = self.table.currentIndex().row()
        if step > 0:
            k = int(np.searchsorted(pos, cur, side="right"))
            target = int(pos[k % len(pos)])
        else:
            k = int(np.searchsorted(pos, cur, side="left")) - 1
            target = int(pos[k % len(pos)])
        self.go_to_row(target)
        self._show_match_count(target)

    def go_to_row(self, row: int):
        idx = self.model.index(row, 0)
        sel = self.table.selectionModel()
        sel.setCurrentIndex(idx, QItemSelectionModel.ClearAndSelect
                            | QItemSelectionModel.Rows)
        self.table.scrollTo(idx, QAbstractItemView.PositionAtCenter)
        self.act_follow.setChecked(row == self.model.rowCount() - 1)

    # -- filter --------------------------------------------------------------------
    def _filter_kind_changed(self, kind, apply=True):
        self.filter_box.setPlaceholderText(_FILTER_HINT.get(kind, ""))
        if kind == "Priority":
            comp = QCompleter(list(PRIORITY_NAMES[:-1]), self.filter_box)
            comp.setCaseSensitivity(Qt.CaseInsensitive)
            self.filter_box.setCompleter(comp)
        else:
            self.filter_box.setCompleter(None)
        self.regex_box.setEnabled(kind in ("Message", "Origin"))
        if apply and self.filter_box.text():
            self.apply_filter()

    _applied = (None,)     # the filter shown: (None,) or (kind, text, regex, case)

    def set_filter(self, kind: str, text: str, regex: bool | None = None):
        """Set the filter controls and apply them (also used by tests)."""
        for w in (self.filter_kind, self.filter_box, self.regex_box):
            w.blockSignals(True)
        self.filter_kind.setCurrentText(kind)
        self._filter_kind_changed(kind, apply=False)
        self.filter_box.setText(text)
        if regex is not None:
            self.regex_box.setChecked(regex)
        for w in (self.filter_kind, self.filter_box, self.regex_box):
            w.blockSignals(False)
        return self.apply_filter()

    def clear_filter(self):
        self.filter_box.clear()
        self.apply_filter()

    def apply_filter(self):
        self._filter_timer.stop()
        kind = self.filter_kind.currentText()
        text = self.filter_box.text()
        key = (None,) if not text.strip() else (kind, text, self.regex_box.isChecked(),
                                                 self.case_box.isChecked())
        if key == self._applied:
            return True            # nothing changed: keep the view (and its scroll)
        current = self.table.currentIndex()
        keep = self.model.row_id(current.row()) if current.isValid() else None
        try:
            self.model.set_filter(kind, text, regex=self.regex_box.isChecked(),
                                  case=self.case_box.isChecked())
        except ValueError as exc:
            self.filter_box.setStyleSheet("background: #ffd0d0")
            self.filter_box.setToolTip(str(exc))
            self.statusBar().showMessage(str(exc), 8000)
            return False
        self._applied = key
        self.filter_box.setStyleSheet("")
        self.filter_box.setToolTip("Only rows matching this are shown (also rows that "
                                   "arrive later); empty shows all")
        self._update_title()
        if keep is not None:
            pos = self.model.view_rows_of([keep])
            if len(pos):
                self.go_to_row(int(pos[0]))
                self._update_title()
                return True
        if self.act_follow.isChecked():
            self.table.scrollToBottom()
        return True
