"""The simulated venue on crafted books: depth walks, resting limits, liquidity taken once, latency, charges."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal

import pytest

from aitrader.clock import TestClock
from aitrader.contracts.messages import BookUpdate, Level, OrderSide, OrderStatus, OrderType, Product, TimeInForce
from execution.brokers.base import Accepted, BrokerOrder, Canceled, CancelRejected, Filled, Rejected, Report
from execution.brokers.simulated import SimulatedBroker
from execution.charges import Segment, fill_charges

pytestmark = pytest.mark.asyncio


def crafted(asks: Sequence[tuple[float, int]], bids: Sequence[tuple[float, int]] = (), seq: int = 1) -> BookUpdate:
    return BookUpdate(
        ts_ns=1,
        tick_ts_ns=1,
        symbol="INFY",
        seq=seq,
        bids=tuple(Level(p, q) for p, q in bids),
        asks=tuple(Level(p, q) for p, q in asks),
    )


def order(
    qty: int,
    side: OrderSide = OrderSide.BUY,
    limit: str | None = None,
    order_id: str = "1",
    tif: TimeInForce = TimeInForce.DAY,
    product: Product = Product.MIS,
) -> BrokerOrder:
    return BrokerOrder(
        order_id=order_id, client_order_id=f"c{order_id}", symbol="INFY", venue="NSE", side=side, qty=qty,
        order_type=OrderType.LIMIT if limit else OrderType.MARKET, limit_price=Decimal(limit) if limit else None,
        tif=tif, product=product,
    )  # fmt: skip


def fills(reports: Sequence[Report]) -> list[tuple[int, Decimal]]:
    return [(r.qty, r.price) for r in reports if isinstance(r, Filled)]


async def test_a_market_sell_walks_the_bids_and_pays_stt_on_the_sell() -> None:
    sim = SimulatedBroker()
    sim.on_book(crafted(asks=[(100.1, 10)], bids=[(100.0, 5), (99.95, 5), (99.9, 5)]))

    reports = await sim.submit(order(12, OrderSide.SELL))

    assert isinstance(reports[0], Accepted)
    assert fills(reports) == [(5, Decimal("100.0")), (5, Decimal("99.95")), (2, Decimal("99.9"))]
    first = reports[1]
    assert isinstance(first, Filled)
    expected = fill_charges(side="SELL", qty=5, price=Decimal("100.0"), segment=Segment.EQUITY_INTRADAY)
    assert (first.fees, first.brokerage) == (expected.total, expected.brokerage) and expected.stt > 0


async def test_a_market_order_larger_than_the_book_keeps_working_and_fills_from_the_next_book() -> None:
    sim = SimulatedBroker()
    sim.on_book(crafted(asks=[(100.0, 5)]))
    reports = await sim.submit(order(8))
    assert fills(reports) == [(5, Decimal("100.0"))]

    later = sim.on_book(crafted(asks=[(100.2, 5)], seq=2))

    assert fills(later) == [(3, Decimal("100.2"))]
    assert await sim.positions() == {"INFY": 8}


async def test_a_limit_takes_only_levels_at_or_better_than_its_price_then_rests() -> None:
    sim = SimulatedBroker()
    sim.on_book(crafted(asks=[(100.0, 5), (100.05, 5), (100.1, 5)]))

    reports = await sim.submit(order(20, limit="100.05"))

    assert fills(reports) == [(5, Decimal("100.0")), (5, Decimal("100.05"))]
    assert fills(sim.on_book(crafted(asks=[(100.1, 50)], seq=2))) == []
    assert fills(sim.on_book(crafted(asks=[(100.05, 50)], seq=3))) == [(10, Decimal("100.05"))]


async def test_liquidity_taken_from_a_book_is_gone_for_the_next_order_until_a_new_book() -> None:
    sim = SimulatedBroker()
    sim.on_book(crafted(asks=[(100.0, 5)]))

    first = await sim.submit(order(5, order_id="1"))
    second = await sim.submit(order(5, order_id="2"))

    assert fills(first) == [(5, Decimal("100.0"))] and fills(second) == []
    assert fills(sim.on_book(crafted(asks=[(100.0, 5)], seq=2))) == [(5, Decimal("100.0"))]


async def test_ioc_cancels_what_the_book_cannot_fill_and_a_cancel_of_a_gone_order_is_refused() -> None:
    sim = SimulatedBroker()
    sim.on_book(crafted(asks=[(100.0, 5)]))

    reports = await sim.submit(order(8, tif=TimeInForce.IOC))

    assert fills(reports) == [(5, Decimal("100.0"))] and isinstance(reports[-1], Canceled)
    assert isinstance((await sim.cancel(order(8)))[0], CancelRejected)


async def test_the_brokerage_cap_holds_across_the_fills_of_one_order() -> None:
    sim = SimulatedBroker()
    sim.on_book(crafted(asks=[(5000.0, 100), (5000.05, 100)]))

    reports = await sim.submit(order(200))

    assert sum((r.brokerage for r in reports if isinstance(r, Filled)), Decimal(0)) == Decimal(20)


async def test_latency_delays_the_first_match_and_reports_go_to_the_sink() -> None:
    clock = TestClock(0)
    sim = SimulatedBroker(latency_ms=20, clock=clock.now_ns)
    received: list[Report] = []

    async def sink(reports: Sequence[Report]) -> None:
        received.extend(reports)

    await sim.start(sink)
    sim.on_book(crafted(asks=[(100.0, 5)]))

    reports = await sim.submit(order(5))
    assert [type(r) for r in reports] == [Accepted]
    assert fills(sim.on_book(crafted(asks=[(100.0, 5)], seq=2))) == []  # not at the venue yet
    clock.advance(20_000_000)
    await asyncio.sleep(0.05)

    assert fills(received) == [(5, Decimal("100.0"))]


async def test_a_limit_order_without_a_price_is_rejected_and_a_resumed_order_keeps_its_fills() -> None:
    sim = SimulatedBroker()
    bad = BrokerOrder(
        order_id="9", client_order_id="c9", symbol="INFY", venue="NSE", side=OrderSide.BUY, qty=1,
        order_type=OrderType.LIMIT, limit_price=None, tif=TimeInForce.DAY, product=Product.MIS,
    )  # fmt: skip
    assert isinstance((await sim.submit(bad))[0], Rejected)

    sim2 = SimulatedBroker()
    taken_over = BrokerOrder(
        order_id="1", client_order_id="c1", symbol="INFY", venue="NSE", side=OrderSide.BUY, qty=10,
        order_type=OrderType.MARKET, limit_price=None, tif=TimeInForce.DAY, product=Product.MIS,
        broker_order_id="SIM-7", filled_qty=4,
    )  # fmt: skip
    await sim2.resume([taken_over], {"INFY": 4})
    reports = sim2.on_book(crafted(asks=[(100.0, 50)]))

    assert fills(reports) == [(6, Decimal("100.0"))]
    assert [r.fill_id for r in reports if isinstance(r, Filled)] == ["SIM-7-10"]
    [state] = await sim2.orders()
    assert (state.status, state.filled_qty) == (OrderStatus.FILLED, 10)
    assert await sim2.positions() == {"INFY": 10}
