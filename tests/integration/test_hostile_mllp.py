"""Issue 13, observation 7: the MLLP listener against idle, slow, huge and unknown clients (real sockets).

- 32 idle connections from one address refused every other SIL: a per-address limit keeps capacity;
- a slowloris frame is closed at ``read_timeout``; a frame over ``intake.max_message_bytes`` gets AR and
  nothing of it is stored (the one size limit; refused bytes never reach the store);
- TLS for SILs on other hosts: a client certificate from the configured CA is required, and allow-lists
  of networks and certificate subjects close every other peer before a byte is read.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import trustme

from connector.config import demo_config, parse_config
from connector.config.settings import mllp_settings as settings_from_config
from connector.intake import MllpServer, PeerPolicy, Receipt, server_tls_context
from connector.intake.framing import END_BLOCK, START_BLOCK
from connector.service.runtime import Runtime, open_runtime
from tests.support.hostile import e2e_oru
from tests.support.settings import mllp_settings

OTHER_SIL = "127.0.0.2"  # loopback is a /8: a second source address is a second peer


def oru(control_id: str) -> bytes:
    return (f"MSH|^~\\&|SIL|LAB|C|D|20260101120000||ORU^R01|{control_id}|P|2.5\r"
            "PID|||1||SYNTH^P\rOBR|1\rOBX|1|NM|T^T^L||1\r").encode()


class Sink:
    def __init__(self) -> None:
        self.count = 0

    def receive(self, data: bytes, *, source: str, dedup_key: tuple[str, str, str] | None = None) -> Receipt:
        self.count += 1
        return Receipt(self.count)

    def remember_ack(self, input_id: int, ack: bytes) -> None:
        pass


async def exchange(port: int, message: bytes, *, source: str = "127.0.0.1",
                   context: ssl.SSLContext | None = None, timeout: float = 5.0) -> bytes:
    """One message from ``source``; the ACK's content, or b"" when the server closed without one."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0), ssl=context,
                                                       server_hostname="127.0.0.1" if context else None)
        try:
            writer.write(START_BLOCK + message + END_BLOCK)
            await writer.drain()
            data = b""
            while END_BLOCK not in data:
                try:
                    chunk = await reader.read(4096)
                except ConnectionResetError:  # closed by the server while our bytes were unread
                    return b""
                if not chunk:
                    return b""
                data += chunk
            return data[data.find(START_BLOCK) + 1: data.find(END_BLOCK)]
        finally:
            writer.close()


@pytest.fixture
async def server() -> AsyncIterator[MllpServer]:
    srv = MllpServer(mllp_settings(host="127.0.0.1", port=0, max_connections=32, max_connections_per_peer=8), Sink(),
                     ack_app="C", ack_facility="L")
    await srv.start()
    yield srv
    await srv.stop()


async def test_idle_connections_from_one_address_leave_room_for_the_other_sils(server: MllpServer) -> None:
    idle = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(32)]
    try:
        await asyncio.sleep(0.2)
        ack = await exchange(server.port, oru("OTHER1"), source=OTHER_SIL)
        assert b"MSA|AA|OTHER1" in ack  # was refused: 32 idle connections held every slot
        refused = await exchange(server.port, oru("SAME1"))
        assert refused == b""  # the same address past its share is closed before a byte is read
    finally:
        for _, writer in idle:
            writer.close()
    await asyncio.sleep(0.2)
    assert b"MSA|AA|SAME2" in await exchange(server.port, oru("SAME2"))  # its share is back once they left


async def test_a_slowloris_frame_is_closed_at_the_read_timeout() -> None:
    srv = MllpServer(mllp_settings(host="127.0.0.1", port=0, read_timeout=0.5), Sink(), ack_app="C",
                     ack_facility="L")
    await srv.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(START_BLOCK)
        closed_after = None
        for tick in range(40):
            await asyncio.sleep(0.1)
            try:
                writer.write(b"M")
                await writer.drain()
            except ConnectionError:
                closed_after = tick
                break
            if reader.at_eof() or (await _eof_within(reader, 0.01)):
                closed_after = tick
                break
        writer.close()
        assert closed_after is not None and closed_after < 15  # closed after ~0.5 s, not left open
        assert b"MSA|AA|" in await exchange(srv.port, oru("AFTER1"))
    finally:
        await srv.stop()


async def _eof_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    try:
        async with asyncio.timeout(seconds):
            return await reader.read(1) == b""
    except TimeoutError:
        return False


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = open_runtime(demo_config(data_dir=str(tmp_path / "var")), with_smtp=False)
    yield rt
    rt.close()


