"""What happened to a report besides its document: recipients left out, stand-ins, refusals.

Typed values the build and routing stages return so the pipeline can store them, show them in
``connector show``, log them and tell the SIL (ZAM): nothing here is ever silent.
Only professionals' ids and names, never patient data: safe to store and log.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["BiologistStandIn", "RecipientProblem", "RefusalReason"]


class RecipientProblem(StrEnum):
    """Why a recipient the message names gets no e-mail: each says what a person can do about it."""

    NO_NATIONAL_ID = "no_national_id"  # no RPPS/ADELI id (IDNPS) to look up in the directory
    NOT_IN_DIRECTORY = "not_in_directory"  # a national id with no MSSanté mailbox in the directory
    COPY_TO_DISABLED = "copy_to_disabled"  # OBR-28 copies are turned off (routing.copy_to: false)
    NOT_FOR_PROFESSIONALS = "not_for_professionals"  # MetaDMPMSS: the document goes to the patient only
    PATIENT_NOT_QUALIFIED = "patient_not_qualified"  # the patient mailbox needs a qualified INS

    @property
    def reason(self) -> str:
        return _PROBLEM_REASONS[self]


_PROBLEM_REASONS = {
    RecipientProblem.NO_NATIONAL_ID: "no national id (RPPS/ADELI IDNPS) to look up: the SIL must send it",
    RecipientProblem.NOT_IN_DIRECTORY: "no MSSanté mailbox in the directory: import a fresh directory extract",
    RecipientProblem.COPY_TO_DISABLED: "copies to OBR-28 doctors are turned off (routing.copy_to: false)",
    RecipientProblem.NOT_FOR_PROFESSIONALS: "MetaDMPMSS flags send this document to the patient only",
    RecipientProblem.PATIENT_NOT_QUALIFIED: "the patient mailbox needs a qualified INS (PID-32 QUAL)",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class BiologistStandIn:
    """The configured biologist signed a report whose validating biologist the message does not identify.

    Used only when the lab configuration allows it (``lab.biologist_standin``); recorded per report
    and logged so the substitution is never silent.
    """

    idnps: str  # the stand-in's national id, as written in the document
    missing: str  # what the message lacked, e.g. "OBR-32/OBX-16: no RPPS/ADELI id"


class RefusalReason(StrEnum):
    """Why a report cannot become a CR-BIO document (the report is held; the message says what to do)."""

    NO_RESULT = "no_result"  # the message carries no result OBX for the patient
    RESULTS_WITHDRAWN = "results_withdrawn"  # every result is deleted or posted in error (OBX-11 D/W)
    BIOLOGIST_UNKNOWN = "biologist_unknown"  # no validating biologist with an RPPS/ADELI id, no stand-in allowed
    PATIENT_ID_MISSING = "patient_id_missing"  # no IPP and no qualified INS in PID-3
    PATIENT_NAME_MISSING = "patient_name_missing"  # no family name in PID-5
    BIRTH_DATE_MISSING = "birth_date_missing"  # no PID-7: StrucMin requires recordTarget birthTime/@value
    INS_TRAITS_MISSING = "ins_traits_missing"  # qualified INS without birth date or INSEE birth place
    IDENTIFIER_TOO_LONG = "identifier_too_long"  # an id the XDS metadata cannot carry
