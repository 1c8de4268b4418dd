"""The build step: a PARSED report becomes BUILT: its ids minted once, its artifacts composed and stored.

Building is CPU work (map, PDF, CDA, XSD, zip, e-mail): the service runs it in a worker thread.
Outcomes other than BUILT: WAITING (no MSSanté address yet, an unmapped code the lab holds,
a transient failure) or QUARANTINED (the report cannot be built: the reason says what to do).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from connector.cda import XsdValidator
from connector.errors import NoAddressYet, PermanentError, TransientError, UnmappedCode
from connector.logs import event
from connector.mapping import Mappings
from connector.model import LabReport
from connector.send import Directory, recipients_for
from connector.states import DmpState, ReportState
from connector.store import ReportRow

from .acks import AckStep
from .budget import Ticket
from .compose import cda_time, compose_artifacts, corrects
from .context import PipelineContext
from .loader import ReportLoader

__all__ = ["BuildStep", "SchematronCheck"]

# The schematron gate: failures as "schematron: location: assert text" lines, [] when the document passes.
SchematronCheck = Callable[[bytes], list[str]]


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
        schematron: SchematronCheck | None = None,
    ) -> None:
        self._ctx = ctx
        self._loader = loader
        self._acks = acks
        self._mappings = mappings
        self._directory = directory
        self._xsd = xsd
        self._schematron = schematron

    def __call__(self, row: ReportRow, ticket: Ticket | None = None) -> ReportState:
        """``ticket``: the time budget's say (:mod:`.budget`): past it this build commits nothing."""
        ctx, report_id = self._ctx, row.report_id
        settings = ctx.settings
        may_commit = ticket.may_commit if ticket is not None else _always
        try:
            report = self._loader.load(row, settings.parse)
            ids = None if report.documents else ctx.store.document_identity(  # shape B keeps the SIL's ids
                report_id, oid_root=settings.lab.oid_root, corrects=corrects(report),
                effective_time=cda_time(datetime.now(UTC), settings.lab.timezone))
            recipients = recipients_for(report, self._directory_or_fail(), settings.routing)
            artifacts = compose_artifacts(
                report, mappings=self._mappings(), mapping_settings=settings.mapping, lab=settings.lab,
                ids=ids, recipients=recipients, message_settings=settings.message, xsd=self._xsd,
                message_id=row.message_id)
            if self._schematron is not None:
                failures = self._schematron(artifacts.cda)
                if failures:
                    ctx.observer.validation_failed("schematron")
                    raise PermanentError(f"report {report_id}: CDA fails the ANS schematrons: {failures[0]}")
        except NoAddressYet as exc:
            if not may_commit():
                return ReportState.QUARANTINED  # held by the pipeline at the budget
            # Waits for the directory (fixed by a daily import), then retried. The SIL is told once,
            # when the report starts waiting: a negative ZAM^Z02 with SMTPERRORCODE 510.
            if row.state is not ReportState.WAITING:
                self._acks.tell_sil_no_address(row)
            return ctx.wait(row, str(exc))
        except (UnmappedCode, TransientError) as exc:
            # UnmappedCode waits for a mapping (config hold_unmapped): lab IT adds it, the service reloads.
            return ctx.wait(row, str(exc)) if may_commit() else ReportState.QUARANTINED
        except PermanentError as exc:
            return ctx.quarantine(report_id, str(exc)) if may_commit() else ReportState.QUARANTINED
        except Exception as exc:  # noqa: BLE001 - a defect: quarantined (not retried every second), class name only
            if not may_commit():
                return ReportState.QUARANTINED
            return ctx.quarantine(report_id, f"internal error ({type(exc).__name__}) while building the report: "
                                  "report it to the connector's maintainers, then `connector retry`",
                                  level=logging.ERROR)
        if not may_commit():
            return ReportState.QUARANTINED
        ctx.store.mark_built(report_id, email=artifacts.email, message_id=artifacts.message_id,
                             envid=artifacts.envid, recipients=recipients, ids=artifacts.ids,
                             lifecycle=artifacts.lifecycle, dmp_state=dmp_state(report),
                             dsn=not (report.flags is not None and report.flags.get("ACK_RECEPTION") is False))
        unmapped = len(artifacts.mapped.unmapped_codes)
        if unmapped:
            ctx.observer.unmapped(unmapped)
        event("report.built", report_id=report_id, recipients=len(recipients), version=ids.version if ids else 0,
              unmapped_codes=unmapped)
        return ReportState.BUILT

    def _directory_or_fail(self) -> Directory:
        directory = self._directory()
        if directory is None:
            raise NoAddressYet("no MSSanté directory imported yet: run `connector directory import FILE`")
        return directory


def _always() -> bool:
    return True


def dmp_state(report: LabReport) -> DmpState:
    """The DMP link: asked by the SIL (DESTDMP=Y) and possible only with a qualified INS.

    The DMP feed itself (ITI-41) is a separate channel still to come: ``to_send`` reports are
    recorded with the ids a later replace or delete needs (see ``Store.document_of``).
    """
    if report.flags is None or not report.flags.get("DESTDMP"):
        return DmpState.NOT_ASKED
    return DmpState.TO_SEND if report.patient.ins_qualified else DmpState.NOT_ELIGIBLE
