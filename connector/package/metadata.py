"""METADATA.XML: the ebRS 3.0 ``lcm:SubmitObjectsRequest`` of an IHE XDM subset.

Values come from the CDA header per the ANS "CDA → XDS" mapping (Fiche table of
``trans-doc-cda-hl7v2__mapping.md``); the lab configuration fills only what the CDA
does not carry (source OID, facility/practice codes when absent). The patientId is the
recordTarget INS exactly as written in the CDA: the receiver identifies the patient from
it and rejects a mismatch (MSSanté ECO.2.1.2, MDN codes 903/904).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from lxml import etree

from connector.errors import CdaBuildError
from connector.model import (
    RPPS_OID,
    DocumentIdentity,
    LabIdentity,
    MappedReport,
    Recipient,
    RecipientKind,
)

from ._times import parse_instant, to_xds_dtm
from .cda_header import RPPS_ORG_OID, CdaHeader, Code, Person, read_header
from .ids import derived_uuid, entry_uuid, submission_set_oid, submission_set_uuid
from .rim import RIM, RimElements

__all__ = ["DOCUMENT_URI", "build_metadata", "patient_id_of"]

LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
DOCUMENT_URI = "DOC0001.XML"  # the CDA's name inside IHE_XDM/SUBSET01/

# XDS classification and identification schemes (ITI TF-3 table 4.2.5-1).
SS_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
SS_AUTHOR = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d"
SS_CONTENT_TYPE = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500"
SS_PATIENT_ID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
SS_SOURCE_ID = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
SS_UNIQUE_ID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
DE_OBJECT_TYPE = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
DE_AUTHOR = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
DE_CLASS = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
DE_CONFIDENTIALITY = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
DE_FORMAT = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
DE_FACILITY = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1"
DE_PRACTICE = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead"
DE_TYPE = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
DE_PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
DE_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
RPLC = "urn:ihe:iti:2007:AssociationType:RPLC"

# Value sets (CI-SIS): ASS_X04 maps typeCode 11502-2 to class 10 "Compte rendu";
# ASS_A11 gives the XD-LAB format for CR-BIO N3; N1 (PDF body) uses the XDS-SD format.
CLASS_CODE = Code("10", "Compte rendu", "1.2.250.1.213.1.1.4.1")
FORMAT_N3 = Code("urn:ihe:lab:xd-lab:2008", "CR d'examens biologiques", "1.3.6.1.4.1.19376.1.2.3")
FORMAT_N1 = Code("urn:ihe:iti:xds-sd:pdf:2008", "Document à corps non structuré en Pdf/A-1", "1.3.6.1.4.1.19376.1.2.3")
# TRE_R209 (JDV_J59 contentTypeCode): 07 is the IG's proposal for PV1-2 = O (outpatient lab).
CONTENT_TYPE = Code("07", "Consultation Soins Externes", "1.2.250.1.213.2.2")
FACILITY_SYSTEM = "1.2.250.1.71.4.2.4"  # TRE_R02 SecteurActivite (SA25 = LBM)
PRACTICE_SYSTEM = "1.2.250.1.213.1.1.4.9"  # TRE_A01 cadre d'exercice
FACILITY_NAMES = {"SA25": "Laboratoire de biologie médicale"}
PRACTICE_NAMES = {"AMBULATOIRE": "Ambulatoire", "ETABLISSEMENT": "Etablissement de santé"}


def hl7_escape(text: str) -> str:
    """Escape HL7 v2 delimiters inside one component (XCN/XON/CX values)."""
    table = {"\\": "\\E\\", "|": "\\F\\", "^": "\\S\\", "&": "\\T\\", "~": "\\R\\"}
    return "".join(table.get(ch, ch) for ch in text)


def _cx(root: str, ext: str, kind: str) -> str:
    return f"{hl7_escape(ext)}^^^&{root}&ISO^{kind}"


def patient_id_of(header: CdaHeader, mapped: MappedReport, lab: LabIdentity) -> str:
    """XDS patientId: the CDA INS (NH) when the document holds one, else the lab's IPP (PI)."""
    patient = mapped.report.patient
    ins = header.ins
    if ins is not None:
        if not patient.ins_qualified:
            raise CdaBuildError(
                f"report {mapped.report_id}: CDA recordTarget carries an INS but the identity is not qualified"
            )
        expected = patient.ins
        if expected is None or (expected.oid, expected.value) != ins:
            raise CdaBuildError(f"report {mapped.report_id}: CDA recordTarget INS differs from the report's PID-3 INS")
        return _cx(ins[0], ins[1], "NH")
    local = header.local_id(lab.ipp_oid)
    if local is None:
        raise CdaBuildError(f"report {mapped.report_id}: CDA recordTarget has no patient id (INS or IPP)")
    return _cx(local[0], local[1], "PI")


