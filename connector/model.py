"""The domain model: typed, immutable values that flow one way through the stages.

    parse  ──► LabReport      what the SIL said, nothing dropped (unknown segments kept verbatim)
    mapping ─► MappedReport   the same report with LOINC codes, UCUM units, CR-BIO chapters
    cda    ──► bytes          the CR-BIO document (and the PDF/A copy)

Conventions
- Timestamps stay HL7 DTM strings as sent (``YYYY[MM[DD[HH[MM[SS[.S+]]]]]][+/-ZZZZ]``):
  precision matters in a lab report and a ``datetime`` would invent it. The parser checks
  them (:mod:`connector.parse.timestamps`); the CDA stage writes them as TS
  (:mod:`connector.cda.timestamps`).
- Numbers stay :class:`~decimal.Decimal` together with the text as sent, so ``1.950``
  keeps its three decimals.
- Every element that comes from a segment keeps that segment's text in ``raw``
  (excluded from ``repr``) so nothing is lost; unknown segments go to
  ``LabReport.other_segments``. ``repr`` of these values must never be logged:
  they hold patient data. Log ``report_id`` instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

__all__ = [
    "INS_OIDS",
    "INS_TEST_OIDS",
    "RPPS_OID",
    "Address",
    "Coded",
    "CodedValue",
    "Comment",
    "DateValue",
    "DocumentFlags",
    "DocumentIdentity",
    "EmbeddedDocument",
    "Encapsulated",
    "Identifier",
    "IdentityStatus",
    "LabIdentity",
    "LabReport",
    "MappedReport",
    "MappedResult",
    "MessageHeader",
    "Numeric",
    "Order",
    "Participant",
    "Patient",
    "PersonName",
    "Practitioner",
    "PreviousResult",
    "RawSegment",
    "Recipient",
    "ReferenceRange",
    "Result",
    "ResultValue",
    "Specimen",
    "StructuredNumeric",
    "Text",
]

# INS-NIR, INS-NIA (production); .10 INS-NIR test and .11 INS-NIR demo (refused in production).
INS_OIDS = ("1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9", "1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11")
INS_TEST_OIDS = ("1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11")
# National health professional ids (IDNPS = 8 + RPPS, or 0 + ADELI).
RPPS_OID = "1.2.250.1.71.4.2.1"


# ---------------------------------------------------------------------------- building blocks


@dataclass(frozen=True, slots=True)
class Coded:
    """A CE / CWE / CNE triplet as sent (``code^display^system``), with its alternate."""

    code: str
    display: str = ""
    system: str = ""  # HL7 coding-system name as sent (LN, L, 99XYZ…) or an OID
    alt_code: str = ""
    alt_display: str = ""
    alt_system: str = ""


@dataclass(frozen=True, slots=True)
class Identifier:
    """A CX / XCN / EI identifier."""

    value: str
    authority: str = ""  # namespace id (CX-4.1), as sent
    oid: str = ""  # universal id (CX-4.2) when its type (CX-4.3) is ISO
    type_code: str = ""  # CX-5 / XCN-13: INS, PI, IDNPS, RPPS, ADELI…


@dataclass(frozen=True, slots=True)
class PersonName:
    """An XPN / XCN name. ``given[0]`` is the first given name (XPN-2), then XPN-3 split."""

    family: str = ""
    given: tuple[str, ...] = ()
    prefix: str = ""
    suffix: str = ""
    degree: str = ""
    name_type: str = ""  # XPN-7: L (birth/legal), D (used), …


@dataclass(frozen=True, slots=True)
class Address:
    street: str = ""
    other: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""
    country: str = ""
    address_type: str = ""  # XAD-7: H home, BDL birth place, …
    county: str = ""  # XAD-9: for BDL, the INSEE code of the birth commune


class IdentityStatus(StrEnum):
    """RNIV identity status (PID-32 after the site's code mapping). Only QUALIFIED lets us send the INS."""

    PROVISIONAL = "PROV"
    RECOVERED = "RECUP"
    VALIDATED = "VALI"
    QUALIFIED = "QUAL"
    UNKNOWN = ""


@dataclass(frozen=True, slots=True)
class Practitioner:
    """A prescriber, copy-to doctor, biologist or PRT participant (XCN)."""

    identifier: Identifier | None
    name: PersonName = PersonName()
    raw: str = field(default="", repr=False, compare=False)

    @property
    def idnps(self) -> str:
        """The national id ``8``+RPPS or ``0``+ADELI, or "" when the id is not national."""
        ident = self.identifier
        if ident is None or not ident.value:
            return ""
        kind = ident.type_code.upper()
        if kind == "RPPS" and len(ident.value) == 11:
            return "8" + ident.value
        if kind == "ADELI" and len(ident.value) == 9:
            return "0" + ident.value
        if ident.oid == RPPS_OID or kind == "IDNPS":
            return ident.value
        return ""


@dataclass(frozen=True, slots=True)
class Comment:
    """An NTE segment. ``source`` is NTE-2 (L lab, P placer…), ``kind`` is NTE-4."""

    text: str
    source: str = ""
    kind: str = ""
    raw: str = field(default="", repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class RawSegment:
    """A segment kept verbatim (Z-segments, PV1, SFT, TQ1…). ``position`` is its 0-based index in the message."""

    name: str
    position: int
    raw: str = field(repr=False)


# ---------------------------------------------------------------------------- result values


@dataclass(frozen=True, slots=True)
class Numeric:
    """NM (or an SN with a plain number)."""

    value: Decimal
    text: str  # as sent, keeps precision: "1.950"


@dataclass(frozen=True, slots=True)
class StructuredNumeric:
    """SN: ``comparator^num1^separator^num2``: ``<^5``, ``>=^32``, ``^1^:^128``, ``^10^-^20``."""

    comparator: str = ""  # "", <, >, <=, >=, =, <>
    number1: Decimal | None = None
    separator: str = ""  # "", -, +, /, ., :
    number2: Decimal | None = None
    text: str = ""  # as sent


@dataclass(frozen=True, slots=True)
class Text:
    """ST / TX / FT, unescaped (``\\.br\\`` and ``\\R\\`` become line breaks)."""

    text: str


@dataclass(frozen=True, slots=True)
class CodedValue:
    """CE / CWE / CNE value (serology, organism, antibiogram S/I/R)."""

    coded: Coded


@dataclass(frozen=True, slots=True)
class DateValue:
    """DT / DTM / TS value, as sent."""

    value: str


@dataclass(frozen=True, slots=True)
class Encapsulated:
    """ED: a base64 document (PDF, CDA) already decoded."""

    mime_type: str  # e.g. "application/pdf", "text/xml"
    data: bytes = field(repr=False)


ResultValue = Numeric | StructuredNumeric | Text | CodedValue | DateValue | Encapsulated


@dataclass(frozen=True, slots=True)
class PreviousResult:
    """An earlier result of the same test (antériorité), as sent by the SIL."""

    value: ResultValue
    units: str = ""
    observed_at: str = ""


# ---------------------------------------------------------------------------- segments


@dataclass(frozen=True, slots=True)
class Result:
    """One OBX with its NTEs."""

    set_id: str  # OBX-1
    value_type: str  # OBX-2 as sent (may lie: an ED payload under CE exists)
    code: Coded  # OBX-3
    sub_id: str = ""  # OBX-4
    values: tuple[ResultValue, ...] = ()  # OBX-5 repetitions
    units: Coded | None = None  # OBX-6 as sent
    reference_range: str = ""  # OBX-7 as sent
    abnormal_flags: tuple[str, ...] = ()  # OBX-8, table 0078
    status: str = ""  # OBX-11, table 0085: F C P X W D O …
    observed_at: str = ""  # OBX-14
    performing_org: str = ""  # OBX-15 / OBX-23 name
    responsible_observer: Practitioner | None = None  # OBX-16: the validating biologist
    method: Coded | None = None  # OBX-17
    analysed_at: str = ""  # OBX-19
    comments: tuple[Comment, ...] = ()
    previous: tuple[PreviousResult, ...] = ()
    raw: str = field(default="", repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Specimen:
    """SPM (or OBR-15 in v2.3 messages)."""

    identifier: str = ""  # SPM-2
    type: Coded | None = None  # SPM-4 (HL7 table 0487: BLD, SER, UR…)
    collected_at: str = ""  # SPM-17.1 (or OBR-7)
    received_at: str = ""  # SPM-18 (or OBR-14)
    source_site: Coded | None = None  # SPM-8
    results: tuple[Result, ...] = ()  # OBX under SPM
    raw: str = field(default="", repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Order:
    """ORC + OBR with what follows them: NTE, TQ1, OBX (+NTE), SPM (+OBX)."""

    service: Coded  # OBR-4: the battery / test requested
    placer_number: Identifier | None = None  # ORC-2 / OBR-2
    filler_number: Identifier | None = None  # ORC-3 / OBR-3
    placer_group: Identifier | None = None  # ORC-4
    order_control: str = ""  # ORC-1
    requested_at: str = ""  # OBR-6 or ORC-9 (transaction / prescription time)
    collected_at: str = ""  # OBR-7
    received_at: str = ""  # OBR-14
    collector: Practitioner | None = None  # OBR-10: who collected the specimen (the préleveur)
    reported_at: str = ""  # OBR-22
    status: str = ""  # OBR-25, table 0123: F C P I R…
    prescriber: Practitioner | None = None  # ORC-12, else OBR-16
    copy_to: tuple[Practitioner, ...] = ()  # OBR-28
    principal_interpreter: Practitioner | None = None  # OBR-32: validating biologist
    parent_result: str = ""  # OBR-26 as sent (microbiology: isolate → antibiogram)
    results: tuple[Result, ...] = ()
    specimens: tuple[Specimen, ...] = ()
    comments: tuple[Comment, ...] = ()
    raw: str = field(default="", repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Patient:
    """PID (+PD1). ``ins`` and ``ipp`` are derived from the PID-3 repetitions."""

    identifiers: tuple[Identifier, ...]
    names: tuple[PersonName, ...] = ()
    birth_date: str = ""  # PID-7
    sex: str = ""  # PID-8
    addresses: tuple[Address, ...] = ()
    identity_status: IdentityStatus = IdentityStatus.UNKNOWN  # PID-32 after the site's mapping
    identity_status_raw: str = ""  # PID-32 as sent
    raw: str = field(default="", repr=False, compare=False)

    @property
    def ins(self) -> Identifier | None:
        """The INS (by OID), whatever the identity status: callers check ``ins_qualified``."""
        for ident in self.identifiers:
            if ident.oid in INS_OIDS:
                return ident
        return None

    @property
    def ins_qualified(self) -> bool:
        return self.ins is not None and self.identity_status is IdentityStatus.QUALIFIED

    @property
    def ipp(self) -> Identifier | None:
        """The lab's own patient id: the first PID-3 that is not an INS."""
        for ident in self.identifiers:
            if ident.oid not in INS_OIDS and ident.type_code.upper() not in ("INS", "INS-NIR", "INS-NIA", "INS-C"):
                return ident
        return None

    @property
    def birth_name(self) -> PersonName | None:
        """The birth name (XPN-7 L), else the first name given."""
        for name in self.names:
            if name.name_type == "L":
                return name
        return self.names[0] if self.names else None

    @property
    def birth_place(self) -> Address | None:
        for addr in self.addresses:
            if addr.address_type == "BDL":
                return addr
        return None


@dataclass(frozen=True, slots=True)
class Participant:
    """A PRT segment (French CDA-in-HL7 flow): ``role`` is PRT-4.1 (SB, RCT, REPLY…)."""

    role: str
    person: Practitioner | None = None  # PRT-5 (an IDNPS, or the patient's INS for the patient)
    organization: str = ""  # PRT-8 as sent
    address: str = ""  # PRT-15.4: the MSSanté address
    raw: str = field(default="", repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class DocumentFlags:
    """MetaDMPMSS OBX flags (``None`` when the SIL did not send the flag)."""

    values: tuple[tuple[str, bool], ...] = ()  # (code, Y/N) in the order sent
    mail_body_ps: str = ""  # CORPSMAIL_PS
    mail_body_patient: str = ""  # CORPSMAIL_PATIENT
    end_of_thread: bool = False  # NTE-4 = FIN under DESTMSSANTEPAT → X-MSS-MES: FIN

    def get(self, code: str) -> bool | None:
        for key, value in self.values:
            if key == code:
                return value
        return None


@dataclass(frozen=True, slots=True)
class EmbeddedDocument:
    """A CDA sent inside an OBX ED (shape B); ``status`` is that OBX-11: F new, C replaces, D deletes."""

    code: Coded
    data: bytes = field(repr=False)
    mime_type: str = "text/xml"
    status: str = "F"


@dataclass(frozen=True, slots=True)
class MessageHeader:
    """MSH fields that identify a message; never patient data, safe to log."""

    sending_application: str
    sending_facility: str
    receiving_application: str = ""
    receiving_facility: str = ""
    message_datetime: str = ""
    message_type: str = "ORU^R01"
    control_id: str = ""  # MSH-10
    processing_id: str = ""  # MSH-11: P, T, D
    version: str = ""  # MSH-12
    charset: str = ""  # MSH-18 as declared
    profile: str = ""  # MSH-21
    accept_ack_type: str = ""  # MSH-15 (enhanced mode when set)
    application_ack_type: str = ""  # MSH-16

    @property
    def dedup_key(self) -> tuple[str, str, str]:
        """(MSH-3, MSH-4, MSH-10): a message resent under this key is the same message."""
        return (self.sending_application, self.sending_facility, self.control_id)


@dataclass(frozen=True, slots=True)
class LabReport:
    """One patient's results from one ORU message: the unit the connector sends.

    ``report_id`` is derived from the MSH dedup key and the patient's position in the
    message, so a resent message gives the same ids; it holds no patient data.
    """

    report_id: str
    header: MessageHeader
    patient: Patient
    orders: tuple[Order, ...]
    comments: tuple[Comment, ...] = ()  # patient-level NTE
    participants: tuple[Participant, ...] = ()  # PRT
    flags: DocumentFlags | None = None  # MetaDMPMSS
    documents: tuple[EmbeddedDocument, ...] = ()  # shape B
    other_segments: tuple[RawSegment, ...] = ()  # kept verbatim
    source: str = ""  # file name or mllp:<peer>; not patient data

    @property
    def results(self) -> tuple[Result, ...]:
        return tuple(r for o in self.orders for r in o.results)

    @property
    def prescriber(self) -> Practitioner | None:
        for order in self.orders:
            if order.prescriber is not None:
                return order.prescriber
        return None

    @property
    def validating_biologist(self) -> Practitioner | None:
        for order in self.orders:
            if order.principal_interpreter is not None:
                return order.principal_interpreter
        for result in self.results:
            if result.responsible_observer is not None:
                return result.responsible_observer
        return None


# ---------------------------------------------------------------------------- mapped report


@dataclass(frozen=True, slots=True)
class ReferenceRange:
    """A reference range in the result's (UCUM) unit; ``text`` when it is not numeric."""

    low: Decimal | None = None
    high: Decimal | None = None
    unit: str = ""
    text: str = ""


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
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


# ---------------------------------------------------------------------------- delivery


@dataclass(frozen=True, slots=True)
class Recipient:
    """One MSSanté mailbox a report goes to.

    ``kind``: "prescriber" (directory lookup of the prescriber's IDNPS), "copy" (OBR-28),
    "prt" (a PRT RCT participant of the French CDA-in-HL7 flow) or "patient"
    (``<INS>@patient.mssante.fr``, qualified INS only). ``idnps`` feeds ZAM Z02/Z03.
    """

    address: str
    kind: str
    idnps: str = ""
    display_name: str = ""


# ---------------------------------------------------------------------------- identities we assign


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
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
