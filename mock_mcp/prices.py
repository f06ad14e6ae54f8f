"""Where the mock's prices come from when no live feed is running: a deterministic model per instrument.

Each instrument walks from its reference price (the instrument master's last price, the previous close) along
a one-second random walk over the IST session of the day, seeded by the instrument's token and the date, so
the same instant always has the same price, in every process, and a restart changes nothing. Before the open
the price is the previous close; after the close it stays at the day's close. Prices are rounded to the
instrument's tick size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt

from aitrader.marketdata.instruments import Instrument
from aitrader.marketdata.schema import IST, SESSION_OPEN

SESSION_SECONDS: Final = 22_500
DAILY_VOLATILITY: Final = 0.012
"""About a typical large-cap's daily move: the walk's standard deviation over a whole session."""
_TRADE_SIZE_RUPEES: Final = 60_000.0
_QUEUE_RUPEES: Final = 400_000.0


@dataclass(frozen=True)
class Snapshot:
    """One instrument at one instant: the last trade, the day so far, the best five levels a side."""

    instrument: Instrument
    at: datetime
    last_price: float
    last_quantity: int
    volume: int
    average_price: float
    open: float
    high: float
    low: float
    close: float
    bids: list[tuple[float, int, int]]
    asks: list[tuple[float, int, int]]


class Quotes(Protocol):
    """Where prices come from: the live feed when the stack runs (``feed.LiveQuotes``), else the model."""

    def snapshot(self, instrument: Instrument, at: datetime) -> Snapshot: ...


class PriceModel:
    """Deterministic prices per (instrument, IST day); a day's path is computed once and kept."""

    def __init__(self, instruments: list[Instrument]) -> None:
        self._instruments = {item.instrument_token: item for item in instruments}
        self._days: dict[tuple[int, date], npt.NDArray[np.float64]] = {}

    def snapshot(self, instrument: Instrument, at: datetime) -> Snapshot:
        local = at.astimezone(IST)
        path = self._path(instrument, local.date())
        opened = datetime.combine(local.date(), SESSION_OPEN, IST)
        second = int((local - opened).total_seconds())
        index = min(max(second, 0), SESSION_SECONDS)
        tick = instrument.tick_size or 0.05
        day = path[: index + 1]
        last = _round(float(path[index]), tick)
        trade = _units(_TRADE_SIZE_RUPEES, last, instrument)
        queue = _units(_QUEUE_RUPEES, last, instrument)
        bid = _round(last - tick / 2, tick) if last > tick else tick
        ask = bid + tick
        return Snapshot(
            instrument=instrument,
            at=local,
            last_price=last,
            last_quantity=trade,
            volume=trade * (index if second > 0 else 0),
            average_price=_round(float(day.mean()), tick),
            open=_round(float(path[1]), tick) if second > 0 else last,
            high=_round(float(day.max()), tick),
            low=_round(float(day.min()), tick),
            close=_round(float(path[0]), tick),
            bids=[(_round(bid - level * tick, tick), queue * (level + 1), level + 3) for level in range(5)],
            asks=[(_round(ask + level * tick, tick), queue * (level + 1), level + 3) for level in range(5)],
        )

    def candles(self, instrument: Instrument, start: datetime, end: datetime, interval: str) -> list[Candle]:
        """The model's candles that start in ``[start, end]``, on weekdays: ``[time, open, high, low, close,
        volume]``, the time as Kite writes it (``2025-11-21T09:15:00+0530``; a day candle starts at midnight)."""
        seconds = INTERVALS[interval][0]
        start, end = start.astimezone(IST), end.astimezone(IST)
        tick = instrument.tick_size or 0.05
        out: list[Candle] = []
        day = start.date()
        while day <= end.date():
            if day.weekday() < 5:
                path = self._path(instrument, day)
                opened = datetime.combine(day, SESSION_OPEN, IST)
                trade = _units(_TRADE_SIZE_RUPEES, float(path[0]), instrument)
                midnight = datetime.combine(day, time(), IST)
                for first in range(0, SESSION_SECONDS, seconds):
                    begins = midnight if interval == "day" else opened + timedelta(seconds=first)
                    if begins < start or begins > end:
                        continue
                    prices = path[first + 1 : first + seconds + 1]
                    out.append(
                        (
                            begins.strftime("%Y-%m-%dT%H:%M:%S%z"),
                            _round(float(prices[0]), tick),
                            _round(float(prices.max()), tick),
                            _round(float(prices.min()), tick),
                            _round(float(prices[-1]), tick),
                            trade * len(prices),
                        )
                    )
            day += timedelta(days=1)
        return out

    def _path(self, instrument: Instrument, day: date) -> npt.NDArray[np.float64]:
        """Prices at each second of ``day``'s session; index 0 is the previous close (the reference price)."""
        key = (instrument.instrument_token, day)
        path = self._days.get(key)
        if path is None:
            reference = instrument.last_price if instrument.last_price > 0 else 100.0
            rng = np.random.default_rng([instrument.instrument_token, day.toordinal()])
            sigma = DAILY_VOLATILITY / math.sqrt(SESSION_SECONDS)
            steps = rng.standard_normal(SESSION_SECONDS) * sigma
            path = reference * np.exp(np.concatenate(([0.0], np.cumsum(steps))))
            self._days[key] = path
        return path


INTERVALS: Final = {
    "minute": (60, 60),
    "3minute": (180, 100),
    "5minute": (300, 100),
    "10minute": (600, 100),
    "15minute": (900, 200),
    "30minute": (1_800, 200),
    "60minute": (3_600, 400),
    "day": (SESSION_SECONDS, 2_000),
}
"""Kite's candle intervals: seconds per candle, and the most days one request may span."""

Candle = tuple[str, float, float, float, float, int]


def _units(rupees: float, price: float, instrument: Instrument) -> int:
    """About ``rupees`` worth of ``instrument`` at ``price``, in whole lots (at least one)."""
    unit = max(1, instrument.lot_size)
    return max(unit, round(rupees / max(price, instrument.tick_size or 0.05) / unit) * unit)


def _round(price: float, tick: float) -> float:
    """The nearest multiple of ``tick``, as the double nearest its two-decimal value."""
    return round(round(price / tick) * tick, 2)
