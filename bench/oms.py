"""OMS benchmark: orders through risk, the simulated broker and PostgreSQL, in process and as the service.

Figures:
- throughput (in process): ``OMS.submit`` driven directly, as the integration tests drive it: a ``Store`` over
  a real PostgreSQL database, a ``SimulatedBroker`` whose books are deep enough that every MARKET order fills
  at the touch, an ``OutboxPublisher`` on real Redis. Orders/s with batches of 1 (one request per unit of
  work, as POST /orders) and of 100 (as the bus consumer under load), medians over rounds; the two sides
  alternate which goes first in each round, and every run gets a fresh database cloned from a migrated
  template. Every order must end FILLED (counted in the database), or the bench fails.
- where the time goes: the same runs, with ``Store.find_orders``, ``Store.write`` (one transaction),
  ``OutboxPublisher.publish`` and ``SimulatedBroker.submit`` timed from outside by thin wrappers, per order;
  the rest is deciding in memory (risk, state machine, positions, encoding). The database calls split into
  SQL statements, commits, the pool's pre-pings and resets (rollbacks on return), timed on the engine, and
  what is left; with transactions and statements per order. On PostgreSQL ``Store.write`` sends its
  statements and commit through one psycopg pipeline, which the engine's hooks do not see: that time is all
  in "rest" (and the statement count reads 0). As in the service, the
  published outbox rows are deleted once a second (``OMS.flush_outbox``, under the OMS's lock), timed apart.
- latency (the service): ``python -m execution`` as its own process over the same servers, with raised
  limits (PUT /risk/limits) and a book on ``book``; OrderRequests are XADDed one at a time to ``orders``
  (as a strategy engine sends them) at 500/s, the headline, and 100/s, each stamped with the wall clock
  just before; a reader on ``fills`` takes receipt time - request time per client_order_id: p50 / p99 /
  p99.9 in ms and the rate achieved. The Fill's own stamp (when the simulator matched) splits it into
  request -> match and match -> fill read. Each rate runs on a fresh service and database. Above the
  service's capacity a queue builds and latency grows with the run's length, so the report says whether the
  service kept up (its last fill read within half a second of the last request). The full run's 500/s
  lasts longer than a minute, so its last 15 s show the steady state (the order-rate window then holds a
  full minute of orders, and the day's orders in memory keep growing), reported beside the whole run.
  ``oms_unit_of_work_seconds`` comes from /metrics. The bench's own garbage collector is off while requests
  flow, so its pauses are not charged to the OMS.
Target (DESIGN §8, "tick -> fill a few milliseconds at p99"; set for this bench): OrderRequest -> Fill read
p99 < 2 ms at 500 orders/s.

    python bench/oms.py [--quick] [--json PATH] [--redis-url URL] [--database-url URL]

``--database-url`` names a PostgreSQL server whose user may create databases: the bench creates its own
(``bench_oms_*``) there and drops them afterwards; it never writes to the database the URL names.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis.asyncio as aioredis
import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from aitrader import runtime
from aitrader.bus import BusMetrics, Producer
from aitrader.contracts import BOOK, FILLS, ORDERS, Fill, decode, stream_key
from aitrader.contracts.messages import BookUpdate, Level, OrderRequest, OrderSide, OrderStatus
from aitrader.db.migrations import upgrade
from aitrader.db.session import make_engine
from aitrader.devstack.embedded import EmbeddedPostgres, EmbeddedRedis
from aitrader.devstack.ports import free_port
from aitrader.log import configure
from execution.brokers.simulated import SimulatedBroker
from execution.oms import OMS, OmsConfig
from execution.settings import DEV_API_KEY, default_limits
from execution.store import OutboxPublisher, Store

REPO_ROOT = Path(__file__).resolve().parent.parent
TARGET_P99_MS = 2.0
HEADLINE_RATE = 500
CONTRAST_RATE = 100
SYMBOLS = ("INFY", "TCS", "RELIANCE", "HDFCBANK", "SBIN")
MID = {"INFY": 1500.0, "TCS": 3400.0, "RELIANCE": 2900.0, "HDFCBANK": 1650.0, "SBIN": 800.0}
QTY = 10
DEPTH = 10_000_000
"""Quantity shown at each of the book's levels: every run's orders fill at the touch without exhausting it."""
STRATEGY = "bench"
BOOK_EVERY_S = 0.1
"""How often the latency run republishes the books (book_builder sends one per tick; this keeps one fresh)."""


def bench_limits() -> dict[str, Decimal]:
    """The default global limits, with the order rate, position and gross exposure raised out of the way.

    Buys and sells alternate per symbol, so positions stay within one order's quantity; the daily loss limit
    is raised too, because crossing the spread and paying charges on every order loses a few rupees each.
    """
    return default_limits() | {
        "max_orders_per_minute": Decimal(10_000_000),
        "max_position_qty": Decimal(1_000_000),
        "max_gross_exposure": Decimal(10_000_000_000),
        "daily_loss_limit": Decimal(100_000_000),
    }


def make_book(symbol: str, seq: int) -> BookUpdate:
    mid = MID[symbol]
    bids = tuple(Level(round(mid - 0.05 - 0.05 * n, 2), DEPTH, 10) for n in range(5))
    asks = tuple(Level(round(mid + 0.05 + 0.05 * n, 2), DEPTH, 10) for n in range(5))
    now = time.time_ns()
    return BookUpdate(ts_ns=now, tick_ts_ns=now, symbol=symbol, seq=seq, bids=bids, asks=asks, mid=mid, last_price=mid)


def make_request(client_order_id: str, index: int) -> OrderRequest:
    """The ``index``-th order of a run: symbols in turn, each one bought and then sold, so positions stay small."""
    return OrderRequest(
        client_order_id=client_order_id,
        ts_ns=time.time_ns(),
        strategy=STRATEGY,
        symbol=SYMBOLS[(index // 2) % len(SYMBOLS)],
        side=OrderSide.BUY if index % 2 == 0 else OrderSide.SELL,
        qty=QTY,
    )


def percentile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def summarise(values_ms: list[float]) -> dict[str, float]:
    if not values_ms:
        return {"count": 0}
    ordered = sorted(values_ms)
    return {
        "count": len(ordered),
        "p50_ms": round(percentile(ordered, 0.50), 3),
        "p99_ms": round(percentile(ordered, 0.99), 3),
        "p999_ms": round(percentile(ordered, 0.999), 3),
        "max_ms": round(ordered[-1], 3),
    }


# -- databases ------------------------------------------------------------------------------------------


class Databases:
    """Databases of the bench's own on one PostgreSQL server: a migrated template, and clones of it."""

    def __init__(self, server_url: str) -> None:
        self._server_url = server_url
        self._base = server_url.rpartition("/")[0]
        self._template = f"bench_oms_template_{uuid.uuid4().hex[:8]}"
        self._created: list[str] = []

    def url(self, name: str) -> str:
        return f"{self._base}/{name}"

    def _admin(self, statement: str) -> None:
        """Run ``statement`` (made of the bench's own database names) on the server, outside a transaction."""
        with psycopg.connect(self._server_url, autocommit=True) as connection:
            connection.execute(statement)

    def prepare(self) -> None:
        self._admin(f'CREATE DATABASE "{self._template}"')
        self._created.append(self._template)
        upgrade(self.url(self._template))

    def clone(self) -> str:
        name = f"bench_oms_{uuid.uuid4().hex[:10]}"
        self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{self._template}"')
        self._created.append(name)
        return self.url(name)

    def drop(self, url: str) -> None:
        name = url.rpartition("/")[2]
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._created.remove(name)

    def drop_all(self) -> None:
        for name in reversed(list(self._created)):
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._created.clear()

    def server_info(self) -> dict[str, str]:
        with psycopg.connect(self._server_url, autocommit=True) as connection:
            settings = {
                name: str(connection.execute(f"SHOW {name}").fetchone()[0])  # type: ignore[index]
                for name in ("server_version", "fsync", "synchronous_commit", "wal_sync_method")
            }
        return settings


