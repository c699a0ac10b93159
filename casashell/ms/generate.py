"""A synthetic, realistic MeasurementSet generator.

``make_ms(path, ...)`` writes a complete MS: a VLA-like Y-shaped array (27
antennas named ea01..ea27 on N/E/W arm stations), calibrator and target
fields, scans with intents, several spectral windows and polarization setups,
uvw computed from the antenna positions, the source directions and the
sidereal time, DATA with point sources plus thermal noise, WEIGHT/SIGMA and a
few percent of flags.  Main-table rows are written in chunks, so memory stays
bounded whatever the size.  Output is deterministic for a given ``seed``.

Row order is time, then data description (spw), then baseline (ANTENNA1 <=
ANTENNA2, autocorrelations first for each ANTENNA1), as the VLA archive writes.
"""

from __future__ import annotations

import datetime
import os
import shutil
import time as _time

import numpy as np

from .geometry import geodetic_to_itrf

C_LIGHT = 299792458.0
_MJD_EPOCH = datetime.datetime(1858, 11, 17)

# VLA array centre (WGS84 geodetic)
VLA_LON = np.deg2rad(-107.6177275)
VLA_LAT = np.deg2rad(34.0787491)
VLA_HEIGHT = 2115.0
#: azimuths of the three arms (degrees east of north)
ARM_AZIMUTH = {"N": 355.0, "E": 115.0, "W": 236.0}
#: outermost station distance of each configuration [m]
CONFIG_ARM = {"A": 21000.0, "B": 6400.0, "C": 1950.0, "D": 600.0}

#: (name, RA [hh:mm:ss], Dec [dd:mm:ss], flux [Jy], intents)
_FIELD_TEMPLATES = [
    ("3C286", "13:31:08.288", "+30:30:32.96", 14.9,
     "CALIBRATE_FLUX#UNSPECIFIED,CALIBRATE_BANDPASS#UNSPECIFIED"),
    ("J1407+2827", "14:07:00.394", "+28:27:14.69", 2.2,
     "CALIBRATE_PHASE#UNSPECIFIED,CALIBRATE_AMPLI#UNSPECIFIED"),
    ("NGC5548", "14:17:59.534", "+25:08:12.44", 0.03, "OBSERVE_TARGET#UNSPECIFIED"),
]

_CORR_SETS = {1: ["RR"], 2: ["RR", "LL"], 4: ["RR", "RL", "LR", "LL"]}
_LIN_SETS = {1: ["XX"], 2: ["XX", "YY"], 4: ["XX", "XY", "YX", "YY"]}
_STOKES = {"RR": 5, "RL": 6, "LR": 7, "LL": 8, "XX": 9, "XY": 10, "YX": 11, "YY": 12}
_PRODUCTS = {"RR": (0, 0), "RL": (0, 1), "LR": (1, 0), "LL": (1, 1),
             "XX": (0, 0), "XY": (0, 1), "YX": (1, 0), "YY": (1, 1)}


# ---------------------------------------------------------------------------
# geometry
def enu_to_itrf(enu, lon=VLA_LON, lat=VLA_LAT, h=VLA_HEIGHT):
    """Local east/north/up offsets (n, 3) about a site -> ITRF positions (n, 3)."""
    sl, cl = np.sin(lon), np.cos(lon)
    sp, cp = np.sin(lat), np.cos(lat)
    rot = np.array([[-sl, -sp * cl, cp * cl],
                    [cl, -sp * sl, cp * sl],
                    [0.0, cp, sp]])
    return geodetic_to_itrf(lon, lat, h)[None, :] + np.asarray(enu) @ rot.T


def vla_layout(nant=27, config="C", seed=0):
    """Station names and ENU offsets of a VLA-like Y array.

    Stations along each arm sit at distances L*(k/9)**1.716 (k=1..9), the
    power law of the real VLA pads; antennas are spread over the three arms.
    """
    rng = np.random.default_rng(seed + 7)
    arm_len = CONFIG_ARM[config.upper()]
    per_arm = int(np.ceil(nant / 3))
    stations, enu = [], []
    for k in range(1, per_arm + 1):
        for arm in ("W", "E", "N"):
            if len(stations) == nant:
                break
            r = arm_len * (k / max(per_arm, 9)) ** 1.716
            az = np.deg2rad(ARM_AZIMUTH[arm])
            up = -0.004 * r + rng.normal(0.0, 0.3)  # the site slopes gently
            enu.append([r * np.sin(az), r * np.cos(az), up])
            stations.append(f"{arm}{k:02d}")
    enu = np.array(enu)
    order = rng.permutation(nant)  # antennas are not numbered along the arms
    return [stations[i] for i in order], enu[order]


def _hms_to_rad(text):
    s = 1 if not text.strip().startswith("-") else -1
    h, m, sec = (abs(float(x)) for x in text.strip().lstrip("+-").split(":"))
    return s * (h + m / 60 + sec / 3600)


