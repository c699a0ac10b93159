"""The real casalogger window on a real X server (Xvfb), on the log of a real
casa session (listobs on a real MS, a warning, a failing task, a note),
grabbed from the screen and checked: size, and the red SEVERE, orange WARN
and blue NOTE rows are on screen; and a big log held in the middle of its
indexing, with its progress bar on screen.

Needs Xvfb (Debian/Ubuntu: ``apt-get install xvfb``) and the X libraries
Qt's xcb plugin loads.  The screen is grabbed with ImageMagick's ``import``
when it is installed, else with Qt (``QScreen.grabWindow`` of the root
window) from another process (the progress display: by Qt, from the
window's own process).  Set CASALOGGER_SCREENSHOT_DIR to keep the PNGs.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from casashell.logsink import append_text, format_lines  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WIDTH, HEIGHT = 1280, 800
XCB_PACKAGES = ("libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 "
                "libxcb-render-util0 libxcb-shape0 libxcb-xfixes0 libxcb-xinerama0 "
                "libxcb-xkb1 libxkbcommon-x11-0 libgl1 libfontconfig1 libdbus-1-3 "
                "fonts-dejavu-core")


def _free_display() -> int:
    for n in range(91, 400):
        if not os.path.exists(f"/tmp/.X{n}-lock") and not os.path.exists(
                f"/tmp/.X11-unix/X{n}"):
            return n
    raise RuntimeError("no free X display number")


@pytest.fixture
def xvfb():
    exe = shutil.which("Xvfb")
    if exe is None:
        pytest.fail("Xvfb is not installed: the screenshot test needs it. Install it "
                    "with `apt-get install xvfb` (Debian/Ubuntu) or `dnf install "
                    "xorg-x11-server-Xvfb` (Fedora/RHEL)")
    n = _free_display()
    proc = subprocess.Popen([exe, f":{n}", "-screen", "0", f"{WIDTH}x{HEIGHT}x24",
                             "-nolisten", "tcp"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.time() + 10
    while time.time() < deadline and not os.path.exists(f"/tmp/.X11-unix/X{n}"):
        if proc.poll() is not None:
            pytest.fail(f"Xvfb :{n} did not start: {proc.stderr.read().decode()[-500:]}")
        time.sleep(0.05)
    yield f":{n}"
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def session_log(tmp_path, data_dir):
    """The log of a real casa session (our shell, on a real MS)."""
    ms = os.path.join(data_dir, "1090008640_birli_pyuvdata.ms")
    code = (f"listobs(vis={ms!r})\n"
            "casalog.post('Zero-flux model for field 0: check the calibrator', 'WARN')\n"
            "flagdata(vis='missing.ms')\n")
    env = dict(os.environ, HOME=str(tmp_path), PYTHONPATH=ROOT)
    env.pop("DISPLAY", None)
    out = subprocess.run([sys.executable, "-m", "casashell", "--nologger", "-c", code],
                         cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120)
    logs = sorted(tmp_path.glob("casa-*.log"))
    assert logs, f"casa wrote no log: {out.stdout[-800:]} {out.stderr[-800:]}"
    path = logs[-1]
    text = path.read_text()
    assert "\tSEVERE\tflagdata::::casa\t" in text and "\tWARN\t" in text, text[-2000:]
    assert "listobs::::casa+\t" in text
    # a note, as the window's Insert Message writes it
    append_text(str(path), format_lines("Looked at the listobs output: fine", "NOTE",
                                        "astronomer"))
    append_text(str(path), format_lines("session goes on", "INFO", "::casa"))
    return path


def _count(img, rgb, tol=6):
    """Pixels of a QImage within ``tol`` of the colour ``rgb`` (sampled)."""
    import numpy as np
    from PyQt5.QtGui import QImage
    img = img.convertToFormat(QImage.Format_RGB888)
    ptr = img.constBits()
    ptr.setsize(img.height() * img.bytesPerLine())
    a = np.frombuffer(ptr, np.uint8).reshape(img.height(), img.bytesPerLine())
    a = a[:, :img.width() * 3].reshape(img.height(), img.width(), 3).astype(int)
    return int((np.abs(a - np.array(rgb)).max(axis=2) <= tol).sum())


def test_screenshot_of_the_window_on_a_real_session_log(xvfb, session_log, tmp_path,
                                                       qapp):
    from PyQt5.QtGui import QImage
    status = tmp_path / "status.txt"
    env = dict(os.environ, DISPLAY=xvfb, QT_QPA_PLATFORM="xcb", PYTHONPATH=ROOT,
               XDG_CONFIG_HOME=str(tmp_path / "config"), CASALOGGER_STATUS=str(status),
               XDG_RUNTIME_DIR=str(tmp_path))
    env.pop("WAYLAND_DISPLAY", None)
    logger = subprocess.Popen([sys.executable, "-m", "casalogger_gui", str(session_log)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 30
        while time.time() < deadline and not (status.exists() and status.read_text()):
            if logger.poll() is not None:
                err = logger.stderr.read().decode()[-1500:]
                pytest.fail("casalogger could not open a window on Xvfb "
                            f"(exit {logger.returncode}): {err}\nQt's xcb plugin needs "
                            f"these libraries: apt-get install {XCB_PACKAGES}")
            time.sleep(0.05)
        first = status.read_text().splitlines()[0].split("\t")
        assert first[:2] == ["open", str(session_log)]
        nrows = int(first[2])
        assert nrows > 20
        time.sleep(1.0)                       # let it paint
        shot = tmp_path / "casalogger.png"
        if shutil.which("import"):
            subprocess.run(["import", "-display", xvfb, "-window", "root", str(shot)],
                           check=True, timeout=30)
        else:           # grab the X server's root window with Qt instead
            grab = ("import sys\nfrom PyQt5.QtWidgets import QApplication\n"
                    "app = QApplication([])\n"
                    "app.primaryScreen().grabWindow(0).save(sys.argv[1])\n")
            subprocess.run([sys.executable, "-c", grab, str(shot)], env=env,
                           check=True, timeout=30)
        img = QImage(str(shot))
        assert (img.width(), img.height()) == (WIDTH, HEIGHT)
        severe = _count(img, (0xff, 0x9c, 0x9c))
        warn = _count(img, (0xff, 0xc5, 0x6e))
        note = _count(img, (0xc6, 0xe2, 0xff))
        white = _count(img, (255, 255, 255), tol=0)
        # one row of ~1000 x 20 pixels each at least; the table is mostly white
        assert severe > 5000, severe
        assert warn > 5000, warn
        assert note > 5000, note
        assert white > 0.25 * WIDTH * HEIGHT, white
        keep = os.environ.get("CASALOGGER_SCREENSHOT_DIR")
        if keep:
            shutil.copy(shot, os.path.join(keep, "casalogger-screenshot.png"))
    finally:
        if logger.poll() is None:
            logger.send_signal(signal.SIGTERM)
        logger.wait(10)


_HELD = r"""
import json, os, sys, time
from PyQt5.QtCore import QSettings
from PyQt5.QtWidgets import QApplication, QStyleFactory
app = QApplication(["casalogger"])
from casalogger_gui.window import LogWindow
LogWindow.slice_bytes = int(sys.argv[2])
w = LogWindow(sys.argv[1], settings=QSettings(sys.argv[3], QSettings.IniFormat))
w._timer.stop()            # hold the window in the middle of the indexing
w._load_timer.stop()
fusion = QStyleFactory.create("Fusion")
w.progress.setStyle(fusion)
w.resize(1000, 600)
w.move(0, 0)
w.show()
t = time.time()
while time.time() < t + 60 and not (w.windowHandle() is not None
                                    and w.windowHandle().isExposed()):
    app.processEvents()                # until the X server maps the window
    time.sleep(0.02)
