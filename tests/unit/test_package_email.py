"""The MSSanté e-mail, Message-ID and ENVID: parsed back with the stdlib and checked header by header."""

from __future__ import annotations

import email
import re
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage

import pytest

from connector.errors import CdaBuildError, PermanentError
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
from connector.package import (
    MessageSettings,
    build_email,
    build_xdm,
    envid_for,
    message_id_for,
)
from tests.support.settings import message_settings

INS_OID = "1.2.250.1.213.1.4.10"
IPP_OID = "1.2.250.1.999.1.2"
DOC_ROOT = "1.2.250.1.999.1.1"
LAB = LabIdentity(
    name="Laboratoire Synthèse",
    finess="990000001",
    oid_root="1.2.250.1.999.1",
    ipp_oid=IPP_OID,
    mailbox="labo@labo.test",
)
DOCTOR = Recipient(
    address="dr.test@medecin.mssante.test", kind="prescriber", idnps="810000000001", display_name="Dr Test"
)
PATIENT = Recipient(address="299999999999999@patient.mssante.fr", kind="patient")
SETTINGS = message_settings(sender="labo@labo.test", nil="DEV999999")
DATE = datetime(2026, 1, 5, 8, 30, tzinfo=UTC)


def synthetic_cda(
    *, ins: bool = True, family: str = "Test-Nom", given: str = "Éloïse", birth: str = "19800215"
) -> bytes:
    ins_id = f'<id root="{INS_OID}" extension="299999999999999"/>' if ins else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3">
  <id root="{DOC_ROOT}" extension="D1"/>
  <code code="11502-2" codeSystem="2.16.840.1.113883.6.1" displayName="CR d'examens biologiques"/>
  <title>Compte rendu d'examens biologiques</title>
  <effectiveTime value="20260104173000+0100"/>
  <recordTarget><patientRole>{ins_id}<id root="{IPP_OID}" extension="IPP42"/>
    <patient><name><family qualifier="BR">{family}</family><given qualifier="BR">{given}</given></name>
    <administrativeGenderCode code="F"/><birthTime value="{birth}"/></patient></patientRole></recordTarget>
  <author><assignedAuthor><id root="1.2.250.1.71.4.2.1" extension="810000000099"/>
    <assignedPerson><name><given>Bio</given><family>LOGISTE</family></name></assignedPerson></assignedAuthor></author>
  <component><structuredBody/></component>
