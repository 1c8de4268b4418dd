"""METADATA.XML and IHE_XDM.ZIP: schema-valid, consistent with the CDA, deterministic.

Inputs: the ANS CR-BIO example (read in place from shared/ref, skipped when absent) and a
small synthetic CDA written here. Synthetic patients only.
"""

from __future__ import annotations

import hashlib
import io
import zipfile

import pytest
from lxml import etree

from connector.errors import CdaBuildError
from connector.model import (
    DocumentFlags,
    DocumentIdentity,
    Identifier,
    IdentityStatus,
    LabIdentity,
    LabReport,
    MappedReport,
    MessageHeader,
    Patient,
    Recipient,
)
from connector.package import build_metadata, build_xdm
from connector.package._times import to_xds_dtm
from connector.package.ids import entry_uuid
from connector.package.metadata import (
    DE_CLASS,
    DE_CONFIDENTIALITY,
    DE_FACILITY,
    DE_FORMAT,
    DE_PATIENT_ID,
    DE_PRACTICE,
    DE_TYPE,
    DE_UNIQUE_ID,
    RPLC,
    SS_NODE,
    SS_PATIENT_ID,
    SS_SOURCE_ID,
)
from tests.support.refkit import lcm_schema, ref_file

NS = {"rim": "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0", "lcm": "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"}

INS_OID = "1.2.250.1.213.1.4.10"  # INS-NIR test OID
IPP_OID = "1.2.250.1.999.1.2"
DOC_ROOT = "1.2.250.1.999.1.1"
SUBMITTED = "20260105093000+0100"

LAB = LabIdentity(
    name="Laboratoire Synthèse",
    finess="990000001",
    oid_root="1.2.250.1.999.1",
    ipp_oid=IPP_OID,
    mailbox="labo@labo.test",
    city="Testville",
)
RECIPIENTS = (
    Recipient(address="dr.test@medecin.mssante.test", kind="prescriber", idnps="810000000001"),
    Recipient(address="111111111111111@patient.mssante.fr", kind="patient"),
)


