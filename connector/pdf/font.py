"""TrueType fonts parsed once per process, subset per document in well under a millisecond.

Why not fontTools' subsetter or fpdf2: both rebuild the whole font object for every
document (tens of milliseconds for DejaVu Sans). Here fontTools reads the TTF once
(:class:`ParsedFont`); each document then gets a :class:`FontSubset` that numbers the
glyphs it uses 1, 2, 3… as they are first drawn and, at the end, cuts a small TrueType
program with just those glyphs (``glyf``/``loca``/``hmtx`` rebuilt).

Hinting is left out: DejaVu's TrueType instructions are more than half of each glyph's bytes,
they only sharpen small text on low-resolution screens (viewers scale and anti-alias a PDF
anyway), and PDF/A does not ask for them. Without them a report's PDF is ~14 KB smaller, and
it travels twice in every e-mail (attached, and inside the CDA).
The PDF uses them as CIDFontType2 with ``/CIDToGIDMap /Identity``: CID = new glyph id.
"""

from __future__ import annotations

import re
import struct
import sys
import unicodedata
from array import array
from dataclasses import dataclass, field
from pathlib import Path

from fontTools.ttLib import TTFont

__all__ = ["FontSubset", "ParsedFont", "normalize_text"]

# Tables a PDF TrueType program needs (ISO 32000-1 §9.9): the glyph tables we rebuild plus
# OS/2 copied as it is; cmap is unused under Identity-H; no hinting tables (cvt, fpgm, prep).
_COPIED_TABLES = ("OS/2",)
# Composite glyph flags (OpenType 'glyf' spec).
_ARGS_ARE_WORDS, _HAS_SCALE, _MORE, _XY_SCALE, _TWO_BY_TWO = 0x0001, 0x0008, 0x0020, 0x0040, 0x0080
_HAS_INSTRUCTIONS = 0x0100
# Simple glyph point flags.
_X_SHORT, _Y_SHORT, _REPEAT, _X_SAME, _Y_SAME = 0x02, 0x04, 0x08, 0x10, 0x20
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")  # C0 controls and DEL: never drawn
_REPLACEMENT = "?"  # drawn for a character the font lacks (the text stays readable)


@dataclass(frozen=True, slots=True)
class ParsedFont:
    """Everything needed to measure text and cut subsets, read once from a TTF file."""

    postscript_name: str
    units_per_em: int
    glyph_of: dict[str, int]  # character → glyph id in the original font
    width_of: dict[str, float]  # character → advance in 1/1000 em (PDF text space)
    advances: tuple[tuple[int, int], ...]  # glyph id → (advance, lsb) in font units
    glyph_data: tuple[bytes, ...]  # glyph id → raw 'glyf' entry
    raw_tables: dict[str, bytes]
    bbox: tuple[int, int, int, int]  # in 1/1000 em
    ascent: int
    descent: int
    cap_height: int
    italic_angle: float
    flags: int  # FontDescriptor /Flags

    @classmethod
    def load(cls, path: Path) -> ParsedFont:
        font = TTFont(str(path), lazy=False)
        upm = font["head"].unitsPerEm
        scale = 1000.0 / upm
        order = font.getGlyphOrder()
        gid = {name: i for i, name in enumerate(order)}
        hmtx = font["hmtx"].metrics
        glyph_of = {chr(cp): gid[name] for cp, name in font.getBestCmap().items()}
        loca = font["loca"]
        glyf_raw = font.reader["glyf"]
        data = tuple(_without_hinting(glyf_raw[loca[i] : loca[i + 1]]) for i in range(len(order)))
        head, os2, post = font["head"], font["OS/2"], font["post"]
        return cls(
            postscript_name=font["name"].getDebugName(6) or path.stem,
            units_per_em=upm,
            glyph_of=glyph_of,
            width_of={ch: hmtx[order[g]][0] * scale for ch, g in glyph_of.items()},
            advances=tuple(hmtx[name] for name in order),
            glyph_data=data,
            raw_tables={tag: font.reader[tag] for tag in ("head", "hhea", "maxp", *_COPIED_TABLES) if tag in font},
            bbox=(
                round(head.xMin * scale),
                round(head.yMin * scale),
                round(head.xMax * scale),
                round(head.yMax * scale),
            ),
            ascent=round(font["hhea"].ascent * scale),
            descent=round(font["hhea"].descent * scale),
            cap_height=round(getattr(os2, "sCapHeight", 0) * scale) or round(font["hhea"].ascent * scale),
            italic_angle=float(post.italicAngle),
            flags=4 | (64 if post.italicAngle else 0),  # symbolic (Identity-H); italic when slanted
        )

    def text_width(self, text: str, size: float) -> float:
        """Width in points of ``text`` at ``size`` (no kerning: a report needs none)."""
        return self.units(text) * size / 1000.0

    def units(self, text: str) -> float:
        """Width of ``text`` in 1/1000 em; a character the font lacks counts as its replacement."""
        widths = self.width_of
        try:
            return sum([widths[ch] for ch in text])
        except KeyError:
            fallback = widths.get(_REPLACEMENT, 500.0)
            return sum([widths.get(ch, fallback) for ch in text])


