"""The pipeline: the steps in order, driven by the store.

    receive ─► split/parse ─► build (map, PDF, CDA, XDM, e-mail) ─► send ─► acknowledgements ─► ZAM
    RECEIVED    PARSED          BUILT                                SENDING/SENT  DELIVERED/READ

Each step reads a committed state, does its work, and commits the next state in one
transaction. A crash anywhere leaves the last committed state; :meth:`Pipeline.recover` and
the normal loop pick up from there. The e-mail is built once and stored, so a resend after a
crash repeats the same bytes and the same Message-ID.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from connector.cda import XsdValidator
from connector.dmp import DmpClient
from connector.errors import InputError
from connector.intake import Receipt
from connector.mapping import Mappings
from connector.send import Directory, SmtpSettings
from connector.states import ReportState
from connector.store import LEASE_SECONDS, ReportRow, Store, utcnow
from connector.store.dmp import DmpRow
from connector.validation import ValidationGate

from .acks import AckStep
from .budget import BuildBudget
from .build import BuildStep, Turn
from .context import PipelineContext
from .dmp import DmpStep, DmpStepOutcome
from .leases import Claim, Leases, LeaseTicket
from .loader import ReportLoader
from .observe import NO_OBSERVER, Observer
from .receive import Receiver
from .send import SendStep
from .settings import PipelineSettings

__all__ = ["Pipeline", "StepOutcome"]


@dataclass(frozen=True, slots=True)
class StepOutcome:
    report_id: str
    state: ReportState


class Pipeline:
    """Implements the intake's Sink and moves reports forward; one instance per service."""

    def __init__(
        self,
        *,
        settings: PipelineSettings,
        store: Store,
        mappings: Callable[[], Mappings],
        directory: Callable[[], Directory | None],
        xsd: XsdValidator | None,
        smtp: SmtpSettings | None = None,
        smtp_context: ssl.SSLContext | None = None,
        gate: ValidationGate | None = None,
        observer: Observer = NO_OBSERVER,
        leases: Leases | None = None,
        dmp: DmpClient | None = None,
    ) -> None:
        self.store = store
        self.leases = leases or Leases(store)  # several instances: what this one claimed, renewed, released
        self._ctx = PipelineContext(store, settings, observer)
        self._loader = ReportLoader(store)
        self._receiver = Receiver(self._ctx, self._loader, xsd=xsd)
        self._acks = AckStep(self._ctx, self._loader)
        self._build = BuildStep(self._ctx, self._loader, self._acks, mappings=mappings, directory=directory,
                                xsd=xsd, gate=gate)
        self._send = SendStep(self._ctx, smtp=smtp, context=smtp_context)
        self._budget = BuildBudget()
        self._dmp = DmpStep(self._ctx, self._loader, dmp) if dmp is not None else None
        # Builds in flight: one more than the workers, so a worker never waits for the main process's
        # share of a build (load, ids, mapping); one when everything is built in this process.
        pool = gate.pool if gate is not None and gate.builds else None
        self._parallel = pool.size + 1 if pool is not None else 1

    @property
    def settings(self) -> PipelineSettings:
        return self._ctx.settings

    def reconfigure(self, settings: PipelineSettings) -> None:
        """Take the settings that apply live (a configuration reload)."""
        self._ctx.settings = settings
        self._loader.forget_all()  # parsed under the old identity settings

    def observe(self, observer: Observer) -> None:
        self._ctx.observer = observer

    # ------------------------------------------------------------------ intake (the Sink)

    def receive(self, data: bytes, *, source: str, dedup_key: tuple[str, str, str] | None = None) -> Receipt:
        return self._receiver.receive(data, source=source, dedup_key=dedup_key)

    def remember_ack(self, input_id: int, ack: bytes) -> bytes | None:
        return self._receiver.remember_ack(input_id, ack)

    def refuse(self, data: bytes, *, source: str, error: InputError) -> Receipt:
        return self._receiver.refuse(data, source=source, error=error)

    def supersede(self, receipt: Receipt, *, reason: str) -> None:
        self._receiver.supersede(receipt, reason=reason)

    def recover(self, *, received_before: str = "") -> int:
        """Inputs committed but never split (a crash between the two commits); ``received_before``: only
        those older than that (a periodic pass leaves alone the inputs being split right now)."""
        return self._receiver.recover(received_before=received_before)

    @property
    def left_unsplit(self) -> bool:
        """An input of this process was committed and could not be split since the last recovery."""
        return self._receiver.left_unsplit

    # ------------------------------------------------------------------ acknowledgements

    def handle_ack_mail(self, raw: bytes) -> bool:
        """Apply the acks one returned mail carries; False when it matches no report of ours."""
        return self._acks.handle_mail(raw)

    # ------------------------------------------------------------------ one step for one report

    def build(self, row: ReportRow) -> ReportState:
        """PARSED (or WAITING before a build) → BUILT, WAITING or QUARANTINED. CPU work: call from a thread."""
        return self._build(row)

    async def send(self, row: ReportRow) -> ReportState:
        """BUILT, SENDING or WAITING after a build → SENT, WAITING or QUARANTINED."""
        return await self._send(row)

    # ------------------------------------------------------------------ the DMP feed (its own loop)

    @property
    def feeds_dmp(self) -> bool:
        return self._dmp is not None

    def dmp_due(self) -> list[DmpRow]:
        """The DMP feeds to run now, claimed for this instance.

        On a shared store one feed per claim, leased for the longest it may take (a TD3.1b check and
        the ITI-41 itself, each up to the connect and read timeouts) plus an ordinary lease as margin:
        nothing renews it meanwhile, and a batch fed one by one would outlive its lease while another
        instance took the rest. An instance that dies holds its one feed that long, no more.
        """
        if not self.store.db.shared or self._dmp is None:
            return self.store.claim_dmp(utcnow())
        settings = self._dmp.client.settings
        lease = 2 * (settings.connect_timeout + settings.read_timeout) + LEASE_SECONDS
        return self.store.claim_dmp(utcnow(), limit=1, lease_seconds=lease)

    def feed_dmp(self, row: DmpRow) -> DmpStepOutcome:
        """One feed row → its DMP transaction(s) → its committed outcome. Blocking: call from a thread."""
        if self._dmp is None:
            raise RuntimeError("the DMP feed is not enabled (dmp.enabled)")
        return self._dmp(row)

    def close_dmp(self) -> None:
        if self._dmp is not None:
            self._dmp.client.close()

    # ------------------------------------------------------------------ the loop body

    async def step(self) -> list[StepOutcome]:
        """Move every due report one step; returns what happened (empty when idle).

        Builds (CPU) run in a worker thread while sends (waiting on the operator) run on the
        event loop, so the two overlap and the loop stays free for MLLP clients; a report built
        now is sent at the next step. Each build has a time budget (``build_budget_seconds``):
        past it the report is quarantined with that reason and the next one is built.

        On a store shared by several instances the reports are claimed (:mod:`.leases`): leased to this
        instance while the step runs, and left alone once the lease is in doubt.
        """
        # to_send: BUILT, SENDING (resend the stored bytes), WAITING
        async with self.leases.claim(utcnow()) as claim:

            async def builds() -> list[StepOutcome]:
                if self._parallel == 1:
                    return [StepOutcome(r.report_id, await self._budgeted_build(r, claim)) for r in claim.build]
                slots = asyncio.Semaphore(self._parallel)
                turns: list[Turn] = []
                for _ in claim.build:  # ids minted in the order due; a replacement committed after the builds before it
                    turns.append(Turn(turns[-1] if turns else None))

                async def one(row: ReportRow, turn: Turn) -> StepOutcome:
                    async with slots:
                        return StepOutcome(row.report_id, await self._budgeted_build(row, claim, turn))

                return list(await asyncio.gather(*(one(r, t) for r, t in zip(claim.build, turns, strict=True))))

            async def sends() -> list[StepOutcome]:
                return [StepOutcome(r.report_id, await self._leased_send(r, claim)) for r in claim.send]

            built, sent = await asyncio.gather(builds(), sends())
        return built + sent

    async def _leased_send(self, row: ReportRow, claim: Claim) -> ReportState:
        if not claim.holds(row.report_id):  # another instance has it now: it sends the same stored e-mail
            return row.state
        try:
            return await self.send(row)
        finally:
            claim.finish(row.report_id)

    async def _budgeted_build(self, row: ReportRow, claim: Claim, turn: Turn | None = None) -> ReportState:
        seconds = self._ctx.settings.build_budget_seconds
        try:
            state = await self._budget.run(lambda ticket: self._build(row, ticket, turn=turn), seconds=seconds,
                                           report_id=row.report_id,
                                           ticket=LeaseTicket(lambda: claim.holds(row.report_id)))
        finally:
            claim.finish(row.report_id)
            if turn is not None:
                turn.release()  # abandoned (or cancelled) before its ids: the next build goes on
        if state is not None:
            return state
        if not claim.holds(row.report_id):
            return row.state
        return self._ctx.quarantine(
            row.report_id, f"report {row.report_id}: building it took more than {seconds:g} s (build.budget_seconds); "
            "it is held so that the reports after it go on: report it to the connector's maintainers, then "
            "`connector retry`", level=logging.ERROR)

    async def close(self) -> None:
        await self._send.close()
