"""Versioned migrations: a version-1 store from the first release is migrated, backed up first, and reads back.

The v1 store is made by ``tests/support/store_v1.py`` with the first release's schema and statements.
"""

from __future__ import annotations

import sqlite3
import stat
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.errors import ConfigError
from connector.model import Recipient
from connector.states import RecipientState, ReportState
from connector.store import SCHEMA_VERSION, NewReport, Store, open_backend
from connector.store.migrations import MIGRATIONS, migrate, pending
from tests.support.postgres import PgCluster
from tests.support.store_v1 import STATES, V1Report, v1_rows, write_v1_store

NOW = "9999-12-31T00:00:00"
V1_MIX = [V1Report(state=s, recipients=n, series=i % 3, zam=i % 2 == 0, mllp=i % 3 == 0, unreadable=i % 4 == 0)
          for i, (s, n) in enumerate((s, n) for s in STATES for n in (0, 1, 2))]


def _user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def _backups(folder: Path) -> list[Path]:
    return sorted(folder.glob("connector.sqlite.schema*.bak"))


def test_the_steps_are_numbered_from_one_without_a_gap() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1))
    assert SCHEMA_VERSION >= 2


def test_a_first_release_store_is_migrated_after_a_backup_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "var" / "connector.sqlite"
    write_v1_store(path, V1_MIX)
    before = v1_rows(path)
    store = Store(path)
    try:
        assert _user_version(path) == SCHEMA_VERSION
        assert v1_rows(path) == before  # nothing the first release wrote has changed
        [backup] = _backups(path.parent)
        assert _user_version(backup) == 1 and v1_rows(backup) == before
        assert stat.S_IMODE(backup.stat().st_mode) == 0o600
        applied = store.db.query("SELECT version FROM schema_migrations ORDER BY version")
        assert [r[0] for r in applied] == list(range(2, SCHEMA_VERSION + 1))
        # Read back through the store as the service does.
        report = store.report("SIL-LABO-MSG00004-0")
        assert report is not None and report.state is ReportState(V1_MIX[4].state)
        assert [r.address for r in store.recipients("SIL-LABO-MSG00005-0")] == ["dr.0@hopital.test",
                                                                                 "dr.1@hopital.test"]
        assert store.imap_cursor("INBOX") == (4_000_000_001, 57)
        assert store.record_input(b"MSH|^~\\&|SIL|LABO|CONNECTOR|LABO|20260101080000||ORU^R01|MSG00000|P|2.5\r",
                                  source="again.hl7").duplicate
        assert store.record_input(b"other bytes", source="x", dedup_key="SIL|LABO|MSG00003").ack is not None
        assert {name for _, name, _ in store.pending_outbox()} == {f"SIL-LABO-MSG{i:05d}-0-Z02"
                                                                   for i in range(0, len(V1_MIX), 2)
                                                                   if V1_MIX[i].state not in ("parsed", "waiting")
                                                                   or V1_MIX[i].recipients}
        # …and the store goes on: a correction of a migrated series is its next version.
        record = store.record_input(b"MSH|new", source="new.hl7")
        store.record_split(record.input_id, [NewReport(report_id="r-new", message_index=0, patient_index=0,
                                                       control_id="N1", series_key="order-1")], [])
        ids = store.document_identity("r-new", oid_root="1.2.250.1.999.1", effective_time="t", corrects=True)
        last = store.db.query("SELECT last_version FROM series WHERE series_key = 'order-1'")[0][0]
        assert ids.version == last and ids.replaces is not None
        assert any(r.report_id == "r-new" for r in store.claim_due(NOW)[0])
    finally:
        store.close()
    Store(path).close()  # nothing pending: no second backup
    assert len(_backups(path.parent)) == 1


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reports=st.lists(st.builds(V1Report, state=st.sampled_from(STATES), recipients=st.integers(0, 2),
                                  series=st.integers(0, 3), zam=st.booleans(), mllp=st.booleans(),
                                  unreadable=st.booleans()), max_size=25))
def test_migration_keeps_every_row_of_any_v1_store(tmp_path_factory: pytest.TempPathFactory,
                                                   reports: list[V1Report]) -> None:
    path = tmp_path_factory.mktemp("v1") / "connector.sqlite"
    write_v1_store(path, reports)
    before = v1_rows(path)
    Store(path).close()
    assert v1_rows(path) == before
    assert _user_version(path) == SCHEMA_VERSION


def test_a_new_store_is_created_at_the_current_version_without_a_backup(tmp_path: Path) -> None:
    path = tmp_path / "var" / "connector.sqlite"
    Store(path).close()
    assert _user_version(path) == SCHEMA_VERSION
    assert _backups(path.parent) == []


