"""``casalogger [LOGFILE]``: start the log window.

With ``--control-stdin`` (used by the casa shell, which starts the window)
the window also reads commands, one per line, from its standard input:

* ``open PATH``: show another log file (the shell's ``casalog.setlogfile``);
* ``quit``: close the window.

End of file on standard input (the shell exited, or died) closes the
window too.
"""

from __future__ import annotations

import argparse
import glob
import os
import signal
import sys


def _default_log() -> str | None:
    """The newest ``casa-*.log`` in the current directory, if any."""
    logs = glob.glob("casa-*.log")
    return max(logs, key=os.path.getmtime) if logs else None


class StdinControl:
    """Reads ``open PATH`` / ``quit`` lines from a pipe without blocking the
    event loop (a QSocketNotifier on the descriptor)."""

    def __init__(self, window, app, fd: int = 0):
        from PyQt5.QtCore import QSocketNotifier
        self.window, self.app, self.fd = window, app, fd
        self._buf = b""
        if not os.isatty(fd):          # never change a terminal shared with a shell
            os.set_blocking(fd, False)
        self.notifier = QSocketNotifier(fd, QSocketNotifier.Read)
        self.notifier.activated.connect(self._readable)

    def _readable(self, _fd=None):
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:                       # the shell is gone
            self.notifier.setEnabled(False)
            self.window.close()
            self.app.quit()
            return
        self._buf += data
        while b"\n" in self._buf:
            line, self._buf = self._buf.split(b"\n", 1)
            self.command(line.decode("utf-8", "surrogateescape").strip())

    def command(self, line: str):
        verb, _, arg = line.partition(" ")
        if verb == "open" and arg:
            self.window.open_file(arg)
        elif verb == "quit":
            self.window.close()
            self.app.quit()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="casalogger",
        description="Show a CASA log file, live: new lines appear as they are written.")
    parser.add_argument("logfile", nargs="?",
                        help="log file to show (default: the newest casa-*.log here); "
                             "it need not exist yet")
    parser.add_argument("--control-stdin", action="store_true",
                        help="read 'open PATH' / 'quit' commands from standard input "
                             "and close at its end (used by casa)")
    args = parser.parse_args(argv)
    if (sys.platform.startswith("linux") and not os.environ.get("QT_QPA_PLATFORM")
            and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))):
        sys.stderr.write("casalogger: no display (DISPLAY is not set): cannot open "
                         "a window\n")
        return 1
    from PyQt5.QtWidgets import QApplication
    from .window import LogWindow
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName("casalogger")
    app.setOrganizationName("casashell")
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    win = LogWindow(args.logfile or _default_log())
    win.show()
    control = StdinControl(win, app) if args.control_stdin else None
    rc = app.exec_()
    del control
    return rc
