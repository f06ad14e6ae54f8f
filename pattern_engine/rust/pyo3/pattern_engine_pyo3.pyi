"""Python bindings of AITrader's Rust core (built by maturin from pattern_engine/rust/pyo3)."""

from typing import final

import numpy as np
import numpy.typing as npt

__all__ = ["TickAppender"]

_Side = tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.int64]]

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
