"""pytest plugin: a real MSSanté-like operator (Postfix + Dovecot) on loopback, for the whole session.

Register with ``pytest_plugins = ["tests.simulator.plugin"]`` and ask for the ``operator_sim`` fixture.
Everything lives under one temporary directory; ports are picked free at start so parallel runs do not
collide. The fixture skips (with the reason) when postfix/dovecot are missing or we are not root.
See tests/simulator/README.md for the interface; keep it stable (the track stage's tests use it).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.ports import free_port

HERE = Path(__file__).resolve().parent
SCRIPT_TIMEOUT = 60.0  # a fresh Postfix queue takes ~2.5 s to create; anything near a minute is a hang
SMTP_HOST = "127.0.0.1"
# Dovecot treats 127.0.0.1 -> 127.0.0.1 as "secured" and would allow LOGIN without TLS (see the recipe)
IMAP_HOST = "127.0.0.2"
LAB_MAILBOX = "labo@labo.test"
PASSWORDS = {
    "labo@labo.test": "labo-secret",
    "dr.x@hopital.test": "drx-secret",
    "dr.y@cabinet.test": "dry-secret",
    "postmaster@mss.test": "pm-secret",
}
REQUIRED_USERS = ("postfix", "dovecot", "dovenull")


@dataclass(frozen=True)
class SimPki:
    """PEM paths of the simulator's test PKI (see gen_pki.py)."""

    dir: Path
    ca: Path  # trust anchor of the server certificate (stands in for IGC-Santé)
    client_cert: Path  # the lab connector's registered client cert (CN labo@labo.test)
    client_key: Path
    rogue_cert: Path  # from another CA: refused at STARTTLS (421)
    rogue_key: Path
    rogue_ca: Path  # that other CA: as a client trust anchor, the real server is "unknown CA"
    unregistered_cert: Path  # same CA, fingerprint not registered: refused at RCPT (554)
    unregistered_key: Path
    expired_client_cert: Path
    expired_client_key: Path
    server_cert: Path  # for test servers of your own (aiosmtpd) that must look like the operator
    server_key: Path
    expired_server_cert: Path
    expired_server_key: Path

    @classmethod
    def at(cls, d: Path) -> SimPki:
        return cls(
            dir=d, ca=d / "ca.crt", client_cert=d / "client.crt", client_key=d / "client.key",
            rogue_cert=d / "rogue-client.crt", rogue_key=d / "rogue-client.key", rogue_ca=d / "rogue-ca.crt",
            unregistered_cert=d / "unregistered-client.crt", unregistered_key=d / "unregistered-client.key",
            expired_client_cert=d / "expired-client.crt", expired_client_key=d / "expired-client.key",
            server_cert=d / "server.crt", server_key=d / "server.key",
            expired_server_cert=d / "expired-server.crt", expired_server_key=d / "expired-server.key",
        )


