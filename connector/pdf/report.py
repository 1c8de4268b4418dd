"""The PDF/A copy of a biology report (CR-BIO PDF-copy section and MSSanté attachment).

Why PDF/A-1b: the MSSanté "socle" (ECO.2.1.x, see docs/spec/mssante.md §1) asks for each
document "au format PDF/A-1" next to the XDM zip; A-1b is the strictest common level
(no transparency, no object streams, all fonts embedded) so any PDF/A-1 or PDF/A-2
reader accepts it, and a text-and-rules report needs nothing PDF/A-2 would add.

Why a small writer of our own (``font``, ``writer``, ``layout``) instead of
fpdf2 or WeasyPrint: those parse and subset the TrueType fonts and lay the table out for
every document (110–280 ms each). :class:`ReportRenderer` parses the DejaVu fonts once per
process; ``render`` only measures and places text and cuts two small font subsets.

Output is deterministic: the same report and document identity give the same bytes
(dates come from the document identity, the trailer /ID from the document id).
"""

from __future__ import annotations

import re
import threading
import traceback
from datetime import UTC, datetime
from pathlib import Path

from connector.errors import CdaBuildError
from connector.model import DocumentIdentity, LabIdentity, MappedReport, Order

from .font import ParsedFont
from .format import SEX_LABELS, format_date, format_name, format_practitioner
from .layout import MARGIN, Canvas, Style
from .table import ResultTable
from .writer import (
    PAGE_HEIGHT,
    PAGE_WIDTH,
    DocumentInfo,
    file_id_for,
    srgb_profile,
    write_pdf,
)

__all__ = ["DEFAULT_FONT_DIR", "DOCUMENT_TYPE_LABEL", "ReportRenderer", "pdf_filename", "render_pdf"]

DEFAULT_FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")  # Debian package fonts-dejavu-core
FONT_FILES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf")  # wide Latin/Greek/Cyrillic/symbol coverage
DOCUMENT_TYPE_LABEL = "CR d'examens biologiques"  # LOINC 11502-2, as the ANS file-name examples spell types
TITLE = "Compte rendu d'examens de biologie médicale"
MAX_FILENAME_PART = 60  # characters per name part: keeps the whole name well under 255 bytes

HALF_WIDTH = 262.0  # patient block | prescriber and dates block
LABEL_WIDTH = 62.0  # "Compte rendu" at 8 pt, plus a gap

_TITLE = Style(size=13, bold=True)
_SMALL = Style(size=7, color=(0.3, 0.3, 0.3))
_LABEL = Style(size=8, color=(0.35, 0.35, 0.35))
_VALUE = Style(size=8.5, bold=True)
_NOTICE = Style(size=9, bold=True, color=(0.7, 0.0, 0.0))
_UNSAFE_IN_NAME = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]+')


class ReportRenderer:
    """Prepares fonts and page layout once per process; render() does only the per-report work."""

    def __init__(self, *, font_dir: Path | None = None) -> None:
        folder = font_dir or DEFAULT_FONT_DIR
        missing = [name for name in FONT_FILES if not (folder / name).is_file()]
        if missing:
            raise CdaBuildError(
                f"PDF fonts not found: {', '.join(missing)} in {folder} "
                "(install the Debian package fonts-dejavu-core or set font_dir)"
            )
        try:
            self._regular = ParsedFont.load(folder / FONT_FILES[0])
            self._bold = ParsedFont.load(folder / FONT_FILES[1])
        except Exception as exc:  # fontTools raises several types for a damaged file
            raise CdaBuildError(f"PDF fonts in {folder} could not be read ({type(exc).__name__})") from exc
        self._icc = srgb_profile()

    def render(self, mapped: MappedReport, *, lab: LabIdentity, ids: DocumentIdentity) -> bytes:
        """The PDF/A-1b bytes of the report. Thread-safe: the parsed fonts are only read.

        Any failure becomes :class:`CdaBuildError` naming the report and the code location,
        never the original message (it could quote a patient value).
        """
        try:
            return self._render(mapped, lab, ids)
        except Exception as exc:  # noqa: BLE001 - re-raised without its (possibly private) message
            where = traceback.extract_tb(exc.__traceback__)[-1]
            raise CdaBuildError(
                f"report {mapped.report_id}: PDF rendering failed with {type(exc).__name__} "
                f"at {Path(where.filename).name}:{where.lineno}"
            ) from None

    def _render(self, mapped: MappedReport, lab: LabIdentity, ids: DocumentIdentity) -> bytes:
        canvas = Canvas(self._regular, self._bold)
        canvas.new_page()
        _header(canvas, mapped, lab)
        canvas.on_new_page = lambda c: _running_header(c, mapped)
        table = ResultTable(canvas, mapped)
        table.draw()
        _signature(canvas, mapped, lab)
        _footers(canvas, ids)
        created = _created(ids, mapped)
        info = DocumentInfo(
            title=TITLE,
            author=lab.name,
            creator_tool=f"{lab.application_name} {lab.application_version}",
            producer=f"{lab.application_name} {lab.application_version}",
            created=created,
            file_id=file_id_for(ids.document_id_root, ids.document_id_extension, str(ids.version)),
        )
        pages = ["\n".join(ops).encode("ascii") for ops in canvas.pages]
        fonts = [("F1", canvas.fonts[False]), ("F2", canvas.fonts[True])]
        return write_pdf(pages, fonts, info, self._icc)


