"""Array geometry shared by the tasks: where an array's reference position is.

One rule for every task (listobs's offsets, plotants's map, ...), in order:

1. the position casacore's observatory table gives for the telescope name,
   unless it lies far outside the array (another site of the same name);
2. the OBSERVATION table's TELESCOPE_LOCATION (written by pyuvdata and others);
3. the ANTENNA table's ARRAY_POSITION keyword on POSITION;
4. the mean of the valid antenna positions, moved out to their mean distance
   from the Earth's centre (a plain mean lies under the surface for a large
   array) -- for arrays nobody catalogued.
"""

from __future__ import annotations

import math
import os

import numpy as np

_OBSERVATORIES: dict | None = None

#: positions closer than this to the Earth's centre are placeholders, not sites
_MIN_RADIUS = 6.0e6


# ---------------------------------------------------------------------------
# WGS84 geodesy

_WGS84_A = 6378137.0
_WGS84_F = 1.0 / 298.257223563


def itrf_to_geodetic(xyz):
    """ITRF/ECEF x, y, z [m] (shape (..., 3)) -> (lon [rad], lat [rad], height [m]).

    Bowring's closed form followed by two fixed-point refinements: far below
    a millimetre anywhere on the Earth's surface.
    """
    xyz = np.asarray(xyz, dtype=float)
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    a = _WGS84_A
    e2 = _WGS84_F * (2 - _WGS84_F)
    b = a * (1 - _WGS84_F)
    ep2 = (a * a - b * b) / (b * b)
    p = np.hypot(x, y)
    lon = np.arctan2(y, x)
    th = np.arctan2(z * a, p * b)
    lat = np.arctan2(z + ep2 * b * np.sin(th) ** 3, p - e2 * a * np.cos(th) ** 3)
    for _ in range(2):
        n = a / np.sqrt(1 - e2 * np.sin(lat) ** 2)
        h = np.where(np.abs(np.cos(lat)) > 1e-9, p / np.maximum(np.cos(lat), 1e-12) - n,
                     np.abs(z) - b)
        lat = np.arctan2(z, p * (1 - e2 * n / (n + h)))
    n = a / np.sqrt(1 - e2 * np.sin(lat) ** 2)
    h = np.where(np.abs(np.cos(lat)) > 1e-9, p / np.maximum(np.cos(lat), 1e-12) - n,
                 np.abs(z) - b)
    return lon, lat, h


def enu_offsets(xyz, ref_xyz):
    """East, north, up [m] of ITRF positions ``xyz`` (n, 3) from ``ref_xyz`` (3,),
    in the local horizon frame (WGS84 normal) at the reference."""
    xyz = np.atleast_2d(np.asarray(xyz, dtype=float))
    ref = np.asarray(ref_xyz, dtype=float)
    lon, lat, _ = itrf_to_geodetic(ref)
    d = xyz - ref
    sl, cl = np.sin(lon), np.cos(lon)
    sp, cp = np.sin(lat), np.cos(lat)
    east = -sl * d[:, 0] + cl * d[:, 1]
    north = -sp * cl * d[:, 0] - sp * sl * d[:, 1] + cp * d[:, 2]
    up = cp * cl * d[:, 0] + cp * sl * d[:, 1] + sp * d[:, 2]
    return east, north, up


def geodetic_to_itrf(lon, lat, height):
    """WGS84 longitude, latitude [rad] and height [m] -> ITRF x, y, z [m]."""
    e2 = _WGS84_F * (2 - _WGS84_F)
    n = _WGS84_A / np.sqrt(1 - e2 * np.sin(lat) ** 2)
    return np.array([(n + height) * np.cos(lat) * np.cos(lon),
                     (n + height) * np.cos(lat) * np.sin(lon),
                     (n * (1 - e2) + height) * np.sin(lat)])


