"""Opening and validating MeasurementSets.

``open_ms(path)`` returns the python-casacore table of the main table after
checking that ``path`` exists, is a table, and looks like a MeasurementSet
(the standard main-table columns and the required subtables).
"""

from __future__ import annotations

import os

#: main-table columns every MS has (MS v2 required columns we rely on)
REQUIRED_COLUMNS = ("TIME", "ANTENNA1", "ANTENNA2", "DATA_DESC_ID", "FIELD_ID",
                    "UVW", "FLAG", "SCAN_NUMBER")
#: subtables every MS has
REQUIRED_SUBTABLES = ("ANTENNA", "DATA_DESCRIPTION", "FIELD", "POLARIZATION",
                      "SPECTRAL_WINDOW")


def _is_table_dir(path: str) -> bool:
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, "table.dat"))


def _problems(path: str, colnames) -> list[str]:
    cols = set(colnames)
    missing = [c for c in REQUIRED_COLUMNS if c not in cols]
    probs = []
    if missing:
        probs.append("no column " + ", ".join(missing))
    subs = [s for s in REQUIRED_SUBTABLES if not _is_table_dir(os.path.join(path, s))]
    if subs:
        probs.append("no subtable " + ", ".join(subs))
    return probs


#: the 4 bytes every casacore table.dat (an AipsIO file) starts with
_AIPSIO_MAGIC = b"\xbe\xbe\xbe\xbe"


def _table_dat_problem(path: str) -> str | None:
    """Why ``path/table.dat`` cannot be a table description, or None if it may be
    (casacore itself then says "Table ... does not exist")."""
    dat = os.path.join(path, "table.dat")
    try:
        with open(dat, "rb") as f:
            head = f.read(4)
    except OSError as exc:
        return f"cannot read {dat} ({exc.strerror or exc})"
    if not head:
        return f"{dat} is empty"
    if head != _AIPSIO_MAGIC:
        return f"{dat} is corrupt (no AipsIO magic value found)"
    return None


def _validate_path(path) -> str:
    if not isinstance(path, (str, os.PathLike)) or str(path) == "":
        raise FileNotFoundError("MeasurementSet name is empty")
    path = os.path.expanduser(str(path))
    shown = str(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"MeasurementSet {shown} does not exist")
    if not _is_table_dir(path):
        raise OSError(f"{shown} is not a table")
    return path


def open_ms(path, readonly: bool = True):
    """Open the main table of the MeasurementSet at ``path``.

    Raises ``FileNotFoundError`` (missing), ``OSError`` (not a table, not an MS,
    corrupt or unreadable).
    """
    from casacore import tables as ct

    path = _validate_path(path)
    try:
        t = ct.table(path, readonly=readonly, ack=False)
    except RuntimeError as exc:
        why = _table_dat_problem(path)
        if why:
            raise OSError(f"{path} is a corrupt or unreadable table: {why}") from None
        raise OSError(f"{path} is not a readable table ({str(exc).strip().splitlines()[0]})") \
            from None
    probs = _problems(path, t.colnames())
    if probs:
        t.close()
        raise OSError(f"{path} is not a MeasurementSet ({'; '.join(probs)})")
    return t


def check_ms(path) -> str:
    """Validate ``path`` as a MeasurementSet; return its absolute path."""
    t = open_ms(path)
    t.close()
    return os.path.abspath(os.path.expanduser(str(path)))


def ms_subtable(path, name: str, readonly: bool = True):
    """Open subtable ``name`` of the MS at ``path`` (``OSError`` if absent)."""
    from casacore import tables as ct

    sub = os.path.join(os.path.expanduser(str(path)), name)
    if not _is_table_dir(sub):
        raise OSError(f"{path} has no {name} subtable")
    return ct.table(sub, readonly=readonly, ack=False)


#: optional main-table columns that CASA treats as absent when their cells were
#: never written (the column exists in the table description only)
OPTIONAL_SPECTRUM_COLUMNS = ("WEIGHT_SPECTRUM", "SIGMA_SPECTRUM")


def column_has_data(table, name: str) -> bool:
    """True if column ``name`` of the open casacore ``table`` exists and holds data.

    A column added without writing any cell (e.g. an empty WEIGHT_SPECTRUM from
    other software) reports its cells as undefined; reading it fails with
    "TSM: no array in row 0". CASA treats such a column as absent. The first row
    decides (a column is written for all rows or none by every MS writer).
    """
    try:
        if name not in table.colnames() or table.nrows() == 0:
            return False
        return bool(table.iscelldefined(name, 0))
    except RuntimeError:
        return False


def data_colnames(table) -> list[str]:
    """The column names of ``table`` minus empty optional spectrum columns.

    WEIGHT_SPECTRUM / SIGMA_SPECTRUM columns without data are left out, as CASA
    treats them as absent (see :func:`column_has_data`).
    """
    return [c for c in table.colnames()
            if c not in OPTIONAL_SPECTRUM_COLUMNS or column_has_data(table, c)]
