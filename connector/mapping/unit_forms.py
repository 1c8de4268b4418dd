"""Units as SILs write them → the UCUM code a document may carry, its kind, and the label a reader expects.

``read_unit`` normalises only what has one meaning: a spelling of ``data/units.csv``
(``G/L`` → ``10*9/L``, ``mUI/L`` → ``m[IU]/L``), the micro sign, the litre written ``l``
(``ug/dl`` → ``ug/dL``, same unit: the ANS kit knows only the ``L`` form), and case slips
that UCUM refuses (``MMOL/L``, ``iU/mL``) when a single lab unit matches them. ``UI/L`` is
read by the LOINC property (``U/L`` for an enzymatic activity, ``[IU]/L`` for a hormone or
an immunoassay). Anything else without a UCUM form (``enzyme units``) is refused with a
reason, never sent: the caller holds the report.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from .units import ucum_error, ucum_trap, unit_dimension

__all__ = ["LabUnit", "UnitKind", "UnitReading", "lab_units", "read_unit", "unit_kind", "unit_label"]

DATA = Path(__file__).resolve().parent / "data" / "units.csv"


class UnitKind(StrEnum):
    MASS_CONC = "mass_conc"
    SUBSTANCE_CONC = "substance_conc"
    NUMBER_CONC = "number_conc"
    CATALYTIC_CONC = "catalytic_conc"
    ARBITRARY_CONC = "arbitrary_conc"
    FRACTION = "fraction"
    ENTITIC_VOLUME = "entitic_volume"
    ENTITIC_MASS = "entitic_mass"
    TIME = "time"
    VELOCITY = "velocity"
    MASS_RATE = "mass_rate"
    SUBSTANCE_RATE = "substance_rate"
    VOLUME_RATE = "volume_rate"
    AREA_VOLUME_RATE = "area_volume_rate"
    PRESSURE = "pressure"
    UNITLESS = "unitless"
    VOLUME = "volume"
    MASS = "mass"
    LENGTH = "length"
    OTHER = "other"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class LabUnit:
    ucum: str
    label: str  # what a French report prints: G/L, UI/mL, µmol/L
    kind: UnitKind
    spellings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class UnitReading:
    """The UCUM code for a spelling (``ucum``), or None with ``reason`` saying why there is none."""

    spelling: str
    ucum: str | None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.ucum is not None


@dataclass(frozen=True, slots=True)
class _Tables:
    by_ucum: dict[str, LabUnit]
    by_spelling: dict[str, str]
    by_key: dict[str, frozenset[str]]


def _key(unit: str) -> str:
    """Case- and punctuation-blind form: ``U.I./mL``, ``[IU]/mL`` and ``iu/ml`` meet at ``iu/ml``."""
    plain = re.sub(r"[\[\]{}()._' ]", "", unit.lower().replace("µ", "u").replace("μ", "u"))
    return re.sub(r"(?<![a-z])ui(?![a-z])|(?<=[munpfk])ui(?![a-z])", "iu", plain)


def lab_units(path: Path = DATA) -> dict[str, LabUnit]:
    return dict(_tables(path).by_ucum)


@lru_cache(maxsize=2)
def _tables(path: Path = DATA) -> _Tables:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        units = [LabUnit(r["ucum"], r["label"], UnitKind(r["kind"]),
                         tuple(s for s in (r["spellings"] or "").split("|") if s)) for r in rows]
    by_ucum = {u.ucum: u for u in units}
    by_spelling = {s: u.ucum for u in units for s in u.spellings}
    keys: dict[str, set[str]] = {}
    for unit in units:
        for form in (unit.ucum, *unit.spellings):
            keys.setdefault(_key(form), set()).add(unit.ucum)
    return _Tables(by_ucum, by_spelling, {k: frozenset(v) for k, v in keys.items()})


# ``UI/L`` and its variants: [IU]/L or U/L depending on what is measured.
_IU_PER_LITRE = frozenset({"iu/l"})
_ENZYME_PROPERTIES = frozenset({"CCnc", "CCnt", "CRat"})
_PREFIXES = "yzafpnumcdhkMGTPEZY"
_TOKEN = re.compile(r"[A-Za-z]+")


def _litre_as_L(unit: str) -> str:
    """``mmol/l`` → ``mmol/L``: the litre atom (optionally prefixed) outside brackets and annotations."""
    out, depth = [], 0
    for piece in re.split(r"([\[\]{}])", unit):
        if piece in ("[", "{"):
            depth += 1
        elif piece in ("]", "}"):
            depth -= 1
        elif depth == 0:
            piece = _TOKEN.sub(lambda m: _litre_token(m.group(0)), piece)
        out.append(piece)
    return "".join(out)


def _litre_token(token: str) -> str:
    if token == "l":
        return "L"
    if len(token) == 2 and token[1] == "l" and token[0] in _PREFIXES:
        return token[0] + "L"
    return token


@lru_cache(maxsize=4096)  # the mapper reads the same few units all day
def read_unit(spelling: str, *, loinc_property: str = "") -> UnitReading:
    """The UCUM code for ``spelling`` (OBX-6 or a mapping's unit), given the LOINC property when known."""
    text = " ".join(spelling.split())
    if not text:
        return UnitReading(spelling, "")
    tables = _tables()
    if text in tables.by_ucum:
        return UnitReading(spelling, text)
    if _key(text) in _IU_PER_LITRE:
        if loinc_property in _ENZYME_PROPERTIES:
            return UnitReading(spelling, "U/L", "an enzymatic activity in UI/L is written U/L")
        if loinc_property:
            return UnitReading(spelling, "[IU]/L", "international units per litre are written [IU]/L")
        return UnitReading(spelling, None, f"'{text}' is [IU]/L for hormones and immunoassays but U/L for "
                                           "enzymes: set the unit of this test in the mapping file")
    if text in tables.by_spelling:
        return UnitReading(spelling, tables.by_spelling[text])
    plain = text.replace("µ", "u").replace("μ", "u")
    if plain != text and plain in tables.by_ucum:
        return UnitReading(spelling, plain)
    if not ucum_trap(plain) and ucum_error(plain) is None:
        canonical = _litre_as_L(plain)
        matches = tables.by_key.get(_key(canonical), frozenset())
        if matches and canonical not in matches:  # Mg/dL parses (megagram) but surely means mg/dL
            return UnitReading(spelling, None, f"'{text}' is UCUM for another unit than the "
                                               f"{'/'.join(sorted(matches))} it looks like (UCUM is case-sensitive)")
        return UnitReading(spelling, canonical)
    matches = tables.by_key.get(_key(plain), frozenset())
    if len(matches) == 1:
        return UnitReading(spelling, next(iter(matches)))
    if len(matches) > 1:
        return UnitReading(spelling, None, f"'{text}' could be {' or '.join(sorted(matches))}: "
                                           "set the unit of this test in the mapping file")
    why = ucum_trap(plain) or f"'{text}' is not a UCUM unit and has no known UCUM form"
    return UnitReading(spelling, None, why)


def unit_label(ucum: str) -> str:
    """What a reader expects to see for a UCUM code: ``10*9/L`` → ``G/L``, ``[IU]/mL`` → ``UI/mL``."""
    known = _tables().by_ucum.get(ucum)
    if known is not None:
        return known.label
    label = re.sub(r"\{[^}]*\}", "", ucum)
    label = label.replace("[IU]", "UI").replace("[iU]", "UI").replace("[arb'U]", "UA").replace("mm[Hg]", "mmHg")
    label = re.sub(r"10\*(\d+)", lambda m: "10" + m.group(1).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")),
                   label)
    label = re.sub(r"(?<![A-Za-z])u(?=(g|mol|L|kat|m|UI)\b)", "µ", label)
    return label.replace("meq", "mEq").replace("(24.h)", "24 h").replace(".", "·")


# LOINC-kind references for units outside the table, compared by dimension (pint, via ucumvert).
_KIND_REFERENCES = (
    (UnitKind.MASS_CONC, "g/L"), (UnitKind.SUBSTANCE_CONC, "mol/L"), (UnitKind.NUMBER_CONC, "/L"),
    (UnitKind.CATALYTIC_CONC, "U/L"), (UnitKind.FRACTION, "%"), (UnitKind.VOLUME, "L"), (UnitKind.MASS, "g"),
    (UnitKind.TIME, "s"), (UnitKind.VELOCITY, "mm/h"), (UnitKind.MASS_RATE, "g/h"),
    (UnitKind.SUBSTANCE_RATE, "mol/h"), (UnitKind.VOLUME_RATE, "mL/min"), (UnitKind.PRESSURE, "Pa"),
    (UnitKind.LENGTH, "m"),
)
_ARBITRARY = re.compile(r"\[(IU|iU|arb'U)\]")


@lru_cache(maxsize=1024)
def unit_kind(ucum: str) -> UnitKind:
    """What a UCUM unit measures: from the table, else from its dimension (slow once: builds pint)."""
    if not ucum:
        return UnitKind.UNKNOWN
    known = _tables().by_ucum.get(ucum)
    if known is not None:
        return known.kind
    if re.fullmatch(r"(\{[^}]*\}|1)", ucum):
        return UnitKind.UNITLESS
    dimension = unit_dimension(ucum)
    if dimension is None:
        return UnitKind.UNKNOWN
    for kind, reference in _KIND_REFERENCES:
        if dimension == unit_dimension(reference):
            if kind is UnitKind.NUMBER_CONC and _ARBITRARY.search(ucum):
                return UnitKind.ARBITRARY_CONC
            return kind
    return UnitKind.OTHER
