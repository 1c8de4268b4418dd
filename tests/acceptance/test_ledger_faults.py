"""The ledger under SIGKILLs *and* a misbehaving SMTP path (tests/acceptance/test_ledger.py's harder sibling).

~100 synthetic reports (drop folder + MLLP) go to the Postfix/Dovecot simulator through a TCP proxy of our
own that, at random (seeded), makes the submission path fail the ways a real network does:

- **drop after DATA**: the client's message went through, Postfix queued it and answered 250, the proxy
  cuts both sides before that reply reaches the client (the RFC 1047 window: a resend is a duplicate);
- **delay**: a reply is held past the connector's SMTP timeout (the 250 after DATA, or any other reply);
- **refuse**: the listening port is closed for a while (connection refused).

The session is TLS (STARTTLS), so the proxy cannot read the commands: it recognises the reply to the end
of DATA as the first server bytes after a client burst larger than any command (the message body).
Meanwhile the service is SIGKILLed ~15 times. At the end, from the recipients' Maildirs: 0 lost, every
duplicate has the stored Message-ID, nothing stuck. Tunable: LEDGER_SEED, LEDGER_FAULT_REPORTS/KILLS.
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.ledger.maildir import index
from tests.ledger.oru import COPY_TO, PRESCRIBER, LedgerEntry, ledger
from tests.ledger.sil import SilSender, paced
from tests.support.ports import free_port
from tests.support.proxy import FORWARD, TcpProxy, Verdict
from tests.support.service import ServiceProcess, write_site

pytestmark = pytest.mark.simulator

SEED = int(os.environ.get("LEDGER_SEED", "20261126"))
REPORTS = int(os.environ.get("LEDGER_FAULT_REPORTS", "100"))
KILLS = int(os.environ.get("LEDGER_FAULT_KILLS", "15"))
SMTP_TIMEOUT_SECONDS = 2.0  # the connector's per-command timeout here (10 s in the plain ledger): delays cost less
DELAY_SECONDS = SMTP_TIMEOUT_SECONDS + 1.5  # past the timeout: the client gives up before the reply comes
# A client burst this large before a server reply can only be a message body (commands and the TLS client
# certificate are a few KB; a CR-BIO e-mail with its PDF is far larger): that reply answers the end of DATA.
BODY_BYTES = 16 * 1024
DROP_AFTER_DATA = 0.15  # share of end-of-DATA replies cut before they reach the client
DELAY_AFTER_DATA = 0.08  # share of end-of-DATA replies held past the timeout
DELAY_OTHER = 0.01  # share of other replies (greeting, EHLO, MAIL, RCPT) held past the timeout
REFUSE_GAP_SECONDS = (5.0, 12.0)  # between two periods with the port closed
REFUSE_SECONDS = (1.0, 3.0)
UPTIME_SECONDS = (0.5, 3.0)  # how long a run lives before its SIGKILL
DOWN_SECONDS = (0.0, 0.5)
TARGETED_SHARE = 0.5  # kills aimed at work in progress rather than any moment
BURST_SHARE = 0.9
FEED_PAUSE_SECONDS = (0.5, 2.0)
FEED_TIMEOUT_SECONDS = 60.0
DRAIN_TIMEOUT_SECONDS = 90.0  # retries back off to 4 s; Postfix delivery + DSN + IMAP poll
DONE = ("delivered", "read")
STOP_TIMEOUT_SECONDS = 15.0  # SIGTERM at the end, with a backlog of retries and IMAP polls in flight
NOTHING_PENDING = "no recipient left to send to"  # Pipeline.send's quarantine reason (the known defect)


@dataclass
class SeededFaults:
    """The proxy's fault policy (tests/support/proxy.py FaultPolicy): seeded draws, counted by kind."""

    seed: int
    faults: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)  # used on the proxy's loop thread only

    def reply(self, client_bytes: int) -> Verdict:
        draw = self._rng.random()
        if client_bytes >= BODY_BYTES:  # the reply to the end of DATA
            self.faults["data-replies"] += 1
            if draw < DROP_AFTER_DATA:
                self.faults["drop-after-data"] += 1
                return Verdict(cut=True)
            if draw < DROP_AFTER_DATA + DELAY_AFTER_DATA:
                self.faults["delay-after-data"] += 1
                return Verdict(delay=DELAY_SECONDS)
        elif draw < DELAY_OTHER:
            self.faults["delay-other"] += 1
            return Verdict(delay=DELAY_SECONDS)
        return FORWARD

    def closed_periods(self) -> Iterator[tuple[float, float]]:
        while True:
            yield self._rng.uniform(*REFUSE_GAP_SECONDS), self._rng.uniform(*REFUSE_SECONDS)


def _send(sil: SilSender, entry: object, stop: threading.Event) -> None:
    assert isinstance(entry, LedgerEntry)
    sil.send_until_accepted(entry.control_id, entry.data, stop)


@dataclass
class Outcome:
    lost: list[tuple[str, str]]
    new_identity: list[str]
    unexpected: list[tuple[str, str]]
    duplicated: int
    stuck: dict[str, tuple[str, str]]  # report id → (state, reason)
    delivered_but_quarantined: list[str]  # stuck by the known defect (see test_no_report_stuck)
    inputs: int
    faults: Counter[str]


