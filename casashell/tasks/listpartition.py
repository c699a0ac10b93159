"""listpartition: the sub-MSs of a Multi-MS (scans, spws, rows, size)."""

from __future__ import annotations

from ._framework import Param, task


def _size_text(nbytes: int) -> str:
    for unit, div in (("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if nbytes >= div:
            return f"{nbytes / div:.0f}{unit}"
    return f"{nbytes}B"


def describe(path: str) -> dict:
    """{'MS', 'scanId': {scan: {'nrows', 'spwIds', 'nchans'}}, 'size', 'nrows', 'bytes'}."""
    import os

    import numpy as np
    from casacore import tables as ct

    from ..ms.metadata import MSMetadata
    from ..ms.mms import dir_size

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
    size = dir_size(path)
    return {"MS": os.path.basename(path.rstrip("/")), "scanId": scans,
            "size": _size_text(size), "nrows": int(n), "bytes": int(size)}


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
    from ..ms.mms import is_mms, separation_axis, submss_names

    path = check_ms(vis)
    if listfile and os.path.exists(os.path.expanduser(listfile)):
        raise FileExistsError(f"listfile {listfile} already exists")
    if is_mms(path):
        subs = submss_names(path)
        axis = separation_axis(path) or "unknown"
        head = f"This is a multi-MS with separation axis = {axis}"
    else:
        subs = [path]
        head = "This is a normal MS (not a multi-MS)"
    info = {k: describe(s) for k, s in enumerate(subs)}
    width = max([len("Sub-MS")] + [len(d["MS"]) for d in info.values()])
    lines = [head, f"{'Sub-MS':<{width}}  {'Scan':>5}  {'Spw':<12} {'Nchan':<14} "
                   f"{'Nrows':>9}  {'Size':>6}"]
    for d in info.values():
        first = True
        for scan in sorted(d["scanId"]):
            s = d["scanId"][scan]
            name = d["MS"] if first else ""
            size = d["size"] if first else ""
            lines.append(f"{name:<{width}}  {scan:>5}  {str(s['spwIds']):<12} "
                         f"{str(s['nchans']):<14} {s['nrows']:>9}  {size:>6}")
            first = False
        if first:
            lines.append(f"{d['MS']:<{width}}  {'-':>5}  {'[]':<12} {'[]':<14} "
                         f"{0:>9}  {d['size']:>6}")
    total = sum(d["nrows"] for d in info.values())
    lines.append(f"{len(info)} sub-MS(s), {total} rows, "
                 f"{_size_text(sum(d['bytes'] for d in info.values()))} on disk")
    casalog.post("\n".join(lines))
    if listfile:
        from .listobs import write_listfile
        write_listfile(listfile, "\n".join(lines) + "\n", False)
    return info if createdict else {}
