"""Tick sequences that make each detector fire (or stay quiet), for the reference, the Rust core and parity.

A :class:`Scenario` writes one symbol's ticks second by second: a seeded random walk of the mid with a
one-tick spread, a trade every tick, and five levels of depth a side. Segments change one thing at a time
(a steady drift, a quiet range, more volume, a lopsided book), so each test says in a line what it plants.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from aitrader.contracts import Depth, Level, Tick
from pattern_engine.reference import TickInput

OPEN_NS = 1_763_696_700_000_000_000
"""09:15 IST on 2025-11-21."""
TICK_SIZE = 0.05


@dataclass
class Scenario:
    symbol: str
    price: float = 1_500.0
    rate_hz: int = 4
    sigma_bps: float = 1.0
    quantity: int = 50
    seed: int = 7
    now_ns: int = OPEN_NS
    ticks: list[Tick] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)
        self._log_price = math.log(self.price)

    def run(
        self,
        seconds: int,
        *,
        drift_bps: float = 0.0,
        sigma_bps: float | None = None,
        volume: float = 1.0,
        rate_hz: int | None = None,
        book_ratio: float = 1.0,
    ) -> Scenario:
        """``seconds`` of ticks: ``drift_bps`` per second on top of the walk, ``volume`` times the usual size,
        the bid side's depth ``book_ratio`` times the ask side's."""
        sigma = (self.sigma_bps if sigma_bps is None else sigma_bps) / 1e4
        rate = self.rate_hz if rate_hz is None else rate_hz
        step_ns = 1_000_000_000 // rate
        for _ in range(seconds):
            for _ in range(rate):
                self._log_price += drift_bps / 1e4 / rate + sigma / math.sqrt(rate) * self._rng.standard_normal()
                self.now_ns += step_ns
                self.ticks.append(self._tick(volume, book_ratio))
        return self

    def gap(self, seconds: int) -> Scenario:
        self.now_ns += seconds * 1_000_000_000
        return self

    def _tick(self, volume: float, book_ratio: float) -> Tick:
        mid = math.exp(self._log_price)
        bid = math.floor(mid / TICK_SIZE) * TICK_SIZE
        bid, ask = round(bid, 2), round(bid + TICK_SIZE, 2)
        base = 1_000
        bid_qty = round(base * book_ratio) if book_ratio >= 1.0 else base
        ask_qty = base if book_ratio >= 1.0 else round(base / book_ratio)
        depth = Depth(
            bids=tuple(Level(round(bid - i * TICK_SIZE, 2), bid_qty, 3) for i in range(5)),
            asks=tuple(Level(round(ask + i * TICK_SIZE, 2), ask_qty, 3) for i in range(5)),
        )
        buy = self._rng.random() < 0.5
        ltq = max(1, round(self.quantity * volume * self._rng.lognormal(0.0, 0.3)))
        return Tick(
            ts_ns=self.now_ns,
            symbol=self.symbol,
            ltp=ask if buy else bid,
            ltq=ltq,
            bid=bid,
            ask=ask,
            bid_qty=bid_qty,
            ask_qty=ask_qty,
            depth=depth,
        )


def merged(*scenarios: Scenario) -> list[Tick]:
    """Every scenario's ticks in time order (ties keep scenario order)."""
    ticks = [tick for scenario in scenarios for tick in scenario.ticks]
    return sorted(ticks, key=lambda tick: tick.ts_ns)


def raw(tick: Tick, **changes: float | int) -> tuple[str, TickInput]:
    """A tick as the engine's input, with fields replaced (for values a Tick could not carry)."""
    from pattern_engine.reference import tick_input

    values = {name: getattr(tick_input(tick), name) for name in TickInput.__dataclass_fields__}
    values.update(changes)
    return tick.symbol, TickInput(**values)  # type: ignore[arg-type]
