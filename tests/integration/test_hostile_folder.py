"""Issue 13, the drop folder against a SIL that races, pauses and leaves odd things (real temp folders).

- observation 3: a name reused while the connector still processes the first file is a new input:
  nothing archived unread, nothing deleted (files are claimed by one rename before they are read);
  a file claimed before a crash is received at the next start;
- observation 4: a writer that pauses longer than ``stable_seconds`` is not taken early: close-write
  events hold a file still open, the HL7 check holds an unterminated one (then quarantines it),
  batch trailers' counts are checked, and a file written to during its commit is received again
  as a new input while the first, incomplete one is withdrawn;
- observation 11: a symlink, a folder, a FIFO, a name that is not UTF-8, a 255-byte name reused, an
  unreadable file: each gets an event and a place;
- observation 12: reason files name a file by its label when ``log_names`` is false.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import threading
import time
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.errors import InputError
from connector.intake import DropFolder, FolderSettings, Receipt
from connector.logs import JsonFormatter
from tests.support.settings import folder_settings

OLD = time.time() - 3600


def oru(tag: str, *, results: int = 3) -> bytes:
    lines = [f"MSH|^~\\&|SIL|LAB|||2026||ORU^R01|{tag}|P|2.5", "PID|||1||SYNTH^P", "OBR|1"]
    lines += [f"OBX|{i}|NM|T{i}^T^L||{i}.5" for i in range(1, results + 1)]
    return ("\r".join(lines) + "\r").encode()


class Sink:
    """Records each input; ``during`` runs inside a receive (the SIL acting while we commit)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.refused: list[tuple[str, bytes, str]] = []
        self.superseded: list[tuple[int, str]] = []
        self.during: dict[int, object] = {}  # receive number (1-based) → callable
        self._lock = threading.Lock()

    def receive(self, data: bytes, *, source: str, dedup_key: tuple[str, str, str] | None = None) -> Receipt:
        with self._lock:
            self.received.append((source, data))
            number = len(self.received)
        action = self.during.pop(number, None)
        if callable(action):
            action()
        duplicate = any(d == data for _, d in self.received[:-1])
        return Receipt(number, duplicate=duplicate, reports=(f"r{number}",))

    def refuse(self, data: bytes, *, source: str, error: InputError) -> Receipt:
        self.refused.append((source, data, error.describe()))
        return Receipt(1000 + len(self.refused), errors=(error,))

    def supersede(self, receipt: Receipt, *, reason: str) -> None:
        self.superseded.append((receipt.input_id, reason))

    def remember_ack(self, input_id: int, ack: bytes) -> None:  # pragma: no cover - MLLP only
        raise AssertionError("the drop folder sends no ACK")


def _settings(tmp_path: Path, **changes: object) -> FolderSettings:
    return folder_settings(drop=tmp_path / "drop", archive=tmp_path / "archive",
                           quarantine=tmp_path / "quarantine", **{"stable_seconds": 0, **changes})


def sil_writes(folder: Path, name: str, data: bytes, *, mtime: float | None = OLD) -> None:
    """The SIL contract: a temporary name, then a rename (over an existing name, if any)."""
    tmp = folder / f".sil-{uuid.uuid4().hex}.part"
    tmp.write_bytes(data)
    if mtime is not None:
        os.utime(tmp, (mtime, mtime))
    os.rename(tmp, folder / name)


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")}


def drain(folder: DropFolder, scans: int = 4) -> None:
    for _ in range(scans):
        folder.scan_once()


# ---------------------------------------------------------------- observation 3: names reused


def test_a_name_reused_during_the_commit_is_a_new_input_not_archived_unread(tmp_path: Path) -> None:
    s, sink = _settings(tmp_path), Sink()
    folder = DropFolder(s, sink)
    sil_writes(s.drop, "a.hl7", oru("FIRST"))
    sink.during[1] = lambda: sil_writes(s.drop, "a.hl7", oru("SECOND"))
    drain(folder)
    assert sorted(d for _, d in sink.received) == sorted([oru("FIRST"), oru("SECOND")])
    assert sorted(files(s.archive).values()) == sorted([oru("FIRST"), oru("SECOND")])  # each read, then archived
    assert not files(s.drop)


