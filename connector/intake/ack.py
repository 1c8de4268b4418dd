"""Technical acknowledgements (``ACK^R01^ACK``, HL7 v2.5) for the MLLP listener.

The ACK answers the sender's MSH: MSA-2 = its MSH-10, our MSH-5/6 = its MSH-3/4, our
MSH-11 = its processing id. Original mode AA/AE/AR; enhanced mode (MSH-15 set) CA/CE/CR.
Codes used by the listener (see :mod:`connector.intake.mllp`):

- AA  committed by the store;
- AE  temporary failure (store down): nothing kept, the sender must resend;
- AR  permanently unreadable or refused input, quarantined by the sink (or too large).

ERR carries only where (ERR-2 segment^sequence^field^^component) and what was expected
(ERR-8); never a value from the message, so no patient data can leak into an ACK.
Built with hl7apy in STRICT mode; an echoed MSH value that hl7apy refuses (e.g. ``&``
inside an HD component of a broken header) is sent escaped as text instead.
"""

from __future__ import annotations

import re

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message
from hl7apy.exceptions import HL7apyException

from connector.errors import InputError
from connector.model import MessageHeader
from connector.parse import header_of

__all__ = ["ack_code", "build_ack"]

ACK_CODES = ("AA", "AE", "AR")
# HL7 table 0357 (message error condition codes) used in ERR-3.
_SEGMENT_SEQUENCE_ERROR = ("100", "Segment sequence error")
_DATA_TYPE_ERROR = ("102", "Data type error")
_INTERNAL_ERROR = ("207", "Application internal error")
_RESEND_TEXT = "temporary failure, please resend the message"
_SEGMENT_RE = re.compile(r"^([A-Z][A-Z0-9]{2})(?:\[(\d+)\])?$")
_FIELD_RE = re.compile(r"^([A-Z][A-Z0-9]{2})-(\d+)(?:\.(\d+))?")
_TOKEN_RE = re.compile(r"^[A-Z0-9]{3}$")
_ER7_ESCAPES = str.maketrans({"\\": "\\E\\", "|": "\\F\\", "^": "\\S\\", "&": "\\T\\", "~": "\\R\\"})

def ack_code(ack: bytes) -> str:
    """MSA-1 of an ACK we built (AA/AE/AR, or CA/CE/CR in enhanced mode): what the logs say was sent."""
    for segment in ack.split(b"\r"):
        if segment.startswith(b"MSA|"):
            return segment.split(b"|")[1].decode("ascii", "replace")
    return ""


def build_ack(
    message: bytes | None,
    *,
    code: str,
    error: InputError | None,
    sending_app: str,
    sending_facility: str,
    control_id: str,
    when: str,
) -> bytes:
    """An ER7 ``ACK^R01^ACK`` (segments ended by CR, UTF-8) answering ``message``.

    ``code`` is AA, AE or AR; it becomes CA/CE/CR when the message asks for enhanced
    mode (MSH-15 set). ``error`` (when given) fills ERR-2/ERR-8; AE/AR without one get a
    generic ERR 207.
    """
    if code not in ACK_CODES:
        raise ValueError(f"ACK code must be one of {ACK_CODES}")
    header = header_of(message) if message else None
    ack = Message("ACK", version="2.5", validation_level=VALIDATION_LEVEL.STRICT)
    msh = ack.msh
    _put(msh, "msh_3", sending_app)
    _put(msh, "msh_4", sending_facility)
    if header is not None:
        _put(msh, "msh_5", header.sending_application)
        _put(msh, "msh_6", header.sending_facility)
    msh.msh_7 = when
    msh.msh_9 = f"ACK^{_trigger_of(header)}^ACK"
    _put(msh, "msh_10", control_id)
    msh.msh_11 = _processing_id_of(header)
    msh.msh_12 = "2.5"
    msh.msh_17 = "FRA"
    msh.msh_18 = "UNICODE UTF-8"
    enhanced = header is not None and bool(header.accept_ack_type)
    ack.msa.msa_1 = ("C" + code[1]) if enhanced else code
    _put(ack.msa, "msa_2", header.control_id if header is not None else "")
    if code != "AA":
        _add_err(ack, code, error)
    return str(ack.to_er7()).encode("utf-8")


def _add_err(ack: Message, code: str, error: InputError | None) -> None:
    err = ack.add_segment("ERR")
    if error is None:
        condition, text = _INTERNAL_ERROR, (_RESEND_TEXT if code == "AE" else "message rejected")
    else:
        location = _location(error)
        if location:
            err.err_2 = location
        condition = _DATA_TYPE_ERROR if error.field else _SEGMENT_SEQUENCE_ERROR if error.segment else _INTERNAL_ERROR
        text = f"expected {error.expected}"
    err.err_3 = f"{condition[0]}^{condition[1]}^HL70357"
    err.err_4 = "E"
    err.err_8 = _escape(text)


def _location(error: InputError) -> str:
    """ERR-2 (ERL) from ``segment='OBX[3]'`` and ``field='OBX-5.2'``: ``OBX^3^5^^2``."""
    seg = _SEGMENT_RE.match(error.segment or "")
    fld = _FIELD_RE.match(error.field or "")
    name = seg.group(1) if seg else fld.group(1) if fld else ""
    if not name:
        return ""
    parts = [name, (seg.group(2) if seg and seg.group(2) else "1")]
    if fld:
        parts += [fld.group(2), "", fld.group(3) or ""]
    return "^".join(parts).rstrip("^")


def _put(owner: object, name: str, er7: str) -> None:
    """Set an echoed ER7 value; if hl7apy refuses its structure, send it escaped as text."""
    try:
        setattr(owner, name, er7)
    except HL7apyException:
        setattr(owner, name, _escape(er7))


def _escape(text: str) -> str:
    return text.translate(_ER7_ESCAPES)


def _trigger_of(header: MessageHeader | None) -> str:
    parts = header.message_type.split("^") if header is not None else []
    return parts[1] if len(parts) > 1 and _TOKEN_RE.match(parts[1]) else "R01"


def _processing_id_of(header: MessageHeader | None) -> str:
    pid = header.processing_id.split("^")[0] if header is not None else ""
    return pid if pid in ("P", "T", "D") else "P"
