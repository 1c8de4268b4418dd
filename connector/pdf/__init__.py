"""pdf stage: the PDF/A-1b copy of a report, the human-readable twin of the CDA.

    report.py   MappedReport → the pages (header, patient, results table, signatures)
    table.py    the results table; format.py how values, ranges, units and people are written
    layout.py   lines, cells and page breaks; font.py font parsing and subsetting (fontTools)
    writer.py   the PDF/A-1b file itself (objects, fonts, XMP, sRGB output intent)

Fonts are parsed once per process; a 2-page report takes ~3 ms (bench/bench_pdf.py).
"""

from .report import DEFAULT_FONT_DIR, DOCUMENT_TYPE_LABEL, ReportRenderer, pdf_filename, render_pdf

__all__ = ["DEFAULT_FONT_DIR", "DOCUMENT_TYPE_LABEL", "ReportRenderer", "pdf_filename", "render_pdf"]
