"""Builds on every core (issue 16): the worker processes give the very bytes the in-process build gives,
a worker that dies costs its report one retry (a TransientError) and is replaced, and a build past its
budget has its worker killed (its CPU freed) while the reports after it go on.

Real processes (spawned workers), the real store and a real SMTP server on loopback; the kit's XSD
when the shared reference folder is there, reduced validation otherwise.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.config import demo_config
from connector.ops.offline import build_files
from connector.states import ReportState
from connector.validation import GateSettings, ValidationGate
from tests.support.paths import DATA
from tests.support.runtime import force_due, smtp_runtime, validation_config
from tests.support.smtp import SmtpServer

ORU = sorted((DATA / "oru").glob("*.hl7"))
E2E = sorted((DATA / "e2e").glob("*.hl7"))
KILL_WAIT = 60.0  # seconds for a replaced worker to be ready again (imports, fonts, XSD)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_workers_build_the_same_bytes_as_the_service_process(tmp_path: Path) -> None:
    config = demo_config(validation=dataclasses.replace(validation_config(), workers=2))
    inputs = ORU + E2E
    here = build_files(inputs, tmp_path / "here", config, parallel=False)
    there = build_files(inputs, tmp_path / "there", config, parallel=True)
    # A failure is listed when it is known: the worker's come after the parser's of later inputs.
    assert sorted(here.failures) == sorted(there.failures) and here.notes == there.notes
    assert [r for r, _ in here.built] == [r for r, _ in there.built] and len(here.built) >= 10
    assert _files(tmp_path / "here") == _files(tmp_path / "there")


@pytest.fixture(scope="module")
def pool_gate() -> Iterator[ValidationGate]:
    """Two build workers (no schematrons: XSD at most), shared by the tests below."""
    gate = ValidationGate.from_settings(_settings(), builds=True)
    yield gate
    gate.close()


def _settings() -> GateSettings:
    from connector.config.settings import validation_settings

    return validation_settings(demo_config(validation=dataclasses.replace(validation_config(), workers=2)))


async def _drain(runtime) -> None:  # type: ignore[no-untyped-def]
    for _ in range(10):
        if not await runtime.pipeline.step():
            break
    await runtime.pipeline.close()


def _wait_for_workers(gate: ValidationGate, count: int) -> None:
    deadline = time.monotonic() + KILL_WAIT
    while len(gate.status().workers) < count:
        assert time.monotonic() < deadline, "the pool did not replace its workers"
        time.sleep(0.2)


@settings(max_examples=5, deadline=None)
@given(order=st.permutations(E2E))
def test_side_by_side_builds_send_every_report(order: list[Path], tmp_path_factory: pytest.TempPathFactory,
                                               pool_gate: ValidationGate) -> None:
    folder = tmp_path_factory.mktemp("side")
    with SmtpServer(folder) as server:
        runtime = smtp_runtime(folder, server, gate=pool_gate)
        try:
            ids = [rid for i, path in enumerate(order)
                   for rid in runtime.pipeline.receive(path.read_bytes(), source=f"{i}-{path.name}").reports]
            asyncio.run(_drain(runtime))
            states = {rid: runtime.store.report(rid).state for rid in ids}  # type: ignore[union-attr]
            assert set(states.values()) == {ReportState.SENT}, states
        finally:
            runtime.close()


async def test_workers_that_died_idle_cost_at_most_one_retry(
        tmp_path: Path, smtp_server: SmtpServer, pool_gate: ValidationGate) -> None:
    """Killed while idle (the OOM killer, an operator): the pool replaces a worker it finds dead before handing it
    out; one whose death it has not seen yet costs the report it is given one retry (a TransientError)."""
    _wait_for_workers(pool_gate, 2)
    runtime = smtp_runtime(tmp_path, smtp_server, gate=pool_gate)
    try:
        for info in pool_gate.status().workers:
            os.kill(info.pid, signal.SIGKILL)
            while _state(info.pid) not in ("", "Z"):
                time.sleep(0.01)
        ids = list(runtime.pipeline.receive(E2E[0].read_bytes(), source="dead.hl7").reports)
        await _drain(runtime)
        first = runtime.store.report(ids[0])
        assert first is not None
        if first.state is ReportState.WAITING:
            assert "restarted" in first.reason, first.reason
            await asyncio.to_thread(_wait_for_workers, pool_gate, 2)
            force_due(runtime, ids[0])
            await _drain(runtime)
        sent = runtime.store.report(ids[0])
        assert sent is not None and sent.state is ReportState.SENT, (sent.state, sent.reason) if sent else None
    finally:
        runtime.close()


def test_a_worker_that_dies_while_building_costs_that_report_a_retry(pool_gate: ValidationGate) -> None:
    """ValidationUnavailable is a TransientError: the build step leaves the report WAITING, retried later."""
    from connector.errors import TransientError

    _wait_for_workers(pool_gate, 2)
    pool = pool_gate.pool
    assert pool is not None

    def kill_the_busy_one() -> None:
        time.sleep(1.0)
        for info in pool_gate.status().workers:  # every worker: one of them holds the task
            os.kill(info.pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_the_busy_one)
    killer.start()
    with pytest.raises(TransientError, match="restarted"):
        pool.run(_Sleep(seconds=30.0), timeout=60.0)
    killer.join()
    _wait_for_workers(pool_gate, 2)
    assert pool.run(_Sleep(seconds=0.0), timeout=30.0) == "slept"  # a worker again (the idle dead one replaced)
    assert pool.run(_Sleep(seconds=0.0), timeout=30.0) == "slept"


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0]
    except OSError:
        return ""


def test_a_build_past_its_budget_frees_its_worker(tmp_path: Path) -> None:
    """The budget holds the report; KILL_MARGIN later its worker is killed and replaced, the others build."""
    from connector.pipeline.build import KILL_MARGIN

    with ValidationGate.from_settings(_settings(), builds=True) as gate:
        assert gate.pool is not None
        slow = _Sleep(seconds=KILL_MARGIN * 10)
        started = time.monotonic()
        with pytest.raises(Exception, match="restarted") as caught:
            gate.pool.run(slow, timeout=1.0)
        assert time.monotonic() - started < KILL_MARGIN * 5
        assert type(caught.value).__name__ == "ValidationUnavailable"
        _wait_for_workers(gate, 2)
        assert gate.pool.run(_Sleep(seconds=0.0), timeout=30.0) == "slept"


class _Sleep:
    """A task that takes ``seconds`` in the worker (a build that never ends, for the budget's kill)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def run(self, engine: object) -> str:
        time.sleep(self.seconds)
        return "slept"
