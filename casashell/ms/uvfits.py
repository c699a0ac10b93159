"""Random-group UVFITS <-> MeasurementSet (AIPS Memo 117 layout).

Reading (:func:`uvfits_to_ms`)
    * primary HDU: random groups with axes COMPLEX (re, im, weight), STOKES,
      FREQ, IF (optional), RA, DEC in any order; random parameters UU VV WW
      (light seconds), DATE (one or two, summed, Julian date), BASELINE
      (256*a1 + a2 + 0.01*(subarray-1), or the >255-antenna form
      2048*a1 + a2 + 65536) or ANTENNA1/ANTENNA2/SUBARRAY, FREQSEL, SOURCE,
      INTTIM;
    * ``AIPS AN`` (one per subarray), ``AIPS FQ``, ``AIPS SU`` tables.

    One MS row per group and IF (IF = spectral window), rows in file order.
    DATA keeps the values as they are (no conjugation); UVW = UU*c [m];
    WEIGHT_SPECTRUM = |weight|; FLAG = weight <= 0; WEIGHT = sum over
    channels of WEIGHT_SPECTRUM; SIGMA = 1/sqrt(WEIGHT).
    Correlations are stored in the MS order (RR RL LR LL / XX XY YX YY / I Q U V).

Writing (:func:`ms_to_uvfits`)
    The groups are (time, baseline, field) triples; selected spectral
    windows become IFs (all with the same number of channels and the same
    correlations).  DATE is written as two parameters whose sum is the Julian
    date (a coarse float32 and its float32 remainder), so times survive to
    well below a microsecond.  Visibility data and weights are float32.

Both directions stream the visibilities in bounded chunks; only the
per-row/per-group scalars (time, antennas, uvw ...) are held for the whole file.
"""

from __future__ import annotations

import os

import numpy as np

C_LIGHT = 299792458.0
MJD_JD = 2400000.5

#: AIPS Stokes codes -> casacore Stokes type codes
AIPS_TO_CASA = {1: 1, 2: 2, 3: 3, 4: 4, -1: 5, -2: 8, -3: 6, -4: 7,
                -5: 9, -6: 12, -7: 10, -8: 11}
CASA_TO_AIPS = {v: k for k, v in AIPS_TO_CASA.items()}
CORR_NAMES = {1: "I", 2: "Q", 3: "U", 4: "V", 5: "RR", 6: "RL", 7: "LR", 8: "LL",
              9: "XX", 10: "XY", 11: "YX", 12: "YY"}
#: receptor pair of each casacore correlation code
CORR_PRODUCT = {1: (0, 0), 2: (0, 1), 3: (1, 0), 4: (1, 1), 5: (0, 0), 6: (0, 1),
                7: (1, 0), 8: (1, 1), 9: (0, 0), 10: (0, 1), 11: (1, 0), 12: (1, 1)}
MOUNTS = {0: "ALT-AZ", 1: "EQUATORIAL", 2: "ORBITING", 3: "X-Y", 4: "ALT-AZ+NASMYTH-R",
          5: "ALT-AZ+NASMYTH-L", 6: "ALT-AZ"}
MOUNT_CODES = {"ALT-AZ": 0, "EQUATORIAL": 1, "ORBITING": 2, "X-Y": 3,
               "ALT-AZ+NASMYTH-R": 4, "ALT-AZ+NASMYTH-L": 5}
#: dish diameters [m] used when the AN table has no DIAMETER column
KNOWN_DIAMETERS = {"VLA": 25.0, "EVLA": 25.0, "JVLA": 25.0, "VLBA": 25.0, "ALMA": 12.0,
                   "ATCA": 22.0, "GMRT": 45.0, "WSRT": 25.0, "MWA": 4.0, "PAPER": 2.0,
                   "HERA": 14.0, "SMA": 6.0, "CARMA": 10.4, "MEERKAT": 13.5, "ASKAP": 12.0,
                   "NOEMA": 15.0, "ATA": 6.1, "LWA": 2.0, "OVRO_MMA": 2.0}

CHUNK_BYTES = 64 << 20


class UVFITSError(ValueError):
    """A file that is not usable random-group UVFITS (one-line message)."""


def _s(v):
    if isinstance(v, bytes):
        v = v.decode("ascii", "replace")
    return str(v).split("\x00")[0].strip()


# ===========================================================================
# reading
# ===========================================================================