def test_a_name_reused_before_the_batch_flush_is_never_deleted(tmp_path: Path) -> None:
    s, sink = _settings(tmp_path), Sink()
    folder = DropFolder(s, sink)
    sil_writes(s.drop, "a.hl7", oru("A1"), mtime=OLD)
    sil_writes(s.drop, "b.hl7", oru("B1"), mtime=OLD + 1)
    sink.during[2] = lambda: sil_writes(s.drop, "a.hl7", oru("A2"))  # a.hl7 is linked, its unlink still to come
    folder.scan_once()
    assert files(s.drop) == {"a.hl7": oru("A2")}  # the old code's flush unlinked this new file
    drain(folder)
    assert sorted(d for _, d in sink.received) == sorted([oru("A1"), oru("B1"), oru("A2")])


def test_a_file_claimed_before_a_crash_is_received_at_the_next_start(tmp_path: Path) -> None:
    s, sink = _settings(tmp_path), Sink()
    claim = s.archive / ".claim" / "0"  # its slot, as claim.py lays it out
    claim.mkdir(parents=True, mode=0o700)
    (claim / "crashed.hl7").write_bytes(oru("CRASH"))
    os.utime(claim / "crashed.hl7", (OLD, OLD))
    folder = DropFolder(s, sink)
    assert folder.scan_once() == 1
    assert sink.received == [("crashed.hl7", oru("CRASH"))]
    assert files(s.archive) == {"crashed.hl7": oru("CRASH")}
    assert not (s.archive / ".claim").exists()  # tidied once empty


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(st.tuples(st.sampled_from(["a.hl7", "b.hl7", "c.hl7"]), st.integers(0, 6)),
                     min_size=1, max_size=8))
def test_whatever_the_timing_nothing_is_archived_unread_or_lost(
        tmp_path_factory: pytest.TempPathFactory, plan: list[tuple[str, int]]) -> None:
    """The SIL renames files in at any moment, over any name, also while the connector is committing
    another file of that name. Whatever the schedule: what is archived is exactly what was received,
    and every file handed over was received, unless the SIL itself replaced it before it was read."""
    s, sink = _settings(tmp_path_factory.mktemp("f")), Sink()
    folder = DropFolder(s, sink)
    written: list[bytes] = []
    replaced_unread: list[bytes] = []

    def hand_over(name: str, data: bytes) -> None:
        target = s.drop / name
        if target.exists():
            previous = target.read_bytes()
            if previous not in [d for _, d in sink.received]:
                replaced_unread.append(previous)  # the SIL's own doing: not ours to keep
        sil_writes(s.drop, name, data, mtime=None)
        written.append(data)

    for i, (name, moment) in enumerate(plan):
        data = oru(f"H{i}")
        if moment == 0:
            hand_over(name, data)
            continue
        at = len(sink.received) + moment  # during that receive, counted from now
        previous = sink.during.get(at)

        def later(name: str = name, data: bytes = data, previous: object = previous) -> None:
            if callable(previous):
                previous()
            hand_over(name, data)

        sink.during[at] = later
    for _ in range(len(plan) + 4):
        folder.scan_once()
    received = [d for _, d in sink.received]
    assert sorted(files(s.archive).values()) == sorted(received), "a file archived unread, or received and lost"
    expected = sorted(set(written) - set(replaced_unread))
    assert sorted(set(received)) == expected, "a file handed over was never received"
    assert not files(s.drop)


# ---------------------------------------------------------------- observation 4: writers that pause


def test_a_writer_pausing_at_a_segment_boundary_is_held_by_its_open_file(tmp_path: Path) -> None:
    s, sink = _settings(tmp_path, stable_seconds=0.3), Sink()
    folder = DropFolder(s, sink)
    whole = oru("PAUSE", results=6)
    cut = whole.index(b"OBX|4")  # 3 of 6 results, ending with a segment terminator: HL7 sees nothing missing
    folder.start()
    try:
        with open(s.drop / "slow.hl7", "wb") as writer:  # no temp name, no rename: a sloppy SIL
            writer.write(whole[:cut])
            writer.flush()
            time.sleep(2.0)  # much longer than stable_seconds
            writer.write(whole[cut:])
        deadline = time.monotonic() + 10
        while not sink.received and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
    finally:
        folder.stop()
    assert [d for _, d in sink.received] == [whole]  # the old code took the first 3 results and archived the rest


