"""The build step: a PARSED report becomes BUILT: its ids minted once, its artifacts composed and stored.

Building is CPU work (map, PDF, CDA, XSD, zip, e-mail): the service runs it in a worker thread.
Outcomes other than BUILT: WAITING (no MSSanté address yet, an unmapped code the lab holds,
a transient failure) or QUARANTINED (the report cannot be built: the reason says what to do).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from connector.cda import XsdValidator
from connector.dmp import plain_oid
from connector.errors import LoincUnitConflict, NoAddressYet, PermanentError, TransientError, UnitNotUcum, UnmappedCode
from connector.logs import event
from connector.mapping import Mappings
from connector.model import Artifacts, DocumentIdentity, LabReport, Lifecycle, MappedReport, Recipient
from connector.send import Directory, no_address_reason, route
from connector.states import DmpState, ReportState
from connector.store import Gap, GapKind, ReportRow
from connector.validation import GateVerdict, ValidationGate

from .acks import AckStep
from .budget import Ticket
from .compose import cda_time, compose_artifacts, corrects, prepare
from .context import PipelineContext
from .dmp import dmp_state, not_eligible_z01
from .loader import ReportLoader
from .workers import BuildJob, WorkerDefect, build_in_worker

__all__ = ["BuildStep", "Turn"]

KILL_MARGIN = 5.0  # seconds after the build budget before its worker is killed (the budget holds the report first)


class Turn:
    """Builds side by side keep the order they were due where it matters (issue 16).

    Ids: each build mints its ids after the previous one's (:meth:`wait`, :meth:`done`): a correction
    after its original. Commits: a replacement or a deletion fed to the DMP commits only once every build
    due before it has settled (:meth:`wait_earlier`): committed its outcome, failed, or been abandoned at
    the budget. Its DMP feed row is then queued after the version it replaces or deletes, which the
    feed's order between versions relies on (store/dmp.py), whatever order the builds finish in.
    """

    def __init__(self, before: Turn | None = None) -> None:
        self._before = before
        self.mine = threading.Event()  # this build's ids are minted (or it will mint none)
        self.settled = threading.Event()  # this build has committed its outcome (or will commit none)

    def wait(self) -> None:
        if self._before is not None:
            self._before.mine.wait()

    def done(self) -> None:
        self.mine.set()

    def wait_earlier(self) -> None:
        turn = self._before
        while turn is not None:
            turn.settled.wait()
            turn = turn._before

    def settle(self) -> None:
        self.settled.set()

    def release(self) -> None:
        """Abandoned (or cancelled): the builds after it go on."""
        self.mine.set()
        self.settled.set()


class BuildStep:
    def __init__(
        self,
        ctx: PipelineContext,
        loader: ReportLoader,
        acks: AckStep,
        *,
        mappings: Callable[[], Mappings],
        directory: Callable[[], Directory | None],
        xsd: XsdValidator | None,
        gate: ValidationGate | None = None,
    ) -> None:
        self._ctx = ctx
        self._loader = loader
        self._acks = acks
        self._mappings = mappings
        self._directory = directory
        self._xsd = xsd
        self._gate = gate

    def __call__(self, row: ReportRow, ticket: Ticket | None = None, *, turn: Turn | None = None) -> ReportState:
        """``ticket``: the time budget's say (:mod:`.budget`): past it this build commits nothing.
        ``turn``: builds run side by side (issue 16); their ids are minted in the order they were due."""
        turn = turn or Turn()
        try:
            return self._build(row, ticket, turn)
        finally:
            turn.settle()

    def _build(self, row: ReportRow, ticket: Ticket | None, turn: Turn) -> ReportState:
        ctx, report_id = self._ctx, row.report_id
        settings = ctx.settings
        may_commit = ticket.may_commit if ticket is not None else _always
        try:
            try:
                turn.wait()
                report = self._loader.load(row, settings.parse)
                dmp = dmp_state(report, discrete_feed=settings.dmp_discrete_feed)
                ids = None if report.documents else ctx.store.document_identity(  # shape B keeps the SIL's ids
                    report_id, oid_root=settings.lab.oid_root, corrects=corrects(report),
                    effective_time=cda_time(datetime.now(UTC), settings.lab.timezone),
                    root_only=plain_oid if dmp is DmpState.TO_SEND else None)  # the DMP takes root-only OIDs
            finally:
                turn.done()
            if ids is not None and ids.version == 1 and corrects(report):  # see Store.document_identity
                event("document.correction_without_original", level=logging.WARNING, report_id=report_id,
                      set_id=ids.set_id_extension)
            routed = route(report, self._directory_or_fail(), settings.routing)
            recipients = routed.recipients
            if not recipients:
                raise NoAddressYet(no_address_reason(report, settings.routing))
            artifacts = self._compose(row, report, ids, recipients)
        except NoAddressYet as exc:
            if not may_commit():
                return ReportState.QUARANTINED  # held by the pipeline at the budget
            # Waits for the directory (fixed by a daily import), then retried. The SIL is told once,
            # when the report starts waiting: a negative ZAM^Z02 with SMTPERRORCODE 510.
            if row.state is not ReportState.WAITING:
                self._acks.tell_sil_no_address(row)
            return ctx.wait(row, str(exc))
        except UnmappedCode as exc:
            # Waits for a mapping (config hold_unmapped, a unit without UCUM form): lab IT adds it, the
            # service reloads; `connector mappings unmapped` lists it meanwhile.
            if not may_commit():
                return ReportState.QUARANTINED
            ctx.store.record_gaps(report_id, [gap_of(exc)])
            return ctx.wait(row, str(exc))
        except TransientError as exc:
            return ctx.wait(row, str(exc)) if may_commit() else ReportState.QUARANTINED
        except PermanentError as exc:
            return ctx.quarantine(report_id, str(exc)) if may_commit() else ReportState.QUARANTINED
        except Exception as exc:  # noqa: BLE001 - a defect: quarantined (not retried every second), class name only
            if not may_commit():
                return ReportState.QUARANTINED
            kind = exc.kind if isinstance(exc, WorkerDefect) else type(exc).__name__
            return ctx.quarantine(report_id, f"internal error ({kind}) while building the report: "
                                  "report it to the connector's maintainers, then `connector retry`",
                                  level=logging.ERROR)
        if dmp is DmpState.TO_SEND and _follows(artifacts):
            turn.wait_earlier()  # its feed row after the earlier version's, whichever build finished first
        if not may_commit():
            return ReportState.QUARANTINED
        unresolved = routed.unresolved
        ctx.store.mark_built(report_id, email=artifacts.email, message_id=artifacts.message_id,
                             envid=artifacts.envid, recipients=recipients, ids=artifacts.ids,
                             lifecycle=artifacts.lifecycle, dmp_state=dmp,
                             dsn=not (report.flags is not None and report.flags.get("ACK_RECEPTION") is False),
                             zam=not_eligible_z01(ctx, report) if dmp is DmpState.NOT_ELIGIBLE else None,
                             unresolved=unresolved, zams=self._acks.unresolved_zams(row, unresolved),
                             standin=artifacts.standin)
        if artifacts.standin is not None:  # never silent: logged here, on the timeline by mark_built
            event("report.biologist_standin", level=logging.WARNING, report_id=report_id,
                  standin_idnps=artifacts.standin.idnps, missing=artifacts.standin.missing)
        for missing in unresolved:  # ids and codes only: a professional's national or local id, never a name
            event("recipient.unresolved", level=logging.WARNING, report_id=report_id, kind=missing.kind.value,
                  field=missing.field, problem=missing.problem.value, idnps=missing.idnps,
                  local_id=missing.local_id)
        unmapped = len(artifacts.mapped.unmapped_codes)
        if unmapped:
            ctx.observer.unmapped(unmapped)
            ctx.store.record_gaps(report_id, gaps_of(artifacts.mapped))
        event("report.built", report_id=report_id, recipients=len(recipients), version=ids.version if ids else 0,
              unmapped_codes=unmapped)
        return ReportState.BUILT

    def _compose(self, row: ReportRow, report: LabReport, ids: DocumentIdentity | None,
                 recipients: tuple[Recipient, ...]) -> Artifacts:
        """The artifacts, gated: in a worker process when the gate has a pool for builds (shape A), else here."""
        settings, gate = self._ctx.settings, self._gate
        if gate is not None and gate.builds and gate.pool is not None and ids is not None:
            mapped = prepare(report, mappings=self._mappings(), mapping_settings=settings.mapping)
            job = BuildJob(mapped=mapped, report_id=row.report_id, lab=settings.lab, ids=ids,
                           recipients=recipients, message_settings=settings.message, message_id=row.message_id)
            # Past the budget the worker is killed and replaced: a hostile input does not keep a core busy.
            artifacts, verdict = build_in_worker(gate, job, timeout=settings.build_budget_seconds + KILL_MARGIN)
            self._judge(row.report_id, verdict)
            return artifacts
        artifacts = compose_artifacts(
            report, mappings=self._mappings(), mapping_settings=settings.mapping, lab=settings.lab,
            ids=ids, recipients=recipients, message_settings=settings.message, xsd=self._xsd,
            message_id=row.message_id)
        if gate is not None and gate.runs_schematrons:  # the XSD ran on the tree in compose
            self._judge(row.report_id, gate.check(artifacts.cda))
        return artifacts

    def _judge(self, report_id: str, verdict: GateVerdict) -> None:
        """The gate's verdict on the very bytes that will be sent, before the report is BUILT (issue 12).

        A failing document raises DocumentRejected (held, never sent: the schematron, the assert
        and the result's codes named); a gate that cannot give a verdict has raised
        ValidationUnavailable before (a TransientError: the build is tried again later).
        """
        if verdict.passed:
            return
        check = "xsd" if verdict.xsd_errors else "schematron"
        self._ctx.observer.validation_failed(check)
        first = verdict.failures[0].schematron if verdict.failures else "xsd"
        event("validation.rejected", level=logging.WARNING, report_id=report_id, check=check, rule=first,
              problems=len(verdict.problems))
        verdict.raise_if_rejected(report_id=report_id)

    def _directory_or_fail(self) -> Directory:
        directory = self._directory()
        if directory is None:
            raise NoAddressYet("no MSSanté directory imported yet: run `connector directory import FILE`")
        return directory


def gaps_of(mapped: MappedReport) -> list[Gap]:
    """The local codes a built report carried unmapped (sent under the lab's code only, or in a unit
    its mapping cannot convert); a code the lab mapped on purpose without LOINC is not a gap."""
    unmapped = set(mapped.unmapped_codes)
    return [Gap(kind=GapKind.CODE, code=r.local.code, system=r.local.system, label=r.local.display,
                unit=r.result.units.code.strip() if r.result.units else "")
            for r in mapped.results if r.loinc is None and r.local.code in unmapped]


def gap_of(exc: UnmappedCode) -> Gap:
    """What a held report waits for, as `connector mappings unmapped` lists it."""
    if isinstance(exc, UnitNotUcum):
        return Gap(kind=GapKind.UNIT, code=exc.local_code, unit=exc.unit)
    if isinstance(exc, LoincUnitConflict):
        return Gap(kind=GapKind.LOINC_UNIT, code=exc.local_code, unit=exc.unit)
    return Gap(kind=GapKind.CODE, code=exc.local_code)


def _follows(artifacts: Artifacts) -> bool:
    """A version that replaces or deletes an earlier one (its DMP feed waits for that one's)."""
    ids = artifacts.ids
    return artifacts.lifecycle is not Lifecycle.NEW or (ids is not None and ids.replaces is not None)


def _always() -> bool:
    return True

