"""The simulated account: who it belongs to, what it holds, and the orders that change it.

Orders go through Kite's statuses. A placed order is validated (bad input raises ``InputException`` and
leaves no order), then checked by the RMS: an order the RMS refuses (funds, shares, circuit limits) stays in
the order book as ``REJECTED`` with Kite's message, and the call raises the matching exception
(``MarginException``, ``HoldingException``, ``OrderException``) with that message, so a client learns of it
at once. An accepted order is ``OPEN`` (``TRIGGER PENDING`` for a stop, ``AMO REQ RECEIVED`` for an
after-market order while the market is shut): a MARKET order fills at once, walking the quote's depth; a
LIMIT order fills when the price reaches it; ``sweep`` (run every few hundred milliseconds) fills, triggers
and expires working orders. Fills become trades, positions and, the next day, holdings (T+1).

A new IST day rolls the account over: working orders are cancelled, intraday positions are squared off at
the day's close, F&O positions are carried at the close (marked to market), delivery buys become T+1
holdings, yesterday's T+1 shares settle, and the day's cash result becomes the new opening balance.

Everything is kept in one JSON state file, written atomically after every change.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import msgspec
from pydantic import BaseModel, ConfigDict

from aitrader.log import get_logger
from aitrader.marketdata.instruments import Instrument
from aitrader.marketdata.schema import IST, SESSION_CLOSE, in_session
from mock_mcp.book import (
    AMO_REQ_RECEIVED,
    CANCEL_PENDING,
    CANCELLED,
    COMPLETE,
    FNO_EXPOSURE_RATE,
    FNO_SPAN_RATE,
    MODIFIED,
    MODIFY_PENDING,
    MODIFY_VALIDATION_PENDING,
    OPEN,
    OPEN_PENDING,
    PUT_ORDER_REQ_RECEIVED,
    REJECTED,
    TRIGGER_PENDING,
    VALIDATION_PENDING,
    WORKING,
    Holding,
    Order,
    Position,
    State,
    Trade,
    added_margin,
    is_fno,
    is_option,
    margin_rate,
)
from mock_mcp.kite import ErrorType, KiteError
from mock_mcp.prices import Quotes, Snapshot
from mock_mcp.storage import write_atomically

log = get_logger(__name__)

EXCHANGES: Final = ["NSE", "NFO", "BSE", "BFO", "CDS", "MCX", "BCD", "MF"]
PRODUCTS: Final = ["CNC", "NRML", "MIS", "MTF"]
ORDER_TYPES: Final = ["MARKET", "LIMIT", "SL", "SL-M"]
VARIETIES: Final = ["regular", "amo"]
VALIDITIES: Final = ["DAY", "IOC", "TTL"]
TAG_LENGTH: Final = 20
_AVAILABLE_KEYS: Final = ("adhoc_margin", "cash", "opening_balance", "live_balance", "collateral", "intraday_payin")
_STAMP: Final = "%Y-%m-%d %H:%M:%S"


class PlaceOrder(BaseModel):
    """An order's terms as ``POST /orders/{variety}`` (form fields) or the ``place_order`` tool give them;
    the variety comes apart (the URL's path names it). Fields the client sends beyond these are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    exchange: str
    tradingsymbol: str
    transaction_type: str
    quantity: int
    product: str
    order_type: str
    price: float | None = None
    trigger_price: float | None = None
    validity: str | None = None
    validity_ttl: int | None = None
    disclosed_quantity: int | None = None
    tag: str | None = None
    market_protection: float | None = None


class ModifyOrder(BaseModel):
    """What ``PUT /orders/{variety}/{order_id}`` may change; None keeps the order's value."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    quantity: int | None = None
    price: float | None = None
    order_type: str | None = None
    trigger_price: float | None = None
    validity: str | None = None
    disclosed_quantity: int | None = None


def _invalid(message: str) -> KiteError:
    return KiteError(ErrorType.INPUT, message)


def _choice(name: str, value: str | None, allowed: list[str]) -> str:
    if value not in allowed:
        raise _invalid(f"Invalid `{name}`: expected one of {', '.join(allowed)}, was {value!r}.")
    return value


def _on_tick(name: str, price: float, tick: float) -> None:
    if not math.isfinite(price) or price < 0:
        raise _invalid(f"Invalid `{name}`: {price!r} is not a price.")
    if abs(price / tick - round(price / tick)) > 1e-6:
        raise _invalid(
            f"Tick size for this script is {tick:g}. Kindly enter {name.replace('_', ' ')} in the multiple "
            "of tick size for this script"
        )


class Account:
    """One Kite account; thread-safe (routes run in a thread pool, the sweep in the event loop)."""

    def __init__(
        self,
        *,
        user_id: str,
        user_name: str,
        email: str,
        opening_cash: float,
        instruments: Mapping[str, Instrument],
        quotes: Quotes,
        clock: Callable[[], datetime],
        path: Path | None,
        enforce_market_hours: bool = False,
    ) -> None:
        self.user_id = user_id
        self.user_name = user_name
        self.email = email
        self._instruments = instruments
        self._quotes = quotes
        self._clock = clock
        self._path = path
        self._enforce_hours = enforce_market_hours
        self._lock = threading.RLock()
        self._state = self._load() or State(trading_day=self._now().date().isoformat(), cash=opening_cash)

    # -- who ---------------------------------------------------------------------------------------------

    def profile(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "user_type": "individual",
            "email": self.email,
            "user_name": self.user_name,
            "user_shortname": self.user_name.split()[0] if self.user_name.split() else self.user_id,
            "broker": "ZERODHA",
            "exchanges": list(EXCHANGES),
            "products": list(PRODUCTS),
            "order_types": list(ORDER_TYPES),
            "avatar_url": None,
            "meta": {"demat_consent": "physical"},
        }

    # -- what it holds -----------------------------------------------------------------------------------

    def margins(self) -> dict[str, dict[str, Any]]:
        """Both segments as Kite reports them: ``net`` (= ``live_balance``) is what is left to trade with."""
        with self._lock:
            self._roll()
            now = self._now()
            state = self._state
            utilised = dict.fromkeys(_UTILISED_KEYS, 0.0)
            for position in state.positions:
                instrument = self._instrument_of(position.exchange, position.tradingsymbol)
                last = self._last(instrument, now)
                if position.product == "CNC":
                    utilised["delivery"] += position.day_buy_value
                    utilised["holding_sales"] += position.day_sell_value
                    continue
                realised, unrealised = position.pnl(last)
                utilised["m2m_realised"] += realised
                utilised["m2m_unrealised"] += unrealised
                margin = abs(position.quantity) * last * margin_rate(instrument, position.product)
                _book_margin(utilised, instrument, margin)
            for order in state.orders.values():
                if order.pending_quantity:
                    instrument = self._instrument_of(order.exchange, order.tradingsymbol)
                    blocked = self._order_margin(order, instrument, self._order_price(order, instrument, now))
                    if order.product == "CNC":
                        utilised["delivery"] += blocked
                    else:
                        _book_margin(utilised, instrument, blocked, premium=is_option(instrument) and order.side > 0)
            live = (
                state.cash
                - utilised["delivery"]
                + utilised["holding_sales"]
                + utilised["m2m_realised"]
                + min(utilised["m2m_unrealised"], 0.0)
                - utilised["span"]
                - utilised["exposure"]
                - utilised["option_premium"]
            )
            utilised["debits"] = state.cash - live
            available = dict.fromkeys(_AVAILABLE_KEYS, 0.0)
            available.update(cash=state.cash, opening_balance=state.cash, live_balance=round(live, 2))
            return {
                "equity": {
                    "enabled": True,
                    "net": round(live, 2),
                    "available": available,
                    "utilised": {key: round(value, 2) for key, value in utilised.items()},
                },
                "commodity": {
                    "enabled": False,
                    "net": 0.0,
                    "available": dict.fromkeys(_AVAILABLE_KEYS, 0.0),
                    "utilised": dict.fromkeys(_UTILISED_KEYS, 0.0),
                },
            }

    def open_orders(self) -> int:
        with self._lock:
            return sum(1 for order in self._state.orders.values() if order.status in WORKING)

    def holdings(self) -> list[dict[str, Any]]:
        with self._lock:
            self._roll()
            now = self._now()
            out = []
            for holding in self._state.holdings:
                instrument = self._instrument_of(holding.exchange, holding.tradingsymbol)
                snap = self._quotes.snapshot(instrument, now)
                out.append(holding.kite(snap.last_price, snap.close, self._sold_today(holding)))
            return out

    def positions(self) -> dict[str, list[dict[str, Any]]]:
        """Kite's ``{"net": [...], "day": [...]}``: ``day`` counts only today's trades."""
        with self._lock:
            self._roll()
            now = self._now()
            net, day = [], []
            for position in self._state.positions:
                last = self._last(self._instrument_of(position.exchange, position.tradingsymbol), now)
                net.append(position.kite(last))
                if position.day_buy_quantity or position.day_sell_quantity:
                    day.append(position.kite(last, day_only=True))
            return {"net": net, "day": day}

    def orders(self) -> list[dict[str, Any]]:
        with self._lock:
            self._roll()
            return [order.kite() for order in self._state.orders.values()]

    def order_history(self, order_id: str) -> list[dict[str, Any]]:
        with self._lock:
            self._roll()
            return list(self._order(order_id).history)

    def order_trades(self, order_id: str) -> list[dict[str, Any]]:
        with self._lock:
            self._roll()
            self._order(order_id)
            return [trade.kite() for trade in self._state.trades if trade.order_id == order_id]

    def trades(self) -> list[dict[str, Any]]:
        with self._lock:
            self._roll()
            return [trade.kite() for trade in self._state.trades]

    # -- orders ------------------------------------------------------------------------------------------

    def place(self, variety: str, request: PlaceOrder) -> str:
        """Validate, run the RMS checks, and accept (and maybe fill) the order; its id, or a KiteError."""
        with self._lock:
            self._roll()
            now = self._now()
            instrument, order = self._new_order(variety, request, now)
            self._state.next_order += 1
            self._state.orders[order.order_id] = order
            self._record(order, now, PUT_ORDER_REQ_RECEIVED)
            self._record(order, now, VALIDATION_PENDING)
            refusal = self._rms(order, instrument, now)
            if refusal is not None:
                self._reject(order, now, refusal)
                self._save()
                raise refusal
            self._record(order, now, OPEN_PENDING)
            self._accept(order, now)
            self._save()
            log.info("order_placed", order_id=order.order_id, status=order.status, symbol=order.tradingsymbol)
            return order.order_id

    def modify(self, variety: str, order_id: str, change: ModifyOrder) -> str:
        with self._lock:
            now, order = self._working(variety, order_id, "modified")
            instrument = self._instrument_of(order.exchange, order.tradingsymbol)
            updated = self._modified(order, instrument, change)
            refusal = self._rms(updated, instrument, now)
            if refusal is not None:
                raise refusal
            self._record(order, now, MODIFY_VALIDATION_PENDING)
            self._record(order, now, MODIFY_PENDING)
            for field in ("quantity", "price", "order_type", "trigger_price", "validity", "disclosed_quantity"):
                setattr(order, field, getattr(updated, field))
            order.modified = True
            self._record(order, now, MODIFIED)
            self._accept(order, now)
            self._save()
            return order.order_id

    def cancel(self, variety: str, order_id: str) -> str:
        with self._lock:
            now, order = self._working(variety, order_id, "cancelled")
            self._record(order, now, CANCEL_PENDING)
            self._cancel(order, now)
            self._save()
            return order.order_id

    def _working(self, variety: str, order_id: str, action: str) -> tuple[datetime, Order]:
        """The time, and the working order ``order_id`` that is to be ``action``; a KiteError if there is none."""
        self._roll()
        order = self._order(order_id)
        _choice("variety", variety, VARIETIES)
        if order.status not in WORKING:
            raise KiteError(ErrorType.ORDER, f"Order cannot be {action}: it is {order.status}.")
        return self._now(), order

    def sweep(self) -> int:
        """Trigger, fill and expire working orders at the current prices; how many orders changed."""
        with self._lock:
            self._roll()
            now = self._now()
            changed = 0
            for order in list(self._state.orders.values()):
                if order.status in WORKING and self._work(order, now):
                    changed += 1
            if changed:
                self._save()
            return changed

    # -- placing -----------------------------------------------------------------------------------------

    def _new_order(self, variety: str, request: PlaceOrder, now: datetime) -> tuple[Instrument, Order]:
        _choice("variety", variety, VARIETIES)
        exchange = _choice("exchange", request.exchange, EXCHANGES)
        instrument = self._instruments.get(f"{exchange}:{request.tradingsymbol}")
        if instrument is None:
            raise _invalid(f"Invalid `tradingsymbol`: no instrument {exchange}:{request.tradingsymbol}.")
        _choice("transaction_type", request.transaction_type, ["BUY", "SELL"])
        order_type = _choice("order_type", request.order_type, ORDER_TYPES)
        product = _choice("product", request.product, PRODUCTS)
        fno = is_fno(instrument)
        if product == "MTF" or (product == "CNC" and fno) or (product == "NRML" and not fno):
            raise _invalid(f"Product `{product}` is not allowed for {exchange}:{request.tradingsymbol}.")
        validity = _choice("validity", request.validity or "DAY", VALIDITIES)
        ttl = request.validity_ttl or 0
        if validity == "TTL" and not 1 <= ttl <= 375:
            raise _invalid("Invalid `validity_ttl`: a TTL order needs 1 to 375 minutes.")
        if request.tag is not None and len(request.tag) > TAG_LENGTH:
            raise _invalid(f"Invalid `tag`: at most {TAG_LENGTH} characters.")
        order = Order(
            order_id=f"{now:%y%m%d}{self._state.next_order:010d}",
            placed_by=self.user_id,
            variety=variety,
            exchange=exchange,
            tradingsymbol=request.tradingsymbol,
            instrument_token=instrument.instrument_token,
            transaction_type=request.transaction_type,
            order_type=order_type,
            product=product,
            validity=validity,
            validity_ttl=ttl if validity == "TTL" else 0,
            quantity=request.quantity,
            disclosed_quantity=request.disclosed_quantity or 0,
            price=request.price or 0.0,
            trigger_price=request.trigger_price or 0.0,
            order_timestamp=now.strftime(_STAMP),
            tag=request.tag,
            market_protection=request.market_protection or 0.0,
            expires_at=(now + timedelta(minutes=ttl)).strftime(_STAMP) if validity == "TTL" else None,
        )
        self._check_terms(order, instrument)
        return instrument, order

    def _check_terms(self, order: Order, instrument: Instrument) -> None:
        """The input rules Kite applies before the RMS: quantities, prices, and what each type needs."""
        lot = max(instrument.lot_size, 1)
        if order.quantity <= 0:
            raise _invalid(f"Invalid `quantity`: must be a positive whole number, was {order.quantity}.")
        if order.quantity % lot:
            raise _invalid(f"Quantity should be a multiple of the lot size {lot} of {order.tradingsymbol}.")
        if not 0 <= order.disclosed_quantity <= order.quantity:
            raise _invalid("Invalid `disclosed_quantity`: must be between 0 and the order quantity.")
        tick = instrument.tick_size or 0.05
        if order.order_type in ("LIMIT", "SL"):
            if order.price <= 0:
                raise _invalid(f"Invalid `price`: a {order.order_type} order needs a positive price.")
            _on_tick("price", order.price, tick)
        elif order.price:
            raise _invalid(f"Invalid `price`: a {order.order_type} order takes no price.")
        if order.order_type in ("SL", "SL-M"):
            if order.trigger_price <= 0:
                raise _invalid(f"Invalid `trigger_price`: a {order.order_type} order needs a trigger price.")
            _on_tick("trigger_price", order.trigger_price, tick)
            if order.order_type == "SL" and order.side * (order.trigger_price - order.price) > 0:
                side = "buy" if order.side > 0 else "sell"
                relation = "lower" if order.side > 0 else "higher"
                raise _invalid(f"Trigger price for stoploss {side} orders should be {relation} than the price.")
        elif order.trigger_price:
            raise _invalid(f"Invalid `trigger_price`: a {order.order_type} order takes no trigger price.")
        if order.validity == "IOC" and order.order_type in ("SL", "SL-M"):
            raise _invalid("IOC validity is not allowed for stoploss orders.")

    def _modified(self, order: Order, instrument: Instrument, change: ModifyOrder) -> Order:
        updated = msgspec.structs.replace(
            order,
            history=[],
            quantity=order.quantity if change.quantity is None else change.quantity,
            price=order.price if change.price is None else change.price,
            order_type=_choice("order_type", change.order_type or order.order_type, ORDER_TYPES),
            trigger_price=order.trigger_price if change.trigger_price is None else change.trigger_price,
            validity=_choice("validity", change.validity or order.validity, VALIDITIES),
            disclosed_quantity=order.disclosed_quantity
            if change.disclosed_quantity is None
            else change.disclosed_quantity,
        )
        if updated.order_type == "MARKET" and change.price is None:
            updated.price = 0.0
        if updated.order_type in ("MARKET", "LIMIT") and change.trigger_price is None:
            updated.trigger_price = 0.0
        if updated.quantity < order.filled_quantity:
            raise _invalid("Invalid `quantity`: less than what has already filled.")
        self._check_terms(updated, instrument)
        return updated

    def _rms(self, order: Order, instrument: Instrument, now: datetime) -> KiteError | None:
        """The risk checks an exchange-bound order passes: circuit limits, shares to sell, funds."""
        snap = self._quotes.snapshot(instrument, now)
        lower, upper = round(snap.close * 0.8, 2), round(snap.close * 1.2, 2)
        for name in ("price", "trigger_price"):
            value = getattr(order, name)
            if value and value < lower:
                return KiteError(
                    ErrorType.ORDER,
                    f"Your order {name.replace('_', ' ')} {value:.2f} is lower than the current lower circuit "
                    f"limit of {lower:.2f}. Place an order within the daily range.",
                )
            if value and value > upper:
                return KiteError(
                    ErrorType.ORDER,
                    f"Your order {name.replace('_', ' ')} {value:.2f} is higher than the current upper circuit "
                    f"limit of {upper:.2f}. Place an order within the daily range.",
                )
        if order.product == "CNC" and order.side < 0:
            free = self._sellable(order)
            if order.quantity - order.filled_quantity > free:
                return KiteError(
                    ErrorType.HOLDING,
                    f"Insufficient holdings: {order.tradingsymbol} has {free} shares free to sell, the order "
                    f"needs {order.quantity - order.filled_quantity}. Check your holdings and open orders.",
                )
        required = self._order_margin(order, instrument, self._order_price(order, instrument, now))
        available = self.margins()["equity"]["net"]
        existing = self._state.orders.get(order.order_id)
        if existing is not None and existing.pending_quantity:
            available += self._order_margin(existing, instrument, self._order_price(existing, instrument, now))
        if required > available + 1e-6:
            return KiteError(
                ErrorType.MARGIN,
                f"Insufficient funds. Required margin is {required:.2f} but available margin is {available:.2f}. "
                "Check the orderbook for open orders.",
            )
        return None

    def _accept(self, order: Order, now: datetime) -> None:
        """The exchange has the order: it works (and may fill at once); an IOC order's rest is cancelled."""
        order.exchange_order_id = order.exchange_order_id or f"13{order.order_id}"
        if order.variety == "amo" and self._enforce_hours and not in_session(now):
            self._record(order, now, AMO_REQ_RECEIVED)
            return
        order.exchange_timestamp = order.exchange_timestamp or now.strftime(_STAMP)
        self._record(order, now, TRIGGER_PENDING if order.order_type in ("SL", "SL-M") else OPEN)
        self._work(order, now)
        if order.validity == "IOC" and order.status in WORKING:
            self._cancel(order, now)

    def _reject(self, order: Order, now: datetime, refusal: KiteError) -> None:
        order.status_message = refusal.message
        order.status_message_raw = f"RMS:{refusal.message}"
        order.cancelled_quantity = 0
        self._record(order, now, REJECTED)

    def _cancel(self, order: Order, now: datetime, message: str | None = None) -> None:
        order.cancelled_quantity = order.quantity - order.filled_quantity
        order.status_message = message
        self._record(order, now, CANCELLED)

    # -- matching ----------------------------------------------------------------------------------------

    def _work(self, order: Order, now: datetime) -> bool:
        """Move one working order on if the market lets it: expire, open, trigger, fill. True if it moved."""
        if order.expires_at is not None and now.strftime(_STAMP) >= order.expires_at:
            self._cancel(order, now, "Order expired: its time to live ran out.")
            return True
        moved = False
        if order.status == AMO_REQ_RECEIVED:
            if not in_session(now):
                return False
            order.exchange_timestamp = now.strftime(_STAMP)
            self._record(order, now, TRIGGER_PENDING if order.order_type in ("SL", "SL-M") else OPEN)
            moved = True
        instrument = self._instrument_of(order.exchange, order.tradingsymbol)
        snap = self._quotes.snapshot(instrument, now)
        if order.status == TRIGGER_PENDING:
            if order.side * (snap.last_price - order.trigger_price) < 0:
                return moved
            self._record(order, now, OPEN)
            moved = True
        price = self._execution_price(order, snap)
        if price is None:
            return moved
        self._fill(order, instrument, price, now)
        return True

    def _execution_price(self, order: Order, snap: Snapshot) -> float | None:
        """The average price the order's quantity gets walking the opposite side of the book, or None when a
        limit is not reached (a limit caps the price: the exchange never fills beyond it)."""
        levels = snap.asks if order.side > 0 else snap.bids
        limit = order.price if order.order_type in ("LIMIT", "SL") else None
        best = levels[0][0] if levels else snap.last_price
        if limit is not None and order.side * (best - limit) > 0:
            return None
        left, cost = order.quantity - order.filled_quantity, 0.0
        for price, quantity, _ in levels:
            take = min(left, quantity)
            cost, left = cost + take * price, left - take
            if not left:
                break
        if left:
            cost += left * (levels[-1][0] if levels else snap.last_price)
        average = cost / (order.quantity - order.filled_quantity)
        if limit is not None:
            average = min(average, limit) if order.side > 0 else max(average, limit)
        return round(average, 4)

    def _fill(self, order: Order, instrument: Instrument, price: float, now: datetime) -> None:
        quantity = order.quantity - order.filled_quantity
        state = self._state
        trade = Trade(
            trade_id=f"{state.next_trade:08d}",
            order_id=order.order_id,
            exchange_order_id=order.exchange_order_id or "",
            exchange=order.exchange,
            tradingsymbol=order.tradingsymbol,
            instrument_token=order.instrument_token,
            product=order.product,
            average_price=price,
            quantity=quantity,
            transaction_type=order.transaction_type,
            fill_timestamp=now.strftime(_STAMP),
        )
        state.next_trade += 1
        state.trades.append(trade)
        self._position(instrument, order.product).add(order.side, quantity, price)
        filled = order.filled_quantity + quantity
        order.average_price = round((order.average_price * order.filled_quantity + price * quantity) / filled, 4)
        order.filled_quantity = filled
        self._record(order, now, COMPLETE)

    # -- the day -----------------------------------------------------------------------------------------

    def _roll(self) -> None:
        """Close the trading day when the IST date has moved on (see the module's docstring)."""
        today = self._now().date()
        state = self._state
        day = date.fromisoformat(state.trading_day)
        if today <= day:
            return
        close = datetime.combine(day, SESSION_CLOSE, IST)
        for order in state.orders.values():
            if order.status in WORKING:
                self._cancel(order, close, "Order cancelled at the end of the day.")
        trading_days = sum(1 for n in range(1, (today - day).days + 1) if (day + timedelta(n)).weekday() < 5)
        if trading_days >= 1:
            self._settle()
        cash = state.cash
        carried: list[Position] = []
        for position in state.positions:
            instrument = self._instrument_of(position.exchange, position.tradingsymbol)
            last = self._last(instrument, close)
            if position.product == "CNC":
                cash += position.day_sell_value - position.day_buy_value
                self._deliver(position)
                continue
            realised, unrealised = position.pnl(last)
            cash += realised + unrealised
            if position.quantity and position.product == "NRML":
                carried.append(
                    Position(
                        exchange=position.exchange,
                        tradingsymbol=position.tradingsymbol,
                        instrument_token=position.instrument_token,
                        product=position.product,
                        multiplier=position.multiplier,
                        overnight_quantity=position.quantity,
                        overnight_price=last,
                        close_price=last,
                    )
                )
        if trading_days >= 2:
            self._settle()
        for holding in state.holdings:
            holding.opening_quantity = holding.quantity + holding.t1_quantity
        state.holdings = [holding for holding in state.holdings if holding.quantity or holding.t1_quantity]
        log.info("day_rolled", day=state.trading_day, today=today.isoformat(), cash=round(cash, 2))
        self._state = msgspec.structs.replace(
            state,
            trading_day=today.isoformat(),
            cash=round(cash, 2),
            orders={},
            trades=[],
            positions=carried,
        )
        self._save()

    def _settle(self) -> None:
        """A trading day passed: T+1 shares are settled holdings now."""
        for holding in self._state.holdings:
            holding.quantity, holding.t1_quantity = holding.quantity + holding.t1_quantity, 0

    def _deliver(self, position: Position) -> None:
        """A day's delivery trades into holdings: net buys arrive as T+1 shares, net sells leave holdings."""
        holding = self._holding(position.exchange, position.tradingsymbol, position.instrument_token)
        net = position.day_quantity
        if net > 0:
            bought = position.day_buy_value - position.day_sell_value
            total = holding.quantity + holding.t1_quantity
            holding.average_price = (holding.average_price * total + bought) / (total + net)
            holding.t1_quantity += net
        elif net < 0:
            sold = -net
            from_t1 = min(sold, holding.t1_quantity)
            holding.t1_quantity -= from_t1
            holding.quantity -= sold - from_t1

    # -- helpers -----------------------------------------------------------------------------------------

    def _now(self) -> datetime:
        return self._clock().astimezone(IST)

    def _order(self, order_id: str) -> Order:
        order = self._state.orders.get(order_id)
        if order is None:
            raise KiteError(ErrorType.ORDER, f"Couldn't find that `order_id` ({order_id}).")
        return order

    def _instrument_of(self, exchange: str, tradingsymbol: str) -> Instrument:
        return self._instruments[f"{exchange}:{tradingsymbol}"]

    def _last(self, instrument: Instrument, now: datetime) -> float:
        return self._quotes.snapshot(instrument, now).last_price

    def _find_position(self, token: int, product: str) -> Position | None:
        for position in self._state.positions:
            if position.instrument_token == token and position.product == product:
                return position
        return None

    def _position(self, instrument: Instrument, product: str) -> Position:
        """The (instrument, product) position, opened flat if there is none yet."""
        position = self._find_position(instrument.instrument_token, product)
        if position is not None:
            return position
        position = Position(
            exchange=instrument.exchange,
            tradingsymbol=instrument.tradingsymbol,
            instrument_token=instrument.instrument_token,
            product=product,
            close_price=self._quotes.snapshot(instrument, self._now()).close,
        )
        self._state.positions.append(position)
        return position

    def _holding(self, exchange: str, tradingsymbol: str, token: int) -> Holding:
        for holding in self._state.holdings:
            if holding.exchange == exchange and holding.tradingsymbol == tradingsymbol:
                return holding
        holding = Holding(exchange=exchange, tradingsymbol=tradingsymbol, instrument_token=token)
        self._state.holdings.append(holding)
        return holding

    def _sold_today(self, holding: Holding) -> int:
        position = self._find_position(holding.instrument_token, "CNC")
        return max(-position.day_quantity, 0) if position is not None else 0

    def _sellable(self, order: Order) -> int:
        """Delivery shares free for ``order`` to sell: holdings and T+1 shares, today's net delivery buys, less
        what other open delivery sell orders already claim."""
        token = order.instrument_token
        free = sum(h.quantity + h.t1_quantity for h in self._state.holdings if h.instrument_token == token)
        position = self._find_position(token, "CNC")
        free += position.day_quantity if position is not None else 0
        for other in self._state.orders.values():
            if other.instrument_token == token and other.product == "CNC" and other.side < 0:
                free -= other.pending_quantity if other.order_id != order.order_id else 0
        return free

    def _position_quantity(self, order: Order) -> int:
        position = self._find_position(order.instrument_token, order.product)
        return position.quantity if position is not None else 0

    def _order_price(self, order: Order, instrument: Instrument, now: datetime) -> float:
        """The price an order's margin is counted at: its limit, else its trigger, else the market."""
        if order.price:
            return order.price
        if order.trigger_price:
            return order.trigger_price
        snap = self._quotes.snapshot(instrument, now)
        levels = snap.asks if order.side > 0 else snap.bids
        return levels[0][0] if levels else snap.last_price

    def _order_margin(self, order: Order, instrument: Instrument, price: float) -> float:
        quantity = order.quantity - order.filled_quantity
        return added_margin(instrument, order.product, self._position_quantity(order), order.side, quantity, price)

    def _record(self, order: Order, now: datetime, status: str) -> None:
        """Set ``status`` and append the order as it now stands to its history."""
        order.status = status
        order.exchange_update_timestamp = now.strftime(_STAMP) if order.exchange_order_id else None
        order.history.append(order.kite())

    def _load(self) -> State | None:
        if self._path is None or not self._path.exists():
            return None
        return msgspec.json.decode(self._path.read_bytes(), type=State)

    def _save(self) -> None:
        if self._path is not None:
            write_atomically(self._path, msgspec.json.encode(self._state))


def _book_margin(utilised: dict[str, float], instrument: Instrument, margin: float, *, premium: bool = False) -> None:
    """Book ``margin`` under Kite's utilised keys: an option buy's premium, F&O's SPAN and exposure parts, or
    equity exposure."""
    if premium:
        utilised["option_premium"] += margin
    elif is_fno(instrument):
        share = FNO_SPAN_RATE / (FNO_SPAN_RATE + FNO_EXPOSURE_RATE)
        utilised["span"] += margin * share
        utilised["exposure"] += margin * (1 - share)
    else:
        utilised["exposure"] += margin


_UTILISED_KEYS: Final = (
    "debits",
    "exposure",
    "m2m_realised",
    "m2m_unrealised",
    "option_premium",
    "payout",
    "span",
    "holding_sales",
    "turnover",
    "liquid_collateral",
    "stock_collateral",
    "delivery",
)