def test_an_unterminated_file_is_held_then_refused_never_taken(tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="connector")
    s, sink = _settings(tmp_path, stable_seconds=0.1), Sink()
    folder = DropFolder(s, sink)
    whole = oru("CUT", results=6)
    sil_writes(s.drop, "cut.hl7", whole[: whole.index(b"OBX|4") + 9])  # cut inside the 4th result
    assert folder.scan_once() == 0 and not sink.received  # held: a writer may come back
    assert [getattr(r, "expected", "") for r in caplog.records if getattr(r, "event", "") == "folder.incomplete"] \
        == ["the last segment to end with a carriage return"]
    time.sleep(0.1 * 30 + 0.2)  # HOLD_FACTOR × stable_seconds
    assert folder.scan_once() == 1
    assert not sink.received  # never parsed, never sent
    [(source, data, reason)] = sink.refused
    assert source == "cut.hl7" and data == whole[: whole.index(b"OBX|4") + 9] and "carriage return" in reason
    assert "carriage return" in (s.quarantine / "cut.hl7.reason.txt").read_text()


def test_a_batch_whose_trailer_counts_more_messages_than_it_holds_is_refused(tmp_path: Path) -> None:
    s, sink = _settings(tmp_path), Sink()
    folder = DropFolder(s, sink)
    batch = b"FHS|^~\\&|SIL\rBHS|^~\\&|SIL\r" + oru("B1") + oru("B2") + b"BTS|3\rFTS|1\r"
    sil_writes(s.drop, "batch.hl7", batch)
    folder.scan_once()
    assert not sink.received and "BTS-1" in sink.refused[0][2]
    whole = b"FHS|^~\\&|SIL\rBHS|^~\\&|SIL\r" + oru("B1") + oru("B2") + b"BTS|2\rFTS|1\r"
    sil_writes(s.drop, "whole.hl7", whole)
    folder.scan_once()
    assert [d for _, d in sink.received] == [whole]


def test_a_file_written_to_during_its_commit_is_a_new_input_and_the_first_is_withdrawn(tmp_path: Path) -> None:
    s, sink = _settings(tmp_path), Sink()
    folder = DropFolder(s, sink)
    whole = oru("GROW", results=6)
    cut = whole.index(b"OBX|4")
    path = s.drop / "grow.hl7"
    writer = open(path, "wb")  # noqa: SIM115 - the writer keeps its file open across our claim
    try:
        writer.write(whole[:cut])
        writer.flush()
        os.utime(path, (OLD, OLD))

        def resume() -> None:
            writer.write(whole[cut:])
            writer.flush()

        sink.during[1] = resume
        folder.scan_once()
    finally:
        writer.close()
    assert [i for i, _ in sink.superseded] == [1] and "grew" in sink.superseded[0][1]
    drain(folder)
    assert [d for _, d in sink.received] == [whole[:cut], whole]
    assert files(s.archive) == {"grow.hl7": whole}


# ---------------------------------------------------------------- observation 11: every entry gets a place


def test_links_folders_and_fifos_get_an_event_and_a_place(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="connector")
    s, sink = _settings(tmp_path), Sink()
    folder = DropFolder(s, sink)
    outside = tmp_path / "outside.hl7"
    outside.write_bytes(oru("OUT"))
    (s.drop / "link.hl7").symlink_to(outside)
    (s.drop / "dir.hl7").mkdir()
    os.mkfifo(s.drop / "fifo.hl7")
    assert folder.scan_once() == 3
    assert not sink.received and not list(s.drop.iterdir())
    assert (s.quarantine / "link.hl7").is_symlink() and outside.read_bytes() == oru("OUT")  # never followed
    assert (s.quarantine / "dir.hl7").is_dir()
    for name, kind in (("link.hl7", "symbolic link"), ("dir.hl7", "folder"), ("fifo.hl7", "FIFO")):
        assert kind in (s.quarantine / f"{name}.reason.txt").read_text()
    moved = sorted(r.source for r in caplog.records if getattr(r, "event", "") == "folder.moved")  # type: ignore[attr-defined]
    assert moved == ["dir.hl7", "fifo.hl7", "link.hl7"]


