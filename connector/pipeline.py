"""The stages in order, driven by the store: each step reads a committed state, does its
work, and commits the next state in one transaction.

    receive ─► split/parse ─► build (map, PDF, CDA, XDM, e-mail) ─► send ─► acknowledgements ─► ZAM
    RECEIVED    PARSED          BUILT                                SENDING/SENT  DELIVERED/READ

A crash anywhere leaves the last committed state; :meth:`Pipeline.recover` and the
normal loop pick up from there. The e-mail is built once and stored, so a resend after a
crash repeats the same bytes and the same Message-ID.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from connector.build import build_artifacts, cda_time, corrects, series_key
from connector.cda import XsdValidator
from connector.config import Config
from connector.embedded import check_embedded
from connector.errors import (
    InputError,
    NoAddressYet,
    PermanentError,
    SmtpRejected,
    SmtpTemporaryError,
    TransientError,
    UnmappedCode,
)
from connector.intake import Receipt
from connector.logs import event
from connector.mapping import Mappings, MappingSettings
from connector.metrics import Metrics
from connector.model import LabReport
from connector.package import MessageSettings
from connector.parse import ParseSettings, parse_message, split_messages
from connector.pipeline_acks import AckSteps
from connector.send import Directory, RoutingSettings, SmtpClient, SmtpSettings, recipients_for, submit
from connector.states import RecipientState, ReportState
from connector.store import NewReport, ReportRow, Store, age_seconds, utcnow

__all__ = ["Pipeline", "StepOutcome"]

# Reports parsed at intake and not built yet that stay in memory: a burst of this many is built
# without reparsing; beyond it (a backlog) the oldest are reparsed from the store when their turn comes.
PARSED_CACHE_SIZE = 256


@dataclass(frozen=True, slots=True)
class StepOutcome:
    report_id: str
    state: ReportState


class Pipeline(AckSteps):
    """Implements the intake's Sink and moves reports forward; one instance per service."""

    def __init__(
        self,
        *,
        config: Config,
        store: Store,
        mappings: Callable[[], Mappings],
        directory: Callable[[], Directory | None],
        xsd: XsdValidator | None,
        smtp: SmtpSettings | None = None,
        smtp_context: ssl.SSLContext | None = None,
        schematron: Callable[[bytes], list[str]] | None = None,
    ) -> None:
        self.store = store
        self._mappings = mappings
        self._directory = directory
        self.xsd = xsd
        self.smtp = smtp
        self.smtp_context = smtp_context
        self._schematron = schematron
        self._client: SmtpClient | None = None
        self.metrics: Metrics | None = None  # set by the service; None in offline use
        # Reports parsed at intake, kept for the build that usually follows at once (saves a reparse).
        # Only a cache: the store's input bytes stay the source of truth, e.g. after a restart.
        self._parsed: OrderedDict[str, LabReport] = OrderedDict()
        self._parsed_lock = threading.Lock()  # intake threads add, the build thread takes
        self.reconfigure(config)

    def reconfigure(self, config: Config) -> None:
        """Take the settings that apply live (lab, identity, mappings options, routing, message, retry).

        Called at start and on a configuration reload; the parts that need a restart (store,
        intake, SMTP, IMAP, metrics) are the service's to judge (``connector.service``).
        """
        self.config = config
        with self._parsed_lock:
            self._parsed.clear()  # parsed under the old identity settings
        self.lab = config.lab_identity()
        self.parse_settings = ParseSettings(
            identity_status_map=config.identity_status_map(),
            allow_test_ins=config.identity.allow_test_ins,
        )
        self.mapping_settings = MappingSettings(hold_unmapped=config.mappings.hold_unmapped)
        self.routing = RoutingSettings(
            mailbox_choice=config.routing.mailbox_choice,
            patient_mailbox=config.routing.patient_mailbox,
            copy_to=config.routing.copy_to,
        )
        self.message_settings = MessageSettings(
            sender=self.lab.mailbox, nil=config.message.nil, request_mdn=config.message.request_mdn,
            source_oid=self.lab.oid_root,
        )

    # ------------------------------------------------------------------ intake (the Sink)

    def receive(self, data: bytes, *, source: str, dedup_key: tuple[str, str, str] | None = None) -> Receipt:
        key = "|".join(dedup_key) if dedup_key else None
        record = self.store.record_input(data, source=source, dedup_key=key)  # committed: safe to ACK/move
        if record.duplicate:
            # Same MSH key, other bytes: the SIL reused a control id. Answered like a resend (the
            # stored ACK), but said loudly: a person should check the SIL's numbering.
            event("input.duplicate", level=logging.INFO if record.same_bytes else logging.WARNING,
                  input_id=record.input_id, source=source, same_bytes=record.same_bytes)
            return Receipt(record.input_id, duplicate=True, stored_ack=record.ack)
        event("input.received", input_id=record.input_id, source=source, bytes=len(data))
        return self.split(record.input_id, data, source=source)

    def remember_ack(self, input_id: int, ack: bytes) -> None:
        self.store.set_ack(input_id, ack)

    def split(self, input_id: int, data: bytes, *, source: str) -> Receipt:
        """Parse an input's messages and record its reports (or why a message was refused)."""
        new: list[NewReport] = []
        errors: list[tuple[int, InputError]] = []
        messages = split_messages(data, source=source)
        if not messages:
            errors.append((0, InputError("at least one HL7 message starting with MSH", source=source)))
        for index, message in enumerate(messages):
            try:
                reports = parse_message(message, source=source, index=index, settings=self.parse_settings)
            except InputError as exc:
                errors.append((index, exc))
                continue
            except Exception as exc:  # noqa: BLE001 - a parser bug must not lose the input: quarantine with the class name
                errors.append((index, InputError(f"a message the parser can read (internal {type(exc).__name__})",
                                                 source=source, message_index=index)))
                continue
            try:
                for report in reports:
                    if report.documents:  # shape B: the SIL's own CDA is checked now, so the SIL gets AE
                        check_embedded(report, lab=self.lab, xsd=self.xsd)
            except (InputError, PermanentError) as exc:
                errors.append((index, exc if isinstance(exc, InputError) else InputError(
                    f"an embedded CDA the connector can forward ({exc})", source=source, message_index=index)))
                continue
            for patient_index, report in enumerate(reports):
                new.append(NewReport(report.report_id, index, patient_index, report.header.control_id,
                                     series_key(report)))
                self._remember(report)
        # A report id already in the store means the SIL sent this MSH-3/4/10 before with other bytes
        # (the same bytes are caught as a duplicate input): never dropped silently, never sent twice.
        known = dict(self.store.known_reports([r.report_id for r in new]))
        for rep in [r for r in new if r.report_id in known]:
            new.remove(rep)
            errors.append((rep.message_index, InputError(
                f"a new MSH-10: this control id already gave report {rep.report_id} (input {known[rep.report_id]}); "
                "the SIL reused it or resent an edited message", source=source, segment="MSH", field="MSH-10",
                message_index=rep.message_index)))
        created = self.store.record_split(input_id, new, [(i, e.describe()) for i, e in errors])
        if len(created) != len(new):  # the same id from two inputs at the same instant: the first one won
            event("input.report_id_race", level=logging.WARNING, input_id=input_id,
                  ignored=",".join(sorted({r.report_id for r in new} - set(created))))
        for index, error in errors:
            event("input.quarantined", level=logging.WARNING, input_id=input_id, source=source,
                  message_index=index, segment=error.segment, field=error.field, reason=error.describe())
        for rep in new:
            event("report.parsed", report_id=rep.report_id, input_id=input_id)
        return Receipt(input_id, errors=tuple(e for _, e in errors), reports=tuple(r.report_id for r in new))

    def recover(self) -> int:
        """Inputs committed but never split (a crash between the two commits)."""
        count = 0
        for input_id in self.store.unsplit_inputs():
            source, data = self.store.input_data(input_id)
            self.split(input_id, data, source=source)
            count += 1
        return count

    # ------------------------------------------------------------------ build

    def _remember(self, report: LabReport) -> None:
        with self._parsed_lock:
            self._parsed[report.report_id] = report
            while len(self._parsed) > PARSED_CACHE_SIZE:
                self._parsed.popitem(last=False)

    def load(self, row: ReportRow) -> LabReport:
        with self._parsed_lock:
            cached = self._parsed.pop(row.report_id, None)
        if cached is not None:
            return cached
        source, data = self.store.input_data(row.input_id)
        message = split_messages(data, source=source)[row.message_index]
        return parse_message(message, source=source, index=row.message_index,
                             settings=self.parse_settings)[row.patient_index]

    def build(self, row: ReportRow) -> ReportState:
        report_id = row.report_id
        try:
            report = self.load(row)
            ids = None if report.documents else self.store.document_identity(  # shape B keeps the SIL's ids
                report_id, oid_root=self.lab.oid_root, corrects=corrects(report),
                effective_time=cda_time(datetime.now(UTC), self.lab.timezone))
            recipients = recipients_for(report, self._directory_or_fail(), self.routing)
            artifacts = build_artifacts(
                report, mappings=self._mappings(), mapping_settings=self.mapping_settings, lab=self.lab,
                ids=ids, recipients=recipients, message_settings=self.message_settings, xsd=self.xsd)
            if self._schematron is not None:
                failures = self._schematron(artifacts.cda)
                if failures:
                    if self.metrics is not None:
                        self.metrics.validation_failures.labels(check="schematron").inc()
                    raise PermanentError(f"report {report_id}: CDA fails the ANS schematrons: {failures[0]}")
        except NoAddressYet as exc:
            # Waits for the directory (fixed by a daily import), then retried. The SIL is told once,
            # when the report starts waiting: a negative ZAM^Z02 with SMTPERRORCODE 510.
            if row.state is not ReportState.WAITING:
                self._tell_sil_no_address(row)
            return self._wait(row, str(exc))
        except UnmappedCode as exc:
            # Waits for a mapping (config hold_unmapped): lab IT adds it, the service reloads, retried.
            return self._wait(row, str(exc))
        except TransientError as exc:
            return self._wait(row, str(exc))
        except PermanentError as exc:
            self.store.quarantine(report_id, reason=str(exc))
            event("report.quarantined", level=logging.WARNING, report_id=report_id, reason=str(exc))
            return ReportState.QUARANTINED
        except Exception as exc:  # noqa: BLE001 - a defect: quarantined (not retried every second), class name only
            reason = (f"internal error ({type(exc).__name__}) while building the report: "
                      "report it to the connector's maintainers, then `connector retry`")
            self.store.quarantine(report_id, reason=reason)
            event("report.quarantined", level=logging.ERROR, report_id=report_id, reason=reason)
            return ReportState.QUARANTINED
        self.store.mark_built(report_id, email=artifacts.email_bytes(), message_id=artifacts.message_id,
                              envid=artifacts.envid, recipients=recipients, ids=artifacts.ids,
                              lifecycle=artifacts.lifecycle, dmp_state=_dmp_state(report),
                              dsn=not (report.flags is not None and report.flags.get("ACK_RECEPTION") is False))
        unmapped = len(artifacts.mapped.unmapped_codes)
        if self.metrics is not None and unmapped:
            self.metrics.unmapped.inc(unmapped)
        event("report.built", report_id=report_id, recipients=len(recipients), version=ids.version if ids else 0,
              unmapped_codes=unmapped)
        return ReportState.BUILT

    def _directory_or_fail(self) -> Directory:
        directory = self._directory()
        if directory is None:
            raise NoAddressYet("no MSSanté directory imported yet: run `connector directory import FILE`")
        return directory

    # ------------------------------------------------------------------ send

    async def send(self, row: ReportRow) -> ReportState:
        report_id = row.report_id
        if self.smtp is None or self.smtp_context is None:
            return self._wait(row, "no SMTP server configured")
        email = self.store.email(report_id) or b""
        pending = [r["address"] for r in self.store.recipients(report_id)
                   if r["state"] == RecipientState.PENDING.value]
        if not pending:
            # Nothing left to send: every recipient was accepted (an ack may even have come in while
            # the report waited after a lost reply), refused or failed. Their states decide.
            state = self.store.settle(report_id)
            if state is ReportState.QUARANTINED:
                event("report.quarantined", level=logging.WARNING, report_id=report_id,
                      reason="no recipient left to send to")
            return state
        self.store.mark_sending(report_id)
        event("report.sending", report_id=report_id, recipients=len(pending), attempt=row.attempts + 1)
        if self._client is None:
            self._client = SmtpClient(self.smtp, self.smtp_context)
        try:
            result = await submit(email, sender=self.lab.mailbox, recipients=pending,
                                  envid=row.envid if row.dsn else "",  # "": no DSN asked (ACK_RECEPTION=N)
                                  settings=self.smtp, context=self.smtp_context, client=self._client)
        except SmtpTemporaryError as exc:
            self._count_smtp_error("temporary", exc.code)
            event("smtp.error", level=logging.WARNING, report_id=report_id, code=exc.code, reason=str(exc))
            return self._wait(row, f"SMTP temporary failure: {exc}")
        except SmtpRejected as exc:
            self._count_smtp_error("rejected", exc.code)
            self.store.quarantine(report_id, reason=f"SMTP refused the message ({exc.code}): {exc}")
            event("report.quarantined", level=logging.WARNING, report_id=report_id, code=exc.code)
            return ReportState.QUARANTINED
        except ValueError as exc:  # aiosmtplib refuses an address with CR/LF or no domain: permanent
            reason = f"an envelope address was refused before sending ({type(exc).__name__}): check the directory"
            self.store.quarantine(report_id, reason=reason)
            event("report.quarantined", level=logging.WARNING, report_id=report_id, reason=reason)
            return ReportState.QUARANTINED
        except Exception as exc:  # noqa: BLE001 - a defect: retried with backoff (never every second), then given up
            event("pipeline.error", level=logging.ERROR, report_id=report_id, error=type(exc).__name__)
            return self._wait(row, f"internal error ({type(exc).__name__}) while sending")
        temporary = {a: v for a, v in result.refused.items() if 400 <= v[0] < 500}
        permanent = {a: v for a, v in result.refused.items() if a not in temporary}
        retry = None
        if temporary:
            reason = f"{len(temporary)} recipient(s) temporarily refused ({sorted({v[0] for v in temporary.values()})})"
            when = self._next_attempt(row)
            if when is None:  # the retry window is over: those refusals are final
                permanent, temporary = {**permanent, **temporary}, {}
            else:
                retry = (reason, when)
        state = self.store.mark_sent(report_id, accepted=result.accepted, refused=permanent, reply=result.reply,
                                     temporary=temporary, retry=retry)
        if self.metrics is not None and result.accepted:
            self.metrics.latency.labels(milestone="sent").observe(age_seconds(row.received_at))
        level = logging.WARNING if state in (ReportState.WAITING, ReportState.QUARANTINED) else logging.INFO
        if state is not ReportState.WAITING or row.state is not ReportState.WAITING:  # one event per change
            event(f"report.{state.value}", level=level, report_id=report_id, accepted=len(result.accepted),
                  refused=len(permanent), deferred=len(temporary), reply=result.reply[:80])
        return state

    def _count_smtp_error(self, kind: str, code: int | None) -> None:
        if self.metrics is not None:
            self.metrics.smtp_errors.labels(kind=f"{kind}_{code // 100}xx" if code else kind).inc()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def _next_attempt(self, row: ReportRow) -> str | None:
        """When to try again (exponential backoff with jitter), or None once the retry window is over."""
        retry = self.config.retry
        now = datetime.now(UTC)
        if age_seconds(row.received_at) > retry.give_up_hours * 3600:
            return None
        # Jitter, so a recovered server is not hit by every waiting report at once.
        delay = min(retry.max_seconds, retry.first_seconds * 2 ** min(row.attempts, 20))
        delay *= random.uniform(0.8, 1.2)
        return (now + timedelta(seconds=delay)).isoformat(timespec="milliseconds")

    def _wait(self, row: ReportRow, reason: str) -> ReportState:
        when = self._next_attempt(row)
        if when is None:
            reason = f"gave up after {self.config.retry.give_up_hours:g} h: {reason}"
            self.store.quarantine(row.report_id, reason=reason)
            event("report.quarantined", level=logging.WARNING, report_id=row.report_id, reason=reason)
            return ReportState.QUARANTINED
        self.store.mark_waiting(row.report_id, reason=reason, next_attempt_at=when)
        if row.state is not ReportState.WAITING:
            # One event per state change, not one per retry (the reason is in the store and `show`).
            event("report.waiting", level=logging.WARNING, report_id=row.report_id, reason=reason,
                  next_attempt_at=when)
        return ReportState.WAITING

    # ------------------------------------------------------------------ the loop body

    async def step(self) -> list[StepOutcome]:
        """Move every due report one step; returns what happened (empty when idle).

        Builds (CPU) run in a worker thread while sends (waiting on the operator) run on the
        event loop, so the two overlap and the loop stays free for MLLP clients; a report built
        now is sent at the next step.
        """
        to_build, to_send = self.store.due(utcnow())  # to_send: BUILT, SENDING (resend the stored bytes), WAITING

        async def builds() -> list[StepOutcome]:
            return [StepOutcome(r.report_id, await asyncio.to_thread(self.build, r)) for r in to_build]

        async def sends() -> list[StepOutcome]:
            return [StepOutcome(r.report_id, await self.send(r)) for r in to_send]

        built, sent = await asyncio.gather(builds(), sends())
        return built + sent


def _dmp_state(report: LabReport) -> str:
    """The DMP link: asked by the SIL (DESTDMP=Y) and possible only with a qualified INS.

    The DMP feed itself (ITI-41) is a separate channel still to come: ``to_send`` reports are
    recorded with the ids a later replace or delete needs (see ``Store.document_of``).
    """
    if report.flags is None or not report.flags.get("DESTDMP"):
        return ""
    return "to_send" if report.patient.ins_qualified else "not_eligible"


