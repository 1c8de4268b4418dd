"""The DMP feed's store side (``connector/store/dmp.py``, schema v4) on both engines.

Every test runs on SQLite and on PostgreSQL (``store_location``). The order rule is proven over
generated series of versions and deletions: a feed is never handed out while an earlier version of
its document is still being fed, and every feed is handed out in the end whatever the outcomes.
"""

from __future__ import annotations

import itertools
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.dmp import DmpAction, plain_oid
from connector.model import DocumentIdentity
from connector.states import DmpState, ReportState
from connector.store import NewReport, Store
from connector.store.dmp import DELETE, FEED, REPLACE
from tests.support.store_v1 import V1Report, write_v1_store

ROOT = "1.2.250.1.999.1"
NOW = "9999-12-31T00:00:00"
Z01 = ("Z01", "", b"MSH|^~\\&|CONNECTOR|LABO|SIL|LABO|20261120||ZAM^Z01^ZAM_Z01|1|P|2.6\r")


@pytest.fixture
def store(store_location: Path | str) -> Iterator[Store]:
    s = Store(store_location)
    yield s
    s.close()


def _split(store: Store, rid: str, series_key: str = "") -> None:
    record = store.record_input(f"MSH|{rid}".encode(), source=f"{rid}.hl7")
    store.record_split(record.input_id, [NewReport(report_id=rid, message_index=0, patient_index=0,
                                                   control_id=rid, series_key=series_key)], [])


def discrete(store: Store, rid: str, *, series_key: str = "", corrects: bool = False,
             dmp: DmpState = DmpState.TO_SEND) -> DocumentIdentity:
    """A shape-A report built as the build step does it: ids minted (root-only when DMP-bound), then built."""
    _split(store, rid, series_key)
    ids = store.document_identity(rid, oid_root=ROOT, effective_time="20261120101500+0100", corrects=corrects,
                                  root_only=plain_oid if dmp is DmpState.TO_SEND else None)
    store.mark_built(rid, email=b"e-mail", message_id=f"<{rid}@x>", envid=rid, recipients=[], ids=ids,
                     lifecycle="C" if ids.replaces else "F", dmp_state=dmp)
    return ids


def sil_document(store: Store, rid: str, *, unique_id: str, status: str, replaces: str = "") -> None:
    """A shape-B report: the SIL's own ids (root-only OIDs), OBX-11 F, C or D."""
    _split(store, rid)
    ids = DocumentIdentity(document_id_root=unique_id, document_id_extension="", set_id_root="1.2.250.1.999.2.3",
                           set_id_extension="", version=1, replaces=(replaces, "") if replaces else None,
                           effective_time="20261120101500+0100")
    store.mark_built(rid, email=b"e-mail", message_id=f"<{rid}@x>", envid=rid, recipients=[], ids=ids,
                     lifecycle=status, dmp_state=DmpState.TO_SEND)


def due(store: Store) -> list[str]:
    return [row.report_id for row in store.dmp_due(NOW)]


def test_the_store_actions_are_the_dmp_stages_actions() -> None:
    assert {FEED, REPLACE, DELETE} <= {a.value for a in DmpAction}


def test_a_dmp_bound_report_is_queued_in_its_build_commit_with_a_root_only_uniqueid(store: Store) -> None:
    ids = discrete(store, "r-1", series_key="order-1")
    assert ids.document_id_extension == "" and ids.document_id_root == plain_oid(f"{ROOT}.1", "r-1")
    row = store.dmp_row("r-1")
    assert row is not None and row.state is DmpState.TO_SEND and row.action == FEED
    assert row.unique_id == ids.document_id_root and store.document_of("r-1")["dmp_state"] == "to_send"
    assert store.events("r-1")[-1][1] == "dmp.queued"
    correction = discrete(store, "r-2", series_key="order-1", corrects=True)
    assert correction.replaces == (ids.document_id_root, "")  # the series' last version, root-only too
    replacing = store.dmp_row("r-2")
    assert replacing is not None and replacing.action == REPLACE and replacing.replaces_id == ids.document_id_root
    assert due(store) == ["r-1"]  # the new version waits for the one it replaces


