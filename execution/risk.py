"""Pre-trade risk checks: every order the OMS would send passes them, or is denied with a reason code.

``check`` is a pure function of the request, what the OMS knows (:class:`RiskState`), the limits in force
(:class:`Limits`) and the time, so the service, the backtester and the tests run the same checks. Cancels
never come here: they always pass. The checks run in a fixed order and the first failure is the answer:

1. the kill switch, then the trading state (HALTED denies everything; REDUCING lets an order through only
   if it shrinks its position without flipping it);
2. a client_order_id seen before, a symbol off the allow-list, a closed market (when enforced);
3. the daily loss limit (realised plus unrealised P&L of the day); its denial asks the OMS to halt;
4. the order's own size: quantity, a reference price to judge it by, notional, price band against the last
   price;
5. what it adds up to: position per symbol and gross exposure (counting working orders that add to the same
   side), open orders, and the strategy's order rate.

Limits are rows of ``risk_limits``: a limit for the symbol wins over one for the strategy, which wins over
the global one; a limit that is absent (or disabled) does not apply.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Final

from aitrader.contracts.messages import OrderRequest, OrderSide, OrderType, TradingState
from aitrader.contracts.money import to_decimal
from aitrader.marketdata.schema import in_session

RATE_WINDOW_NS: Final = 60 * 1_000_000_000


class Reason(StrEnum):
    KILL_SWITCH = "KILL_SWITCH"
    TRADING_HALTED = "TRADING_HALTED"
    REDUCE_ONLY = "REDUCE_ONLY"
    DUPLICATE_CLIENT_ORDER_ID = "DUPLICATE_CLIENT_ORDER_ID"
    SYMBOL_NOT_ALLOWED = "SYMBOL_NOT_ALLOWED"
    MARKET_CLOSED = "MARKET_CLOSED"
    DAILY_LOSS_LIMIT = "DAILY_LOSS_LIMIT"
    MAX_ORDER_QTY = "MAX_ORDER_QTY"
    NO_REFERENCE_PRICE = "NO_REFERENCE_PRICE"
    MAX_ORDER_NOTIONAL = "MAX_ORDER_NOTIONAL"
    PRICE_BAND = "PRICE_BAND"
    MAX_POSITION = "MAX_POSITION"
    MAX_GROSS_EXPOSURE = "MAX_GROSS_EXPOSURE"
    MAX_OPEN_ORDERS = "MAX_OPEN_ORDERS"
    ORDER_RATE = "ORDER_RATE"


class Limit(StrEnum):
    """The names of the numeric limits in ``risk_limits``."""

    MAX_ORDER_QTY = "max_order_qty"
    MAX_ORDER_NOTIONAL = "max_order_notional"
    PRICE_BAND_PCT = "price_band_pct"
    MAX_POSITION_QTY = "max_position_qty"
    MAX_GROSS_EXPOSURE = "max_gross_exposure"
    MAX_OPEN_ORDERS = "max_open_orders"
    MAX_ORDERS_PER_MINUTE = "max_orders_per_minute"
    DAILY_LOSS_LIMIT = "daily_loss_limit"


@dataclass(frozen=True)
class Denial:
    code: Reason
    message: str
    halt: bool = False
    """The OMS should move to HALTED (the daily loss limit was reached)."""


class Limits:
    """The limits in force, looked up most specific first: symbol, then strategy, then global."""

    def __init__(
        self,
        values: Iterable[tuple[str, str, str, Decimal]] = (),
        *,
        allowed_symbols: Iterable[str] | None = None,
        enforce_market_hours: bool = False,
    ) -> None:
        """``values``: (scope, scope_key, name, value) rows, scope ``global`` / ``strategy`` / ``symbol``.
        ``allowed_symbols`` None allows every symbol."""
        self._values: dict[tuple[str, str, str], Decimal] = {}
        for scope, key, name, value in values:
            Limit(name)  # an unknown name is an error here, not a limit silently never applied
            if scope not in ("global", "strategy", "symbol"):
                raise ValueError(f"unknown limit scope {scope!r}: global, strategy or symbol")
            self._values[(scope, key if scope != "global" else "", name)] = Decimal(value)
        self.allowed_symbols = frozenset(allowed_symbols) if allowed_symbols is not None else None
        self.enforce_market_hours = enforce_market_hours

    def get(self, name: Limit, *, strategy: str, symbol: str) -> Decimal | None:
        for key in (("symbol", symbol, name), ("strategy", strategy, name), ("global", "", name)):
            if key in self._values:
                return self._values[key]
        return None


@dataclass
class RiskState:
    """What the OMS knows when it checks an order."""

    trading_state: TradingState = TradingState.ACTIVE
    kill_switch: bool = False
    positions: dict[str, int] = field(default_factory=dict)
    """Signed quantity per symbol."""
    last_prices: dict[str, Decimal] = field(default_factory=dict)
    working: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Per symbol, the unfilled (buy, sell) quantity of working orders."""
    open_orders: int = 0
    pnl_today: Decimal = Decimal(0)
    """Realised plus unrealised P&L of the day, net of fees."""
    orders_last_minute: dict[str, int] = field(default_factory=dict)
    """Per strategy, how many orders it sent in the last minute (``RATE_WINDOW_NS``)."""
    client_order_ids: set[str] = field(default_factory=set)


