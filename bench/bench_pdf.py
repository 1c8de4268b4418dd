"""PDF/A copy: ms/report for ReportRenderer beside a plain fpdf2 baseline, in the same run.

    python bench/bench_pdf.py [--runs 100] [--baseline-runs 4]

Cases: the reference report (20 results with a comment each: 2 pages), a 1-page 20-result
report and a 70-result report. The baseline is what the docs measured: fpdf2 2.8.9 with
``enforce_compliance="PDFA_1B"``, ``add_font`` per document and the ``table()`` helper.
Steady state only: the renderer (fonts parsed once) is built before timing; its build
time is printed separately. One core, one thread; five batches, best and median printed
(reports/s from the best batch) because the machine may be shared.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pikepdf
from fpdf import FPDF

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connector.model import Comment, MappedReport
from connector.pdf import DEFAULT_FONT_DIR, ReportRenderer
from connector.pdf.format import format_previous, format_range, format_unit, format_value
from tests.support.samples import sample_ids, sample_lab, sample_numeric_report


def commented(mapped: MappedReport) -> MappedReport:
    """Every result gets a two-line comment: 20 results then fill two pages."""
    note = Comment(
        "Résultat contrôlé sur un second prélèvement ; interprétation à confronter au contexte "
        "clinique et au traitement en cours (≥ 2 semaines)."
    )
    results = tuple(
        dataclasses.replace(r, result=dataclasses.replace(r.result, comments=(note,))) for r in mapped.results
    )
    return dataclasses.replace(mapped, results=results)


def baseline(mapped: MappedReport) -> bytes:
    """fpdf2 as documented: fonts added (parsed) per document, generic table helper."""
    pdf = FPDF(enforce_compliance="PDFA_1B")
    pdf.add_font("DejaVu", "", str(DEFAULT_FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(DEFAULT_FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.set_font("DejaVu", size=8)
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 12)
    pdf.cell(text=sample_lab().name)
    pdf.ln(8)
    pdf.set_font("DejaVu", size=8)
    with pdf.table(col_widths=(40, 16, 16, 22, 26), repeat_headings=1) as table:
        table.row(("Examen", "Résultat", "Unité", "Valeurs de référence", "Antériorité"))
        for r in mapped.results:
            table.row(
                (
                    r.display,
                    format_value(r.value),
                    format_unit(r.unit),
                    format_range(r.reference_range),
                    format_previous(r.previous, r.unit),
                )
            )
            for c in r.result.comments:
                table.row((c.text, "", "", "", ""))
    return bytes(pdf.output())


def timed(render: Callable[[], bytes], runs: int, batches: int = 5) -> tuple[float, float, bytes]:
    """(best, median) ms/report over ``batches`` batches of ``runs``: the machine may be shared."""
    data = render()  # warm-up
    results = []
    for _ in range(batches):
        start = time.perf_counter()
        for _ in range(runs):
            data = render()
        results.append((time.perf_counter() - start) / runs * 1000)
    return min(results), statistics.median(results), data


def pages(data: bytes) -> int:
    with pikepdf.open(io.BytesIO(data)) as doc:
        return len(doc.pages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--baseline-runs", type=int, default=4)
    args = parser.parse_args()
    lab, ids = sample_lab(), sample_ids()
    start = time.perf_counter()
    renderer = ReportRenderer()
    build_ms = (time.perf_counter() - start) * 1000
    cases = {
        "20 results + comments": commented(sample_numeric_report(20)),
        "20 results": sample_numeric_report(20),
        "70 results": sample_numeric_report(70),
    }
    print(f"ReportRenderer() once per process: {build_ms:.1f} ms (two DejaVu faces parsed)\n")
    print(f"| {'case':<22} | {'renderer':<15} | pages | {'bytes':>7} | best ms | median ms | reports/s |")
    print(f"|{'-' * 24}|{'-' * 17}|-------|{'-' * 9}|---------|-----------|-----------|")
    for name, mapped in cases.items():
        rows = [
            ("ReportRenderer", lambda m=mapped: renderer.render(m, lab=lab, ids=ids), args.runs),
            ("fpdf2 baseline", lambda m=mapped: baseline(m), args.baseline_runs),
        ]
        for label, render, runs in rows:
            best, median, data = timed(render, runs)
            print(
                f"| {name:<22} | {label:<15} | {pages(data):>5} | {len(data):>7} | {best:>7.2f} | {median:>9.2f} "
                f"| {1000 / best:>9.0f} |"
            )


if __name__ == "__main__":
    main()
