"""Several instances of the pipeline on one PostgreSQL store (issue 16): claims, leases renewed while a step
runs, work given back when an instance dies or loses its lease, one e-mail per report, one input per MLLP
message whichever instance gets it, and the stored ACK replayed.

Each instance is the service's own wiring (``open_runtime``) with a name of its own, on the same database,
as two `connector run` processes would be; they send to one test SMTP server that counts what it queued.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.errors import StoreUnavailable
from connector.intake import MllpServer, Receipt
from connector.pipeline import Pipeline
from connector.pipeline.budget import Ticket
from connector.pipeline.leases import Leases, LeaseTicket
from connector.service.runtime import Runtime
from connector.states import ReportState
from tests.ledger.oru import ledger
from tests.ledger.sil import ack_code
from tests.support.mllp import exchange
from tests.support.runtime import smtp_runtime
from tests.support.settings import mllp_settings
from tests.support.smtp import Fault, SmtpServer

pytestmark = pytest.mark.postgres

NOW = "9999-12-31T00:00:00"
IDLE_TIMEOUT_SECONDS = 60.0


@pytest.fixture
def pair(tmp_path: Path, smtp_server: SmtpServer, pg_url: str) -> Iterator[tuple[Runtime, Runtime]]:
    a = smtp_runtime(tmp_path / "a", smtp_server, store_url=pg_url, instance="a")
    b = smtp_runtime(tmp_path / "b", smtp_server, store_url=pg_url, instance="b")
    yield a, b
    a.close()
    b.close()


def _message_ids(server: SmtpServer) -> Counter[str]:
    return Counter(str(email.message_from_bytes(r.data, policy=email.policy.default)["Message-ID"])
                   for r in server.handler.received)


async def _run_until_sent(pipelines: list[Pipeline], report_ids: list[str]) -> None:
    """Every instance steps at once, as their work loops would, until every report is sent."""
    store = pipelines[0].store
    deadline = time.monotonic() + IDLE_TIMEOUT_SECONDS

    async def loop(pipeline: Pipeline) -> None:
        while time.monotonic() < deadline:
            if all((row := store.report(rid)) is not None and row.state is ReportState.SENT for rid in report_ids):
                return
            if not await pipeline.step():
                await asyncio.sleep(0.05)
        pytest.fail("the instances did not send every report")

    await asyncio.gather(*(loop(p) for p in pipelines))


async def test_two_instances_send_each_report_once(pair: tuple[Runtime, Runtime], smtp_server: SmtpServer) -> None:
    a, b = pair
    entries = ledger(uuid.uuid4().hex[:6], 10)
    for i, entry in enumerate(entries):  # each instance's intake took half of them
        (a if i % 2 else b).pipeline.receive(entry.data, source=f"{entry.control_id}.hl7")
    try:
        await _run_until_sent([a.pipeline, b.pipeline], [e.report_id for e in entries])
    finally:
        await a.pipeline.close()
        await b.pipeline.close()
    sent = _message_ids(smtp_server)
    assert len(sent) == len(entries) and set(sent.values()) == {1}, "each report's e-mail queued once"
    assert a.store.leases() == {}, "every lease given back after its step"


async def test_work_leased_by_a_dead_instance_waits_for_its_lease_then_moves(pair: tuple[Runtime, Runtime],
                                                                            smtp_server: SmtpServer) -> None:
    a, b = pair
    entry = ledger(uuid.uuid4().hex[:6], 1)[0]
    a.pipeline.receive(entry.data, source="one.hl7")
    build, _ = a.store.claim_due(NOW, lease_seconds=1.5)  # a claims it, then dies without a word
    assert [r.report_id for r in build] == [entry.report_id]
    assert await b.pipeline.step() == [], "b passes over a's leased report"
    await asyncio.sleep(1.6)
    try:
        await _run_until_sent([b.pipeline], [entry.report_id])
    finally:
        await b.pipeline.close()
    assert list(_message_ids(smtp_server).values()) == [1]


async def test_a_step_longer_than_its_lease_keeps_its_reports(tmp_path: Path, smtp_server: SmtpServer,
                                                             pg_url: str) -> None:
    """Sends slower than the whole lease: the loop renews it, the other instance never gets them."""
    a = smtp_runtime(tmp_path / "a", smtp_server, store_url=pg_url, instance="a")
    b = smtp_runtime(tmp_path / "b", smtp_server, store_url=pg_url, instance="b")
    a.pipeline.leases = Leases(a.store, lease_seconds=1.0)  # renewed every 0.33 s
    try:
        entries = ledger(uuid.uuid4().hex[:6], 2)
        for entry in entries:
            a.pipeline.receive(entry.data, source=f"{entry.control_id}.hl7")
            a.pipeline.build(a.store.report(entry.report_id))  # type: ignore[arg-type]
        smtp_server.inject(Fault.SLOW_DATA, delay=1.2)  # two sends: 2.4 s, more than two leases
        step = asyncio.create_task(a.pipeline.step())
        taken_by_b: list[object] = []
        while not step.done():
            await asyncio.sleep(0.2)
            build, send = await asyncio.to_thread(b.store.claim_due, NOW)
            taken_by_b += build + send
        assert len(await step) == 2
        assert taken_by_b == [], "b took a report a was still sending"
        assert {a.store.report(e.report_id).state for e in entries} == {ReportState.SENT}  # type: ignore[union-attr]
        assert a.pipeline.leases.lost_total == 0
    finally:
        await a.pipeline.close()
        a.close()
        b.close()
    assert sorted(_message_ids(smtp_server).values()) == [1, 1]


async def test_an_instance_that_lost_its_lease_leaves_the_report_alone(tmp_path: Path, smtp_server: SmtpServer,
                                                                      pg_url: str) -> None:
    """Another instance took a report while this one was busy (its lease had ended: a long stall): at its
    next renewal this one learns it, and does not send that report; the other one sends it, once."""
    a = smtp_runtime(tmp_path / "a", smtp_server, store_url=pg_url, instance="a")
    b = smtp_runtime(tmp_path / "b", smtp_server, store_url=pg_url, instance="b")
    a.pipeline.leases = Leases(a.store, lease_seconds=1.0)
    try:
        first, second = ledger(uuid.uuid4().hex[:6], 2)
        for entry in (first, second):
            a.pipeline.receive(entry.data, source=f"{entry.control_id}.hl7")
            a.pipeline.build(a.store.report(entry.report_id))  # type: ignore[arg-type]
        smtp_server.inject(Fault.SLOW_DATA, delay=1.5)
        step = asyncio.create_task(a.pipeline.step())
        await asyncio.sleep(0.3)  # a is sending the first one
        with b.store.db.transaction() as c:  # as if a's lease had run out: b claims the second one
            c.execute("UPDATE reports SET owner = 'b', lease_until = 1e12 WHERE report_id = ?", (second.report_id,))
        await step
        assert a.pipeline.leases.lost_total == 1
        sent_by_a = _message_ids(smtp_server)
        assert len(sent_by_a) == 1, "a sent only the report it still held"
        with b.store.db.transaction() as c:
            c.execute("UPDATE reports SET owner = NULL, lease_until = NULL WHERE report_id = ?", (second.report_id,))
        smtp_server.inject(Fault.NONE)
        await _run_until_sent([b.pipeline], [second.report_id])
    finally:
        await a.pipeline.close()
        await b.pipeline.close()
        a.close()
        b.close()
    assert sorted(_message_ids(smtp_server).values()) == [1, 1]


def test_a_build_commits_only_under_its_lease() -> None:
    held = [True]
    ticket = LeaseTicket(lambda: held[0])
    assert ticket.may_commit()
    held[0] = False
    lost = LeaseTicket(lambda: held[0])
    assert not lost.may_commit()
    assert lost.abandon(), "a build that lost its lease never reached its commit: the budget may still abandon it"
    assert isinstance(lost, Ticket)


# ---------------------------------------------------------------------------------------------- MLLP


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(senders=st.lists(st.tuples(st.integers(1, 2), st.integers(1, 2)), min_size=1, max_size=3))
def test_instances_answer_one_message_with_one_input(tmp_path: Path, smtp_server: SmtpServer, pg_url: str,
                                                     senders: list[tuple[int, int]]) -> None:
    """The same message sent at the same instant to both instances (1–2 connections each): one input and
    its reports once; every answer accepts it; a later resend, to either, gets the stored ACK byte for byte."""
    tag = uuid.uuid4().hex[:6]
    a = smtp_runtime(tmp_path / f"a{tag}", smtp_server, store_url=pg_url, instance="a")
    b = smtp_runtime(tmp_path / f"b{tag}", smtp_server, store_url=pg_url, instance="b")
    entries = ledger(tag, len(senders))
    try:
        checked = asyncio.run(_concurrent_mllp(a, b, entries, senders))
    finally:
        a.close()
        b.close()
    assert checked == len(entries)


async def _concurrent_mllp(a: Runtime, b: Runtime, entries: list, senders: list[tuple[int, int]]) -> int:  # type: ignore[type-arg]
    """Each message sent at once to the instances as ``senders`` says, its outcome checked; the count checked."""
    checked = 0
    servers = [MllpServer(mllp_settings(host="127.0.0.1", port=0), rt.pipeline, ack_app="CONNECTOR",
                          ack_facility="LABO") for rt in (a, b)]
    for server in servers:
        await server.start()
    try:
        for entry, (to_a, to_b) in zip(entries, senders, strict=True):
            ports = [servers[0].port] * to_a + [servers[1].port] * to_b
            gate = threading.Barrier(len(ports))

            def send(port: int, data: bytes = entry.data, gate: threading.Barrier = gate) -> bytes:
                gate.wait()
                return exchange(port, data)

            answers = await asyncio.gather(*(asyncio.to_thread(send, p) for p in ports))
            assert {ack_code(x) for x in answers} == {"AA"}, [ack_code(x) for x in answers]
            inputs = a.store.db.query("SELECT count(*) FROM inputs WHERE dedup_key LIKE ?",
                                      (f"%|{entry.control_id}",))[0][0]
            assert inputs == 1, "one input whichever instance received the message"
            assert [r[0] for r in a.store.db.query("SELECT report_id FROM reports WHERE control_id = ?",
                                                   (entry.control_id,))] == [entry.report_id]
            assert a.store.db.query("SELECT count(*) FROM input_errors")[0][0] == 0, "no reuse reported"
            stored = a.store.db.query("SELECT ack FROM inputs WHERE dedup_key LIKE ?",
                                      (f"%|{entry.control_id}",))[0][0]
            assert bytes(stored) in answers, "the stored ACK is one the SIL received"
            for port in (servers[0].port, servers[1].port):
                assert await asyncio.to_thread(exchange, port, entry.data) == bytes(stored)
            checked += 1
    finally:
        for server in servers:
            await server.stop()
    return checked


def test_an_input_split_meanwhile_by_another_instance_is_no_reuse(pair: tuple[Runtime, Runtime]) -> None:
    """b got the duplicate while a's split was not committed yet (its record_input saw split = 0), and
    a's split commits before b's: b finds a's reports, of this very input. That is no reused MSH-10:
    b's answer accepts the message, nothing is quarantined, the reports are there once."""
    a, b = pair
    entry = ledger(uuid.uuid4().hex[:6], 1)[0]
    key = ("SIL", "LABO", entry.control_id)
    first = a.pipeline.receive(entry.data, source="mllp:a", dedup_key=key)
    with a.store.db.transaction() as c:  # what b's record_input read: a's input, not split yet
        c.execute("UPDATE inputs SET split = 0 WHERE id = ?", (first.input_id,))
    second = b.pipeline.receive(entry.data, source="mllp:b", dedup_key=key)
    assert second.input_id == first.input_id
    assert second.errors == (), [e.describe() for e in second.errors]
    assert second.reports == (entry.report_id,)
    assert b.store.input_errors() == []
    assert [r.report_id for r in b.store.all_reports()] == [entry.report_id]


