"""Plotting helpers shared by plotants and plotms.

matplotlib is imported only inside the functions here, so importing this
package is cheap.

Figures are made without pyplot (a plain ``Figure`` on an Agg canvas) unless
a window was asked for and a display exists; then pyplot with the QtAgg
backend is used so the window has matplotlib's navigation toolbar (zoom,
pan, home, save).

The last figure a task drew is kept in :data:`LAST` (``task``, ``figure``,
``info``), so scripts and tests can inspect what was plotted.
"""

from __future__ import annotations

import os
import sys

#: the last plot drawn by a task: {'task': name, 'figure': Figure, 'info': dict}
LAST: dict = {}


def last_plot() -> dict:
    """The last plot a task drew: ``{'task', 'figure', 'info'}`` (empty if none)."""
    return LAST


def display_available() -> bool:
    """Is there a screen to open a window on (and did the user not say nogui)?"""
    try:
        from ..config import current
        cfg = current()
        if getattr(cfg, "nogui", False) or getattr(cfg, "agg", False):
            return False
    except Exception:  # noqa: BLE001 - configuration is optional here
        pass
    if os.environ.get("QT_QPA_PLATFORM", "") == "offscreen":
        return True  # tests: a real Qt window, drawn off screen
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


#: open plot windows (kept referenced so Qt does not destroy them)
WINDOWS: list = []


def _qt_window(fig):
    """Put ``fig`` on a Qt canvas inside a window with matplotlib's navigation
    toolbar (zoom, pan, home, save).  None when Qt cannot be used."""
    try:
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg, NavigationToolbar2QT
        from matplotlib.backends.qt_compat import QtWidgets
    except Exception:  # noqa: BLE001 - no Qt binding
        return None
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["casashell"])
    canvas = FigureCanvasQTAgg(fig)
    window = QtWidgets.QMainWindow()
    toolbar = NavigationToolbar2QT(canvas, window)
    window.addToolBar(toolbar)
    window.setCentralWidget(canvas)
    window.setWindowTitle(fig.get_label() or "casashell plot")
    window.resize(int(fig.get_figwidth() * fig.dpi), int(fig.get_figheight() * fig.dpi) + 40)
    canvas.toolbar = toolbar
    window._app = app
    return window


def new_figure(figsize=(8.0, 6.0), dpi=100, showgui=False, label="", outfile_param=None):
    """A new figure; ``(figure, interactive)``.

    With ``showgui`` and a display, the figure lives in a Qt window (opened by
    :func:`show`); otherwise it is an off-screen Agg figure.  A GUI that cannot
    be had is one log line, and the figure is still made: ``outfile_param``
    names the calling task's plot-file parameter when one was given (the line
    is then INFO), or is None (a WARN telling the user how to get a file).
    """
    from ..logsink import casalog
    from matplotlib.figure import Figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    fig = Figure(figsize=figsize, dpi=dpi)
    if label:
        fig.set_label(label)
    if showgui:
        if display_available():
            window = _qt_window(fig)
            if window is not None:
                fig._casashell_window = window
                return fig, True
            casalog.post("showgui=True but the Qt backend (PyQt5) cannot be loaded; "
                         "drawing off screen", "WARN")
        else:
            _post_no_display(outfile_param)
    FigureCanvasAgg(fig)
    return fig, False


def _post_no_display(outfile_param=None) -> None:
    """Say that showgui=True cannot open a window: an INFO line when the calling task
    writes a plot file, else a WARN (it reaches the terminal) telling how to get one."""
    from ..logsink import casalog
    if outfile_param:
        casalog.post("no display (or nogui/agg is set): the plot is drawn off screen")
    else:
        casalog.post("no display (or nogui/agg is set): nothing is shown; give plotfile= "
                     "(plotms) or figfile= (plotants) to write the plot to a file", "WARN")


def show(fig) -> None:
    """Open the window of an interactive figure without blocking the shell."""
    try:
        window = fig._casashell_window
        fig.canvas.draw_idle()
        window.show()
        WINDOWS.append(window)
        # forget the window (and its figure) once the user closes it
        try:
            from matplotlib.backends.qt_compat import QtCore
            window.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose, True)
            window.destroyed.connect(lambda *_: WINDOWS.remove(window)
                                     if window in WINDOWS else None)
        except Exception:  # noqa: BLE001
            pass
        try:  # inside IPython: let its event loop drive Qt so the window responds
            from IPython import get_ipython
            ip = get_ipython()
            if ip is not None:
                ip.enable_gui("qt")
        except Exception:  # noqa: BLE001
            pass
        window._app.processEvents()
    except Exception as exc:  # noqa: BLE001 - a window is a convenience
        from ..logsink import casalog
        casalog.post(f"could not open the plot window: {exc}", "WARN")


FORMATS = {"png": "png", "pdf": "pdf", "jpg": "jpg", "jpeg": "jpg", "ps": "ps",
           "eps": "eps", "svg": "svg", "txt": "txt"}


def output_format(path: str, expformat: str = "") -> str:
    """The format to write: ``expformat`` if given, else from the extension (png default)."""
    fmt = (expformat or "").strip().lower()
    if not fmt:
        ext = os.path.splitext(path)[1].lstrip(".").lower()
        fmt = ext if ext in FORMATS else "png"
    if fmt not in FORMATS:
        raise ValueError(f"unsupported plot file format {fmt!r}; use one of png, pdf, jpg, ps, "
                         f"eps, svg")
    return FORMATS[fmt]


def save_figure(fig, path: str, fmt: str = "", overwrite: bool = True, dpi=None) -> str:
    """Write ``fig`` to ``path`` through a temporary file renamed at the end.

    The extension of the format is added when ``path`` lacks it.  An existing
    file is refused (``FileExistsError``) unless ``overwrite``.
    Returns the path written.
    """
    fmt = output_format(path, fmt)
    root, ext = os.path.splitext(path)
    if ext.lstrip(".").lower() not in (fmt, "jpeg" if fmt == "jpg" else fmt):
        path = path + "." + fmt
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"plot file {path} exists and overwrite=False")
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"directory {folder} for the plot file does not exist")
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp{os.getpid()}")
    try:
        fig.savefig(tmp, format="jpeg" if fmt == "jpg" else fmt, dpi=dpi)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path

