"""Issue 13, observation 6 (time budget): a build that runs past ``build.budget_seconds`` is abandoned,
its report quarantined with that reason, and the next report is built at once; the abandoned build never
commits, however it ends. A slow build is simulated by a CPU loop in the composition (once fixed, no
real input can make a build that slow: the size limits and the linear layout see to it).
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.config import demo_config
from connector.pipeline.budget import BuildBudget, Ticket
from connector.send import import_directory
from connector.service.runtime import Runtime, open_runtime
from tests.support.hostile import e2e_oru

ROOT = Path(__file__).resolve().parents[2]
BUDGET_SECONDS = 1.0  # a warm build takes ~30 ms, ~60 ms beside a runaway thread holding half the GIL
SLOW_SECONDS = 4.0  # the runaway build: four budgets


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    config = demo_config(data_dir=str(tmp_path / "var"))
    import_directory(ROOT / "tests" / "data" / "e2e" / "directory.txt", db_path=config.directory_path)
    rt = open_runtime(config, with_smtp=False)
    rt.pipeline.receive(e2e_oru("WARM1", index=9), source="warm.hl7")
    asyncio.run(rt.pipeline.step())  # the first build loads fonts and schemas: not what is measured here
    rt.pipeline.reconfigure(dataclasses.replace(rt.pipeline.settings, build_budget_seconds=BUDGET_SECONDS))
    yield rt
    rt.close()


def _slow_for(report_id: str, monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """The composition of ``report_id`` spins the CPU for SLOW_SECONDS; the event is set when it ends."""
    import connector.pipeline.build as build

    real = build.compose_artifacts
    ended = threading.Event()

    def compose(report, **kwargs):  # type: ignore[no-untyped-def]
        if report.report_id == report_id:
            deadline = time.monotonic() + SLOW_SECONDS
            while time.monotonic() < deadline:
                sum(range(1000))  # CPU, not a sleep: a thread cannot be interrupted in this
            ended.set()
        return real(report, **kwargs)

    monkeypatch.setattr(build, "compose_artifacts", compose)
    return ended


async def test_a_build_past_its_budget_is_held_and_the_next_report_goes_on(
        runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    [slow] = runtime.pipeline.receive(e2e_oru("SLOW1"), source="slow.hl7").reports
    [fast] = runtime.pipeline.receive(e2e_oru("FAST1", index=1), source="fast.hl7").reports
    ended = _slow_for(slow, monkeypatch)
    started = time.monotonic()
    outcomes = {o.report_id: o.state.value for o in await runtime.pipeline.step() if o.report_id in (slow, fast)}
    elapsed = time.monotonic() - started
    assert outcomes == {slow: "quarantined", fast: "built"}
    assert elapsed < SLOW_SECONDS  # the pipeline did not wait for the runaway build (was: every report waited)
    row = runtime.store.report(slow)
    assert row is not None and "build.budget_seconds" in row.reason
    await asyncio.to_thread(ended.wait, SLOW_SECONDS * 3)
    await asyncio.sleep(0.2)  # the abandoned thread has finished its composition by now
    row = runtime.store.report(slow)
    assert row is not None and row.state.value == "quarantined"  # it committed nothing when it ended
    assert runtime.store.email(slow) is None


async def test_a_build_committing_at_the_budget_keeps_its_outcome() -> None:
    budget = BuildBudget()

    def build(ticket: Ticket) -> str:
        assert ticket.may_commit()  # it is committing…
        time.sleep(0.3)  # …when the budget passes
        return "built"

    assert await budget.run(build, seconds=0.05, report_id="r") == "built"


def test_the_ticket_lets_exactly_one_side_win() -> None:
    ticket = Ticket()
    assert ticket.abandon() and not ticket.may_commit()
    ticket = Ticket()
    assert ticket.may_commit() and not ticket.abandon()
