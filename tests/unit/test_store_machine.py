"""A model-based test of the store's report state machine (Hypothesis ``RuleBasedStateMachine``).

The rules drive a real ``Store`` on a temp file (and, in ``test_the_machine_on_postgresql``, on a real
PostgreSQL database) the way the pipeline and the IMAP tracker do: receive
(input + split, duplicates, a crash between the two commits), build (ids minted, e-mail stored), send
(``mark_sending`` then an SMTP outcome), acknowledgements (DSN/MDN in any order, twice, for unknown
recipients), operator retry, quarantine, and a crash (close the store, reopen the same file or database).

After every step the invariants compare the store with the previous step and with the model:
- every report we recorded is there, in exactly one ``ReportState``, and ``counts()`` agrees with the rows;
- a report's state only moves along the transitions documented in ``connector/states.py`` (an operator
  retry from WAITING/QUARANTINED is the one way back), and each recipient's state never moves back;
- ClinicalDocument/id, setId, version, Message-ID and ENVID never change once set;
- the same ack twice owes the SIL one ZAM (the outbox holds each idempotence key once).

The machine keeps acks away from a report whose send is under way; that interleaving, and the other
defects this test found (since fixed), have their own regression tests at the end of this file.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from connector.model import Recipient
from connector.states import RecipientState, ReportState
from connector.store import NewReport, Store
from tests.support.postgres import PgCluster, empty_pg_store

# Small on purpose: 60 sequences of ≤ 40 steps explore the interleavings in a few seconds (CI budget ~20 s).
MAX_EXAMPLES = 60
STEPS = 40
# Each PostgreSQL step is a dozen round trips to a real server: fewer sequences (the engine-specific SQL,
# locks and types are what this run is for; SQLite explores the interleavings above), ~10 s.
PG_MAX_EXAMPLES = 8
OID_ROOT = "1.2.250.1.999.1"
ADDRESSES = ("dr.a@hopital.test", "dr.b@cabinet.test")
UNKNOWN_ADDRESS = "nobody@ailleurs.test"  # an ack for a recipient the report never had
S = ReportState

# The transitions of connector/states.py. WAITING ("no recipient address yet, or a transient failure") is
# entered at build time too (PARSED) and left by a build (→ BUILT) or a send (→ SENDING); an ack may
# complete a report that has been sent at least once (DSN → DELIVERED, MDN → READ) in any order, even
# when it overtakes a resend (WAITING, or BUILT after an operator retry); a send that finds nothing left
# to send settles the report from its recipients (→ SENT, DELIVERED or READ).
FORWARD: dict[ReportState, set[ReportState]] = {
    S.RECEIVED: {S.PARSED},
    S.PARSED: {S.BUILT, S.WAITING},
    S.BUILT: {S.SENDING, S.WAITING, S.SENT, S.DELIVERED, S.READ},
    S.SENDING: {S.SENT, S.WAITING, S.DELIVERED, S.READ},
    S.SENT: {S.DELIVERED, S.READ},
    S.DELIVERED: {S.READ},
    S.READ: set(),
    S.WAITING: {S.SENDING, S.BUILT, S.SENT, S.DELIVERED, S.READ},
    S.QUARANTINED: set(),
}
RETRY_FROM = {S.WAITING, S.QUARANTINED}
RETRY_TO = {S.PARSED, S.BUILT}
# A recipient's states in forward order (the store's own ranking, restated here as the spec).
RANK = {
    RecipientState.PENDING: 0, RecipientState.ACCEPTED: 1, RecipientState.DELAYED: 2,
    RecipientState.DELIVERED: 3, RecipientState.DISPLAYED: 4, RecipientState.PROCESSED: 5,
    RecipientState.ERROR: 5, RecipientState.FAILED: 5, RecipientState.REFUSED: 5,
}
OUTCOMES = ("all", "some", "none", "temporary", "rejected", "under way")  # of one SMTP attempt; keep "under way" last
DSN_STATES = (RecipientState.DELAYED, RecipientState.DELIVERED, RecipientState.FAILED)
MDN_STATES = (RecipientState.DISPLAYED, RecipientState.PROCESSED, RecipientState.ERROR)
ID_COLUMNS = ("document_root", "document_ext", "set_root", "set_ext", "version", "message_id", "envid")


def zam_name(report_id: str, address: str, state: RecipientState) -> str | None:
    """The pipeline's idempotence key for the ZAM an ack owes (none for a 'delayed' DSN)."""
    if state is RecipientState.DELAYED:
        return None
    kind = "Z02" if state in DSN_STATES else "Z03"
    return f"{report_id}-{kind}-{hashlib.sha256(address.lower().encode()).hexdigest()[:16]}-{state.value}"


