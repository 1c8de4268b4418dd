"""IMAP faults on the acknowledgement side: the lab mailbox down, overloaded, or refusing the login.

Each must surface as a TransientError (the service's ack loop logs ``imap.error`` and tries again at the
next poll), name the server and what failed, leave the store's IMAP cursor untouched, and never quote
the password.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from connector.config import ImapConfig, TlsFiles, demo_config
from connector.errors import TransientError
from connector.service.runtime import Runtime, open_runtime
from connector.service.tracking import read_acks_once
from tests.support.ports import Greeter, free_port

PASSWORD = "imap-canary-secret-4711"


def _runtime(tmp: Path, *, port: int, host: str = "127.0.0.1", tls: TlsFiles | None = None,
             username: str = "labo@labo.test") -> Runtime:
    secret = tmp / "imap.secret"
    secret.write_text(PASSWORD, encoding="utf-8")
    secret.chmod(0o600)
    if tls is None:  # any CA will do: these servers fail before (or without) TLS
        ca = trustme.CA()
        ca.cert_pem.write_to_path(str(tmp / "ca.pem"))
        tls = TlsFiles(cafile=str(tmp / "ca.pem"))
    imap = ImapConfig(enabled=True, host=host, port=port, username=username, password_file=str(secret), tls=tls)
    return open_runtime(demo_config(data_dir=str(tmp / "var"), imap=imap), with_smtp=False)


@pytest.fixture
def bye_server() -> Iterator[int]:
    """An overloaded IMAP server: greets with BYE and closes."""
    with Greeter(b"* BYE [UNAVAILABLE] Server overloaded\r\n") as server:
        yield server.port


def _assert_transient(runtime: Runtime) -> str:
    with pytest.raises(TransientError) as caught:
        read_acks_once(runtime)
    text = str(caught.value)
    assert PASSWORD not in text
    assert runtime.store.imap_cursor(runtime.config.imap.mailbox) is None, "cursor moved without a mail read"
    return text


def test_imap_down_is_transient(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path, port=free_port())  # nothing listens there
    try:
        text = _assert_transient(runtime)
        assert "IMAP connection" in text and "failed" in text
    finally:
        runtime.close()


def test_imap_overloaded_greeting_is_transient(tmp_path: Path, bye_server: int) -> None:
    runtime = _runtime(tmp_path, port=bye_server)
    try:
        assert "IMAP" in _assert_transient(runtime)
    finally:
        runtime.close()


@pytest.mark.simulator
def test_imap_login_refused_is_transient(tmp_path: Path, operator_sim) -> None:  # type: ignore[no-untyped-def]
    sim = operator_sim
    tls = TlsFiles(cafile=str(sim.pki.ca), certfile=str(sim.pki.client_cert), keyfile=str(sim.pki.client_key))
    runtime = _runtime(tmp_path, host=sim.imap_host, port=sim.imap_port, tls=tls)  # wrong password
    try:
        text = _assert_transient(runtime)
        assert "refused" in text, text
    finally:
        runtime.close()
