"""The claim folder: a file is taken out of drop/ by one atomic rename before anything relies on it.

Why (issue 13): a move by name (hard link into archive/, unlink of ``drop/<name>`` at the batch
flush) acts on whatever file holds the name *then*. A SIL that renamed a new file over a name
still being processed saw it archived unread or deleted. Once claimed, the file we read is the
only one that can reach archive/ or quarantine/ under that claim, and a new file with the same
name in drop/ is a new input.

Layout: ``<claim>/<token>/<original name>``: one private folder per claim keeps the full name
(up to the filesystem's 255 bytes) without a side file, so nothing needs an fsync of its own. The
claim folder lives inside archive/ (``.claim``, 0700): on the same filesystem (renames are
atomic), out of the SIL's reach, hidden from a listing of archive/.

Crash safety: at every instant the file is in drop/ or in the claim folder (a rename is atomic;
on a journaled filesystem a later durable step never survives without the rename before it), or
linked into archive/quarantine. Every scan looks at the claim folder first, so a file claimed
before a crash is received at the next start (deduplicated by content when it was committed).
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import time
from collections.abc import Callable
from pathlib import Path

from connector.files import ensure_private_dir

__all__ = ["CLAIM_FOLDER", "ClaimFolder", "release", "rename_no_replace"]

CLAIM_FOLDER = ".claim"  # inside archive/
MAX_NAME_SUFFIX = 100_000  # name~1 … name~N; more means something is looping


class ClaimFolder:
    """Created when a file is claimed, removed by :meth:`tidy` once empty (a listing of archive/ shows
    nothing of it between scans)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._sequence = itertools.count()

    def claim(self, folder: Path, name: str) -> Path | None:
        """Rename ``folder/name`` into a fresh claim; its new path, or None when nothing has that name now."""
        ensure_private_dir(self.root)
        token = self.root / f"{time.time_ns():x}-{os.getpid():x}-{next(self._sequence):x}"
        os.mkdir(token, 0o700)
        try:
            os.rename(folder / name, token / name)
        except FileNotFoundError:
            token.rmdir()
            return None
        except BaseException:
            with contextlib.suppress(OSError):
                token.rmdir()
            raise
        return token / name

    def leftovers(self) -> list[Path]:
        """Files claimed and not moved out yet (a crash, a store that was down): oldest claim first."""
        found: list[Path] = []
        try:
            with os.scandir(self.root) as tokens:
                names = sorted(t.name for t in tokens if t.is_dir(follow_symlinks=False))
        except FileNotFoundError:
            return found
        for token in names:
            entries = os.listdir(self.root / token)
            if not entries:
                with contextlib.suppress(OSError):
                    (self.root / token).rmdir()  # moved out just before a crash
                continue
            found += [self.root / token / e for e in entries]
        return found

    def tidy(self) -> None:
        """Remove the claim folder when nothing is claimed."""
        with contextlib.suppress(OSError):
            self.root.rmdir()

    def put_back(self, claimed: Path, folder: Path) -> bool:
        """Return a claimed file to ``folder`` (a move out failed, so it stays visible and is tried again).

        A hard link, which fails rather than replace: the SIL may have reused the name meanwhile (where
        links are refused, a rename after a check, as ``link_no_replace`` does). False when the name is
        taken: the file then stays claimed, and is tried again from there.
        """
        target = folder / claimed.name
        try:
            os.link(claimed, target, follow_symlinks=False)
        except FileExistsError:
            return False
        except OSError:
            if os.path.lexists(target):
                return False
            os.rename(claimed, target)
        else:
            claimed.unlink()
        release(claimed)
        return True


def release(claimed: Path) -> None:
    """Remove an emptied claim's folder (its file was moved out)."""
    with contextlib.suppress(OSError):
        claimed.parent.rmdir()


def rename_no_replace(
    src: Path, folder: Path, name: str, *, before: Callable[[Path], None] | None = None
) -> Path:
    """Move ``src`` (any kind: a symlink, a folder, a FIFO) to ``folder/name`` or ``name~N``, never over
    an existing entry. A rename, not a hard link: a link would follow a symlink to its target."""
    from connector.intake.moves import suffixed

    for n in range(MAX_NAME_SUFFIX):
        target = folder / suffixed(name, n)
        if os.path.lexists(target):
            continue
        if before is not None:
            before(target)
        os.rename(src, target)  # checked just above; we are the only writer of archive/ and quarantine/
        return target
    raise FileExistsError(errno.EEXIST, f"no free name in {folder}")
