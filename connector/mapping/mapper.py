"""LabReport → MappedReport: LOINC codes, UCUM units and converted values, CR-BIO chapters.

Rules (what the CDA stage relies on):
- OBX-3 already LOINC (LN / LOINC / 2.16.840.1.113883.6.1) passes through; a local code
  with a mapping gets its LOINC (or none, e.g. CRP: the CDA carries the local code in
  ``translation``), display, UCUM unit and chapter.
- A local code without mapping keeps the label sent, the default chapter and ``loinc=None``;
  it is counted in ``unmapped_codes`` (or raises UnmappedCode when ``hold_unmapped``).
- A unit the mapping does not know how to convert is never relabelled: the result is sent
  as unmapped (local code, unit as sent) and counted, because a wrong unit under a LOINC
  code is worse than no LOINC code.
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
from .loinc import LOINC_OID, is_loinc_system
from .mappings import Mappings
from .values import cda_status, convert_previous, convert_range, convert_value, interpretation, parse_range

__all__ = ["MappingSettings", "MappingStats", "map_report", "map_report_with_stats"]


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
        battery = _battery(order, mappings)
        default_specimen = order.specimens[0] if order.specimens else None
        for result in order.results:
            _add(mapped, result, default_specimen, battery, mappings, settings, tally)
        for specimen in order.specimens:  # OBX under SPM: observations on that specimen
            for result in specimen.results:
                _add(mapped, result, specimen, battery, mappings, settings, tally)
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


def _battery(order: Order, mappings: Mappings) -> Coded:
    entry = mappings.battery(order.service)
    if entry is None or entry.loinc is None:
        display = entry.display if entry else order.service.display
        return Coded(order.service.code, display or order.service.display, order.service.system)
    return Coded(entry.loinc.code, entry.loinc.display, LOINC_OID,
                 order.service.code, order.service.display, order.service.system)


def _add(out: list[MappedResult], result: Result, specimen: Specimen | None, battery: Coded,
         mappings: Mappings, settings: MappingSettings, tally: _Tally) -> None:
    status = cda_status(result.status)
    local = result.code
    if status is None:
        tally.dropped_results.append(local.code)
        return
    flags, dropped = interpretation(result.abnormal_flags)
    tally.dropped_flags += dropped
    entry = mappings.lookup(local)
    sent_unit = result.units.code.strip() if result.units else ""
    loinc = _passthrough_loinc(local, mappings)
    if entry is not None:
        factor = _factor(entry, sent_unit, mappings)
        if factor is None and _is_quantity(result):
            tally.mismatched.append(local.code)
            if loinc is None:  # a LOINC code sent by the SIL stays: its unit is the SIL's choice
                tally.unmapped.append(local.code)
            out.append(_unconverted(result, local, loinc.display if loinc else entry.display, entry.chapter,
                                    battery, flags, status, specimen, mappings, loinc))
            return
        factor = factor or Decimal(1)
        unit = entry.unit if _is_quantity(result) else ""
        ref = entry.reference_range or convert_range(parse_range(result.reference_range, unit), factor, unit)
        out.append(MappedResult(
            result=result, local=local, loinc=loinc or entry.loinc, display=entry.display,
            chapter=entry.chapter, subchapter=entry.subchapter, battery=battery,
            value=convert_value(result.values[0], factor) if result.values else None, unit=unit,
            reference_range=ref, interpretation=flags, status=status, specimen=specimen,
            previous=tuple(_previous(p, entry, factor, unit, mappings) for p in result.previous),
        ))
        return
    if loinc is None:
        tally.unmapped.append(local.code)
    out.append(_unconverted(result, local, loinc.display if loinc else local.display, settings.default_chapter,
                            battery, flags, status, specimen, mappings, loinc))


def _passthrough_loinc(code: Coded, mappings: Mappings) -> Coded | None:
    """OBX-3 (or its alternate) when it is LOINC, with the French display when we know it."""
    for value, display, system in ((code.code, code.display, code.system),
                                   (code.alt_code, code.alt_display, code.alt_system)):
        if value and is_loinc_system(system):
            value = value.strip()
            return Coded(value, mappings.loinc_display(value) or display, LOINC_OID)
    return None


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
    return entry.factor_for(ucum)


def _previous(prev: PreviousResult, entry: TestMapping, factor: Decimal, unit: str,
              mappings: Mappings) -> PreviousResult:
    """An antériorité in the result's unit; one in a unit we cannot convert keeps its own unit."""
    if not prev.units.strip():
        return convert_previous(prev, factor, unit)  # no unit: the same unit as the result sent
    own = _factor(entry, prev.units.strip(), mappings)
    if own is None:
        return PreviousResult(prev.value, mappings.ucum_for(prev.units), prev.observed_at)
    return convert_previous(prev, own, unit)


def _is_quantity(result: Result) -> bool:
    return any(isinstance(v, (Numeric, StructuredNumeric)) for v in result.values)


def _unconverted(result: Result, local: Coded, display: str, chapter: Coded, battery: Coded,
                 flags: tuple[str, ...], status: str, specimen: Specimen | None, mappings: Mappings,
                 loinc: Coded | None = None) -> MappedResult:
    unit = mappings.ucum_for(result.units.code) if result.units and _is_quantity(result) else ""
    return MappedResult(
        result=result, local=local, loinc=loinc, display=display or local.code, chapter=chapter, battery=battery,
        value=result.values[0] if result.values else None, unit=unit,
        reference_range=parse_range(result.reference_range, unit), interpretation=flags, status=status,
        specimen=specimen,
        previous=tuple(PreviousResult(p.value, mappings.ucum_for(p.units) if p.units else unit, p.observed_at)
                       for p in result.previous),
    )
