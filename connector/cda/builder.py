"""``build_document``: a MappedReport → CR-BIO CDA R2 bytes (level 3, or level 1 without results)."""

from __future__ import annotations

import base64

from lxml import etree

from connector.errors import CdaBuildError
from connector.limits import MAX_PDF_BYTES
from connector.model import DocumentIdentity, LabIdentity, MappedReport

from .attachments import comment_section, pdf_section
from .body import chapter_sections
from .context import make_context
from .elements import element, sub
from .header import build_header
from .narrative import IdSource

__all__ = ["build_document"]

PDF_MAGIC = b"%PDF-"


def build_document(
    mapped: MappedReport, *, lab: LabIdentity, ids: DocumentIdentity, pdf: bytes
) -> bytes:
    """The CR-BIO document as UTF-8 bytes with an XML declaration.

    Level 3 (structured body) when the report has results, else level 1 (``nonXMLBody``
    holding ``pdf``). Raises :class:`CdaBuildError` naming the report and field, never a value.
    """
    return serialize(build_tree(mapped, lab=lab, ids=ids, pdf=pdf))


def build_tree(
    mapped: MappedReport, *, lab: LabIdentity, ids: DocumentIdentity, pdf: bytes
) -> etree._Element:
    """The document as an lxml tree: validate it (XSD) and read its header, then :func:`serialize` it."""
    if not pdf.startswith(PDF_MAGIC) or len(pdf) > MAX_PDF_BYTES:
        raise CdaBuildError(
            f"report {mapped.report_id}: the PDF copy is not a PDF of at most {MAX_PDF_BYTES} bytes"
        )
    try:
        return _build(mapped, lab, ids, pdf)
    except (
        ValueError
    ):  # lxml refuses a string (e.g. a control character in a code): never echo it
        raise CdaBuildError(
            f"report {mapped.report_id}: a code or id holds characters XML cannot carry"
        ) from None


def serialize(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _build(
    mapped: MappedReport, lab: LabIdentity, ids: DocumentIdentity, pdf: bytes
) -> etree._Element:
    ctx = make_context(mapped, lab, ids)
    root = element("ClinicalDocument")
    chapters = mapped.chapters
    build_header(root, ctx, chapters)
    if mapped.results:
        body = sub(sub(root, "component"), "structuredBody")
        id_source = IdSource()
        chapter_sections(body, ctx, id_source)
        report = mapped.report
        notes = (*report.comments, *(c for o in report.orders for c in o.comments))
        if notes:
            comment_section(body, notes, id_source)
        seed = f"{ids.document_id_root}^{ids.document_id_extension}"
        pdf_section(body, pdf, seed, ctx.effective_time)
    else:
        text = sub(
            sub(sub(root, "component"), "nonXMLBody"),
            "text",
            mediaType="application/pdf",
            representation="B64",
        )
        text.text = base64.b64encode(pdf).decode("ascii")
    return root
