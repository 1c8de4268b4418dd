"""An SMTP server on loopback that fails on demand: aiosmtpd with STARTTLS required, a trustme PKI.

One server for the unit tests of the SMTP client, the fault-injection tests through the service's own
wiring, and the transport benchmark. What it can do, per test and switchable between two attempts so a
test can show recovery:

- per-address RCPT replies (``handler.rcpt_replies``), the reply to DATA (``handler.data_reply``),
  a delay before it (``handler.data_delay``), a cut after DATA before the reply (``handler.drop_after_data``:
  the message is queued, the client never hears 250, the RFC 1047 window), ``421`` to the EHLO after
  STARTTLS (``handler.ehlo_after_tls``), ``421`` at connect (:meth:`SmtpServer.inject`);
- a client certificate required or not, a server certificate from a CA the client does not trust,
  or a TLS context of the caller's own (an expired certificate), SASL with an authenticator;
- what it saw: ``handler.sessions`` (TLS sessions), ``handler.received`` (every message it queued).
"""

from __future__ import annotations

import asyncio
import enum
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pytest
import trustme
from aiosmtpd.controller import Controller

from tests.support.ports import Greeter, free_port

OK_RCPT = "250 2.1.5 Ok"
OK_DATA = "250 2.0.0 Ok: queued as TEST1"
BUSY_GREETING = b"421 4.3.2 Service not available, closing channel\r\n"
CERT_NOT_REGISTERED = "421 4.7.0 Client certificate not registered"
CONTENT_REJECTED = "554 5.6.0 Message content rejected"
CLIENT_NAME = "labo@labo.test"  # the lab's ORG_AUTH_CLI certificate, as the operator registers it


class Fault(enum.Enum):
    """One fault at a time, for tests that switch between them (:meth:`SmtpServer.inject`)."""

    NONE = "none"
    GREETING_421 = "421-connect"  # the listener greets with 421 and hangs up (overloaded)
    EHLO_421 = "421-ehlo"  # 421 to EHLO once TLS is up (certificate not registered)
    DATA_554 = "554-data"  # the content is refused
    DROP_AFTER_DATA = "drop-after-data"  # queued, then the connection is cut before the 250
    SLOW_DATA = "slow"  # the 250 comes after ``delay`` seconds


@dataclass(frozen=True, kw_only=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


@dataclass
class Handler:
    """aiosmtpd hooks deciding each reply; attributes may change between two sessions."""

    rcpt_replies: dict[str, str] = field(default_factory=dict)  # address → reply; others get 250
    data_reply: str = OK_DATA
    data_delay: float = 0.0
    drop_after_data: bool = False
    ehlo_after_tls: str | None = None  # a reply instead of the EHLO response once TLS is up
    sessions: int = 0  # TLS sessions opened (one per connection that did STARTTLS)
    received: list[Received] = field(default_factory=list)  # every message queued, even if the client never knew

    def reset(self) -> None:
        """Every reply back to success (what was received and counted stays)."""
        self.rcpt_replies, self.data_reply, self.data_delay = {}, OK_DATA, 0.0
        self.drop_after_data, self.ehlo_after_tls = False, None

    def handle_STARTTLS(self, server: Any, session: Any, envelope: Any) -> bool:
        self.sessions += 1
        return True  # the TLS context already checked the client certificate

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        if self.ehlo_after_tls and session.ssl is not None:
            return [self.ehlo_after_tls]
        return responses

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        reply = self.rcpt_replies.get(address, OK_RCPT)
        if reply.startswith("250"):
            envelope.rcpt_tos.append(address)
        return reply

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        if self.data_reply.startswith("250"):
            self.received.append(Received(mail_from=envelope.mail_from, rcpt_tos=list(envelope.rcpt_tos),
                                          data=envelope.original_content or b""))
        if self.drop_after_data:
            server.transport.abort()  # queued on our side, the client never hears the reply
        return self.data_reply


@dataclass(frozen=True, kw_only=True)
class ClientPki:
    """What the client needs to trust the server and present its certificate."""

    ca: Path
    client: Path  # certificate + key, one PEM
    other_ca: Path  # a CA that did not sign the server certificate


def write_pki(ca: trustme.CA, folder: Path) -> ClientPki:
    """The CA and a client certificate (CN labo@labo.test) as PEM files in ``folder``, and another CA."""
    pki = ClientPki(ca=folder / "ca.pem", client=folder / "client.pem", other_ca=folder / "other-ca.pem")
    ca.cert_pem.write_to_path(str(pki.ca))
    ca.issue_cert(CLIENT_NAME).private_key_and_cert_chain_pem.write_to_path(str(pki.client))
    trustme.CA().cert_pem.write_to_path(str(pki.other_ca))
    return pki


def server_context(ca: trustme.CA, *, require_client_cert: bool = True, untrusted: bool = False) -> ssl.SSLContext:
    """The server side of TLS: a certificate for 127.0.0.1 (from another CA when ``untrusted``), and the
    client certificate checked against ``ca`` when required."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    (trustme.CA() if untrusted else ca).issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    if require_client_cert:
        ca.configure_trust(ctx)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


class SmtpServer:
    """The server, listening from ``__enter__`` to ``__exit__``; ``port``, ``pki`` and ``handler`` for the test."""

    def __init__(self, folder: Path, *, ca: trustme.CA | None = None, require_client_cert: bool = True,
                 untrusted_server: bool = False, tls_context: ssl.SSLContext | None = None,
                 **controller_options: Any) -> None:
        self.ca = ca or trustme.CA()
        self.pki = write_pki(self.ca, folder)
        self.handler = Handler()
        self.port = free_port()
        self._context = tls_context or server_context(self.ca, require_client_cert=require_client_cert,
                                                      untrusted=untrusted_server)
        self._options = controller_options  # e.g. authenticator=, auth_require_tls=, data_size_limit=
        self._controller: Controller | None = None
        self._greeter: Greeter | None = None

    def _listen(self) -> None:  # a stopped Controller's loop is closed: one per listening period
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, tls_context=self._context,
                                      require_starttls=True, **self._options)
        self._controller.start()

    def _unlisten(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        if self._greeter is not None:
            self._greeter.close()
            self._greeter = None

    def inject(self, fault: Fault, *, delay: float = 0.0) -> None:
        """Replace whatever fault was set by ``fault`` (``Fault.NONE``: every reply back to success)."""
        self.handler.reset()
        if fault is Fault.GREETING_421:
            if self._greeter is None:
                self._unlisten()
                self._greeter = Greeter(BUSY_GREETING, port=self.port)
            return
        if self._greeter is not None:
            self._unlisten()
            self._listen()
        if fault is Fault.EHLO_421:
            self.handler.ehlo_after_tls = CERT_NOT_REGISTERED
        elif fault is Fault.DATA_554:
            self.handler.data_reply = CONTENT_REJECTED
        elif fault is Fault.DROP_AFTER_DATA:
            self.handler.drop_after_data = True
        elif fault is Fault.SLOW_DATA:
            self.handler.data_delay = delay

    def __enter__(self) -> Self:
        self._listen()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._unlisten()


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[SmtpServer]:
    """A listening server with its own PKI in ``tmp_path``, client certificate required, every reply 2xx."""
    with SmtpServer(tmp_path) as server:
        yield server
