"""KiteBroker against mock_mcp over loopback: orders placed, filled, cancelled and refused as Kite answers
them, reports pushed by the poll once each, and Kite's order book, trades and positions read back."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from kiteconnect import KiteConnect

from aitrader.contracts.messages import OrderSide, OrderStatus, OrderType, Product, TimeInForce
from aitrader.devstack.ports import free_port
from execution.brokers.base import (
    Accepted,
    BrokerOrder,
    BrokerUnavailable,
    Canceled,
    CancelRejected,
    Filled,
    Rejected,
    Report,
    order_tag,
)
from execution.brokers.kite import KiteBroker
from execution.charges import Charges, Segment, fill_charges
from tests.integration.mock_mcp.conftest import API_KEY, MONDAY_11AM, Mock, mock_settings, running

NOW_NS = int(MONDAY_11AM.timestamp()) * 1_000_000_000
"""The mock's clock stands still at Monday 11:00 IST: every Kite timestamp is this instant."""
ASK = Decimal("1500.05")

_ids = iter(range(1, 10**9))


def order(
    qty: int = 10,
    *,
    limit: str | None = None,
    side: OrderSide = OrderSide.BUY,
    product: Product = Product.MIS,
    symbol: str = "INFY",
    **extra: object,
) -> BrokerOrder:
    n = next(_ids)
    return BrokerOrder(
        order_id=f"o-{n}",
        client_order_id=f"c-{n}",
        symbol=symbol,
        venue="NSE",
        side=side,
        qty=qty,
        order_type=OrderType.LIMIT if limit is not None else OrderType.MARKET,
        limit_price=Decimal(limit) if limit is not None else None,
        tif=TimeInForce.DAY,
        product=product,
        **extra,
    )


class Sink:
    """Collects what the broker pushes."""

    def __init__(self) -> None:
        self.reports: list[Report] = []

    async def __call__(self, reports: Sequence[Report]) -> None:
        self.reports.extend(reports)

    def of(self, order_id: str) -> list[Report]:
        return [report for report in self.reports if report.order_id == order_id]


