"""The real service as a killable subprocess: `python -m connector run --config F`, PYTHONPATH = checkout.

Each start logs to its own file (JSON lines on stderr), so a kill never leaves a half-line in the
middle of the next run's log. Stopped by its own pid only (SIGKILL for the ledger, SIGTERM at the end).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 30.0  # XSD + mappings load in ~1-2 s; a minute would be a hang
STOP_TIMEOUT_SECONDS = 15.0
DIRECTORY = ROOT / "tests" / "data" / "e2e" / "directory.txt"


def read_store(base: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
    """Read a running service's store read-only (WAL lets a reader in while the service writes);
    [] until the store and its schema exist."""
    db_path = base / "var" / "connector.sqlite"
    if not db_path.exists():
        return []
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute(sql, params).fetchall()
    except sqlite3.OperationalError:  # the schema is not created yet
        return []
    finally:
        db.close()


def write_config(base: Path, sim: Any, *, mllp_port: int, retry_first_seconds: float = 1.0) -> Path:
    """A test-mode site: drop folder + MLLP, the simulator's SMTP (mTLS) and IMAP, a directory extract."""
    from connector.send import import_directory

    for sub in ("drop", "archive", "quarantine", "zam", "var"):
        (base / sub).mkdir(mode=0o700, exist_ok=True)
    demo = yaml.safe_load((ROOT / "connector" / "demo" / "demo.yaml").read_text(encoding="utf-8"))
    secret = base / "imap.secret"
    secret.write_text(sim.passwords[sim.lab_mailbox], encoding="utf-8")
    secret.chmod(0o600)
    tls = {"cafile": str(sim.pki.ca), "certfile": str(sim.pki.client_cert), "keyfile": str(sim.pki.client_key)}
    config = {
        "mode": "test", "data_dir": "var", "lab": demo["lab"], "identity": {"allow_test_ins": True},
        "message": demo["message"],
        "intake": {"folder": {"enabled": True, "drop": "drop", "archive": "archive", "quarantine": "quarantine",
                              "stable_seconds": 0},
                   "mllp": {"enabled": True, "host": "127.0.0.1", "port": mllp_port}},
        "mappings": {"dir": str(ROOT / "mappings"), "loinc_dir": str(ROOT / "loinc")},
        "sil": {"zam_folder": "zam"},
        "retry": {"first_seconds": retry_first_seconds, "max_seconds": 4},
        "metrics": {"enabled": False},
        "smtp": {"host": sim.smtp_host, "port": sim.submission_port, "timeout": 10, "tls": tls},
        "imap": {"enabled": True, "host": sim.imap_host, "port": sim.imap_port, "username": sim.lab_mailbox,
                 "password_file": "imap.secret", "poll_seconds": 0.5, "tls": tls},
    }
    path = base / "connector.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    import_directory(DIRECTORY, db_path=base / "var" / "directory.sqlite")
    return path


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON objects of a log, one a line; a half-written line (a kill mid-write) is skipped."""
    out: list[dict[str, Any]] = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            out.append(value)
    return out


@dataclass
class KillableService:
    base: Path
    config: Path
    runs: int = 0
    proc: subprocess.Popen[bytes] | None = None
    kill_phases: Counter[str] = field(default_factory=Counter)  # last pipeline event before each kill
    kill_backlog: Counter[str] = field(default_factory=Counter)  # the store's work in progress at each kill

    def log(self, run: int) -> Path:
        return self.base / f"service.{run:03d}.log"

    def start(self) -> None:
        self.runs += 1
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.pop("CONNECTOR_CONFIG", None)
        with self.log(self.runs).open("wb") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "connector", "run", "--config", str(self.config)],
                                         cwd=self.base, env=env, stdout=subprocess.DEVNULL, stderr=err)

    def wait_started(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not any(e.get("event") == "mllp.listening" for e in self.events(self.runs)):
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"service exited {self.proc.returncode}: {self.log(self.runs).read_text()[-2000:]}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"service not listening after {START_TIMEOUT_SECONDS}s")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed beyond what was committed."""
        assert self.proc is not None
        self.kill_phases[self.phase()] += 1
        self.kill_backlog[self.backlog()] += 1
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"no stop within {STOP_TIMEOUT_SECONDS}s of SIGTERM") from None

    def phase(self) -> str:
        """What the service was last doing (its last pipeline event in this run), for the kill histogram."""
        names = [e.get("event", "") for e in self.events(self.runs)]
        work = [n for n in names if n.split(".")[0] in ("input", "report", "recipient", "acks", "smtp", "service")]
        return work[-1] if work else "starting"

    def wait_for_work(self, timeout: float) -> None:
        """Until the service holds committed work (or ``timeout``): a kill then lands mid-pipeline."""
        deadline = time.monotonic() + timeout
        while self.backlog() == "intake/idle" and time.monotonic() < deadline:
            time.sleep(0.05)

    def backlog(self) -> str:
        """The stage holding work when the kill came, from the committed states (most advanced first)."""
        counts = dict(self.query("SELECT state, count(*) FROM reports GROUP BY state"))
        unsplit = self.query("SELECT count(*) FROM inputs WHERE split = 0")
        if counts.get("sending"):
            return "smtp-send"
        if counts.get("built") or counts.get("waiting"):
            return "send-queue"
        if counts.get("parsed") or (unsplit and unsplit[0][0]):
            return "build"
        if counts.get("sent"):
            return "acks"
        return "intake/idle"

    def events(self, run: int | None = None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for r in ([run] if run else range(1, self.runs + 1)):
            path = self.log(r)
            if not path.exists():
                continue
            out += json_lines(path.read_text(encoding="utf-8", errors="replace"))
        return out

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        return read_store(self.base, sql, params)
