"""Durable, private file I/O: the one place that writes files and makes renames durable.

Recipe (Pillai et al., OSDI '14): write a temporary file in the same folder, fsync it,
rename it over the target, fsync the folder. Until the folder's fsync a crash may leave
the old file or the new one, never a mix; after it, the new one survives power loss.
Everything we write may hold patient data (or names of files that do): files are 0600
and folders 0700 unless a caller states otherwise (a ZAM folder shared with the SIL).
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from pathlib import Path

from connector.logs import event

__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "ensure_private_dir",
    "fsync_dir",
    "fsync_file",
    "install_file",
    "write_private",
]

DIR_MODE = 0o700  # folders hold patient data: owner only
FILE_MODE = 0o600  # files hold patient data: owner only


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` (and parents) as 0700; warn when an existing folder is open to others."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        event("folder.not_private", level=logging.WARNING, folder=str(path), mode=f"{mode:04o}")


def fsync_dir(path: Path) -> None:
    """Make renames, links and unlinks in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    """Flush a file another library wrote (a SQLite database built with its journal off)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_private(path: Path, data: bytes, *, mode: int = FILE_MODE, sync_dir: bool = True,
                  gid: int | None = None) -> None:
    """Atomically (re)place ``path`` with ``data``.

    The temporary file has a dot name (``.<name>.<random>.tmp``): readers that skip dot files
    (the SIL polling a ZAM folder, our own drop folder) never see a half-written file.
    ``sync_dir=False`` leaves the folder's fsync to the caller, who batches several writes.
    ``gid`` gives the file that group before it becomes visible (with a ``mode`` that lets the group read).
    The folder must exist: a missing one is a configuration fault, not something to paper over.
    """
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if gid is not None:  # a folder shared with another account through its group (the SIL's ZAM folder)
            os.fchown(fd, -1, gid)
        os.fchmod(fd, mode)  # the umask may have narrowed or widened what O_CREAT asked for
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if sync_dir:
        fsync_dir(path.parent)


def install_file(built: Path, target: Path, *, mode: int = FILE_MODE) -> None:
    """Make a file built elsewhere in ``target``'s folder (a database load) the live one, durably."""
    fsync_file(built)
    os.chmod(built, mode)
    os.replace(built, target)
    fsync_dir(target.parent)
