"""The messages on the bus (DESIGN §3), as frozen msgspec Structs.

Wire rules, mirrored by the Rust side (serde) and pinned by the golden vectors in tests/golden/:
- each message is a map whose first key ``msg`` names its type (the tag) and whose second key ``v`` is
  its schema version; fields follow in declaration order, defaults included;
- time is integer nanoseconds since the Unix epoch (``ts_ns``); signals, orders and fills carry the
  originating tick's ``tick_ts_ns`` so latency can be measured end to end;
- prices are IEEE-754 doubles already rounded to the instrument's tick size, and become ``Decimal`` at
  the database edge through :func:`aitrader.contracts.money.to_decimal`; quantities are integers;
- a field may be added (with a default) but never renamed; a change of meaning bumps ``v``.
Constraints (``Meta``) are checked when a message is decoded, so a bad message never reaches a handler.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from msgspec import Meta, Struct

SCHEMA_VERSION = 1

Symbol = Annotated[str, Meta(min_length=1, max_length=64)]
Identifier = Annotated[str, Meta(min_length=1, max_length=64)]
TimestampNs = Annotated[int, Meta(ge=0)]
Price = Annotated[float, Meta(ge=0.0)]
Quantity = Annotated[int, Meta(ge=0)]
PositiveQuantity = Annotated[int, Meta(gt=0)]
Score = Annotated[float, Meta(ge=-1.0, le=1.0)]


class OrderSide(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"


class TimeInForce(StrEnum):
    DAY = "DAY"
    IOC = "IOC"


class Product(StrEnum):
    """Zerodha product: MIS is intraday (squared off the same day), CNC is delivery."""

    MIS = "MIS"
    CNC = "CNC"
    NRML = "NRML"


class OrderStatus(StrEnum):
    """An order's life in the OMS; the allowed moves between them are ``execution.states.TRANSITIONS``."""

    NEW = "NEW"
    SUBMITTED = "SUBMITTED"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    PENDING_UPDATE = "PENDING_UPDATE"
    PENDING_CANCEL = "PENDING_CANCEL"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"


class TradingState(StrEnum):
    """ACTIVE trades freely, REDUCING only lets orders shrink positions, HALTED accepts nothing."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


class _Message(Struct, frozen=True, kw_only=True, tag_field="msg", gc=False):
    """Base of every bus message; ``v`` is the schema version of the message type.

    ``gc=False``: messages hold only values, never a reference back to themselves, so the cycle collector
    need not track them; on the hot path that halves the cost of creating them.
    """

    v: int = SCHEMA_VERSION


class Level(Struct, frozen=True, array_like=True, gc=False):
    """One price level of a book side, encoded compactly as ``[price, qty, orders]``."""

    price: Price
    qty: Quantity
    orders: Quantity = 0


class Depth(Struct, frozen=True, kw_only=True, gc=False):
    """Up to five levels per side, best first."""

    bids: tuple[Level, ...] = ()
    asks: tuple[Level, ...] = ()


class Tick(_Message, tag="tick", kw_only=True, frozen=True):
    ts_ns: TimestampNs
    symbol: Symbol
    venue: str = "NSE"
    seq: Quantity = 0
    ltp: Price
    ltq: Quantity = 0
    volume: Quantity = 0
    bid: Price | None = None
    ask: Price | None = None
    bid_qty: Quantity = 0
    ask_qty: Quantity = 0
    depth: Depth | None = None


class BookUpdate(_Message, tag="book_update", kw_only=True, frozen=True):
    ts_ns: TimestampNs
    tick_ts_ns: TimestampNs
    symbol: Symbol
    venue: str = "NSE"
    seq: Quantity = 0
    bids: tuple[Level, ...] = ()
    asks: tuple[Level, ...] = ()
    mid: Price | None = None
    spread: float | None = None
    imbalance: Score | None = None
    microprice: Price | None = None
    vwap: Price | None = None
    last_price: Price | None = None
    volume: Quantity = 0
    crossed: bool = False
    """True when the best bid is at or above the best ask; mid, spread and microprice are then None."""


class Bar(_Message, tag="bar", kw_only=True, frozen=True):
    """OHLCV of one symbol over ``[start_ns, end_ns)``; ``interval`` is ``1s`` or ``1m``.

    ``volume`` is the quantity traded in the interval (from the rise of the cumulative day volume, else
    the last traded quantity), ``vwap`` the volume-weighted last price; a bar with no trade has neither.
    """

    ts_ns: TimestampNs
    symbol: Symbol
    venue: str = "NSE"
    interval: Literal["1s", "1m"]
    start_ns: TimestampNs
    end_ns: TimestampNs
    open: Price
    high: Price
    low: Price
    close: Price
    volume: Quantity = 0
    vwap: Price | None = None
    trade_count: Quantity = 0
    tick_count: Quantity = 0


class EndOfData(_Message, tag="end_of_data", kw_only=True, frozen=True):
    """The last entry of a replay on a stream: nothing more follows from ``source``.

    ``messages`` counts what the replay published on this stream before the marker, so a consumer can
    check that it saw everything; ``complete`` is False when the replay was stopped before the end.
    """

    ts_ns: TimestampNs
    replay_id: Identifier
    source: str = ""
    messages: Quantity = 0
    last_tick_ts_ns: TimestampNs | None = None
    complete: bool = True


class FeedStatusChanged(_Message, tag="feed_status_changed", kw_only=True, frozen=True):
    """A symbol's feed went silent for too long (``stale``) or came back."""

    ts_ns: TimestampNs
    symbol: Symbol
    venue: str = "NSE"
    stale: bool
    last_tick_ts_ns: TimestampNs | None = None
    silent_ms: Quantity = 0


