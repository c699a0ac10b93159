"""flagmanager: list, save, restore, delete and rename flag versions."""

from __future__ import annotations

from ._framework import Param, task


@task(summary="Enable list, save, restore, delete and rename flag version files.",
      category="flagging",
      params=[
          Param("vis", "path", "", "Name of input visibility file (MS) or calibration table"),
          Param("mode", "string", "list", "Operation: list, save, restore, delete, rename",
                allowed=["list", "save", "restore", "delete", "rename"],
                sub={"save": ["versionname", "comment", "merge"],
                     "restore": ["versionname", "merge"],
                     "delete": ["versionname"],
                     "rename": ["oldname", "versionname", "comment"]}),
          Param("versionname", "string", "", "Flag version name"),
          Param("oldname", "string", "", "Flag version to rename"),
          Param("comment", "string", "", "Short description of a versionname"),
          Param("merge", "string", "replace", "Merge option: replace, and, or",
                allowed=["replace", "and", "or"]),
      ],
      history=None)
def flagmanager(vis, mode, versionname, oldname, comment, merge):
    import os

    from ..logsink import casalog
    from ..ms.flagcal import check_vis
    from ..ms.flagversions import FlagVersions, FlagVersionError

    vis, _is_cal = check_vis(vis)
    fv = FlagVersions(vis)
    try:
        if mode == "list":
            entries = fv.list()
            casalog.post(f"MS : {vis}")
            casalog.post("")
            casalog.post("main : working copy in main table")
            for name, com in entries:
                casalog.post(f"{name} : {com}")
            out = {i: {"name": n, "comment": c} for i, (n, c) in enumerate(entries)}
            out["MS"] = vis
            return out
        if mode in ("save", "restore", "delete") and not versionname:
            raise ValueError(f"flagmanager mode='{mode}' needs a versionname")
        if mode == "save":
            fv.save(versionname, comment, merge)
            if fv.renamed_old:
                casalog.post(f"Version name '{versionname}' already exists; the old version "
                             f"is kept as '{fv.renamed_old}'", "WARN")
            casalog.post(f"Saved the current flags of {vis} as version '{versionname}'")
        elif mode == "restore":
            fv.restore(versionname, merge)
            casalog.post(f"Restored flag version '{versionname}' into {vis} (merge={merge})")
        elif mode == "delete":
            fv.delete(versionname)
            casalog.post(f"Deleted flag version '{versionname}' of {vis}")
        elif mode == "rename":
            if not oldname or not versionname:
                raise ValueError("flagmanager mode='rename' needs oldname and versionname")
            fv.rename(oldname, versionname, comment)
            casalog.post(f"Renamed flag version '{oldname}' to '{versionname}'")
        if not os.path.isdir(fv.dir):
            return None
        return None
    except FlagVersionError as exc:
        raise ValueError(f"flagmanager: {exc}") from None
