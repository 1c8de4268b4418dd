"""`connector store check | migrate | copy`, run as an operator runs them, on a first-release store.

The lab's story: the connector is upgraded over a version-1 SQLite store (written as the first
release wrote it); `store check` says a migration is pending, `store migrate` applies it after a
backup; `store copy --to postgresql://…` moves everything to a real PostgreSQL, where the store
reads back the same reports, recipients, timelines, outbox and IMAP cursor.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from connector.states import ReportState
from connector.store import SCHEMA_VERSION, Store, open_backend
from connector.store.admin import checksums
from tests.support.postgres import PgCluster
from tests.support.store_v1 import STATES, V1Report, write_v1_store

ROOT = Path(__file__).resolve().parents[2]
V1_MIX = [V1Report(state=s, recipients=n, series=i % 4, zam=i % 2 == 1, mllp=i % 3 == 0, unreadable=i % 5 == 0)
          for i, (s, n) in enumerate((s, n) for s in STATES for n in (0, 1, 2) for _ in range(3))]


def connector(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CONNECTOR_CONFIG": str(config)}
    return subprocess.run([sys.executable, "-m", "connector", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=120)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A lab's configuration over a version-1 store in its data folder."""
    write_v1_store(tmp_path / "var" / "connector.sqlite", V1_MIX)
    config = tmp_path / "connector.yaml"
    config.write_text(f"mode: test\ndata_dir: {tmp_path / 'var'}\n", encoding="utf-8")
    return config


def _everything(store: Store) -> dict[str, object]:
    """What the service and the operator read from a store, through the store's own methods."""
    reports = store.all_reports()
    return {
        "counts": store.counts(),
        "reports": reports,
        "documents": {r.report_id: store.document_of(r.report_id) for r in reports},
        "recipients": {r.report_id: store.recipients(r.report_id) for r in reports},
        "events": {r.report_id: store.events(r.report_id) for r in reports},
        "emails": {r.report_id: store.email(r.report_id) for r in reports},
        "inputs": [store.input_data(r.input_id) for r in reports],
        "input_errors": store.input_errors(include_released=True),
        "outbox": store.pending_outbox(limit=1000),
        "cursor": store.imap_cursor("INBOX"),
    }


def test_check_then_migrate_a_first_release_store(site: Path) -> None:
    before = connector("store", "check", "--json", config=site)
    assert before.returncode == 1, before.stderr  # not ok: a migration is pending
    checked = json.loads(before.stdout)
    assert checked["schema_version"] == 1 and checked["pending"] == list(range(2, SCHEMA_VERSION + 1))
    assert checked["rows"]["reports"] == len(V1_MIX) and checked["integrity"] == "ok"

    done = connector("store", "migrate", "--json", config=site)
    assert done.returncode == 0, done.stderr
    migrated = json.loads(done.stdout)
    assert (migrated["before"], migrated["after"]) == (1, SCHEMA_VERSION)
    assert Path(migrated["backup"]).is_file()

    after = connector("store", "check", config=site)
    assert after.returncode == 0, after.stderr
    assert f"schema {SCHEMA_VERSION}" in after.stdout and "pending" not in after.stdout
    again = connector("store", "migrate", config=site)
    assert again.returncode == 0 and "nothing to do" in again.stdout


def test_copy_a_first_release_store_to_postgresql_and_read_it_back(site: Path, pg_cluster: PgCluster,
                                                                   pg_empty_url: str) -> None:
    copied = connector("store", "copy", "--to", pg_empty_url, "--json", config=site)
    assert copied.returncode == 0, copied.stderr
    report = json.loads(copied.stdout)
    assert report["tables"]["reports"]["rows"] == len(V1_MIX) and not report["already_copied"]

    sqlite_db, pg_db = open_backend(site.parent / "var" / "connector.sqlite"), open_backend(pg_empty_url)
    try:
        assert checksums(sqlite_db) == checksums(pg_db)  # every row of every table, byte for byte
    finally:
        sqlite_db.close()
        pg_db.close()
    rerun = connector("store", "copy", "--to", pg_empty_url, config=site)  # a complete copy: nothing written
    assert rerun.returncode == 0 and "already holds this store's" in rerun.stdout, rerun.stderr

    sqlite_store, pg_store = Store(site.parent / "var" / "connector.sqlite"), Store(pg_empty_url)
    try:
        assert _everything(pg_store) == _everything(sqlite_store)
        # The copy goes on where the SQLite store stopped: new ids after the copied ones, dedup still holds.
        last = max(r.input_id for r in sqlite_store.all_reports())
        assert pg_store.record_input(b"MSH|a new message", source="new.hl7").input_id > last
        resent = pg_store.record_input(b"other bytes", source="mllp:x", dedup_key="SIL|LABO|MSG00003")
        assert resent.duplicate and resent.ack is not None
        assert pg_store.report("SIL-LABO-MSG00030-0").state is ReportState(V1_MIX[30].state)  # type: ignore[union-attr]
    finally:
        sqlite_store.close()
        pg_store.close()

    # The target has moved on (one input more): a copy into it now is refused.
    refused = connector("store", "copy", "--to", pg_empty_url, config=site)
    assert refused.returncode == 2 and "not a copy of this store (differs in inputs)" in refused.stderr


def test_copy_refuses_a_password_in_the_url(site: Path) -> None:
    url = "postgresql://postgres:s3cret@127.0.0.1:5432/postgres"  # refused before any connection
    result = connector("store", "copy", "--to", url, config=site)
    assert result.returncode == 2 and "the password does not belong in the URL" in result.stderr
    assert "s3cret" not in result.stderr + result.stdout