def _xcn(person: Person) -> str:
    kind = "IDNPS" if person.id_root == RPPS_OID else "EI"
    name = f"{hl7_escape(person.family)}^{hl7_escape(person.given)}"
    return f"{hl7_escape(person.id_extension)}^{name}^^^^^^&{person.id_root}&ISO^D^^^{kind}"


def _xon(person: Person, lab: LabIdentity) -> str:
    if person.org_id_root == RPPS_ORG_OID and person.org_id_extension:
        name, struct_id = person.org_name or lab.name, person.org_id_extension
    else:  # the lab from the configuration: Struct_IdNat = 1 + FINESS
        name, struct_id = lab.name, "1" + lab.finess
    return f"{hl7_escape(name)}^^^^^&{RPPS_ORG_OID}&ISO^IDNST^^^{hl7_escape(struct_id)}"


class _Writer(RimElements):
    """Builds rim elements with deterministic ids (uuid5 of the owner and a counter) for a byte-stable file."""

    def __init__(self, seed: str) -> None:
        self.seed = seed
        self.count = 0

    def next_id(self) -> str:
        self.count += 1
        return derived_uuid(self.seed, self.count)

    def classification(self, parent: etree._Element, scheme: str, owner: str, code: Code | None) -> etree._Element:
        node = self.el(
            parent,
            "Classification",
            classificationScheme=scheme,
            classifiedObject=owner,
            nodeRepresentation=code.code if code else "",
            id=self.next_id(),
        )
        if code is not None:
            self.slot(node, "codingScheme", code.system)
            self.name(node, code.display or code.code)
        return node

    def author(self, parent: etree._Element, scheme: str, owner: str, person: Person, lab: LabIdentity) -> None:
        node = self.classification(parent, scheme, owner, None)
        if person.id_extension:
            self.slot(node, "authorPerson", _xcn(person))
        self.slot(node, "authorInstitution", _xon(person, lab))
        if person.specialty is not None:
            spec = person.specialty
            self.slot(node, "authorSpecialty", f"{hl7_escape(spec.code)}^{hl7_escape(spec.display)}^{spec.system}")

    def external_id(self, parent: etree._Element, scheme: str, owner: str, value: str, label: str) -> None:
        node = self.el(
            parent,
            "ExternalIdentifier",
            identificationScheme=scheme,
            registryObject=owner,
            value=value,
            id=self.next_id(),
        )
        self.name(node, label)


def _intended_recipient(recipient: Recipient) -> str:
    """XON|XCN|XTN (ITI TF-3 4.2.3.3.9): the professional's IDNPS when known, always the mailbox."""
    xcn = (
        f"{recipient.idnps}^^^^^^^^&{RPPS_OID}&ISO^D^^^IDNPS"
        if recipient.idnps and recipient.kind != RecipientKind.PATIENT
        else ""
    )
    return f"|{xcn}|^^Internet^{recipient.address}"


