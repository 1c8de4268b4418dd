"""The MLLP listener against a real socket client and an in-memory sink."""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from collections.abc import AsyncIterator

import pytest
import trustme

from connector.errors import MalformedHL7, StoreUnavailable
from connector.intake import MllpServer, Receipt, send_mllp
from connector.intake.framing import frame
from connector.logs import JsonFormatter
from tests.support.settings import mllp_settings

CANARY = "ZZCANARYPATIENT"  # synthetic patient value: must never reach logs or ACKs


def _json_lines(caplog: pytest.LogCaptureFixture) -> str:
    """The log lines as the service writes them (JSON with every field), not only the event names."""
    return "\n".join(JsonFormatter().format(r) for r in caplog.records)


def oru(control_id: str = "MSG1", extra: str = "") -> bytes:
    return (
        f"MSH|^~\\&|SIL-Y|labo|PFI-X|Org|20260101120000||ORU^R01^ORU_R01|{control_id}|P|2.5{extra}\r"
        f"PID|||1^^^X^PI||{CANARY}^JEAN\rOBR|1\rOBX|1|NM|1^T^L||{CANARY}\r"
    ).encode()


class FakeSink:
    """Records calls in order; dedups on the key; can fail or block on demand."""

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []
        self.acks: dict[int, bytes] = {}
        self.keys: dict[tuple[str, str, str], int] = {}
        self.fail_with: Exception | None = None
        self.errors: tuple[MalformedHL7, ...] = ()
        self.next_id = 0
        self.gate = threading.Event()
        self.gate.set()
        self._lock = threading.Lock()

    def receive(self, data: bytes, *, source: str, dedup_key: tuple[str, str, str] | None = None) -> Receipt:
        self.events.append(("receive", dedup_key))
        self.gate.wait(10)
        if self.fail_with is not None:
            raise self.fail_with
        with self._lock:
            if dedup_key is not None and dedup_key in self.keys:
                input_id = self.keys[dedup_key]
                self.events.append(("duplicate", input_id))
                return Receipt(input_id, duplicate=True, stored_ack=self.acks.get(input_id))
            self.next_id += 1
            input_id = self.next_id
            if dedup_key is not None:
                self.keys[dedup_key] = input_id
        self.events.append(("committed", input_id))
        return Receipt(input_id, errors=self.errors, reports=(f"r{input_id}",))

    def remember_ack(self, input_id: int, ack: bytes) -> None:
        self.events.append(("remember", input_id))
        self.acks[input_id] = ack


@pytest.fixture
def sink() -> FakeSink:
    return FakeSink()


async def _server(sink: FakeSink, **overrides: object) -> MllpServer:
    settings = mllp_settings(port=0, **overrides)  # type: ignore[arg-type]
    server = MllpServer(settings, sink, ack_app="PFI-X", ack_facility="Org")
    await server.start()
    return server


@pytest.fixture
async def server(sink: FakeSink) -> AsyncIterator[MllpServer]:
    srv = await _server(sink)
    yield srv
    await srv.stop()


def msa(ack: bytes) -> list[str]:
    line = next(s for s in ack.decode().split("\r") if s.startswith("MSA"))
    return line.split("|")


async def test_aa_only_after_the_sink_returned(server: MllpServer, sink: FakeSink) -> None:
    sink.gate.clear()  # receive blocks: the commit is "in progress"
    pending = asyncio.create_task(send_mllp("127.0.0.1", server.port, oru(), timeout=5))
    await asyncio.sleep(0.3)
    assert not pending.done(), "an ACK was sent before the commit finished"
    sink.gate.set()
    ack = await pending
    assert msa(ack)[1:3] == ["AA", "MSG1"]
    assert [e[0] for e in sink.events] == ["receive", "committed", "remember"]
    assert sink.events[0][1] == ("SIL-Y", "labo", "MSG1")
    assert sink.acks[1] == ack  # what was stored is exactly what was sent


async def test_resent_message_gets_the_stored_ack(server: MllpServer, sink: FakeSink) -> None:
    first = await send_mllp("127.0.0.1", server.port, oru(), timeout=5)
    again = await send_mllp("127.0.0.1", server.port, oru(), timeout=5)
    assert again == first
    assert [e[0] for e in sink.events].count("remember") == 1


async def test_several_messages_on_one_connection_in_order(server: MllpServer, sink: FakeSink) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"".join(frame(oru(f"M{i}")) for i in range(5)))
    await writer.drain()
    acks = [await reader.readuntil(b"\x1c\x0d") for _ in range(5)]
    writer.close()
    assert [msa(a[1:-2])[2] for a in acks] == [f"M{i}" for i in range(5)]


async def test_garbage_between_frames_is_dropped(server: MllpServer, caplog: pytest.LogCaptureFixture) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"hello\r\n" + frame(oru()))
    await writer.drain()
    ack = await asyncio.wait_for(reader.readuntil(b"\x1c\x0d"), 5)
    writer.close()
    assert msa(ack[1:-2])[1] == "AA"
    dropped = [r for r in caplog.records if getattr(r, "event", None) == "mllp.bytes_dropped"]
    assert [(r.levelno, r.bytes) for r in dropped] == [(logging.WARNING, 7)]  # type: ignore[attr-defined]


