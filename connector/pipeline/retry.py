"""When to try again: exponential backoff with jitter, and when to give up."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from connector.store import age_seconds

__all__ = ["RetryPolicy"]

# 2**20 × first_seconds is far beyond any max_seconds: the exponent is capped so the float stays finite.
MAX_DOUBLINGS = 20


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Postfix's shape: first retry after ``first_seconds``, doubling up to ``max_seconds``, give up after
    ``give_up_hours`` counted from the report's reception (then a person must act)."""

    first_seconds: float
    max_seconds: float
    give_up_hours: float

    def next_attempt(self, *, attempts: int, received_at: str) -> str | None:
        """The store timestamp of the next try, or None once the retry window is over."""
        if age_seconds(received_at) > self.give_up_hours * 3600:
            return None
        delay = min(self.max_seconds, self.first_seconds * 2 ** min(attempts, MAX_DOUBLINGS))
        # Jitter, so a recovered server is not hit by every waiting report at once.
        delay *= random.uniform(0.8, 1.2)
        return (datetime.now(UTC) + timedelta(seconds=delay)).isoformat(timespec="milliseconds")
