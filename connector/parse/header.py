"""MSH → MessageHeader, the best-effort header read used for ACKs, and report ids."""

from __future__ import annotations

import hashlib

from connector.model import MessageHeader

from .er7 import Encoding, Segment

__all__ = ["header_from_msh", "header_of", "msh_segment", "report_id_for"]

# header_of only looks at the start of the input: an MSH is a few hundred bytes.
_HEADER_SCAN_BYTES = 64 * 1024


def msh_segment(line: str, position: int = 0) -> tuple[Segment, Encoding] | None:
    """The MSH line as a Segment aligned on HL7 numbering (``fields[1]`` = MSH-1), or None."""
    if len(line) < 8 or not line.startswith("MSH") or line[3].isalnum() or line[3] in "\r\n":
        return None
    sep = line[3]
    rest = line[4:].split(sep)
    chars = rest[0]
    if not 4 <= len(chars) <= 5 or len(set(chars + sep)) != len(chars) + 1 or any(c.isalnum() for c in chars):
        return None
    fields = ["MSH", sep, *rest]
    return Segment("MSH", fields, line, position, "MSH[1]"), Encoding.from_msh(sep, chars)


def header_from_msh(msh: Segment) -> MessageHeader:
    """The identifying MSH fields, as sent (they are echoed in ACKs, so they are not unescaped)."""
    g = msh.get
    return MessageHeader(
        sending_application=g(3),
        sending_facility=g(4),
        receiving_application=g(5),
        receiving_facility=g(6),
        message_datetime=g(7),
        message_type=g(9),
        control_id=g(10),
        processing_id=g(11),
        version=g(12),
        charset=g(18),
        profile=g(21),
        accept_ack_type=g(15),
        application_ack_type=g(16),
    )


def header_of(data: bytes) -> MessageHeader | None:
    """Best-effort MSH read of raw input (to build an ACK/AR even for a broken message); never raises."""
    try:
        head = data[:_HEADER_SCAN_BYTES].removeprefix(b"\xef\xbb\xbf").lstrip(b"\x0b\r\n \t")
        line = head.replace(b"\r\n", b"\r").replace(b"\n", b"\r").split(b"\r", 1)[0]
        parsed = msh_segment(line.decode("utf-8", "replace"))
        return header_from_msh(parsed[0]) if parsed is not None else None
    except Exception:  # noqa: BLE001 - contract: never raises, the caller answers AR without a header
        return None


def report_id_for(header: MessageHeader, patient_index: int) -> str:
    """``r-`` + 16 hex of sha256(MSH-3|MSH-4|MSH-10|index): deterministic, filename-safe, no patient data."""
    key = "|".join((header.sending_application, header.sending_facility, header.control_id, str(patient_index)))
    return "r-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
