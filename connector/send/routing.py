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

Nobody the message names disappears: :func:`route` returns, next to the recipients, every named
professional (each order's prescriber, every OBR-28 copy, every PRT RCT) who gets no e-mail, with the
reason as an :class:`~connector.model.outcomes.UnresolvedRecipient` the pipeline stores, shows and tells the SIL.
"""

from __future__ import annotations

from dataclasses import dataclass

from connector.errors import ConfigError, NoAddressYet, RoutingError
from connector.model import (
    DocumentFlags,
    LabReport,
    Participant,
    Practitioner,
    Recipient,
    RecipientKind,
    UnresolvedRecipient,
)
from connector.model.outcomes import RecipientProblem
from connector.send.directory import Directory

__all__ = ["PATIENT_DOMAIN", "Routing", "RoutingSettings", "no_address_reason", "recipients_for", "route"]

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


@dataclass(frozen=True, slots=True)
class Routing:
    """Who gets the report, and every named recipient who does not, with the reason."""

    recipients: tuple[Recipient, ...]
    unresolved: tuple[UnresolvedRecipient, ...] = ()


def recipients_for(report: LabReport, directory: Directory, settings: RoutingSettings) -> tuple[Recipient, ...]:
    """The report's MSSanté recipients, or :class:`RoutingError` with the reason when there is none."""
    routing = route(report, directory, settings)
    if not routing.recipients:
        raise NoAddressYet(no_address_reason(report, settings))
    return routing.recipients


def no_address_reason(report: LabReport, settings: RoutingSettings) -> str:
    """Why :func:`route` found nobody to send to (the report waits with this reason)."""
    return _no_address_reason(report, matrix_decision(report, settings)[0])


def route(report: LabReport, directory: Directory | None, settings: RoutingSettings) -> Routing:
    """Recipients and unresolved recipients; :class:`RoutingError` only for a combination outside the matrix.

    ``directory`` None (an offline build with no directory imported): every professional without a PRT
    address is unresolved, ``not_in_directory``.

    An empty ``recipients`` is returned as is (the caller decides whether to wait, see ``recipients_for``).
    """
    to_pros, to_patient = matrix_decision(report, settings)
    lookup = _Lookup(directory, settings)
    if report.flags is None:  # shape A: every order's prescriber first, then the copies
        for order in report.orders:
            if order.prescriber is not None:
                lookup.professional(order.prescriber, RecipientKind.PRESCRIBER, "ORC-12/OBR-16", send=to_pros)
        for order in report.orders:
            for doctor in order.copy_to:
                lookup.professional(doctor, RecipientKind.COPY, "OBR-28", send=to_pros, copy=True)
    for prt in report.participants:
        lookup.participant(prt, send=to_pros)
    if to_patient:
        patient = _patient_recipient(report)
        if patient is not None:
            lookup.found.append(patient)
        elif to_patient and not to_pros:
            raise RoutingError(
                f"report {report.report_id}: patient-only document but no qualified INS for the patient mailbox"
            )
        else:
            lookup.missing(RecipientKind.PATIENT, "PID-3/PID-32", RecipientProblem.PATIENT_NOT_QUALIFIED)
    return Routing(_dedupe(lookup.found), lookup.unique_missing())


class _Lookup:
    """Collects recipients and unresolved recipients while the report's people are looked up."""

    def __init__(self, directory: Directory | None, settings: RoutingSettings) -> None:
        self.directory = directory
        self.settings = settings
        self.found: list[Recipient] = []
        self.unresolved: list[UnresolvedRecipient] = []

    def professional(self, person: Practitioner, kind: RecipientKind, field: str, *, send: bool,
                     copy: bool = False) -> None:
        if not send:
            self._missing_person(person, kind, field, RecipientProblem.NOT_FOR_PROFESSIONALS)
        elif copy and not self.settings.copy_to:
            self._missing_person(person, kind, field, RecipientProblem.COPY_TO_DISABLED)
        elif not person.idnps:
            self._missing_person(person, kind, field, RecipientProblem.NO_NATIONAL_ID)
        else:
            found = _from_directory(person, kind, self.directory, self.settings)
            if not found:
                self._missing_person(person, kind, field, RecipientProblem.NOT_IN_DIRECTORY)
            self.found += found

    def participant(self, prt: Participant, *, send: bool) -> None:
        if prt.role.upper() != PRT_RECIPIENT_ROLE:
            return
        address = prt.address.strip()
        if address.lower().endswith("@" + PATIENT_DOMAIN):
            return  # the patient is decided by the matrix and the INS, not by a PRT address
        person = prt.person if prt.person is not None else Practitioner(identifier=None)
        if not send:
            self._missing_person(person, RecipientKind.PRT, "PRT-5", RecipientProblem.NOT_FOR_PROFESSIONALS)
        elif address:
            self.found.append(Recipient(address=address, kind=RecipientKind.PRT, idnps=person.idnps))
        else:
            self.professional(person, RecipientKind.PRT, "PRT-5", send=True)

    def missing(self, kind: RecipientKind, field: str, problem: RecipientProblem) -> None:
        self.unresolved.append(UnresolvedRecipient(kind=kind, field=field, problem=problem))

    def _missing_person(self, person: Practitioner, kind: RecipientKind, field: str, problem: RecipientProblem) -> None:
        ident = person.identifier
        name = " ".join(p for p in (person.name.family, *person.name.given[:1]) if p)
        self.unresolved.append(UnresolvedRecipient(
            kind=kind, field=field, problem=problem, idnps=person.idnps,
            local_id="" if person.idnps or ident is None else ident.value, name=name))

    def unique_missing(self) -> tuple[UnresolvedRecipient, ...]:
        """One entry per person: the same copy-to doctor on three orders is one unresolved recipient."""
        found = {r.idnps for r in self.found if r.idnps}
        out: dict[tuple[str, str, str, str], UnresolvedRecipient] = {}
        for item in self.unresolved:
            if item.idnps and item.idnps in found:
                continue  # reached under another role (prescriber and copy-to)
            out.setdefault((item.kind, item.idnps, item.local_id, item.name), item)
        return tuple(out.values())


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
    person: Practitioner | None, kind: RecipientKind, directory: Directory | None, settings: RoutingSettings
) -> list[Recipient]:
    if person is None or not person.idnps or directory is None:  # None: no directory (`connector build`)
        return []
    entries = directory.lookup(person.idnps)
    if settings.mailbox_choice == "first":
        entries = entries[:1]
    return [Recipient(address=e.address, kind=kind, idnps=e.idnps, display_name=e.display_name) for e in entries]


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
