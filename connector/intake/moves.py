"""Moves out of the drop folder that never lose a file: hard link, fsync, then unlink.

Durability recipe (Pillai et al., OSDI '14): write a temp file in the same directory,
fsync it, rename it, fsync the directory. A move into archive/ or quarantine/ is a hard
link (fails instead of overwriting), an fsync of the target directory, then an unlink of
the source: a crash in between leaves the file in both places, never in neither. The
directory fsyncs are batched (:class:`MoveBatch`): ~1 ms each on ext4, they dominated
the cost of a file.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

from connector.files import fsync_dir

__all__ = ["MoveBatch", "link_no_replace", "suffixed"]

MAX_NAME_SUFFIX = 100_000  # name~1 … name~N for collisions; more means something is looping
MAX_NAME_BYTES = 255  # NAME_MAX of ext4, xfs, btrfs: a longer name~N fails with ENAMETOOLONG forever
_NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK}


def link_no_replace(
    src: Path, folder: Path, name: str, *, before: Callable[[Path], None] | None = None
) -> tuple[Path, bool]:
    """Put ``src`` at ``folder/name`` (or ``name~N``) without ever overwriting.

    Returns the path used and whether ``src`` is still there (a hard link was made): the
    caller must fsync ``folder`` BEFORE unlinking ``src``, so the file is durable in at
    least one place at every instant (see :class:`MoveBatch`). ``before(target)`` runs
    before each attempt (the quarantine writes the reason file there).
    """
    for n in range(MAX_NAME_SUFFIX):
        target = folder / suffixed(name, n)
        if os.path.lexists(target):
            if _same_file(src, target):
                # Linked here before a crash, not unlinked from the source yet: the move is done
                # already. Another copy as name~1 would be a second archive of one input.
                return target, True
            continue
        if before is not None:
            before(target)
        try:
            os.link(src, target)
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise
            os.rename(src, target)  # no hard links here: checked above, single writer
            return target, False
        return target, True
    raise FileExistsError(errno.EEXIST, f"no free name for {name} in {folder}")


def _same_file(src: Path, target: Path) -> bool:
    try:
        a, b = os.stat(src, follow_symlinks=False), os.stat(target, follow_symlinks=False)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


class MoveBatch:
    """Moves out of one folder, made durable together: one fsync per folder per batch.

    ``flush`` fsyncs the target folders, then unlinks the linked sources, then fsyncs the
    source folder. A crash before the flush leaves each file in the source folder (and
    maybe also linked in its target): it is received again and the sink dedups it.
    """

    def __init__(self, source: Path) -> None:
        self._source = source
        self._targets: set[Path] = set()
        self._unlink: list[Path] = []
        self._moves = 0

    def __len__(self) -> int:
        """Moves not yet flushed."""
        return self._moves

    def sources(self) -> list[Path]:
        """Sources linked into their target but not unlinked yet (a failed flush leaves them in place)."""
        return list(self._unlink)

    def add(self, src: Path, target: Path, *, still_linked: bool) -> None:
        self._targets.add(target.parent)
        self._moves += 1
        if still_linked:
            self._unlink.append(src)

    def flush(self) -> None:
        if not self._targets:
            return
        for folder in self._targets:
            fsync_dir(folder)
        for src in self._unlink:
            src.unlink(missing_ok=True)
        for folder in {src.parent for src in self._unlink} | {self._source}:
            if folder.exists():
                fsync_dir(folder)
        self._targets.clear()
        self._unlink.clear()
        self._moves = 0


def suffixed(name: str, n: int) -> str:
    """``name`` for n = 0, else ``stem~n.ext``, shortened so that it still fits in a file name."""
    if n == 0:
        return name
    stem, dot, ext = name.rpartition(".")
    if not (dot and stem) or len(os.fsencode(ext)) > MAX_NAME_BYTES // 2:
        stem, ext = name, ""
    tail = f"~{n}" + (f".{ext}" if ext else "")
    room = MAX_NAME_BYTES - len(os.fsencode(tail))
    while len(os.fsencode(stem)) > room:  # characters, not bytes, are dropped: a name stays decodable
        stem = stem[:-1]
    return stem + tail
