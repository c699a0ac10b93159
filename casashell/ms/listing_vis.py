"""Which main-table columns listvis reads for a ``datacolumn`` choice."""

from __future__ import annotations

_DATACOLS = {"data": ("DATA",), "corrected": ("CORRECTED_DATA",), "model": ("MODEL_DATA",),
             "residual": ("CORRECTED_DATA", "MODEL_DATA"), "float_data": ("FLOAT_DATA",)}


def data_columns(vis: str, colnames, datacolumn: str) -> tuple:
    dc = datacolumn.strip().lower()
    if dc not in _DATACOLS:
        raise ValueError(f"datacolumn '{datacolumn}' is not one of "
                         + ", ".join(_DATACOLS))
    cols = _DATACOLS[dc]
    for c in cols:
        if c not in colnames:
            raise ValueError(f"datacolumn '{datacolumn}': {vis} has no {c} column")
    return cols
