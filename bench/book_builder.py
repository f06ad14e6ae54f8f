"""book_builder benchmark: ticks/s from the `ticks` stream to book updates and bars written back, end to end.

Each round fills a stream with the same ticks (the synthetic market), then times, side by side:
- book_builder: its consumer (batch reads, acks) and service (books, VWAP, bars, publishing ``book`` and
  ``bars``) until every tick is handled — what ``python -m book_builder`` runs, without the HTTP server and
  with 1-minute bars kept out of PostgreSQL (they are a few hundred rows a day);
- baseline: a raw XREADGROUP + decode + XACK loop over the same stream, doing no work: the ceiling for any
  consumer in Python here.
Target (issue "Market data path"): >= 50,000 ticks/s on one process.

    python bench/book_builder.py [--quick] [--json PATH] [--redis-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

# This script has the name of the package it measures: keep its own directory off the import path.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).resolve().parent]

import redis.asyncio as aioredis  # noqa: E402
from prometheus_client import CollectorRegistry  # noqa: E402

from aitrader import runtime  # noqa: E402
from aitrader.bus import BusMetrics, Consumer, ConsumerConfig, Producer  # noqa: E402
from aitrader.contracts import TickStreamMessage, decode  # noqa: E402
from aitrader.devstack.embedded import EmbeddedRedis  # noqa: E402
from aitrader.devstack.ports import free_port  # noqa: E402
from aitrader.log import configure  # noqa: E402
from aitrader.marketdata.schema import ticks_from_table  # noqa: E402
from aitrader.marketdata.synthetic import MarketConfig, generate_market  # noqa: E402
from book_builder.service import BookBuilderService, BookMetrics  # noqa: E402

BATCH = 1000
TARGET = 50_000


async def fill(client: aioredis.Redis, key: str, ticks: list[Any]) -> None:
    await client.delete(key)
    producer = Producer(client, maxlen=None, metrics=BusMetrics(CollectorRegistry()))
    await producer.publish_many(key, ticks)


async def run_book_builder(client: aioredis.Redis, key: str, n: int) -> float:
    prefix = f"bench{uuid.uuid4().hex[:6]}:"
    producer = Producer(client, prefix=prefix, maxlen=None, metrics=BusMetrics(CollectorRegistry()))
    service = BookBuilderService(
        producer=producer, bar_store=None, stale_after_s=3600, metrics=BookMetrics(CollectorRegistry())
    )
    handled = 0
    finished = 0.0

    async def handle(deliveries: list[Any]) -> None:
        nonlocal handled, finished
        await service.handle(deliveries)
        handled += len(deliveries)
        if handled >= n:
            finished = time.perf_counter()
            consumer.stop()

    group = f"bb-{uuid.uuid4().hex[:6]}"
    consumer: Consumer[Any] = Consumer(
        client,
        stream=key,
        group=group,
        consumer="bench-0",
        batch_handler=handle,
        message_type=TickStreamMessage,
        config=ConsumerConfig(batch_size=BATCH, block_ms=100, claim_interval_ms=600_000),
        metrics=BusMetrics(CollectorRegistry()),
    )
    await consumer.ensure_group()
    start = time.perf_counter()
    await consumer.run()
    rate = n / (finished - start)
    assert service.book.counters.ticks == n, service.book.counters
    await client.xgroup_destroy(key, group)
    for stream in ("book", "bars", "feed_status"):
        await client.delete(prefix + stream)
    return rate


async def run_baseline(client: aioredis.Redis, key: str, n: int) -> float:
    group = f"raw-{uuid.uuid4().hex[:6]}"
    await client.xgroup_create(key, group, id="0")
    handled = 0
    start = time.perf_counter()
    while handled < n:
        response = await client.xreadgroup(group, "raw-0", {key: ">"}, count=BATCH, block=100)
        entries = response[0][1]
        for _, fields in entries:
            decode(fields[b"d"], TickStreamMessage)
        await client.xack(key, group, *[entry_id for entry_id, _ in entries])
        handled += len(entries)
    elapsed = time.perf_counter() - start
    await client.xgroup_destroy(key, group)
    return n / elapsed


async def run(url: str, quick: bool) -> dict[str, Any]:
    client = aioredis.Redis.from_url(url)
    n = 150_000 if quick else 600_000
    rounds = 3 if quick else 5
    day = generate_market(MarketConfig(seed=11, ticks_target=n))
    ticks = list(ticks_from_table(day.ticks))
    n = len(ticks)
    key = "bench:ticks"
    await fill(client, key, ticks)
    samples: dict[str, list[float]] = {"book_builder": [], "baseline": []}
    for round_index in range(rounds):
        order = ("book_builder", "baseline") if round_index % 2 == 0 else ("baseline", "book_builder")
        for side in order:
            runner = run_book_builder if side == "book_builder" else run_baseline
            samples[side].append(await runner(client, key, n))
    await client.delete(key)
    await client.aclose()
    book, base = statistics.median(samples["book_builder"]), statistics.median(samples["baseline"])
    return {
        "benchmark": "book_builder",
        "quick": quick,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "ticks_per_round": n,
        "symbols": day.ticks.column("symbol").unique().to_pylist().__len__(),
        "rounds": rounds,
        "book_builder_ticks_per_s": round(book),
        "baseline_ticks_per_s": round(base),
        "ratio_book_builder_over_baseline": round(book / base, 3),
        "samples": {side: [round(x) for x in values] for side, values in samples.items()},
        "targets": {"book_builder_ge_50000_ticks_per_s": book >= TARGET},
    }


def main() -> None:
    configure("bench", "WARNING")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer ticks and rounds (under a minute)")
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
    print(
        f"book_builder benchmark ({'quick' if args.quick else 'full'}): {result['ticks_per_round']:,} ticks of "
        f"{result['symbols']} symbols, medians of {result['rounds']} rounds"
    )
    print(f"  book_builder (books, VWAP, bars, publish, ack)  {result['book_builder_ticks_per_s']:>10,} ticks/s")
    print(f"  baseline (XREADGROUP + decode + XACK only)     {result['baseline_ticks_per_s']:>10,} ticks/s")
    print(f"  ratio book_builder / baseline                  {result['ratio_book_builder_over_baseline']:>10.3f}")
    print(f"  samples: {result['samples']}")
    print("targets:", ", ".join(f"{k}={'PASS' if v else 'MISS'}" for k, v in result["targets"].items()))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
