"""Training data for the forecasters: closing prices, cut into (lookback, horizon) windows.

A series is a contiguous run of bar closes. Windows never straddle a gap in the bars (the night between two
sessions, a halt), so :func:`load_bar_closes` splits each symbol's bars where a bar is missing. Windows are split
chronologically within each series (train, then validation, then test), so the test set is always the future
of what the model learnt from.

:func:`synthetic_closes` makes series with structure a forecaster can learn (mean reversion around a drifting
level, an intraday cycle, noise), for tests and for a first model before any bars have been recorded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from aitrader.errors import NotFoundError, ValidationError

Floats = npt.NDArray[np.float64]

INTERVALS = {"1m": timedelta(minutes=1), "5m": timedelta(minutes=5), "1d": timedelta(days=1)}


@dataclass(frozen=True)
class Windows:
    """``inputs`` (n x lookback) and ``targets`` (n x horizon), in prices."""

    inputs: Floats
    targets: Floats

    def __len__(self) -> int:
        return len(self.inputs)

    def take(self, index: npt.NDArray[np.int64] | slice) -> Windows:
        return Windows(self.inputs[index], self.targets[index])

    @staticmethod
    def concatenate(parts: Sequence[Windows], lookback: int, horizon: int) -> Windows:
        if not parts:
            return Windows(np.empty((0, lookback)), np.empty((0, horizon)))
        return Windows(np.concatenate([p.inputs for p in parts]), np.concatenate([p.targets for p in parts]))


@dataclass(frozen=True)
class Split:
    train: Windows
    validation: Windows
    test: Windows


def windows(series: Floats, lookback: int, horizon: int, stride: int = 1) -> Windows:
    """Every window of ``series``: ``lookback`` values as input and the ``horizon`` after them as target."""
    span = lookback + horizon
    if len(series) < span:
        return Windows(np.empty((0, lookback)), np.empty((0, horizon)))
    view = np.lib.stride_tricks.sliding_window_view(np.asarray(series, dtype=np.float64), span)[::stride]
    return Windows(np.array(view[:, :lookback]), np.array(view[:, lookback:]))


def split_windows(
    series: Sequence[Floats], lookback: int, horizon: int, *, validation: float = 0.15, test: float = 0.15
) -> Split:
    """Each series' windows split by time: the first ``1 - validation - test`` train, then validation, then
    test. ``horizon`` windows are dropped between the parts, so no close is a target in two of them: what the
    model is scored on, it never learnt to predict."""
    if not 0 < validation < 1 or not 0 < test < 1 or validation + test >= 1:
        raise ValidationError(f"validation and test must be fractions summing below 1, were {validation}, {test}")
    parts: dict[str, list[Windows]] = {"train": [], "validation": [], "test": []}
    for values in series:
        cut = windows(values, lookback, horizon)
        n = len(cut)
        if n < 3 * (horizon + 1):
            continue
        test_start = n - round(n * test)
        validation_start = test_start - horizon - round(n * validation)
        parts["train"].append(cut.take(slice(0, max(0, validation_start - horizon))))
        parts["validation"].append(cut.take(slice(validation_start, test_start - horizon)))
        parts["test"].append(cut.take(slice(test_start, n)))
    split = Split(**{name: Windows.concatenate(p, lookback, horizon) for name, p in parts.items()})
    if min(len(split.train), len(split.validation), len(split.test)) == 0:
        longest = max((len(s) for s in series), default=0)
        raise ValidationError(
            f"too little history to train on: windows of {lookback}+{horizon} need series of several hundred "
            f"values, the longest was {longest}"
        )
    return split


def synthetic_closes(symbols: Sequence[str], length: int, *, seed: int = 0) -> dict[str, Floats]:
    """One series per symbol: a level that drifts slowly, a price that reverts towards it (an Ornstein-Uhlenbeck
    deviation), an intraday cycle and noise. Deterministic in ``seed`` and the symbol."""
    series = {}
    for index, symbol in enumerate(symbols):
        rng = np.random.default_rng([seed, index, len(symbol)])
        base = float(rng.uniform(100, 3000))
        level = np.cumsum(rng.normal(0, 2e-4, length))
        deviation = np.zeros(length)
        reversion, volatility = 0.08, 1.5e-3
        shocks = rng.normal(0, volatility, length)
        for t in range(1, length):
            deviation[t] = deviation[t - 1] * (1 - reversion) + shocks[t]
        period = rng.uniform(25, 45)
        cycle = 2e-3 * np.sin(2 * np.pi * np.arange(length) / period + rng.uniform(0, 2 * np.pi))
        noise = rng.normal(0, 2e-4, length)
        series[symbol] = base * np.exp(level + deviation + cycle + noise)
    return series


def load_bar_closes(
    database_url: str,
    symbols: Sequence[str],
    *,
    interval: str = "1m",
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, list[Floats]]:
    """Each symbol's bar closes from ``bars``, oldest first, split into runs without missing bars."""
    from aitrader.db.repositories import BarRepository
    from aitrader.db.session import make_engine, make_session_factory, session_scope

    step = INTERVALS.get(interval)
    if step is None:
        raise ValidationError(f"interval must be one of {sorted(INTERVALS)}, was {interval!r}")
    engine = make_engine(database_url)
    try:
        factory = make_session_factory(engine)
        loaded: dict[str, list[Floats]] = {}
        with session_scope(factory) as session:
            for symbol in symbols:
                bars = BarRepository(session).series(symbol, interval, since, until)
                if not bars:
                    raise NotFoundError(f"no {interval} bars for {symbol} in the database")
                starts = [bar.start for bar in bars]
                closes = np.array([float(bar.close) for bar in bars])
                loaded[symbol] = contiguous_runs(starts, closes, step)
        return loaded
    finally:
        engine.dispose()


def contiguous_runs(starts: Sequence[datetime], values: Floats, step: timedelta) -> list[Floats]:
    """``values`` cut wherever the next bar does not start one ``step`` after the previous."""
    runs: list[Floats] = []
    first = 0
    for index in range(1, len(starts)):
        if starts[index] - starts[index - 1] != step:
            runs.append(values[first:index])
            first = index
    runs.append(values[first:])
    return [run for run in runs if len(run)]


def flatten(series: Mapping[str, Sequence[Floats]] | Mapping[str, Floats]) -> list[Floats]:
    """All runs of all symbols, for :func:`split_windows`."""
    runs: list[Floats] = []
    for value in series.values():
        if isinstance(value, np.ndarray):
            runs.append(value)
        else:
            runs.extend(value)
    return runs


def stored_symbols(database_url: str, interval: str = "1m") -> list[str]:
    """Every symbol with ``interval`` bars in the database, in name order."""
    from sqlalchemy import select

    from aitrader.db.models import Bar
    from aitrader.db.session import make_engine

    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            symbols = list(connection.scalars(select(Bar.symbol).where(Bar.interval == interval).distinct()))
    finally:
        engine.dispose()
    if not symbols:
        raise NotFoundError(f"no {interval} bars in the database: replay a day first, or train with --synthetic")
    return sorted(symbols)