def check(request: OrderRequest, state: RiskState, limits: Limits, now_ns: int) -> Denial | None:
    """None if the order may go to the broker, else the first check it fails (see the module's docstring)."""
    symbol, strategy = request.symbol, request.strategy
    side = 1 if request.side == OrderSide.BUY else -1
    position = state.positions.get(symbol, 0)

    def limit(name: Limit) -> Decimal | None:
        return limits.get(name, strategy=strategy, symbol=symbol)

    if state.kill_switch:
        return Denial(Reason.KILL_SWITCH, "the kill switch is engaged: only cancels pass")
    if state.trading_state == TradingState.HALTED:
        return Denial(Reason.TRADING_HALTED, "trading is HALTED: only cancels pass")
    reduces = position * side < 0 and request.qty <= abs(position)
    if state.trading_state == TradingState.REDUCING and not reduces:
        return Denial(
            Reason.REDUCE_ONLY,
            f"trading is REDUCING: a {request.side} of {request.qty} does not shrink {symbol}'s position {position}",
        )
    if request.client_order_id in state.client_order_ids:
        return Denial(Reason.DUPLICATE_CLIENT_ORDER_ID, f"client_order_id {request.client_order_id!r} was used before")
    if limits.allowed_symbols is not None and symbol not in limits.allowed_symbols:
        return Denial(Reason.SYMBOL_NOT_ALLOWED, f"{symbol} is not on the allow-list")
    if limits.enforce_market_hours and not in_session(datetime.fromtimestamp(now_ns / 1e9, UTC)):
        return Denial(Reason.MARKET_CLOSED, "the market is closed (09:15-15:30 IST, Monday to Friday)")
    loss_limit = limit(Limit.DAILY_LOSS_LIMIT)
    if loss_limit is not None and state.pnl_today <= -loss_limit:
        return Denial(
            Reason.DAILY_LOSS_LIMIT,
            f"the day's P&L {state.pnl_today} has reached the loss limit -{loss_limit}: trading halts",
            halt=True,
        )
    most_qty = limit(Limit.MAX_ORDER_QTY)
    if most_qty is not None and request.qty > most_qty:
        return Denial(Reason.MAX_ORDER_QTY, f"qty {request.qty} is above the limit {most_qty}")
    last = state.last_prices.get(symbol)
    price = to_decimal(request.limit_price) if request.type == OrderType.LIMIT and request.limit_price else last
    if price is None:
        return Denial(Reason.NO_REFERENCE_PRICE, f"no last price for {symbol} to value a MARKET order by")
    notional = price * request.qty
    most_notional = limit(Limit.MAX_ORDER_NOTIONAL)
    if most_notional is not None and notional > most_notional:
        return Denial(Reason.MAX_ORDER_NOTIONAL, f"notional {notional} is above the limit {most_notional}")
    band = limit(Limit.PRICE_BAND_PCT)
    if band is not None and last is not None and last > 0 and request.type == OrderType.LIMIT:
        away = abs(price - last) / last * 100
        if away > band:
            return Denial(
                Reason.PRICE_BAND, f"limit {price} is {away:.2f}% from the last price {last}, beyond the band {band}%"
            )
    buys, sells = state.working.get(symbol, (0, 0))
    worst = position + (buys if side > 0 else -sells) + side * request.qty
    adds = abs(worst) > abs(position + (buys if side > 0 else -sells))
    most_position = limit(Limit.MAX_POSITION_QTY)
    if most_position is not None and adds and abs(worst) > most_position:
        return Denial(
            Reason.MAX_POSITION,
            f"{symbol} could reach {worst} with working orders and this one, beyond the limit {most_position}",
        )
    most_gross = limit(Limit.MAX_GROSS_EXPOSURE)
    if most_gross is not None and adds:
        gross = _gross_exposure(state, symbol, worst, price)
        if gross > most_gross:
            return Denial(Reason.MAX_GROSS_EXPOSURE, f"gross exposure could reach {gross}, beyond {most_gross}")
    most_open = limit(Limit.MAX_OPEN_ORDERS)
    if most_open is not None and state.open_orders + 1 > most_open:
        return Denial(Reason.MAX_OPEN_ORDERS, f"{state.open_orders} orders are open, the limit is {most_open}")
    most_rate = limit(Limit.MAX_ORDERS_PER_MINUTE)
    if most_rate is not None:
        sent = state.orders_last_minute.get(strategy, 0)
        if sent + 1 > most_rate:
            return Denial(
                Reason.ORDER_RATE, f"{strategy} sent {sent} orders in the last minute, the limit is {most_rate}"
            )
    return None


def _gross_exposure(state: RiskState, symbol: str, worst: int, price: Decimal) -> Decimal:
    """Sum of |position| x price over symbols, with ``symbol`` at its worst case including this order."""
    total = abs(worst) * price
    for other, quantity in state.positions.items():
        if other != symbol and quantity:
            total += abs(quantity) * state.last_prices.get(other, Decimal(0))
    return total
