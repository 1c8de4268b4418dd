"""The ledger across instances (issue 16): several `connector run` processes on one PostgreSQL store and one
drop folder, random ones SIGKILLed and restarted, PostgreSQL itself restarted once (immediate: as a crash).

Reports come in by the shared drop folder and by MLLP (a SIL with a fail-over list: it resends to the next
instance when one does not answer, until it gets an AA), go out through the Postfix/Dovecot operator
simulator, and their DSNs come back over IMAP (one poller in the group at a time) and become ZAMs.
Instance 0 has a fixed ``instance.name`` (a restart takes its own claims and leases back); the others use
the default ``<host>-<pid>`` (each restart is a new instance: survivors take what the dead one held).

At the end, from the recipients' Maildirs and the SIL's side, not from the connector's own word:
- lost = 0; a duplicate only ever repeats the stored Message-ID, never a new identity;
- stuck = 0: every report delivered in the store, nothing left in drop/ or quarantine/;
- one input per report, one accepting ACK per MLLP message, a resend after an AA gets the stored ACK;
- each ZAM handed over once (one outbox row per acknowledgement, each marked done once).

Tunable for a longer soak: LEDGER_SEED, LEDGER_INSTANCES_REPORTS, LEDGER_INSTANCES_KILLS, LEDGER_INSTANCES.
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.ledger.oru import ledger
from tests.ledger.sil import Pacing, SilSender, feed
from tests.ledger.verdict import assert_ledger, read_ledger, wait_drained
from tests.support.group import PgSite, write_group
from tests.support.postgres import PgCluster
from tests.support.service import START_TIMEOUT_SECONDS as START_TIMEOUT
from tests.support.service import ServiceProcess, wait_for

pytestmark = [pytest.mark.simulator, pytest.mark.postgres]

SEED = int(os.environ.get("LEDGER_SEED", "20261207"))
REPORTS = int(os.environ.get("LEDGER_INSTANCES_REPORTS", "500"))
KILLS = int(os.environ.get("LEDGER_INSTANCES_KILLS", "30"))
INSTANCES = int(os.environ.get("LEDGER_INSTANCES", "3"))
REPLAY_EVERY = 10  # every 10th MLLP message is resent once after its AA (a SIL that lost the ACK)
UPTIME_SECONDS = (0.2, 2.0)  # between two kills (of any instance)
DOWN_SECONDS = (0.0, 0.5)  # how long a killed instance stays down
TARGETED_SHARE = 0.5  # share of kills aimed at work in progress rather than any moment
TARGET_WAIT_SECONDS = 3.0
# A killed instance is restarted in the background (the others carry on); this share of the kills picks any
# instance, so some hit a start-up (recovery, joining the group); the others pick one that is running.
EARLY_KILL_SHARE = 0.15
BURST_SHARE = 0.9
BURST_PAUSE_SECONDS = 0.01
FEED_PAUSE_SECONDS = (0.5, 2.5)
FEED_TIMEOUT_SECONDS = 180.0
DRAIN_TIMEOUT_SECONDS = 180.0  # after the last kill: leases of the killed (60 s at most), retries, IMAP polls
STOP_TIMEOUT_SECONDS = 15.0


@dataclass
class FailoverSil(SilSender):
    """A SIL with a list of connector instances: a connection that fails moves it to the next one."""

    ports: list[int] = field(default_factory=list)
    switches: int = 0

    def _close(self) -> None:
        super()._close()
        if self.ports:
            self.switches += 1
            self.port = self.ports[self.switches % len(self.ports)]


def _running(service: ServiceProcess) -> bool:
    return service.proc is not None and service.proc.poll() is None


def _started(service: ServiceProcess) -> bool:
    return _running(service) and service.has_event("service.started") is not None


def test_ledger_instances_survive_sigkill_and_a_database_restart(operator_sim, pg_cluster: PgCluster,  # type: ignore[no-untyped-def]
                                                                  tmp_path: Path) -> None:
    sim = operator_sim
    rng = random.Random(SEED)
    entries = ledger(uuid.uuid4().hex[:8], REPORTS)
    url = pg_cluster.create_store()
    names = ["fixed"] + [""] * (INSTANCES - 1)
    sites = write_group(tmp_path, sim, store_url=url, names=names, metrics=False, retry_first_seconds=1.0,
                        retry_max_seconds=4.0)
    site: PgSite = sites[0]  # the group's store and folders, seen through any one of them
    ports = [s.mllp_port for s in sites if s.mllp_port is not None]
    sil = FailoverSil("127.0.0.1", ports[0], ports=ports)
    stop = threading.Event()

    services = [ServiceProcess(s) for s in sites]
    pg_restart_at, pg_restarted = KILLS // 2, -1.0
    try:
        for service in services:
            service.start()
        feeders = feed(entries, drop_file=site.drop_file, sil=sil, stop=stop,
                       pacing=Pacing(seed=SEED, burst_share=BURST_SHARE, burst_pause=BURST_PAUSE_SECONDS,
                                     pause=FEED_PAUSE_SECONDS, replay_every=REPLAY_EVERY))
        started = time.monotonic()
        for k in range(KILLS):
            if k == pg_restart_at:
                pg_cluster.restart("immediate")  # every instance loses its sessions, its locks, its listener
                pg_restarted = time.monotonic() - started
            if rng.random() < EARLY_KILL_SHARE:
                victim = rng.choice(services)
            else:  # one that is running (restarts take a few seconds: wait for one when all are starting)
                victim = rng.choice(wait_for(lambda: [s for s in services if _started(s)], timeout=START_TIMEOUT,
                                             what="an instance running"))
            if rng.random() < TARGETED_SHARE:
                victim.wait_for_work(TARGET_WAIT_SECONDS)
                time.sleep(rng.uniform(0, 0.3))
            else:
                time.sleep(rng.uniform(*UPTIME_SECONDS))
            victim.kill()
            time.sleep(rng.uniform(*DOWN_SECONDS))
            victim.start(wait=False)
        kill_phase = time.monotonic() - started
        for feeder in feeders:
            feeder.join(FEED_TIMEOUT_SECONDS)
        assert not any(f.is_alive() for f in feeders), "the SIL could not hand over every input"
        for service in services:
            if not _running(service):  # died at a start-up the kills or the restart interrupted
                service.start()
            service.wait_started()
        wait_drained(site, REPORTS, DRAIN_TIMEOUT_SECONDS)
        drained = time.monotonic() - started - kill_phase
        zam_deadline = time.monotonic() + 30
        while site.query("SELECT count(*) FROM outbox WHERE sent = 0")[0][0] and time.monotonic() < zam_deadline:
            time.sleep(0.5)
    finally:
        stop.set()
        sil.close()
        for service in services:
            if _running(service):
                service.stop(STOP_TIMEOUT_SECONDS)
            service.__exit__(None, None, None)

    # ---- the ledger, from the recipients' Maildirs and the SIL's side (tests/ledger/verdict.py), and the ZAMs
    ledger_seen = read_ledger(sim, entries, site, sil)
    zams = site.query("SELECT name, sent, attempts FROM outbox")
    zams_twice = [z for z in zams if z[1] != 1 or z[2] != 1]
    zam_files = {p.name for p in site.zam.iterdir() if p.suffix == ".hl7"}
    recipients = site.query("SELECT count(*) FROM recipients")[0][0]
    delivered_zams = [z for z in zams if z[0].endswith("-delivered")]

    kills = sum(s.runs - 1 for s in services)
    phases = sum((Counter(s.kill_phases) for s in services), Counter())
    backlog = sum((Counter(s.kill_backlog) for s in services), Counter())
    print(f"\nledger across {INSTANCES} instances: {REPORTS} reports, {kills} SIGKILLs (seed {SEED}), PostgreSQL "
          f"restarted at {pg_restarted:.0f}s, kill phase {kill_phase:.0f}s, drained in {drained:.0f}s, "
          f"{sil.attempts} MLLP sends for {ledger_seen.mllp_messages} messages, {sil.switches} SIL fail-overs")
    print("killed after event:", dict(sorted(phases.items(), key=lambda kv: -kv[1])))
    print("killed with work in:", dict(sorted(backlog.items(), key=lambda kv: -kv[1])))
    print(f"{ledger_seen.summary()}; ZAMs {len(zams)}")

    assert kills >= KILLS
    assert_ledger(ledger_seen)
    assert len(delivered_zams) == recipients, f"{len(delivered_zams)} delivery ZAMs for {recipients} recipients"
    assert not zams_twice, f"ZAMs not handed over exactly once: {zams_twice[:5]}"
    assert zam_files == {f"{z[0]}.hl7" for z in zams}, "every ZAM in the SIL's folder"
