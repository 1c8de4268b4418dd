"""LabReport → MappedReport: LOINC codes, UCUM units and converted values, CR-BIO chapters.

Rules (what the CDA stage relies on):
- OBX-3 already LOINC (LN / LOINC / 2.16.840.1.113883.6.1) passes through; a local code
  with a mapping gets its LOINC (or none, e.g. CRP: the CDA carries the local code in
  ``translation``), display, UCUM unit and chapter.
- A local code without mapping keeps the label sent and ``loinc=None``; it is counted in
  ``unmapped_codes`` (or raises UnmappedCode when ``hold_unmapped``). It goes to the chapter
  of its LOINC CLASS when the SIL sent a LOINC code, else to the chapter most of its
  order's results go to, else the default chapter.
- The name shown to the doctor is the mapping's display, else the lab's label (OBX-3.2),
  else a French display; never an English long name when a French one exists.
- A unit the mapping does not know how to convert is never relabelled: the result is sent
  as unmapped (local code, unit as sent) and counted, because a wrong unit under a LOINC
  code is worse than no LOINC code.
- Every unit sent is UCUM: the SIL's spelling is normalised when that is unambiguous, else
  the report waits (UnitNotUcum). A LOINC code is sent only with a unit its property allows:
  the lab's mapping of the local code wins over the SIL's LOINC, else the report waits
  (LoincUnitConflict). Both name the local code, the unit and the mapping file to edit.
- A numeric result sent without OBX-6 is taken to be in the mapping's unit.
- OBX-11 D/W results are dropped (counted), X gives ``aborted``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal

from connector.errors import UnmappedCode
from connector.logs import event
from connector.model import (
    Coded,
    LabReport,
    MappedReport,
    MappedResult,
    Numeric,
    Order,
    PreviousResult,
    Result,
    Specimen,
    StructuredNumeric,
)

from .files import TestMapping
from .guard import (
    Where,
    chapter_by_loinc,
    fits,
    loinc_property,
    mapping_unit,
    order_chapter,
    require_fit,
    ucum_unit,
)
from .loinc import LOINC_OID, is_loinc_system
from .mappings import Mappings
from .unit_forms import read_unit, unit_label
from .values import cda_status, convert_previous, convert_range, convert_value, interpretation, parse_range

__all__ = ["MappingSettings", "MappingStats", "covers", "map_report", "map_report_with_stats"]


_BIOCHEMISTRY = Coded("18719-5", "Biochimie", LOINC_OID)


@dataclass(frozen=True, kw_only=True)
class MappingSettings:
    hold_unmapped: bool  # True: an unmapped local code raises UnmappedCode (report held)
    default_chapter: Coded = _BIOCHEMISTRY  # for unmapped codes


@dataclass(frozen=True)
class MappingStats:
    """Counts for logs and metrics (codes and counts only, never values)."""

    unmapped_codes: tuple[str, ...] = ()
    unit_mismatches: tuple[str, ...] = ()  # local codes whose unit had no conversion
    dropped_flags: int = 0  # OBX-8 flags outside the CI-SIS interpretation value set
    dropped_results: tuple[str, ...] = ()  # local codes of D/W results left out of the document
    mappings_version: str = ""


@dataclass
class _Tally:
    unmapped: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    dropped_flags: int = 0
    dropped_results: list[str] = field(default_factory=list)


def map_report(report: LabReport, mappings: Mappings, settings: MappingSettings) -> MappedReport:
    return map_report_with_stats(report, mappings, settings)[0]


def map_report_with_stats(
    report: LabReport, mappings: Mappings, settings: MappingSettings
) -> tuple[MappedReport, MappingStats]:
    tally = _Tally()
    mapped: list[MappedResult] = []
    for order in report.orders:
        ctx = _Context(report.report_id, mappings, settings, tally, _battery(order, mappings), order)
        default_specimen = order.specimens[0] if order.specimens else None
        for result in order.results:
            _add(mapped, result, default_specimen, ctx)
        for specimen in order.specimens:  # OBX under SPM: observations on that specimen
            for result in specimen.results:
                _add(mapped, result, specimen, ctx)
    if settings.hold_unmapped and tally.unmapped:
        raise UnmappedCode(tally.unmapped[0], report_id=report.report_id)
    unmapped = tuple(dict.fromkeys(tally.unmapped))
    stats = MappingStats(unmapped, tuple(dict.fromkeys(tally.mismatched)), tally.dropped_flags,
                         tuple(tally.dropped_results), mappings.version)
    if unmapped or stats.unit_mismatches or stats.dropped_flags or stats.dropped_results:
        # Local test codes (lab catalogue ids, not results) joined by ","; counts for the rest.
        event("mapping.gaps", level=logging.INFO, report_id=report.report_id, mappings_version=mappings.version,
              unmapped=len(unmapped), unmapped_local_codes=",".join(unmapped),
              unit_mismatch_codes=",".join(stats.unit_mismatches), dropped_flags=stats.dropped_flags,
              dropped_results=len(stats.dropped_results))
    return MappedReport(report=report, results=tuple(mapped), unmapped_codes=unmapped), stats


@dataclass
class _Context:
    """What every result of one order is mapped with."""

    report_id: str
    mappings: Mappings
    settings: MappingSettings
    tally: _Tally
    battery: Coded
    order: Order
    _fallback: Coded | None = None

    @property
    def fallback_chapter(self) -> Coded:
        """For results nothing else places: the order's chapter, else the default (computed when first needed)."""
        if self._fallback is None:
            self._fallback = order_chapter(self.order, self.mappings) or self.settings.default_chapter
        return self._fallback

    def where(self, local: Coded, entry: TestMapping | None) -> Where:
        return Where(self.report_id, local.code, entry, str(self.mappings.directory))


