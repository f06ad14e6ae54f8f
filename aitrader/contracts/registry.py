"""Which message type each stream carries, so tools can validate and decode by stream name."""

from __future__ import annotations

from typing import Any

from aitrader.contracts.messages import (
    Bar,
    BookUpdate,
    ControlMessage,
    EndOfData,
    FeedStatusChanged,
    Fill,
    Message,
    OrderEvent,
    OrderRequest,
    PositionUpdate,
    Signal,
    Tick,
)
from aitrader.contracts.streams import (
    BARS,
    BOOK,
    CONTROL,
    DEAD_LETTER_SUFFIX,
    FEED_STATUS,
    FILLS,
    ORDER_EVENTS,
    ORDERS,
    POSITIONS,
    SIGNALS,
    TICKS,
)

# A replay ends each market data stream with an EndOfData marker, so those streams carry it too.
TickStreamMessage = Tick | EndOfData
BookStreamMessage = BookUpdate | EndOfData
BarStreamMessage = Bar | EndOfData

STREAM_MESSAGE_TYPES: dict[str, Any] = {
    TICKS: TickStreamMessage,
    BOOK: BookStreamMessage,
    BARS: BarStreamMessage,
    FEED_STATUS: FeedStatusChanged,
    SIGNALS: Signal,
    ORDERS: OrderRequest,
    ORDER_EVENTS: OrderEvent,
    FILLS: Fill,
    POSITIONS: PositionUpdate,
    CONTROL: ControlMessage,
}


def message_type_for(stream: str, prefix: str = "") -> Any:
    """The type carried by ``stream`` (a name or a full key): ``ticks:3`` carries Tick; unknown: any Message."""
    name = stream[len(prefix) :] if prefix and stream.startswith(prefix) else stream
    name = name.removesuffix(DEAD_LETTER_SUFFIX)
    base = name.split(":", 1)[0]
    return STREAM_MESSAGE_TYPES.get(name, STREAM_MESSAGE_TYPES.get(base, Message))
