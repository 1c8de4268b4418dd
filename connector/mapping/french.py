"""A French lab label read as the LOINC words it stands for (``Glycémie`` → glucose, in serum/plasma).

The words come from ``data/fr_terms.csv``, our own list of the words and abbreviations lab
IT write (NFS, VGM, ALAT, T4L, β-HCG…); it feeds the ranking only and is never shown as a
LOINC display. A word the list does not know stands for itself (``lipase``, ``sodium``),
with its French endings tried too (``ferritine`` → ``ferritin``).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .loinc_names import Specimen, plain_words

__all__ = ["STOP_WORDS", "Query", "Term", "read_query", "read_specimen", "stem", "words"]

DATA = Path(__file__).resolve().parent / "data" / "fr_terms.csv"
# Words that name nothing in LOINC names or French labels.
STOP_WORDS = frozenset({"de", "du", "des", "la", "le", "les", "l", "d", "a", "au", "aux", "en", "et", "sur", "par",
                        "pour", "dans", "avec", "in", "of", "by", "the", "and", "or", "to", "for", "100", "on"})
_WORD = re.compile(r"[a-z0-9]+")
_DOTTED = re.compile(r"(?<![a-z0-9])((?:[a-z0-9]\.){2,}[a-z0-9]?\.?)")
_MAX_PHRASE = 6
# More specific specimens win when a label names several (``hématies urinaires``).
_SPECIFICITY = (Specimen.URINE, Specimen.CSF, Specimen.STOOL, Specimen.SERUM_PLASMA, Specimen.BLOOD)
# ``--specimen`` values: French words and HL7 table 0487 codes.
_SPECIMEN_WORDS = {
    "sang": Specimen.BLOOD, "bld": Specimen.BLOOD, "blood": Specimen.BLOOD, "sang total": Specimen.BLOOD,
    "serum": Specimen.SERUM_PLASMA, "ser": Specimen.SERUM_PLASMA, "plasma": Specimen.SERUM_PLASMA,
    "plas": Specimen.SERUM_PLASMA, "serpl": Specimen.SERUM_PLASMA, "ser/plas": Specimen.SERUM_PLASMA,
    "ppp": Specimen.SERUM_PLASMA, "urine": Specimen.URINE, "urines": Specimen.URINE, "ur": Specimen.URINE,
    "lcr": Specimen.CSF, "csf": Specimen.CSF, "selles": Specimen.STOOL, "stl": Specimen.STOOL,
    "stool": Specimen.STOOL,
}


def stem(word: str) -> str:
    """Singular, for matching only: ``triglycerides`` ~ ``triglyceride``."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def words(text: str) -> list[str]:
    """Plain words of a label: accents off, ``C.C.M.H.`` → ``ccmh``, ``β-HCG`` → ``beta hcg``."""
    plain = _DOTTED.sub(lambda m: m.group(1).replace(".", ""), plain_words(text))
    return _WORD.findall(plain)


@dataclass(frozen=True, slots=True)
class Term:
    """One word or phrase of the label and the word sets that may express it in a LOINC name."""

    source: str
    alternatives: tuple[frozenset[str], ...]  # stems; empty: a word that names no analyte
    known: bool  # from the term list (else the word itself)


@dataclass(frozen=True, slots=True)
class Query:
    text: str
    terms: tuple[Term, ...]
    specimen: Specimen
    raw: frozenset[str]  # stems of every word of the label

    @property
    def all_words(self) -> frozenset[str]:
        """Every word the label may stand for: what a candidate's own words are compared with."""
        out = set(self.raw)
        for term in self.terms:
            for alternative in term.alternatives:
                out |= alternative
        return frozenset(out)

    @property
    def meaningful(self) -> tuple[Term, ...]:
        return tuple(t for t in self.terms if t.alternatives)


@dataclass(frozen=True, slots=True)
class _Entry:
    alternatives: tuple[frozenset[str], ...]
    specimen: Specimen


def _stems(text: str) -> frozenset[str]:
    return frozenset(stem(w) for w in words(text) if w not in STOP_WORDS)


@lru_cache(maxsize=2)
def _dictionary(path: Path = DATA) -> dict[tuple[str, ...], _Entry]:
    out: dict[tuple[str, ...], _Entry] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(line for line in handle if not line.startswith("#")):
            key = tuple(words(row["french"]))
            means = row["means"].strip()
            alternatives = () if means == "-" else tuple(s for s in (_stems(a) for a in means.split("|")) if s)
            specimen = Specimen(row["specimen"].strip()) if row["specimen"].strip() else Specimen.UNKNOWN
            if key:
                out[key] = _Entry(alternatives, specimen)
    return out


def _word_alternatives(word: str) -> tuple[frozenset[str], ...]:
    """A word the list does not know: itself, and without a French ending (``ferritine`` → ``ferritin``)."""
    forms = [word]
    for ending, replacement in (("ine", "in"), ("ie", "y"), ("ique", "ic"), ("e", "")):
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            forms.append(word[: -len(ending)] + replacement)
    return tuple(frozenset({stem(f)}) for f in dict.fromkeys(forms))


def read_specimen(text: str) -> Specimen:
    """``--specimen`` as a French word (sang, urine, LCR) or an HL7 table 0487 code (BLD, SER, UR)."""
    key = " ".join(words(text))
    return _SPECIMEN_WORDS.get(key, _SPECIMEN_WORDS.get(text.strip().lower(), Specimen.UNKNOWN))


def read_query(text: str, *, specimen: str = "") -> Query:
    dictionary = _dictionary()
    tokens = words(text)
    terms: list[Term] = []
    hints: list[Specimen] = []
    at = 0
    while at < len(tokens):
        for size in range(min(_MAX_PHRASE, len(tokens) - at), 0, -1):
            entry = dictionary.get(tuple(tokens[at:at + size]))
            if entry is not None:
                terms.append(Term(" ".join(tokens[at:at + size]), entry.alternatives, True))
                if entry.specimen in _SPECIFICITY:
                    hints.append(entry.specimen)
                at += size
                break
        else:
            word = tokens[at]
            if word not in STOP_WORDS:
                terms.append(Term(word, _word_alternatives(word), False))
            at += 1
    given = read_specimen(specimen) if specimen else Specimen.UNKNOWN
    if given is Specimen.UNKNOWN and hints:
        given = min(hints, key=_SPECIFICITY.index)
    raw = frozenset(stem(w) for w in tokens if w not in STOP_WORDS)
    return Query(text, tuple(terms), given, raw)
