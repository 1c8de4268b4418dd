"""The store: durability settings, dedup at intake, ids minted once, state derivation from acks.

Every test runs on both engines (the ``store_location`` fixture: SQLite, then PostgreSQL, marked ``postgres``).
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.model import Recipient
from connector.states import RecipientState, ReportState
from connector.store import Engine, NewReport, Store


@pytest.fixture
def store(store_location: Path | str) -> Iterator[Store]:
    s = Store(store_location)
    yield s
    s.close()


def _report(store: Store, report_id: str = "r-1", series: str = "order-1") -> None:
    rec = store.record_input(report_id.encode(), source="f.hl7")
    store.record_split(
        rec.input_id,
        [NewReport(report_id=report_id, message_index=0, patient_index=0, control_id="MSG1", series_key=series)],
        [],
    )


def test_durability_is_checked(store: Store) -> None:
    if store.db.engine is Engine.SQLITE:
        assert store.db.durability == {"journal_mode": "wal", "synchronous": "2"}
    else:  # every commit waits for the server's flush
        durability = store.db.durability
        assert durability["fsync"] == "on" and durability["synchronous_commit"] == "on"


def test_store_file_and_folder_are_private(tmp_path: Path) -> None:
    Store(tmp_path / "var" / "connector.sqlite").close()
    assert stat.S_IMODE((tmp_path / "var").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "var" / "connector.sqlite").stat().st_mode) == 0o600


def test_same_bytes_or_same_mllp_key_is_one_input(store: Store) -> None:
    first = store.record_input(b"MSH|a", source="mllp:x", dedup_key="SIL|LABO|1")
    assert not first.duplicate
    store.set_ack(first.input_id, b"ACK")
    again = store.record_input(b"MSH|a", source="mllp:x")
    resent = store.record_input(b"MSH|a-different-bytes", source="mllp:x", dedup_key="SIL|LABO|1")
    assert again.duplicate and resent.duplicate
    assert resent.input_id == first.input_id and resent.ack == b"ACK"


def test_unsplit_inputs_are_found_for_recovery(store: Store) -> None:
    rec = store.record_input(b"MSH|x", source="f")
    assert store.unsplit_inputs() == [rec.input_id]
    store.record_split(rec.input_id, [], [(0, "f: expected MSH")])
    assert store.unsplit_inputs() == []
    assert store.input_errors()[0]["reason"] == "f: expected MSH"


def test_document_ids_are_minted_once(store: Store) -> None:
    _report(store)
    a = store.document_identity("r-1", oid_root="1.2.3", effective_time="20260101000000+0100", corrects=False)
    b = store.document_identity("r-1", oid_root="1.2.3", effective_time="20270101000000+0100", corrects=False)
    assert a == b and a.version == 1 and a.replaces is None


def test_a_correction_is_the_next_version_of_the_same_set(store: Store) -> None:
    _report(store, "r-1")
    first = store.document_identity("r-1", oid_root="1.2.3", effective_time="t1", corrects=False)
    _report(store, "r-2")
    second = store.document_identity("r-2", oid_root="1.2.3", effective_time="t2", corrects=True)
    assert (second.set_id_root, second.set_id_extension) == (first.set_id_root, first.set_id_extension)
    assert second.version == 2
    assert second.replaces == (first.document_id_root, first.document_id_extension)


def test_report_state_follows_recipients(store: Store) -> None:
    _report(store)
    rcpts = [Recipient(address="a@x.test", kind="prescriber"), Recipient(address="b@x.test", kind="copy")]
    store.mark_built("r-1", email=b"mail", message_id="<m@x>", envid="e1", recipients=rcpts)
    store.mark_sending("r-1")
    assert store.mark_sent("r-1", accepted=["a@x.test", "b@x.test"], refused={}, reply="queued") is ReportState.SENT
    assert store.find_report(envid="e1") == "r-1" and store.find_report(message_id="<m@x>") == "r-1"
    assert store.apply_ack("r-1", address="a@x.test", state=RecipientState.DELIVERED, code="2.0.0",
                           detail="") is ReportState.SENT
    zam = ("Z02", "r-1-Z02-b", b"ZAM")
    assert store.apply_ack("r-1", address="B@x.test", state=RecipientState.FAILED, code="5.1.1",
                           detail="unknown", zam=zam) is ReportState.DELIVERED
    store.apply_ack("r-1", address="b@x.test", state=RecipientState.FAILED, code="5.1.1", detail="", zam=zam)
    assert len(store.pending_outbox()) == 1  # the same ack twice owes the SIL one ZAM
    assert store.apply_ack("r-1", address="a@x.test", state=RecipientState.PROCESSED, code="",
                           detail="") is ReportState.READ


def test_every_recipient_failing_quarantines_the_report(store: Store) -> None:
    _report(store)
    store.mark_built(
        "r-1", email=b"m", message_id="<m>", envid="e", recipients=[Recipient(address="a@x.test", kind="p")]
    )
    store.mark_sent("r-1", accepted=["a@x.test"], refused={}, reply="ok")
    state = store.apply_ack("r-1", address="a@x.test", state=RecipientState.FAILED, code="5.1.1", detail="")
    assert state is ReportState.QUARANTINED
    assert "check the addresses" in store.report("r-1").reason


def test_retry_returns_a_quarantined_report_to_its_last_good_step(store: Store) -> None:
    _report(store)
    store.quarantine("r-1", reason="x")
    assert store.retry("r-1")
    assert store.report("r-1").state is ReportState.PARSED
    assert not store.retry("r-1")  # only waiting or quarantined reports


def test_purge_forgets_released_items_but_keeps_their_hash(store: Store) -> None:
    rec = store.record_input(b"garbage", source="bad.hl7")
    store.record_split(rec.input_id, [], [(0, "bad.hl7: expected MSH")])
    assert store.purge_released() == []  # not released yet
    store.release_input_error(rec.input_id, 0)
    assert store.purge_released() == ["bad.hl7"]
    assert store.input_errors(include_released=True) == []
    assert store.input_data(rec.input_id)[1] == b""
    assert store.record_input(b"garbage", source="bad.hl7").duplicate


def test_status_last_errors_drop_a_wait_the_report_has_since_left(store: Store) -> None:
    """Issue 14: `connector status` kept listing the waits of reports delivered since."""
    _report(store, "r-1", "order-1")
    _report(store, "r-2", "order-2")
    for rid in ("r-1", "r-2"):
        store.mark_waiting(rid, reason="no MSSanté address yet", next_attempt_at="")
    store.mark_built("r-1", email=b"m", message_id="<m1>", envid="e1",
                     recipients=[Recipient(address="a@x.test", kind="prescriber"),
                                 Recipient(address="b@x.test", kind="copy")])
    store.mark_sending("r-1")
    store.mark_sent("r-1", accepted=["a@x.test", "b@x.test"], refused={}, reply="ok")
    store.apply_ack("r-1", address="a@x.test", state=RecipientState.DELIVERED, code="2.0.0", detail="")
    store.apply_ack("r-1", address="b@x.test", state=RecipientState.FAILED, code="5.1.1", detail="")
    standing = {(rid, name) for _, rid, name, _ in store.last_errors()}
    # r-1 went on (its wait is history) but one of its doctors never got it; r-2 still waits
    assert standing == {("r-1", "recipient.failed"), ("r-2", "report.waiting")}