</ClinicalDocument>
""".encode()


def mapped(*, qualified: bool = True, flags: DocumentFlags | None = None) -> MappedReport:
    patient = Patient(
        identifiers=(Identifier("299999999999999", oid=INS_OID, type_code="INS"), Identifier("IPP42", oid=IPP_OID)),
        identity_status=IdentityStatus.QUALIFIED if qualified else IdentityStatus.VALIDATED,
    )
    report = LabReport(
        report_id="rpt-0002",
        header=MessageHeader(sending_application="SIL", sending_facility="LAB"),
        patient=patient,
        orders=(),
        flags=flags,
    )
    return MappedReport(report=report, results=())


IDS = DocumentIdentity(
    document_id_root=DOC_ROOT, document_id_extension="D1", set_id_root=DOC_ROOT + ".9", set_id_extension="S1"
)


def make(
    *,
    cda: bytes | None = None,
    report: MappedReport | None = None,
    recipients: tuple[Recipient, ...] = (DOCTOR,),
    settings: MessageSettings = SETTINGS,
    pdf_name: str = "20260104_CR-BIO_TEST-NOM_Eloise.pdf",
    body: str | None = None,
) -> tuple[EmailMessage, bytes]:
    report = report or mapped()
    xdm = build_xdm(
        cda or synthetic_cda(),
        mapped=report,
        lab=LAB,
        ids=IDS,
        recipients=recipients,
        submission_time="20260105093000+0100",
    )
    msg = build_email(
        mapped=report,
        lab=LAB,
        ids=IDS,
        xdm=xdm,
        pdf=b"%PDF-1.7 synthetic",
        pdf_name=pdf_name,
        recipients=recipients,
        message_id=message_id_for(IDS, recipients, domain="labo.test"),
        settings=settings,
        date=DATE,
        body=body,
    )
    return msg, xdm


def reparse(msg: EmailMessage) -> EmailMessage:
    parsed = email.message_from_bytes(msg.as_bytes(policy=policy.SMTP), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_headers_of_an_e_mail_to_a_doctor() -> None:
    msg, _ = make()
    raw = msg.as_bytes(policy=policy.SMTP)
    parsed = reparse(msg)
    assert parsed["From"] == "labo@labo.test"
    assert parsed["To"] == "Dr Test <dr.test@medecin.mssante.test>"
    assert parsed["To"].addresses[0].addr_spec == "dr.test@medecin.mssante.test"
    assert parsed["Subject"] == "XDM/1.0/DDM+CR d'examens biologiques TEST-NOM Éloïse 15/02/1980"
    assert b"=?utf-8?" in raw.split(b"\r\n\r\n")[0]  # RFC 2047 encoded words in the header block
    assert parsed["Message-ID"] == message_id_for(IDS, (DOCTOR,), domain="labo.test")
    assert parsed["Date"] == "Mon, 05 Jan 2026 08:30:00 +0000"
    assert parsed["Disposition-Notification-To"] == "<labo@labo.test>"
    assert parsed["X-MSS-CODECDA"] == "11502-2"
    assert parsed["X-MSS-INS"] == "O"
    assert parsed["X-MSS-NIL"] == "DEV999999"
    assert parsed["X-MSS-MES"] is None
    assert parsed["Reply-To"] is None
    assert parsed["MIME-Version"] == "1.0"
    assert parsed.get_content_type() == "multipart/mixed"
    assert all(b.isascii() for b in raw.decode("ascii").splitlines())  # 7-bit clean on the wire


def test_parts_body_zip_and_pdf() -> None:
    msg, xdm = make(pdf_name="20260104_CR-BIO_TEST-NOM_Éloïse.pdf")
    parts = list(reparse(msg).iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "application/zip", "application/pdf"]
    body, zip_part, pdf_part = parts
    assert body.get_content_charset() == "utf-8"
    assert "biologie médicale" in body.get_content()
    assert "TEST-NOM" not in body.get_content() and "299999999999999" not in body.get_content()
    assert zip_part.get_filename() == "IHE_XDM.ZIP"
    assert zip_part.get_param("name") == "IHE_XDM.ZIP"
    assert zip_part.get_content_disposition() == "attachment"
    assert zip_part["Content-Transfer-Encoding"] == "base64"
    assert zip_part.get_content() == xdm
    assert pdf_part.get_filename() == "20260104_CR-BIO_TEST-NOM_Éloïse.pdf"
    assert re.search(
        r"filename\*=UTF-8''20260104_CR-BIO_TEST-NOM_%C3%89lo%C3%AFse\.pdf",
        msg.as_string(policy=policy.SMTP),
        re.IGNORECASE,
    )  # charset names are case-insensitive
    assert pdf_part["Content-Transfer-Encoding"] == "base64"
    assert pdf_part.get_content() == b"%PDF-1.7 synthetic"


def test_patient_recipient_with_end_of_thread_gets_x_mss_mes_and_patient_body() -> None:
    flags = DocumentFlags(mail_body_ps="Texte PS", mail_body_patient="Texte patient", end_of_thread=True)
    parsed = reparse(make(report=mapped(flags=flags), recipients=(PATIENT,))[0])
    assert parsed["X-MSS-MES"] == "FIN"
    assert parsed["To"] == "299999999999999@patient.mssante.fr"
    assert next(parsed.iter_parts()).get_content().strip() == "Texte patient"


def test_doctor_only_e_mail_takes_the_ps_body_and_no_fin() -> None:
    flags = DocumentFlags(mail_body_ps="Texte PS é", mail_body_patient="Texte patient", end_of_thread=True)
    parsed = reparse(make(report=mapped(flags=flags), recipients=(DOCTOR,))[0])
    assert parsed["X-MSS-MES"] is None
    assert next(parsed.iter_parts()).get_content().strip() == "Texte PS é"


def test_explicit_body_wins() -> None:
    parsed = reparse(make(body="Corps imposé")[0])
    assert next(parsed.iter_parts()).get_content().strip() == "Corps imposé"


def test_no_ins_in_the_cda_gives_x_mss_ins_n() -> None:
    parsed = reparse(make(cda=synthetic_cda(ins=False), report=mapped(qualified=False))[0])
    assert parsed["X-MSS-INS"] == "N"


def test_optional_headers_follow_the_settings() -> None:
    settings = message_settings(sender="labo@labo.test", request_mdn=False, reply_to="secretariat@labo.test")
    parsed = reparse(make(settings=settings)[0])
    assert parsed["Disposition-Notification-To"] is None
    assert parsed["X-MSS-NIL"] is None
    assert parsed["Reply-To"] == "secretariat@labo.test"


def test_subject_without_full_birth_date() -> None:
    parsed = reparse(make(cda=synthetic_cda(birth="1980"))[0])
    assert parsed["Subject"] == "XDM/1.0/DDM+CR d'examens biologiques TEST-NOM Éloïse"


def test_rebuilt_e_mail_is_byte_identical() -> None:
    assert make()[0].as_bytes() == make()[0].as_bytes()


@pytest.mark.parametrize("name", ["../etc/passwd.pdf", "report.exe", "a\r\nBcc: x@y.z.pdf", ""])
def test_bad_pdf_names_are_refused(name: str) -> None:
    with pytest.raises(PermanentError, match="rpt-0002"):
        make(pdf_name=name)


def test_header_injection_in_addresses_is_refused() -> None:
    with pytest.raises(PermanentError, match="rpt-0002: sender is not an e-mail address"):
        make(settings=message_settings(sender="labo@labo.test\r\nBcc: spy@evil.test"))


def test_a_bad_address_is_named_each_time_not_only_the_first() -> None:
    # The folded address lines are cached: a refusal must not be cached away.
    bad = Recipient(address="not an address", kind="copy")
    for _ in range(2):
        with pytest.raises(PermanentError, match="rpt-0002: recipient 2 is not an e-mail address"):
            make(recipients=(DOCTOR, bad))


def test_no_recipient_is_refused() -> None:
    with pytest.raises(PermanentError):
        make(recipients=())


def test_zip_for_another_document_is_refused() -> None:
    other_ids = DocumentIdentity(
        document_id_root=DOC_ROOT, document_id_extension="D9", set_id_root=DOC_ROOT + ".9", set_id_extension="S1"
    )
    xdm = build_xdm(
        synthetic_cda(), mapped=mapped(), lab=LAB, ids=IDS, recipients=(DOCTOR,), submission_time="20260105093000+0100"
    )
    with pytest.raises(CdaBuildError):
        build_email(
            mapped=mapped(),
            lab=LAB,
            ids=other_ids,
            xdm=xdm,
            pdf=b"%PDF",
            pdf_name="a.pdf",
            recipients=(DOCTOR,),
            message_id="<a@b.test>",
            settings=SETTINGS,
            date=DATE,
        )
    with pytest.raises(CdaBuildError):
        build_email(
            mapped=mapped(),
            lab=LAB,
            ids=IDS,
            xdm=b"not a zip",
            pdf=b"%PDF",
            pdf_name="a.pdf",
            recipients=(DOCTOR,),
            message_id="<a@b.test>",
            settings=SETTINGS,
            date=DATE,
        )


# ---------------------------------------------------------------------------- ids


def test_message_id_is_stable_per_version_and_recipient_set() -> None:
    a = message_id_for(IDS, (DOCTOR, PATIENT), domain="labo.test")
    assert a == message_id_for(IDS, (PATIENT, DOCTOR), domain="labo.test")  # order does not matter
    assert a != message_id_for(IDS, (DOCTOR,), domain="labo.test")
    v2 = DocumentIdentity(
        document_id_root=DOC_ROOT,
        document_id_extension="D2",
        set_id_root=DOC_ROOT + ".9",
        set_id_extension="S1",
        version=2,
        replaces=(DOC_ROOT, "D1"),
    )
    assert a != message_id_for(v2, (DOCTOR, PATIENT), domain="labo.test")
    assert re.fullmatch(r"<[0-9a-f]{40}\.v1@labo\.test>", a)
    assert "299999999999999" not in a


def test_message_id_rejects_a_bad_domain() -> None:
    with pytest.raises(ValueError):
        message_id_for(IDS, (DOCTOR,), domain="bad domain>\r\n")


def test_envid_is_hex_bounded_and_derived() -> None:
    mid = message_id_for(IDS, (DOCTOR,), domain="labo.test")
    envid = envid_for(mid)
    assert envid == envid_for(mid) and envid != envid_for(message_id_for(IDS, (PATIENT,), domain="labo.test"))
    assert re.fullmatch(r"[0-9a-f]{1,100}", envid)
