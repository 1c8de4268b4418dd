"""The MLLP listener: each message is committed by the sink, THEN acknowledged.

Per message: read the MSH (dedup key) → ``sink.receive`` in a worker thread (it commits)
→ build the ACK → ``sink.remember_ack`` (committed too) → send the ACK stored. So an AA/CA
is only ever sent for a committed message, and a resent message (same MSH-3, MSH-4,
MSH-10) gets the stored ACK unchanged, from this instance or another sharing the store.
Messages of one connection are handled in order.

ACK codes (original mode; CA/CE/CR when the message sets MSH-15):
- AA  committed (also a duplicate whose first ACK was not stored).
- AE  temporary failure (store down, or an unexpected error in the sink): nothing is
      promised, the sender must resend; the connection stays open. Also a message
      committed whose ACK could not be stored: its resend is the duplicate, answered AA.
- AR  committed but permanently unreadable (the sink quarantined it), or larger than
      ``max_message_bytes`` (then the connection is closed: the rest of the stream
      cannot be trusted). AR, not AE, because resending the same bytes cannot help.

Connections beyond ``max_connections``, or beyond ``max_connections_per_peer`` from one
address, are refused: closed at once, before any byte is read. The per-address limit keeps
capacity for the others (issue 13: 32 idle connections from one client refused every other
SIL). A peer outside the allow-lists (:class:`~connector.intake.peers.PeerPolicy`: networks,
certificate subjects when TLS asks for client certificates) is refused the same way. The
sender sees a clean failure and retries by its own policy; nothing was read, so nothing is
lost, and no message sits unread while the sender's ACK timer runs.
Bytes outside a frame are logged (count only) and dropped; idle clients are closed
after ``idle_timeout``, a frame not finished within ``read_timeout`` closes the
connection without an ACK (the sender resends).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from connector.errors import InputError, TransientError
from connector.intake.ack import ack_code, build_ack
from connector.intake.framing import FrameReader, FrameTimeout, MessageTooLarge, frame
from connector.intake.peers import PeerPolicy
from connector.intake.sink import Sink
from connector.logs import event
from connector.parse import header_of

__all__ = ["MllpServer", "MllpSettings"]

CONTROL_ID_CHARS = 20  # MSH-10 is ST(20) in v2.5


@dataclass(frozen=True, kw_only=True)
class MllpSettings:
    """From the ``intake.mllp`` section (``connector.config.settings``, where the defaults are)."""

    host: str
    port: int  # 0 picks a free port (tests); read MllpServer.port
    max_message_bytes: int  # bounds memory per client
    idle_timeout: float  # seconds without a frame before an idle connection is closed
    read_timeout: float  # seconds to receive one whole frame once it started
    max_connections: int  # bounds threads and memory
    max_connections_per_peer: int  # from one address: keeps capacity for the other SILs
    tls: ssl.SSLContext | None = None  # server context (client certs are checked if it requires them)
    peers: PeerPolicy = field(default_factory=PeerPolicy)  # allow-lists: networks, certificate subjects


class MllpServer:
    """Asyncio MLLP server handing each message to a :class:`Sink`."""

    def __init__(self, settings: MllpSettings, sink: Sink, *, ack_app: str, ack_facility: str) -> None:
        self._settings = settings
        self._sink = sink
        self._ack_app = ack_app
        self._ack_facility = ack_facility
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._per_peer: dict[str, int] = {}  # open connections per address

    @property
    def port(self) -> int:
        """The port actually bound (useful when the settings said 0)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("MLLP server not started")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        s = self._settings
        # A TLS handshake is bounded like a frame: a client that never finishes it holds no slot for long.
        self._server = await asyncio.start_server(self._serve, s.host, s.port, ssl=s.tls,
                                                  ssl_handshake_timeout=s.read_timeout if s.tls else None)
        event("mllp.started", level=logging.INFO, host=s.host, port=self.port, tls=s.tls is not None)

    async def stop(self) -> None:
        """Stop listening and close every connection.

        A message whose commit is under way still commits (the thread runs on) but gets no
        ACK; the sender resends it and the duplicate is recognised.
        """
        if self._server is None:
            return
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = _peer_of(writer)
        address = peer.rpartition(":")[0] or peer
        task = asyncio.current_task()
        refusal = self._refusal(address, writer)
        if refusal or task is None:
            event("mllp.refused", level=logging.WARNING, peer=peer, connections=len(self._connections),
                  reason=refusal or "no task")
            await _close(writer)
            return
        self._connections.add(task)
        self._per_peer[address] = self._per_peer.get(address, 0) + 1
        try:
            await self._converse(reader, writer, peer)
        except FrameTimeout as exc:
            event("mllp.timeout", level=logging.INFO, peer=peer, reason=str(exc))
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError) as exc:
            event("mllp.disconnected", level=logging.INFO, peer=peer, error=type(exc).__name__)
        except asyncio.CancelledError:  # stop(): end quietly (asyncio 3.11 logs a cancelled handler)
            event("mllp.closed", level=logging.INFO, peer=peer, reason="server stopping")
        finally:
            self._connections.discard(task)
            left = self._per_peer.get(address, 1) - 1
            if left > 0:
                self._per_peer[address] = left
            else:
                self._per_peer.pop(address, None)
            await _close(writer)

    def _refusal(self, address: str, writer: asyncio.StreamWriter) -> str:
        """Why this connection is closed before a byte is read, or ""."""
        s = self._settings
        if len(self._connections) >= s.max_connections:
            return "intake.mllp.max_connections reached"
        if self._per_peer.get(address, 0) >= s.max_connections_per_peer:
            return "intake.mllp.max_connections_per_peer reached for this address"
        refusal = s.peers.refusal(address, writer.get_extra_info("peercert"))
        if refusal:
            event("mllp.peer_refused", level=logging.WARNING, peer=address, reason=refusal)
        return refusal

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str) -> None:
        s = self._settings
        frames = FrameReader(reader, max_bytes=s.max_message_bytes)
        while True:
            try:
                data = await frames.next_frame(idle_timeout=s.idle_timeout, read_timeout=s.read_timeout)
            except MessageTooLarge as exc:
                too_large = InputError(f"a message of at most {exc.limit} bytes (message too large)")
                event("mllp.too_large", level=logging.WARNING, peer=peer, limit=exc.limit)
                writer.write(frame(self._ack(exc.head, "AR", too_large)))
                await writer.drain()
                return
            finally:
                if frames.dropped_bytes:
                    event("mllp.bytes_dropped", level=logging.WARNING, peer=peer, bytes=frames.dropped_bytes)
                    frames.dropped_bytes = 0
            if data is None:
                return
            writer.write(frame(await self._answer(data, peer)))
            await writer.drain()

    async def _answer(self, data: bytes, peer: str) -> bytes:
        """Commit through the sink, then the ACK to send; never raises (a NAK at worst).

        The whole step runs in a worker thread: the sink blocks on the store and hl7apy
        takes a few ms per ACK; the event loop keeps serving the other connections.
        """
        try:
            return await asyncio.to_thread(self._commit_then_ack, data, peer)
        except Exception as exc:  # noqa: BLE001 - never close without an answer (hl7apy mllp.py does)
            event("mllp.handler_failed", level=logging.ERROR, peer=peer, error=type(exc).__name__, code="AE")
            return self._ack(data, "AE", None)

    def _commit_then_ack(self, data: bytes, peer: str) -> bytes:
        header = header_of(data)
        # An empty MSH-10 is no identity: keying on it would take new messages for duplicates.
        key = header.dedup_key if header is not None and header.control_id else None
        try:
            receipt = self._sink.receive(data, source=f"mllp:{peer}", dedup_key=key)
        except TransientError as exc:
            nak = self._ack(data, "AE", None)
            event("mllp.not_committed", level=logging.WARNING, peer=peer, error=type(exc).__name__,
                  code=ack_code(nak))
            return nak
        except Exception as exc:  # noqa: BLE001 - a sink bug must still answer (and never log values)
            nak = self._ack(data, "AE", None)
            event("mllp.sink_failed", level=logging.ERROR, peer=peer, error=type(exc).__name__, code=ack_code(nak))
            return nak
        if receipt.duplicate and receipt.stored_ack is not None:
            event("mllp.ack_replayed", level=logging.INFO, peer=peer, input_id=receipt.input_id)
            return receipt.stored_ack
        code = "AR" if receipt.errors else "AA"
        ack = self._ack(data, code, receipt.errors[0] if receipt.errors else None)
        try:
            # The ACK sent is the one stored: a resend, to this instance or another, gets these very bytes.
            ack = self._sink.remember_ack(receipt.input_id, ack) or ack
        except TransientError as exc:  # committed, but a resend would get another ACK: the SIL resends now
            nak = self._ack(data, "AE", None)
            event("mllp.ack_not_stored", level=logging.WARNING, peer=peer, input_id=receipt.input_id,
                  error=type(exc).__name__, code=ack_code(nak))
            return nak
        except Exception as exc:  # noqa: BLE001 - a sink bug: the input is committed, the ACK is still due
            event("mllp.ack_not_stored", level=logging.WARNING, peer=peer, input_id=receipt.input_id,
                  error=type(exc).__name__)
        # The code as sent: CA/CR when the SIL asked for enhanced mode (MSH-15), AA/AR otherwise.
        event("mllp.acked", level=logging.INFO, peer=peer, input_id=receipt.input_id, code=ack_code(ack))
        return ack

    def _ack(self, message: bytes | None, code: str, error: InputError | None) -> bytes:
        control_id = uuid.uuid4().hex[:CONTROL_ID_CHARS]
        when = datetime.now().astimezone().strftime("%Y%m%d%H%M%S%z")
        try:
            return build_ack(
                message,
                code=code,
                error=error,
                sending_app=self._ack_app,
                sending_facility=self._ack_facility,
                control_id=control_id,
                when=when,
            )
        except Exception as exc:  # noqa: BLE001 - hl7apy failed: a bare NAK rather than silence
            event("mllp.ack_build_failed", level=logging.ERROR, error=type(exc).__name__, code="AE")
            return f"MSH|^~\\&|||||{when}||ACK^R01^ACK|{control_id}|P|2.5\rMSA|AE|".encode()


def _peer_of(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else "unknown"


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError, asyncio.CancelledError):
        await writer.wait_closed()
