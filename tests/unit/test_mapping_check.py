"""The mapping lint: every trap and mistake is reported with its file, line and key."""

import shutil
import textwrap
from pathlib import Path

import pytest

from connector.errors import MappingFileError
from connector.mapping import Finding, Mappings, check_mappings

MAPPINGS_DIR = Path(__file__).resolve().parents[2] / "mappings"

HEADER = "chapter: 18719-5\ntests:\n"


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def errors(directory: Path) -> list[Finding]:
    return [f for f in check_mappings(directory, loinc_dir=directory) if f.severity == "error"]


def only_error(directory: Path) -> Finding:
    found = errors(directory)
    assert len(found) == 1, found
    return found[0]


def test_shipped_mappings_are_clean() -> None:
    findings = check_mappings(MAPPINGS_DIR)
    assert [f for f in findings if f.severity == "error"] == []


@pytest.mark.parametrize(
    ("unit", "words"),
    [
        ("G/L", "gauss"),
        ("T/L", "tesla"),
        ("UI/L", "ambiguous"),
        ("mUI/L", "m[IU]/L"),
        ("mg/24.h", "mg/(24.h)"),
        ("µmol/L", "micro"),
        ("μg/L", "micro"),  # Greek mu, not the micro sign
    ],
)
def test_each_unit_trap_is_caught_with_its_line(tmp_path: Path, unit: str, words: str) -> None:
    write(tmp_path, "t.yaml", HEADER + f"  NA:\n    loinc: 2951-2\n    display: Sodium\n    unit: \"{unit}\"\n")
    finding = only_error(tmp_path)
    assert (finding.line, finding.key) == (6, "tests.NA.unit")
    assert finding.path.endswith("t.yaml") and words in finding.message
    assert "t.yaml:6 [tests.NA.unit] error" in str(finding)
    with pytest.raises(MappingFileError) as err:  # load refuses it too
        Mappings.load(tmp_path)
    assert err.value.line == 6 and err.value.key == "tests.NA.unit"


def test_ui_l_in_the_units_table_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "units.yaml", "units:\n  G/L: 10*9/L\n  UI/L: U/L\n")
    finding = only_error(tmp_path)
    assert (finding.line, finding.key) == (3, "units.UI/L") and "ambiguous" in finding.message


def test_trap_as_units_table_target_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "units.yaml", "units:\n  Giga/L: G/L\n")
    assert (only_error(tmp_path).line, only_error(tmp_path).key) == (2, "units.Giga/L")


def test_invalid_ucum_is_caught_by_the_grammar(tmp_path: Path) -> None:
    write(tmp_path, "t.yaml", HEADER + "  NA:\n    loinc: 2951-2\n    unit: mmol/Lx!\n")
    finding = only_error(tmp_path)
    assert (finding.line, finding.key) == (5, "tests.NA.unit") and "not valid UCUM" in finding.message


def test_unit_dimension_must_fit_the_loinc_property(tmp_path: Path) -> None:
    write(tmp_path, "t.yaml", HEADER + "  NA:\n    loinc: 2951-2\n    unit: g/L\n")
    finding = only_error(tmp_path)
    assert (finding.line, finding.key) == (5, "tests.NA.unit") and "SCnc" in finding.message


def test_duplicate_code_in_one_file(tmp_path: Path) -> None:
    write(tmp_path, "t.yaml", HEADER + "  NA:\n    loinc: 2951-2\n  NA:\n    loinc: 2951-2\n")
    finding = only_error(tmp_path)
    assert (finding.line, finding.key) == (5, "tests.NA") and "duplicate" in finding.message


