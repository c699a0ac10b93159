"""vishead: list, summary, get and put on copies of pyuvdata's MSs."""

from __future__ import annotations

import os

import numpy as np
import pytest
from casacore import tables as ct

from casashell.tasks import vishead

MS = "day2_TDEM0003_10s_norx_1scan.ms"


def _col(path, sub, col):
    with ct.table(os.path.join(path, sub), ack=False) as t:
        return t.getcol(col)


def test_get_values_equal_the_subtables(data_dir):
    path = os.path.join(data_dir, MS)
    value, kws = vishead(vis=path, mode="get", hdkey="field")
    assert list(value) == list(_col(path, "FIELD", "NAME")) == ["J1008+0730"]
    assert vishead(vis=path, mode="get", hdkey="field", hdindex="0")[0] == "J1008+0730"
    assert list(vishead(vis=path, mode="get", hdkey="telescope")[0]) == ["EVLA"]
    assert list(vishead(vis=path, mode="get", hdkey="spw_name")[0]) == ["none", "none"]
    assert list(vishead(vis=path, mode="get", hdkey="source_name")[0]) == ["J1008+0730"] * 2
    ptcs, kws = vishead(vis=path, mode="get", hdkey="ptcs")
    # CASA's form: rows as 'r1', ..., each cell column-major with a trailing row axis
    pd = _col(path, "FIELD", "PHASE_DIR")           # (nrow, 1, 2) in casacore's order
    assert sorted(ptcs) == ["r1"] and ptcs["r1"].shape == (2, 1, 1)
    assert np.array_equal(ptcs["r1"][:, 0, 0], pd[0, 0])
    cell, _ = vishead(vis=path, mode="get", hdkey="ptcs", hdindex="0")
    assert cell.shape == (2, 1) and np.array_equal(cell[:, 0], pd[0, 0])
    log, _ = vishead(vis=path, mode="get", hdkey="log")
    assert log == {"r1": False}                      # an undefined cell
    with pytest.raises(RuntimeError, match="no array"):
        vishead(vis=path, mode="get", hdkey="log", hdindex="0")
    assert kws["MEASINFO"]["Ref"] == "J2000" and kws["QuantumUnits"] == ["rad", "rad"]
    rd, kws = vishead(vis=path, mode="get", hdkey="release_date", hdindex=0)
    assert rd == _col(path, "OBSERVATION", "RELEASE_DATE")[0]
    assert kws["QuantumUnits"] == ["s"]


def test_list_mode_returns_and_logs_every_keyword(data_dir):
    from casashell.logsink import casalog
    path = os.path.join(data_dir, MS)
    out = vishead(vis=path, mode="list", listitems=[])
    assert sorted(out) == ["cal_grp", "field", "fld_code", "freq_group_name", "log",
                           "observer", "project", "ptcs", "release_date", "schedule",
                           "schedule_type", "source_name", "spw_name", "telescope"]
    assert list(out["observer"][0]) == ["Mark J. Mark Claussen"]
    assert list(out["cal_grp"][0]) == list(_col(path, "SOURCE", "CALIBRATION_GROUP"))
    default = vishead(vis=path, mode="list")
    assert list(default) == ["telescope", "observer", "project", "field", "freq_group_name",
                             "spw_name", "schedule", "schedule_type", "release_date"]
    log = open(casalog.logfile()).read()
    # CASA 6.7's text (its log for this MS): one `key: value` line per keyword
    for line in ["observer: [np.str_('Mark J. Mark Claussen')]",
                 "telescope: [np.str_('EVLA')]", "cal_grp: [np.int64(-1), np.int64(-1)]",
                 "ptcs: ['J2000 10:08:00.02 +007.30.16.564']",
                 "release_date: 2010/04/26/03:21:56", "log: False", "schedule: False"]:
        assert f"\tvishead::::casa\t{line}\n" in log, line


