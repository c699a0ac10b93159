"""imhead: list, get and put the header of a CASA image or a FITS image."""

from __future__ import annotations

from ._framework import Param, task

_MODES = ["summary", "list", "get", "put", "add", "del", "history"]


@task(summary="List, get and put image header parameters", category="information",
      params=[
          Param("imagename", "path", "", "Name of the input image (CASA image or FITS file)"),
          Param("mode", "string", "summary", "Mode of operation: summary, list, get, put, "
                "add, del, history", allowed=_MODES,
                sub={"get": {"hdkey": ""}, "put": {"hdkey": "", "hdvalue": ""},
                     "add": {"hdkey": "", "hdvalue": ""}, "del": {"hdkey": ""},
                     "summary": {"verbose": False}}),
          Param("hdkey", "string", "", "The keyword to get or put (e.g. object, crval1, "
                "bunit, beammajor, restfreq)"),
          Param("hdvalue", "any", "", "The value to put (number, string with unit such as "
                "'1.4GHz' or '10arcsec', or {'value': v, 'unit': u})"),
          Param("verbose", "bool", False, "In summary mode, list every beam of a "
                "per-plane-beam image"),
      ],
      history=None)
def imhead(imagename, mode, hdkey, hdvalue, verbose):
    from ..logsink import casalog
    mode = mode.lower()
    img = ImageHeader(imagename)
    if mode == "list":
        hdr = img.header()
        width = max(len(k) for k in hdr)
        casalog.post("\n".join(f"{k:<{width}} = {_show(v)}" for k, v in hdr.items()))
        return hdr
    if mode == "get":
        if not hdkey:
            raise ValueError("mode='get' needs hdkey (one of the keys mode='list' shows)")
        value = img.get(hdkey)
        casalog.post(f"{hdkey.lower()} = {_show(value)}")
        return value
    if mode == "put":
        if not hdkey:
            raise ValueError("mode='put' needs hdkey")
        img.put(hdkey, hdvalue)
        casalog.post(f"{hdkey.lower()} set to {_show(img.get(hdkey))} in {imagename}")
        return None
    if mode == "add":
        if not hdkey:
            raise ValueError("mode='add' needs hdkey")
        img.add(hdkey, hdvalue)
        casalog.post(f"{hdkey} added to {imagename}")
        return None
    if mode == "del":
        if not hdkey:
            raise ValueError("mode='del' needs hdkey")
        img.delete(hdkey)
        casalog.post(f"{hdkey} deleted from {imagename}")
        return None
    if mode == "history":
        lines = img.history()
        casalog.post(f"History of {imagename} ({len(lines)} lines):"
                     + ("\n" + "\n".join(lines) if lines else " none"))
        return lines
    summary = img.summary()
    casalog.post(img.summary_text(verbose))
    return summary


def _show(v):
    import numpy as np
    if isinstance(v, dict) and "value" in v and "unit" in v:
        return f"{v['value']} {v['unit']}".strip()
    if isinstance(v, np.ndarray):
        return "[" + ", ".join(str(x) for x in v.tolist()) + "]"
    return str(v)


# ---------------------------------------------------------------------------
_ANGLE = {"rad": 1.0, "deg": 0.017453292519943295, "'": 2.908882086657216e-4,
          "arcmin": 2.908882086657216e-4, '"': 4.84813681109536e-6,
          "arcsec": 4.84813681109536e-6, "mas": 4.84813681109536e-9}


def _to_rad(value, unit):
    f = _ANGLE.get(unit)
    if f is None:
        raise ValueError(f"unknown angle unit {unit!r}")
    return value * f


def _quantity(value, unit_for_numbers):
    """(number in ``unit_for_numbers``) from a number, 'value unit' string or dict."""
    from casacore.quanta import quantity
    if isinstance(value, dict):
        value = f"{value['value']}{value.get('unit', '')}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        s = value.strip()
        try:
            return float(s)
        except ValueError:
            pass
        try:
            q = quantity(s)
        except Exception as exc:  # noqa: BLE001 - casacore's parse errors are long
            raise ValueError(f"cannot read {value!r} as a quantity") from exc
        if not unit_for_numbers:
            return q.get_value()
        try:
            return q.get_value(unit_for_numbers)
        except Exception as exc:  # noqa: BLE001
            raise ValueError(f"{value!r} cannot be converted to {unit_for_numbers}") from exc
    raise ValueError(f"cannot read {value!r} as a quantity")


