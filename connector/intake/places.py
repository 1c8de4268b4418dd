"""Where a drop-folder entry goes: claimed out of drop/, then archived or quarantined, durably.

Every move starts from a claim (:mod:`connector.intake.claim`), so only the very entry that was
judged is ever moved, whatever the SIL does with its name meanwhile. Regular files are hard-linked
into archive/ or quarantine/ and unlinked from the claim once the target folder is fsynced
(:class:`~connector.intake.moves.MoveBatch`); anything else (a symlink, a folder, a FIFO) is
renamed, never followed or opened. A file that cannot be moved out goes back to drop/ when its
name is free there (visible, tried again), else stays claimed (tried again from there).
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from connector.files import write_private
from connector.intake.claim import ClaimFolder, rename_no_replace
from connector.intake.moves import MoveBatch, link_no_replace
from connector.intake.sink import Receipt
from connector.logs import event

__all__ = ["REASON_SUFFIX", "Entry", "Places"]

REASON_SUFFIX = ".reason.txt"


@dataclass(frozen=True)
class Entry:
    """One entry of drop/ (or of the claim folder) as a scan saw it."""

    name: str  # its name in drop/ (kept in the claim)
    size: int
    mtime_ns: int
    inode: int
    mode: int
    claimed: Path | None = None  # where it is once claimed

    @classmethod
    def of(cls, name: str, st: os.stat_result, *, claimed: Path | None = None) -> Entry:
        return cls(name, st.st_size, st.st_mtime_ns, st.st_ino, st.st_mode, claimed)

    @property
    def key(self) -> tuple[str, int, int, int]:
        return (self.name, self.size, self.mtime_ns, self.inode)


class Places:
    def __init__(self, *, drop: Path, archive: Path, quarantine: Path, claim: Path,
                 label: Callable[[str], str]) -> None:
        self.drop, self.archive, self.quarantine = drop, archive, quarantine
        self.claims = ClaimFolder(claim)
        self._label = label
        self._moves = MoveBatch(claim)

    def pending(self) -> int:
        """Moves made and not flushed yet."""
        return len(self._moves)

    def claim(self, entry: Entry, *, expect: os.stat_result | None = None) -> Entry | None:
        """The entry renamed out of drop/, or None when it is gone or another entry took its name.

        ``expect``: the stat of the file that was read (its device and inode must be the claimed one's);
        without it, the inode and type the scan saw."""
        if entry.claimed is not None:
            return entry
        try:
            claimed = self.claims.claim(self.drop, entry.name)
        except OSError as exc:
            event("folder.claim_failed", level=logging.ERROR, source=self._label(entry.name), error=type(exc).__name__)
            return None
        if claimed is None:
            return None
        st = os.lstat(claimed)
        same = ((st.st_dev, st.st_ino) == (expect.st_dev, expect.st_ino) if expect is not None
                else (st.st_ino, stat.S_IFMT(st.st_mode)) == (entry.inode, stat.S_IFMT(entry.mode)))
        if not same:
            # The SIL renamed another entry over the name between our look and our claim: that one is
            # claimed now and waits for its own turn; the one we looked at was replaced by the SIL itself.
            event("folder.name_reused", level=logging.WARNING, source=self._label(entry.name))
            return None
        return replace(entry, claimed=claimed)

    def refuse(self, entry: Entry, reason: str) -> int:
        """Quarantine without reading (not a regular file, too large, unreadable): claimed first."""
        claimed = self.claim(entry)
        return 0 if claimed is None else self.to_quarantine(claimed, None, [reason])

    def to_quarantine(self, entry: Entry, receipt: Receipt | None, reasons: list[str]) -> int:
        header = [f"file: {self._label(entry.name)}"]  # the label: a name may hold patient data
        if receipt is not None:
            header.append(f"input id: {receipt.input_id}")
        text = "\n".join(header + reasons) + "\n"

        def write_reason(target: Path) -> None:
            write_private(target.with_name(target.name + REASON_SUFFIX), text.encode("utf-8"), sync_dir=False)

        return self._move(entry, self.quarantine, receipt, before=write_reason)

    def to_archive(self, entry: Entry, receipt: Receipt) -> int:
        return self._move(entry, self.archive, receipt)

    def _move(self, entry: Entry, folder: Path, receipt: Receipt | None, *,
              before: Callable[[Path], None] | None = None) -> int:
        src = entry.claimed
        if src is None:
            raise ValueError("only a claimed entry is ever moved (a move by name could take another file)")
        label = self._label(entry.name)
        try:
            if stat.S_ISREG(entry.mode):
                target, still_linked = link_no_replace(src, folder, entry.name, before=before)
            else:  # a link would follow a symlink: the entry itself is renamed
                target, still_linked = rename_no_replace(src, folder, entry.name, before=before), False
        except OSError as exc:
            event("folder.move_failed", level=logging.ERROR, source=label, folder=folder.name, error=type(exc).__name__)
            self.put_back(src)
            return 0
        self._moves.add(src, target, still_linked=still_linked)
        if stat.S_ISREG(entry.mode):
            try:
                os.chmod(target, 0o600)  # the SIL's file holds patient data: owner only from here on
            except PermissionError:
                event("folder.mode_kept", level=logging.WARNING, source=label, folder=folder.name)
        event("folder.moved", level=logging.INFO, source=label, folder=folder.name, target=self._label(target.name),
              input_id=receipt.input_id if receipt is not None else None)
        return 1

    def put_back(self, claimed: Path | None) -> None:
        """A claimed file not moved out (store down, a failed move) goes back to drop/: visible, tried again."""
        if claimed is None:
            return
        try:
            if self.claims.put_back(claimed, self.drop):
                return
        except OSError:
            pass
        event("folder.kept_claimed", level=logging.WARNING, source=self._label(claimed.name))

    def flush(self) -> None:
        """Make the moves durable; on failure the files not unlinked yet go back to drop/."""
        try:
            self._moves.flush()
        except OSError:
            for src in self._moves.sources():
                if os.path.lexists(src):
                    self.put_back(src)
            self._moves = MoveBatch(self.claims.root)
            raise

    def done(self) -> None:
        """End of a scan: flush, and remove the claim folder when nothing is claimed."""
        try:
            self.flush()
        finally:
            self.claims.tidy()
