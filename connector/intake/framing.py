"""MLLP framing: ``<VT> message <FS><CR>``, a bounded deframer and a small client.

The deframer never trusts the peer: bytes outside a frame are counted and dropped,
a ``<VT>`` inside a frame restarts the frame (the sender gave up on the first one and
resent), a frame larger than the limit stops the read, and both the wait for a frame
(idle) and the reading of one frame (slow client) are bounded in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl

__all__ = [
    "END_BLOCK",
    "START_BLOCK",
    "FrameReader",
    "FrameTimeout",
    "MessageTooLarge",
    "frame",
    "send_mllp",
]

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"
READ_CHUNK_BYTES = 64 * 1024  # one socket read; small enough to notice an oversized frame early
HEAD_BYTES = 4096  # kept from an oversized frame so its MSH can still be answered
MAX_ACK_BYTES = 1024 * 1024  # an ACK is a few hundred bytes; more is a wrong peer


class MessageTooLarge(Exception):
    """A frame exceeded the size limit; ``head`` holds its first bytes (for the MSH)."""

    def __init__(self, limit: int, head: bytes) -> None:
        super().__init__(f"MLLP frame larger than {limit} bytes")
        self.limit = limit
        self.head = head


class FrameTimeout(TimeoutError):
    """No frame started within the idle timeout, or a started frame did not end in time."""

    def __init__(self, *, in_frame: bool) -> None:
        super().__init__("slow client: frame not completed" if in_frame else "idle client")
        self.in_frame = in_frame


def frame(message: bytes) -> bytes:
    """Wrap one message in MLLP start and end blocks."""
    return START_BLOCK + message + END_BLOCK


class FrameReader:
    """Reads successive MLLP frames from one stream."""

    def __init__(self, reader: asyncio.StreamReader, *, max_bytes: int) -> None:
        self._reader = reader
        self._max_bytes = max_bytes
        self._buf = bytearray()
        self.dropped_bytes = 0  # bytes seen outside any frame, for the log

    async def next_frame(self, *, idle_timeout: float, read_timeout: float) -> bytes | None:
        """The next message (without framing), or None when the peer closed between frames.

        Raises :class:`FrameTimeout`, :class:`MessageTooLarge`, or
        ``asyncio.IncompleteReadError`` when the peer closes inside a frame.
        """
        try:
            async with asyncio.timeout(idle_timeout):
                if not await self._skip_to_start():
                    return None
        except TimeoutError:
            raise FrameTimeout(in_frame=False) from None
        try:
            async with asyncio.timeout(read_timeout):
                return await self._read_body()
        except TimeoutError:
            raise FrameTimeout(in_frame=True) from None

    async def _skip_to_start(self) -> bool:
        while True:
            start = self._buf.find(START_BLOCK)
            if start >= 0:
                self.dropped_bytes += start
                del self._buf[: start + 1]
                return True
            self.dropped_bytes += len(self._buf)
            self._buf.clear()
            if not await self._fill():
                return False

    async def _read_body(self) -> bytes:
        scanned = 0  # bytes already searched, so a big frame is scanned once (not quadratic)
        while True:
            end = self._buf.find(END_BLOCK, max(0, scanned - 1))
            restart = self._buf.find(START_BLOCK, scanned, end if end >= 0 else len(self._buf))
            if restart >= 0:  # a new frame began before this one ended: drop the unfinished one
                self.dropped_bytes += restart + 1
                del self._buf[: restart + 1]
                scanned = 0
                continue
            if end > self._max_bytes or (end < 0 and len(self._buf) > self._max_bytes):
                raise MessageTooLarge(self._max_bytes, bytes(self._buf[:HEAD_BYTES]))
            if end >= 0:
                message = bytes(self._buf[:end])
                del self._buf[: end + len(END_BLOCK)]
                return message
            scanned = len(self._buf)
            if not await self._fill():
                raise asyncio.IncompleteReadError(b"", None)

    async def _fill(self) -> bool:
        chunk = await self._reader.read(READ_CHUNK_BYTES)
        self._buf += chunk
        return bool(chunk)


async def send_mllp(
    host: str, port: int, message: bytes, *, timeout: float, context: ssl.SSLContext | None = None
) -> bytes:
    """Send one message over MLLP and return the ACK frame's content.

    ``timeout`` bounds the whole exchange (connect, send, full ACK frame); raises
    ``TimeoutError`` or ``ConnectionError`` (peer closed before a complete ACK).
    """
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(
            host, port, ssl=context, server_hostname=host if context is not None else None
        )
        try:
            writer.write(frame(message))
            await writer.drain()
            frames = FrameReader(reader, max_bytes=MAX_ACK_BYTES)
            try:
                ack = await frames.next_frame(idle_timeout=timeout, read_timeout=timeout)
            except (asyncio.IncompleteReadError, MessageTooLarge) as exc:
                raise ConnectionError(f"no complete MLLP ACK from {host}:{port}") from exc
            if ack is None:
                raise ConnectionError(f"{host}:{port} closed the connection before the ACK")
            return ack
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()
