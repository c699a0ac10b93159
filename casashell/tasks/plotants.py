"""plotants: plot the antenna positions of a MeasurementSet."""

from __future__ import annotations

from ._framework import Param, task


@task(summary="Plot the antenna distribution in the local reference frame",
      category="visualization",
      params=[
          Param("vis", "path", "", "Name of input visibility file (MS)"),
          Param("figfile", "newpath", "", "Save the plot to this image file (format from "
                "the extension: png, pdf, jpg, ps, eps, svg; png if none)"),
          Param("antindex", "bool", False, "Label the antennas with name and index"),
          Param("logpos", "bool", False, "Plot positions on a logarithmic radial scale "
                "(polar plot: direction from the array centre, log10 of the distance)"),
          Param("exclude", ["string", "stringVec"], "", "Antennas not to plot "
                "(names, indices, ranges a~b, wildcards ea0*)"),
          Param("checkbaselines", "bool", False, "Only plot antennas that appear in a "
                "baseline of the main table"),
          Param("title", "string", "", "Title of the plot"),
          Param("showgui", "bool", True, "Show the plot in a window (when there is a display)"),
      ],
      history=None)
def plotants(vis, figfile, antindex, logpos, exclude, checkbaselines, title, showgui):
    import os
    import numpy as np
    from ..logsink import casalog
    from .. import plotting

    info = antenna_layout(vis, exclude=exclude, checkbaselines=checkbaselines)
    names, ids, east, north = info["names"], info["ids"], info["east"], info["north"]
    tel = info["telescope"] or "unknown telescope"
    casalog.post(f"Array centre ({info['centre_source']}): ITRF "
                 f"{info['centre'][0]:.3f}, {info['centre'][1]:.3f}, {info['centre'][2]:.3f} m")
    lines = ["  ID  Name        Station       East (m)     North (m)        Up (m)"]
    for i in range(len(ids)):
        lines.append(f"{ids[i]:4d}  {names[i]:<10.10s}  {info['stations'][i]:<10.10s} "
                     f"{east[i]:13.3f} {north[i]:13.3f} {info['up'][i]:13.3f}")
    casalog.post(f"Plotting {len(ids)} antennas of {tel}:\n" + "\n".join(lines))
    if info["skipped"]:
        casalog.post(f"Not plotted: {info['skipped']}")

    fig, interactive = plotting.new_figure(figsize=(8.0, 8.0), showgui=showgui,
                                           outfile_param="figfile" if figfile else None)
    labels = [f"{n} ({i})" if antindex else n for n, i in zip(names, ids)]
    if logpos:
        ax = fig.add_subplot(111, projection="polar")
        dist = np.hypot(east, north)
        theta = np.arctan2(north, east)
        r = np.log10(np.maximum(dist, 1.0))
        ax.plot(theta, r, "o", color="tab:blue", markersize=5, linestyle="none")
        for t, rr, lab in zip(theta, r, labels):
            ax.annotate(lab, (t, rr), xytext=(3, 3), textcoords="offset points",
                        fontsize=7)
        ax.set_xticks(np.radians([0, 90, 180, 270]))
        ax.set_xticklabels(["E", "N", "W", "S"])
        ax.set_rlabel_position(80)
        ax.set_xlabel("log10(distance from array centre / m)")
        rmax = float(np.ceil(r.max() + 0.05)) if len(r) else 1.0
        ax.set_ylim(0.0, max(rmax, 1.0))
    else:
        ax = fig.add_subplot(111)
        ax.plot(east, north, "o", color="tab:blue", markersize=5, linestyle="none")
        for x, y, lab in zip(east, north, labels):
            ax.annotate(lab, (x, y), xytext=(3, 3), textcoords="offset points", fontsize=7)
        ax.set_xlabel("East (m)")
        ax.set_ylabel("North (m)")
        ax.set_aspect("equal", adjustable="datalim")
        ax.margins(0.08)  # room for the labels of the outermost antennas
        ax.grid(True, alpha=0.3)
    ax.set_title(title or f"Antenna Positions for {os.path.basename(os.path.abspath(vis))}"
                 f" ({tel})", fontsize=10)
    fig.tight_layout()

    plotting.LAST.clear()
    plotting.LAST.update(task="plotants", figure=fig, info=info)
    if figfile:
        written = plotting.save_figure(fig, figfile, overwrite=True)
        casalog.post(f"Plot written to {written}")
    if interactive:
        plotting.show(fig)
    return None


# ---------------------------------------------------------------------------

def _open_ms(vis):
    try:
        from ..ms.core import open_ms
    except ImportError:  # the MS layer may not be installed in this tree yet
        open_ms = None
    if open_ms is not None:
        return open_ms(vis)
    import os
    from casacore import tables as ct
    if not os.path.exists(vis):
        raise FileNotFoundError(f"MeasurementSet {vis} does not exist")
    if not os.path.isfile(os.path.join(vis, "table.dat")):
        raise OSError(f"{vis} is not a table")
    t = ct.table(vis, ack=False)
    if "ANTENNA" not in t.getkeywords():
        t.close()
        raise OSError(f"{vis} is not a MeasurementSet (no ANTENNA subtable)")
    return t


