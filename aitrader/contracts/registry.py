"""Which message type each stream carries, so tools can validate and decode by stream name."""

from __future__ import annotations

from typing import Any

from aitrader.contracts.messages import (
    BookUpdate,
    ControlMessage,
    Fill,
    Message,
    OrderEvent,
    OrderRequest,
    Signal,
    Tick,
)
from aitrader.contracts.streams import (
    BOOK,
    CONTROL,
    DEAD_LETTER_SUFFIX,
    FILLS,
    ORDER_EVENTS,
    ORDERS,
    SIGNALS,
    TICKS,
)

STREAM_MESSAGE_TYPES: dict[str, Any] = {
    TICKS: Tick,
    BOOK: BookUpdate,
    SIGNALS: Signal,
    ORDERS: OrderRequest,
    ORDER_EVENTS: OrderEvent,
    FILLS: Fill,
    CONTROL: ControlMessage,
}


def message_type_for(stream: str, prefix: str = "") -> Any:
    """The type carried by ``stream`` (a name or a full key): ``ticks:3`` carries Tick; unknown: any Message."""
    name = stream[len(prefix) :] if prefix and stream.startswith(prefix) else stream
    name = name.removesuffix(DEAD_LETTER_SUFFIX)
    base = name.split(":", 1)[0]
    return STREAM_MESSAGE_TYPES.get(name, STREAM_MESSAGE_TYPES.get(base, Message))
