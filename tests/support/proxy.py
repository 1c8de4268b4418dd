"""A TCP proxy on loopback, on its own event loop thread: a plain forwarder, or a path that fails on demand.

Without a policy it forwards both ways ("the operator comes back" once it listens; a session counter
through it shows whether a client reused its connection). With a :class:`FaultPolicy` it asks, before
each burst of server bytes reaches the client, whether to forward, hold or cut them, and when to close
its listening port for a while (connection refused). The proxy cannot read a TLS session: it tells the
policy how many client bytes came since the server last spoke, which is enough to recognise the reply
to the end of an SMTP DATA (it follows the message body, far larger than any command).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self

from tests.support.ports import free_port

START_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """What to do with the server's next bytes."""

    cut: bool = False  # abort both sides instead of forwarding them
    delay: float = 0.0  # seconds to hold them first


FORWARD = Verdict()


class FaultPolicy(Protocol):
    """Decides the faults; called on the proxy's loop thread only (no locking needed)."""

    def reply(self, client_bytes: int) -> Verdict:
        """The verdict on a burst of server bytes, ``client_bytes`` sent by the client since the server last spoke."""
        ...

    def closed_periods(self) -> Iterator[tuple[float, float]]:
        """(seconds listening, then seconds closed) pairs, for as long as the proxy runs."""
        ...


class TcpProxy:
    """``127.0.0.1:port`` → ``upstream``; ``stats`` counts connections, cuts, delays and closed periods."""

    def __init__(self, upstream: tuple[str, int], *, port: int | None = None,
                 policy: FaultPolicy | None = None) -> None:
        self.upstream = upstream
        self.port = port or free_port()
        self.policy = policy
        self.stats: Counter[str] = Counter()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    @property
    def connections(self) -> int:
        return self.stats["connections"]

    def _call(self, coro: object) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(START_TIMEOUT_SECONDS)  # type: ignore[arg-type]

    def __enter__(self) -> Self:
        self._thread.start()
        self._call(self._listen())
        if self.policy is not None:
            asyncio.run_coroutine_threadsafe(self._close_now_and_then(self.policy), self._loop)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(START_TIMEOUT_SECONDS)
        self._loop.close()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)

    async def _unlisten(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    async def _shutdown(self) -> None:
        """Stop listening and end every session and the closing schedule, so the loop stops with nothing pending."""
        await self._unlisten()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _close_now_and_then(self, policy: FaultPolicy) -> None:
        for listening, closed in policy.closed_periods():
            await asyncio.sleep(listening)
            await self._unlisten()  # connection refused; sessions already open go on
            self.stats["closed-periods"] += 1
            await asyncio.sleep(closed)
            await self._listen()

    async def _handle(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        self.stats["connections"] += 1
        try:
            u_reader, u_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            c_writer.transport.abort()
            return
        burst = [0]  # client bytes since the server last spoke

        def cut() -> None:
            c_writer.transport.abort()
            u_writer.transport.abort()

        async def client_to_server() -> None:
            with contextlib.suppress(OSError):
                while chunk := await c_reader.read(65536):
                    burst[0] += len(chunk)
                    u_writer.write(chunk)
                    await u_writer.drain()

        async def server_to_client() -> None:
            with contextlib.suppress(OSError):
                while chunk := await u_reader.read(65536):
                    verdict = self.policy.reply(burst[0]) if self.policy is not None else FORWARD
                    burst[0] = 0
                    if verdict.cut:
                        self.stats["cut"] += 1
                        return cut()
                    if verdict.delay:
                        self.stats["delayed"] += 1
                        await asyncio.sleep(verdict.delay)
                    c_writer.write(chunk)
                    await c_writer.drain()

        tasks = [asyncio.ensure_future(client_to_server()), asyncio.ensure_future(server_to_client())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            cut()