def test_a_store_from_a_newer_connector_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "var" / "connector.sqlite"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(ConfigError) as caught:
        Store(path)
    assert "newer connector" in str(caught.value) and str(path) in str(caught.value)


def test_a_failing_step_leaves_the_store_at_its_old_version(tmp_path: Path) -> None:
    path = tmp_path / "var" / "connector.sqlite"
    write_v1_store(path, V1_MIX[:3])
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE outbox ADD COLUMN lease_until TEXT")  # v2 adds it: the step fails half-way
    conn.close()
    with pytest.raises(ConfigError) as caught:
        Store(path)
    assert "schema migration 2 failed" in str(caught.value)
    assert _user_version(path) == 1
    conn = sqlite3.connect(path)
    try:
        columns = [r[1] for r in conn.execute("PRAGMA table_info(reports)")]
        assert "owner" not in columns  # the statements before the failure were rolled back too
    finally:
        conn.close()
    assert len(_backups(path.parent)) == 1  # taken before the attempt


# ---------------------------------------------------------------------- PostgreSQL: migrated by the operator

def test_an_instance_refuses_a_postgresql_store_that_was_not_migrated(pg_empty_url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Store(pg_empty_url)
    assert "connector store migrate" in str(caught.value) and "schema 0" in str(caught.value)


def test_migrating_postgresql_twice_at_once_applies_each_step_once(pg_cluster: PgCluster, pg_empty_url: str) -> None:
    results: list[int] = []

    def run() -> None:
        db = open_backend(pg_empty_url)
        try:
            results.append(migrate(db).after)
        finally:
            db.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == [SCHEMA_VERSION, SCHEMA_VERSION]
    dbname = pg_empty_url.rsplit("/", 1)[1]
    applied = pg_cluster.admin("SELECT version FROM schema_migrations ORDER BY version", dbname=dbname)
    assert [r[0] for r in applied] == list(range(1, SCHEMA_VERSION + 1))
    store = Store(pg_empty_url)
    try:
        assert pending(store.db) == []
        record = store.record_input(b"MSH|x", source="x.hl7")
        store.record_split(record.input_id, [NewReport(report_id="r-1", message_index=0, patient_index=0,
                                                       control_id="M1", series_key="")], [])
        store.mark_built("r-1", email=b"\x00\xff mail", message_id="<m>", envid="e",
                         recipients=[Recipient(address="a@x.test", kind="prescriber")])
        assert store.email("r-1") == b"\x00\xff mail"
        # The relay's spelling of the address is matched without case, as on SQLite.
        assert store.apply_ack("r-1", address="A@X.test", state=RecipientState.DELIVERED, code="2.0.0",
                               detail="") is ReportState.DELIVERED
    finally:
        store.close()


def _columns_sqlite(path: Path) -> dict[str, list[tuple[str, bool, str]]]:
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                             "AND name NOT LIKE 'sqlite_%'")]
        return {t: sorted((c[1], bool(c[3]) or bool(c[5]), str(c[4] or "").strip("'"))
                          for c in conn.execute(f"PRAGMA table_info({t})")) for t in tables}
    finally:
        conn.close()


def test_both_dialects_build_the_same_tables_and_columns(tmp_path: Path, pg_cluster: PgCluster,
                                                         pg_url: str) -> None:
    """Each step is written twice (v00N_sqlite.sql, v00N_postgresql.sql): the two may differ in types and
    collation only, never in a table, a column, whether it may be NULL or its default."""
    Store(tmp_path / "connector.sqlite").close()
    sqlite = _columns_sqlite(tmp_path / "connector.sqlite")
    rows = pg_cluster.admin(
        "SELECT c.table_name, c.column_name, c.is_nullable = 'NO' OR k.column_name IS NOT NULL, "
        "coalesce(c.column_default, '') FROM information_schema.columns c "
        "LEFT JOIN information_schema.key_column_usage k ON k.table_name = c.table_name "
        "AND k.column_name = c.column_name AND k.constraint_name LIKE '%pkey' "
        "WHERE c.table_schema = 'public'",
        dbname=pg_url.rsplit("/", 1)[1])
    postgresql: dict[str, list[tuple[str, bool, str]]] = {}
    for table, column, required, default in rows:
        # PostgreSQL spells a default with its type ('x'::text) and an identity column with nextval(...)
        default = "" if default.startswith("nextval(") else default.split("::")[0].strip("'")
        postgresql.setdefault(table, []).append((column, required in (True, "t"), default))
    assert {t: sorted(c) for t, c in postgresql.items()} == sqlite
