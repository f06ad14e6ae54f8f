"""A broker that fills orders against the live book book_builder publishes, with Zerodha's charges.

- An order reaches the simulated exchange ``latency_ms`` after it is sent (0: at once).
- A MARKET order walks the opposite side's depth, best level first, taking what each level shows: the walk
  is its slippage. What the book cannot fill keeps working and takes liquidity from later books (an IOC
  order is cancelled instead).
- A LIMIT order takes the levels at or better than its limit, and rests until a later book crosses it.
- Liquidity taken from a book is remembered until the next book of that symbol, so two orders never take
  the same displayed quantity twice.
- Every fill pays :func:`execution.charges.fill_charges` for the order's product (the ₹20 brokerage cap
  is per order, across its fills).

The simulator keeps its working orders in memory; after a restart the OMS hands its working orders over
again (``submit`` of an order with ``filled_qty`` and ``broker_order_id`` set), so none is lost.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from aitrader.contracts.messages import BookUpdate, OrderSide, OrderStatus, OrderType, TimeInForce
from aitrader.contracts.money import to_decimal
from execution.brokers.base import (
    Accepted,
    Broker,
    BrokerOrder,
    BrokerOrderState,
    Canceled,
    CancelRejected,
    Filled,
    Rejected,
    Report,
    ReportSink,
)
from execution.charges import fill_charges, segment_of

RETAIN_FINAL_NS = 30 * 1_000_000_000
"""How long the simulator remembers an order that ended (for reconciliation to read its final state)."""
_FINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED})


@dataclass
class _Working:
    order: BrokerOrder
    broker_order_id: str
    active_at_ns: int
    filled: int
    brokerage_paid: Decimal
    notional: Decimal = Decimal(0)
    status: OrderStatus = OrderStatus.ACCEPTED

    @property
    def remaining(self) -> int:
        return self.order.qty - self.filled


class SimulatedBroker(Broker):
    name = "sim"
    in_process = True

    def __init__(self, *, latency_ms: float = 0.0, clock: Callable[[], int] = time.time_ns) -> None:
        if latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, was {latency_ms}")
        self._latency_ns = int(latency_ms * 1_000_000)
        self._clock = clock
        self._sink: ReportSink | None = None
        self._books: dict[str, BookUpdate] = {}
        self._taken: dict[str, dict[Decimal, int]] = {}
        """Per symbol, the quantity already taken at each price from its current book (reset by the next)."""
        self._working: dict[str, _Working] = {}
        """Working orders by OMS order id, in arrival order (which is time priority)."""
        self._states: dict[str, BrokerOrderState] = {}
        """Every order of the session by broker order id, for reconciliation."""
        self._positions: dict[str, int] = {}
        self._trades: dict[str, list[Filled]] = {}
        self._ended: deque[tuple[int, str]] = deque()
        """(when, broker order id) of orders that ended, oldest first, to forget them after RETAIN_FINAL_NS."""
        self._timers: set[asyncio.TimerHandle] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.fills_made = 0

    # -- the Broker interface ------------------------------------------------------------------------

    async def start(self, sink: ReportSink) -> None:
        self._sink = sink

    async def resume(self, working: Sequence[BrokerOrder], positions: Mapping[str, int]) -> None:
        """Become the OMS's view: its working orders (they match from the next book on) and its positions.
        Whatever the simulator held that the OMS does not know (a write that failed) is forgotten."""
        now = self._clock()
        self._positions = dict(positions)
        self._working.clear()
        self._states.clear()
        self._trades.clear()
        self._ended.clear()
        for order in working:
            if order.remaining > 0 and order.broker_order_id:
                entry = _Working(order, order.broker_order_id, now, order.filled_qty, order.brokerage_paid)
                entry.status = OrderStatus.PARTIALLY_FILLED if order.filled_qty else OrderStatus.ACCEPTED
                self._working[order.order_id] = entry
                self._record(entry, now)

    async def adopt(self, order: BrokerOrder) -> None:
        """An order placed here behind the OMS's back now has an OMS order id: report on it under that id."""
        for key, working in list(self._working.items()):
            if working.broker_order_id == order.broker_order_id:
                del self._working[key]
                working.order = replace(working.order, order_id=order.order_id)
                self._working[order.order_id] = working

    async def submit(self, order: BrokerOrder) -> list[Report]:
        now = self._clock()
        if order.remaining <= 0:
            return []
        if order.order_id in self._working:
            return [Accepted(order.order_id, self._working[order.order_id].broker_order_id, now)]
        # named after the OMS's order id, so ids (and the fill ids made from them) stay unique across restarts
        broker_order_id = order.broker_order_id or f"SIM-{order.order_id}"
        if order.order_type == OrderType.LIMIT and (order.limit_price is None or order.limit_price <= 0):
            return [
                Rejected(order.order_id, "a LIMIT order needs a positive price", now, broker_order_id=broker_order_id)
            ]
        working = _Working(
            order=order,
            broker_order_id=broker_order_id,
            active_at_ns=now + self._latency_ns,
            filled=order.filled_qty,
            brokerage_paid=order.brokerage_paid,
        )
        self._working[order.order_id] = working
        self._record(working, now)
        reports: list[Report] = [Accepted(order.order_id, broker_order_id, now)]
        if self._latency_ns == 0:
            reports.extend(self._match(working, now))
        else:
            self._schedule(self._latency_ns, order.order_id)
        return reports

    async def cancel(self, order: BrokerOrder) -> list[Report]:
        now = self._clock()
        working = self._working.pop(order.order_id, None)
        if working is None:
            return [CancelRejected(order.order_id, "the order is not working at the simulator", now)]
        working.status = OrderStatus.CANCELED
        self._record(working, now)
        return [Canceled(order.order_id, now, "cancelled at the simulator")]

    async def orders(self) -> list[BrokerOrderState]:
        """Working orders, and those that ended in the last ``RETAIN_FINAL_NS`` (older ones are forgotten, so
        reconciliation stays cheap however long the day)."""
        horizon = self._clock() - RETAIN_FINAL_NS
        while self._ended and self._ended[0][0] < horizon:
            _, broker_order_id = self._ended.popleft()
            state = self._states.get(broker_order_id)
            if state is not None and state.status in _FINAL:
                del self._states[broker_order_id]
                self._trades.pop(broker_order_id, None)
        return list(self._states.values())

    async def fills(self, broker_order_id: str, order_id: str) -> list[Filled]:
        return [replace(fill, order_id=order_id) for fill in self._trades.get(broker_order_id, [])]

    async def positions(self) -> dict[str, int]:
        return {symbol: qty for symbol, qty in self._positions.items() if qty}

    async def close(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    def health(self) -> dict[str, object]:
        return {
            "broker": self.name,
            "latency_ms": self._latency_ns / 1_000_000,
            "books": len(self._books),
            "working": len(self._working),
            "fills": self.fills_made,
        }

    # -- market data --------------------------------------------------------------------------------

    def on_book(self, update: BookUpdate) -> list[Report]:
        """A new book of one symbol: remember it and match the working orders it may fill."""
        self._books[update.symbol] = update
        self._taken[update.symbol] = {}
        now = self._clock()
        reports: list[Report] = []
        for working in list(self._working.values()):
            if working.order.symbol == update.symbol and working.active_at_ns <= now:
                reports.extend(self._match(working, now))
        return reports

    def book(self, symbol: str) -> BookUpdate | None:
        return self._books.get(symbol)

    # -- matching ------------------------------------------------------------------------------------

    def _match(self, working: _Working, now: int) -> list[Report]:
        order = working.order
        book = self._books.get(order.symbol)
        reports: list[Report] = []
        if book is not None:
            levels = book.asks if order.side == OrderSide.BUY else book.bids
            taken = self._taken.setdefault(order.symbol, {})
            for level in levels:
                if working.remaining <= 0:
                    break
                price = to_decimal(level.price)
                if not self._marketable(order, price):
                    break
                available = level.qty - taken.get(price, 0)
                if available <= 0:
                    continue
                qty = min(available, working.remaining)
                taken[price] = taken.get(price, 0) + qty
                reports.append(self._fill(working, qty, price, now))
        if working.remaining <= 0:
            working.status = OrderStatus.FILLED
            del self._working[order.order_id]
        elif order.tif == TimeInForce.IOC:
            working.status = OrderStatus.CANCELED
            del self._working[order.order_id]
            reports.append(Canceled(order.order_id, now, f"IOC: {working.remaining} unfilled by the book"))
        elif working.filled:
            working.status = OrderStatus.PARTIALLY_FILLED
        self._record(working, now)
        return reports

    @staticmethod
    def _marketable(order: BrokerOrder, price: Decimal) -> bool:
        if order.order_type == OrderType.MARKET or order.limit_price is None:
            return True
        return price <= order.limit_price if order.side == OrderSide.BUY else price >= order.limit_price

    def _fill(self, working: _Working, qty: int, price: Decimal, now: int) -> Filled:
        order = working.order
        charges = fill_charges(
            side=order.side.value,
            qty=qty,
            price=price,
            segment=segment_of(order.product.value),
            venue=order.venue,
            brokerage_paid=working.brokerage_paid,
        )
        working.filled += qty
        working.notional += price * qty
        working.brokerage_paid += charges.brokerage
        signed = qty if order.side == OrderSide.BUY else -qty
        self._positions[order.symbol] = self._positions.get(order.symbol, 0) + signed
        self.fills_made += 1
        fill = Filled(
            order_id=order.order_id,
            fill_id=f"{working.broker_order_id}-{working.filled}",
            qty=qty,
            price=price,
            fees=charges.total,
            ts_ns=now,
            brokerage=charges.brokerage,
        )
        self._trades.setdefault(working.broker_order_id, []).append(fill)
        return fill

    def _record(self, working: _Working, now: int) -> None:
        order = working.order
        if working.status in _FINAL:
            self._ended.append((now, working.broker_order_id))
        self._states[working.broker_order_id] = BrokerOrderState(
            broker_order_id=working.broker_order_id,
            tag=order.tag,
            symbol=order.symbol,
            venue=order.venue,
            side=order.side,
            qty=order.qty,
            filled_qty=working.filled,
            avg_price=(working.notional / (working.filled - order.filled_qty))
            if working.filled > order.filled_qty
            else None,
            status=working.status,
            order_type=order.order_type,
            limit_price=order.limit_price,
            product=order.product,
            ts_ns=now,
        )

    def _schedule(self, delay_ns: int, order_id: str) -> None:
        loop = asyncio.get_running_loop()
        timer: asyncio.TimerHandle

        def fire() -> None:
            self._timers.discard(timer)
            task = loop.create_task(self._activate(order_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        timer = loop.call_later(delay_ns / 1e9, fire)
        self._timers.add(timer)

    async def _activate(self, order_id: str) -> None:
        working = self._working.get(order_id)
        if working is None or self._sink is None:
            return
        reports = self._match(working, self._clock())
        if reports:
            await self._sink(reports)
