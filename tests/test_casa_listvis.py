"""listvis measured against live CASA 6.7 (MSLister), line by line.

One CASA run writes CASA's listing for several parameter sets on a copy of
pyuvdata's day2_TDEM0003_10s_norx_1scan.ms; ours writes the same, and the
two must be the same text byte for byte (one row per chunk with per-chunk
column widths, fully flagged all-zero rows, pages, a single channel, the
correlation order, pagerows=0).
"""

from __future__ import annotations

import os
import shutil

import pytest

from casa_ref import requires_casa, run_casa
from conftest import DATA_DIR

pytestmark = requires_casa

MS = "day2_TDEM0003_10s_norx_1scan.ms"
CASES = {
    "chan_range": dict(spw="0:0~2", antenna="1&2"),
    "one_corr_pages": dict(spw="0:0~3", antenna="1", correlation="RR", pagerows=5),
    "all_chans": dict(spw="1", antenna="2&3"),
    "one_chan_all_baselines": dict(spw="0:5", pagerows=100),
    "no_pages": dict(spw="1:10~11", antenna="1&2;2&3", pagerows=0),
    "corr_order": dict(spw="1:0~1", antenna="1&2", correlation="LL,RL", pagerows=4),
    "scan_uvrange": dict(spw="0:7", scan="1", uvrange="0~300m", correlation="LL"),
    "both_spws": dict(spw="", antenna="1&2", pagerows=20),
    "two_ranges": dict(spw="0:0~1;5~6", antenna="3&4"),
    "one_chan_two_spws": dict(spw="0:2,1:3", antenna="3&4", correlation="RL"),
    "step_timerange": dict(spw="0:0~10^5", antenna="1&2", timerange="03:22:00~03:22:40"),
}


@pytest.fixture(scope="module")
def listings(tmp_path_factory):
    d = tmp_path_factory.mktemp("casa_listvis")
    shutil.copytree(os.path.join(DATA_DIR, MS), d / MS)
    os.mkdir(d / "casa")
    os.mkdir(d / "ours")
    run_casa(f"""
        from casatasks import listvis
        result = {{}}
        for name, p in {CASES!r}.items():
            listvis(vis={MS!r}, listfile='casa/' + name + '.txt', **p)
            result[name] = True
        """, cwd=str(d))
    from casashell.tasks import listvis
    out = {}
    for name, p in CASES.items():
        listvis(vis=str(d / MS), listfile=str(d / "ours" / f"{name}.txt"), **p)
        out[name] = (open(d / "casa" / f"{name}.txt").read(),
                     open(d / "ours" / f"{name}.txt").read())
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_listing_is_casas_text(listings, name):
    casa, ours = listings[name]
    assert casa.count("\n") > 8
    assert ours.splitlines() == casa.splitlines()
    assert ours == casa
