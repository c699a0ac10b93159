"""imhead(mode='summary') measured against live CASA 6.7: the whole returned
dictionary (hasmask, tileshape, masks, ...) for FITS images of many shapes and
both pixel types, pyuvdata's HERABEAM.FITS, and a CASA image CASA wrote."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from casa_ref import requires_casa, run_casa
from conftest import DATA_DIR

pytestmark = requires_casa

SHAPES = [(512, 512, 1, 1), (1024, 1024, 1, 1), (256, 256, 64, 1), (64, 64, 512, 1),
          (300, 200, 10, 2), (50, 40, 1000, 4), (7, 9, 11, 13), (128, 128, 128, 4),
          (1000, 1000), (33, 33, 33)]


def _plain(v):
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, np.ndarray):
        return _plain(v.tolist())
    if isinstance(v, np.generic):
        return v.item()
    return v


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    from astropy.io import fits
    d = tmp_path_factory.mktemp("casa_imhead")
    names = []
    for i, shape in enumerate(SHAPES):
        for kind, dtype in (("f", np.float32), ("i", np.int16)):
            name = f"{kind}{i}.fits"
            fits.PrimaryHDU(np.zeros(shape[::-1], dtype=dtype)).writeto(d / name)
            names.append(name)
    shutil.copy(os.path.join(DATA_DIR, "HERABEAM.FITS"), d / "HERABEAM.FITS")
    names.append("HERABEAM.FITS")
    casa = run_casa(f"""
from casatasks import imhead, importfits
importfits(fitsimage='f2.fits', imagename='cube.im')
names = {names!r} + ['cube.im']
result = {{n: imhead(imagename=n, mode='summary') for n in names}}
""", str(d))
    return d, casa


def test_summary_dicts_equal_casa(images):
    from casashell.tasks import imhead
    d, casa = images
    assert len(casa) == 2 * len(SHAPES) + 2
    for name, theirs in casa.items():
        ours = _plain(imhead(imagename=str(d / name), mode="summary"))
        assert sorted(ours) == sorted(theirs), name
        for key, value in theirs.items():
            if isinstance(value, list) and value and isinstance(value[0], float):
                assert np.allclose(ours[key], value, rtol=1e-12, atol=0), (name, key)
            else:
                assert ours[key] == value, (name, key, ours[key], value)


def test_fits_tile_shapes_and_masks(images):
    """The values themselves, so a change on both sides cannot pass unseen."""
    d, casa = images
    assert casa["f0.fits"]["tileshape"] == [512, 64, 1, 1]
    assert casa["f5.fits"]["tileshape"] == [50, 40, 20, 1]
    assert casa["f0.fits"]["hasmask"] is True and casa["i0.fits"]["hasmask"] is False
    assert casa["cube.im"]["tileshape"] == [64, 32, 16, 1]
