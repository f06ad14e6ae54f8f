"""The OMS trading through KiteBroker against mock_mcp: fills by polling, and reconciliation of an order
placed behind its back and of one whose broker id it lost."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from kiteconnect import KiteConnect

from aitrader.clock import LiveClock
from aitrader.contracts.messages import OrderStatus
from aitrader.contracts.streams import FILLS
from aitrader.db.session import make_engine
from execution.brokers.kite import KiteBroker
from execution.oms import EXTERNAL_STRATEGY, OMS
from execution.store import OutboxPublisher, Store
from tests.integration.execution.conftest import book, request
from tests.integration.execution.test_kite_broker import kite_buy, until
from tests.integration.mock_mcp.conftest import API_KEY, Mock, mock_settings, running

pytestmark = pytest.mark.asyncio


@pytest.fixture
def mock(tmp_path: Path) -> Iterator[Mock]:
    with running(mock_settings(tmp_path)) as mock:
        mock.set_price("INFY", 1500.0)
        yield mock


@pytest.fixture
def kite(mock: Mock) -> KiteConnect:
    return mock.logged_in()


@pytest.fixture
async def oms(
    mock: Mock, kite: KiteConnect, database_url: str, redis_url: str, stream_prefix: str
) -> AsyncIterator[OMS]:
    engine = make_engine(database_url)
    client = aioredis.Redis.from_url(redis_url)
    broker = KiteBroker(root=mock.root, api_key=API_KEY, access_token=str(kite.access_token), poll_interval_s=0.05)
    store = Store(engine)
    oms = OMS(
        store=store,
        broker=broker,
        publisher_factory=lambda epoch: OutboxPublisher(client, prefix=stream_prefix, epoch=epoch, maxlen=10_000),
        clock=LiveClock(),
    )
    await oms.start()
    try:
        yield oms
    finally:
        await broker.close()
        store.release_writer_lock()
        await client.aclose()
        engine.dispose()


async def test_an_order_through_kite_fills_by_polling_and_lands_in_positions(
    oms: OMS, redis_url: str, stream_prefix: str
) -> None:
    await oms.on_book(book("INFY", 1499.95, 1500.05))  # the last price a MARKET order is valued at

    [outcome] = await oms.submit([request(qty=10)])

    order = outcome.order
    assert order is not None and order.broker_order_id is not None
    await until(lambda: order.status == OrderStatus.FILLED, "the fill by polling")
    assert order.avg_price is not None and order.avg_price > 0
    assert oms.positions.net_qty() == {"INFY": 10}
    await oms.reconcile()
    assert oms.issues == {}
    client = aioredis.Redis.from_url(redis_url)
    try:
        assert await client.xlen(f"{stream_prefix}{FILLS}") == 1
    finally:
        await client.aclose()


async def test_reconciliation_adopts_an_order_placed_behind_the_oms_back_with_its_fill(
    oms: OMS, kite: KiteConnect
) -> None:
    broker_order_id = kite_buy(kite, quantity=7)

    await oms.reconcile()

    [adopted] = [o for o in oms.orders.values() if o.strategy == EXTERNAL_STRATEGY]
    assert adopted.broker_order_id == broker_order_id
    assert adopted.client_order_id == f"ext:kite:{broker_order_id}"
    assert (adopted.status, adopted.filled_qty) == (OrderStatus.FILLED, 7)
    assert oms.positions.net_qty() == {"INFY": 7}
    assert oms.issues == {}


async def test_a_resting_order_placed_behind_the_back_is_adopted_then_followed_to_its_cancel(
    oms: OMS, kite: KiteConnect
) -> None:
    broker_order_id = kite_buy(kite, quantity=3, order_type="LIMIT", price=1400)
    await oms.reconcile()
    [adopted] = [o for o in oms.orders.values() if o.broker_order_id == broker_order_id]
    assert adopted.status == OrderStatus.ACCEPTED

    kite.cancel_order("regular", broker_order_id)

    await until(lambda: adopted.status == OrderStatus.CANCELED, "the cancel, seen by polling")


async def test_an_order_whose_broker_id_was_never_recorded_is_found_by_its_tag(oms: OMS) -> None:
    await oms.on_book(book("INFY", 1499.95, 1500.05))  # the last price a MARKET order is valued at
    [outcome] = await oms.submit([request(qty=2)])
    order = outcome.order
    assert order is not None and order.broker_order_id is not None
    known = order.broker_order_id
    order.broker_order_id = None  # as if the OMS had died between Kite's answer and writing it down
    oms._by_broker_id.pop(known)

    await oms.reconcile()

    assert order.broker_order_id == known
    assert not [o for o in oms.orders.values() if o.strategy == EXTERNAL_STRATEGY]  # not adopted twice
