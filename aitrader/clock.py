"""Clocks in integer nanoseconds: a live one for services, a test one that only moves when told."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ns(self) -> int:
        """Wall-clock time, nanoseconds since the Unix epoch."""

    def monotonic_ns(self) -> int:
        """A clock that never goes backwards, for measuring intervals."""


class LiveClock:
    def now_ns(self) -> int:
        return time.time_ns()

    def monotonic_ns(self) -> int:
        return time.monotonic_ns()


class TestClock:
    """A clock for tests and backtests: time advances only through ``advance`` or ``set``."""

    __test__ = False  # not a pytest test class

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns

    def now_ns(self) -> int:
        return self._now

    def monotonic_ns(self) -> int:
        return self._now

    def advance(self, delta_ns: int) -> int:
        if delta_ns < 0:
            raise ValueError(f"delta_ns must be >= 0, was {delta_ns}")
        self._now += delta_ns
        return self._now

    def set(self, ts_ns: int) -> None:
        if ts_ns < self._now:
            raise ValueError(f"time cannot go backwards: now {self._now}, was asked for {ts_ns}")
        self._now = ts_ns