async def test_frames_over_the_limit_get_ar_and_nothing_of_them_is_stored(runtime: Runtime) -> None:
    limit = 256 * 1024
    srv = MllpServer(mllp_settings(host="127.0.0.1", port=0, max_message_bytes=limit), runtime.pipeline,
                     ack_app="C", ack_facility="L")
    await srv.start()
    try:
        for n in range(3):
            big = oru(f"BIG{n}") + b"NTE|1|L|" + b"x" * (4 * limit) + b"\r"
            ack = await exchange(srv.port, big, timeout=10)
            assert b"MSA|AR|BIG" in ack and str(limit).encode() in ack
        assert b"MSA|AA|SMALL1" in await exchange(srv.port, e2e_oru("SMALL1"))
    finally:
        await srv.stop()
    assert [r[0] for r in runtime.store.db.query("SELECT length(data) FROM inputs")] == [len(e2e_oru("SMALL1"))]


# ---------------------------------------------------------------- TLS with client certificates, allow-lists


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("mllp-pki")
    ca, other_ca = trustme.CA(), trustme.CA()
    out = {"ca": folder / "ca.pem", "server": folder / "server.pem"}
    ca.cert_pem.write_to_path(str(out["ca"]))
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(out["server"]))
    for name, issuer, subject in (("sil", ca, "sil-a.labo.test"), ("intruder", ca, "intruder.test"),
                                  ("foreign", other_ca, "sil-a.labo.test")):
        out[name] = folder / f"{name}.pem"
        issuer.issue_cert(subject).private_key_and_cert_chain_pem.write_to_path(str(out[name]))
    return out


def _client(pki: dict[str, Path], cert: str | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki["ca"]))
    if cert is not None:
        ctx.load_cert_chain(str(pki[cert]))
    return ctx


@pytest.fixture
async def tls_server(pki: dict[str, Path]) -> AsyncIterator[MllpServer]:
    context = server_tls_context(certfile=pki["server"], keyfile=None, client_cafile=pki["ca"])
    assert context.verify_mode == ssl.CERT_REQUIRED
    srv = MllpServer(mllp_settings(host="127.0.0.1", port=0, tls=context,
                                   peers=PeerPolicy.parse((), ("sil-a.labo.test",))), Sink(),
                     ack_app="C", ack_facility="L")
    await srv.start()
    yield srv
    await srv.stop()


async def test_tls_takes_only_the_allowed_certificate(tls_server: MllpServer, pki: dict[str, Path],
                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="connector")
    assert b"MSA|AA|TLS1" in await exchange(tls_server.port, oru("TLS1"), context=_client(pki, "sil"))
    for cert in (None, "foreign"):  # no client certificate, or one from another CA: the handshake fails
        with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)):
            ack = await exchange(tls_server.port, oru("TLS2"), context=_client(pki, cert))
            assert ack == b"", "a client without an accepted certificate got an answer"
            raise ConnectionError("closed without an answer")
    assert await exchange(tls_server.port, oru("TLS3"), context=_client(pki, "intruder")) == b""
    refused = [r for r in caplog.records if getattr(r, "event", "") == "mllp.peer_refused"]
    assert [r.reason for r in refused] == ["certificate subject not in intake.mllp.tls.allowed_subjects"]  # type: ignore[attr-defined]


async def test_an_address_outside_the_allowed_networks_is_closed_unread() -> None:
    srv = MllpServer(mllp_settings(host="127.0.0.1", port=0, peers=PeerPolicy.parse((f"{OTHER_SIL}/32",), ())),
                     Sink(), ack_app="C", ack_facility="L")
    await srv.start()
    try:
        assert await exchange(srv.port, oru("NET1")) == b""
        assert b"MSA|AA|NET2" in await exchange(srv.port, oru("NET2"), source=OTHER_SIL)
    finally:
        await srv.stop()


def test_the_configuration_names_tls_files_and_allow_lists(pki: dict[str, Path], tmp_path: Path) -> None:
    config = parse_config(
        "mode: test\nintake:\n  mllp:\n    enabled: true\n    max_connections_per_peer: 2\n"
        "    allowed_peers: [10.1.2.0/24, 127.0.0.1]\n"
        f"    tls:\n      certfile: {pki['server']}\n      client_cafile: {pki['ca']}\n"
        "      allowed_subjects: [sil-a.labo.test]\n", base_dir=tmp_path)
    settings = settings_from_config(config)
    assert settings.tls is not None and settings.tls.verify_mode == ssl.CERT_REQUIRED
    assert settings.max_connections_per_peer == 2
    assert settings.peers.refusal("10.1.2.9", {"subject": ((("commonName", "sil-a.labo.test"),),)}) == ""
    assert settings.peers.refusal("10.9.9.9", None) == "address not in intake.mllp.allowed_peers"
