"""listpartition: the sub-MSs of a Multi-MS (scans, spws, rows, size)."""

from __future__ import annotations

from ._framework import Param, task


def _size_text(nbytes: int) -> str:
    """A size as ``du -h`` prints it: powers of 1024, rounded up, one decimal
    below 10 (``9.9M``, ``11M``, ``1.5G``)."""
    import math
    units = ("K", "M", "G", "T", "P")
    if nbytes < 1024:
        return str(int(nbytes))
    v, k = nbytes / 1024.0, 0
    while v >= 1024 and k < len(units) - 1:
        v, k = v / 1024.0, k + 1
    if v < 10:
        x = math.ceil(v * 10 - 1e-9) / 10
        if x < 10:
            return f"{x:.1f}{units[k]}"
    x = math.ceil(v - 1e-9)
    if x >= 1024 and k < len(units) - 1:
        return f"1.0{units[k + 1]}"
    return f"{x}{units[k]}"


def describe(path: str) -> dict:
    """CASA's listpartition entry of one (sub-)MS: ``{'MS': name, 'scanId':
    {scan: {'nrows': n, 'spwIds': array, 'nchans': array}}, 'size': text}``."""
    import os

    import numpy as np
    from casacore import tables as ct

    from ..ms.metadata import MSMetadata
    from ..ms.mms import disk_usage

    md = MSMetadata(path)
    spw_of = md.spw_of_ddid()
    nchan = {s.id if "id" in s else i: s.nchan for i, s in enumerate(md.spws)}
    with ct.table(path, ack=False) as t:
        n = t.nrows()
        scan = t.getcol("SCAN_NUMBER") if n else np.zeros(0, np.int32)
        spw = spw_of[t.getcol("DATA_DESC_ID")] if n else np.zeros(0, np.int32)
    scans = {}
    if n:
        key = scan.astype(np.int64) * 100000 + spw
        uk, counts = np.unique(key, return_counts=True)
        for k, c in zip(uk, counts):
            s, w = int(k // 100000), int(k % 100000)
            d = scans.setdefault(s, {"nrows": 0, "spwIds": [], "nchans": []})
            d["nrows"] += int(c)
            d["spwIds"].append(w)
            d["nchans"].append(int(nchan[w]))
        for d in scans.values():
            d["spwIds"] = np.array(d["spwIds"], dtype=np.int64)
            d["nchans"] = np.array(d["nchans"], dtype=np.int64)
    return {"MS": os.path.basename(path.rstrip("/")), "scanId": scans,
            "size": _size_text(disk_usage(path))}


def table_lines(info: dict, first: str) -> list:
    """The listing: one line per (sub-)MS and scan, left-aligned columns
    (CASA 6.7's layout)."""
    rows = []
    for d in info.values():
        for j, scan in enumerate(sorted(d["scanId"])):
            e = d["scanId"][scan]
            rows.append(["" if j else d["MS"], str(scan), str(e["spwIds"]), str(e["nchans"]),
                         str(e["nrows"]), "" if j else d["size"]])
        if not d["scanId"]:
            rows.append([d["MS"], "", "[]", "[]", "0", d["size"]])
    head = [first, "Scan", "Spw", "Nchan", "Nrows", "Size"]
    longest = [max([len(head[i])] + [len(r[i]) for r in rows]) for i in range(6)]
    # widths as CASA 6.7 prints them (measured): name, Spw and Nchan from their
    # longest entry; Scan 6, Spw and Nchan at least 7, Nrows 8 and Size 6
    width = [longest[0] + 2, max(6, longest[1] + 2), max(7, longest[2] + 2),
             max(7, longest[3] + 2), max(8, longest[4] + 2), max(6, longest[5] + 1)]
    return ["".join(f"{c:<{w}}" for c, w in zip(r, width)) for r in [head] + rows]


@task(summary="List the summary of a Multi-MS data set in the logger or in a file",
      category="information",
      params=[
          Param("vis", "path", "", "Name of Multi-MS or normal MS"),
          Param("createdict", "bool", False, "Create and return a dictionary with the "
                "information of the sub-MSs"),
          Param("listfile", "newpath", "", "Name of ASCII file to save output: '' means "
                "the output goes to the logger only"),
      ],
      history=None)
def listpartition(vis, createdict, listfile):
    import os

    from ..logsink import casalog
    from ..ms.core import check_ms
    from ..ms.mms import casa_axis_text, is_mms, separation_axis, submss_names

    path = check_ms(vis)
    if listfile and os.path.exists(os.path.expanduser(listfile)):
        raise FileExistsError(f"listfile {listfile} already exists")
    if listfile:
        casalog.post(f"Will save output to '{listfile}'")
    if is_mms(path):
        subs = submss_names(path)
        axis = casa_axis_text(separation_axis(path)) or "unknown"
        casalog.post(f"This is a Multi-MS with separation axis = {axis}")
        first = "Sub-MS"
    else:
        subs = [path]
        first = "MS"
    info = {k: describe(s) for k, s in enumerate(subs)}
    lines = table_lines(info, first)
    if listfile:
        from .listobs import write_listfile
        write_listfile(listfile, "\n".join(lines) + "\n", False)
    else:
        for ln in lines:
            casalog.post(ln)
    return info if createdict else {}
