"""clearcal: reset MODEL_DATA to a unit Stokes I model (1 in the parallel hands, 0 in the
cross hands) and CORRECTED_DATA to DATA, creating them if needed."""

from __future__ import annotations

from ._framework import Param, task


@task(summary="Re-initializes the calibration for a visibility data set",
      category="calibration",
      params=[
          Param("vis", "path", "", "Name of input visibility file"),
          Param("field", ["string", "stringVec", "int", "intVec"], "", "Select field using field id(s) or field name(s)"),
          Param("spw", ["string", "stringVec", "int", "intVec"], "", "Select spectral window/channels"),
          Param("intent", ["string", "stringVec"], "", "Select observing intent"),
          Param("addmodel", "bool", False, "Add MODEL_DATA scratch column"),
      ],
      history="vis")
def clearcal(vis, field, spw, intent, addmodel):
    from casacore import tables as ct

    from ..logsink import casalog
    from ..ms.core import check_ms
    from ..ms.transform_params import sel_text
    from ..ms.writer import add_array_column, fill_scratch_columns

    vis = check_ms(vis)
    values = {"field": sel_text(field), "spw": sel_text(spw), "intent": sel_text(intent)}
    if any(v.strip() for v in values.values()):
        from ..ms.selection import select
        rows = select(vis, **{k: v for k, v in values.items() if v.strip()}).rows
    else:
        rows = None
    with ct.table(vis, readonly=False, ack=False) as t:
        cols = set(t.colnames())
        src = "DATA" if "DATA" in cols else "FLOAT_DATA"
        if src not in cols:
            raise RuntimeError(f"{vis} has neither a DATA nor a FLOAT_DATA column")
        new = []
        if "CORRECTED_DATA" not in cols:
            new.append("CORRECTED_DATA")
            if rows is not None:
                # as CASA: creating the scratch columns initializes every row
                casalog.post("Need to create scratch columns; ignoring selection.")
                rows = None
        if "MODEL_DATA" not in cols and addmodel:
            new.append("MODEL_DATA")
        try:
            for c in new:
                add_array_column(t, c, like=src, valuetype="complex")
                casalog.post(f"Adding {c} column to {vis}")
            targets = [c for c in ("MODEL_DATA", "CORRECTED_DATA") if c in t.colnames()]
            # new columns are filled for every row, existing ones for the selection
            fill_scratch_columns(t, [c for c in targets if c in new], src)
            fill_scratch_columns(t, [c for c in targets if c not in new], src, rows)
            t.flush()
        except BaseException:
            # leave the MS as it was: drop the columns this call added
            for c in new:
                if c in t.colnames():
                    t.removecols([c])
            raise
    casalog.post(f"Initialized {', '.join(targets)} of {vis}"
                 + ("" if rows is None else f" for {len(rows)} selected rows"))
    return None
