"""What the account holds, as plain records, and the arithmetic Kite reports on them.

Orders, trades, positions and holdings are msgspec structs, so the whole state is one JSON document that
survives a restart. The functions here derive what Kite shows from them: a position's ``value``, ``pnl``,
``m2m``, realised and unrealised P&L; the margin a position or an order blocks; a holding's P&L.

Margins follow Zerodha's rules of thumb, simplified and stated once here:

- equity, MIS (intraday): 20% of the notional (5x leverage), on the exposure the position or order adds;
- equity, CNC (delivery): the full value of a buy; a sell needs shares (holdings, T+1 shares, or today's
  delivery buys), not margin;
- F&O (NRML or MIS): SPAN 10% plus exposure 3% of the notional; an option buy pays its premium in full.

The cash of the day moves as Kite moves it: delivery buys take their value, delivery sells give theirs;
intraday and F&O positions block their margin, give realised profit and take realised and unrealised loss.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from aitrader.marketdata.instruments import Instrument

EQUITY_MIS_RATE: Final = 0.20
FNO_SPAN_RATE: Final = 0.10
FNO_EXPOSURE_RATE: Final = 0.03

# Kite's order statuses that this account uses: working ones can still fill, final ones never change.
PUT_ORDER_REQ_RECEIVED: Final = "PUT ORDER REQ RECEIVED"
VALIDATION_PENDING: Final = "VALIDATION PENDING"
OPEN_PENDING: Final = "OPEN PENDING"
OPEN: Final = "OPEN"
TRIGGER_PENDING: Final = "TRIGGER PENDING"
AMO_REQ_RECEIVED: Final = "AMO REQ RECEIVED"
MODIFY_VALIDATION_PENDING: Final = "MODIFY VALIDATION PENDING"
MODIFY_PENDING: Final = "MODIFY PENDING"
MODIFIED: Final = "MODIFIED"
CANCEL_PENDING: Final = "CANCEL PENDING"
COMPLETE: Final = "COMPLETE"
CANCELLED: Final = "CANCELLED"
REJECTED: Final = "REJECTED"
WORKING: Final = frozenset({OPEN, TRIGGER_PENDING, AMO_REQ_RECEIVED})
FINAL: Final = frozenset({COMPLETE, CANCELLED, REJECTED})


class Order(msgspec.Struct, kw_only=True):
    """One order of the day, with every state it went through (``GET /orders/{id}``)."""

    order_id: str
    placed_by: str
    variety: str
    exchange: str
    tradingsymbol: str
    instrument_token: int
    transaction_type: str
    order_type: str
    product: str
    validity: str
    quantity: int
    order_timestamp: str
    status: str = PUT_ORDER_REQ_RECEIVED
    validity_ttl: int = 0
    disclosed_quantity: int = 0
    price: float = 0.0
    trigger_price: float = 0.0
    average_price: float = 0.0
    filled_quantity: int = 0
    cancelled_quantity: int = 0
    exchange_order_id: str | None = None
    status_message: str | None = None
    status_message_raw: str | None = None
    exchange_timestamp: str | None = None
    exchange_update_timestamp: str | None = None
    modified: bool = False
    tag: str | None = None
    market_protection: float = 0.0
    expires_at: str | None = None
    """When a TTL order lapses (``YYYY-MM-DD HH:MM:SS``); None for DAY and IOC."""
    history: list[dict[str, Any]] = msgspec.field(default_factory=list)

    @property
    def side(self) -> int:
        return 1 if self.transaction_type == "BUY" else -1

    @property
    def pending_quantity(self) -> int:
        return self.quantity - self.filled_quantity - self.cancelled_quantity if self.status in WORKING else 0

    def kite(self) -> dict[str, Any]:
        """The order as ``GET /orders`` lists it (Kite's field set)."""
        return {
            "account_id": self.placed_by,
            "placed_by": self.placed_by,
            "order_id": self.order_id,
            "exchange_order_id": self.exchange_order_id,
            "parent_order_id": None,
            "status": self.status,
            "status_message": self.status_message,
            "status_message_raw": self.status_message_raw,
            "order_timestamp": self.order_timestamp,
            "exchange_update_timestamp": self.exchange_update_timestamp,
            "exchange_timestamp": self.exchange_timestamp,
            "variety": self.variety,
            "modified": self.modified,
            "exchange": self.exchange,
            "tradingsymbol": self.tradingsymbol,
            "instrument_token": self.instrument_token,
            "order_type": self.order_type,
            "transaction_type": self.transaction_type,
            "validity": self.validity,
            "validity_ttl": self.validity_ttl,
            "product": self.product,
            "quantity": self.quantity,
            "disclosed_quantity": self.disclosed_quantity,
            "price": self.price,
            "trigger_price": self.trigger_price,
            "average_price": self.average_price,
            "filled_quantity": self.filled_quantity,
            "pending_quantity": self.pending_quantity,
            "cancelled_quantity": self.cancelled_quantity,
            "market_protection": self.market_protection,
            "meta": {},
            "tag": self.tag,
            "tags": [self.tag] if self.tag else [],
            "guid": None,
        }


class Trade(msgspec.Struct, kw_only=True):
    trade_id: str
    order_id: str
    exchange_order_id: str
    exchange: str
    tradingsymbol: str
    instrument_token: int
    product: str
    average_price: float
    quantity: int
    transaction_type: str
    fill_timestamp: str

    def kite(self) -> dict[str, Any]:
        """The trade as ``GET /trades`` lists it; Kite writes ``order_timestamp`` there as a time only."""
        return {
            "trade_id": self.trade_id,
            "order_id": self.order_id,
            "exchange": self.exchange,
            "tradingsymbol": self.tradingsymbol,
            "instrument_token": self.instrument_token,
            "product": self.product,
            "average_price": self.average_price,
            "quantity": self.quantity,
            "exchange_order_id": self.exchange_order_id,
            "transaction_type": self.transaction_type,
            "fill_timestamp": self.fill_timestamp,
            "order_timestamp": self.fill_timestamp[11:],
            "exchange_timestamp": self.fill_timestamp,
        }


class Position(msgspec.Struct, kw_only=True):
    """One (instrument, product) position: what was carried in, and today's buys and sells."""

    exchange: str
    tradingsymbol: str
    instrument_token: int
    product: str
    multiplier: int = 1
    overnight_quantity: int = 0
    overnight_price: float = 0.0
    """The carried position's price basis: the previous close, as F&O is marked to market each day."""
    close_price: float = 0.0
    day_buy_quantity: int = 0
    day_buy_value: float = 0.0
    day_sell_quantity: int = 0
    day_sell_value: float = 0.0

    @property
    def quantity(self) -> int:
        return self.overnight_quantity + self.day_buy_quantity - self.day_sell_quantity

    @property
    def day_quantity(self) -> int:
        return self.day_buy_quantity - self.day_sell_quantity

    def add(self, side: int, quantity: int, price: float) -> None:
        value = quantity * price * self.multiplier
        if side > 0:
            self.day_buy_quantity += quantity
            self.day_buy_value += value
        else:
            self.day_sell_quantity += quantity
            self.day_sell_value += value

    def buys(self, *, day_only: bool = False) -> tuple[int, float]:
        carried = 0 if day_only else max(self.overnight_quantity, 0)
        return self.day_buy_quantity + carried, self.day_buy_value + carried * self.overnight_price * self.multiplier

    def sells(self, *, day_only: bool = False) -> tuple[int, float]:
        carried = 0 if day_only else max(-self.overnight_quantity, 0)
        return self.day_sell_quantity + carried, self.day_sell_value + carried * self.overnight_price * self.multiplier

    def pnl(self, last_price: float, *, day_only: bool = False) -> tuple[float, float]:
        """(realised, unrealised) at ``last_price``; the average price of the open side is the cost basis."""
        buy_quantity, buy_value = self.buys(day_only=day_only)
        sell_quantity, sell_value = self.sells(day_only=day_only)
        quantity = buy_quantity - sell_quantity
        total = sell_value - buy_value + quantity * last_price * self.multiplier
        if quantity > 0:
            unrealised = quantity * self.multiplier * (last_price - buy_value / buy_quantity / self.multiplier)
        elif quantity < 0:
            unrealised = -quantity * self.multiplier * (sell_value / sell_quantity / self.multiplier - last_price)
        else:
            unrealised = 0.0
        return total - unrealised, unrealised

    def kite(self, last_price: float, *, day_only: bool = False) -> dict[str, Any]:
        """The position as Kite's ``net`` list shows it, or its ``day`` list with ``day_only``."""
        buy_quantity, buy_value = self.buys(day_only=day_only)
        sell_quantity, sell_value = self.sells(day_only=day_only)
        quantity = buy_quantity - sell_quantity
        value = sell_value - buy_value
        realised, unrealised = self.pnl(last_price, day_only=day_only)
        per_unit = self.multiplier
        buy_price = buy_value / buy_quantity / per_unit if buy_quantity else 0.0
        sell_price = sell_value / sell_quantity / per_unit if sell_quantity else 0.0
        average = buy_price if quantity > 0 else sell_price if quantity < 0 else 0.0
        overnight = 0 if day_only else self.overnight_quantity
        return {
            "tradingsymbol": self.tradingsymbol,
            "exchange": self.exchange,
            "instrument_token": self.instrument_token,
            "product": self.product,
            "quantity": quantity,
            "overnight_quantity": overnight,
            "multiplier": self.multiplier,
            "average_price": round(average, 4),
            "close_price": self.close_price,
            "last_price": last_price,
            "value": round(value, 2),
            "pnl": round(realised + unrealised, 2),
            "m2m": round(realised + unrealised, 2),
            "unrealised": round(unrealised, 2),
            "realised": round(realised, 2),
            "buy_quantity": buy_quantity,
            "buy_price": round(buy_price, 4),
            "buy_value": round(buy_value, 2),
            "buy_m2m": round(buy_value, 2),
            "sell_quantity": sell_quantity,
            "sell_price": round(sell_price, 4),
            "sell_value": round(sell_value, 2),
            "sell_m2m": round(sell_value, 2),
            "day_buy_quantity": self.day_buy_quantity,
            "day_buy_price": round(self.day_buy_value / self.day_buy_quantity / per_unit, 4)
            if self.day_buy_quantity
            else 0.0,
            "day_buy_value": round(self.day_buy_value, 2),
            "day_sell_quantity": self.day_sell_quantity,
            "day_sell_price": round(self.day_sell_value / self.day_sell_quantity / per_unit, 4)
            if self.day_sell_quantity
            else 0.0,
            "day_sell_value": round(self.day_sell_value, 2),
        }


class Holding(msgspec.Struct, kw_only=True):
    """Delivery shares: settled ones (``quantity``) and yesterday's buys still settling (``t1_quantity``)."""

    exchange: str
    tradingsymbol: str
    instrument_token: int
    quantity: int = 0
    t1_quantity: int = 0
    average_price: float = 0.0
    opening_quantity: int = 0

    def kite(self, last_price: float, close_price: float, used_quantity: int) -> dict[str, Any]:
        held = self.quantity + self.t1_quantity
        day_change = last_price - close_price
        return {
            "tradingsymbol": self.tradingsymbol,
            "exchange": self.exchange,
            "instrument_token": self.instrument_token,
            "isin": "",
            "product": "CNC",
            "price": 0,
            "quantity": self.quantity,
            "used_quantity": used_quantity,
            "t1_quantity": self.t1_quantity,
            "realised_quantity": self.quantity,
            "authorised_quantity": 0,
            "authorised_date": None,
            "authorisation": {},
            "opening_quantity": self.opening_quantity,
            "short_quantity": 0,
            "collateral_quantity": 0,
            "collateral_type": "",
            "discrepancy": False,
            "average_price": round(self.average_price, 4),
            "last_price": last_price,
            "close_price": close_price,
            "pnl": round((last_price - self.average_price) * held, 2),
            "day_change": round(day_change, 2),
            "day_change_percentage": round(100 * day_change / close_price, 4) if close_price else 0.0,
            "mtf": {"quantity": 0, "used_quantity": 0, "average_price": 0, "value": 0, "initial_margin": 0},
        }


class State(msgspec.Struct, kw_only=True):
    """Everything the account keeps across a restart."""

    trading_day: str
    """The IST date (``YYYY-MM-DD``) the orders, trades and day positions belong to."""
    cash: float
    """The equity segment's opening balance of ``trading_day``."""
    next_order: int = 1
    next_trade: int = 1
    orders: dict[str, Order] = msgspec.field(default_factory=dict)
    trades: list[Trade] = msgspec.field(default_factory=list)
    positions: list[Position] = msgspec.field(default_factory=list)
    holdings: list[Holding] = msgspec.field(default_factory=list)


def is_fno(instrument: Instrument) -> bool:
    return instrument.instrument_type in ("FUT", "CE", "PE")


def is_option(instrument: Instrument) -> bool:
    return instrument.instrument_type in ("CE", "PE")


def margin_rate(instrument: Instrument, product: str) -> float:
    """The share of a position's notional its margin is (before option premiums, which pay in full)."""
    if is_fno(instrument):
        return FNO_SPAN_RATE + FNO_EXPOSURE_RATE
    return 1.0 if product == "CNC" else EQUITY_MIS_RATE


def added_margin(
    instrument: Instrument, product: str, position_quantity: int, side: int, quantity: int, price: float
) -> float:
    """The margin an order of ``quantity`` on ``side`` adds to a position of ``position_quantity`` at
    ``price``: only exposure it adds is charged; a sell of delivery shares needs none (it needs shares)."""
    if product == "CNC":
        return quantity * price if side > 0 else 0.0
    if is_option(instrument) and side > 0:
        return quantity * price
    added = abs(position_quantity + side * quantity) - abs(position_quantity)
    return max(added, 0) * price * margin_rate(instrument, product)
