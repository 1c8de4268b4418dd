"""A file (or MLLP block) → its messages: batches, several MSH, any line ending. Never raises on content."""

from __future__ import annotations

import re

from connector.limits import MAX_MESSAGE_BYTES

__all__ = ["MAX_MESSAGE_BYTES", "split_messages"]


_LINE_END = re.compile(rb"\r\n|\r|\n")
_BATCH_SEGMENTS = (b"FHS", b"BHS", b"BTS", b"FTS")
_BOM = b"\xef\xbb\xbf"
# MLLP start/end block characters a drop-folder file may still carry around its messages.
_MLLP_FRAMING = b"\x0b\x1c"


def split_messages(data: bytes, *, source: str = "") -> list[bytes]:
    """The messages of ``data``, each re-joined with CR segment ends.

    Batch envelopes (FHS/BHS/BTS/FTS) are dropped. Text before the first MSH, or a file with no MSH
    at all, is returned as a message of its own so that :func:`parse_message` reports it: nothing is
    silently skipped. An input above :data:`MAX_MESSAGE_BYTES` is returned whole, unsplit, for the
    same reason.
    """
    if len(data) > MAX_MESSAGE_BYTES:
        return [data]
    messages: list[list[bytes]] = []
    current: list[bytes] | None = None
    for line in _LINE_END.split(data.removeprefix(_BOM)):
        line = line.strip(_MLLP_FRAMING)
        if not line.strip():
            continue
        if line[:3] in _BATCH_SEGMENTS and (len(line) == 3 or not line[3:4].isalnum()):
            current = None
            continue
        if line[:3] == b"MSH" and len(line) > 3 and not line[3:4].isalnum():
            current = [line]
            messages.append(current)
            continue
        if current is None:  # text outside any message: keep it, parse_message will name it
            current = []
            messages.append(current)
        current.append(line)
    if not messages:
        return [data]
    return [b"\r".join(lines) + b"\r" for lines in messages]
