"""One drop folder shared by several instances (issue 16): each file taken by exactly one of them, and the
claims of an instance killed with SIGKILL taken over by a survivor.

Real folders, real processes for the kills; the sink stands for the store (it dedups by content, as the
store does). The instances are DropFolder objects of their own, each with its ``instance`` name: the
claim folder ``archive/.claim/@<name>`` and its flock, as two `connector run` processes would have.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.errors import ConfigError
from connector.files import ensure_private_dir
from connector.intake import DropFolder, FolderSettings, Receipt
from connector.intake import owners as owners_module
from tests.support.paths import ROOT
from tests.support.settings import folder_settings

OLD = time.time() - 3600  # older than stable_seconds: taken at the first look


class SharedSink:
    """The store's part: every input received, by which instance; the same bytes twice are a duplicate."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()

    def record(self, instance: str, data: bytes) -> Receipt:
        with self._lock:
            duplicate = any(d == data for _, d in self.received)
            self.received.append((instance, data))
            return Receipt(len(self.received), duplicate=duplicate)


class _InstanceSink:
    def __init__(self, shared: SharedSink, instance: str) -> None:
        self.shared = shared
        self.instance = instance

    def receive(self, data: bytes, *, source: str, dedup_key: tuple[str, str, str] | None = None) -> Receipt:
        return self.shared.record(self.instance, data)

    def remember_ack(self, input_id: int, ack: bytes) -> None:  # pragma: no cover - MLLP only
        raise AssertionError("the drop folder sends no ACK")


def oru(n: int, salt: str = "") -> bytes:
    return f"MSH|^~\\&|SIL|LAB|||2026||ORU^R01|C{salt}{n}|P|2.5\rPID|||{n}\r".encode()


def shared_settings(base: Path, instance: str) -> FolderSettings:
    return folder_settings(drop=base / "drop", archive=base / "archive", quarantine=base / "quarantine",
                           stable_seconds=0.0, instance=instance)


def drop(settings: FolderSettings, name: str, data: bytes) -> None:
    settings.drop.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = settings.drop / f".{name}.part"
    tmp.write_bytes(data)
    os.utime(tmp, (OLD, OLD))
    tmp.rename(settings.drop / name)


def archived(settings: FolderSettings) -> Counter[bytes]:
    return Counter(p.read_bytes() for p in settings.archive.iterdir() if p.is_file())


def claimed_files(settings: FolderSettings) -> list[Path]:
    root = settings.archive / ".claim"
    return [p for p in root.rglob("*") if p.is_file() and p.name != ".lock"] if root.exists() else []


# ---------------------------------------------------------------------------------------------- never twice


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(st.sampled_from(["a.hl7", "b.hl7", "c.hl7", "résultat 1.hl7", "x" * 200]),
                                 min_size=1, max_size=6), min_size=1, max_size=4),
       instances=st.integers(min_value=2, max_value=3))
def test_instances_on_one_folder_never_take_one_file_twice(tmp_path_factory: pytest.TempPathFactory,
                                                         batches: list[list[str]], instances: int) -> None:
    """Whatever the names (reused from one batch to the next), with every instance scanning at once in its
    own thread: each file's bytes are received once, archived once, and nothing stays behind."""
    base = tmp_path_factory.mktemp("shared")
    sink = SharedSink()
    names = [f"i{n}" for n in range(instances)]
    folders = [DropFolder(shared_settings(base, name), _InstanceSink(sink, name)) for name in names]
    s = shared_settings(base, names[0])
    dropped: list[bytes] = []
    try:
        for b, batch in enumerate(batches):
            for n, name in enumerate(batch):
                data = oru(n, f"B{b}x")
                if (s.drop / name).exists():  # the SIL's name is still waiting: it writes another one
                    name = f"{b}-{n}-{name}"[:200]
                drop(s, name, data)
                dropped.append(data)
            gate = threading.Barrier(len(folders))

            def scan(folder: DropFolder, gate: threading.Barrier = gate) -> None:
                gate.wait()
                for _ in range(3):
                    folder.scan_once()

            threads = [threading.Thread(target=scan, args=(f,)) for f in folders]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
    finally:
        for f in folders:
            f.stop()
    received = Counter(d for _, d in sink.received)
    assert received == Counter(dropped), "each file received exactly once, by one instance"
    assert archived(s) == Counter(dropped)
    assert not [p for p in s.drop.iterdir() if not p.name.startswith(".")]
    assert claimed_files(s) == []
    assert not (s.archive / ".claim").exists() or not any((s.archive / ".claim").iterdir()), \
        "a clean stop removes the instance's claim folder"


def test_the_work_is_shared_between_instances(tmp_path: Path) -> None:
    sink = SharedSink()
    a, b = (DropFolder(shared_settings(tmp_path, n), _InstanceSink(sink, n)) for n in ("a", "b"))
    s = shared_settings(tmp_path, "a")
    try:
        for i in range(40):
            drop(s, f"{i:03d}.hl7", oru(i))
        a.scan_once()  # a takes them all: b, scanning after, finds nothing left
        assert b.scan_once() == 0
        for i in range(40, 60):
            drop(s, f"{i:03d}.hl7", oru(i))
        assert b.scan_once() == 20
    finally:
        a.stop()
        b.stop()
    assert Counter(who for who, _ in sink.received) == {"a": 40, "b": 20}


