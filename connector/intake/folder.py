"""The drop folder: files written by the SIL, handed to the sink, then archived or quarantined.

Completeness rule (tell the SIL): write the file under a temporary name, then rename it
into the folder. Names starting with ``.`` or ending in ``.tmp`` / ``.part`` are ignored.
For a writer that does not rename, a file is taken only when all of these hold:
- its size and mtime have not changed for ``stable_seconds`` (its mtime is that old, or we
  saw it unchanged for that long);
- no writer has it open: a write seen and no close-write since (inotify through watchdog,
  :mod:`connector.intake.writers`);
- its bytes look whole to HL7 (:mod:`connector.intake.complete`: last segment terminated,
  batch trailers' counts); an unterminated file unchanged ``HOLD_FACTOR`` times
  ``stable_seconds`` is quarantined with that reason, never sent.

Order of effects, so that nothing is lost and no other file is touched at any crash point:
open (O_NOFOLLOW) and read → claim: one rename of ``drop/<name>`` into the claim folder
(:mod:`connector.intake.claim`), then a check that the claimed file is the one read →
``sink.receive`` (committed) → re-check of the open file (it changed: it is a new input, and
the first one is withdrawn when it was a prefix, see :meth:`Sink.supersede`) → link into
archive/ or quarantine/ (``<name>.reason.txt`` written first) → fsync those folders → unlink
the claim → fsync (the fsyncs once per batch of ``MOVE_BATCH`` files). A file is never moved
by its name in drop/ after it was read: a new file the SIL renames over that name meanwhile is
a new input. A crash leaves the file in drop/ or claimed (every scan takes the claim folder
first; the sink dedups by content) or in archive/quarantine. When the store is down the file
stays claimed and the scan stops until the next try.

Every entry gets a place (issue 13): a symlink, a folder, a FIFO is moved (never followed or
opened) to quarantine/ with a reason; so is a file too large, incomplete, or unreadable for
``HOLD_FACTOR`` times ``stable_seconds``. Events and reason files name a file by
its label (``log_names``); a name that is not UTF-8 is shown with its bytes escaped.

Scanning: one ``os.scandir`` per scan, files handled in (mtime, name) order, no per-file
directory listing, so 100,000 waiting files cost one pass. A watchdog observer wakes the
scanner early; a periodic rescan catches missed events (inotify overflow, NFS/SMB).
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import hashlib
import logging
import os
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from connector.errors import ConfigError, InputError, PermanentError, TransientError
from connector.files import ensure_private_dir
from connector.intake.claim import CLAIM_FOLDER
from connector.intake.complete import incomplete
from connector.intake.owners import ClaimOwner, owner_folder
from connector.intake.places import REASON_SUFFIX, Entry, Places
from connector.intake.sink import Receipt, Sink
from connector.intake.writers import OpenWriters
from connector.logs import event

__all__ = ["REASON_SUFFIX", "DropFolder", "FolderSettings"]

IGNORED_SUFFIXES = (".tmp", ".part")  # conventional names of files still being written
RESCAN_SECONDS = 30.0  # safety scan: events can be missed (inotify overflow, network folders)
STORE_RETRY_SECONDS = 10.0  # wait after StoreUnavailable before trying the store again
MOVE_BATCH = 64  # files per directory fsync; bounds the re-received duplicates after a crash
MIN_SCAN_INTERVAL = 0.5  # a file being written fires many events; one scan per burst is enough
ADOPT_SECONDS = 5.0  # a shared folder: how often a scan looks for the claims of dead instances
# An unterminated file (or one we may not open yet: its writer may chmod it last) is held this many times
# stable_seconds (60 s at the default 2 s), then quarantined: long enough for a writer's pause, short enough
# for a person to notice. While held, an unchanged file is not read again.
HOLD_FACTOR = 30.0
OPEN_WRITER_HOLD_SECONDS = 600.0  # a write seen and no close for this long: an event was lost
_WAKE_EVENTS = {"created", "moved", "modified", "closed"}  # not our own opens/reads/deletes
_KINDS = {stat.S_IFLNK: "symbolic link", stat.S_IFDIR: "folder", stat.S_IFIFO: "FIFO", stat.S_IFSOCK: "socket",
          stat.S_IFCHR: "device", stat.S_IFBLK: "device"}


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
    # Set when several instances share the store (and may share this folder): this one claims into a
    # folder of its own and takes over the claims of dead instances (connector.intake.owners).
    instance: str = ""

    @property
    def claim(self) -> Path:
        """Where files are claimed: inside archive/ (ours, same filesystem), created when needed."""
        root = self.archive / CLAIM_FOLDER
        return owner_folder(root, self.instance) if self.instance else root


@dataclass
class _Held:
    """A file kept back (incomplete, unreadable): since when, and whether that was said already."""

    since: float
    said: bool = False


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
        self._places = Places(drop=settings.drop, archive=settings.archive, quarantine=settings.quarantine,
                              claim=settings.claim, label=self._label)
        self._writers = OpenWriters(OPEN_WRITER_HOLD_SECONDS)
        self._first_seen: dict[tuple[str, int, int, int], float] = {}  # unstable file → first seen
        self._held: dict[tuple[str, int, int, int], _Held] = {}  # incomplete or unreadable file → since
        self._lock = threading.Lock()  # one scan at a time (thread and callers)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._observer: Observer | None = None  # type: ignore[valid-type]
        self._thread: threading.Thread | None = None
        self._store_down = False
        self.waiting = 0  # files seen in the last scan but not taken yet (unstable, being written, held)
        self._owner: ClaimOwner | None = None
        self._adopted_at = -ADOPT_SECONDS
        if settings.instance:  # before the first claim: a live process with our name is refused here
            self._owner = ClaimOwner(settings.archive / CLAIM_FOLDER, settings.instance)
            self._owner.acquire()

    @property
    def store_down(self) -> bool:
        """The last scan stopped because the store could not commit (readiness)."""
        return self._store_down

    def scan_once(self) -> int:
        """Handle every complete file waiting now; the number archived or quarantined."""
        with self._lock:
            handled = 0
            self._store_down = False
            try:
                for candidate in self._complete_files():
                    if self._store_down or self._stopping.is_set():
                        break
                    handled += self._handle(candidate)
                    if self._places.pending() >= MOVE_BATCH:
                        self._places.flush()
            finally:
                self._places.done()
            return handled

    def start(self) -> None:
        """Watch the folder (watchdog) and rescan periodically, in a background thread."""
        if self._thread is not None:
            return
        self._stopping.clear()
        observer = Observer()
        observer.schedule(_Wake(self._wake, self._writers), str(self._settings.drop), recursive=False)
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
        if self._owner is not None:
            with self._lock:  # a scan called from elsewhere is finished too
                self._owner.release()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.scan_once()
            except Exception as exc:  # noqa: BLE001 - e.g. folder unmounted: keep the thread alive
                event("folder.scan_failed", level=logging.ERROR, folder=str(self._settings.drop),
                      error=type(exc).__name__)
            delay = RESCAN_SECONDS
            if self.waiting:
                delay = min(delay, max(self._settings.stable_seconds, MIN_SCAN_INTERVAL))
            if self._store_down:
                delay = STORE_RETRY_SECONDS
            self._wake.wait(delay)
            self._wake.clear()
            self._stopping.wait(MIN_SCAN_INTERVAL)

    # ------------------------------------------------------------------ what is ready

    def _complete_files(self) -> list[Entry]:
        """One pass over the claim folder, then drop/: what is ready, oldest first; remembers the others."""
        s = self._settings
        now_ns, now = time.time_ns(), time.monotonic()
        stable_ns = int(s.stable_seconds * 1e9)
        ready: list[Entry] = []
        first_seen: dict[tuple[str, int, int, int], float] = {}

        def consider(candidate: Entry) -> None:
            seen = self._first_seen.get(candidate.key, now)
            if candidate.claimed is None and stat.S_ISREG(candidate.mode) and self._writers.is_open(candidate.name):
                first_seen[candidate.key] = seen  # a writer has it open: however long it pauses
            elif now_ns - candidate.mtime_ns >= stable_ns or now - seen >= s.stable_seconds:
                ready.append(candidate)  # mtime that old, or unchanged under our watch that long (clock skew)
            else:
                first_seen[candidate.key] = seen

        self._adopt()
        claimed = []
        for path in self._places.claims.leftovers():
            with contextlib.suppress(FileNotFoundError):  # gone since the listing
                claimed.append(Entry.of(path.name, os.lstat(path), claimed=path))
        for candidate in claimed:
            consider(candidate)
        with os.scandir(s.drop) as entries:
            for entry in entries:
                name = entry.name
                if name.startswith(".") or name.endswith(IGNORED_SUFFIXES) or not fnmatch.fnmatch(name, s.pattern):
                    continue
                with contextlib.suppress(FileNotFoundError):  # gone since the listing
                    consider(Entry.of(name, entry.stat(follow_symlinks=False)))
        self._first_seen = first_seen
        live = {c.key for c in ready}
        self._held = {k: v for k, v in self._held.items() if k in live}  # forget files gone or changed
        self.waiting = len(first_seen) + len(self._held)
        ready.sort(key=lambda c: (c.claimed is None, c.mtime_ns, c.name))  # claimed leftovers first
        return ready

    def _adopt(self) -> None:
        """A shared folder: take the claims of instances that died into ours (then handled as leftovers)."""
        if self._owner is None or not self._owner.held or time.monotonic() - self._adopted_at < ADOPT_SECONDS:
            return
        self._adopted_at = time.monotonic()
        for instance, files in self._owner.adopt(self._places.claims).items():
            event("folder.claims_adopted", level=logging.WARNING, instance=instance or "(one-instance layout)",
                  files=files)

    def _label(self, name: str) -> str:
        """How events, the store and reason files name a file: its name, or a digest of it (``log_names``)."""
        raw = os.fsencode(name)
        if self._settings.log_names:
            return raw.decode("utf-8", "backslashreplace")  # a name that is not UTF-8 keeps its bytes, escaped
        return "file-" + hashlib.sha256(raw).hexdigest()[:12]

    # ------------------------------------------------------------------ one file

    def _handle(self, candidate: Entry) -> int:
        """1 when the file left drop/ (or its claim) for good, 0 when it stays (changed, held, store down)."""
        label = self._label(candidate.name)
        if not stat.S_ISREG(candidate.mode):
            kind = _KINDS.get(stat.S_IFMT(candidate.mode), "special file")
            return self._places.refuse(candidate, f"{label}: expected a regular file, not a {kind} (never "
                                       "followed or opened); write files into the drop folder")
        limit = self._settings.max_file_bytes
        if candidate.size > limit:
            return self._places.refuse(candidate, f"{label}: expected a file of at most {limit} bytes")
        held = self._held.get(candidate.key)
        if held is not None and not self._expired(held):
            return 0  # unchanged since it was found incomplete or unreadable: no need to read it again
        try:
            fd = self._open(candidate)
        except OSError as exc:
            return self._unreadable(candidate, label, exc)
        if fd is None:
            event("folder.file_changed", level=logging.INFO, source=label)
            return 0
        try:
            return self._take(candidate, label, fd)
        finally:
            os.close(fd)

    def _take(self, candidate: Entry, label: str, fd: int) -> int:
        data = _read(fd, candidate.size)
        if data is None:
            event("folder.file_changed", level=logging.INFO, source=label)
            return 0
        missing = incomplete(data)
        if missing and candidate.claimed is None:
            hold = self._hold(candidate)
            if hold is not None:
                if not hold.said:
                    hold.said = True
                    event("folder.incomplete", level=logging.WARNING, source=label, expected=missing)
                return 0
            return self._refuse_incomplete(candidate, label, data, missing, os.fstat(fd))
        claimed = self._places.claim(candidate, expect=os.fstat(fd))
        if claimed is None:
            return 0
        candidate = claimed
        try:
            receipt = self._sink.receive(data, source=label)
        except TransientError as exc:
            event("folder.store_unavailable", level=logging.WARNING, source=label, error=type(exc).__name__)
            self._store_down = True
            self._places.put_back(candidate.claimed)  # not committed: back where the SIL left it
            return 0
        except PermanentError as exc:
            return self._places.to_quarantine(candidate, None, [str(exc)])
        except Exception as exc:  # noqa: BLE001 - a sink bug must not stop the folder; file kept (claimed)
            event("folder.sink_failed", level=logging.ERROR, source=label, error=type(exc).__name__)
            self._places.put_back(candidate.claimed)
            return 0
        after = os.fstat(fd)
        if (after.st_size, after.st_mtime_ns) != (candidate.size, candidate.mtime_ns):
            self._changed_after_commit(candidate, label, fd, data, receipt)
            return 0
        if receipt.errors:
            return self._places.to_quarantine(candidate, receipt, [e.describe() for e in receipt.errors])
        return self._places.to_archive(candidate, receipt)

    def _refuse_incomplete(self, candidate: Entry, label: str, data: bytes, missing: str,
                           read: os.stat_result) -> int:
        """Held long enough and still incomplete: committed as a refused input (its bytes kept for the
        quarantine list), never parsed or sent; the file goes to quarantine/ with the reason."""
        error = InputError(f"{missing}; the file stayed unchanged without it, so it may be incomplete: the "
                           "SIL must write under a temporary name, then rename", source=label)
        claimed = self._places.claim(candidate, expect=read)
        if claimed is None:
            return 0
        candidate = claimed
        try:
            receipt = self._sink.refuse(data, source=label, error=error)
        except TransientError as exc:
            event("folder.store_unavailable", level=logging.WARNING, source=label, error=type(exc).__name__)
            self._store_down = True
            self._places.put_back(candidate.claimed)
            return 0
        return self._places.to_quarantine(candidate, receipt, [error.describe()])

    def _open(self, candidate: Entry) -> int | None:
        """An fd on the file, or None when it is not the file the scan saw (changed, replaced)."""
        path = candidate.claimed or self._settings.drop / candidate.name
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or (st.st_size, st.st_mtime_ns, st.st_ino) != (
                candidate.size, candidate.mtime_ns, candidate.inode):
            os.close(fd)
            return None
        return fd

    def _changed_after_commit(self, candidate: Entry, label: str, fd: int, data: bytes,
                              receipt: Receipt) -> None:
        """Written to while it was committed: the new bytes are a new input (read at a later scan, when
        stable), and when the first read was only their beginning, its reports must not be sent."""
        grew = os.fstat(fd).st_size > len(data) and os.pread(fd, len(data), 0) == data
        event("folder.changed_after_commit", level=logging.WARNING, source=label, input_id=receipt.input_id,
              grew=grew)
        if grew:
            self._sink.supersede(receipt, reason=f"{label}: the file grew after it was read (input "
                                 f"{receipt.input_id} was incomplete); its complete version is received as a "
                                 "new input")

    def _hold(self, candidate: Entry) -> _Held | None:
        """The hold on a file kept back, or None once it lasted HOLD_FACTOR × stable_seconds."""
        held = self._held.setdefault(candidate.key, _Held(time.monotonic()))
        return None if self._expired(held) else held

    def _expired(self, held: _Held) -> bool:
        return time.monotonic() - held.since >= HOLD_FACTOR * self._settings.stable_seconds

    def _unreadable(self, candidate: Entry, label: str, exc: OSError) -> int:
        if exc.errno in (errno.ENOENT, errno.ELOOP):  # gone, or a symlink put in its place: the next scan sees
            return 0
        hold = self._hold(candidate)
        if hold is not None:
            if not hold.said:
                hold.said = True
                event("folder.read_failed", level=logging.WARNING, source=label, error=type(exc).__name__)
            return 0
        return self._places.refuse(candidate, f"{label}: expected a file the connector can read "
                                   f"({type(exc).__name__}): check its owner and mode, then put it back into drop/")

def _read(fd: int, size: int) -> bytes | None:
    """The file's bytes, or None when it holds more than ``size`` now (still growing)."""
    chunks, remaining = [], size + 1  # one byte more reveals a file still growing
    while remaining > 0:
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    data = b"".join(chunks)
    return data if len(data) == size else None


class _Wake(FileSystemEventHandler):
    """Any write/rename in the drop folder wakes the scanner (it decides what is ready), and the
    writes and closes tell which files a writer still has open."""

    def __init__(self, wake: threading.Event, writers: OpenWriters) -> None:
        self._wake = wake
        self._writers = writers

    def on_any_event(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self._writers.saw(event.event_type, os.fsdecode(event.src_path), os.fsdecode(event.dest_path or ""))
        if event.event_type in _WAKE_EVENTS:
            self._wake.set()
