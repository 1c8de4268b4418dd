"""End to end through a real operator: Postfix submission (STARTTLS + registered client certificate),
real DSNs and a real bounce read over IMAP (STARTTLS), MDNs injected on the operator's inbound port,
and the ZAM^Z02 / ZAM^Z03 the SIL receives in its folder.

One report goes to three recipients found in the directory extract tests/data/e2e/directory.txt:
the prescriber (dr.x@hopital.test), a copy-to doctor (dr.y@cabinet.test) and a copy-to whose mailbox
does not exist on the operator (inconnu@hopital.test: accepted at RCPT, then bounced by Postfix).
The simulator's mailboxes are shared by the session: MSH-10 is unique per run, so the Message-ID and
ENVID are too, and the store ignores every other test's acknowledgements.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from email.utils import make_msgid
from pathlib import Path

import pytest

from connector.config import (
    FolderConfig,
    ImapConfig,
    IntakeConfig,
    SilConfig,
    SmtpConfig,
    TlsFiles,
    demo_config,
)
from connector.demo.run import drain
from connector.send import import_directory
from connector.service.runtime import Runtime, open_runtime
from connector.service.tracking import deliver_outbox_once, read_acks_once
from tests.simulator.plugin import OperatorSim  # the fixture comes from the root conftest's plugin
from tests.support.mail import inject, mdn

pytestmark = pytest.mark.simulator

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "e2e"
PRESCRIBER, COPY, UNKNOWN = "dr.x@hopital.test", "dr.y@cabinet.test", "inconnu@hopital.test"
# DSNs come back in well under a second on loopback; the bound only stops a hung run.
ACK_TIMEOUT_SECONDS = 20.0
POLL_SECONDS = 0.2


def unique_oru(control_id: str) -> bytes:
    """The three-recipient ORU with a run-unique MSH-10 (hence report id, Message-ID, ENVID)."""
    return (DATA / "three_recipients.hl7").read_bytes().replace(b"E2E0001", control_id.encode())


def sim_config(sim: OperatorSim, tmp: Path):  # type: ignore[no-untyped-def]
    password = tmp / "imap.secret"
    password.write_text(sim.passwords[sim.lab_mailbox], encoding="utf-8")
    password.chmod(0o600)
    tls = TlsFiles(cafile=str(sim.pki.ca), certfile=str(sim.pki.client_cert), keyfile=str(sim.pki.client_key))
    (tmp / "zam").mkdir(mode=0o700)
    return demo_config(
        data_dir=str(tmp / "var"),
        smtp=SmtpConfig(host=sim.smtp_host, port=sim.submission_port, timeout=15, tls=tls),
        imap=ImapConfig(enabled=True, host=sim.imap_host, port=sim.imap_port, tls=tls, username=sim.lab_mailbox,
                        password_file=str(password), poll_seconds=0.5),
        sil=SilConfig(zam_folder=str(tmp / "zam")),
        intake=IntakeConfig(folder=FolderConfig(drop=str(tmp / "drop"), archive=str(tmp / "archive"),
                                                quarantine=str(tmp / "quarantine"), stable_seconds=0)),
    )


def states(runtime: Runtime, report_id: str) -> dict[str, dict[str, str]]:
    return {r.address.lower(): dataclasses.asdict(r) for r in runtime.store.recipients(report_id)}


def poll_acks(runtime: Runtime, report_id: str, done, what: str) -> dict[str, dict[str, str]]:  # type: ignore[no-untyped-def]
    """Read the lab mailbox until ``done(recipient states)``; fail naming what was missing."""
    deadline = time.monotonic() + ACK_TIMEOUT_SECONDS
    while True:
        read_acks_once(runtime)
        current = states(runtime, report_id)
        if done(current):
            return current
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: recipients after {ACK_TIMEOUT_SECONDS}s: "
                        f"{ {a: r['state'] for a, r in current.items()} }")
        time.sleep(POLL_SECONDS)


def segments(hl7: bytes) -> dict[str, list[list[str]]]:
    out: dict[str, list[list[str]]] = {}
    for line in hl7.decode("utf-8").split("\r"):
        if line:
            out.setdefault(line[:3], []).append(line.split("|"))
    return out


def zams(folder: Path, report_id: str, kind: str) -> list[dict[str, list[list[str]]]]:
    return [segments(p.read_bytes()) for p in sorted(folder.glob(f"{report_id}-{kind}-*.hl7"))]


def test_report_to_three_recipients_dsn_bounce_mdn_and_zams(operator_sim: OperatorSim,
                                                                    tmp_path: Path) -> None:
    sim = operator_sim
    config = sim_config(sim, tmp_path)
    config.directory_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    import_directory(DATA / "directory.txt", db_path=config.directory_path)
    control_id = "E2E" + uuid.uuid4().hex[:12].upper()
    runtime = open_runtime(config)
    try:
        receipt = runtime.pipeline.receive(unique_oru(control_id), source="three_recipients.hl7")
        assert len(receipt.reports) == 1 and not receipt.errors
        report_id = receipt.reports[0]
        asyncio.run(drain(runtime.pipeline))  # closes the SMTP client too
        row = runtime.store.report(report_id)
        assert row is not None and row.state.value == "sent", (row.state, row.reason) if row else None
        assert set(states(runtime, report_id)) == {PRESCRIBER, COPY, UNKNOWN}
        assert {r["kind"] for r in states(runtime, report_id).values()} == {"prescriber", "copy"}

        # 1. DSNs: two delivered (Postfix → Dovecot LMTP), one failed (a real bounce: the user does not exist).
        after_dsn = poll_acks(runtime, report_id, lambda s: all(r["state"] != "accepted" for r in s.values()),
                              "DSNs")
        assert after_dsn[PRESCRIBER]["state"] == "delivered"
        assert after_dsn[COPY]["state"] == "delivered"
        assert after_dsn[UNKNOWN]["state"] == "failed"
        assert after_dsn[UNKNOWN]["code"] == "5.1.1"  # the enhanced status, as docs and alert rules say
        assert runtime.store.report(report_id).state.value == "delivered"  # type: ignore[union-attr]

        # 2. MDNs on the plain inbound port, answering the Message-ID the store minted.
        message_id = runtime.store.report(report_id).message_id  # type: ignore[union-attr]
        assert message_id
        inject(sim, mdn(reader=PRESCRIBER, to=sim.lab_mailbox, original_message_id=message_id), sender=PRESCRIBER)
        inject(sim, mdn(reader=COPY, to=sim.lab_mailbox, original_message_id=message_id,
                        error="902^Identifiant patient inconnu^applicationErrorCondition"), sender=COPY)
        after_mdn = poll_acks(runtime, report_id,
                              lambda s: s[PRESCRIBER]["state"] == "processed" and s[COPY]["state"] == "error",
                              "MDNs")
        assert after_mdn[COPY]["code"] == "902"
        assert after_mdn[UNKNOWN]["state"] == "failed"  # an MDN for others does not touch the bounce
        assert runtime.store.report(report_id).state.value == "read"  # type: ignore[union-attr]

        # 3. ZAMs to the SIL's folder: Z02 per DSN, Z03 per MDN.
        assert deliver_outbox_once(runtime) == 5
        assert deliver_outbox_once(runtime) == 0  # written once
    finally:
        runtime.close()

    folder = tmp_path / "zam"
    z02, z03 = zams(folder, report_id, "Z02"), zams(folder, report_id, "Z03")
    assert len(z02) == 3 and len(z03) == 2, sorted(p.name for p in folder.iterdir())
    for zam in z02 + z03:
        msh = zam["MSH"][0]
        assert msh[8].startswith("ZAM^Z0") and msh[4] == "SIL" and msh[11] == "2.6"
        assert msh[20] == "2.1^CISIS_CDA_HL7_V2"  # MSH-21: the CI-SIS profile
        for err in zam.get("ERR", []):  # ERR|||207^Application internal error^messageErrorCondition|E|code^label^system
            assert err[3].startswith("207^") and err[4] == "E"
        assert zam["OBX"][0][4] == control_id  # OBX-4: the ORU's MSH-10

    def by_address(found: list[dict[str, list[list[str]]]]) -> dict[str, dict[str, list[list[str]]]]:
        return {z["OBX"][1][5].split("^")[3]: z for z in found}

    delivered = by_address(z02)
    assert set(delivered) == {PRESCRIBER, COPY, UNKNOWN}
    for address in (PRESCRIBER, COPY):
        zam = delivered[address]
        assert zam["OBX"][0][3].startswith("ACK_RECEPTION_MSS") and zam["OBX"][0][5].startswith("Y^")
        assert zam["OBX"][1][3].startswith("DESTINATAIRE_MSS")
        assert "ERR" not in zam
    bounce = delivered[UNKNOWN]
    assert bounce["OBX"][0][5].startswith("N^")
    assert bounce["OBX"][1][4] == "810000000103"  # OBX-4: the recipient's IDNPS
    err5 = bounce["ERR"][0][5].split("^")
    assert err5[0] == "550" and err5[2] == "SMTPERRORCODE"

    read = by_address(z03)
    assert set(read) == {PRESCRIBER, COPY}
    assert read[PRESCRIBER]["OBX"][0][3].startswith("ACK_LECTURE_MSS")
    assert read[PRESCRIBER]["OBX"][0][5].startswith("Y^") and "ERR" not in read[PRESCRIBER]
    assert read[COPY]["OBX"][1][3].startswith("LECTEUR_MSS")
    assert read[COPY]["OBX"][0][5].startswith("N^")
    err5 = read[COPY]["ERR"][0][5].split("^")
    assert err5[0] == "902" and err5[2] == "applicationErrorCondition"
    for path in folder.iterdir():
        assert path.stat().st_mode & 0o777 == 0o640, path.name  # sil.zam_file_mode: the SIL reads through the group


def late_dsn(sim: OperatorSim, *, envid: str, recipient: str, action: str, status: str) -> bytes:
    """A DSN shaped like tests/data/mail/dsn_delayed.eml, for a mail already acknowledged further."""
    boundary = "late-" + uuid.uuid4().hex
    return (
        f"From: MAILER-DAEMON@mss.test (Mail Delivery System)\r\nTo: {sim.lab_mailbox}\r\n"
        f"Subject: Delayed Mail (still being retried)\r\nMessage-ID: {make_msgid(domain='mail.mss.test')}\r\n"
        "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: multipart/report; report-type=delivery-status; boundary=\"{boundary}\"\r\n\r\n"
        f"--{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        "This is the mail system at host mail.mss.test.\r\n\r\n"
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; mail.mss.test\r\nOriginal-Envelope-Id: {envid}\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nOriginal-Recipient: rfc822;{recipient}\r\n"
        f"Action: {action}\r\nStatus: {status}\r\n"
        "Diagnostic-Code: X-Postfix; connect to relay: Connection timed out\r\n\r\n"
        f"--{boundary}--\r\n"
    ).encode("ascii")


def test_a_late_dsn_does_not_move_a_read_recipient_back(operator_sim: OperatorSim, tmp_path: Path) -> None:
    """Acks can arrive out of order (a relay's delayed DSN after the reader's MDN): a recipient that has
    integrated the document stays `processed`; a later, weaker ack must not overwrite it."""
    sim = operator_sim
    config = sim_config(sim, tmp_path)
    config.directory_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    import_directory(DATA / "directory.txt", db_path=config.directory_path)
    runtime = open_runtime(config)
    try:
        report_id = runtime.pipeline.receive(unique_oru("LATE" + uuid.uuid4().hex[:10].upper()),
                                             source="three_recipients.hl7").reports[0]
        asyncio.run(drain(runtime.pipeline))  # closes the SMTP client too
        poll_acks(runtime, report_id, lambda s: all(r["state"] != "accepted" for r in s.values()), "DSNs")
        row = runtime.store.report(report_id)
        assert row is not None and row.message_id and row.envid
        inject(sim, mdn(reader=PRESCRIBER, to=sim.lab_mailbox, original_message_id=row.message_id),
               sender=PRESCRIBER)
        poll_acks(runtime, report_id, lambda s: s[PRESCRIBER]["state"] == "processed", "the MDN")

        late = late_dsn(sim, envid=row.envid, recipient=PRESCRIBER, action="delayed", status="4.4.1")
        marker = late.split(b"boundary=")[1].split(b"\r\n")[0].strip(b'"')
        inject(sim, late)
        sim.wait_for_messages(sim.lab_mailbox, 1, match=lambda raw: marker in raw)  # in the INBOX
        deadline = time.monotonic() + ACK_TIMEOUT_SECONDS
        while any(marker in raw for raw in sim.read_maildir(sim.lab_mailbox)):  # until read and filed away
            assert time.monotonic() < deadline, "the late DSN was never read"
            read_acks_once(runtime)
            time.sleep(POLL_SECONDS)
        assert states(runtime, report_id)[PRESCRIBER]["state"] == "processed", (
            "a delayed DSN read after the MDN moved the recipient back from processed")
    finally:
        runtime.close()
