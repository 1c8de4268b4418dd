"""SMTP faults injected one at a time (aiosmtpd with STARTTLS + client certificate), driven through the
service's own wiring (open_runtime → Pipeline.step). What the lab relies on:

- transient failures leave the report ``waiting`` with a reason and a next attempt in the future, retried
  with exponential backoff and jitter, bounded by retry.max_seconds;
- per recipient: a 4xx for one recipient leaves the others accepted and only that one pending;
- permanent failures (554) quarantine the report with the reason shown by `connector show`;
- one ``report.waiting`` log event per state change, not per retry;
- a cut after DATA is resent later with the same stored bytes (same Message-ID).
"""

from __future__ import annotations

import email
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from connector.ops.views import show_data
from connector.service.runtime import Runtime
from tests.ledger.oru import COPY_TO, PRESCRIBER, LedgerEntry, ledger
from tests.support.logs import json_log
from tests.support.runtime import force_due, report_row, smtp_runtime
from tests.support.smtp import Fault, SmtpServer

FIRST, MAX = 1.0, 4.0  # retry.first_seconds / max_seconds in these tests
JITTER = (0.8, 1.2)  # the pipeline's jitter band around each backoff delay


@pytest.fixture
def runtime(tmp_path: Path, smtp_server: SmtpServer) -> Iterator[Runtime]:
    rt = smtp_runtime(tmp_path, smtp_server, timeout=2.0, first_seconds=FIRST, max_seconds=MAX)
    yield rt
    rt.close()


def _entry(tag: str) -> LedgerEntry:
    return ledger(tag, 1)[0]  # index 0: prescriber + copy-to


async def _intake_and_build(runtime: Runtime, entry: LedgerEntry) -> None:
    runtime.pipeline.receive(entry.data, source=f"{entry.control_id}.hl7")
    row = runtime.store.report(entry.report_id)
    assert row is not None
    runtime.pipeline.build(row)


async def _send(runtime: Runtime, report_id: str) -> str:
    force_due(runtime, report_id)
    outcomes = {o.report_id: o.state.value for o in await runtime.pipeline.step()}
    await runtime.pipeline.close()
    return outcomes[report_id]


def _delay(runtime: Runtime, report_id: str) -> float:
    row = report_row(runtime, report_id)
    return (datetime.fromisoformat(row["next_attempt_at"]) - datetime.fromisoformat(row["updated_at"])).total_seconds()


def _recipients(runtime: Runtime, report_id: str) -> dict[str, str]:
    return {r.address: r.state.value for r in runtime.store.recipients(report_id)}


@pytest.mark.parametrize("fault", [Fault.GREETING_421, Fault.EHLO_421, Fault.DROP_AFTER_DATA, Fault.SLOW_DATA],
                         ids=lambda f: f.value)
async def test_transient_fault_waits_with_backoff_then_recovers(
    fault: Fault, smtp_server: SmtpServer, runtime: Runtime
) -> None:
    entry = _entry(fault.value.replace("-", "")[:6])
    await _intake_and_build(runtime, entry)
    smtp_server.inject(fault, delay=3.0)  # slow: past the 2 s client timeout
    with json_log() as log:
        delays = []
        for _ in range(4):
            assert await _send(runtime, entry.report_id) == "waiting"
            row = report_row(runtime, entry.report_id)
            assert row["reason"], "a waiting report must say why"
            assert datetime.fromisoformat(row["next_attempt_at"]) > datetime.fromisoformat(row["updated_at"])
            delays.append(_delay(runtime, entry.report_id))
    # exponential (1, 2, 4 s …) with jitter, capped at retry.max_seconds (plus jitter)
    ratios = []
    for attempt, delay in enumerate(delays):
        base = min(MAX, FIRST * 2 ** attempt)
        assert base * JITTER[0] - 0.05 <= delay <= base * JITTER[1] + 0.05, (attempt, delays)
        ratios.append(round(delay / base, 2))
    assert len(set(ratios)) > 1, f"no jitter: {delays}"  # four equal uniform(0.8, 1.2) draws: ~never
    assert len(log.events("report.waiting")) == 1, "one report.waiting per state change, not per retry"
    assert {e["report_id"] for e in log.events("report.waiting")} == {entry.report_id}
    assert _recipients(runtime, entry.report_id) == {PRESCRIBER: "pending", COPY_TO: "pending"}

    smtp_server.inject(Fault.NONE)
    assert await _send(runtime, entry.report_id) == "sent"
    assert _recipients(runtime, entry.report_id) == {PRESCRIBER: "accepted", COPY_TO: "accepted"}
    stored = runtime.store.email(entry.report_id)
    message_id = report_row(runtime, entry.report_id)["message_id"]
    for copy in smtp_server.handler.received:  # after a cut after DATA the operator holds two copies: identical
        assert copy.data.replace(b"\r\n", b"\n") == stored.replace(b"\r\n", b"\n")
        assert email.message_from_bytes(copy.data)["Message-ID"] == message_id
    assert len(smtp_server.handler.received) == (5 if fault is Fault.DROP_AFTER_DATA else 1)


