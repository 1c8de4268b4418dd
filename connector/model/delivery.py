"""What the connector adds: the lab's identity, the ids it assigns, recipients, and the built artifacts."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .labtime import DEFAULT_ZONE
from .mapped import MappedReport
from .outcomes import BiologistStandIn, RecipientProblem

__all__ = [
    "Artifacts",
    "DocumentIdentity",
    "LabIdentity",
    "Lifecycle",
    "Recipient",
    "RecipientKind",
    "UnresolvedRecipient",
]


class RecipientKind(StrEnum):
    """Why a mailbox receives the report (stored as its value; ``connector show`` prints it)."""

    PRESCRIBER = "prescriber"  # directory lookup of the prescriber's IDNPS (ORC-12 / OBR-16)
    COPY = "copy"  # an OBR-28 copy-to doctor
    PRT = "prt"  # a PRT RCT participant of the French CDA-in-HL7 flow (shape B)
    PATIENT = "patient"  # <INS>@patient.mssante.fr, qualified INS only


@dataclass(frozen=True, slots=True, kw_only=True)
class Recipient:
    """One MSSanté mailbox a report goes to; ``idnps`` feeds ZAM Z02/Z03."""

    address: str
    kind: RecipientKind
    idnps: str = ""
    display_name: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class UnresolvedRecipient:
    """A recipient the message names who gets no e-mail, with why: stored, shown and told to the SIL.

    Only professionals' ids and names (never the patient's): safe to store and log.
    """

    kind: RecipientKind  # as Recipient.kind: prescriber, copy, prt, patient
    field: str  # where the message names them: ORC-12/OBR-16, OBR-28, PRT-5
    problem: RecipientProblem
    idnps: str = ""  # national id when the message gives one
    local_id: str = ""  # the SIL's own id when it is not national
    name: str = ""  # the professional's name as sent

    @property
    def who(self) -> str:
        return self.idnps or self.local_id or self.name or "unnamed"

    @property
    def reason(self) -> str:
        return f"{self.kind} {self.who} ({self.field}): {self.problem.reason}"

    @property
    def address_label(self) -> str:
        """What stands in the store's address column (``connector show``): never an address, so never sent to."""
        return f"(no address) {self.field} {self.who}"



# ---------------------------------------------------------------------------- identities we assign


@dataclass(frozen=True, slots=True, kw_only=True)
class DocumentIdentity:
    """Ids of one CDA version, assigned once by the store and reused on every retry.

    ``document_id`` = ClinicalDocument/id = XDS uniqueId; ``set_id`` is stable across
    versions; ``replaces`` is the previous version's ``document_id`` (relatedDocument RPLC).
    Ids are written ``root`` or ``root^extension``.
    """

    document_id_root: str
    document_id_extension: str
    set_id_root: str
    set_id_extension: str
    version: int = 1
    replaces: tuple[str, str] | None = None  # (root, extension) of the replaced version
    effective_time: str = ""  # CDA effectiveTime (TS with zone), fixed at first build


@dataclass(frozen=True, slots=True, kw_only=True)
class LabIdentity:
    """The lab (LBM) running the connector: from the configuration, not from HL7."""

    name: str
    finess: str  # FINESS (géographique) of the lab site
    oid_root: str  # the lab's OID: documents, sets and order ids are minted under it
    ipp_oid: str  # assigning authority of the lab's patient ids (IPP)
    street: str = ""
    postal_code: str = ""
    city: str = ""
    telecom: str = ""  # tel:…
    mailbox: str = ""  # the lab's applicative MSSanté mailbox (From)
    default_biologist_rpps: str = ""  # the stand-in, used only when ``biologist_standin`` allows it
    default_biologist_family: str = ""
    default_biologist_given: str = ""
    application_name: str = "lab-results-connector"
    application_version: str = "0.1.0"
    healthcare_facility_code: str = "SA25"  # JDV_J02: laboratoire de biologie médicale
    practice_setting_code: str = "AMBULATOIRE"  # JDV_J04 / standardIndustryClassCode
    # The lab's time zone: an IANA name (HL7 times without a zone are local time there, summer time
    # included). A fixed offset such as "+0100" is still accepted but deprecated: wrong half the year.
    timezone: str = DEFAULT_ZONE
    # True: a report whose validating biologist the message does not identify (OBR-32/OBX-16 without
    # RPPS/ADELI) is signed by the default biologist, recorded and logged; False: the report is held.
    biologist_standin: bool = False


class Lifecycle(StrEnum):
    """What a document version does to the ones before it (shape B: the document OBX-11)."""

    NEW = "F"
    REPLACES = "C"  # relatedDocument RPLC: replaces the previous version of the same setId
    DELETES = "D"  # asks the recipients (and the DMP) to withdraw the version


@dataclass(frozen=True, slots=True, kw_only=True)
class Artifacts:
    """Everything built for one report version, what is stored and sent: built once, resent as is."""

    mapped: MappedReport
    cda: bytes
    pdf: bytes
    pdf_name: str
    xdm: bytes
    email: bytes  # exactly what SMTP sends: CRLF line ends
    message_id: str
    envid: str
    ids: DocumentIdentity  # the document's ids: ours (shape A) or the SIL's (shape B)
    lifecycle: Lifecycle = Lifecycle.NEW
    # The configured biologist signed in place of one the message does not identify (lab.biologist_standin):
    # the pipeline stores it with the report; compose_artifacts has logged it (report.biologist_standin).
    standin: BiologistStandIn | None = None
