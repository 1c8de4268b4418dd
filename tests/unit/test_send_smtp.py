"""SMTP submission error mapping against real servers on loopback (aiosmtpd + trustme, raw asyncio)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from connector.errors import SmtpRejected, SmtpTemporaryError
from connector.send import (
    SmtpClient,
    SmtpSettings,
    create_ssl_context,
    submit,
)
from connector.send.smtp import redact, xtext
from tests.support.ports import free_port
from tests.support.settings import smtp_settings, tls_settings
from tests.support.smtp import ClientPki, Fault, SmtpServer

MESSAGE = b"From: labo@labo.test\r\nTo: dr.x@hopital.test\r\nSubject: synthetic\r\n\r\nbody\r\n"
SENDER = "labo@labo.test"


def _settings(server: SmtpServer, **kw: object) -> SmtpSettings:
    return _settings_for(server.port, server.pki, **kw)


def _settings_for(port: int, pki: ClientPki, **kw: object) -> SmtpSettings:
    tls = tls_settings(cafile=pki.ca, certfile=pki.client)
    return smtp_settings(host="127.0.0.1", port=port, tls=tls, timeout=kw.pop("timeout", 5.0), **kw)  # type: ignore[arg-type]


async def _send(settings: SmtpSettings, recipients: list[str], *, context: ssl.SSLContext | None = None):
    ctx = context or create_ssl_context(settings.tls, production=False)
    return await submit(MESSAGE, sender=SENDER, recipients=recipients, envid="e1", settings=settings, context=ctx)


async def test_accepted_with_client_certificate(smtp_server: SmtpServer) -> None:
    result = await _send(_settings(smtp_server), ["dr.x@hopital.test", "dr.y@cabinet.test"])
    assert result.accepted == ("dr.x@hopital.test", "dr.y@cabinet.test")
    assert result.refused == {}
    assert "queued as TEST1" in result.reply
    assert smtp_server.handler.received[0].rcpt_tos == ["dr.x@hopital.test", "dr.y@cabinet.test"]


async def test_some_recipients_refused_others_accepted(smtp_server: SmtpServer) -> None:
    smtp_server.handler.rcpt_replies = {"full@hopital.test": "452 4.2.2 Mailbox full",
                                        "gone@hopital.test": "550 5.1.1 Unknown"}
    result = await _send(_settings(smtp_server), ["dr.x@hopital.test", "full@hopital.test", "gone@hopital.test"])
    assert result.accepted == ("dr.x@hopital.test",)
    assert result.refused == {
        "full@hopital.test": (452, "4.2.2 Mailbox full"), "gone@hopital.test": (550, "5.1.1 Unknown")
    }


async def test_all_recipients_refused_permanently(smtp_server: SmtpServer) -> None:
    smtp_server.handler.rcpt_replies = {"a@h.test": "550 5.1.1 Unknown", "b@h.test": "553 5.1.3 Bad"}
    with pytest.raises(SmtpRejected) as err:
        await _send(_settings(smtp_server), ["a@h.test", "b@h.test"])
    assert err.value.code == 553


async def test_all_refused_with_one_temporary_is_retried(smtp_server: SmtpServer) -> None:
    smtp_server.handler.rcpt_replies = {"a@h.test": "550 5.1.1 Unknown", "b@h.test": "451 4.3.0 Try later"}
    with pytest.raises(SmtpTemporaryError) as err:
        await _send(_settings(smtp_server), ["a@h.test", "b@h.test"])
    assert err.value.code == 451


async def test_554_at_data_is_rejected(smtp_server: SmtpServer) -> None:
    smtp_server.handler.data_reply = "554 5.6.0 Message content rejected"
    with pytest.raises(SmtpRejected) as err:
        await _send(_settings(smtp_server), ["dr.x@hopital.test"])
    assert err.value.code == 554 and "DATA" in str(err.value)


async def test_disconnect_after_data_is_temporary(smtp_server: SmtpServer) -> None:
    smtp_server.handler.drop_after_data = True
    with pytest.raises(SmtpTemporaryError) as err:
        await _send(_settings(smtp_server), ["dr.x@hopital.test"])
    assert "may have queued" in str(err.value)


async def test_slow_server_past_timeout_is_temporary(smtp_server: SmtpServer) -> None:
    smtp_server.handler.data_delay = 2.0
    with pytest.raises(SmtpTemporaryError):
        await _send(_settings(smtp_server, timeout=0.5), ["dr.x@hopital.test"])


async def test_missing_client_certificate_is_temporary(smtp_server: SmtpServer) -> None:
    settings = _settings(smtp_server)
    no_cert = create_ssl_context(tls_settings(cafile=smtp_server.pki.ca), production=False)
    with pytest.raises(SmtpTemporaryError):
        await _send(settings, ["dr.x@hopital.test"], context=no_cert)


async def test_unknown_server_ca_is_refused(smtp_server: SmtpServer) -> None:
    settings = _settings(smtp_server)
    other = create_ssl_context(tls_settings(cafile=smtp_server.pki.other_ca, certfile=smtp_server.pki.client),
                               production=False)
    with pytest.raises(SmtpTemporaryError) as err:
        await _send(settings, ["dr.x@hopital.test"], context=other)
    assert "certificate" in str(err.value)


async def test_wrong_server_name_is_refused(smtp_server: SmtpServer) -> None:
    tls = tls_settings(cafile=smtp_server.pki.ca, certfile=smtp_server.pki.client)
    settings = smtp_settings(host="127.0.0.1", port=smtp_server.port, tls=tls, timeout=5,
                             server_hostname="mail.other.test")
    with pytest.raises(SmtpTemporaryError) as err:
        await _send(settings, ["dr.x@hopital.test"])
    assert "certificate" in str(err.value)


async def test_421_at_connect_is_temporary(smtp_server: SmtpServer) -> None:
    smtp_server.inject(Fault.GREETING_421)
    with pytest.raises(SmtpTemporaryError) as err:
        await _send(_settings(smtp_server), ["dr.x@hopital.test"])
    assert err.value.code == 421


async def test_connection_refused_is_temporary(smtp_server: SmtpServer) -> None:
    with pytest.raises(SmtpTemporaryError):
        await _send(_settings_for(free_port(), smtp_server.pki), ["dr.x@hopital.test"])


async def test_client_reuses_its_session_and_recovers_after_a_drop(smtp_server: SmtpServer) -> None:
    settings = _settings(smtp_server)
    ctx = create_ssl_context(settings.tls, production=False)
    async with SmtpClient(settings, ctx) as client:
        for i in range(3):
            await client.submit(MESSAGE, sender=SENDER, recipients=["dr.x@hopital.test"], envid=f"e{i}")
        assert smtp_server.handler.sessions == 1  # three messages, one TLS session
        client._smtp.close()  # type: ignore[union-attr]  # the operator dropped the idle session
        await client.submit(MESSAGE, sender=SENDER, recipients=["dr.x@hopital.test"], envid="e4")
    assert len(smtp_server.handler.received) == 4
    assert smtp_server.handler.sessions == 2  # one new session after the drop


async def test_envelope_injection_is_refused(smtp_server: SmtpServer) -> None:
    with pytest.raises(ValueError):
        await _send(_settings(smtp_server), ["dr.x@hopital.test\r\nRCPT TO:<x@evil.test>"])


def test_xtext_and_redaction() -> None:
    assert xtext("a+b=c d") == "a+2Bb+3Dc+20d"
    text = redact("550 5.1.1 <279035121518989@patient.mssante.fr>: unknown, NIR 2790351215189")
    assert "279035121518989" not in text and "2790351215189" not in text


async def test_expired_server_certificate_is_refused(tmp_path: Path) -> None:
    """trustme cannot issue expired certificates: use the simulator's PKI generator (cryptography)."""
    from tests.simulator.gen_pki import generate

    generate(tmp_path)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(tmp_path / "expired-server.crt"), str(tmp_path / "expired-server.key"))
    with SmtpServer(tmp_path, tls_context=ctx) as server:
        tls = tls_settings(
            cafile=tmp_path / "ca.crt", certfile=tmp_path / "client.crt", keyfile=tmp_path / "client.key"
        )
        settings = smtp_settings(host="127.0.0.1", port=server.port, tls=tls, timeout=5)
        with pytest.raises(SmtpTemporaryError, match="expired"):
            await _send(settings, ["dr.x@hopital.test"])


