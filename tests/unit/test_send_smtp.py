"""SMTP submission error mapping against real servers on loopback (aiosmtpd + trustme, raw asyncio)."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from aiosmtpd.controller import Controller

from connector.errors import SmtpRejected, SmtpTemporaryError
from connector.send import (
    SmtpClient,
    SmtpSettings,
    create_ssl_context,
    submit,
)
from connector.send.smtp import redact, xtext
from tests.support.settings import smtp_settings, tls_settings

MESSAGE = b"From: labo@labo.test\r\nTo: dr.x@hopital.test\r\nSubject: synthetic\r\n\r\nbody\r\n"
SENDER = "labo@labo.test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Handler:
    """Per-test decisions: RCPT replies by address, DATA reply, delay, or a drop after DATA."""

    def __init__(self) -> None:
        self.rcpt_replies: dict[str, str] = {}
        self.data_reply = "250 2.0.0 Ok: queued as TEST1"
        self.data_delay = 0.0
        self.drop_after_data = False
        self.received: list[tuple[str, list[str], bytes]] = []
        self.sessions = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        self.sessions += 1
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.rcpt_replies.get(address, "250 2.1.5 Ok")
        if reply.startswith("250"):
            envelope.rcpt_tos.append(address)
        return reply

    async def handle_DATA(self, server, session, envelope):
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        if self.drop_after_data:
            server.transport.abort()
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return self.data_reply


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def pki(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("pki")
    ca.cert_pem.write_to_path(str(d / "ca.pem"))
    ca.issue_cert("lab@labo.test").private_key_and_cert_chain_pem.write_to_path(str(d / "client.pem"))
    other = trustme.CA()
    other.cert_pem.write_to_path(str(d / "other-ca.pem"))
    return {"ca": d / "ca.pem", "client": d / "client.pem", "other_ca": d / "other-ca.pem"}


def _server_context(ca: trustme.CA, *, require_client_cert: bool = False) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    if require_client_cert:
        ca.configure_trust(ctx)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


@pytest.fixture
def handler() -> Handler:
    return Handler()


def _start(handler: Handler, ctx: ssl.SSLContext) -> Controller:
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port(), tls_context=ctx, require_starttls=True)
    controller.start()
    return controller


@pytest.fixture
def server(handler: Handler, ca: trustme.CA) -> Iterator[Controller]:
    controller = _start(handler, _server_context(ca, require_client_cert=True))
    yield controller
    controller.stop()


def _settings(port: int, pki: dict[str, Path], **kw: object) -> SmtpSettings:
    tls = tls_settings(cafile=pki["ca"], certfile=pki["client"])
    return smtp_settings(host="127.0.0.1", port=port, tls=tls, timeout=kw.pop("timeout", 5.0), **kw)  # type: ignore[arg-type]


async def _send(settings: SmtpSettings, recipients: list[str], *, context: ssl.SSLContext | None = None):
    ctx = context or create_ssl_context(settings.tls, production=False)
    return await submit(MESSAGE, sender=SENDER, recipients=recipients, envid="e1", settings=settings, context=ctx)


async def test_accepted_with_client_certificate(server: Controller, handler: Handler, pki: dict[str, Path]) -> None:
    result = await _send(_settings(server.port, pki), ["dr.x@hopital.test", "dr.y@cabinet.test"])
    assert result.accepted == ("dr.x@hopital.test", "dr.y@cabinet.test")
    assert result.refused == {}
    assert "queued as TEST1" in result.reply
    assert handler.received[0][1] == ["dr.x@hopital.test", "dr.y@cabinet.test"]


async def test_some_recipients_refused_others_accepted(
    server: Controller, handler: Handler, pki: dict[str, Path]
) -> None:
    handler.rcpt_replies = {"full@hopital.test": "452 4.2.2 Mailbox full", "gone@hopital.test": "550 5.1.1 Unknown"}
    result = await _send(_settings(server.port, pki), ["dr.x@hopital.test", "full@hopital.test", "gone@hopital.test"])
    assert result.accepted == ("dr.x@hopital.test",)
    assert result.refused == {
        "full@hopital.test": (452, "4.2.2 Mailbox full"), "gone@hopital.test": (550, "5.1.1 Unknown")
    }


async def test_all_recipients_refused_permanently(server: Controller, handler: Handler, pki: dict[str, Path]) -> None:
    handler.rcpt_replies = {"a@h.test": "550 5.1.1 Unknown", "b@h.test": "553 5.1.3 Bad"}
    with pytest.raises(SmtpRejected) as err:
        await _send(_settings(server.port, pki), ["a@h.test", "b@h.test"])
    assert err.value.code == 553


async def test_all_refused_with_one_temporary_is_retried(
    server: Controller, handler: Handler, pki: dict[str, Path]
) -> None:
    handler.rcpt_replies = {"a@h.test": "550 5.1.1 Unknown", "b@h.test": "451 4.3.0 Try later"}
    with pytest.raises(SmtpTemporaryError) as err:
        await _send(_settings(server.port, pki), ["a@h.test", "b@h.test"])
    assert err.value.code == 451


async def test_554_at_data_is_rejected(server: Controller, handler: Handler, pki: dict[str, Path]) -> None:
    handler.data_reply = "554 5.6.0 Message content rejected"
    with pytest.raises(SmtpRejected) as err:
        await _send(_settings(server.port, pki), ["dr.x@hopital.test"])
    assert err.value.code == 554 and "DATA" in str(err.value)


async def test_disconnect_after_data_is_temporary(server: Controller, handler: Handler, pki: dict[str, Path]) -> None:
    handler.drop_after_data = True
    with pytest.raises(SmtpTemporaryError) as err:
        await _send(_settings(server.port, pki), ["dr.x@hopital.test"])
    assert "may have queued" in str(err.value)


async def test_slow_server_past_timeout_is_temporary(
    server: Controller, handler: Handler, pki: dict[str, Path]
) -> None:
    handler.data_delay = 2.0
    with pytest.raises(SmtpTemporaryError):
        await _send(_settings(server.port, pki, timeout=0.5), ["dr.x@hopital.test"])


async def test_missing_client_certificate_is_temporary(server: Controller, pki: dict[str, Path]) -> None:
    settings = _settings(server.port, pki)
    no_cert = create_ssl_context(tls_settings(cafile=pki["ca"]), production=False)
    with pytest.raises(SmtpTemporaryError):
        await _send(settings, ["dr.x@hopital.test"], context=no_cert)


async def test_unknown_server_ca_is_refused(server: Controller, pki: dict[str, Path]) -> None:
    settings = _settings(server.port, pki)
    other = create_ssl_context(tls_settings(cafile=pki["other_ca"], certfile=pki["client"]), production=False)
    with pytest.raises(SmtpTemporaryError) as err:
        await _send(settings, ["dr.x@hopital.test"], context=other)
    assert "certificate" in str(err.value)


async def test_wrong_server_name_is_refused(server: Controller, pki: dict[str, Path]) -> None:
    tls = tls_settings(cafile=pki["ca"], certfile=pki["client"])
    settings = smtp_settings(host="127.0.0.1", port=server.port, tls=tls, timeout=5, server_hostname="mail.other.test")
    with pytest.raises(SmtpTemporaryError) as err:
        await _send(settings, ["dr.x@hopital.test"])
    assert "certificate" in str(err.value)


async def test_421_at_connect_is_temporary(pki: dict[str, Path]) -> None:
    async def busy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"421 4.3.2 Service not available, closing channel\r\n")
        await writer.drain()
        writer.close()

    srv = await asyncio.start_server(busy, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    async with srv:
        with pytest.raises(SmtpTemporaryError) as err:
            await _send(_settings(port, pki), ["dr.x@hopital.test"])
    assert err.value.code == 421


async def test_connection_refused_is_temporary(pki: dict[str, Path]) -> None:
    with pytest.raises(SmtpTemporaryError):
        await _send(_settings(_free_port(), pki), ["dr.x@hopital.test"])


async def test_client_reuses_its_session_and_recovers_after_a_drop(
    server: Controller, handler: Handler, pki: dict[str, Path]
) -> None:
    settings = _settings(server.port, pki)
    ctx = create_ssl_context(settings.tls, production=False)
    async with SmtpClient(settings, ctx) as client:
        for i in range(3):
            await client.submit(MESSAGE, sender=SENDER, recipients=["dr.x@hopital.test"], envid=f"e{i}")
        assert handler.sessions == 2  # EHLO before and after STARTTLS, one connection
        client._smtp.close()  # type: ignore[union-attr]  # the operator dropped the idle session
        await client.submit(MESSAGE, sender=SENDER, recipients=["dr.x@hopital.test"], envid="e4")
    assert len(handler.received) == 4


async def test_envelope_injection_is_refused(server: Controller, pki: dict[str, Path]) -> None:
    with pytest.raises(ValueError):
        await _send(_settings(server.port, pki), ["dr.x@hopital.test\r\nRCPT TO:<x@evil.test>"])


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
    controller = _start(Handler(), ctx)
    try:
        tls = tls_settings(
            cafile=tmp_path / "ca.crt", certfile=tmp_path / "client.crt", keyfile=tmp_path / "client.key"
        )
        settings = smtp_settings(host="127.0.0.1", port=controller.port, tls=tls, timeout=5)
        with pytest.raises(SmtpTemporaryError, match="expired"):
            await _send(settings, ["dr.x@hopital.test"])
    finally:
        controller.stop()


async def test_patient_identifiers_never_in_errors_or_results(
    server: Controller, handler: Handler, pki: dict[str, Path]
) -> None:
    patient = "199990000000042@patient.mssante.fr"  # synthetic INS
    handler.rcpt_replies = {patient: f"550 5.1.1 <{patient}>: Recipient address rejected"}
    result = await _send(_settings(server.port, pki), ["dr.x@hopital.test", patient])
    assert "199990000000042" not in result.refused[patient][1]
    handler.rcpt_replies = {patient: f"452 4.2.2 <{patient}>: over quota"}
    with pytest.raises(SmtpTemporaryError) as err:
        await _send(_settings(server.port, pki), [patient])
    assert "199990000000042" not in str(err.value)


async def test_sasl_after_starttls(ca: trustme.CA, pki: dict[str, Path]) -> None:
    from aiosmtpd.smtp import AuthResult

    seen: list[str] = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        seen.append(mechanism)
        return AuthResult(success=auth_data.password == b"s3cret", handled=False)  # False: aiosmtpd answers 535

    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port(), tls_context=_server_context(ca),
                            require_starttls=True, authenticator=authenticator, auth_require_tls=True)
    controller.start()
    try:
        ok = _settings(controller.port, pki, username="labo@labo.test", password="s3cret")
        assert (await _send(ok, ["dr.x@hopital.test"])).accepted == ("dr.x@hopital.test",)
        bad = _settings(controller.port, pki, username="labo@labo.test", password="wrong")
        with pytest.raises(SmtpRejected) as err:
            await _send(bad, ["dr.x@hopital.test"])
        assert "AUTH" in str(err.value) and "wrong" not in str(err.value)
    finally:
        controller.stop()
    assert seen
