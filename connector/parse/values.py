"""OBX-5 → typed result values, by OBX-2 — except that an ED payload is recognised by its shape.

OBX-2 lies in the field (an ED PDF under ``CE`` exists), so ``^AP^PDF^Base64^…`` and
``^TEXT^XML^Base64^…`` are read as documents whatever OBX-2 says.
"""

from __future__ import annotations

import base64
import binascii
import re
from decimal import Decimal, InvalidOperation

from connector.model import (
    CodedValue,
    DateValue,
    Encapsulated,
    Numeric,
    ResultValue,
    StructuredNumeric,
    Text,
)

from .er7 import Encoding, unescape
from .fields import coded
from .timestamps import is_valid_dtm

__all__ = [
    "MAX_ENCAPSULATED_CHARS",
    "BadValue",
    "encapsulated",
    "is_encapsulated",
    "parse_number",
    "parse_values",
    "text_value",
]

# The largest ED seen in the field is ~600 KB; 20 MB of base64 leaves room for a long PDF report
# while bounding memory per OBX.
MAX_ENCAPSULATED_CHARS = 20 * 1024 * 1024

_NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)")
_COMPARATOR_NUMBER = re.compile(r"(<=|>=|<>|<|>|=)\s*([+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+))")
_SN_COMPARATORS = ("", "<", ">", "<=", ">=", "=", "<>")
_SN_SEPARATORS = ("", "-", "+", "/", ".", ":")
_ED_ENCODINGS = ("BASE64", "A", "HEX")
_NUMERIC_ENTITY = re.compile(r"&#(\d{1,7});")
_MIME = {
    ("AP", "PDF"): "application/pdf",
    ("APPLICATION", "PDF"): "application/pdf",
    ("TEXT", "XML"): "text/xml",
    ("APPLICATION", "XML"): "text/xml",
    ("TEXT", ""): "text/plain",
    ("TEXT", "PLAIN"): "text/plain",
    ("TEXT", "HTML"): "text/html",
    ("TEXT", "RTF"): "text/rtf",
    ("IM", "JPEG"): "image/jpeg",
    ("IM", "PNG"): "image/png",
    ("IM", "TIFF"): "image/tiff",
}
_CODED = ("CE", "CWE", "CNE", "CF", "IS", "ID")
_DATES = ("DT", "DTM", "TS")
_TEXTS = ("ST", "TX", "FT")


class BadValue(Exception):
    """Internal: OBX-5 does not fit its type. ``expected`` is safe to show (no value inside)."""

    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


def parse_number(text: str) -> Decimal | None:
    """A decimal as labs write it (``1.950``, ``1,5``, ``+3``), None when it is not a plain number."""
    text = text.strip()
    if not _NUMBER.fullmatch(text):
        return None
    try:
        return Decimal(text.replace(",", "."))
    except InvalidOperation:  # pragma: no cover - the regex only lets numbers through
        return None


def is_encapsulated(value: str, enc: Encoding) -> bool:
    """True for the ED shape ``source^type^subtype^encoding^data``."""
    parts = value.split(enc.component, 4)
    return len(parts) == 5 and parts[3].upper() in _ED_ENCODINGS and bool(parts[1])


def parse_values(value_type: str, field: str, enc: Encoding, charset: str) -> tuple[ResultValue, ...]:
    """All repetitions of OBX-5 as typed values; raises :class:`BadValue` when one does not fit."""
    if not field:
        return ()
    vt = value_type.upper()
    reps = [field] if vt == "ED" else field.split(enc.repetition)
    out: list[ResultValue] = []
    for rep in reps:
        if not rep:
            continue
        out.append(_one(vt, rep, enc, charset))
    return tuple(out)


