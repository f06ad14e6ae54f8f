"""Forecasts for a symbol: the history from the request or from ``bars``, the model's scaling, its band.

A forecaster's metadata says how many closes it reads (``lookback``), how many it forecasts (``horizon``) and
how its inputs are scaled (``normalisation``). The project's own forecasters scale inside their graphs and return
``forecast``, ``lower`` and ``upper`` in prices; a model that scales by its metadata has the scaling applied
here, both ways. Everything a caller can get wrong is refused with a message that says what was expected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from aitrader.errors import NotFoundError, UnavailableError, ValidationError
from onnx_runner.registry import ModelMeta, Normalisation


@dataclass(frozen=True)
class History:
    closes: np.ndarray
    source: str
    """``request`` or ``bars``."""
    as_of: datetime | None = None
    """The start of the last bar read, when read from ``bars``."""


class BarHistory:
    """The latest closes of a symbol from ``bars``, read through a small connection pool."""

    def __init__(self, database_url: str | None, interval: str) -> None:
        self.interval = interval
        self._engine = None
        if database_url is not None:
            from aitrader.db.session import make_engine

            self._engine = make_engine(database_url, pool_size=4, max_overflow=4)

    def latest(self, symbol: str, count: int) -> History:
        """The last ``count`` closes of ``symbol``; blocking (run it in a thread)."""
        if self._engine is None:
            raise UnavailableError("no database is configured (DATABASE_URL): send the history with the request")
        from sqlalchemy.exc import OperationalError
        from sqlalchemy.orm import Session

        from aitrader.db.repositories import BarRepository

        try:
            with Session(self._engine) as session:
                bars = BarRepository(session).latest(symbol, self.interval, count)
        except OperationalError as e:
            raise UnavailableError(f"the database cannot be reached: {e.orig or e}") from e
        if not bars:
            raise NotFoundError(f"no {self.interval} bars of {symbol} are stored")
        if len(bars) < count:
            raise ValidationError(
                f"{symbol} has {len(bars)} {self.interval} bars stored, the model reads {count}: "
                "wait for more or send the history with the request"
            )
        closes = np.array([float(bar.close) for bar in bars])
        return History(closes, "bars", bars[-1].start)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def check_forecaster(meta: ModelMeta, horizon: int | None) -> tuple[int, int]:
    """The model's lookback and the horizon to answer; :class:`ValidationError` when either does not fit."""
    if meta.kind != "forecast" or meta.lookback is None or meta.horizon is None:
        raise ValidationError(f"{meta.key} is a {meta.kind} model, not a forecaster (its metadata has no lookback)")
    if len(meta.inputs) != 1:
        raise ValidationError(f"{meta.key} takes {len(meta.inputs)} inputs; a forecaster takes one window of closes")
    horizon = meta.horizon if horizon is None else horizon
    if not 1 <= horizon <= meta.horizon:
        raise ValidationError(f"horizon must be between 1 and {meta.horizon} for {meta.key}, was {horizon}")
    return meta.lookback, horizon


def request_history(values: Sequence[float], lookback: int) -> History:
    """The last ``lookback`` of the request's closes, which must be positive and finite."""
    if len(values) < lookback:
        raise ValidationError(f"history needs at least {lookback} closes, had {len(values)}")
    closes = np.asarray(values[-lookback:], dtype=np.float64)
    if not np.isfinite(closes).all() or (closes <= 0).any():
        raise ValidationError("history must hold positive, finite closes")
    return History(closes, "request")


def scale_inputs(closes: np.ndarray, normalisation: Normalisation) -> np.ndarray:
    if normalisation.method == "window":
        return np.asarray((closes / closes[-1] - 1 - normalisation.mean) / normalisation.std)
    if normalisation.method == "zscore":
        return np.asarray((closes - normalisation.mean) / normalisation.std)
    return closes


def unscale_outputs(values: np.ndarray, last: float, normalisation: Normalisation) -> np.ndarray:
    if normalisation.method == "window":
        return np.asarray(last * (1 + normalisation.mean + values * normalisation.std))
    if normalisation.method == "zscore":
        return np.asarray(values * normalisation.std + normalisation.mean)
    return values
