"""The national MSSanté directory extract ("Extraction_Correspondance_MSSante") in a local SQLite file.

The public extract (docs/spec/mssante.md §5) is a daily pipe-separated UTF-8 file, one header line, 31
columns, ~540,000 lines, with no stable row id and duplicate addresses. We parse it by *position* (column
names vary between sources), load it into a temporary database next to the live one, then swap it in with
``os.replace``: a running service keeps answering during an import and sees the new data at its next lookup
(:class:`Directory` reopens when the file changes). Professionals' names and addresses are public directory
data, not patient data.
"""

from __future__ import annotations

import contextlib
import io
import os
import sqlite3
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from connector.errors import ConfigError
from connector.files import install_file

__all__ = ["Directory", "DirectoryEntry", "import_directory", "national_id"]

EXTRACT_COLUMNS = 31  # the published layout; other counts mean a changed format or a broken line
PROGRESS_EVERY = 50_000  # lines between progress callbacks: ~10 calls for a full extract
BATCH_ROWS = 10_000  # executemany batch: bounded memory, few Python↔SQLite round trips
HEADER_FIRST_COLUMN = "Type de BAL"
RPPS_DIGITS = 11  # a bare RPPS number; its IDNPS is 8 + RPPS
ADELI_DIGITS = 9  # a bare ADELI number; its IDNPS is 0 + ADELI

# Positions in the extract (0-based) of the columns we keep.
COL_BAL_TYPE, COL_ADDRESS, COL_IDNPS, COL_STRUCTURE_ID, COL_SERVICE = 0, 1, 4, 6, 7
COL_FAMILY, COL_GIVEN, COL_PROFESSION, COL_SPECIALTY, COL_ORGANISATION, COL_POSTAL_CODE = 9, 10, 14, 16, 18, 28
_KEPT = (COL_BAL_TYPE, COL_ADDRESS, COL_IDNPS, COL_FAMILY, COL_GIVEN, COL_PROFESSION, COL_SPECIALTY,
         COL_ORGANISATION, COL_STRUCTURE_ID, COL_SERVICE, COL_POSTAL_CODE)

