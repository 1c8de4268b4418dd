"""Suggestion speed and hit rate beside the word-overlap ranking it replaced, measured in the same run.

    python bench/bench_suggest.py [ROUNDS]

Both rank the same shipped subset (2,439 rows, no imported table) for the 89 French labels of
tests/data/mapping/fr_lab_labels.csv. The baseline is the previous ``suggest`` (share of the
label's words found in a code's names, prefixes count half), kept here verbatim in spirit so
the two can be compared on one machine. Also times ``mappings draft`` of the 66-line catalogue.
"""

from __future__ import annotations

import csv
import re
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from connector.mapping import suggest
from connector.mapping.draft import draft_mapping
from connector.mapping.loinc import LoincConcept, LoincTable, default_loinc_dir

DATA = REPO / "tests" / "data" / "mapping"
_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> list[str]:
    plain = unicodedata.normalize("NFKD", text.lower())
    return _WORD.findall("".join(ch for ch in plain if not unicodedata.combining(ch)))


def baseline(query: str, pool: list[LoincConcept], limit: int) -> list[str]:
    """The ranking before: word overlap only, no unit, no specimen, no French terms."""
    words = _words(query)
    ranked = []
    for concept in pool:
        names = set(_words(" ".join((concept.long_name, concept.short_name, concept.component, concept.display_fr))))
        if not words or not names:
            continue
        total = 0.0
        for word in words:
            if word in names:
                total += 1
            elif len(word) >= 3 and any(w.startswith(word) or (word.startswith(w) and len(w) >= 3) for w in names):
                total += 0.5
        if total:
            ranked.append((-total / len(words), len(concept.long_name or concept.display), concept.code))
    return [code for *_, code in sorted(ranked)[:limit]]


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    with (DATA / "fr_lab_labels.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    pool = list(LoincTable.open(subset_dir=default_loinc_dir()).subset.values())
    empty = Path(tempfile.mkdtemp())
    suggest("warm-up", loinc_dir=empty)  # index built once per process (~0.1 s)

    def ours() -> int:
        return sum(bool(set(r["expected"].split()) & {c.code for c in suggest(
            r["label"], loinc_dir=empty, limit=3, unit=r["unit"], specimen=r["specimen"])}) for r in rows)

    def before() -> int:
        return sum(bool(set(r["expected"].split()) & set(baseline(r["label"], pool, 3))) for r in rows)

    for name, run in (("suggest (this)", ours), ("baseline: word overlap", before)):
        start = time.perf_counter()
        for _ in range(rounds):
            hits = run()
        per_query = (time.perf_counter() - start) / rounds / len(rows)
        print(f"{name:<24} {per_query * 1000:6.2f} ms/query   top-3 hits {hits}/{len(rows)} "
              f"({hits / len(rows):.0%})")
    start = time.perf_counter()
    lines = draft_mapping(DATA / "sil_catalogue.csv", loinc_dir=empty)
    print(f"mappings draft: {len(lines)} catalogue lines in {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
