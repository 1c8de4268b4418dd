"""Who validated the report: the one answer the CDA (author, legal authenticator, performers) and
the PDF ("Validé par") both use, so they can never disagree.

The validating biologist is the first OBR-32 (principal result interpreter) that carries a national
id (8+RPPS / 0+ADELI), else the first OBX-16 (responsible observer) that does. When the message
identifies nobody, the report is *held* (:class:`ReportRefused`, reason ``biologist_unknown``),
unless the lab's configuration allows a stand-in (``lab.biologist_standin: true`` with
``lab.biologist_rpps``): then the configured biologist signs, and the substitution is returned as a
:class:`BiologistStandIn` that the build records and logs. Never silent.
"""

from __future__ import annotations

from dataclasses import dataclass

from connector.errors import ReportRefused
from connector.model import RPPS_OID, Identifier, LabIdentity, LabReport, PersonName, Practitioner
from connector.model.outcomes import BiologistStandIn, RefusalReason

__all__ = ["Signer", "resolve_biologist", "validating_biologist"]

MISSING = "OBR-32 and OBX-16 name no biologist with a national id (RPPS/ADELI)"


@dataclass(frozen=True, slots=True)
class Signer:
    """The biologist who signs the report, and the stand-in record when it is not the message's own."""

    practitioner: Practitioner
    standin: BiologistStandIn | None = None

    @property
    def idnps(self) -> str:
        return self.practitioner.idnps


def validating_biologist(report: LabReport) -> Practitioner | None:
    """The first OBR-32, else the first OBX-16, that identifies a biologist nationally; None otherwise."""
    person = report.validating_biologist
    return person if person is not None and person.idnps else None


def resolve_biologist(report: LabReport, lab: LabIdentity) -> Signer:
    """The signer, or :class:`ReportRefused` when the message identifies none and no stand-in is allowed."""
    person = validating_biologist(report)
    if person is not None:
        return Signer(person)
    if not lab.biologist_standin or not lab.default_biologist_rpps:
        raise ReportRefused(
            f"report {report.report_id}: {MISSING}; have the SIL send the validating biologist, or let the "
            "lab's biologist sign in its place (lab.biologist_standin: true and lab.biologist_rpps)",
            reason=RefusalReason.BIOLOGIST_UNKNOWN,
        )
    rpps = lab.default_biologist_rpps
    idnps = rpps if len(rpps) == 12 else "8" + rpps
    stand_in = Practitioner(
        identifier=Identifier(idnps, oid=RPPS_OID, type_code="IDNPS"),
        name=PersonName(family=lab.default_biologist_family,
                   given=(lab.default_biologist_given,) if lab.default_biologist_given else (), suffix="DR"),
    )
    return Signer(stand_in, BiologistStandIn(idnps=idnps, missing=MISSING))
