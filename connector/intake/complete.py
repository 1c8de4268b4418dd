"""Is a drop-folder file a whole HL7 file? A check on the bytes, for writers that pause.

A writer that does not rename and pauses longer than ``stable_seconds`` looks finished by size
and time alone (issue 13: 1,006 of 1,282 bytes were taken, a report went out with 3 of 6
results). HL7 says a little about its own end:

- every segment ends with a carriage return, so a file whose last segment is not terminated
  is still being written (only checked when the file holds at least one terminator: a file
  with none is another format, and the parser names what it expected);
- a batch's trailers count what came before them: BTS-1 the messages since its BHS, FTS-1 the
  batches since the FHS. A count that does not match means messages are missing.

A cut exactly at a segment boundary of an unbatched file cannot be seen here; close-write
events (watchdog) and the re-check after commit cover that case.
"""

from __future__ import annotations

import re

__all__ = ["incomplete"]

_HEADERS = (b"MSH", b"FHS", b"BHS")
_PREFIX_NOISE = b"\xef\xbb\xbf\x0b \t\r\n"  # BOM, MLLP start block, blank lines
_TRAILING_NOISE = b" \t\x00\x1a\x1c"  # spaces, NUL padding, DOS end-of-file, MLLP end block
_SEGMENTS = re.compile(rb"\r\n|\r|\n")


def incomplete(data: bytes) -> str:
    """What the file still lacks to be whole ("" when nothing is seen missing); never a value from it."""
    head = data.lstrip(_PREFIX_NOISE)
    if not head.startswith(_HEADERS) or head[3:4] in (b"", b"\r", b"\n"):
        return ""  # not HL7 (or empty): the parser refuses it with its own reason
    body = data.rstrip(_TRAILING_NOISE)
    if not body.endswith((b"\r", b"\n")) and _SEGMENTS.search(body):
        return "the last segment to end with a carriage return"
    if b"BTS" not in body and b"FTS" not in body:
        return ""  # no trailer, nothing to count (most files: one message)
    return _batch_problem([s for s in _SEGMENTS.split(head) if s.strip()])


def _batch_problem(segments: list[bytes]) -> str:
    messages = batches = 0
    for segment in segments:
        name, sep = segment[:3], segment[3:4]
        if name == b"MSH":
            messages += 1
        elif name == b"BHS":
            batches, messages = batches + 1, 0
        elif name == b"BTS" and not _count_matches(segment, sep, messages):
            return f"BTS-1 equal to the number of messages in the batch ({messages} found)"
        elif name == b"FTS" and not _count_matches(segment, sep, batches):
            return f"FTS-1 equal to the number of batches in the file ({batches} found)"
    return ""


def _count_matches(segment: bytes, sep: bytes, found: int) -> bool:
    """An empty or absent count says nothing (it is optional); a number must match."""
    fields = segment.split(sep) if sep else [segment]
    count = fields[1].strip() if len(fields) > 1 else b""
    return not count or not count.isdigit() or int(count) == found
