"""Bus benchmark: the aitrader bus beside raw redis-py doing the same work, in one run.

Figures (medians over rounds; raw and bus alternate which goes first in each round, so drift hits both):
- produce: messages/s appended in chunks of 1,000 (Producer.publish_many, one script call per chunk, vs
  raw redis-py pipelining 1,000 XADDs per round trip);
- consume: messages/s read and acknowledged by a consumer group (Consumer vs a raw XREADGROUP + XACK loop);
- one-hop latency: XADD in this process -> handler in another process, at 2,000 and 20,000 msg/s,
  p50 / p99 / p99.9 in microseconds, each the median of several short rounds' figures.
Both sides encode and decode the same msgspec Tick, so the ratio is the library's own overhead.
Targets (issue "Platform foundation"): bus >= 80% of raw throughput; one-hop p99 < 500 us at 2,000 msg/s.

    python bench/bus.py [--quick] [--json PATH] [--redis-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import msgspec
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from aitrader import runtime
from aitrader.bus import BusMetrics, Consumer, ConsumerConfig, Delivery, Producer
from aitrader.contracts import Tick, decode
from aitrader.devstack.embedded import EmbeddedRedis
from aitrader.devstack.ports import free_port
from aitrader.log import configure

STREAM = "bench:ticks"
GROUP = "bench"
CHUNK = 1000
BATCH = 500


def make_ticks(n: int) -> list[Tick]:
    return [
        Tick(
            ts_ns=1_700_000_000_000_000_000 + i,
            symbol="INFY",
            seq=i,
            ltp=1500.0 + (i % 100) * 0.05,
            ltq=10,
            volume=i * 10,
            bid=1499.95,
            ask=1500.05,
            bid_qty=100,
            ask_qty=120,
        )
        for i in range(n)
    ]


# -- produce -------------------------------------------------------------------------------------


async def produce_bus(client: aioredis.Redis, ticks: list[Tick]) -> float:
    producer = Producer(client, maxlen=None, pipeline_chunk=CHUNK, metrics=BusMetrics(CollectorRegistry()))
    start = time.perf_counter()
    await producer.publish_many(STREAM, ticks)
    return len(ticks) / (time.perf_counter() - start)


async def produce_raw(client: aioredis.Redis, ticks: list[Tick]) -> float:
    encoder = msgspec.msgpack.Encoder()
    start = time.perf_counter()
    for offset in range(0, len(ticks), CHUNK):
        pipe = client.pipeline(transaction=False)
        for tick in ticks[offset : offset + CHUNK]:
            pipe.xadd(STREAM, {b"d": encoder.encode(tick)})
        await pipe.execute()
    return len(ticks) / (time.perf_counter() - start)


# -- consume -------------------------------------------------------------------------------------


async def consume_bus(client: aioredis.Redis, n: int) -> float:
    group = f"bus-{uuid.uuid4().hex[:6]}"
    handled = 0
    finished = 0.0

    async def handle(delivery: Delivery[Tick]) -> None:
        nonlocal handled, finished
        handled += 1
        if handled == n:
            finished = time.perf_counter()
            consumer.stop()

    consumer = Consumer(
        client,
        stream=STREAM,
        group=group,
        consumer="bench-0",
        handler=handle,
        message_type=Tick,
        metrics=BusMetrics(CollectorRegistry()),
        config=ConsumerConfig(batch_size=BATCH, block_ms=100, claim_interval_ms=60_000),
    )
    await consumer.ensure_group()
    start = time.perf_counter()
    await consumer.run()
    await client.xgroup_destroy(STREAM, group)
    return n / (finished - start)


async def consume_raw(client: aioredis.Redis, n: int) -> float:
    group = f"raw-{uuid.uuid4().hex[:6]}"
    await client.xgroup_create(STREAM, group, id="0")
    handled = 0
    start = time.perf_counter()
    while handled < n:
        response = await client.xreadgroup(group, "raw-0", {STREAM: ">"}, count=BATCH, block=100)
        entries = response[0][1]
        for _, fields in entries:
            decode(fields[b"d"], Tick)
        await client.xack(STREAM, group, *[entry_id for entry_id, _ in entries])
        handled += len(entries)
    elapsed = time.perf_counter() - start
    await client.xgroup_destroy(STREAM, group)
    return n / elapsed


# -- one-hop latency -------------------------------------------------------------------------------


async def latency_consumer(url: str, stream: str, mode: str, expected: int, out: str) -> None:
    """Runs in its own process: receive ``expected`` ticks, record now - ts_ns for each, write them out."""
    client = aioredis.Redis.from_url(url)
    latencies: list[int] = []
    group = f"{mode}-lat"
    if mode == "bus":

        async def handle(delivery: Delivery[Tick]) -> None:
            latencies.append(time.time_ns() - delivery.message.ts_ns)
            if len(latencies) == expected:
                consumer.stop()

        consumer = Consumer(
            client,
            stream=stream,
            group=group,
            consumer="lat-0",
            handler=handle,
            message_type=Tick,
            metrics=BusMetrics(CollectorRegistry()),
            config=ConsumerConfig(batch_size=BATCH, block_ms=200, claim_interval_ms=60_000, start_id="$"),
        )
        await consumer.ensure_group()
        print("ready", flush=True)
        await consumer.run()
    else:
        await client.xgroup_create(stream, group, id="$", mkstream=True)
        print("ready", flush=True)
        while len(latencies) < expected:
            response = await client.xreadgroup(group, "lat-0", {stream: ">"}, count=BATCH, block=200)
            if not response:
                continue
            entries = response[0][1]
            for _, fields in entries:
                latencies.append(time.time_ns() - decode(fields[b"d"], Tick).ts_ns)
            await client.xack(stream, group, *[entry_id for entry_id, _ in entries])
    Path(out).write_text(json.dumps(latencies))
    await client.aclose()


async def paced_publish(client: aioredis.Redis, stream: str, mode: str, rate: int, count: int) -> None:
    """Publish ``count`` ticks at ``rate``/s: everything due is sent at once, stamped just before XADD."""
    producer = Producer(client, maxlen=None, metrics=BusMetrics(CollectorRegistry()))
    encoder = msgspec.msgpack.Encoder()
    interval = 1.0 / rate
    start = time.perf_counter()
    sent = 0
    while sent < count:
        due = min(count, int((time.perf_counter() - start) / interval) + 1)
        if due > sent:
            now = time.time_ns()
            ticks = [Tick(ts_ns=now, symbol="INFY", seq=i, ltp=1500.0) for i in range(sent, due)]
            if mode == "bus":
                if len(ticks) == 1:
                    await producer.publish(stream, ticks[0])
                else:
                    await producer.publish_many(stream, ticks)
            else:
                if len(ticks) == 1:
                    await client.xadd(stream, {b"d": encoder.encode(ticks[0])})
                else:
                    pipe = client.pipeline(transaction=False)
                    for tick in ticks:
                        pipe.xadd(stream, {b"d": encoder.encode(tick)})
                    await pipe.execute()
            sent = due
        else:
            await asyncio.sleep(max(0.0, start + sent * interval - time.perf_counter()))


def percentile(sorted_values: list[int], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index] / 1000.0


async def measure_latency(url: str, mode: str, rate: int, seconds: float) -> dict[str, float]:
    client = aioredis.Redis.from_url(url)
    stream = f"bench:lat:{mode}:{rate}:{uuid.uuid4().hex[:6]}"
    count = int(rate * seconds)
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = handle.name
    proc = subprocess.Popen(
        [sys.executable, __file__, "--latency-consumer", url, stream, mode, str(count), out],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        raise RuntimeError("latency consumer did not start")
    await paced_publish(client, stream, mode, rate, count)
    proc.wait(timeout=seconds * 10 + 30)
    proc.stdout.close()
    latencies = sorted(json.loads(Path(out).read_text()))
    os.unlink(out)
    await client.delete(stream)
    await client.aclose()
    return {
        "messages": len(latencies),
        "p50_us": percentile(latencies, 0.50),
        "p99_us": percentile(latencies, 0.99),
        "p999_us": percentile(latencies, 0.999),
    }


def latency_summary(runs: list[dict[str, float]]) -> dict[str, Any]:
    """Median over rounds of each percentile, with the per-round p99s for a look at the spread."""
    return {
        "messages": int(sum(run["messages"] for run in runs)),
        "rounds": len(runs),
        "p50_us": round(statistics.median(run["p50_us"] for run in runs), 1),
        "p99_us": round(statistics.median(run["p99_us"] for run in runs), 1),
        "p999_us": round(statistics.median(run["p999_us"] for run in runs), 1),
        "p99_us_by_round": [run["p99_us"] for run in runs],
    }


# -- driver --------------------------------------------------------------------------------------


async def run(url: str, quick: bool) -> dict[str, Any]:
    client = aioredis.Redis.from_url(url)
    redis_version = str((await client.info("server")).get("redis_version", "unknown"))
    rounds = 3 if quick else 5
    n = 20_000 if quick else 100_000
    ticks = make_ticks(n)
    produce: dict[str, list[float]] = {"bus": [], "raw": []}
    consume: dict[str, list[float]] = {"bus": [], "raw": []}
    for round_index in range(rounds):
        order = ("bus", "raw") if round_index % 2 == 0 else ("raw", "bus")
        for side in order:
            await client.delete(STREAM)
            produce[side].append(await (produce_bus if side == "bus" else produce_raw)(client, ticks))
        for side in order:
            consume[side].append(await (consume_bus if side == "bus" else consume_raw)(client, n))
    await client.delete(STREAM)
    await client.aclose()

    def summary(samples: dict[str, list[float]]) -> dict[str, Any]:
        bus, raw = statistics.median(samples["bus"]), statistics.median(samples["raw"])
        return {
            "bus_msgs_per_s": round(bus),
            "raw_msgs_per_s": round(raw),
            "ratio": round(bus / raw, 3),
            "rounds": rounds,
            "messages_per_round": n,
            "bus_samples": [round(x) for x in samples["bus"]],
            "raw_samples": [round(x) for x in samples["raw"]],
        }

    # Latency: several short rounds per rate, raw and bus alternating which goes first, so a burst of noise
    # on this small machine lands in one round of one side rather than in the whole figure; each
    # percentile is the median of the rounds' percentiles.
    seconds = 2.0 if quick else 6.0
    latency: dict[str, dict[str, Any]] = {}
    for rate in (2_000, 20_000):
        runs: dict[str, list[dict[str, float]]] = {"bus": [], "raw": []}
        for round_index in range(rounds):
            for mode in ("raw", "bus") if round_index % 2 == 0 else ("bus", "raw"):
                runs[mode].append(await measure_latency(url, mode, rate, seconds))
        latency[str(rate)] = {mode: latency_summary(samples) for mode, samples in runs.items()}
        latency[str(rate)]["p99_ratio_bus_over_raw"] = round(
            latency[str(rate)]["bus"]["p99_us"] / latency[str(rate)]["raw"]["p99_us"], 3
        )
    produce_summary, consume_summary = summary(produce), summary(consume)
    return {
        "benchmark": "bus",
        "quick": quick,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "redis": redis_version,
        },
        "produce": produce_summary,
        "consume": consume_summary,
        "one_hop_latency": latency,
        "targets": {
            "produce_ratio_ge_0.8": produce_summary["ratio"] >= 0.8,
            "consume_ratio_ge_0.8": consume_summary["ratio"] >= 0.8,
            "p99_at_2000_lt_500us": latency["2000"]["bus"]["p99_us"] < 500,
        },
    }


def print_report(result: dict[str, Any]) -> None:
    mode = "quick" if result["quick"] else "full"
    rounds = result["produce"]["rounds"]
    print(f"bus benchmark ({mode}, Redis {result['machine']['redis']}), medians of {rounds} rounds")
    print(f"{'':28}{'bus':>14}{'raw redis-py':>14}{'bus/raw':>10}")
    for name in ("produce", "consume"):
        row = result[name]
        print(f"{name + ' (msgs/s)':28}{row['bus_msgs_per_s']:>14,}{row['raw_msgs_per_s']:>14,}{row['ratio']:>10.3f}")
    print("one-hop latency XADD -> handler in another process (us), median of the rounds' percentiles")
    for rate, row in result["one_hop_latency"].items():
        for mode in ("bus", "raw"):
            r = row[mode]
            print(
                f"  {int(rate):>6,}/s {mode:>4}: p50 {r['p50_us']:8.1f}  p99 {r['p99_us']:8.1f}  "
                f"p99.9 {r['p999_us']:8.1f}  (n={r['messages']:,} in {r['rounds']} rounds; "
                f"p99 by round {', '.join(f'{x:.0f}' for x in r['p99_us_by_round'])})"
            )
        print(f"  {int(rate):>6,}/s p99 bus/raw: {row['p99_ratio_bus_over_raw']:.3f}")
    print("targets:", ", ".join(f"{k}={'PASS' if v else 'MISS'}" for k, v in result["targets"].items()))


def main() -> None:
    configure("bench", "WARNING")
    if len(sys.argv) > 1 and sys.argv[1] == "--latency-consumer":
        url, stream, mode, expected, out = sys.argv[2:7]
        runtime.run(latency_consumer(url, stream, mode, int(expected), out))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and shorter runs (under a minute)")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("--redis-url", help="use this Redis instead of starting an embedded one")
    args = parser.parse_args()
    server = None
    url = args.redis_url
    if url is None:
        server = EmbeddedRedis(
            Path(tempfile.mkdtemp(prefix="aitrader-bench-")) / "redis", free_port(), persistent=False
        )
        url = server.start()
    try:
        result = runtime.run(run(url, args.quick))
    finally:
        if server is not None:
            server.stop()
    result["redis_url_embedded"] = server is not None
    print_report(result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
