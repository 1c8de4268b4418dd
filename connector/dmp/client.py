"""The entry point the pipeline calls: submit (new or replacement), delete, find — each to a DmpOutcome.

    submit(doc)   TD2.1; a document with ``ids.replaces`` is a replacement: TD3.1b finds the current
                  version's entryUUID, then TD2.1 with an RPLC association to it
    delete(doc)   TD3.1b, then TD3.3c (→ Deleted) on the entry found
    find(doc, …)  TD3.1b: the entryUUIDs of a uniqueId

Never two entries for one version: when no answer came back after a TD2.1 was fully sent,
TD3.1b asks whether it landed before anything is resent, and a resend that meets
``XDSDuplicateUniqueIdInRegistry`` is settled by TD3.1b too. Every transaction waits for
the structure's rate limiter. Blocking: the service runs it in a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from connector.errors import DmpRefused, DmpUnavailable
from connector.logs import event

from .document import DmpDocument, LocalCode
from .outcome import DmpOutcome, DmpStatus
from .ratelimit import RateLimiter, limiter_for
from .requests import DmpRequest, build_td21, build_td31b, build_td33c, new_message_id
from .responses import classify
from .settings import DmpCredentials, DmpSettings
from .soap import Service
from .transport import TlsRefused, Transport

__all__ = ["DmpClient"]

DUPLICATE = "XDSDuplicateUniqueIdInRegistry"


class DmpClient:
    def __init__(self, settings: DmpSettings, credentials: DmpCredentials, *, transport: Transport | None = None,
                 limiter: RateLimiter | None = None, clock: Callable[[], datetime] | None = None) -> None:
        self.settings = settings
        self.credentials = credentials
        self.transport = transport or Transport(settings)
        self.limiter = limiter or limiter_for(settings.structure_id, settings.transactions_per_second)
        self._clock = clock or (lambda: datetime.now(UTC))

    # ------------------------------------------------------------------ one exchange

    def _exchange(self, request: DmpRequest, *, report_id: str) -> DmpOutcome:
        """One POST. DmpUnavailable(sent=True) propagates: only the caller knows how to settle it."""
        url = self.settings.repository_url if request.service is Service.REPOSITORY else self.settings.registry_url
        self.limiter.acquire()
        try:
            answer = self.transport.post(url, request.content_type, request.body)
        except TlsRefused:
            event("dmp.tls_refused", report_id=report_id, action=request.action.value)
            return DmpOutcome.retry("PFI_TLS", stops_queue=True)
        except DmpUnavailable as exc:
            if exc.sent:
                raise
            return DmpOutcome.retry("PFI_DMP_INJOIGNABLE")
        outcome = classify(answer.status, answer.content_type, answer.body, message_id=request.message_id)
        event("dmp.answer", report_id=report_id, action=request.action.value, status=outcome.status.value,
              code=outcome.code, http_status=answer.status)
        return outcome

    # ------------------------------------------------------------------ TD3.1b

    def find(self, doc: DmpDocument, unique_id: str | None = None) -> DmpOutcome:
        """SUCCESS with the entryUUIDs (none when absent), or RETRY/FAILED. A lost answer is simply a RETRY."""
        try:
            request = build_td31b(doc, unique_id or doc.unique_id, settings=self.settings,
                                  credentials=self.credentials, now=self._clock(), message_id=new_message_id())
            return self._exchange(request, report_id=doc.report_id)
        except DmpRefused as exc:
            return DmpOutcome.failed(exc.code or "PFI_REFUS")
        except DmpUnavailable:
            return DmpOutcome.retry("PFI_DMP_INJOIGNABLE")

    # ------------------------------------------------------------------ TD2.1

    def submit(self, doc: DmpDocument) -> DmpOutcome:
        try:
            replaces_entry: str | None = None
            replaced = doc.replaced_unique_id
            doc.check_actions()
            if replaced is not None:
                found = self.find(doc, replaced)
                if not found.ok:
                    return found
                if not found.entry_uuids:
                    return DmpOutcome.failed(LocalCode.NOT_IN_DMP)
                replaces_entry = found.entry_uuids[0]
            return self._submit(doc, replaces_entry)
        except DmpRefused as exc:
            return DmpOutcome.failed(exc.code or "PFI_REFUS")

    def replace(self, doc: DmpDocument) -> DmpOutcome:
        """A new version (``doc.ids.replaces`` set): the same as :meth:`submit`, named for the caller's intent."""
        if doc.ids.replaces is None:
            raise ValueError("replace: the document identity names no replaced version")
        return self.submit(doc)

    def _submit(self, doc: DmpDocument, replaces_entry: str | None) -> DmpOutcome:
        for attempt in (1, 2):
            request = build_td21(doc, settings=self.settings, credentials=self.credentials, now=self._clock(),
                                 message_id=new_message_id(), replaces_entry=replaces_entry)
            try:
                outcome = self._exchange(request, report_id=doc.report_id)
            except DmpUnavailable:
                event("dmp.no_answer", report_id=doc.report_id, action=request.action.value, attempt=attempt)
                settled = self._landed(doc)
                if settled is not None:
                    return settled
                continue  # not there: send the same version again (same uniqueId)
            if outcome.code == DUPLICATE:
                settled = self._landed(doc)
                return settled if settled is not None else outcome
            return outcome
        return DmpOutcome.retry("PFI_DMP_INJOIGNABLE")

    def _landed(self, doc: DmpDocument) -> DmpOutcome | None:
        """After an unsure send: SUCCESS when TD3.1b finds the version, RETRY when it cannot tell, None if absent."""
        found = self.find(doc)
        if found.status is not DmpStatus.SUCCESS:
            return DmpOutcome.retry(found.code or "PFI_DMP_INJOIGNABLE", stops_queue=found.stops_queue)
        if found.entry_uuids:
            event("dmp.recovered", report_id=doc.report_id)
            return DmpOutcome(status=DmpStatus.SUCCESS, entry_uuids=found.entry_uuids, recovered=True)
        return None

    # ------------------------------------------------------------------ TD3.3c

    def delete(self, doc: DmpDocument) -> DmpOutcome:
        """Delete ``doc`` (its uniqueId) from the DMP. A document already absent counts as deleted."""
        try:
            for attempt in (1, 2):
                found = self.find(doc)
                if not found.ok or not found.entry_uuids:
                    return found  # absent (SUCCESS, nothing left to delete), or RETRY/FAILED
                request = build_td33c(doc, found.entry_uuids[0], settings=self.settings,
                                      credentials=self.credentials, now=self._clock(), message_id=new_message_id())
                try:
                    return self._exchange(request, report_id=doc.report_id)
                except DmpUnavailable:
                    event("dmp.no_answer", report_id=doc.report_id, action=request.action.value, attempt=attempt)
            return DmpOutcome.retry("PFI_DMP_INJOIGNABLE")
        except DmpRefused as exc:
            return DmpOutcome.failed(exc.code or "PFI_REFUS")

    def close(self) -> None:
        self.transport.close()