def _battery(order: Order, mappings: Mappings) -> Coded:
    entry = mappings.battery(order.service)
    if entry is None or entry.loinc is None:
        display = entry.display if entry else order.service.display
        return Coded(order.service.code, display or order.service.display, order.service.system)
    return Coded(entry.loinc.code, entry.loinc.display, LOINC_OID,
                 order.service.code, order.service.display, order.service.system)


def _add(out: list[MappedResult], result: Result, specimen: Specimen | None, ctx: _Context) -> None:
    status = cda_status(result.status)
    local = result.code
    if status is None:
        ctx.tally.dropped_results.append(local.code)
        return
    flags, dropped = interpretation(result.abnormal_flags)
    ctx.tally.dropped_flags += dropped
    mappings = ctx.mappings
    entry = mappings.lookup(local)
    sent_unit = result.units.code.strip() if result.units else ""
    loinc = _passthrough_loinc(local, mappings)
    quantity = _is_quantity(result)
    where = ctx.where(local, entry)
    if entry is not None:
        factor = _factor(entry, sent_unit, mappings)
        if factor is None and quantity:
            ctx.tally.mismatched.append(local.code)
            unit = ucum_unit(sent_unit, where, mappings, prop=loinc_property(mappings, loinc))
            if loinc is None:  # a LOINC code sent by the SIL stays if its unit fits it
                ctx.tally.unmapped.append(local.code)
            else:  # the SIL's unit is not the mapping's: converting it is the fix
                require_fit(loinc, unit, where, mappings, edit=where.edit_unit(sent_unit))
            out.append(_unconverted(result, where, entry.display, (entry.chapter, entry.subchapter), ctx, flags,
                                    status, specimen, unit, loinc))
            return
        factor = factor or Decimal(1)
        unit = mapping_unit(entry, where) if quantity else ""
        code = loinc or entry.loinc
        if quantity and loinc is not None and not fits(loinc, unit, mappings) and fits(entry.loinc, unit, mappings):
            code = entry.loinc  # the lab's mapping for the local code wins over the SIL's LOINC
        if quantity and code is not None:
            require_fit(code, unit, Where(ctx.report_id, local.code, entry if code is entry.loinc else None,
                                          where.directory), mappings)
        ref = entry.reference_range or convert_range(parse_range(result.reference_range, unit), factor, unit)
        out.append(MappedResult(
            result=result, local=local, loinc=code, display=entry.display,
            chapter=entry.chapter, subchapter=entry.subchapter, battery=ctx.battery,
            value=convert_value(result.values[0], factor) if result.values else None, unit=unit,
            reference_range=ref, interpretation=flags, status=status, specimen=specimen,
            previous=tuple(_previous(p, entry, factor, unit, where, mappings) for p in result.previous),
            unit_display=unit_label(unit) if unit else "",
        ))
        return
    unit = ucum_unit(sent_unit, where, mappings, prop=loinc_property(mappings, loinc)) if quantity else ""
    if loinc is None:
        ctx.tally.unmapped.append(local.code)
    elif quantity:
        require_fit(loinc, unit, where, mappings)
    placed = chapter_by_loinc(loinc, mappings) or (ctx.fallback_chapter, None)
    display = local.display if loinc is None or not is_loinc_system(local.system) else (
        local.display or mappings.french_display(loinc.code) or _long_name(loinc, mappings))
    out.append(_unconverted(result, where, display, placed, ctx, flags, status, specimen, unit, loinc))


