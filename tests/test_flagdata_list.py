"""flagdata mode='list': command strings and files, bad lines, reason and tbuff."""

from __future__ import annotations

import os

import numpy as np
import pytest
from casacore import tables as ct

from casashell.tasks import flagdata

MS_NAME = "day2_TDEM0003_10s_norx_1scan.ms"


def cols(vis, *names):
    with ct.table(vis, ack=False) as t:
        return [t.getcol(n) for n in names]


def _mjd_of_day(tm):
    """Seconds of the UTC day of each MJD-second time stamp."""
    return np.mod(tm, 86400.0)


def test_list_of_strings_each_line_its_own_mode(ms_copy):
    vis = ms_copy(MS_NAME)
    f0, a1, a2, data, dd = cols(vis, "FLAG", "ANTENNA1", "ANTENNA2", "DATA", "DATA_DESC_ID")
    with ct.table(os.path.join(vis, "ANTENNA"), ack=False) as t:
        names = list(t.getcol("NAME"))
    cmds = ["antenna='3' spw='0'",
            "",
            "# a comment line",
            "mode='clip' clipminmax=[0.0, 0.05] correlation='ABS_LL'",
            "mode='manual' spw='1:60~63'"]
    flagdata(vis=vis, mode="list", inpfile=cmds)
    (f1,) = cols(vis, "FLAG")
    expect = f0.copy()
    a = names.index("3")
    expect[((a1 == a) | (a2 == a)) & (a1 != a2) & (dd == 0)] = True
    amp = np.abs(data[:, :, 3])
    expect[:, :, 3] |= (amp < 0.0) | (amp > 0.05)
    expect[dd == 1, 60:64, :] = True
    np.testing.assert_array_equal(f1, expect)
    # the automatic backup holds the flags from before the whole list
    from casashell.ms.flagversions import FlagVersions
    fv = FlagVersions(vis)
    assert fv.names() == ["flagdata_1"]
    with ct.table(fv.table_path("flagdata_1"), ack=False) as t:
        np.testing.assert_array_equal(t.getcol("FLAG"), f0)


def test_list_file_with_timerange_and_summary(ms_copy, tmp_path):
    vis = ms_copy(MS_NAME)
    f0, tm = cols(vis, "FLAG", "TIME")
    path = tmp_path / "flags.txt"
    path.write_text("mode='manual' timerange='03:22:10~03:22:40' reason='RFI'\n"
                    "mode='summary' name='after'\n")
    res = flagdata(vis=vis, mode="list", inpfile=str(path))
    (f1,) = cols(vis, "FLAG")
    sod = _mjd_of_day(tm)
    lo = 3 * 3600 + 22 * 60 + 10
    hi = 3 * 3600 + 22 * 60 + 40
    hit = (sod >= lo) & (sod <= hi)
    assert 0 < hit.sum() < len(hit)
    assert f1[hit].all()
    np.testing.assert_array_equal(f1[~hit], f0[~hit])
    assert res["name"] == "after" and res["flagged"] == float(f1.sum())


def test_bad_line_reports_its_number_and_applies_nothing(ms_copy):
    vis = ms_copy(MS_NAME)
    (f0,) = cols(vis, "FLAG")
    cmds = ["antenna='1'", "spw='0:0~3'", "mode='clip' clipminmax=[0,1] antena='2'"]
    with pytest.raises(ValueError, match=r"line 3.*antena"):
        flagdata(vis=vis, mode="list", inpfile=cmds)
    (f1,) = cols(vis, "FLAG")
    np.testing.assert_array_equal(f0, f1)
    assert not os.path.exists(vis + ".flagversions")
    # a selection that matches nothing is also a bad line
    with pytest.raises(ValueError, match=r"line 2.*field"):
        flagdata(vis=vis, mode="list", inpfile=["antenna='1'", "field='NOSUCH'"])
    # an unterminated quote
    with pytest.raises(ValueError, match=r"line 1.*quote"):
        flagdata(vis=vis, mode="list", inpfile=["antenna='1"])
    (f2,) = cols(vis, "FLAG")
    np.testing.assert_array_equal(f0, f2)
    assert not os.path.exists(vis + ".flagversions")


def test_bad_line_in_file_names_file_and_line(ms_copy, tmp_path):
    vis = ms_copy(MS_NAME)
    path = tmp_path / "cmds.txt"
    path.write_text("antenna='1'\n\nmode='quack' quackmode='middle'\n")
    with pytest.raises(ValueError, match=r"cmds.txt line 3.*quackmode"):
        flagdata(vis=vis, mode="list", inpfile=str(path))


def test_reason_selects_lines(ms_copy):
    vis = ms_copy(MS_NAME)
    f0, dd = cols(vis, "FLAG", "DATA_DESC_ID")
    cmds = ["spw='0:5' reason='RFI'", "spw='0:6' reason='SHADOW'", "spw='0:7'"]
    flagdata(vis=vis, mode="list", inpfile=cmds, reason="RFI")
    (f1,) = cols(vis, "FLAG")
    expect = f0.copy()
    expect[dd == 0, 5, :] = True
    np.testing.assert_array_equal(f1, expect)


def test_tbuff_pads_timeranges(ms_copy):
    vis = ms_copy(MS_NAME)
    f0, tm = cols(vis, "FLAG", "TIME")
    sod = _mjd_of_day(tm)
    ut = np.unique(sod)
    # a range covering exactly one integration; tbuff reaches its neighbours
    mid = ut[len(ut) // 2]
    step = np.median(np.diff(ut))
    h, r = divmod(mid, 3600)
    m, s = divmod(r, 60)
    a = f"{int(h):02d}:{int(m):02d}:{s - 0.1:06.3f}"
    b = f"{int(h):02d}:{int(m):02d}:{s + 0.1:06.3f}"
    flagdata(vis=vis, mode="list", inpfile=[f"timerange='{a}~{b}'"], tbuff=step * 1.01)
    (f1,) = cols(vis, "FLAG")
    hit = np.abs(sod - mid) <= step * 1.01 + 0.1
    assert len(np.unique(sod[hit])) == 3
    assert f1[hit].all()
    np.testing.assert_array_equal(f1[~hit], f0[~hit])


def test_pad_timerange_forms():
    from casashell.ms.flagcmd import pad_timerange
    assert pad_timerange("03:22:10~03:22:40", 2) == "03:22:08.000~03:22:42.000"
    assert pad_timerange("2010/10/16/03:22:10~2010/10/16/23:59:59", [1, 2]) == \
        "2010/10/16/03:22:09.000~2010/10/17/00:00:01.000"


def test_parse_command_line_values():
    from casashell.ms.flagging import parse_command_line
    kv = parse_command_line("mode='clip' clipminmax=[0, 1.5] clipoutside=False "
                            "quackinterval=2 field=\"3C 286\" antenna=ea01")
    assert kv == {"mode": "clip", "clipminmax": [0, 1.5], "clipoutside": False,
                  "quackinterval": 2, "field": "3C 286", "antenna": "ea01"}
    assert parse_command_line("antenna='ea01' # a comment with key='x'") == {"antenna": "ea01"}
    assert parse_command_line("reason='a # not a comment'") == {"reason": "a # not a comment"}
    with pytest.raises(ValueError, match="twice"):
        parse_command_line("spw='0' spw='1'")
