"""Observation values (PQ, IVL_PQ, RTO, CD, ST, TS, ED) and their narrative text.

SN comparators become intervals with one bound (``<5`` → ``high 5 inclusive``,
``>32`` → ``low 32 exclusive``), SN ranges two bounds, SN ratios (``^1^:^128``) RTO.
"""

from __future__ import annotations

import base64
import re
from decimal import Decimal

from lxml import etree

from connector.model import (
    CodedValue,
    DateValue,
    Encapsulated,
    Numeric,
    ResultValue,
    StructuredNumeric,
)

from .elements import LOINC, XSI_TYPE, sub, text_sub
from .timestamps import to_ts

__all__ = ["CODE_SYSTEMS", "cda_unit", "code_system", "value_element", "value_text"]

# HL7 v2 coding-system names → OIDs for the systems a SIL may send in a CE value.
CODE_SYSTEMS = {
    "LN": LOINC,
    "LOINC": LOINC,
    "SCT": "2.16.840.1.113883.6.96",
    "SNM": "2.16.840.1.113883.6.96",
    "SNOMED": "2.16.840.1.113883.6.96",
    "HL70078": "2.16.840.1.113883.5.83",
}
_OID = re.compile(r"^[0-2](\.(0|[1-9]\d*))+$")
_DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")
RATIO_SEPARATORS = frozenset({":", "/"})


_ANNOTATION_ONLY = re.compile(r"^\{[^{}]*\}$")


def cda_unit(unit: str) -> str:
    """The unit to write: a pure UCUM annotation (``{INR}``) means unity, written as no unit.

    UCUM defines ``{anything}`` as 1; the kit's UCUM check only knows a fixed list of
    annotations and refuses others, so a unitless PQ is the portable form.
    """
    return "" if _ANNOTATION_ONLY.match(unit) else unit


def code_system(system: str) -> str:
    """The OID of a coding system as sent, or "" for a local one (L, 99…)."""
    if _OID.match(system):
        return system
    return CODE_SYSTEMS.get(system.upper(), "")


def _number(value: Decimal, text: str = "") -> str:
    """The number as sent when it is a plain decimal (keeps ``1.950``), else normalised."""
    text = text.strip()
    if _DECIMAL.match(text):
        return text
    return format(value, "f")


def _bound(
    parent: etree._Element,
    name: str,
    number: Decimal,
    unit: str,
    inclusive: bool | None,
) -> None:
    attrs = {"value": _number(number), "unit": unit}
    if inclusive is not None:
        attrs["inclusive"] = "true" if inclusive else "false"
    sub(parent, name, attrs)


def value_element(
    obs: etree._Element,
    value: ResultValue,
    unit: str,
    *,
    text_ref: str,
    local_system: str,
    zone: str,
) -> None:
    """Append ``<value xsi:type=…>`` for ``value``; ``text_ref`` is the narrative id of its text."""
    if isinstance(value, Numeric):
        sub(
            obs,
            "value",
            {XSI_TYPE: "PQ", "value": _number(value.value, value.text), "unit": unit},
        )
    elif isinstance(value, StructuredNumeric):
        _structured(obs, value, unit)
    elif isinstance(value, CodedValue):
        c = value.coded
        system = code_system(c.system)
        el = sub(obs, "value", {XSI_TYPE: "CD"})
        if system and c.code:
            el.set("code", c.code)
            el.set("codeSystem", system)
            if c.display:
                el.set("displayName", c.display)
        sub(sub(el, "originalText"), "reference", value="#" + text_ref)
        if not system and c.code:
            sub(
                el,
                "translation",
                code=c.code,
                displayName=c.display or c.code,
                codeSystem=local_system,
            )
    elif isinstance(value, DateValue):
        sub(
            obs,
            "value",
            {
                XSI_TYPE: "TS",
                "value": to_ts(value.value, zone, what="OBX-5 date value"),
            },
        )
    elif isinstance(value, Encapsulated):
        el = sub(
            obs,
            "value",
            {XSI_TYPE: "ED", "mediaType": value.mime_type, "representation": "B64"},
        )
        el.text = base64.b64encode(value.data).decode("ascii")
    else:  # Text
        text_sub(obs, "value", value.text, {XSI_TYPE: "ST"})


def _structured(obs: etree._Element, sn: StructuredNumeric, unit: str) -> None:
    n1, n2, cmp = sn.number1, sn.number2, sn.comparator
    if n1 is not None and n2 is not None and sn.separator in RATIO_SEPARATORS:
        el = sub(obs, "value", {XSI_TYPE: "RTO"})
        sub(el, "numerator", {XSI_TYPE: "PQ", "value": _number(n1), "unit": "1"})
        sub(el, "denominator", {XSI_TYPE: "PQ", "value": _number(n2), "unit": "1"})
    elif n1 is not None and n2 is not None:  # a range "10-20"
        el = sub(obs, "value", {XSI_TYPE: "IVL_PQ"})
        _bound(el, "low", n1, unit, True)
        _bound(el, "high", n2, unit, True)
    elif n1 is not None and cmp in ("<", "<="):
        _bound(sub(obs, "value", {XSI_TYPE: "IVL_PQ"}), "high", n1, unit, cmp == "<=")
    elif n1 is not None and cmp in (">", ">="):
        _bound(sub(obs, "value", {XSI_TYPE: "IVL_PQ"}), "low", n1, unit, cmp == ">=")
    elif n1 is not None:
        sub(obs, "value", {XSI_TYPE: "PQ", "value": _number(n1), "unit": unit})
    else:
        text_sub(obs, "value", sn.text, {XSI_TYPE: "ST"})


def value_text(value: ResultValue | None) -> str:
    """The value as the narrative shows it (without unit)."""
    if value is None:
        return ""
    if isinstance(value, Numeric):
        return _number(value.value, value.text)
    if isinstance(value, StructuredNumeric):
        parts = [
            sn
            for sn in (
                value.comparator,
                _opt(value.number1),
                value.separator,
                _opt(value.number2),
            )
            if sn
        ]
        return " ".join(parts) if parts else value.text
    if isinstance(value, CodedValue):
        return value.coded.display or value.coded.code
    if isinstance(value, DateValue):
        v = value.value
        return f"{v[6:8]}/{v[4:6]}/{v[0:4]}" if len(v) >= 8 else v
    if isinstance(value, Encapsulated):
        return f"[document {value.mime_type}]"
    return value.text


def _opt(number: Decimal | None) -> str:
    return "" if number is None else _number(number)
