"""Zerodha through Kite Connect v3 REST: orders go out over HTTP, what happens to them comes back by polling.

- ``submit`` places the order (``POST /orders/{variety}``, tagged with :func:`~execution.brokers.base.order_tag`)
  and answers Accepted, or Rejected with Kite's message when Kite refuses it (a 4xx error envelope). A
  network error, a timeout or a 5xx raises :class:`BrokerUnavailable`: the order may have arrived.
- ``cancel`` asks Kite to cancel and answers nothing on success: the poll reports the order's last fills,
  then Canceled, so a fill that raced the cancel is never reported after the order is final.
- Every ``poll_interval_s`` the poll reads ``GET /orders`` and ``GET /trades`` and pushes, for each order it
  tracks (placed here, or handed to :meth:`KiteBroker.track`), the new trades as Filled, then Canceled or
  Rejected when the order ends; each report once per adapter. The orders are read before the trades, so a
  final status is never reported ahead of a fill it followed.

Kite reports no charges per trade: each Filled carries :func:`execution.charges.fill_charges` for the trade,
its brokerage counted against the ₹20 cap of the whole Kite order (its trades in time order). A remainder
placed as a new Kite order starts from the ``brokerage_paid`` of the order handed over.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Final, TypeVar

import httpx
import msgspec

from aitrader.contracts.messages import OrderSide, OrderStatus, OrderType, Product
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
    Filled,
    Rejected,
    Report,
    ReportSink,
)
from execution.charges import RATES, Segment, fill_charges, segment_of

log = get_logger(__name__)

COMPLETE: Final = "COMPLETE"
CANCELLED: Final = "CANCELLED"
REJECTED: Final = "REJECTED"
FINAL: Final = frozenset({COMPLETE, CANCELLED, REJECTED})
"""Kite's final statuses; every other one (OPEN, TRIGGER PENDING, AMO REQ RECEIVED, ... PENDING) is working."""
DERIVATIVE_VENUES: Final = frozenset({"NFO", "BFO"})
"""Exchanges whose orders are charged as futures."""
_STAMP: Final = "%Y-%m-%d %H:%M:%S"

T = TypeVar("T")


class _KiteOrder(msgspec.Struct):
    """The fields of Kite's order record that the adapter reads."""

    order_id: str
    status: str
    exchange: str
    tradingsymbol: str
    transaction_type: str
    order_type: str
    product: str
    quantity: int
    filled_quantity: int = 0
    price: Decimal = Decimal(0)
    average_price: Decimal = Decimal(0)
    status_message: str | None = None
    tag: str | None = None
    order_timestamp: str | None = None
    exchange_update_timestamp: str | None = None


class _KiteTrade(msgspec.Struct):
    trade_id: str
    order_id: str
    exchange: str
    product: str
    transaction_type: str
    quantity: int
    average_price: Decimal
    fill_timestamp: str | None = None
    exchange_timestamp: str | None = None


class _KitePosition(msgspec.Struct):
    tradingsymbol: str
    quantity: int


class _Positions(msgspec.Struct):
    net: list[_KitePosition]


class _OrderId(msgspec.Struct):
    order_id: str


class _Envelope(msgspec.Struct):
    """Kite's answer: ``{"status": "success", "data": ...}`` or ``{"status": "error", "message", "error_type"}``."""

    status: str = ""
    data: msgspec.Raw = msgspec.Raw(b"null")
    message: str | None = None
    error_type: str | None = None


class _KiteRefusal(Exception):
    """Kite answered a request with its error envelope (and a status below 500): the request did nothing."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.message = message
        self.code = "BROKER_" + error_type.removesuffix("Exception").upper()  # MarginException: BROKER_MARGIN


@dataclass
class _Tracked:
    """An order the poll reports on, and what it has reported of it."""

    order: BrokerOrder
    brokerage_paid: Decimal
    """Brokerage the order paid before this Kite order's first trade."""
    accepted: bool
    fill_ids: set[str] = field(default_factory=set)
    done: bool = False
    failures: int = 0
    """Polls that failed to report on the order."""