def _long_name(code: Coded, mappings: Mappings) -> str:
    concept = mappings.concept(code.code)
    return concept.long_name if concept is not None else ""


def _passthrough_loinc(code: Coded, mappings: Mappings) -> Coded | None:
    """OBX-3 (or its alternate) when it is LOINC, with the French display when we know it."""
    for value, display, system in ((code.code, code.display, code.system),
                                   (code.alt_code, code.alt_display, code.alt_system)):
        if value and is_loinc_system(system):
            value = value.strip()
            return Coded(value, mappings.loinc_display(value) or display, LOINC_OID)
    return None


def covers(mappings: Mappings, code: Coded, sent_unit: str) -> bool:
    """The mapping files map a result with this OBX-3 sent in this unit (what `mappings unmapped` asks)."""
    entry = mappings.lookup(code)
    return entry is not None and _factor(entry, sent_unit.strip(), mappings) is not None


def _factor(entry: TestMapping, sent_unit: str, mappings: Mappings) -> Decimal | None:
    """Factor from the unit sent to the mapping's unit, or None when the mapping cannot tell."""
    if sent_unit == "" or sent_unit == entry.unit:
        return Decimal(1)
    direct = entry.factor_for(sent_unit)
    if direct is not None:
        return direct
    ucum = mappings.ucum_for(sent_unit)
    if ucum == entry.unit:
        return Decimal(1)
    found = entry.factor_for(ucum)
    if found is not None:
        return found
    normal = read_unit(ucum, loinc_property=loinc_property(mappings, entry.loinc)).ucum
    if normal is not None and normal == entry.unit:
        return Decimal(1)
    return entry.factor_for(normal) if normal else None


def _previous(prev: PreviousResult, entry: TestMapping, factor: Decimal, unit: str, where: Where,
              mappings: Mappings) -> PreviousResult:
    """An antériorité in the result's unit; one in a unit we cannot convert keeps its own unit, as UCUM."""
    if not prev.units.strip():
        return convert_previous(prev, factor, unit)  # no unit: the same unit as the result sent
    own = _factor(entry, prev.units.strip(), mappings)
    if own is None:
        return PreviousResult(prev.value, ucum_unit(prev.units, where, mappings), prev.observed_at)
    return convert_previous(prev, own, unit)


def _is_quantity(result: Result) -> bool:
    return any(isinstance(v, (Numeric, StructuredNumeric)) for v in result.values)


def _unconverted(result: Result, where: Where, display: str, placed: tuple[Coded, Coded | None], ctx: _Context,
                 flags: tuple[str, ...], status: str, specimen: Specimen | None, unit: str,
                 loinc: Coded | None = None) -> MappedResult:
    """A result sent with the unit as the SIL sent it (as UCUM): no mapping, or no conversion to the mapping's unit."""
    local = result.code
    return MappedResult(
        result=result, local=local, loinc=loinc, display=display or local.code, chapter=placed[0],
        subchapter=placed[1], battery=ctx.battery, value=result.values[0] if result.values else None, unit=unit,
        reference_range=parse_range(result.reference_range, unit), interpretation=flags, status=status,
        specimen=specimen,
        previous=tuple(PreviousResult(p.value, ucum_unit(p.units, where, ctx.mappings) if p.units else unit,
                                      p.observed_at) for p in result.previous),
        unit_display=unit_label(unit) if unit else "",
    )
