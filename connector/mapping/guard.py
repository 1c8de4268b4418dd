"""What the mapper refuses to send (issue 12.4, 12.5) and where a result goes when no file places it (12.6).

- A unit leaves the mapping stage as UCUM or not at all: the SIL's spelling goes through
  the ``units:`` tables, then :func:`read_unit`; without a UCUM form the report waits
  (:class:`UnitNotUcum`) with the local code, the unit and the file to edit.
- A LOINC code leaves only with a unit its PROPERTY allows: a contradiction
  (:class:`LoincUnitConflict`) is resolved by the lab's mapping of the local code, else
  the report waits.
- A result without a mapping is placed by its LOINC CLASS, else with the other results of
  its order, else in the configured default chapter.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from connector.errors import LoincUnitConflict, UnitNotUcum
from connector.model import Coded, Order, Result

from .chapters import chapter_for_loinc
from .files import TestMapping
from .loinc import is_loinc_system
from .loinc_names import component_of
from .mappings import Mappings
from .property_fit import Fit, property_fit, property_label
from .unit_forms import read_unit

__all__ = ["Where", "chapter_by_loinc", "fits", "loinc_property", "mapping_unit", "order_chapter", "require_fit",
           "ucum_unit"]


@dataclass(frozen=True, slots=True)
class Where:
    """What a hold reason names: the report, the local code, and the mapping entry to edit (if any)."""

    report_id: str
    local_code: str
    entry: TestMapping | None
    directory: str

    def edit_unit(self, unit: str) -> str:
        if self.entry is not None:
            return (f"in {self.entry.source}, set `unit:` or add `convert: {{{unit!r}: FACTOR}}` to this test "
                    f"(or the spelling to units.yaml in {self.directory})")
        return (f"add local code {self.local_code!r} to a mapping file in {self.directory} with its UCUM "
                "`unit:` (or the spelling to units.yaml)")

    def edit_code(self) -> str:
        if self.entry is not None:
            return f"fix `loinc:` or `unit:` of this test in {self.entry.source}"
        return (f"map local code {self.local_code!r} in a mapping file in {self.directory}: "
                "the lab's mapping wins over the LOINC code the SIL sent")


def loinc_property(mappings: Mappings, code: Coded | None) -> str:
    if code is None or not code.code:
        return ""
    concept = mappings.concept(code.code)
    return concept.kind if concept is not None else ""


def ucum_unit(spelling: str, where: Where, mappings: Mappings, *, prop: str = "") -> str:
    """The UCUM code for a unit as the SIL sent it, or raise UnitNotUcum (the report waits)."""
    spelled = mappings.ucum_for(spelling)
    reading = read_unit(spelled, loinc_property=prop)
    if reading.ucum is None:
        raise UnitNotUcum(where.local_code, unit=spelling.strip(), edit=where.edit_unit(spelling.strip()),
                          report_id=where.report_id, why=reading.reason)
    return reading.ucum


def mapping_unit(entry: TestMapping, where: Where) -> str:
    """The mapping's own unit as UCUM: a file that loads may still hold a unit with no UCUM form."""
    if not entry.unit:
        return ""
    reading = read_unit(entry.unit)
    if reading.ucum is None:
        raise UnitNotUcum(where.local_code, unit=entry.unit, report_id=where.report_id, why=reading.reason,
                          edit=f"write the UCUM unit in `unit:` of this test in {entry.source} "
                               "(`connector mappings check` shows the line)")
    return reading.ucum


def require_fit(code: Coded, unit: str, where: Where, mappings: Mappings, *, edit: str = "") -> None:
    """Raise LoincUnitConflict when ``unit`` contradicts what ``code`` measures."""
    prop = loinc_property(mappings, code)
    if unit and property_fit(prop, unit) is Fit.CONFLICT:
        raise LoincUnitConflict(where.local_code, loinc=code.code, unit=unit, expected=property_label(prop),
                                edit=edit or where.edit_code(), report_id=where.report_id)


def fits(code: Coded | None, unit: str, mappings: Mappings) -> bool:
    return code is None or not unit or property_fit(loinc_property(mappings, code), unit) is not Fit.CONFLICT


def chapter_by_loinc(code: Coded | None, mappings: Mappings) -> tuple[Coded, Coded | None] | None:
    """The chapter (and sub-chapter) a LOINC code's CLASS gives, when the LOINC data knows the code."""
    if code is None:
        return None
    concept = mappings.concept(code.code)
    if concept is None or not concept.loinc_class:
        return None
    return chapter_for_loinc(concept.loinc_class, component=concept.component or component_of(concept.long_name),
                             loinc_property=concept.kind, long_name=concept.long_name)


def _sent_loinc(code: Coded) -> Coded | None:
    for value, system in ((code.code, code.system), (code.alt_code, code.alt_system)):
        if value and is_loinc_system(system):
            return Coded(value.strip(), "", system)
    return None


def order_chapter(order: Order, mappings: Mappings) -> Coded | None:
    """The chapter most of an order's placed results go to: where its unplaced ones go too."""
    votes: Counter[str] = Counter()
    chapters: dict[str, Coded] = {}
    results: list[Result] = [*order.results, *(r for s in order.specimens for r in s.results)]
    for result in results:
        entry = mappings.lookup(result.code)
        placed = entry.chapter if entry is not None else None
        if placed is None and (by_class := chapter_by_loinc(_sent_loinc(result.code), mappings)):
            placed = by_class[0]
        if placed is not None:
            votes[placed.code] += 1
            chapters.setdefault(placed.code, placed)
    return chapters[votes.most_common(1)[0][0]] if votes else None
