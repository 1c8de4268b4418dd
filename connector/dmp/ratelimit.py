"""The DMP's ceiling: fewer than 5 feed transactions per second per structure and software (dmp.md §1).

Transactions start at least ``1/rate`` seconds apart, so any one-second window holds at most
``rate`` starts. One limiter per structure id, shared by every thread of the process; the
clock and the sleep are injectable so a test can drive it with a fake clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["RateLimiter", "limiter_for"]


class RateLimiter:
    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0:
            raise ValueError("rate: expected transactions per second above 0")
        self.interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next = float("-inf")
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Book the next start slot; returns how long to wait before starting (0 when free now)."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.interval
            return start - now

    def acquire(self) -> None:
        """Block until this caller may start a transaction."""
        delay = self.reserve()
        if delay > 0:
            self._sleep(delay)


_LIMITERS: dict[tuple[str, float], RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def limiter_for(structure_id: str, rate: float) -> RateLimiter:
    """The process-wide limiter of one structure (every client of that structure shares it)."""
    with _LIMITERS_LOCK:
        return _LIMITERS.setdefault((structure_id, rate), RateLimiter(rate))
