"""The DMP step: one due ``dmp_feed`` row → the DMP transaction(s) it needs → its outcome, committed.

    TO_SEND ─► SENDING (committed first) ─► DmpClient.submit / delete ─► SENT | FAILED | TO_SEND again
    (a replacement waits in the store until the version it replaces has been fed)

The document is the CDA exactly as the doctors received it, read back from the stored e-mail
(``connector.package.cda_from_email``); its ids are the ones minted once in the store. What the
DMP's rules or indirect authentication forbid is REFUSED before anything is sent; a transient
failure waits with the pipeline's backoff and, past the retry window, ends FAILED with
``PFI_DMP_INJOIGNABLE``; a cause of ours (``stops_queue``: certificates, TLS) leaves the row
queued and tells the caller to pause the whole queue. A final outcome commits the ZAM^Z01 the
SIL asked for (MetaDMPMSS ACK_RECEPTION=Y) in the same transaction.

Blocking (HTTPS, signatures): the service runs it in a worker thread, one row at a time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from connector.dmp import (
    DmpAction,
    DmpClient,
    DmpDocument,
    DmpOutcome,
    DmpStatus,
    LocalCode,
    Z01Fields,
    dmp_requested,
    z01_requested,
)
from connector.errors import ConnectorError, DmpRefused
from connector.logs import event
from connector.model import LabReport
from connector.package import cda_from_email
from connector.states import DmpState
from connector.store import ReportRow, utcnow
from connector.store.dmp import DmpRow, Zam
from connector.track import build_zam

from .compose import cda_time
from .context import PipelineContext
from .loader import ReportLoader

__all__ = ["DmpStep", "DmpStepOutcome", "dmp_state", "not_eligible_z01"]


@dataclass(frozen=True, slots=True, kw_only=True)
class DmpStepOutcome:
    report_id: str
    state: DmpState
    code: str = ""
    pause: str = ""  # set: a cause of ours (certificates, TLS); the queue pauses with this reason


def dmp_state(report: LabReport, *, discrete_feed: bool) -> DmpState:
    """The DMP link a built report starts with: asked by the SIL (DESTDMP=Y, shape B) or, for discrete
    results, by the configuration; possible only with a qualified INS."""
    if dmp_requested(report, discrete_feed=discrete_feed):
        return DmpState.TO_SEND
    asked = bool(report.flags and report.flags.get("DESTDMP")) if report.documents else discrete_feed
    return DmpState.NOT_ELIGIBLE if asked else DmpState.NOT_ASKED


def z01(ctx: PipelineContext, report: LabReport, fields: Z01Fields) -> Zam | None:
    """The ZAM^Z01 for ``report`` (OBX-4 = the MSH-10 of the message that carried the document), when asked."""
    if not z01_requested(report):
        return None
    settings = ctx.settings
    name = f"{report.report_id}-Z01-{'Y' if fields.ok else 'N'}-{fields.error_code or 'ok'}"
    data = build_zam("Z01", original=report.header, recipient=None, ok=fields.ok, error_code=fields.error_code,
                     error_label=fields.error_label, sender_app=settings.sil.application,
                     sender_facility=settings.sil.facility, control_id=hashlib.sha256(name.encode()).hexdigest()[:20],
                     when=cda_time(datetime.now(UTC), settings.lab.timezone)[:14])
    return "Z01", name, data


def not_eligible_z01(ctx: PipelineContext, report: LabReport) -> Zam | None:
    """Committed with the build of a report the SIL addressed to the DMP with an identity it cannot take."""
    outcome = DmpOutcome.failed(LocalCode.INS_NOT_QUALIFIED)
    fields = outcome.z01()
    return z01(ctx, report, fields) if fields is not None else None


class DmpStep:
    def __init__(self, ctx: PipelineContext, loader: ReportLoader, client: DmpClient) -> None:
        self._ctx = ctx
        self._loader = loader
        self.client = client

    def __call__(self, row: DmpRow) -> DmpStepOutcome:
        try:
            return self._feed(row)
        except Exception as exc:  # noqa: BLE001 - a defect: this feed waits with backoff, the queue goes on
            event("pipeline.error", level=logging.ERROR, report_id=row.report_id, error=type(exc).__name__,
                  stage="dmp")
            # The window counts from now: a defect of ours is not the DMP's refusal, so it never ends FAILED
            # with a ZAM^Z01 N by itself; the backoff still grows with the attempts (up to retry.max_seconds).
            when = self._ctx.settings.retry.next_attempt(attempts=row.attempts + 1, received_at=utcnow()) or ""
            self._ctx.store.dmp_wait(row.report_id, code="PFI_ERREUR_INTERNE", next_attempt_at=when,
                                     reason=f"internal error ({type(exc).__name__}): report it to the connector's "
                                     "maintainers; tried again later")
            return DmpStepOutcome(report_id=row.report_id, state=DmpState.TO_SEND, code="PFI_ERREUR_INTERNE")

    def _feed(self, row: DmpRow) -> DmpStepOutcome:
        store, rid = self._ctx.store, row.report_id
        report_row = store.report(rid)
        if report_row is None:  # cannot happen (the feed row references it): said, never retried in a loop
            return DmpStepOutcome(report_id=rid, state=row.state)
        try:
            report = self._loader.load(report_row, self._ctx.settings.parse)
        except ConnectorError as exc:
            reason = f"report {rid}: its input cannot be read again ({type(exc).__name__}): nothing was sent to the DMP"
            return self._settle(row, None, DmpState.FAILED, DmpOutcome.failed(LocalCode.CDA_UNREADABLE), reason)
        if not store.email(rid):
            return self._await_rebuild(row)
        try:
            doc, action = self._document(row, report)
            doc.check_actions()  # what indirect authentication forbids (MODIF_CONF_CODE=Y)
            doc.ins_cx()
            _ = doc.unique_id, doc.replaced_unique_id  # root-only OIDs, as the DMP requires
        except DmpRefused as exc:
            return self._settle(row, report, DmpState.REFUSED, DmpOutcome.failed(exc.code or "PFI_REFUS"), str(exc))
        if not store.dmp_started(rid):  # settled meanwhile (another instance, an operator)
            return DmpStepOutcome(report_id=rid, state=row.state)
        try:
            outcome = self._transact(row, doc, action)
        except Exception as exc:  # noqa: BLE001 - a defect: retried with backoff (never every second), then given up
            event("pipeline.error", level=logging.ERROR, report_id=rid, error=type(exc).__name__)
            outcome = DmpOutcome.retry("PFI_DMP_INJOIGNABLE")
        return self._conclude(row, report_row, report, outcome)

    def _await_rebuild(self, row: DmpRow) -> DmpStepOutcome:
        """A feed still owed whose e-mail is gone: `connector retry` emptied it (retention keeps the e-mail of
        a feed still owed) and the report is being built again, its recipients resolved anew. The DMP gets the
        rebuilt CDA (same ids) once it is stored; meanwhile the feed waits, never refused for it."""
        when = self._ctx.settings.retry.next_attempt(attempts=row.attempts, received_at=utcnow()) or ""
        reason = "the report is being built again (connector retry): fed once its document is stored"
        unsure = row.state is DmpState.SENDING
        self._ctx.store.dmp_wait(row.report_id, code="", reason=reason, next_attempt_at=when, unsure=unsure)
        return DmpStepOutcome(report_id=row.report_id, state=row.state)

    # ------------------------------------------------------------------ the document and what to do with it

    def _document(self, row: DmpRow, report: LabReport) -> tuple[DmpDocument, DmpAction]:
        store, rid = self._ctx.store, row.report_id
        ids = store.document_ids(rid)
        email = store.email(rid)
        if ids is None or not email:
            raise DmpRefused(f"report {rid}: no stored document to feed (pruned, or never built)",
                             code=LocalCode.CDA_UNREADABLE)
        try:
            cda = cda_from_email(email, report_id=rid)
        except ConnectorError:
            raise DmpRefused(f"report {rid}: the stored e-mail holds no readable CDA",
                             code=LocalCode.CDA_UNREADABLE) from None
        doc = DmpDocument(cda=cda, report=report, ids=ids, lab=self._ctx.settings.lab)
        action = DmpAction(row.action)
        if action is DmpAction.REPLACE and not store.dmp_fed(row.replaces_id):
            # A new version of a series the DMP never got from us (the previous version was not addressed
            # to it, or failed): fed as a document of its own, without an RPLC to an entry that is not there.
            action, doc = DmpAction.FEED, dataclasses.replace(doc, ids=dataclasses.replace(ids, replaces=None))
        return doc, action

    def _transact(self, row: DmpRow, doc: DmpDocument, action: DmpAction) -> DmpOutcome:
        if action is DmpAction.DELETE:
            return self.client.delete(doc)  # TD3.1b first: a delete already done finds nothing, and succeeds
        if row.state is DmpState.SENDING:
            # The previous attempt was cut (a crash) after it may have reached the DMP: TD3.1b settles it first,
            # so a version is never in the DMP twice.
            found = self.client.find(doc)
            if not found.ok:
                return found
            if found.entry_uuids:
                event("dmp.recovered", report_id=row.report_id)
                return DmpOutcome(status=DmpStatus.SUCCESS, entry_uuids=found.entry_uuids, recovered=True)
        return self.client.submit(doc)

    # ------------------------------------------------------------------ outcomes

    def _conclude(self, row: DmpRow, report_row: ReportRow, report: LabReport, outcome: DmpOutcome) -> DmpStepOutcome:
        rid = row.report_id
        if outcome.stops_queue:
            reason = f"DMP queue paused: {outcome.label} ({outcome.code}); nothing is sent until it is fixed"
            self._ctx.store.dmp_wait(rid, code=outcome.code, reason=reason)
            return DmpStepOutcome(report_id=rid, state=DmpState.TO_SEND, code=outcome.code, pause=reason)
        if outcome.status is DmpStatus.SUCCESS:
            entry = outcome.entry_uuids[0] if outcome.entry_uuids else ""
            return self._settle(row, report, DmpState.SENT, outcome, "recovered by TD3.1b" if outcome.recovered else "",
                                entry_uuid=entry)
        if outcome.status is DmpStatus.RETRY:
            retry = self._ctx.settings.retry
            when = retry.next_attempt(attempts=row.attempts, received_at=report_row.received_at)
            if when is not None:
                reason = f"{outcome.label} ({outcome.code}): tried again later"
                self._ctx.store.dmp_wait(rid, code=outcome.code, reason=reason, next_attempt_at=when)
                event("dmp.waiting", level=logging.WARNING, report_id=rid, code=outcome.code, next_attempt_at=when)
                return DmpStepOutcome(report_id=rid, state=DmpState.TO_SEND, code=outcome.code)
            outcome = outcome.exhausted()
            return self._settle(row, report, DmpState.FAILED, outcome,
                                f"gave up after {retry.give_up_hours:g} h: {outcome.label}")
        return self._settle(row, report, DmpState.FAILED, outcome, f"the DMP refused it: {outcome.label}")

    def _settle(self, row: DmpRow, report: LabReport | None, state: DmpState, outcome: DmpOutcome, reason: str,
                *, entry_uuid: str = "") -> DmpStepOutcome:
        rid = row.report_id
        fields = outcome.z01()
        zam = z01(self._ctx, report, fields) if report is not None and fields is not None else None
        self._ctx.store.dmp_settle(rid, state=state, code=outcome.code, reason=reason, entry_uuid=entry_uuid, zam=zam)
        level = logging.INFO if state is DmpState.SENT else logging.WARNING
        event(f"dmp.{state.value}", level=level, report_id=rid, action=row.action, code=outcome.code,
              z01=zam is not None, reason=reason if state is DmpState.REFUSED else "")
        self._ctx.observer.dmp_outcome(row.action, state.value)
        return DmpStepOutcome(report_id=rid, state=state, code=outcome.code)
