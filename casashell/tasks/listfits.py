"""listfits: write the headers of every HDU of a FITS file to the log."""

from __future__ import annotations

from ._framework import Param, task


@task(summary="List the HDU headers of a FITS file", category="information",
      params=[Param("fitsfile", "path", "", "Name of the input FITS file")],
      history=None)
def listfits(fitsfile):
    import os
    from ..logsink import casalog
    from astropy.io import fits

    if os.path.isdir(fitsfile):
        raise OSError(f"{fitsfile} is a directory, not a FITS file")
    with open(fitsfile, "rb") as f:
        start = f.read(80)
    if not start.startswith(b"SIMPLE  ="):
        raise OSError(f"{fitsfile} is not a FITS file (it does not start with SIMPLE)")
    try:
        hdul = fits.open(fitsfile, memmap=True, lazy_load_hdus=True)
    except Exception as exc:  # noqa: BLE001
        raise OSError(f"{fitsfile} cannot be read as FITS: {exc}") from exc
    out = []
    with hdul:
        n = 0
        for i, hdu in enumerate(hdul):
            n += 1
            hdr = hdu.header
            kind = type(hdu).__name__
            name = hdr.get("EXTNAME", "PRIMARY" if i == 0 else "")
            dims = [hdr.get(f"NAXIS{k}", 0) for k in range(1, hdr.get("NAXIS", 0) + 1)]
            extra = ""
            if hdr.get("GROUPS", False):
                extra = f", {hdr.get('GCOUNT', 0)} groups of {hdr.get('PCOUNT', 0)} parameters"
            elif "TFIELDS" in hdr:
                extra = f", {hdr.get('NAXIS2', 0)} rows x {hdr['TFIELDS']} columns"
            text = [f"HDU {i}: {kind} {name} NAXIS={hdr.get('NAXIS', 0)} "
                    f"{'x'.join(str(d) for d in dims)}{extra}"]
            text += [str(card) .rstrip() for card in hdr.cards]
            casalog.post("\n".join(text))
            out.append({"hdu": i, "type": kind, "name": name, "ncards": len(hdr.cards)})
    casalog.post(f"{fitsfile}: {n} HDU(s)")
    return None
