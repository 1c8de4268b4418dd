"""The DMP ceiling (< 5 transactions/s per structure) over a fake clock, for any pattern of arrivals."""

from __future__ import annotations

import itertools
import math

from hypothesis import given
from hypothesis import strategies as st

from connector.dmp import RateLimiter, limiter_for


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@given(gaps=st.lists(st.floats(min_value=0, max_value=2, allow_nan=False), min_size=1, max_size=60),
       rate=st.sampled_from([1.0, 2.5, 5.0]))
def test_no_one_second_window_holds_more_than_rate_starts(gaps: list[float], rate: float) -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate, clock=clock, sleep=clock.sleep)
    starts = []
    for gap in gaps:
        clock.now += gap  # the caller arrives `gap` seconds after the previous one started
        limiter.acquire()
        starts.append(clock.now)
    for i, start in enumerate(starts):
        in_window = [s for s in starts[i:] if s < start + 1 - 1e-9]
        assert len(in_window) <= math.ceil(rate)  # at most 5 a second at the DMP's rate of 5
    # Never waits longer than needed: each start is at its arrival or one interval after the previous start.
    for previous, start in itertools.pairwise(starts):
        assert start - previous >= 1 / rate - 1e-9


def test_a_caller_after_a_quiet_period_does_not_wait() -> None:
    clock = FakeClock()
    limiter = RateLimiter(5, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    clock.now += 10
    limiter.acquire()
    assert clock.slept == []


def test_a_burst_is_spread_at_the_ceiling() -> None:
    clock = FakeClock()
    limiter = RateLimiter(5, clock=clock, sleep=clock.sleep)
    for _ in range(6):
        limiter.acquire()
    assert clock.now == 1.0 and len(clock.slept) == 5


def test_one_limiter_per_structure() -> None:
    assert limiter_for("1999999999", 5) is limiter_for("1999999999", 5)
    assert limiter_for("1999999999", 5) is not limiter_for("1000000001", 5)