async def until(condition: Callable[[], object], what: str, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def polls(broker: KiteBroker, count: int = 2) -> None:
    """Wait for ``count`` more successful polls."""
    for _ in range(count):
        await _poll_after(broker, broker.health()["last_poll_ok_ns"])


async def _poll_after(broker: KiteBroker, last: object) -> None:
    await until(lambda: broker.health()["last_poll_ok_ns"] != last, "a poll")


def kite_buy(kite: KiteConnect, quantity: int = 10, **extra: object) -> str:
    values: dict[str, object] = {
        "variety": "regular",
        "exchange": "NSE",
        "tradingsymbol": "INFY",
        "transaction_type": "BUY",
        "quantity": quantity,
        "product": "MIS",
        "order_type": "MARKET",
    }
    values.update(extra)
    return str(kite.place_order(**values))


@pytest.fixture
def mock(tmp_path: Path) -> Iterator[Mock]:
    with running(mock_settings(tmp_path)) as mock:
        mock.set_price("INFY", 1500.0)  # best bid 1499.95, best ask 1500.05
        yield mock


@pytest.fixture
def kite(mock: Mock) -> KiteConnect:
    return mock.logged_in()


def kite_broker(mock: Mock, kite: KiteConnect, **options: float) -> KiteBroker:
    return KiteBroker(root=mock.root, api_key=API_KEY, access_token=str(kite.access_token), **options)


@pytest.fixture
async def broker(mock: Mock, kite: KiteConnect) -> AsyncIterator[KiteBroker]:
    broker = kite_broker(mock, kite, poll_interval_s=0.02)
    yield broker
    await broker.close()


@pytest.fixture
async def sink(broker: KiteBroker) -> Sink:
    sink = Sink()
    await broker.start(sink)
    return sink


def intraday_charges(qty: int, price: Decimal, *, brokerage_paid: Decimal = Decimal(0)) -> Charges:
    return fill_charges(
        side="BUY", qty=qty, price=price, segment=Segment.EQUITY_INTRADAY, venue="NSE", brokerage_paid=brokerage_paid
    )


# -- placing and filling ---------------------------------------------------------------------------------


async def test_a_market_order_is_accepted_then_filled_by_the_poll_with_zerodhas_charges(
    broker: KiteBroker, sink: Sink, kite: KiteConnect
):
    placed = order(10)

    (accepted,) = await broker.submit(placed)

    assert isinstance(accepted, Accepted) and accepted.order_id == placed.order_id
    (at_kite,) = kite.orders()
    assert at_kite["order_id"] == accepted.broker_order_id and at_kite["tag"] == placed.tag
    assert (at_kite["quantity"], at_kite["product"], at_kite["validity"]) == (10, "MIS", "DAY")
    await until(lambda: sink.of(placed.order_id), "the fill")
    (fill,) = sink.of(placed.order_id)
    assert isinstance(fill, Filled)
    (trade,) = kite.order_trades(accepted.broker_order_id)
    charges = intraday_charges(10, ASK)
    assert (fill.fill_id, fill.qty, fill.price, fill.ts_ns) == (f"kite:{trade['trade_id']}", 10, ASK, NOW_NS)
    assert fill.fees == charges.total > 0 and fill.brokerage == charges.brokerage == Decimal("4.50")


async def test_each_report_is_pushed_once(broker: KiteBroker, sink: Sink):
    placed = order(10)
    await broker.submit(placed)
    await until(lambda: sink.of(placed.order_id), "the fill")

    await polls(broker, 3)

    assert len(sink.of(placed.order_id)) == 1
    assert broker.health()["tracked"] == 0  # complete, every fill reported: no longer polled for


async def test_a_second_submit_of_the_same_order_does_not_place_it_twice(
    broker: KiteBroker, sink: Sink, kite: KiteConnect
):
    placed = order(10, limit="1490")
    (first,) = await broker.submit(placed)

    (again,) = await broker.submit(placed)

    assert isinstance(first, Accepted) and again == Accepted(placed.order_id, first.broker_order_id, again.ts_ns)
    assert len(kite.orders()) == 1


async def test_fills_reads_the_same_fills_the_poll_pushed(broker: KiteBroker, sink: Sink):
    placed = order(10)
    (accepted,) = await broker.submit(placed)
    assert isinstance(accepted, Accepted)
    await until(lambda: sink.of(placed.order_id), "the fill")

    fills = await broker.fills(accepted.broker_order_id, placed.order_id)

    assert fills == sink.of(placed.order_id)


async def test_a_remainder_placed_again_pays_brokerage_only_up_to_the_orders_cap(broker: KiteBroker, sink: Sink):
    remainder = order(20, filled_qty=10, brokerage_paid=Decimal("18.00"))

    await broker.submit(remainder)

    await until(lambda: sink.of(remainder.order_id), "the fill")
    (fill,) = sink.of(remainder.order_id)
    assert isinstance(fill, Filled) and fill.qty == 10  # only the remaining quantity was placed
    assert fill.brokerage == Decimal("2.00")  # 0.03% of 15,000.50 is 4.50: capped at 20 - 18
    assert fill.fees == intraday_charges(10, ASK, brokerage_paid=Decimal("18.00")).total


async def test_positions_are_kites_net_quantities(broker: KiteBroker, sink: Sink, kite: KiteConnect):
    assert await broker.positions() == {}
    await broker.submit(order(10))
    await broker.submit(order(4, product=Product.CNC))
    kite_buy(kite, 6, tradingsymbol="TCS")
    kite_buy(kite, 6, tradingsymbol="TCS", transaction_type="SELL")

    assert await broker.positions() == {"INFY": 14}  # MIS and CNC summed; the flat TCS position left out


# -- cancelling ------------------------------------------------------------------------------------------


async def test_a_resting_limit_order_is_cancelled_and_the_poll_reports_it(
    broker: KiteBroker, sink: Sink, kite: KiteConnect
):
    resting = order(10, limit="1490")
    (accepted,) = await broker.submit(resting)
    assert isinstance(accepted, Accepted)
    await polls(broker)
    assert sink.of(resting.order_id) == []
    handed = replace(resting, broker_order_id=accepted.broker_order_id)

    assert await broker.cancel(handed) == []

    await until(lambda: sink.of(resting.order_id), "the cancel")
    (canceled,) = sink.of(resting.order_id)
    assert canceled == Canceled(resting.order_id, NOW_NS, "cancelled at Kite")
    assert kite.orders()[0]["status"] == "CANCELLED"
    assert await broker.cancel(handed) == []  # already cancelled: nothing new to say
    await polls(broker)
    assert len(sink.of(resting.order_id)) == 1


async def test_cancelling_a_filled_order_is_refused_with_kites_message(broker: KiteBroker, sink: Sink):
    placed = order(10)
    await broker.submit(placed)

    (refused,) = await broker.cancel(placed)

    assert isinstance(refused, CancelRejected) and refused.order_id == placed.order_id
    assert refused.reason == "Order cannot be cancelled: it is COMPLETE."


async def test_an_order_without_a_broker_id_is_cancelled_by_its_tag(broker: KiteBroker, mock: Mock, kite: KiteConnect):
    resting = order(10, limit="1490")
    await broker.submit(resting)
    fresh = kite_broker(mock, kite, poll_interval_s=0.02)  # knows nothing of the order
    sink = Sink()
    try:
        await fresh.start(sink)

        assert await fresh.cancel(resting) == []

        await until(lambda: sink.of(resting.order_id), "the cancel")
        assert sink.of(resting.order_id) == [Canceled(resting.order_id, NOW_NS, "cancelled at Kite")]
        assert kite.orders()[0]["status"] == "CANCELLED"
    finally:
        await fresh.close()


async def test_cancelling_an_order_kite_never_got_is_refused(broker: KiteBroker, sink: Sink):
    (refused,) = await broker.cancel(order(10))

    assert isinstance(refused, CancelRejected) and "Kite holds no order tagged" in refused.reason


# -- refusals ----------------------------------------------------------------------------------------------


async def test_an_order_beyond_the_funds_is_rejected_with_kites_margin_message(
    broker: KiteBroker, sink: Sink, kite: KiteConnect
):
    too_big = order(2_000, product=Product.CNC)  # three million rupees of delivery against 500,000 of cash

    (rejected,) = await broker.submit(too_big)

    assert isinstance(rejected, Rejected) and rejected.code == "BROKER_MARGIN"
    assert rejected.reason.startswith("Insufficient funds. Required margin is 3000100.00")
    (refused,) = await broker.orders()  # Kite keeps the refused order in its book, with our tag
    assert (refused.status, refused.tag, refused.reason) == (OrderStatus.REJECTED, too_big.tag, rejected.reason)
    await polls(broker)
    assert sink.of(too_big.order_id) == []  # the refusal was answered at once; the poll adds nothing


@pytest.mark.parametrize(
    ("terms", "message"),
    [
        ({"limit": "1500.03"}, "Tick size for this script is 0.05"),
        ({"symbol": "NOPE"}, "Invalid `tradingsymbol`: no instrument NSE:NOPE."),
        ({"limit": "0"}, "Invalid `price`: a LIMIT order needs a positive price."),
    ],
)
async def test_bad_input_is_rejected_as_an_input_error(broker: KiteBroker, terms: dict[str, object], message: str):
    (rejected,) = await broker.submit(order(**terms))

    assert isinstance(rejected, Rejected) and rejected.code == "BROKER_INPUT"
    assert rejected.reason.startswith(message)


async def test_an_order_no_charge_schedule_covers_is_rejected_before_it_is_sent(broker: KiteBroker, kite: KiteConnect):
    (rejected,) = await broker.submit(replace(order(10), venue="MCX", product=Product.NRML))

    assert isinstance(rejected, Rejected) and rejected.code == "UNSUPPORTED_INSTRUMENT"
    assert kite.orders() == []


# -- Kite unreachable ------------------------------------------------------------------------------------


async def test_kite_down_is_broker_unavailable_and_the_poll_counts_the_failures():
    broker = KiteBroker(root=f"http://127.0.0.1:{free_port()}", api_key=API_KEY, access_token="t", poll_interval_s=0.02)
    try:
        with pytest.raises(BrokerUnavailable, match="did not answer POST /orders/regular"):
            await broker.submit(order(10))
        with pytest.raises(BrokerUnavailable):
            await broker.cancel(order(10, broker_order_id="1"))
        for read in (broker.orders(), broker.positions(), broker.fills("1", "o-1")):
            with pytest.raises(BrokerUnavailable):
                await read

        await broker.start(Sink())
        await until(lambda: broker.health()["consecutive_errors"] >= 3, "failed polls")

        health = broker.health()
        assert health["broker"] == "kite" and health["last_poll_ok_ns"] is None
    finally:
        await broker.close()


async def test_a_kite_that_never_answers_times_out_as_broker_unavailable():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # connections are accepted by the kernel and never answered
        root = f"http://127.0.0.1:{silent.getsockname()[1]}"
        broker = KiteBroker(root=root, api_key=API_KEY, access_token="t", timeout_s=0.2)
        try:
            with pytest.raises(BrokerUnavailable, match="Timeout"):
                await broker.submit(order(10))
        finally:
            await broker.close()


async def test_an_expired_session_refuses_orders_and_reads(mock: Mock):
    broker = KiteBroker(root=mock.root, api_key=API_KEY, access_token="expired")
    try:
        (rejected,) = await broker.submit(order(10))
        assert isinstance(rejected, Rejected) and rejected.code == "BROKER_TOKEN"
        with pytest.raises(BrokerUnavailable, match="Kite refused GET /orders: TokenException"):
            await broker.orders()
    finally:
        await broker.close()


# -- reconciliation --------------------------------------------------------------------------------------


async def test_orders_shows_orders_placed_behind_the_adapters_back(broker: KiteBroker, kite: KiteConnect):
    filled_id = kite_buy(kite, 10, tag="manual")
    resting_id = kite_buy(kite, 5, order_type="LIMIT", price=1510.0, transaction_type="SELL")

    states = {state.broker_order_id: state for state in await broker.orders()}

    filled, resting = states[filled_id], states[resting_id]
    assert (filled.status, filled.tag, filled.filled_qty, filled.avg_price) == (OrderStatus.FILLED, "manual", 10, ASK)
    assert (filled.symbol, filled.venue, filled.side, filled.order_type) == (
        "INFY",
        "NSE",
        OrderSide.BUY,
        OrderType.MARKET,
    )
    assert (filled.product, filled.qty, filled.limit_price, filled.ts_ns) == (Product.MIS, 10, None, NOW_NS)
    assert (resting.status, resting.tag, resting.filled_qty, resting.avg_price) == (OrderStatus.ACCEPTED, None, 0, None)
    assert (resting.side, resting.order_type, resting.limit_price) == (OrderSide.SELL, OrderType.LIMIT, Decimal("1510"))


async def test_an_adopted_order_is_reported_by_the_poll(broker: KiteBroker, sink: Sink, mock: Mock, kite: KiteConnect):
    broker_order_id = kite_buy(kite, 10, order_type="LIMIT", price=1490.0)
    adopted = order(10, limit="1490", broker_order_id=broker_order_id)

    broker.track(adopted)
    mock.set_price("INFY", 1489.0)  # the ask, 1489.05, is under the limit now
    mock.sweep()

    await until(lambda: sink.of(adopted.order_id), "the fill")
    (fill,) = sink.of(adopted.order_id)
    assert isinstance(fill, Filled) and (fill.qty, fill.price) == (10, Decimal("1489.05"))


async def test_a_fresh_adapter_finds_an_order_by_its_tag(broker: KiteBroker, mock: Mock, kite: KiteConnect):
    resting = order(10, limit="1490")
    (accepted,) = await broker.submit(resting)
    assert isinstance(accepted, Accepted)
    fresh = kite_broker(mock, kite, poll_interval_s=0.02)
    sink = Sink()
    try:
        await fresh.start(sink)

        (found,) = [state for state in await fresh.orders() if state.tag == order_tag(resting.client_order_id)]
        assert (found.broker_order_id, found.status) == (accepted.broker_order_id, OrderStatus.ACCEPTED)
        fresh.track(resting)  # as the OMS would after a restart that lost the broker's id
        await until(lambda: sink.of(resting.order_id), "the Accepted found by tag")
        assert sink.of(resting.order_id) == [Accepted(resting.order_id, accepted.broker_order_id, NOW_NS)]
        assert await fresh.cancel(resting) == []  # found by its tag as well
        await until(lambda: len(sink.of(resting.order_id)) == 2, "the cancel")
        assert isinstance(sink.of(resting.order_id)[1], Canceled)
    finally:
        await fresh.close()


async def test_an_order_lost_before_kites_answer_is_found_rejected_by_its_tag(
    broker: KiteBroker, mock: Mock, kite: KiteConnect
):
    too_big = order(2_000, product=Product.CNC)
    (answered,) = await broker.submit(too_big)  # the answer the OMS died before it could read
    assert isinstance(answered, Rejected)
    fresh = kite_broker(mock, kite, poll_interval_s=0.02)
    sink = Sink()
    try:
        await fresh.start(sink)

        fresh.track(too_big)

        await until(lambda: sink.of(too_big.order_id), "the rejection found by tag")
        (rejected,) = sink.of(too_big.order_id)  # no Accepted first: Kite never took the order
        assert isinstance(rejected, Rejected) and rejected.reason == answered.reason
        assert rejected.broker_order_id == kite.orders()[0]["order_id"]
    finally:
        await fresh.close()


async def test_a_sink_failing_for_one_order_holds_up_neither_the_others_nor_its_own_later_reports(
    broker: KiteBroker,
):
    failing, other = order(10), order(5)
    sink = Sink()
    refusing = {failing.order_id}

    async def flaky(reports: Sequence[Report]) -> None:
        if any(report.order_id in refusing for report in reports):
            raise RuntimeError("the OMS could not store the reports")
        await sink(reports)

    await broker.start(flaky)
    await broker.submit(failing)
    await broker.submit(other)

    await until(lambda: sink.of(other.order_id), "the other order's fill")
    await until(lambda: broker.health()["report_errors"] >= 2, "a retried report")
    assert sink.of(failing.order_id) == []
    refusing.clear()
    await until(lambda: sink.of(failing.order_id), "the failed fill, pushed again")
    assert len(sink.of(failing.order_id)) == 1 and broker.health()["consecutive_errors"] == 0


async def test_health_names_kite_and_the_last_good_poll(broker: KiteBroker, sink: Sink, mock: Mock):
    await polls(broker)

    health = broker.health()

    assert health["broker"] == "kite" and health["root"] == mock.root
    assert health["consecutive_errors"] == health["poll_errors"] == health["report_errors"] == 0
    assert isinstance(health["last_poll_ok_ns"], int) and health["last_poll_ok_ns"] > 0
