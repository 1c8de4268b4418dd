"""Who receives a report: prescriber and copy-to doctors (directory), PRT recipients, the patient.

Two input shapes (docs/spec/hl7v2-input.md §1):

- **A, discrete results** (no MetaDMPMSS flags): the prescriber (ORC-12/OBR-16) and, when
  ``RoutingSettings.copy_to``, the copy-to doctors (OBR-28) are looked up by IDNPS in the national directory;
  PRT ``RCT`` recipients are added when present; the patient only when ``RoutingSettings.patient_mailbox``.
- **B, ANS CDA-in-HL7** (MetaDMPMSS flags present): the MetaDMPMSS routing matrix decides between
  professionals, patient, or both; any other combination is a :class:`RoutingError` naming the flags.
  Professionals come from PRT ``RCT`` (PRT-15.4 address, else the PRT-5 IDNPS via the directory).
  A flag the SIL did not send counts as ``N``.

The patient mailbox ``<INS>@patient.mssante.fr`` is used only for a *qualified* INS. A masked document
(``MASQUE_PS=Y``) never goes to a professional. Addresses are de-duplicated case-insensitively, first kind
wins (prescriber before copy-to before PRT). Errors name the report and IDNPS, never patient data.
"""

from __future__ import annotations

from dataclasses import dataclass

from connector.errors import ConfigError, NoAddressYet, RoutingError
from connector.model import DocumentFlags, LabReport, Participant, Practitioner, Recipient, RecipientKind
from connector.send.directory import Directory

__all__ = ["PATIENT_DOMAIN", "RoutingSettings", "recipients_for"]

PATIENT_DOMAIN = "patient.mssante.fr"
INS_LENGTH = 15  # NIR 13 characters + 2-digit key: the local part of the patient mailbox
MAILBOX_CHOICES = ("all", "first")
PRT_RECIPIENT_ROLE = "RCT"

# MetaDMPMSS routing matrix (ANS IG "règles de gestion MSSanté"); None = N or Y allowed.
_FLAGS = ("MASQUE_PS", "INVISIBLE_PATIENT", "INVISIBLE_REP_LEGAUX", "CONNEXION_SECRETE", "DESTDMP",
          "DESTMSSANTEPS", "DESTMSSANTEPAT")
_MATRIX: tuple[tuple[tuple[bool | None, ...], bool, bool], ...] = (
    # MASQUE INV_PAT INV_REP SECRET DMP  PS    PAT      → to professionals, to patient
    ((False, False, False, None, None, True, True), True, True),
    ((False, True, False, None, None, True, False), True, False),
    ((None, False, None, False, False, False, True), False, True),
)


@dataclass(frozen=True, kw_only=True)
class RoutingSettings:
    """Site choices (the ``routing:`` section). ``mailbox_choice``: a professional with several personal
    mailboxes gets them "all" (nobody misses a result) or only the "first" listed in the directory extract."""

    mailbox_choice: str
    patient_mailbox: bool  # shape A: also send to the patient's MSSanté mailbox (qualified INS only)
    copy_to: bool  # shape A: send to OBR-28 copy-to doctors

    def __post_init__(self) -> None:
        if self.mailbox_choice not in MAILBOX_CHOICES:
            raise ConfigError(f"expected one of {', '.join(MAILBOX_CHOICES)}", key="routing.mailbox_choice")


def recipients_for(report: LabReport, directory: Directory, settings: RoutingSettings) -> tuple[Recipient, ...]:
    """The report's MSSanté recipients, or :class:`RoutingError` with the reason when there is none."""
    to_pros, to_patient = matrix_decision(report, settings)
    found: list[Recipient] = []
    if to_pros:
        if report.flags is None:
            found += _from_directory(report.prescriber, RecipientKind.PRESCRIBER, directory, settings)
            if settings.copy_to:
                for order in report.orders:
                    for doctor in order.copy_to:
                        found += _from_directory(doctor, RecipientKind.COPY, directory, settings)
        found += _from_participants(report.participants, directory, settings)
    if to_patient:
        patient = _patient_recipient(report)
        if patient is not None:
            found.append(patient)
        elif not to_pros:
            raise RoutingError(
                f"report {report.report_id}: patient-only document but no qualified INS for the patient mailbox"
            )
    unique = _dedupe(found)
    if not unique:
        raise NoAddressYet(_no_address_reason(report, to_pros))
    return unique


