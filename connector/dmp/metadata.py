"""The XDS metadata of a TD2.1 submission: the CDA's DocumentEntry, the XAdES entry and their associations.

Values follow the ANS CDA → XDS mapping like the XDM METADATA.XML (``connector/package``),
with the DMP's own rules (dmp.md §4): the patientId is the qualified INS (``^NH``), the
uniqueId a root-only OID, one confidentiality code per masking flag set, the
authorInstitution the structure named in the VIHF, and a second DocumentEntry for the
XAdES signature of the submission set, linked by a ``signs`` association. A replacement
adds an RPLC association to the current version's entryUUID, found by TD3.1b.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree

from connector.errors import DmpRefused
from connector.model import RPPS_OID
from connector.package import CdaHeader, Code, Person, hl7_escape, to_xds_dtm

from . import xds
from .document import DmpDocument, LocalCode
from .xds import RimWriter

__all__ = [
    "DOCUMENT",
    "SIGNATURE",
    "SUBMISSION_SET",
    "DocumentIds",
    "build_submission",
    "content_type_of",
    "document_ids",
    "institution_of",
    "xcn_of",
]

SUBMISSION_SET, DOCUMENT, SIGNATURE = "SubmissionSet01", "Document01", "Signature01"
RPPS_ORG_OID = "1.2.250.1.71.4.2.2"
CLASS_CR = Code("10", "Compte rendu", "1.2.250.1.213.1.1.4.1")
FORMAT_N3 = Code("urn:ihe:lab:xd-lab:2008", "CR d'examens biologiques", "1.3.6.1.4.1.19376.1.2.3")
FORMAT_N1 = Code("urn:ihe:iti:xds-sd:pdf:2008", "Document à corps non structuré en Pdf/A-1", "1.3.6.1.4.1.19376.1.2.3")
MASKING_SYSTEM = "1.2.250.1.213.1.1.4.13"
MASKING_NAMES = {
    "MASQUE_PS": "Masqué aux professionnels de santé",
    "INVISIBLE_PATIENT": "Non visible par le patient",
    "INVISIBLE_REPRESENTANTS_LEGAUX": "Non visible par les représentants légaux du patient",
}
# The XAdES entry's codes, as in every DMP example (IHE DSG).
SIG_CLASS = Code("urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1", "Digital Signature", "URN")
SIG_TYPE = Code("E1762", "Full Document", "ASTM")
SIG_FORMAT = Code("http://www.w3.org/2000/09/xmldsig#", "Default Signature Style", "URN")
SIG_EVENT = Code("1.2.840.10065.1.12.1.14", "Source", "1.2.840.10065.1.12")
SIG_CONFIDENTIALITY = (Code("N", "Normal", "2.16.840.1.113883.5.25"),
                       Code("MASQUE_PS", MASKING_NAMES["MASQUE_PS"], MASKING_SYSTEM),
                       Code("INVISIBLE_PATIENT", MASKING_NAMES["INVISIBLE_PATIENT"], MASKING_SYSTEM))
# JDV_J59 (TRE_R209) from PV1-2, as the IG proposes; a lab report without PV1 is an outpatient one.
CONTENT_TYPES = {"I": ("03", "Hospitalisation complète"), "O": ("07", "Consultation Soins Externes"),
                 "R": ("19", "Activité de soins en ville"), "N": ("97", "Non précisé"),
                 "E": ("07", "Consultation Soins Externes")}
FACILITY_SYSTEM, PRACTICE_SYSTEM = "1.2.250.1.71.4.2.4", "1.2.250.1.213.1.1.4.9"
_NAMESPACE = uuid.UUID("0d8f6a52-3c1e-5f47-9b6e-1a2c3d4e5f60")  # fixed forever: our DMP OIDs derive from it


@dataclass(frozen=True, slots=True)
class DocumentIds:
    """The OIDs a TD2.1 submission mints besides the CDA's: same document, same OIDs on every attempt."""

    submission_set: str
    signature: str


def document_ids(unique_id: str) -> DocumentIds:
    """``2.25.<uuid>`` OIDs (ISO/IEC 9834-8) derived from the document uniqueId."""
    def oid(kind: str) -> str:
        return f"2.25.{uuid.uuid5(_NAMESPACE, f'{kind}|{unique_id}').int}"
    return DocumentIds(submission_set=oid("dmp-submission-set"), signature=oid("dmp-signature"))


def content_type_of(doc: DmpDocument) -> Code:
    pv1 = next((s for s in doc.report.other_segments if s.name == "PV1"), None)
    fields = pv1.raw.split("|") if pv1 is not None else []
    code, label = CONTENT_TYPES.get(fields[2][:1] if len(fields) > 2 else "", CONTENT_TYPES["O"])
    return Code(code, label, "1.2.250.1.213.2.2")