def build_metadata(
    cda: bytes,
    *,
    mapped: MappedReport,
    lab: LabIdentity,
    ids: DocumentIdentity,
    recipients: Sequence[Recipient],
    submission_time: str,
    source_oid: str = "",
    content_type: Code = CONTENT_TYPE,
    header: CdaHeader | None = None,
) -> bytes:
    """METADATA.XML for one CDA (bytes exactly as they go into DOC0001.XML).

    ``header``: the CDA's header when the caller already parsed these very bytes.
    """
    header = header or read_header(cda, report_id=mapped.report_id)
    where = f"report {mapped.report_id}"
    if (header.id_root, header.id_extension) != (ids.document_id_root, ids.document_id_extension):
        raise CdaBuildError(
            f"{where}: CDA ClinicalDocument/id differs from the document identity assigned by the store"
        )
    zone = lab.timezone
    patient_id = patient_id_of(header, mapped, lab)
    local = header.local_id(lab.ipp_oid)
    source_patient_id = _cx(local[0], local[1], "PI") if local else patient_id
    unique_id = header.unique_id
    de_id, ss_id = entry_uuid(unique_id), submission_set_uuid(unique_id, recipients)
    submitted = parse_instant(submission_time, default_zone=zone).strftime("%Y%m%d%H%M%S%z")
    w = _Writer(ss_id)

    root = etree.Element(f"{{{LCM}}}SubmitObjectsRequest", nsmap={"lcm": LCM, "rim": RIM})
    objects = etree.SubElement(root, f"{{{RIM}}}RegistryObjectList")

    package = w.el(
        objects,
        "RegistryPackage",
        id=ss_id,
        objectType="urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:RegistryPackage",
    )
    w.slot(package, "submissionTime", to_xds_dtm(submitted, default_zone=zone))
    w.slot(package, "intendedRecipient", *(_intended_recipient(r) for r in recipients))
    w.name(package, header.title)
    w.author(package, SS_AUTHOR, ss_id, header.author, lab)
    w.classification(package, SS_CONTENT_TYPE, ss_id, content_type)
    w.external_id(package, SS_UNIQUE_ID, ss_id, submission_set_oid(unique_id, recipients), "XDSSubmissionSet.uniqueId")
    w.external_id(package, SS_SOURCE_ID, ss_id, source_oid or lab.oid_root, "XDSSubmissionSet.sourceId")
    w.external_id(package, SS_PATIENT_ID, ss_id, patient_id, "XDSSubmissionSet.patientId")
    w.el(objects, "Classification", classificationNode=SS_NODE, classifiedObject=ss_id, id=w.next_id())

    entry = w.el(objects, "ExtrinsicObject", id=de_id, mimeType="text/xml", objectType=DE_OBJECT_TYPE)
    w.slot(entry, "creationTime", to_xds_dtm(header.effective_time, default_zone=zone))
    w.slot(entry, "hash", hashlib.sha1(cda).hexdigest())
    w.slot(entry, "languageCode", header.language)
    if header.legal_authenticator is not None and header.legal_authenticator.id_extension:
        w.slot(entry, "legalAuthenticator", _xcn(header.legal_authenticator))
    w.slot(entry, "serviceStartTime", to_xds_dtm(header.service_start, default_zone=zone))
    w.slot(entry, "serviceStopTime", to_xds_dtm(header.service_stop, default_zone=zone))
    w.slot(entry, "size", str(len(cda)))
    w.slot(entry, "sourcePatientId", source_patient_id)
    w.slot(
        entry,
        "sourcePatientInfo",
        f"PID-3|{source_patient_id}",
        f"PID-5|{hl7_escape(header.family)}^{hl7_escape(header.given)}^^^^^L" if header.family else "",
        f"PID-7|{header.birth_time}" if header.birth_time else "",
        f"PID-8|{header.gender}" if header.gender else "",
    )
    w.slot(entry, "URI", DOCUMENT_URI)
    w.name(entry, header.title)
    w.author(entry, DE_AUTHOR, de_id, header.author, lab)
    w.classification(entry, DE_CLASS, de_id, CLASS_CODE)
    w.classification(entry, DE_CONFIDENTIALITY, de_id, header.confidentiality)
    w.classification(entry, DE_FORMAT, de_id, FORMAT_N3 if header.structured else FORMAT_N1)
    facility = header.facility_code or lab.healthcare_facility_code
    w.classification(entry, DE_FACILITY, de_id, Code(facility, FACILITY_NAMES.get(facility, facility), FACILITY_SYSTEM))
    practice = header.practice_code or lab.practice_setting_code
    w.classification(entry, DE_PRACTICE, de_id, Code(practice, PRACTICE_NAMES.get(practice, practice), PRACTICE_SYSTEM))
    w.classification(entry, DE_TYPE, de_id, header.code)
    w.external_id(entry, DE_PATIENT_ID, de_id, patient_id, "XDSDocumentEntry.patientId")
    w.external_id(entry, DE_UNIQUE_ID, de_id, unique_id, "XDSDocumentEntry.uniqueId")

    member = w.el(
        objects, "Association", associationType=HAS_MEMBER, sourceObject=ss_id, targetObject=de_id, id=w.next_id()
    )
    w.slot(member, "SubmissionSetStatus", "Original")
    if ids.replaces is not None:
        old_root, old_ext = ids.replaces
        previous = f"{old_root}^{old_ext}" if old_ext else old_root
        w.el(
            objects,
            "Association",
            associationType=RPLC,
            sourceObject=de_id,
            targetObject=entry_uuid(previous),
            id=w.next_id(),
        )
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
