"""Flag versions: copies of an MS's FLAG and FLAG_ROW columns.

On-disk layout (the one CASA's flagmanager reads and writes)::

    <vis>.flagversions/
        FLAG_VERSION_LIST        text, one "<name> : <comment>" line per version
        flags.<name>/            a casacore table with as many rows as the MS and
                                 two columns: FLAG (bool array, TiledShapeStMan)
                                 and FLAG_ROW (bool scalar); FLAG only for a
                                 calibration table (which has no FLAG_ROW)

Safety: a version table is first written under a temporary name in the same
directory and renamed into place only when complete; the list file is
rewritten through a temporary file and ``os.replace``.  A crash leaves either
the old state or the new one (plus, at worst, a ``.tmp-*`` directory that is
ignored and cleaned on the next write).
"""

from __future__ import annotations

import os
import shutil
import time
import uuid

import numpy as np

from . import flagio

LIST_FILE = "FLAG_VERSION_LIST"
PREFIX = "flags."
_TMP = ".tmp-"


class FlagVersionError(ValueError):
    """A flag-version operation that cannot be done (bad name, missing version...)."""


def versions_dir(vis: str) -> str:
    return os.path.abspath(vis).rstrip("/") + ".flagversions"


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise FlagVersionError("versionname must be a non-empty string")
    name = name.strip()
    if any(c.isspace() for c in name) or "/" in name:
        raise FlagVersionError(f"versionname '{name}' must not contain blanks or '/'")
    if name == "main":
        raise FlagVersionError("versionname 'main' is reserved for the flags in the MS itself")
    return name


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class FlagVersions:
    """The flag versions of one MS."""

    def __init__(self, vis: str):
        self.vis = os.path.abspath(vis).rstrip("/")
        self.dir = versions_dir(self.vis)
        self.listfile = os.path.join(self.dir, LIST_FILE)
        self.renamed_old = None     # set by save(): the name a replaced version got

    # -- the list ----------------------------------------------------------
    def list(self) -> list[tuple[str, str]]:
        """``[(name, comment), ...]`` in the order they were saved (entries whose
        table is missing are left out)."""
        if not os.path.isfile(self.listfile):
            return []
        out = []
        with open(self.listfile, encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.rstrip("\n")
                if not line.strip():
                    continue
                name, sep, comment = line.partition(" : ")
                name = name.strip()
                if not sep:
                    name, comment = line.strip(), ""
                if name and name != "main" and os.path.isdir(self.table_path(name)):
                    out.append((name, comment))
        return out

    def names(self) -> list[str]:
        return [n for n, _ in self.list()]

    def exists(self, name: str) -> bool:
        return name in self.names()

    def table_path(self, name: str) -> str:
        return os.path.join(self.dir, PREFIX + name)

    def _write_list(self, entries: list[tuple[str, str]]) -> None:
        os.makedirs(self.dir, exist_ok=True)
        tmp = os.path.join(self.dir, f"{_TMP}{uuid.uuid4().hex}-{LIST_FILE}")
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                for name, comment in entries:
                    f.write(f"{name} : {comment}\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.listfile)
            _fsync_dir(self.dir)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

    def _clean_temporaries(self) -> None:
        if not os.path.isdir(self.dir):
            return
        for entry in os.listdir(self.dir):
            if entry.startswith(_TMP) or (entry.startswith(PREFIX) and _TMP in entry):
                shutil.rmtree(os.path.join(self.dir, entry), ignore_errors=True)

    def next_name(self, prefix: str = "flagdata") -> str:
        """``<prefix>_<i>`` with the smallest i >= 1 not used yet."""
        used = set(self.names())
        if os.path.isdir(self.dir):
            used.update(e[len(PREFIX):] for e in os.listdir(self.dir) if e.startswith(PREFIX))
        i = 1
        while f"{prefix}_{i}" in used:
            i += 1
        return f"{prefix}_{i}"

    # -- save ----------------------------------------------------------------
    def save(self, name: str, comment: str = "", merge: str = "replace") -> str:
        """Save the MS's current flags as version ``name``.

        If ``name`` exists: merge 'replace' keeps the old table under
        ``<name>.old.<timestamp>`` (as CASA does) and writes a new one;
        'or'/'and' combine the current flags with the saved ones.
        Returns the name saved; ``self.renamed_old`` is then the name the
        replaced version was kept under (None if nothing was renamed).
        """
        from casacore import tables as ct

        name = _check_name(name)
        merge = _check_merge(merge)
        self.renamed_old = None     # the name the replaced version was kept under
        os.makedirs(self.dir, exist_ok=True)
        self._clean_temporaries()
        entries = self.list()
        existing = dict(entries)
        old_table = None
        if name in existing and merge in ("or", "and"):
            old_table = self.table_path(name)
        tmp = self.table_path(name) + f"{_TMP}{uuid.uuid4().hex}"
        try:
            with ct.table(self.vis, ack=False) as ms:
                self._copy_flags(ms, tmp, old_table, merge)
            if name in existing and merge == "replace":
                stamp = str(int(time.time()))   # CASA: <name>.old.<unix seconds>
                oldname = f"{name}.old.{stamp}"
                while oldname in existing:
                    oldname += "x"
                os.rename(self.table_path(name), self.table_path(oldname))
                self.renamed_old = oldname
                entries = [(oldname if n == name else n, c) for n, c in entries]
                entries.append((name, comment))
                self._write_list(entries)
                os.rename(tmp, self.table_path(name))
            elif name in existing:
                backup = self.table_path(name) + f"{_TMP}old-{uuid.uuid4().hex}"
                os.rename(self.table_path(name), backup)
                os.rename(tmp, self.table_path(name))
                shutil.rmtree(backup, ignore_errors=True)
                if comment:
                    entries = [(n, comment if n == name else c) for n, c in entries]
                    self._write_list(entries)
            else:
                # a stale table of that name (no list entry) is replaced
                if os.path.isdir(self.table_path(name)):
                    shutil.rmtree(self.table_path(name))
                os.rename(tmp, self.table_path(name))
                self._write_list(entries + [(name, comment)])
            _fsync_dir(self.dir)
        finally:
            if os.path.exists(tmp):
                shutil.rmtree(tmp, ignore_errors=True)
        return name

    @staticmethod
    def _copy_flags(ms, dest: str, merge_with: str | None, merge: str) -> None:
        """Write a new version table at ``dest`` holding the MS's flags
        (combined with table ``merge_with`` when given)."""
        from casacore import tables as ct

        nrow = ms.nrows()
        # a calibration table has no FLAG_ROW: its versions hold FLAG only (as CASA's)
        with_row = flagio.has_flag_row(ms)
        want = {"FLAG", "FLAG_ROW"} if with_row else {"FLAG"}
        if merge_with is None and nrow > 0:
            # a plain copy of the two columns, done by casacore in C++ (the bits
            # are never unpacked into Python); the chunked copy below is the fallback
            try:
                msname = ms.name().replace("'", "\\'")
                out = ct.taql(f"SELECT {', '.join(sorted(want))} FROM '{msname}' "
                              f"GIVING '{dest}' AS PLAIN")
                out.close()
                with ct.table(dest, readonly=False, ack=False) as out:
                    ok = out.nrows() == nrow and set(out.colnames()) == want
                    # the copy inherits the MS's table keywords (subtable links) and
                    # info: a flag version is a plain table
                    for kw in list(out.getkeywords()):
                        out.removekeyword(kw)
                    out.putinfo({"type": "", "subType": "",
                                 "readme": "flag version written by casashell"})
                if ok:
                    return
            except RuntimeError:
                pass
            shutil.rmtree(dest, ignore_errors=True)
        shapes = flagio.ddid_shapes(ms)
        ncorr = max([s[1] for s in shapes.values()] or [4])
        nchan = max([s[0] for s in shapes.values()] or [1])
        tile_rows = max(1, (1 << 23) // max(1, ncorr * nchan))
        cols = [ct.makearrcoldesc("FLAG", False, ndim=2,
                                  datamanagertype="TiledShapeStMan",
                                  datamanagergroup="TiledFlag")]
        if with_row:
            cols.append(ct.makescacoldesc("FLAG_ROW", False))
        td = ct.maketabdesc(cols)
        dminfo = {"*1": {"TYPE": "TiledShapeStMan", "NAME": "TiledFlag",
                         "SPEC": {"DEFAULTTILESHAPE": np.array(
                             [ncorr, nchan, tile_rows], dtype=np.int32)},
                         "COLUMNS": np.array(["FLAG"])}}
        other = ct.table(merge_with, ack=False) if merge_with else None
        try:
            if other is not None and other.nrows() != nrow:
                raise FlagVersionError(
                    f"flag version {os.path.basename(merge_with)} has {other.nrows()} rows, "
                    f"the MS has {nrow}")
            with ct.table(dest, td, nrow=nrow, dminfo=dminfo, ack=False) as out:
                if nrow == 0:
                    return
                ddid = ms.getcol(flagio.shape_column(ms))
                rows = np.arange(nrow, dtype=np.int64)
                for idx, _ in flagio.plan_blocks(rows, ddid, shapes):
                    r = rows[idx]
                    f = flagio.read_cells(ms, "FLAG", r)
                    if other is not None:
                        g = flagio.read_cells(other, "FLAG", r)
                        f = (f | g) if merge == "or" else (f & g)
                    flagio.write_cells(out, "FLAG", r, f)
                if with_row:
                    fr = ms.getcol("FLAG_ROW")
                    if other is not None and "FLAG_ROW" in other.colnames():
                        g = other.getcol("FLAG_ROW")
                        fr = (fr | g) if merge == "or" else (fr & g)
                    out.putcol("FLAG_ROW", fr)
                out.putinfo({"type": "", "subType": "",
                             "readme": "flag version written by casashell"})
        finally:
            if other is not None:
                other.close()

    # -- restore -------------------------------------------------------------
    def restore(self, name: str, merge: str = "replace") -> None:
        """Write version ``name`` back into the MS (replace, or, and)."""
        from casacore import tables as ct

        merge = _check_merge(merge)
        if not self.exists(name):
            raise FlagVersionError(f"flag version '{name}' does not exist in {self.dir} "
                                   f"(versions: {', '.join(self.names()) or 'none'})")
        with ct.table(self.table_path(name), ack=False) as ver, \
                ct.table(self.vis, readonly=False, ack=False) as ms:
            nrow = ms.nrows()
            if ver.nrows() != nrow:
                raise FlagVersionError(
                    f"flag version '{name}' has {ver.nrows()} rows but {self.vis} has "
                    f"{nrow}: it was not saved from this MS")
            if nrow == 0:
                return
            shapes = flagio.ddid_shapes(ms)
            ddid = ms.getcol(flagio.shape_column(ms))
            rows = np.arange(nrow, dtype=np.int64)
            # check shapes first so that nothing is written on a mismatch
            for d in np.unique(ddid):
                r0 = int(np.flatnonzero(ddid == d)[0])
                if ver.getcell("FLAG", r0).shape != ms.getcell("FLAG", r0).shape:
                    raise FlagVersionError(
                        f"flag version '{name}' has a FLAG shape different from {self.vis} "
                        f"at row {r0}: it was not saved from this MS")
            for idx, _ in flagio.plan_blocks(rows, ddid, shapes):
                r = rows[idx]
                f = flagio.read_cells(ver, "FLAG", r)
                if merge != "replace":
                    g = flagio.read_cells(ms, "FLAG", r)
                    f = (f | g) if merge == "or" else (f & g)
                flagio.write_cells(ms, "FLAG", r, f)
            if flagio.has_flag_row(ms):
                if "FLAG_ROW" in ver.colnames():
                    fr = ver.getcol("FLAG_ROW")
                    if merge != "replace":
                        g = ms.getcol("FLAG_ROW")
                        fr = (fr | g) if merge == "or" else (fr & g)
                    ms.putcol("FLAG_ROW", fr)
                else:   # a version without FLAG_ROW: make it "all cells flagged"
                    for idx, _ in flagio.plan_blocks(rows, ddid, shapes):
                        r = rows[idx]
                        f = flagio.read_cells(ms, "FLAG", r)
                        flagio.write_scalar(ms, "FLAG_ROW", r,
                                            f.reshape(len(r), -1).all(axis=1))
            ms.flush()

    # -- delete / rename -----------------------------------------------------
    def delete(self, name: str) -> None:
        entries = self.list()
        if name not in dict(entries):
            raise FlagVersionError(f"flag version '{name}' does not exist in {self.dir}")
        self._write_list([(n, c) for n, c in entries if n != name])
        shutil.rmtree(self.table_path(name), ignore_errors=True)

    def rename(self, oldname: str, newname: str, comment: str = "") -> None:
        newname = _check_name(newname)
        entries = self.list()
        if oldname not in dict(entries):
            raise FlagVersionError(f"flag version '{oldname}' does not exist in {self.dir}")
        if newname in dict(entries) or os.path.exists(self.table_path(newname)):
            raise FlagVersionError(f"flag version '{newname}' already exists in {self.dir}")
        os.rename(self.table_path(oldname), self.table_path(newname))
        try:
            self._write_list([(newname, comment if comment else c) if n == oldname else (n, c)
                              for n, c in entries])
        except BaseException:
            os.rename(self.table_path(newname), self.table_path(oldname))
            raise


def _check_merge(merge: str) -> str:
    m = (merge or "replace").strip().lower()
    if m not in ("replace", "or", "and"):
        raise FlagVersionError(f"merge '{merge}' is not one of replace, or, and")
    return m


def backup_flags(vis: str, prefix: str = "flagdata", comment: str | None = None) -> str:
    """Save the current flags as ``<prefix>_<i>`` (CASA's automatic backup name)."""
    fv = FlagVersions(vis)
    name = fv.next_name(prefix)
    if comment is None:
        comment = "Flags autosave on " + time.strftime("%Y-%m-%d %H:%M:%S")
    return fv.save(name, comment)
