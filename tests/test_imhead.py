"""imhead on a CASA image made here with python-casacore, and on its FITS copy.

Expected values come from casacore's own coordinate record and from astropy's
reading of the FITS header (independent of imhead's code)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from astropy.io import fits
from casacore import images, tables

from casashell.logsink import casalog
from casashell.tasks import imhead

ARCMIN = np.pi / 180 / 60


@pytest.fixture
def image(tmp_path):
    path = str(tmp_path / "cube.im")
    im = images.image(path, shape=[3, 2, 8, 10])   # freq, stokes, dec, ra (numpy order)
    data = np.arange(3 * 2 * 8 * 10, dtype=np.float32).reshape(3, 2, 8, 10) - 100.0
    data[1, 0, 4, 7] = 1000.0
    data[2, 1, 2, 3] = -500.0
    im.putdata(data)
    del im
    return path, data


def test_list_casa_image(image):
    path, data = image
    hdr = imhead(imagename=path, mode="list")
    rec = images.image(path).coordinates().dict()
    d, s, f = rec["direction0"], rec["stokes1"], rec["spectral2"]
    assert list(hdr["shape"]) == [10, 8, 2, 3]
    assert hdr["ctype1"] == "Right Ascension" and hdr["ctype2"] == "Declination"
    assert hdr["ctype3"] == "Stokes" and hdr["ctype4"] == "Frequency"
    # casacore stores this image's direction axes in arcmin; imhead keeps the
    # image's units, as CASA 6.7 does
    assert d["units"] == ["'", "'"]
    assert hdr["cunit1"] == hdr["cunit2"] == "'" and hdr["cunit4"] == "Hz"
    assert hdr["cdelt1"] == d["cdelt"][0] and hdr["cdelt2"] == d["cdelt"][1]
    assert hdr["crpix1"] == d["crpix"][0] and hdr["crpix2"] == d["crpix"][1]
    # a Stokes axis: the code of its first plane in list, the names in get
    assert hdr["crval3"] == 1.0
    assert list(imhead(imagename=path, mode="get", hdkey="crval3")) == list(s["stokes"]) \
        == ["I", "Q"]
    assert hdr["crval4"] == f["wcs"]["crval"] and hdr["cdelt4"] == f["wcs"]["cdelt"]
    assert hdr["datamax"] == 1000.0 and hdr["datamin"] == -500.0
    assert list(hdr["maxpixpos"]) == [7, 4, 0, 1]      # CASA axis order
    assert list(hdr["minpixpos"]) == [3, 2, 1, 2]
    # pixel (7, 4): two 1-arcmin pixels west of the reference (0, 0) on the equator
    assert hdr["maxpos"] == "23:59:52.000 +00.00.00.000 I 1.415e+09Hz"
    assert hdr["telescope"] == rec["telescope"] and hdr["observer"] == rec["observer"]
    assert hdr["equinox"] == "J2000" and hdr["projection"] == "SIN"
    assert hdr["restfreq"][0] == pytest.approx(f["restfreq"])
    log = open(casalog.logfile()).read()
    assert "datamax     = 1000.0" in log


def test_get_and_put_casa_image(image):
    path, _ = image
    assert imhead(imagename=path, mode="get", hdkey="crval4") == {
        "unit": "Hz", "value": pytest.approx(1.415e9)}
    assert imhead(imagename=path, mode="put", hdkey="object", hdvalue="3C286") is None
    imhead(imagename=path, mode="put", hdkey="bunit", hdvalue="Jy/beam")
    imhead(imagename=path, mode="put", hdkey="telescope", hdvalue="VLA")
    imhead(imagename=path, mode="put", hdkey="crval1", hdvalue="12:30:00")   # hours
    imhead(imagename=path, mode="put", hdkey="crval2", hdvalue="-30deg")
    imhead(imagename=path, mode="put", hdkey="beammajor", hdvalue="5arcsec")
    imhead(imagename=path, mode="put", hdkey="beamminor", hdvalue={"value": 3, "unit":
                                                                   "arcsec"})
    imhead(imagename=path, mode="put", hdkey="beampa", hdvalue="45deg")
    imhead(imagename=path, mode="put", hdkey="restfreq", hdvalue="1.42GHz")
    imhead(imagename=path, mode="put", hdkey="cdelt4", hdvalue="2kHz")
    # read back independently with casacore
    im = images.image(path)
    info = im.imageinfo()
    coords = im.coordinates().dict()
    assert info["objectname"] == "3C286"
    assert im.unit() == "Jy/beam"
    assert coords["telescope"] == "VLA"
    rb = info["restoringbeam"]
    assert rb["major"]["value"] == 5 and rb["minor"]["value"] == 3
    assert rb["positionangle"]["value"] == 45
    d = coords["direction0"]
    assert d["crval"][0] * ARCMIN == pytest.approx(np.pi * 12.5 / 12)
    assert d["crval"][1] * ARCMIN == pytest.approx(np.radians(-30))
    assert coords["spectral2"]["restfreq"] == pytest.approx(1.42e9)
    assert coords["spectral2"]["wcs"]["cdelt"] == pytest.approx(2000.0)
    assert imhead(imagename=path, mode="get", hdkey="object") == "3C286"
    assert imhead(imagename=path, mode="get", hdkey="beammajor") == {"value": 5.0,
                                                                     "unit": "arcsec"}


def test_summary_and_history(image):
    path, _ = image
    s = imhead(imagename=path, mode="summary")
    assert list(s["shape"]) == [10, 8, 2, 3]
    assert list(s["axisnames"]) == ["Right Ascension", "Declination", "Stokes", "Frequency"]
    assert s["ndim"] == 4 and s["hasmask"] is False
    log = open(casalog.logfile()).read()
    assert "Image name       : " + path in log
    assert "Data range       : -500 to 1000" in log
    # history: rows of the image's logtable, written here directly
    with tables.table(os.path.join(path, "logtable"), readonly=False, ack=False) as t:
        t.addrows(2)
        t.putcol("MESSAGE", ["first line", "second line"], 0, 2)
    assert imhead(imagename=path, mode="history") == ["first line", "second line"]


def test_fits_image(image, tmp_path):
    path, data = image
    fitsfile = str(tmp_path / "cube.fits")
    images.image(path).tofits(fitsfile)
    hdr = imhead(imagename=fitsfile, mode="list")
    h = fits.getheader(fitsfile)
    assert list(hdr["shape"]) == [h["NAXIS1"], h["NAXIS2"], h["NAXIS3"], h["NAXIS4"]]
    assert hdr["crpix1"] == h["CRPIX1"] - 1          # imhead pixels are 0-based
    assert hdr["cdelt1"] == pytest.approx(np.radians(h["CDELT1"]))
    assert hdr["datamax"] == 1000.0 and hdr["datamin"] == -500.0
    imhead(imagename=fitsfile, mode="put", hdkey="object", hdvalue="M31")
    imhead(imagename=fitsfile, mode="put", hdkey="crval2", hdvalue=0.5)      # radians
    imhead(imagename=fitsfile, mode="put", hdkey="beammajor", hdvalue="10arcsec")
    h = fits.getheader(fitsfile)
    assert h["OBJECT"] == "M31"
    assert h["CRVAL2"] == pytest.approx(np.degrees(0.5))
    assert h["BMAJ"] == pytest.approx(10 / 3600)
    assert imhead(imagename=fitsfile, mode="get", hdkey="crval2")["value"] == pytest.approx(0.5)
    np.testing.assert_array_equal(fits.getdata(fitsfile), data)   # pixels untouched
    with fits.open(fitsfile, mode="update") as hl:
        hl[0].header.add_history("hello from the test")
    assert "hello from the test" in imhead(imagename=fitsfile, mode="history")
    assert not [p for p in os.listdir(tmp_path) if ".tmp" in p]


def test_errors(image, tmp_path):
    path, _ = image
    with pytest.raises(ValueError, match="hdkey 'nonsense' is not in the header"):
        imhead(imagename=path, mode="get", hdkey="nonsense")
    with pytest.raises(ValueError, match="cannot be put"):
        imhead(imagename=path, mode="put", hdkey="datamax", hdvalue=1.0)
    with pytest.raises(ValueError, match="the image has 4 axes"):
        imhead(imagename=path, mode="put", hdkey="crval7", hdvalue=1.0)
    with pytest.raises(ValueError, match="as a quantity"):
        imhead(imagename=path, mode="put", hdkey="restfreq", hdvalue="lots")
    with pytest.raises(AssertionError, match="mode"):
        imhead(imagename=path, mode="explode")
    txt = tmp_path / "t.txt"
    txt.write_text("hello")
    with pytest.raises(OSError, match="neither a CASA image nor a FITS file"):
        imhead(imagename=str(txt), mode="list")


def test_add_and_del(image, tmp_path):
    path, _ = image
    imhead(imagename=path, mode="add", hdkey="mykey", hdvalue="hello")
    assert images.image(path).miscinfo()["mykey"] == "hello"
    assert imhead(imagename=path, mode="get", hdkey="mykey") == "hello"
    assert "mykey" not in imhead(imagename=path, mode="list")     # as CASA 6.7
    with pytest.raises(ValueError, match="already exists"):
        imhead(imagename=path, mode="add", hdkey="mykey", hdvalue="again")
    imhead(imagename=path, mode="del", hdkey="mykey")
    assert "mykey" not in images.image(path).miscinfo()
    imhead(imagename=path, mode="put", hdkey="beammajor", hdvalue="4arcsec")
    assert "major" in images.image(path).imageinfo()["restoringbeam"]
    imhead(imagename=path, mode="del", hdkey="beammajor")
    assert "beammajor" not in imhead(imagename=path, mode="list")
    with pytest.raises(ValueError, match="cannot be deleted"):
        imhead(imagename=path, mode="del", hdkey="crval1")
    fitsfile = str(tmp_path / "c.fits")
    images.image(path).tofits(fitsfile)
    imhead(imagename=fitsfile, mode="add", hdkey="PIPEVER", hdvalue="1.2")
    assert fits.getheader(fitsfile)["PIPEVER"] == "1.2"
    assert imhead(imagename=fitsfile, mode="get", hdkey="pipever") == "1.2"
    imhead(imagename=fitsfile, mode="del", hdkey="PIPEVER")
    assert "PIPEVER" not in fits.getheader(fitsfile)
    with pytest.raises(ValueError, match="cannot be deleted"):
        imhead(imagename=fitsfile, mode="del", hdkey="NAXIS1")


def test_mask_excludes_pixels_from_statistics(tmp_path):
    path = str(tmp_path / "m.im")
    im = images.image(path, shape=[1, 1, 4, 4])
    data = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    im.putdata(data)
    mask = np.zeros(data.shape, bool)
    mask[0, 0, 3, 3] = True          # python-casacore: True = masked out (the 15)
    im.putmask(mask)
    del im
    hdr = imhead(imagename=path, mode="list")
    assert hdr["datamax"] == 14.0 and hdr["datamin"] == 0.0
    assert list(hdr["maxpixpos"]) == [2, 3, 0, 0]
    assert list(hdr["masks"]) == ["mask0"]
    assert imhead(imagename=path, mode="summary")["hasmask"] is True
