"""Where ZAMs go: the SIL's MLLP listener, or an outbound folder the SIL polls.

Both raise :class:`TransientError` when the ZAM is not durably handed over, so the caller keeps
it and retries later (at-least-once: the SIL may see a ZAM twice and dedups on MSH-10).
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from connector.errors import ConfigError, PermanentError, TransientError
from connector.files import write_private

__all__ = ["MAX_ACK_BYTES", "FolderOutbox", "MllpOutbox", "SilOutbox"]

_START, _END = b"\x0b", b"\x1c\x0d"
# An ACK^Z0x^ACK is a few hundred bytes; more than this is not an answer to us.
MAX_ACK_BYTES = 64 * 1024
_ACCEPTED = {"AA", "CA"}
_REJECTED = {"AR", "CR"}  # the SIL refuses this ZAM for good: retrying the same bytes cannot help


class SilOutbox(Protocol):
    def deliver(self, message: bytes, *, name: str) -> None:
        """Hand one ZAM to the SIL durably; ``name`` is unique per ZAM (e.g. our MSH-10)."""


@dataclass(frozen=True, kw_only=True)
class FolderOutbox:
    """Write each ZAM as ``<name>.hl7``: temp file, fsync, rename, fsync the directory.

    The SIL reads the folder under its own account: a ZAM gets ``mode`` (0640 by default, from
    ``sil.zam_file_mode``) and the folder's group, so the SIL reads it through that group and nobody else can.
    """

    directory: Path
    mode: int
    suffix: str = ".hl7"

    def deliver(self, message: bytes, *, name: str) -> None:
        if not name or "/" in name or "\\" in name or name.startswith(".") or "\x00" in name:
            raise ConfigError("ZAM file name: expected a plain name without '/' or a leading dot", key=name)
        try:
            group = self.directory.stat().st_gid
            write_private(self.directory / f"{name}{self.suffix}", message, mode=self.mode, gid=group)
        except OSError as exc:
            raise TransientError(f"ZAM {name}: writing to {self.directory} failed ({exc.strerror})") from None


@dataclass(frozen=True)
class MllpOutbox:
    """Send each ZAM over MLLP and wait for the SIL's ACK; a few quick retries, then TransientError."""

    host: str
    port: int
    context: ssl.SSLContext | None = None  # TLS when given
    timeout: float = 10.0
    attempts: int = 3
    backoff: float = 0.5  # seconds, doubled after each failed attempt

    def deliver(self, message: bytes, *, name: str) -> None:
        delay = self.backoff
        reason = ""
        for attempt in range(1, self.attempts + 1):
            try:
                code = self._exchange(message)
            except (OSError, ValueError) as exc:
                reason = type(exc).__name__
            else:
                if code in _ACCEPTED:
                    return
                if code in _REJECTED:
                    raise PermanentError(f"ZAM {name}: SIL {self.host}:{self.port} rejected it (MSA-1 {code})")
                reason = f"MSA-1 {code or 'missing'}"
            if attempt < self.attempts:
                time.sleep(delay)
                delay *= 2
        raise TransientError(f"ZAM {name}: SIL {self.host}:{self.port} did not accept it ({reason})")

    def _exchange(self, message: bytes) -> str:
        with socket.create_connection((self.host, self.port), timeout=self.timeout) as raw_sock:
            sock: socket.socket = raw_sock
            if self.context is not None:
                sock = self.context.wrap_socket(raw_sock, server_hostname=self.host)
            sock.sendall(_START + message + _END)
            reply = _read_frame(sock)
        return _msa_code(reply)


def _read_frame(sock: socket.socket) -> bytes:
    buf = b""
    while _END not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise ValueError("connection closed before the end of the ACK frame")
        buf += chunk
        if len(buf) > MAX_ACK_BYTES:
            raise ValueError("ACK frame too large")
    start = buf.find(_START)
    return buf[start + 1 if start >= 0 else 0: buf.find(_END)]


def _msa_code(reply: bytes) -> str:
    for segment in reply.replace(b"\r\n", b"\r").replace(b"\n", b"\r").split(b"\r"):
        if segment.startswith(b"MSA"):
            fields = segment.split(segment[3:4] or b"|")
            return fields[1].decode("ascii", "replace").strip() if len(fields) > 1 else ""
    return ""
