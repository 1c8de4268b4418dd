"""The drop folder: files written by the SIL, handed to the sink, then archived or quarantined.

Completeness rule (tell the SIL): write the file under a temporary name, then rename it
into the folder. Names starting with ``.`` or ending in ``.tmp`` / ``.part`` are ignored.
A file is taken only when its size and mtime have not changed for ``stable_seconds``
(its mtime is that old, or we saw it unchanged for that long), which also covers a
writer that does not rename. Symlinks and non-regular files are skipped (opened with
O_NOFOLLOW); the size, mtime and inode are checked again on the opened file.

Order of effects, so that nothing is lost at any crash point:
read → ``sink.receive`` (committed) → link into archive/ or quarantine/ (with
``<name>.reason.txt`` written first) → fsync those folders → unlink from drop/ → fsync
drop/ (the fsyncs once per batch of ``MOVE_BATCH`` files). A crash leaves the file in drop/
(re-received; the sink dedups by content) or in archive/quarantine. When the store is down the file stays in drop/ and
the scan stops until the next try.

Scanning: one ``os.scandir`` per scan, files handled in (mtime, name) order, no per-file
directory listing, so 100,000 waiting files cost one pass. A watchdog observer wakes the
scanner early; a periodic rescan catches missed events (inotify overflow, NFS/SMB).
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import os
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from connector.errors import ConfigError, PermanentError, TransientError
from connector.files import ensure_private_dir, write_private
from connector.intake.moves import MoveBatch, link_no_replace
from connector.intake.sink import Receipt, Sink
from connector.logs import event

__all__ = ["DropFolder", "FolderSettings"]

IGNORED_SUFFIXES = (".tmp", ".part")  # conventional names of files still being written
REASON_SUFFIX = ".reason.txt"
RESCAN_SECONDS = 30.0  # safety scan: events can be missed (inotify overflow, network folders)
STORE_RETRY_SECONDS = 10.0  # wait after StoreUnavailable before trying the store again
MOVE_BATCH = 64  # files per directory fsync; bounds the re-received duplicates after a crash
MIN_SCAN_INTERVAL = 0.5  # a file being written fires many events; one scan per burst is enough
_WAKE_EVENTS = {"created", "moved", "modified", "closed"}  # not our own opens/reads/deletes


@dataclass(frozen=True, kw_only=True)
class FolderSettings:
    """From the ``intake.folder`` section (``connector.config.settings``, where the defaults are)."""

    drop: Path
    archive: Path
    quarantine: Path
    stable_seconds: float  # size and mtime unchanged this long ⇒ the writer is done
    # False: events and the store name a file ``file-<12 hex of its name's SHA-256>``, for a SIL
    # whose file names hold patient data (the file itself keeps its name in archive/, quarantine/).
    log_names: bool
    max_file_bytes: int  # the one input size limit (intake.max_message_bytes)
    pattern: str = "*"  # fnmatch on the file name, e.g. "*.hl7"; no configuration key


@dataclass(frozen=True)
class _Candidate:
    name: str
    size: int
    mtime_ns: int
    inode: int


class DropFolder:
    """Takes complete files from ``settings.drop`` one at a time, oldest first."""

    def __init__(self, settings: FolderSettings, sink: Sink) -> None:
        self._settings = settings
        self._sink = sink
        for folder in (settings.drop, settings.archive, settings.quarantine):
            ensure_private_dir(folder)
        devices = {p.stat().st_dev for p in (settings.drop, settings.archive, settings.quarantine)}
        if len(devices) != 1:
            raise ConfigError("drop, archive and quarantine must be on one filesystem (atomic moves)")
        self._first_seen: dict[tuple[str, int, int, int], float] = {}  # unstable file → first seen
        self._lock = threading.Lock()  # one scan at a time (thread and callers)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._observer: Observer | None = None  # type: ignore[valid-type]
        self._thread: threading.Thread | None = None
        self._store_down = False
        self._moves = MoveBatch(settings.drop)
        self.waiting = 0  # files seen in the last scan but not yet stable

    def scan_once(self) -> int:
        """Handle every complete file waiting now; the number archived or quarantined."""
        with self._lock:
            handled = 0
            self._store_down = False
            self._moves = MoveBatch(self._settings.drop)
            try:
                for candidate in self._complete_files():
                    if self._store_down or self._stopping.is_set():
                        break
                    handled += self._handle(candidate)
                    if len(self._moves) >= MOVE_BATCH:
                        self._moves.flush()
            finally:
                self._moves.flush()
            return handled

    def start(self) -> None:
        """Watch the folder (watchdog) and rescan periodically, in a background thread."""
        if self._thread is not None:
            return
        self._stopping.clear()
        observer = Observer()
        observer.schedule(_Wake(self._wake), str(self._settings.drop), recursive=False)
        observer.start()
        self._observer = observer
        self._thread = threading.Thread(target=self._run, name="drop-folder", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching; the file being handled is finished first."""
        self._stopping.set()
        self._wake.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join()
            self._observer = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.scan_once()
            except Exception as exc:  # noqa: BLE001 - e.g. folder unmounted: keep the thread alive
                event("folder.scan_failed", level=logging.ERROR, folder=str(self._settings.drop),
                      error=type(exc).__name__)
            delay = RESCAN_SECONDS
            if self.waiting:
                delay = min(delay, self._settings.stable_seconds)
            if self._store_down:
                delay = STORE_RETRY_SECONDS
            self._wake.wait(delay)
            self._wake.clear()
            self._stopping.wait(MIN_SCAN_INTERVAL)

    def _complete_files(self) -> list[_Candidate]:
        """One directory pass: the complete files, oldest first; remembers the others."""
        s = self._settings
        now_ns, now = time.time_ns(), time.monotonic()
        stable_ns = int(s.stable_seconds * 1e9)
        ready: list[_Candidate] = []
        first_seen: dict[tuple[str, int, int, int], float] = {}
        with os.scandir(s.drop) as entries:
            for entry in entries:
                name = entry.name
                if name.startswith(".") or name.endswith(IGNORED_SUFFIXES) or not fnmatch.fnmatch(name, s.pattern):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if not stat.S_ISREG(st.st_mode):
                    continue
                candidate = _Candidate(name, st.st_size, st.st_mtime_ns, st.st_ino)
                key = (name, st.st_size, st.st_mtime_ns, st.st_ino)
                seen = self._first_seen.get(key, now)
                # mtime that old, or unchanged under our own watch that long (covers clock skew)
                if now_ns - st.st_mtime_ns >= stable_ns or now - seen >= s.stable_seconds:
                    ready.append(candidate)
                else:
                    first_seen[key] = seen
        self._first_seen = first_seen
        self.waiting = len(first_seen)
        ready.sort(key=lambda c: (c.mtime_ns, c.name))
        return ready

    def _label(self, name: str) -> str:
        """How events and the store name a file: its name, or a stable digest of it (``log_names``)."""
        if self._settings.log_names:
            return name
        return "file-" + hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:12]

    def _handle(self, candidate: _Candidate) -> int:
        """1 when the file left drop/, 0 when it stays (changed, store down, failure)."""
        name = self._label(candidate.name)
        limit = self._settings.max_file_bytes
        if candidate.size > limit:
            return self._quarantine(candidate, None, [f"{name}: expected a file of at most {limit} bytes"])
        try:
            data = self._read(candidate)
        except OSError as exc:
            event("folder.read_failed", level=logging.WARNING, source=name, error=type(exc).__name__)
            return 0
        if data is None:
            event("folder.file_changed", level=logging.INFO, source=name)
            return 0
        try:
            receipt = self._sink.receive(data, source=name)
        except TransientError as exc:
            event("folder.store_unavailable", level=logging.WARNING, source=name, error=type(exc).__name__)
            self._store_down = True
            return 0
        except PermanentError as exc:
            return self._quarantine(candidate, None, [str(exc)])
        except Exception as exc:  # noqa: BLE001 - a sink bug must not stop the folder; file kept
            event("folder.sink_failed", level=logging.ERROR, source=name, error=type(exc).__name__)
            return 0
        if receipt.errors:
            return self._quarantine(candidate, receipt, [e.describe() for e in receipt.errors])
        return self._move(candidate, self._settings.archive, receipt)

    def _read(self, candidate: _Candidate) -> bytes | None:
        path = self._settings.drop / candidate.name
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        fd = os.open(path, flags)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or (st.st_size, st.st_mtime_ns, st.st_ino) != (
                candidate.size,
                candidate.mtime_ns,
                candidate.inode,
            ):
                return None
            chunks, remaining = [], candidate.size + 1  # one byte more reveals a file still growing
            while remaining > 0:
                chunk = os.read(fd, min(remaining, 1 << 20))
                if not chunk:
                    break
                chunks.append(chunk)
                remaining -= len(chunk)
        finally:
            os.close(fd)
        data = b"".join(chunks)
        return data if len(data) == candidate.size else None

    def _quarantine(self, candidate: _Candidate, receipt: Receipt | None, reasons: list[str]) -> int:
        header = [f"file: {candidate.name}"]
        if receipt is not None:
            header.append(f"input id: {receipt.input_id}")
        text = "\n".join(header + reasons) + "\n"

        def write_reason(target: Path) -> None:
            write_private(target.with_name(target.name + REASON_SUFFIX), text.encode("utf-8"), sync_dir=False)

        return self._move(candidate, self._settings.quarantine, receipt, before=write_reason)

    def _move(
        self,
        candidate: _Candidate,
        folder: Path,
        receipt: Receipt | None,
        *,
        before: Callable[[Path], None] | None = None,
    ) -> int:
        src = self._settings.drop / candidate.name
        try:
            target, still_linked = link_no_replace(src, folder, candidate.name, before=before)
        except OSError as exc:
            event("folder.move_failed", level=logging.ERROR, source=self._label(candidate.name),
                  folder=folder.name, error=type(exc).__name__)
            return 0
        self._moves.add(src, target, still_linked=still_linked)
        try:
            os.chmod(target, 0o600)  # the SIL's file holds patient data: owner only from here on
        except PermissionError:
            event("folder.mode_kept", level=logging.WARNING, source=self._label(target.name), folder=folder.name)
        event("folder.moved", level=logging.INFO, source=self._label(candidate.name), folder=folder.name,
              target=self._label(target.name),
              input_id=receipt.input_id if receipt is not None else None)
        return 1


class _Wake(FileSystemEventHandler):
    """Any write/rename in the drop folder wakes the scanner; it decides what is ready."""

    def __init__(self, wake: threading.Event) -> None:
        self._wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in _WAKE_EVENTS:
            self._wake.set()
