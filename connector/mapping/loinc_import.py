"""Import the LOINC release a lab downloads: ``Loinc.csv``, its French linguistic variant, or a French label list.

The database (``<loinc_dir>/imported.sqlite``, outside git) is rebuilt in a temporary file
and renamed into place, so a reader never sees a half-written table. Three kinds of file:

- the official table ``LoincTable/Loinc.csv``: its LOINC fields, unchanged;
- the French linguistic variant of the same release
  (``AccessoryFiles/LinguisticVariants/frFR…LinguisticVariant.csv``): fills ``DISPLAY_FR``
  (its ``LinguisticVariantDisplayName``) and ``WORDS_FR`` (its French component, system
  and related names, which only the search index reads); the English fields stay;
- a French label list (code column + label column, e.g. an ANS export): fills ``DISPLAY_FR``.
"""

from __future__ import annotations

import csv
import os
import sqlite3
import tempfile
from contextlib import closing
from pathlib import Path

from .loinc import IMPORTED_DB_NAME, LOINC_COLUMNS, OUR_COLUMNS

__all__ = ["import_loinc"]

# Column names seen in French label files (ANS LOINC FR exports); matched case-insensitively.
_FR_CODE_COLUMNS = ("loinc_num", "code loinc", "code_loinc", "loinc", "code")
_FR_LABEL_COLUMNS = ("display_fr", "libellé", "libelle", "libellé long", "libelle long", "long_common_name_fr")
# French words of a linguistic variant row that help a search (never shown as a display).
_VARIANT_WORDS = ("component", "system", "relatednames2", "shortname", "long_common_name")


def import_loinc(csv_path: Path, *, loinc_dir: Path) -> int:
    """Import ``csv_path`` into ``loinc_dir``; returns the number of rows imported."""
    loinc_dir.mkdir(parents=True, exist_ok=True)
    target = loinc_dir / IMPORTED_DB_NAME
    with csv_path.open(encoding="utf-8-sig", newline="") as handle:
        sample = handle.read(8192)
        handle.seek(0)
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        reader = csv.DictReader(handle, dialect=dialect)
        header = {name.strip().lower(): name for name in reader.fieldnames or ()}
        fd, tmp_name = tempfile.mkstemp(prefix=".import-", suffix=".sqlite", dir=loinc_dir)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            if target.exists():
                tmp.write_bytes(target.read_bytes())
            with closing(sqlite3.connect(tmp)) as conn, conn:
                _create_schema(conn)
                if "linguisticvariantdisplayname" in header:
                    count = _import_variant(conn, reader, header)
                elif "loinc_num" in header and "long_common_name" in header:
                    count = _import_official(conn, reader, header)
                else:
                    count = _import_french(conn, reader, header, csv_path)
                _rebuild_index(conn)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    return count


def _create_schema(conn: sqlite3.Connection) -> None:
    columns = ", ".join(f"{name} TEXT NOT NULL DEFAULT ''" for name in LOINC_COLUMNS[1:] + OUR_COLUMNS)
    conn.execute(f"CREATE TABLE IF NOT EXISTS concept (LOINC_NUM TEXT PRIMARY KEY, {columns})")
    present = {row[1] for row in conn.execute("PRAGMA table_info(concept)")}
    for name in LOINC_COLUMNS[1:] + OUR_COLUMNS:  # a database imported by an older version
        if name not in present:
            conn.execute(f"ALTER TABLE concept ADD COLUMN {name} TEXT NOT NULL DEFAULT ''")
    conn.execute("DROP TABLE IF EXISTS concept_fts")
    conn.execute(
        "CREATE VIRTUAL TABLE concept_fts USING fts5(LOINC_NUM UNINDEXED, words, "
        "tokenize = 'unicode61 remove_diacritics 2')"
    )


def _cell(row: dict[str, str], header: dict[str, str], name: str) -> str:
    return (row.get(header.get(name.lower(), name)) or "").strip()


def _import_official(conn: sqlite3.Connection, reader: csv.DictReader[str], header: dict[str, str]) -> int:
    placeholders = ", ".join("?" for _ in LOINC_COLUMNS)
    update = ", ".join(f"{name} = excluded.{name}" for name in LOINC_COLUMNS[1:])
    sql = (f"INSERT INTO concept ({', '.join(LOINC_COLUMNS)}) VALUES ({placeholders}) "
           f"ON CONFLICT(LOINC_NUM) DO UPDATE SET {update}")
    count = 0
    for row in reader:
        values = tuple(_cell(row, header, name) for name in LOINC_COLUMNS)
        if values[0]:
            conn.execute(sql, values)
            count += 1
    return count


def _import_variant(conn: sqlite3.Connection, reader: csv.DictReader[str], header: dict[str, str]) -> int:
    sql = ("INSERT INTO concept (LOINC_NUM, DISPLAY_FR, WORDS_FR) VALUES (?, ?, ?) "
           "ON CONFLICT(LOINC_NUM) DO UPDATE SET DISPLAY_FR = excluded.DISPLAY_FR, WORDS_FR = excluded.WORDS_FR")
    count = 0
    for row in reader:
        code = _cell(row, header, "loinc_num")
        display = _cell(row, header, "linguisticvariantdisplayname")
        words = " ".join(dict.fromkeys(w for w in (_cell(row, header, c) for c in _VARIANT_WORDS) if w))
        if code and (display or words):
            conn.execute(sql, (code, display, words))
            count += 1
    return count


def _import_french(conn: sqlite3.Connection, reader: csv.DictReader[str], header: dict[str, str], path: Path) -> int:
    code_col = next((header[c] for c in _FR_CODE_COLUMNS if c in header), None)
    label_col = next((header[c] for c in _FR_LABEL_COLUMNS if c in header), None)
    if code_col is None or label_col is None:
        raise ValueError(f"{path.name}: expected a LOINC code column and a French label column (header row)")
    sql = (
        "INSERT INTO concept (LOINC_NUM, DISPLAY_FR) VALUES (?, ?) "
        "ON CONFLICT(LOINC_NUM) DO UPDATE SET DISPLAY_FR = excluded.DISPLAY_FR"
    )
    count = 0
    for row in reader:
        code, label = (row.get(code_col) or "").strip(), (row.get(label_col) or "").strip()
        if code and label:
            conn.execute(sql, (code, label))
            count += 1
    return count


def _rebuild_index(conn: sqlite3.Connection) -> None:
    conn.execute(
        "INSERT INTO concept_fts (LOINC_NUM, words) SELECT LOINC_NUM, "
        "COMPONENT || ' ' || SHORTNAME || ' ' || LONG_COMMON_NAME || ' ' || DISPLAY_FR || ' ' || WORDS_FR "
        "FROM concept"
    )
