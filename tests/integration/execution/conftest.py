"""An OMS over the test's own PostgreSQL database and Redis prefix, with a simulated broker."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import Engine

from aitrader.clock import TestClock
from aitrader.contracts.codec import decode
from aitrader.contracts.messages import BookUpdate, Level, OrderRequest, OrderSide, OrderType
from aitrader.contracts.streams import stream_key
from aitrader.db.session import make_engine
from execution.brokers.base import Broker
from execution.brokers.simulated import SimulatedBroker
from execution.oms import OMS, OmsConfig
from execution.store import OutboxPublisher, Store

# Tuesday 25 November 2025, 10:00 IST: inside the session.
T0 = 1_764_045_000_000_000_000


def book(
    symbol: str, bid: float, ask: float, *, qty: int = 100, levels: int = 5, seq: int = 1, tick: float = 0.05
) -> BookUpdate:
    bids = tuple(Level(round(bid - tick * n, 2), qty, 1) for n in range(levels))
    asks = tuple(Level(round(ask + tick * n, 2), qty, 1) for n in range(levels))
    return BookUpdate(
        ts_ns=T0, tick_ts_ns=T0, symbol=symbol, seq=seq, bids=bids, asks=asks,
        mid=round((bid + ask) / 2, 4), last_price=round((bid + ask) / 2, 4),
    )  # fmt: skip


_seq = iter(range(1, 10**9))


def request(
    symbol: str = "INFY",
    side: OrderSide = OrderSide.BUY,
    qty: int = 10,
    *,
    limit: float | None = None,
    strategy: str = "scalper",
    client_order_id: str | None = None,
    **extra: Any,
) -> OrderRequest:
    return OrderRequest(
        client_order_id=client_order_id or f"c-{next(_seq)}",
        ts_ns=time.time_ns(),
        strategy=strategy,
        symbol=symbol,
        side=side,
        qty=qty,
        type=OrderType.LIMIT if limit is not None else OrderType.MARKET,
        limit_price=limit,
        **extra,
    )


@dataclass
class Env:
    oms: OMS
    store: Store
    engine: Engine
    broker: Broker
    redis: aioredis.Redis
    prefix: str
    clock: TestClock

    async def read(self, stream: str) -> list[Any]:
        entries = await self.redis.xrange(stream_key(stream, self.prefix))
        return [decode(fields[b"d"]) for _, fields in entries]

    async def restart(self, broker: Broker | None = None) -> OMS:
        """A new OMS (and by default a new simulator) over the same database and bus, as after a crash."""
        self.store.release_writer_lock()
        self.broker = broker or SimulatedBroker(clock=self.clock.now_ns)
        self.oms = build(self.store, self.broker, self.redis, self.prefix, self.clock, self.oms.config)
        await self.oms.start()
        return self.oms


def build(
    store: Store, broker: Broker, client: aioredis.Redis, prefix: str, clock: TestClock, config: OmsConfig | None = None
) -> OMS:
    return OMS(
        store=store,
        broker=broker,
        publisher_factory=lambda epoch: OutboxPublisher(client, prefix=prefix, epoch=epoch, maxlen=100_000),
        config=config or OmsConfig(),
        clock=clock,
    )


@pytest.fixture
async def env(database_url: str, redis_url: str, stream_prefix: str) -> AsyncIterator[Env]:
    engine = make_engine(database_url)
    client = aioredis.Redis.from_url(redis_url)
    clock = TestClock(T0)
    store = Store(engine)
    broker = SimulatedBroker(clock=clock.now_ns)
    oms = build(store, broker, client, stream_prefix, clock)
    await oms.start()
    environment = Env(oms, store, engine, broker, client, stream_prefix, clock)
    try:
        yield environment
    finally:
        await environment.broker.close()
        environment.store.release_writer_lock()
        await client.aclose()
        engine.dispose()


def statuses(events: Sequence[Any], order_id: str) -> list[str]:
    return [
        event.status.value
        for event in events
        if getattr(event, "order_id", None) == order_id and hasattr(event, "status")
    ]


def money(value: str | float) -> Decimal:
    return Decimal(str(value))