class UVFITSFile:
    """The structure of a random-group UVFITS file (data left on disk)."""

    def __init__(self, path):
        from astropy.io import fits
        if not os.path.exists(path):
            raise FileNotFoundError(f"UVFITS file {path} does not exist")
        if os.path.isdir(path):
            raise UVFITSError(f"{path} is a directory, not a UVFITS file")
        with open(path, "rb") as f:
            if not f.read(30).startswith(b"SIMPLE  ="):
                raise UVFITSError(f"{path} is not a FITS file")
        self.path = path
        try:
            # headers and the small tables only: the groups are read by us, in chunks,
            # with plain reads (a memory map would count the whole file in the RSS)
            self.hdul = fits.open(path, memmap=False, lazy_load_hdus=True)
        except Exception as exc:  # noqa: BLE001
            raise UVFITSError(f"{path} cannot be read as FITS: {exc}") from exc
        prim = self.hdul[0]
        hdr = prim.header
        self.header = hdr
        if not hdr.get("GROUPS", False) or hdr.get("NAXIS1", -1) != 0:
            raise UVFITSError(f"{path} is not random-group UVFITS (GROUPS=T, NAXIS1=0 needed)")
        self.ngroups = int(hdr.get("GCOUNT", 0))
        naxis = int(hdr["NAXIS"])
        self.axes = {}
        for i in range(2, naxis + 1):
            name = _s(hdr.get(f"CTYPE{i}", "")).upper()
            name = name.split("-")[0] if name.startswith(("RA", "DEC")) else name
            self.axes[name] = dict(index=i, n=int(hdr[f"NAXIS{i}"]),
                                   crval=float(hdr.get(f"CRVAL{i}", 0.0)),
                                   cdelt=float(hdr.get(f"CDELT{i}", 1.0)),
                                   crpix=float(hdr.get(f"CRPIX{i}", 1.0)))
        for need in ("COMPLEX", "STOKES", "FREQ"):
            if need not in self.axes:
                raise UVFITSError(f"{path}: the primary array has no {need} axis")
        if self.axes["COMPLEX"]["n"] not in (2, 3):
            raise UVFITSError(f"{path}: COMPLEX axis of length {self.axes['COMPLEX']['n']} "
                              f"(2 or 3 expected)")
        self.nchan = self.axes["FREQ"]["n"]
        self.nif = self.axes["IF"]["n"] if "IF" in self.axes else 1
        st = self.axes["STOKES"]
        self.aips_stokes = [int(round(st["crval"] + (k + 1 - st["crpix"]) * st["cdelt"]))
                            for k in range(st["n"])]
        bad = [s for s in self.aips_stokes if s not in AIPS_TO_CASA]
        if bad:
            raise UVFITSError(f"{path}: unsupported Stokes code(s) {bad}")
        casa = [AIPS_TO_CASA[s] for s in self.aips_stokes]
        self.corr_types = sorted(casa)
        #: for each MS correlation, its index along the file's STOKES axis
        self.stokes_order = [casa.index(c) for c in self.corr_types]
        # numpy axis order of the data array (group axis first)
        order = sorted(self.axes.items(), key=lambda kv: -kv[1]["index"])
        self.np_axes = [name for name, _ in order]
        self.pcount = int(hdr.get("PCOUNT", 0))
        self.parnames = [_s(hdr.get(f"PTYPE{i}", "")).upper()
                         for i in range(1, self.pcount + 1)]
        bitpix = int(hdr["BITPIX"])
        self.dtype = np.dtype({8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4",
                               -64: ">f8"}[bitpix])
        self.datasize = int(np.prod([hdr[f"NAXIS{i}"] for i in range(2, naxis + 1)]))
        self.group_len = self.pcount + self.datasize
        self.data_offset = int(self.hdul.fileinfo(0)["datLoc"])
        self._params = None
        self.tables = {}
        for h in self.hdul[1:]:
            name = _s(h.header.get("EXTNAME", "")).upper()
            self.tables.setdefault(name, []).append(h)
        if "AIPS AN" not in self.tables:
            raise UVFITSError(f"{path}: no AIPS AN (antenna) table")

    def close(self):
        self.hdul.close()

    def par(self, name):
        """A random parameter (all groups, float64, scaled; same-named ones summed)."""
        idx = [i for i, p in enumerate(self.parnames) if p == name]
        if not idx:
            return None
        raw_all = self.params()
        out = np.zeros(self.ngroups, dtype=np.float64)
        hdr = self.header
        for i in idx:
            raw = raw_all[:, i]
            scale = float(hdr.get(f"PSCAL{i + 1}", 1.0))
            zero = float(hdr.get(f"PZERO{i + 1}", 0.0))
            out += raw * scale + zero
        return out

    def mjd_seconds(self):
        """Time [MJD seconds] of every group from the DATE parameter(s), summed term by
        term in seconds so that no Julian-date-sized float64 (40 us steps) is formed."""
        idx = [i for i, p in enumerate(self.parnames) if p == "DATE"]
        if not idx:
            return None
        raw_all = self.params()
        hdr = self.header
        days = np.zeros(self.ngroups, dtype=np.float64)   # whole (and half) days
        frac = np.zeros(self.ngroups, dtype=np.float64)   # fractions of a day
        for i in idx:
            v = raw_all[:, i] * float(hdr.get(f"PSCAL{i + 1}", 1.0))
            whole = np.floor(v)
            days += whole + float(hdr.get(f"PZERO{i + 1}", 0.0))
            frac += v - whole
        return (days - MJD_JD) * 86400.0 + frac * 86400.0

    def groups(self, g0, g1):
        """Groups g0:g1 as raw (unscaled) values, shape (n, pcount + datasize)."""
        n = g1 - g0
        with open(self.path, "rb") as f:
            f.seek(self.data_offset + g0 * self.group_len * self.dtype.itemsize)
            raw = np.fromfile(f, dtype=self.dtype, count=n * self.group_len)
        if raw.size != n * self.group_len:
            raise UVFITSError(f"{self.path} is truncated (group {g0 + raw.size // max(1, self.group_len)}"
                              f" of {self.ngroups} incomplete)")
        return raw.reshape(n, self.group_len)

    def params(self):
        """The random parameters of every group, unscaled, float64 (ngroups, pcount);
        read once, in chunks."""
        if self._params is None:
            out = np.empty((self.ngroups, self.pcount), dtype=np.float64)
            step = max(1, CHUNK_BYTES // max(1, self.group_len * self.dtype.itemsize))
            for g0 in range(0, self.ngroups, step):
                g1 = min(self.ngroups, g0 + step)
                out[g0:g1] = self.groups(g0, g1)[:, :self.pcount]
            self._params = out
        return self._params

    def par_prefix(self, prefix):
        for p in self.parnames:
            if p.startswith(prefix):
                return self.par(p)
        return None

    def vis_chunk(self, g0, g1):
        """(data (ng, nif, nchan, ncorr) complex64, weight (same) float32) of groups g0:g1,
        correlations in MS order."""
        shape = [g1 - g0] + [self.axes[n]["n"] for n in self.np_axes]
        raw = self.groups(g0, g1)[:, self.pcount:].astype(np.float32).reshape(shape)
        scale = float(self.header.get("BSCALE", 1.0))
        zero = float(self.header.get("BZERO", 0.0))
        if scale != 1.0 or zero != 0.0:
            raw = raw * np.float32(scale) + np.float32(zero)
        # bring to (group, IF, FREQ, STOKES, COMPLEX), dropping RA/DEC/other length-1 axes
        names = ["GROUP"] + self.np_axes
        want = ["GROUP", "IF", "FREQ", "STOKES", "COMPLEX"]
        for k, name in enumerate(names):
            if name not in want and raw.shape[k] != 1:
                raise UVFITSError(f"{self.path}: axis {name} has length {raw.shape[k]} "
                                  f"(only 1 is supported)")
        keep = [k for k, name in enumerate(names) if name in want]
        raw = raw.reshape([raw.shape[k] for k in keep])
        names = [names[k] for k in keep]
        if "IF" not in names:
            raw = raw[:, None]
            names = ["GROUP", "IF"] + names[1:]
        raw = np.transpose(raw, [names.index(n) for n in want])
        raw = raw[:, :, :, self.stokes_order, :]
        vis = np.empty(raw.shape[:4], dtype=np.complex64)
        vis.real = raw[..., 0]
        vis.imag = raw[..., 1]
        if raw.shape[-1] == 3:
            wt = np.ascontiguousarray(raw[..., 2])
        else:
            wt = np.ones(raw.shape[:4], dtype=np.float32)
        return vis, wt


def _antenna_tables(uv, antnamescheme):
    """Merged antenna list over the AN tables: (rows dict, offset per subarray, telescope)."""
    rows = dict(name=[], station=[], pos=[], mount=[], offset=[], diameter=[],
                flag=[], poltype=[], polangle=[])
    offsets = {}
    telescope = _s(uv.header.get("TELESCOP", ""))
    for k, hdu in enumerate(uv.tables["AIPS AN"]):
        h = hdu.header
        sub = int(h.get("EXTVER", k + 1))
        arrnam = _s(h.get("ARRNAM", ""))
        telescope = telescope or arrnam
        arr = np.array([float(h.get("ARRAYX", 0.0)), float(h.get("ARRAYY", 0.0)),
                        float(h.get("ARRAYZ", 0.0))])
        d = hdu.data
        cols = [c.upper() for c in d.columns.names]

        def col(name, default=None):
            return d.field(cols.index(name)) if name in cols else default

        nosta = np.asarray(col("NOSTA"), dtype=int)
        if nosta.size == 0:
            continue
        nmax = int(nosta.max())
        base = len(rows["name"])
        offsets[sub] = base
        names = [_s(x) for x in col("ANNAME")]
        xyz = np.asarray(col("STABXYZ"), dtype=float).reshape(-1, 3) + arr
        mnt = col("MNTSTA", np.zeros(len(nosta), dtype=int))
        staxof = col("STAXOF", np.zeros(len(nosta)))
        diam = col("DIAMETER")
        tel_d = KNOWN_DIAMETERS.get((arrnam or telescope).upper(), 0.0)
        pta = col("POLTYA", [""] * len(nosta))
        ptb = col("POLTYB", [""] * len(nosta))
        paa = col("POLAA", np.zeros(len(nosta)))
        pab = col("POLAB", np.zeros(len(nosta)))
        for key in rows:
            rows[key].extend([None] * nmax)
        vla = (arrnam or telescope).upper() in ("VLA", "EVLA", "JVLA")
        for j, n in enumerate(nosta):
            i = base + int(n) - 1
            if antnamescheme == "new" and vla:
                name = ("EA" if (arrnam or telescope).upper() != "VLA" else "VA") + f"{int(n):02d}"
            else:
                # CASA 6.7 names every antenna by its number (NOSTA) in the 'old'
                # scheme, and in the 'new' one for all but VLA data (measured on
                # MWA, HERA, PAPER files); the AN table's name goes to STATION
                name = str(int(n))
            rows["name"][i] = name
            rows["station"][i] = names[j]
            rows["pos"][i] = xyz[j]
            rows["mount"][i] = MOUNTS.get(int(mnt[j]), "ALT-AZ")
            rows["offset"][i] = float(staxof[j])
            rows["diameter"][i] = float(diam[j]) if diam is not None else tel_d
            rows["flag"][i] = False
            rows["poltype"][i] = (_s(pta[j]) or "R", _s(ptb[j]) or "L")
            rows["polangle"][i] = (np.radians(float(np.atleast_1d(paa[j])[0])),
                                   np.radians(float(np.atleast_1d(pab[j])[0])))
        for i in range(base, base + nmax):  # gaps in the numbering: flagged rows
            if rows["name"][i] is None:
                rows["name"][i] = ""
                rows["station"][i] = ""
                rows["pos"][i] = np.zeros(3)
                rows["mount"][i] = ""
                rows["offset"][i] = 0.0
                rows["diameter"][i] = 0.0
                rows["flag"][i] = True
                rows["poltype"][i] = ("R", "L")
                rows["polangle"][i] = (0.0, 0.0)
    return rows, offsets, telescope


def _spectral_windows(uv):
    """List of spectral windows (dicts) in spw-id order: FQ row r, IF i -> r*nif + i;
    and the map FREQSEL value -> first spw id."""
    f = uv.axes["FREQ"]
    nchan, nif = uv.nchan, uv.nif
    fq = uv.tables.get("AIPS FQ")
    spws = []
    fqmap = {}
    specsys = _s(uv.header.get("SPECSYS", "")).upper()
    if not specsys:
        # AIPS VELREF (+256 for the radio convention): 1 LSR, 2 heliocentric,
        # 3 observer; CASA reads it the same way
        velref = int(uv.header.get("VELREF", 3) or 3) % 256
        specsys = {1: "LSRK", 2: "BARYCENT", 3: "TOPOCENT"}.get(velref, "TOPOCENT")
    frame = {"TOPOCENT": 5, "GEOCENTR": 3, "BARYCENT": 2, "LSRK": 1, "LSRD": 0,
             "HELIOCEN": 2, "GALACTOC": 6, "SOURCE": 8}.get(specsys, 5)
    if fq:
        d = fq[0].data
        cols = [c.upper() for c in d.columns.names]
        for r in range(len(d)):
            fqid = int(d.field(cols.index("FRQSEL"))[r]) if "FRQSEL" in cols else r + 1
            fqmap[fqid] = len(spws)
            iff = np.atleast_1d(d.field(cols.index("IF FREQ"))[r]).astype(float)
            chw = np.atleast_1d(d.field(cols.index("CH WIDTH"))[r]).astype(float)
            tbw = np.atleast_1d(d.field(cols.index("TOTAL BANDWIDTH"))[r]).astype(float)
            sb = (np.atleast_1d(d.field(cols.index("SIDEBAND"))[r]).astype(int)
                  if "SIDEBAND" in cols else np.ones(nif, dtype=int))
            # the FREQ axis increment gives the direction of IF 1; an IF whose sideband
            # differs from IF 1's runs the other way (CH WIDTH is a magnitude)
            base = 1.0 if f["cdelt"] >= 0 else -1.0
            sb0 = 1 if sb[0] >= 0 else -1
            for i in range(nif):
                sign = base * (1 if (1 if sb[i] >= 0 else -1) == sb0 else -1)
                width = sign * abs(chw[i]) if chw[i] != 0 else f["cdelt"]
                ref = f["crval"] + iff[i]
                freqs = ref + (np.arange(nchan) + 1 - f["crpix"]) * width
                spws.append(dict(freqs=freqs, width=np.full(nchan, width),
                                 ref=ref, total=float(abs(tbw[i])) or abs(width) * nchan,
                                 sideband=1 if width >= 0 else -1, frame=frame))
    else:
        fqmap[1] = 0
        for i in range(nif):
            width = f["cdelt"]
            ref = f["crval"]
            freqs = ref + (np.arange(nchan) + 1 - f["crpix"]) * width
            spws.append(dict(freqs=freqs, width=np.full(nchan, width), ref=ref,
                             total=abs(width) * nchan, sideband=1 if width >= 0 else -1,
                             frame=frame))
    return spws, fqmap


def _sources(uv):
    """Fields: list of dicts (name, code, ra, dec [rad], epoch) and SU id -> field id."""
    su = uv.tables.get("AIPS SU")
    fields = []
    idmap = {}
    if su:
        d = su[0].data
        cols = [c.upper() for c in d.columns.names]

        def col(name, default=0.0):
            return d.field(cols.index(name)) if name in cols else [default] * len(d)

        ids = col("ID. NO.", 0)
        names = col("SOURCE", "")
        ra, dec = col("RAEPO"), col("DECEPO")
        ep = col("EPOCH", 2000.0)
        code = col("CALCODE", "")
        for r in range(len(d)):
            idmap[int(ids[r])] = len(fields)
            fields.append(dict(name=_s(names[r]), code=_s(code[r]),
                               ra=np.radians(float(ra[r])), dec=np.radians(float(dec[r])),
                               epoch=float(ep[r])))
    else:
        ra = uv.axes.get("RA", {}).get("crval", 0.0)
        dec = uv.axes.get("DEC", {}).get("crval", 0.0)
        ep = float(uv.header.get("EPOCH", uv.header.get("EQUINOX", 2000.0)))
        idmap[1] = 0
        fields.append(dict(name=_s(uv.header.get("OBJECT", "")), code="",
                           ra=np.radians(ra), dec=np.radians(dec), epoch=ep))
    return fields, idmap


def _main_desc(nchan, ncorr):
    """Table description and storage of the main-table data columns."""
    from casacore import tables as ct
    shape = [nchan, ncorr]
    cols = [
        ct.makearrcoldesc("DATA", 0j, valuetype="complex", shape=shape,
                          datamanagertype="TiledShapeStMan", datamanagergroup="TiledData",
                          comment="The data column"),
        ct.makearrcoldesc("WEIGHT_SPECTRUM", 0.0, valuetype="float", shape=shape,
                          datamanagertype="TiledShapeStMan",
                          datamanagergroup="TiledWgtSpectrum",
                          comment="Weight for each data point"),
    ]
    return ct.maketabdesc(cols)


def _time_interval(time, a1, a2, inttim):
    """Integration time per group: INTTIM if present, else the typical step of a baseline."""
    if inttim is not None and np.all(inttim > 0):
        return inttim
    key = a1.astype(np.int64) * 100000 + a2
    order = np.lexsort((time, key))
    t = time[order]
    k = key[order]
    dt = np.diff(t)
    ok = (np.diff(k) == 0) & (dt > 1e-6)
    step = float(np.median(dt[ok])) if ok.any() else 1.0
    return np.full(len(time), step)


def _scan_numbers(time, field, interval):
    """Scans: a new one when the field changes or the time jumps by more than five
    integrations (and at least 60 s) between consecutive distinct times."""
    ut, inv = np.unique(time, return_inverse=True)
    # field of each distinct time (first group at that time)
    first = np.zeros(len(ut), dtype=np.int64)
    first[inv[::-1]] = np.arange(len(time))[::-1]
    f = field[first]
    gap = max(60.0, 5.0 * float(np.median(interval))) if len(interval) else 60.0
    brk = np.zeros(len(ut), dtype=bool)
    if len(ut) > 1:
        brk[1:] = (np.diff(ut) > gap) | (np.diff(f) != 0)
    scan_of_time = np.cumsum(brk) + 1
    return scan_of_time[inv].astype(np.int32)


def uvfits_to_ms(fitsfile, vis, antnamescheme="old"):
    """Write the MS ``vis`` (must not exist; created as-is at that path) from
    ``fitsfile``.  Returns a dict with counts."""
    uv = UVFITSFile(fitsfile)
    try:
        return _convert(uv, vis, antnamescheme)
    finally:
        uv.close()


def _convert(uv, vis, antnamescheme):
    from casacore import tables as ct

    ng, nif, nchan = uv.ngroups, uv.nif, uv.nchan
    ncorr = len(uv.corr_types)
    if ng == 0:
        raise UVFITSError(f"{uv.path} holds no visibilities (GCOUNT=0)")
    uu = uv.par_prefix("UU")
    vv = uv.par_prefix("VV")
    ww = uv.par_prefix("WW")
    time = uv.mjd_seconds()
    if uu is None or vv is None or ww is None or time is None:
        raise UVFITSError(f"{uv.path}: random parameters UU, VV, WW and DATE are required")
    # baselines and subarrays
    a1p, a2p = uv.par("ANTENNA1"), uv.par("ANTENNA2")
    blp = uv.par("BASELINE")
    subp = uv.par("SUBARRAY")
    if a1p is not None and a2p is not None and blp is None:
        # (with a BASELINE parameter too, CASA reads BASELINE: so do we)
        a1 = np.rint(a1p).astype(np.int64)
        a2 = np.rint(a2p).astype(np.int64)
        sub = np.rint(subp).astype(np.int64) if subp is not None else np.ones(ng, np.int64)
    elif blp is not None:
        ibl = np.floor(blp + 1e-6).astype(np.int64)
        big = ibl > 65535
        a1 = np.where(big, (ibl - 65536) // 2048, ibl // 256)
        a2 = np.where(big, (ibl - 65536) % 2048, ibl % 256)
        sub = np.rint((blp - ibl) * 100.0).astype(np.int64) + 1
    else:
        raise UVFITSError(f"{uv.path}: no BASELINE (or ANTENNA1/ANTENNA2) random parameter")
    sub = np.maximum(sub, 1)
    ant, offsets, telescope = _antenna_tables(uv, antnamescheme)
    nant_total = len(ant["name"])
    off = np.array([offsets.get(int(s), offsets.get(1, 0)) for s in range(0, int(sub.max()) + 1)])
    a1 = a1 - 1 + off[sub]
    a2 = a2 - 1 + off[sub]
    if a1.min() < 0 or a2.min() < 0 or max(a1.max(), a2.max()) >= nant_total:
        raise UVFITSError(f"{uv.path}: baselines name antennas missing from the AN table")
    spws, fqmap = _spectral_windows(uv)
    fqsel = uv.par("FREQSEL")
    if fqsel is None:
        fq_first = np.zeros(ng, dtype=np.int64)
    else:
        keys = np.rint(fqsel).astype(np.int64)
        lut = {k: fqmap.get(k, fqmap.get(min(fqmap))) for k in np.unique(keys)}
        fq_first = np.vectorize(lambda k: lut[k], otypes=[np.int64])(keys) if len(lut) > 1 \
            else np.full(ng, next(iter(lut.values())), dtype=np.int64)
    fields, srcmap = _sources(uv)
    srcp = uv.par("SOURCE")
    if srcp is None:
        field = np.zeros(ng, dtype=np.int64)
    else:
        keys = np.rint(srcp).astype(np.int64)
        missing = set(np.unique(keys).tolist()) - set(srcmap)
        if missing:
            raise UVFITSError(f"{uv.path}: SOURCE id(s) {sorted(missing)} not in the SU table")
        lut = np.zeros(max(srcmap) + 1, dtype=np.int64)
        for k, v in srcmap.items():
            lut[k] = v
        field = lut[keys]
    inttim = uv.par("INTTIM")
    interval = _time_interval(time, a1, a2, inttim)
    scan = _scan_numbers(time, field, interval)
    uvw = np.stack([uu, vv, ww], axis=1) * C_LIGHT

    nrow = ng * nif
    ct.default_ms(vis, _main_desc(nchan, ncorr)).close()
    t = ct.table(vis, readonly=False, ack=False)
    try:
        t.addrows(nrow)
        rep = lambda x: np.repeat(x, nif)  # noqa: E731 - one row per IF
        ifidx = np.tile(np.arange(nif), ng)
        t.putcol("TIME", rep(time))
        t.putcol("TIME_CENTROID", rep(time))
        t.putcol("INTERVAL", rep(interval))
        t.putcol("EXPOSURE", rep(interval))
        t.putcol("ANTENNA1", rep(a1).astype(np.int32))
        t.putcol("ANTENNA2", rep(a2).astype(np.int32))
        t.putcol("ARRAY_ID", rep(sub - 1).astype(np.int32))
        t.putcol("FEED1", np.zeros(nrow, np.int32))
        t.putcol("FEED2", np.zeros(nrow, np.int32))
        t.putcol("FIELD_ID", rep(field).astype(np.int32))
        t.putcol("DATA_DESC_ID", (rep(fq_first) + ifidx).astype(np.int32))
        t.putcol("SCAN_NUMBER", rep(scan))
        t.putcol("STATE_ID", np.full(nrow, -1, np.int32))
        t.putcol("OBSERVATION_ID", np.zeros(nrow, np.int32))
        t.putcol("PROCESSOR_ID", np.full(nrow, -1, np.int32))
        t.putcol("UVW", np.repeat(uvw, nif, axis=0))
        # visibilities, in chunks of groups
        per_group = nif * nchan * ncorr * (8 + 4 + 4 + 1) + 64
        step = max(1, CHUNK_BYTES // per_group)
        for g0 in range(0, ng, step):
            g1 = min(ng, g0 + step)
            vis_c, wt = uv.vis_chunk(g0, g1)
            n = (g1 - g0) * nif
            r0 = g0 * nif
            shape = (n, nchan, ncorr)
            flag = (wt <= 0).reshape(shape)
            wabs = np.abs(wt).reshape(shape)
            wrow = wabs.sum(axis=1, dtype=np.float64).astype(np.float32)
            t.putcol("DATA", vis_c.reshape(shape), startrow=r0, nrow=n)
            t.putcol("FLAG", flag, startrow=r0, nrow=n)
            t.putcol("FLAG_ROW", flag.all(axis=(1, 2)), startrow=r0, nrow=n)
            t.putcol("WEIGHT_SPECTRUM", wabs, startrow=r0, nrow=n)
            t.putcol("WEIGHT", wrow, startrow=r0, nrow=n)
            with np.errstate(divide="ignore"):
                sig = np.where(wrow > 0, 1.0 / np.sqrt(np.maximum(wrow, 1e-37)), 0.0)
            t.putcol("SIGMA", sig.astype(np.float32), startrow=r0, nrow=n)
        _write_subtables(vis, uv, ant, spws, fields, time, interval, telescope)
    finally:
        t.close()
    return dict(nrows=nrow, ngroups=ng, nspw=len(spws), nfield=len(fields),
                nant=nant_total, ncorr=ncorr, nchan=nchan)


def _write_subtables(vis, uv, ant, spws, fields, time, interval, telescope):
    from casacore import tables as ct
    join = lambda n: os.path.join(vis, n)  # noqa: E731
    ncorr = len(uv.corr_types)
    tmin, tmax = float(time.min()), float(time.max())
    # ANTENNA
    with ct.table(join("ANTENNA"), readonly=False, ack=False) as a:
        n = len(ant["name"])
        a.addrows(n)
        a.putcol("NAME", ant["name"])
        a.putcol("STATION", ant["station"])
        a.putcol("POSITION", np.array(ant["pos"], dtype=float).reshape(n, 3))
        a.putcol("OFFSET", np.array([[o, 0.0, 0.0] for o in ant["offset"]]))
        a.putcol("TYPE", ["GROUND-BASED"] * n)
        a.putcol("MOUNT", ant["mount"])
        a.putcol("DISH_DIAMETER", np.array(ant["diameter"], dtype=float))
        a.putcol("FLAG_ROW", np.array(ant["flag"], dtype=bool))
    # FEED: one per antenna, receptors from the correlations present
    rec = sorted({r for c in uv.corr_types for r in CORR_PRODUCT[c]})
    nrec = 2 if len(rec) == 2 or any(c < 5 for c in uv.corr_types) else 1
    with ct.table(join("FEED"), readonly=False, ack=False) as f:
        n = len(ant["name"])
        f.addrows(n)
        f.putcol("ANTENNA_ID", np.arange(n, dtype=np.int32))
        f.putcol("FEED_ID", np.zeros(n, np.int32))
        f.putcol("SPECTRAL_WINDOW_ID", np.full(n, -1, np.int32))
        f.putcol("TIME", np.full(n, tmin))
        f.putcol("INTERVAL", np.zeros(n))
        f.putcol("NUM_RECEPTORS", np.full(n, nrec, np.int32))
        f.putcol("BEAM_ID", np.full(n, -1, np.int32))
        f.putcol("POSITION", np.zeros((n, 3)))
        lin = any(9 <= c <= 12 for c in uv.corr_types)
        for i in range(n):
            pt = ant["poltype"][i] if not lin else ("X", "Y")
            if nrec == 1:
                only = [CORR_NAMES[c][0] for c in uv.corr_types][0]
                pt = (only,)
            f.putcell("POLARIZATION_TYPE", i, list(pt[:nrec]))
            f.putcell("BEAM_OFFSET", i, np.zeros((nrec, 2)))
            f.putcell("POL_RESPONSE", i, np.eye(nrec, dtype=complex))
            f.putcell("RECEPTOR_ANGLE", i, np.array(ant["polangle"][i][:nrec], dtype=float))
    # SPECTRAL_WINDOW + DATA_DESCRIPTION
    with ct.table(join("SPECTRAL_WINDOW"), readonly=False, ack=False) as s:
        n = len(spws)
        s.addrows(n)
        for i, w in enumerate(spws):
            s.putcell("CHAN_FREQ", i, w["freqs"])
            s.putcell("CHAN_WIDTH", i, np.abs(w["width"]))
            s.putcell("EFFECTIVE_BW", i, np.abs(w["width"]))
            s.putcell("RESOLUTION", i, np.abs(w["width"]))
        s.putcol("NUM_CHAN", np.full(n, uv.nchan, np.int32))
        s.putcol("REF_FREQUENCY", np.array([w["ref"] for w in spws]))
        s.putcol("TOTAL_BANDWIDTH", np.array([w["total"] for w in spws]))
        s.putcol("NET_SIDEBAND", np.array([w["sideband"] for w in spws], np.int32))
        s.putcol("MEAS_FREQ_REF", np.array([w["frame"] for w in spws], np.int32))
        s.putcol("NAME", ["none"] * n)
        s.putcol("FREQ_GROUP_NAME", ["none"] * n)
        s.putcol("FREQ_GROUP", np.zeros(n, np.int32))
        s.putcol("IF_CONV_CHAIN", np.zeros(n, np.int32))
        s.putcol("FLAG_ROW", np.zeros(n, bool))
    with ct.table(join("DATA_DESCRIPTION"), readonly=False, ack=False) as d:
        d.addrows(len(spws))
        d.putcol("SPECTRAL_WINDOW_ID", np.arange(len(spws), dtype=np.int32))
        d.putcol("POLARIZATION_ID", np.zeros(len(spws), np.int32))
        d.putcol("FLAG_ROW", np.zeros(len(spws), bool))
    with ct.table(join("POLARIZATION"), readonly=False, ack=False) as p:
        p.addrows(1)
        p.putcell("CORR_TYPE", 0, np.array(uv.corr_types, np.int32))
        prod = np.array([CORR_PRODUCT[c] for c in uv.corr_types], np.int32)
        if nrec == 1:
            prod[:] = 0
        p.putcell("CORR_PRODUCT", 0, prod)
        p.putcell("NUM_CORR", 0, ncorr)
        p.putcell("FLAG_ROW", 0, False)
    # FIELD and SOURCE
    with ct.table(join("FIELD"), readonly=False, ack=False) as f:
        n = len(fields)
        f.addrows(n)
        dirs = np.array([[[fl["ra"], fl["dec"]]] for fl in fields])
        for c in ("PHASE_DIR", "DELAY_DIR", "REFERENCE_DIR"):
            f.putcol(c, dirs)
        f.putcol("NAME", [fl["name"] for fl in fields])
        f.putcol("CODE", [fl["code"] for fl in fields])
        f.putcol("NUM_POLY", np.zeros(n, np.int32))
        f.putcol("SOURCE_ID", np.arange(n, dtype=np.int32))
        f.putcol("TIME", np.full(n, tmin))
        f.putcol("FLAG_ROW", np.zeros(n, bool))
        if any(abs(fl["epoch"] - 1950.0) < 0.5 for fl in fields):
            for c in ("PHASE_DIR", "DELAY_DIR", "REFERENCE_DIR"):
                kw = f.getcolkeywords(c)
                kw["MEASINFO"]["Ref"] = "B1950"
                f.putcolkeywords(c, kw)
    srcdesc = ct.required_ms_desc("SOURCE")
    # as CASA: one SOURCE row per source and spectral window
    nspw = max(1, len(spws))
    src = ct.table(join("SOURCE"), srcdesc, nrow=len(fields) * nspw, ack=False)
    try:
        n = len(fields) * nspw
        fi = np.repeat(np.arange(len(fields)), nspw)
        src.putcol("SOURCE_ID", fi.astype(np.int32))
        src.putcol("NAME", [fields[i]["name"] for i in fi])
        src.putcol("CODE", [fields[i]["code"] for i in fi])
        src.putcol("DIRECTION", np.array([[fields[i]["ra"], fields[i]["dec"]] for i in fi]
                                         ).reshape(n, 2))
        src.putcol("PROPER_MOTION", np.zeros((n, 2)))
        src.putcol("TIME", np.full(n, 0.5 * (tmin + tmax)))
        src.putcol("INTERVAL", np.full(n, tmax - tmin + float(np.max(interval))))
        src.putcol("SPECTRAL_WINDOW_ID", np.tile(np.arange(nspw), len(fields)).astype(np.int32))
        src.putcol("CALIBRATION_GROUP", np.full(n, -1, np.int32))
        src.putcol("NUM_LINES", np.zeros(n, np.int32))
        src.flush()
        with ct.table(vis, readonly=False, ack=False) as m:
            m.putkeyword("SOURCE", src)
    finally:
        src.close()
    # OBSERVATION
    with ct.table(join("OBSERVATION"), readonly=False, ack=False) as o:
        o.addrows(1)
        o.putcell("TELESCOPE_NAME", 0, telescope)
        o.putcell("OBSERVER", 0, _s(uv.header.get("OBSERVER", "")))
        o.putcell("PROJECT", 0, "")
        o.putcell("TIME_RANGE", 0, np.array([tmin, tmax]))
        o.putcell("RELEASE_DATE", 0, 0.0)
        o.putcell("SCHEDULE_TYPE", 0, "")
        o.putcell("FLAG_ROW", 0, False)
    # HISTORY: the FITS history cards
    hist = [_s(c) for c in uv.header.get("HISTORY", [])]
    if hist:
        with ct.table(join("HISTORY"), readonly=False, ack=False) as h:
            n = len(hist)
            h.addrows(n)
            h.putcol("TIME", np.full(n, tmin))
            h.putcol("MESSAGE", hist)
            h.putcol("ORIGIN", ["UVFITS"] * n)
            h.putcol("PRIORITY", ["INFO"] * n)
            h.putcol("OBSERVATION_ID", np.zeros(n, np.int32))
            h.putcol("OBJECT_ID", np.zeros(n, np.int32))
            h.putcol("APPLICATION", ["importuvfits"] * n)
            for r in range(n):
                h.putcell("CLI_COMMAND", r, [""])
                h.putcell("APP_PARAMS", r, [""])


# ===========================================================================
# writing
# ===========================================================================

def _gst0_deg(jd_midnight):
    """Greenwich mean sidereal time [deg] at 0h UT of the Julian date ``jd_midnight``
    (IAU 1982 expression)."""
    t = (jd_midnight - 2451545.0) / 36525.0
    sec = 24110.54841 + 8640184.812866 * t + 0.093104 * t * t - 6.2e-6 * t ** 3
    return (sec / 240.0) % 360.0


def _aips_stokes_axis(corr_types, vis):
    """(list of AIPS codes in file order, MS index of each) with a constant step."""
    aips = [CASA_TO_AIPS.get(int(c)) for c in corr_types]
    if None in aips:
        raise ValueError(f"{vis}: correlation type(s) "
                         f"{[int(c) for c, a in zip(corr_types, aips) if a is None]} "
                         f"have no UVFITS Stokes code")
    order = sorted(range(len(aips)), key=lambda i: -aips[i] if aips[i] < 0 else aips[i])
    codes = [aips[i] for i in order]
    if len(codes) > 1:
        steps = set(np.diff(codes).tolist())
        if len(steps) != 1:
            raise ValueError(f"{vis}: correlations {[CORR_NAMES[int(c)] for c in corr_types]}"
                             f" do not form an evenly spaced UVFITS Stokes axis")
    return codes, order


def ms_to_uvfits(vis, fitsfile, datacolumn="corrected", rows=None, multisource=True,
                 combinespw=True, writestation=True, padwithflags=True, log=None):
    """Write the rows ``rows`` (sorted ints, None = all) of ``vis`` to ``fitsfile``
    (created; the caller handles temporary names).  Returns a dict of counts."""
    from casacore import tables as ct
    from astropy.io import fits
    from .io import iter_chunks
    from .core import column_has_data

    say = log or (lambda msg, prio="INFO": None)
    join = lambda n: os.path.join(vis, n)  # noqa: E731
    main = ct.table(vis, ack=False)
    try:
        cols = set(main.colnames())
        want = {"corrected": "CORRECTED_DATA", "data": "DATA", "model": "MODEL_DATA"}[
            datacolumn.lower()]
        if want not in cols:
            if want == "CORRECTED_DATA" and "DATA" in cols:
                say(f"{vis} has no CORRECTED_DATA column; exporting DATA", "WARN")
                want = "DATA"
            else:
                raise ValueError(f"{vis} has no {want} column (datacolumn='{datacolumn}')")
        # ---- subtables
        with ct.table(join("DATA_DESCRIPTION"), ack=False) as d:
            dd_spw = d.getcol("SPECTRAL_WINDOW_ID")
            dd_pol = d.getcol("POLARIZATION_ID")
        with ct.table(join("POLARIZATION"), ack=False) as p:
            pol_types = [np.asarray(p.getcell("CORR_TYPE", i)) for i in range(p.nrows())]
        with ct.table(join("SPECTRAL_WINDOW"), ack=False) as s:
            chan_freq = [np.asarray(s.getcell("CHAN_FREQ", i), float) for i in range(s.nrows())]
            chan_width = [np.asarray(s.getcell("CHAN_WIDTH", i), float)
                          for i in range(s.nrows())]
            ref_freq = s.getcol("REF_FREQUENCY")
            total_bw = s.getcol("TOTAL_BANDWIDTH")
            meas_ref = s.getcol("MEAS_FREQ_REF")
        with ct.table(join("FIELD"), ack=False) as f:
            fdir = np.asarray(f.getcol("PHASE_DIR"))[:, 0, :]
            fnames = [str(x) for x in f.getcol("NAME")]
            fcodes = [str(x) for x in f.getcol("CODE")]
            fref = f.getcolkeywords("PHASE_DIR").get("MEASINFO", {}).get("Ref", "J2000")
        with ct.table(join("ANTENNA"), ack=False) as a:
            anames = [str(x) for x in a.getcol("NAME")]
            astations = [str(x) for x in a.getcol("STATION")]
            apos = np.asarray(a.getcol("POSITION"), float).reshape(-1, 3)
            amount = [str(x) for x in a.getcol("MOUNT")]
            aoffset = np.asarray(a.getcol("OFFSET"), float).reshape(-1, 3)
            adiam = np.asarray(a.getcol("DISH_DIAMETER"), float)
            aflag = np.asarray(a.getcol("FLAG_ROW"), bool)
        feed_pol, feed_ang = {}, {}
        if os.path.isdir(join("FEED")):
            with ct.table(join("FEED"), ack=False) as fd:
                for i in range(fd.nrows()):
                    ant = int(fd.getcell("ANTENNA_ID", i))
                    if ant not in feed_pol:
                        feed_pol[ant] = [str(x) for x in fd.getcell("POLARIZATION_TYPE", i)]
                        feed_ang[ant] = np.asarray(fd.getcell("RECEPTOR_ANGLE", i), float)
        telescope, observer = "", ""
        if os.path.isdir(join("OBSERVATION")):
            with ct.table(join("OBSERVATION"), ack=False) as o:
                if o.nrows():
                    telescope = str(o.getcell("TELESCOPE_NAME", 0))
                    observer = str(o.getcell("OBSERVER", 0))
        # ---- per-row scalars (small), in chunks
        scal = ["TIME", "ANTENNA1", "ANTENNA2", "DATA_DESC_ID", "FIELD_ID", "ARRAY_ID",
                "UVW", "INTERVAL"]
        parts = {c: [] for c in scal}
        rownr = []
        for rn, chunk in iter_chunks(main, scal, rows=rows):
            rownr.append(rn)
            for c in scal:
                parts[c].append(chunk[c])
        if not rownr or sum(len(r) for r in rownr) == 0:
            raise ValueError(f"{vis}: no rows selected to export")
        rownr = np.concatenate(rownr)
        R = {c: np.concatenate(parts[c]) for c in scal}
        del parts
        spw_of_row = dd_spw[R["DATA_DESC_ID"]]
        pol_of_row = dd_pol[R["DATA_DESC_ID"]]
        spws = sorted(np.unique(spw_of_row).tolist())
        nchans = {s: len(chan_freq[s]) for s in spws}
        if len(set(nchans.values())) != 1:
            raise ValueError(f"{vis}: the selected spectral windows have different numbers of "
                             f"channels ({', '.join(f'spw {s}: {n}' for s, n in nchans.items())});"
                             f" select spws with equal channel counts (spw parameter)")
        pols = sorted(np.unique(pol_of_row).tolist())
        ctypes = {tuple(pol_types[p].tolist()) for p in pols}
        if len(ctypes) != 1:
            raise ValueError(f"{vis}: the selected data have different correlation setups; "
                             f"select one polarization setup (spw parameter)")
        corr_types = list(next(iter(ctypes)))
        nchan = nchans[spws[0]]
        ncorr = len(corr_types)
        codes, stokes_order = _aips_stokes_axis(corr_types, vis)
        # channel frequencies must be linear within each spw
        widths = {}
        for s in spws:
            fr = chan_freq[s]
            w = (fr[-1] - fr[0]) / (nchan - 1) if nchan > 1 else (
                chan_width[s][0] if len(chan_width[s]) else 1.0)
            if nchan > 2 and np.max(np.abs(fr - (fr[0] + w * np.arange(nchan)))) > 1e-3 * abs(w):
                raise ValueError(f"{vis}: spw {s} has unevenly spaced channels, which UVFITS "
                                 f"cannot describe")
            widths[s] = w
        fields_used = sorted(np.unique(R["FIELD_ID"]).tolist())
        if not multisource and len(fields_used) > 1:
            raise ValueError(f"{vis}: {len(fields_used)} fields selected but multisource=False;"
                             f" select one field or use multisource=True")
        # ---- groups
        if combinespw:
            nif = len(spws)
            if_of_row = np.searchsorted(spws, spw_of_row)
            fq_of_row = np.ones(len(rownr), dtype=np.int64)
            keyspw = np.zeros(len(rownr), dtype=np.int64)
        else:
            nif = 1
            if_of_row = np.zeros(len(rownr), dtype=np.int64)
            fq_of_row = np.searchsorted(spws, spw_of_row) + 1
            keyspw = fq_of_row
        order = np.lexsort((if_of_row, keyspw, R["ARRAY_ID"], R["FIELD_ID"], R["ANTENNA2"],
                            R["ANTENNA1"], R["TIME"]))
        k = [R["TIME"][order], R["ANTENNA1"][order], R["ANTENNA2"][order],
             R["FIELD_ID"][order], R["ARRAY_ID"][order], keyspw[order]]
        newgrp = np.ones(len(order), dtype=bool)
        newgrp[1:] = np.any([np.diff(x) != 0 for x in k], axis=0)
        gid_sorted = np.cumsum(newgrp) - 1
        ng = int(gid_sorted[-1]) + 1
        ifs_sorted = if_of_row[order]
        dup = (~newgrp[1:]) & (np.diff(ifs_sorted) == 0)
        if dup.any():
            r = rownr[order][1:][dup][0]
            raise ValueError(f"{vis}: rows {rownr[order][:-1][dup][0]} and {r} have the same "
                             f"time, baseline, field and spw; cannot write them as one group")
        counts = np.bincount(gid_sorted, minlength=ng)
        keep_group = np.ones(ng, dtype=bool)
        if combinespw and not padwithflags and nif > 1:
            keep_group = counts == nif
            if not keep_group.all():
                say(f"{int((~keep_group).sum())} group(s) lack some spectral windows and are "
                    f"not written (padwithflags=False)", "WARN")
        first = np.nonzero(newgrp)[0]
        grp_rows = order[first]  # index (into R) of one row per group
        newid = np.cumsum(keep_group) - 1
        ngw = int(keep_group.sum())
        if ngw == 0:
            raise ValueError(f"{vis}: nothing to write (every group is incomplete)")
        gsel = np.nonzero(keep_group)[0]
        g_time = R["TIME"][grp_rows][gsel]
        g_a1 = R["ANTENNA1"][grp_rows][gsel].astype(np.int64)
        g_a2 = R["ANTENNA2"][grp_rows][gsel].astype(np.int64)
        g_field = R["FIELD_ID"][grp_rows][gsel]
        g_arr = R["ARRAY_ID"][grp_rows][gsel].astype(np.int64)
        g_uvw = R["UVW"][grp_rows][gsel] / C_LIGHT
        g_int = R["INTERVAL"][grp_rows][gsel]
        g_fq = fq_of_row[grp_rows][gsel]
        # ---- random parameters
        mjd0 = np.floor(g_time.min() / 86400.0)     # midnight before the first time
        jd0 = mjd0 + MJD_JD
        djd = (g_time - mjd0 * 86400.0) / 86400.0   # days since then, no JD rounding
        coarse = djd.astype(np.float32)
        fine = (djd - coarse.astype(np.float64)).astype(np.float32)
        nant = len(anames)
        if nant > 255:
            bl = 65536.0 + 2048.0 * (g_a1 + 1) + (g_a2 + 1)
        else:
            bl = 256.0 * (g_a1 + 1) + (g_a2 + 1) + 0.01 * g_arr
        pnames = ["UU", "VV", "WW", "DATE", "DATE", "BASELINE", "INTTIM"]
        pvals = [g_uvw[:, 0], g_uvw[:, 1], g_uvw[:, 2], coarse, fine, bl, g_int]
        if nant > 255:
            # AIPS Memo 117 (2017 revision): explicit antenna numbers and subarray
            pnames += ["ANTENNA1", "ANTENNA2", "SUBARRAY"]
            pvals += [g_a1 + 1.0, g_a2 + 1.0, g_arr + 1.0]
        pnames.append("FREQSEL")
        pvals.append(g_fq.astype(np.float64))
        if multisource:
            pnames.append("SOURCE")
            pvals.append(np.searchsorted(fields_used, g_field) + 1.0)
        pcount = len(pnames)
        params = np.stack([np.asarray(v, dtype=np.float64) for v in pvals], axis=1)
        # ---- header
        ref_spw = spws[0]
        w0 = widths[ref_spw]
        crpix = 1.0 + (ref_freq[ref_spw] - chan_freq[ref_spw][0]) / w0 if w0 else 1.0
        crval = float(ref_freq[ref_spw])
        f_main = fields_used[0]
        hdr = fits.Header()
        hdr["SIMPLE"] = True
        hdr["BITPIX"] = -32
        hdr["NAXIS"] = 7
        dims = [0, 3, ncorr, nchan, nif, 1, 1]
        for i, n in enumerate(dims, start=1):
            hdr[f"NAXIS{i}"] = n
        hdr["EXTEND"] = True
        hdr["BLOCKED"] = True
        hdr["GROUPS"] = True
        hdr["PCOUNT"] = pcount
        hdr["GCOUNT"] = ngw
        hdr["OBJECT"] = fnames[f_main] if not multisource else "MULTI"
        hdr["TELESCOP"] = telescope
        hdr["INSTRUME"] = telescope
        hdr["OBSERVER"] = observer
        t0 = g_time.min()
        hdr["DATE-OBS"] = _iso_date(t0)
        hdr["EPOCH"] = 1950.0 if fref.upper() == "B1950" else 2000.0
        hdr["BSCALE"] = 1.0
        hdr["BZERO"] = 0.0
        hdr["BUNIT"] = "UNCALIB" if want == "DATA" else "JY"
        hdr["SPECSYS"] = {5: "TOPOCENT", 3: "GEOCENTR", 2: "BARYCENT", 1: "LSRK", 0: "LSRD",
                          6: "GALACTOC", 8: "SOURCE"}.get(int(meas_ref[ref_spw]), "TOPOCENT")
        stokes_step = float(codes[1] - codes[0]) if ncorr > 1 else -1.0
        axes = [("COMPLEX", 1.0, 1.0, 1.0),
                ("STOKES", float(codes[0]), stokes_step, 1.0),
                ("FREQ", crval, w0, crpix),
                ("IF", 1.0, 1.0, 1.0),
                ("RA", float(np.degrees(fdir[f_main, 0]) % 360.0), 1.0, 1.0),
                ("DEC", float(np.degrees(fdir[f_main, 1])), 1.0, 1.0)]
        for i, (name, cv, cd, cp) in enumerate(axes, start=2):
            hdr[f"CTYPE{i}"] = name
            hdr[f"CRVAL{i}"] = cv
            hdr[f"CDELT{i}"] = cd
            hdr[f"CRPIX{i}"] = cp
            hdr[f"CROTA{i}"] = 0.0
        for i, name in enumerate(pnames, start=1):
            hdr[f"PTYPE{i}"] = name
            hdr[f"PSCAL{i}"] = 1.0
            hdr[f"PZERO{i}"] = float(jd0) if i == 4 else 0.0
        hdr["ORIGIN"] = "casashell"
        hdr.add_history("exported by casashell exportuvfits from " + os.path.basename(
            os.path.abspath(vis)))
        # ---- stream the groups
        group_len = pcount + 3 * ncorr * nchan * nif
        row_index_in_R = order  # sorted by group
        grp_of_sorted = newid[gid_sorted]
        ok_sorted = keep_group[gid_sorted]
        with open(fitsfile, "wb") as out:
            out.write(hdr.tostring().encode("ascii"))
            per_group = group_len * 4 + nif * (8 * ncorr * nchan) * 3
            step = max(1, CHUNK_BYTES // max(per_group, 1))
            # an empty WEIGHT_SPECTRUM column (cells never written) counts as
            # absent, as in CASA: the weights then come from WEIGHT
            has_ws = column_has_data(main, "WEIGHT_SPECTRUM")
            nsorted = len(order)
            # chunk boundaries in the sorted row list at group boundaries
            gstarts = np.searchsorted(grp_of_sorted, np.arange(0, ngw, step))
            gstarts = np.append(gstarts, nsorted)
            for c in range(len(gstarts) - 1):
                s0, s1 = int(gstarts[c]), int(gstarts[c + 1])
                sel = np.arange(s0, s1)
                sel = sel[ok_sorted[s0:s1]]
                if len(sel) == 0:
                    continue
                g_lo = int(grp_of_sorted[sel[0]])
                g_hi = int(grp_of_sorted[sel[-1]]) + 1
                ridx = row_index_in_R[sel]          # positions in R
                mrows = rownr[ridx]                 # MS row numbers
                srt = np.argsort(mrows, kind="stable")
                need = [want, "FLAG", "FLAG_ROW"] + (["WEIGHT_SPECTRUM"] if has_ws else
                                                      ["WEIGHT"])
                buf = {n: [] for n in need}
                for _, chunk in iter_chunks(main, need, rows=mrows[srt]):
                    for n in need:
                        buf[n].append(chunk[n])
                got = {n: np.concatenate(buf[n]) for n in need}
                del buf
                inv = np.empty_like(srt)
                inv[srt] = np.arange(len(srt))
                data = got[want][inv]
                flag = got["FLAG"][inv] | got["FLAG_ROW"][inv][:, None, None]
                if has_ws:
                    wt = got["WEIGHT_SPECTRUM"][inv].astype(np.float32)
                else:
                    wt = np.repeat((got["WEIGHT"][inv] / nchan).astype(np.float32)[:, None, :],
                                   nchan, axis=1)
                del got
                wt = np.where(flag, -np.abs(wt), np.abs(wt)).astype(np.float32)
                n_g = g_hi - g_lo
                block = np.zeros((n_g, nif, nchan, ncorr, 3), dtype=np.float32)
                if padwithflags or not combinespw:
                    block[..., 2] = -0.0
                gi = grp_of_sorted[sel] - g_lo
                ii = ifs_sorted[sel]
                d_ord = data[:, :, stokes_order]
                block[gi, ii, :, :, 0] = d_ord.real
                block[gi, ii, :, :, 1] = d_ord.imag
                block[gi, ii, :, :, 2] = wt[:, :, stokes_order]
                recs = np.empty((n_g, group_len), dtype=">f4")
                recs[:, :pcount] = params[g_lo:g_hi]
                recs[:, pcount:] = block.reshape(n_g, -1)
                out.write(recs.tobytes())
            size = out.tell()
            pad = (-size) % 2880
            out.write(b"\0" * pad)
    finally:
        main.close()
    # ---- tables
    hdus = [_fq_table(spws, chan_freq, widths, ref_freq, total_bw, crval, crpix, nif,
                      combinespw)]
    # flagged antenna rows no baseline uses are left out (numbering keeps the gap)
    used = np.zeros(len(anames), dtype=bool)
    used[np.unique(np.concatenate([g_a1, g_a2]))] = True
    write_ant = ~aflag | used
    hdus.append(_an_table(anames, astations, apos, amount, aoffset, adiam, feed_pol,
                          feed_ang, telescope, writestation, jd0, crval, write_ant))
    if multisource:
        hdus.append(_su_table(fields_used, fnames, fcodes, fdir, fref, nif,
                              int(meas_ref[ref_spw]),
                              float(abs(total_bw[ref_spw])),
                              apparent=(vis, float(g_time.min()))))
    for h in hdus:
        fits.append(fitsfile, h.data, h.header, checksum=False)
    return dict(ngroups=ngw, nif=nif, nchan=nchan, ncorr=ncorr, nfield=len(fields_used),
                nrows=len(rownr))


def _iso_date(mjd_seconds):
    import datetime
    t = datetime.datetime(1858, 11, 17) + datetime.timedelta(seconds=float(mjd_seconds))
    return t.strftime("%Y-%m-%d")


def _fq_table(spws, chan_freq, widths, ref_freq, total_bw, crval, crpix, nif, combinespw):
    from astropy.io import fits
    rows = [spws] if combinespw else [[s] for s in spws]
    iff = np.array([[chan_freq[s][0] + (crpix - 1.0) * widths[s] - crval for s in r]
                    for r in rows])
    chw = np.array([[abs(widths[s]) for s in r] for r in rows])
    tbw = np.array([[abs(total_bw[s]) for s in r] for r in rows])
    sb = np.array([[1 if widths[s] >= 0 else -1 for s in r] for r in rows], dtype=np.int32)
    cols = [fits.Column("FRQSEL", "1J", array=np.arange(1, len(rows) + 1, dtype=np.int32)),
            fits.Column("IF FREQ", f"{nif}D", unit="HZ", array=iff),
            fits.Column("CH WIDTH", f"{nif}E", unit="HZ", array=chw),
            fits.Column("TOTAL BANDWIDTH", f"{nif}E", unit="HZ", array=tbw),
            fits.Column("SIDEBAND", f"{nif}J", array=sb)]
    h = fits.BinTableHDU.from_columns(cols)
    h.header["EXTNAME"] = "AIPS FQ"
    h.header["EXTVER"] = 1
    h.header["NO_IF"] = nif
    return h


def _an_table(names, stations, pos, mount, offset, diam, feed_pol, feed_ang, telescope,
              writestation, jd0, freq, write_ant):
    from astropy.io import fits
    keep = np.nonzero(write_ant)[0]
    names = [names[i] for i in keep]
    stations = [stations[i] for i in keep]
    pos, offset, diam = pos[keep], offset[keep], diam[keep]
    mount = [mount[i] for i in keep]
    feed_pol = {j: feed_pol[i] for j, i in enumerate(keep) if i in feed_pol}
    feed_ang = {j: feed_ang[i] for j, i in enumerate(keep) if i in feed_ang}
    n = len(names)
    ann = [(stations[i] if writestation and stations[i] else names[i]) or f"AN{i + 1}"
           for i in range(n)]
    pta = [(feed_pol.get(i, ["R", "L"]) + ["L"])[0] for i in range(n)]
    ptb = [(feed_pol.get(i, ["R", "L"]) + ["L", "L"])[1] for i in range(n)]
    ang = [np.degrees(np.append(feed_ang.get(i, np.zeros(2)), [0.0, 0.0])[:2]) for i in range(n)]
    cols = [fits.Column("ANNAME", "8A", array=np.array(ann)),
            fits.Column("STABXYZ", "3D", unit="METERS", array=pos),
            fits.Column("ORBPARM", "0D", array=np.zeros((n, 0))),
            fits.Column("NOSTA", "1J", array=(keep + 1).astype(np.int32)),
            fits.Column("MNTSTA", "1J", array=np.array([MOUNT_CODES.get(m.upper(), 0)
                                                         for m in mount], dtype=np.int32)),
            fits.Column("STAXOF", "1E", unit="METERS", array=offset[:, 0]),
            fits.Column("POLTYA", "1A", array=np.array(pta)),
            fits.Column("POLAA", "1E", unit="DEGREES", array=np.array([a[0] for a in ang])),
            fits.Column("POLCALA", "2E", array=np.zeros((n, 2))),
            fits.Column("POLTYB", "1A", array=np.array(ptb)),
            fits.Column("POLAB", "1E", unit="DEGREES", array=np.array([a[1] for a in ang])),
            fits.Column("POLCALB", "2E", array=np.zeros((n, 2))),
            fits.Column("DIAMETER", "1E", unit="METERS", array=diam)]
    h = fits.BinTableHDU.from_columns(cols)
    hd = h.header
    hd["EXTNAME"] = "AIPS AN"
    hd["EXTVER"] = 1
    hd["ARRAYX"] = 0.0
    hd["ARRAYY"] = 0.0
    hd["ARRAYZ"] = 0.0
    hd["GSTIA0"] = _gst0_deg(jd0)
    hd["DEGPDY"] = 360.9856473662862
    hd["FREQ"] = float(freq)
    import datetime
    hd["RDATE"] = (datetime.datetime(1858, 11, 17) +
                   datetime.timedelta(days=float(jd0 - MJD_JD))).strftime("%Y-%m-%d")
    hd["POLARX"] = 0.0
    hd["POLARY"] = 0.0
    hd["UT1UTC"] = 0.0
    hd["DATUTC"] = 0.0
    hd["TIMSYS"] = "UTC"
    hd["ARRNAM"] = telescope
    hd["XYZHAND"] = "RIGHT"
    hd["FRAME"] = "ITRF"
    hd["NUMORB"] = 0
    hd["NO_IF"] = 1
    hd["NOPCAL"] = 2
    hd["POLTYPE"] = "APPROX"
    hd["FREQID"] = -1
    return h


def _apparent(vis, time, fdir, fref):
    """Apparent (of date) RA, DEC in degrees of the directions ``fdir`` (rad) at
    ``time`` (MJD seconds), seen from the array reference position -- what CASA
    writes as RAAPP/DECAPP.  None if casacore's measures cannot do it."""
    try:
        from casacore.measures import measures

        from .geometry import read_array_reference_position
        pos, _ = read_array_reference_position(vis)
        dm = measures()
        dm.doframe(dm.position("ITRF", *[f"{x}m" for x in pos]))
        dm.doframe(dm.epoch("UTC", f"{time}s"))
        out = []
        for ra, dec in fdir:
            r = dm.measure(dm.direction(fref, f"{ra}rad", f"{dec}rad"), "APP")
            out.append((np.degrees(r["m0"]["value"]) % 360.0, np.degrees(r["m1"]["value"])))
        return np.array(out).reshape(-1, 2)
    except Exception:  # noqa: BLE001 - no measures data: the mean position instead
        return None


def _su_table(fields_used, fnames, fcodes, fdir, fref, nif, frame=5, bandwidth=0.0,
              apparent=None):
    from astropy.io import fits
    n = len(fields_used)
    idx = np.array(fields_used)
    z = np.zeros((n, nif))
    ep = 1950.0 if fref.upper() == "B1950" else 2000.0
    ra = np.degrees(fdir[idx, 0]) % 360.0
    dec = np.degrees(fdir[idx, 1])
    app = _apparent(apparent[0], apparent[1], fdir[idx], fref) if apparent else None
    ra_app, dec_app = (ra, dec) if app is None else (app[:, 0], app[:, 1])
    cols = [fits.Column("ID. NO.", "1J", array=np.arange(1, n + 1, dtype=np.int32)),
            fits.Column("SOURCE", "16A", array=np.array([fnames[i] for i in idx])),
            fits.Column("QUAL", "1J", array=np.zeros(n, dtype=np.int32)),
            fits.Column("CALCODE", "4A", array=np.array([fcodes[i][:4] for i in idx])),
            fits.Column("IFLUX", f"{nif}E", unit="JY", array=z),
            fits.Column("QFLUX", f"{nif}E", unit="JY", array=z),
            fits.Column("UFLUX", f"{nif}E", unit="JY", array=z),
            fits.Column("VFLUX", f"{nif}E", unit="JY", array=z),
            fits.Column("FREQOFF", f"{nif}D", unit="HZ", array=z),
            fits.Column("BANDWIDTH", "1D", unit="HZ", array=np.full(n, bandwidth)),
            fits.Column("RAEPO", "1D", unit="DEGREES", array=ra),
            fits.Column("DECEPO", "1D", unit="DEGREES", array=dec),
            fits.Column("EPOCH", "1D", unit="YEARS", array=np.full(n, ep)),
            fits.Column("RAAPP", "1D", unit="DEGREES", array=ra_app),
            fits.Column("DECAPP", "1D", unit="DEGREES", array=dec_app),
            fits.Column("LSRVEL", f"{nif}D", unit="M/SEC", array=z),
            fits.Column("RESTFREQ", f"{nif}D", unit="HZ", array=z),
            fits.Column("PMRA", "1D", unit="DEG/DAY", array=np.zeros(n)),
            fits.Column("PMDEC", "1D", unit="DEG/DAY", array=np.zeros(n))]
    h = fits.BinTableHDU.from_columns(cols)
    h.header["EXTNAME"] = "AIPS SU"
    h.header["EXTVER"] = 1
    h.header["NO_IF"] = nif
    # VELTYP names the frame of the frequencies for CASA's importuvfits (it takes
    # 'LSR' as LSRK even when SPECSYS says TOPOCENT): written only for LSRK and
    # barycentric data
    veltyp = {1: "LSR", 2: "HELIO"}.get(int(frame))
    if veltyp:
        h.header["VELTYP"] = veltyp
        h.header["VELDEF"] = "RADIO"
    h.header["FREQID"] = 1
    return h
