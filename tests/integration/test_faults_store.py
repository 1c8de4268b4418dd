"""Durability of the store and crash consistency of the pipeline.

- The store refuses to open when SQLite does not confirm WAL + synchronous=FULL (a filesystem where WAL
  fails answers the old journal mode; simulated by a connection that downgrades the PRAGMA).
- Mirth RecoveryTests style: the store is seeded in each state a crash can leave (input received but
  not split, parsed, built, sending, sent); a fresh runtime (new Pipeline, as after a restart) takes each
  report to ``sent`` with exactly one submission, and never resends one already accepted. On SQLite
  and on PostgreSQL (``store_location``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

import connector.store.db as store_db
from connector.errors import ConfigError
from connector.store import Store
from tests.ledger.oru import COPY_TO, PRESCRIBER, LedgerEntry, ledger
from tests.support.runtime import smtp_runtime
from tests.support.smtp import SmtpServer

MAX_STEPS = 10  # a report needs 2 steps (build, send); more means the pipeline loops


def _downgrading(replace: dict[str, str]) -> type[sqlite3.Connection]:
    class Downgrading(sqlite3.Connection):
        def execute(self, sql: str, *args: object) -> sqlite3.Cursor:  # type: ignore[override]
            return super().execute(replace.get(sql.strip().lower(), sql), *args)

    return Downgrading


@pytest.mark.parametrize(("replace", "expected"), [
    ({"pragma journal_mode=wal": "PRAGMA journal_mode=DELETE"}, "journal_mode=delete"),
    ({"pragma synchronous=full": "PRAGMA synchronous=NORMAL"}, "synchronous=1"),
])
def test_store_refuses_without_wal_and_synchronous_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        replace: dict[str, str], expected: str) -> None:
    real_connect = sqlite3.connect
    factory = _downgrading(replace)
    monkeypatch.setattr(store_db.sqlite3, "connect", lambda *a, **k: real_connect(*a, factory=factory, **k))
    with pytest.raises(ConfigError) as caught:
        Store(tmp_path / "var" / "connector.sqlite")
    assert expected in str(caught.value) and "expected wal and FULL" in str(caught.value)


def test_store_opens_with_wal_and_full(tmp_path: Path) -> None:
    store = Store(tmp_path / "var" / "connector.sqlite")
    try:
        assert store.db.durability == {"journal_mode": "wal", "synchronous": "2"}
    finally:
        store.close()


def _received(rt, entry: LedgerEntry) -> None:  # type: ignore[no-untyped-def]
    rt.store.record_input(entry.data, source=f"{entry.control_id}.hl7")  # crash before the split commit


def _parsed(rt, entry: LedgerEntry) -> None:  # type: ignore[no-untyped-def]
    rt.pipeline.receive(entry.data, source=f"{entry.control_id}.hl7")


def _built(rt, entry: LedgerEntry) -> None:  # type: ignore[no-untyped-def]
    _parsed(rt, entry)
    rt.pipeline.build(rt.store.report(entry.report_id))


def _sending(rt, entry: LedgerEntry) -> None:  # type: ignore[no-untyped-def]
    _built(rt, entry)
    rt.store.mark_sending(entry.report_id)  # crash after SENDING was committed, before any byte went out


def _sent(rt, entry: LedgerEntry) -> None:  # type: ignore[no-untyped-def]
    _built(rt, entry)
    rt.store.mark_sending(entry.report_id)
    rt.store.mark_sent(entry.report_id, accepted=entry.recipients, refused={}, reply="2.0.0 Ok: queued as X")


SEEDS: dict[str, tuple[Callable[..., None], int]] = {  # crash state → (seed, submissions expected after restart)
    "received-not-split": (_received, 1),
    "parsed": (_parsed, 1),
    "built": (_built, 1),
    "sending": (_sending, 1),
    "sent": (_sent, 0),
}


@pytest.mark.parametrize("crash_state", list(SEEDS))
async def test_fresh_pipeline_resumes_each_crash_state_once(tmp_path: Path, smtp_server: SmtpServer,
                                                           crash_state: str, store_location: Path | str) -> None:
    seed, submissions = SEEDS[crash_state]
    entry = ledger(crash_state.replace("-", "")[:8], 1)[0]  # prescriber + copy-to
    url = store_location if isinstance(store_location, str) else ""
    before = smtp_runtime(tmp_path, smtp_server, store_url=url)
    seed(before, entry)
    before.close()  # the crash: nothing in memory survives

    after = smtp_runtime(tmp_path, smtp_server, store_url=url)
    try:
        after.pipeline.recover()
        for _ in range(MAX_STEPS):
            if not await after.pipeline.step():
                break
        else:
            pytest.fail("the pipeline never went idle")
        await after.pipeline.close()
        row = after.store.report(entry.report_id)
        assert row is not None and row.state.value == "sent", (crash_state, row)
        assert len(smtp_server.handler.received) == submissions
        if submissions:
            assert sorted(smtp_server.handler.received[0].rcpt_tos) == sorted([PRESCRIBER, COPY_TO])
        assert after.store.db.query("SELECT count(*) FROM reports")[0][0] == 1
        assert after.store.db.query("SELECT count(*) FROM inputs")[0][0] == 1
    finally:
        after.close()