class _AckRace:
    """The pipeline as the MLLP sink, with what another instance or an outage does between the two commits."""

    def __init__(self, pipeline: Pipeline, *, outage: bool = False, other_ack: bytes | None = None) -> None:
        self.pipeline = pipeline
        self.outage = outage  # the store fails once, just when the ACK is to be stored
        self.other_ack = other_ack  # another instance stores its ACK for the same input first

    def receive(self, data: bytes, *, source: str, dedup_key: tuple[str, str, str] | None = None) -> Receipt:
        return self.pipeline.receive(data, source=source, dedup_key=dedup_key)

    def remember_ack(self, input_id: int, ack: bytes) -> bytes | None:
        if self.outage:
            self.outage = False
            raise StoreUnavailable("store unavailable (OperationalError)")
        if self.other_ack is not None:
            self.pipeline.remember_ack(input_id, self.other_ack)
        return self.pipeline.remember_ack(input_id, ack)


async def test_the_ack_sent_is_the_one_stored(pair: tuple[Runtime, Runtime]) -> None:
    """A committed message whose ACK cannot be stored is answered AE (its resend gets the stored AA);
    when another instance stored its ACK first, that one is sent: a resend always gets what the SIL got."""
    a, _ = pair
    first, second = ledger(uuid.uuid4().hex[:6], 2)
    other = first.data.split(b"\r", 1)[0].replace(b"ORU^R01", b"ACK").replace(first.control_id.encode(), b"OTHER")
    for sink, entry in ((_AckRace(a.pipeline, outage=True), first), (_AckRace(a.pipeline, other_ack=other), second)):
        server = MllpServer(mllp_settings(host="127.0.0.1", port=0), sink, ack_app="CONNECTOR", ack_facility="LABO")
        await server.start()
        try:
            answers = [await asyncio.to_thread(exchange, server.port, entry.data) for _ in range(3)]
        finally:
            await server.stop()
        if entry is first:
            assert [ack_code(x) for x in answers] == ["AE", "AA", "AA"] and answers[1] == answers[2]
        else:
            assert answers == [other] * 3
        assert a.store.db.query("SELECT count(*) FROM inputs WHERE dedup_key LIKE ?",
                                (f"%|{entry.control_id}",))[0][0] == 1
