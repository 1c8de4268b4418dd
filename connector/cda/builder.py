"""``build_document``: a MappedReport → CR-BIO CDA R2 bytes (level 3).

A report without a result to show is refused (:class:`ReportRefused`), not sent as a level-1
(``nonXMLBody``) document: CR-BIO 2024.01 requires the XD-LAB header template that StrucMin forbids
on a level-1 document, so no level-1 CR-BIO passes the official validation
(tests/integration/test_cda_level1.py).
"""

from __future__ import annotations

from lxml import etree

from connector.errors import CdaBuildError, ReportRefused
from connector.limits import MAX_PDF_BYTES
from connector.model import DocumentIdentity, LabIdentity, MappedReport
from connector.model.outcomes import RefusalReason

from .attachments import comment_section, pdf_section
from .body import chapter_sections
from .context import make_context
from .elements import element, sub
from .header import build_header
from .narrative import IdSource

__all__ = ["build_document", "build_tree", "refuse_without_results", "serialize"]

PDF_MAGIC = b"%PDF-"


def build_document(
    mapped: MappedReport, *, lab: LabIdentity, ids: DocumentIdentity, pdf: bytes
) -> bytes:
    """The CR-BIO document as UTF-8 bytes with an XML declaration.

    Raises :class:`CdaBuildError` naming the report and field, never a value, and
    :class:`ReportRefused` (with its reason) when the report cannot be a valid CR-BIO document.
    """
    return serialize(build_tree(mapped, lab=lab, ids=ids, pdf=pdf))


def build_tree(
    mapped: MappedReport, *, lab: LabIdentity, ids: DocumentIdentity, pdf: bytes
) -> etree._Element:
    """The document as an lxml tree: validate it (XSD) and read its header, then :func:`serialize` it."""
    refuse_without_results(mapped)
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
    body = sub(sub(root, "component"), "structuredBody")
    id_source = IdSource()
    chapter_sections(body, ctx, id_source)
    report = mapped.report
    notes = (*report.comments, *(c for o in report.orders for c in o.comments))
    if notes:
        comment_section(body, notes, id_source)
    seed = f"{ids.document_id_root}^{ids.document_id_extension}"
    pdf_section(body, pdf, seed, ctx.effective_time)
    return root


def refuse_without_results(mapped: MappedReport) -> None:
    """:class:`ReportRefused` when no result is left to show: none sent, or all deleted (OBX-11 D/W)."""
    if mapped.results:
        return
    report = mapped.report
    sent = sum(len(o.results) + sum(len(s.results) for s in o.specimens) for o in report.orders)
    if sent:
        raise ReportRefused(
            f"report {report.report_id}: every result is deleted or posted in error (OBX-11 D or W): "
            "there is nothing to report; if results were sent before, the SIL must send their correction",
            reason=RefusalReason.RESULTS_WITHDRAWN,
        )
    raise ReportRefused(
        f"report {report.report_id}: the message holds no result (no OBX after the OBR): nothing to report",
        reason=RefusalReason.NO_RESULT,
    )
