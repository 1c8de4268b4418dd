"""LOINC candidates for a local test: by code, or by its French label, unit and specimen.

How a candidate is scored (the README says the same to lab IT):

1. **Words** (0–1): the label is read as LOINC words (``french.read_query``: NFS, VGM,
   glycémie → glucose…). 60 % is the share of the label's terms found in the candidate's
   names (long name, short name, ANS French display), 40 % the share of the candidate's
   analyte (its component) that the label asks for, so ``urée`` prefers *Urea* to
   *Urea nitrogen*. A candidate needs at least one term of the label.
2. **Unit**: the unit read as UCUM against the LOINC property: +0.25 when it fits
   (mmol/L and a Moles/volume code), −0.6 when it contradicts it, −0.05 when the code
   does not say.
3. **Specimen** (``--specimen``, else words such as *urinaire*, *-émie*): +0.1 same
   specimen; −0.4 another one; with none given, urine, CSF, stool and other fluids −0.2.
4. **Variants not asked for**: challenge tests, 24-hour urines, test strips, detection
   limits, manual counts… −0.05 to −0.25 each.
5. **How common** the code is (rank in the Top 2000+ lists): up to +0.12.

An exact code scores 1000. Reads the shipped subset, plus the imported table when
``loinc_dir`` holds one (its full-text index gives the extra candidates).
"""

from __future__ import annotations

import math
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from .french import STOP_WORDS, Query, read_query, stem, words
from .loinc import LoincConcept, LoincTable, concept_from_row, default_loinc_dir, merge_shipped
from .loinc_names import Specimen, component_of, specimen_from_names, specimen_from_system
from .property_fit import Fit, property_fit
from .unit_forms import UnitKind, UnitReading, read_unit, unit_kind

__all__ = ["Candidate", "rank_concepts", "suggest"]

MAX_FTS_ROWS = 1000  # rows of the imported table ranked per query (best full-text matches)
EXACT = 1000.0
# (words of a long name, penalty, words of a label that ask for that variant)
_VARIANTS: tuple[tuple[str, float, frozenset[str]], ...] = (
    (" --", 0.25, frozenset({"post", "apres", "hgpo", "charge", "dialyse", "matin", "soir", "jeun"})),
    ("24 hour", 0.2, frozenset({"24h", "24", "diurese", "24heure"})),
    ("unspecified time", 0.1, frozenset()),
    ("test strip", 0.1, frozenset({"bandelette", "bu"})),
    ("detection limit", 0.1, frozenset({"ultrasensible", "u", "hs"})),
    ("manual count", 0.05, frozenset({"manuel", "manuelle", "frottis"})),
    ("high sensitivity", 0.05, frozenset({"u", "hs", "ultrasensible"})),
    ("estimated", 0.1, frozenset({"estime", "estimee"})),
    ("by calculation", 0.03, frozenset({"calcule", "calculee", "calculation"})),
)
# Words of a component that qualify the analyte rather than name it (Bilirubin.total, actual/normal).
_QUALIFIERS = frozenset({"total", "actual", "normal"})
_WEAK = 0.35
_RATES = frozenset({UnitKind.MASS_RATE, UnitKind.SUBSTANCE_RATE})
_LIKELY = frozenset({Specimen.BLOOD, Specimen.SERUM_PLASMA, Specimen.UNKNOWN})


@dataclass(frozen=True)  # no slots: vars() stays usable
class Candidate:
    code: str
    display: str  # French display when known, else LOINC long common name
    long_name: str
    score: float  # 1000 for an exact code, else the sum described in the module docstring
    loinc_property: str = ""
    loinc_class: str = ""
    unit_fit: str = Fit.UNKNOWN.value

    @property
    def loinc(self) -> str:
        return self.code

    def as_json(self) -> dict[str, Any]:
        return {"loinc": self.code, "display": self.display, "score": self.score, "long_name": self.long_name,
                "property": self.loinc_property, "class": self.loinc_class, "unit_fit": self.unit_fit}


@dataclass(frozen=True, slots=True)
class _Indexed:
    concept: LoincConcept
    names: frozenset[str]  # stems of every name
    core: tuple[tuple[str, float], ...]  # analyte stems with their weight
    specimen: Specimen
    lowered: str  # long name, lower case
    qualitative: bool


def _core(concept: LoincConcept) -> tuple[tuple[str, float], ...]:
    component = concept.component or component_of(concept.long_name, concept.display_fr)
    head, _, tail = component.partition("/")
    out: dict[str, float] = {}
    for part, weight in ((tail, _WEAK), (head, 1.0)):  # denominators (/100 leukocytes) weigh less
        for word in words(part):
            if word not in STOP_WORDS:
                out[stem(word)] = _WEAK if word in _QUALIFIERS else weight
    return tuple(out.items())


def _index(concept: LoincConcept) -> _Indexed:
    text = " ".join((concept.long_name, concept.short_name, concept.display_fr, concept.component,
                     concept.words_fr))
    names = frozenset(stem(w) for w in words(text) if w not in STOP_WORDS)
    specimen = specimen_from_system(concept.system) if concept.system else specimen_from_names(
        concept.long_name, concept.display_fr)
    lowered = concept.long_name.lower()
    qualitative = concept.scale in ("Ord", "Nom", "Nar") or "[presence]" in lowered or (
        "[interpretation]" in lowered) or " ql" in (" " + concept.short_name.lower())
    return _Indexed(concept, names, _core(concept), specimen, lowered, qualitative)