def test_reports_not_addressed_to_the_dmp_have_no_feed_and_keep_their_ids(store: Store) -> None:
    ids = discrete(store, "r-3", dmp=DmpState.NOT_ASKED)
    assert ids.document_id_extension == "r-3" and store.dmp_row("r-3") is None
    discrete(store, "r-4", dmp=DmpState.NOT_ELIGIBLE)
    row = store.dmp_row("r-4")
    assert row is not None and row.state is DmpState.NOT_ELIGIBLE and row.code == "PFI_INS_NON_QUALIFIE"
    assert due(store) == []


def test_a_final_outcome_and_its_z01_commit_once(store: Store) -> None:
    discrete(store, "r-5")
    assert store.dmp_started("r-5")
    assert store.dmp_row("r-5").state is DmpState.SENDING and store.document_of("r-5")["dmp_state"] == "sending"
    zam = (Z01[0], "r-5-Z01-Y-ok", Z01[2])
    assert store.dmp_settle("r-5", state=DmpState.SENT, entry_uuid="urn:uuid:e5", zam=zam)
    assert not store.dmp_settle("r-5", state=DmpState.FAILED, code="DMPClosed", zam=zam)  # already final
    assert not store.dmp_started("r-5")
    row = store.dmp_row("r-5")
    assert row is not None and row.state is DmpState.SENT and row.entry_uuid == "urn:uuid:e5" and row.attempts == 1
    assert [name for _, name, _ in store.pending_outbox()] == ["r-5-Z01-Y-ok"]
    assert store.dmp_fed(row.unique_id) and store.document_of("r-5")["dmp_state"] == "sent"
    with pytest.raises(ValueError, match="dmp_settle"):
        store.dmp_settle("r-5", state=DmpState.TO_SEND)


def test_a_wait_comes_back_at_its_time_and_a_failure_only_by_an_operator(store: Store) -> None:
    discrete(store, "r-6")
    store.dmp_started("r-6")
    store.dmp_wait("r-6", code="XDSRegistryBusy", reason="busy", next_attempt_at="2999-01-01T00:00:00")
    assert store.dmp_due("2998-12-31T00:00:00") == [] and due(store) == ["r-6"]
    assert not store.retry_dmp("r-6")  # not failed: nothing to retry
    store.dmp_settle("r-6", state=DmpState.FAILED, code="PFI_DMP_INJOIGNABLE")
    assert due(store) == [] and store.failed_dmp() == ["r-6"]
    assert store.retry_dmp("r-6") and due(store) == ["r-6"] and store.dmp_row("r-6").attempts == 0
    assert store.dmp_counts() == {"to_send": 1}


def test_a_deletion_waits_for_the_version_it_deletes_and_then_it_is_no_longer_fed(store: Store) -> None:
    sil_document(store, "b-1", unique_id="1.2.250.1.999.2.1.1", status="F")
    sil_document(store, "b-2", unique_id="1.2.250.1.999.2.1.1", status="D")
    assert store.dmp_row("b-2").action == DELETE and due(store) == ["b-1"]
    store.dmp_settle("b-1", state=DmpState.SENT)
    assert due(store) == ["b-2"] and store.dmp_fed("1.2.250.1.999.2.1.1")
    store.dmp_settle("b-2", state=DmpState.SENT)
    assert not store.dmp_fed("1.2.250.1.999.2.1.1")


def test_retention_keeps_what_a_pending_feed_needs(store: Store) -> None:
    for rid in ("r-7", "r-8"):
        discrete(store, rid)
    store.dmp_settle("r-8", state=DmpState.SENT)
    with store.db.transaction() as c:
        c.execute("UPDATE reports SET state = ?, updated_at = '2000-01-01T00:00:00'", (ReportState.DELIVERED.value,))
    store.prune(store_cut=NOW, quarantine_cut="2000-01-01T00:00:00", dry_run=False)
    assert store.email("r-7") == b"e-mail"  # the DMP feed still needs it (the CDA is read back from it)
    assert store.email("r-8") is None


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(st.tuples(st.integers(1, 3), st.booleans()), min_size=1, max_size=4),
       outcomes=st.lists(st.sampled_from(["sent", "failed", "wait", "skip"]), min_size=1, max_size=60))
