from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import msgspec
import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from aitrader.bus import BusMetrics, Consumer, ConsumerConfig, Delivery, Producer
from aitrader.contracts import TICKS, Tick, decode, stream_key

CONSUMER_PROCESS = Path(__file__).with_name("consumer_process.py")
FAST = ConsumerConfig(batch_size=100, block_ms=50, claim_idle_ms=100, claim_interval_ms=50, max_deliveries=3)


def tick(seq: int) -> Tick:
    return Tick(ts_ns=1_700_000_000_000_000_000 + seq, symbol="INFY", seq=seq, ltp=1500.0 + seq * 0.05)


@pytest.fixture(params=["redis6", "redis7"])
def redis_url(request: pytest.FixtureRequest) -> str:
    """Every bus test runs on Redis 6.2 and on 7.x: their XAUTOCLAIM and XINFO replies differ."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    connection = aioredis.Redis.from_url(redis_url)
    version = (await connection.info("server"))["redis_version"]
    assert version.split(".")[0] in ("6", "7", "8"), version
    yield connection
    await connection.aclose()


@pytest.fixture
def metrics() -> BusMetrics:
    return BusMetrics(CollectorRegistry())


@pytest.fixture
def producer(client: aioredis.Redis, stream_prefix: str, metrics: BusMetrics) -> Producer:
    return Producer(client, prefix=stream_prefix, metrics=metrics)


def make_consumer(
    client: aioredis.Redis,
    stream: str,
    handler: Callable[[Delivery[Tick]], object],
    metrics: BusMetrics,
    name: str = "test-host-0",
    config: ConsumerConfig = FAST,
) -> Consumer[Tick]:
    return Consumer(
        client,
        stream=stream,
        group="testers",
        consumer=name,
        handler=handler,  # type: ignore[arg-type]
        message_type=Tick,
        config=config,
        metrics=metrics,
    )


async def run_until(consumer: Consumer[Tick], done: Callable[[], bool], timeout_s: float = 30.0) -> None:
    task = asyncio.create_task(consumer.run())
    deadline = time.monotonic() + timeout_s
    try:
        while not done():
            if task.done():
                task.result()
            assert time.monotonic() < deadline, "condition not reached in time"
            await asyncio.sleep(0.01)
    finally:
        consumer.stop()
        await asyncio.wait_for(task, 5)


async def test_ten_thousand_messages_through_a_group_of_two_are_each_handled_once(
    client: aioredis.Redis, producer: Producer, stream_prefix: str, metrics: BusMetrics
) -> None:
    stream = stream_key(TICKS, stream_prefix)
    ids = await producer.publish_many(TICKS, (tick(i) for i in range(10_000)))
    assert len(ids) == 10_000 and ids == sorted(ids, key=lambda i: tuple(map(int, i.split(b"-"))))
    seen: dict[str, list[int]] = {"a": [], "b": []}

    def handler_for(name: str) -> Callable[[Delivery[Tick]], object]:
        async def handle(delivery: Delivery[Tick]) -> None:
            seen[name].append(delivery.message.seq)

        return handle

    a = make_consumer(client, stream, handler_for("a"), metrics, name="a")
    b = make_consumer(client, stream, handler_for("b"), metrics, name="b")
    tasks = [asyncio.create_task(a.run()), asyncio.create_task(b.run())]
    deadline = time.monotonic() + 30
    while len(seen["a"]) + len(seen["b"]) < 10_000:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    a.stop()
    b.stop()
    await asyncio.gather(*tasks)

    handled = seen["a"] + seen["b"]
    assert sorted(handled) == list(range(10_000))
    assert seen["a"] == sorted(seen["a"]) and seen["b"] == sorted(seen["b"])  # order kept within a consumer
    stats = await a.stats()
    assert stats.pending == 0 and stats.lag == 0
    assert metrics.handled.labels(stream, "testers")._value.get() == 10_000


async def test_json_message_injected_by_hand_is_handled(
    client: aioredis.Redis, producer: Producer, stream_prefix: str, metrics: BusMetrics
) -> None:
    stream = stream_key(TICKS, stream_prefix)
    await producer.publish_fields(TICKS, {"j": '{"ts_ns": 5, "symbol": "TCS", "ltp": 3999.95, "seq": 7}'})
    got: list[Tick] = []

    async def handle(delivery: Delivery[Tick]) -> None:
        got.append(delivery.message)

    await run_until(make_consumer(client, stream, handle, metrics), lambda: len(got) == 1)
    assert got == [Tick(ts_ns=5, symbol="TCS", ltp=3999.95, seq=7)]


async def test_undecodable_and_always_failing_messages_are_dead_lettered_while_the_consumer_keeps_going(
    client: aioredis.Redis, producer: Producer, stream_prefix: str, metrics: BusMetrics
) -> None:
    stream = stream_key(TICKS, stream_prefix)
    await producer.publish(TICKS, tick(1))
    await producer.publish_fields(TICKS, {"d": b"\xc1 not msgpack"})
    await producer.publish_fields(TICKS, {"j": '{"ts_ns": 1, "symbol": "X", "ltp": -3}'})
    await producer.publish(TICKS, tick(666))  # the handler always fails on this one
    await producer.publish(TICKS, tick(2))
    handled: list[int] = []
    attempts: list[int] = []

    async def handle(delivery: Delivery[Tick]) -> None:
        if delivery.message.seq == 666:
            attempts.append(delivery.deliveries)
            raise RuntimeError("broker unreachable")
        handled.append(delivery.message.seq)

    async def dead_count() -> int:
        return int(await client.xlen(f"{stream}:dead"))

    dead_seen = 0

    def done() -> bool:
        return dead_seen == 3

    consumer = make_consumer(client, stream, handle, metrics)
    task = asyncio.create_task(consumer.run())
    deadline = time.monotonic() + 20
    while dead_seen < 3:
        assert time.monotonic() < deadline, f"dead letters: {dead_seen}"
        await asyncio.sleep(0.05)
        dead_seen = await dead_count()
    await producer.publish(TICKS, tick(3))  # still consuming after all that
    while 3 not in handled:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    consumer.stop()
    await task

    assert handled == [1, 2, 3]
    assert attempts == [1, 2, 3]  # max_deliveries=3, then dead
    dead = await client.xrange(f"{stream}:dead")
    by_reason = {fields[b"reason"]: fields for _, fields in dead}
    assert set(by_reason) == {b"undecodable", b"max_deliveries"} and len(dead) == 3
    undecodable = [f for _, f in dead if f[b"reason"] == b"undecodable"]
    assert undecodable[0][b"d"] == b"\xc1 not msgpack"  # the original payload is kept for inspection
    assert b"$.ltp" in undecodable[1][b"error"]
    failing = by_reason[b"max_deliveries"]
    assert b"RuntimeError: broker unreachable" in failing[b"error"]
    assert msgspec.msgpack.decode(failing[b"d"])["seq"] == 666
    assert failing[b"source_stream"] == stream.encode() and failing[b"group"] == b"testers"
    stats = await consumer.stats()
    assert stats.pending == 0
    assert metrics.dead_lettered.labels(stream, "testers", "undecodable")._value.get() == 2


async def test_consumer_restarted_under_its_own_name_resumes_its_pending_entries(
    client: aioredis.Redis, producer: Producer, stream_prefix: str, metrics: BusMetrics
) -> None:
    stream = stream_key(TICKS, stream_prefix)
    await producer.publish_many(TICKS, [tick(i) for i in range(5)])
    slow = ConsumerConfig(batch_size=100, block_ms=50, claim_idle_ms=600_000, claim_interval_ms=50)
    # Deliver all five to "svc-host-0" without acknowledging them, as if it died before its handler ran.
    await client.xgroup_create(stream, "testers", id="0")
    await client.xreadgroup("testers", "svc-host-0", {stream: ">"}, count=100)
    handled: list[tuple[int, int]] = []

    async def handle(delivery: Delivery[Tick]) -> None:
        handled.append((delivery.message.seq, delivery.deliveries))

    consumer = make_consumer(client, stream, handle, metrics, name="svc-host-0", config=slow)
    await run_until(consumer, lambda: len(handled) == 5)
    assert handled == [(i, 2) for i in range(5)]  # without waiting for claim_idle_ms
    assert (await consumer.stats()).pending == 0


async def test_consumer_recreates_its_group_when_the_stream_is_deleted(
    client: aioredis.Redis, producer: Producer, stream_prefix: str, metrics: BusMetrics
) -> None:
    stream = stream_key(TICKS, stream_prefix)
    handled: list[int] = []

    async def handle(delivery: Delivery[Tick]) -> None:
        handled.append(delivery.message.seq)

    consumer = make_consumer(client, stream, handle, metrics)
    task = asyncio.create_task(consumer.run())
    await producer.publish(TICKS, tick(1))
    deadline = time.monotonic() + 10
    while handled != [1]:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    await client.delete(stream)
    await asyncio.sleep(0.2)
    await producer.publish(TICKS, tick(2))
    while handled != [1, 2]:
        assert time.monotonic() < deadline, handled
        await asyncio.sleep(0.01)
    consumer.stop()
    await task


async def test_lag_and_pending_are_reported_on_this_redis(
    client: aioredis.Redis, producer: Producer, stream_prefix: str, metrics: BusMetrics
) -> None:
    stream = stream_key(TICKS, stream_prefix)
    await producer.publish_many(TICKS, [tick(i) for i in range(10)])
    consumer = make_consumer(client, stream, lambda d: asyncio.sleep(0), metrics)
    await consumer.ensure_group()
    await client.xreadgroup("testers", "other", {stream: ">"}, count=4)
    stats = await consumer.publish_stats()
    assert (stats.lag, stats.pending) == (6, 4) and stats.lag_ms >= 0
    assert metrics.lag.labels(stream, "testers")._value.get() == 6


async def test_entry_trimmed_while_pending_is_acknowledged_not_retried_forever(
    client: aioredis.Redis, producer: Producer, stream_prefix: str, metrics: BusMetrics
) -> None:
    stream = stream_key(TICKS, stream_prefix)
    ids = await producer.publish_many(TICKS, [tick(i) for i in range(3)])
    await client.xgroup_create(stream, "testers", id="0")
    await client.xreadgroup("testers", "dead-host-0", {stream: ">"}, count=100)
    await client.xdel(stream, ids[1])
    handled: list[int] = []

    async def handle(delivery: Delivery[Tick]) -> None:
        handled.append(delivery.message.seq)

    consumer = make_consumer(client, stream, handle, metrics)
    await asyncio.sleep(0.15)  # past claim_idle_ms
    await run_until(consumer, lambda: len(handled) == 2)
    deadline = time.monotonic() + 5
    while (await consumer.stats()).pending:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert handled == [0, 2]


def start_consumer_process(
    redis_url: str, stream: str, name: str, delay_ms: int, batch: int, stall_at_seq: int = -1
) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            str(CONSUMER_PROCESS),
            redis_url,
            stream,
            "testers",
            name,
            str(delay_ms),
            "300",
            str(batch),
            str(stall_at_seq),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


async def wait_handled(client: aioredis.Redis, stream: str, at_least: int, timeout_s: float = 60) -> dict[int, int]:
    deadline = time.monotonic() + timeout_s
    while True:
        raw = await client.hgetall(f"{stream}:handled")
        if len(raw) >= at_least:
            return {int(k): int(v) for k, v in raw.items()}
        assert time.monotonic() < deadline, f"handled {len(raw)} of {at_least}"
        await asyncio.sleep(0.02)


async def test_consumer_killed_mid_batch_loses_nothing_a_second_consumer_takes_over(
    client: aioredis.Redis, producer: Producer, stream_prefix: str, redis_url: str
) -> None:
    stream = stream_key(TICKS, stream_prefix)
    total, batch, stall_at = 2000, 50, 325
    await producer.publish_many(TICKS, [tick(i) for i in range(total)])
    # The first consumer stalls inside its handler halfway through a batch, and is killed there.
    first = start_consumer_process(redis_url, stream, "svc-host-0", delay_ms=1, batch=batch, stall_at_seq=stall_at)
    await wait_handled(client, stream, at_least=stall_at + 1)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    first.stdout.close()  # type: ignore[union-attr]
    pending_of_dead = [
        row
        for row in await client.xpending_range(stream, "testers", "-", "+", 10_000)
        if row["consumer"] == b"svc-host-0"
    ]
    assert pending_of_dead, "the kill should have left a batch pending"

    second = start_consumer_process(redis_url, stream, "svc-host-1", delay_ms=0, batch=batch)
    try:
        handled = await wait_handled(client, stream, at_least=total)
        deadline = time.monotonic() + 10
        while (await client.xinfo_groups(stream))[0]["pending"]:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    finally:
        second.send_signal(signal.SIGTERM)
        exit_code = second.wait(10)
        second.stdout.close()  # type: ignore[union-attr]
    assert exit_code == 0  # graceful stop on SIGTERM

    assert sorted(handled) == list(range(total))  # none lost
    duplicates = {seq for seq, times in handled.items() if times > 1}
    # At least once: only what the dead consumer had handled of the batch in its hands is handled twice.
    assert stall_at in duplicates
    assert all(stall_at - batch < seq <= stall_at for seq in duplicates)


async def test_publish_many_appends_in_order_in_chunks_and_keeps_the_stream_near_maxlen(
    client: aioredis.Redis, stream_prefix: str, metrics: BusMetrics
) -> None:
    producer = Producer(client, prefix=stream_prefix, maxlen=1_000, pipeline_chunk=700, metrics=metrics)
    stream = stream_key(TICKS, stream_prefix)

    ids = await producer.publish_many(TICKS, [tick(i) for i in range(5_000)])

    assert len(ids) == 5_000 and len(set(ids)) == 5_000
    entries = await client.xrange(stream, min=ids[-3], max="+")
    assert [decode(fields[b"d"], Tick).seq for _, fields in entries] == [4_997, 4_998, 4_999]
    length = await client.xlen(stream)
    assert 1_000 <= length < 5_000  # MAXLEN ~ trims whole nodes: at least maxlen stay, the rest goes
    assert metrics.published.labels(TICKS)._value.get() == 5_000


async def test_publish_many_of_nothing_appends_nothing(producer: Producer, client: aioredis.Redis) -> None:
    assert await producer.publish_many(TICKS, []) == []
    assert await client.exists(producer.key(TICKS)) == 0


async def test_a_batch_handler_gets_whole_reads_and_a_poison_message_is_isolated_and_dead_lettered(
    client: aioredis.Redis, producer: Producer, stream_prefix: str, metrics: BusMetrics
) -> None:
    stream = stream_key(TICKS, stream_prefix)
    await producer.publish_many(TICKS, [tick(i) for i in range(1, 6)])
    await producer.publish_fields(TICKS, {"d": b"\xc1 not msgpack"})
    await producer.publish_many(TICKS, [tick(666), tick(7)])
    batch_sizes: list[int] = []
    handled: list[int] = []

    async def handle_batch(deliveries: list[Delivery[Tick]]) -> None:
        batch_sizes.append(len(deliveries))
        if any(d.message.seq == 666 for d in deliveries):
            raise RuntimeError("cannot store 666")
        handled.extend(d.message.seq for d in deliveries)

    consumer: Consumer[Tick] = Consumer(
        client,
        stream=stream,
        group="testers",
        consumer="batch-host-0",
        batch_handler=handle_batch,
        message_type=Tick,
        config=FAST,
        metrics=metrics,
    )
    task = asyncio.create_task(consumer.run())
    deadline = time.monotonic() + 20
    while await client.xlen(f"{stream}:dead") < 2 or len(handled) < 6:
        assert time.monotonic() < deadline, f"handled {handled}"
        await asyncio.sleep(0.02)
    consumer.stop()
    await asyncio.wait_for(task, 5)

    assert sorted(handled) == [1, 2, 3, 4, 5, 7]
    assert batch_sizes[0] == 7  # one read: 8 entries, the undecodable one dead-lettered before the handler
    assert batch_sizes[1:8] == [1] * 7  # then once per message, to isolate the failing one
    reasons = sorted(fields[b"reason"] for _, fields in await client.xrange(f"{stream}:dead"))
    assert reasons == [b"max_deliveries", b"undecodable"]
    assert (await consumer.stats()).pending == 0


def test_a_consumer_needs_exactly_one_kind_of_handler(client: aioredis.Redis) -> None:
    async def handle(delivery: Delivery[Tick]) -> None: ...

    async def handle_batch(deliveries: list[Delivery[Tick]]) -> None: ...

    with pytest.raises(ValueError, match="exactly one of handler"):
        Consumer(client, stream="s", group="g", consumer="c")
    with pytest.raises(ValueError, match="exactly one of handler"):
        Consumer(client, stream="s", group="g", consumer="c", handler=handle, batch_handler=handle_batch)
