"""Transport-only throughput: pre-built messages to a local STARTTLS + client-cert SMTP server (aiosmtpd).

Baseline in the same run: plain ``aiosmtplib.send`` (new connection per message, no DSN options). Then the
connector's ``submit`` (one-shot session), ``SmtpClient`` (session reuse) and several clients in parallel.
Numbers are messages/s and ms/message on this machine; the server runs in-process (its own thread), so they
measure the client and TLS cost, not an operator's. Usage: ``python bench/bench_transport.py [N] [SIZE_KB]``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import sys
import tempfile
import time
import warnings
from pathlib import Path

import aiosmtplib
import trustme
from aiosmtpd.controller import Controller

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from connector.send import (
    SmtpClient,
    create_ssl_context,
    submit,
)
from tests.support.settings import smtp_settings, tls_settings

SENDER = "labo@labo.test"
RCPT = ["dr.x@hopital.test"]
PARALLEL_CLIENTS = 4
# aiosmtpd warns once per connection that the server asks for a client certificate: intended here
warnings.filterwarnings("ignore", message="tls_context.verify_mode")
logging.getLogger("mail.log").setLevel(logging.ERROR)


class Sink:
    async def handle_DATA(self, server, session, envelope):
        return "250 2.0.0 Ok: queued"


def build_messages(n: int, size_kb: int) -> list[bytes]:
    body = ("QUJD" * 19 + "\r\n") * (size_kb * 1024 // 78)  # base64-like lines, as an XDM zip attachment is
    return [f"From: {SENDER}\r\nTo: {RCPT[0]}\r\nMessage-ID: <{i}@labo.test>\r\n\r\n{body}".encode() for i in range(n)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run(n: int, size_kb: int) -> None:
    ca = trustme.CA()
    tmp = Path(tempfile.mkdtemp(prefix="bench-smtp-"))
    ca.cert_pem.write_to_path(str(tmp / "ca.pem"))
    ca.issue_cert("labo@labo.test").private_key_and_cert_chain_pem.write_to_path(str(tmp / "client.pem"))
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    ca.configure_trust(server_ctx)
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    controller = Controller(Sink(), hostname="127.0.0.1", port=free_port(), tls_context=server_ctx,
                            require_starttls=True, data_size_limit=64 * 1024 * 1024)
    controller.start()
    try:
        settings = smtp_settings(host="127.0.0.1", port=controller.port, dsn=False,  # aiosmtpd has no DSN
                                tls=tls_settings(cafile=tmp / "ca.pem", certfile=tmp / "client.pem"))
        ctx = create_ssl_context(settings.tls, production=False)
        messages = build_messages(n, size_kb)

        async def baseline() -> None:
            for m in messages:
                await aiosmtplib.send(m, sender=SENDER, recipients=RCPT, hostname="127.0.0.1", port=controller.port,
                                      start_tls=True, tls_context=ctx)

        async def one_shot() -> None:
            for i, m in enumerate(messages):
                await submit(m, sender=SENDER, recipients=RCPT, envid=str(i), settings=settings, context=ctx)

        async def reuse() -> None:
            async with SmtpClient(settings, ctx) as client:
                for i, m in enumerate(messages):
                    await client.submit(m, sender=SENDER, recipients=RCPT, envid=str(i))

        async def parallel() -> None:
            async def worker(part: list[bytes]) -> None:
                async with SmtpClient(settings, ctx) as client:
                    for i, m in enumerate(part):
                        await client.submit(m, sender=SENDER, recipients=RCPT, envid=str(i))
            await asyncio.gather(*(worker(messages[k::PARALLEL_CLIENTS]) for k in range(PARALLEL_CLIENTS)))

        print(f"{n} messages of {size_kb} KB, STARTTLS + client cert, aiosmtpd on loopback")
        print(f"{'variant':42} {'msg/s':>8} {'ms/msg':>8}")
        for name, fn in [("baseline aiosmtplib.send (new connection)", baseline),
                         ("connector submit() (new connection)", one_shot),
                         ("connector SmtpClient (session reuse)", reuse),
                         (f"connector {PARALLEL_CLIENTS} SmtpClients in parallel", parallel)]:
            start = time.perf_counter()
            await fn()
            elapsed = time.perf_counter() - start
            print(f"{name:42} {n / elapsed:8.1f} {1000 * elapsed / n:8.2f}")
    finally:
        controller.stop()


if __name__ == "__main__":
    asyncio.run(run(int(sys.argv[1]) if len(sys.argv) > 1 else 200, int(sys.argv[2]) if len(sys.argv) > 2 else 100))