class ImageHeader:
    """The header of a CASA image (table keywords) or a FITS image (primary header)."""

    def __init__(self, path):
        import os
        self.path = path
        if not os.path.exists(path):
            raise FileNotFoundError(f"image {path} does not exist")
        self.is_casa = os.path.isdir(path)
        if self.is_casa and not os.path.isfile(os.path.join(path, "table.dat")):
            raise OSError(f"{path} is not a CASA image (no table.dat)")
        if not self.is_casa:
            with open(path, "rb") as f:
                if f.read(9) != b"SIMPLE  =":
                    raise OSError(f"{path} is neither a CASA image nor a FITS file")
        self._load()

    def _load(self):
        from casacore.images import image
        try:
            im = image(self.path)
        except Exception as exc:  # noqa: BLE001
            raise OSError(f"{self.path} cannot be opened as an image: "
                          f"{str(exc).splitlines()[0]}") from exc
        self._im = im
        info = im.info()
        self.coords = info["coordinates"]
        self.imageinfo = info["imageinfo"]
        self.unit = info.get("unit", "") or im.unit()
        self.miscinfo = dict(info.get("miscinfo", {}) or {}) if self.is_casa else {}
        self.shape_np = list(im.shape())
        self.shape = self.shape_np[::-1]  # CASA axis order

    # -- axes ------------------------------------------------------------------
    def axes(self):
        """One dict per image axis in CASA order: ctype, crval, cdelt, crpix, cunit."""
        import numpy as np
        out = [None] * len(self.shape)
        k = 0
        while f"pixelmap{k}" in self.coords:
            pmap = list(np.atleast_1d(self.coords[f"pixelmap{k}"]))
            name = next(n for n in self.coords if n.endswith(str(k)) and
                        n[:-len(str(k))] in ("direction", "spectral", "stokes", "linear",
                                              "tabular"))
            c = self.coords[name]
            kind = name[:-len(str(k))]
            for i, ax in enumerate(pmap):
                if ax < 0:
                    continue
                if kind == "direction":
                    # in the image's own units, as CASA (a CASA image may hold
                    # arcmin; casacore reads FITS direction axes in radians)
                    u = c["units"][i]
                    d = dict(ctype=c["axes"][i], crval=float(c["crval"][i]),
                             cdelt=float(c["cdelt"][i]),
                             crpix=float(c["crpix"][i]), cunit=u, _unit=u, _dir=True)
                elif kind == "spectral":
                    if "wcs" in c:
                        w = c["wcs"]
                        crval, cdelt, crpix = w["crval"], w["cdelt"], w["crpix"]
                    else:  # a table of frequencies: value and step at the first pixel
                        tab = c["tabular"]
                        wv = np.atleast_1d(tab["worldvalues"])
                        pv = np.atleast_1d(tab["pixelvalues"])
                        crval, crpix = wv[0], pv[0]
                        cdelt = ((wv[1] - wv[0]) / (pv[1] - pv[0]) if len(wv) > 1
                                 else np.atleast_1d(tab["cdelt"])[0])
                    d = dict(ctype="Frequency", crval=float(crval), cdelt=float(cdelt),
                             crpix=float(crpix), cunit=c.get("unit", "Hz"))
                elif kind == "stokes":
                    d = dict(ctype="Stokes", crval=np.array(list(c["stokes"])),
                             cdelt=1.0, crpix=0.0, cunit="")
                else:
                    d = dict(ctype=c["axes"][i], crval=float(np.atleast_1d(c["crval"])[i]),
                             cdelt=float(np.atleast_1d(c["cdelt"])[i]),
                             crpix=float(np.atleast_1d(c["crpix"])[i]),
                             cunit=c["units"][i])
                d["_coord"] = name
                d["_index"] = i
                out[ax] = d
            k += 1
        for i, d in enumerate(out):
            if d is None:
                out[i] = dict(ctype="", crval=0.0, cdelt=0.0, crpix=0.0, cunit="",
                              _coord=None, _index=0)
        return out

    def stats(self):
        """(min, max, numpy index of min, of max) over the unmasked finite pixels,
        read one plane of the slowest axis at a time."""
        import numpy as np
        im = self._im
        shp = self.shape_np
        best = [np.inf, -np.inf, None, None]
        n0 = shp[0]
        for p in range(n0):
            blc = [p] + [0] * (len(shp) - 1)
            trc = [p] + [s - 1 for s in shp[1:]]
            data = np.asarray(im.getdata(blc, trc))
            good = np.isfinite(data)
            try:
                good &= ~np.asarray(im.getmask(blc, trc))
            except Exception:  # noqa: BLE001 - no mask
                pass
            if not good.any():
                continue
            d = np.where(good, data, np.nan)
            imin = np.nanargmin(d)
            imax = np.nanargmax(d)
            if d.flat[imin] < best[0]:
                best[0] = float(d.flat[imin])
                best[2] = (p,) + np.unravel_index(imin, d.shape)[1:]
            if d.flat[imax] > best[1]:
                best[1] = float(d.flat[imax])
                best[3] = (p,) + np.unravel_index(imax, d.shape)[1:]
        return best

    def _posstring(self, npix):
        """World position of a pixel (numpy order) as CASA writes it:
        'hh:mm:ss.sss, +dd.mm.ss.sss, I, 1.415e+09Hz'."""
        import numpy as np
        if npix is None:
            return ""
        axes = self.axes()
        try:
            world = list(self._im.toworld([int(p) for p in npix]))[::-1]
        except Exception:  # noqa: BLE001 - fall back to the linear approximation
            world = [a["crval"] if isinstance(a["crval"], float) else 0.0 for a in axes]
        pix = list(npix)[::-1]
        parts = []
        for i, a in enumerate(axes):
            if a["ctype"] == "Stokes":
                st = a["crval"]
                parts.append(str(st[pix[i]]) if pix[i] < len(st) else "?")
            elif a.get("_dir"):
                v = _to_rad(float(world[i]), a.get("_unit", "rad"))
                if a["ctype"] == "Right Ascension":
                    parts.append(_hms(v))
                elif a["ctype"] == "Declination":
                    parts.append(_dms(v))
                else:
                    parts.append(f"{np.degrees(v):.6f}deg")
            else:
                parts.append(f"{float(world[i]):.6g}{a['cunit']}")
        return " ".join(parts)

    # -- header ------------------------------------------------------------------
    def beam(self):
        rb = self.imageinfo.get("restoringbeam") or {}
        if "major" in rb:
            return rb
        if "beams" in rb:  # per-plane beams: the first one
            try:
                first = rb["beams"]["*0"]["*0"]
                return first
            except Exception:  # noqa: BLE001
                return {}
        return {}

    def header(self):
        import numpy as np
        h = {}
        b = self.beam()
        if b:
            for key, name in (("beammajor", "major"), ("beamminor", "minor"),
                              ("beampa", "positionangle")):
                q = b[name]
                h[key] = {"unit": q["unit"], "value": float(q["value"])}
        h["bunit"] = self.unit
        axes = self.axes()
        for i, a in enumerate(axes, start=1):
            h[f"cdelt{i}"] = a["cdelt"]
            h[f"crpix{i}"] = a["crpix"]
            # a Stokes axis: CASA lists the code of its first plane (I 1, XX 9, ...)
            h[f"crval{i}"] = (_stokes_code(a["crval"]) if a["ctype"] == "Stokes"
                              else a["crval"])
            h[f"ctype{i}"] = a["ctype"]
            h[f"cunit{i}"] = a["cunit"]
        vmin, vmax, pmin, pmax = self.stats()
        if pmin is not None:
            h["datamax"] = vmax
            h["datamin"] = vmin
        obsdate = self.coords.get("obsdate", {})
        h["date-obs"] = _mjd_text(obsdate)
        d = next((self.coords[k] for k in self.coords if k.startswith("direction")), None)
        h["equinox"] = d["system"] if d else ""
        h["imtype"] = self.imageinfo.get("imagetype", "")
        h["masks"] = np.array(self._masks(), dtype=str)
        if pmax is not None:
            h["maxpixpos"] = np.array(list(pmax)[::-1], dtype=np.int64)
            h["maxpos"] = self._posstring(pmax)
            h["minpixpos"] = np.array(list(pmin)[::-1], dtype=np.int64)
            h["minpos"] = self._posstring(pmin)
        h["object"] = self.imageinfo.get("objectname", "").strip()
        # as casacore reads it (a blank FITS OBSERVER card is ' ' in CASA too)
        h["observer"] = self.coords.get("observer", "")
        h["projection"] = d["projection"] if d else ""
        s = next((self.coords[k] for k in self.coords if k.startswith("spectral")), None)
        if s is not None:
            h["reffreqtype"] = s.get("system", "")
            h["restfreq"] = np.atleast_1d(s.get("restfreqs", [s.get("restfreq", 0.0)]))
        h["shape"] = np.array(self.shape, dtype=np.int64)
        h["telescope"] = self.coords.get("telescope", "").strip()
        # user keywords (miscinfo) are not listed, as CASA: mode='get' finds them
        return dict(sorted(h.items()))      # CASA's keys are sorted

    def _table_info(self):
        """(keywords, data-manager info) of a CASA image's table."""
        from casacore import tables as ct
        t = ct.table(self.path, ack=False)
        try:
            return t.getkeywords(), t.getdminfo()
        finally:
            t.close()

    def _masks(self):
        if not self.is_casa:
            return []
        kw, _ = self._table_info()
        masks = kw.get("masks", {})
        return sorted(masks.keys()) if isinstance(masks, dict) else []

    def _has_mask(self):
        """CASA's hasmask: a CASA image with a mask, or a floating-point FITS
        image (CASA masks its NaN pixels; measured: BITPIX -32 True, 16 False)."""
        if self.is_casa:
            return bool(self._masks())
        from astropy.io import fits
        return int(fits.getheader(self.path).get("BITPIX", 0)) < 0

    def _default_mask(self):
        if not self.is_casa:
            return ""
        kw, _ = self._table_info()
        return str(kw.get("Image_defaultmask", ""))

    def tile_shape(self):
        """The tile shape CASA reports: the stored one of a CASA image; for a
        FITS image the one CASA makes for it, which (measured on CASA 6.7 over
        15 shapes) fills the axes in order up to 32768 pixels, each axis taking
        the divisor of its length nearest to the pixels still available."""
        import numpy as np
        if self.is_casa:
            _, dm = self._table_info()
            for spec in dm.values():
                if "map" in spec.get("COLUMNS", []):
                    cubes = spec.get("SPEC", {}).get("HYPERCUBES", {})
                    for cube in cubes.values():
                        if "TileShape" in cube:
                            return np.array(cube["TileShape"], dtype=np.int64)
                    if "DEFAULTTILESHAPE" in spec.get("SPEC", {}):
                        return np.array(spec["SPEC"]["DEFAULTTILESHAPE"], dtype=np.int64)
            return np.array(self.shape, dtype=np.int64)
        budget = 32768.0
        tile = []
        for n in (int(x) for x in self.shape):
            want = max(budget, 1.0)
            divisors = [d for d in range(1, n + 1) if n % d == 0] if n <= 1 << 20 else [n]
            best = min(divisors, key=lambda d: (abs(d - want), d))
            tile.append(best)
            budget /= best
        return np.array(tile, dtype=np.int64)

    def get(self, key):
        h = self.header()
        if key.lower() not in h and self.is_casa:     # a user keyword (miscinfo)
            if key in self.miscinfo:
                return self.miscinfo[key]
            low = {k.lower(): k for k in self.miscinfo}
            if key.lower() in low:
                return self.miscinfo[low[key.lower()]]
        key = key.lower()
        if key not in h and not self.is_casa:
            from astropy.io import fits
            card = key.upper()
            hdr = fits.getheader(self.path)
            if card in hdr:
                return hdr[card]
        if key not in h:
            raise ValueError(f"hdkey {key!r} is not in the header of {self.path} "
                             f"(known: {', '.join(h)})")
        v = h[key]
        import re
        m = re.fullmatch(r"(crval|cdelt)(\d+)", key)
        if m and m.group(1) == "crval" and h[f"ctype{m.group(2)}"] == "Stokes":
            return self.axes()[int(m.group(2)) - 1]["crval"]    # the names, as CASA
        if m:
            unit = h[f"cunit{m.group(2)}"]
            if isinstance(v, float):
                return {"unit": unit, "value": v}
        if key == "restfreq":
            return {"unit": "Hz", "value": float(v[0])}
        return v

    def history(self):
        if self.is_casa:
            import os
            from casacore import tables as ct
            log = os.path.join(self.path, "logtable")
            if not os.path.isdir(log):
                return []
            t = ct.table(log, ack=False)
            try:
                if t.nrows() == 0:
                    return []
                return [str(m) for m in t.getcol("MESSAGE")]
            finally:
                t.close()
        from astropy.io import fits
        hdr = fits.getheader(self.path)
        return [str(c) for c in hdr.get("HISTORY", [])]

    # -- summary -------------------------------------------------------------------
    def summary(self):
        import numpy as np
        axes = self.axes()
        out = {
            "axisnames": np.array([a["ctype"] for a in axes]),
            "axisunits": np.array([a["cunit"] for a in axes]),
            "defaultmask": self._default_mask(),
            "hasmask": self._has_mask(),
            "imagetype": self.imageinfo.get("imagetype", ""),
            "incr": np.array([a["cdelt"] for a in axes], dtype=float),
            "ndim": len(self.shape),
            "refpix": np.array([a["crpix"] for a in axes], dtype=float),
            "refval": np.array([a["crval"] if a["ctype"] != "Stokes"
                                else _stokes_code(a["crval"]) for a in axes], dtype=float),
            "masks": np.array(self._masks(), dtype=str),
            "messages": np.array([], dtype=str),
            "shape": np.array(self.shape, dtype=np.int64),
            "tileshape": self.tile_shape(),
            "unit": self.unit,
        }
        b = self.beam()
        if b:
            out["restoringbeam"] = b
        return out

    def summary_text(self, verbose=False):
        import numpy as np
        h = self.header()
        lines = [f"Image name       : {self.path}",
                 f"Object name      : {h.get('object', '')}",
                 f"Image type       : {'PagedImage' if self.is_casa else 'FITSImage'}",
                 f"Image quantity   : {h.get('imtype', '')}",
                 f"Pixel mask(s)    : {', '.join(h['masks']) if len(h['masks']) else 'None'}",
                 f"Image units      : {h['bunit']}"]
        if "beammajor" in h:
            lines.append(f"Restoring Beam   : {h['beammajor']['value']:.6g} "
                         f"{h['beammajor']['unit']}, {h['beamminor']['value']:.6g} "
                         f"{h['beamminor']['unit']}, {h['beampa']['value']:.6g} "
                         f"{h['beampa']['unit']}")
        lines += [f"Telescope        : {h['telescope']}",
                  f"Observer         : {h['observer']}",
                  f"Date observation : {h['date-obs']}",
                  f"Direction system : {h['equinox']}",
                  ""]
        if "datamin" in h:
            lines.append(f"Data range       : {h['datamin']:.6g} to {h['datamax']:.6g}")
            lines.append("")
        lines.append("Axis Coord Type      Name             Pixels   Ref pixel        "
                     "Ref value        Increment  Units")
        for i, a in enumerate(self.axes()):
            kind = (a["_coord"] or "?")[:-1].rstrip("0123456789")[:1].upper() or "?"
            if a["ctype"] == "Stokes":
                rv = ",".join(a["crval"].tolist())
                inc = ""
            elif a.get("_dir"):
                rv = f"{np.degrees(_to_rad(a['crval'], a['_unit'])):.8f}deg"
                inc = f"{np.degrees(_to_rad(a['cdelt'], a['_unit'])) * 3600:.6g}arcsec"
            else:
                rv = f"{a['crval']:.10g}"
                inc = f"{a['cdelt']:.6g}"
            lines.append(f"{i:<4d} {a['_coord'] or '':<5.5s} {kind:<5s}{a['ctype']:<16.16s} "
                         f"{self.shape[i]:>7d} {a['crpix']:>11.2f} {rv:>16s} {inc:>16s}  "
                         f"{a['cunit'] if not a.get('_dir') else ''}")
        return "\n".join(lines)

    # -- add / del ---------------------------------------------------------------
    def add(self, key, value):
        """A standard keyword (as put) or a user keyword (miscinfo / a FITS card)."""
        import re
        lk = key.lower()
        if lk in _STANDARD or re.fullmatch(r"(crval|cdelt|crpix|ctype|cunit)\d+", lk):
            return self.put(key, value)
        if self.is_casa:
            if key in self.miscinfo:
                raise ValueError(f"user keyword {key!r} already exists in {self.path}; "
                                 f"use mode='put'")
            self._edit_casa_keywords(lambda kw, t: kw.setdefault("miscinfo", {}).update(
                {key: value}))
        else:
            self._edit_fits(lambda hdr: _fits_add(hdr, key, value))
        self._load()

    def delete(self, key):
        lk = key.lower()
        if lk in ("beammajor", "beamminor", "beampa"):
            if self.is_casa:
                self._edit_casa_keywords(lambda kw, t: kw.setdefault("imageinfo", {}).pop(
                    "restoringbeam", None))
            else:
                self._edit_fits(lambda hdr: [hdr.remove(c, ignore_missing=True)
                                             for c in ("BMAJ", "BMIN", "BPA")])
        elif lk in ("object", "telescope", "observer", "bunit", "imtype"):
            self.put(lk, "")
            return
        elif self.is_casa and key in self.miscinfo:
            def drop(kw, t):
                misc = dict(kw.get("miscinfo", {}))
                misc.pop(key, None)
                kw["miscinfo"] = misc
            self._edit_casa_keywords(drop)
        elif not self.is_casa:
            from astropy.io import fits
            if key.upper() not in fits.getheader(self.path) or key.upper() in _FITS_STRUCTURAL:
                raise ValueError(f"hdkey {key!r} cannot be deleted from {self.path}")
            self._edit_fits(lambda hdr: hdr.remove(key.upper()))
        else:
            raise ValueError(f"hdkey {key!r} cannot be deleted (only the beam, object, "
                             f"telescope, observer, bunit, imtype and user keywords)")
        self._load()

    def _edit_casa_keywords(self, change):
        from casacore import tables as ct
        self._im = None
        t = ct.table(self.path, readonly=False, ack=False)
        try:
            kw = {k: t.getkeyword(k) for k in ("imageinfo", "miscinfo")
                  if k in t.keywordnames()}
            change(kw, t)
            for k, v in kw.items():
                t.putkeyword(k, v)
        finally:
            t.close()

    def _edit_fits(self, change):
        import os
        from astropy.io import fits
        self._im = None
        folder = os.path.dirname(os.path.abspath(self.path))
        tmp = os.path.join(folder, f".{os.path.basename(self.path)}.tmp{os.getpid()}")
        try:
            with fits.open(self.path) as hl:
                change(hl[0].header)
                hl.writeto(tmp, output_verify="silentfix")
            os.replace(tmp, self.path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

    # -- put -----------------------------------------------------------------------
    def put(self, key, value):
        import re
        key = key.lower()
        fixed = {"object", "telescope", "observer", "bunit", "imtype", "restfreq",
                 "beammajor", "beamminor", "beampa", "date-obs", "equinox", "projection",
                 "reffreqtype"}
        m = re.fullmatch(r"(crval|cdelt|crpix|ctype|cunit)(\d+)", key)
        if key not in fixed and not m:
            raise ValueError(f"hdkey {key!r} cannot be put (writable: "
                             f"{', '.join(sorted(fixed))}, crvalN, cdeltN, crpixN, ctypeN, "
                             f"cunitN)")
        if m and not 1 <= int(m.group(2)) <= len(self.shape):
            raise ValueError(f"hdkey {key!r}: the image has {len(self.shape)} axes")
        if self.is_casa:
            self._put_casa(key, value, m)
        else:
            self._put_fits(key, value, m)
        self._im = None
        self._load()

    def _put_casa(self, key, value, m):
        import numpy as np
        from casacore import tables as ct
        self._im = None  # release the image before writing its table
        try:
            t = ct.table(self.path, readonly=False, ack=False)
        except Exception as exc:  # noqa: BLE001
            raise OSError(f"image {self.path} cannot be opened for writing") from exc
        try:
            kw = t.getkeywords()
            coords = kw["coords"]
            info = kw.get("imageinfo", {})
            if key == "object":
                info["objectname"] = str(value)
            elif key == "imtype":
                info["imagetype"] = str(value)
            elif key == "telescope":
                coords["telescope"] = str(value)
            elif key == "observer":
                coords["observer"] = str(value)
            elif key == "bunit":
                t.putkeyword("units", str(value))
            elif key == "date-obs":
                coords["obsdate"] = _epoch(value)
            elif key in ("beammajor", "beamminor", "beampa"):
                rb = info.get("restoringbeam") or {}
                if "beams" in rb:
                    raise ValueError("this image has a beam per plane; putting one beam "
                                     "is not supported")
                name = {"beammajor": "major", "beamminor": "minor",
                        "beampa": "positionangle"}[key]
                unit = "arcsec" if key != "beampa" else "deg"
                v = _quantity(value, unit)
                rb = {"major": rb.get("major", {"value": v, "unit": unit}),
                      "minor": rb.get("minor", {"value": v, "unit": unit}),
                      "positionangle": rb.get("positionangle", {"value": 0.0, "unit": "deg"})}
                rb[name] = {"value": float(v), "unit": unit}
                info["restoringbeam"] = rb
            elif key in ("equinox", "projection"):
                dname = next((k for k in coords if k.startswith("direction")), None)
                if dname is None:
                    raise ValueError(f"{self.path} has no direction axes for {key}")
                if key == "equinox":
                    coords[dname]["system"] = str(value).upper()
                    coords[dname]["conversionSystem"] = str(value).upper()
                else:
                    coords[dname]["projection"] = str(value).upper()
            elif key in ("restfreq", "reffreqtype"):
                sname = next((k for k in coords if k.startswith("spectral")), None)
                if sname is None:
                    raise ValueError(f"{self.path} has no spectral axis for {key}")
                if key == "restfreq":
                    v = _quantity(value, "Hz")
                    coords[sname]["restfreq"] = float(v)
                    coords[sname]["restfreqs"] = np.array([float(v)])
                else:
                    coords[sname]["system"] = str(value).upper()
            else:
                self._put_axis(coords, m.group(1), int(m.group(2)) - 1, value)
            t.putkeyword("coords", coords)
            t.putkeyword("imageinfo", info)
        finally:
            t.close()

    def _put_axis(self, coords, what, axis, value):
        import numpy as np
        a = self.axes()[axis]
        name, i = a["_coord"], a["_index"]
        if name is None:
            raise ValueError(f"axis {axis + 1} has no coordinate")
        c = coords[name]
        if what == "ctype":
            if "axes" not in c:
                raise ValueError(f"the name of axis {axis + 1} ({a['ctype']}) cannot be changed")
            axes = list(c["axes"])
            axes[i] = str(value)
            c["axes"] = axes
            return
        if what == "cunit":
            if "units" not in c:
                raise ValueError(f"the unit of axis {axis + 1} ({a['ctype']}) cannot be changed")
            units = list(c["units"])
            old = units[i]
            if old in _ANGLE and str(value) in _ANGLE:
                f = _ANGLE[old] / _ANGLE[str(value)]
                for k in ("crval", "cdelt"):
                    arr = np.array(c[k], dtype=float)
                    arr[i] *= f
                    c[k] = arr
            units[i] = str(value)
            c["units"] = units
            return
        if name.startswith("stokes"):
            raise ValueError(f"{what}{axis + 1} of the Stokes axis cannot be put")
        if name.startswith("spectral"):
            if "wcs" not in c:
                raise ValueError(f"axis {axis + 1} is a table of frequencies; {what} cannot "
                                 f"be put")
            w = c["wcs"]
            unit = "" if what == "crpix" else c.get("unit", "Hz")
            w[what] = float(_quantity(value, unit))
            c["wcs"] = w
            return
        if name.startswith("direction") and what != "crpix":
            unit = c["units"][i]
            from casacore.quanta import quantity
            if isinstance(value, str) and not _is_number(value):
                try:
                    q = quantity(value)
                    v = q.get_value(unit) if q.get_unit() else float(value)
                except Exception as exc:  # noqa: BLE001
                    raise ValueError(f"cannot read {value!r} as an angle") from exc
            else:
                # numbers are in the axis's unit (as mode='list' shows them)
                v = float(_quantity(value, unit))
        else:
            v = float(_quantity(value, "" if what == "crpix" else c.get("units", [""])[i]))
        arr = np.array(c[what], dtype=float)
        arr[i] = v
        c[what] = arr

    def _put_fits(self, key, value, m):
        import os
        from astropy.io import fits
        cards = {"object": "OBJECT", "telescope": "TELESCOP", "observer": "OBSERVER",
                 "bunit": "BUNIT", "imtype": "BTYPE", "date-obs": "DATE-OBS",
                 "equinox": "RADESYS", "reffreqtype": "SPECSYS"}
        folder = os.path.dirname(os.path.abspath(self.path))
        tmp = os.path.join(folder, f".{os.path.basename(self.path)}.tmp{os.getpid()}")
        self._im = None
        try:
            with fits.open(self.path) as hl:
                hdr = hl[0].header
                if key in cards:
                    hdr[cards[key]] = str(value)
                elif key == "restfreq":
                    hdr["RESTFRQ"] = float(_quantity(value, "Hz"))
                elif key in ("beammajor", "beamminor", "beampa"):
                    card = {"beammajor": "BMAJ", "beamminor": "BMIN", "beampa": "BPA"}[key]
                    unit = "arcsec" if key != "beampa" else "deg"
                    v = _quantity(value, unit)
                    v = v / 3600.0 if unit == "arcsec" else v
                    # a beam needs all three cards: complete a new one
                    if "BMAJ" not in hdr:
                        hdr["BMAJ"] = v if card != "BPA" else 0.0
                    if "BMIN" not in hdr:
                        hdr["BMIN"] = hdr["BMAJ"]
                    if "BPA" not in hdr:
                        hdr["BPA"] = 0.0
                    hdr[card] = v
                elif key == "projection":
                    for n in range(1, hdr.get("NAXIS", 0) + 1):
                        ct_ = hdr.get(f"CTYPE{n}", "")
                        if len(ct_) >= 8 and ct_[4] == "-":
                            hdr[f"CTYPE{n}"] = ct_[:5] + str(value).upper()[:3]
                else:
                    what, n = m.group(1), int(m.group(2))
                    if what in ("ctype", "cunit"):
                        hdr[f"{what.upper()}{n}"] = str(value)
                    elif what == "crpix":
                        hdr[f"CRPIX{n}"] = float(_quantity(value, "")) + 1.0  # FITS is 1-based
                    else:
                        unit = hdr.get(f"CUNIT{n}", "").strip()
                        ctype = hdr.get(f"CTYPE{n}", "")
                        if ctype[:2] in ("RA", "DE", "GL", "GB") and not unit:
                            unit = "deg"
                        if unit == "deg" and not isinstance(value, str):
                            v = float(value) / _ANGLE["deg"]  # radians given
                        else:
                            v = float(_quantity(value, unit))
                        hdr[f"{what.upper()}{n}"] = v
                hl.writeto(tmp, output_verify="silentfix")
            os.replace(tmp, self.path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)


_STANDARD = {"object", "telescope", "observer", "bunit", "imtype", "restfreq", "beammajor",
             "beamminor", "beampa", "date-obs", "equinox", "projection", "reffreqtype"}
_FITS_STRUCTURAL = {"SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "NAXIS3", "NAXIS4",
                    "EXTEND", "BSCALE", "BZERO"}


def _fits_add(hdr, key, value):
    card = key.upper()
    if len(card) > 8:
        raise ValueError(f"FITS keyword {key!r} is longer than 8 characters")
    if card in hdr:
        raise ValueError(f"FITS keyword {card} already exists; use mode='put'")
    hdr[card] = value


_STOKES = ["I", "Q", "U", "V", "RR", "RL", "LR", "LL", "XX", "XY", "YX", "YY",
           "RX", "RY", "LX", "LY", "XR", "XL", "YR", "YL", "PP", "PQ", "QP", "QQ"]


def _stokes_code(names):
    """casacore's Stokes code (I 1 ... YY 12 ...) of the first plane of a Stokes axis."""
    import numpy as np
    first = str(np.atleast_1d(names)[0]) if len(np.atleast_1d(names)) else "I"
    return float(_STOKES.index(first) + 1) if first in _STOKES else 1.0


def _hms(rad):
    import math
    h = (math.degrees(rad) / 15.0) % 24.0
    ms = round(h * 3600.0 * 1000.0)
    hh, rem = divmod(ms, 3600 * 1000)
    mm, rem = divmod(rem, 60 * 1000)
    return f"{hh % 24:02d}:{mm:02d}:{rem / 1000.0:06.3f}"


def _dms(rad):
    import math
    d = math.degrees(rad)
    sign = "-" if d < 0 else "+"
    ms = round(abs(d) * 3600.0 * 1000.0)
    dd, rem = divmod(ms, 3600 * 1000)
    mm, rem = divmod(rem, 60 * 1000)
    return f"{sign}{dd:02d}.{mm:02d}.{rem / 1000.0:06.3f}"


def _is_number(s):
    try:
        float(s)
        return True
    except ValueError:
        return False


def _mjd_text(epoch):
    import datetime
    try:
        mjd = float(epoch["m0"]["value"])
    except Exception:  # noqa: BLE001
        return ""
    t = datetime.datetime(1858, 11, 17) + datetime.timedelta(days=mjd)
    return t.strftime("%Y/%m/%d/%H:%M:%S.") + f"{t.microsecond:06d}"


def _epoch(value):
    from casacore.measures import measures
    dm = measures()
    try:
        e = dm.epoch("UTC", str(value).replace("T", "/"))
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"cannot read {value!r} as a date (e.g. 2020/01/31/12:00:00)") from exc
    return {"type": "epoch", "refer": "UTC",
            "m0": {"value": float(e["m0"]["value"]), "unit": e["m0"]["unit"]}}
