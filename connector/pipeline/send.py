"""The send step: the stored e-mail goes to the operator over SMTP; its outcome is committed right after.

Only the stored bytes are ever sent (the same Message-ID on every try). Each recipient's answer
is recorded per recipient: accepted, refused for good, or deferred (4xx: tried again later).
"""

from __future__ import annotations

import logging
import ssl

from connector.errors import SmtpRejected, SmtpTemporaryError
from connector.logs import event
from connector.send import SmtpClient, SmtpSettings, submit
from connector.states import RecipientState, ReportState
from connector.store import ReportRow, age_seconds

from .context import PipelineContext

__all__ = ["SendStep"]


class SendStep:
    def __init__(self, ctx: PipelineContext, *, smtp: SmtpSettings | None, context: ssl.SSLContext | None) -> None:
        self._ctx = ctx
        self._smtp = smtp
        self._context = context
        self._client: SmtpClient | None = None

    async def __call__(self, row: ReportRow) -> ReportState:
        ctx, report_id = self._ctx, row.report_id
        store = ctx.store
        if self._smtp is None or self._context is None:
            return ctx.wait(row, "no SMTP server configured")
        email = store.email(report_id) or b""
        pending = [r.address for r in store.recipients(report_id) if r.state is RecipientState.PENDING]
        if not pending:
            # Nothing left to send: every recipient was accepted (an ack may even have come in while
            # the report waited after a lost reply), refused or failed. Their states decide.
            state = store.settle(report_id)
            if state is ReportState.QUARANTINED:
                event("report.quarantined", level=logging.WARNING, report_id=report_id,
                      reason="no recipient left to send to")
            return state
        store.mark_sending(report_id)
        event("report.sending", report_id=report_id, recipients=len(pending), attempt=row.attempts + 1)
        if self._client is None:
            self._client = SmtpClient(self._smtp, self._context)
        try:
            result = await submit(email, sender=ctx.settings.lab.mailbox, recipients=pending,
                                  envid=row.envid if row.dsn else "",  # "": no DSN asked (ACK_RECEPTION=N)
                                  settings=self._smtp, context=self._context, client=self._client)
        except SmtpTemporaryError as exc:
            self._count_error("temporary", exc.code)
            event("smtp.error", level=logging.WARNING, report_id=report_id, code=exc.code, reason=str(exc))
            return ctx.wait(row, f"SMTP temporary failure: {exc}")
        except SmtpRejected as exc:
            self._count_error("rejected", exc.code)
            store.quarantine(report_id, reason=f"SMTP refused the message ({exc.code}): {exc}")
            event("report.quarantined", level=logging.WARNING, report_id=report_id, code=exc.code)
            return ReportState.QUARANTINED
        except ValueError as exc:  # aiosmtplib refuses an address with CR/LF or no domain: permanent
            return ctx.quarantine(report_id, "an envelope address was refused before sending "
                                  f"({type(exc).__name__}): check the directory")
        except Exception as exc:  # noqa: BLE001 - a defect: retried with backoff (never every second), then given up
            event("pipeline.error", level=logging.ERROR, report_id=report_id, error=type(exc).__name__)
            return ctx.wait(row, f"internal error ({type(exc).__name__}) while sending")
        temporary = {a: v for a, v in result.refused.items() if 400 <= v[0] < 500}
        permanent = {a: v for a, v in result.refused.items() if a not in temporary}
        retry = None
        if temporary:
            reason = f"{len(temporary)} recipient(s) temporarily refused ({sorted({v[0] for v in temporary.values()})})"
            when = ctx.settings.retry.next_attempt(attempts=row.attempts, received_at=row.received_at)
            if when is None:  # the retry window is over: those refusals are final
                permanent, temporary = {**permanent, **temporary}, {}
            else:
                retry = (reason, when)
        state = store.mark_sent(report_id, accepted=result.accepted, refused=permanent, reply=result.reply,
                                temporary=temporary, retry=retry)
        if result.accepted:
            ctx.observer.milestone("sent", age_seconds(row.received_at))
        level = logging.WARNING if state in (ReportState.WAITING, ReportState.QUARANTINED) else logging.INFO
        if state is not ReportState.WAITING or row.state is not ReportState.WAITING:  # one event per change
            event(f"report.{state.value}", level=level, report_id=report_id, accepted=len(result.accepted),
                  refused=len(permanent), deferred=len(temporary), reply=result.reply[:80])
        return state

    def _count_error(self, kind: str, code: int | None) -> None:
        self._ctx.observer.smtp_error(f"{kind}_{code // 100}xx" if code else kind)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
