"""A minimal PDF/A-1b file writer: pages of pre-built content streams, two embedded fonts.

Only what a text-and-rules report needs: no images, no transparency, no annotations,
no object or xref streams (PDF 1.4), uncompressed XMP metadata, an sRGB output intent,
CIDFontType2 fonts with ``CIDSet`` (required by PDF/A-1 for subset CID fonts) and a
``ToUnicode`` map so the text can be searched and copied.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from importlib import resources
from xml.sax.saxutils import escape

from .font import FontSubset

__all__ = ["DocumentInfo", "file_id_for", "srgb_profile", "write_pdf"]

PAGE_WIDTH, PAGE_HEIGHT = 595.28, 841.89  # A4 in points
_COMPRESSION = 1  # zlib level: 6 costs 0.3 ms more per report for 3 % smaller files; 9 is slower still


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    """Document metadata written identically to the Info dictionary and the XMP packet."""

    title: str
    author: str
    creator_tool: str
    producer: str
    created: str  # ISO 8601 with zone: 2026-11-25T10:30:00+01:00
    file_id: bytes  # 16 bytes, stable for a document version (trailer /ID)


def srgb_profile() -> bytes:
    """The ICC v2 sRGB profile shipped with fpdf2 (a declared dependency; PDF/A-1 wants ICC v2),
    deflated once per process."""
    return zlib.compress(resources.files("fpdf").joinpath("data/color_profiles/sRGB2014.icc").read_bytes(), 9)


def write_pdf(pages: list[bytes], fonts: list[tuple[str, FontSubset]], info: DocumentInfo, icc: bytes) -> bytes:
    """Serialise the document. ``pages`` are content streams; ``fonts`` are (resource name, subset);
    ``icc`` is the output profile already deflated (see :func:`srgb_profile`)."""
    out = _Objects()
    catalog, pages_id, info_id, meta_id, icc_id = out.reserve(5)
    tagged = zip(fonts, _TAGS, strict=False)  # more tags than fonts
    font_refs = " ".join(f"/{name} {_font(out, subset, tag)} 0 R" for (name, subset), tag in tagged)
    page_ids = []
    for content in pages:
        stream = out.stream(zlib.compress(content, _COMPRESSION), b"/Filter /FlateDecode")
        page_ids.append(
            out.add(
                f"<< /Type /Page /Parent {pages_id} 0 R /MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] "
                f"/Resources << /Font << {font_refs} >> /ProcSet [/PDF /Text] >> /Contents {stream} 0 R >>".encode()
            )
        )
    kids = " ".join(f"{p} 0 R" for p in page_ids)
    out.set(pages_id, f"<< /Type /Pages /Kids [{kids}] /Count {len(page_ids)} >>".encode())
    out.set_stream(icc_id, icc, b"/N 3 /Filter /FlateDecode")
    out.set_stream(meta_id, _xmp(info), b"/Type /Metadata /Subtype /XML")  # unfiltered (PDF/A-1 6.7.2)
    pdf_date = _pdf_date(info.created)
    out.set(
        info_id,
        f"<< /Title {_text(info.title)} /Author {_text(info.author)} /Creator {_text(info.creator_tool)} "
        f"/Producer {_text(info.producer)} /CreationDate ({pdf_date}) /ModDate ({pdf_date}) >>".encode(),
    )
    out.set(
        catalog,
        f"<< /Type /Catalog /Pages {pages_id} 0 R /Metadata {meta_id} 0 R /Lang (fr-FR) "
        f"/OutputIntents [<< /Type /OutputIntent /S /GTS_PDFA1 /OutputConditionIdentifier (sRGB IEC61966-2.1) "
        f"/Info (sRGB IEC61966-2.1) /DestOutputProfile {icc_id} 0 R >>] >>".encode(),
    )
    return out.serialise(catalog, info_id, info.file_id)


# Subset tags (six capitals, ISO 32000-1 §9.6.4): fixed per font slot, the fonts differ anyway.
_TAGS = ("AAAAAA", "BBBBBB", "CCCCCC", "DDDDDD")


def _font(out: _Objects, subset: FontSubset, tag: str) -> int:
    font = subset.font
    name = f"{tag}+{font.postscript_name}"
    program, cid_count = subset.program()
    file_id = out.stream(zlib.compress(program, _COMPRESSION), f"/Length1 {len(program)} /Filter /FlateDecode".encode())
    cidset = bytearray((cid_count + 7) // 8)
    for cid in range(cid_count):
        cidset[cid // 8] |= 0x80 >> (cid % 8)
    cidset_id = out.stream(bytes(cidset), b"")
    bbox = " ".join(str(v) for v in font.bbox)
    descriptor = out.add(
        f"<< /Type /FontDescriptor /FontName /{name} /Flags {font.flags} /FontBBox [{bbox}] "
        f"/ItalicAngle {font.italic_angle:g} /Ascent {font.ascent} /Descent {font.descent} "
        f"/CapHeight {font.cap_height} /StemV 80 /FontFile2 {file_id} 0 R /CIDSet {cidset_id} 0 R >>".encode()
    )
    widths = " ".join(f"{w:.0f}" for _, w in subset.widths())
    cid_font = out.add(
        f"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /{name} "
        f"/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> "
        f"/FontDescriptor {descriptor} 0 R /DW 1000 /W [0 [{widths}]] /CIDToGIDMap /Identity >>".encode()
    )
    to_unicode = out.stream(zlib.compress(_cmap(subset)), b"/Filter /FlateDecode")
    return out.add(
        f"<< /Type /Font /Subtype /Type0 /BaseFont /{name} /Encoding /Identity-H "
        f"/DescendantFonts [{cid_font} 0 R] /ToUnicode {to_unicode} 0 R >>".encode()
    )


def _cmap(subset: FontSubset) -> bytes:
    items = sorted(subset.unicode_of.items())
    lines = []
    for start in range(0, len(items), 100):  # at most 100 entries per bfchar block
        chunk = items[start : start + 100]
        lines.append(f"{len(chunk)} beginbfchar")
        lines.extend(f"<{cid:04X}> <{ch.encode('utf-16-be').hex().upper()}>" for cid, ch in chunk)
        lines.append("endbfchar")
    return (
        "/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n"
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        "/CMapName /Adobe-Identity-UCS def /CMapType 2 def\n"
        "1 begincodespacerange <0000> <FFFF> endcodespacerange\n"
        + "\n".join(lines)
        + "\nendcmap CMapName currentdict /CMap defineresource pop end end\n"
    ).encode("ascii")


def _xmp(info: DocumentInfo) -> bytes:
    e = escape
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '<rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">'
        "<pdfaid:part>1</pdfaid:part><pdfaid:conformance>B</pdfaid:conformance></rdf:Description>\n"
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:format>application/pdf</dc:format>'
        f'<dc:title><rdf:Alt><rdf:li xml:lang="x-default">{e(info.title)}</rdf:li></rdf:Alt></dc:title>'
        f"<dc:creator><rdf:Seq><rdf:li>{e(info.author)}</rdf:li></rdf:Seq></dc:creator></rdf:Description>\n"
        '<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/">'
        f"<xmp:CreateDate>{info.created}</xmp:CreateDate><xmp:ModifyDate>{info.created}</xmp:ModifyDate>"
        f"<xmp:CreatorTool>{e(info.creator_tool)}</xmp:CreatorTool></rdf:Description>\n"
        '<rdf:Description rdf:about="" xmlns:pdf="http://ns.adobe.com/pdf/1.3/">'
        f"<pdf:Producer>{e(info.producer)}</pdf:Producer></rdf:Description>\n"
        '</rdf:RDF></x:xmpmeta>\n<?xpacket end="w"?>'
    ).encode()


def _pdf_date(iso: str) -> str:
    """2026-11-25T10:30:00+01:00 → D:20261125103000+01'00' (same instant as the XMP)."""
    digits = iso[:19].replace("-", "").replace("T", "").replace(":", "")
    zone = iso[19:]
    if zone in ("", "Z"):
        return f"D:{digits}Z"
    return f"D:{digits}{zone[0]}{zone[1:3]}'{zone[4:6]}'"


def _text(value: str) -> str:
    """A PDF text string as UTF-16BE hex with BOM: any character, no escaping."""
    return "<FEFF" + value.encode("utf-16-be").hex().upper() + ">"


class _Objects:
    """Numbered indirect objects, written in number order with a classic xref table."""

    def __init__(self) -> None:
        self._bodies: dict[int, bytes] = {}
        self._next = 1

    def reserve(self, count: int) -> list[int]:
        ids = list(range(self._next, self._next + count))
        self._next += count
        return ids

    def add(self, body: bytes) -> int:
        (obj,) = self.reserve(1)
        self._bodies[obj] = body
        return obj

    def set(self, obj: int, body: bytes) -> None:
        self._bodies[obj] = body

    def stream(self, data: bytes, extra: bytes) -> int:
        (obj,) = self.reserve(1)
        self.set_stream(obj, data, extra)
        return obj

    def set_stream(self, obj: int, data: bytes, extra: bytes) -> None:
        self._bodies[obj] = b"<< /Length %d %s >>\nstream\n%s\nendstream" % (len(data), extra, data)

    def serialise(self, root: int, info: int, file_id: bytes) -> bytes:
        chunks = [b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"]  # binary comment: 4 bytes > 127 (PDF/A-1 6.1.2)
        size = len(chunks[0])
        offsets = []
        for obj in range(1, self._next):
            chunk = b"%d 0 obj\n%s\nendobj\n" % (obj, self._bodies[obj])
            offsets.append(size)
            size += len(chunk)
            chunks.append(chunk)
        xref = [b"xref\n0 %d\n0000000000 65535 f \n" % self._next]
        xref.extend(b"%010d 00000 n \n" % off for off in offsets)
        hex_id = file_id.hex().upper().encode()
        chunks.append(b"".join(xref))
        chunks.append(
            b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R /ID [<%s> <%s>] >>\nstartxref\n%d\n%%%%EOF\n"
            % (self._next, root, info, hex_id, hex_id, size)
        )
        return b"".join(chunks)


def file_id_for(*parts: str) -> bytes:
    """A stable 16-byte /ID from the document identity (same version → same id)."""
    return hashlib.md5("\x1f".join(parts).encode("utf-8"), usedforsecurity=False).digest()
