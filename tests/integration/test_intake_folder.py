"""The drop folder with real temp directories and an in-memory sink."""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import logging
import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from connector.errors import MalformedHL7, PermanentError, StoreUnavailable
from connector.intake import DropFolder, FolderSettings, Receipt, moves
from connector.logs import JsonFormatter
from tests.support.settings import folder_settings

CANARY = "ZZCANARYPATIENT"  # synthetic patient value: must never reach logs or reason files
OLD = time.time() - 3600  # an mtime safely older than any stable_seconds used here


def failing(code: int, what: str) -> Callable[..., None]:
    """A stand-in for a file-system call that fails with ``code`` (what a full or broken disk answers)."""

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(code, what)

    return fail


def oru(n: int) -> bytes:
    return f"MSH|^~\\&|SIL|LAB|||2026||ORU^R01|C{n}|P|2.5\rPID|||1||{CANARY}\r".encode()


class FakeSink:
    """Records what it received; can fail, report errors, or dedup by content."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.fail_with: Exception | None = None
        self.errors: tuple[MalformedHL7, ...] = ()
        self._lock = threading.Lock()

    def receive(self, data: bytes, *, source: str, dedup_key: tuple[str, str, str] | None = None) -> Receipt:
        if self.fail_with is not None:
            raise self.fail_with
        with self._lock:
            duplicate = any(d == data for _, d in self.received)
            self.received.append((source, data))
            return Receipt(len(self.received), duplicate=duplicate, errors=self.errors)

    def remember_ack(self, input_id: int, ack: bytes) -> None:  # pragma: no cover - MLLP only
        raise AssertionError("the drop folder sends no ACK")


@pytest.fixture
def sink() -> FakeSink:
    return FakeSink()


@pytest.fixture
def settings(tmp_path: Path) -> FolderSettings:
    return folder_settings(
        drop=tmp_path / "drop", archive=tmp_path / "archive", quarantine=tmp_path / "quarantine", stable_seconds=1.0
    )


@pytest.fixture
def folder(settings: FolderSettings, sink: FakeSink) -> DropFolder:
    """The drop folder under test with one stable file waiting in it, ``a.hl7``."""
    folder = DropFolder(settings, sink)
    drop_file(settings, "a.hl7", oru(1))
    return folder


def drop_file(settings: FolderSettings, name: str, data: bytes, *, mtime: float | None = OLD) -> Path:
    path = settings.drop / name
    path.write_bytes(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_complete_file_is_received_then_archived_privately(
    settings: FolderSettings, sink: FakeSink, folder: DropFolder
) -> None:
    assert folder.scan_once() == 1
    assert sink.received == [("a.hl7", oru(1))]
    assert not (settings.drop / "a.hl7").exists()
    assert (settings.archive / "a.hl7").read_bytes() == oru(1)
    assert mode(settings.archive / "a.hl7") == 0o600
    assert {mode(p) for p in (settings.drop, settings.archive, settings.quarantine)} == {0o700}


def test_growing_file_is_not_read_until_stable(settings: FolderSettings, sink: FakeSink) -> None:
    folder = DropFolder(settings, sink)
    path = drop_file(settings, "grow.hl7", oru(1)[:10], mtime=None)
    assert folder.scan_once() == 0
    assert folder.waiting == 1
    with path.open("ab") as f:
        f.write(oru(1)[10:])
    assert folder.scan_once() == 0  # changed since the last look: the clock restarts
    time.sleep(1.1)
    assert folder.scan_once() == 1  # unchanged for stable_seconds
    assert sink.received == [("grow.hl7", oru(1))]


def test_temp_hidden_and_unmatched_names_are_ignored(tmp_path: Path, sink: FakeSink) -> None:
    settings = folder_settings(
        drop=tmp_path / "d", archive=tmp_path / "a", quarantine=tmp_path / "q", stable_seconds=1.0, pattern="*.hl7"
    )
    folder = DropFolder(settings, sink)
    for name in (".hidden.hl7", "x.hl7.tmp", "y.hl7.part", "notes.txt"):
        drop_file(settings, name, oru(1))
    assert folder.scan_once() == 0
    assert sink.received == []


def test_symlinks_directories_and_fifos_are_skipped(settings: FolderSettings, sink: FakeSink, tmp_path: Path) -> None:
    folder = DropFolder(settings, sink)
    outside = tmp_path / "secret.hl7"
    outside.write_bytes(oru(9))
    (settings.drop / "link.hl7").symlink_to(outside)
    (settings.drop / "dir.hl7").mkdir()
    os.mkfifo(settings.drop / "fifo.hl7")
    assert folder.scan_once() == 0
    assert sink.received == []
    assert (settings.drop / "link.hl7").is_symlink()


def test_unreadable_input_is_quarantined_with_a_reason(
    settings: FolderSettings, sink: FakeSink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    folder = DropFolder(settings, sink)
    sink.errors = (MalformedHL7("a number", source="bad.hl7", segment="OBX[2]", field="OBX-5", message_index=1),)
    drop_file(settings, "bad.hl7", oru(1))
    assert folder.scan_once() == 1
    assert (settings.quarantine / "bad.hl7").read_bytes() == oru(1)
    reason_file = settings.quarantine / "bad.hl7.reason.txt"
    reason = reason_file.read_text()
    assert "bad.hl7 message 1 OBX[2] OBX-5: expected a number" in reason
    logged = "\n".join(JsonFormatter().format(r) for r in caplog.records)  # every field, as the service writes it
    assert CANARY not in reason and CANARY not in logged
    moved = [r for r in caplog.records if getattr(r, "event", None) == "folder.moved"]
    assert [(r.source, r.folder, r.target) for r in moved] == [  # type: ignore[attr-defined]
        ("bad.hl7", "quarantine", "bad.hl7")
    ]
    assert mode(reason_file) == 0o600
    assert not list(settings.drop.iterdir())


def test_permanent_error_from_the_sink_quarantines(settings: FolderSettings, sink: FakeSink) -> None:
    folder = DropFolder(settings, sink)
    sink.fail_with = PermanentError("input refused")
    drop_file(settings, "p.hl7", oru(1))
    assert folder.scan_once() == 1
    assert "input refused" in (settings.quarantine / "p.hl7.reason.txt").read_text()


def test_archive_name_collision_never_overwrites(settings: FolderSettings, sink: FakeSink) -> None:
    folder = DropFolder(settings, sink)
    settings.archive.mkdir(exist_ok=True)
    (settings.archive / "a.hl7").write_bytes(b"earlier")
    drop_file(settings, "a.hl7", oru(1))
    assert folder.scan_once() == 1
    assert (settings.archive / "a.hl7").read_bytes() == b"earlier"
    assert (settings.archive / "a~1.hl7").read_bytes() == oru(1)


def test_a_crash_between_link_and_unlink_leaves_one_archived_copy(settings: FolderSettings, sink: FakeSink) -> None:
    """What a crash after the file was linked into archive/ and before its claim was unlinked leaves:
    the same file under both names. The restart receives it again (the store dedups it) and must not
    archive it a second time as ``a~1.hl7`` (issue 14)."""
    claimed = settings.archive / ".claim" / "0" / "a.hl7"
    claimed.parent.mkdir(parents=True)
    claimed.write_bytes(oru(1))
    os.utime(claimed, (OLD, OLD))
    os.link(claimed, settings.archive / "a.hl7")
    assert DropFolder(settings, sink).scan_once() == 1
    assert sink.received == [("a.hl7", oru(1))]
    assert sorted(p.name for p in settings.archive.iterdir()) == ["a.hl7"]  # no a~1.hl7, claim folder gone


def test_store_failure_leaves_files_in_place_and_retries(settings: FolderSettings, sink: FakeSink) -> None:
    folder = DropFolder(settings, sink)
    drop_file(settings, "a.hl7", oru(1), mtime=OLD)
    drop_file(settings, "b.hl7", oru(2), mtime=OLD + 1)
    sink.fail_with = StoreUnavailable()
    assert folder.scan_once() == 0
    assert sorted(p.name for p in settings.drop.iterdir()) == ["a.hl7", "b.hl7"]
    sink.fail_with = None
    assert folder.scan_once() == 2
    assert [s for s, _ in sink.received] == ["a.hl7", "b.hl7"]


def test_failed_move_leaves_the_file_to_be_received_again(
    settings: FolderSettings, sink: FakeSink, folder: DropFolder, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_link = os.link
    monkeypatch.setattr(os, "link", failing(errno.EIO, "simulated disk error"))
    assert folder.scan_once() == 0
    assert (settings.drop / "a.hl7").exists()
    monkeypatch.setattr(os, "link", real_link)
    assert folder.scan_once() == 1  # received again: the sink answers "duplicate"
    assert len(sink.received) == 2
    assert (settings.archive / "a.hl7").exists()


def test_filesystem_without_hard_links_falls_back_to_rename(
    settings: FolderSettings, folder: DropFolder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "link", failing(errno.EPERM, "hard links not supported"))
    assert folder.scan_once() == 1
    assert (settings.archive / "a.hl7").read_bytes() == oru(1)


def test_thousand_waiting_files_in_mtime_order(settings: FolderSettings, sink: FakeSink) -> None:
    folder = DropFolder(settings, sink)
    for i in range(1000):
        drop_file(settings, f"m{999 - i:04d}.hl7", oru(i), mtime=OLD + i)
    assert folder.scan_once() == 1000
    assert [s for s, _ in sink.received] == [f"m{999 - i:04d}.hl7" for i in range(1000)]
    assert len(list(settings.archive.iterdir())) == 1000
    assert not list(settings.drop.iterdir())


def test_watcher_picks_up_a_renamed_file(tmp_path: Path, sink: FakeSink) -> None:
    settings = folder_settings(
        drop=tmp_path / "d", archive=tmp_path / "a", quarantine=tmp_path / "q", stable_seconds=0.2
    )
    folder = DropFolder(settings, sink)
    folder.start()
    try:
        tmp = settings.drop / "r.hl7.tmp"
        tmp.write_bytes(oru(1))
        tmp.rename(settings.drop / "r.hl7")  # write-then-rename, as the SIL should
        deadline = time.monotonic() + 10
        while not (settings.archive / "r.hl7").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        folder.stop()
    assert sink.received == [("r.hl7", oru(1))]
    assert (settings.archive / "r.hl7").exists()


def test_failed_directory_fsync_keeps_the_file_in_drop(
    settings: FolderSettings, folder: DropFolder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(moves, "fsync_dir", failing(errno.EIO, "simulated fsync failure"))
    with pytest.raises(OSError):
        folder.scan_once()
    assert (settings.drop / "a.hl7").exists()  # never unlinked before the archive was durable
    monkeypatch.undo()
    assert folder.scan_once() == 1  # received again (duplicate), its earlier link in archive/ kept
    assert not (settings.drop / "a.hl7").exists()
    assert sorted(p.name for p in settings.archive.iterdir()) == ["a.hl7"]  # one archived copy, not a~1


def test_file_names_can_be_kept_out_of_logs_and_store(
    settings: FolderSettings, sink: FakeSink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = dataclasses.replace(settings, log_names=False)
    folder = DropFolder(settings, sink)
    drop_file(settings, "ZZNAMEPATIENT_Jean.hl7", oru(1))
    sink.errors = (MalformedHL7("a PID-5", source="x", segment="PID", field="PID-5"),)  # quarantined: every event
    assert folder.scan_once() == 1
    label = "file-" + hashlib.sha256(b"ZZNAMEPATIENT_Jean.hl7").hexdigest()[:12]
    assert sink.received == [(label, oru(1))]  # what the store records as the source
    logged = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert label in logged and "ZZNAMEPATIENT" not in logged
    assert (settings.quarantine / "ZZNAMEPATIENT_Jean.hl7").read_bytes() == oru(1)  # the file keeps its name
