"""The claim folder: a file is taken out of drop/ by one atomic rename before anything relies on it.

Why (issue 13): a move by name (hard link into archive/, unlink of ``drop/<name>`` at the batch
flush) acts on whatever file holds the name *then*. A SIL that renamed a new file over a name
still being processed saw it archived unread or deleted. Once claimed, the file we read is the
only one that can reach archive/ or quarantine/ under that claim, and a new file with the same
name in drop/ is a new input.

Layout: ``<claim>/<slot>/<original name>``: the full name (up to the filesystem's 255 bytes) is
kept without a side file; slot ``0`` holds nearly every claim, slot ``1`` a name reused while its
first file is still claimed, and so on. We are the only writer of the claim folder, so "is this
name free in that slot" then rename is race-free. Slots are made once per scan and removed by
:meth:`ClaimFolder.tidy` when empty (a folder per claim cost a 3 ms rmdir per file). The claim
folder lives inside archive/ (``.claim``, 0700): on the same filesystem (renames are atomic), out
of the SIL's reach, hidden from a listing of archive/ and gone between scans.

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
from collections.abc import Callable
from pathlib import Path

from connector.files import ensure_private_dir

__all__ = ["CLAIM_FOLDER", "ClaimFolder", "rename_no_replace"]

CLAIM_FOLDER = ".claim"  # inside archive/
MAX_NAME_SUFFIX = 100_000  # name~1 … name~N; more means something is looping


class ClaimFolder:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._made: set[Path] = set()  # slots known to exist since the last tidy

    def claim(self, folder: Path, name: str) -> Path | None:
        """Rename ``folder/name`` into the first slot where the name is free; its new path, or None when
        nothing has that name now."""
        for n in itertools.count():
            slot = self.root / str(n)
            if slot not in self._made:
                ensure_private_dir(slot)  # and the claim folder itself
                self._made.add(slot)
            target = slot / name
            if not os.path.lexists(target):
                break
        try:
            os.rename(folder / name, target)
        except FileNotFoundError:
            return None
        return target

    def leftovers(self) -> list[Path]:
        """Files claimed and not moved out yet (a crash, a file that changed after its commit)."""
        try:
            with os.scandir(self.root) as slots:
                # Digits only: ``@<instance>`` folders beside the slots belong to instances sharing the folder.
                names = sorted((s.name for s in slots if s.is_dir(follow_symlinks=False) and s.name.isdigit()),
                               key=_slot_order)
        except FileNotFoundError:
            return []
        found: list[Path] = []
        for slot in names:
            found += [self.root / slot / entry for entry in sorted(os.listdir(self.root / slot))]
        return found

    def tidy(self) -> None:
        """End of a scan: remove the empty slots and the claim folder when nothing is claimed."""
        self._made.clear()
        try:
            slots = [s.path for s in os.scandir(self.root) if s.is_dir(follow_symlinks=False)]
        except FileNotFoundError:
            return
        for slot in slots:
            with contextlib.suppress(OSError):  # not empty: something stays claimed
                os.rmdir(slot)
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
        return True


def _slot_order(name: str) -> tuple[int, str]:
    return (int(name), "") if name.isdigit() else (1 << 62, name)


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
