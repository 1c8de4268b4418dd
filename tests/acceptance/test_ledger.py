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

from tests.ledger.oru import ledger
from tests.ledger.sil import Pacing, SilSender, feed
from tests.ledger.verdict import assert_ledger, read_ledger, wait_drained
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
STOP_TIMEOUT_SECONDS = 15.0  # SIGTERM at the end, with a backlog of retries and IMAP polls in flight


def test_ledger_survives_sigkill(operator_sim, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sim = operator_sim
    rng = random.Random(SEED)
    entries = ledger(uuid.uuid4().hex[:8], REPORTS)
    mllp_port = free_port()
    site = write_site(tmp_path, sim, mllp_port=mllp_port, metrics=False, retry_first_seconds=1.0,
                      retry_max_seconds=4.0)
    sil = SilSender("127.0.0.1", mllp_port)
    stop = threading.Event()

    with ServiceProcess(site) as service:
        service.start()
        feeders = feed(entries, drop_file=site.drop_file, sil=sil, stop=stop,
                       pacing=Pacing(seed=SEED, burst_share=BURST_SHARE, burst_pause=BURST_PAUSE_SECONDS,
                                     pause=FEED_PAUSE_SECONDS, replay_every=REPLAY_EVERY))
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
            wait_drained(site, REPORTS, DRAIN_TIMEOUT_SECONDS)
            drained = time.monotonic() - started - kill_phase
        finally:
            stop.set()
            sil.close()
            if service.proc is not None and service.proc.poll() is None:
                service.stop(STOP_TIMEOUT_SECONDS)

    # ---- the ledger, from the recipients' Maildirs and the SIL's side (tests/ledger/verdict.py)
    ledger_seen = read_ledger(sim, entries, site, sil)

    phases = Counter(service.kill_phases)
    print(f"\nledger: {REPORTS} reports, {service.runs - 1} SIGKILLs (seed {SEED}), kill phase {kill_phase:.0f}s, "
          f"drained in {drained:.0f}s, {sil.attempts} MLLP sends for {ledger_seen.mllp_messages} messages")
    print("killed after event:", dict(sorted(phases.items(), key=lambda kv: -kv[1])))
    print("killed with work in:", dict(sorted(service.kill_backlog.items(), key=lambda kv: -kv[1])))
    print(ledger_seen.summary())
    assert_ledger(ledger_seen)