class Signal(_Message, tag="signal", kw_only=True, frozen=True):
    id: Identifier
    ts_ns: TimestampNs
    tick_ts_ns: TimestampNs
    symbol: Symbol
    venue: str = "NSE"
    pattern: Identifier
    side: Literal[1, -1]
    score: Score
    price: Price
    features: dict[str, float] = {}


class OrderRequest(_Message, tag="order_request", kw_only=True, frozen=True):
    client_order_id: Identifier
    ts_ns: TimestampNs
    tick_ts_ns: TimestampNs | None = None
    strategy: Identifier
    symbol: Symbol
    venue: str = "NSE"
    side: OrderSide
    qty: PositiveQuantity
    type: OrderType = OrderType.MARKET
    limit_price: Price | None = None
    tif: TimeInForce = TimeInForce.DAY
    product: Product = Product.MIS
    signal_id: Identifier | None = None
    factors: dict[str, float] = {}
    combined_score: Score = 0.0


class OrderEvent(_Message, tag="order_event", kw_only=True, frozen=True):
    order_id: Identifier
    client_order_id: Identifier
    ts_ns: TimestampNs
    tick_ts_ns: TimestampNs | None = None
    strategy: str = ""
    symbol: Symbol
    venue: str = "NSE"
    side: OrderSide
    qty: Quantity
    status: OrderStatus
    reason_code: str | None = None
    reason: str | None = None
    filled_qty: Quantity = 0
    avg_price: Price | None = None


class Fill(_Message, tag="fill", kw_only=True, frozen=True):
    fill_id: Identifier
    order_id: Identifier
    client_order_id: Identifier
    ts_ns: TimestampNs
    tick_ts_ns: TimestampNs | None = None
    strategy: str = ""
    symbol: Symbol
    venue: str = "NSE"
    side: OrderSide
    qty: PositiveQuantity
    price: Price
    fees: Annotated[float, Meta(ge=0.0)] = 0.0


class PositionUpdate(_Message, tag="position_update", kw_only=True, frozen=True):
    """A strategy's position in a symbol after a fill, with its P&L in rupees (published by the OMS)."""

    ts_ns: TimestampNs
    strategy: str
    symbol: Symbol
    venue: str = "NSE"
    qty: int
    """Signed: > 0 long, < 0 short."""
    avg_price: Price = 0.0
    last_price: Price | None = None
    realised_pnl: float = 0.0
    unrealised_pnl: float = 0.0
    fees: Annotated[float, Meta(ge=0.0)] = 0.0


class SetTradingState(_Message, tag="set_trading_state", kw_only=True, frozen=True):
    """Command to the OMS: move trading to ``state`` (the OMS answers with TradingStateChanged)."""

    ts_ns: TimestampNs
    state: TradingState
    reason: str = ""
    actor: str = ""


class SetKillSwitch(_Message, tag="set_kill_switch", kw_only=True, frozen=True):
    """Command to the OMS: engage (cancel open orders, accept nothing) or release the kill switch."""

    ts_ns: TimestampNs
    engaged: bool
    reason: str = ""
    actor: str = ""


class TradingStateChanged(_Message, tag="trading_state_changed", kw_only=True, frozen=True):
    """Broadcast by the OMS whenever the trading state or the kill switch changes."""

    ts_ns: TimestampNs
    state: TradingState
    previous: TradingState | None = None
    kill_switch_engaged: bool = False
    reason: str = ""
    actor: str = ""


ControlMessage = SetTradingState | SetKillSwitch | TradingStateChanged

Message = (
    Tick
    | BookUpdate
    | Bar
    | EndOfData
    | FeedStatusChanged
    | Signal
    | OrderRequest
    | OrderEvent
    | Fill
    | PositionUpdate
    | SetTradingState
    | SetKillSwitch
    | TradingStateChanged
)

MESSAGE_TYPES: tuple[type[Struct], ...] = (
    Tick,
    BookUpdate,
    Bar,
    EndOfData,
    FeedStatusChanged,
    Signal,
    OrderRequest,
    OrderEvent,
    Fill,
    PositionUpdate,
    SetTradingState,
    SetKillSwitch,
    TradingStateChanged,
)


def tag_of(message_type: type[Struct]) -> str:
    """The ``msg`` value that identifies ``message_type`` on the wire."""
    return str(message_type.__struct_config__.tag)