async def test_oversized_message_gets_ar_then_close(sink: FakeSink) -> None:
    server = await _server(sink, max_message_bytes=1000)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(frame(oru() + b"X" * 5000))
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 5)  # read to EOF: the server closes
        writer.close()
    finally:
        await server.stop()
    assert msa(data[1:-2])[1:3] == ["AR", "MSG1"]
    assert b"message too large" in data
    assert sink.events == []


async def test_idle_client_is_closed(sink: FakeSink) -> None:
    server = await _server(sink, idle_timeout=0.2)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
    finally:
        await server.stop()


async def test_slow_client_is_closed_without_ack(sink: FakeSink) -> None:
    server = await _server(sink, read_timeout=0.2)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"\x0bMSH|^~\\&|half a message")
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
    finally:
        await server.stop()
    assert sink.events == []


async def test_connections_beyond_the_limit_are_refused(sink: FakeSink) -> None:
    server = await _server(sink, max_connections=2)
    try:
        held = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(2)]
        await asyncio.sleep(0.1)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed at once
        writer.close()
        held[0][1].close()
        await asyncio.sleep(0.1)
        ack = await send_mllp("127.0.0.1", server.port, oru(), timeout=5)
        assert msa(ack)[1] == "AA"
        held[1][1].close()
    finally:
        await server.stop()


async def test_store_unavailable_gives_ae_and_the_connection_stays(server: MllpServer, sink: FakeSink) -> None:
    sink.fail_with = StoreUnavailable()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(frame(oru()))
    await writer.drain()
    first = await asyncio.wait_for(reader.readuntil(b"\x1c\x0d"), 5)
    assert msa(first[1:-2])[1] == "AE"
    sink.fail_with = None
    writer.write(frame(oru()))  # the sender resends on the same connection
    await writer.drain()
    second = await asyncio.wait_for(reader.readuntil(b"\x1c\x0d"), 5)
    writer.close()
    assert msa(second[1:-2])[1:3] == ["AA", "MSG1"]
    assert ("remember", 1) in sink.events


async def test_sink_bug_still_answers_with_a_nak(
    server: MllpServer, sink: FakeSink, caplog: pytest.LogCaptureFixture
) -> None:
    sink.fail_with = RuntimeError(f"bug with {CANARY}")
    ack = await send_mllp("127.0.0.1", server.port, oru(), timeout=5)
    assert msa(ack)[1] == "AE"
    assert [(r.event, r.error) for r in caplog.records if getattr(r, "event", "") == "mllp.sink_failed"] == [
        ("mllp.sink_failed", "RuntimeError")
    ]
    assert CANARY not in _json_lines(caplog)


async def test_unreadable_message_gets_ar_without_patient_data(
    server: MllpServer, sink: FakeSink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sink.errors = (MalformedHL7("a number", segment="OBX[1]", field="OBX-5"),)
    ack = await send_mllp("127.0.0.1", server.port, oru(), timeout=5)
    assert msa(ack)[1] == "AR"
    assert b"ERR||OBX^1^5|" in ack
    assert CANARY.encode() not in ack
    assert CANARY not in _json_lines(caplog)
    assert ("AR", 1) in [(r.code, r.input_id) for r in caplog.records if getattr(r, "event", "") == "mllp.acked"]
    assert ("remember", 1) in sink.events


async def test_enhanced_mode_gets_ca(server: MllpServer, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="connector"):
        ack = await send_mllp("127.0.0.1", server.port, oru(extra="|||AL|NE"), timeout=5)
    assert msa(ack)[1] == "CA"
    # the log says what was sent (it said AA while the SIL received CA)
    assert [r.code for r in caplog.records if getattr(r, "event", "") == "mllp.acked"] == ["CA"]


async def test_missing_control_id_is_not_a_dedup_key(server: MllpServer, sink: FakeSink) -> None:
    await send_mllp("127.0.0.1", server.port, oru(control_id=""), timeout=5)
    await send_mllp("127.0.0.1", server.port, oru(control_id=""), timeout=5)
    assert [e for e in sink.events if e[0] == "receive"] == [("receive", None), ("receive", None)]


async def test_tls(sink: FakeSink) -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    server = await _server(sink, tls=server_ctx)
    try:
        ack = await send_mllp("127.0.0.1", server.port, oru(), timeout=5, context=client_ctx)
        assert msa(ack)[1] == "AA"
        with pytest.raises(ssl.SSLError):  # a client that does not trust our CA is refused
            await send_mllp("127.0.0.1", server.port, oru("M2"), timeout=5, context=ssl.create_default_context())
    finally:
        await server.stop()


async def test_client_times_out_on_a_silent_server() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(10)

    srv = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        with pytest.raises(TimeoutError):
            await send_mllp("127.0.0.1", port, oru(), timeout=0.3)
    finally:
        srv.close()