@dataclass
class Snapshot:
    state: ReportState
    recipients: dict[str, RecipientState]
    ids: dict[str, object]


@dataclass
class Model:
    reports: list[str] = field(default_factory=list)
    in_flight: dict[str, list[str]] = field(default_factory=dict)  # mark_sending done, SMTP outcome not yet
    zams: set[str] = field(default_factory=set)
    retried: set[str] = field(default_factory=set)  # retried during the step being checked
    via: dict[str, ReportState] = field(default_factory=dict)  # a state committed and left within one step
    expected: dict[str, ReportState] = field(default_factory=dict)  # a rule's certain outcome, checked once


class StoreMachine(RuleBasedStateMachine):
    def __init__(self, location: str | None = None) -> None:
        """On a new SQLite file, or on ``location`` (an emptied PostgreSQL database)."""
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="store-machine-"))
        self.location: Path | str = location or self.dir / "var" / "connector.sqlite"
        self.store = Store(self.location)
        self.model = Model()
        self.before: dict[str, Snapshot] = {}
        self.inputs = 0
        self.steps_since_crash = 0

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # ------------------------------------------------------------------ helpers

    def _rows(self) -> dict[str, Snapshot]:
        out: dict[str, Snapshot] = {}
        for r in self.store.db.query("SELECT * FROM reports"):
            out[r["report_id"]] = Snapshot(ReportState(r["state"]), {}, {c: r[c] for c in ID_COLUMNS})
        for r in self.store.db.query("SELECT report_id, address, state FROM recipients"):
            out[r["report_id"]].recipients[r["address"]] = RecipientState(r["state"])
        return out

    def _in(self, *states: ReportState, email: bool | None = None) -> list[str]:
        rows = self.store.db.query("SELECT report_id, state, email FROM reports ORDER BY report_id")
        return [r["report_id"] for r in rows if ReportState(r["state"]) in states
                and r["report_id"] not in self.model.in_flight
                and (email is None or bool(r["email"]) == email)]

    def _state(self, report_id: str) -> ReportState:
        row = self.store.report(report_id)
        assert row is not None, f"{report_id}: lost from the store"
        return row.state

    # ------------------------------------------------------------------ intake

    @initialize()
    def two_inputs(self) -> None:
        """Material for the other rules from the first step (receive stays a rule: arrivals go on)."""
        self.receive(patients=1, crash_before_split=False, resend=False, series=0)
        self.receive(patients=2, crash_before_split=False, resend=False, series=0)

    @rule(patients=st.integers(1, 2), crash_before_split=st.booleans(), resend=st.booleans(),
          series=st.integers(0, 2))
    def receive(self, patients: int, crash_before_split: bool, resend: bool, series: int) -> None:
        self.inputs += 1
        data = f"MSH|^~\\&|SIL|LABO|||||ORU^R01|M{self.inputs}|".encode()
        record = self.store.record_input(data, source=f"f{self.inputs}.hl7")
        assert not record.duplicate
        if crash_before_split:
            self.crash()
            assert record.input_id in self.store.unsplit_inputs()
        new = [
            NewReport(
                report_id=f"r-{self.inputs:03d}-{p}",
                message_index=0,
                patient_index=p,
                control_id=f"M{self.inputs}",
                series_key=f"order-{series}",
            )
            for p in range(patients)
        ]
        assert self.store.record_split(record.input_id, new, []) == [n.report_id for n in new]
        if resend:  # the same bytes again (a SIL resend, a file dropped twice): one input, no new report
            again = self.store.record_input(data, source=f"f{self.inputs}-again.hl7")
            assert again.duplicate and again.input_id == record.input_id
            assert self.store.record_split(record.input_id, new, []) == []
        assert record.input_id not in self.store.unsplit_inputs()
        self.model.reports += [n.report_id for n in new]
        for n in new:
            self.model.expected[n.report_id] = S.PARSED

    # ------------------------------------------------------------------ build

    @precondition(lambda self: self._in(S.PARSED, S.WAITING, email=False))
    @rule(data=st.data(), corrects=st.booleans(), recipients=st.integers(1, 2), crash_mid_build=st.booleans())
    def build(self, data: st.DataObject, corrects: bool, recipients: int, crash_mid_build: bool) -> None:
        report_id = data.draw(st.sampled_from(self._in(S.PARSED, S.WAITING, email=False)), label="report")
        ids = self.store.document_identity(report_id, oid_root=OID_ROOT, effective_time="20260101120000+0100",
                                           corrects=corrects)
        if crash_mid_build:  # ids committed, e-mail not: the rebuild must reuse the same ids
            self.crash()
            again = self.store.document_identity(report_id, oid_root=OID_ROOT,
                                                 effective_time="20270101120000+0100", corrects=not corrects)
            assert again == ids
        rcpts = [
            Recipient(address=a, kind="prescriber" if i == 0 else "copy") for i, a in enumerate(ADDRESSES[:recipients])
        ]
        # As connector.package.ids: the Message-ID follows the document version and the recipient set.
        message_id = "<" + hashlib.sha256(
            f"{ids.document_id_extension}|{ids.version}|{','.join(ADDRESSES[:recipients])}".encode()
        ).hexdigest()[:32] + "@labo.test>"
        envid = hashlib.sha256(message_id.encode()).hexdigest()[:32]
        self.store.mark_built(report_id, email=b"mail " + message_id.encode(), message_id=message_id,
                              envid=envid, recipients=rcpts)
        self.model.expected[report_id] = S.BUILT

    @precondition(lambda self: self._in(S.PARSED, S.WAITING, email=False))
    @rule(data=st.data())
    def build_must_wait(self, data: st.DataObject) -> None:
        """No MSSanté address yet, an unmapped code held, a transient failure: retried later."""
        report_id = data.draw(st.sampled_from(self._in(S.PARSED, S.WAITING, email=False)), label="report")
        self.store.mark_waiting(report_id, reason="no MSSanté address yet", next_attempt_at="2026-01-01T00:00:00")
        self.model.expected[report_id] = S.WAITING

    # ------------------------------------------------------------------ send

    @precondition(lambda self: self._in(S.BUILT, S.SENDING, S.WAITING, email=True))
    @rule(data=st.data(), outcome=st.sampled_from(OUTCOMES))
    def send(self, data: st.DataObject, outcome: str) -> None:
        """As Pipeline.send: the still-pending recipients, SENDING committed before any byte goes out."""
        report_id = data.draw(st.sampled_from(self._in(S.BUILT, S.SENDING, S.WAITING, email=True)), label="report")
        pending = [r.address for r in self.store.recipients(report_id) if r.state is RecipientState.PENDING]
        if not pending:  # as Pipeline.send: the recipients' states decide
            self.model.expected[report_id] = self.store.settle(report_id)
            return
        self.store.mark_sending(report_id)
        self.model.in_flight[report_id] = pending
        self.model.expected[report_id] = S.SENDING
        self.model.via[report_id] = S.SENDING  # one step commits two transitions: both are checked
        if outcome != "under way":  # else a later finish_send, or a crash with the send under way
            self._outcome(data, report_id, outcome)

    @precondition(lambda self: self.model.in_flight)
    @rule(data=st.data(), outcome=st.sampled_from(OUTCOMES[:-1]))
    def finish_send(self, data: st.DataObject, outcome: str) -> None:
        self._outcome(data, data.draw(st.sampled_from(sorted(self.model.in_flight)), label="report"), outcome)

    def _outcome(self, data: st.DataObject, report_id: str, outcome: str) -> None:
        pending = self.model.in_flight.pop(report_id)
        if outcome == "temporary":  # 4xx, connection lost, timeout: retried with backoff
            self.store.mark_waiting(report_id, reason="SMTP temporary failure", next_attempt_at="2026-01-01")
            self.model.expected[report_id] = S.WAITING
            return
        if outcome == "rejected":  # 5xx to the whole message
            self.store.quarantine(report_id, reason="SMTP refused the message (554)")
            self.model.expected[report_id] = S.QUARANTINED
            return
        cut = {"all": len(pending), "some": data.draw(st.integers(0, len(pending)), label="accepted"),
               "none": 0}[outcome]
        accepted, refused = pending[:cut], {a: (550, "5.1.1 unknown") for a in pending[cut:]}
        state = self.store.mark_sent(report_id, accepted=accepted, refused=refused, reply="2.0.0 queued as X")
        # SENT, or further when earlier acks already cover every recipient; without an acceptance now, also
        # SENT when an earlier copy was acknowledged (a DELAYED DSN), or QUARANTINED when none can receive it.
        assert state in ((S.SENT, S.DELIVERED, S.READ) if accepted else (S.SENT, S.QUARANTINED, S.DELIVERED, S.READ))
        self.model.expected[report_id] = state
        for address in accepted:
            assert self._recipient(report_id, address) is RecipientState.ACCEPTED

    def _recipient(self, report_id: str, address: str) -> RecipientState:
        return next(r.state for r in self.store.recipients(report_id) if r.address == address)

    # ------------------------------------------------------------------ acknowledgements

    def _ackable(self) -> list[str]:
        """Reports with a Message-ID and no send under way (see the module docstring)."""
        return [r["report_id"] for r in self.store.db.query(
            "SELECT report_id FROM reports WHERE message_id IS NOT NULL ORDER BY report_id")
            if r["report_id"] not in self.model.in_flight]

    @precondition(lambda self: self._ackable())
    @rule(data=st.data(), state=st.sampled_from(DSN_STATES + MDN_STATES), twice=st.booleans(),
          unknown=st.booleans(), upper=st.booleans())
    def ack(self, data: st.DataObject, state: RecipientState, twice: bool, unknown: bool, upper: bool) -> None:
        report_id = data.draw(st.sampled_from(self._ackable()), label="report")
        known = [r.address for r in self.store.recipients(report_id)]
        # none known: a retry forgot the bounced ones and the rebuild has not run yet
        address = UNKNOWN_ADDRESS if unknown or not known else data.draw(st.sampled_from(known), label="address")
        if upper:  # the relay's spelling of the address: matched without case
            address = address.upper()
        name = zam_name(report_id, address, state)
        kind = "Z02" if state in DSN_STATES else "Z03"
        zam = None if name is None else (kind, name, b"ZAM " + name.encode())
        for _ in range(2 if twice else 1):
            self.store.apply_ack(report_id, address=address, state=state, code="2.0.0", detail="", zam=zam)
        if name is not None:
            self.model.zams.add(name)

    # ------------------------------------------------------------------ operator and faults

    @precondition(lambda self: self._in(S.PARSED, S.BUILT, S.WAITING))
    @rule(data=st.data())
    def quarantine(self, data: st.DataObject) -> None:
        report_id = data.draw(st.sampled_from(self._in(S.PARSED, S.BUILT, S.WAITING)), label="report")
        self.store.quarantine(report_id, reason="a CDA the ANS schematrons accept")
        self.model.expected[report_id] = S.QUARANTINED

    @precondition(lambda self: self.model.reports)
    @rule(data=st.data())
    def retry(self, data: st.DataObject) -> None:
        """``connector retry``: only a waiting or quarantined report goes back (to PARSED, built again); any other is
        left alone."""
        report_id = data.draw(st.sampled_from(self.model.reports), label="report")
        eligible = self._state(report_id) in RETRY_FROM and report_id not in self.model.in_flight
        if report_id in self.model.in_flight:
            return  # an operator command racing a send: out of this model's scope
        assert self.store.retry(report_id) is eligible
        if eligible:
            self.model.retried.add(report_id)
            self.model.expected[report_id] = S.PARSED  # built again: recipients resolved again

    @precondition(lambda self: self.steps_since_crash >= 2)  # else crashes crowd out the work to crash in
    @rule()
    def crash(self) -> None:
        """The process dies: the store is reopened on the same file; sends under way are gone."""
        self.steps_since_crash = -1  # the invariants' step after this one counts as 0
        self.store.close()
        self.store = Store(self.location)
        self.model.in_flight.clear()

    # ------------------------------------------------------------------ invariants

    @invariant()
    def every_report_in_exactly_one_state(self) -> None:
        self.steps_since_crash += 1
        rows = self.store.db.query("SELECT report_id, state FROM reports")
        ids = [r["report_id"] for r in rows]
        assert sorted(ids) == sorted(self.model.reports), "a report was lost or invented"
        states = Counter(ReportState(r["state"]).value for r in rows)  # raises on an unknown state
        assert self.store.counts() == dict(states)
        listed = [r.report_id for r in self.store.reports_in(*ReportState)]
        assert sorted(listed) == sorted(ids)

    @invariant()
    def transitions_are_documented(self) -> None:
        now = self._rows()
        for report_id, after in now.items():
            expected = self.model.expected.pop(report_id, None)
            assert expected is None or after.state is expected, f"{report_id}: {after.state} after a rule " \
                                                                   f"that commits {expected}"
            before = self.before.get(report_id)
            if before is None:
                assert after.state is S.PARSED
                continue
            retried = report_id in self.model.retried
            path = [before.state, self.model.via.get(report_id, before.state), after.state]
            for src, dst in pairwise(path):
                allowed = (dst is src or dst in FORWARD[src] or dst is S.QUARANTINED
                           or (retried and src in RETRY_FROM and dst in RETRY_TO))
                assert allowed, f"{report_id}: {src.value} → {dst.value} is not a documented transition"
            for address, rstate in after.recipients.items():
                old = before.recipients.get(address)
                if old is None or (retried and rstate is RecipientState.PENDING):
                    continue  # a new recipient, or one the operator asked to try again
                assert RANK[rstate] >= RANK[old], f"{report_id}: recipient {old.value} → {rstate.value}"
            for column, value in before.ids.items():
                if value is not None:
                    assert after.ids[column] == value, f"{report_id}: {column} changed once set"
        self.model.retried.clear()
        self.model.via.clear()
        self.before = now

    @invariant()
    def the_same_ack_owes_one_zam(self) -> None:
        rows = self.store.db.query("SELECT name, count(*) AS n FROM outbox GROUP BY name")
        assert {r["name"] for r in rows} == self.model.zams
        assert all(r["n"] == 1 for r in rows)


