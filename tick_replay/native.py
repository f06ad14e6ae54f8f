"""The native tick appender (Rust, module ``pattern_engine_pyo3``) for max-speed replays.

It encodes ticks straight from an Arrow table's columns and appends them with pipelined XADDs, the GIL
released: no Python object per tick. When the extension is not built (``make setup`` builds it), replays
run on the Python path, and this module says so once in the log.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import pyarrow as pa

from aitrader.log import get_logger
from aitrader.marketdata.schema import (
    DEPTH_COLUMNS,
    DEPTH_LEVELS,
    DEPTH_SIDES,
    depth_column,
    dictionary_codes,
    numbers,
)

log = get_logger(__name__)


class Appender(Protocol):
    def append(self, *args: Any, **kwargs: Any) -> tuple[int, str | None]: ...


class AppenderFactory(Protocol):
    def __call__(self, redis_url: str, key: str, maxlen: int | None) -> Appender: ...


def load_appender() -> AppenderFactory | None:
    """``pattern_engine_pyo3.TickAppender`` when the extension is installed, else None (with a warning)."""
    try:
        from pattern_engine_pyo3 import TickAppender
    except ImportError as e:
        log.warning("native_appender_unavailable", reason=str(e), fallback="python")
        return None
    factory: AppenderFactory = TickAppender
    return factory


def tick_columns(table: pa.Table) -> dict[str, Any]:
    """A canonical tick table as the appender's arguments: contiguous numpy arrays, strings as dictionaries,
    null prices as NaN; the depth as ``rows x 5`` arrays per side when the table has depth columns."""
    columns: dict[str, Any] = {}
    for name in ("symbol", "venue"):
        columns[f"{name}_codes"], columns[f"{name}s"] = dictionary_codes(table.column(name))
    for name in ("ts_ns", "seq", "ltq", "volume", "bid_qty", "ask_qty"):
        columns[name] = numbers(table.column(name), np.int64, 0)
    for name in ("ltp", "bid", "ask"):
        columns[name] = numbers(table.column(name), np.float64, np.nan)
    if any(name in table.column_names for name in DEPTH_COLUMNS):
        rows = table.num_rows
        for side in DEPTH_SIDES:
            sides = []
            for field, kind, missing in (("price", np.float64, np.nan), ("qty", np.int64, 0), ("orders", np.int64, 0)):
                levels = []
                for level in range(1, DEPTH_LEVELS + 1):
                    name = depth_column(side, field, level)
                    complete = all(depth_column(side, f, level) in table.column_names for f in ("price", "qty"))
                    if complete and name in table.column_names:
                        levels.append(numbers(table.column(name), kind, missing))
                    else:  # as in schema.ticks_from_table: a level needs its price and quantity columns
                        levels.append(np.full(rows, missing, dtype=kind))
                sides.append(np.ascontiguousarray(np.column_stack(levels)))
            columns[f"{side}_depth"] = tuple(sides)
    return columns
