"""What the SIL said, one patient's report per PID group: the parse stage's output."""

from __future__ import annotations

from dataclasses import dataclass, field

from .values import (
    INS_OIDS,
    Address,
    Coded,
    Comment,
    Identifier,
    IdentityStatus,
    PersonName,
    Practitioner,
    PreviousResult,
    RawSegment,
    ResultValue,
)

__all__ = [
    "DocumentFlags",
    "EmbeddedDocument",
    "LabReport",
    "MessageHeader",
    "Order",
    "Participant",
    "Patient",
    "Result",
    "Specimen",
]


@dataclass(frozen=True, slots=True, kw_only=True)
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


@dataclass(frozen=True, slots=True, kw_only=True)
class Specimen:
    """SPM (or OBR-15 in v2.3 messages)."""

    identifier: str = ""  # SPM-2
    type: Coded | None = None  # SPM-4 (HL7 table 0487: BLD, SER, UR…)
    collected_at: str = ""  # SPM-17.1 (or OBR-7)
    received_at: str = ""  # SPM-18 (or OBR-14)
    source_site: Coded | None = None  # SPM-8
    results: tuple[Result, ...] = ()  # OBX under SPM
    raw: str = field(default="", repr=False, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
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


@dataclass(frozen=True, slots=True, kw_only=True)
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


@dataclass(frozen=True, slots=True, kw_only=True)
class Participant:
    """A PRT segment (French CDA-in-HL7 flow): ``role`` is PRT-4.1 (SB, RCT, REPLY…)."""

    role: str
    person: Practitioner | None = None  # PRT-5 (an IDNPS, or the patient's INS for the patient)
    organization: str = ""  # PRT-8 as sent
    address: str = ""  # PRT-15.4: the MSSanté address
    raw: str = field(default="", repr=False, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
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


@dataclass(frozen=True, slots=True, kw_only=True)
class EmbeddedDocument:
    """A CDA sent inside an OBX ED (shape B); ``status`` is that OBX-11: F new, C replaces, D deletes."""

    code: Coded
    data: bytes = field(repr=False)
    mime_type: str = "text/xml"
    status: str = "F"


@dataclass(frozen=True, slots=True, kw_only=True)
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
    decoded_as: str = ""  # the codec the bytes were read with (a configured fallback when it is not MSH-18's)
    profile: str = ""  # MSH-21
    accept_ack_type: str = ""  # MSH-15 (enhanced mode when set)
    application_ack_type: str = ""  # MSH-16

    @property
    def dedup_key(self) -> tuple[str, str, str]:
        """(MSH-3, MSH-4, MSH-10): a message resent under this key is the same message."""
        return (self.sending_application, self.sending_facility, self.control_id)


@dataclass(frozen=True, slots=True, kw_only=True)
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
