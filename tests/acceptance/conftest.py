"""Helpers to run the connector as a user runs it: a config file in a temp dir, `python -m connector run`
as a subprocess (stopped with SIGTERM), the operator commands with `--json`, polls with a bounded timeout.

The service's stderr goes to a file (not a pipe: a chatty service must never block on a full pipe), so a
test can read the JSON log lines while the service runs and after it stopped.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from tests.ledger.process import json_lines, read_store
from tests.simulator.plugin import OperatorSim  # the fixture comes from the root conftest's plugin

ROOT = Path(__file__).resolve().parents[2]
E2E = ROOT / "tests" / "data" / "e2e"
# Start-up loads the XSD and mappings (~1–2 s); more than this is a hang, not a slow machine.
START_TIMEOUT_SECONDS = 30.0
# SIGTERM finishes the step in progress; "a few seconds" is the promise the operator relies on.
STOP_TIMEOUT_SECONDS = 10.0
CLI_TIMEOUT_SECONDS = 60.0
T = TypeVar("T")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


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


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """`python -m connector ARGS` as a user types it."""
    return subprocess.run([sys.executable, "-m", "connector", *map(str, args)], capture_output=True, text=True,
                          check=False,
                          cwd=ROOT, env=cli_env(), timeout=CLI_TIMEOUT_SECONDS)


def cli_json(*args: str | Path) -> Any:
    result = cli(*args, "--json")
    assert result.returncode == 0, (args, result.returncode, result.stderr)
    return json.loads(result.stdout)


@dataclass
class Site:
    """One lab installation in a temp dir: its config file and folders."""

    base: Path
    config: Path
    metrics_port: int

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

    def drop_file(self, name: str, data: bytes) -> None:
        """Write under a temp name, then rename: the SIL's contract with the drop folder."""
        tmp = self.drop / f".{name}.part"
        tmp.write_bytes(data)
        tmp.rename(self.drop / name)

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        return read_store(self.base, sql, params)

    def reports(self) -> dict[str, str]:
        """report id → state."""
        return dict(self.query("SELECT report_id, state FROM reports"))


def write_site(base: Path, sim: OperatorSim | None, *, smtp_port: int | None = None, imap: bool = True,
               mllp_port: int | None = None, retry_first_seconds: float = 60.0) -> Site:
    """A test-mode config next to its folders; SMTP/IMAP point at the simulator (or at ``smtp_port``)."""
    import shutil

    from connector.send import import_directory

    for sub in ("drop", "archive", "quarantine", "zam", "var"):
        (base / sub).mkdir(mode=0o700, exist_ok=True)
    shutil.copytree(ROOT / "mappings", base / "mappings")
    demo = yaml.safe_load((ROOT / "connector" / "demo" / "demo.yaml").read_text(encoding="utf-8"))
    metrics_port = free_port()
    config: dict[str, Any] = {
        "mode": "test",
        "data_dir": "var",
        "lab": demo["lab"],
        "identity": {"allow_test_ins": True},
        "message": demo["message"],
        "intake": {"folder": {"enabled": True, "drop": "drop", "archive": "archive", "quarantine": "quarantine",
                              "stable_seconds": 0},
                   "mllp": {"enabled": mllp_port is not None, "port": mllp_port or 2575}},
        "mappings": {"dir": "mappings", "loinc_dir": str(ROOT / "loinc")},
        "sil": {"zam_folder": "zam"},
        "retry": {"first_seconds": retry_first_seconds, "max_seconds": 3600},
        "metrics": {"enabled": True, "host": "127.0.0.1", "port": metrics_port},
        "imap": {"enabled": False},
    }
    if sim is not None:
        tls = {"cafile": str(sim.pki.ca), "certfile": str(sim.pki.client_cert), "keyfile": str(sim.pki.client_key)}
        config["smtp"] = {"host": sim.smtp_host, "port": smtp_port or sim.submission_port, "timeout": 10,
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
    import_directory(E2E / "directory.txt", db_path=base / "var" / "directory.sqlite")
    return Site(base, path, metrics_port)


@dataclass
class Service:
    """`python -m connector run --config F` in a subprocess, started from the checkout (not the config's
    folder: relative paths in the file must resolve against the file); stderr (JSON lines) to a file."""

    site: Site
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        # One file per start: a restarted service's "service.started" must not be the previous one's.
        self.log_path = self.site.base / f"service-{len(list(self.site.base.glob('service-*.stderr')))}.stderr"

    def start(self) -> Service:
        log = self.log_path.open("xb")
        self.proc = subprocess.Popen([sys.executable, "-m", "connector", "run", "--config", str(self.site.config)],
                                     cwd=ROOT, env=cli_env(), stdout=subprocess.DEVNULL, stderr=log)
        log.close()
        wait_for(lambda: self.has_event("service.started") or self._exited(), timeout=START_TIMEOUT_SECONDS,
                 what="service.started")
        assert self.proc.poll() is None, f"the service exited {self.proc.returncode}: {self.stderr()[-2000:]}"
        wait_for(lambda: self.has_event("metrics.listening") or self._exited(), timeout=START_TIMEOUT_SECONDS,
                 what="metrics.listening")
        return self

    def _exited(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def stop(self) -> int:
        """SIGTERM and wait; the exit code (the caller asserts it)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"the service did not stop within {STOP_TIMEOUT_SECONDS}s of SIGTERM")

    def stderr(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def events(self) -> list[dict[str, Any]]:
        return json_lines(self.stderr())

    def has_event(self, name: str) -> dict[str, Any] | None:
        return next((e for e in self.events() if e.get("event") == name), None)


@pytest.fixture
def service_factory() -> Iterator[Callable[[Site], Service]]:
    """Start services; any still running at the end is stopped (SIGTERM, then kill) by its own pid."""
    started: list[Service] = []

    def start(site: Site) -> Service:
        service = Service(site)
        started.append(service)
        return service.start()

    yield start
    for service in started:
        if service.proc is not None and service.proc.poll() is None:
            service.proc.send_signal(signal.SIGTERM)
            try:
                service.proc.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                service.proc.kill()
                service.proc.wait()


class Forwarder:
    """A TCP port that forwards to another, opened on demand: "the operator comes back" in a test."""

    def __init__(self, port: int, target: tuple[str, int]) -> None:
        self.port, self.target = port, target
        self._server: socket.socket | None = None
        self._stop = threading.Event()

    def start(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(8)
        server.settimeout(0.2)
        self._server = server
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        assert self._server is not None
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(self.target, timeout=10)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.close()


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while chunk := src.recv(65536):
            dst.sendall(chunk)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
