"""The DMP ledger (issue 15 item 6): DMP-bound reports through the real service, SIGKILLed at random moments.

The service (``python -m connector run``) takes reports by drop folder and MLLP, sends them over SMTP (an
in-process aiosmtpd with STARTTLS and a client certificate) and feeds the DMP test double over loopback
mTLS (tests/dmp/README.md). The inputs come in three waves, as a SIL sends them: first versions (the SIL's
own CDAs, shape B, and discrete results, shape A), then new versions (RPLC), then deletions (OBX-11 D).
Meanwhile the double injects the errors of dmp.md §6 (busy, a 503, no answer after the body, the body
lost) and one patient's DMP is closed; the service is killed ``KILLS`` times, targeted at DMP
transactions in flight for half of them, and restarted each time.

At the end, from the double's entries and the SIL's ZAM folder (not from the connector's word):
- every version addressed to the DMP is there exactly once (never twice, whatever the kills and the
  unanswered requests), current, deprecated by its replacement, or deleted;
- the closed patient's documents failed with their ZAM^Z01 ``N`` DMPClosed; every shape-B report fed has
  its one ZAM^Z01 ``Y``, each answering the MSH-10 of the message that carried the document;
- nothing stuck: no feed still owed, every report accepted by the SMTP server, one accepting ACK per MLLP
  message.

Tunable: DMP_LEDGER_SEED, DMP_LEDGER_KILLS.
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.dmp import make_demo_pki
from tests.dmp.double import APPROVED, DELETED, DEPRECATED, DmpDouble, Fault
from tests.dmp.support import write_pki
from tests.ledger.dmp_oru import DmpMessage, discrete, embedded, ins_cx, sil_cda
from tests.ledger.sil import SilSender, ack_code
from tests.support.ports import free_port
from tests.support.service import ServiceProcess, Site, wait_for, write_site
from tests.support.smtp import SmtpServer

SEED = int(os.environ.get("DMP_LEDGER_SEED", "20261215"))
KILLS = int(os.environ.get("DMP_LEDGER_KILLS", "10"))
SIL_SERIES, DISCRETE_SERIES = 22, 14  # shape-B series (first versions), shape-A series
CLOSED_PATIENT = 99  # whose DMP is closed: two shape-B documents
UPTIME_SECONDS = (0.5, 3.0)
TARGET_WAIT_SECONDS = 3.0  # a targeted kill waits this long at most for a DMP transaction in flight
DOWN_SECONDS = (0.0, 0.3)
WAVE_TIMEOUT_SECONDS = 90.0
DRAIN_TIMEOUT_SECONDS = 90.0
FAULTS = (Fault.BUSY, Fault.HTTP_503, Fault.TIMEOUT_AFTER_BODY, Fault.LOST_AFTER_BODY)
ITI41 = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
PENDING = ("to_send", "sending")


def waves(tag: str) -> list[list[DmpMessage]]:
    """First versions, new versions, deletions: 68 reports addressed to the DMP."""
    first: list[DmpMessage] = []
    second: list[DmpMessage] = []
    third: list[DmpMessage] = []
    n = 0

    def add(wave: list[DmpMessage], shape: str, status: str, series: int, version: int, patient: int) -> None:
        nonlocal n
        control = f"D{tag}{n:04d}"
        if shape == "A":
            data = discrete(control, patient=patient, series=series, version=version)
        else:
            cda = sil_cda(patient=patient, series=series, version=version)
            data = embedded(control, cda, patient=patient, series=series, status=status)
        wave.append(DmpMessage(control, "file" if n % 2 == 0 else "mllp", shape, status, series, version, patient,
                               data))
        n += 1

    series_base = int(tag, 16) % 100_000 * 100  # the SIL's ids and order numbers differ from run to run
    for s in range(SIL_SERIES):
        add(first, "B", "F", series_base + s, 1, s)
        last = 1
        if s % 3 != 0:
            add(second, "B", "C", series_base + s, 2, s)
            last = 2
        if s % 4 == 1:
            add(third, "B", "D", series_base + s, last, s)
    for s in (SIL_SERIES, SIL_SERIES + 1):
        add(first, "B", "F", series_base + s, 1, CLOSED_PATIENT)
    for s in range(DISCRETE_SERIES):
        add(first, "A", "F", series_base + 50 + s, 1, 100 + s)
        if s % 7 not in (3, 5):
            add(second, "A", "C", series_base + 50 + s, 2, 100 + s)
    return [first, second, third]


@pytest.fixture
def dmp_site(tmp_path: Path, shared_ref: Path) -> Iterator[tuple[Site, DmpDouble, SmtpServer, int]]:
    ref = shared_ref / "dmp"
    if not (ref / "wsdl-schema").is_dir() or not (ref / "examples").is_dir():
        pytest.skip(f"the DMP reference artefacts are absent ({ref})")
    pki = make_demo_pki(structure_id="1999999999", structure_name="Laboratoire de démonstration")
    other = make_demo_pki(structure_id="1000000000", structure_name="Autre structure")
    mllp_port = free_port()
    for folder in ("site", "smtp"):
        (tmp_path / folder).mkdir(mode=0o700)
    site = write_site(tmp_path / "site", None, mllp_port=mllp_port, metrics=False, retry_first_seconds=1.0,
                      retry_max_seconds=4.0)
    with SmtpServer(tmp_path / "smtp") as smtp, \
            DmpDouble(ca=pki.ca.cert, server_cert_pem=pki.server.cert_pem, server_key_pem=pki.server.key_pem,
                      scratch=tmp_path / "double", ref=ref, untrusted_cert_pem=other.server.cert_pem,
                      untrusted_key_pem=other.server.key_pem, answer_delay=1.6) as double:
        site.configure(
            smtp={"host": "127.0.0.1", "port": smtp.port, "timeout": 10,
                  "tls": {"cafile": str(smtp.pki.ca), "certfile": str(smtp.pki.client)}},
            dmp={"enabled": True, "discrete_feed": True, "base_url": double.base_url,
                 "homologation_number": "TEST-HOMOLOGATION", "read_timeout": 1.0, "connect_timeout": 2.0,
                 **write_pki(pki, tmp_path / "dmp-pki")})
        yield site, double, smtp, mllp_port


def test_every_version_reaches_the_dmp_once_or_fails_with_its_z01(
        dmp_site: tuple[Site, DmpDouble, SmtpServer, int]) -> None:
    site, double, smtp, mllp_port = dmp_site
    rng = random.Random(SEED)
    plan = waves(uuid.uuid4().hex[:6])
    messages = [m for wave in plan for m in wave]
    double.closed_patients.add(ins_cx(CLOSED_PATIENT))
    sil = SilSender("127.0.0.1", mllp_port)
    stop = threading.Event()
    fed_waves: list[float] = []

    def feed() -> None:
        for wave in plan:
            for message in wave:
                if stop.is_set():
                    return
                if message.channel == "file":
                    site.drop_file(message.file_name, message.data)
                else:
                    sil.send_until_accepted(message.control_id, message.data, stop)
            ids = {m.report_id for m in wave}
            while not stop.is_set() and not ids <= set(site.reports()):  # the SIL's next wave follows this one
                time.sleep(0.2)
            fed_waves.append(time.monotonic())

    started = time.monotonic()
    in_flight = 0  # kills that landed while a DMP transaction was under way
    with ServiceProcess(site) as service:
        service.start()
        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        try:
            for kill in range(KILLS):
                double.inject(rng.choice(FAULTS), action=ITI41 if rng.random() < 0.5 else "")
                if kill % 2:
                    deadline = time.monotonic() + TARGET_WAIT_SECONDS
                    while not _sending(site) and time.monotonic() < deadline:
                        time.sleep(0.02)
                    time.sleep(rng.uniform(0, 0.1))
                else:
                    time.sleep(rng.uniform(*UPTIME_SECONDS))
                in_flight += _sending(site)
                service.kill()
                time.sleep(rng.uniform(*DOWN_SECONDS))
                service.start(wait=rng.random() > 0.2)
            kill_phase = time.monotonic() - started
            feeder.join(WAVE_TIMEOUT_SECONDS)
            assert not feeder.is_alive(), "the SIL could not hand over every input"
            service.wait_started()
            wait_for(lambda: _settled(site, messages), timeout=DRAIN_TIMEOUT_SECONDS,
                     what="every DMP feed settled, every ZAM handed over, every report accepted by SMTP")
        finally:
            stop.set()
            sil.close()
            if service.proc is not None and service.proc.poll() is None:
                assert service.stop(15.0) == 0
    elapsed = time.monotonic() - started

    # ---- the ledger, from the double's entries and the ZAM folder
    feeds = {r[0]: r[1:] for r in site.query("SELECT report_id, state, code, unique_id, action FROM dmp_feed")}
    expected: dict[str, str] = {}  # uniqueId → the status it must end with in the DMP
    closed: list[DmpMessage] = []
    for m in messages:
        state, code, unique_id, action = feeds[m.report_id]
        if m.patient == CLOSED_PATIENT:
            closed.append(m)
            assert (state, code) == ("failed", "DMPClosed"), (m.report_id, state, code)
            continue
        assert state == "sent", (m.report_id, m.shape, m.status, state, code)
        if m.shape == "B":
            assert unique_id == m.unique_id
        if m.status == "D":
            expected[unique_id] = DELETED
        else:
            expected.setdefault(unique_id, APPROVED)
            if action == "replace":  # messages are in wave order: a replaced version is never deleted after
                expected[_replaced(site, m.report_id)] = DEPRECATED
    entries = {uid: [e.status for e in double.by_unique_id(uid)] for uid in expected}
    twice = {uid: s for uid, s in entries.items() if len(s) != 1}
    wrong = {uid: (s, expected[uid]) for uid, s in entries.items() if s != [expected[uid]]}
    stray = [e.unique_id for e in double.entries.values() if e.unique_id not in expected]
    z01 = Counter(p.name.split("-Z01-")[0] for p in site.zam.glob("*-Z01-*.hl7"))
    z01_n = {p.name.split("-Z01-")[0]: p.read_bytes() for p in site.zam.glob("*-Z01-N-*.hl7")}
    shape_b = [m for m in messages if m.shape == "B"]
    z01_missing = [m.report_id for m in shape_b if z01[m.report_id] != 1]
    z01_wrong = [m.report_id for m in shape_b if not _answers(site, m)]
    reports = site.reports()
    not_sent = {rid: s for rid, s in reports.items() if s != "sent"}
    mailed = {r.data.split(b"Message-ID: ", 1)[1].split(b"\r\n", 1)[0].decode() for r in smtp.handler.received}
    not_mailed = [rid for rid, mid in site.query("SELECT report_id, message_id FROM reports") if mid not in mailed]
    mllp = [m for m in messages if m.channel == "mllp"]
    bad_acks = {m.control_id: len(a) for m in mllp
                if len(a := [x for x in sil.acks.get(m.control_id, []) if ack_code(x) in ("AA", "CA")]) != 1}
    refusals = Counter(r.refused for r in double.received if r.refused)
    recovered = sum(1 for run in range(service.runs) for e in service.events(run) if e.get("event") == "dmp.recovered")

    print(f"\nDMP ledger: {len(messages)} reports addressed to the DMP ({len(shape_b)} shape B, "
          f"{len(messages) - len(shape_b)} shape A), {service.runs - 1} SIGKILLs (seed {SEED}), "
          f"{len(double.received)} DMP requests, kill phase {kill_phase:.0f}s, whole run {elapsed:.0f}s")
    print(f"killed during a DMP transaction: {in_flight}; settled by TD3.1b after an unsure send: {recovered}; "
          f"DMP refusals: {dict(refusals)}")
    print(f"in the DMP: {len(double.entries)} entries for {len(expected)} versions; twice: {len(twice)}")

    assert len(messages) >= 60 and service.runs - 1 >= KILLS
    assert in_flight >= 1, "no SIGKILL landed during a DMP transaction: the crash window was not exercised"
    assert not twice, f"versions not in the DMP exactly once: {dict(list(twice.items())[:5])}"
    assert not wrong, f"versions in the wrong state: {dict(list(wrong.items())[:5])}"
    assert not stray, f"entries nobody asked for: {stray[:5]}"
    assert len(closed) == 2 and all(b"DMPClosed^" in z01_n.get(m.report_id, b"") for m in closed)
    assert not z01_missing, f"shape-B reports without exactly one ZAM^Z01: {z01_missing[:5]}"
    assert not z01_wrong, f"ZAM^Z01 not answering the document's message (OBX-4 = MSH-10): {z01_wrong[:5]}"
    assert not [r for r, (s, *_) in feeds.items() if s in PENDING], "DMP feeds still owed"
    assert len(reports) == len(messages) and not not_sent, f"reports not sent: {dict(list(not_sent.items())[:5])}"
    assert not not_mailed, f"reports the SMTP server never received: {not_mailed[:5]}"
    assert not bad_acks, f"MLLP messages without exactly one accepting ACK: {dict(list(bad_acks.items())[:5])}"
    assert not list(site.quarantine.iterdir()), "inputs quarantined"


def _sending(site: Site) -> bool:
    return bool(site.query("SELECT 1 FROM dmp_feed WHERE state = 'sending' LIMIT 1"))


def _settled(site: Site, messages: list[DmpMessage]) -> bool:
    states = site.reports()
    if len(states) < len(messages) or any(s != "sent" for s in states.values()):
        return False
    feeds = site.query("SELECT count(*) FROM dmp_feed WHERE state NOT IN ('to_send', 'sending')")
    owed = site.query("SELECT count(*) FROM outbox WHERE sent = 0")  # the ZAMs handed to the SIL too
    return bool(feeds) and feeds[0][0] == len(messages) and owed[0][0] == 0


def _replaced(site: Site, report_id: str) -> str:
    return str(site.query("SELECT replaces_id FROM dmp_feed WHERE report_id = ?", (report_id,))[0][0])


def _answers(site: Site, message: DmpMessage) -> bool:
    """The report's ZAM^Z01 (Y or N) has OBX-4 = the MSH-10 of the message that carried the document."""
    for path in site.zam.glob(f"{message.report_id}-Z01-*.hl7"):
        obx = next(s for s in path.read_bytes().decode().split("\r") if s.startswith("OBX|"))
        if obx.split("|")[4] != message.control_id:
            return False
    return True
