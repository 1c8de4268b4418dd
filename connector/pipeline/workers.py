"""Builds on every core (issue 16): the CPU half of a build runs in the gate's worker processes.

The store is not fork-safe and the mapping files reload live, so the main process keeps what
touches them — load, ids minted in the store, recipients, the mapping, and the BUILT commit —
and sends a worker a :class:`BuildJob`: the mapped report (frozen dataclasses, picklable), the
lab, the ids, the recipients and the message settings. The worker assembles PDF/A, CDA (XSD on
the tree), XDM zip and e-mail, then runs the gate on the CDA bytes when its engine holds the six
schematrons, and answers with the bytes or why not (:class:`BuildReply`): one round trip for
build and validation, and the document is never shipped back and forth to be checked.

Errors cross the pipe as values: a build refused (PermanentError) or rejected by the gate keeps
its message and problems, which never hold patient values; anything else the worker raised is
a defect, named by its class and where it was raised.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from connector.errors import CdaBuildError, PermanentError, ReportRefused, TransientError
from connector.model import Artifacts, DocumentIdentity, LabIdentity, Lifecycle, MappedReport, Recipient
from connector.model.outcomes import BiologistStandIn, RefusalReason
from connector.package import MessageSettings, envid_for
from connector.validation import GateVerdict, ValidationGate, ValidationMode
from connector.validation.engine import Engine
from connector.validation.svrl import Failure
from connector.validation.worker import Failed

from .compose import assemble

__all__ = ["BuildJob", "BuildReply", "Outcome", "WorkerDefect", "artifacts_of", "build_in_worker"]


class Outcome(StrEnum):
    BUILT = "built"
    REJECTED = "rejected"  # the gate refused the document
    REFUSED = "refused"  # the build raised a PermanentError (e.g. the XSD on the tree)
    RETRY = "retry"  # the build raised a TransientError


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildReply:
    outcome: Outcome
    message: str = ""
    reason: str = ""  # a ReportRefused's RefusalReason value: the refusal keeps its class across the pipe
    standin: BiologistStandIn | None = None  # the configured biologist signed (Artifacts.standin)
    xsd_errors: tuple[str, ...] = ()
    failures: tuple[Failure, ...] = ()
    cda: bytes = b""
    pdf: bytes = b""
    pdf_name: str = ""
    xdm: bytes = b""
    email: bytes = b""
    message_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildJob:
    """One report's build, from the mapped report on (see :func:`connector.pipeline.compose.assemble`)."""

    mapped: MappedReport
    report_id: str
    lab: LabIdentity
    ids: DocumentIdentity
    recipients: tuple[Recipient, ...]
    message_settings: MessageSettings
    message_id: str = ""
    draft: bool = False  # `connector build`: an e-mail with no recipient is still written

    def run(self, engine: Engine) -> BuildReply:
        """In the worker process."""
        try:
            art = assemble(self.mapped, report_id=self.report_id, lab=self.lab, ids=self.ids,
                           recipients=self.recipients, message_settings=self.message_settings, xsd=engine.xsd,
                           message_id=self.message_id, draft=self.draft)
        except ReportRefused as exc:
            return BuildReply(outcome=Outcome.REFUSED, message=str(exc), reason=exc.reason.value)
        except PermanentError as exc:
            return BuildReply(outcome=Outcome.REFUSED, message=str(exc))
        except TransientError as exc:
            return BuildReply(outcome=Outcome.RETRY, message=str(exc))
        if engine.schematrons:
            # assemble() refused the tree if it failed the XSD; the bytes are that tree serialised.
            check = engine.check(art.cda, xsd=engine.xsd is None)
            if check.xsd_errors or check.failures:
                return BuildReply(outcome=Outcome.REJECTED, xsd_errors=check.xsd_errors, failures=check.failures)
        return BuildReply(outcome=Outcome.BUILT, cda=art.cda, pdf=art.pdf, pdf_name=art.pdf_name, xdm=art.xdm,
                          email=art.email, message_id=art.message_id, standin=art.standin)


class WorkerDefect(Exception):
    """The worker raised something unexpected while building: ``kind`` is its class, ``where`` the code."""

    def __init__(self, kind: str, where: str) -> None:
        super().__init__(f"{kind} at {where}")
        self.kind = kind
        self.where = where


def build_in_worker(gate: ValidationGate, job: BuildJob, *, timeout: float) -> tuple[Artifacts, GateVerdict]:
    """The artifacts and the gate's verdict on them (not passed: the caller holds the report).

    Raises CdaBuildError (the build refused), TransientError (retry; ValidationUnavailable when the worker
    died or ran past ``timeout``, then killed and replaced) or WorkerDefect.
    """
    pool = gate.pool
    assert pool is not None, "build_in_worker needs a gate started with builds=True"
    return artifacts_of(gate, job, pool.run(job, timeout=timeout))


def artifacts_of(gate: ValidationGate, job: BuildJob, reply: object) -> tuple[Artifacts, GateVerdict]:
    """A worker's reply to ``job`` as :func:`build_in_worker` returns it (for callers that submitted it)."""
    if isinstance(reply, Failed):
        raise WorkerDefect(reply.error, reply.where)
    if not isinstance(reply, BuildReply):
        raise WorkerDefect(type(reply).__name__, "the worker's reply")
    if reply.outcome is Outcome.REFUSED:
        if reply.reason:
            raise ReportRefused(reply.message, reason=RefusalReason(reply.reason))
        raise CdaBuildError(reply.message)
    if reply.outcome is Outcome.RETRY:
        raise TransientError(reply.message)
    mode = gate.mode if gate.runs_schematrons else ValidationMode.OFF
    verdict = GateVerdict(mode=mode, xsd_errors=reply.xsd_errors, failures=reply.failures)
    artifacts = Artifacts(mapped=job.mapped, cda=reply.cda, pdf=reply.pdf, pdf_name=reply.pdf_name, xdm=reply.xdm,
                          email=reply.email, message_id=reply.message_id, envid=envid_for(reply.message_id),
                          ids=job.ids, lifecycle=Lifecycle.REPLACES if job.ids.replaces else Lifecycle.NEW,
                          standin=reply.standin)
    return artifacts, verdict
