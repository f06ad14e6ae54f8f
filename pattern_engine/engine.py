"""What every implementation of the engine offers, and how its detections become bus signals."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Literal, Protocol

import msgspec

from aitrader.contracts import Signal, Tick

SKIP_REASONS = ("unknown_symbol", "bad_price", "bad_quantity", "out_of_order")
"""Why a tick is counted and skipped, checked in this order: a symbol outside the configured universe; a NaN,
infinite or non-positive last price, or a NaN-free but negative or infinite quote; a last traded quantity of 0
(or less) or a negative quote quantity; a timestamp earlier than the symbol's previous tick."""

Implementation = Literal["rust", "python"]


class Detection(msgspec.Struct, frozen=True, kw_only=True):
    """One detector firing on one tick; ``features`` are the values that made it fire, keys sorted."""

    symbol: str
    pattern: str
    side: Literal[1, -1]
    score: float
    price: float
    tick_ts_ns: int
    features: dict[str, float]


class Engine(Protocol):
    """A pattern engine over a fixed symbol universe; every call is deterministic given the ticks so far."""

    @property
    def implementation(self) -> Implementation: ...

    @property
    def symbols(self) -> tuple[str, ...]: ...

    def on_tick(self, tick: Tick) -> list[Detection]:
        """Feed one tick; returns what fired on it, in detector order (see ``config.PATTERNS``)."""
        ...

    def on_ticks(self, ticks: Iterable[Tick]) -> list[Detection]:
        """Feed ticks in order; returns what fired, in tick order."""
        ...

    def counters(self) -> dict[str, int]:
        """``ticks`` (accepted), ``skipped_<reason>`` for each of :data:`SKIP_REASONS`, ``signals_<pattern>``."""
        ...


MAX_ID_LENGTH = 64


def signal_id(detection: Detection) -> str:
    """A deterministic id, so a signal produced twice (a redelivered tick) can be recognised downstream."""
    readable = f"{detection.symbol}-{detection.tick_ts_ns}-{detection.pattern}"
    if len(readable) <= MAX_ID_LENGTH:
        return readable
    digest = hashlib.blake2b(readable.encode(), digest_size=16).hexdigest()
    return f"sig-{digest}"


def to_signal(detection: Detection, *, ts_ns: int, venue: str = "NSE") -> Signal:
    """The bus message for ``detection``, stamped ``ts_ns`` (when it was produced)."""
    return Signal(
        id=signal_id(detection),
        ts_ns=ts_ns,
        tick_ts_ns=detection.tick_ts_ns,
        symbol=detection.symbol,
        venue=venue,
        pattern=detection.pattern,
        side=detection.side,
        score=detection.score,
        price=detection.price,
        features=detection.features,
    )