@lru_cache(maxsize=4)
def _indexed_subset(subset_dir: Path, mtime_ns: int) -> tuple[_Indexed, ...]:
    table = LoincTable.open(subset_dir=subset_dir)
    return tuple(_index(c) for c in table.subset.values() if c.is_test)


def _text_score(query: Query, item: _Indexed) -> float:
    terms = query.meaningful
    if not terms:
        return 0.0
    matched = 0.0
    for term in terms:
        matched += max(len(alt & item.names) / len(alt) for alt in term.alternatives)
    coverage_query = matched / len(terms)
    if coverage_query == 0:
        return 0.0
    asked = query.all_words
    total = sum(w for _, w in item.core) or 1.0
    coverage_core = sum(w for word, w in item.core if word in asked) / total
    return 0.6 * coverage_query + 0.4 * coverage_core


def _unit_score(unit: UnitReading | None, item: _Indexed) -> tuple[float, Fit]:
    if unit is None or not unit.ucum:
        return 0.0, Fit.UNKNOWN
    fit = property_fit(item.concept.kind, unit.ucum)
    if fit is Fit.FITS:
        return 0.25, fit
    if fit is Fit.CONFLICT:
        return -0.6, fit
    return (-0.3 if item.qualitative else -0.05), fit


def _specimen_score(query: Query, item: _Indexed) -> float:
    wanted, found = query.specimen, item.specimen
    if wanted is Specimen.UNKNOWN:
        return 0.0 if found in _LIKELY else -0.2
    if found is wanted:
        return 0.1
    if {wanted, found} == {Specimen.BLOOD, Specimen.SERUM_PLASMA} or found is Specimen.UNKNOWN:
        return -0.05
    return -0.4


def _variant_score(query: Query, item: _Indexed, unit_kind_: UnitKind) -> float:
    penalty = 0.0
    for marker, cost, asked in _VARIANTS:
        if marker in item.lowered and not (asked & query.raw):
            if marker == "24 hour" and unit_kind_ in _RATES:
                continue
            penalty -= cost
    return penalty


def _prior(concept: LoincConcept) -> float:
    if concept.rank <= 0:
        return 0.05 if concept.display_fr else 0.0  # ANS material only: used in French reports
    return 0.12 * max(0.0, 1.0 - math.log10(concept.rank) / math.log10(3000))


def rank_concepts(query: Query, pool: list[_Indexed], unit: UnitReading | None) -> list[Candidate]:
    kind = unit_kind(unit.ucum) if unit is not None and unit.ucum else UnitKind.UNKNOWN
    out = []
    for item in pool:
        text = _text_score(query, item)
        if text < 0.3:
            continue
        unit_points, fit = _unit_score(unit, item)
        score = text + unit_points + _specimen_score(query, item) + _variant_score(query, item, kind)
        score += _prior(item.concept)
        concept = item.concept
        out.append(Candidate(concept.code, concept.display, concept.long_name, round(score, 3), concept.kind,
                             concept.loinc_class, fit.value))
    out.sort(key=lambda c: (-c.score, len(c.long_name or c.display), c.code))
    return out


def suggest(query: str, *, loinc_dir: Path, limit: int = 10, unit: str = "", specimen: str = "") -> list[Candidate]:
    """Ranked candidates for ``query`` (a LOINC code or a French label) with its unit and specimen."""
    subset_dir = default_loinc_dir()
    table = LoincTable.open(loinc_dir, subset_dir=subset_dir)
    text = query.strip()
    exact = table.get(text)
    if exact is not None:
        return [Candidate(exact.code, exact.display, exact.long_name, EXACT, exact.kind, exact.loinc_class)]
    parsed = read_query(text, specimen=specimen)
    subset_file = subset_dir / "subset.csv"
    pool = list(_indexed_subset(subset_dir, subset_file.stat().st_mtime_ns)) if subset_file.is_file() else []
    if table.imported_db is not None:
        shipped = table.subset
        seen = {item.concept.code: i for i, item in enumerate(pool)}
        for concept in _fts_pool(table.imported_db, parsed):
            merged = merge_shipped(concept, shipped[concept.code]) if concept.code in shipped else concept
            indexed = _index(merged)
            if concept.code in seen:
                pool[seen[concept.code]] = indexed
            else:
                pool.append(indexed)
    reading = None
    if unit.strip():
        reading = read_unit(unit)
        if reading.ucum is None and "UI" in unit.upper():
            reading = UnitReading(unit, "[IU]/L")  # UI/L: kind is all the ranking needs (arbitrary or enzyme)
    return rank_concepts(parsed, pool, reading)[:limit]


def _fts_pool(db: Path, query: Query) -> list[LoincConcept]:
    tokens = sorted({w for w in query.all_words if len(w) >= 2})
    if not tokens:
        return []
    match = " OR ".join(f'"{w}"*' for w in tokens)
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            "SELECT c.* FROM concept_fts f JOIN concept c ON c.LOINC_NUM = f.LOINC_NUM "
            "WHERE concept_fts MATCH ? ORDER BY bm25(concept_fts) LIMIT ?",
            (match, MAX_FTS_ROWS),
        ).fetchall()
    return [concept_from_row(dict(r)) for r in rows]