def matrix_decision(report: LabReport, settings: RoutingSettings) -> tuple[bool, bool]:
    """(to professionals, to patient) from the MetaDMPMSS matrix, or from the settings for shape A."""
    if report.flags is None:
        return True, settings.patient_mailbox
    return flag_decision(report)


def flag_decision(report: LabReport) -> tuple[bool, bool]:
    """(to professionals, to patient) from the report's MetaDMPMSS flags, or RoutingError outside the matrix."""
    flags = report.flags or DocumentFlags()
    values = tuple(bool(flags.get(code)) for code in _FLAGS)
    for pattern, to_pros, to_patient in _MATRIX:
        if all(want is None or want == got for want, got in zip(pattern, values, strict=True)):
            return to_pros, to_patient
    stated = " ".join(f"{code}={'Y' if v else 'N'}" for code, v in zip(_FLAGS, values, strict=True))
    raise RoutingError(f"report {report.report_id}: MetaDMPMSS combination outside the routing matrix ({stated})")


def _from_directory(
    person: Practitioner | None, kind: RecipientKind, directory: Directory, settings: RoutingSettings
) -> list[Recipient]:
    if person is None or not person.idnps:
        return []
    entries = directory.lookup(person.idnps)
    if settings.mailbox_choice == "first":
        entries = entries[:1]
    return [Recipient(address=e.address, kind=kind, idnps=e.idnps, display_name=e.display_name) for e in entries]


def _from_participants(
    participants: tuple[Participant, ...], directory: Directory, settings: RoutingSettings
) -> list[Recipient]:
    out: list[Recipient] = []
    for prt in participants:
        if prt.role.upper() != PRT_RECIPIENT_ROLE:
            continue
        address = prt.address.strip()
        if address.lower().endswith("@" + PATIENT_DOMAIN):
            continue  # the patient is decided by the matrix and the INS, not by a PRT address
        idnps = prt.person.idnps if prt.person is not None else ""
        if address:
            out.append(Recipient(address=address, kind=RecipientKind.PRT, idnps=idnps))
        else:
            out += _from_directory(prt.person, RecipientKind.PRT, directory, settings)
    return out


def _patient_recipient(report: LabReport) -> Recipient | None:
    ins = report.patient.ins
    if not report.patient.ins_qualified or ins is None or len(ins.value) != INS_LENGTH or not ins.value.isalnum():
        return None
    return Recipient(address=f"{ins.value}@{PATIENT_DOMAIN}", kind=RecipientKind.PATIENT)


def _dedupe(found: list[Recipient]) -> tuple[Recipient, ...]:
    seen: set[str] = set()
    unique = []
    for r in found:
        key = r.address.lower()
        if key not in seen:
            seen.add(key)
            unique.append(r)
    return tuple(unique)


def _no_address_reason(report: LabReport, to_pros: bool) -> str:
    prescriber = report.prescriber
    if not to_pros:
        return f"report {report.report_id}: no patient mailbox (qualified INS required)"
    if report.flags is not None:
        return f"report {report.report_id}: no PRT RCT recipient with an MSSanté address (PRT-15.4) or a known IDNPS"
    if prescriber is None:
        return f"report {report.report_id}: no prescriber and no PRT recipient"
    if not prescriber.idnps:
        return f"report {report.report_id}: prescriber has no national id (IDNPS: RPPS or ADELI)"
    return f"report {report.report_id}: no MSSanté address for prescriber {prescriber.idnps} in the directory"
