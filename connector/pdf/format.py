"""How values look to a French doctor: dates, names, numbers, UCUM units, flags.

UCUM is exact but not friendly (``10*9/L``, ``umol/L``, ``[IU]/L``); the CDA keeps the
UCUM code, the PDF shows the usual French spelling (10⁹/L, µmol/L, UI/L).
"""

from __future__ import annotations

import re
from decimal import Decimal

from connector.model import (
    CodedValue,
    DateValue,
    Encapsulated,
    Numeric,
    PersonName,
    Practitioner,
    PreviousResult,
    ReferenceRange,
    ResultValue,
    StructuredNumeric,
    Text,
)

__all__ = [
    "SEX_LABELS",
    "abnormal",
    "flag_symbol",
    "format_date",
    "format_name",
    "format_practitioner",
    "format_previous",
    "format_range",
    "format_unit",
    "format_value",
]

SEX_LABELS = {"M": "Masculin", "F": "Féminin", "O": "Autre", "A": "Ambigu", "U": "Inconnu", "N": "Non applicable"}
# HL7 v3 ObservationInterpretation → mark shown next to the value.
_FLAGS = {
    "H": "↑",
    "HH": "↑↑",
    "HU": "↑↑",
    "L": "↓",
    "LL": "↓↓",
    "LU": "↓↓",
    "A": "*",
    "AA": "**",
    "R": "R",
    "I": "I",
    "S": "S",
}
_NORMAL = frozenset({"N", "S", ""})  # S (susceptible) is shown but is not highlighted
_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
_POWER = re.compile(r"10\*(-?\d+)|10\^(-?\d+)")
_MICRO = re.compile(r"(?<![A-Za-z])u(?=[a-zA-Z\[])")
_ANNOTATION = re.compile(r"\{([^}]*)\}")
_UNIT_WORDS = (("[iU]", "UI"), ("[IU]", "UI"), ("mm[Hg]", "mmHg"), ("[pH]", ""), ("m2", "m²"), ("m3", "m³"))


def format_date(hl7: str) -> str:
    """HL7 DTM ``YYYYMMDDHHMM…`` → ``JJ/MM/AAAA à HHhMM`` at the precision sent."""
    digits = hl7.split("+")[0].split("-")[0].split(".")[0]
    if len(digits) < 4 or not digits.isdigit():
        return hl7
    year, month, day = digits[:4], digits[4:6], digits[6:8]
    date = "/".join(part for part in (day, month, year) if part)
    if len(digits) >= 12:
        return f"{date} à {digits[8:10]}h{digits[10:12]}"
    return date


def format_name(name: PersonName | None) -> str:
    """NOM Prénom(s): family name in capitals, as French reports print it."""
    if name is None:
        return ""
    given = " ".join(g for g in name.given if g)
    return " ".join(p for p in (name.family.upper(), given) if p)


def format_practitioner(person: Practitioner | None, *, default_prefix: str = "Dr") -> str:
    """``Dr NOM Prénom (RPPS …)``; the XCN's own prefix wins (a nurse who collected is no "Dr")."""
    if person is None:
        return ""
    name = format_name(person.name)
    idnps = person.idnps
    if idnps[:1] == "8":
        ident = f"RPPS {idnps[1:]}"
    elif idnps[:1] == "0":
        ident = f"ADELI {idnps[1:]}"
    else:
        ident = person.identifier.value if person.identifier else ""
    prefix = person.name.prefix or default_prefix
    shown = f"{prefix} {name}" if prefix and name else name
    return shown + (f" ({ident})" if ident else "")


def _number(text: str) -> str:
    return text.replace(".", ",")


def _decimal(value: Decimal | None) -> str:
    return "" if value is None else _number(format(value, "f"))


def format_value(value: ResultValue | None) -> str:
    if value is None:
        return ""
    if isinstance(value, Numeric):
        return _number(value.text or format(value.value, "f"))
    if isinstance(value, StructuredNumeric):
        if value.text and not value.number1:
            return _number(value.text)
        return f"{value.comparator}{_decimal(value.number1)}{value.separator}{_decimal(value.number2)}"
    if isinstance(value, Text):
        return value.text
    if isinstance(value, CodedValue):
        return value.coded.display or value.coded.code
    if isinstance(value, DateValue):
        return format_date(value.value)
    if isinstance(value, Encapsulated):
        return "(document joint)"
    return ""


def format_unit(ucum: str) -> str:
    """UCUM code → the unit as printed on French reports (display only)."""
    if not ucum or ucum == "1":
        return ""
    unit = _POWER.sub(lambda m: "10" + (m.group(1) or m.group(2)).translate(_SUPERSCRIPT), ucum)
    for code, shown in _UNIT_WORDS:
        unit = unit.replace(code, shown)
    unit = _MICRO.sub("µ", unit)
    unit = _ANNOTATION.sub(lambda m: _number(m.group(1).replace("_", " ")).replace("m2", "m²"), unit)
    return unit.strip("/") if unit.startswith("/") and len(unit) == 1 else unit


def format_range(ref: ReferenceRange | None, as_sent: str = "") -> str:
    if ref is None:
        return as_sent
    if ref.text and ref.low is None and ref.high is None:
        return ref.text
    if ref.low is not None and ref.high is not None:
        return f"{_decimal(ref.low)} – {_decimal(ref.high)}"
    if ref.high is not None:
        return f"≤ {_decimal(ref.high)}"
    if ref.low is not None:
        return f"≥ {_decimal(ref.low)}"
    return as_sent


def format_previous(previous: tuple[PreviousResult, ...], unit: str) -> str:
    """The most recent earlier result with its date; its unit only when it differs."""
    if not previous:
        return ""
    last = max(previous, key=lambda p: p.observed_at)
    text = format_value(last.value)
    if last.units and last.units != unit:
        text += " " + format_unit(last.units)
    return text + (f" ({format_date(last.observed_at)[:10]})" if last.observed_at else "")


def flag_symbol(interpretation: tuple[str, ...]) -> str:
    return " ".join(_FLAGS.get(code, code) for code in interpretation if code not in ("N", ""))


def abnormal(interpretation: tuple[str, ...]) -> bool:
    return any(code not in _NORMAL for code in interpretation)
