"""Multi-MS layout: a reference MS over sub-MSs in ``<mms>/SUBMSS/``.

On disk (the layout CASA uses)::

    name.mms/
        table.dat, table.info      casacore ConcatTable: the rows of every sub-MS
        ANTENNA -> SUBMSS/name.mms.0000.ms/ANTENNA     (symbolic links, one per
        ...                                             subtable of the first sub-MS)
        SUBMSS/
            name.mms.0000.ms/      a complete MeasurementSet (every subtable)
            name.mms.0001.ms/      a complete MS; its POINTING and SYSCAL are links
            ...                    to the first sub-MS's (large, read-only)

Every sub-MS holds the *same* subtables (no re-indexing): a field, spectral
window or antenna id means the same thing in every sub-MS and in the
reference MS, so results computed per sub-MS combine by id.  The
ConcatTable stores its parts as ``././SUBMSS/<name>`` (relative to itself),
so the Multi-MS can be moved or renamed as one directory.

python-casacore opens the reference MS as one table (``table(name)``); the
tasks read it like any MS.  Writes through it reach the sub-MSs.
"""

from __future__ import annotations

import os
import shutil
import uuid

SUBMSS = "SUBMSS"

#: subtables that later sub-MSs share with the first one (read-only, often large)
SHARED_SUBTABLES = ("POINTING", "SYSCAL")

#: the reference MS's table.info subtype, CASA 6.7's: CASA then takes our
#: Multi-MS for one of its own (``ms.ismultims()``, listpartition per sub-MS,
#: its tasks per sub-MS through ParallelTaskHelper).  (CASA 6.7's flagdata on
#: any Multi-MS, its own too, can segfault in a CASA process that has run some
#: 200 listobs before: a CASA bug; the CASA comparison tests check written MSs
#: in a fresh CASA process.)  Multi-MSs written with it empty are still read.
_SUBTYPE = "CONCATENATED"
_AXIS_TYPE = "AxisType ="
#: CASA's AxisType text of our separation axes (auto: scan and spw)
_CASA_AXIS = {"auto": "scan,spw"}
#: readme line naming the axis in Multi-MSs written before (still read)
_AXIS_KEY = "Multi-MS separation axis:"


def _read_head(path: str, nbytes: int = 96) -> bytes:
    try:
        with open(os.path.join(path, "table.dat"), "rb") as fh:
            return fh.read(nbytes)
    except OSError:
        return b""


def is_mms(path) -> bool:
    """Is ``path`` a Multi-MS (a ConcatTable with a SUBMSS directory)?

    Cheap: reads the first bytes of ``table.dat``; opens no table.
    """
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        return False
    p = os.path.expanduser(str(path))
    return os.path.isdir(os.path.join(p, SUBMSS)) and b"ConcatTable" in _read_head(p)


def submss_names(mms: str) -> list[str]:
    """Absolute paths of the sub-MSs of ``mms``, in their order in the reference MS."""
    import re

    mms = os.path.abspath(os.path.expanduser(str(mms)))
    if not is_mms(mms):
        raise OSError(f"{mms} is not a Multi-MS (no ConcatTable over {SUBMSS}/)")
    # the part names are strings in table.dat, relative to the table ('././x')
    # or to its directory ('./x'); read them without opening the parts
    with open(os.path.join(mms, "table.dat"), "rb") as fh:
        raw = fh.read(1 << 20)
    names = []
    for m in re.finditer(rb"(\./(?:\./)?[\x20-\x7e]+?)(?=[\x00-\x1f]|$)", raw):
        rel = m.group(1).decode("ascii")
        if rel.startswith("././"):
            names.append(os.path.normpath(os.path.join(mms, rel[4:])))
        else:
            names.append(os.path.normpath(os.path.join(os.path.dirname(mms), rel[2:])))
    if not names:
        from casacore import tables as ct
        with ct.table(mms, ack=False) as t:
            names = [os.path.abspath(n) for n in t.partnames()]
    missing = [n for n in names if not os.path.isfile(os.path.join(n, "table.dat"))]
    if missing:
        raise OSError(f"Multi-MS {mms}: sub-MS {missing[0]} is missing")
    return names


