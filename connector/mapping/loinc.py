"""LOINC look-ups: the small subset shipped in ``loinc/`` and the table a lab imports.

Licence (terminology.md §1): we never alter codes, names or field contents; we ship only
the codes our mappings use (``loinc/subset.csv`` + ``loinc/NOTICE.txt``). A lab that wants
the whole table downloads ``Loinc.csv`` itself and runs :func:`import_loinc`, which writes
``<loinc_dir>/imported.sqlite`` (outside git) with a full-text index for :func:`suggest`.
"""

from __future__ import annotations

import csv
import os
import sqlite3
import tempfile
from contextlib import closing
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

__all__ = [
    "IMPORTED_DB_NAME",
    "LOINC_OID",
    "LOINC_SYSTEMS",
    "LoincConcept",
    "LoincTable",
    "check_digit_ok",
    "default_loinc_dir",
    "is_loinc_system",
]

LOINC_OID = "2.16.840.1.113883.6.1"
# Names a SIL may put in the coding-system component of OBX-3 for LOINC.
LOINC_SYSTEMS = frozenset({"LN", "LOINC", LOINC_OID})
IMPORTED_DB_NAME = "imported.sqlite"
SUBSET_NAME = "subset.csv"
# Columns the LOINC licence asks us to keep with any record we ship (terminology.md §1).
LOINC_COLUMNS = (
    "LOINC_NUM",
    "COMPONENT",
    "PROPERTY",
    "TIME_ASPCT",
    "SYSTEM",
    "SCALE_TYP",
    "METHOD_TYP",
    "STATUS",
    "SHORTNAME",
    "LONG_COMMON_NAME",
)


def is_loinc_system(system: str) -> bool:
    return system.strip().upper() in LOINC_SYSTEMS


def check_digit_ok(code: str) -> bool:
    """LOINC mod-10 check digit (``2951-2``): catches most typos in a hand-edited code."""
    body, sep, digit = code.partition("-")
    if not sep or not body.isdigit() or len(digit) != 1 or not digit.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(body)):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value // 10 + value % 10
    return (10 - total % 10) % 10 == int(digit)


