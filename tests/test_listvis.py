"""listvis: values in the table against the MS read here with casacore."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from casacore import tables as ct

from casashell.tasks import listvis

MS = "day2_TDEM0003_10s_norx_1scan.ms"
C = 299792458.0


def _main(path):
    with ct.table(path, ack=False) as t:
        return {c: t.getcol(c) for c in ("ANTENNA1", "ANTENNA2", "DATA_DESC_ID", "DATA",
                                         "FLAG", "WEIGHT", "UVW", "TIME")}


def _freqs(path, spw):
    with ct.table(os.path.join(path, "SPECTRAL_WINDOW"), ack=False) as t:
        return t.getcell("CHAN_FREQ", spw)


def _body(text):
    """The data lines of a listing."""
    return [ln for ln in text.splitlines() if len(ln) > 12 and ln[2:12].count(":") == 2
            and ln[:2] == "  "]


def _split(line):
    """(leading fields before ':', the fields after it) of a data line."""
    left, right = line[12:].split(":", 1)
    return left.split(), right.split()


def test_values_of_one_baseline(data_dir, tmp_path):
    path = os.path.join(data_dir, MS)
    m = _main(path)
    sel = (m["ANTENNA1"] == 0) & (m["ANTENNA2"] == 1) & (m["DATA_DESC_ID"] == 0)
    rows = np.flatnonzero(sel)
    with ct.table(os.path.join(path, "SPECTRAL_WINDOW"), ack=False) as t:
        ref = t.getcol("REF_FREQUENCY")[0]
    lf = tmp_path / "v.txt"
    listvis(vis=path, antenna="1&2", spw="0:5~7", listfile=str(lf))
    text = lf.read_text()
    lines = text.splitlines()
    assert lines[0] == ("Units of columns are: Date/Time(YYMMDD/HH:MM:SS UT), "
                        "UVDist(wavelength), Phase(deg), UVW(m)")
    assert "FIELD: 0" in lines[:6] and "SPW: 0" in lines[:6]
    body = _body(text)
    assert len(body) == len(rows) * 3
    for k, line in enumerate(body):
        r, ch = rows[k // 3], 5 + k % 3
        left, right = _split(line)
        assert left[0] == "1-2"                              # antenna names
        uvd = math.hypot(*m["UVW"][r][:2]) * ref / C
        assert abs(float(left[1]) - uvd) <= 0.5 + 1e-6      # wavelengths, no decimals
        assert int(left[2]) == ch
        for j in range(4):
            v = m["DATA"][r, ch, j]
            assert float(right[3 * j]) == pytest.approx(abs(v), abs=5.1e-4)
            ph = float(right[3 * j + 1])
            assert abs((ph - math.degrees(np.angle(v)) + 180) % 360 - 180) <= 0.051
            assert float(right[3 * j + 2]) == pytest.approx(m["WEIGHT"][r, j], abs=0.5)
        for u in range(3):
            assert float(right[12 + u]) == pytest.approx(m["UVW"][r, u], abs=0.0051)
    t0 = m["TIME"][rows[0]]
    assert body[0][:12] == "  %02d:%02d:%04.1f" % (
        (t0 % 86400) // 3600, (t0 % 3600) // 60, round(t0 % 60, 1))
    # the column header: correlations, then the date and the column names
    i = lines.index(body[0])
    assert lines[i - 3].split() == ["Date/Time:", "RR:", "RL:", "LR:", "LL:"]
    assert lines[i - 2].split()[:4] == ["2010/04/26/", "Intrf", "UVDist", "Chn"]
    assert set(lines[i - 1]) == {"-", "|"} and lines[-1] == lines[i - 1]


def test_correlation_order_and_one_channel(data_dir, tmp_path):
    path = os.path.join(data_dir, MS)
    m = _main(path)
    rows = np.flatnonzero((m["ANTENNA1"] == 0) & (m["ANTENNA2"] == 1)
                          & (m["DATA_DESC_ID"] == 1))
    lf = tmp_path / "v.txt"
    listvis(vis=path, antenna="1&2", spw="1:3", correlation="LL,RR", listfile=str(lf))
    text = lf.read_text()
    assert "CHANNEL: 3" in text.splitlines()[:6]
    body = _body(text)
    assert len(body) == len(rows)
    for line, r in zip(body, rows):
        left, right = _split(line)
        assert len(left) == 2                           # no Chn column
        assert float(right[0]) == pytest.approx(abs(m["DATA"][r, 3, 3]), abs=5.1e-4)
        assert float(right[3]) == pytest.approx(abs(m["DATA"][r, 3, 0]), abs=5.1e-4)
    hdr = [ln for ln in text.splitlines() if ln.startswith("Date/Time:")][0]
    assert hdr.split() == ["Date/Time:", "LL:", "RR:"]


def test_paging_and_stdout(data_dir, capsys):
    path = os.path.join(data_dir, MS)
    listvis(vis=path, antenna="1&2", spw="1:0~9", pagerows=7)
    out = capsys.readouterr().out
    body = _body(out)
    assert len(body) == 9 * 10
    # one baseline within 5 minutes: one chunk, a column header every 7 lines
    assert out.count("Units of columns are") == 1
    assert out.count("2010/04/26/ Intrf") == math.ceil(90 / 7)


def test_one_chunk_per_row_for_many_baselines(data_dir, capsys):
    path = os.path.join(data_dir, MS)
    m = _main(path)
    nrow = int(np.count_nonzero((m["ANTENNA1"] == 0) & (m["DATA_DESC_ID"] == 0)))
    listvis(vis=path, antenna="1", spw="0:0", pagerows=0)
    out = capsys.readouterr().out
    assert len(_body(out)) == nrow
    assert out.count("Units of columns are") == nrow
    # the first chunk's header has no date yet (CASA's pagerows=0 header)
    assert out.splitlines()[out.splitlines().index("CHANNEL: 0") + 2].startswith("/ ")


def test_listfile_not_overwritten(data_dir, tmp_path):
    lf = tmp_path / "v.txt"
    lf.write_text("mine\n")
    with pytest.raises(FileExistsError, match="v.txt"):
        listvis(vis=os.path.join(data_dir, MS), antenna="1&2", listfile=str(lf))
    assert lf.read_text() == "mine\n"
    listvis(vis=os.path.join(data_dir, MS), antenna="1&2", spw="0:0", listfile=str(lf),
            overwrite=True)
    assert len(_body(lf.read_text())) == 9


def test_bad_input(data_dir, tmp_path):
    path = os.path.join(data_dir, MS)
    with pytest.raises(ValueError, match="has no CORRECTED_DATA column"):
        listvis(vis=path, datacolumn="residual", listfile=str(tmp_path / "a.txt"))
    assert not (tmp_path / "a.txt").exists()
    with pytest.raises(ValueError, match="field"):
        listvis(vis=path, field="NOPE")
    with pytest.raises(AssertionError, match="datacolumn"):
        listvis(vis=path, datacolumn="weird")
    with pytest.raises(AssertionError, match="nosuch.ms"):
        listvis(vis=str(tmp_path / "nosuch.ms"))
