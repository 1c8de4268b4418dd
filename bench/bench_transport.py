"""Transport-only throughput: pre-built messages to a local STARTTLS + client-cert SMTP server (aiosmtpd).

Baseline in the same run: plain ``aiosmtplib.send`` (new connection per message, no DSN options). Then the
connector's ``submit`` (one-shot session), ``SmtpClient`` (session reuse) and several clients in parallel.
Numbers are messages/s and ms/message on this machine; the server runs in-process (its own thread), so they
measure the client and TLS cost, not an operator's. Usage: ``python bench/bench_transport.py [N] [SIZE_KB]``.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
import time
import warnings
from pathlib import Path

import aiosmtplib

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from connector.send import (
    SmtpClient,
    create_ssl_context,
    submit,
)
from tests.support.settings import smtp_settings, tls_settings
from tests.support.smtp import SmtpServer

SENDER = "labo@labo.test"
RCPT = ["dr.x@hopital.test"]
PARALLEL_CLIENTS = 4
# aiosmtpd warns once per connection that the server asks for a client certificate: intended here
warnings.filterwarnings("ignore", message="tls_context.verify_mode")
logging.getLogger("mail.log").setLevel(logging.ERROR)


def build_messages(n: int, size_kb: int) -> list[bytes]:
    body = ("QUJD" * 19 + "\r\n") * (size_kb * 1024 // 78)  # base64-like lines, as an XDM zip attachment is
    return [f"From: {SENDER}\r\nTo: {RCPT[0]}\r\nMessage-ID: <{i}@labo.test>\r\n\r\n{body}".encode() for i in range(n)]


async def run(n: int, size_kb: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-smtp-"))
    # The tests' SMTP server (tests/support/smtp.py): every reply 250, client certificate required.
    with SmtpServer(tmp, data_size_limit=64 * 1024 * 1024) as server:
        settings = smtp_settings(host="127.0.0.1", port=server.port, dsn=False,  # aiosmtpd has no DSN
                                tls=tls_settings(cafile=server.pki.ca, certfile=server.pki.client))
        ctx = create_ssl_context(settings.tls, production=False)
        messages = build_messages(n, size_kb)

        async def baseline() -> None:
            for m in messages:
                await aiosmtplib.send(m, sender=SENDER, recipients=RCPT, hostname="127.0.0.1", port=server.port,
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
            assert len(server.handler.received) == n, f"{name}: {len(server.handler.received)} of {n} received"
            server.handler.received.clear()
            print(f"{name:42} {n / elapsed:8.1f} {1000 * elapsed / n:8.2f}")


if __name__ == "__main__":
    asyncio.run(run(int(sys.argv[1]) if len(sys.argv) > 1 else 200, int(sys.argv[2]) if len(sys.argv) > 2 else 100))