@dataclass(slots=True)
class FontSubset:
    """The glyphs one document draws with one font; CID n = n-th glyph first drawn."""

    font: ParsedFont
    cid_hex: dict[str, str] = field(default_factory=dict)  # character → 4 hex digits
    old_gids: list[int] = field(default_factory=lambda: [0])  # CID → original glyph id (.notdef first)
    unicode_of: dict[int, str] = field(default_factory=dict)  # CID → character (ToUnicode)

    def encode(self, text: str) -> str:
        """Hex string of CIDs for a PDF ``<…> Tj``; registers new characters."""
        table = self.cid_hex
        try:
            return "".join([table[ch] for ch in text])
        except KeyError:
            return "".join([table[ch] if ch in table else self._add(ch) for ch in text])

    def _add(self, ch: str) -> str:
        glyph = self.font.glyph_of.get(ch)
        if glyph is None:
            glyph = self.font.glyph_of.get(_REPLACEMENT, 0)
        cid = len(self.old_gids)
        self.old_gids.append(glyph)
        self.unicode_of[cid] = ch
        self.cid_hex[ch] = code = f"{cid:04X}"
        return code

    def widths(self) -> list[tuple[int, float]]:
        """(CID, width in 1/1000 em) for the PDF ``/W`` array, from the font's own metrics."""
        scale = 1000.0 / self.font.units_per_em
        return [(cid, self.font.advances[g][0] * scale) for cid, g in enumerate(self.old_gids)]

    def program(self) -> tuple[bytes, int]:
        """A TrueType font holding only the glyphs drawn and the parts of composite glyphs,
        with its glyph count (the CIDs present, for the PDF/A-1 ``CIDSet``)."""
        font = self.font
        order = list(self.old_gids)
        new_of = {g: i for i, g in enumerate(order)}
        glyphs: list[bytes] = []
        i = 0
        while i < len(order):  # order grows while composite components are appended
            data = font.glyph_data[order[i]]
            if len(data) >= 10 and struct.unpack_from(">h", data, 0)[0] < 0:
                data = _renumber_components(data, new_of, order)
            glyphs.append(data + b"\0" * (-len(data) % 4))
            i += 1
        offsets = [0]
        for data in glyphs:
            offsets.append(offsets[-1] + len(data))
        count = len(order)
        tables = {
            "glyf": b"".join(glyphs),
            "loca": struct.pack(f">{count + 1}I", *offsets),
            "hmtx": b"".join(struct.pack(">Hh", *font.advances[g]) for g in order),
            "head": _patch(font.raw_tables["head"], (8, ">I", 0), (50, ">h", 1)),  # long loca
            "hhea": _patch(font.raw_tables["hhea"], (34, ">H", count)),
            "maxp": _patch(font.raw_tables["maxp"], (4, ">H", count)),
        }
        tables.update({t: font.raw_tables[t] for t in _COPIED_TABLES if t in font.raw_tables})
        return _sfnt(tables), count


def normalize_text(text: str) -> str:
    """NFC (a decomposed é becomes one glyph) and no control characters."""
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    return _CONTROLS.sub(" ", text)


