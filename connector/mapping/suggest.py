"""LOINC candidates for a local test, by code or by words of its French/English label.

Ranking: exact code first, then the share of query words found in the concept's words
(accent- and case-insensitive, prefixes count half), then the shorter name. Reads the
imported table (FTS5 index) when ``loinc_dir`` holds one, else the shipped subset.
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from .loinc import LoincConcept, LoincTable, default_loinc_dir

__all__ = ["Candidate", "suggest"]

# Rows fetched from the FTS index before ranking: enough for a useful top 10.
MAX_FTS_ROWS = 500
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)  # no slots: vars() gives the JSON output of the CLI
class Candidate:
    code: str
    display: str  # French display when known, else LOINC long common name
    long_name: str
    score: float  # 1000 for an exact code, else 0..1 word overlap


def _words(text: str) -> list[str]:
    plain = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(ch for ch in plain if not unicodedata.combining(ch))
    return _WORD.findall(plain)


def _score(query: list[str], concept: LoincConcept) -> float:
    words = set(_words(" ".join((concept.long_name, concept.short_name, concept.component, concept.display_fr))))
    if not query or not words:
        return 0.0
    total = 0.0
    for word in query:
        if word in words:
            total += 1
        elif len(word) >= 3 and any(w.startswith(word) or (word.startswith(w) and len(w) >= 3) for w in words):
            total += 0.5
    return total / len(query)


def suggest(query: str, *, loinc_dir: Path, limit: int = 10) -> list[Candidate]:
    table = LoincTable.open(loinc_dir, subset_dir=default_loinc_dir())
    query = query.strip()
    words = _words(query)
    pool = _fts_pool(table.imported_db, query, words) if table.imported_db else list(table.subset.values())
    ranked: list[Candidate] = []
    for concept in pool:
        score = 1000.0 if concept.code == query else _score(words, concept)
        if score > 0:
            ranked.append(Candidate(concept.code, concept.display, concept.long_name, score))
    ranked.sort(key=lambda c: (-c.score, len(c.long_name or c.display), c.code))
    return ranked[:limit]


def _fts_pool(db: Path, query: str, words: list[str]) -> list[LoincConcept]:
    terms = " OR ".join(f'"{w}"*' for w in words if len(w) >= 2) or '""'
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            "SELECT c.* FROM concept c WHERE c.LOINC_NUM = ? UNION "
            "SELECT c.* FROM concept_fts f JOIN concept c ON c.LOINC_NUM = f.LOINC_NUM "
            "WHERE concept_fts MATCH ? LIMIT ?",
            (query, terms, MAX_FTS_ROWS),
        ).fetchall()
    return [
        LoincConcept(r["LOINC_NUM"], r["LONG_COMMON_NAME"], r["SHORTNAME"], r["COMPONENT"], r["PROPERTY"],
                     r["SYSTEM"], r["SCALE_TYP"], r["STATUS"], r["DISPLAY_FR"])
        for r in rows
    ]
