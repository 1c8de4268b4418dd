"""DSN / MDN / KO-mail parsing on the samples in tests/data/mail, and hostile mail."""

from __future__ import annotations

import base64
import io
import time
import zipfile
from dataclasses import fields
from pathlib import Path

import pytest

from connector.states import RecipientState
from connector.track import MAX_MAIL_BYTES, Ack, parse_acks, read_ack_mail

MAIL = Path(__file__).resolve().parents[1] / "data" / "mail"
# Synthetic patient traits written into the samples' subjects and bodies: must never come out.
CANARIES = ("CANARI", "01/02/1990")


def load(name: str) -> bytes:
    return (MAIL / name).read_bytes()


def assert_no_patient_data(acks: tuple[Ack, ...]) -> None:
    for ack in acks:
        for f in fields(ack):
            value = str(getattr(ack, f.name))
            assert not any(c.lower() in value.lower() for c in CANARIES), f.name


@pytest.mark.parametrize(
    ("name", "state", "status", "code"),
    [
        ("dsn_success_relayed.eml", RecipientState.DELIVERED, "2.0.0", ""),
        ("dsn_success_delivered.eml", RecipientState.DELIVERED, "2.0.0", ""),
        ("dsn_bounce_5.1.1.eml", RecipientState.FAILED, "5.1.1", "550"),
        ("dsn_delayed.eml", RecipientState.DELAYED, "4.4.1", "450"),
    ],
)
def test_dsn_forms(name: str, state: RecipientState, status: str, code: str) -> None:
    (ack,) = parse_acks(load(name))
    assert ack.kind == "dsn"
    assert ack.state is state
    assert ack.status == status
    assert ack.error_code == code
    assert ack.envid in ("7d1c2b9e4f0a4c1e8a55b2e3d4c5f601", "0a9b8c7d6e5f40312233445566778899")
    assert ack.original_message_id.startswith("<rep-000")  # from the returned headers (RET=HDRS)
    assert_no_patient_data((ack,))


def test_bounce_correlation_and_scrubbed_diagnostic() -> None:
    (ack,) = parse_acks(load("dsn_bounce_5.1.1.eml"))
    assert ack.recipient == "inconnu@hopital.test"
    assert ack.envid == "7d1c2b9e4f0a4c1e8a55b2e3d4c5f601"
    assert ack.original_message_id == "<rep-0001.1@labo.test>"
    # a recipient address may be a patient's INS mailbox: removed from the diagnostic, folded lines joined
    assert ack.diagnostic == "smtp; 550 5.1.1 <address> User doesn't exist: <address>"


def test_dsn_with_several_recipients_gives_one_ack_each() -> None:
    raw = load("dsn_bounce_5.1.1.eml").replace(
        b"Diagnostic-Code: smtp; 550 5.1.1",
        b"Diagnostic-Code: X-Postfix; unknown user\n\nFinal-Recipient: rfc822; dr.y@cabinet.test\n"
        b"Action: failed\nStatus: 5.2.2\nDiagnostic-Code: smtp; 552 5.2.2",
        1,
    )
    acks = parse_acks(raw)
    assert [(a.recipient, a.error_code) for a in acks] == [
        ("inconnu@hopital.test", "550"), ("dr.y@cabinet.test", "552")
    ]


@pytest.mark.parametrize(
    ("name", "state", "status", "code"),
    [
        ("mdn_processed.eml", RecipientState.PROCESSED, "processed", ""),
        ("mdn_displayed.eml", RecipientState.DISPLAYED, "displayed", ""),
        ("mdn_error_old_form.eml", RecipientState.ERROR, "processed/error", "902"),
        ("mdn_error_new_form.eml", RecipientState.ERROR, "processed/error", "904"),
    ],
)
def test_mdn_forms(name: str, state: RecipientState, status: str, code: str) -> None:
    (ack,) = parse_acks(load(name))
    assert (ack.kind, ack.state, ack.status, ack.error_code) == ("mdn", state, status, code)
    assert ack.recipient == "dr.x@hopital.test"
    assert ack.original_message_id == "<rep-0001.1@labo.test>"
    assert_no_patient_data((ack,))


def test_mdn_error_label_comes_from_our_table() -> None:
    (ack,) = parse_acks(load("mdn_error_old_form.eml"))
    assert ack.diagnostic == "Identifiant patient inconnu"


def test_mdn_original_message_id_with_stray_space() -> None:
    raw = load("mdn_processed.eml").replace(b"Original-Message-ID: <rep-0001.1@labo.test>",
                                            b"Original-Message-ID: <rep-0001.1@labo.test >")
    (ack,) = parse_acks(raw)
    assert ack.original_message_id == "<rep-0001.1@labo.test>"


def test_mdn_error_without_code_falls_back_to_subject_then_906() -> None:
    raw = load("mdn_error_new_form.eml").replace(b"Error: 904^", b"X-Note: ")
    assert parse_acks(raw)[0].error_code == "904"  # from the [KO …][904] subject
    raw = raw.replace(b"][904]", b"]")
    assert parse_acks(raw)[0].error_code == "906"


def test_mdn_deleted_is_left_for_a_person() -> None:
    raw = load("mdn_displayed.eml").replace(b"; displayed", b"; deleted")
    outcome = read_ack_mail(raw)
    assert outcome.acks == ()
    assert "Disposition" in outcome.reason


