"""The package stage end to end on the ANS CR-BIO examples (read in place, never copied).

Each example goes CDA → IHE_XDM.ZIP → e-mail → bytes → stdlib parser → unzip, and the
METADATA.XML found there must validate against ebRS 3.0 ``lcm.xsd`` and agree with the CDA
read independently here (patient id, uniqueId, hash, size, type code).
"""

from __future__ import annotations

import email
import hashlib
import io
import zipfile
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from lxml import etree

from connector.errors import CdaBuildError
from connector.model import (
    INS_OIDS,
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
from connector.package import (
    build_email,
    build_xdm,
    envid_for,
    message_id_for,
)
from connector.xmlsafe import parse_xml
from tests.support.paths import ANS_KIT
from tests.support.refkit import lcm_schema, ref_params
from tests.support.settings import message_settings

EXAMPLES = ANS_KIT / "ExemplesCDA"
H = {"h": "urn:hl7-org:v3"}
RIM = {"rim": "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"}
DE_PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
DE_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
DE_TYPE = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
SS_PATIENT_ID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"

# "Auto-présentable" examples are XSLT stylesheets wrapping a CDA (mimeType application/xslt+xml):
# the connector never produces them, and the package stage refuses them.
EXAMPLE_FILES = ref_params(EXAMPLES, "BIO-CR-BIO_*.xml", lambda p: "Auto-Presentable" not in p.name)
SELF_PRESENTING = ref_params(EXAMPLES, "BIO-CR-BIO_*.xml", lambda p: "Auto-Presentable" in p.name)
RECIPIENTS = (
    Recipient(address="dr.test@medecin.mssante.test", kind="prescriber", idnps="810000000001"),
    Recipient(address="secretariat@cabinet.mssante.test", kind="copy"),
)


def inputs_for(cda: bytes) -> tuple[MappedReport, LabIdentity, DocumentIdentity, tuple[str, str] | None]:
    """Report, lab and ids that match the example, as the upstream stages would produce them."""
    doc = parse_xml(cda)
    doc_id = doc.find("h:id", H)
    ids = [(i.get("root", ""), i.get("extension", "")) for i in doc.findall("h:recordTarget/h:patientRole/h:id", H)]
    ins = next(((r, e) for r, e in ids if r in INS_OIDS and e), None)
    local = next(((r, e) for r, e in ids if r not in INS_OIDS and e), ("1.2.250.1.999.1.2", "NONE"))
    identifiers = tuple(Identifier(e, oid=r) for r, e in ([ins] if ins else []) + [local])
    patient = Patient(
        identifiers=identifiers, identity_status=IdentityStatus.QUALIFIED if ins else IdentityStatus.UNKNOWN
    )
    report = LabReport(
        report_id="rpt-ans",
        header=MessageHeader(sending_application="SIL", sending_facility="LAB"),
        patient=patient,
        orders=(),
    )
    lab = LabIdentity(
        name="Laboratoire des charmes",
        finess="920000000",
        oid_root="1.2.250.1.999.1",
        ipp_oid=local[0],
        mailbox="labo@labo.test",
    )
    identity = DocumentIdentity(
        document_id_root=doc_id.get("root", ""),
        document_id_extension=doc_id.get("extension", ""),
        set_id_root="1.2.250.1.999.1.9",
        set_id_extension="S",
    )
    return MappedReport(report=report, results=()), lab, identity, ins


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: getattr(p, "name", "absent"))
def test_ans_example_through_zip_and_e_mail(path: Path) -> None:
    cda = path.read_bytes()
    mapped, lab, ids, ins = inputs_for(cda)
    xdm = build_xdm(cda, mapped=mapped, lab=lab, ids=ids, recipients=RECIPIENTS, submission_time="20260105093000+0100")
    message_id = message_id_for(ids, RECIPIENTS, domain="labo.test")
    msg = build_email(
        mapped=mapped,
        lab=lab,
        ids=ids,
        xdm=xdm,
        pdf=b"%PDF-1.7 synthetic",
        pdf_name="cr.pdf",
        recipients=RECIPIENTS,
        message_id=message_id,
        settings=message_settings(sender="labo@labo.test"),
        date=datetime(2026, 1, 5, 8, 30, tzinfo=UTC),
    )
    parsed = email.message_from_bytes(msg.as_bytes(policy=policy.SMTP), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed["Subject"].startswith("XDM/1.0/DDM+")
    assert parsed["X-MSS-CODECDA"] == "11502-2"
    assert parsed["X-MSS-INS"] == ("O" if ins else "N")
    assert parsed["Message-ID"] == message_id and envid_for(message_id)
    zip_part = next(p for p in parsed.iter_attachments() if p.get_content_type() == "application/zip")

    with zipfile.ZipFile(io.BytesIO(zip_part.get_content())) as archive:
        assert archive.read("IHE_XDM/SUBSET01/DOC0001.XML") == cda
        metadata = etree.fromstring(archive.read("IHE_XDM/SUBSET01/METADATA.XML"))
    schema = lcm_schema()
    assert schema.validate(metadata), schema.error_log
    entry = metadata.find(".//rim:ExtrinsicObject", RIM)
    package = metadata.find(".//rim:RegistryPackage", RIM)

    def ext(obj: etree._Element, scheme: str) -> str:
        return obj.find(f"rim:ExternalIdentifier[@identificationScheme='{scheme}']", RIM).get("value")

    def slot(name: str) -> list[str]:
        return [v.text for v in entry.findall(f"rim:Slot[@name='{name}']/rim:ValueList/rim:Value", RIM)]

    expected_unique = ids.document_id_root + (f"^{ids.document_id_extension}" if ids.document_id_extension else "")
    assert ext(entry, DE_UNIQUE_ID) == expected_unique
    if ins:
        assert ext(entry, DE_PATIENT_ID) == f"{ins[1]}^^^&{ins[0]}&ISO^NH"
    assert ext(package, SS_PATIENT_ID) == ext(entry, DE_PATIENT_ID)
    assert slot("hash") == [hashlib.sha1(cda).hexdigest()]
    assert slot("size") == [str(len(cda))]
    assert (
        entry.find(f"rim:Classification[@classificationScheme='{DE_TYPE}']", RIM).get("nodeRepresentation") == "11502-2"
    )


@pytest.mark.parametrize("path", SELF_PRESENTING, ids=lambda p: getattr(p, "name", "absent"))
def test_self_presenting_stylesheet_is_not_packaged_as_a_cda(path: Path) -> None:
    mapped = MappedReport(
        report=LabReport(
            report_id="rpt-ans",
            header=MessageHeader(sending_application="SIL", sending_facility="LAB"),
            patient=Patient(identifiers=()),
            orders=(),
        ),
        results=(),
    )
    lab = LabIdentity(name="L", finess="920000000", oid_root="1.2.250.1.999.1", ipp_oid="1.2.250.1.999.1.2")
    ids = DocumentIdentity(
        document_id_root="1.2.250.1.999.1.1",
        document_id_extension="X",
        set_id_root="1.2.250.1.999.1.9",
        set_id_extension="S",
    )
    with pytest.raises(CdaBuildError, match="ClinicalDocument"):
        build_xdm(
            path.read_bytes(),
            mapped=mapped,
            lab=lab,
            ids=ids,
            recipients=RECIPIENTS,
            submission_time="20260105093000+0100",
        )