def test_duplicate_code_across_files(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", HEADER + "  K:\n    loinc: 2823-3\n")
    write(tmp_path, "b.yaml", "chapter: 18723-7\ntests:\n  K:\n    loinc: 2823-3\n")
    finding = only_error(tmp_path)
    assert finding.path.endswith("b.yaml") and finding.line == 3 and "a.yaml:3" in finding.message


def test_missing_chapter(tmp_path: Path) -> None:
    write(tmp_path, "t.yaml", "tests:\n  NA:\n    loinc: 2951-2\n")
    finding = only_error(tmp_path)
    assert (finding.line, finding.key) == (2, "tests.NA.chapter")


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    write(tmp_path, "t.yaml", HEADER + "  NA:\n    loinc: 2951-2\n   unit: [mmol/L\n")
    finding = only_error(tmp_path)
    assert finding.line is not None and finding.line >= 5 and "YAML" in finding.message


def test_bad_loinc_check_digit_and_unknown_key(tmp_path: Path) -> None:
    write(tmp_path, "t.yaml", HEADER + "  NA:\n    loinc: 2951-3\n    display: Sodium\n    unti: mmol/L\n")
    found = {(f.line, f.key) for f in errors(tmp_path)}
    assert found == {(4, "tests.NA.loinc"), (6, "tests.NA.unti")}


def test_loinc_unknown_to_subset_is_a_warning_and_to_imported_table_an_error(tmp_path: Path) -> None:
    from connector.mapping import import_loinc

    write(tmp_path, "t.yaml", HEADER + "  X1:\n    loinc: 12345-5\n    display: Test\n")
    (warning,) = [f for f in check_mappings(tmp_path, loinc_dir=tmp_path) if "12345-5" in f.message]
    assert warning.severity == "warning" and warning.line == 4
    table = tmp_path / "Loinc.csv"
    table.write_text("LOINC_NUM,COMPONENT,PROPERTY,LONG_COMMON_NAME\n2951-2,Sodium,SCnc,Sodium [Moles/volume]\n")
    loinc_dir = tmp_path / "data"
    import_loinc(table, loinc_dir=loinc_dir)
    (error,) = [f for f in check_mappings(tmp_path, loinc_dir=loinc_dir) if "12345-5" in f.message]
    assert error.severity == "error" and (error.line, error.key) == (4, "tests.X1.loinc")


def test_conversion_factor_must_be_positive(tmp_path: Path) -> None:
    write(tmp_path, "t.yaml", HEADER + "  GLYMG:\n    loinc: 2345-7\n    unit: g/L\n    convert:\n      mg/dL: abc\n")
    finding = only_error(tmp_path)
    assert (finding.line, finding.key) == (7, "tests.GLYMG.convert.mg/dL")


def test_failing_sibling_test_is_reported_with_its_line(tmp_path: Path) -> None:
    for path in MAPPINGS_DIR.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    sibling = tmp_path / "biochimie.test.yaml"
    sibling.write_text(sibling.read_text(encoding="utf-8").replace('value: "0.95"', 'value: "0.96"'), encoding="utf-8")
    finding = only_error(tmp_path)
    assert finding.path.endswith("biochimie.test.yaml") and finding.key.endswith("expect.value")
    assert finding.line == 14 and "0.95" in finding.message


def test_load_keeps_nothing_global(tmp_path: Path) -> None:
    """Hot reload: a broken directory raises, and a good load is unaffected by it."""
    good = Mappings.load(MAPPINGS_DIR)
    write(tmp_path, "t.yaml", HEADER + "  NA: [broken\n")
    with pytest.raises(MappingFileError):
        Mappings.load(tmp_path)
    again = Mappings.load(MAPPINGS_DIR)
    assert again.version == good.version and dict(again.tests) == dict(good.tests)


def test_module_cli_exits_non_zero_on_errors(tmp_path: Path) -> None:
    import subprocess
    import sys

    write(tmp_path, "t.yaml", HEADER + "  GB:\n    loinc: 6690-2\n    unit: G/L\n")
    run = subprocess.run([sys.executable, "-m", "connector.mapping", "check", str(tmp_path)],
                         capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2], check=False)
    assert run.returncode == 1 and "t.yaml:5 [tests.GB.unit] error" in run.stdout
    ok = subprocess.run([sys.executable, "-m", "connector.mapping", "check", str(MAPPINGS_DIR)],
                        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2], check=False)
    assert ok.returncode == 0, ok.stdout


def test_findings_convert_to_json_like_the_cli_does() -> None:
    finding = Finding("a.yaml", 3, "tests.X", "error", "m")
    assert vars(finding) == {"path": "a.yaml", "line": 3, "key": "tests.X", "severity": "error", "message": "m"}


def test_urea_nitrogen_for_urea_is_reported_by_unit_and_by_name(tmp_path: Path) -> None:
    """Issue 12.5: 3094-0 is urea *nitrogen*, Mass/volume: wrong for urea in mmol/L, suspicious for 'Urée' in g/L."""
    write(tmp_path, "t.yaml", HEADER + "  URE:\n    loinc: 3094-0\n    display: Urée\n    unit: mmol/L\n")
    finding = only_error(tmp_path)
    assert (finding.line, finding.key) == (6, "tests.URE.unit") and "MCnc" in finding.message
    write(tmp_path, "t.yaml", HEADER + "  URE:\n    loinc: 3094-0\n    display: Urée\n    unit: g/L\n")
    assert errors(tmp_path) == []
    (warning,) = [f for f in check_mappings(tmp_path, loinc_dir=tmp_path) if f.key == "tests.URE.loinc"]
    assert warning.severity == "warning" and "nitrogen" in warning.message and warning.line == 3


def test_unit_in_another_form_than_the_kit_knows_is_a_warning(tmp_path: Path) -> None:
    write(tmp_path, "t.yaml", HEADER + "  FER:\n    loinc: 2498-4\n    display: Fer\n    unit: ug/dl\n")
    (warning,) = [f for f in check_mappings(tmp_path, loinc_dir=tmp_path) if f.key == "tests.FER.unit"]
    assert warning.severity == "warning" and "ug/dL" in warning.message