def xcn_of(person: Person) -> str:
    kind = "IDNPS" if person.id_root == RPPS_OID else "EI"
    return (f"{hl7_escape(person.id_extension)}^{hl7_escape(person.family)}^{hl7_escape(person.given)}"
            f"^^^^^^&{person.id_root}&ISO^D^^^{kind}")


def institution_of(person: Person, doc: DmpDocument) -> tuple[str, str]:
    """(XON, Struct_IdNat): the author's organisation when national, else the lab (1 + FINESS)."""
    if person.org_id_root == RPPS_ORG_OID and person.org_id_extension:
        name, struct_id = person.org_name or doc.lab.name, person.org_id_extension
    else:
        name, struct_id = doc.lab.name, "1" + doc.lab.finess
    return f"{hl7_escape(name)}^^^^^&{RPPS_ORG_OID}&ISO^IDNST^^^{hl7_escape(struct_id)}", struct_id


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def build_submission(doc: DmpDocument, *, header: CdaHeader, structure_id: str, source_oid: str,
                     submitted: datetime, replaces_entry: str | None = None) -> etree._Element:
    """The ``lcm:SubmitObjectsRequest`` of a TD2.1 for ``doc`` (DmpRefused when a DMP rule is not met)."""
    where = f"report {doc.report_id}"
    unique_id, patient_id = doc.unique_id, doc.ins_cx()
    if (header.id_root, header.id_extension) != (unique_id, ""):
        raise DmpRefused(f"{where}: CDA ClinicalDocument/id differs from the document identity", code="PFI_ID_CDA")
    ins = doc.report.patient.ins
    if ins is None or header.ins != (ins.oid, ins.value):
        raise DmpRefused(f"{where}: CDA recordTarget INS differs from the report's qualified INS",
                         code="XDSPatientIdDoesNotMatch")
    author = header.author
    institution, struct_id = institution_of(author, doc)
    if struct_id != structure_id:
        raise DmpRefused(f"{where}: the CDA author's institution is not the structure of the VIHF "
                         "(dmp.structure_id)", code=LocalCode.STRUCTURE_MISMATCH)
    if replaces_entry is not None and doc.replaced_unique_id is None:
        raise DmpRefused(f"{where}: a replacement needs the replaced document's id", code="PFI_RPLC")
    zone = doc.lab.timezone
    ids = document_ids(unique_id)
    when = _utc(submitted)
    local = header.local_id(doc.lab.ipp_oid)
    source_patient = f"{hl7_escape(local[1])}^^^&{local[0]}&ISO^PI" if local else patient_id
    person = xcn_of(author) if author.id_extension else ""
    specialty = (f"{hl7_escape(author.specialty.code)}^{hl7_escape(author.specialty.display)}^"
                 f"{author.specialty.system}" if author.specialty else "")
    legal = header.legal_authenticator
    legal_xcn = xcn_of(legal) if legal is not None and legal.id_extension else ""
    facility = header.facility_code or doc.lab.healthcare_facility_code
    practice = header.practice_code or doc.lab.practice_setting_code
    facility_code = Code(facility, "Laboratoire de biologie médicale" if facility == "SA25" else facility,
                         FACILITY_SYSTEM)
    practice_code = Code(practice, {"AMBULATOIRE": "Ambulatoire", "ETABLISSEMENT": "Etablissement de santé"}
                         .get(practice, practice), PRACTICE_SYSTEM)

    w = RimWriter()
    root = etree.Element(f"{{{xds.LCM}}}SubmitObjectsRequest", nsmap={"lcm": xds.LCM, "rim": xds.RIM})
    objects = w.el(root, "RegistryObjectList")

    package = w.el(objects, "RegistryPackage", id=SUBMISSION_SET)
    w.slot(package, "submissionTime", when)
    w.name(package, header.title)
    w.author(package, xds.SS_AUTHOR, SUBMISSION_SET, person=person, institution=institution, specialty=specialty)
    w.classification(package, xds.SS_CONTENT_TYPE, SUBMISSION_SET, content_type_of(doc))
    # Inside the package, as in the DMP's examples (ebRIM allows it beside the package too).
    w.el(package, "Classification", classificationNode=xds.SS_NODE, classifiedObject=SUBMISSION_SET,
         id=w.next_id("cla"))
    w.external_id(package, xds.SS_PATIENT_ID, SUBMISSION_SET, patient_id, "XDSSubmissionSet.patientId")
    w.external_id(package, xds.SS_SOURCE_ID, SUBMISSION_SET, source_oid, "XDSSubmissionSet.sourceId")
    w.external_id(package, xds.SS_UNIQUE_ID, SUBMISSION_SET, ids.submission_set, "XDSSubmissionSet.uniqueId")

    entry = w.el(objects, "ExtrinsicObject", id=DOCUMENT, mimeType="text/xml", objectType=xds.DE_OBJECT_TYPE)
    w.slot(entry, "creationTime", to_xds_dtm(header.effective_time, default_zone=zone))
    w.slot(entry, "languageCode", header.language)
    w.slot(entry, "legalAuthenticator", legal_xcn)
    w.slot(entry, "serviceStartTime", to_xds_dtm(header.service_start, default_zone=zone))
    w.slot(entry, "serviceStopTime", to_xds_dtm(header.service_stop, default_zone=zone))
    w.slot(entry, "sourcePatientId", source_patient)
    w.slot(entry, "sourcePatientInfo",
           f"PID-5|{hl7_escape(header.family)}^{hl7_escape(header.given)}^^^^^L" if header.family else "",
           f"PID-7|{header.birth_time}" if header.birth_time else "",
           f"PID-8|{header.gender}" if header.gender else "")
    w.name(entry, header.title)
    w.author(entry, xds.DE_AUTHOR, DOCUMENT, person=person, institution=institution, specialty=specialty)
    w.classification(entry, xds.DE_CLASS, DOCUMENT, CLASS_CR)
    w.classification(entry, xds.DE_CONFIDENTIALITY, DOCUMENT, header.confidentiality)
    for flag in doc.masking():
        masked = flag.dmp_code
        w.classification(entry, xds.DE_CONFIDENTIALITY, DOCUMENT, Code(masked, MASKING_NAMES[masked], MASKING_SYSTEM))
    w.classification(entry, xds.DE_FORMAT, DOCUMENT, FORMAT_N3 if header.structured else FORMAT_N1)
    w.classification(entry, xds.DE_FACILITY, DOCUMENT, facility_code)
    w.classification(entry, xds.DE_PRACTICE, DOCUMENT, practice_code)
    w.classification(entry, xds.DE_TYPE, DOCUMENT, header.code)
    w.external_id(entry, xds.DE_PATIENT_ID, DOCUMENT, patient_id, "XDSDocumentEntry.patientId")
    w.external_id(entry, xds.DE_UNIQUE_ID, DOCUMENT, unique_id, "XDSDocumentEntry.uniqueId")

    sig = w.el(objects, "ExtrinsicObject", id=SIGNATURE, mimeType="text/xml", objectType=xds.DE_OBJECT_TYPE)
    w.slot(sig, "creationTime", when)
    w.slot(sig, "languageCode", "art")
    w.slot(sig, "legalAuthenticator", legal_xcn)
    w.slot(sig, "serviceStartTime", when)
    w.slot(sig, "serviceStopTime", when)
    w.slot(sig, "sourcePatientId", patient_id)
    w.name(sig, "Source")
    w.author(sig, xds.DE_AUTHOR, SIGNATURE, person=person, institution=institution, specialty=specialty)
    w.classification(sig, xds.DE_CLASS, SIGNATURE, SIG_CLASS)
    for code in SIG_CONFIDENTIALITY:
        w.classification(sig, xds.DE_CONFIDENTIALITY, SIGNATURE, code)
    w.classification(sig, xds.DE_FORMAT, SIGNATURE, SIG_FORMAT)
    w.classification(sig, xds.DE_FACILITY, SIGNATURE, facility_code)
    w.classification(sig, xds.DE_PRACTICE, SIGNATURE, practice_code)
    w.classification(sig, xds.DE_TYPE, SIGNATURE, SIG_TYPE)
    w.classification(sig, xds.DE_EVENT, SIGNATURE, SIG_EVENT)
    w.external_id(sig, xds.DE_PATIENT_ID, SIGNATURE, patient_id, "XDSDocumentEntry.patientId")
    w.external_id(sig, xds.DE_UNIQUE_ID, SIGNATURE, ids.signature, "XDSDocumentEntry.uniqueId")

    w.association(objects, xds.HAS_MEMBER, SUBMISSION_SET, DOCUMENT, SubmissionSetStatus="Original")
    w.association(objects, xds.HAS_MEMBER, SUBMISSION_SET, SIGNATURE, SubmissionSetStatus="Original")
    w.association(objects, xds.SIGNS, SIGNATURE, SUBMISSION_SET, SubmissionSetStatus="Original")
    if replaces_entry is not None:
        w.association(objects, xds.RPLC, DOCUMENT, replaces_entry)
    return root