def gmst_fraction(mjd_seconds):
    """Greenwich mean sidereal time as a fraction of a turn (IAU 1982, UT1=UTC)."""
    jd = np.asarray(mjd_seconds, float) / 86400.0 + 2400000.5
    return np.mod(280.46061837 + 360.98564736629 * (jd - 2451545.0), 360.0) / 360.0


def _apparent(ra, dec, mjd_seconds):
    """(RA, Dec) of date and the equation of the equinoxes [turns] via casacore."""
    try:
        from casacore import quanta as qa
        from casacore.measures import measures
        dm = measures()
        ep = dm.epoch("UTC", qa.quantity(mjd_seconds / 86400.0, "d"))
        dm.do_frame(ep)
        app = dm.measure(dm.direction("J2000", qa.quantity(ra, "rad"),
                                      qa.quantity(dec, "rad")), "APP")
        gast = dm.measure(ep, "GAST")["m0"]["value"] % 1.0
        gmst = dm.measure(ep, "GMST1")["m0"]["value"] % 1.0
        eqeq = (gast - gmst + 0.5) % 1.0 - 0.5
        return app["m0"]["value"], app["m1"]["value"], eqeq
    except Exception:  # no measures data: J2000 is within a fraction of a degree
        return ra, dec, 0.0


def compute_uvw(pos_itrf, ant1, ant2, mjd_seconds, ra_app, dec_app, eqeq=0.0):
    """uvw [m] of baselines ant1-ant2 (MS convention: X(ant1) - X(ant2)).

    ``mjd_seconds`` per row (or scalar); ``ra_app``/``dec_app`` the source
    direction of date; ``eqeq`` the equation of the equinoxes [turns].
    """
    b = pos_itrf[ant1] - pos_itrf[ant2]
    ha = 2 * np.pi * (gmst_fraction(mjd_seconds) + eqeq) - ra_app  # Greenwich hour angle
    sh, ch = np.sin(ha), np.cos(ha)
    sd, cd = np.sin(dec_app), np.cos(dec_app)
    bx, by, bz = b[:, 0], b[:, 1], b[:, 2]
    u = sh * bx + ch * by
    v = -sd * ch * bx + sd * sh * by + cd * bz
    w = cd * ch * bx - cd * sh * by + sd * bz
    return np.stack([u, v, w], axis=1)


# ---------------------------------------------------------------------------
class _UVWEngine:
    """uvw of every antenna relative to the array centre, in the J2000 frame of a
    field, as CASA writes them: casacore's MBaseline -> Muvw conversion (Earth
    rotation, precession, nutation); falls back to :func:`compute_uvw` with the
    direction of date when casacore's measures are unusable."""

    def __init__(self, pos_itrf):
        self.pos = np.asarray(pos_itrf, float)
        self.centre = self.pos.mean(axis=0)
        self.rel = self.pos - self.centre
        self.dm = None
        try:
            from casacore import quanta as qa
            from casacore.measures import measures
            self.qa = qa
            self.dm = measures()
            self.dm.do_frame(self.dm.position(
                "ITRF", *[qa.quantity(float(x), "m") for x in self.centre]))
        except Exception:
            self.dm = None

    def set_field(self, ra, dec, mjd_seconds):
        self.ra, self.dec = ra, dec
        self.app = _apparent(ra, dec, mjd_seconds)
        if self.dm is not None:
            qa = self.qa
            try:
                self.dm.do_frame(self.dm.direction("J2000", qa.quantity(float(ra), "rad"),
                                                   qa.quantity(float(dec), "rad")))
            except Exception:
                self.dm = None

    def antenna_uvw(self, mjd_seconds):
        """(nant, 3) uvw of the antennas (relative to the centre) at one time."""
        if self.dm is not None:
            qa = self.qa
            try:
                self.dm.do_frame(self.dm.epoch("UTC", qa.quantity(float(mjd_seconds), "s")))
                bl = self.dm.baseline("itrf", qa.quantity(self.rel[:, 0], "m"),
                                      qa.quantity(self.rel[:, 1], "m"),
                                      qa.quantity(self.rel[:, 2], "m"))
                xyz = np.asarray(self.dm.to_uvw(bl)["xyz"].get_value(), float)
                return xyz.reshape(-1, 3)
            except Exception:
                self.dm = None
        n = len(self.rel)
        zero = np.zeros(1, dtype=np.int64)
        ra_app, dec_app, eqeq = self.app
        return np.concatenate([compute_uvw(np.vstack([self.rel[i:i + 1], [[0, 0, 0]]]), zero,
                                           zero + 1, mjd_seconds, ra_app, dec_app, eqeq)
                               for i in range(n)])


def _mjd_seconds_of(text):
    d = datetime.datetime.strptime(text, "%Y/%m/%d/%H:%M:%S")
    return (d - _MJD_EPOCH).total_seconds()


def _as_list(v, n, name):
    if isinstance(v, (list, tuple)):
        if len(v) != n:
            raise ValueError(f"make_ms: {name} has {len(v)} values for {n} spectral windows")
        return [int(x) for x in v]
    return [int(v)] * n


