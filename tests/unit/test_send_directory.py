"""Directory import (synthetic extract, generated lines, zip) and lookup, including a swap while open."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from connector.errors import ConfigError
from connector.send import Directory, import_directory
from tests.support.directory import row, write_extract
from tests.support.refkit import ref_file


def line(bal: str, address: str, idnps: str, family: str = "TEST", given: str = "DOC") -> str:
    return row(address, idnps, family=family, given=given, bal=bal)


def test_synthetic_sample_imports(tmp_path: Path) -> None:
    sample = ref_file("terminology", "mssante_extraction_SYNTHETIC_sample.txt")
    db = tmp_path / "dir.sqlite"
    assert import_directory(sample, db_path=db) == 3
    directory = Directory(db)
    (doctor,) = directory.lookup("810000000001")
    assert doctor.address == "jean.testeur@test-ci-sis.mssante.fr"
    assert doctor.display_name == "JEAN TESTEUR" and doctor.profession == "Médecin"
    assert directory.lookup("0999999999")[0].address == "marie.essai@test-ci-sis.mssante.fr"
    assert directory.lookup("899999999999") == ()


def test_several_mailboxes_duplicates_and_org_rows(tmp_path: Path) -> None:
    extract = write_extract(tmp_path / "x.txt", [
        line("PER", "a@h.test", "810000000002"),
        line("PER", "b@c.test", "810000000002"),
        line("PER", "A@h.test", "810000000002"),  # duplicate address (exists in the real extract)
        line("ORG", "org@h.test", "810000000002"),
        "PER|broken|line",
    ])
    db = tmp_path / "dir.sqlite"
    assert import_directory(extract, db_path=db) == 4
    assert [e.address for e in Directory(db).lookup("810000000002")] == ["a@h.test", "b@c.test"]


def test_import_replaces_the_live_file_and_readers_follow(tmp_path: Path) -> None:
    db = tmp_path / "dir.sqlite"
    import_directory(write_extract(tmp_path / "1.txt", [line("PER", "old@h.test", "810000000003")]), db_path=db)
    directory = Directory(db)
    assert directory.lookup("810000000003")[0].address == "old@h.test"
    import_directory(write_extract(tmp_path / "2.txt", [line("PER", "new@h.test", "810000000003")]), db_path=db)
    assert directory.lookup("810000000003")[0].address == "new@h.test"
    assert not list(tmp_path.glob(".*importing"))
    assert (db.stat().st_mode & 0o077) == 0


def test_zip_as_downloaded_and_progress(tmp_path: Path) -> None:
    txt = write_extract(tmp_path / "Extraction_Correspondance_MSSante_202601010000.txt",
                        [line("PER", f"d{i}@h.test", f"8{i:011d}") for i in range(120_000)])
    archive = tmp_path / "extract.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(txt, txt.name)
    seen: list[int] = []
    assert import_directory(archive, db_path=tmp_path / "dir.sqlite", progress=seen.append) == 120_000
    assert seen == [50_000, 100_000]
    assert Directory(tmp_path / "dir.sqlite").lookup("800000000007")[0].address == "d7@h.test"


def test_bad_extract_keeps_the_live_database(tmp_path: Path) -> None:
    db = tmp_path / "dir.sqlite"
    import_directory(write_extract(tmp_path / "1.txt", [line("PER", "keep@h.test", "810000000004")]), db_path=db)
    (tmp_path / "bad.txt").write_text("not|an|extract\n")
    with pytest.raises(ConfigError, match="header"):
        import_directory(tmp_path / "bad.txt", db_path=db)
    assert Directory(db).lookup("810000000004")[0].address == "keep@h.test"


def test_missing_database_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="directory import"):
        Directory(tmp_path / "absent.sqlite")
