"""Several instances on one PostgreSQL store: claims, leases, dedup, wake-ups, the singleton lock, outages.

Each "instance" is a :class:`Store` of its own (its own pool of connections and instance id) on the
same database, as two connector processes would be; the singleton's takeover is tested with a real
process killed with SIGKILL. On SQLite (one process owns the file) the same calls succeed at once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.errors import ConfigError, StoreUnavailable
from connector.model import Recipient
from connector.states import RecipientState, ReportState
from connector.store import Channel, NewReport, Store
from tests.support.postgres import PgCluster, empty_pg_store

ROOT = Path(__file__).resolve().parents[2]
NOW = "9999-12-31T00:00:00"  # every retry is due
_T = TypeVar("_T")


@pytest.fixture
def two(pg_url: str) -> Iterator[tuple[Store, Store]]:
    a, b = Store(pg_url, instance="instance-a"), Store(pg_url, instance="instance-b")
    yield a, b
    a.close()
    b.close()


def _parsed(store: Store, n: int, *, series: str = "") -> list[str]:
    ids = []
    for i in range(n):
        record = store.record_input(f"MSH|{series}|{i}|{time.monotonic_ns()}".encode(), source=f"f{i}.hl7")
        report_id = f"r-{series}{i:03d}"
        store.record_split(record.input_id, [NewReport(report_id=report_id, message_index=0, patient_index=0,
                                                       control_id=f"M{i}", series_key=series)], [])
        ids.append(report_id)
    return ids


def _at_once(*calls: Callable[[], _T]) -> list[_T]:
    """Run the calls in threads released together, so their transactions overlap."""
    gate = threading.Barrier(len(calls))

    def run(call: Callable[[], _T]) -> _T:
        gate.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


# ---------------------------------------------------------------------- claims and leases

def test_two_instances_never_claim_the_same_report(two: tuple[Store, Store]) -> None:
    a, b = two
    ids = _parsed(a, 10)
    (build_a, _), (build_b, _) = _at_once(lambda: a.claim_due(NOW, limit=6), lambda: b.claim_due(NOW, limit=6))
    got_a, got_b = {r.report_id for r in build_a}, {r.report_id for r in build_b}
    assert not got_a & got_b
    assert got_a | got_b == set(ids)  # SKIP LOCKED: the second took the next ones instead of waiting
    assert {r.report_id for r in b.claim_due(NOW)[0]} == got_b  # its own claims are still its own


def test_a_dead_instances_lease_expires_and_its_work_is_taken_over(two: tuple[Store, Store]) -> None:
    a, b = two
    ids = _parsed(a, 3)
    assert {r.report_id for r in a.claim_due(NOW, lease_seconds=0.5)[0]} == set(ids)
    assert b.claim_due(NOW)[0] == []  # leased to a
    time.sleep(0.7)  # a "died": it renews nothing
    assert {r.report_id for r in b.claim_due(NOW)[0]} == set(ids)
    assert a.renew(ids) == set()  # a finds out it lost them
    assert b.renew(ids) == set(ids)
    assert not a.holds(ids[0]) and b.holds(ids[0])


def test_renewal_keeps_a_lease_and_release_gives_it_back(two: tuple[Store, Store]) -> None:
    a, b = two
    ids = _parsed(a, 2)
    a.claim_due(NOW, lease_seconds=0.5)
    time.sleep(0.3)
    assert a.renew(ids, lease_seconds=5) == set(ids)
    time.sleep(0.4)  # past the first lease, within the renewed one
    assert b.claim_due(NOW)[0] == []
    a.release(ids[:1])
    assert [r.report_id for r in b.claim_due(NOW)[0]] == ids[:1]
    assert b.leases() == {"instance-a": 1, "instance-b": 1}


def test_a_claimed_report_moves_on_and_the_next_step_is_claimable(two: tuple[Store, Store]) -> None:
    a, b = two
    [rid] = _parsed(a, 1)
    [claimed] = a.claim_due(NOW)[0]
    a.document_identity(rid, oid_root="1.2.3", effective_time="t", corrects=False)
    a.mark_built(rid, email=b"m", message_id="<m@x>", envid="e", recipients=[Recipient(address="a@x.test",
                                                                                         kind="prescriber")])
    a.release([rid])
    build, send = b.claim_due(NOW)
    assert build == [] and [r.report_id for r in send] == [rid] and send[0].state is ReportState.BUILT
    assert claimed.state is ReportState.PARSED


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reports=st.integers(1, 12), limits=st.lists(st.tuples(st.booleans(), st.integers(1, 5)), min_size=1,
                                                   max_size=8))
def test_claims_partition_the_due_reports(pg_cluster: PgCluster, pg_url: str, reports: int,
                                          limits: list[tuple[bool, int]]) -> None:
    """Whatever the order and sizes of the claims, no report is held by two instances, none is skipped."""
    empty_pg_store(pg_cluster, pg_url)
    a, b = Store(pg_url, instance="instance-a"), Store(pg_url, instance="instance-b")
    try:
        ids = set(_parsed(a, reports))
        held: dict[str, set[str]] = {"instance-a": set(), "instance-b": set()}
        for by_a, limit in limits:
            store = a if by_a else b
            build, _ = store.claim_due(NOW, limit=limit)
            held[store.instance] |= {r.report_id for r in build}
        assert not held["instance-a"] & held["instance-b"]
        rest = {r.report_id for r in a.claim_due(NOW, limit=100)[0]} | {r.report_id for r in
                                                                         b.claim_due(NOW, limit=100)[0]}
        assert held["instance-a"] | held["instance-b"] | rest == ids
    finally:
        a.close()
        b.close()


def test_each_zam_is_claimed_by_one_instance(two: tuple[Store, Store]) -> None:
    a, b = two
    [rid] = _parsed(a, 1)
    for n in range(6):
        a.add_outbox(rid, kind="Z02", name=f"zam-{n}", data=b"ZAM")
    got_a, got_b = _at_once(lambda: a.claim_outbox(limit=4), lambda: b.claim_outbox(limit=4))
    names_a, names_b = {name for _, name, _ in got_a}, {name for _, name, _ in got_b}
    assert not names_a & names_b and len(names_a | names_b) == 6
    for outbox_id, _, _ in got_a:
        a.outbox_done(outbox_id)
    assert {name for _, name, _ in b.claim_outbox()} == names_b  # its own, until done or expired


# ---------------------------------------------------------------------- dedup and ids across instances

def test_the_same_mllp_message_at_two_instances_at_once_is_one_input(two: tuple[Store, Store]) -> None:
    a, b = two
    for n in range(15):  # each round a real race between the two transactions
        key = f"SIL|LABO|MSG{n}"
        first, second = _at_once(
            lambda key=key: a.record_input(b"MSH|a" + key.encode(), source="mllp:a", dedup_key=key),
            lambda key=key: b.record_input(b"MSH|b" + key.encode(), source="mllp:b", dedup_key=key))
        assert sorted([first.duplicate, second.duplicate]) == [False, True]
        assert first.input_id == second.input_id
    assert a.db.query("SELECT count(*) FROM inputs")[0][0] == 15


def test_the_same_file_at_two_instances_at_once_is_one_input(two: tuple[Store, Store]) -> None:
    a, b = two
    first, second = _at_once(lambda: a.record_input(b"MSH|same bytes", source="a.hl7"),
                             lambda: b.record_input(b"MSH|same bytes", source="b.hl7"))
    assert {first.duplicate, second.duplicate} == {False, True} and first.input_id == second.input_id


def test_corrections_minted_at_once_get_distinct_versions(two: tuple[Store, Store]) -> None:
    a, b = two
    ids = _parsed(a, 3, series="order-9")
    a.document_identity(ids[0], oid_root="1.2.3", effective_time="t", corrects=False)
    second, third = _at_once(
        lambda: a.document_identity(ids[1], oid_root="1.2.3", effective_time="t", corrects=True),
        lambda: b.document_identity(ids[2], oid_root="1.2.3", effective_time="t", corrects=True))
    assert sorted([second.version, third.version]) == [2, 3]  # never two version 2s of one set
    later = max(second, third, key=lambda ids_: ids_.version)
    earlier = min(second, third, key=lambda ids_: ids_.version)
    assert later.replaces == (earlier.document_id_root, earlier.document_id_extension)


def test_an_ack_racing_a_send_outcome_loses_neither(two: tuple[Store, Store]) -> None:
    a, b = two
    [rid] = _parsed(a, 1)
    rcpts = [Recipient(address="x@h.test", kind="prescriber"), Recipient(address="y@h.test", kind="copy")]
    a.mark_built(rid, email=b"m", message_id="<m@x>", envid="e", recipients=rcpts)
    a.mark_sending(rid)
    _at_once(lambda: a.mark_sent(rid, accepted=["x@h.test", "y@h.test"], refused={}, reply="250"),
             lambda: b.apply_ack(rid, address="x@h.test", state=RecipientState.DELIVERED, code="2.0.0", detail=""))
    states = {r.address: r.state for r in a.recipients(rid)}
    assert states["x@h.test"] is RecipientState.DELIVERED and states["y@h.test"] is RecipientState.ACCEPTED
    assert a.report(rid).state is ReportState.SENT  # type: ignore[union-attr]


# ---------------------------------------------------------------------- wake-ups and the singleton

def test_a_new_input_wakes_an_idle_instance(two: tuple[Store, Store]) -> None:
    a, b = two
    listener = b.listener(Channel.WORK)
    try:
        assert not listener.wait(0.1)  # LISTEN is in place, nothing announced
        _parsed(a, 1)
        assert listener.wait(5.0)
        a.add_outbox("r-x", kind="Z02", name="z", data=b"Z")  # another channel: not this listener's
        assert not listener.wait(0.2)
    finally:
        listener.close()


_HOLDER = """
import sys, time
from connector.store import Store
store = Store(sys.argv[1], instance="holder")
lock = store.singleton("imap")
assert lock.acquire()
print("held", flush=True)
time.sleep(120)
"""


def test_the_singleton_is_taken_over_when_its_holder_is_killed(pg_url: str) -> None:
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, pg_url], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    store = Store(pg_url, instance="standby")
    lock = store.singleton("imap")
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert not lock.acquire() and not lock.held()  # one poller at a time
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        deadline = time.monotonic() + 10
        while not lock.acquire():  # the server drops a dead session's locks as soon as its socket closes
            assert time.monotonic() < deadline, "the lock of a killed holder was never released"
            time.sleep(0.05)
        assert lock.held()
        other = store.singleton("imap")
        assert not other.acquire()  # held by this instance's other connection
        lock.release()
        assert other.acquire()
        other.release()
    finally:
        holder.kill()
        holder.wait(10)
        store.close()


# ---------------------------------------------------------------------- the server goes away

def test_a_restarted_server_is_unavailable_then_back_without_a_lost_commit(pg_cluster: PgCluster,
                                                                           pg_url: str) -> None:
    store = Store(pg_url)
    lock = store.singleton("imap")
    try:
        committed = store.record_input(b"MSH|before", source="before.hl7")
        assert lock.acquire()
        pg_cluster.stop("immediate")  # a crash: the committed input must be there after recovery
        try:
            with pytest.raises(StoreUnavailable) as caught:
                store.record_input(b"MSH|during", source="during.hl7")
            assert "MSH" not in str(caught.value)
        finally:
            pg_cluster.start()
        assert not lock.held()  # the lock went with the server's sessions: the poller must stop
        deadline = time.monotonic() + 15
        while True:  # the pool replaces its broken connections; an attempt may still meet one
            try:
                again = store.record_input(b"MSH|before", source="before.hl7")
                break
            except StoreUnavailable:
                assert time.monotonic() < deadline, "the store never came back"
                time.sleep(0.2)
        assert again.duplicate and again.input_id == committed.input_id
        assert store.record_input(b"MSH|after", source="after.hl7").duplicate is False
        assert lock.acquire()
    finally:
        lock.release()
        store.close()


def test_an_unreachable_server_is_a_transient_error(pg_cluster: PgCluster) -> None:
    url = f"postgresql://postgres@127.0.0.1:{pg_cluster.port + 1}/nowhere"  # nothing listens there
    with pytest.raises(StoreUnavailable) as caught:
        Store(url)
    assert "127.0.0.1" in str(caught.value)


def test_a_refused_login_says_why(pg_cluster: PgCluster) -> None:
    with pytest.raises(StoreUnavailable) as caught:
        Store(pg_cluster.url("no_such_database"))
    assert 'database "no_such_database" does not exist' in str(caught.value)


# ---------------------------------------------------------------------- SQLite: one process, nothing to share

def test_on_sqlite_every_claim_succeeds_at_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "var" / "connector.sqlite", instance="only")
    try:
        ids = _parsed(store, 3)
        assert store.claim_due(NOW) == store.due(NOW)
        assert store.renew(ids) == set(ids) and store.holds(ids[0])
        store.add_outbox(ids[0], kind="Z02", name="z", data=b"Z")
        assert store.claim_outbox() == store.pending_outbox()
        assert store.db.query("SELECT count(*) FROM reports WHERE owner IS NOT NULL")[0][0] == 0
        listener = store.listener(Channel.WORK)
        _parsed(store, 1, series="more")
        assert listener.wait(1.0)
        listener.close()
        first, second = store.singleton("imap"), store.singleton("imap")
        assert first.acquire() and not second.acquire()
        first.release()
        assert second.acquire()
        second.release()
    finally:
        store.close()


# ---------------------------------------------------------------------- durability, checked at start

def test_a_server_without_fsync_is_refused(pg_cluster: PgCluster, pg_url: str) -> None:
    pg_cluster.admin("ALTER SYSTEM SET fsync = off", "SELECT pg_reload_conf()")
    try:
        time.sleep(0.2)  # the reload reaches new sessions at once, give the postmaster its signal
        with pytest.raises(ConfigError) as caught:
            Store(pg_url)
        assert "fsync=off" in str(caught.value) and "expected fsync on" in str(caught.value)
    finally:
        pg_cluster.admin("ALTER SYSTEM RESET fsync", "SELECT pg_reload_conf()")
        time.sleep(0.2)


def test_a_database_set_to_asynchronous_commits_is_overridden_for_our_sessions(pg_cluster: PgCluster,
                                                                             pg_url: str) -> None:
    dbname = pg_url.rsplit("/", 1)[1]
    pg_cluster.admin(f"ALTER DATABASE {dbname} SET synchronous_commit = off")
    try:
        store = Store(pg_url)
        try:
            assert store.db.durability["synchronous_commit"] == "on"
            with store.db.transaction() as c:
                assert c.execute("SHOW synchronous_commit").fetchone()[0] == "on"
        finally:
            store.close()
    finally:
        pg_cluster.admin(f"ALTER DATABASE {dbname} RESET synchronous_commit")