for _ in range(20):
    app.processEvents()
    time.sleep(0.02)
w.repaint()                            # painted and sent to the X server now,
app.processEvents()                    # before the grab on the same connection
app.primaryScreen().grabWindow(0).save(sys.argv[4])
top = w.progress.mapToGlobal(w.progress.rect().topLeft())
print(json.dumps({"x": top.x(), "y": top.y(), "w": w.progress.width(),
                  "h": w.progress.height(), "value": w.progress.value(),
                  "visible": w.progress.isVisible(), "label": w.status_label.text(),
                  "rows": w.model.rowCount(), "loading": w.loading}))
"""


def test_screenshot_of_the_progress_display_while_indexing(xvfb, tmp_path, qapp):
    """A big log held in the middle of its indexing, on a real X server: the
    progress bar is on screen, filled to the part read."""
    import json
    from PyQt5.QtGui import QImage
    path = tmp_path / "big.log"
    text = "".join(format_lines(f"message {i} about scan {i % 9}", "INFO", "::casa",
                                1795000000 + i) for i in range(20000))
    path.write_text(text)
    size = len(text.encode())
    shot = tmp_path / "progress.png"
    env = dict(os.environ, DISPLAY=xvfb, QT_QPA_PLATFORM="xcb", PYTHONPATH=ROOT,
               XDG_RUNTIME_DIR=str(tmp_path))
    env.pop("WAYLAND_DISPLAY", None)
    out = subprocess.run([sys.executable, "-c", _HELD, str(path), str(size * 4 // 10),
                          str(tmp_path / "s.ini"), str(shot)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    read = size * 4 // 10
    nrows = text.encode()[:read].count(b"\n")
    assert got["loading"] and got["visible"] and 395 <= got["value"] <= 400
    assert got["rows"] == nrows
    assert got["label"] == (f"indexing {read / 1e6:.1f} MB of {size / 1e6:.1f} MB: "
                            f"{nrows:,} messages so far")
    img = QImage(str(shot))
    assert (img.width(), img.height()) == (WIDTH, HEIGHT)
    y = got["y"] + 4                  # above the percentage text

    def rgb(x):
        c = img.pixelColor(x, y)
        return (c.red(), c.green(), c.blue())

    def dist(a, b):
        return sum(abs(p - q) for p, q in zip(a, b))
    chunk = rgb(got["x"] + got["w"] // 5)            # inside the chunk (40%)
    empty = rgb(got["x"] + got["w"] * 9 // 10)       # past its end
    assert dist(chunk, empty) > 60, (chunk, empty)
    x = got["x"] + got["w"] // 5
    while dist(rgb(x + 1), chunk) < dist(rgb(x + 1), empty):
        x += 1
    assert abs((x - got["x"]) / got["w"] - 0.4) < 0.06
    keep = os.environ.get("CASALOGGER_SCREENSHOT_DIR")
    if keep:
        shutil.copy(shot, os.path.join(keep, "casalogger-progress.png"))
