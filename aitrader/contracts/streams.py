"""Stream names of the bus (DESIGN §3). Services refer to these constants, never to literals."""

from __future__ import annotations

import zlib
from typing import Final

TICKS: Final = "ticks"
BOOK: Final = "book"
SIGNALS: Final = "signals"
ORDERS: Final = "orders"
ORDER_EVENTS: Final = "order_events"
FILLS: Final = "fills"
POSITIONS: Final = "positions"
CONTROL: Final = "control"
BARS: Final = "bars"
FEED_STATUS: Final = "feed_status"

ALL_STREAMS: Final = (TICKS, BOOK, BARS, FEED_STATUS, SIGNALS, ORDERS, ORDER_EVENTS, FILLS, POSITIONS, CONTROL)

DEAD_LETTER_SUFFIX: Final = ":dead"


def stream_key(name: str, prefix: str = "") -> str:
    """The Redis key of stream ``name`` for a stack whose streams carry ``prefix``."""
    return f"{prefix}{name}"


def tick_shard(shard: int) -> str:
    """Name of tick shard ``shard`` (``ticks:{n}``) when ticks are split by symbol across consumers."""
    if shard < 0:
        raise ValueError(f"shard must be >= 0, was {shard}")
    return f"{TICKS}:{shard}"


def shard_of(symbol: str, shards: int) -> int:
    """The tick shard that carries ``symbol`` when ticks are split over ``shards`` streams (stable: CRC-32)."""
    if shards <= 0:
        raise ValueError(f"shards must be > 0, was {shards}")
    return zlib.crc32(symbol.encode()) % shards


def dead_letter_key(stream: str) -> str:
    """Where messages from ``stream`` (a full key) go when they cannot be decoded or keep failing."""
    return f"{stream}{DEAD_LETTER_SUFFIX}"
