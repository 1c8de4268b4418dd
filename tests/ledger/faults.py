"""An SMTP server that fails on demand (aiosmtpd, STARTTLS, client certificate required), and a pipeline
wired to it, for the fault-injection tests.

Faults (``FaultySmtp.fault``), one at a time, switchable between attempts so a test can show recovery:
``421-connect`` (greeting 421, then close), ``421-ehlo`` (421 to EHLO after STARTTLS), ``rcpt`` (per address
replies in ``rcpt_replies``), ``554-data``, ``drop-after-data`` (message read, connection cut before the
reply: the RFC 1047 window), ``slow`` (DATA answered after ``delay`` s), ``none``.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import trustme
from aiosmtpd.controller import Controller

from connector.config import RetryConfig, SmtpConfig, StoreConfig, TlsFiles, demo_config
from connector.logs import JsonFormatter, logger
from connector.send import import_directory
from connector.service.runtime import Runtime, open_runtime
from tests.ledger.oru import ROOT

DIRECTORY = ROOT / "tests" / "data" / "e2e" / "directory.txt"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Delivered:
    rcpt_tos: list[str]
    data: bytes


@dataclass
class FaultyHandler:
    fault: str = "none"
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    delivered: list[Delivered] = field(default_factory=list)  # every DATA the server read in full

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # type: ignore[no-untyped-def]
        session.host_name = hostname
        if self.fault == "421-ehlo" and session.ssl is not None:
            return ["421 4.7.0 Client certificate not registered"]
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        reply = self.rcpt_replies.get(address, "250 2.1.5 Ok") if self.fault == "rcpt" else "250 2.1.5 Ok"
        if reply.startswith("250"):
            envelope.rcpt_tos.append(address)
        return reply

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        if self.fault == "554-data":
            return "554 5.6.0 Message content rejected"
        if self.fault == "slow":
            await asyncio.sleep(self.delay)
        self.delivered.append(Delivered(list(envelope.rcpt_tos), envelope.original_content or b""))
        if self.fault == "drop-after-data":
            server.transport.abort()  # queued on our side, the client never hears 250
            return "250 2.0.0 never seen"
        return "250 2.0.0 Ok: queued as FAULT1"


class FaultySmtp:
    """aiosmtpd on loopback with STARTTLS required and a client certificate checked (trustme PKI)."""

    def __init__(self, tmp: Path, *, untrusted_server: bool = False) -> None:
        self.ca = trustme.CA()
        self.cafile = tmp / "ca.pem"
        self.client_pem = tmp / "client.pem"
        self.ca.cert_pem.write_to_path(str(self.cafile))
        self.ca.issue_cert("labo@labo.test").private_key_and_cert_chain_pem.write_to_path(str(self.client_pem))
        self.handler = FaultyHandler()
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        (trustme.CA() if untrusted_server else self.ca).issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
        self.ca.configure_trust(ctx)
        ctx.verify_mode = ssl.CERT_REQUIRED
        self.port = free_port()
        self._context = ctx
        self._controller = self._new_controller()
        self._greeter: _Greeter421 | None = None

    def _new_controller(self) -> Controller:  # a stopped Controller's loop is closed: one per listening period
        return Controller(self.handler, hostname="127.0.0.1", port=self.port, tls_context=self._context,
                          require_starttls=True)

    @property
    def fault(self) -> str:
        return self.handler.fault

    @fault.setter
    def fault(self, value: str) -> None:
        """``421-connect`` swaps the listener for one that greets with 421; anything else is the handler's."""
        if value == "421-connect" and self._greeter is None:
            self._controller.stop()
            self._greeter = _Greeter421(self.port)
        elif value != "421-connect" and self._greeter is not None:
            self._greeter.close()
            self._greeter = None
            self._controller = self._new_controller()
            self._controller.start()
        self.handler.fault = value

    def __enter__(self) -> Self:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._greeter is not None:
            self._greeter.close()
        else:
            self._controller.stop()


class _Greeter421:
    """A listener that answers every connection ``421`` at once and closes (server overloaded)."""

    def __init__(self, port: int) -> None:
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))
        self._sock.listen(8)
        self._sock.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.sendall(b"421 4.3.2 Service not available, closing channel\r\n")

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sock.close()


def fault_runtime(tmp: Path, server: FaultySmtp, *, timeout: float = 5.0, first_seconds: float = 1.0,
                  max_seconds: float = 4.0, store_url: str = "") -> Runtime:
    """The service's own wiring (open_runtime) on a temp store (or ``store_url``), pointed at ``server``."""
    config = demo_config(
        data_dir=str(tmp / "var"),
        store=StoreConfig(url=store_url),
        smtp=SmtpConfig(host="127.0.0.1", port=server.port, timeout=timeout,
                        tls=TlsFiles(cafile=str(server.cafile), certfile=str(server.client_pem))),
        retry=RetryConfig(first_seconds=first_seconds, max_seconds=max_seconds),
    )
    import_directory(DIRECTORY, db_path=config.directory_path)
    return open_runtime(config)


def force_due(runtime: Runtime, report_id: str) -> None:
    """Skip the backoff wait (the test checks the stored next_attempt_at instead of sleeping through it)."""
    with runtime.store.db.transaction() as c:
        c.execute("UPDATE reports SET next_attempt_at = '' WHERE report_id = ?", (report_id,))


def report_row(runtime: Runtime, report_id: str) -> dict[str, Any]:
    return dict(runtime.store.db.query("SELECT * FROM reports WHERE report_id = ?", (report_id,))[0])


class JsonLog:
    """The connector's JSON log lines (the service's own formatter), parsed on demand."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        docs = [json.loads(line) for line in self.stream.getvalue().splitlines() if line.strip()]
        return [d for d in docs if name is None or d.get("event") == name]


@contextmanager
def json_log() -> Iterator[JsonLog]:
    log = JsonLog()
    handler = logging.StreamHandler(log.stream)
    handler.setFormatter(JsonFormatter())
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield log
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
