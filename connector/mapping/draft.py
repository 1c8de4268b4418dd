"""A draft mapping file from the SIL's test catalogue: ``connector mappings draft CATALOGUE.csv --out FILE.yaml``.

The catalogue is a CSV export with at least ``code``, ``label`` and ``unit`` columns
(``specimen`` optional; comma, semicolon or tab separated; UTF-8 or Windows-1252). Each
line becomes a test with its best LOINC candidate, its unit as UCUM, its CR-BIO chapter
(by LOINC CLASS) and the lab's own label as display; the other candidates are written as
comments. A line is marked ``A REVOIR`` (``needs_review``) when nothing fits well, when
two candidates are close, when the unit has no UCUM form or does not fit the code: those
are left for lab IT, and ``connector mappings check`` points at the ones that would not
work. The draft never goes live by itself: the lab copies what it has reviewed into
``mappings/``.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .chapters import CHAPTER_LABELS, chapter_for_loinc
from .loinc import LoincTable, default_loinc_dir
from .loinc_names import component_of, plain_words, specimen_from_names
from .property_fit import Fit
from .suggest import Candidate, suggest
from .unit_forms import read_unit

__all__ = ["DraftLine", "draft_mapping", "read_catalogue", "render_yaml"]

REQUIRED_COLUMNS = ("code", "label", "unit")
DEFAULT_CHAPTER = "18719-5"  # Biochimie, when the LOINC CLASS says nothing
CONFIDENT = 1.0  # a best score below this is reviewed
CLOSE = 0.05  # a runner-up this close is reviewed
_PLAIN_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_YAML_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})


@dataclass(frozen=True, kw_only=True)
class CatalogueLine:
    line: int
    code: str
    label: str
    unit: str
    specimen: str = ""


@dataclass(frozen=True, kw_only=True)
class DraftLine:
    """One test of the draft: what will be written, and why it needs a look when it does."""

    code: str
    label: str
    unit: str  # as the SIL writes it
    unit_ucum: str | None
    loinc: str | None
    display: str  # the candidate's name (the mapping file shows the lab's label)
    score: float
    chapter: str
    needs_review: bool
    reasons: tuple[str, ...] = ()
    alternatives: tuple[Candidate, ...] = field(default=(), repr=False)

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "label": self.label, "unit": self.unit, "unit_ucum": self.unit_ucum,
                "loinc": self.loinc, "display": self.display, "score": self.score, "chapter": self.chapter,
                "needs_review": self.needs_review, "reasons": list(self.reasons),
                "alternatives": [{"loinc": c.code, "display": c.display, "score": c.score}
                                 for c in self.alternatives]}


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:  # SIL exports from Windows
        return data.decode("cp1252")


def read_catalogue(path: Path) -> list[CatalogueLine]:
    """The catalogue's lines; ValueError naming the file and what is missing."""
    text = _decode(path.read_bytes())
    try:
        dialect: Any = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    header = {name.strip().lower(): name for name in reader.fieldnames or ()}
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ValueError(f"{path.name}: expected a header row with the columns {', '.join(REQUIRED_COLUMNS)} "
                         f"(specimen optional); missing: {', '.join(missing)}")
    out = []
    for number, row in enumerate(reader, start=2):
        def cell(name: str, row: dict[str, str] = row) -> str:
            return (row.get(header.get(name, ""), "") or "").strip()
        if cell("code"):
            out.append(CatalogueLine(line=number, code=cell("code"), label=cell("label"), unit=cell("unit"),
                                     specimen=cell("specimen")))
    return out


def _chapter(candidate: Candidate | None, table: LoincTable) -> str:
    concept = table.get(candidate.code) if candidate else None
    if concept is not None and concept.loinc_class:
        placed = chapter_for_loinc(concept.loinc_class, component=concept.component or component_of(
            concept.long_name), loinc_property=concept.kind, long_name=concept.long_name)
        if placed is not None:
            return placed[0].code
    return DEFAULT_CHAPTER


def _same_analyte(a: Candidate, b: Candidate, table: LoincTable) -> bool:
    """Two codes for the same analyte, property and specimen that differ by method only (automated count…)."""
    first, second = table.get(a.code), table.get(b.code)
    if first is None or second is None or first.kind != second.kind:
        return False
    names = [plain_words(component_of(c.long_name, c.display_fr)) for c in (first, second)]
    specimens = [specimen_from_names(c.long_name, c.display_fr) for c in (first, second)]
    return names[0] == names[1] and specimens[0] == specimens[1]