def _without_hinting(data: bytes) -> bytes:
    """A 'glyf' entry without its TrueType instructions (OpenType 'glyf' spec, simple and composite)."""
    if len(data) < 10:
        return data  # an empty glyph (space)
    contours = struct.unpack_from(">h", data, 0)[0]
    if contours >= 0:  # simple: … endPtsOfContours[n], instructionLength, instructions, flags, coordinates
        at = 10 + 2 * contours
        points = struct.unpack_from(">H", data, at - 2)[0] + 1 if contours else 0
        start = at + 2 + struct.unpack_from(">H", data, at)[0]
        return data[:at] + b"\0\0" + data[start : start + _outline_length(data, start, points)]
    out = bytearray(data)
    pos = 10
    while True:  # composite: clear "we have instructions" on each component, cut after the last
        flags = struct.unpack_from(">H", out, pos)[0]
        struct.pack_into(">H", out, pos, flags & ~_HAS_INSTRUCTIONS)
        pos += 4 + (4 if flags & _ARGS_ARE_WORDS else 2)
        pos += 2 if flags & _HAS_SCALE else 4 if flags & _XY_SCALE else 8 if flags & _TWO_BY_TWO else 0
        if not flags & _MORE:
            return bytes(out[:pos])


def _outline_length(data: bytes, start: int, points: int) -> int:
    """Bytes of a simple glyph's flags and coordinates from ``start`` (the font's padding excluded)."""
    pos, coordinates, seen = start, 0, 0
    while seen < points:
        flag = data[pos]
        repeat = data[pos + 1] if flag & _REPEAT else 0
        pos += 2 if flag & _REPEAT else 1
        x = 1 if flag & _X_SHORT else 0 if flag & _X_SAME else 2
        y = 1 if flag & _Y_SHORT else 0 if flag & _Y_SAME else 2
        coordinates += (x + y) * (repeat + 1)
        seen += repeat + 1
    return pos - start + coordinates


def _renumber_components(data: bytes, new_of: dict[int, int], order: list[int]) -> bytes:
    out = bytearray(data)
    pos = 10
    while True:
        flags, old = struct.unpack_from(">HH", out, pos)
        new = new_of.get(old)
        if new is None:
            new = new_of[old] = len(order)
            order.append(old)
        struct.pack_into(">H", out, pos + 2, new)
        pos += 4 + (4 if flags & _ARGS_ARE_WORDS else 2)
        pos += 2 if flags & _HAS_SCALE else 4 if flags & _XY_SCALE else 8 if flags & _TWO_BY_TWO else 0
        if not flags & _MORE:
            return bytes(out)


def _patch(raw: bytes, *edits: tuple[int, str, int]) -> bytes:
    out = bytearray(raw)
    for offset, fmt, value in edits:
        struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def _checksum(data: bytes) -> int:
    words = array("I", data + b"\0" * (-len(data) % 4))  # 'I' is 4 bytes on every CPython platform we run
    if sys.byteorder == "little":
        words.byteswap()
    return sum(words) & 0xFFFFFFFF


def _sfnt(tables: dict[str, bytes]) -> bytes:
    """Assemble an OpenType file (table directory sorted by tag, checksums, head adjustment)."""
    tags = sorted(tables)
    count = len(tags)
    power = 1 << (count.bit_length() - 1)
    header = struct.pack(">IHHHH", 0x00010000, count, power * 16, power.bit_length() - 1, count * 16 - power * 16)
    offset = 12 + 16 * count
    directory, body = [], []
    for tag in tags:
        data = tables[tag]
        directory.append(struct.pack(">4sIII", tag.encode("latin-1"), _checksum(data), offset, len(data)))
        padded = data + b"\0" * (-len(data) % 4)
        body.append(padded)
        offset += len(padded)
    font = bytearray(header + b"".join(directory) + b"".join(body))
    head_at = 12 + 16 * count + sum(len(b) for b in body[: tags.index("head")])
    struct.pack_into(">I", font, head_at + 8, (0xB1B0AFBA - _checksum(bytes(font))) & 0xFFFFFFFF)
    return bytes(font)
