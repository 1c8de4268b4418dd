"""The real service as a subprocess with an environment of its own and limits (issue 13's acceptance tests).

Like tests/acceptance/conftest.py's ``Service`` (same command, same JSON log file), plus: extra environment
variables (a ``sitecustomize`` hook on PYTHONPATH) and an rlimit on file sizes, set in the child before exec,
so that "the disk is full" happens to the service only.
"""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import yaml

from tests.acceptance.conftest import ROOT, Site, cli_env, wait_for
from tests.ledger.process import json_lines

START_SECONDS = 30.0
STOP_SECONDS = 10.0
HOOKS = ROOT / "tests" / "support" / "hooks"  # sitecustomize.py: a slow build when HOSTILE_SLOW_BUILD is set


class Process:
    """The service as a subprocess with an environment of its own and, optionally, limits (rlimits)."""

    def __init__(self, site: Site, *, env: dict[str, str] | None = None,
                 file_size_limit: int | None = None) -> None:
        self.site = site
        self.log = site.base / f"hostile-{uuid.uuid4().hex[:6]}.stderr"
        self._env = {**cli_env(), **(env or {})}
        self._limit = file_size_limit
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *, wait_for_event: str = "metrics.listening") -> Process:
        limit = self._limit

        def limits() -> None:  # in the child, before exec: only the service is limited
            if limit is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        with self.log.open("xb") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "connector", "run", "--config", str(self.site.config)],
                                         cwd=ROOT, env=self._env, stdout=subprocess.DEVNULL, stderr=err,
                                         preexec_fn=limits)
        wait_for(lambda: self.event(wait_for_event) or self.proc.poll() is not None,  # type: ignore[union-attr]
                 timeout=START_SECONDS, what=wait_for_event)
        assert self.proc.poll() is None, f"the service exited {self.proc.returncode}: {self.stderr()[-2000:]}"
        return self

    def stderr(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def events(self) -> list[dict[str, object]]:
        return json_lines(self.stderr())

    def event(self, name: str) -> dict[str, object] | None:
        return next((e for e in self.events() if e.get("event") == name), None)

    def stop(self) -> tuple[int, float]:
        """SIGTERM; (exit code, seconds it took)."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"the service did not stop within {STOP_SECONDS}s of SIGTERM")
        return code, time.monotonic() - started


def processes() -> Iterator[Callable[..., Process]]:
    """For a fixture (``yield from processes()``): make services; those still running at the end are stopped."""
    started: list[Process] = []

    def make(site: Site, **kwargs: object) -> Process:
        process = Process(site, **kwargs)  # type: ignore[arg-type]
        started.append(process)
        return process

    yield make
    for process in started:
        if process.proc is not None and process.proc.poll() is None:
            process.proc.send_signal(signal.SIGTERM)
            try:
                process.proc.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.proc.kill()
                process.proc.wait()


def configure(site: Site, **sections: dict[str, object]) -> None:
    """Merge ``sections`` into the site's configuration file."""
    config = yaml.safe_load(site.config.read_text(encoding="utf-8"))
    for name, values in sections.items():
        config.setdefault(name, {}).update(values)
    site.config.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