def default_loinc_dir() -> Path:
    """``<repo>/loinc`` (the shipped subset), overridable by ``CONNECTOR_LOINC_DIR``."""
    override = os.environ.get("CONNECTOR_LOINC_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "loinc"


@dataclass(frozen=True, slots=True)
class LoincConcept:
    code: str
    long_name: str = ""
    short_name: str = ""
    component: str = ""
    kind: str = ""  # LOINC PROPERTY: MCnc, SCnc, NCnc, CCnc, ACnc, MFr, VFr, …: checked against the unit
    system: str = ""
    scale: str = ""
    status: str = ""
    display_fr: str = ""

    @property
    def display(self) -> str:
        """French display name when known, else the LOINC long common name."""
        return self.display_fr or self.long_name or self.short_name or self.code


def _concept_from_row(row: dict[str, str]) -> LoincConcept:
    return LoincConcept(
        code=row.get("LOINC_NUM", "").strip(),
        long_name=row.get("LONG_COMMON_NAME", "") or "",
        short_name=row.get("SHORTNAME", "") or "",
        component=row.get("COMPONENT", "") or "",
        kind=row.get("PROPERTY", "") or "",
        system=row.get("SYSTEM", "") or "",
        scale=row.get("SCALE_TYP", "") or "",
        status=row.get("STATUS", "") or "",
        display_fr=row.get("DISPLAY_FR", "") or "",
    )


@lru_cache(maxsize=8)
def _read_subset(path: Path, mtime_ns: int) -> dict[str, LoincConcept]:
    """Parsed subset, cached per (path, mtime): a pure function of the file's content."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [_concept_from_row(row) for row in csv.DictReader(handle)]
    return {c.code: c for c in rows if c.code}


class LoincTable:
    """The subset from ``loinc/`` plus, when present, the imported table of ``loinc_dir``."""

    def __init__(self, subset: dict[str, LoincConcept], imported_db: Path | None) -> None:
        self._subset = subset
        self.imported_db = imported_db

    @classmethod
    def open(cls, loinc_dir: Path | None = None, *, subset_dir: Path | None = None) -> LoincTable:
        subset_path = (subset_dir or default_loinc_dir()) / SUBSET_NAME
        subset: dict[str, LoincConcept] = {}
        if subset_path.is_file():
            subset = _read_subset(subset_path, subset_path.stat().st_mtime_ns)
        db = None
        for folder in (loinc_dir, subset_dir):
            if folder is not None and (folder / IMPORTED_DB_NAME).is_file():
                db = folder / IMPORTED_DB_NAME
                break
        return cls(subset, db)

    @property
    def has_full_table(self) -> bool:
        return self.imported_db is not None

    @property
    def subset(self) -> dict[str, LoincConcept]:
        return dict(self._subset)

    def get(self, code: str) -> LoincConcept | None:
        found = self._imported_get(code) if self.imported_db else None
        shipped = self._subset.get(code)
        if found and shipped and not found.display_fr and shipped.display_fr:
            return LoincConcept(**{**_as_dict(found), "display_fr": shipped.display_fr})
        return found or shipped

    def _imported_get(self, code: str) -> LoincConcept | None:
        assert self.imported_db is not None
        with closing(sqlite3.connect(f"file:{self.imported_db}?mode=ro", uri=True)) as conn:
            conn.row_factory = sqlite3.Row
            row = conn.execute("SELECT * FROM concept WHERE LOINC_NUM = ?", (code,)).fetchone()
        return _concept_from_row(dict(row)) if row else None


def _as_dict(concept: LoincConcept) -> dict[str, str]:
    return {name: getattr(concept, name) for name in LoincConcept.__slots__}


# ---------------------------------------------------------------------------- import

# Column names seen in French label files (ANS LOINC FR exports); matched case-insensitively.
_FR_CODE_COLUMNS = ("loinc_num", "code loinc", "code_loinc", "loinc", "code")
_FR_LABEL_COLUMNS = ("display_fr", "libellé", "libelle", "libellé long", "libelle long", "long_common_name_fr")


def import_loinc(csv_path: Path, *, loinc_dir: Path) -> int:
    """Import ``Loinc.csv`` (official table) or a French labels CSV into ``loinc_dir``.

    The database is rebuilt in a temporary file and renamed into place, so a reader never
    sees a half-written table. Importing a French labels file keeps the existing rows and
    fills ``DISPLAY_FR``. Returns the number of rows imported.
    """
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
                if "loinc_num" in header and "long_common_name" in header:
                    count = _import_official(conn, reader, header)
                else:
                    count = _import_french(conn, reader, header, csv_path)
                _rebuild_index(conn)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    return count


def _create_schema(conn: sqlite3.Connection) -> None:
    columns = ", ".join(f"{name} TEXT NOT NULL DEFAULT ''" for name in LOINC_COLUMNS[1:])
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS concept (LOINC_NUM TEXT PRIMARY KEY, {columns}, "
        "DISPLAY_FR TEXT NOT NULL DEFAULT '')"
    )
    conn.execute("DROP TABLE IF EXISTS concept_fts")
    conn.execute(
        "CREATE VIRTUAL TABLE concept_fts USING fts5(LOINC_NUM UNINDEXED, words, "
        "tokenize = 'unicode61 remove_diacritics 2')"
    )


def _import_official(conn: sqlite3.Connection, reader: csv.DictReader[str], header: dict[str, str]) -> int:
    placeholders = ", ".join("?" for _ in LOINC_COLUMNS)
    update = ", ".join(f"{name} = excluded.{name}" for name in LOINC_COLUMNS[1:])
    sql = (f"INSERT INTO concept ({', '.join(LOINC_COLUMNS)}) VALUES ({placeholders}) "
           f"ON CONFLICT(LOINC_NUM) DO UPDATE SET {update}")
    count = 0
    for row in reader:
        values = tuple((row.get(header.get(name.lower(), name)) or "").strip() for name in LOINC_COLUMNS)
        if values[0]:
            conn.execute(sql, values)
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
        "COMPONENT || ' ' || SHORTNAME || ' ' || LONG_COMMON_NAME || ' ' || DISPLAY_FR FROM concept"
    )