def _draft_line(line: CatalogueLine, table: LoincTable, loinc_dir: Path) -> DraftLine:
    found = suggest(line.label or line.code, loinc_dir=loinc_dir, limit=4, unit=line.unit, specimen=line.specimen)
    best = found[0] if found else None
    reasons: list[str] = []
    reading = read_unit(line.unit, loinc_property=best.loinc_property if best else "")
    if best is None:
        reasons.append("aucun code LOINC candidat : choisir le code (ou loinc: null)")
    else:
        if best.score < CONFIDENT:
            reasons.append(f"candidat peu sûr (score {best.score:.2f})")
        if len(found) > 1 and found[1].score >= best.score - CLOSE and not _same_analyte(best, found[1], table):
            reasons.append(f"{found[1].code} presque aussi probable")
        if line.unit and best.unit_fit == Fit.CONFLICT.value:
            reasons.append(f"l'unité {line.unit} ne convient pas au code {best.code} ({best.loinc_property})")
        elif line.unit and reading.ucum and best.unit_fit == Fit.UNKNOWN.value and best.loinc_property == "":
            reasons.append(f"le code {best.code} ne dit pas quelle unité il attend : vérifier")
    if line.unit and reading.ucum is None:
        reasons.append(f"unité {line.unit!r} sans forme UCUM : {reading.reason}")
    return DraftLine(code=line.code, label=line.label, unit=line.unit,
                     unit_ucum=reading.ucum if line.unit else "", loinc=best.code if best else None,
                     display=best.display if best else "", score=best.score if best else 0.0,
                     chapter=_chapter(best, table), needs_review=bool(reasons), reasons=tuple(reasons),
                     alternatives=tuple(found[1:]))


def draft_mapping(catalogue: Path, *, loinc_dir: Path) -> list[DraftLine]:
    table = LoincTable.open(loinc_dir, subset_dir=default_loinc_dir())
    lines, seen = [], set()
    for line in read_catalogue(catalogue):
        if line.code in seen:
            continue  # the first line of a code wins; the lint would refuse a duplicate key
        seen.add(line.code)
        lines.append(_draft_line(line, table, loinc_dir))
    return lines


def _quote(text: str) -> str:
    """A YAML scalar that stays a string: JSON strings are YAML double-quoted scalars."""
    return json.dumps(text, ensure_ascii=False)


def _key(code: str) -> str:
    return code if _PLAIN_KEY.fullmatch(code) and code.lower() not in _YAML_WORDS else _quote(code)


def _comment(text: str) -> str:
    return " ".join(text.split())


def render_yaml(lines: list[DraftLine], *, source: str) -> str:
    review = sum(line.needs_review for line in lines)
    out = [
        f"# Brouillon généré par `connector mappings draft` depuis {_comment(source)} : {len(lines)} analyses,",
        f"# {review} à revoir (« A REVOIR »). Les autres candidats LOINC sont en commentaire sous chaque analyse.",
        "# Relire chaque analyse, corriger, puis copier dans mappings/ et lancer : connector mappings check",
        "# Les codes et libellés LOINC sont © Regenstrief Institute (voir loinc/NOTICE.txt).",
        "tests:",
    ]
    for line in lines:
        label = f"{line.label} ({line.unit})" if line.unit else line.label
        out.append(f"  {_key(line.code)}:{' ' * max(1, 22 - len(_key(line.code)))}# {_comment(label)}")
        for reason in line.reasons:
            out.append(f"    # A REVOIR : {_comment(reason)}")
        if line.loinc:
            out.append(f"    loinc: {line.loinc}{' ' * max(1, 12 - len(line.loinc))}"
                       f"# {_comment(line.display)} (score {line.score:.2f})")
        else:
            out.append("    loinc: null")
        out.append(f"    display: {_quote(line.label or line.code)}")
        if line.unit_ucum:
            out.append(f"    unit: {_quote(line.unit_ucum)}")
        elif line.unit:  # no UCUM form: the lint points at this line until it is fixed
            out.append(f"    unit: {_quote(line.unit)}")
        out.append(f"    chapter: {line.chapter}{' ' * max(1, 10 - len(line.chapter))}"
                   f"# {CHAPTER_LABELS.get(line.chapter, '')}")
        for other in line.alternatives:
            out.append(f"    #   autre candidat : {other.code} {_comment(other.display)} (score {other.score:.2f})")
    return "\n".join(out) + "\n"
