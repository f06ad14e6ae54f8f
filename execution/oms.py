"""The order management system: the one place orders change state, risk is enforced and brokers are called.

Everything that changes an order — a request from the bus or the API, a broker's report, a cancel, the
kill switch, reconciliation — runs as one *unit of work* under one lock:

1. decide in memory (risk checks, transitions from ``execution.states``, positions);
2. write it all in one transaction (orders, trades, audit_log, the trading state and the outbox);
3. publish the outbox (OrderEvents, Fills, PositionUpdates, TradingStateChanged) exactly once;
4. only then call the broker, whose reports are the next unit of work.

Memory is a cache of the database: when a write fails, memory is rebuilt from the database before the next
unit of work, and until the database answers the OMS trades nothing (it fails closed; ``health`` says why).
Requests are idempotent on client_order_id: a redelivered request finds its order and changes nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as day_time
from decimal import Decimal
from typing import Any, Final

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import exc as sa_exc

from aitrader.clock import Clock, LiveClock
from aitrader.contracts.codec import encode
from aitrader.contracts.messages import (
    BookUpdate,
    Fill,
    OrderEvent,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    PositionUpdate,
    Product,
    TimeInForce,
    TradingState,
    TradingStateChanged,
)
from aitrader.contracts.money import to_decimal
from aitrader.contracts.streams import CONTROL, FILLS, ORDER_EVENTS, POSITIONS
from aitrader.errors import ConflictError, InvalidTransition, NotFoundError, UnavailableError
from aitrader.log import get_logger
from aitrader.marketdata.schema import IST
from execution.brokers.base import (
    Accepted,
    Broker,
    BrokerOrder,
    BrokerOrderState,
    BrokerUnavailable,
    Canceled,
    CancelRejected,
    Expired,
    Filled,
    Rejected,
    Report,
)
from execution.positions import Position, PositionBook
from execution.risk import RATE_WINDOW_NS, Denial, Limit, Limits, Reason, RiskState, check
from execution.states import FINAL, PENDING, WORKING, transition
from execution.store import TRADING_KEY, ClientOrderIdTaken, OutboxPublisher, Snapshot, Store, Writes

log = get_logger(__name__)

NO_ORDER_ID: Final = "0"
"""``order_id`` of an OrderEvent about a request that never became an order (it reused a client_order_id)."""
EXTERNAL_STRATEGY: Final = "external"
"""Strategy of orders found at the broker that the OMS did not send (adopted by reconciliation)."""
SYSTEM: Final = "execution"
PAISA: Final = Decimal("0.01")
PRICE_PLACES: Final = Decimal("0.0001")

REQUESTS = Counter("oms_requests_total", "Order requests by outcome", ["outcome"])
DENIALS = Counter("oms_denials_total", "Pre-trade denials by reason code", ["reason"])
FILLS_APPLIED = Counter("oms_fills_total", "Fills applied to orders")
UNIT_SECONDS = Histogram(
    "oms_unit_of_work_seconds",
    "Time to decide, persist and publish one unit of work",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0),
)
OPEN_ORDERS = Gauge("oms_open_orders", "Orders working at the broker or on their way")
RECONCILE_ISSUES = Gauge("oms_reconciliation_issues", "Differences with the broker that need a person")


@dataclass
class OmsOrder:
    """The OMS's copy of one order row, plus what it needs in memory (fill ids, brokerage paid)."""

    id: int
    client_order_id: str
    strategy: str
    symbol: str
    venue: str
    side: OrderSide
    qty: int
    order_type: OrderType
    limit_price: Decimal | None
    tif: TimeInForce
    product: Product
    ts_ns: int
    tick_ts_ns: int | None = None
    signal_id: str | None = None
    status: OrderStatus = OrderStatus.NEW
    filled_qty: int = 0
    avg_price: Decimal | None = None
    broker_order_id: str | None = None
    reason_code: str | None = None
    reason: str | None = None
    working_status: OrderStatus | None = None
    """The working state a PENDING_* order returns to when its cancel or modification is refused."""
    notional: Decimal = Decimal(0)
    brokerage_paid: Decimal = Decimal(0)
    fill_ids: set[str] = field(default_factory=set)
    sent_ns: int = 0
    created_ns: int = 0
    """When the OMS took the order in (its clock), as opposed to ``ts_ns``, the request's own stamp, which a
    replay may set in the past."""

    @property
    def order_id(self) -> str:
        return str(self.id)

    @property
    def final(self) -> bool:
        return self.status in FINAL

    @property
    def remaining(self) -> int:
        return self.qty - self.filled_qty

    def book_fill(self, fill_id: str, qty: int, price: Decimal, brokerage: Decimal) -> None:
        """Count one execution: quantity, average price, brokerage against the order's cap, its id."""
        self.fill_ids.add(fill_id)
        self.filled_qty += qty
        self.notional += price * qty
        self.avg_price = (self.notional / self.filled_qty).quantize(PRICE_PLACES)
        self.brokerage_paid += brokerage

    def broker_order(self) -> BrokerOrder:
        return BrokerOrder(
            order_id=self.order_id,
            client_order_id=self.client_order_id,
            symbol=self.symbol,
            venue=self.venue,
            side=self.side,
            qty=self.qty,
            order_type=self.order_type,
            limit_price=self.limit_price,
            tif=self.tif,
            product=self.product,
            strategy=self.strategy,
            broker_order_id=self.broker_order_id,
            filled_qty=self.filled_qty,
            brokerage_paid=self.brokerage_paid,
        )

    def same_request(self, request: OrderRequest) -> bool:
        """Whether ``request`` is this order's request again (a redelivery, or a client's retry) rather than a
        reused client_order_id: the same terms, whenever it was stamped."""
        limit = to_decimal(request.limit_price) if request.limit_price is not None else None
        return (
            request.strategy == self.strategy
            and request.symbol == self.symbol
            and request.side == self.side
            and request.qty == self.qty
            and request.type == self.order_type
            and limit == self.limit_price
        )

    def row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "client_order_id": self.client_order_id,
            "strategy": self.strategy,
            "symbol": self.symbol,
            "venue": self.venue,
            "side": self.side,
            "qty": self.qty,
            "order_type": self.order_type,
            "limit_price": self.limit_price,
            "tif": self.tif,
            "product": self.product,
            "signal_id": self.signal_id,
            "ts_ns": self.ts_ns,
            "tick_ts_ns": self.tick_ts_ns,
            **self.changes(),
        }

    def changes(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "filled_qty": self.filled_qty,
            "avg_price": self.avg_price,
            "broker_order_id": self.broker_order_id,
            "reason_code": self.reason_code,
            "reason": self.reason,
        }

    def event(self, ts_ns: int) -> OrderEvent:
        return OrderEvent(
            order_id=self.order_id,
            client_order_id=self.client_order_id,
            ts_ns=ts_ns,
            tick_ts_ns=self.tick_ts_ns,
            strategy=self.strategy,
            symbol=self.symbol,
            venue=self.venue,
            side=self.side,
            qty=self.qty,
            status=self.status,
            reason_code=self.reason_code,
            reason=self.reason,
            filled_qty=self.filled_qty,
            avg_price=float(self.avg_price) if self.avg_price is not None else None,
        )

    def view(self) -> dict[str, Any]:
        """The order as the API shows it."""
        return {
            "order_id": self.order_id,
            "client_order_id": self.client_order_id,
            "strategy": self.strategy,
            "symbol": self.symbol,
            "venue": self.venue,
            "side": self.side.value,
            "qty": self.qty,
            "type": self.order_type.value,
            "limit_price": str(self.limit_price) if self.limit_price is not None else None,
            "tif": self.tif.value,
            "product": self.product.value,
            "status": self.status.value,
            "filled_qty": self.filled_qty,
            "avg_price": str(self.avg_price) if self.avg_price is not None else None,
            "broker_order_id": self.broker_order_id,
            "reason_code": self.reason_code,
            "reason": self.reason,
            "signal_id": self.signal_id,
            "ts_ns": self.ts_ns,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> OmsOrder:
        return cls(
            id=int(row["id"]),
            client_order_id=row["client_order_id"],
            strategy=row["strategy"],
            symbol=row["symbol"],
            venue=row["venue"],
            side=OrderSide(row["side"]),
            qty=int(row["qty"]),
            order_type=OrderType(row["order_type"]),
            limit_price=Decimal(row["limit_price"]) if row["limit_price"] is not None else None,
            tif=TimeInForce(row["tif"]),
            product=Product(row["product"]),
            ts_ns=int(row["ts_ns"]),
            tick_ts_ns=row["tick_ts_ns"],
            signal_id=row["signal_id"],
            status=OrderStatus(row["status"]),
            filled_qty=int(row["filled_qty"]),
            avg_price=Decimal(row["avg_price"]) if row["avg_price"] is not None else None,
            broker_order_id=row["broker_order_id"],
            reason_code=row["reason_code"],
            reason=row["reason"],
            created_ns=int(row["created_at"].timestamp() * 1_000_000) * 1000 if row.get("created_at") else 0,
        )


@dataclass(frozen=True)
class Outcome:
    """What became of one request: its order (absent when it was refused as a reused client_order_id),
    whether it was a redelivery of a request already handled, and the denial if risk refused it."""

    order: OmsOrder | None
    duplicate: bool = False
    denial: Denial | None = None


@dataclass
class Issue:
    """A difference with the broker that reconciliation could not settle by itself."""

    kind: str
    key: str
    detail: str
    first_seen_ns: int

    def view(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "detail": self.detail, "first_seen_ns": self.first_seen_ns}


@dataclass(frozen=True)
class OmsConfig:
    allowed_symbols: frozenset[str] | None = None
    enforce_market_hours: bool = False
    default_limits: dict[str, Decimal] = field(default_factory=dict)
    """Global limits written to ``risk_limits`` on the first start (when the table has none)."""
    resubmit_after_ms: int = 2_000
    """A SUBMITTED order the broker has not heard of after this long is sent again by reconciliation."""


def ist_day_start_ns(now_ns: int) -> int:
    """Start of the IST day holding ``now_ns``: the trading day P&L and positions are counted over."""
    day: date = datetime.fromtimestamp(now_ns / 1e9, IST).date()
    return int(datetime.combine(day, day_time(0), IST).timestamp()) * 1_000_000_000


class OMS:
    def __init__(
        self,
        *,
        store: Store,
        broker: Broker,
        publisher_factory: Callable[[str], OutboxPublisher],
        config: OmsConfig | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._store = store
        self.broker = broker
        self._publisher_factory = publisher_factory
        self._publisher: OutboxPublisher | None = None
        self.config = config or OmsConfig()
        self._clock = clock or LiveClock()
        self._lock = asyncio.Lock()
        self._stale = True
        self.started = False
        self.db_error: str | None = "not started"
        self.bus_error: str | None = None
        self.orders: dict[int, OmsOrder] = {}
        self._by_client_id: dict[str, OmsOrder] = {}
        self._by_broker_id: dict[str, OmsOrder] = {}
        self._by_tag: dict[str, OmsOrder] = {}
        self._open: dict[int, OmsOrder] = {}
        self.positions = PositionBook()
        self.trading_state = TradingState.ACTIVE
        self.kill_switch = False
        self.state_reason = ""
        self.limits = Limits()
        self.limit_rows: list[dict[str, Any]] = []
        self._risk = RiskState()
        self._recent: dict[str, deque[int]] = {}
        self._next_id = 1
        self._day_start_ns = 0
        self.issues: dict[str, Issue] = {}
        self.last_reconcile_ns: int | None = None

    # -- start, health ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Load from the database, publish what a crash left in the outbox, hand working orders to the
        broker and reconcile with it. Raises :class:`UnavailableError` when the database cannot be read."""
        async with self._lock:
            try:
                self._store.acquire_writer_lock()
            except sa_exc.DBAPIError as e:
                self._database_failed(e)
                raise UnavailableError(f"database unavailable, not trading: {self.db_error}") from e
            await self._reload()
            await self.broker.start(self.on_reports)
            await self._reconcile()
            self.started = True

    @property
    def ready(self) -> bool:
        return self.started and not self._stale and self.db_error is None

    def health(self) -> dict[str, Any]:
        reasons = []
        if self.db_error is not None:
            reasons.append(f"database unavailable: {self.db_error} (no trading until it answers)")
        if self.bus_error is not None:
            reasons.append(f"bus unavailable: {self.bus_error} (events wait in the outbox)")
        if self.kill_switch:
            reasons.append(f"kill switch engaged: {self.state_reason}")
        elif self.trading_state != TradingState.ACTIVE:
            reasons.append(f"trading {self.trading_state}: {self.state_reason}")
        if self.issues:
            reasons.append(f"{len(self.issues)} reconciliation issue(s)")
        return {
            "status": "ok" if not reasons else ("unavailable" if self.db_error else "degraded"),
            "reasons": reasons,
            "trading_state": self.trading_state.value,
            "kill_switch": self.kill_switch,
            "open_orders": len(self._open),
            "orders_today": len(self.orders),
            "broker": self.broker.health(),
            "last_reconcile_ns": self.last_reconcile_ns,
        }

    async def check_database(self) -> None:
        """Probe the database (off the event loop); a failure stops trading, a success lets it resume."""
        try:
            await asyncio.to_thread(self._store.ping)
        except Exception as e:
            self._database_failed(e)
            return
        if self._stale:
            async with self._lock:
                if self._stale:
                    await self._reload()

    # -- requests ----------------------------------------------------------------------------------

    async def submit(self, requests: Sequence[OrderRequest], actor: str = SYSTEM) -> list[Outcome]:
        """Risk-check ``requests``, record them, and send the accepted ones to the broker.

        Memory holds the day's client_order_ids; one from an earlier day is caught by the database's unique
        constraint, and then the batch is decided again with those requests looked up (rare, so the common
        path pays no lookup)."""
        async with self._lock:
            await self._ensure_ready()
            try:
                return await self._submit(requests, actor, look_up=False)
            except ClientOrderIdTaken:
                await self._reload()
                return await self._submit(requests, actor, look_up=True)

    async def _submit(self, requests: Sequence[OrderRequest], actor: str, *, look_up: bool) -> list[Outcome]:
        now = self._clock.now_ns()
        self._roll_day(now)
        stored: dict[str, dict[str, Any]] = {}
        if look_up:
            try:
                stored = self._store.find_orders(
                    r.client_order_id for r in requests if r.client_order_id not in self._by_client_id
                )
            except Exception as e:
                self._database_failed(e)
                raise UnavailableError(f"database unavailable, not trading: {self.db_error}") from e
        writes = Writes()
        outcomes: list[Outcome] = []
        halt: Denial | None = None
        for request in requests:
            known = self._by_client_id.get(request.client_order_id)
            if known is None and request.client_order_id in stored:
                known = OmsOrder.from_row(stored[request.client_order_id])
            if known is not None and known.same_request(request):
                outcomes.append(Outcome(known, duplicate=True))
                continue
            if known is not None:
                self._risk.client_order_ids.add(request.client_order_id)
            denial = check(request, self._risk_state(request.strategy), self.limits, now)
            if known is not None:
                outcomes.append(self._refuse_reused_id(request, denial, now, writes, actor))
                continue
            order = self._new_order(request, now, writes, actor)
            if denial is not None:
                self._set_status(order, OrderStatus.REJECTED, now, writes, actor, denial.code.value, denial.message)
                if denial.halt and halt is None:
                    halt = denial
            else:
                self._set_status(order, OrderStatus.SUBMITTED, now, writes, actor)
                order.sent_ns = now
                self._recent.setdefault(order.strategy, deque()).append(now)
            outcomes.append(Outcome(order, denial=denial))
        if halt is not None and self.trading_state != TradingState.HALTED:
            self._change_trading(TradingState.HALTED, self.kill_switch, halt.message, SYSTEM, now, writes)
        to_send = [o.order for o in outcomes if o.order and not o.duplicate and o.order.status == OrderStatus.SUBMITTED]
        if self.broker.in_process:
            # A broker inside this process is rebuilt from the database whenever a write fails, so it may
            # answer before the commit: the whole request is one transaction.
            await self._send(to_send, writes)
        else:
            await self._commit(writes)
            await self._send(to_send)
        for outcome in outcomes:
            if outcome.denial is not None:
                DENIALS.labels(outcome.denial.code.value).inc()
            REQUESTS.labels("duplicate" if outcome.duplicate else "denied" if outcome.denial else "accepted").inc()
        return outcomes

    async def cancel(self, order_id: int, actor: str = SYSTEM, reason: str = "") -> OmsOrder:
        """Ask the broker to cancel a working order; cancels pass every risk state, the kill switch included."""
        async with self._lock:
            await self._ensure_ready()
            order = self.orders.get(order_id) or self._open.get(order_id)
            if order is None:
                raise NotFoundError(f"order {order_id} is not among today's orders")
            await self._cancel(order, actor, reason or "cancel requested")
            return order

    async def cancel_all(self, actor: str, reason: str) -> int:
        async with self._lock:
            await self._ensure_ready()
            return await self._cancel_all(actor, reason)

    async def set_trading_state(self, state: TradingState, reason: str, actor: str) -> None:
        async with self._lock:
            await self._ensure_ready()
            writes = Writes()
            self._change_trading(state, self.kill_switch, reason, actor, self._clock.now_ns(), writes)
            await self._commit(writes)

    async def set_kill_switch(self, engaged: bool, reason: str, actor: str) -> int:
        """Engage: HALTED and every open order cancelled (returns how many). Release: the switch opens but
        trading stays HALTED until someone sets it ACTIVE."""
        async with self._lock:
            await self._ensure_ready()
            writes = Writes()
            state = TradingState.HALTED if engaged else self.trading_state
            self._change_trading(state, engaged, reason, actor, self._clock.now_ns(), writes)
            await self._commit(writes)
            return await self._cancel_all(actor, f"kill switch: {reason}") if engaged else 0

    async def set_limits(self, changes: Sequence[dict[str, Any]], actor: str) -> list[dict[str, Any]]:
        async with self._lock:
            await self._ensure_ready()
            Limits([(c["scope"], c["scope_key"], c["name"], Decimal(c["value"])) for c in changes])  # validates
            try:
                rows = self._store.save_limits(changes, actor)
            except Exception as e:
                self._database_failed(e)
                raise UnavailableError(f"could not save the limits: {e}") from e
            self._install_limits(rows)
            return rows

    # -- reports from the broker ----------------------------------------------------------------------

    async def on_reports(self, reports: Sequence[Report]) -> None:
        """Apply broker reports (the sink handed to ``broker.start``)."""
        if not reports:
            return
        async with self._lock:
            await self._ensure_ready()
            writes = Writes()
            self._apply(reports, writes)
            await self._commit(writes)

    async def on_book(self, update: BookUpdate) -> None:
        """Mark positions to the book's last price (or mid) and let a book-driven broker match on it."""
        price = update.last_price if update.last_price is not None else update.mid
        if price is not None:
            mark = to_decimal(price)
            self.positions.mark(update.symbol, mark)
            self._risk.last_prices[update.symbol] = mark
        matcher = getattr(self.broker, "on_book", None)
        if matcher is not None:
            reports = matcher(update)
            if reports:
                await self.on_reports(reports)

    # -- reconciliation -------------------------------------------------------------------------------

    async def reconcile(self) -> None:
        async with self._lock:
            await self._ensure_ready()
            await self._expire_day_orders()
            await self._reconcile()

    async def _expire_day_orders(self) -> None:
        """DAY orders from an earlier IST day that are still open expire: cancelled at the broker, EXPIRED here."""
        now = self._clock.now_ns()
        today = ist_day_start_ns(now)
        for order in [o for o in self._open.values() if o.tif == TimeInForce.DAY and o.created_ns < today]:
            if order.broker_order_id is not None:
                try:
                    await self.broker.cancel(order.broker_order())
                except BrokerUnavailable as e:
                    log.warning("expiry_cancel_failed", order_id=order.order_id, error=str(e))
                    continue
            if not order.final:
                writes = Writes()
                self._apply([Expired(order.order_id, now, "a DAY order from an earlier trading day")], writes)
                await self._commit(writes)

    async def _reconcile(self) -> None:
        """Compare open orders and positions with the broker: adopt what the broker has that the OMS lacks,
        catch up on fills and final states, send again what never arrived, flag what cannot be settled."""
        now = self._clock.now_ns()
        try:
            at_broker = await self.broker.orders()
        except BrokerUnavailable as e:
            self._flag("broker", "orders", f"cannot list the broker's orders: {e}", now)
            return
        self._clear("broker", "orders")
        by_id = {state.broker_order_id: state for state in at_broker}
        writes = Writes()
        resend: list[OmsOrder] = []
        for order in list(self._open.values()):
            state = by_id.get(order.broker_order_id) if order.broker_order_id else None
            if state is None and order.broker_order_id is None:
                state = next((s for s in at_broker if s.tag and self._by_tag.get(s.tag) is order), None)
                if state is not None:
                    self._adopt_broker_id(order, state.broker_order_id, now, writes)
            if state is not None:
                await self._catch_up(order, state, now, writes)
            elif order.broker_order_id is None and now - order.sent_ns >= self.config.resubmit_after_ms * 1_000_000:
                resend.append(order)
            elif order.broker_order_id is not None:
                self._flag(
                    "order",
                    order.order_id,
                    f"order {order.order_id} ({order.broker_order_id}) is unknown to the broker",
                    now,
                )
        for state in at_broker:
            known = self._by_broker_id.get(state.broker_order_id) or (
                self._by_tag.get(state.tag) if state.tag else None
            )
            if known is None:
                await self._adopt(state, now, writes)
        await self._commit(writes)
        for order in resend:
            log.warning("order_resent", order_id=order.order_id, client_order_id=order.client_order_id)
        await self._send(resend)
        await self._compare_positions(now)
        self.last_reconcile_ns = now
        RECONCILE_ISSUES.set(len(self.issues))

    async def _catch_up(self, order: OmsOrder, state: BrokerOrderState, now: int, writes: Writes) -> None:
        if state.filled_qty > order.filled_qty:
            try:
                fills = await self.broker.fills(state.broker_order_id, order.order_id)
            except BrokerUnavailable as e:
                self._flag("order", order.order_id, f"cannot read the fills of {state.broker_order_id}: {e}", now)
                return
            self._apply(fills, writes)
            if state.filled_qty > order.filled_qty:
                self._flag(
                    "order",
                    order.order_id,
                    f"the broker filled {state.filled_qty} of order {order.order_id}, the OMS knows {order.filled_qty}",
                    now,
                )
                return
        self._clear("order", order.order_id)
        if state.status == OrderStatus.CANCELED:
            self._apply([Canceled(order.order_id, now, state.reason or "cancelled at the broker")], writes)
        elif state.status == OrderStatus.REJECTED:
            self._apply([Rejected(order.order_id, state.reason or "rejected by the broker", now)], writes)
        elif state.status == OrderStatus.EXPIRED:
            self._apply([Expired(order.order_id, now, state.reason or "expired at the broker")], writes)
        elif order.status == OrderStatus.SUBMITTED and state.status in WORKING:
            self._apply([Accepted(order.order_id, state.broker_order_id, now)], writes)

    async def _adopt(self, state: BrokerOrderState, now: int, writes: Writes) -> None:
        """Take an order placed at the broker behind the OMS's back into the book, with its fills."""
        order = OmsOrder(
            id=self._allocate_id(),
            client_order_id=f"ext:{self.broker.name}:{state.broker_order_id}"[:64],
            strategy=EXTERNAL_STRATEGY,
            symbol=state.symbol,
            venue=state.venue,
            side=state.side,
            qty=state.qty,
            order_type=state.order_type,
            limit_price=state.limit_price,
            tif=TimeInForce.DAY,
            product=state.product,
            ts_ns=state.ts_ns,
            broker_order_id=state.broker_order_id,
            created_ns=now,
        )
        self._take_in(
            order,
            now,
            writes,
            "order.adopted",
            f"reconciliation:{self.broker.name}",
            {"broker_order_id": state.broker_order_id, "status": state.status.value, "qty": state.qty},
        )
        log.warning(
            "order_adopted", order_id=order.order_id, broker_order_id=state.broker_order_id, symbol=state.symbol
        )
        self._set_status(order, OrderStatus.SUBMITTED, now, writes, f"reconciliation:{self.broker.name}")
        if state.status == OrderStatus.REJECTED:
            self._apply([Rejected(order.order_id, state.reason or "rejected by the broker", now)], writes)
            return
        self._apply([Accepted(order.order_id, state.broker_order_id, now)], writes)
        await self._catch_up(order, state, now, writes)
        if not order.final:
            await self.broker.adopt(order.broker_order())

    async def _compare_positions(self, now: int) -> None:
        try:
            at_broker = await self.broker.positions()
        except BrokerUnavailable as e:
            self._flag("broker", "positions", f"cannot read the broker's positions: {e}", now)
            return
        self._clear("broker", "positions")
        ours = self.positions.net_qty()
        for symbol in sorted(set(at_broker) | set(ours)):
            theirs, mine = at_broker.get(symbol, 0), ours.get(symbol, 0)
            if theirs != mine:
                self._flag("position", symbol, f"{symbol}: the broker holds {theirs}, the OMS {mine}", now)
            else:
                self._clear("position", symbol)

    def _flag(self, kind: str, key: str, detail: str, now: int) -> None:
        name = f"{kind}:{key}"
        issue = self.issues.get(name)
        if issue is not None and issue.detail == detail:
            return
        self.issues[name] = Issue(kind, key, detail, now)
        log.warning("reconciliation_issue", kind=kind, key=key, detail=detail)

    def _clear(self, kind: str, key: str) -> None:
        if self.issues.pop(f"{kind}:{key}", None) is not None:
            log.info("reconciliation_issue_settled", kind=kind, key=key)

    # -- the state machine ---------------------------------------------------------------------------

    def _apply(self, reports: Iterable[Report], writes: Writes) -> None:
        for report in reports:
            order = self.orders.get(int(report.order_id)) if report.order_id.isdigit() else None
            if order is None:
                log.warning("report_for_unknown_order", report=repr(report))
                continue
            try:
                self._apply_one(order, report, writes)
            except InvalidTransition as e:
                log.warning(
                    "report_ignored",
                    order_id=order.order_id,
                    status=order.status.value,
                    report=repr(report),
                    error=str(e),
                )

    def _apply_one(self, order: OmsOrder, report: Report, writes: Writes) -> None:
        now = report.ts_ns
        if isinstance(report, Filled):
            self._fill(order, report, writes)
        elif isinstance(report, Accepted):
            if order.broker_order_id != report.broker_order_id:
                self._adopt_broker_id(order, report.broker_order_id, now, writes)
            if order.status == OrderStatus.SUBMITTED:
                self._set_status(order, OrderStatus.ACCEPTED, now, writes, f"broker:{self.broker.name}")
        elif isinstance(report, Rejected):
            if not order.final and order.filled_qty == 0:
                self._set_status(
                    order, OrderStatus.REJECTED, now, writes, f"broker:{self.broker.name}", report.code, report.reason
                )
        elif isinstance(report, Canceled):
            if not order.final:
                self._set_status(
                    order, OrderStatus.CANCELED, now, writes, f"broker:{self.broker.name}", None, report.reason or None
                )
        elif isinstance(report, Expired):
            if not order.final:
                self._set_status(
                    order, OrderStatus.EXPIRED, now, writes, f"broker:{self.broker.name}", None, report.reason or None
                )
        elif isinstance(report, CancelRejected) and order.status in PENDING:
            back = order.working_status or OrderStatus.ACCEPTED
            self._set_status(order, back, now, writes, f"broker:{self.broker.name}", "CANCEL_REJECTED", report.reason)

    def _fill(self, order: OmsOrder, fill: Filled, writes: Writes) -> None:
        if fill.fill_id in order.fill_ids:
            return
        if fill.qty > order.remaining:
            log.error(
                "overfill_refused",
                order_id=order.order_id,
                fill_id=fill.fill_id,
                qty=fill.qty,
                remaining=order.remaining,
            )
            self._flag(
                "order",
                order.order_id,
                f"fill {fill.fill_id} of {fill.qty} exceeds the {order.remaining} left",
                fill.ts_ns,
            )
            return
        order.book_fill(fill.fill_id, fill.qty, fill.price, fill.brokerage)
        target = OrderStatus.FILLED if order.remaining == 0 else OrderStatus.PARTIALLY_FILLED
        if order.status in PENDING and target == OrderStatus.PARTIALLY_FILLED:
            order.working_status = OrderStatus.PARTIALLY_FILLED  # the pending request continues
            self._persist_status(order, order.status, fill.ts_ns, writes, f"broker:{self.broker.name}", "order.fill")
        else:
            self._set_status(order, target, fill.ts_ns, writes, f"broker:{self.broker.name}")
        signed = fill.qty if order.side == OrderSide.BUY else -fill.qty
        position = self.positions.apply(order.strategy, order.symbol, order.venue, signed, fill.price, fill.fees)
        self._risk.positions = self.positions.net_qty()
        self._risk.last_prices.setdefault(order.symbol, fill.price)
        writes.trades.append(
            {
                "fill_id": fill.fill_id,
                "order_id": order.id,
                "symbol": order.symbol,
                "venue": order.venue,
                "side": order.side,
                "qty": fill.qty,
                "price": fill.price,
                "fees": fill.fees,
                "brokerage": fill.brokerage,
                "ts_ns": fill.ts_ns,
                "tick_ts_ns": order.tick_ts_ns,
            }
        )
        writes.outbox.append(
            (
                FILLS,
                encode(
                    Fill(
                        fill_id=fill.fill_id,
                        order_id=order.order_id,
                        client_order_id=order.client_order_id,
                        ts_ns=fill.ts_ns,
                        tick_ts_ns=order.tick_ts_ns,
                        strategy=order.strategy,
                        symbol=order.symbol,
                        venue=order.venue,
                        side=order.side,
                        qty=fill.qty,
                        price=float(fill.price),
                        fees=float(fill.fees),
                    )
                ),
            )
        )
        writes.outbox.append((POSITIONS, encode(position_update(position, fill.ts_ns))))
        FILLS_APPLIED.inc()

    def _set_status(
        self,
        order: OmsOrder,
        target: OrderStatus,
        now: int,
        writes: Writes,
        actor: str,
        reason_code: str | None = None,
        reason: str | None = None,
    ) -> None:
        previous = order.status
        working = order.working_status if previous in PENDING else None
        transition(previous, target, working=working)
        if target in PENDING and previous in WORKING:
            order.working_status = previous
        if reason_code is not None or reason is not None:
            order.reason_code, order.reason = reason_code, reason
        order.status = target
        self._persist_status(order, previous, now, writes, actor, f"order.{target.value.lower()}")

    def _persist_status(
        self, order: OmsOrder, previous: OrderStatus, now: int, writes: Writes, actor: str, action: str
    ) -> None:
        if order.final:
            self._open.pop(order.id, None)
        else:
            self._open[order.id] = order
        self._refresh_working(order.symbol)
        _stage(order, writes)
        writes.audit(
            action,
            "order",
            order.order_id,
            actor,
            before={"status": previous.value},
            after={
                "status": order.status.value,
                "filled_qty": order.filled_qty,
                "avg_price": str(order.avg_price) if order.avg_price is not None else None,
                "reason_code": order.reason_code,
            },
        )
        writes.outbox.append((ORDER_EVENTS, encode(order.event(now))))

    def _new_order(self, request: OrderRequest, now: int, writes: Writes, actor: str) -> OmsOrder:
        order = OmsOrder(
            id=self._allocate_id(),
            client_order_id=request.client_order_id,
            strategy=request.strategy,
            symbol=request.symbol,
            venue=request.venue,
            side=request.side,
            qty=request.qty,
            order_type=request.type,
            limit_price=to_decimal(request.limit_price) if request.limit_price is not None else None,
            tif=request.tif,
            product=request.product,
            ts_ns=request.ts_ns,
            tick_ts_ns=request.tick_ts_ns,
            signal_id=request.signal_id,
            created_ns=now,
        )
        self._take_in(order, now, writes, "order.new", actor or request.strategy, {"status": "NEW"})
        return order

    def _take_in(
        self, order: OmsOrder, now: int, writes: Writes, action: str, actor: str, after: dict[str, Any]
    ) -> None:
        """Index a new order in memory and stage its row, its audit entry and its first OrderEvent."""
        self._index(order)
        writes.new_orders[order.id] = order.row()
        writes.audit(action, "order", order.order_id, actor, after=after)
        writes.outbox.append((ORDER_EVENTS, encode(order.event(now))))

    def _refuse_reused_id(
        self, request: OrderRequest, denial: Denial | None, now: int, writes: Writes, actor: str
    ) -> Outcome:
        denial = denial or Denial(
            Reason.DUPLICATE_CLIENT_ORDER_ID, f"client_order_id {request.client_order_id!r} was used before"
        )
        event = OrderEvent(
            order_id=NO_ORDER_ID,
            client_order_id=request.client_order_id,
            ts_ns=now,
            tick_ts_ns=request.tick_ts_ns,
            strategy=request.strategy,
            symbol=request.symbol,
            venue=request.venue,
            side=request.side,
            qty=request.qty,
            status=OrderStatus.REJECTED,
            reason_code=denial.code.value,
            reason=denial.message,
        )
        writes.audit(
            "order.refused",
            "order_request",
            request.client_order_id,
            actor,
            after={"reason_code": denial.code.value, "reason": denial.message},
        )
        writes.outbox.append((ORDER_EVENTS, encode(event)))
        return Outcome(None, denial=denial)

    def _adopt_broker_id(self, order: OmsOrder, broker_order_id: str, now: int, writes: Writes) -> None:
        order.broker_order_id = broker_order_id
        self._by_broker_id[broker_order_id] = order
        _stage(order, writes)

    async def _send(self, orders: Sequence[OmsOrder], writes: Writes | None = None) -> None:
        """Hand ``orders`` to the broker and apply what it answers, all in one unit of work (``writes``, when the
        orders' SUBMITTED rows are written with it; else they are persisted already)."""
        writes = writes if writes is not None else Writes()
        for order in orders:
            try:
                reports = await self.broker.submit(order.broker_order())
            except BrokerUnavailable as e:
                # The order may or may not have arrived: reconciliation looks for it by its tag.
                log.warning("broker_unavailable_on_submit", order_id=order.order_id, error=str(e))
                detail = f"sent while the broker was unreachable ({e}): fate unknown"
                self._flag("order", order.order_id, detail, self._clock.now_ns())
                continue
            self._apply(reports, writes)
        await self._commit(writes)

    async def _cancel(self, order: OmsOrder, actor: str, reason: str) -> None:
        if order.final:
            raise ConflictError(f"order {order.order_id} is {order.status}: nothing to cancel")
        now = self._clock.now_ns()
        writes = Writes()
        if order.status == OrderStatus.NEW:
            self._set_status(order, OrderStatus.CANCELED, now, writes, actor, "CANCELED", reason)
            await self._commit(writes)
            return
        if order.status != OrderStatus.PENDING_CANCEL:
            self._set_status(order, OrderStatus.PENDING_CANCEL, now, writes, actor, None, reason)
            await self._commit(writes)
        try:
            reports = await self.broker.cancel(order.broker_order())
        except BrokerUnavailable as e:
            log.warning("broker_unavailable_on_cancel", order_id=order.order_id, error=str(e))
            return  # stays PENDING_CANCEL; reconciliation settles it
        if reports:
            writes = Writes()
            self._apply(reports, writes)
            await self._commit(writes)

    async def _cancel_all(self, actor: str, reason: str) -> int:
        count = 0
        for order in list(self._open.values()):
            if not order.final and order.status != OrderStatus.PENDING_CANCEL:
                await self._cancel(order, actor, reason)
                count += 1
        return count

    def _change_trading(
        self, state: TradingState, kill_switch: bool, reason: str, actor: str, now: int, writes: Writes
    ) -> None:
        previous = self.trading_state
        if state == previous and kill_switch == self.kill_switch:
            return
        if state != TradingState.HALTED and kill_switch:
            raise ConflictError("the kill switch is engaged: release it before trading resumes")
        self.trading_state, self.kill_switch, self.state_reason = state, kill_switch, reason
        self._risk.trading_state, self._risk.kill_switch = state, kill_switch
        document = {"state": state.value, "kill_switch": kill_switch, "reason": reason, "actor": actor, "ts_ns": now}
        writes.state[TRADING_KEY] = document
        writes.audit(
            "trading_state.set",
            "trading_state",
            "oms",
            actor,
            before={"state": previous.value},
            after={"state": state.value, "kill_switch": kill_switch, "reason": reason},
        )
        change = TradingStateChanged(
            ts_ns=now, state=state, previous=previous, kill_switch_engaged=kill_switch, reason=reason, actor=actor
        )
        writes.outbox.append((CONTROL, encode(change)))
        log.warning(
            "trading_state_changed",
            state=state.value,
            previous=previous.value,
            kill_switch=kill_switch,
            reason=reason,
            actor=actor,
        )

    # -- persistence ---------------------------------------------------------------------------------

    async def _commit(self, writes: Writes) -> None:
        """Write ``writes`` in one transaction, then publish its outbox. A failed write stops trading until
        memory has been rebuilt from the database; a failed publish leaves the rows for the next attempt."""
        if not writes:
            return
        started = time.perf_counter()
        try:
            rows = self._store.write(writes)
        except ClientOrderIdTaken:
            self._stale = True  # memory holds what was not written: rebuild it before anything else
            raise
        except Exception as e:
            self._database_failed(e)
            raise UnavailableError(f"could not persist: {self.db_error}") from e
        await self._publish(rows)
        OPEN_ORDERS.set(len(self._open))
        UNIT_SECONDS.observe(time.perf_counter() - started)

    async def _publish(self, rows: Sequence[tuple[int, str, bytes]]) -> None:
        if not rows:
            return
        assert self._publisher is not None
        try:
            if self.bus_error is not None:  # earlier rows are waiting: send them first, in order
                rows = self._store.pending_outbox()
            top = await self._publisher.publish(rows)
        except Exception as e:  # Redis away: the rows stay in the outbox
            if self.bus_error is None:
                log.warning("outbox_publish_failed", error=f"{type(e).__name__}: {e}")
            self.bus_error = f"{type(e).__name__}: {e}"
            return
        self.bus_error = None
        self._store.mark_published(top)

    async def flush_outbox(self) -> None:
        """Delete the outbox rows already on the bus, and publish any left behind (by a crash, or while the bus
        was away)."""
        async with self._lock:
            if self._stale:
                return
            try:
                self._store.flush_published()
                rows = self._store.pending_outbox()
            except Exception as e:
                self._database_failed(e)
                return
            if rows:
                self.bus_error = None
                await self._publish(rows)
                try:
                    self._store.flush_published()
                except Exception as e:
                    self._database_failed(e)

    def _database_failed(self, error: Exception) -> None:
        if self.db_error is None:
            log.error("database_unavailable", error=f"{type(error).__name__}: {error}")
        self.db_error = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        self._stale = True

    async def _ensure_ready(self) -> None:
        if self._stale:
            await self._reload()
        if self.db_error is not None:
            raise UnavailableError(f"database unavailable, not trading: {self.db_error}")

    async def _reload(self) -> None:
        """Rebuild memory from the database and publish what the outbox holds."""
        now = self._clock.now_ns()
        try:
            snapshot = await asyncio.to_thread(self._store.load, ist_day_start_ns(now))
            pending = self._store.pending_outbox()
        except Exception as e:
            self._database_failed(e)
            raise UnavailableError(f"database unavailable, not trading: {self.db_error}") from e
        self._rebuild(snapshot, now)
        working = [order.broker_order() for order in self._open.values() if order.broker_order_id]
        await self.broker.resume(working, self.positions.net_qty())
        if self._publisher is None:
            self._publisher = self._publisher_factory(snapshot.epoch)
        self._stale = False
        self.db_error = None
        if pending:
            log.info("outbox_resumed", rows=len(pending))
            await self._publish(pending)
        if not snapshot.limits and self.config.default_limits:
            rows = self._store.save_limits(
                [
                    {"scope": "global", "scope_key": "", "name": name, "value": value, "enabled": True}
                    for name, value in self.config.default_limits.items()
                ],
                f"{SYSTEM}:defaults",
            )
            self._install_limits(rows)

    def _rebuild(self, snapshot: Snapshot, now: int) -> None:
        self.orders.clear()
        self._by_client_id.clear()
        self._by_broker_id.clear()
        self._by_tag.clear()
        self._open.clear()
        self.positions = PositionBook()
        self._recent.clear()
        self._day_start_ns = ist_day_start_ns(now)
        for row in snapshot.orders:
            order = OmsOrder.from_row(row)
            order.filled_qty, order.avg_price = 0, None  # rebuilt from the trades below
            order.sent_ns = now
            self._index(order)
            if not order.final:
                self._open[order.id] = order
            if order.created_ns >= self._day_start_ns and order.status != OrderStatus.REJECTED:
                self._recent.setdefault(order.strategy, deque()).append(order.created_ns)
        for trade in snapshot.trades:
            order = self.orders[int(trade["order_id"])]
            price, qty, fees = Decimal(trade["price"]), int(trade["qty"]), Decimal(trade["fees"])
            order.book_fill(trade["fill_id"], qty, price, Decimal(trade["brokerage"]))
            if int(trade["ts_ns"]) >= self._day_start_ns or order.created_ns >= self._day_start_ns:
                signed = qty if order.side == OrderSide.BUY else -qty
                self.positions.apply(order.strategy, order.symbol, order.venue, signed, price, fees)
        self._next_id = snapshot.next_order_id
        trading = snapshot.trading or {}
        self.trading_state = TradingState(trading.get("state", TradingState.ACTIVE.value))
        self.kill_switch = bool(trading.get("kill_switch", False))
        self.state_reason = str(trading.get("reason", ""))
        self._risk = RiskState(
            trading_state=self.trading_state,
            kill_switch=self.kill_switch,
            positions=self.positions.net_qty(),
            last_prices=self.positions.last_prices() | self._risk.last_prices,
            client_order_ids=set(self._by_client_id),
        )
        for symbol in {order.symbol for order in self._open.values()}:
            self._refresh_working(symbol)
        self._install_limits(snapshot.limits)
        OPEN_ORDERS.set(len(self._open))
        log.info(
            "oms_loaded",
            orders=len(self.orders),
            open_orders=len(self._open),
            trades=len(snapshot.trades),
            trading_state=self.trading_state.value,
            kill_switch=self.kill_switch,
        )

    def _install_limits(self, rows: Sequence[dict[str, Any]]) -> None:
        self.limit_rows = [dict(row) for row in rows]
        enabled = [(str(r["scope"]), r["scope_key"], r["name"], Decimal(r["value"])) for r in rows if r["enabled"]]
        self.limits = Limits(
            enabled,
            allowed_symbols=self.config.allowed_symbols,
            enforce_market_hours=self.config.enforce_market_hours,
        )

    # -- memory ----------------------------------------------------------------------------------------

    def _allocate_id(self) -> int:
        ident = self._next_id
        self._next_id += 1
        return ident

    def _index(self, order: OmsOrder) -> None:
        self.orders[order.id] = order
        self._by_client_id[order.client_order_id] = order
        self._risk.client_order_ids.add(order.client_order_id)
        self._by_tag[order.broker_order().tag] = order
        if order.broker_order_id:
            self._by_broker_id[order.broker_order_id] = order

    def _refresh_working(self, symbol: str) -> None:
        buys = sells = 0
        for order in self._open.values():
            if order.symbol == symbol:
                if order.side == OrderSide.BUY:
                    buys += order.remaining
                else:
                    sells += order.remaining
        self._risk.working[symbol] = (buys, sells)
        self._risk.open_orders = len(self._open)

    def _risk_state(self, strategy: str | None = None) -> RiskState:
        """The risk state for a request of ``strategy`` (every strategy's order count when None)."""
        now = self._clock.now_ns()
        for name in [strategy] if strategy is not None else list(self._recent):
            times = self._recent.get(name)
            while times and now - times[0] >= RATE_WINDOW_NS:
                times.popleft()
            self._risk.orders_last_minute[name] = len(times) if times else 0
        self._risk.pnl_today = self.positions.pnl()
        return self._risk

    def _roll_day(self, now: int) -> None:
        """On the first request of a new IST day, positions carry over and the day's P&L starts at zero."""
        start = ist_day_start_ns(now)
        if start <= self._day_start_ns:
            return
        carried = PositionBook()
        for position in self.positions:
            if position.qty:
                carried.apply(
                    position.strategy, position.symbol, position.venue, position.qty, position.avg_price, Decimal(0)
                )
                if position.last_price is not None:
                    carried.mark(position.symbol, position.last_price)
                carried_position = carried.get(position.strategy, position.symbol)
                assert carried_position is not None
                carried_position.fees = Decimal(0)
        self.positions = carried
        self._day_start_ns = start
        log.info("oms_new_day", day_start_ns=start)

    # -- queries ---------------------------------------------------------------------------------------

    def has_working(self, symbol: str) -> bool:
        buys, sells = self._risk.working.get(symbol, (0, 0))
        return bool(buys or sells)

    def find(self, order_id: int) -> OmsOrder:
        order = self.orders.get(order_id)
        if order is None:
            raise NotFoundError(f"order {order_id} is not among today's orders")
        return order

    def risk_view(self) -> dict[str, Any]:
        state = self._risk_state()
        return {
            "trading_state": self.trading_state.value,
            "kill_switch": self.kill_switch,
            "reason": self.state_reason,
            "pnl_today": rupees(state.pnl_today),
            "open_orders": state.open_orders,
            "positions": state.positions,
            "issues": [issue.view() for issue in self.issues.values()],
            "daily_loss_limit": _text(self.limits.get(Limit.DAILY_LOSS_LIMIT, strategy="", symbol="")),
            "database": self.db_error or "ok",
            "bus": self.bus_error or "ok",
        }


def _stage(order: OmsOrder, writes: Writes) -> None:
    """Put ``order``'s current row into ``writes``: its insert if it is new in this unit of work, else an update."""
    if order.id in writes.new_orders:
        writes.new_orders[order.id] = order.row()
    else:
        writes.order_updates[order.id] = order.changes()


def position_update(position: Position, ts_ns: int) -> PositionUpdate:
    return PositionUpdate(
        ts_ns=ts_ns,
        strategy=position.strategy,
        symbol=position.symbol,
        venue=position.venue,
        qty=position.qty,
        avg_price=float(position.avg_price),
        last_price=float(position.last_price) if position.last_price is not None else None,
        realised_pnl=float(position.realised),
        unrealised_pnl=float(position.unrealised),
        fees=float(position.fees),
    )


def position_view(position: Position) -> dict[str, Any]:
    return {
        "strategy": position.strategy,
        "symbol": position.symbol,
        "venue": position.venue,
        "qty": position.qty,
        "avg_price": str(position.avg_price.quantize(PRICE_PLACES)),
        "last_price": _text(position.last_price),
        "realised_pnl": rupees(position.realised),
        "unrealised_pnl": rupees(position.unrealised),
        "fees": rupees(position.fees),
        "net_pnl": rupees(position.net),
        "bought": position.bought,
        "sold": position.sold,
    }


def rupees(value: Decimal) -> str:
    """Money as the API shows it: to the paisa."""
    return str(value.quantize(PAISA))


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
