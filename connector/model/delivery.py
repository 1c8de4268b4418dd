"""What the connector adds: the lab's identity, the ids it assigns, recipients, and the built artifacts."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .mapped import MappedReport

__all__ = ["Artifacts", "DocumentIdentity", "LabIdentity", "Lifecycle", "Recipient", "RecipientKind"]


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
    default_biologist_rpps: str = ""  # used when the SIL sends no validating biologist
    default_biologist_family: str = ""
    default_biologist_given: str = ""
    application_name: str = "lab-results-connector"
    application_version: str = "0.1.0"
    healthcare_facility_code: str = "SA25"  # JDV_J02: laboratoire de biologie médicale
    practice_setting_code: str = "AMBULATOIRE"  # JDV_J04 / standardIndustryClassCode
    timezone: str = "+0100"  # appended to HL7 timestamps sent without a zone


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