def separation_axis(mms: str) -> str:
    """The axis written by partition ('scan', 'spw', 'baseline', 'auto'), or ''
    (also read from a Multi-MS written by CASA: its ``AxisType``)."""
    back = {v: k for k, v in _CASA_AXIS.items()}
    try:
        with open(os.path.join(os.path.expanduser(str(mms)), "table.info"),
                  encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith(_AXIS_TYPE):
                    text = line[len(_AXIS_TYPE):].strip().replace(" ", "")
                    return back.get(text, text)
                if line.startswith(_AXIS_KEY):
                    return line[len(_AXIS_KEY):].strip()
    except OSError:
        pass
    return ""


def casa_axis_text(axis: str) -> str:
    """The separation axis as CASA names it ('auto' is 'scan,spw')."""
    return _CASA_AXIS.get(axis, axis)


def submss_name(mms_name: str, k: int) -> str:
    """File name of sub-MS ``k`` of a Multi-MS called ``mms_name``."""
    return f"{os.path.basename(mms_name.rstrip('/'))}.{k:04d}.ms"


def staging_dir(target: str) -> str:
    """A new empty temporary directory beside ``target`` (with SUBMSS/ inside)."""
    target = os.path.abspath(target)
    parent, name = os.path.split(target)
    tmp = os.path.join(parent, f".{name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    os.makedirs(os.path.join(tmp, SUBMSS))
    return tmp


def remove_tree(path: str) -> None:
    if os.path.islink(path):
        os.remove(path)
    elif os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)


def share_subtables(submss: list[str]) -> None:
    """Replace the POINTING/SYSCAL subtables of every sub-MS but the first by a
    relative link to the first one's."""
    if len(submss) < 2:
        return
    first = submss[0]
    for sub in submss[1:]:
        for name in SHARED_SUBTABLES:
            src = os.path.join(first, name)
            dst = os.path.join(sub, name)
            if os.path.isdir(src) and os.path.isdir(dst) and not os.path.islink(dst):
                shutil.rmtree(dst)
                os.symlink(os.path.join("..", os.path.basename(first), name), dst)


def make_reference(staged: str, submss: list[str], axis: str = "") -> None:
    """Write the reference MS (ConcatTable + subtable links) into ``staged``.

    ``staged`` is a directory holding only ``SUBMSS/`` with the complete
    sub-MSs ``submss`` (paths inside ``staged/SUBMSS``).  casacore writes a
    ConcatTable's part names relative to the table when the parts lie inside
    it (``././SUBMSS/x``), but renaming a table onto an existing directory
    replaces that directory; so the parts are opened where they will finally
    be, the directory is moved aside while casacore writes ``table.dat``,
    then ``SUBMSS`` is moved back underneath it.
    """
    from casacore import tables as ct

    staged = os.path.abspath(staged)
    subdir = os.path.join(staged, SUBMSS)
    for s in submss:
        if os.path.dirname(os.path.abspath(s)) != subdir:
            raise ValueError(f"sub-MS {s} is not in {subdir}")
    if not submss:
        raise ValueError("a Multi-MS needs at least one sub-MS")
    aside = staged + ".aside"
    parts = [ct.table(s, ack=False) for s in submss]
    nrow = sum(p.nrows() for p in parts)
    try:
        concat = ct.table(parts, ack=False)
        try:
            os.rename(staged, aside)
            try:
                concat.rename(staged)
            except BaseException:
                remove_tree(staged)
                os.rename(aside, staged)
                raise
        finally:
            concat.close()
    finally:
        for p in parts:
            p.close()
    os.rename(os.path.join(aside, SUBMSS), subdir)
    os.rmdir(aside)
    with open(os.path.join(staged, "table.info"), "w", encoding="utf-8") as fh:
        fh.write(f"Type = Measurement Set\nSubType = {_SUBTYPE}\n\n"
                 + (f"{_AXIS_TYPE} {casa_axis_text(axis)}\n" if axis else "")
                 + "A Multi-MS: the concatenation of the sub-MSs in SUBMSS/\n")
    # the reference MS shows the subtables of the first sub-MS
    first = os.path.basename(submss[0])
    for name in sorted(os.listdir(submss[0])):
        if os.path.isfile(os.path.join(submss[0], name, "table.dat")):
            os.symlink(os.path.join(SUBMSS, first, name), os.path.join(staged, name))
    with ct.table(staged, ack=False) as check:
        if check.nrows() != nrow:
            raise RuntimeError(f"Multi-MS reference table of {staged} has {check.nrows()} "
                               f"rows, its sub-MSs {nrow}")


def finish(staged: str, target: str) -> str:
    """Rename the finished staging directory to ``target`` (which must not exist)."""
    target = os.path.abspath(target)
    if os.path.lexists(target):
        raise FileExistsError(f"Output MS {target} appeared while it was being written")
    os.rename(staged, target)
    return target


def disk_usage(path: str) -> int:
    """Bytes of disk allocated under ``path`` (files, directories and the links
    themselves; links not followed; as ``du``)."""
    total = 0
    seen = set()
    for root, dirs, files in os.walk(path):
        for name in [None] + dirs + files:
            fp = root if name is None else os.path.join(root, name)
            if name is not None and name in dirs and not os.path.islink(fp):
                continue            # counted as the root of its own walk step
            try:
                st = os.lstat(fp)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
    return total


def dir_size(path: str) -> int:
    """Bytes in the files under ``path`` (links not followed)."""
    total = 0
    for root, dirs, files in os.walk(path):
        for f in files:
            fp = os.path.join(root, f)
            if not os.path.islink(fp):
                try:
                    total += os.lstat(fp).st_size
                except OSError:
                    pass
    return total
