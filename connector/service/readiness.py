"""Why the service is not ready (``/readyz`` 503): it says when intake cannot commit.

Issue 13: ``/readyz`` stayed 200 while the disk was full and every input was being refused.
Ready means an input arriving now would be committed (so acknowledged): the loops run, the last
input was committed (once one is refused for a store reason, until one is committed again: a small
commit of another loop going through proves nothing for a large input), the store's last commit
went through and its file is still the one opened (``Database.commit_problem``), and the disk under
the store has room for one more input.
"""

from __future__ import annotations

from collections.abc import Callable

from connector.store import Store

__all__ = ["MIN_FREE_BYTES", "Readiness"]

# SQLite needs room for the WAL (a commit writes the input once there, once in the database at the
# checkpoint) plus one more input: below this the next large input would fail to commit.
MIN_FREE_BYTES = 64 * 1024 * 1024


class Readiness:
    def __init__(self, store: Store, *, running: Callable[[], bool], intake_problem: Callable[[], str],
                 min_free_bytes: int = MIN_FREE_BYTES) -> None:
        self._store = store
        self._running = running
        self._intake_problem = intake_problem
        self._min_free = min_free_bytes

    def problem(self) -> str:
        """"" when ready, else the reason (no patient data: states and paths only)."""
        if not self._running():
            return "the service is starting or stopping"
        problem = self._intake_problem() or self._store.db.commit_problem
        if problem:
            return f"intake cannot commit: {problem}"
        free = self._store.db.free_bytes()
        if free is not None and free < self._min_free:
            return (f"intake cannot commit: {free // (1024 * 1024)} MiB free where the store is "
                    f"({self._min_free // (1024 * 1024)} MiB needed)")
        return ""
