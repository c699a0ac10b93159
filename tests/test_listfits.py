"""listfits: every header card of every HDU goes to the log."""

from __future__ import annotations

import os

import numpy as np
import pytest
from astropy.io import fits

from casashell.logsink import casalog
from casashell.tasks import listfits

from conftest import DATA_DIR


def _log():
    return open(casalog.logfile()).read()


def _messages(text):
    """The message part of every log line (after the third tab)."""
    return [line.split("\t", 3)[3] for line in text.splitlines() if line.count("\t") >= 3]


@pytest.mark.parametrize("name", ["day2_TDEM0003_10s_norx_1scan.uvfits",
                                  "corrected2_zen.2458106.28114.ant012.HH.uvfits",
                                  "HERABEAM.FITS"])
def test_every_card_of_every_hdu(name):
    path = os.path.join(DATA_DIR, name)
    assert listfits(fitsfile=path) is None
    msgs = _messages(_log())
    with fits.open(path) as hl:
        n = len(hl)
        heads = [m for m in msgs if m.startswith("HDU ")]
        assert len(heads) == n
        for i, h in enumerate(hl):
            assert heads[i].startswith(f"HDU {i}: {type(h).__name__}")
            for card in h.header.cards:
                assert str(card).rstrip() in msgs, (i, str(card))
    assert f"{path}: {n} HDU(s)" in msgs


def test_summary_lines_for_groups_and_tables():
    path = os.path.join(DATA_DIR, "day2_TDEM0003_10s_norx_1scan.uvfits")
    listfits(fitsfile=path)
    msgs = _messages(_log())
    assert "HDU 0: GroupsHDU PRIMARY NAXIS=7 0x3x4x64x2x1x1, 1414 groups of 7 parameters" in msgs
    assert "HDU 2: BinTableHDU AIPS AN NAXIS=2 62x19, 19 rows x 12 columns" in msgs


def test_image_written_here(tmp_path):
    path = tmp_path / "im.fits"
    h = fits.PrimaryHDU(np.zeros((3, 5), np.float32))
    h.header["OBJECT"] = "M87"
    h.header.add_history("made by the test")
    h.writeto(path)
    listfits(fitsfile=str(path))
    msgs = _messages(_log())
    assert "HDU 0: PrimaryHDU PRIMARY NAXIS=2 5x3" in msgs
    assert "OBJECT  = 'M87     '" in msgs
    assert "HISTORY made by the test" in msgs


def test_errors(tmp_path):
    bad = tmp_path / "x.fits"
    bad.write_text("not fits at all")
    with pytest.raises(OSError, match="not a FITS file"):
        listfits(fitsfile=str(bad))
    with pytest.raises(OSError, match="is a directory"):
        listfits(fitsfile=str(tmp_path))
    with pytest.raises(AssertionError, match="does not exist"):
        listfits(fitsfile=str(tmp_path / "none.fits"))
