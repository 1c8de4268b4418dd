"""Smoke test of the operator simulator itself: mTLS submission, delivery, success DSN and bounce."""

import smtplib
import ssl
import uuid

import pytest

pytestmark = pytest.mark.simulator


def _context(sim, cert, key):
    ctx = ssl.create_default_context(cafile=str(sim.pki.ca))
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


def test_submission_delivers_and_reports(operator_sim):
    sim = operator_sim
    envid = uuid.uuid4().hex
    msg = f"From: {sim.lab_mailbox}\r\nTo: dr.x@hopital.test\r\nSubject: sim {envid}\r\n\r\nsynthetic\r\n"
    with smtplib.SMTP(sim.smtp_host, sim.submission_port, timeout=10) as smtp:
        smtp.starttls(context=_context(sim, sim.pki.client_cert, sim.pki.client_key))
        smtp.ehlo()
        refused = smtp.sendmail(sim.lab_mailbox, ["dr.x@hopital.test", "inconnu@hopital.test"], msg,
                                mail_options=["RET=HDRS", f"ENVID={envid}"],
                                rcpt_options=["NOTIFY=SUCCESS,FAILURE"])
    assert refused == {}
    assert sim.wait_for_messages("dr.x@hopital.test", 1, match=lambda m: envid.encode() in m)
    dsns = sim.wait_for_messages(sim.lab_mailbox, 2, match=lambda m: envid.encode() in m)
    assert all(b"delivery-status" in m for m in dsns)


def test_plain_submission_without_client_cert_is_refused(operator_sim):
    sim = operator_sim
    ctx = ssl.create_default_context(cafile=str(sim.pki.ca))
    with smtplib.SMTP(sim.smtp_host, sim.submission_port, timeout=10) as smtp:
        smtp.starttls(context=ctx)
        code, _ = smtp.ehlo()
    assert code == 421
