"""The report after mapping: LOINC codes, UCUM units, CR-BIO chapters: the mapping stage's output."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .report import LabReport, Result, Specimen
from .values import Coded, PreviousResult, ResultValue

__all__ = ["MappedReport", "MappedResult", "ReferenceRange"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReferenceRange:
    """A reference range in the result's (UCUM) unit; ``text`` when it is not numeric."""

    low: Decimal | None = None
    high: Decimal | None = None
    unit: str = ""
    text: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class MappedResult:
    """A result ready for the document: codes, unit, value and range after mapping.

    ``loinc`` is None for an unmapped local code: the document then carries the local
    code in ``translation`` (CR-BIO 2024.01 rule for non-LOINC codes).
    """

    result: Result  # what the SIL sent
    local: Coded  # the local code (OBX-3 as sent)
    loinc: Coded | None  # LOINC code with its French display name, system "2.16.840.1.113883.6.1"
    display: str  # the name shown to the doctor
    chapter: Coded  # CR-BIO chapter (a LOINC code such as 18719-5 Biochimie)
    subchapter: Coded | None = None
    battery: Coded | None = None  # the order's service (OBR-4), mapped when possible
    value: ResultValue | None = None  # after unit conversion
    unit: str = ""  # UCUM, "" for unitless / non-numeric
    reference_range: ReferenceRange | None = None
    interpretation: tuple[str, ...] = ()  # HL7 v3 ObservationInterpretation codes (N, H, L, HH, LL, A…)
    status: str = "completed"  # CDA statusCode: completed / aborted
    specimen: Specimen | None = None
    previous: tuple[PreviousResult, ...] = ()  # converted like value
    unit_display: str = ""  # the unit as a French report prints it (10*9/L → G/L, [IU]/mL → UI/mL)


@dataclass(frozen=True, slots=True, kw_only=True)
class MappedReport:
    report: LabReport
    results: tuple[MappedResult, ...]
    unmapped_codes: tuple[str, ...] = ()  # local codes sent without LOINC (counted, not logged with values)

    @property
    def report_id(self) -> str:
        return self.report.report_id

    @property
    def chapters(self) -> tuple[Coded, ...]:
        """Chapters in first-seen order."""
        seen: dict[str, Coded] = {}
        for r in self.results:
            seen.setdefault(r.chapter.code, r.chapter)
        return tuple(seen.values())
