"""plotms / plotants started with showgui=True where there is no display (QA report 2
#4): a WARN says nothing is shown and how to get a file; with a plot file only INFO."""

from __future__ import annotations

import os

import pytest

from casashell.logsink import casalog
from casashell.tasks import plotants, plotms
from conftest import DATA_DIR

MS = os.path.join(DATA_DIR, "day2_TDEM0003_10s_norx_1src_1spw.ms")
WARN = ("WARN\tplotants::::casa\tno display (or nogui/agg is set): nothing is shown; "
        "give plotfile= (plotms) or figfile= (plotants) to write the plot to a file")


@pytest.fixture
def no_display(monkeypatch):
    for k in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(k, raising=False)
    from casashell import plotting
    assert not plotting.display_available()


def _log():
    with open(casalog.logfile()) as f:
        return f.read()


def test_plotants_without_figfile_warns(no_display, tmp_path):
    assert plotants(vis=MS) is None
    log = _log()
    assert WARN in log, log[-2000:]
    png = tmp_path / "a.png"
    plotants(vis=MS, figfile=str(png))
    log2 = _log()[len(log):]
    assert png.is_file()
    assert "\tWARN\t" not in log2
    assert "INFO\tplotants::::casa\tno display (or nogui/agg is set): the plot is drawn off " \
           "screen" in log2


def test_plotms_without_plotfile_warns(no_display, tmp_path):
    plotms(vis=MS, xaxis="time", yaxis="amp")
    log = _log()
    assert WARN.replace("plotants::", "plotms::") in log, log[-2000:]
    png = tmp_path / "p.png"
    plotms(vis=MS, xaxis="time", yaxis="amp", plotfile=str(png))
    log2 = _log()[len(log):]
    assert png.is_file() and "\tWARN\t" not in log2
    assert "the plot is drawn off screen" in log2