StoreMachine.TestCase.settings = settings(
    max_examples=MAX_EXAMPLES, stateful_step_count=STEPS, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestStoreMachine = StoreMachine.TestCase


def test_the_machine_on_postgresql(pg_cluster: PgCluster, pg_url: str) -> None:
    """The same rules and invariants, the store on PostgreSQL (its SQL, locks and types)."""
    def fresh() -> StoreMachine:
        empty_pg_store(pg_cluster, pg_url)
        return StoreMachine(pg_url)

    run_state_machine_as_test(fresh, settings=settings(
        StoreMachine.TestCase.settings, max_examples=PG_MAX_EXAMPLES, database=None))


# ---------------------------------------------------------------------- defects found by the model

@pytest.fixture
def store(store_location: Path | str) -> Iterator[Store]:
    s = Store(store_location)  # SQLite, then PostgreSQL
    yield s
    s.close()


def _built(store: Store, *addresses: str) -> str:
    record = store.record_input(b"MSH|defect", source="f.hl7")
    store.record_split(
        record.input_id,
        [NewReport(report_id="r-1", message_index=0, patient_index=0, control_id="M1", series_key="order-1")],
        [],
    )
    store.document_identity("r-1", oid_root=OID_ROOT, effective_time="20260101120000+0100", corrects=False)
    store.mark_built("r-1", email=b"mail", message_id="<m1@labo.test>", envid="e1",
                     recipients=[Recipient(address=a, kind="prescriber") for a in addresses])
    return "r-1"


def test_a_waiting_report_whose_recipients_all_got_a_success_dsn_is_delivered(store: Store) -> None:
    report_id = _built(store, ADDRESSES[0])
    store.mark_sending(report_id)
    store.mark_waiting(report_id, reason="SMTP temporary failure: connection lost after DATA",
                       next_attempt_at="2026-01-01T00:00:00")
    state = store.apply_ack(report_id, address=ADDRESSES[0], state=RecipientState.DELIVERED, code="2.0.0",
                            detail="")
    assert state is ReportState.DELIVERED  # states.py: DELIVERED = every recipient has a success DSN


def test_an_ack_during_a_send_is_not_undone_by_the_send_outcome(store: Store) -> None:
    report_id = _built(store, ADDRESSES[0])
    store.mark_sending(report_id)  # a resend after a crash: the first copy was queued, its DSN comes now
    assert store.apply_ack(report_id, address=ADDRESSES[0], state=RecipientState.DELIVERED, code="2.0.0",
                           detail="") is ReportState.DELIVERED
    store.mark_sent(report_id, accepted=[ADDRESSES[0]], refused={}, reply="2.0.0 queued as X")
    row = store.report(report_id)
    assert row is not None and row.state is ReportState.DELIVERED


def test_a_crash_after_a_partial_temporary_refusal_still_sends_to_the_refused_recipient(
        store: Store, store_location: Path | str) -> None:
    report_id = _built(store, *ADDRESSES)
    store.mark_sending(report_id)
    # As Pipeline.send: ADDRESSES[1] got "450 4.2.1" (temporary); WAITING is committed with the outcome.
    state = store.mark_sent(report_id, accepted=[ADDRESSES[0]], refused={}, reply="2.0.0 queued as X",
                            temporary={ADDRESSES[1]: (450, "4.2.1 try later")},
                            retry=("1 recipient(s) temporarily refused ([450])", "2026-01-01T00:00:00"))
    assert state is ReportState.WAITING
    store.close()  # the crash, right after the outcome's commit
    reopened = Store(store_location)
    try:
        pending = [r.address for r in reopened.recipients(report_id) if r.state is RecipientState.PENDING]
        assert pending == [ADDRESSES[1]]
        _, to_send = reopened.due("9999-12-31T00:00:00")
        assert report_id in [r.report_id for r in to_send], "a report with a pending recipient is never sent again"
    finally:
        reopened.close()
