"""The OMS over a real PostgreSQL and Redis with the simulated broker: lifecycle, risk, restarts, reconciliation."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa

from aitrader.contracts.messages import (
    Fill,
    OrderEvent,
    OrderSide,
    OrderStatus,
    OrderType,
    PositionUpdate,
    Product,
    TimeInForce,
    TradingState,
    TradingStateChanged,
)
from aitrader.contracts.streams import CONTROL, FILLS, ORDER_EVENTS, POSITIONS
from aitrader.devstack.ports import free_port
from aitrader.errors import ConflictError, UnavailableError
from execution.brokers.base import BrokerOrder
from execution.brokers.simulated import SimulatedBroker
from execution.charges import Segment, fill_charges
from execution.oms import EXTERNAL_STRATEGY, NO_ORDER_ID, OmsConfig
from execution.risk import Reason
from execution.store import OutboxPublisher, Store
from tests.integration.execution.conftest import Env, book, request, statuses

pytestmark = pytest.mark.asyncio


def rows(env: Env, sql: str) -> list[tuple[object, ...]]:
    with env.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(sa.text(sql))]


async def test_a_market_order_fills_at_the_ask_and_every_transition_is_persisted_and_published(env: Env) -> None:
    await env.oms.on_book(book("INFY", 1499.95, 1500.05))

    [outcome] = await env.oms.submit([request(qty=10)])

    order = outcome.order
    assert order is not None and order.status == OrderStatus.FILLED
    assert order.avg_price == Decimal("1500.05") and order.filled_qty == 10
    events = await env.read(ORDER_EVENTS)
    assert statuses(events, order.order_id) == ["NEW", "SUBMITTED", "ACCEPTED", "FILLED"]
    [fill] = await env.read(FILLS)
    expected = fill_charges(side="BUY", qty=10, price=Decimal("1500.05"), segment=Segment.EQUITY_INTRADAY)
    assert isinstance(fill, Fill) and fill.qty == 10 and fill.price == 1500.05
    assert Decimal(str(fill.fees)) == expected.total
    assert rows(env, "SELECT status, filled_qty, avg_price FROM orders") == [("FILLED", 10, Decimal("1500.0500"))]
    assert rows(env, "SELECT qty, price, fees FROM trades") == [(10, Decimal("1500.0500"), expected.total)]
    audit = rows(env, "SELECT action FROM audit_log WHERE entity_type = 'order' ORDER BY id")
    assert [a for (a,) in audit] == ["order.new", "order.submitted", "order.accepted", "order.filled"]
    [position] = await env.read(POSITIONS)
    assert isinstance(position, PositionUpdate) and position.qty == 10 and position.fees == float(expected.total)
    # published rows are deleted off the hot path, by the upkeep's flush
    assert rows(env, "SELECT count(*) FROM outbox") == [(6,)]
    await env.oms.flush_outbox()
    assert rows(env, "SELECT count(*) FROM outbox") == [(0,)]


async def test_a_big_market_order_walks_the_depth(env: Env) -> None:
    await env.oms.on_book(book("INFY", 1499.95, 1500.05, qty=100))

    [outcome] = await env.oms.submit([request(qty=250)])

    fills = await env.read(FILLS)
    assert [(f.qty, f.price) for f in fills] == [(100, 1500.05), (100, 1500.1), (50, 1500.15)]
    assert outcome.order is not None and outcome.order.avg_price == Decimal("1500.0900")
    # the ₹20 brokerage cap is the order's, across its fills
    assert sum(Decimal(t) for (t,) in rows(env, "SELECT brokerage FROM trades")) == Decimal(20)


async def test_a_limit_order_rests_fills_partly_then_completes_on_later_books(env: Env) -> None:
    await env.oms.on_book(book("INFY", 1499.95, 1500.05, qty=100, levels=1))
    [outcome] = await env.oms.submit([request(qty=150, limit=1500.05)])
    order = outcome.order
    assert order is not None and order.status == OrderStatus.PARTIALLY_FILLED and order.filled_qty == 100

    await env.oms.on_book(book("INFY", 1500.0, 1500.10, qty=100, seq=2))  # not crossed
    assert order.filled_qty == 100
    await env.oms.on_book(book("INFY", 1499.9, 1500.0, qty=100, seq=3))  # crossed, better price

    assert order.status == OrderStatus.FILLED
    events = await env.read(ORDER_EVENTS)
    assert statuses(events, order.order_id) == ["NEW", "SUBMITTED", "ACCEPTED", "PARTIALLY_FILLED", "FILLED"]
    assert [(f.qty, f.price) for f in await env.read(FILLS)] == [(100, 1500.05), (50, 1500.0)]


async def test_an_ioc_remainder_is_cancelled(env: Env) -> None:
    await env.oms.on_book(book("INFY", 1499.95, 1500.05, qty=10, levels=1))

    [outcome] = await env.oms.submit([request(qty=30, tif=TimeInForce.IOC)])

    assert outcome.order is not None
    assert (outcome.order.status, outcome.order.filled_qty) == (OrderStatus.CANCELED, 10)


async def test_two_orders_on_one_book_do_not_take_the_same_liquidity(env: Env) -> None:
    await env.oms.on_book(book("INFY", 1499.95, 1500.05, qty=100, levels=2))

    await env.oms.submit([request(qty=80), request(qty=80)])

    assert [(f.qty, f.price) for f in await env.read(FILLS)] == [(80, 1500.05), (20, 1500.05), (60, 1500.1)]


async def test_a_denied_order_is_rejected_with_its_reason_code_and_never_reaches_the_broker(env: Env) -> None:
    await env.oms.set_limits(
        [{"scope": "global", "scope_key": "", "name": "max_order_qty", "value": Decimal(50), "enabled": True}], "test"
    )
    await env.oms.on_book(book("INFY", 1499.95, 1500.05))

    [outcome] = await env.oms.submit([request(qty=51)])

    assert outcome.order is not None and outcome.order.status == OrderStatus.REJECTED
    assert outcome.denial is not None and outcome.denial.code == Reason.MAX_ORDER_QTY
    assert outcome.order.reason_code == "MAX_ORDER_QTY" and outcome.order.broker_order_id is None
    events = await env.read(ORDER_EVENTS)
    assert statuses(events, outcome.order.order_id) == ["NEW", "REJECTED"]
    assert events[-1].reason_code == "MAX_ORDER_QTY"
    assert rows(env, "SELECT action, actor FROM audit_log WHERE entity_type = 'risk_limit'") == [
        ("risk_limit.set", "test")
    ]


async def test_a_redelivered_request_changes_nothing(env: Env) -> None:
    await env.oms.on_book(book("INFY", 1499.95, 1500.05))
    original = request(qty=10)

    [first] = await env.oms.submit([original])
    [again] = await env.oms.submit([original])
    [batch_a, batch_b] = await env.oms.submit([original, original])

    assert again.duplicate and batch_a.duplicate and batch_b.duplicate
    assert again.order is first.order
    assert rows(env, "SELECT count(*) FROM orders") == [(1,)]
    assert len(await env.read(FILLS)) == 1
    assert len(await env.read(ORDER_EVENTS)) == 4


async def test_a_reused_client_order_id_is_refused_without_touching_the_first_order(env: Env) -> None:
    await env.oms.on_book(book("INFY", 1499.95, 1500.05))
    [first] = await env.oms.submit([request(qty=10, client_order_id="same")])

    [second] = await env.oms.submit([request(qty=20, client_order_id="same")])

    assert second.order is None and second.denial is not None
    assert second.denial.code == Reason.DUPLICATE_CLIENT_ORDER_ID
    last = (await env.read(ORDER_EVENTS))[-1]
    assert isinstance(last, OrderEvent) and last.order_id == NO_ORDER_ID and last.client_order_id == "same"
    assert first.order is not None and first.order.qty == 10 and first.order.status == OrderStatus.FILLED


async def test_a_request_seen_on_an_earlier_day_is_found_in_the_database(env: Env) -> None:
    await env.oms.on_book(book("INFY", 1499.95, 1500.05))
    original = request(qty=10)
    await env.oms.submit([original])
    env.oms.orders.clear()  # as if the order were from an earlier day: memory no longer holds it
    env.oms._by_client_id.clear()

    [again] = await env.oms.submit([original])

    assert again.duplicate
    assert rows(env, "SELECT count(*) FROM orders") == [(1,)]


async def test_cancel_moves_through_pending_cancel_and_a_final_order_cannot_be_cancelled(env: Env) -> None:
    await env.oms.on_book(book("INFY", 1499.95, 1500.05))
    [outcome] = await env.oms.submit([request(qty=10, limit=1490.0)])
    order = outcome.order
    assert order is not None and order.status == OrderStatus.ACCEPTED

    await env.oms.cancel(order.id, actor="test")

    assert order.status == OrderStatus.CANCELED
    events = await env.read(ORDER_EVENTS)
    assert statuses(events, order.order_id) == ["NEW", "SUBMITTED", "ACCEPTED", "PENDING_CANCEL", "CANCELED"]
    with pytest.raises(ConflictError, match="is CANCELED: nothing to cancel"):
        await env.oms.cancel(order.id, actor="test")


async def test_the_kill_switch_cancels_open_orders_halts_and_survives_a_restart(env: Env) -> None:
    await env.oms.on_book(book("INFY", 1499.95, 1500.05))
    outcomes = await env.oms.submit([request(qty=5, limit=1490.0), request(qty=5, limit=1491.0)])

    cancelled = await env.oms.set_kill_switch(True, "operator", "test")

    assert cancelled == 2
    assert all(o.order is not None and o.order.status == OrderStatus.CANCELED for o in outcomes)
    [denied] = await env.oms.submit([request(qty=1)])
    assert denied.denial is not None and denied.denial.code == Reason.KILL_SWITCH
    [change] = await env.read(CONTROL)
    assert isinstance(change, TradingStateChanged) and change.state == TradingState.HALTED
    assert change.kill_switch_engaged

    oms = await env.restart()

    assert oms.kill_switch and oms.trading_state == TradingState.HALTED
    with pytest.raises(ConflictError, match="release it"):
        await oms.set_trading_state(TradingState.ACTIVE, "resume", "test")
    await oms.set_kill_switch(False, "resume", "test")
    assert oms.trading_state == TradingState.HALTED  # releasing does not resume trading by itself
    await oms.set_trading_state(TradingState.ACTIVE, "resume", "test")
    await oms.on_book(book("INFY", 1499.95, 1500.05))
    [accepted] = await oms.submit([request(qty=1)])
    assert accepted.order is not None and accepted.order.status == OrderStatus.FILLED


async def test_reducing_lets_only_orders_that_shrink_a_position_through(env: Env) -> None:
    await env.oms.on_book(book("INFY", 1499.95, 1500.05))
    await env.oms.submit([request(qty=10)])
    await env.oms.set_trading_state(TradingState.REDUCING, "end of day", "test")

    [more] = await env.oms.submit([request(qty=1)])
    [less] = await env.oms.submit([request(side=OrderSide.SELL, qty=4)])

    assert more.denial is not None and more.denial.code == Reason.REDUCE_ONLY
    assert less.order is not None and less.order.status == OrderStatus.FILLED


async def test_reaching_the_daily_loss_limit_halts_trading(env: Env) -> None:
    await env.oms.set_limits(
        [{"scope": "global", "scope_key": "", "name": "daily_loss_limit", "value": Decimal(500), "enabled": True}], "t"
    )
    await env.oms.on_book(book("INFY", 1499.95, 1500.05))
    await env.oms.submit([request(qty=100)])
    await env.oms.on_book(book("INFY", 1494.0, 1494.1, seq=2))  # marked 6 lower: about -600 with fees

    [denied] = await env.oms.submit([request(qty=1)])

    assert denied.denial is not None and denied.denial.code == Reason.DAILY_LOSS_LIMIT
    assert env.oms.trading_state == TradingState.HALTED
    [change] = await env.read(CONTROL)
    assert isinstance(change, TradingStateChanged) and change.state == TradingState.HALTED


async def test_positions_and_pnl_per_strategy_and_symbol(env: Env) -> None:
    await env.oms.on_book(book("INFY", 1499.95, 1500.05))
    await env.oms.submit([request(qty=10, strategy="a"), request(qty=5, strategy="b")])
    await env.oms.on_book(book("INFY", 1509.95, 1510.05, seq=2))
    await env.oms.submit([request(side=OrderSide.SELL, qty=4, strategy="a")])

    a = env.oms.positions.get("a", "INFY")
    b = env.oms.positions.get("b", "INFY")
    assert a is not None and b is not None
    assert (a.qty, a.avg_price, a.realised) == (6, Decimal("1500.05"), Decimal("39.60"))  # 4 x (1509.95 - 1500.05)
    assert a.unrealised == Decimal("6") * (Decimal("1510") - Decimal("1500.05"))
    assert (b.qty, b.realised) == (5, 0)
    assert env.oms.positions.net_qty() == {"INFY": 11}


async def test_a_restart_hands_working_orders_to_the_new_simulator_without_losing_or_doubling_fills(env: Env) -> None:
    await env.oms.on_book(book("INFY", 1499.95, 1500.05, qty=100, levels=1))
    [outcome] = await env.oms.submit([request(qty=150, limit=1500.05)])
    assert outcome.order is not None and outcome.order.filled_qty == 100
    order_id = outcome.order.id

    oms = await env.restart()

    order = oms.find(order_id)
    assert (order.status, order.filled_qty, order.avg_price) == (OrderStatus.PARTIALLY_FILLED, 100, Decimal("1500.05"))
    await oms.on_book(book("INFY", 1499.95, 1500.05, qty=100, seq=2))
    assert order.status == OrderStatus.FILLED
    fill_ids = [f.fill_id for f in await env.read(FILLS)]
    assert len(fill_ids) == len(set(fill_ids)) == 2
    assert rows(env, "SELECT sum(qty) FROM trades") == [(150,)]
    assert oms.positions.net_qty() == {"INFY": 150}
    assert oms.issues == {}


async def test_outbox_rows_published_before_a_crash_are_not_published_twice(env: Env) -> None:
    await env.oms.on_book(book("INFY", 1499.95, 1500.05))
    await env.oms.submit([request(qty=10)])
    # crash: the rows are on the bus but were never deleted from the outbox
    assert rows(env, "SELECT count(*) FROM outbox") == [(6,)]
    published = len(await env.read(ORDER_EVENTS)) + len(await env.read(FILLS))

    await env.restart()

    assert len(await env.read(ORDER_EVENTS)) + len(await env.read(FILLS)) == published == 5


async def test_outbox_rows_never_published_are_published_when_the_bus_returns(env: Env) -> None:
    await env.oms.on_book(book("INFY", 1499.95, 1500.05))
    working = env.oms._publisher
    assert working is not None
    away = aioredis.Redis(port=free_port(), socket_connect_timeout=0.2)
    env.oms._publisher = OutboxPublisher(away, prefix=env.prefix, epoch=working.epoch, maxlen=1000)
    [outcome] = await env.oms.submit([request(qty=10)])
    assert outcome.order is not None and outcome.order.status == OrderStatus.FILLED
    assert env.oms.bus_error is not None and env.oms.health()["status"] == "degraded"
    assert await env.read(ORDER_EVENTS) == []

    env.oms._publisher = working
    await env.oms.flush_outbox()

    events = await env.read(ORDER_EVENTS)
    assert statuses(events, outcome.order.order_id) == ["NEW", "SUBMITTED", "ACCEPTED", "FILLED"]
    assert len(await env.read(FILLS)) == 1
    assert env.oms.bus_error is None and rows(env, "SELECT count(*) FROM outbox") == [(0,)]
    await away.aclose()


async def test_without_its_database_the_oms_fails_closed_and_resumes_when_it_returns(
    env: Env, database_url: str, postgres_url: str
) -> None:
    name = database_url.rsplit("/", 1)[1]
    await env.oms.on_book(book("INFY", 1499.95, 1500.05))
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        admin.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
    env.store.release_writer_lock()
    env.engine.dispose()
    try:
        with pytest.raises(UnavailableError, match=r"not trading|could not persist"):
            await env.oms.submit([request(qty=1)])
        await env.oms.check_database()
        health = env.oms.health()
        assert health["status"] == "unavailable"
        assert "database unavailable" in health["reasons"][0]
        with pytest.raises(UnavailableError, match="database unavailable, not trading"):
            await env.oms.submit([request(qty=1)])
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')

    await env.oms.check_database()

    assert env.oms.ready and env.oms.health()["status"] == "ok"
    [outcome] = await env.oms.submit([request(qty=1)])
    assert outcome.order is not None and outcome.order.status == OrderStatus.FILLED
    assert rows(env, "SELECT count(*) FROM orders") == [(1,)]


async def test_reconciliation_adopts_an_order_placed_behind_the_oms_back(env: Env) -> None:
    sim = env.broker
    assert isinstance(sim, SimulatedBroker)
    await env.oms.on_book(book("TCS", 3999.95, 4000.05))
    outside = BrokerOrder(
        order_id="99999", client_order_id="manual-at-the-terminal", symbol="TCS", venue="NSE", side=OrderSide.BUY,
        qty=3, order_type=OrderType.MARKET, limit_price=None, tif=TimeInForce.DAY, product=Product.MIS,
    )  # fmt: skip
    await sim.submit(outside)

    await env.oms.reconcile()

    [adopted] = [o for o in env.oms.orders.values() if o.strategy == EXTERNAL_STRATEGY]
    assert adopted.client_order_id.startswith("ext:sim:SIM")
    assert (adopted.status, adopted.filled_qty) == (OrderStatus.FILLED, 3)
    assert env.oms.positions.net_qty() == {"TCS": 3}
    assert env.oms.issues == {}
    assert rows(env, "SELECT action FROM audit_log WHERE action = 'order.adopted'") == [("order.adopted",)]


async def test_reconciliation_flags_a_position_that_differs_from_the_broker(env: Env) -> None:
    await env.oms.on_book(book("INFY", 1499.95, 1500.05))
    await env.oms.submit([request(qty=10)])
    sim = env.broker
    assert isinstance(sim, SimulatedBroker)
    await sim.resume([], {"INFY": 7})

    await env.oms.reconcile()

    assert "position:INFY" in env.oms.issues
    assert "the broker holds 7, the OMS 10" in env.oms.issues["position:INFY"].detail
    assert env.oms.health()["status"] == "degraded"


async def test_a_second_oms_on_the_same_database_refuses_to_start(env: Env) -> None:
    other = Store(env.engine)
    with pytest.raises(ConflictError, match="another OMS holds this database"):
        other.acquire_writer_lock()


async def test_an_unknown_symbol_is_denied_when_an_allow_list_is_set(env: Env) -> None:
    env.oms.config = OmsConfig(allowed_symbols=frozenset({"TCS"}))
    env.oms._install_limits(env.oms.limit_rows)

    [outcome] = await env.oms.submit([request(symbol="INFY", qty=1)])

    assert outcome.denial is not None and outcome.denial.code == Reason.SYMBOL_NOT_ALLOWED


async def test_a_day_order_still_open_the_next_day_expires_and_the_day_pnl_starts_again(env: Env) -> None:
    await env.oms.on_book(book("INFY", 1499.95, 1500.05))
    await env.oms.submit([request(qty=10)])
    [resting] = await env.oms.submit([request(qty=5, limit=1490.0)])
    assert resting.order is not None and resting.order.status == OrderStatus.ACCEPTED
    fees = env.oms.positions.pnl()
    assert fees < 0

    env.clock.advance(24 * 3600 * 1_000_000_000)
    await env.oms.reconcile()
    [tomorrow] = await env.oms.submit([request(qty=1)])

    assert resting.order.status == OrderStatus.EXPIRED
    assert statuses(await env.read(ORDER_EVENTS), resting.order.order_id)[-1] == "EXPIRED"
    assert tomorrow.order is not None and tomorrow.order.status == OrderStatus.FILLED
    position = env.oms.positions.get("scalper", "INFY")
    assert position is not None and position.qty == 11  # carried over, with yesterday's fees left behind
    assert position.fees < -fees


async def test_an_oms_started_while_its_database_is_away_starts_once_it_answers(
    database_url: str, postgres_url: str, redis_url: str, stream_prefix: str
) -> None:
    from aitrader.clock import TestClock
    from aitrader.db.session import make_engine
    from tests.integration.execution.conftest import T0, build

    name = database_url.rsplit("/", 1)[1]
    engine = make_engine(database_url)
    client = aioredis.Redis.from_url(redis_url)
    store = Store(engine)
    oms = build(store, SimulatedBroker(), client, stream_prefix, TestClock(T0))
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
    try:
        with pytest.raises(UnavailableError, match="database unavailable, not trading"):
            await oms.start()
        assert not oms.ready and oms.health()["status"] == "unavailable"
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')

    await oms.start()

    assert oms.ready and oms.health()["status"] == "ok"
    store.release_writer_lock()
    await client.aclose()
    engine.dispose()
