"""Parse stage: HL7 v2 ORU^R01 bytes → :class:`connector.model.LabReport` (one per patient).

    split_messages(file bytes)  → message bytes (batches, several MSH, CR/LF/CRLF)
    parse_message(message)      → LabReport per PID group, or MalformedHL7 naming segment and field
    header_of(message)          → MSH fields for an ACK, even for a broken message

Nothing is dropped: each segment is mapped (its text in a ``raw`` field) or kept in
``LabReport.other_segments``.
"""

from .header import header_of, report_id_for
from .identity import nir_key_ok
from .message import MAX_SEGMENTS_PER_MESSAGE, parse_message
from .settings import ParseSettings
from .split import MAX_MESSAGE_BYTES, split_messages
from .timestamps import is_valid_dtm
from .values import MAX_ENCAPSULATED_CHARS

__all__ = [
    "MAX_ENCAPSULATED_CHARS",
    "MAX_MESSAGE_BYTES",
    "MAX_SEGMENTS_PER_MESSAGE",
    "ParseSettings",
    "header_of",
    "is_valid_dtm",
    "nir_key_ok",
    "parse_message",
    "report_id_for",
    "split_messages",
]
