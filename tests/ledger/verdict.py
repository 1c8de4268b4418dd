"""A ledger run's verdict, from what the recipients' Maildirs received, what the store says and what the SIL
got back: written once for every ledger test (one instance, several instances).

- lost = 0: every report reached each of its recipients;
- a duplicate only ever repeats the stored Message-ID (SMTP's RFC 1047 window), never a new identity;
- stuck = 0: every report delivered/read in the store, nothing left in drop/ or quarantine/;
- one input per report, no input refused;
- the SIL got one accepting ACK per MLLP message, answering it (MSA-2), and a resend after an AA got the
  stored ACK byte for byte.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from tests.ledger.maildir import index
from tests.ledger.oru import COPY_TO, PRESCRIBER, LedgerEntry
from tests.ledger.sil import SilSender, ack_code
from tests.simulator.plugin import OperatorSim
from tests.support.service import Site

DONE = ("delivered", "read")


@dataclass(frozen=True, kw_only=True)
class Ledger:
    reports: int
    lost: list[tuple[str, str]]
    unexpected: list[tuple[str, str]]
    duplicated: int
    new_identity: list[str]
    stuck: dict[str, str]
    not_delivered: list[Any]
    inputs: int
    input_errors: list[Any]
    left_in_drop: list[str]
    quarantined: list[str]
    mllp_messages: int
    bad_acks: dict[str, int]
    wrong_msa2: list[str]
    replayed: int
    replay_differs: list[str]

    def summary(self) -> str:
        return f"lost / duplicated / stuck = {len(self.lost)} / {self.duplicated} / {len(self.stuck)}"


def read_ledger(sim: OperatorSim, entries: list[LedgerEntry], site: Site, sil: SilSender) -> Ledger:
    by_report = {e.report_id: e for e in entries}
    boxes = {who: index(sim.read_maildir(who), set(by_report)) for who in (PRESCRIBER, COPY_TO)}
    stored_ids = dict(site.query("SELECT report_id, message_id FROM reports"))
    states = site.reports()
    mllp = [e for e in entries if e.channel == "mllp"]
    accepting = {e.control_id: [a for a in sil.acks.get(e.control_id, []) if ack_code(a) in ("AA", "CA")]
                 for e in mllp}
    return Ledger(
        reports=len(entries),
        lost=[(rid, who) for rid, e in by_report.items() for who in e.recipients if not boxes[who].get(rid)],
        unexpected=[(rid, who) for who, box in boxes.items() for rid in box if who not in by_report[rid].recipients],
        duplicated=sum(len(ids) - 1 for box in boxes.values() for ids in box.values()),
        new_identity=[rid for box in boxes.values() for rid, ids in box.items() if set(ids) != {stored_ids.get(rid)}],
        stuck={rid: states.get(rid, "missing") for rid in by_report if states.get(rid) not in DONE},
        not_delivered=site.query("SELECT report_id, address, state FROM recipients WHERE state != 'delivered'"
                                 " AND state NOT IN ('displayed', 'processed')"),
        inputs=site.query("SELECT count(*) FROM inputs")[0][0],
        input_errors=site.query("SELECT input_id, message_index, reason FROM input_errors"),
        left_in_drop=[p.name for p in site.drop.glob("*.hl7")],
        quarantined=[p.name for p in site.quarantine.iterdir()],
        mllp_messages=len(mllp),
        bad_acks={cid: len(a) for cid, a in accepting.items() if len(a) != 1},
        wrong_msa2=[cid for cid, a in accepting.items() if a and f"|{cid}".encode() not in a[0]],
        replayed=len(sil.replayed),
        replay_differs=[cid for cid, (first, again) in sil.replayed.items() if first != again],
    )


def assert_ledger(ledger: Ledger) -> None:
    assert not ledger.lost, f"{len(ledger.lost)} (report, recipient) never delivered, e.g. {ledger.lost[:5]}"
    assert not ledger.new_identity, f"duplicates with another Message-ID than the stored one: {ledger.new_identity[:5]}"
    assert not ledger.unexpected, f"mail to a recipient the report does not name: {ledger.unexpected[:5]}"
    assert not ledger.stuck, f"{len(ledger.stuck)} reports not delivered, e.g. {dict(list(ledger.stuck.items())[:5])}"
    assert not ledger.not_delivered, f"recipients not delivered: {ledger.not_delivered[:5]}"
    assert ledger.inputs == ledger.reports, \
        f"{ledger.inputs} inputs stored for {ledger.reports} sent: intake dedup failed"
    assert not ledger.input_errors, f"inputs refused: {ledger.input_errors[:3]}"
    assert not ledger.left_in_drop, "files left in the drop folder"
    assert not ledger.quarantined, "files quarantined"
    assert not ledger.bad_acks, \
        f"MLLP messages without exactly one accepting ACK: {dict(list(ledger.bad_acks.items())[:5])}"
    assert not ledger.wrong_msa2, f"ACKs not answering their message (MSA-2): {ledger.wrong_msa2[:5]}"
    assert ledger.replayed and not ledger.replay_differs, \
        f"a resend did not get the stored ACK: {ledger.replay_differs[:5]}"


def wait_drained(site: Site, reports: int, timeout: float) -> None:
    """Until the store holds ``reports`` reports, every one delivered or read (or ``timeout``: the verdict
    then names what is stuck)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = site.reports()
        if len(states) >= reports and all(s in DONE for s in states.values()):
            return
        time.sleep(1.0)
