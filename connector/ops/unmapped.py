"""`connector mappings unmapped`: what traffic showed the mappings miss, most reports first.

The store records each gap once per report (a held report retried all week counts once). Read
beside the current mapping files, a gap lab IT has since mapped is shown as such (and hidden by
default): the list is what to map next. Codes, labels and unit spellings only: no patient data.
"""

from __future__ import annotations

from dataclasses import dataclass

from connector.config import Config
from connector.config.settings import store_settings
from connector.mapping import Mappings, covers
from connector.model import Coded
from connector.store import Gap, GapKind, GapRow, Store

__all__ = ["UnmappedLine", "unmapped_lines"]


@dataclass(frozen=True, slots=True, kw_only=True)
class UnmappedLine:
    row: GapRow
    mapped_now: bool  # the current mapping files cover it (the next report with it goes through)

    def as_json(self) -> dict[str, object]:
        gap = self.row.gap
        return {"kind": gap.kind.value, "code": gap.code, "system": gap.system, "label": gap.label,
                "unit": gap.unit, "reports": self.row.reports, "first_seen": self.row.first_seen,
                "last_seen": self.row.last_seen, "mapped_now": self.mapped_now}


def unmapped_lines(config: Config, *, include_mapped: bool = False) -> list[UnmappedLine]:
    store = Store(store_settings(config))
    try:
        rows = store.gaps()
    finally:
        store.close()
    mappings = Mappings.load(config.mappings_path, loinc_dir=config.loinc_path)
    lines = [UnmappedLine(row=row, mapped_now=_covered(row.gap, mappings)) for row in rows]
    return [line for line in lines if include_mapped or not line.mapped_now]


def _covered(gap: Gap, mappings: Mappings) -> bool:
    if covers(mappings, Coded(gap.code, gap.label, gap.system), gap.unit):
        return True
    # A unit with no UCUM form is also settled by spelling it in a units: table.
    return gap.kind is GapKind.UNIT and mappings.ucum_for(gap.unit) != gap.unit.strip()