def observatory_position(name: str):
    """ITRF x, y, z (m) of a known observatory (casacore's measures data),
    or None when casacore does not know the name."""
    global _OBSERVATORIES
    if not name:
        return None
    try:
        from casacore.measures import measures
        dm = measures()
        if _OBSERVATORIES is None:
            _OBSERVATORIES = {n.upper(): n for n in dm.obslist()}
        key = _OBSERVATORIES.get(name.strip().upper())
        if key is None:
            return None
        obs = dm.observatory(key)
        if obs["refer"].upper() == "ITRF" and abs(obs["m2"]["value"]) < 1e5:
            # a few entries of the observatory table are geodetic heights
            # labelled ITRF (OVRO_MMA): read them as WGS84
            obs = dm.position("WGS84", f"{obs['m0']['value']}rad", f"{obs['m1']['value']}rad",
                              f"{obs['m2']['value']}m")
        pos = dm.measure(obs, "ITRF")
        lon = pos["m0"]["value"]
        lat = pos["m1"]["value"]
        r = pos["m2"]["value"]
        return np.array([r * math.cos(lat) * math.cos(lon),
                         r * math.cos(lat) * math.sin(lon), r * math.sin(lat)])
    except Exception:  # noqa: BLE001 - no measures data: fall back to the MS
        return None


def _valid(xyz) -> np.ndarray | None:
    if xyz is None:
        return None
    xyz = np.asarray(xyz, dtype=float).ravel()
    if xyz.shape == (3,) and np.all(np.isfinite(xyz)) and np.linalg.norm(xyz) > _MIN_RADIUS:
        return xyz
    return None


def array_reference_position(telescope: str, positions, flags=None,
                             telescope_location=None, array_position=None):
    """(ITRF xyz, where it came from) of the array reference position.

    ``positions``: (nant, 3) ITRF antenna positions; ``flags``: antennas to
    ignore (FLAG_ROW, or positions that are placeholders).
    """
    pos = np.asarray(positions, dtype=float).reshape(-1, 3)
    good = np.linalg.norm(pos, axis=1) > _MIN_RADIUS if len(pos) else np.zeros(0, bool)
    if flags is not None and len(pos):
        good &= ~np.asarray(flags, dtype=bool)
    ants = pos[good]

    cat = observatory_position(telescope)
    if cat is not None:
        if len(ants) == 0:
            return cat, f"observatory {telescope}"
        mean = ants.mean(axis=0)
        spread = np.linalg.norm(ants - mean, axis=1).max()
        # a catalogue position far outside the array is a different site
        if np.linalg.norm(cat - mean) <= 2.0 * spread + 10.0e3:
            return cat, f"observatory {telescope}"
    loc = _valid(telescope_location)
    if loc is not None:
        return loc, "OBSERVATION TELESCOPE_LOCATION"
    ap = _valid(array_position)
    if ap is not None:
        return ap, "ANTENNA POSITION ARRAY_POSITION keyword"
    if len(ants) == 0:
        return np.zeros(3), "no valid antenna positions"
    mean = ants.mean(axis=0)
    radius = np.linalg.norm(ants, axis=1).mean()
    return mean / np.linalg.norm(mean) * radius, "mean antenna position"


def read_array_reference_position(vis: str, telescope: str | None = None):
    """:func:`array_reference_position` with everything read from the MS."""
    from casacore import tables as ct

    tel_loc = None
    with ct.table(os.path.join(vis, "OBSERVATION"), ack=False) as t:
        if t.nrows():
            if telescope is None:
                telescope = str(t.getcell("TELESCOPE_NAME", 0))
            if "TELESCOPE_LOCATION" in t.colnames():
                try:
                    tel_loc = t.getcell("TELESCOPE_LOCATION", 0)
                except Exception:  # noqa: BLE001 - undefined cell
                    tel_loc = None
    with ct.table(os.path.join(vis, "ANTENNA"), ack=False) as t:
        n = t.nrows()
        positions = np.asarray(t.getcol("POSITION"), dtype=float).reshape(n, 3) if n else \
            np.zeros((0, 3))
        flags = np.asarray(t.getcol("FLAG_ROW"), dtype=bool) if n else np.zeros(0, bool)
        try:
            arrpos = t.getcolkeyword("POSITION", "ARRAY_POSITION")
        except Exception:  # noqa: BLE001 - no such keyword
            arrpos = None
    return array_reference_position(telescope or "", positions, flags, tel_loc, arrpos)
