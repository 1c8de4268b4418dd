"""Units: SIL spellings read as UCUM (meaning kept, checked with ucumvert/pint), kinds, labels, fit to properties."""

from __future__ import annotations

import csv
import os
import re
from functools import lru_cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.mapping.property_fit import Fit, property_fit
from connector.mapping.unit_forms import UnitKind, lab_units, read_unit, unit_kind, unit_label
from connector.mapping.units import ucum_error, ucum_trap
from connector.xmlsafe import parse_xml

REPO = Path(__file__).resolve().parents[2]
SHARED_REF = Path(os.environ.get("CONNECTOR_SHARED_REF", REPO / ".." / "shared" / "ref"))
KIT_UCUM = SHARED_REF / "cda/testcontenucda/schematrons/profils/terminologies/terminologie/2.16.840.1.113883.6.8.xml"
FR_SPELLINGS = SHARED_REF / "terminology" / "fr_lab_unit_spellings_to_ucum.csv"
# Spellings that are valid UCUM for another unit than the one labs mean (terminology.md §4): overridden on purpose.
# g% and mg% are UCUM for a mass (gram·percent), u/L for daltons per litre; labs mean g/dL, mg/dL, U/L.
MEANT_OTHERWISE = {"G/L", "T/L", "mg/24.h", "g/24.h", "mmol/24.h", "G/l", "T/l", "g%", "mg%", "u/L", "u/l", "u/mL",
                   "u/ml"}
# Where we differ from the shared list: the kit refuses /mm3 (it accepts /uL, the same unit) and
# {Log_copies}/mL (so a viral load in log copies waits for a mapping rather than fail the kit).
OTHER_FORM: dict[str, str | None] = {"/mm3": "/uL", "log copies/mL": None, "INR": "{ratio}"}
# UCUM's own form for eGFR; the kit's annotation filter (\{.[a-z]*.\}) does not strip {1.73_m2}.
KIT_EXCEPTIONS = {"mL/min/{1.73_m2}"}


@lru_cache(maxsize=1)
def _registry():  # type: ignore[no-untyped-def]
    from ucumvert import PintUcumRegistry

    return PintUcumRegistry()


def same_unit(a: str, b: str) -> bool:
    a, b = (re.sub(r"^\{[^}]*\}$", "1", u) for u in (a, b))  # a bare annotation is UCUM's unity
    qa, qb = _registry().from_ucum(a), _registry().from_ucum(b)
    if qa.dimensionality != qb.dimensionality:
        return False
    return bool(abs(qa.to_base_units().magnitude - qb.to_base_units().magnitude)
                <= 1e-9 * abs(qb.to_base_units().magnitude))


@pytest.mark.parametrize(("sent", "ucum"), [
    ("ug/dl", "ug/dL"), ("iU/mL", "[IU]/mL"), ("mmol/l", "mmol/L"), ("G/L", "10*9/L"), ("T/L", "10*12/L"),
    ("µmol/L", "umol/L"), ("μg/L", "ug/L"), ("mUI/L", "m[IU]/L"), ("µUI/mL", "u[IU]/mL"), ("kUI/L", "k[IU]/L"),
    ("mEq/L", "meq/L"), ("mmHg", "mm[Hg]"), ("mg/24h", "mg/(24.h)"), ("MMOL/L", "mmol/L"), ("sec", "s"),
    ("fl", "fL"), ("/mm3", "/uL"), ("mL/min/1.73m2", "mL/min/{1.73_m2}"), ("U.I./mL", "[IU]/mL"), ("%", "%"),
    ("  g/L ", "g/L"), ("copies/mL", "{copies}/mL"),
])
def test_spellings_labs_write(sent: str, ucum: str) -> None:
    assert read_unit(sent).ucum == ucum


@pytest.mark.parametrize(("sent", "words"), [
    ("enzyme units", "no known UCUM form"), ("UI/L", "hormones and immunoassays but U/L for enzymes"),
    ("Mg/dL", "case-sensitive"), ("g/l/x!", "no known UCUM form"),
])
def test_what_has_no_single_ucum_form_is_refused_with_a_reason(sent: str, words: str) -> None:
    reading = read_unit(sent)
    assert reading.ucum is None and words in reading.reason


def test_ui_per_litre_follows_the_loinc_property() -> None:
    assert read_unit("UI/L", loinc_property="CCnc").ucum == "U/L"
    assert read_unit("UI/L", loinc_property="ACnc").ucum == "[IU]/L"
    assert read_unit("IU/L", loinc_property="CCnc").ucum == "U/L"


def test_table_codes_are_ucum_and_spellings_mean_their_code() -> None:
    for unit in lab_units().values():
        assert ucum_error(unit.ucum) is None and not ucum_trap(unit.ucum), unit.ucum
        assert read_unit(unit.ucum).ucum == unit.ucum
        for spelling in unit.spellings:
            assert read_unit(spelling).ucum == unit.ucum, spelling
            if spelling in MEANT_OTHERWISE or ucum_error(spelling) or ucum_trap(spelling):
                continue
            assert same_unit(spelling, unit.ucum), f"{spelling} is valid UCUM for another unit than {unit.ucum}"


