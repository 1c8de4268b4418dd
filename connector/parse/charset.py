"""Bytes → text by MSH-18, tolerating the classic lie (``8859/1`` declared over UTF-8 bytes)."""

from __future__ import annotations

import logging

from connector.logs import event

__all__ = ["CHARSETS", "declared_charset", "decode_message"]

# MSH-18 values (HL7 table 0211) we meet in France → Python codec.
CHARSETS = {
    "UNICODE UTF-8": "utf-8",
    "UNICODE": "utf-8",
    "UTF-8": "utf-8",
    "UTF8": "utf-8",
    "8859/1": "latin-1",
    "8859/15": "iso8859-15",
    "ASCII": "ascii",
}
_SINGLE_BYTE = ("latin-1", "iso8859-15", "ascii")


def declared_charset(msh_line: bytes) -> str:
    """MSH-18 (first repetition) read from the raw MSH bytes, "" when absent; never raises."""
    if len(msh_line) < 4:
        return ""
    fields = msh_line.split(msh_line[3:4])
    if len(fields) <= 17:
        return ""
    return fields[17].split(b"~")[0].decode("ascii", "replace").strip()


def decode_message(data: bytes, declared: str, fallback: str) -> tuple[str, str] | None:
    """(text, codec used), or None when neither the declared charset, UTF-8 nor the fallback decodes.

    A single-byte charset never fails, so when one is declared over bytes that are valid UTF-8
    with non-ASCII characters, UTF-8 wins: a real Latin-1 text is almost never valid UTF-8.
    """
    if data.isascii():
        return data.decode("ascii"), "ascii"
    codec = CHARSETS.get(declared.upper())
    utf8 = _try(data, "utf-8")
    if codec in _SINGLE_BYTE and utf8 is not None:
        event("parse.charset_mismatch", level=logging.WARNING, declared=declared, charset="utf-8")
        return utf8, "utf-8"
    if codec is not None:
        text = _try(data, codec)
        if text is not None:
            return text, codec
    elif utf8 is not None:  # no or unknown MSH-18: UTF-8 is the only safe guess
        return utf8, "utf-8"
    if fallback:
        text = _try(data, fallback)
        if text is not None:
            event("parse.charset_fallback", level=logging.WARNING, declared=declared, charset=fallback)
            return text, fallback
    return None


def _try(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None