def test_ko_mail_standard() -> None:
    (ack,) = parse_acks(load("ko_mail_standard.eml"))
    assert (ack.kind, ack.state, ack.error_code) == ("ko-mail", RecipientState.ERROR, "902")
    assert ack.original_message_id == "<rep-0001.1@labo.test>"
    assert ack.recipient == "servicey_auto@hopital.test"
    assert_no_patient_data((ack,))


def test_ko_mail_ig_example_subject_form() -> None:
    raw = load("ko_mail_standard.eml").replace(
        b"=?UTF-8?Q?[KO_Int=C3=A9gration_syst=C3=A8me_!][902]", b"=?UTF-8?Q?[Erreur_d=E2=80=99int=C3=A9gration_!][903]")
    assert parse_acks(raw)[0].error_code == "903"


def test_plain_reply_is_no_ack() -> None:
    outcome = read_ack_mail(load("plain_reply.eml"))
    assert outcome.acks == ()
    assert outcome.reason == "not an acknowledgement"


# ---------------------------------------------------------------------------- hostile mail


def _report_with_part(part: bytes) -> bytes:
    return load("mdn_processed.eml").replace(b"--RAA14128.773615765--", part + b"\n--RAA14128.773615765--")


def test_xxe_and_billion_laughs_parts_are_never_parsed() -> None:
    lol = (b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
           + b"".join(b'<!ENTITY lol%d "&lol%d;&lol%d;&lol%d;&lol%d;">' % (i, i - 1, i - 1, i - 1, i - 1)
                      for i in range(1, 10)).replace(b"&lol0;", b"&lol;")
           + b']>\n<lolz>&lol9;</lolz>')
    xxe = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    raw = _report_with_part(b"--RAA14128.773615765\nContent-Type: text/xml\n\n" + lol
                            + b"\n--RAA14128.773615765\nContent-Type: application/xml\n\n" + xxe)
    start = time.perf_counter()
    (ack,) = parse_acks(raw)
    assert time.perf_counter() - start < 1.0
    assert ack.state is RecipientState.PROCESSED
    assert "root:" not in repr(ack) and "lollol" not in repr(ack)


def test_deeply_nested_multipart_is_refused() -> None:
    depth = 50
    head = b"".join(b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (i, i) for i in range(depth))
    tail = b"".join(b"\n--b%d--\n" % i for i in reversed(range(depth)))
    raw = b"From: x@y.test\nSubject: hi\nMIME-Version: 1.0\n" + head + b"Content-Type: text/plain\n\nx" + tail
    outcome = read_ack_mail(raw)
    assert outcome.acks == ()
    assert "nesting" in outcome.reason


def test_too_many_parts_are_refused() -> None:
    parts = b"".join(b"--m\nContent-Type: text/plain\n\nx\n" for _ in range(200))
    raw = b"From: x@y.test\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=m\n\n" + parts + b"--m--\n"
    assert "MIME parts" in read_ack_mail(raw).reason


def test_huge_mail_is_refused_before_parsing() -> None:
    raw = load("mdn_processed.eml") + b"x" * MAX_MAIL_BYTES
    outcome = read_ack_mail(raw)
    assert outcome.acks == () and "larger than" in outcome.reason


def test_zip_bomb_attachment_is_never_opened() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("IHE_XDM/SUBSET01/DOC0001.XML", b"\0" * (50 * 1024 * 1024))  # 50 MB → ~50 KB
    payload = base64.encodebytes(buf.getvalue())
    raw = _report_with_part(b'--RAA14128.773615765\nContent-Type: application/zip; name="IHE_XDM.ZIP"\n'
                            b"Content-Transfer-Encoding: base64\n\n" + payload)
    start = time.perf_counter()
    (ack,) = parse_acks(raw)
    assert time.perf_counter() - start < 1.0
    assert ack.state is RecipientState.PROCESSED


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff" * 100,
        (b"Content-Type: multipart/report; report-type=delivery-status; boundary=z\n\n--z\n"
         b"Content-Type: message/delivery-status\n\nReporting-MTA: dns; x\n--z--"),
        (b"Content-Type: multipart/report; report-type=disposition-notification; boundary=z\n\n--z\n"
         b"Content-Type: message/disposition-notification\n\nDisposition: \n--z--"),
        b"Subject: =?utf-8?b?!!!?=\n\nbody",
        b"Content-Type: multipart/report; report-type=\x00; boundary=\n\n",
    ],
)
def test_broken_mail_never_raises(raw: bytes) -> None:
    assert parse_acks(raw) == ()


def test_base64_encoded_disposition_part_is_read() -> None:
    fields = (b"Final-Recipient: rfc822; dr.x@hopital.test\r\nOriginal-Message-ID: <rep-0001.1@labo.test>\r\n"
              b"Disposition: automatic-action/MDN-sent-automatically; processed\r\n")
    raw = (b'From: dr.x@hopital.test\nMIME-Version: 1.0\nContent-Type: multipart/report; '
           b'report-type=disposition-notification; boundary="r"\n\n--r\nContent-Type: text/plain\n\nok\n'
           b"--r\nContent-Type: message/disposition-notification\nContent-Transfer-Encoding: base64\n\n"
           + base64.encodebytes(fields) + b"\n--r--\n")
    (ack,) = parse_acks(raw)
    assert (ack.state, ack.original_message_id) == (RecipientState.PROCESSED, "<rep-0001.1@labo.test>")
