"""Python bindings of AITrader's Rust core (built by maturin from pattern_engine/rust/pyo3)."""

from typing import final

import numpy as np
import numpy.typing as npt

__all__ = ["PatternEngine", "TickAppender", "run_replay_publish"]

_Side = tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.int64]]
_Detection = tuple[str, str, int, float, float, int, dict[str, float]]
"""(symbol, pattern, side, score, price, tick_ts_ns, features)"""

@final
class PatternEngine:
    """The pattern engine over one config: TOML text here, JSON (the same keys) through ``from_json``."""

    def __new__(cls, config: str) -> PatternEngine: ...
    @staticmethod
    def from_json(config: str) -> PatternEngine:
        """An engine from the config as JSON (the keys of the TOML file)."""

    @property
    def symbols(self) -> list[str]: ...
    def on_tick(self, tick: object) -> list[_Detection]:
        """Feed one tick (any object with the attributes of ``aitrader.contracts.Tick``)."""

    def on_batch(
        self,
        ts_ns: npt.NDArray[np.int64],
        symbol_codes: npt.NDArray[np.int32],
        symbols: list[str],
        ltp: npt.NDArray[np.float64],
        ltq: npt.NDArray[np.int64],
        bid: npt.NDArray[np.float64],
        ask: npt.NDArray[np.float64],
        bid_qty: npt.NDArray[np.int64],
        ask_qty: npt.NDArray[np.int64],
        bid_depth_qty: npt.NDArray[np.int64] | None = None,
        ask_depth_qty: npt.NDArray[np.int64] | None = None,
    ) -> list[_Detection]:
        """Feed a batch of ticks as columns (symbols as dictionary codes into ``symbols``); releases the GIL."""

    def counters(self) -> dict[str, int]:
        """``ticks``, ``skipped_<reason>`` and ``signals_<pattern>`` since the engine was made."""

def run_replay_publish(
    path: str,
    redis_url: str,
    stream: str,
    config: str,
    *,
    batch_rows: int = 65536,
    maxlen: int | None = None,
    replay_id: str | None = None,
) -> dict[str, int]:
    """Replay a Parquet or CSV tick file through the engine in Rust and append its signals to ``stream``,
    then an ``EndOfData`` marker (``replay_id``, default ``rust-<hex time>``; ``messages``: the signals).

    ``config`` is the engine's TOML; a signal's venue is its symbol's in the file (NSE without one). Returns the
    counts: ``rows`` read, ``unreadable_rows`` skipped, ``published`` signals, ``elapsed_ns``, and the
    engine's counters (``ticks``, ``skipped_<reason>``, ``signals_<pattern>``). Runs without the GIL.
    """

@final
class TickAppender:
    """Appends ticks given as columns to one Redis stream, trimming it to about ``maxlen`` entries."""

    def __new__(cls, redis_url: str, key: str, maxlen: int | None = None) -> TickAppender: ...
    def append(
        self,
        ts_ns: npt.NDArray[np.int64],
        symbol_codes: npt.NDArray[np.int32],
        symbols: list[str],
        venue_codes: npt.NDArray[np.int32],
        venues: list[str],
        seq: npt.NDArray[np.int64],
        ltp: npt.NDArray[np.float64],
        ltq: npt.NDArray[np.int64],
        volume: npt.NDArray[np.int64],
        bid: npt.NDArray[np.float64],
        ask: npt.NDArray[np.float64],
        bid_qty: npt.NDArray[np.int64],
        ask_qty: npt.NDArray[np.int64],
        bid_depth: _Side | None = None,
        ask_depth: _Side | None = None,
    ) -> tuple[int, str | None]:
        """Append the rows in order; returns (entries appended, id of the last one)."""