@dataclass(frozen=True)
class OperatorSim:
    """A running simulator. Mailboxes are shared by the whole session: filter by your own ENVID/Message-ID."""

    base: Path
    pki: SimPki
    submission_port: int  # STARTTLS + registered client cert required; unknown users accepted then bounced
    inbound_port: int  # plain SMTP, no auth: inject MDNs / replies (unknown users refused at RCPT)
    imap_port: int  # IMAP, STARTTLS required before LOGIN / AUTHENTICATE EXTERNAL
    imaps_port: int  # implicit TLS IMAP (client cert → EXTERNAL)
    smtp_host: str = SMTP_HOST
    imap_host: str = IMAP_HOST
    server_name: str = "mail.mss.test"  # in the server cert SANs, as are localhost, 127.0.0.1, 127.0.0.2
    lab_mailbox: str = LAB_MAILBOX
    passwords: dict[str, str] = field(default_factory=lambda: dict(PASSWORDS))

    def maildir(self, address: str) -> Path:
        user, domain = address.lower().split("@")
        return self.base / "mail" / domain / user / "Maildir"

    def read_maildir(self, address: str) -> list[bytes]:
        """Every message in the mailbox (new/ and cur/), oldest first by file mtime."""
        root = self.maildir(address)
        files = [p for sub in ("new", "cur") if (root / sub).is_dir() for p in (root / sub).iterdir()]
        return [p.read_bytes() for p in sorted(files, key=lambda p: (p.stat().st_mtime, p.name))]

    def wait_for_messages(
        self, address: str, count: int, *, match: Callable[[bytes], bool] | None = None, timeout: float = 15.0
    ) -> list[bytes]:
        """Poll the Maildir until ``count`` messages (matching ``match`` if given) are there; fail on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in self.read_maildir(address) if match is None or match(m)]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                pytest.fail(f"{address}: {len(found)} of {count} message(s) after {timeout}s; "
                            f"see {self.base}/postfix/maillog")
            time.sleep(0.05)

    async def await_messages(
        self, address: str, count: int, *, match: Callable[[bytes], bool] | None = None, timeout: float = 15.0
    ) -> list[bytes]:
        """Same as :meth:`wait_for_messages` without blocking the event loop."""
        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in self.read_maildir(address) if match is None or match(m)]
            if len(found) >= count or time.monotonic() > deadline:
                return found if len(found) >= count else self.wait_for_messages(address, count, match=match, timeout=0)
            await asyncio.sleep(0.05)

    def maillog(self) -> str:
        path = self.base / "postfix" / "maillog"
        return path.read_text(errors="replace") if path.exists() else ""


def missing_requirements() -> str:
    """Why the simulator cannot run here, or "" when it can."""
    for tool in ("postfix", "dovecot"):
        if shutil.which(tool) is None:
            return f"{tool} not installed (apt-get install -y postfix dovecot-imapd dovecot-lmtpd)"
    if os.geteuid() != 0:
        return "the operator simulator needs root (system users vmail/postfix/dovecot)"
    for user in REQUIRED_USERS:
        if subprocess.run(["id", user], check=False, capture_output=True).returncode != 0:
            return f"system user {user!r} missing (reinstall postfix / dovecot-core)"
    return ""


def _run(script: str, base: Path, env: dict[str, str]) -> None:
    proc = subprocess.run(
        ["bash", str(HERE / script), str(base)], env=env, capture_output=True, text=True, timeout=SCRIPT_TIMEOUT,
        check=False,
    )
    if proc.returncode != 0:
        log = (base / "postfix" / "maillog")
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise RuntimeError(f"{script} failed ({proc.returncode}): {proc.stderr[-2000:]}\nmaillog tail:\n{tail}")


@pytest.fixture(scope="session")
def operator_sim() -> Iterator[OperatorSim]:
    reason = missing_requirements()
    if reason:
        pytest.skip(f"operator simulator unavailable: {reason}")
    # not under pytest's basetemp: its parents are 0700 root, and postfix/vmail must traverse the path
    base = Path(tempfile.mkdtemp(prefix="mss-sim-"))
    base.chmod(0o755)
    ports = {
        "SUBMISSION_PORT": free_port(SMTP_HOST), "INBOUND_PORT": free_port(SMTP_HOST),
        "IMAP_PORT": free_port(IMAP_HOST), "IMAPS_PORT": free_port(IMAP_HOST),
    }
    env = {**os.environ, "IMAP_ADDR": IMAP_HOST, **{k: str(v) for k, v in ports.items()}}
    sim = OperatorSim(
        base=base, pki=SimPki.at(base / "pki"), submission_port=ports["SUBMISSION_PORT"],
        inbound_port=ports["INBOUND_PORT"], imap_port=ports["IMAP_PORT"], imaps_port=ports["IMAPS_PORT"],
    )
    try:
        _run("setup.sh", base, env)
        _run("start.sh", base, env)
        yield sim
    finally:
        _run("stop.sh", base, env)
        if not os.environ.get("CONNECTOR_SIM_KEEP"):
            shutil.rmtree(base, ignore_errors=True)