@pytest.fixture(scope="module")
def faulty_run(operator_sim, tmp_path_factory: pytest.TempPathFactory) -> Outcome:  # type: ignore[no-untyped-def]
    sim, base = operator_sim, tmp_path_factory.mktemp("ledger-faults")
    rng, feed_rng = random.Random(SEED), random.Random(SEED + 1)
    entries = ledger(uuid.uuid4().hex[:8], REPORTS)
    by_report = {e.report_id: e for e in entries}
    mllp_port = free_port()
    policy = SeededFaults(SEED + 3)
    proxy = TcpProxy((sim.smtp_host, sim.submission_port), policy=policy)
    # The service submits through the proxy (the TLS name is still 127.0.0.1), with a short SMTP timeout.
    site = write_site(base, sim, smtp_port=proxy.port, smtp_timeout=SMTP_TIMEOUT_SECONDS, mllp_port=mllp_port,
                      metrics=False, retry_first_seconds=1.0, retry_max_seconds=4.0)
    sil = SilSender("127.0.0.1", mllp_port)
    stop = threading.Event()

    def pause() -> float:
        return 0.01 if feed_rng.random() < BURST_SHARE else feed_rng.uniform(*FEED_PAUSE_SECONDS)

    with proxy, ServiceProcess(site) as service:
        service.start()
        feeders = [
            paced([e for e in entries if e.channel == "file"], lambda e: site.drop_file(e.file_name, e.data),  # type: ignore[attr-defined]
                  pause=pause, stop=stop),
            paced([e for e in entries if e.channel == "mllp"],
                  lambda e: _send(sil, e, stop), pause=pause, stop=stop),
        ]
        started = time.monotonic()
        try:
            for _ in range(KILLS):
                if rng.random() < TARGETED_SHARE:
                    service.wait_for_work(4.0)
                    time.sleep(rng.uniform(0, 0.3))
                else:
                    time.sleep(rng.uniform(*UPTIME_SECONDS))
                service.kill()
                time.sleep(rng.uniform(*DOWN_SECONDS))
                service.start()
            for feeder in feeders:
                feeder.join(FEED_TIMEOUT_SECONDS)
            assert not any(f.is_alive() for f in feeders), "the SIL could not hand over every input"
            deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
            while time.monotonic() < deadline:
                states = site.reports()
                if len(states) >= REPORTS and all(s in DONE or s == "quarantined" for s in states.values()):
                    break
                time.sleep(1.0)
            elapsed = time.monotonic() - started
        finally:
            stop.set()
            sil.close()
            if service.proc is not None and service.proc.poll() is None:
                service.stop(STOP_TIMEOUT_SECONDS)

    boxes = {who: index(sim.read_maildir(who), set(by_report)) for who in (PRESCRIBER, COPY_TO)}
    stored_ids = dict(site.query("SELECT report_id, message_id FROM reports"))
    rows = {r[0]: (r[1], r[2]) for r in site.query("SELECT report_id, state, reason FROM reports")}
    recipient_states: dict[str, set[str]] = {}
    for rid, state in site.query("SELECT report_id, state FROM recipients"):
        recipient_states.setdefault(rid, set()).add(state)
    stuck = {rid: rows.get(rid, ("missing", "")) for rid in by_report if rows.get(rid, ("",))[0] not in DONE}
    outcome = Outcome(
        lost=[(rid, who) for rid, e in by_report.items() for who in e.recipients if not boxes[who].get(rid)],
        new_identity=[rid for box in boxes.values() for rid, ids in box.items() if set(ids) != {stored_ids.get(rid)}],
        unexpected=[(rid, who) for who, box in boxes.items() for rid in box if who not in by_report[rid].recipients],
        duplicated=sum(len(ids) - 1 for box in boxes.values() for ids in box.values()),
        stuck=stuck,
        delivered_but_quarantined=[
            rid for rid, (state, reason) in stuck.items()
            if state == "quarantined" and reason.startswith(NOTHING_PENDING) and recipient_states.get(rid)
            and recipient_states[rid] <= {"delivered", "displayed", "processed"}],
        inputs=site.query("SELECT count(*) FROM inputs")[0][0],
        faults=policy.faults + proxy.stats,
    )
    print(f"\nledger with SMTP faults: {REPORTS} reports, {service.runs - 1} SIGKILLs (seed {SEED}) in {elapsed:.0f}s")
    print("proxy faults:", dict(policy.faults + proxy.stats))
    print("killed with work in:", dict(service.kill_backlog))
    print(f"lost / duplicated / stuck = {len(outcome.lost)} / {outcome.duplicated} / {len(outcome.stuck)}")
    for rid, (state, reason) in list(outcome.stuck.items())[:5]:
        print(f"  stuck {rid}: {state}: {reason}")
    return outcome


def test_the_faults_happened(faulty_run: Outcome) -> None:
    """Otherwise the other tests prove nothing: the proxy saw each message's end of DATA and misbehaved."""
    f = faulty_run.faults
    assert f["data-replies"] >= REPORTS, f"the proxy recognised only {f['data-replies']} ends of DATA: {dict(f)}"
    assert f["drop-after-data"] and f["delay-after-data"] and f["closed-periods"], dict(f)


def test_no_report_lost_and_duplicates_keep_their_message_id(faulty_run: Outcome) -> None:
    assert not faulty_run.lost, f"{len(faulty_run.lost)} (report, recipient) never delivered: {faulty_run.lost[:5]}"
    assert not faulty_run.new_identity, f"a copy with another Message-ID than the stored one: " \
                                        f"{faulty_run.new_identity[:5]}"
    assert not faulty_run.unexpected, f"mail to a recipient the report does not name: {faulty_run.unexpected[:5]}"
    assert faulty_run.inputs == REPORTS, f"{faulty_run.inputs} inputs stored for {REPORTS} sent"


def test_no_report_stuck(faulty_run: Outcome) -> None:
    assert not faulty_run.stuck, f"{len(faulty_run.stuck)} reports not delivered: " \
                                 f"{dict(list(faulty_run.stuck.items())[:5])}"

