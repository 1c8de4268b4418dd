"""`connector retry` after the directory was corrected: the report goes to the new addresses, not the dead
ones, the doctors who already have it are not sent it twice, and the Message-ID stays (issue 14)."""

from __future__ import annotations

from pathlib import Path

from connector.send import import_directory
from connector.states import RecipientState, ReportState
from tests.ledger.oru import COPY_TO, PRESCRIBER, ledger
from tests.support.paths import DIRECTORY
from tests.support.runtime import force_due, smtp_runtime
from tests.support.smtp import SmtpServer

NEW_COPY_TO = "dr.y.nouveau@cabinet.test"


async def _step(runtime) -> None:  # type: ignore[no-untyped-def]
    for _ in range(5):
        if not await runtime.pipeline.step():
            break
    await runtime.pipeline.close()


async def test_retry_resolves_recipients_again(tmp_path: Path, smtp_server: SmtpServer) -> None:
    runtime = smtp_runtime(tmp_path, smtp_server)
    try:
        entry = ledger("RETRY", 1)[0]  # prescriber + copy-to
        runtime.pipeline.receive(entry.data, source="retry.hl7")
        await _step(runtime)
        first = runtime.store.report(entry.report_id)
        assert first is not None and first.state is ReportState.SENT
        # The prescriber's mailbox bounces, the copy-to doctor's too: nobody received it.
        for address in (PRESCRIBER, COPY_TO):
            runtime.store.apply_ack(entry.report_id, address=address, state=RecipientState.FAILED, code="5.1.1",
                                    detail="")
        assert runtime.store.report(entry.report_id).state is ReportState.QUARANTINED  # type: ignore[union-attr]
        # The directory is corrected for the copy-to doctor (the prescriber's entry is unchanged).
        corrected = tmp_path / "directory.txt"
        corrected.write_text(DIRECTORY.read_text(encoding="utf-8").replace(COPY_TO, NEW_COPY_TO), encoding="utf-8")
        import_directory(corrected, db_path=runtime.config.directory_path)

        sent_before = len(smtp_server.handler.received)
        assert runtime.store.retry(entry.report_id)
        force_due(runtime, entry.report_id)
        await _step(runtime)
        after = runtime.store.report(entry.report_id)
        assert after is not None and after.state is ReportState.SENT
        assert after.message_id == first.message_id and after.envid == first.envid  # acks still find it
        (resend,) = smtp_server.handler.received[sent_before:]
        assert sorted(resend.rcpt_tos) == sorted([PRESCRIBER, NEW_COPY_TO])  # never the dead COPY_TO again
        states = {r.address: r.state for r in runtime.store.recipients(entry.report_id)}
        assert states == {PRESCRIBER: RecipientState.ACCEPTED, NEW_COPY_TO: RecipientState.ACCEPTED}
    finally:
        runtime.close()


async def test_retry_does_not_send_twice_to_who_already_has_it(tmp_path: Path, smtp_server: SmtpServer) -> None:
    runtime = smtp_runtime(tmp_path, smtp_server)
    try:
        entry = ledger("RETRY2", 1)[0]
        smtp_server.handler.rcpt_replies = {COPY_TO: "450 4.2.1 Mailbox busy"}
        runtime.pipeline.receive(entry.data, source="retry2.hl7")
        await _step(runtime)
        assert runtime.store.report(entry.report_id).state is ReportState.WAITING  # type: ignore[union-attr]
        runtime.store.apply_ack(entry.report_id, address=PRESCRIBER, state=RecipientState.DELIVERED, code="2.0.0",
                                detail="")
        smtp_server.handler.reset()
        sent_before = len(smtp_server.handler.received)
        assert runtime.store.retry(entry.report_id)
        force_due(runtime, entry.report_id)
        await _step(runtime)
        (resend,) = smtp_server.handler.received[sent_before:]
        assert resend.rcpt_tos == [COPY_TO]  # the prescriber had it already
    finally:
        runtime.close()