def test_a_name_that_is_not_utf8_is_received_with_an_escaped_label(tmp_path: Path) -> None:
    from connector.config import demo_config
    from connector.service.runtime import open_runtime

    s = _settings(tmp_path)
    runtime = open_runtime(demo_config(data_dir=str(tmp_path / "var")), with_smtp=False)
    try:
        folder = DropFolder(s, runtime.pipeline)
        raw = os.path.join(os.fsencode(s.drop), b"r\xe9sultat.hl7")
        with open(raw, "wb") as f:
            f.write(b"not HL7 at all\r")
        assert folder.scan_once() == 1  # was folder.sink_failed UnicodeEncodeError at every scan
        [error] = runtime.store.input_errors()
        assert error["source"] == "r\\xe9sultat.hl7"
    finally:
        runtime.close()
    assert os.listdir(os.fsencode(s.quarantine)) and b"r\xe9sultat.hl7" in os.listdir(os.fsencode(s.quarantine))
    assert "r\\xe9sultat.hl7" in (s.quarantine / (os.fsdecode(b"r\xe9sultat.hl7") + ".reason.txt")).read_text()


def test_a_255_byte_name_reused_is_archived_under_a_shortened_name(tmp_path: Path) -> None:
    s, sink = _settings(tmp_path), Sink()
    folder = DropFolder(s, sink)
    name = "x" * 251 + ".hl7"
    (s.archive / name).write_bytes(b"an earlier file")
    sil_writes(s.drop, name, oru("LONG"))
    assert folder.scan_once() == 1  # was folder.move_failed (ENAMETOOLONG) every 30 s
    [new] = [n for n in os.listdir(s.archive) if n != name]
    assert len(os.fsencode(new)) <= 255 and new.endswith("~1.hl7")
    assert (s.archive / new).read_bytes() == oru("LONG") and (s.archive / name).read_bytes() == b"an earlier file"


def test_a_file_the_connector_cannot_read_goes_to_quarantine_not_archive(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s, sink = _settings(tmp_path), Sink()
    folder = DropFolder(s, sink)
    sil_writes(s.drop, "locked.hl7", oru("LOCKED"))
    real_open = os.open

    def refuse(path: object, *args: object, **kwargs: object) -> int:
        if str(path).endswith("locked.hl7"):
            raise PermissionError(errno.EACCES, "denied")
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", refuse)
    assert folder.scan_once() == 1  # stable_seconds 0: no grace
    assert not sink.received and not files(s.archive)
    assert "PermissionError" in (s.quarantine / "locked.hl7.reason.txt").read_text()


# ---------------------------------------------------------------- observation 12: reason files


def test_reason_files_name_a_file_by_its_label_when_names_are_kept_out(tmp_path: Path) -> None:
    s = dataclasses.replace(_settings(tmp_path), log_names=False)
    sink = Sink()
    folder = DropFolder(s, sink)
    (s.drop / "ZZNAMEPATIENT_Jean.hl7").mkdir()  # refused without reading: a reason file is written
    folder.scan_once()
    reason = (s.quarantine / "ZZNAMEPATIENT_Jean.hl7.reason.txt").read_text()
    assert "ZZNAMEPATIENT" not in reason and "file-" in reason


def test_no_event_quotes_a_raw_name(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="connector")
    s = dataclasses.replace(_settings(tmp_path, stable_seconds=0.05), log_names=False)
    folder = DropFolder(s, Sink())
    whole = oru("HIDE")
    sil_writes(s.drop, "ZZNAMEPATIENT_a.hl7", whole[:-3])  # incomplete: held, then refused
    folder.scan_once()
    time.sleep(0.05 * 30 + 0.1)
    folder.scan_once()
    logged = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert "folder.incomplete" in logged and "ZZNAMEPATIENT" not in logged
