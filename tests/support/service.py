"""The connector as a lab runs it: a site (config file, folders, store) and `python -m connector run` as a
subprocess, stopped with SIGTERM or killed with SIGKILL; the operator commands with `--json`; bounded polls.

Each start logs to its own file (JSON lines on stderr; a file, not a pipe: a chatty service must never
block on a full pipe), so a kill never leaves a half-line in the next run's log and a restarted service's
``service.started`` is never the previous one's. The process is started from the checkout, not from the
site's folder: relative paths in the config file must resolve against the file. Stopped by its own pid only.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import pytest
import yaml

from tests.simulator.plugin import OperatorSim
from tests.support.logs import json_lines
from tests.support.paths import DIRECTORY, ROOT, ans_kit_or_none
from tests.support.ports import free_port

# Start-up loads the XSD and mappings (~1–2 s); more than this is a hang, not a slow machine.
START_TIMEOUT_SECONDS = 30.0
# SIGTERM finishes the step in progress; "a few seconds" is the promise the operator relies on.
STOP_TIMEOUT_SECONDS = 10.0
CLI_TIMEOUT_SECONDS = 60.0
FOLDERS = ("drop", "archive", "quarantine", "zam", "var")
T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.2) -> T:
    """Call ``probe`` until it returns something truthy; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def http_get(port: int, path: str) -> tuple[int, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
        return reply.status, reply.read().decode("utf-8")


def cli_env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("CONNECTOR_CONFIG", None)
    return env


def cli(*args: str | Path, cwd: Path = ROOT, timeout: float = CLI_TIMEOUT_SECONDS) -> subprocess.CompletedProcess[str]:
    """`python -m connector ARGS` as a user types it."""
    return subprocess.run([sys.executable, "-m", "connector", *map(str, args)], capture_output=True, text=True,
                          check=False, cwd=cwd, env=cli_env(), timeout=timeout)


def cli_json(*args: str | Path) -> Any:
    result = cli(*args, "--json")
    assert result.returncode == 0, (args, result.returncode, result.stderr)
    return json.loads(result.stdout)


@dataclass(frozen=True, kw_only=True)
class Site:
    """One lab installation in a temp dir: its config file, folders and store."""

    base: Path
    config: Path
    metrics_port: int | None  # None: metrics off
    mllp_port: int | None  # None: MLLP intake off

    @property
    def drop(self) -> Path:
        return self.base / "drop"

    @property
    def quarantine(self) -> Path:
        return self.base / "quarantine"

    @property
    def zam(self) -> Path:
        return self.base / "zam"

    @property
    def mappings(self) -> Path:
        return self.base / "mappings"

    def configure(self, **sections: dict[str, object]) -> None:
        """Merge ``sections`` into the site's configuration file."""
        config = yaml.safe_load(self.config.read_text(encoding="utf-8"))
        for name, values in sections.items():
            config.setdefault(name, {}).update(values)
        self.config.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")

    def drop_file(self, name: str, data: bytes) -> None:
        """Write under a temp name, then rename: the SIL's contract with the drop folder."""
        tmp = self.drop / f".{name}.part"
        tmp.write_bytes(data)
        tmp.rename(self.drop / name)

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        """Read the store read-only (WAL lets a reader in while the service writes); [] until the store
        and its schema exist."""
        db_path = self.base / "var" / "connector.sqlite"
        if not db_path.exists():
            return []
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
        try:
            return db.execute(sql, params).fetchall()
        except sqlite3.OperationalError:  # the schema is not created yet
            return []
        finally:
            db.close()

    def reports(self) -> dict[str, str]:
        """report id → state."""
        return dict(self.query("SELECT report_id, state FROM reports"))


def write_site(base: Path, sim: OperatorSim | None, *, smtp_port: int | None = None, smtp_timeout: float = 10.0,
               imap: bool = True, mllp_port: int | None = None, metrics: bool = True,
               retry_first_seconds: float = 60.0, retry_max_seconds: float = 3600.0) -> Site:
    """A test-mode config next to its folders and a copy of the mappings; SMTP/IMAP point at the simulator
    (SMTP at ``smtp_port`` when given: a proxy, or a port nothing listens on)."""
    from connector.send import import_directory

    for sub in FOLDERS:
        (base / sub).mkdir(mode=0o700, exist_ok=True)
    shutil.copytree(ROOT / "mappings", base / "mappings")
    demo = yaml.safe_load((ROOT / "connector" / "demo" / "demo.yaml").read_text(encoding="utf-8"))
    metrics_port = free_port() if metrics else None
    config: dict[str, Any] = {
        "mode": "test",
        "data_dir": "var",
        "lab": demo["lab"],
        "identity": {"allow_test_ins": True},
        "message": demo["message"],
        "intake": {"folder": {"enabled": True, "drop": "drop", "archive": "archive", "quarantine": "quarantine",
                              "stable_seconds": 0},
                   "mllp": {"enabled": mllp_port is not None, "host": "127.0.0.1", "port": mllp_port or 2575}},
        "mappings": {"dir": "mappings", "loinc_dir": str(ROOT / "loinc")},
        "sil": {"zam_folder": "zam"},
        "retry": {"first_seconds": retry_first_seconds, "max_seconds": retry_max_seconds},
        "metrics": {"enabled": metrics, "host": "127.0.0.1", "port": metrics_port or 9464},
        "imap": {"enabled": False},
    }
    kit = ans_kit_or_none()  # the kit's XSD, as before the gate (the six schematrons are tested on their own);
    # one worker: builds in the service's process, no worker start-up per service start
    config["validation"] = {"mode": "xsd", "ans_kit": str(kit), "workers": 1} if kit is not None else {"workers": 1}
    if sim is not None:
        tls = {"cafile": str(sim.pki.ca), "certfile": str(sim.pki.client_cert), "keyfile": str(sim.pki.client_key)}
        config["smtp"] = {"host": sim.smtp_host, "port": smtp_port or sim.submission_port, "timeout": smtp_timeout,
                          "tls": tls}
        if imap:
            secret = base / "imap.secret"
            secret.write_text(sim.passwords[sim.lab_mailbox], encoding="utf-8")
            secret.chmod(0o600)
            config["imap"] = {"enabled": True, "host": sim.imap_host, "port": sim.imap_port,
                              "username": sim.lab_mailbox, "password_file": "imap.secret", "poll_seconds": 0.5,
                              "tls": tls}
    path = base / "connector.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    import_directory(DIRECTORY, db_path=base / "var" / "directory.sqlite")
    return Site(base=base, config=path, metrics_port=metrics_port, mllp_port=mllp_port)


@dataclass
class ServiceProcess:
    """`python -m connector run --config F`, started and stopped as often as a test wants.

    ``kill_phases``/``kill_backlog`` record, for each SIGKILL, the last pipeline event of the run and the
    stage that held committed work: the ledger prints them to show where its kills landed.
    """

    site: Site
    env: dict[str, str] = field(default_factory=dict)  # added to the CLI's environment (a sitecustomize hook)
    file_size_limit: int | None = None  # RLIMIT_FSIZE on the service alone: "the disk is full" for it only
    proc: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)  # one per start
    kill_phases: Counter[str] = field(default_factory=Counter)
    kill_backlog: Counter[str] = field(default_factory=Counter)

    @property
    def runs(self) -> int:
        return len(self.logs)

    def start(self, *, wait: bool = True) -> Self:
        log_path = self.site.base / f"service.{len(list(self.site.base.glob('service.*.log'))) + 1:03d}.log"
        self.logs.append(log_path)
        limit = self.file_size_limit

        def limits() -> None:  # in the child, before exec: only the service is limited
            if limit is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        with log_path.open("xb") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "connector", "run", "--config", str(self.site.config)],
                                         cwd=ROOT, env={**cli_env(), **self.env}, stdout=subprocess.DEVNULL,
                                         stderr=log, preexec_fn=limits if limit is not None else None)
        if wait:
            self.wait_started()
        return self

    def wait_started(self) -> None:
        """Until the service logged ``service.started`` and each enabled listener's event; fails with the
        log's tail when it exits first."""
        listening = ["service.started"]
        listening += ["mllp.listening"] if self.site.mllp_port is not None else []
        listening += ["metrics.listening"] if self.site.metrics_port is not None else []
        for name in listening:
            wait_for(lambda name=name: self.has_event(name) or self._exited(), timeout=START_TIMEOUT_SECONDS,
                     what=name)
            assert self.proc is not None and self.proc.poll() is None, \
                f"the service exited {self.proc and self.proc.returncode}: {self.stderr()[-2000:]}"

    def _exited(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> int:
        """SIGTERM and wait; the exit code (the caller asserts it)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"the service did not stop within {timeout}s of SIGTERM")

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed beyond what was committed."""
        assert self.proc is not None
        self.kill_phases[self.phase()] += 1
        self.kill_backlog[self.backlog()] += 1
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        """Whatever the test did: a service still running is stopped (SIGTERM, then SIGKILL)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def stderr(self, run: int = -1) -> str:
        """One run's log: the current one by default, ``run=0`` the first start's."""
        path = self.logs[run] if self.logs else None
        return path.read_text(encoding="utf-8", errors="replace") if path and path.exists() else ""

    def events(self, run: int = -1) -> list[dict[str, Any]]:
        """One run's log events (see :meth:`stderr`)."""
        return json_lines(self.stderr(run))

    def has_event(self, name: str) -> dict[str, Any] | None:
        return next((e for e in self.events() if e.get("event") == name), None)

    def phase(self) -> str:
        """What the service was last doing (its last pipeline event in this run), for the kill histogram."""
        names = [e.get("event", "") for e in self.events()]
        work = [n for n in names if n.split(".")[0] in ("input", "report", "recipient", "acks", "smtp", "service")]
        return work[-1] if work else "starting"

    def wait_for_work(self, timeout: float) -> None:
        """Until the service holds committed work (or ``timeout``): a kill then lands mid-pipeline."""
        deadline = time.monotonic() + timeout
        while self.backlog() == "intake/idle" and time.monotonic() < deadline:
            time.sleep(0.05)

    def backlog(self) -> str:
        """The stage holding work, from the committed states (most advanced first)."""
        counts = dict(self.site.query("SELECT state, count(*) FROM reports GROUP BY state"))
        unsplit = self.site.query("SELECT count(*) FROM inputs WHERE split = 0")
        if counts.get("sending"):
            return "smtp-send"
        if counts.get("built") or counts.get("waiting"):
            return "send-queue"
        if counts.get("parsed") or (unsplit and unsplit[0][0]):
            return "build"
        if counts.get("sent"):
            return "acks"
        return "intake/idle"
