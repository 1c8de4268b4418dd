"""An in-process MSSanté-like SMTP server for `connector demo` and unit tests.

aiosmtpd on loopback with STARTTLS required, a throwaway CA made at start (trustme),
and a client certificate required after STARTTLS, like an MSSanté operator's
submission port. Accepted messages stay in memory; for each accepted recipient the
server also writes the success DSN an operator would return, so the demo can show
acknowledgement tracking without an IMAP server.
"""

from __future__ import annotations

import ssl
import tempfile
import uuid
from dataclasses import dataclass, field
from email.utils import make_msgid
from pathlib import Path

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

__all__ = ["DemoSmtpServer", "Received"]


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes
    mail_options: list[str] = field(default_factory=list)


# DSN parameters (RFC 3461) that aiosmtpd does not know: taken off the command, kept on the envelope.
_DSN_PARAMS = ("RET=", "ENVID=", "NOTIFY=", "ORCPT=")


class _DsnSMTP(SMTP):
    """aiosmtpd with the DSN extension's parameters accepted, as an MSSanté operator does."""

    def _strip(self, arg: str, kept: list[str]) -> str:
        words = arg.split(" ")
        kept.extend(w for w in words if w.upper().startswith(_DSN_PARAMS))
        return " ".join(w for w in words if not w.upper().startswith(_DSN_PARAMS))

    async def smtp_MAIL(self, arg: str) -> None:
        kept: list[str] = []
        arg = self._strip(arg or "", kept)
        await super().smtp_MAIL(arg)
        assert self.envelope is not None  # set when the connection is made, as aiosmtpd itself asserts
        if self.envelope.mail_from is not None:
            self.envelope.mail_options.extend(kept)

    async def smtp_RCPT(self, arg: str) -> None:
        kept: list[str] = []
        arg = self._strip(arg or "", kept)
        await super().smtp_RCPT(arg)
        assert self.envelope is not None
        self.envelope.rcpt_options.extend(kept)


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _DsnSMTP(self.handler, **self.SMTP_kwargs)


class _Handler:
    def __init__(self, server: DemoSmtpServer) -> None:
        self.server = server

    async def handle_EHLO(self, smtp: SMTP, session: Session, envelope: Envelope, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        return [*responses[:-1], "250-DSN", responses[-1]]

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        if session.ssl is None:
            return "530 5.7.0 Must issue a STARTTLS command first"
        assert smtp.transport is not None  # a DATA command arrives on an open connection
        if not smtp.transport.get_extra_info("peercert"):
            return "554 5.7.1 No client certificate presented"
        data = envelope.original_content or b""
        received = Received(envelope.mail_from or "", list(envelope.rcpt_tos), data,
                            list(envelope.mail_options))
        self.server.messages.append(received)
        self.server.dsns.extend(_success_dsn(received, r) for r in received.recipients)
        return f"250 2.0.0 Ok: queued as DEMO{len(self.server.messages):04d}"


class DemoSmtpServer:
    """``with DemoSmtpServer() as server:`` → ``server.port``, ``server.client_context()``."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.ca = trustme.CA()
        self._server_cert = self.ca.issue_cert("localhost", "127.0.0.1")
        self._client_cert = self.ca.issue_cert("labo@labo.test")
        self._tmp = tempfile.TemporaryDirectory(prefix="connector-demo-pki-")
        self.pki = Path(self._tmp.name)
        self.ca.cert_pem.write_to_path(str(self.pki / "ca.crt"))
        self._client_cert.private_key_and_cert_chain_pem.write_to_path(str(self.pki / "client.pem"))
        self.messages: list[Received] = []
        self.dsns: list[bytes] = []
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        self._server_cert.configure_cert(server_ctx)
        self.ca.configure_trust(server_ctx)
        # Asked, and checked per message in handle_DATA (aiosmtpd warns on CERT_REQUIRED).
        server_ctx.verify_mode = ssl.CERT_OPTIONAL
        self._controller = _Controller(
            _Handler(self), hostname=host, port=port or _free_port(host),
            tls_context=server_ctx, require_starttls=True, server_hostname="localhost",
        )

    @property
    def host(self) -> str:
        return str(self._controller.hostname)

    @property
    def port(self) -> int:
        return int(self._controller.port)

    @property
    def cafile(self) -> Path:
        return self.pki / "ca.crt"

    @property
    def client_pem(self) -> Path:
        return self.pki / "client.pem"

    def client_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.cafile))
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(str(self.client_pem))
        return ctx

    def __enter__(self) -> DemoSmtpServer:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()
        self._tmp.cleanup()


def _free_port(host: str) -> int:
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _success_dsn(received: Received, recipient: str) -> bytes:
    """The RFC 3464 success report an operator returns for NOTIFY=SUCCESS (the shape Postfix writes)."""
    envid = next((o.split("=", 1)[1] for o in received.mail_options if o.upper().startswith("ENVID=")), "")
    boundary = "demo-dsn-" + uuid.uuid4().hex
    return "\r\n".join([
        "From: MAILER-DAEMON@demo.invalid",
        f"To: {received.sender}",
        "Subject: Successful Mail Delivery Report",
        f"Message-ID: {make_msgid(domain='demo.invalid')}",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type="delivery-status"; boundary="{boundary}"',
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        "Your message was successfully delivered to the destination(s) listed below.",
        f"--{boundary}",
        "Content-Type: message/delivery-status",
        "",
        "Reporting-MTA: dns; demo.invalid",
        f"Original-Envelope-Id: {envid}",
        "",
        f"Final-Recipient: rfc822; {recipient}",
        f"Original-Recipient: rfc822;{recipient}",
        "Action: delivered",
        "Status: 2.0.0",
        "Diagnostic-Code: smtp; 250 2.0.0 Ok",
        "",
        f"--{boundary}--",
        "",
    ]).encode()