class KiteBroker(Broker):
    """Kite Connect v3 at ``root`` (scheme, host and port: Kite's paths start at ``/``), called with
    ``api_key`` and ``access_token``; orders are placed as ``variety`` (``regular`` or ``amo``)."""

    name = "kite"

    def __init__(
        self,
        *,
        root: str,
        api_key: str,
        access_token: str,
        poll_interval_s: float = 0.5,
        timeout_s: float = 5.0,
        variety: str = "regular",
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        if poll_interval_s <= 0 or timeout_s <= 0:
            raise ValueError(f"poll_interval_s and timeout_s must be > 0, were {poll_interval_s} and {timeout_s}")
        self._root = root
        self._poll_interval_s = poll_interval_s
        self._variety = variety
        self._clock = clock
        self._client = httpx.AsyncClient(
            base_url=root,
            headers={"Authorization": f"token {api_key}:{access_token}", "X-Kite-Version": "3"},
            timeout=timeout_s,
        )
        self._poller: asyncio.Task[None] | None = None
        self._tracked: dict[str, _Tracked] = {}
        """Orders the poll reports on, by Kite order id."""
        self._broker_ids: dict[str, str] = {}
        """Kite order id by OMS order id."""
        self._awaiting: dict[str, BrokerOrder] = {}
        """Orders handed to ``track`` without a Kite order id, by tag, until a poll finds them."""
        self._unmapped: set[str] = set()
        self._last_poll_ok_ns: int | None = None
        self._consecutive_errors = 0
        self._poll_errors = 0
        self._report_errors = 0

    # -- the Broker interface ------------------------------------------------------------------------

    async def start(self, sink: ReportSink) -> None:
        await self._stop_polling()
        self._poller = asyncio.create_task(self._poll_forever(sink), name="kite_poll")

    async def submit(self, order: BrokerOrder) -> list[Report]:
        """Place ``order``'s remaining quantity; an order already at Kite (it has a broker_order_id, or this
        adapter placed it) is only tracked, never placed twice."""
        if order.remaining <= 0:
            return []
        known = order.broker_order_id or self._broker_ids.get(order.order_id)
        if known is not None:
            self._track(order, known, brokerage_paid=Decimal(0), accepted=True)
            return [Accepted(order.order_id, known, self._clock())]
        try:
            _segment(order.product.value, order.venue)
        except ValueError as e:
            return [Rejected(order.order_id, str(e), self._clock(), code="UNSUPPORTED_INSTRUMENT")]
        form = {
            "tradingsymbol": order.symbol,
            "exchange": order.venue,
            "transaction_type": order.side.value,
            "order_type": order.order_type.value,
            "quantity": str(order.remaining),
            "product": order.product.value,
            "validity": order.tif.value,
            "tag": order.tag,
        }
        if order.order_type == OrderType.LIMIT and order.limit_price is not None:
            form["price"] = str(order.limit_price)
        try:
            placed = await self._call("POST", f"/orders/{self._variety}", _OrderId, form)
        except _KiteRefusal as e:
            log.info("kite_order_rejected", order_id=order.order_id, code=e.code, reason=e.message)
            return [Rejected(order.order_id, e.message, self._clock(), code=e.code)]
        self._track(order, placed.order_id, brokerage_paid=order.brokerage_paid, accepted=True)
        log.info("kite_order_placed", order_id=order.order_id, broker_order_id=placed.order_id, symbol=order.symbol)
        return [Accepted(order.order_id, placed.order_id, self._clock())]

    async def cancel(self, order: BrokerOrder) -> list[Report]:
        """Ask Kite to cancel; nothing on success or when the order is already cancelled (the poll reports
        Canceled after the order's last fills), CancelRejected when Kite refuses (the order is complete,
        rejected, or unknown). An order without a broker_order_id is looked up by its tag."""
        broker_order_id = (
            order.broker_order_id or self._broker_ids.get(order.order_id) or await self._find_by_tag(order.tag)
        )
        if broker_order_id is None:
            return [CancelRejected(order.order_id, f"Kite holds no order tagged {order.tag}", self._clock())]
        self._track(order, broker_order_id, brokerage_paid=Decimal(0), accepted=True)
        try:
            await self._call("DELETE", f"/orders/{self._variety}/{broker_order_id}", _OrderId)
        except _KiteRefusal as e:
            if await self._status_of(broker_order_id) == CANCELLED:
                return []
            return [CancelRejected(order.order_id, e.message, self._clock())]
        return []

    async def orders(self) -> list[BrokerOrderState]:
        """The day's order book. SL orders show as LIMIT and SL-M as MARKET; orders of a product the contract
        lacks (MTF) are left out."""
        states = []
        for kite_order in await self._read("/orders", list[_KiteOrder]):
            state = self._state_of(kite_order)
            if state is not None:
                states.append(state)
        return states

    async def fills(self, broker_order_id: str, order_id: str) -> list[Filled]:
        """The order's trades as Filled reports, the same ones (ids and charges) the poll pushes."""
        trades = await self._read(f"/orders/{broker_order_id}/trades", list[_KiteTrade])
        tracked = self._tracked.get(broker_order_id)
        return self._fills(trades, order_id, tracked.brokerage_paid if tracked is not None else Decimal(0))

    async def positions(self) -> dict[str, int]:
        """Net quantity per trading symbol, summed over products (MIS and CNC of one symbol are one)."""
        net: dict[str, int] = {}
        for position in (await self._read("/portfolio/positions", _Positions)).net:
            net[position.tradingsymbol] = net.get(position.tradingsymbol, 0) + position.quantity
        return {symbol: quantity for symbol, quantity in net.items() if quantity}

    async def close(self) -> None:
        await self._stop_polling()
        await self._client.aclose()

    def health(self) -> dict[str, object]:
        return {
            "broker": self.name,
            "root": self._root,
            "last_poll_ok_ns": self._last_poll_ok_ns,
            "consecutive_errors": self._consecutive_errors,
            "poll_errors": self._poll_errors,
            "report_errors": self._report_errors,
            "tracked": sum(1 for tracked in self._tracked.values() if not tracked.done) + len(self._awaiting),
        }

    async def resume(self, working: Sequence[BrokerOrder], positions: Mapping[str, int]) -> None:
        """Follow the OMS's working orders again after its restart (Kite's positions are Kite's own)."""
        for order in working:
            self.track(order)

    async def adopt(self, order: BrokerOrder) -> None:
        self.track(order)

    # -- tracking ------------------------------------------------------------------------------------

    def track(self, order: BrokerOrder) -> None:
        """Report on ``order``, already at Kite (adopted, or handed over again after a restart), from the next
        poll on. Without a broker_order_id it is found by its tag, and reported Accepted with Kite's id then.
        Raises ValueError for an order whose charges are unknown (a venue or product Zerodha's schedule lacks)."""
        _segment(order.product.value, order.venue)
        if order.broker_order_id is not None:
            self._track(order, order.broker_order_id, brokerage_paid=Decimal(0), accepted=True)
        elif order.order_id not in self._broker_ids:
            self._awaiting[order.tag] = order

    def _track(self, order: BrokerOrder, broker_order_id: str, *, brokerage_paid: Decimal, accepted: bool) -> None:
        self._awaiting.pop(order.tag, None)
        self._broker_ids[order.order_id] = broker_order_id
        self._tracked.setdefault(broker_order_id, _Tracked(order, brokerage_paid, accepted))

    # -- polling -------------------------------------------------------------------------------------

    async def _stop_polling(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None

    async def _poll_forever(self, sink: ReportSink) -> None:
        while True:
            try:
                await self._poll(sink)
            except Exception as e:  # Kite away or answering garbage: poll again later
                self._poll_errors += 1
                self._consecutive_errors += 1
                if self._consecutive_errors == 1:
                    log.warning("kite_poll_failed", root=self._root, error=repr(e))
            else:
                if self._consecutive_errors:
                    log.info("kite_poll_recovered", root=self._root, failed_polls=self._consecutive_errors)
                self._consecutive_errors = 0
                self._last_poll_ok_ns = self._clock()
            await asyncio.sleep(self._poll_interval_s)

    async def _poll(self, sink: ReportSink) -> None:
        """Push what is new about each tracked order, one sink call per order. An order's reports count as
        pushed once the sink took them; reports that fail go again with the next poll, and do not hold up the
        other orders'."""
        kite_orders = await self._read("/orders", list[_KiteOrder])
        trades_by_order: dict[str, list[_KiteTrade]] = {}
        for trade in await self._read("/trades", list[_KiteTrade]):
            trades_by_order.setdefault(trade.order_id, []).append(trade)
        for kite_order in kite_orders:
            tracked = self._tracked.get(kite_order.order_id)
            if tracked is None and kite_order.tag is not None and kite_order.tag in self._awaiting:
                order = self._awaiting[kite_order.tag]
                self._track(order, kite_order.order_id, brokerage_paid=order.brokerage_paid, accepted=False)
                tracked = self._tracked[kite_order.order_id]
            if tracked is None or tracked.done:
                continue
            try:
                await self._report(sink, tracked, kite_order, trades_by_order.get(kite_order.order_id, []))
            except Exception as e:  # whatever the sink raises for one order, the others' reports still go out
                self._report_errors += 1
                tracked.failures += 1
                if tracked.failures == 1:
                    log.warning("kite_report_failed", order_id=tracked.order.order_id, error=repr(e))

    async def _report(
        self, sink: ReportSink, tracked: _Tracked, kite_order: _KiteOrder, trades: list[_KiteTrade]
    ) -> None:
        order_id = tracked.order.order_id
        ts_ns = self._ts_ns(kite_order.exchange_update_timestamp or kite_order.order_timestamp)
        reports: list[Report] = []
        if not tracked.accepted and kite_order.status != REJECTED:
            reports.append(Accepted(order_id, kite_order.order_id, ts_ns))
        fills = [f for f in self._fills(trades, order_id, tracked.brokerage_paid) if f.fill_id not in tracked.fill_ids]
        reports.extend(fills)
        # Kite may list a final status before the trade that led to it: report the end once every fill is in
        done = kite_order.status in FINAL and sum(t.quantity for t in trades) >= kite_order.filled_quantity
        if done and kite_order.status == CANCELLED:
            reports.append(Canceled(order_id, ts_ns, kite_order.status_message or "cancelled at Kite"))
        elif done and kite_order.status == REJECTED:
            reason = kite_order.status_message or "rejected at Kite"
            reports.append(Rejected(order_id, reason, ts_ns, broker_order_id=kite_order.order_id))
        if reports:
            await sink(reports)
        tracked.accepted = True
        tracked.fill_ids.update(f.fill_id for f in fills)
        tracked.done = done

    def _fills(self, trades: Iterable[_KiteTrade], order_id: str, brokerage_paid: Decimal) -> list[Filled]:
        """Filled reports for one Kite order's trades, oldest first, each trade's brokerage counted against the
        order's cap after what ``brokerage_paid`` and the earlier trades paid."""
        fills = []
        for trade in sorted(trades, key=lambda t: (t.fill_timestamp or "", t.trade_id)):
            charges = fill_charges(
                side=trade.transaction_type,
                qty=trade.quantity,
                price=trade.average_price,
                segment=_segment(trade.product, trade.exchange),
                venue=trade.exchange,
                brokerage_paid=brokerage_paid,
            )
            brokerage_paid += charges.brokerage
            fills.append(
                Filled(
                    order_id=order_id,
                    fill_id=f"kite:{trade.trade_id}",
                    qty=trade.quantity,
                    price=trade.average_price,
                    fees=charges.total,
                    ts_ns=self._ts_ns(trade.fill_timestamp or trade.exchange_timestamp),
                    brokerage=charges.brokerage,
                )
            )
        return fills

    # -- reading Kite --------------------------------------------------------------------------------

    def _state_of(self, kite_order: _KiteOrder) -> BrokerOrderState | None:
        try:
            product = Product(kite_order.product)
            side = OrderSide(kite_order.transaction_type)
        except ValueError:
            if kite_order.order_id not in self._unmapped:
                self._unmapped.add(kite_order.order_id)
                log.warning("kite_order_not_mapped", broker_order_id=kite_order.order_id, product=kite_order.product)
            return None
        priced = kite_order.order_type in ("LIMIT", "SL")
        filled = kite_order.filled_quantity
        return BrokerOrderState(
            broker_order_id=kite_order.order_id,
            tag=kite_order.tag or None,
            symbol=kite_order.tradingsymbol,
            venue=kite_order.exchange,
            side=side,
            qty=kite_order.quantity,
            filled_qty=filled,
            avg_price=kite_order.average_price if filled else None,
            status=_status(kite_order.status, filled),
            order_type=OrderType.LIMIT if priced else OrderType.MARKET,
            limit_price=kite_order.price if priced and kite_order.price else None,
            product=product,
            ts_ns=self._ts_ns(kite_order.order_timestamp),
            reason=kite_order.status_message or "",
        )

    async def _find_by_tag(self, tag: str) -> str | None:
        """The Kite id of the latest order of the day tagged ``tag``."""
        found = None
        for kite_order in await self._read("/orders", list[_KiteOrder]):
            if kite_order.tag == tag:
                found = kite_order.order_id
        return found

    async def _status_of(self, broker_order_id: str) -> str | None:
        """The order's current Kite status (the last of its history); None when Kite does not know it."""
        try:
            history = await self._call("GET", f"/orders/{broker_order_id}", list[_KiteOrder])
        except _KiteRefusal:
            return None
        return history[-1].status if history else None

    async def _read(self, path: str, kind: type[T]) -> T:
        """GET ``path``; a refusal is BrokerUnavailable too, as the caller cannot go on without the answer."""
        try:
            return await self._call("GET", path, kind)
        except _KiteRefusal as e:
            raise BrokerUnavailable(f"Kite refused GET {path}: {e}") from e

    async def _call(self, method: str, path: str, kind: type[T], form: dict[str, str] | None = None) -> T:
        """Kite's ``data`` for the request, as ``kind``; _KiteRefusal for Kite's error envelope below 500, else
        BrokerUnavailable when the request's fate is unknown (no answer, a 5xx, a body that is not Kite's)."""
        try:
            response = await self._client.request(method, path, data=form)
        except httpx.HTTPError as e:
            raise BrokerUnavailable(f"Kite at {self._root} did not answer {method} {path}: {e!r}") from e
        if response.status_code >= 500:
            raise BrokerUnavailable(f"Kite answered {method} {path} with {response.status_code}: {response.text[:200]}")
        try:
            envelope = msgspec.json.decode(response.content, type=_Envelope)
            if envelope.status == "success" and response.is_success:
                return msgspec.json.decode(envelope.data, type=kind)
        except msgspec.DecodeError as e:
            raise BrokerUnavailable(
                f"Kite answered {method} {path} ({response.status_code}) with something else than expected: {e}"
            ) from e
        if envelope.status == "error":
            raise _KiteRefusal(envelope.error_type or "GeneralException", envelope.message or response.reason_phrase)
        raise BrokerUnavailable(f"Kite answered {method} {path} with {response.status_code}: {response.text[:200]}")

    def _ts_ns(self, stamp: str | None) -> int:
        """Kite's IST ``YYYY-MM-DD HH:MM:SS`` as UTC nanoseconds; now when it is missing or malformed."""
        if stamp:
            with contextlib.suppress(ValueError):
                return int(datetime.strptime(stamp, _STAMP).replace(tzinfo=IST).timestamp()) * 1_000_000_000
        return self._clock()


def _status(kite_status: str, filled_qty: int) -> OrderStatus:
    """Kite's status on the OMS's: a working one (OPEN, TRIGGER PENDING, ... PENDING) is ACCEPTED, or
    PARTIALLY_FILLED once something filled."""
    if kite_status == COMPLETE:
        return OrderStatus.FILLED
    if kite_status == CANCELLED:
        return OrderStatus.CANCELED
    if kite_status == REJECTED:
        return OrderStatus.REJECTED
    return OrderStatus.PARTIALLY_FILLED if filled_qty else OrderStatus.ACCEPTED


def _segment(product: str, venue: str) -> Segment:
    """The charge schedule of a trade of ``product`` on ``venue``; ValueError when Zerodha's has none."""
    segment = segment_of(product, "FUT" if venue in DERIVATIVE_VENUES else "EQ")
    if venue not in RATES[segment].exchange:
        raise ValueError(f"no charges for venue {venue!r} in {segment}: {', '.join(RATES[segment].exchange)}")
    return segment
