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
    return [ln for ln in text.splitlines() if ln[:4].isdigit() and "/" in ln[:11]]


def test_values_of_one_baseline(data_dir, tmp_path):
    path = os.path.join(data_dir, MS)
    m = _main(path)
    sel = (m["ANTENNA1"] == 0) & (m["ANTENNA2"] == 1) & (m["DATA_DESC_ID"] == 0)
    rows = np.flatnonzero(sel)
    lf = tmp_path / "v.txt"
    listvis(vis=path, antenna="1&2", spw="0:5~7", listfile=str(lf), pagerows=0)
    text = lf.read_text()
    assert "All listed data are of field 0 (J1008+0730): the Fld column is omitted" in text
    assert "All listed data are in spectral window 0: the SpW column is omitted" in text
    body = _body(text)
    assert len(body) == len(rows) * 3
    freqs = _freqs(path, 0)
    for k, line in enumerate(body):
        r, ch = rows[k // 3], 5 + k % 3
        f = line.split()
        assert f[1] == "1-2"
        assert float(f[2]) == pytest.approx(math.hypot(*m["UVW"][r][:2]) * freqs[ch] / C,
                                            abs=0.051)
        assert int(f[3]) == ch
        vals = line[52:]
        for j in range(4):
            cell = vals[j * 33:(j + 1) * 33]
            v = m["DATA"][r, ch, j]
            assert float(cell[2:13]) == pytest.approx(abs(v), abs=5e-6)
            assert float(cell[14:21]) == pytest.approx(math.degrees(np.angle(v)), abs=0.051)
            assert float(cell[22:31]) == pytest.approx(m["WEIGHT"][r, j], rel=1e-3)
            assert (cell[32] == "F") == bool(m["FLAG"][r, ch, j])
    # the time stamp of the first line
    t0 = m["TIME"][rows[0]]
    assert body[0].startswith("2010/04/26/03:21:5")
    assert body[0][:21] == "2010/04/26/" + "%02d:%02d:%04.1f" % (
        (t0 % 86400) // 3600, (t0 % 3600) // 60, t0 % 60)


def test_average_chan_and_correlation(data_dir, tmp_path):
    path = os.path.join(data_dir, MS)
    m = _main(path)
    sel = (m["ANTENNA1"] == 0) & (m["ANTENNA2"] == 1)
    rows = np.flatnonzero(sel)
    lf = tmp_path / "v.txt"
    listvis(vis=path, antenna="1&2", correlation="LL", average="chan", listfile=str(lf))
    body = _body(lf.read_text())
    assert len(body) == len(rows)
    for line, r in zip(body, rows):
        d = m["DATA"][r, :, 3]
        good = ~m["FLAG"][r, :, 3]
        mean = d[good].mean() if good.any() else d.mean()
        f = line.split()
        assert int(f[3]) == m["DATA_DESC_ID"][r]          # the SpW column
        assert float(f[4]) == pytest.approx(abs(mean), abs=5e-6)


def test_paging_and_stdout(data_dir, capsys):
    path = os.path.join(data_dir, MS)
    listvis(vis=path, antenna="1&2", spw="1:0~9", pagerows=7)
    out = capsys.readouterr().out
    body = _body(out)
    assert len(body) == 9 * 10
    assert out.count("Date/Time (UTC)") == math.ceil(90 / 7)


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