def test_a_version_is_never_handed_out_before_the_one_it_replaces_or_deletes(
        store: Store, plan: list[tuple[int, bool]], outcomes: list[str]) -> None:
    """``plan``: per series, how many versions and whether the last one is then deleted (shape B)."""
    run = uuid.uuid4().hex[:8]
    earlier: dict[str, list[str]] = {}  # report id → the rows of its document created before it
    for series, (versions, delete) in enumerate(plan):
        uids = [f"1.2.250.1.999.2.1.{int(run, 16)}.{series}.{v}" for v in range(1, versions + 1)]
        chain: list[str] = []
        for v, uid in enumerate(uids):
            rid = f"{run}-{series}-{v}"
            sil_document(store, rid, unique_id=uid, status="C" if v else "F", replaces=uids[v - 1] if v else "")
            earlier[rid], chain = list(chain), [*chain, rid]
        if delete:
            rid = f"{run}-{series}-d"
            sil_document(store, rid, unique_id=uids[-1], status="D")
            earlier[rid] = chain[-1:]
    pending = set(earlier)
    steps = itertools.chain(outcomes, itertools.repeat("sent"))  # then the DMP answers again
    for _ in range(200):
        handed = [r.report_id for r in store.dmp_due(NOW) if r.report_id in earlier]
        if not pending:
            break
        assert handed, f"feeds pending but none due: {sorted(pending)}"
        for rid in handed:
            blocked = [e for e in earlier[rid][-1:] if e in pending]
            assert not blocked, f"{rid} handed out while {blocked} is still being fed"
            store.dmp_started(rid)
            outcome = next(steps)
            if outcome == "wait":
                store.dmp_wait(rid, code="XDSRegistryBusy", reason="busy")
            elif outcome != "skip":
                store.dmp_settle(rid, state=DmpState.SENT if outcome == "sent" else DmpState.FAILED)
                pending.discard(rid)
            else:  # a crash: left SENDING, handed out again first
                assert [r.report_id for r in store.dmp_due(NOW) if r.report_id == rid] == [rid]
    assert not pending


def test_two_instances_never_claim_the_same_feed(store_location: Path | str) -> None:
    one, two = Store(store_location, instance="one"), Store(store_location, instance="two")
    try:
        for n in range(6):
            discrete(one, f"c-{n}")
        mine = {r.report_id for r in one.claim_dmp(NOW, limit=3)}
        theirs = {r.report_id for r in two.claim_dmp(NOW)}
        if one.db.shared:
            assert len(mine) == 3 and theirs == {f"c-{n}" for n in range(6)} - mine
        else:  # one process owns an SQLite file: a claim is the due list
            assert theirs == {f"c-{n}" for n in range(6)}
    finally:
        one.close()
        two.close()


def test_a_store_of_the_first_release_queues_what_it_recorded_for_the_dmp(tmp_path: Path) -> None:
    path = tmp_path / "var" / "connector.sqlite"
    write_v1_store(path, [V1Report(state="sent", series=0), V1Report(state="delivered", series=1),
                          V1Report(state="parsed", series=2, recipients=0)])
    conn = sqlite3.connect(path)
    conn.execute("UPDATE reports SET dmp_state = 'to_send'")
    conn.execute("UPDATE reports SET document_ext = '' WHERE report_id = 'SIL-LABO-MSG00001-0'")
    conn.commit()
    conn.close()
    store = Store(path)
    try:
        queued = {r.report_id: r for r in store.dmp_due(NOW)}
        assert set(queued) == {"SIL-LABO-MSG00000-0", "SIL-LABO-MSG00001-0"}  # built ones only
        assert queued["SIL-LABO-MSG00001-0"].unique_id == "1.2.250.1.999.1.1"
        assert queued["SIL-LABO-MSG00000-0"].unique_id == "1.2.250.1.999.1.1^SIL-LABO-MSG00000-0"  # refused later
    finally:
        store.close()
