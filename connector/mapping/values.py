"""Value-level rules: unit conversion with Decimal, reference ranges, OBX-8 flags, OBX-11 status.

Pure functions of their arguments; nothing here logs (values are patient data).
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from connector.model import Numeric, PreviousResult, ReferenceRange, ResultValue, StructuredNumeric

__all__ = [
    "INTERPRETATION_CODES",
    "MIN_SIGNIFICANT_DIGITS",
    "cda_status",
    "convert_number",
    "convert_range",
    "convert_value",
    "format_decimal",
    "interpretation",
    "parse_range",
]

# A converted value keeps as many significant digits as sent, never fewer than this
# (95 mg/dL × 0.0555 → 5.27 mmol/L); a power-of-ten factor is exact and keeps the digits sent.
MIN_SIGNIFICANT_DIGITS = 3

# JDV_HL7_ObservationInterpretation_CISIS (2.16.840.1.113883.1.11.78): the codes a CR-BIO
# interpretationCode may carry. OBX-8 (table 0078) codes with the same spelling pass through.
INTERPRETATION_CODES = frozenset(
    [
        "<", ">", "A", "AA", "B", "CAR", "D", "DET", "E", "EX", "EXP", "H", "HH", "HU", "HX", "I", "IE", "IND", "L",
        "LL", "LU", "LX", "N", "NCL", "ND", "NEG", "NR", "NS", "POS", "R", "RR", "S", "SDD", "SYN-R", "SYN-S", "U",
        "UNE", "W", "WR",
    ]
)

_NUMBER = r"(\d+(?:[.,]\d+)?|[.,]\d+)"
_BOUND = re.compile(rf"^\s*(<=|>=|<|>|≤|≥)\s*{_NUMBER}\s*$")
_INTERVAL = re.compile(rf"^\s*\[?\s*{_NUMBER}\s*(?:-|–|_|à|a|to|;)\s*{_NUMBER}\s*\]?\s*$")


def _decimal(text: str) -> Decimal:
    return Decimal(text.replace(",", "."))


def parse_range(text: str, unit: str = "") -> ReferenceRange | None:
    """OBX-7 → ReferenceRange: ``3.5-5.0``, ``3,5-5,0``, ``70_105``, ``<5``, ``>60``; else ``text``."""
    text = text.strip()
    if not text:
        return None
    if match := _INTERVAL.match(text):
        return ReferenceRange(low=_decimal(match[1]), high=_decimal(match[2]), unit=unit)
    if match := _BOUND.match(text):
        number = _decimal(match[2])
        inclusive = match[1] in ("<=", "≤", ">=", "≥")  # "<80" excludes 80: every rendering must say so
        if match[1] in ("<", "<=", "≤"):
            return ReferenceRange(high=number, unit=unit, high_inclusive=inclusive)
        return ReferenceRange(low=number, unit=unit, low_inclusive=inclusive)
    return ReferenceRange(text=text)


def _significant_digits(value: Decimal) -> int:
    digits = value.as_tuple().digits
    stripped = len(digits) - next((i for i, d in enumerate(digits) if d != 0), len(digits))
    return max(stripped, 1)


def convert_number(value: Decimal, factor: Decimal) -> Decimal:
    """``value × factor`` with sensible precision (see MIN_SIGNIFICANT_DIGITS)."""
    if factor == 1:
        return value
    factor = factor.normalize()  # 0.0100 must not add decimals to the value
    product = value * factor
    if factor.as_tuple().digits == (1,) or product == 0:
        return product  # power of ten: exact, keeps the number of decimals meaningful
    digits = max(_significant_digits(value), MIN_SIGNIFICANT_DIGITS)
    exponent = product.adjusted() - digits + 1
    try:
        return product.quantize(Decimal(1).scaleb(exponent), rounding=ROUND_HALF_EVEN)
    except InvalidOperation:  # pathological exponents: keep the exact product
        return product


def format_decimal(value: Decimal) -> str:
    """Plain notation (no exponent), as a CDA PQ value wants it."""
    return format(value, "f")


def convert_value(value: ResultValue, factor: Decimal) -> ResultValue:
    """Convert NM and SN numbers; other kinds (coded, text, ratio titres) pass unchanged."""
    if factor == 1:
        return value
    if isinstance(value, Numeric):
        converted = convert_number(value.value, factor)
        return Numeric(converted, format_decimal(converted))
    if isinstance(value, StructuredNumeric) and value.separator != ":":
        n1 = convert_number(value.number1, factor) if value.number1 is not None else None
        n2 = convert_number(value.number2, factor) if value.number2 is not None else None
        parts = [value.comparator, format_decimal(n1) if n1 is not None else ""]
        if value.separator:
            parts += [value.separator, format_decimal(n2) if n2 is not None else ""]
        return StructuredNumeric(value.comparator, n1, value.separator, n2, "".join(parts))
    return value


def convert_range(ref: ReferenceRange | None, factor: Decimal, unit: str) -> ReferenceRange | None:
    if ref is None or ref.text:
        return ref
    low = convert_number(ref.low, factor) if ref.low is not None else None
    high = convert_number(ref.high, factor) if ref.high is not None else None
    return ReferenceRange(low=low, high=high, unit=unit, low_inclusive=ref.low_inclusive,
                          high_inclusive=ref.high_inclusive)


def convert_previous(prev: PreviousResult, factor: Decimal, unit: str) -> PreviousResult:
    return PreviousResult(convert_value(prev.value, factor), unit, prev.observed_at)


def interpretation(flags: tuple[str, ...]) -> tuple[tuple[str, ...], int]:
    """OBX-8 flags → (HL7 v3 interpretation codes, number of unknown flags dropped)."""
    kept: list[str] = []
    dropped = 0
    for flag in flags:
        code = flag.strip().upper()
        if not code:
            continue
        if code in INTERPRETATION_CODES:
            if code not in kept:
                kept.append(code)
        else:
            dropped += 1
    return tuple(kept), dropped


# OBX-11 values whose result must not appear in the document: D (deleted) and W (posted
# as wrong, e.g. sent for the wrong patient).
DROPPED_STATUSES = frozenset({"D", "W"})


def cda_status(obx11: str) -> str | None:
    """OBX-11 → CDA statusCode; None when the result is dropped from the document."""
    status = obx11.strip().upper()
    if status in DROPPED_STATUSES:
        return None
    return "aborted" if status == "X" else "completed"
