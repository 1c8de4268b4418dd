"""Value rules: reference ranges, Decimal conversion precision, OBX-8 flags, OBX-11 status."""

from decimal import Decimal

import pytest

from connector.mapping.values import cda_status, convert_number, convert_value, interpretation, parse_range
from connector.model import Numeric, ReferenceRange, StructuredNumeric, Text


@pytest.mark.parametrize(
    ("text", "low", "high", "inclusive"),
    [
        ("3.5-5.0", "3.5", "5.0", True),
        ("3,5-5,0", "3.5", "5.0", True),
        ("70_105", "70", "105", True),
        (" 3.5 - 5.0 ", "3.5", "5.0", True),
        ("[0.27-4.20]", "0.27", "4.20", True),
        ("<5", None, "5", False),  # "<5" excludes 5: the CDA, the narrative and the PDF say "<"
        ("<= 5", None, "5", True),
        ("≤5", None, "5", True),
        (">60", "60", None, False),
        (">=60", "60", None, True),
    ],
)
def test_numeric_ranges(text: str, low: str | None, high: str | None, inclusive: bool) -> None:
    ref = parse_range(text, "mmol/L")
    assert ref == ReferenceRange(
        low=Decimal(low) if low else None, high=Decimal(high) if high else None, unit="mmol/L",
        low_inclusive=inclusive or low is None, high_inclusive=inclusive or high is None,
    )


def test_free_text_range_is_kept_as_text() -> None:
    assert parse_range("selon contexte clinique") == ReferenceRange(text="selon contexte clinique")
    assert parse_range("") is None


def test_power_of_ten_factor_is_exact_and_keeps_digits() -> None:
    assert str(convert_number(Decimal("95"), Decimal("0.01"))) == "0.95"
    assert str(convert_number(Decimal("95.0"), Decimal("0.0100"))) == "0.950"
    assert format(convert_number(Decimal("5"), Decimal("1000")), "f") == "5000"


def test_other_factor_keeps_significant_digits_with_a_floor() -> None:
    # 95 mg/dL glucose → mmol/L (× 0.0555): three significant digits minimum
    assert convert_number(Decimal("95"), Decimal("0.0555")) == Decimal("5.27")
    assert convert_number(Decimal("95.12"), Decimal("0.0555")) == Decimal("5.279")


def test_convert_value_kinds() -> None:
    assert convert_value(Numeric(Decimal("95"), "95"), Decimal("0.01")) == Numeric(Decimal("0.95"), "0.95")
    sn = convert_value(StructuredNumeric("<", Decimal("50"), "", None, "<50"), Decimal("0.01"))
    assert sn == StructuredNumeric("<", Decimal("0.50"), "", None, "<0.50")
    titre = StructuredNumeric("", Decimal("1"), ":", Decimal("128"), "1:128")
    assert convert_value(titre, Decimal("0.01")) is titre
    assert convert_value(Text("ininterprétable"), Decimal("0.01")) == Text("ininterprétable")


def test_flags_map_to_v3_codes_and_unknown_are_counted() -> None:
    assert interpretation(("H",)) == (("H",), 0)
    assert interpretation(("hh", "N", "", "ZZ", "MS")) == (("HH", "N"), 2)
    for flag in ("N", "H", "L", "HH", "LL", "A", "AA", "<", ">", "S", "R", "I"):
        assert interpretation((flag,)) == ((flag,), 0)


@pytest.mark.parametrize(("obx11", "status"), [("F", "completed"), ("C", "completed"), ("", "completed"),
                                                ("P", "completed"), ("X", "aborted"), ("D", None), ("W", None)])
def test_status(obx11: str, status: str | None) -> None:
    assert cda_status(obx11) == status
