"""The ledger test: N synthetic reports through the real service, SIGKILLed and restarted at random moments.

Reports come in by the drop folder and by MLLP (a SIL that resends until it gets an AA), go out through the
Postfix/Dovecot operator simulator (STARTTLS + client certificate), and their DSNs come back over IMAP.
The service is killed with SIGKILL ``KILLS`` times (seeded random moments over the whole run: intake,
builds, SMTP sends, ack processing; the histogram of what it was doing is printed) and restarted each time.

At the end, from the recipients' Maildirs (not from the connector's own word):
- lost = 0: every report reached each of its recipients;
- a duplicate only ever repeats the stored Message-ID (SMTP's RFC 1047 window), never a new identity;
- stuck = 0: every report is delivered/read in the store, nothing left in drop/ or quarantine/;
- the SIL got one accepting ACK per message, and a resend after an AA got the stored ACK byte for byte.

Tunable for a longer soak: LEDGER_SEED, LEDGER_REPORTS, LEDGER_KILLS.
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from tests.ledger.maildir import index
from tests.ledger.oru import COPY_TO, PRESCRIBER, LedgerEntry, ledger
from tests.ledger.sil import SilSender, ack_code, paced
from tests.support.ports import free_port
from tests.support.service import ServiceProcess, write_site

pytestmark = pytest.mark.simulator

SEED = int(os.environ.get("LEDGER_SEED", "20261125"))
REPORTS = int(os.environ.get("LEDGER_REPORTS", "300"))
KILLS = int(os.environ.get("LEDGER_KILLS", "30"))
REPLAY_EVERY = 10  # every 10th MLLP message is resent once after its AA (a SIL that lost the ACK)
UPTIME_SECONDS = (0.2, 3.0)
DOWN_SECONDS = (0.0, 0.5)  # how long a run lives before its SIGKILL
TARGETED_SHARE = 0.5  # share of kills aimed at work in progress (builds, sends, acks) rather than any moment
TARGET_WAIT_SECONDS = 4.0
EARLY_KILL_SHARE = 0.15  # share of kills that hit start-up (recovery) instead of a listening service
BURST_SHARE = 0.9  # inputs come in bursts (a SIL flushing its queue), so kills find a build/send backlog
BURST_PAUSE_SECONDS = 0.01
FEED_PAUSE_SECONDS = (0.5, 3.0)  # between two bursts from one channel: spreads intake over the kills
FEED_TIMEOUT_SECONDS = 120.0
DRAIN_TIMEOUT_SECONDS = 120.0  # after the last kill: retries (first 1 s, max 4 s) + Postfix + IMAP poll
DONE = ("delivered", "read")
STOP_TIMEOUT_SECONDS = 15.0  # SIGTERM at the end, with a backlog of retries and IMAP polls in flight


def test_ledger_survives_sigkill(operator_sim, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sim = operator_sim
    rng = random.Random(SEED)
    entries = ledger(uuid.uuid4().hex[:8], REPORTS)
    by_report = {e.report_id: e for e in entries}
    mllp_port = free_port()
    site = write_site(tmp_path, sim, mllp_port=mllp_port, metrics=False, retry_first_seconds=1.0,
                      retry_max_seconds=4.0)
    sil = SilSender("127.0.0.1", mllp_port)
    stop = threading.Event()
    file_rng, mllp_rng = random.Random(SEED + 1), random.Random(SEED + 2)

    def pause(r: random.Random):  # type: ignore[no-untyped-def]
        return lambda: BURST_PAUSE_SECONDS if r.random() < BURST_SHARE else r.uniform(*FEED_PAUSE_SECONDS)

    def send(entry: object) -> None:
        assert isinstance(entry, LedgerEntry)
        ack = sil.send_until_accepted(entry.control_id, entry.data, stop)
        if int(entry.control_id[-4:]) % REPLAY_EVERY == 1:
            sil.replay(entry.control_id, entry.data, ack, stop)

    with ServiceProcess(site) as service:
        service.start()
        feeders = [
            paced([e for e in entries if e.channel == "file"], lambda e: site.drop_file(e.file_name, e.data),  # type: ignore[attr-defined]
                  pause=pause(file_rng), stop=stop),
            paced([e for e in entries if e.channel == "mllp"], send,
                  pause=pause(mllp_rng), stop=stop),
        ]
        started = time.monotonic()
        try:
            for _ in range(KILLS):
                if rng.random() < TARGETED_SHARE:
                    service.wait_for_work(TARGET_WAIT_SECONDS)
                    time.sleep(rng.uniform(0, 0.3))
                else:
                    time.sleep(rng.uniform(*UPTIME_SECONDS))
                service.kill()
                time.sleep(rng.uniform(*DOWN_SECONDS))  # the SIL meets a closed port meanwhile
                service.start(wait=rng.random() >= EARLY_KILL_SHARE)
            kill_phase = time.monotonic() - started
            for feeder in feeders:
                feeder.join(FEED_TIMEOUT_SECONDS)
            assert not any(f.is_alive() for f in feeders), "the SIL could not hand over every input"
            service.wait_started()
            deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
            while time.monotonic() < deadline:
                states = site.reports()
                if len(states) >= REPORTS and all(s in DONE for s in states.values()):
                    break
                time.sleep(1.0)
            drained = time.monotonic() - started - kill_phase
        finally:
            stop.set()
            sil.close()
            if service.proc is not None and service.proc.poll() is None:
                service.stop(STOP_TIMEOUT_SECONDS)

    # ---- the ledger, from the recipients' Maildirs
    wanted = set(by_report)
    boxes = {who: index(sim.read_maildir(who), wanted) for who in (PRESCRIBER, COPY_TO)}
    stored_ids = dict(site.query("SELECT report_id, message_id FROM reports"))
    states = site.reports()
    lost = [(rid, who) for rid, e in by_report.items() for who in e.recipients if not boxes[who].get(rid)]
    unexpected = [(rid, who) for who, box in boxes.items() for rid in box if who not in by_report[rid].recipients]
    duplicated = sum(len(ids) - 1 for box in boxes.values() for ids in box.values())
    new_identity = [rid for box in boxes.values() for rid, ids in box.items() if set(ids) != {stored_ids.get(rid)}]
    stuck = {rid: states.get(rid, "missing") for rid in by_report if states.get(rid) not in DONE}
    inputs = site.query("SELECT count(*) FROM inputs")[0][0]
    input_errors = site.query("SELECT input_id, message_index, reason FROM input_errors")
    not_delivered = site.query("SELECT report_id, address, state FROM recipients WHERE state != 'delivered'"
                                  " AND state NOT IN ('displayed', 'processed')")

    mllp = [e for e in entries if e.channel == "mllp"]
    accepting = {e.control_id: [a for a in sil.acks.get(e.control_id, []) if ack_code(a) in ("AA", "CA")]
                 for e in mllp}
    bad_acks = {cid: len(a) for cid, a in accepting.items() if len(a) != 1}
    wrong_msa2 = [cid for cid, a in accepting.items() if a and f"|{cid}".encode() not in a[0]]
    replay_differs = [cid for cid, (first, again) in sil.replayed.items() if first != again]

    phases = Counter(service.kill_phases)
    print(f"\nledger: {REPORTS} reports, {service.runs - 1} SIGKILLs (seed {SEED}), kill phase {kill_phase:.0f}s, "
          f"drained in {drained:.0f}s, {sil.attempts} MLLP sends for {len(mllp)} messages")
    print("killed after event:", dict(sorted(phases.items(), key=lambda kv: -kv[1])))
    print("killed with work in:", dict(sorted(service.kill_backlog.items(), key=lambda kv: -kv[1])))
    print(f"lost / duplicated / stuck = {len(lost)} / {duplicated} / {len(stuck)}")

    assert not lost, f"{len(lost)} (report, recipient) never delivered, e.g. {lost[:5]}"
    assert not new_identity, f"duplicates with another Message-ID than the stored one: {new_identity[:5]}"
    assert not unexpected, f"mail to a recipient the report does not name: {unexpected[:5]}"
    assert not stuck, f"{len(stuck)} reports not delivered, e.g. {dict(list(stuck.items())[:5])}"
    assert not not_delivered, f"recipients not delivered: {not_delivered[:5]}"
    assert inputs == REPORTS, f"{inputs} inputs stored for {REPORTS} sent: intake dedup failed"
    assert not input_errors, f"inputs refused: {input_errors[:3]}"
    assert not list(site.drop.glob("*.hl7")), "files left in the drop folder"
    assert not list(site.quarantine.iterdir()), "files quarantined"
    assert not bad_acks, f"MLLP messages without exactly one accepting ACK: {dict(list(bad_acks.items())[:5])}"
    assert not wrong_msa2, f"ACKs not answering their message (MSA-2): {wrong_msa2[:5]}"
    assert sil.replayed and not replay_differs, f"a resend did not get the stored ACK: {replay_differs[:5]}"
