"""What every part of the document needs: the lab, the ids, the resolved people and times.

Resolved once per document so header and body agree (same biologist, same zone) and
so errors are raised before any element is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connector.model import (
    DocumentIdentity,
    LabIdentity,
    MappedReport,
    PersonName,
    Practitioner,
)
from connector.model.outcomes import BiologistStandIn

from .biologist import resolve_biologist
from .timestamps import to_ts

__all__ = ["BIOLOGIST_ROLE", "BuildContext", "Person", "make_context"]

# JDV_J01 profession/specialty of a medical biologist (author, legal authenticator, performer).
BIOLOGIST_ROLE = (
    "G15_10/SM03",
    "Médecin - Biologie médicale (SM)",
    "1.2.250.1.213.1.1.4.5",
)
FINESS_STRUCTURE_PREFIX = "1"  # idNat_Struct = 1 + FINESS
STRUCTURE_OID = "1.2.250.1.71.4.2.2"
FINAL_STATUSES = frozenset(
    {"F", "C", "X", "D", "W", ""}
)  # OBX-11: nothing more will come for these


@dataclass(frozen=True, slots=True)
class Person:
    """A health professional as the document shows them: national id (IDNPS) and name."""

    idnps: str
    name: PersonName


@dataclass(frozen=True, slots=True)
class BuildContext:
    mapped: MappedReport
    lab: LabIdentity
    ids: DocumentIdentity
    effective_time: str  # TS with zone
    biologist: Person  # legal authenticator and author
    validators: tuple[Person, ...]  # authenticators (OBX-16), distinct, in order seen
    standin: BiologistStandIn | None = None  # set when the configured biologist signs in the message's place
    cache: dict[object, Any] = field(
        default_factory=dict, compare=False, repr=False
    )  # per-document subtrees

    @property
    def report_id(self) -> str:
        return self.mapped.report_id

    @property
    def structure_id(self) -> str:
        finess = self.lab.finess
        return finess if len(finess) == 10 else FINESS_STRUCTURE_PREFIX + finess

    def ts(self, dtm: str, what: str) -> str:
        return to_ts(dtm, self.lab.timezone, what=f"report {self.report_id} {what}")


def _person(practitioner: Practitioner | None) -> Person | None:
    if practitioner is None or not practitioner.idnps:
        return None
    return Person(practitioner.idnps, practitioner.name)


def make_context(
    mapped: MappedReport, lab: LabIdentity, ids: DocumentIdentity
) -> BuildContext:
    report = mapped.report
    signer = resolve_biologist(report, lab)  # ReportRefused when nobody is identified and no stand-in
    biologist = Person(signer.idnps, signer.practitioner.name)
    seen: dict[str, Person] = {}
    for result in report.results:
        person = _person(result.responsible_observer)
        if person is not None:
            seen.setdefault(person.idnps, person)
    effective = ids.effective_time or datetime.now(UTC).strftime("%Y%m%d%H%M%S+0000")
    effective = to_ts(
        effective,
        lab.timezone,
        what=f"report {report.report_id} DocumentIdentity.effective_time",
    )
    return BuildContext(mapped, lab, ids, effective, biologist, tuple(seen.values()), signer.standin)
