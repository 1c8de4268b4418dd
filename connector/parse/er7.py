"""ER7 (pipe-and-hat) text: encoding characters, segments and escape sequences.

We split ourselves with ``str.split`` instead of building python-hl7 containers: the parse stage
reads each field once, and plain lists are ~5x cheaper (see bench/bench_parse.py). Values stay
escaped until a leaf (component or subcomponent) is read, because escapes may hide delimiters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["Encoding", "Segment", "split_segments", "unescape"]

_SEGMENT_END = re.compile(r"\r\n|\r|\n")
# \XHHHH\ hex data, formatting commands (.br, .sp, .in+4…), highlighting (H, N) and the delimiters.
_FORMAT_LINE_BREAKS = {".br": "\n", ".sp": "\n"}


@dataclass(frozen=True, slots=True)
class Encoding:
    """MSH-1 and MSH-2. ``truncation`` is the fifth character of v2.7+ (``#``), "" when absent."""

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"
    truncation: str = ""

    @classmethod
    def from_msh(cls, field_sep: str, chars: str) -> Encoding:
        padded = chars + "\0\0\0\0"  # too short an MSH-2 is refused before, by msh_segment
        comp, rep, esc, sub = padded[0], padded[1], padded[2], padded[3]
        trunc = chars[4] if len(chars) > 4 else ""
        return cls(field_sep, comp, rep, esc, sub, trunc)


@lru_cache(maxsize=16)
def _escape_pattern(esc: str) -> re.Pattern[str]:
    """``\\seq\\``: up to 64 characters between two escape characters (longer is not an escape)."""
    return re.compile(re.escape(esc) + "([^" + re.escape(esc) + "\r\n]{1,64})" + re.escape(esc))


@dataclass(slots=True)
class Segment:
    """One segment: ``fields[n]`` is SEG-n (for MSH too: ``fields[1]`` is MSH-1, the field separator)."""

    name: str
    fields: list[str]
    raw: str
    position: int  # 0-based index in the message
    label: str  # "OBX[3]": the third OBX of the message, used in error messages

    def get(self, n: int) -> str:
        """SEG-n, escaped, "" when absent."""
        return self.fields[n] if n < len(self.fields) else ""


def split_segments(text: str) -> list[str]:
    """Segment texts of one message; CR, LF and CRLF all end a segment; blank lines are dropped."""
    return [s for s in _SEGMENT_END.split(text) if s.strip()]


def unescape(value: str, enc: Encoding, charset: str = "utf-8") -> str:
    """Resolve HL7 escape sequences (v2.5 §2.7). Unknown sequences are kept as sent: nothing is dropped."""
    if enc.escape not in value or enc.escape == "\0":
        return value

    def one(match: re.Match[str]) -> str:
        seq = match.group(1)
        simple = {
            "F": enc.field,
            "S": enc.component,
            "T": enc.subcomponent,
            "R": enc.repetition,
            "E": enc.escape,
            "P": enc.truncation or match.group(0),
        }
        if seq in simple:
            return simple[seq]
        if seq in _FORMAT_LINE_BREAKS:
            return _FORMAT_LINE_BREAKS[seq]
        if seq in ("H", "N") or seq.startswith((".in", ".ti", ".sk", ".ce", ".fi", ".nf")):
            return ""  # highlighting and layout commands carry no text
        if seq[0] in "Xx" and len(seq) % 2 == 1:
            return _hex_text(seq[1:], charset) or match.group(0)
        return match.group(0)

    return _escape_pattern(enc.escape).sub(one, value)


def _hex_text(hex_digits: str, charset: str) -> str:
    try:
        data = bytes.fromhex(hex_digits)
    except ValueError:
        return ""
    try:
        return data.decode(charset)
    except (UnicodeDecodeError, LookupError):
        return data.decode("latin-1")