@pytest.mark.parametrize("code", ["451 4.3.0 Try again later", "452 4.2.2 Mailbox full"])
async def test_temporary_refusal_of_one_recipient_keeps_the_others(code: str, smtp_server: SmtpServer,
                                                                   runtime: Runtime) -> None:
    entry = _entry("rcpt" + code[:3])
    await _intake_and_build(runtime, entry)
    smtp_server.handler.rcpt_replies = {COPY_TO: code}
    assert await _send(runtime, entry.report_id) == "waiting"
    assert _recipients(runtime, entry.report_id) == {PRESCRIBER: "accepted", COPY_TO: "pending"}
    assert await _send(runtime, entry.report_id) == "waiting"
    assert [d.rcpt_tos for d in smtp_server.handler.received] == [[PRESCRIBER]]  # the refused one got nothing
    assert code[:3] in report_row(runtime, entry.report_id)["reason"]

    smtp_server.inject(Fault.NONE)
    assert await _send(runtime, entry.report_id) == "sent"
    assert [d.rcpt_tos for d in smtp_server.handler.received] == [[PRESCRIBER], [COPY_TO]]  # only the pending one
    assert _recipients(runtime, entry.report_id) == {PRESCRIBER: "accepted", COPY_TO: "accepted"}
    first, second = (email.message_from_bytes(d.data)["Message-ID"] for d in smtp_server.handler.received)
    assert first == second == report_row(runtime, entry.report_id)["message_id"]


async def test_one_waiting_event_while_one_recipient_keeps_refusing(smtp_server: SmtpServer,
                                                                    runtime: Runtime) -> None:
    entry = _entry("rcpt1ev")
    await _intake_and_build(runtime, entry)
    smtp_server.handler.rcpt_replies = {COPY_TO: "452 4.2.2 Mailbox full"}
    with json_log() as log:
        for _ in range(3):
            assert await _send(runtime, entry.report_id) == "waiting"
    assert len(log.events("report.waiting")) == 1, [e["reason"] for e in log.events("report.waiting")]


async def test_554_at_data_quarantines_with_the_reason_shown(smtp_server: SmtpServer, runtime: Runtime) -> None:
    entry = _entry("q554")
    await _intake_and_build(runtime, entry)
    smtp_server.inject(Fault.DATA_554)
    assert await _send(runtime, entry.report_id) == "quarantined"
    shown = show_data(runtime.config, entry.report_id)
    assert shown is not None and shown["state"] == "quarantined"
    assert "554" in shown["reason"], shown["reason"]
    assert any(e["event"] == "report.quarantined" and "554" in e["detail"] for e in shown["events"])
    assert not await runtime.pipeline.step(), "a quarantined report is not retried on its own"


async def test_permanent_refusal_of_one_recipient_is_recorded(smtp_server: SmtpServer, runtime: Runtime) -> None:
    entry = _entry("p550")
    await _intake_and_build(runtime, entry)
    smtp_server.handler.rcpt_replies = {COPY_TO: "550 5.1.1 No such user"}
    assert await _send(runtime, entry.report_id) == "sent"
    recipients = {r.address: r for r in runtime.store.recipients(entry.report_id)}
    assert recipients[PRESCRIBER].state == "accepted"
    assert (recipients[COPY_TO].state, recipients[COPY_TO].code) == ("refused", "550")
    assert not await runtime.pipeline.step()


async def test_untrusted_server_certificate_waits(tmp_path: Path) -> None:
    """A TLS handshake failure (server cert from another CA) never sends; the report waits with the reason."""
    with SmtpServer(tmp_path, untrusted_server=True) as server:
        rt = smtp_runtime(tmp_path, server, timeout=2.0)
        try:
            entry = _entry("tlsbad")
            await _intake_and_build(rt, entry)
            assert await _send(rt, entry.report_id) == "waiting"
            assert "certificate" in report_row(rt, entry.report_id)["reason"]
            assert not server.handler.received
        finally:
            rt.close()