# ---------------------------------------------------------------------------------------------- the dead


_HOLDER = """
import sys, time, pathlib
from connector.intake import DropFolder, Receipt
from tests.support.settings import folder_settings
base, name, marker = pathlib.Path(sys.argv[1]), sys.argv[2], pathlib.Path(sys.argv[3])
class Stuck:  # an instance killed while it commits: the file is claimed, nothing is recorded
    def receive(self, data, *, source, dedup_key=None):
        marker.write_text(source)
        time.sleep(600)
folder = DropFolder(folder_settings(drop=base / "drop", archive=base / "archive", quarantine=base / "quarantine",
                                    stable_seconds=0.0, instance=name), Stuck())
folder.scan_once()
"""


def _holder(base: Path, name: str) -> tuple[subprocess.Popen[bytes], Path]:
    """Another process: an instance that claims the waiting file and is stuck committing it."""
    marker = base / f"{name}.receiving"
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(base), name, str(marker)], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert proc.poll() is None, "the holder process exited"
        assert time.monotonic() < deadline, "the holder never claimed the file"
        time.sleep(0.05)
    return proc, marker


def test_the_claim_of_a_killed_instance_is_taken_by_a_survivor(tmp_path: Path) -> None:
    s = shared_settings(tmp_path, "survivor")
    sink = SharedSink()
    survivor = DropFolder(s, _InstanceSink(sink, "survivor"))
    drop(s, "one.hl7", oru(1))
    proc, _ = _holder(tmp_path, "doomed")
    try:
        assert [p.name for p in claimed_files(s)] == ["one.hl7"]
        assert survivor.scan_once() == 0, "a live instance's claim is its own"
        assert sink.received == []
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        survivor._adopted_at = -1e9  # the next scan looks for dead instances now, not in ADOPT_SECONDS
        assert survivor.scan_once() == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        survivor.stop()
    assert sink.received == [("survivor", oru(1))]
    assert archived(s) == Counter([oru(1)])
    assert not (s.archive / ".claim" / "@doomed").exists(), "the dead instance's claim folder is removed"


def test_a_restarted_instance_takes_its_own_claims_back(tmp_path: Path) -> None:
    drop(shared_settings(tmp_path, "a"), "one.hl7", oru(1))
    proc, _ = _holder(tmp_path, "a")
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    sink = SharedSink()
    again = DropFolder(shared_settings(tmp_path, "a"), _InstanceSink(sink, "a"))
    try:
        assert again.scan_once() == 1
    finally:
        again.stop()
    assert sink.received == [("a", oru(1))]


def test_a_name_held_by_a_running_process_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(owners_module, "TAKE_LOCK_SECONDS", 0.3)
    drop(shared_settings(tmp_path, "a"), "one.hl7", oru(1))
    proc, _ = _holder(tmp_path, "a")
    try:
        with pytest.raises(ConfigError, match=r"instance\.name"):
            DropFolder(shared_settings(tmp_path, "a"), _InstanceSink(SharedSink(), "a"))
    finally:
        proc.kill()
        proc.wait()


def test_one_instance_layout_leftovers_are_taken_and_instances_are_left_alone(tmp_path: Path) -> None:
    """Moving a lab from SQLite to a shared store: a claim left in archive/.claim/0 is taken by an instance;
    and a one-instance folder never takes what is in an instance's claim folder."""
    s = shared_settings(tmp_path, "a")
    drop(s, "keep.hl7", oru(9))
    legacy = s.archive / ".claim" / "0"
    ensure_private_dir(legacy)
    (legacy / "old.hl7").write_bytes(oru(1))
    ensure_private_dir(s.archive / ".claim" / "@b" / "0")
    (s.archive / ".claim" / "@b" / ".lock").touch()
    (s.archive / ".claim" / "@b" / "0" / "theirs.hl7").write_bytes(oru(2))
    one = DropFolder(shared_settings(tmp_path, ""), _InstanceSink(sink := SharedSink(), "one"))
    # The one-instance layout takes its own slot's leftover and the waiting file, never @b's claim.
    one.scan_once()
    assert sorted(d for _, d in sink.received) == sorted([oru(1), oru(9)])
    assert (s.archive / ".claim" / "@b" / "0" / "theirs.hl7").exists()
    one.stop()
    ensure_private_dir(legacy)  # tidied away once empty
    (legacy / "older.hl7").write_bytes(oru(3))
    shared = DropFolder(s, _InstanceSink(sink, "a"))
    try:
        shared.scan_once()
    finally:
        shared.stop()
    # @b's lock is free (no process holds it): b is dead, its claim is taken; so is the legacy leftover.
    assert sorted(d for who, d in sink.received if who == "a") == sorted([oru(2), oru(3)])
    assert archived(s) == Counter([oru(1), oru(9), oru(2), oru(3)])
    assert claimed_files(s) == []
