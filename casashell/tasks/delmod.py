"""delmod: delete on-the-fly model visibilities and/or the MODEL_DATA column."""

from __future__ import annotations

from ._framework import Param, task


@task(summary="Deletes model representations in the MS",
      category="calibration",
      params=[
          Param("vis", "path", "", "Name of input visibility file (MS)"),
          Param("otf", "bool", True, "Delete the on-the-fly model data keywords"),
          Param("field", ["string", "stringVec", "int", "intVec"], "", "Select field using field id(s) or field name(s)"),
          Param("scr", "bool", False, "Delete the MODEL_DATA scr col (if it exists)"),
      ],
      history="vis")
def delmod(vis, otf, field, scr):
    from casacore import tables as ct

    from ..logsink import casalog
    from ..ms.core import check_ms
    from ..ms.transform_params import sel_text

    vis = check_ms(vis)
    fields = None
    if sel_text(field).strip():
        from ..ms.selection import parse_field
        from ..ms.metadata import MSMetadata
        fields = sorted(parse_field(MSMetadata(vis), sel_text(field)))
    removed = []
    with ct.table(vis, readonly=False, ack=False) as t:
        if otf:
            removed = _delete_otf(t, fields)
            for key in removed:
                casalog.post(f"Deleted the virtual model {key} of {vis}")
            if not removed:
                casalog.post(f"{vis} has no virtual (on-the-fly) model"
                             + ("" if fields is None else f" for fields {fields}"))
        if scr:
            if "MODEL_DATA" in t.colnames():
                t.removecols(["MODEL_DATA"])
                casalog.post(f"Deleted the MODEL_DATA column of {vis}")
            else:
                casalog.post(f"{vis} has no MODEL_DATA column")
    return None


def _delete_otf(t, fields):
    """Remove the 'definedmodel_field_N' keywords and the model records they name
    (kept in the SOURCE table's keywords, or the main table's when it has none)."""
    from casacore import tables as ct

    removed = []
    keys = [k for k in t.keywordnames() if k.startswith("definedmodel_field_")]
    src = None
    if "SOURCE" in t.keywordnames():
        try:
            src = ct.table(t.getkeyword("SOURCE")[len("Table: "):], readonly=False, ack=False)
        except RuntimeError:
            src = None
    try:
        for k in keys:
            try:
                fid = int(k.rsplit("_", 1)[1])
            except ValueError:
                continue
            if fields is not None and fid not in fields:
                continue
            model = t.getkeyword(k)
            for holder in (src, t):
                if holder is not None and isinstance(model, str) and \
                        model in holder.keywordnames():
                    holder.removekeyword(model)
            t.removekeyword(k)
            removed.append(k)
        # model records no field refers to any more
        if fields is None:
            for holder in (src, t):
                if holder is None:
                    continue
                for k in list(holder.keywordnames()):
                    if k.startswith("model_") or k == "definedmodel":
                        holder.removekeyword(k)
                        removed.append(k)
    finally:
        if src is not None:
            src.close()
    return removed
