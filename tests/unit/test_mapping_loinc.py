"""LOINC subset, import of the official table / French labels, and suggest()."""

import csv
import shutil
from pathlib import Path

import pytest

from connector.mapping import Mappings, default_mappings_dir, import_loinc, suggest
from connector.mapping.loinc import LoincTable, check_digit_ok, default_loinc_dir
from tests.support.refkit import ref_file


def top2000() -> Path:
    return ref_file("terminology", "loinc_top2000_lab_results_SI_v1.6.csv")


def test_check_digit_accepts_every_top2000_code() -> None:
    with top2000().open(encoding="utf-8") as handle:
        codes = [row["LOINC #"] for row in csv.DictReader(handle)]
    assert len(codes) > 2000 and all(check_digit_ok(code) for code in codes)
    assert not check_digit_ok("2951-3") and not check_digit_ok("2951") and not check_digit_ok("abc-1")


def test_subset_loinc_fields_are_copied_verbatim_from_a_top2000_row() -> None:
    """Licence: names and fields are never edited; each row's fields are one source row's fields."""
    official: dict[str, set[tuple[str, str, str]]] = {}
    for edition in ("SI", "US"):
        path = top2000().with_name(f"loinc_top2000_lab_results_{edition}_v1.6.csv")
        with path.open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                official.setdefault(row["LOINC #"], set()).add(
                    (row["Long Common Name"], row["Short Name"], row["CLASS"]))
    with (default_loinc_dir() / "subset.csv").open(encoding="utf-8") as handle:
        ours = {row["LOINC_NUM"]: row for row in csv.DictReader(handle)}
    assert set(official) <= set(ours)  # every Top 2000+ code is shipped
    for code, rows in official.items():
        row = ours[code]
        assert (row["LONG_COMMON_NAME"], row["SHORTNAME"], row["CLASS"]) in rows, code
    for code, row in ours.items():  # rows from ANS material only carry no LOINC field but the code
        if code not in official:
            assert not any(row[f] for f in ("LONG_COMMON_NAME", "SHORTNAME", "CLASS", "PROPERTY", "COMPONENT")), code


def test_subset_holds_the_mappings_codes_or_check_says_it_cannot_verify_them() -> None:
    subset = LoincTable.open(subset_dir=default_loinc_dir()).subset
    mappings = Mappings.load(default_mappings_dir())
    used = {m.loinc.code for m in mappings.tests.values() if m.loinc}
    used |= {m.chapter.code for m in mappings.tests.values()}
    used |= {b.loinc.code for b in mappings.batteries.values() if b.loinc}
    missing = used - set(subset)
    from connector.mapping import check_mappings

    warned = {code for f in check_mappings(default_mappings_dir()) for code in missing
              if code in f.message and "not in loinc/subset.csv" in f.message and f.severity == "warning"}
    assert warned == missing and len(missing) <= 2  # 40677-7, 18861-5: in no public source we ship
    assert {"18719-5", "18723-7", "18725-2", "18720-3", "18727-8", "18718-7"} <= set(subset)
    assert (default_loinc_dir() / "NOTICE.txt").is_file()


def test_version_is_a_hash_of_the_files(tmp_path: Path) -> None:
    for path in default_mappings_dir().glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    first = Mappings.load(tmp_path).version
    assert first == Mappings.load(default_mappings_dir()).version and len(first) == 12
    with (tmp_path / "biochimie.yaml").open("a", encoding="utf-8") as handle:
        handle.write("# commentaire\n")
    assert Mappings.load(tmp_path).version != first
    (tmp_path / "biochimie.test.yaml").write_text("[]\n", encoding="utf-8")  # test files do not count
    assert Mappings.load(tmp_path).version != first


def test_suggest_from_subset_by_code_and_french_label(tmp_path: Path) -> None:
    assert suggest("718-7", loinc_dir=tmp_path)[0].code == "718-7"
    hits = suggest("Leucocytes urine", loinc_dir=tmp_path, limit=3, unit="/mL")
    assert hits[0].code == "30405-5"
    assert suggest("hematocrite", loinc_dir=tmp_path)[0].code == "4544-3"  # accents ignored


def _official_csv(source: Path, target: Path) -> None:
    """The top-2000 list reshaped to the Loinc.csv column names (fields copied unchanged)."""
    with source.open(encoding="utf-8") as src, target.open("w", encoding="utf-8", newline="") as dst:
        writer = csv.writer(dst)
        writer.writerow(["LOINC_NUM", "SHORTNAME", "LONG_COMMON_NAME", "CLASS"])
        for row in csv.DictReader(src):
            writer.writerow([row["LOINC #"], row["Short Name"], row["Long Common Name"], row["CLASS"]])


def test_import_official_table_then_french_labels_then_suggest(tmp_path: Path) -> None:
    table = tmp_path / "Loinc.csv"
    _official_csv(top2000(), table)
    data = tmp_path / "data"
    count = import_loinc(table, loinc_dir=data)
    assert count > 2000 and (data / "imported.sqlite").is_file()
    assert [p.name for p in data.iterdir()] == ["imported.sqlite"]  # no temporary file left
    french = tmp_path / "loinc_fr.csv"
    french.write_text("Code LOINC;Libellé\n4548-4;Hémoglobine A1c/hémoglobine totale [Fraction massique] Sang\n",
                      encoding="utf-8")
    assert import_loinc(french, loinc_dir=data) == 1
    table_after = LoincTable.open(data)
    assert table_after.has_full_table
    concept = table_after.get("4548-4")
    assert concept is not None and concept.display_fr.startswith("Hémoglobine A1c")
    assert concept.long_name == "Hemoglobin A1c/Hemoglobin.total in Blood"
    assert suggest("4548-4", loinc_dir=data)[0].code == "4548-4"
    assert suggest("hémoglobine glyquée A1c", loinc_dir=data)[0].code == "4548-4"
    top = [c.code for c in suggest("Potassium serum plasma", loinc_dir=data, limit=5)]
    assert "2823-3" in top
    # the subset's French display fills the gap for codes the French file does not cover
    hgb = table_after.get("718-7")
    assert hgb is not None and hgb.display_fr.startswith("Hémoglobine")


def test_french_file_without_expected_columns_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="LOINC code column"):
        import_loinc(bad, loinc_dir=tmp_path / "data")