def synthetic_cda(
    *,
    ins: str | None = "299999999999999",
    ipp: str = "IPP42",
    doc_ext: str = "D1",
    structured: bool = True,
    family: str = "TESTNOM",
    given: str = "Alice",
) -> bytes:
    """A minimal CR-BIO-shaped header with a synthetic patient."""
    ins_id = f'<id root="{INS_OID}" extension="{ins}"/>' if ins else ""
    body = (
        "<structuredBody/>"
        if structured
        else '<nonXMLBody><text mediaType="application/pdf" representation="B64">JVBE</text></nonXMLBody>'
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3">
  <id root="{DOC_ROOT}" extension="{doc_ext}"/>
  <code code="11502-2" codeSystem="2.16.840.1.113883.6.1" displayName="CR d'examens biologiques"/>
  <title>Compte rendu d'examens biologiques</title>
  <effectiveTime value="20260104173000+0100"/>
  <confidentialityCode code="N" displayName="Normal" codeSystem="2.16.840.1.113883.5.25"/>
  <languageCode code="fr-FR"/>
  <recordTarget><patientRole>{ins_id}<id root="{IPP_OID}" extension="{ipp}"/>
    <patient><name><family qualifier="BR">{family}</family><given qualifier="BR">{given}</given></name>
      <administrativeGenderCode code="F" codeSystem="2.16.840.1.113883.5.1"/><birthTime value="19800215"/></patient>
  </patientRole></recordTarget>
  <author><time value="20260104173000+0100"/><assignedAuthor>
    <id root="1.2.250.1.71.4.2.1" extension="810000000099"/>
    <code code="G15_10/SM03" displayName="Médecin - Biologie médicale (SM)" codeSystem="1.2.250.1.213.1.1.4.5"/>
    <assignedPerson><name><given>Bio</given><family>LOGISTE</family></name></assignedPerson>
    <representedOrganization><id root="1.2.250.1.71.4.2.2" extension="1990000001"/>
      <name>Laboratoire Synthèse</name></representedOrganization>
  </assignedAuthor></author>
  <legalAuthenticator><time value="20260104173000+0100"/><signatureCode code="S"/><assignedEntity>
    <id root="1.2.250.1.71.4.2.1" extension="810000000099"/>
    <assignedPerson><name><given>Bio</given><family>LOGISTE</family></name></assignedPerson>
  </assignedEntity></legalAuthenticator>
  <documentationOf><serviceEvent><effectiveTime><low value="20260104080000+0100"/>
    <high value="20260104170000+0100"/></effectiveTime>
  </serviceEvent></documentationOf>
  <component>{body}</component>
</ClinicalDocument>
""".encode()


def mapped_report(
    *,
    qualified: bool = True,
    ins: str = "299999999999999",
    ipp: str = "IPP42",
    ipp_oid: str = IPP_OID,
    ins_oid: str = INS_OID,
    flags: DocumentFlags | None = None,
) -> MappedReport:
    patient = Patient(
        identifiers=(Identifier(ins, oid=ins_oid, type_code="INS"), Identifier(ipp, oid=ipp_oid, type_code="PI")),
        identity_status=IdentityStatus.QUALIFIED if qualified else IdentityStatus.PROVISIONAL,
    )
    report = LabReport(
        report_id="rpt-0001",
        header=MessageHeader(sending_application="SIL", sending_facility="LAB", control_id="C1"),
        patient=patient,
        orders=(),
        flags=flags,
    )
    return MappedReport(report=report, results=())


def doc_ids(ext: str = "D1", *, replaces: tuple[str, str] | None = None, version: int = 1) -> DocumentIdentity:
    return DocumentIdentity(
        document_id_root=DOC_ROOT,
        document_id_extension=ext,
        set_id_root=DOC_ROOT + ".9",
        set_id_extension="S1",
        version=version,
        replaces=replaces,
    )


def package_args() -> dict[str, object]:
    """What build_metadata and build_xdm take besides the CDA, for the synthetic report."""
    return {"mapped": mapped_report(), "lab": LAB, "ids": doc_ids(), "recipients": RECIPIENTS,
            "submission_time": SUBMITTED}


def metadata_of(cda: bytes, **kw: object) -> etree._Element:
    args = package_args() | kw
    return etree.fromstring(build_metadata(cda, **args))  # type: ignore[arg-type]


def slot(node: etree._Element, name: str) -> list[str]:
    return [v.text or "" for v in node.findall(f"rim:Slot[@name='{name}']/rim:ValueList/rim:Value", NS)]


def classification(entry: etree._Element, scheme: str) -> etree._Element:
    found = entry.findall(f"rim:Classification[@classificationScheme='{scheme}']", NS)
    assert len(found) == 1, scheme
    return found[0]


def external_id(obj: etree._Element, scheme: str) -> str:
    return obj.find(f"rim:ExternalIdentifier[@identificationScheme='{scheme}']", NS).get("value")


def assert_schema_valid(xml: bytes) -> None:
    schema = lcm_schema()
    assert schema.validate(etree.fromstring(xml)), schema.error_log


def ans_example() -> bytes:
    return ref_file("cda", "testcontenucda", "ExemplesCDA", "BIO-CR-BIO_2024.01_TSH_1.xml").read_bytes()


# ---------------------------------------------------------------------------- schema


def test_metadata_of_synthetic_cda_is_schema_valid() -> None:
    assert_schema_valid(
        build_metadata(
            synthetic_cda(),
            mapped=mapped_report(),
            lab=LAB,
            ids=doc_ids(),
            recipients=RECIPIENTS,
            submission_time=SUBMITTED,
        )
    )


def test_metadata_of_ans_example_is_schema_valid_and_consistent() -> None:
    cda = ans_example()
    ids = DocumentIdentity(
        document_id_root="1.2.250.1.213.1.1.1.55.2024.9.1",
        document_id_extension="",
        set_id_root="1.2.250.1.213.1.1.1.55.2024.9",
        set_id_extension="",
    )
    mapped = mapped_report(ins="279035121518989", ipp="1234567890121", ipp_oid="1.2.3.4.567.8.9.10")
    lab = LabIdentity(
        name="Laboratoire des charmes", finess="920000000", oid_root="1.2.250.1.999.1", ipp_oid="1.2.3.4.567.8.9.10"
    )
    xml = build_metadata(cda, mapped=mapped, lab=lab, ids=ids, recipients=RECIPIENTS, submission_time=SUBMITTED)
    assert_schema_valid(xml)
    root = etree.fromstring(xml)
    entry = root.find(".//rim:ExtrinsicObject", NS)
    assert external_id(entry, DE_PATIENT_ID) == "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"
    assert external_id(entry, DE_UNIQUE_ID) == "1.2.250.1.213.1.1.1.55.2024.9.1"
    assert slot(entry, "hash") == [hashlib.sha1(cda).hexdigest()]
    assert slot(entry, "size") == [str(len(cda))]
    assert slot(entry, "creationTime") == ["20210401161000"]  # 17:10 +0100 in UTC
    assert slot(entry, "serviceStartTime") == ["20210104082200"]
    assert slot(entry, "legalAuthenticator") == ["801234534765^CAMPARINI^Marcel^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"]
    assert slot(entry, "sourcePatientId") == ["1234567890121^^^&1.2.3.4.567.8.9.10&ISO^PI"]
    assert classification(entry, DE_PRACTICE).get("nodeRepresentation") == "AMBULATOIRE"  # from the CDA


# ---------------------------------------------------------------------------- values


def test_document_entry_values_come_from_the_cda() -> None:
    cda = synthetic_cda()
    root = metadata_of(cda)
    entry = root.find(".//rim:ExtrinsicObject", NS)
    assert entry.get("mimeType") == "text/xml"
    assert entry.get("objectType") == "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
    assert external_id(entry, DE_UNIQUE_ID) == f"{DOC_ROOT}^D1"
    assert external_id(entry, DE_PATIENT_ID) == f"299999999999999^^^&{INS_OID}&ISO^NH"
    assert slot(entry, "hash") == [hashlib.sha1(cda).hexdigest()]
    assert slot(entry, "size") == [str(len(cda))]
    assert slot(entry, "URI") == ["DOC0001.XML"]
    assert slot(entry, "languageCode") == ["fr-FR"]
    assert slot(entry, "creationTime") == ["20260104163000"]
    assert slot(entry, "serviceStartTime") == ["20260104070000"]
    assert slot(entry, "serviceStopTime") == ["20260104160000"]
    assert slot(entry, "sourcePatientId") == [f"IPP42^^^&{IPP_OID}&ISO^PI"]
    assert slot(entry, "sourcePatientInfo") == [
        f"PID-3|IPP42^^^&{IPP_OID}&ISO^PI",
        "PID-5|TESTNOM^Alice^^^^^L",
        "PID-7|19800215",
        "PID-8|F",
    ]
    assert entry.find("rim:Name/rim:LocalizedString", NS).get("value") == "Compte rendu d'examens biologiques"
    assert classification(entry, DE_TYPE).get("nodeRepresentation") == "11502-2"
    assert classification(entry, DE_CLASS).get("nodeRepresentation") == "10"
    assert classification(entry, DE_CONFIDENTIALITY).get("nodeRepresentation") == "N"
    assert classification(entry, DE_FORMAT).get("nodeRepresentation") == "urn:ihe:lab:xd-lab:2008"
    assert classification(entry, DE_FACILITY).get("nodeRepresentation") == "SA25"
    assert classification(entry, DE_PRACTICE).get("nodeRepresentation") == "AMBULATOIRE"
    assert slot(classification(entry, DE_FACILITY), "codingScheme") == ["1.2.250.1.71.4.2.4"]


def test_submission_set_values() -> None:
    root = metadata_of(synthetic_cda(), source_oid="1.2.250.1.999.77")
    package = root.find(".//rim:RegistryPackage", NS)
    assert slot(package, "submissionTime") == ["20260105083000"]
    assert external_id(package, SS_PATIENT_ID) == f"299999999999999^^^&{INS_OID}&ISO^NH"
    assert external_id(package, SS_SOURCE_ID) == "1.2.250.1.999.77"
    assert slot(package, "intendedRecipient") == [
        "|810000000001^^^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS|^^Internet^dr.test@medecin.mssante.test",
        "||^^Internet^111111111111111@patient.mssante.fr",
    ]
    node = root.find(f"rim:RegistryObjectList/rim:Classification[@classificationNode='{SS_NODE}']", NS)
    assert node.get("classifiedObject") == package.get("id")
    member = root.find("rim:RegistryObjectList/rim:Association", NS)
    assert member.get("associationType") == "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
    assert member.get("sourceObject") == package.get("id")
    assert member.get("targetObject") == root.find(".//rim:ExtrinsicObject", NS).get("id")
    assert slot(member, "SubmissionSetStatus") == ["Original"]


def test_source_id_defaults_to_the_lab_oid() -> None:
    package = metadata_of(synthetic_cda()).find(".//rim:RegistryPackage", NS)
    assert external_id(package, SS_SOURCE_ID) == LAB.oid_root


def test_level_1_document_gets_the_pdf_format_code() -> None:
    entry = metadata_of(synthetic_cda(structured=False)).find(".//rim:ExtrinsicObject", NS)
    assert classification(entry, DE_FORMAT).get("nodeRepresentation") == "urn:ihe:iti:xds-sd:pdf:2008"


def test_without_ins_in_the_cda_the_patient_id_is_the_ipp() -> None:
    root = metadata_of(synthetic_cda(ins=None), mapped=mapped_report(qualified=False))
    entry = root.find(".//rim:ExtrinsicObject", NS)
    assert external_id(entry, DE_PATIENT_ID) == f"IPP42^^^&{IPP_OID}&ISO^PI"
    assert external_id(root.find(".//rim:RegistryPackage", NS), SS_PATIENT_ID) == f"IPP42^^^&{IPP_OID}&ISO^PI"


def test_ins_in_cda_for_unqualified_identity_is_refused_without_patient_data() -> None:
    with pytest.raises(CdaBuildError) as caught:
        metadata_of(synthetic_cda(), mapped=mapped_report(qualified=False))
    assert "rpt-0001" in str(caught.value)
    assert "299999999999999" not in str(caught.value) and "TESTNOM" not in str(caught.value)


def test_cda_id_must_match_the_assigned_document_identity() -> None:
    with pytest.raises(CdaBuildError, match="rpt-0001"):
        metadata_of(synthetic_cda(doc_ext="OTHER"))


def test_cda_with_a_doctype_is_refused() -> None:
    evil = synthetic_cda().replace(b"<ClinicalDocument", b'<!DOCTYPE x [<!ENTITY e "boom">]>\n<ClinicalDocument', 1)
    with pytest.raises(CdaBuildError):
        metadata_of(evil)


def test_names_with_hl7_delimiters_are_escaped() -> None:
    entry = metadata_of(synthetic_cda(family="A^B&amp;C")).find(".//rim:ExtrinsicObject", NS)
    assert "PID-5|A\\S\\B\\T\\C^Alice^^^^^L" in slot(entry, "sourcePatientInfo")


def test_replacement_adds_an_rplc_association_to_the_previous_entry() -> None:
    cda = synthetic_cda(doc_ext="D2")
    root = metadata_of(cda, ids=doc_ids("D2", replaces=(DOC_ROOT, "D1"), version=2))
    rplc = root.findall(f"rim:RegistryObjectList/rim:Association[@associationType='{RPLC}']", NS)
    assert len(rplc) == 1
    assert rplc[0].get("sourceObject") == root.find(".//rim:ExtrinsicObject", NS).get("id")
    assert rplc[0].get("targetObject") == entry_uuid(f"{DOC_ROOT}^D1")
    # the previous version's own metadata used exactly that entryUUID
    first = metadata_of(synthetic_cda()).find(".//rim:ExtrinsicObject", NS)
    assert first.get("id") == rplc[0].get("targetObject")
    assert_schema_valid(etree.tostring(root))


def test_metadata_is_deterministic_and_ids_are_unique() -> None:
    args = package_args()
    first = build_metadata(synthetic_cda(), **args)  # type: ignore[arg-type]
    assert first == build_metadata(synthetic_cda(), **args)  # type: ignore[arg-type]
    ids = [e.get("id") for e in etree.fromstring(first).iter() if e.get("id")]
    assert len(ids) == len(set(ids)) and all(i.startswith("urn:uuid:") for i in ids)


# ---------------------------------------------------------------------------- zip


def test_xdm_zip_layout_and_content() -> None:
    cda = synthetic_cda()
    data = build_xdm(
        cda, mapped=mapped_report(), lab=LAB, ids=doc_ids(), recipients=RECIPIENTS, submission_time=SUBMITTED
    )
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == [
            "README.TXT",
            "INDEX.HTM",
            "IHE_XDM/SUBSET01/METADATA.XML",
            "IHE_XDM/SUBSET01/DOC0001.XML",
        ]
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in archive.infolist())
        assert all(i.date_time == (2026, 1, 5, 9, 30, 0) for i in archive.infolist())
        assert archive.read("IHE_XDM/SUBSET01/DOC0001.XML") == cda
        metadata = archive.read("IHE_XDM/SUBSET01/METADATA.XML")
        readme = archive.read("README.TXT").decode()
        index = archive.read("INDEX.HTM").decode()
    assert metadata == build_metadata(
        cda, mapped=mapped_report(), lab=LAB, ids=doc_ids(), recipients=RECIPIENTS, submission_time=SUBMITTED
    )
    for expected in ("labo@labo.test", "Laboratoire Synthèse", "lab-results-connector", "0.1.0", "Editeur"):
        assert expected in readme
    assert 'href="README.TXT"' in index and 'href="IHE_XDM/SUBSET01/DOC0001.XML"' in index
    for secret in ("TESTNOM", "Alice", "299999999999999", "19800215"):
        assert secret not in readme and secret not in index


def test_xdm_is_byte_identical_when_rebuilt() -> None:
    args = package_args()
    assert build_xdm(synthetic_cda(), **args) == build_xdm(synthetic_cda(), **args)  # type: ignore[arg-type]
    other = dict(args, submission_time="20260105093100+0100")
    assert build_xdm(synthetic_cda(), **args) != build_xdm(synthetic_cda(), **other)  # type: ignore[arg-type]


def test_cda_ins_must_be_the_reports_ins() -> None:
    with pytest.raises(CdaBuildError, match="differs") as caught:
        metadata_of(synthetic_cda(ins="288888888888888"))
    assert "288888888888888" not in str(caught.value) and "299999999999999" not in str(caught.value)


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        ("20210104073500+0100", "20210104063500"),
        ("202101040735+0100", "202101040635"),  # minute precision kept
        ("2021010400-0500", "2021010405"),
        ("20210104120000", "20210104110000"),  # no zone: the lab's default +0100
        ("20210104", "20210104"),  # a date has no instant to convert
        ("2021", "2021"),
        ("", ""),
    ],
)
def test_xds_times_are_utc_with_the_same_precision(ts: str, expected: str) -> None:
    assert to_xds_dtm(ts) == expected


def test_bad_timestamp_is_refused() -> None:
    with pytest.raises(ValueError):
        to_xds_dtm("2021-01-04")
