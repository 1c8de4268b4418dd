"""Submission to a real Postfix operator (tests/simulator): mTLS, DSN parameters, refusals, TLS failures."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import uuid

import pytest

from connector.errors import SmtpRejected, SmtpTemporaryError
from connector.send import (
    SmtpClient,
    SmtpSettings,
    create_ssl_context,
    submit,
)
from tests.support.proxy import TcpProxy
from tests.support.settings import smtp_settings, tls_settings

pytestmark = pytest.mark.simulator


def _message(sim, envid: str, to: str = "dr.x@hopital.test") -> bytes:
    return (
        f"From: {sim.lab_mailbox}\r\nTo: {to}\r\nSubject: synthetic {envid}\r\n"
        f"Message-ID: <{envid}@labo.test>\r\n\r\nsynthetic body\r\n"
    ).encode()


def _settings(sim, *, cert=None, key=None, cafile=None, **kw) -> SmtpSettings:
    tls = tls_settings(cafile=cafile or sim.pki.ca, certfile=cert or sim.pki.client_cert,
                      keyfile=key or sim.pki.client_key)
    return smtp_settings(host=sim.smtp_host, port=sim.submission_port, tls=tls, timeout=10, **kw)


async def _submit(sim, settings: SmtpSettings, recipients: list[str], envid: str | None = None):
    envid = envid or uuid.uuid4().hex
    ctx = create_ssl_context(settings.tls, production=False)
    return await submit(_message(sim, envid), sender=sim.lab_mailbox, recipients=recipients, envid=envid,
                        settings=settings, context=ctx)


def _dsn_recipients(raw: bytes) -> tuple[str, dict[str, str]]:
    """(Original-Envelope-Id, {Original-Recipient or Final-Recipient: Action}) of one DSN."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    status = next(p for p in msg.walk() if p.get_content_type() == "message/delivery-status")
    blocks = status.get_payload()
    actions = {}
    for block in blocks[1:]:
        rcpt = str(block.get("Original-Recipient") or block["Final-Recipient"]).split(";", 1)[1].strip()
        actions[rcpt] = str(block["Action"])
    return str(blocks[0]["Original-Envelope-Id"]), actions


async def test_mtls_submission_with_dsn_success_and_bounce(operator_sim) -> None:
    sim = operator_sim
    envid = uuid.uuid4().hex
    result = await _submit(sim, _settings(sim), ["dr.x@hopital.test", "inconnu@hopital.test"], envid)
    assert result.accepted == ("dr.x@hopital.test", "inconnu@hopital.test") and result.refused == {}
    assert "queued as" in result.reply
    await sim.await_messages("dr.x@hopital.test", 1, match=lambda m: envid.encode() in m)
    dsns = await sim.await_messages(sim.lab_mailbox, 2, match=lambda m: f"Original-Envelope-Id: {envid}".encode() in m)
    actions: dict[str, str] = {}
    for raw in dsns:
        echoed, per_rcpt = _dsn_recipients(raw)
        assert echoed == envid
        actions.update(per_rcpt)
    # ORCPT came back as Original-Recipient; LMTP hand-off is reported as "relayed"
    assert actions == {"dr.x@hopital.test": "relayed", "inconnu@hopital.test": "failed"}


async def test_some_recipients_refused_others_accepted(operator_sim) -> None:
    sim = operator_sim
    result = await _submit(sim, _settings(sim), ["closed@hopital.test", "dr.y@cabinet.test", "busy@hopital.test"])
    assert result.accepted == ("dr.y@cabinet.test",)
    assert result.refused["closed@hopital.test"][0] == 550
    assert result.refused["busy@hopital.test"][0] == 450


async def test_all_refused_permanently(operator_sim) -> None:
    with pytest.raises(SmtpRejected) as err:
        await _submit(operator_sim, _settings(operator_sim), ["closed@hopital.test"])
    assert err.value.code == 550


async def test_no_client_certificate_refused(operator_sim) -> None:
    sim = operator_sim
    settings = _settings(sim)
    ctx = create_ssl_context(tls_settings(cafile=sim.pki.ca), production=False)
    with pytest.raises(SmtpTemporaryError) as err:
        await submit(_message(sim, "x"), sender=sim.lab_mailbox, recipients=["dr.x@hopital.test"], envid="x",
                     settings=settings, context=ctx)
    assert err.value.code == 421 and "No client certificate" in str(err.value)


async def test_client_certificate_from_rogue_ca_refused(operator_sim) -> None:
    sim = operator_sim
    with pytest.raises(SmtpTemporaryError) as err:
        await _submit(sim, _settings(sim, cert=sim.pki.rogue_cert, key=sim.pki.rogue_key), ["dr.x@hopital.test"])
    assert err.value.code == 421 and "not trusted" in str(err.value)


async def test_expired_client_certificate_refused(operator_sim) -> None:
    sim = operator_sim
    with pytest.raises(SmtpTemporaryError) as err:
        await _submit(sim, _settings(sim, cert=sim.pki.expired_client_cert, key=sim.pki.expired_client_key),
                      ["dr.x@hopital.test"])
    assert err.value.code == 421


async def test_unregistered_client_certificate_refused(operator_sim) -> None:
    sim = operator_sim
    settings = _settings(sim, cert=sim.pki.unregistered_cert, key=sim.pki.unregistered_key)
    with pytest.raises(SmtpRejected) as err:
        await _submit(sim, settings, ["dr.x@hopital.test"])
    assert err.value.code == 554


async def test_server_from_unknown_ca_refused(operator_sim) -> None:
    sim = operator_sim
    with pytest.raises(SmtpTemporaryError, match="server certificate refused"):
        await _submit(sim, _settings(sim, cafile=sim.pki.rogue_ca), ["dr.x@hopital.test"])


async def test_wrong_server_name_refused(operator_sim) -> None:
    sim = operator_sim
    with pytest.raises(SmtpTemporaryError, match="Hostname mismatch"):
        await _submit(sim, _settings(sim, server_hostname="mail.other-operator.test"), ["dr.x@hopital.test"])


async def test_server_name_in_certificate_accepted(operator_sim) -> None:
    sim = operator_sim
    result = await _submit(sim, _settings(sim, server_hostname=sim.server_name), ["dr.y@cabinet.test"])
    assert result.accepted == ("dr.y@cabinet.test",)


async def test_client_reuses_one_session(operator_sim) -> None:
    """Five messages through a counting proxy in front of Postfix: one TCP connection carried them all."""
    sim = operator_sim
    tag = uuid.uuid4().hex
    with TcpProxy((sim.smtp_host, sim.submission_port)) as proxy:
        settings = dataclasses.replace(_settings(sim), port=proxy.port)
        async with SmtpClient(settings, create_ssl_context(settings.tls, production=False)) as client:
            for i in range(5):
                envid = f"{tag}{i}"
                await client.submit(_message(sim, envid, "dr.y@cabinet.test"), sender=sim.lab_mailbox,
                                    recipients=["dr.y@cabinet.test"], envid=envid)
    assert proxy.connections == 1, f"{proxy.connections} SMTP sessions for 5 messages"
    delivered = await sim.await_messages("dr.y@cabinet.test", 5, match=lambda m: tag.encode() in m)
    assert len(delivered) == 5
