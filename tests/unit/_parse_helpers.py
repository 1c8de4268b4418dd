"""Shared helpers for the parse-stage tests (not a test module)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from connector.model import LabReport
from connector.parse import parse_message, split_messages
from tests.support.settings import PARSE

ROOT = Path(__file__).resolve().parents[2]
ORU_DIR = ROOT / "tests" / "data" / "oru"
BAD_DIR = ROOT / "tests" / "data" / "bad"
CORPUS = sorted(ORU_DIR.glob("*.hl7"))


def parse_file(path: Path) -> list[tuple[bytes, tuple[LabReport, ...]]]:
    """(message bytes, its reports) for each message of the file."""
    messages = split_messages(path.read_bytes(), source=path.name)
    return [(m, parse_message(m, source=path.name, index=i, settings=PARSE)) for i, m in enumerate(messages)]


def reports_of(name: str) -> tuple[LabReport, ...]:
    return tuple(r for _, reports in parse_file(ORU_DIR / name) for r in reports)


def collected_segments(reports: tuple[LabReport, ...]) -> Counter[str]:
    """Every segment text the reports keep: mapped ``raw`` fields + other_segments (shared ones once)."""
    texts: Counter[str] = Counter()
    seen_positions: set[int] = set()
    for report in reports:
        texts[report.patient.raw] += 1
        texts.update(c.raw for c in report.comments)
        texts.update(p.raw for p in report.participants)
        for order in report.orders:
            texts.update(order.raw.split("\r"))
            texts.update(c.raw for c in order.comments)
            results = list(order.results)
            for specimen in order.specimens:
                if specimen.raw:
                    texts[specimen.raw] += 1
                results += specimen.results
            for result in results:
                texts[result.raw] += 1
                texts.update(c.raw for c in result.comments)
        for seg in report.other_segments:
            if seg.position not in seen_positions:
                seen_positions.add(seg.position)
                texts[seg.raw] += 1
    return texts