_default: ReportRenderer | None = None
_default_lock = threading.Lock()


def render_pdf(mapped: MappedReport, *, lab: LabIdentity, ids: DocumentIdentity) -> bytes:
    """Render with a module-level renderer made on first use (fonts parsed once per process)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = ReportRenderer()
    return _default.render(mapped, lab=lab, ids=ids)


def pdf_filename(mapped: MappedReport, ids: DocumentIdentity) -> str:
    """ECO.2.1.6: ``<date acte>_<type document>_<NOM>_<prénom>[_<n° dossier>].pdf``.

    The date of the act is the collection date (YYYYMMDD), else the document date. Unicode
    is kept (the e-mail stage encodes it per RFC 2231); characters that file systems refuse
    become ``-``.
    """
    report = mapped.report
    act = _collected_at(mapped) or ids.effective_time or _reported_at(mapped)
    name = report.patient.birth_name
    dossier = _dossier(mapped)
    parts = [
        act[:8],
        DOCUMENT_TYPE_LABEL,
        name.family.upper() if name else "",
        name.given[0] if name and name.given else "",
    ]
    if dossier:
        parts.append(dossier)
    cleaned = [_UNSAFE_IN_NAME.sub("-", p).strip(" .")[:MAX_FILENAME_PART] for p in parts]
    return "_".join(p for p in cleaned if p) + ".pdf"


# ---------------------------------------------------------------------------- page parts


def _header(canvas: Canvas, mapped: MappedReport, lab: LabIdentity) -> None:
    report, patient = mapped.report, mapped.report.patient
    canvas.text(MARGIN, canvas.y + 14, lab.name, _TITLE)
    address = ", ".join(p for p in (lab.street, f"{lab.postal_code} {lab.city}".strip()) if p)
    contact = "  ".join(p for p in (address, lab.telecom.removeprefix("tel:"), f"FINESS {lab.finess}") if p)
    canvas.text(MARGIN, canvas.y + 26, contact, _SMALL)
    canvas.text(MARGIN, canvas.y + 46, TITLE, Style(size=11, bold=True))
    canvas.y += 54
    canvas.rule(canvas.y)
    ins = patient.ins if patient.ins_qualified else None
    left = [
        ("Patient", format_name(patient.birth_name)),
        ("Né(e) le", format_date(patient.birth_date)),
        ("Sexe", SEX_LABELS.get(patient.sex.upper(), patient.sex)),
        ("IPP", patient.ipp.value if patient.ipp else ""),
        ("INS", f"{ins.value} (INS qualifiée)" if ins else ""),
    ]
    used = next((n for n in patient.names if n.name_type == "D"), None)
    if used is not None and format_name(used) != left[0][1]:
        left.insert(1, ("Nom utilisé", format_name(used)))
    right = [
        ("Prescripteur", format_practitioner(report.prescriber)),
        ("Prélèvement", format_date(_collected_at(mapped))),
        ("Préleveur", format_practitioner(next((o.collector for o in report.orders if o.collector), None),
                                          default_prefix="")),
        ("Réception", format_date(next((o.received_at for o in report.orders if o.received_at), ""))),
        ("Compte rendu", format_date(_reported_at(mapped))),
        ("Dossier", _dossier(mapped)),
    ]
    top = canvas.y
    for column, pairs in ((MARGIN, left), (MARGIN + HALF_WIDTH, right)):
        y = top
        for label, value in pairs:
            if not value:
                continue
            canvas.text(column, y + 12, label, _LABEL)
            for line in canvas.wrap(value, HALF_WIDTH - LABEL_WIDTH - 6, _VALUE):  # long names wrap
                y += 12
                canvas.text(column + LABEL_WIDTH, y, line, _VALUE)
        canvas.y = max(canvas.y, y)
    canvas.y += 6
    canvas.rule(canvas.y)
    canvas.y += 2
    if any(o.status in ("P", "I", "A") for o in report.orders):
        canvas.paragraph("Compte rendu partiel : d'autres résultats suivront.", _NOTICE)
    for comment in report.comments:
        canvas.paragraph(comment.text, Style(size=8))
    canvas.y += 6


def _running_header(canvas: Canvas, mapped: MappedReport) -> None:
    """Every later page names the patient, so a loose page is never anonymous."""
    patient = mapped.report.patient
    parts = [
        format_name(patient.birth_name),
        f"né(e) le {format_date(patient.birth_date)}" if patient.birth_date else "",
    ]
    if patient.ipp:
        parts.append(f"IPP {patient.ipp.value}")
    canvas.text(MARGIN, canvas.y + 9, " — ".join(p for p in parts if p), Style(size=8, bold=True))
    canvas.y += 13
    canvas.rule(canvas.y, weight=0.3)
    canvas.y += 4


def _signature(canvas: Canvas, mapped: MappedReport, lab: LabIdentity) -> None:
    biologist = format_practitioner(mapped.report.validating_biologist)
    if not biologist and lab.default_biologist_family:
        biologist = f"Dr {lab.default_biologist_family.upper()} {lab.default_biologist_given}".strip()
        biologist += f" (RPPS {lab.default_biologist_rpps})" if lab.default_biologist_rpps else ""
    canvas.ensure(30)
    canvas.y += 14
    canvas.text(MARGIN, canvas.y, "Validé par :", _LABEL)
    canvas.text(MARGIN + LABEL_WIDTH, canvas.y, biologist or "(biologiste non indiqué)", _VALUE)
    canvas.y += 6


def _footers(canvas: Canvas, ids: DocumentIdentity) -> None:
    doc = f"Document {ids.document_id_root}^{ids.document_id_extension} — version {ids.version}"
    if ids.replaces:
        doc += f" — remplace {ids.replaces[0]}^{ids.replaces[1]}"
    legend = "↑ ↓ * : résultat hors des valeurs de référence"
    total = len(canvas.pages)
    y = PAGE_HEIGHT - MARGIN
    for number, ops in enumerate(canvas.pages, start=1):
        canvas.ops = ops  # draw onto page ``number``
        canvas.rule(y - 18, weight=0.3)
        canvas.text(MARGIN, y - 9, legend, _SMALL)
        canvas.text(MARGIN, y, doc, _SMALL)
        page = f"Page {number} / {total}"
        canvas.text(PAGE_WIDTH - MARGIN - canvas.width(page, _SMALL), y, page, _SMALL)


# ---------------------------------------------------------------------------- report facts


def _orders(mapped: MappedReport) -> tuple[Order, ...]:
    return mapped.report.orders


def _collected_at(mapped: MappedReport) -> str:
    for order in _orders(mapped):
        if order.collected_at:
            return order.collected_at
        for specimen in order.specimens:
            if specimen.collected_at:
                return specimen.collected_at
    return next((r.specimen.collected_at for r in mapped.results if r.specimen and r.specimen.collected_at), "")


def _reported_at(mapped: MappedReport) -> str:
    return max((o.reported_at for o in _orders(mapped) if o.reported_at), default="")


def _dossier(mapped: MappedReport) -> str:
    for order in _orders(mapped):
        for ident in (order.placer_group, order.filler_number):
            if ident is not None and ident.value:
                return ident.value
    return ""


def _created(ids: DocumentIdentity, mapped: MappedReport) -> str:
    """ISO 8601 creation time: the CDA effectiveTime, else the report time, else now (UTC)."""
    stamp = ids.effective_time or _reported_at(mapped)
    digits = re.match(r"(\d{8,14})([+-]\d{4})?", stamp or "")
    if digits is None:
        return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    d = digits.group(1).ljust(14, "0")
    zone = digits.group(2) or "+0000"
    return f"{d[:4]}-{d[4:6]}-{d[6:8]}T{d[8:10]}:{d[10:12]}:{d[12:14]}{zone[:3]}:{zone[3:]}"
