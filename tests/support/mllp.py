"""MLLP framing for the tests' own SIL sides (blocking sockets): one frame out, one frame back."""

from __future__ import annotations

import socket

START, END = b"\x0b", b"\x1c\x0d"
MAX_FRAME_BYTES = 64 * 1024  # an ACK or a ZAM is a few hundred bytes; more means the peer is not MLLP
TIMEOUT_SECONDS = 10.0  # commit (fsync) + the ACK take milliseconds; longer means the peer is gone


def frame(message: bytes) -> bytes:
    return START + message + END


def read_frame(sock: socket.socket) -> bytes:
    """The next frame's content; ConnectionError when the peer closes first or sends more than a frame can be."""
    buf = b""
    while END not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("the peer closed the connection before the end of the frame")
        buf += chunk
        if len(buf) > MAX_FRAME_BYTES:
            raise ConnectionError(f"no end of frame within {MAX_FRAME_BYTES} bytes")
    return buf[buf.find(START) + 1: buf.find(END)]


def exchange(port: int, message: bytes, host: str = "127.0.0.1") -> bytes:
    """Send one message on a new connection and return the reply (an ACK)."""
    with socket.create_connection((host, port), timeout=TIMEOUT_SECONDS) as sock:
        sock.sendall(frame(message))
        return read_frame(sock)