def plan_rows(nant=27, nspw=2, ntimes=1, autocorr=True):
    nbl = nant * (nant - 1) // 2 + (nant if autocorr else 0)
    return nbl * nspw * ntimes


def make_ms(path, nant=27, nfield=3, nscan=7, nspw=2, nchan=64, ncorr=4,
            ntimes_per_scan=20, integration=10.0, intents=True, corrected=False,
            model=False, flag_fraction=0.03, seed=0, autocorr=True, config="C",
            start="2010/04/26/06:00:00", scan_gap=60.0, spw_start=1.0e9, spw_bandwidth=128e6,
            linear=False, telescope="VLA", weight_spectrum=False, overwrite=False,
            noise=1.0, nobs=1, max_bytes=8 << 20, history=True, progress=None) -> dict:
    """Write a synthetic MS at ``path``; return a summary dict.

    ``nchan`` and ``ncorr`` may be lists (one value per spw): spws with
    different correlation counts get separate POLARIZATION rows.
    ``ntimes_per_scan`` integrations per scan (an int or a list per scan).
    ``flag_fraction`` of the visibilities are flagged (whole rows for about a
    sixth of it, with FLAG_ROW set; RFI-like channel blocks for the rest).
    ``noise`` scales the thermal noise (SIGMA = 0.05 Jy * noise for 1 MHz channels
    and 10 s, times a per-antenna factor); WEIGHT = 1/SIGMA**2.
    ``config`` the VLA configuration (A, B, C, D) setting the arm length.
    ``nobs`` observations: the scans are shared out in time order (OBSERVATION_ID).
    """
    from casacore import tables as ct

    if nant < 2:
        raise ValueError("make_ms: nant must be at least 2")
    if nfield < 1 or nscan < 1 or nspw < 1:
        raise ValueError("make_ms: nfield, nscan and nspw must be at least 1")
    nchans = _as_list(nchan, nspw, "nchan")
    ncorrs = _as_list(ncorr, nspw, "ncorr")
    for c in ncorrs:
        if c not in (1, 2, 4):
            raise ValueError(f"make_ms: ncorr must be 1, 2 or 4, not {c}")
    if any(c < 1 for c in nchans):
        raise ValueError("make_ms: nchan must be at least 1")
    ntimes = (list(ntimes_per_scan) if isinstance(ntimes_per_scan, (list, tuple))
              else [int(ntimes_per_scan)] * nscan)
    if len(ntimes) != nscan or min(ntimes) < 1:
        raise ValueError("make_ms: ntimes_per_scan must be >= 1 for every scan")
    if not 1 <= nobs <= nscan:
        raise ValueError("make_ms: nobs must be between 1 and nscan")
    scan_obs = [k * nobs // nscan for k in range(nscan)]
    path = os.path.abspath(os.path.expanduser(str(path)))
    if os.path.exists(path):
        if not overwrite:
            raise FileExistsError(f"{path} already exists")
        shutil.rmtree(path)
    rng = np.random.default_rng(seed)
    t_begin = _time.time()

    # ---------------- static description
    stations, enu = vla_layout(nant, config, seed)
    pos = enu_to_itrf(enu)
    ant_names = [f"ea{i + 1:02d}" for i in range(nant)]

    fields = []
    for i in range(nfield):
        if i < len(_FIELD_TEMPLATES):
            name, ras, decs, flux, intent = _FIELD_TEMPLATES[i]
            ra, dec = np.deg2rad(15 * _hms_to_rad(ras)), np.deg2rad(_hms_to_rad(decs))
        else:
            k = i - len(_FIELD_TEMPLATES) + 1
            name, flux, intent = f"TARGET_{k}", 0.05 * k, "OBSERVE_TARGET#UNSPECIFIED"
            ra = np.deg2rad(15 * _hms_to_rad("14:17:59.534")) + np.deg2rad(0.5 * k)
            dec = np.deg2rad(_hms_to_rad("+25:08:12.44")) + np.deg2rad(0.3 * k)
        fields.append(dict(name=name, ra=ra, dec=dec, flux=flux, intent=intent,
                           code="C" if "CALIBRATE" in intent else "T"))

    # scan sequence: flux/bandpass calibrator first, then phase-cal / target cycles
    scan_fields = []
    cycle = [1] + list(range(2, nfield)) if nfield > 2 else list(range(nfield))
    for s in range(nscan):
        if s == 0 or nfield == 1:
            scan_fields.append(0)
        else:
            scan_fields.append(cycle[(s - 1) % len(cycle)])
    # states: one per distinct intent string
    state_modes = []
    if intents:
        for f in fields:
            if f["intent"] not in state_modes:
                state_modes.append(f["intent"])
    field_state = [state_modes.index(f["intent"]) if intents else -1 for f in fields]

    # spectral windows
    spws = []
    for s in range(nspw):
        nc = nchans[s]
        width = spw_bandwidth / nc
        f0 = spw_start + s * spw_bandwidth * 1.25
        freqs = f0 + width * np.arange(nc)
        spws.append(dict(nchan=nc, freqs=freqs, width=width, name=f"EVLA_L#A0C0#{s}",
                         ncorr=ncorrs[s]))
    pol_setups = []
    for c in ncorrs:
        if c not in pol_setups:
            pol_setups.append(c)
    dd_pol = [pol_setups.index(c) for c in ncorrs]
    corr_names = {c: (_LIN_SETS if linear else _CORR_SETS)[c] for c in pol_setups}

    # baselines in archive order
    a1, a2 = np.triu_indices(nant, k=0 if autocorr else 1)
    nbl = len(a1)

    # times
    t0 = _mjd_seconds_of(start)
    scan_start = []
    tcur = t0
    for s in range(nscan):
        scan_start.append(tcur)
        tcur += ntimes[s] * integration + scan_gap
    t_end = scan_start[-1] + ntimes[-1] * integration

    # ---------------- tables
    uniform = len(set(nchans)) == 1 and len(set(ncorrs)) == 1
    nc0, np0 = nchans[0], ncorrs[0]
    desc = ct.required_ms_desc("MAIN")
    coldescs = []
    for name in ("DATA",) + (("CORRECTED_DATA",) if corrected else ()) + \
            (("MODEL_DATA",) if model else ()):
        coldescs.append(ct.makearrcoldesc(name, 0j, ndim=2, valuetype="complex",
                                          shape=[nc0, np0] if uniform else [],
                                          datamanagertype="TiledShapeStMan",
                                          datamanagergroup=f"Tiled{name}"))
    if weight_spectrum:
        coldescs.append(ct.makearrcoldesc("WEIGHT_SPECTRUM", 0.0, ndim=2, valuetype="float",
                                          shape=[nc0, np0] if uniform else [],
                                          datamanagertype="TiledShapeStMan",
                                          datamanagergroup="TiledWgtSpectrum"))
    extra = ct.maketabdesc(coldescs)
    desc.update(extra)
    desc["FLAG"]["dataManagerType"] = "TiledShapeStMan"
    desc["FLAG"]["dataManagerGroup"] = "TiledFlag"
    if uniform:
        desc["FLAG"]["shape"] = np.array([nc0, np0])
        desc["FLAG"]["option"] = 5
        for c in ("WEIGHT", "SIGMA"):
            desc[c]["shape"] = np.array([np0])
            desc[c]["option"] = 5
    tile_rows = max(8, (1 << 17) // max(1, max(nchans) * max(ncorrs)))
    dminfo = {}
    for k, grp in enumerate(["TiledFlag"] + [d["desc"]["dataManagerGroup"]
                                             for d in coldescs]):
        cols = [c for c, d in desc.items() if isinstance(d, dict) and
                d.get("dataManagerGroup") == grp]
        dminfo[f"*{k + 2}"] = {"TYPE": "TiledShapeStMan", "NAME": grp,
                               "SPEC": {"DEFAULTTILESHAPE": np.array(
                                   [max(ncorrs), max(nchans), tile_rows], dtype=np.int32)},
                               "COLUMNS": cols}
    tmp = path + ".making"
    if os.path.exists(tmp):
        shutil.rmtree(tmp)
    main = ct.default_ms(tmp, desc, dminfo)
    try:
        summary = _write_all(ct, main, tmp, locals())
    except BaseException:
        try:
            main.close()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    main.close()
    os.rename(tmp, path)
    summary["path"] = path
    summary["seconds"] = _time.time() - t_begin
    summary["bytes"] = sum(os.path.getsize(os.path.join(dp, f))
                           for dp, _, fs in os.walk(path) for f in fs)
    return summary


def _write_all(ct, main, msname, v):
    """Fill the subtables and stream the main table (``v``: make_ms locals)."""
    nant, pos, stations, ant_names = v["nant"], v["pos"], v["stations"], v["ant_names"]
    fields, spws, pol_setups, corr_names = v["fields"], v["spws"], v["pol_setups"], \
        v["corr_names"]
    dd_pol, state_modes = v["dd_pol"], v["state_modes"]
    t0, t_end, integration = v["t0"], v["t_end"], v["integration"]

    def sub(name):
        return ct.table(os.path.join(msname, name), readonly=False, ack=False)

    # ANTENNA
    with sub("ANTENNA") as t:
        t.addrows(nant)
        t.putcol("NAME", ant_names)
        t.putcol("STATION", stations)
        t.putcol("TYPE", ["GROUND-BASED"] * nant)
        t.putcol("MOUNT", ["ALT-AZ"] * nant)
        t.putcol("POSITION", pos)
        t.putcol("OFFSET", np.zeros((nant, 3)))
        t.putcol("DISH_DIAMETER", np.full(nant, 25.0))
        t.putcol("FLAG_ROW", np.zeros(nant, bool))
    # FEED
    with sub("FEED") as t:
        t.addrows(nant)
        t.putcol("ANTENNA_ID", np.arange(nant, dtype=np.int32))
        t.putcol("FEED_ID", np.zeros(nant, np.int32))
        t.putcol("SPECTRAL_WINDOW_ID", np.full(nant, -1, np.int32))
        t.putcol("TIME", np.full(nant, (t0 + t_end) / 2))
        t.putcol("INTERVAL", np.full(nant, t_end - t0 + 3600.0))
        t.putcol("NUM_RECEPTORS", np.full(nant, 2, np.int32))
        t.putcol("BEAM_ID", np.full(nant, -1, np.int32))
        t.putcol("BEAM_OFFSET", np.zeros((nant, 2, 2)))
        t.putcol("POLARIZATION_TYPE", np.array([["X", "Y"] if v["linear"] else ["R", "L"]]
                                               * nant))
        t.putcol("POL_RESPONSE", np.tile(np.eye(2, dtype=np.complex64), (nant, 1, 1)))
        t.putcol("POSITION", np.zeros((nant, 3)))
        t.putcol("RECEPTOR_ANGLE", np.tile([0.0, np.pi / 2], (nant, 1)))
    # FIELD
    nf = len(fields)
    with sub("FIELD") as t:
        t.addrows(nf)
        dirs = np.array([[[f["ra"], f["dec"]]] for f in fields])
        t.putcol("NAME", [f["name"] for f in fields])
        t.putcol("CODE", [f["code"] for f in fields])
        t.putcol("TIME", np.full(nf, t0))
        t.putcol("NUM_POLY", np.zeros(nf, np.int32))
        for c in ("DELAY_DIR", "PHASE_DIR", "REFERENCE_DIR"):
            t.putcol(c, dirs)
        t.putcol("SOURCE_ID", np.arange(nf, dtype=np.int32))
        t.putcol("FLAG_ROW", np.zeros(nf, bool))
    # SPECTRAL_WINDOW
    with sub("SPECTRAL_WINDOW") as t:
        t.addrows(len(spws))
        for i, s in enumerate(spws):
            n = s["nchan"]
            t.putcell("NUM_CHAN", i, n)
            t.putcell("NAME", i, s["name"])
            t.putcell("REF_FREQUENCY", i, float(s["freqs"][0]))
            t.putcell("CHAN_FREQ", i, s["freqs"])
            t.putcell("CHAN_WIDTH", i, np.full(n, s["width"]))
            t.putcell("EFFECTIVE_BW", i, np.full(n, s["width"]))
            t.putcell("RESOLUTION", i, np.full(n, s["width"]))
            t.putcell("TOTAL_BANDWIDTH", i, s["width"] * n)
            t.putcell("MEAS_FREQ_REF", i, 5)
            t.putcell("NET_SIDEBAND", i, 1)
            t.putcell("IF_CONV_CHAIN", i, 0)
            t.putcell("FREQ_GROUP", i, 0)
            t.putcell("FREQ_GROUP_NAME", i, "")
            t.putcell("FLAG_ROW", i, False)
    # POLARIZATION
    with sub("POLARIZATION") as t:
        t.addrows(len(pol_setups))
        for i, c in enumerate(pol_setups):
            names = corr_names[c]
            t.putcell("NUM_CORR", i, c)
            t.putcell("CORR_TYPE", i, np.array([_STOKES[x] for x in names], np.int32))
            # python-casacore's row-major view of CASA's (2, ncorr) cell:
            # one (receptor1, receptor2) pair per correlation, as in real MSs
            t.putcell("CORR_PRODUCT", i, np.array([_PRODUCTS[x] for x in names],
                                                  np.int32))
            t.putcell("FLAG_ROW", i, False)
    # DATA_DESCRIPTION
    with sub("DATA_DESCRIPTION") as t:
        t.addrows(len(spws))
        t.putcol("SPECTRAL_WINDOW_ID", np.arange(len(spws), dtype=np.int32))
        t.putcol("POLARIZATION_ID", np.array(dd_pol, np.int32))
        t.putcol("FLAG_ROW", np.zeros(len(spws), bool))
    # STATE
    if state_modes:
        with sub("STATE") as t:
            n = len(state_modes)
            t.addrows(n)
            t.putcol("OBS_MODE", state_modes)
            t.putcol("SIG", np.ones(n, bool))
            t.putcol("REF", np.zeros(n, bool))
            t.putcol("CAL", np.zeros(n))
            t.putcol("LOAD", np.zeros(n))
            t.putcol("SUB_SCAN", np.zeros(n, np.int32))
            t.putcol("FLAG_ROW", np.zeros(n, bool))
    # OBSERVATION
    with sub("OBSERVATION") as t:
        nobs = v["nobs"]
        t.addrows(nobs)
        for o in range(nobs):
            scans = [k for k in range(v["nscan"]) if v["scan_obs"][k] == o]
            lo = v["scan_start"][scans[0]]
            hi = v["scan_start"][scans[-1]] + v["ntimes"][scans[-1]] * integration
            t.putcell("TELESCOPE_NAME", o, v["telescope"])
            t.putcell("OBSERVER", o, "casashell make_ms")
            t.putcell("PROJECT", o, f"SYNTH.seed{v['seed']}")
            t.putcell("TIME_RANGE", o, np.array([lo, hi]))
            t.putcell("RELEASE_DATE", o, t_end + 365.25 * 86400)
            t.putcell("SCHEDULE_TYPE", o, "")
            t.putcell("SCHEDULE", o, np.array([""]))
            t.putcell("LOG", o, np.array([""]))
            t.putcell("FLAG_ROW", o, False)
    # PROCESSOR
    with sub("PROCESSOR") as t:
        t.addrows(1)
        t.putcell("TYPE", 0, "CORRELATOR")
        t.putcell("SUB_TYPE", 0, "WIDAR")
        t.putcell("TYPE_ID", 0, -1)
        t.putcell("MODE_ID", 0, -1)
        t.putcell("FLAG_ROW", 0, False)
    # SOURCE (optional subtable): one row per field and spw
    full = ct.complete_ms_desc("SOURCE")
    src_desc = {c: full[c] for c in ("REST_FREQUENCY", "SYSVEL", "TRANSITION")}
    src = ct.default_ms_subtable("SOURCE", os.path.join(msname, "SOURCE"), src_desc)
    n = nf * len(spws)
    src.addrows(n)
    k = 0
    for fi, f in enumerate(fields):
        for si in range(len(spws)):
            src.putcell("SOURCE_ID", k, fi)
            src.putcell("NAME", k, f["name"])
            src.putcell("CODE", k, f["code"])
            src.putcell("SPECTRAL_WINDOW_ID", k, si)
            src.putcell("TIME", k, (t0 + t_end) / 2)
            src.putcell("INTERVAL", k, t_end - t0)
            src.putcell("DIRECTION", k, np.array([f["ra"], f["dec"]]))
            src.putcell("PROPER_MOTION", k, np.zeros(2))
            src.putcell("CALIBRATION_GROUP", k, -1)
            # continuum: one line entry with zeros, as VLA data have
            src.putcell("NUM_LINES", k, 1)
            src.putcell("REST_FREQUENCY", k, np.zeros(1))
            src.putcell("SYSVEL", k, np.zeros(1))
            src.putcell("TRANSITION", k, np.array([""]))
            k += 1
    src.close()
    main.putkeyword("SOURCE", "Table: " + os.path.join(msname, "SOURCE"))
    if v["history"]:
        with sub("HISTORY") as t:
            t.addrows(1)
            t.putcell("TIME", 0, _time.time() + 3506716800.0)
            t.putcell("OBSERVATION_ID", 0, 0)
            t.putcell("MESSAGE", 0, f"synthetic MS written by casashell.ms.generate.make_ms "
                                    f"(seed={v['seed']})")
            t.putcell("PRIORITY", 0, "INFO")
            t.putcell("ORIGIN", 0, "make_ms")
            t.putcell("OBJECT_ID", 0, 0)
            t.putcell("APPLICATION", 0, "casashell")
            t.putcell("CLI_COMMAND", 0, np.array([""]))
            t.putcell("APP_PARAMS", 0, np.array([""]))
    return _write_main(main, v)


def _time_draws(seed, scan_idx, t_index, nbl, spws, flag_fraction):
    """The random numbers of one integration (all spws and baselines)."""
    g = np.random.default_rng([int(seed), int(scan_idx), int(t_index)])
    out = {"frow": g.random(nbl * len(spws)) < flag_fraction / 6, "noise": [], "hit": [],
           "cstart": []}
    for sp in spws:
        nc, npol = sp["nchan"], sp["ncorr"]
        width = max(1, nc // 16)
        out["noise"].append(g.standard_normal((npol, 2, nbl, nc), dtype=np.float32))
        out["hit"].append(g.random(nbl))
        out["cstart"].append(g.integers(0, max(1, nc - width + 1), size=nbl))
    return out


def _write_main(main, v):
    nant, pos = v["nant"], v["pos"]
    fields, spws = v["fields"], v["spws"]
    a1, a2, nbl = v["a1"].astype(np.int32), v["a2"].astype(np.int32), v["nbl"]
    nspw = len(spws)
    integration = v["integration"]
    rng = v["rng"]
    uniform = v["uniform"]
    flag_fraction = float(v["flag_fraction"])
    corr_cols = ["DATA"] + (["CORRECTED_DATA"] if v["corrected"] else []) + \
        (["MODEL_DATA"] if v["model"] else [])
    # per-antenna system noise (Jy) and gains: realistic spread
    sefd_scale = 1.0 + 0.15 * rng.standard_normal(nant).clip(-2, 2)
    gain_amp = 1.0 + 0.05 * rng.standard_normal(nant)
    gain_phase = rng.uniform(-np.pi, np.pi, nant)

    engine = _UVWEngine(pos)
    row_bytes = max(8 * s["nchan"] * s["ncorr"] for s in spws) * len(corr_cols) + 200
    rows_per_time = nbl * nspw
    times_per_chunk = max(1, int(v["max_bytes"] // (row_bytes * rows_per_time)))
    nrow_total = sum(v["ntimes"]) * rows_per_time
    main.addrows(nrow_total)
    written = 0
    nflag_vis = 0
    nvis = 0
    for scan_idx in range(v["nscan"]):
        fid = v["scan_fields"][scan_idx]
        f = fields[fid]
        state = v["field_state"][fid]
        nt = v["ntimes"][scan_idx]
        tmid0 = v["scan_start"][scan_idx]
        engine.set_field(f["ra"], f["dec"], tmid0 + nt * integration / 2)
        # a weak second source 3 arcmin away makes the phases vary with baseline
        l2, m2 = np.deg2rad(3 / 60), np.deg2rad(-1.5 / 60)
        for c0 in range(0, nt, times_per_chunk):
            ct_n = min(times_per_chunk, nt - c0)
            times = tmid0 + (np.arange(c0, c0 + ct_n) + 0.5) * integration
            # rows: time -> spw -> baseline
            tt = np.repeat(times, rows_per_time)
            dd = np.tile(np.repeat(np.arange(nspw, dtype=np.int32), nbl), ct_n)
            b1 = np.tile(a1, ct_n * nspw)
            b2 = np.tile(a2, ct_n * nspw)
            n = len(tt)
            ant_uvw = np.stack([engine.antenna_uvw(x) for x in times])  # (ct_n, nant, 3)
            uvw_t = ant_uvw[:, a1, :] - ant_uvw[:, a2, :]                # X(a1) - X(a2)
            uvw = np.repeat(uvw_t.reshape(ct_n, 1, nbl, 3), nspw, axis=1).reshape(n, 3)
            start = written
            main.putcol("TIME", tt, start, n)
            main.putcol("TIME_CENTROID", tt, start, n)
            main.putcol("INTERVAL", np.full(n, integration), start, n)
            main.putcol("EXPOSURE", np.full(n, integration), start, n)
            main.putcol("ANTENNA1", b1, start, n)
            main.putcol("ANTENNA2", b2, start, n)
            main.putcol("FEED1", np.zeros(n, np.int32), start, n)
            main.putcol("FEED2", np.zeros(n, np.int32), start, n)
            main.putcol("DATA_DESC_ID", dd, start, n)
            main.putcol("FIELD_ID", np.full(n, fid, np.int32), start, n)
            main.putcol("SCAN_NUMBER", np.full(n, scan_idx + 1, np.int32), start, n)
            main.putcol("STATE_ID", np.full(n, state, np.int32), start, n)
            main.putcol("ARRAY_ID", np.zeros(n, np.int32), start, n)
            main.putcol("OBSERVATION_ID", np.full(n, v["scan_obs"][scan_idx], np.int32),
                        start, n)
            main.putcol("PROCESSOR_ID", np.zeros(n, np.int32), start, n)
            main.putcol("UVW", uvw, start, n)
            # random numbers come from one generator per integration, so the output
            # does not depend on how the rows are chunked
            draws = [_time_draws(v["seed"], scan_idx, c0 + ti, nbl, spws, flag_fraction)
                     for ti in range(ct_n)]
            # whole-row flags (antenna dropouts) for about a sixth of the budget
            frow = np.concatenate([d["frow"] for d in draws])
            main.putcol("FLAG_ROW", frow, start, n)
            # per spw blocks (rows of one spw are contiguous per time step)
            blocks = []
            for s in range(nspw):
                sel = np.nonzero(dd == s)[0]
                blocks.append((s, sel))
            chunk_data = {c: [] for c in corr_cols}
            chunk_flag, chunk_w, chunk_s = [], [], []
            for s, sel in blocks:
                sp = spws[s]
                nc, npol = sp["nchan"], sp["ncorr"]
                lam_inv = sp["freqs"] / C_LIGHT
                ns = len(sel)
                g = gain_amp[b1[sel]] * gain_amp[b2[sel]] * np.exp(
                    1j * (gain_phase[b1[sel]] - gain_phase[b2[sel]]))
                # source model: flux at the phase centre with a spectral index,
                # plus a 5 % companion; autocorrelations carry the system power
                spec = (sp["freqs"] / 1.4e9) ** -0.7
                ph = -2j * np.pi * (uvw[sel, 0:1] * l2 + uvw[sel, 1:2] * m2) * lam_inv[None, :]
                vis = f["flux"] * spec[None, :] * (1.0 + 0.05 * np.exp(ph))
                vis = (vis * g[:, None]).astype(np.complex64)
                sigma = (0.05 * float(v["noise"]) * sefd_scale[b1[sel]] * sefd_scale[b2[sel]]
                         * np.sqrt(1e6 / sp["width"]) * np.sqrt(10.0 / integration))
                data = np.empty((ns, nc, npol), np.complex64)
                names = v["corr_names"][npol]
                for k, cname in enumerate(names):
                    parallel = cname[0] == cname[1]
                    base = vis if parallel else 0.02 * vis * np.exp(1j * 0.3 * k)
                    nre = np.concatenate([d["noise"][s][k, 0] for d in draws])
                    nim = np.concatenate([d["noise"][s][k, 1] for d in draws])
                    noise = nre + 1j * nim
                    data[:, :, k] = base + noise * (sigma[:, None] / np.sqrt(2)).astype(
                        np.float32)
                au = b1[sel] == b2[sel]
                if au.any():
                    power = (20.0 * sefd_scale[b1[sel][au]])[:, None, None]
                    data[au] = (np.abs(data[au]) + power).astype(np.complex64)
                    for k, cname in enumerate(names):
                        if cname[0] != cname[1]:
                            data[au, :, k] = data[au, :, k] * 0.01
                # flags: RFI-like channel blocks on random rows + row flags
                flag = np.zeros((ns, nc, npol), dtype=bool)
                budget = flag_fraction * 5 / 6
                if budget > 0:
                    width = max(1, nc // 16)
                    hit = np.concatenate([d["hit"][s] for d in draws]) < min(
                        1.0, budget * nc / width)
                    c_start = np.concatenate([d["cstart"][s] for d in draws])
                    chan = np.arange(nc)[None, :]
                    blk = hit[:, None] & (chan >= c_start[:, None]) & \
                        (chan < c_start[:, None] + width)
                    flag |= blk[:, :, None]
                flag[frow[sel]] = True
                nflag_vis += int(flag.sum())
                nvis += flag.size
                w = np.repeat((1.0 / sigma ** 2).astype(np.float32)[:, None], npol, axis=1)
                sg = np.repeat(sigma.astype(np.float32)[:, None], npol, axis=1)
                extra = {}
                if "MODEL_DATA" in corr_cols:
                    par = np.array([1.0 if nm[0] == nm[1] else 0.0 for nm in names])
                    extra["MODEL_DATA"] = (vis[:, :, None] / g[:, None, None]
                                           * par[None, None, :]).astype(np.complex64)
                if "CORRECTED_DATA" in corr_cols:
                    extra["CORRECTED_DATA"] = data
                if uniform:
                    chunk_data["DATA"].append(data)
                    chunk_flag.append(flag)
                    chunk_w.append(w)
                    chunk_s.append(sg)
                    for c in corr_cols[1:]:
                        chunk_data[c].append(extra[c])
                else:
                    # rows of this spw: one contiguous run per time step
                    for ti in range(ct_n):
                        lo = ti * nbl
                        r0 = start + ti * rows_per_time + s * nbl
                        main.putcol("DATA", data[lo:lo + nbl], r0, nbl)
                        main.putcol("FLAG", flag[lo:lo + nbl], r0, nbl)
                        main.putcol("WEIGHT", w[lo:lo + nbl], r0, nbl)
                        main.putcol("SIGMA", sg[lo:lo + nbl], r0, nbl)
                        for c in corr_cols[1:]:
                            main.putcol(c, extra[c][lo:lo + nbl], r0, nbl)
                        if v["weight_spectrum"]:
                            main.putcol("WEIGHT_SPECTRUM", np.repeat(
                                w[lo:lo + nbl, None, :], nc, axis=1), r0, nbl)
            if uniform:
                # reorder the spw-major blocks back to row order
                order = np.concatenate([sel for _, sel in blocks])
                inv = np.empty(n, dtype=np.int64)
                inv[order] = np.arange(n)
                for c in corr_cols:
                    main.putcol(c, np.concatenate(chunk_data[c])[inv], start, n)
                fl = np.concatenate(chunk_flag)[inv]
                main.putcol("FLAG", fl, start, n)
                wt = np.concatenate(chunk_w)[inv]
                main.putcol("WEIGHT", wt, start, n)
                main.putcol("SIGMA", np.concatenate(chunk_s)[inv], start, n)
                if v["weight_spectrum"]:
                    main.putcol("WEIGHT_SPECTRUM",
                                np.repeat(wt[:, None, :], spws[0]["nchan"], axis=1), start, n)
            written += n
            if v["progress"] is not None:
                v["progress"](written, nrow_total)
    main.flush()
    return {"nrows": nrow_total, "nant": nant, "nbaselines": nbl, "nfield": len(fields),
            "nscan": v["nscan"], "nspw": nspw, "nchan": [s["nchan"] for s in spws],
            "ncorr": [s["ncorr"] for s in spws], "ntimes": int(sum(v["ntimes"])),
            "flagged_fraction": nflag_vis / max(nvis, 1),
            "fields": [f["name"] for f in fields], "scan_fields": list(v["scan_fields"])}
