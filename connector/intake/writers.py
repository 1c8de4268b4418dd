"""Which drop-folder files a writer still has open, from the platform's close-write events.

inotify (through watchdog) reports a write into a file (``modified``) and the closing of a
file opened for writing (``closed``). A name written to and not closed since is being written,
however long the writer pauses: it is not taken, whatever its size and time say (issue 13).
A file renamed into drop/ (the SIL contract) brings no write event here and is never held.

Events can be missed (inotify overflow, network filesystems have none), so this only ever
*holds* a file, and not forever: past ``hold_seconds`` without news the size/time rule and
the HL7 completeness check decide alone.
"""

from __future__ import annotations

import os
import threading
import time

__all__ = ["OpenWriters"]


class OpenWriters:
    def __init__(self, hold_seconds: float) -> None:
        self._hold = hold_seconds
        self._open: dict[str, float] = {}  # file name → last write seen (monotonic)
        self._lock = threading.Lock()  # events come from watchdog's thread, questions from the scanner

    def saw(self, kind: str, src: str, dest: str = "") -> None:
        """One watchdog event (``event_type``, ``src_path``, ``dest_path``) in the drop folder."""
        name = os.path.basename(src)
        with self._lock:
            if kind == "modified":
                self._open[name] = time.monotonic()
            elif kind in ("closed", "deleted"):
                self._open.pop(name, None)
            elif kind == "moved":
                written = self._open.pop(name, None)
                if written is not None and dest:
                    self._open[os.path.basename(dest)] = written

    def is_open(self, name: str) -> bool:
        with self._lock:
            written = self._open.get(name)
            if written is None:
                return False
            if time.monotonic() - written > self._hold:
                del self._open[name]  # no close seen for that long: an event was lost, stop holding
                return False
            return True
