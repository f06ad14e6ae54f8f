"""The columnar tick layout: what tick files hold, what the synthetic market writes, what the replay reads.

Columns of a tick file (CSV header names, Parquet field names); names are case-sensitive:

=================  ========  =====================================================================
column             required  meaning
=================  ========  =====================================================================
timestamp          yes       ISO-8601 (``2025-11-21T09:15:00.25+05:30``; without an offset it is IST)
                             or integer nanoseconds since the Unix epoch; in Parquet also a timestamp
symbol             yes       trading symbol, e.g. ``INFY``
venue              no        exchange, default ``NSE``
seq                no        per-symbol sequence number; default: 1, 2, ... per symbol in file order
ltp                yes       last traded price, > 0
ltq                no        last traded quantity, default 0
volume             no        cumulative traded quantity of the day, default 0
bid, ask           no        best bid / ask price; empty when that side has no quote
bid_qty, ask_qty   no        quantity at the best bid / ask, default 0
bid_price_N ...    no        depth, N = 1..5 (1 is best): ``bid_price_N``, ``bid_qty_N``,
                             ``bid_orders_N``, ``ask_price_N``, ``ask_qty_N``, ``ask_orders_N``
=================  ========  =====================================================================

In memory every source yields Arrow tables in the canonical layout :data:`TICK_SCHEMA` (``timestamp``
becomes ``ts_ns``, every optional column is present) plus any depth columns, and
:func:`ticks_from_table` turns such a table into :class:`~aitrader.contracts.Tick` messages.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime, time, timedelta, timezone
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from aitrader.contracts import Depth, Level, Tick

IST: Final = timezone(timedelta(hours=5, minutes=30), "IST")
"""India Standard Time: NSE and BSE trade 09:15-15:30 IST; India keeps no daylight saving time."""
SESSION_OPEN: Final = time(9, 15)
SESSION_CLOSE: Final = time(15, 30)


def in_session(moment: datetime) -> bool:
    """Whether ``moment`` (any zone) falls in the regular session: 09:15-15:30 IST, Monday to Friday."""
    local = moment.astimezone(IST)
    return local.weekday() < 5 and SESSION_OPEN <= local.time() < SESSION_CLOSE


DEPTH_LEVELS: Final = 5
DEPTH_SIDES: Final = ("bid", "ask")
DEPTH_FIELDS: Final = ("price", "qty", "orders")

TICK_SCHEMA: Final = pa.schema(
    [
        pa.field("ts_ns", pa.int64(), nullable=False),
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("venue", pa.string(), nullable=False),
        pa.field("seq", pa.int64(), nullable=False),
        pa.field("ltp", pa.float64(), nullable=False),
        pa.field("ltq", pa.int64(), nullable=False),
        pa.field("volume", pa.int64(), nullable=False),
        pa.field("bid", pa.float64()),
        pa.field("ask", pa.float64()),
        pa.field("bid_qty", pa.int64(), nullable=False),
        pa.field("ask_qty", pa.int64(), nullable=False),
    ]
)
"""The canonical in-memory layout, without depth."""


def depth_column(side: str, field: str, level: int) -> str:
    """Name of one depth column, e.g. ``depth_column("bid", "price", 1) == "bid_price_1"``."""
    return f"{side}_{field}_{level}"


DEPTH_COLUMNS: Final = tuple(
    depth_column(side, field, level)
    for side in DEPTH_SIDES
    for level in range(1, DEPTH_LEVELS + 1)
    for field in DEPTH_FIELDS
)


def depth_type(column: str) -> pa.DataType:
    return pa.float64() if "_price_" in column else pa.int64()


def ticks_from_table(table: pa.Table) -> Iterator[Tick]:
    """The rows of a canonical ``table`` as Tick messages, in row order.

    Depth levels whose price is null or whose quantity is 0 are left out; with no level left on either
    side the tick has ``depth=None``.
    """
    columns = [table.column(name).to_pylist() for name in TICK_SCHEMA.names]
    no_depth: Iterator[tuple[Any, ...]] = itertools.repeat(())
    bid_rows, ask_rows = (_side_rows(table, side) or no_depth for side in DEPTH_SIDES)
    rows = zip(*columns, strict=True)
    for (ts_ns, symbol, venue, seq, ltp, ltq, volume, bid, ask, bid_qty, ask_qty), bid_row, ask_row in zip(
        rows, bid_rows, ask_rows, strict=False
    ):
        bids = _levels(bid_row)
        asks = _levels(ask_row)
        yield Tick(
            ts_ns=ts_ns,
            symbol=symbol,
            venue=venue,
            seq=seq,
            ltp=ltp,
            ltq=ltq,
            volume=volume,
            bid=bid,
            ask=ask,
            bid_qty=bid_qty,
            ask_qty=ask_qty,
            depth=Depth(bids=bids, asks=asks) if bids or asks else None,
        )


def _side_rows(table: pa.Table, side: str) -> Iterator[tuple[Any, ...]] | None:
    """Per row, the flat (price, qty, orders, price, qty, orders, ...) of one side's levels, best first.

    A level without both its price and quantity columns is absent from every row; None when the side has
    no level at all.
    """
    columns = []
    for level in range(1, DEPTH_LEVELS + 1):
        price, qty = depth_column(side, "price", level), depth_column(side, "qty", level)
        if price not in table.column_names or qty not in table.column_names:
            continue
        orders = depth_column(side, "orders", level)
        columns.append(table.column(price).to_pylist())
        columns.append(table.column(qty).to_pylist())
        columns.append(table.column(orders).to_pylist() if orders in table.column_names else [0] * table.num_rows)
    return zip(*columns, strict=True) if columns else None


def _levels(flat: tuple[Any, ...]) -> tuple[Level, ...]:
    levels = []
    for index in range(0, len(flat), 3):
        price, qty = flat[index], flat[index + 1]
        if price is not None and qty:
            levels.append(Level(price, qty, flat[index + 2] or 0))
    return tuple(levels)


def numbers(column: pa.ChunkedArray | pa.Array, kind: Any, missing: float) -> npt.NDArray[Any]:
    """A numeric column as one contiguous numpy array of ``kind``, nulls replaced by ``missing``: what the Rust
    extension's column entry points take."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if array.null_count:
        array = pc.fill_null(array, missing)
    values: npt.NDArray[Any] = np.ascontiguousarray(array.to_numpy(zero_copy_only=False), dtype=kind)
    return values


def dictionary_codes(column: pa.ChunkedArray) -> tuple[npt.NDArray[np.int32], list[str]]:
    """A string column as int32 codes into its dictionary, and the dictionary."""
    encoded = column.combine_chunks().dictionary_encode()
    codes: npt.NDArray[np.int32] = np.ascontiguousarray(encoded.indices.to_numpy(zero_copy_only=False), np.int32)
    return codes, encoded.dictionary.to_pylist()