def array_centre(vis, positions, flags, telescope):
    """(ITRF xyz, where it came from) of the array reference position: the
    rule every task shares (``casashell.ms.geometry``)."""
    from ..ms.geometry import read_array_reference_position
    return read_array_reference_position(vis, telescope)


def parse_antenna_list(spec, names, ids, what="exclude"):
    """Antenna indices named by ``spec`` (str 'a,b' or list): names, indices,
    ranges ``a~b``, wildcards.  Unknown items raise ValueError."""
    import fnmatch
    import numpy as np
    if isinstance(spec, str):
        items = [s.strip() for s in spec.split(",")]
    else:
        items = [s.strip() for part in spec for s in str(part).split(",")]
    items = [s for s in items if s]
    names = list(names)
    ids = np.asarray(ids)
    out = set()
    for item in items:
        if item in names:
            out.update(int(i) for i in ids[[n == item for n in names]])
        elif "~" in item:
            lo, _, hi = item.partition("~")
            if not (lo.strip().isdigit() and hi.strip().isdigit()):
                raise ValueError(f"{what} antenna selection {item!r} is not a range of indices")
            out.update(range(int(lo), int(hi) + 1))
        elif item.isdigit():
            if int(item) not in set(ids.tolist()):
                raise ValueError(f"{what} antenna selection: no antenna with index {item}")
            out.add(int(item))
        elif any(c in item for c in "*?["):
            m = [int(i) for n, i in zip(names, ids) if fnmatch.fnmatchcase(n, item)]
            if not m:
                raise ValueError(f"{what} antenna selection: no antenna name matches {item!r}")
            out.update(m)
        else:
            raise ValueError(f"{what} antenna selection: no antenna named {item!r}")
    return out


def antenna_layout(vis, exclude="", checkbaselines=False):
    """Local east/north/up offsets of the antennas to plot, and what was left out."""
    import os
    import numpy as np
    from casacore import tables as ct

    t = _open_ms(vis)
    try:
        anttab = ct.table(os.path.join(vis, "ANTENNA"), ack=False)
        nant = anttab.nrows()
        if nant == 0:
            raise ValueError(f"MeasurementSet {vis} has an empty ANTENNA table")
        pos = np.asarray(anttab.getcol("POSITION"), dtype=float).reshape(nant, 3)
        names = [str(n) for n in anttab.getcol("NAME")]
        stations = [str(s) for s in anttab.getcol("STATION")]
        flag_row = np.asarray(anttab.getcol("FLAG_ROW"), dtype=bool)
        anttab.close()
        telescope = ""
        try:
            obs = ct.table(os.path.join(vis, "OBSERVATION"), ack=False)
            if obs.nrows():
                telescope = str(obs.getcell("TELESCOPE_NAME", 0)).strip()
            obs.close()
        except Exception:  # noqa: BLE001
            pass
        used = None
        if checkbaselines:
            used = np.zeros(nant, dtype=bool)
            nrow = t.nrows()
            step = 2_000_000
            for start in range(0, nrow, step):
                n = min(step, nrow - start)
                for col in ("ANTENNA1", "ANTENNA2"):
                    a = t.getcol(col, start, n)
                    used[np.unique(a[(a >= 0) & (a < nant)])] = True
    finally:
        t.close()

    ids = np.arange(nant)
    bad_pos = np.linalg.norm(pos, axis=1) < 1.0e6  # unset (0,0,0) or not ITRF
    invalid = flag_row | bad_pos
    if invalid.all():
        raise ValueError(f"MeasurementSet {vis}: no antenna has a valid position")
    skipped = []
    keep = ~invalid
    if invalid.any():
        skipped.append(f"{int(invalid.sum())} antenna(s) flagged or without a position "
                       f"(ids {', '.join(str(i) for i in ids[invalid])})")
    if used is not None:
        unused = keep & ~used
        if unused.any():
            skipped.append(f"{int(unused.sum())} antenna(s) in no baseline (ids "
                           f"{', '.join(str(i) for i in ids[unused])})")
        keep &= used
    if exclude:
        ex = parse_antenna_list(exclude, names, ids)
        exm = np.isin(ids, sorted(ex)) & keep
        if exm.any():
            skipped.append(f"{int(exm.sum())} antenna(s) excluded by request "
                           f"(ids {', '.join(str(i) for i in ids[exm])})")
        keep &= ~np.isin(ids, sorted(ex))
    centre, source = array_centre(vis, pos, invalid, telescope)
    from ..ms.geometry import enu_offsets
    e, n, u = enu_offsets(pos[keep], centre)
    return {
        "ids": ids[keep], "names": [names[i] for i in ids[keep]],
        "stations": [stations[i] for i in ids[keep]],
        "east": e, "north": n, "up": u, "centre": centre, "centre_source": source,
        "telescope": telescope, "skipped": "; ".join(skipped),
    }