def _one(vt: str, rep: str, enc: Encoding, charset: str) -> ResultValue:
    if vt in ("ED", "RP") or is_encapsulated(rep, enc):
        return encapsulated(rep, enc)
    if vt == "NM":
        return _numeric(unescape(rep, enc, charset).strip())
    if vt == "SN":
        return _structured(rep, enc)
    if vt == "NR":
        low, _, high = rep.partition(enc.component)
        return _structured(enc.component.join(("", low, "-", high)), enc, text=unescape(rep, enc))
    if vt in _CODED:
        code = coded(rep, enc)
        if code is None:
            raise BadValue("a coded value code^text^system (" + vt + ")")
        return CodedValue(code)
    if vt in _DATES:
        date = unescape(rep.split(enc.component, 1)[0], enc).strip()
        if not is_valid_dtm(date):
            raise BadValue("a date YYYY[MM[DD[HHMM[SS]]]][+/-ZZZZ] (" + vt + ")")
        return DateValue(date)
    # ST, TX, FT, TM and unknown or empty OBX-2: the text as sent, components included.
    return Text(text_value(rep, enc, charset))


def text_value(rep: str, enc: Encoding, charset: str = "utf-8") -> str:
    """ST/TX/FT text: escapes resolved, line breaks as \\n, HTML numeric entities resolved."""
    text = unescape(rep, enc, charset).replace("\r\n", "\n")
    # "\T\#8805;" is an HTML numeric entity (≥) whose "&" had to be escaped.
    return _NUMERIC_ENTITY.sub(lambda m: _char(int(m.group(1))) or m.group(0), text)


def _char(code: int) -> str:
    return chr(code) if 0 < code < 0x110000 else ""


def _numeric(text: str) -> Numeric | StructuredNumeric:
    number = parse_number(text)
    if number is not None:
        return Numeric(number, text)
    match = _COMPARATOR_NUMBER.fullmatch(text)
    if match is not None:  # "<5" under NM: common, and the comparator is the meaning
        return StructuredNumeric(match.group(1), parse_number(match.group(2)), "", None, text)
    raise BadValue("a number (NM), optionally with a comparator such as <5")


def _structured(rep: str, enc: Encoding, text: str | None = None) -> StructuredNumeric:
    parts = [unescape(p, enc).strip() for p in rep.split(enc.component)]
    parts += [""] * (4 - len(parts))
    comparator, n1, sep, n2 = parts[:4]
    expected = "a structured numeric comparator^number^separator^number (SN), e.g. <^5 or ^1^:^128"
    if len(parts) > 4 or comparator not in _SN_COMPARATORS or sep not in _SN_SEPARATORS:
        raise BadValue(expected)
    number1 = parse_number(n1) if n1 else None
    number2 = parse_number(n2) if n2 else None
    if (n1 and number1 is None) or (n2 and number2 is None) or (number1 is None and number2 is None):
        raise BadValue(expected)
    shown = text if text is not None else unescape(rep, enc)
    return StructuredNumeric(comparator, number1, sep, number2, shown)


def encapsulated(rep: str, enc: Encoding, *, lenient: bool = False) -> Encapsulated:
    """ED ``source^type^subtype^encoding^data`` → decoded bytes with a MIME type.

    ``lenient`` drops an incomplete trailing base64 group instead of failing: only for text that is
    not a clinical document (the MetaDMPMSS mail body, cut short in the ANS example itself).
    """
    _source, kind, subtype, encoding, data = (rep.split(enc.component, 4) + [""] * 5)[:5]
    if len(data) > MAX_ENCAPSULATED_CHARS:
        raise BadValue(
            f"an encapsulated document of at most {MAX_ENCAPSULATED_CHARS} characters (MAX_ENCAPSULATED_CHARS)"
        )
    mime = _MIME.get((kind.upper(), subtype.upper()))
    if mime is None:
        mime = f"{kind.lower()}/{subtype.lower()}" if kind and subtype else "application/octet-stream"
    encoding = encoding.upper()
    if encoding == "BASE64":
        payload = "".join(data.split())
        if lenient and len(payload) % 4 == 1:
            payload = payload[:-1]
        payload += "=" * (-len(payload) % 4)  # some SILs drop the padding
        try:
            raw = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise BadValue("base64 data in the encapsulated document (ED ^type^subtype^Base64^data)") from None
    elif encoding == "HEX":
        try:
            raw = bytes.fromhex(data)
        except ValueError:
            raise BadValue("hexadecimal data in the encapsulated document (ED ^type^subtype^Hex^data)") from None
    else:
        raw = unescape(data, enc).encode("utf-8")
    return Encapsulated(mime, raw)
