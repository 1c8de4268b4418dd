"""A draft mapping file from the SIL catalogue (issue 14.4): right LOINC for ≥ 80 %, loads, flags what needs review."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pytest

from connector.mapping import Mappings, check_mappings, map_report
from connector.mapping.draft import draft_mapping, read_catalogue, render_yaml
from connector.model import Coded, LabReport, MessageHeader, Numeric, Order, Patient, Result
from tests.support.settings import MAPPING

CATALOGUE = Path(__file__).resolve().parents[1] / "data" / "mapping" / "sil_catalogue.csv"


def expected() -> dict[str, set[str]]:
    with CATALOGUE.open(encoding="utf-8") as handle:
        return {row["code"]: set(row["expected"].split()) for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def drafted(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return draft_mapping(CATALOGUE, loinc_dir=tmp_path_factory.mktemp("no-import"))


def test_best_candidate_is_right_for_at_least_80_percent_of_the_catalogue(drafted) -> None:  # type: ignore[no-untyped-def]
    answers = expected()
    assert len(drafted) == len(answers) >= 60
    wrong = [f"{line.code}: {line.loinc}" for line in drafted if line.loinc not in answers[line.code]]
    assert 1 - len(wrong) / len(drafted) >= 0.8, wrong  # 65/66 measured


def test_units_are_ucum_and_chapters_follow_the_loinc_class(drafted) -> None:  # type: ignore[no-untyped-def]
    by_code = {line.code: line for line in drafted}
    assert (by_code["GB"].unit_ucum, by_code["CREA"].unit_ucum, by_code["TGO"].unit_ucum) == ("10*9/L", "umol/L",
                                                                                            "U/L")
    assert (by_code["GB"].chapter, by_code["TP"].chapter, by_code["CREA"].chapter) == ("18723-7", "18720-3",
                                                                                       "18719-5")
    assert by_code["HEMOC"].chapter == "18725-2" and by_code["TOXOG"].chapter == "18727-8"


def test_the_draft_loads_and_lints_without_errors(drafted, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "brouillon.yaml").write_text(render_yaml(drafted, source=CATALOGUE.name), encoding="utf-8")
    mappings = Mappings.load(tmp_path)
    assert set(mappings.tests) == {line.code for line in drafted}
    assert [f for f in check_mappings(tmp_path, loinc_dir=tmp_path) if f.severity == "error"] == []
    hb = mappings.tests["HB"]
    assert hb.loinc is not None and hb.loinc.code == "718-7" and hb.display == "HEMOGLOBINE" and hb.unit == "g/dL"
    result = Result(
        set_id="1",
        value_type="NM",
        code=Coded("GB", "GLOBULES BLANCS", "L"),
        values=(Numeric(Decimal("7.1"), "7.1"),),
        units=Coded("G/L"),
        status="F",
    )
    order = Order(service=Coded("NFS"), results=(result,))
    report = LabReport(
        report_id="r1",
        header=MessageHeader(sending_application="SIL", sending_facility="LAB"),
        patient=Patient(identifiers=()),
        orders=(order,),
    )
    assert map_report(report, mappings, settings=MAPPING).results[0].unit == "10*9/L"


def test_what_a_person_must_decide_is_flagged(tmp_path: Path) -> None:
    catalogue = tmp_path / "catalogue.csv"
    catalogue.write_text("code;label;unit\nGGT;GAMMA GT;enzyme units\nX1;ZZQX WWKY;\nNO;NATREMIE;mmol/l\n"
                         "NO;NATREMIE bis;mmol/l\n", encoding="cp1252")
    lines = {line.code: line for line in draft_mapping(catalogue, loinc_dir=tmp_path)}
    assert set(lines) == {"GGT", "X1", "NO"}  # the second NO is left out: a mapping file refuses duplicates
    ggt, unknown, sodium = lines["GGT"], lines["X1"], lines["NO"]
    assert ggt.loinc == "2324-2" and ggt.unit_ucum is None and ggt.needs_review
    assert any("UCUM" in r for r in ggt.reasons)
    assert unknown.loinc is None and unknown.needs_review
    assert sodium.loinc == "2951-2" and not sodium.needs_review
    text = render_yaml(list(lines.values()), source="catalogue.csv")
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "brouillon.yaml").write_text(text, encoding="utf-8")
    assert '"NO":' in text  # YAML 1.1 would read NO as false
    findings = check_mappings(tmp_path / "m", loinc_dir=tmp_path)
    (error,) = [f for f in findings if f.severity == "error"]
    assert error.key == "tests.GGT.unit" and "UCUM" in error.message  # the lint points at the line to fix
    json_line = lines["GGT"].as_json()
    assert {"code", "loinc", "display", "score", "unit_ucum", "needs_review"} <= set(json_line)


def test_a_catalogue_without_the_required_columns_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "c.csv"
    bad.write_text("code,libellé\nNA,Sodium\n", encoding="utf-8")
    with pytest.raises(ValueError, match="code, label, unit"):
        read_catalogue(bad)
