"""One drop folder shared by several instances: each claims into a folder of its own, and a survivor
takes over the claims of an instance that died.

Why: a file is claimed by one rename out of drop/ (:mod:`connector.intake.claim`); two instances
racing for one file both try that rename and only one succeeds, so two instances never take the
same file. What a single claim folder could not say is whose a claim is: every scan takes the
files left in the claim folder first (a crash's leftovers), so instance B would take the file A is
working on. Hence one claim folder per instance, ``archive/.claim/@<instance>/<slot>/<name>``,
where the instance is again the only writer (its "is this name free" check stays race-free).

Liveness: each instance holds an exclusive ``flock`` on ``@<instance>/.lock`` for as long as it
runs. The kernel drops the lock when the process ends, however it ends (SIGKILL included), so a
lock that can be taken means its owner is gone: the taker renames that folder's claims into its
own claim folder (each rename atomic: two survivors never both take one file), then removes the
dead folder. A restarted instance with the same ``instance.name`` finds its own claims at once.

On a network filesystem the lock must reach the other hosts (NFSv4, or NFSv3 with lockd; Linux
maps ``flock`` to NFS locks); where it cannot, give each instance a drop folder of its own.
The single-instance layout ``archive/.claim/<slot>/`` (SQLite) is unchanged; its leftovers, from
before a move to a shared store, are taken by whichever instance looks first.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

from connector.errors import ConfigError
from connector.files import ensure_private_dir
from connector.intake.claim import ClaimFolder

__all__ = ["OWNER_PREFIX", "ClaimOwner", "owner_folder"]

OWNER_PREFIX = "@"  # an instance's folder inside archive/.claim/; slots of the one-instance layout are digits
LOCK_NAME = ".lock"
# A restarted instance may find its folder locked for a moment by a survivor taking its claims, or by
# its previous process still exiting: it waits this long before saying the name is in use.
TAKE_LOCK_SECONDS = 10.0
_RETRY_SECONDS = 0.2


def owner_folder(claim_root: Path, instance: str) -> Path:
    return claim_root / f"{OWNER_PREFIX}{instance}"


class ClaimOwner:
    """This instance's claim folder and its lock; :meth:`adopt` takes over the folders of dead instances."""

    def __init__(self, claim_root: Path, instance: str) -> None:
        self.claim_root = claim_root  # archive/.claim
        self.root = owner_folder(claim_root, instance)
        self._fd: int | None = None

    def acquire(self) -> None:
        """Hold this instance's lock (at start, before the first claim); ConfigError when a live process has it."""
        deadline = time.monotonic() + TAKE_LOCK_SECONDS
        while self._fd is None:
            ensure_private_dir(self.root)
            try:
                self._fd = _lock(self.root / LOCK_NAME, create=True)
            except FileNotFoundError:  # a survivor removed the folder of our previous life meanwhile: again
                continue
            if self._fd is None:
                if time.monotonic() > deadline:
                    raise ConfigError(f"the drop folder's claims of instance {self.root.name[1:]} are held by a "
                                      "running process: each instance needs its own instance.name",
                                      path=str(self.root))
                time.sleep(_RETRY_SECONDS)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """At a clean stop: the lock goes, and the folder with it when no claim is left in it."""
        if self._fd is None:
            return
        try:
            if not _claimed_files(self.root):
                _remove_folder(self.root)
        finally:
            os.close(self._fd)
            self._fd = None

    def adopt(self, claims: ClaimFolder) -> dict[str, int]:
        """Take the claims of every instance whose lock is free (it died) into ``claims``; per dead instance,
        the number of files taken. Legacy one-instance slots are taken too."""
        taken: dict[str, int] = {}
        try:
            entries = [e for e in os.scandir(self.claim_root) if e.is_dir(follow_symlinks=False)]
        except FileNotFoundError:
            return taken
        for entry in entries:
            folder = Path(entry.path)
            if entry.name.isdigit():  # a slot of the one-instance layout: nobody owns it any more
                count = sum(claims.claim(folder, name) is not None for name in _names(folder))
                if count:
                    taken[""] = taken.get("", 0) + count
                with contextlib.suppress(OSError):
                    folder.rmdir()
            elif entry.name.startswith(OWNER_PREFIX) and folder != self.root:
                count = self._adopt_owner(folder, claims)
                if count:
                    taken[entry.name[len(OWNER_PREFIX):]] = count
        return taken

    def _adopt_owner(self, folder: Path, claims: ClaimFolder) -> int:
        try:
            fd = _lock(folder / LOCK_NAME, create=False)
        except FileNotFoundError:
            # No lock file: an instance creating its folder right now, or one that died before its first
            # claim; nothing can be claimed there without the lock. Empty folders go (rmdir refuses others).
            for slot in _slots(folder):
                with contextlib.suppress(OSError):
                    slot.rmdir()
            return 0
        if fd is None:
            return 0  # alive
        try:
            count = 0
            for slot in _slots(folder):
                count += sum(claims.claim(slot, name) is not None for name in _names(slot))
            if not _claimed_files(folder):
                _remove_folder(folder)
            return count
        finally:
            os.close(fd)


def _lock(path: Path, *, create: bool) -> int | None:
    """An fd holding an exclusive flock on ``path``, or None when another process holds it.

    The lock is on the file the path names *now*: a lock taken on a file another process unlinked
    meanwhile (it removed a dead instance's folder) protects nothing, so the check is repeated.
    """
    flags = os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW | (os.O_CREAT if create else 0)
    fd = os.open(path, flags, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    try:
        same = os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        same = False
    if not same:
        os.close(fd)
        if create:
            raise FileNotFoundError(path)  # the caller makes the folder again and retries
        return None
    return fd


def _slots(folder: Path) -> list[Path]:
    try:
        return [Path(e.path) for e in os.scandir(folder) if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []


def _names(slot: Path) -> list[str]:
    try:
        return sorted(os.listdir(slot))
    except FileNotFoundError:
        return []


def _claimed_files(folder: Path) -> bool:
    return any(_names(slot) for slot in _slots(folder))


def _remove_folder(folder: Path) -> None:
    """The lock file first (a process waiting on it then sees it was removed), then the empty folders."""
    with contextlib.suppress(FileNotFoundError):
        (folder / LOCK_NAME).unlink()
    for slot in _slots(folder):
        with contextlib.suppress(OSError):
            slot.rmdir()
    with contextlib.suppress(OSError):
        folder.rmdir()