_SCHEMA = """
CREATE TABLE mailbox (
    bal_type TEXT NOT NULL, address TEXT NOT NULL, idnps TEXT NOT NULL, family TEXT NOT NULL, given TEXT NOT NULL,
    profession TEXT NOT NULL, specialty TEXT NOT NULL, organisation TEXT NOT NULL, structure_id TEXT NOT NULL,
    service TEXT NOT NULL, postal_code TEXT NOT NULL
);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_INDEX = "CREATE INDEX mailbox_idnps ON mailbox (idnps, bal_type)"  # built after the load: 3x faster import


@dataclass(frozen=True)
class DirectoryEntry:
    """One personal (PER) mailbox of a health professional."""

    address: str
    idnps: str  # 8 + RPPS, or 0 + ADELI
    bal_type: str = "PER"
    family: str = ""
    given: str = ""
    profession: str = ""  # e.g. "Médecin"
    specialty: str = ""  # savoir-faire, e.g. "Qualifié en Médecine Générale"
    organisation: str = ""  # raison sociale of the mailbox's structure
    structure_id: str = ""
    service: str = ""
    postal_code: str = ""

    @property
    def display_name(self) -> str:
        return " ".join(p for p in (self.given, self.family) if p)


class Directory:
    """Read side: ``lookup(idnps)`` on an indexed SQLite file, reopened when an import replaced it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()  # one sqlite3 connection shared by threads: serialise its use
        self._conn: sqlite3.Connection | None = None
        self._identity: tuple[int, int] | None = None
        self._reopen_if_changed()

    def lookup(self, idnps: str) -> tuple[DirectoryEntry, ...]:
        """PER mailboxes of this professional, in file order, duplicates removed; () when unknown.

        ``idnps`` is the national id as the extract writes it (8 + RPPS, 0 + ADELI); a bare RPPS
        (11 digits) or ADELI (9 digits), as people type them, is completed.
        """
        idnps = national_id(idnps)
        with self._lock:
            conn = self._reopen_if_changed()
            rows = conn.execute(
                "SELECT address, idnps, bal_type, family, given, profession, specialty, organisation, structure_id,"
                " service, postal_code FROM mailbox WHERE idnps = ? AND bal_type = 'PER' ORDER BY rowid",
                (idnps,),
            ).fetchall()
        seen: set[str] = set()
        entries = []
        for row in rows:
            key = row[0].lower()
            if key not in seen:
                seen.add(key)
                entries.append(DirectoryEntry(*row))
        return tuple(entries)

    def count(self) -> int:
        with self._lock:
            return int(self._reopen_if_changed().execute("SELECT count(*) FROM mailbox").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _reopen_if_changed(self) -> sqlite3.Connection:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise ConfigError("directory database missing: run the directory import", path=str(self.path)) from None
        identity = (st.st_ino, st.st_mtime_ns)
        if self._conn is None or identity != self._identity:
            if self._conn is not None:
                self._conn.close()
            # read-only: the import never writes the live file, it replaces it
            self._conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            self._identity = identity
        return self._conn


def national_id(text: str) -> str:
    """The IDNPS for a typed professional id: ``8`` + an 11-digit RPPS, ``0`` + a 9-digit ADELI, else as given."""
    text = text.strip()
    if text.isdigit() and len(text) == RPPS_DIGITS:
        return "8" + text
    if text.isdigit() and len(text) == ADELI_DIGITS:
        return "0" + text
    return text


def import_directory(extract: Path, *, db_path: Path, progress: Callable[[int], None] | None = None) -> int:
    """Load an extract (``.txt``, or the ``.zip`` as downloaded) into ``db_path``; return the rows loaded.

    Lines without 31 columns are skipped and counted in the ``meta`` table (``skipped_lines``). The live
    database is replaced atomically only after a complete, committed, fsynced load.
    """
    db_path = Path(db_path)
    db_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = db_path.with_name(f".{db_path.name}.importing")
    tmp.unlink(missing_ok=True)
    loaded = skipped = 0
    try:
        conn = sqlite3.connect(tmp)
        try:
            conn.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + _SCHEMA)
            with _open_extract(Path(extract)) as lines:
                header = next(lines, "")
                if not header.startswith(HEADER_FIRST_COLUMN):
                    raise ConfigError(f"not an MSSanté extract: header must start with {HEADER_FIRST_COLUMN!r}",
                                      path=str(extract), line=1)
                batch: list[tuple[str, ...]] = []
                for number, line in enumerate(lines, start=1):
                    cols = line.rstrip("\r\n").split("|")
                    if len(cols) != EXTRACT_COLUMNS:
                        skipped += 1
                        continue
                    batch.append(tuple(cols[i] for i in _KEPT))
                    if len(batch) >= BATCH_ROWS:
                        loaded += _insert(conn, batch)
                    if progress is not None and number % PROGRESS_EVERY == 0:
                        progress(number)
                loaded += _insert(conn, batch)
            conn.execute(_INDEX)
            conn.executemany("INSERT INTO meta VALUES (?, ?)",
                             [("source", Path(extract).name), ("rows", str(loaded)), ("skipped_lines", str(skipped))])
            conn.commit()
        finally:
            conn.close()
        install_file(tmp, db_path)  # journal off: the file is made durable before it becomes the live one
    finally:
        tmp.unlink(missing_ok=True)
    return loaded


def _insert(conn: sqlite3.Connection, batch: list[tuple[str, ...]]) -> int:
    conn.executemany("INSERT INTO mailbox VALUES (?,?,?,?,?,?,?,?,?,?,?)", batch)
    n = len(batch)
    batch.clear()
    return n


@contextlib.contextmanager
def _open_extract(path: Path) -> Iterator[Iterator[str]]:
    """Text lines of the extract, from the .txt or from inside the downloaded .zip.

    The extract is published in UTF-8: a decoding error means a wrong file, reported without its content.
    """
    if not path.is_file():
        raise ConfigError("directory extract not found", path=str(path))
    with contextlib.ExitStack() as stack:
        if zipfile.is_zipfile(path):
            archive = stack.enter_context(zipfile.ZipFile(path))
            names = [n for n in archive.namelist() if n.lower().endswith(".txt")]
            if len(names) != 1:
                raise ConfigError("the zip must hold exactly one .txt extract", path=str(path))
            raw = stack.enter_context(archive.open(names[0]))
            text: IO[str] = stack.enter_context(io.TextIOWrapper(raw, encoding="utf-8-sig", newline=""))
        else:
            text = stack.enter_context(open(path, encoding="utf-8-sig", newline=""))
        try:
            yield iter(text)
        except UnicodeDecodeError as exc:
            raise ConfigError(f"not UTF-8 (byte offset {exc.start} of a line)", path=str(path)) from None
