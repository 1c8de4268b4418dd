"""Retention: old files and old store blobs go; ids, young data and unfinished reports stay.

Every test runs with the store on SQLite and on PostgreSQL (``store_location``).
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connector.config import Config, parse_config
from connector.config.schema import RetentionConfig
from connector.config.settings import store_settings
from connector.errors import ConfigError
from connector.logs import JsonFormatter, logger
from connector.model import Recipient
from connector.ops.retention import PruneReport, prune
from connector.states import RecipientState, ReportState
from connector.store import NewReport, Store
from connector.store.retention import PRUNED_EVENT

NOW = datetime(2027, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def config(tmp_path: Path, store_location: Path | str) -> Config:
    text = (
        "mode: test\ndata_dir: var\n"
        "intake:\n  folder:\n    drop: spool/drop\n    archive: spool/archive\n    quarantine: spool/quarantine\n"
    )
    if isinstance(store_location, str):
        text += f"store: {{url: '{store_location}'}}\n"
    cfg = parse_config(text, base_dir=tmp_path)
    for name in ("archive", "quarantine"):
        (tmp_path / "spool" / name).mkdir(parents=True)
    return cfg


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def _touch(path: Path, age: timedelta, data: bytes = b"MSH|^~\\&|synthetic\r") -> Path:
    path.write_bytes(data)
    stamp = (NOW - age).timestamp()
    os.utime(path, (stamp, stamp))
    return path


def _report(store: Store, report_id: str, *, state: ReportState, age: timedelta, data: bytes | None = None) -> int:
    """A report driven through the real store API to ``state``, then aged by ``age``."""
    rec = store.record_input(data or report_id.encode(), source=f"{report_id}.hl7")
    store.record_split(
        rec.input_id,
        [
            NewReport(
                report_id=report_id,
                message_index=0,
                patient_index=0,
                control_id="MSG-" + report_id,
                series_key="order-" + report_id,
            )
        ],
        [],
    )
    store.document_identity(report_id, oid_root="1.2.250.1.999.1", effective_time="20260101120000+0100",
                            corrects=False)
    store.mark_built(
        report_id,
        email=b"From: lab\r\n\r\nbody",
        message_id=f"<{report_id}@lab>",
        envid=f"env-{report_id}",
        recipients=[Recipient(address="dr@test.mssante.fr", kind="prescriber", idnps="810001")],
    )
    if state is not ReportState.BUILT:
        store.mark_sending(report_id)
        store.mark_sent(report_id, accepted=["dr@test.mssante.fr"], refused={}, reply="250 ok")
    if state in (ReportState.DELIVERED, ReportState.READ):
        ack = RecipientState.DELIVERED if state is ReportState.DELIVERED else RecipientState.PROCESSED
        store.apply_ack(report_id, address="dr@test.mssante.fr", state=ack, code="2.0.0", detail="",
                        zam=("Z02", f"{report_id}-z", b"MSH|ZAM"))
        store.db.query("UPDATE outbox SET sent = 1 WHERE report_id = ?", (report_id,))
    assert store.report(report_id).state is state  # type: ignore[union-attr]
    when = _iso(NOW - age)
    with store.db.transaction() as c:
        c.execute("UPDATE reports SET updated_at = ?, received_at = ? WHERE report_id = ?", (when, when, report_id))
        c.execute("UPDATE inputs SET received_at = ? WHERE id = ?", (when, rec.input_id))
    return rec.input_id


def _blobs(store: Store, report_id: str) -> tuple[int, bool, int]:
    row = store.db.query("SELECT length(i.data), r.email IS NOT NULL FROM reports r JOIN inputs i "
                         "ON i.id = r.input_id WHERE r.report_id = ?", (report_id,))[0]
    events = [e for _, e, _ in store.events(report_id) if e != PRUNED_EVENT]
    return row[0], bool(row[1]), len(events)


def test_defaults_are_the_stated_ones() -> None:
    assert RetentionConfig() == RetentionConfig(archive_days=90, quarantine_days=365, store_days=400)


def test_archive_files_older_than_90_days_go(config: Config, tmp_path: Path) -> None:
    archive = tmp_path / "spool" / "archive"
    old = _touch(archive / "old.hl7", 91 * DAY)
    young = _touch(archive / "young.hl7", 89 * DAY)
    report = prune(config, now=NOW)
    assert not old.exists() and young.exists()
    assert report.archive_files == 1 and report.file_bytes == len(b"MSH|^~\\&|synthetic\r")


def test_quarantine_keeps_younger_than_a_year_and_goes_with_its_reason(config: Config, tmp_path: Path) -> None:
    q = tmp_path / "spool" / "quarantine"
    old, old_reason = _touch(q / "a.hl7", 400 * DAY), _touch(q / "a.hl7.reason.txt", 366 * DAY, b"why")
    # The SIL wrote b.hl7 long ago, but it was quarantined last month: its reason file is young.
    kept, kept_reason = _touch(q / "b.hl7", 500 * DAY), _touch(q / "b.hl7.reason.txt", 30 * DAY, b"why")
    young = _touch(q / "c.hl7", 364 * DAY)
    report = prune(config, now=NOW)
    assert not old.exists() and not old_reason.exists()
    assert kept.exists() and kept_reason.exists() and young.exists()
    assert report.quarantine_files == 2


def test_links_and_folders_are_never_followed(config: Config, tmp_path: Path) -> None:
    archive = tmp_path / "spool" / "archive"
    outside = _touch(tmp_path / "outside.hl7", 1000 * DAY)
    (archive / "link.hl7").symlink_to(outside)
    (archive / "sub").mkdir()
    _touch(archive / "sub" / "deep.hl7", 1000 * DAY)
    prune(config, now=NOW)
    assert outside.exists() and (archive / "sub" / "deep.hl7").exists()


def test_missing_folders_are_not_an_error(config: Config, tmp_path: Path) -> None:
    (tmp_path / "spool" / "archive").rmdir()
    assert prune(config, now=NOW).archive_files == 0


def test_old_delivered_and_read_reports_lose_blobs_but_keep_ids(config: Config) -> None:
    store = Store(store_settings(config))
    try:
        _report(store, "r-delivered", state=ReportState.DELIVERED, age=401 * DAY)
        _report(store, "r-read", state=ReportState.READ, age=500 * DAY)
        before = store.db.query("SELECT report_id, document_root, document_ext, set_root, set_ext, version, "
                                "message_id, envid FROM reports ORDER BY report_id")
    finally:
        store.close()
    report = prune(config, now=NOW)
    assert (report.email_blobs, report.input_blobs, report.outbox_blobs) == (2, 2, 2)
    assert report.events > 0
    store = Store(store_settings(config))
    try:
        for rid in ("r-delivered", "r-read"):
            assert _blobs(store, rid) == (0, False, 0)
            assert [e for _, e, _ in store.events(rid)] == [PRUNED_EVENT]
        after = store.db.query("SELECT report_id, document_root, document_ext, set_root, set_ext, version, "
                               "message_id, envid FROM reports ORDER BY report_id")
        assert [tuple(r) for r in after] == [tuple(r) for r in before]
        assert len(store.db.query("SELECT * FROM series")) == 2  # a correction still finds its setId
        assert store.find_report(envid="env-r-read") == "r-read"  # a late ack still matches
        assert store.db.query("SELECT count(*) FROM outbox WHERE length(data) = 0")[0][0] == 2
    finally:
        store.close()
    again = prune(config, now=NOW)  # idempotent: nothing left, no second marker
    assert (again.email_blobs, again.input_blobs, again.events, again.outbox_blobs) == (0, 0, 0, 0)


def test_young_or_unfinished_reports_keep_everything(config: Config) -> None:
    store = Store(store_settings(config))
    try:
        _report(store, "r-young", state=ReportState.READ, age=399 * DAY)
        _report(store, "r-sent", state=ReportState.SENT, age=900 * DAY)  # no DSN ever: a person looks first
        _report(store, "r-built", state=ReportState.BUILT, age=900 * DAY)
        store.quarantine("r-built", reason="synthetic")
        store.db.query("UPDATE reports SET updated_at = ? WHERE report_id = 'r-built'", (_iso(NOW - 900 * DAY),))
    finally:
        store.close()
    report = prune(config, now=NOW)
    assert (report.email_blobs, report.input_blobs, report.events, report.outbox_blobs) == (0, 0, 0, 0)
    store = Store(store_settings(config))
    try:
        for rid in ("r-young", "r-sent", "r-built"):
            length, has_email, events = _blobs(store, rid)
            assert length > 0 and has_email and events > 0
    finally:
        store.close()


def test_an_input_shared_with_an_unfinished_report_keeps_its_bytes(config: Config) -> None:
    store = Store(store_settings(config))
    try:
        input_id = _report(store, "r-old", state=ReportState.READ, age=500 * DAY)
        store.record_split(
            input_id,
            [
                NewReport(
                    report_id="r-other", message_index=0, patient_index=1, control_id="MSG-r-old", series_key="order-x"
                )
            ],
            [],
        )
        store.db.query("UPDATE reports SET updated_at = ? WHERE report_id = 'r-other'", (_iso(NOW - 500 * DAY),))
    finally:
        store.close()
    report = prune(config, now=NOW)
    assert report.input_blobs == 0 and report.email_blobs == 1  # r-other is still PARSED


def test_unreadable_input_bytes_follow_the_quarantine_age(config: Config) -> None:
    store = Store(store_settings(config))
    try:
        old = store.record_input(b"not hl7 old", source="old.txt")
        store.record_split(old.input_id, [], [(0, "expected MSH")])
        young = store.record_input(b"not hl7 young", source="young.txt")
        store.record_split(young.input_id, [], [(0, "expected MSH")])
        with store.db.transaction() as c:
            for iid, age in ((old.input_id, 366 * DAY), (young.input_id, 364 * DAY)):
                c.execute("UPDATE input_errors SET at = ? WHERE input_id = ?", (_iso(NOW - age), iid))
                c.execute("UPDATE inputs SET received_at = ? WHERE id = ?", (_iso(NOW - age), iid))
    finally:
        store.close()
    assert prune(config, now=NOW, retention=RetentionConfig(store_days=300)).input_blobs == 1
    store = Store(store_settings(config))
    try:
        assert store.input_data(young.input_id)[1] == b"not hl7 young"
        assert len(store.input_errors()) == 2  # the reasons stay listed for the operator
    finally:
        store.close()


def test_dry_run_counts_and_changes_nothing(config: Config, tmp_path: Path) -> None:
    old_file = _touch(tmp_path / "spool" / "archive" / "old.hl7", 100 * DAY)
    store = Store(store_settings(config))
    try:
        _report(store, "r-1", state=ReportState.DELIVERED, age=401 * DAY)
    finally:
        store.close()
    dry = prune(config, now=NOW, dry_run=True)
    assert dry.dry_run and dry.archive_files == 1 and dry.email_blobs == 1 and dry.input_blobs == 1
    assert old_file.exists()
    real = prune(config, now=NOW)
    assert (real.archive_files, real.email_blobs, real.input_blobs, real.events, real.outbox_blobs) == (
        dry.archive_files, dry.email_blobs, dry.input_blobs, dry.events, dry.outbox_blobs)


@pytest.mark.parametrize("policy", [RetentionConfig(archive_days=0), RetentionConfig(quarantine_days=7),
                                    RetentionConfig(store_days=1)])
def test_ages_below_the_floors_are_refused(config: Config, policy: RetentionConfig) -> None:
    with pytest.raises(ConfigError, match="retention"):
        prune(config, now=NOW, retention=policy)


def test_one_log_event_with_counts_only(config: Config, tmp_path: Path) -> None:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        _touch(tmp_path / "spool" / "archive" / "PATIENT-SYNTHETIQUE.hl7", 100 * DAY)
        report = prune(config, now=NOW)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    lines = [json.loads(JsonFormatter().format(r)) for r in records if getattr(r, "event", "") == PRUNED_EVENT]
    assert len(lines) == 1 and lines[0]["archive_files"] == 1
    assert "PATIENT-SYNTHETIQUE" not in json.dumps(lines)
    assert isinstance(report, PruneReport) and set(report.cutoffs) == {"archive", "quarantine", "store"}
