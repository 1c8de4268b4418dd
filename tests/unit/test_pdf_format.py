"""Display formatting for the PDF: units, dates, numbers, ranges, flags."""

from __future__ import annotations

from decimal import Decimal

import pytest

from connector.model import (
    Coded,
    CodedValue,
    DateValue,
    Encapsulated,
    Identifier,
    Numeric,
    PersonName,
    Practitioner,
    PreviousResult,
    ReferenceRange,
    StructuredNumeric,
    Text,
)
from connector.pdf.format import (
    abnormal,
    flag_symbol,
    format_date,
    format_practitioner,
    format_previous,
    format_range,
    format_unit,
    format_value,
)


@pytest.mark.parametrize(
    ("ucum", "shown"),
    [
        ("10*9/L", "10⁹/L"),
        ("10*12/L", "10¹²/L"),
        ("umol/L", "µmol/L"),
        ("ug/L", "µg/L"),
        ("/uL", "/µL"),
        ("m[iU]/L", "mUI/L"),
        ("[IU]/L", "UI/L"),
        ("mL/min/{1.73_m2}", "mL/min/1,73 m²"),
        ("mm[Hg]", "mmHg"),
        ("g/L", "g/L"),
        ("%", "%"),
        ("1", ""),
        ("", ""),
    ],
)
def test_units_are_shown_the_french_way(ucum: str, shown: str) -> None:
    assert format_unit(ucum) == shown


@pytest.mark.parametrize(
    ("hl7", "shown"),
    [
        ("202611250815", "25/11/2026 à 08h15"),
        ("20261125081530+0100", "25/11/2026 à 08h15"),
        ("20261125", "25/11/2026"),
        ("202611", "11/2026"),
        ("", ""),
        ("garbage", "garbage"),
    ],
)
def test_dates(hl7: str, shown: str) -> None:
    assert format_date(hl7) == shown


def test_values_keep_the_precision_sent_with_a_decimal_comma() -> None:
    assert format_value(Numeric(Decimal("1.950"), "1.950")) == "1,950"
    assert format_value(StructuredNumeric("<", Decimal(5), text="<^5")) == "<5"
    assert format_value(StructuredNumeric("", Decimal(1), ":", Decimal(128))) == "1:128"
    assert format_value(Text("Présence")) == "Présence"
    assert format_value(CodedValue(Coded("POS", "Positif"))) == "Positif"
    assert format_value(CodedValue(Coded("POS"))) == "POS"
    assert format_value(DateValue("20260101")) == "01/01/2026"
    assert format_value(Encapsulated("application/pdf", b"%PDF")) == "(document joint)"
    assert format_value(None) == ""


def test_ranges() -> None:
    assert format_range(ReferenceRange(low=Decimal("3.5"), high=Decimal("5.1"))) == "3,5 – 5,1"
    assert format_range(ReferenceRange(low=None, high=Decimal(2))) == "≤ 2"
    assert format_range(ReferenceRange(low=Decimal("0.4"), high=None)) == "≥ 0,4"
    assert format_range(ReferenceRange(text="Négatif")) == "Négatif"
    assert format_range(None, "3.5-5.1") == "3.5-5.1"


def test_previous_result_shows_the_latest_with_its_date() -> None:
    older = PreviousResult(Numeric(Decimal(4), "4.0"), "mmol/L", "20240101")
    newer = PreviousResult(Numeric(Decimal("4.2"), "4.2"), "mmol/L", "20250917")
    assert format_previous((older, newer), "mmol/L") == "4,2 (17/09/2025)"
    assert format_previous((PreviousResult(Numeric(Decimal(40), "40"), "umol/L"),), "mmol/L") == "40 µmol/L"
    assert format_previous((), "g/L") == ""


def test_flags() -> None:
    assert flag_symbol(("H",)) == "↑" and flag_symbol(("LL",)) == "↓↓" and flag_symbol(("N",)) == ""
    assert abnormal(("H",)) and abnormal(("A",)) and not abnormal(("N",)) and not abnormal(())


def test_practitioner_ids() -> None:
    rpps = Practitioner(
        identifier=Identifier("10001234567", type_code="RPPS"), name=PersonName(family="MARTIN", given=("Léa",))
    )
    assert format_practitioner(rpps) == "Dr MARTIN Léa (RPPS 10001234567)"
    local = Practitioner(identifier=Identifier("X12"), name=PersonName(family="Roux", given=("Ana",), prefix="Pr"))
    assert format_practitioner(local) == "Pr ROUX Ana (X12)"
    assert format_practitioner(None) == ""
