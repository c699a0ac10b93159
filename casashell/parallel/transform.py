"""split / mstransform / hanningsmooth per sub-MS with the Multi-MS's ids.

The transform engine re-indexes fields, spectral windows, polarizations and
data descriptions to the ids that remain in its input rows.  Run on one
sub-MS alone, that would number them by what that sub-MS holds; the sub-MSs
of one output would then disagree.  :func:`global_ids` works the maps out
once on the whole Multi-MS (the reference table), and
:class:`GlobalIdTransformer` uses them in every sub-MS, so every output
sub-MS has the same subtables and ids, as partition wrote them.
"""

from __future__ import annotations

import copy

from ..ms.transform import Plan, Transformer


def global_ids(plan: Plan) -> dict:
    """The id maps of ``plan`` over its whole input (the Multi-MS)."""
    from casacore import tables as ct
    tr = Transformer(plan, "", None)
    with ct.table(plan.vis, ack=False) as tin:
        tr._prepare(tin)
    return {"dds": copy.deepcopy(tr.dds), "fields": list(tr.fields),
            "spw_map": dict(tr.spw_map), "pol_keys": list(tr.pol_keys),
            "dd_keys": list(tr.dd_keys)}


class GlobalIdTransformer(Transformer):
    """A :class:`Transformer` whose output ids are those of ``ids`` (global_ids)."""

    def __init__(self, plan, outputvis, log, ids: dict):
        super().__init__(plan, outputvis, log)
        self._ids = ids

    def _prepare(self, tin):
        super()._prepare(tin)
        ids = self._ids
        missing = set(self.dds) - set(ids["dds"])
        if missing:
            raise RuntimeError(f"data description {sorted(missing)[0]} of {self.plan.vis} "
                               f"is not in the Multi-MS selection")
        # the local data descriptions (those of this sub-MS's rows) get the
        # global output ids; the subtables are written from the global set
        for d, dd in self.dds.items():
            g = ids["dds"][d]
            dd.new_spw, dd.new_pol, dd.new_ddid = g.new_spw, g.new_pol, g.new_ddid
        self._global_dds = copy.deepcopy(ids["dds"])
        self.fields = list(ids["fields"])
        self.field_map = {f: i for i, f in enumerate(self.fields)}
        self.spw_map = dict(ids["spw_map"])
        self.pol_keys = list(ids["pol_keys"])
        self.dd_keys = list(ids["dd_keys"])

    def _write_subtables(self, tin, tout, path):
        local = self.dds
        self.dds = self._global_dds
        try:
            super()._write_subtables(tin, tout, path)
        finally:
            self.dds = local