def test_every_table_unit_is_accepted_by_the_ans_terminology_schematron() -> None:
    if not KIT_UCUM.is_file():
        pytest.skip(f"ANS kit UCUM list not found at {KIT_UCUM} (set CONNECTOR_SHARED_REF)")
    known = {row.findtext("code") for row in parse_xml(KIT_UCUM.read_bytes()).iter("row")}
    refused = [u for u in lab_units() if (re.sub(r"\{.[a-z]*.\}", "", u) or "1") not in known | {"1"}]
    assert set(refused) == KIT_EXCEPTIONS


def test_agrees_with_the_shared_french_spelling_list_where_it_is_unambiguous() -> None:
    if not FR_SPELLINGS.is_file():
        pytest.skip(f"{FR_SPELLINGS} not found (set CONNECTOR_SHARED_REF)")
    with FR_SPELLINGS.open(encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if " OR " not in r["ucum_code"].upper()]
    assert len(rows) >= 15
    for row in rows:
        spelling, theirs = row["local_spelling"], row["ucum_code"].strip()
        ours = read_unit(spelling).ucum
        assert ours == OTHER_FORM.get(spelling, theirs), spelling
        assert ours is None or same_unit(ours, theirs)


def test_labels_a_french_reader_expects() -> None:
    cases = {"10*9/L": "G/L", "[IU]/mL": "UI/mL", "10*12/L": "T/L", "umol/L": "µmol/L", "m[IU]/L": "mUI/L",
             "meq/L": "mEq/L", "mm[Hg]": "mmHg", "ukat/L": "µkat/L", "mg/(24.h)": "mg/24 h", "{ratio}": ""}
    assert {code: unit_label(code) for code in cases} == cases


def test_kinds_and_property_fit() -> None:
    assert unit_kind("mmol/L") is UnitKind.SUBSTANCE_CONC and unit_kind("ukat/L") is UnitKind.CATALYTIC_CONC
    assert unit_kind("[IU]/dL") is UnitKind.ARBITRARY_CONC  # outside the table: from its dimension
    cases = [("MCnc", "g/L", Fit.FITS), ("MCnc", "mmol/L", Fit.CONFLICT), ("SCnc", "umol/L", Fit.FITS),
             ("NCnc", "10*9/L", Fit.FITS), ("NCnc", "[IU]/L", Fit.CONFLICT), ("CCnc", "U/L", Fit.FITS),
             ("ACnc", "m[IU]/L", Fit.FITS), ("ACnc", "g/L", Fit.CONFLICT), ("NFr", "%", Fit.FITS),
             ("EntVol", "fL", Fit.FITS), ("EntMass", "pg", Fit.FITS), ("Vel", "mm/h", Fit.FITS),
             ("Vel", "mm", Fit.CONFLICT), ("RelTime", "{ratio}", Fit.FITS), ("PrThr", "g/L", Fit.UNKNOWN),
             ("MCnc", "", Fit.UNKNOWN), ("", "g/L", Fit.UNKNOWN)]
    assert [(p, u, property_fit(p, u)) for p, u, _ in cases] == cases


def _mutations(unit: str) -> st.SearchStrategy[str]:
    """How SILs garble a unit: l for L, µ for u, case, spaces."""
    return st.sampled_from([unit, unit.replace("L", "l"), unit.replace("u", "µ"), unit.upper(), unit.lower(),
                            f" {unit} ", unit.replace("/", " / ")])


table_spellings = st.sampled_from(sorted({s for u in lab_units().values() for s in (u.ucum, *u.spellings)}))


@settings(max_examples=400, deadline=None)
@given(table_spellings.flatmap(_mutations))
def test_reading_is_idempotent_and_gives_only_ucum(spelling: str) -> None:
    reading = read_unit(spelling)
    if reading.ucum is None:
        assert reading.reason
        return
    assert ucum_error(reading.ucum) is None and not ucum_trap(reading.ucum) and " " not in reading.ucum
    assert read_unit(reading.ucum).ucum == reading.ucum


@settings(max_examples=300, deadline=None)
@given(table_spellings.flatmap(_mutations))
def test_a_spelling_that_is_already_ucum_keeps_its_meaning(spelling: str) -> None:
    """Normalising never changes the quantity: ug/dl and ug/dL are the same unit; Mg/dL is refused, not 'fixed'."""
    text = spelling.strip()
    reading = read_unit(spelling)
    if reading.ucum is None or text in MEANT_OTHERWISE or ucum_error(text) or ucum_trap(text):
        return
    assert same_unit(text, reading.ucum), (text, reading.ucum)