def order_statuses(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT status, count(*) FROM orders GROUP BY status"))
            return {str(status): int(count) for status, count in rows}
    finally:
        engine.dispose()


# -- throughput in process ------------------------------------------------------------------------------


class Parts:
    """Seconds spent in the wrapped calls, and how often they ran."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.scope = ""
        """Prefix for the engine's timings: ``flush_`` while the outbox flush runs, so they stay apart."""

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()

    def sync(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - started
                self.calls[name] += 1

        return timed

    def asynchronous(self, name: str, function: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await function(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - started
                self.calls[name] += 1

        return timed

    def _scoped(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[self.scope + name] += time.perf_counter() - started
                self.calls[self.scope + name] += 1

        return timed

    def watch(self, engine: sa.Engine) -> None:
        """Time ``engine``'s SQL statements, commits, pre-pings and resets (rollbacks) on return to the pool."""
        dialect = engine.dialect
        for name in ("ping", "commit", "rollback"):
            setattr(dialect, f"do_{name}", self._scoped(name, getattr(dialect, f"do_{name}")))

        def before(connection: sa.Connection, *_: Any) -> None:
            connection.info["bench_started"] = time.perf_counter()

        def after(connection: sa.Connection, *_: Any) -> None:
            self.seconds[self.scope + "statements"] += time.perf_counter() - connection.info.pop("bench_started")
            self.calls[self.scope + "statements"] += 1

        sa.event.listen(engine, "before_cursor_execute", before)
        sa.event.listen(engine, "after_cursor_execute", after)


async def run_in_process(databases: Databases, redis_url: str, batch: int, orders: int) -> dict[str, Any]:
    """``orders`` orders through ``OMS.submit`` in batches of ``batch`` on a fresh database; orders/s and parts."""
    url = databases.clone()
    engine = make_engine(url, pool_size=4, max_overflow=4, pool_pre_ping=False)  # as execution.app builds it
    client = aioredis.Redis.from_url(redis_url)
    prefix = f"bench{uuid.uuid4().hex[:6]}:"
    parts = Parts()
    store = Store(engine)
    store.find_orders = parts.sync("find_orders", store.find_orders)  # type: ignore[method-assign]
    store.write = parts.sync("write", store.write)  # type: ignore[method-assign]
    broker = SimulatedBroker()
    broker.submit = parts.asynchronous("broker_submit", broker.submit)  # type: ignore[method-assign, assignment]
    parts.watch(engine)

    def publisher(epoch: str) -> OutboxPublisher:
        made = OutboxPublisher(client, prefix=prefix, epoch=epoch, maxlen=100_000)
        made.publish = parts.asynchronous("publish", made.publish)  # type: ignore[method-assign, assignment]
        return made

    oms = OMS(store=store, broker=broker, publisher_factory=publisher, config=OmsConfig(default_limits=bench_limits()))

    async def flush_every_second() -> None:
        """The service's upkeep deletes published outbox rows once a second (under the OMS's lock): so here."""
        while True:
            await asyncio.sleep(1.0)
            parts.scope = "flush_"
            started = time.perf_counter()
            try:
                await oms.flush_outbox()
            finally:
                parts.seconds["flush"] += time.perf_counter() - started
                parts.calls["flush"] += 1
                parts.scope = ""

    upkeep: asyncio.Task[None] | None = None
    try:
        await oms.start()
        upkeep = asyncio.create_task(flush_every_second())
        for seq, symbol in enumerate(SYMBOLS, start=1):
            await oms.on_book(make_book(symbol, seq))
        warmup = 20
        requests = [make_request(f"w{i}", i) for i in range(warmup)]
        requests += [make_request(f"o{i}", i) for i in range(orders)]
        for request in requests[:warmup]:
            await oms.submit([request], actor="bench")
        parts.reset()
        submit = parts.asynchronous("submit", oms.submit)
        outcomes = []
        started = time.perf_counter()
        for offset in range(warmup, len(requests), batch):
            outcomes.extend(await submit(requests[offset : offset + batch], actor="bench"))
        elapsed = time.perf_counter() - started
    finally:
        if upkeep is not None:
            upkeep.cancel()
            with suppress(asyncio.CancelledError):
                await upkeep
        await broker.close()
        store.release_writer_lock()
        for stream in ("order_events", "fills", "positions", "control"):
            await client.delete(stream_key(stream, prefix))
        await client.aclose()
        engine.dispose()
    statuses = order_statuses(url)
    databases.drop(url)
    not_filled = [o for o in outcomes if o.order is None or o.order.status != OrderStatus.FILLED]
    if not_filled or statuses != {"FILLED": orders + warmup}:
        first = not_filled[0] if not_filled else None
        raise SystemExit(f"not every order filled: {statuses} in the database; first not filled: {first}")
    per_order_ms = {name: seconds / orders * 1000 for name, seconds in parts.seconds.items()}
    per_order_ms["in_memory"] = per_order_ms["submit"] - sum(
        per_order_ms.get(name, 0.0) for name in ("find_orders", "write", "publish", "broker_submit")
    )
    # what is left of the database calls: the psycopg pipeline (PostgreSQL), SQLAlchemy's own work, checkouts
    per_order_ms["driver_rest"] = (per_order_ms.get("find_orders", 0.0) + per_order_ms["write"]) - sum(
        per_order_ms.get(name, 0.0) for name in ("statements", "commit", "ping", "rollback")
    )
    return {
        "orders_per_s": orders / elapsed,
        "per_order_ms": per_order_ms,
        "per_order_count": {name: count / orders for name, count in parts.calls.items()},
    }


async def throughput(databases: Databases, redis_url: str, quick: bool) -> dict[str, Any]:
    rounds = 3 if quick else 5
    sizes = {1: 300 if quick else 1_000, 100: 1_000 if quick else 4_000}
    runs: dict[int, list[dict[str, Any]]] = {1: [], 100: []}
    for round_index in range(rounds):
        for batch in (1, 100) if round_index % 2 == 0 else (100, 1):
            runs[batch].append(await run_in_process(databases, redis_url, batch, sizes[batch]))
    result: dict[str, Any] = {"rounds": rounds}
    for batch, samples in runs.items():
        names = samples[0]["per_order_ms"].keys()
        counts = samples[0]["per_order_count"].keys()
        result[f"batch_{batch}"] = {
            "orders_per_round": sizes[batch],
            "orders_per_s": round(statistics.median(s["orders_per_s"] for s in samples)),
            "samples": [round(s["orders_per_s"]) for s in samples],
            "per_order_ms": {
                name: round(statistics.median(s["per_order_ms"].get(name, 0.0) for s in samples), 4) for name in names
            },
            "per_order_count": {
                name: round(statistics.median(s["per_order_count"].get(name, 0.0) for s in samples), 2)
                for name in counts
            },
        }
    result["ratio_batch_100_over_1"] = round(result["batch_100"]["orders_per_s"] / result["batch_1"]["orders_per_s"], 3)
    return result


# -- latency through the service --------------------------------------------------------------------------


@contextmanager
def execution_service(database_url: str, redis_url: str, prefix: str, log_path: Path) -> Iterator[str]:
    """``python -m execution`` over ``database_url``; yields its root URL once /health answers 200."""
    port = free_port()
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "AITRADER_STREAM_PREFIX": prefix,
        "EXECUTION_PORT": str(port),
        "AITRADER_BUS_BLOCK_MS": "100",
        "EXECUTION_SEED_DEFAULT_LIMITS": "false",
        "PYTHONUNBUFFERED": "1",
    }
    with log_path.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "execution"], env=env, cwd=REPO_ROOT, stdout=output, stderr=output
        )
    root = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise SystemExit(f"execution exited with {process.returncode}: {log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{root}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"execution did not become healthy: {log_path.read_text()[-3000:]}")
            time.sleep(0.1)
        yield root
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def unit_of_work(metrics_text: str) -> dict[str, float]:
    """``oms_unit_of_work_seconds`` from a /metrics page: count, sum and cumulative bucket counts by bound."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name != "oms_unit_of_work_seconds":
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                found[sample.labels["le"]] = sample.value
            elif sample.name.endswith("_count"):
                found["count"] = sample.value
            elif sample.name.endswith("_sum"):
                found["sum"] = sample.value
    return found


def unit_of_work_summary(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    count = after.get("count", 0.0) - before.get("count", 0.0)
    if count <= 0:
        return {"count": 0}
    within = {
        bound: round((after[bound] - before.get(bound, 0.0)) / count, 4)
        for bound in ("0.0005", "0.001", "0.002", "0.005", "0.01")
        if bound in after
    }
    return {
        "count": int(count),
        "mean_ms": round((after["sum"] - before.get("sum", 0.0)) / count * 1000, 3),
        "share_within_s": within,
    }


async def keep_books(producer: Producer, stop: asyncio.Event) -> None:
    seq = 0
    while not stop.is_set():
        seq += 1
        for symbol in SYMBOLS:
            await producer.publish(BOOK, make_book(symbol, seq))
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), BOOK_EVERY_S)


async def read_fills(
    client: aioredis.Redis, key: str, sent: dict[str, int], expected: int, deadline: list[float]
) -> dict[str, tuple[int, int]]:
    """Until ``expected`` orders have a fill (or ``deadline[0]`` passes): per client_order_id, (receipt
    time - request time, fill stamp - request time) in ns. Starts after the stream's newest entry."""
    newest = await client.xrevrange(key, count=1)
    last: Any = newest[0][0] if newest else "0-0"
    found: dict[str, tuple[int, int]] = {}
    while len(found) < expected and time.monotonic() < deadline[0]:
        reply: Any = await client.xread({key: last}, count=1_000, block=100)
        received = time.time_ns()
        for _, entries in reply or []:
            for entry_id, fields in entries:
                last = entry_id
                fill = decode(fields[b"d"], Fill)
                requested = sent.get(fill.client_order_id)
                if requested is not None and fill.client_order_id not in found:
                    found[fill.client_order_id] = (received - requested, fill.ts_ns - requested)
    return found


async def paced_requests(producer: Producer, rate: int, count: int, tag: str, sent: dict[str, int]) -> float:
    """``count`` OrderRequests at ``rate``/s, one XADD each, stamped just before; returns the rate achieved."""
    interval = 1.0 / rate
    start = time.perf_counter()
    for index in range(count):
        delay = start + index * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        request = make_request(f"{tag}-{index}", index)
        sent[request.client_order_id] = request.ts_ns
        await producer.publish(ORDERS, request)
    return count / (time.perf_counter() - start) if count > 1 else float(count)


async def latency_run(
    databases: Databases, redis_url: str, rate: int, seconds: float, steady_s: float, scratch: Path
) -> dict[str, Any]:
    url = databases.clone()
    prefix = f"bench{uuid.uuid4().hex[:6]}:"
    client = aioredis.Redis.from_url(redis_url)
    producer = Producer(client, prefix=prefix, metrics=BusMetrics(CollectorRegistry()))
    count = int(rate * seconds)
    try:
        with execution_service(url, redis_url, prefix, scratch / f"execution-{rate}.log") as root:
            async with httpx.AsyncClient(base_url=root, timeout=10) as http:
                limits = [{"name": name, "value": str(value)} for name, value in bench_limits().items()]
                answer = await http.put("/risk/limits", json={"limits": limits}, headers={"X-API-Key": DEV_API_KEY})
                answer.raise_for_status()
                stop = asyncio.Event()
                books = asyncio.create_task(keep_books(producer, stop))
                deadline = time.monotonic() + 15
                while (await http.get("/health")).json()["broker"]["books"] < len(SYMBOLS):
                    if time.monotonic() > deadline:
                        raise SystemExit("execution never saw the books")
                    await asyncio.sleep(0.05)
                # a few orders first: connections, caches and the first code paths warm up untimed
                warm: dict[str, int] = {}
                warm_deadline = [time.monotonic() + 15]
                warm_reader = asyncio.create_task(
                    read_fills(client, stream_key(FILLS, prefix), warm, 20, warm_deadline)
                )
                await asyncio.sleep(0.05)
                await paced_requests(producer, 100, 20, f"warm{rate}", warm)
                await warm_reader
                before = unit_of_work((await http.get("/metrics")).text)
                sent: dict[str, int] = {}
                reader_deadline = [time.monotonic() + seconds + 120]
                reader = asyncio.create_task(
                    read_fills(client, stream_key(FILLS, prefix), sent, count, reader_deadline)
                )
                await asyncio.sleep(0.05)
                # The bench's own collector would pause its reader (a full collection here takes tens of ms)
                # and charge that to the OMS: none while the requests flow.
                gc.collect()
                gc.freeze()
                gc.disable()
                try:
                    started = time.monotonic()
                    achieved = await paced_requests(producer, rate, count, f"r{rate}", sent)
                    reader_deadline[0] = min(reader_deadline[0], time.monotonic() + 30)
                    found = await reader
                    drained_s = time.monotonic() - started
                finally:
                    gc.enable()
                    gc.unfreeze()
                after = unit_of_work((await http.get("/metrics")).text)
                health = (await http.get("/health")).json()
                stop.set()
                await books
        statuses = order_statuses(url)
    finally:
        for stream in ("orders", "order_events", "fills", "positions", "control", "book"):
            await client.delete(stream_key(stream, prefix))
        await client.aclose()
        databases.drop(url)
    expected = count + 20
    if statuses.get("FILLED", 0) != expected or len(statuses) != 1 or len(found) != count:
        raise SystemExit(
            f"at {rate}/s: {len(found)} of {count} fills read; orders in the database by status: {statuses}"
        )
    order = sorted(sent, key=sent.__getitem__)
    total = [found[key][0] / 1e6 for key in order]
    match = [found[key][1] / 1e6 for key in order]
    after_match = [(found[key][0] - found[key][1]) / 1e6 for key in order]
    result: dict[str, Any] = {
        "rate_target_per_s": rate,
        "seconds": seconds,
        "rate_achieved_per_s": round(achieved, 1),
        "last_fill_read_after_s": round(drained_s, 2),
        "filled_per_s": round(count / drained_s, 1),
        "kept_up": drained_s < seconds + 0.5,
        "request_to_fill_read": summarise(total),
        "request_to_match": summarise(match),
        "match_to_fill_read": summarise(after_match),
        "unit_of_work": unit_of_work_summary(before, after),
        "service_health": {"status": health["status"], "orders_today": health["orders_today"]},
    }
    if steady_s:
        tail = int(rate * steady_s)
        result["steady_state_last_s"] = steady_s
        result["steady_state_request_to_fill_read"] = summarise(total[-tail:])
    return result


async def latency(databases: Databases, redis_url: str, quick: bool, scratch: Path) -> dict[str, Any]:
    # The full run's headline lasts past a minute, so its last stretch is the steady state.
    headline_s, headline_steady_s = (5.0, 0.0) if quick else (75.0, 15.0)
    contrast_s = 5.0 if quick else 20.0
    headline = await latency_run(databases, redis_url, HEADLINE_RATE, headline_s, headline_steady_s, scratch)
    contrast = await latency_run(databases, redis_url, CONTRAST_RATE, contrast_s, 0.0, scratch)
    return {str(HEADLINE_RATE): headline, str(CONTRAST_RATE): contrast}


# -- driver ----------------------------------------------------------------------------------------------


def measured_commit() -> str:
    """The commit measured, with ``+dirty`` when execution/ has changes of its own on top."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "execution"], cwd=REPO_ROOT, capture_output=True, text=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


async def redis_version(url: str) -> str:
    client = aioredis.Redis.from_url(url)
    try:
        return str((await client.info("server")).get("redis_version", "unknown"))
    finally:
        await client.aclose()


def run(server_url: str, redis_url: str, quick: bool, scratch: Path) -> dict[str, Any]:
    databases = Databases(server_url)
    databases.prepare()
    try:
        postgres = databases.server_info()
        in_process = runtime.run(throughput(databases, redis_url, quick))
        service = runtime.run(latency(databases, redis_url, quick, scratch))
    finally:
        databases.drop_all()
    headline = service[str(HEADLINE_RATE)]
    p99 = headline["request_to_fill_read"]["p99_ms"]
    return {
        "benchmark": "oms",
        "quick": quick,
        "commit": measured_commit(),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "redis": runtime.run(redis_version(redis_url)),
            "postgres": postgres,
        },
        "throughput_in_process": in_process,
        "latency_service": service,
        "target": f"OrderRequest -> Fill read p99 < {TARGET_P99_MS} ms at {HEADLINE_RATE} orders/s",
        "targets": {f"p99_at_{HEADLINE_RATE}_lt_{TARGET_P99_MS:g}ms": p99 < TARGET_P99_MS},
    }


def print_report(result: dict[str, Any]) -> None:
    mode = "quick" if result["quick"] else "full"
    machine = result["machine"]
    postgres = machine["postgres"]
    print(
        f"oms benchmark ({mode}; {machine['cpus']} CPUs, Redis {machine['redis']}, PostgreSQL "
        f"{postgres['server_version']} fsync={postgres['fsync']} synchronous_commit={postgres['synchronous_commit']})"
    )
    t = result["throughput_in_process"]
    print(f"throughput in process (OMS.submit -> risk -> simulator -> PostgreSQL -> Redis), medians of {t['rounds']}:")
    for batch in (1, 100):
        row = t[f"batch_{batch}"]
        print(
            f"  batches of {batch:>3}: {row['orders_per_s']:>7,} orders/s  "
            f"(samples {', '.join(f'{x:,}' for x in row['samples'])}; {row['orders_per_round']:,} orders a round)"
        )
    print(f"  ratio batches of 100 / of 1: {t['ratio_batch_100_over_1']:.2f}")
    print("  where an order's time goes, ms per order (medians):")
    columns = (
        ("submit", "submit"),
        ("find_orders", "find_orders"),
        ("write", "write"),
        ("publish", "publish"),
        ("broker", "broker_submit"),
        ("in memory", "in_memory"),
        ("flush (1/s)", "flush"),
    )
    database = (
        ("statements", "statements"),
        ("commits", "commit"),
        ("pre-pings", "ping"),
        ("resets", "rollback"),
        ("rest", "driver_rest"),
    )
    for title, names in (("", columns), ("  of which find_orders + write:", database)):
        if title:
            print(f"  {title}")
        print(f"    {'':10}" + "".join(f"{label:>13}" for label, _ in names))
        for batch in (1, 100):
            row = t[f"batch_{batch}"]["per_order_ms"]
            print(f"    {'batch ' + str(batch):10}" + "".join(f"{row.get(key, 0.0):>13.3f}" for _, key in names))
    for batch in (1, 100):
        counts = t[f"batch_{batch}"]["per_order_count"]
        print(
            f"    batch {batch:<3}: per order {counts.get('write', 0):.2f} transactions, "
            f"{counts.get('statements', 0):.1f} SQL statements, {counts.get('ping', 0):.2f} pre-pings, "
            f"{counts.get('publish', 0):.2f} outbox publishes"
        )
    print("latency through `python -m execution`: OrderRequest XADD -> Fill read from `fills` (ms)")
    for rate, row in result["latency_service"].items():
        for label, key in (
            ("request -> fill read", "request_to_fill_read"),
            ("  request -> match", "request_to_match"),
            ("  match -> fill read", "match_to_fill_read"),
            ("last {:g} s (steady state)", "steady_state_request_to_fill_read"),
        ):
            if key not in row:
                continue
            r = row[key]
            label = label.format(row.get("steady_state_last_s", 0))
            print(
                f"  {int(rate):>4}/s {label:27}: p50 {r['p50_ms']:9.3f}  p99 {r['p99_ms']:9.3f}  "
                f"p99.9 {r['p999_ms']:9.3f}  max {r['max_ms']:9.3f}  (n={r['count']:,})"
            )
        uow = row["unit_of_work"]
        within = uow.get("share_within_s", {})
        print(
            f"  {int(rate):>4}/s sent {row['rate_achieved_per_s']:,.1f}/s for {row['seconds']:g} s; last fill read "
            f"{row['last_fill_read_after_s']:.2f} s after the first request ({row['filled_per_s']:,.1f} filled/s): "
            + ("kept up" if row["kept_up"] else "DID NOT KEEP UP, a queue built and latency is mostly waiting in it")
        )
        print(
            f"  {int(rate):>4}/s oms_unit_of_work_seconds: {uow.get('count', 0):,} units, mean "
            f"{uow.get('mean_ms', 0):.3f} ms, within 1 ms {within.get('0.001', 0):.1%}, "
            f"within 2 ms {within.get('0.002', 0):.1%}, within 5 ms {within.get('0.005', 0):.1%}"
        )
    print("targets:", ", ".join(f"{k}={'PASS' if v else 'MISS'}" for k, v in result["targets"].items()))
    if not all(result["targets"].values()):
        print(
            f"  target missed on this machine ({machine['cpus']} CPUs shared by the OMS, PostgreSQL, Redis and the "
            "bench): every order waits for a synchronous PostgreSQL commit (one pipelined transaction), and under "
            "load for the unit of work in flight before it; see where an order's time goes above"
        )


def main() -> None:
    configure("bench", "WARNING")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer orders, rounds and seconds (under a minute)")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("--redis-url", help="use this Redis instead of starting an embedded one")
    parser.add_argument(
        "--database-url", help="a PostgreSQL server to create the bench's databases on, instead of an embedded one"
    )
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="aitrader-bench-oms-"))
    redis_server = postgres_server = None
    redis_url, server_url = args.redis_url, args.database_url
    try:
        if redis_url is None:
            redis_server = EmbeddedRedis(scratch / "redis", free_port(), persistent=False)
            redis_url = redis_server.start()
        if server_url is None:
            postgres_server = EmbeddedPostgres(scratch / "pg" / "data", free_port(), database="postgres")
            postgres_server.start()
            server_url = postgres_server.admin_url()
        result = run(server_url, redis_url, args.quick, scratch)
    except BaseException:
        print(f"the servers' and the service's logs are kept under {scratch}", file=sys.stderr)
        raise
    finally:
        if postgres_server is not None:
            postgres_server.stop()
        if redis_server is not None:
            redis_server.stop()
    shutil.rmtree(scratch, ignore_errors=True)  # a full run leaves a few hundred MB of PostgreSQL data
    result["servers_embedded"] = {"redis": redis_server is not None, "postgres": postgres_server is not None}
    print_report(result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