def test_list_mode_missing_table_is_undefined(data_dir, tmp_path):
    import shutil
    from casashell.logsink import casalog
    path = str(tmp_path / "nosource.ms")
    shutil.copytree(os.path.join(data_dir, MS), path)
    shutil.rmtree(os.path.join(path, "SOURCE"))
    out = vishead(vis=path, mode="list", listitems=["telescope", "source_name", "cal_grp"])
    assert list(out) == ["telescope"]            # as CASA: undefined keywords left out
    log = open(casalog.logfile()).read()
    assert "\tsource_name: <undefined>\n" in log and "\tcal_grp: <undefined>\n" in log


def test_summary_is_listobs_terse(data_dir):
    from casashell.logsink import casalog
    vishead(vis=os.path.join(data_dir, MS), mode="summary")
    log = open(casalog.logfile()).read()
    assert "Observation: EVLA(28 antennas)" in log
    assert "Antennas: 18 'name'='station' " in log
    assert "ObservationID" not in log


def test_put_changes_the_ms(ms_copy):
    path = ms_copy(MS)
    vishead(vis=path, mode="put", hdkey="field", hdindex="0", hdvalue="3C286")
    assert list(_col(path, "FIELD", "NAME")) == ["3C286"]
    vishead(vis=path, mode="put", hdkey="telescope", hdvalue=["VLA"])
    assert list(_col(path, "OBSERVATION", "TELESCOPE_NAME")) == ["VLA"]
    vishead(vis=path, mode="put", hdkey="spw_name", hdvalue=["A", "B"])
    assert list(_col(path, "SPECTRAL_WINDOW", "NAME")) == ["A", "B"]
    vishead(vis=path, mode="put", hdkey="release_date", hdindex="0", hdvalue=5e9)
    assert _col(path, "OBSERVATION", "RELEASE_DATE")[0] == 5e9
    new = np.array([[[1.0, -0.5]]])
    vishead(vis=path, mode="put", hdkey="ptcs", hdindex="0", hdvalue=new[0])
    assert np.array_equal(_col(path, "FIELD", "PHASE_DIR"), new)


def test_put_refuses_unknown_keywords_and_bad_values(ms_copy):
    path = ms_copy(MS)
    with pytest.raises(ValueError, match="hdkey 'antenna_name' is not a vishead keyword"):
        vishead(vis=path, mode="put", hdkey="antenna_name", hdvalue="x")
    with pytest.raises(ValueError, match="hdindex 4 is out of range: the FIELD table has 1 rows"):
        vishead(vis=path, mode="put", hdkey="field", hdindex="4", hdvalue="x")
    with pytest.raises(ValueError, match="hdvalue has 1 elements but the SPECTRAL_WINDOW table"):
        vishead(vis=path, mode="put", hdkey="spw_name", hdvalue=["only one"])
    with pytest.raises(ValueError, match="cannot be stored in OBSERVATION.RELEASE_DATE"):
        vishead(vis=path, mode="put", hdkey="release_date", hdindex=0, hdvalue="tomorrow")
    with pytest.raises(ValueError, match="needs hdkey"):
        vishead(vis=path, mode="get")
    assert list(_col(path, "FIELD", "NAME")) == ["J1008+0730"]


def test_bad_input(tmp_path):
    with pytest.raises(AssertionError, match="nosuch.ms"):
        vishead(vis=str(tmp_path / "nosuch.ms"))
    with pytest.raises(OSError, match="is not a table"):
        vishead(vis=str(tmp_path))
    with pytest.raises(AssertionError, match="mode"):
        vishead(vis=str(tmp_path), mode="delete")


def test_empty_mode_lists(data_dir):
    """CASA 6.7: mode='' is mode='list' (it returns the default listitems' dict)."""
    out = vishead(vis=os.path.join(data_dir, MS), mode="")
    assert list(out) == ["telescope", "observer", "project", "field", "freq_group_name",
                         "spw_name", "schedule", "schedule_type", "release_date"]