async def test_patient_identifiers_never_in_errors_or_results(smtp_server: SmtpServer) -> None:
    patient = "199990000000042@patient.mssante.fr"  # synthetic INS
    smtp_server.handler.rcpt_replies = {patient: f"550 5.1.1 <{patient}>: Recipient address rejected"}
    result = await _send(_settings(smtp_server), ["dr.x@hopital.test", patient])
    assert "199990000000042" not in result.refused[patient][1]
    smtp_server.handler.rcpt_replies = {patient: f"452 4.2.2 <{patient}>: over quota"}
    with pytest.raises(SmtpTemporaryError) as err:
        await _send(_settings(smtp_server), [patient])
    assert "199990000000042" not in str(err.value)


async def test_sasl_after_starttls(tmp_path: Path) -> None:
    from aiosmtpd.smtp import AuthResult

    seen: list[str] = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        seen.append(mechanism)
        return AuthResult(success=auth_data.password == b"s3cret", handled=False)  # False: aiosmtpd answers 535

    with SmtpServer(tmp_path, require_client_cert=False, authenticator=authenticator,
                    auth_require_tls=True) as server:
        ok = _settings(server, username="labo@labo.test", password="s3cret")
        assert (await _send(ok, ["dr.x@hopital.test"])).accepted == ("dr.x@hopital.test",)
        bad = _settings(server, username="labo@labo.test", password="wrong")
        with pytest.raises(SmtpRejected) as err:
            await _send(bad, ["dr.x@hopital.test"])
        assert "AUTH" in str(err.value) and "wrong" not in str(err.value)
    assert seen
