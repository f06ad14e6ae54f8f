"""tick_replay benchmark: the max-speed publish rate beside redis-benchmark's XADD ceiling, in one run.

Each round, side by side on the same Redis:
- replay: tick_replay's Replayer at speed "max" over a Parquet file of the synthetic market, from file to
  stream (read, encode, append, EndOfData), as ``POST /replay`` runs it: through the Rust appender when the
  extension is built (``make setup`` builds it), and through the Python path too, for comparison;
- ceiling: ``redis-benchmark`` appending entries of the same size to a stream, one connection, pipelining
  1,000 XADDs (its best configuration here; 100 is printed too): what Redis itself takes.
Target (issue "Market data path"): replay >= 50% of the ceiling.

    python bench/replay.py [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from aitrader import runtime
from aitrader.bus import BusMetrics, Producer
from aitrader.contracts import encode
from aitrader.devstack.embedded import EmbeddedRedis
from aitrader.devstack.ports import free_port
from aitrader.log import configure
from aitrader.marketdata.schema import ticks_from_table
from aitrader.marketdata.synthetic import MarketConfig, write_sample_day
from tick_replay.native import load_appender
from tick_replay.replayer import Replayer, ReplayPlan
from tick_replay.sources import FileSource

CHUNK = 1000
TARGET = 0.5


async def replay_rate(url: str, path: Path, prefix: str, native: bool) -> tuple[float, int]:
    client = aioredis.Redis.from_url(url)
    producer = Producer(
        client, prefix=prefix, maxlen=None, pipeline_chunk=CHUNK, metrics=BusMetrics(CollectorRegistry())
    )
    replayer = Replayer(
        redis=client,
        producer=producer,
        chunk_size=CHUNK,
        maxlen=10_000_000,
        native=load_appender() if native else None,
        redis_url=url,
    )
    plan = ReplayPlan(source=FileSource(path, skip_bad=False), speed=None, wait_for_consumers=False)
    replayer.begin("bench", plan)
    started = time.perf_counter()
    await replayer.run(plan)
    elapsed = time.perf_counter() - started
    published = replayer.progress.published
    assert replayer.progress.state.value == "finished", replayer.progress
    await client.delete(f"{prefix}ticks")
    await client.aclose()
    return published / elapsed, published


def ceiling(port: int, payload_size: int, n: int, pipeline: int) -> float:
    """redis-benchmark XADD with ``pipeline`` commands in flight on one connection; requests per second."""
    key = f"bench:ceiling:{pipeline}"
    command = [
        "redis-benchmark", "-p", str(port), "-c", "1", "-n", str(n), "-P", str(pipeline), "-q",
        "XADD", key, "*", "d", "x" * payload_size,
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=300).stdout
    subprocess.run(["redis-cli", "-p", str(port), "DEL", key], capture_output=True, check=True)
    match = re.findall(r"([\d.]+) requests per second", output)
    if not match:
        raise RuntimeError(f"unexpected redis-benchmark output: {output[-300:]}")
    return float(match[-1])


def main() -> None:
    configure("bench", "WARNING")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer ticks and rounds (under a minute)")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args()
    if shutil.which("redis-benchmark") is None:
        sys.exit("redis-benchmark is not installed (Debian package redis-tools; `make setup` installs it)")
    ticks_target = 200_000 if args.quick else 1_200_000
    rounds = 3 if args.quick else 5
    workdir = Path(tempfile.mkdtemp(prefix="aitrader-bench-"))
    files = write_sample_day(workdir / "day", MarketConfig(seed=5, ticks_target=ticks_target))
    first = next(ticks_from_table(next(iter_tables(files.ticks_path))))
    payload = len(encode(first))
    server = EmbeddedRedis(workdir / "redis", free_port(), persistent=False)
    url = server.start()
    native = load_appender() is not None
    samples: dict[str, list[float]] = {"replay": [], "python_path": [], "ceiling_p1000": [], "ceiling_p100": []}
    published = 0
    try:
        for round_index in range(rounds):
            order = ("replay", "ceiling") if round_index % 2 == 0 else ("ceiling", "replay")
            for side in order:
                if side == "replay":
                    rate, published = runtime.run(replay_rate(url, files.ticks_path, f"r{round_index}:", native))
                    samples["replay"].append(rate)
                    python_rate, _ = runtime.run(replay_rate(url, files.ticks_path, f"p{round_index}:", False))
                    samples["python_path"].append(python_rate)
                else:
                    samples["ceiling_p1000"].append(
                        ceiling(server.port, payload, 400_000 if args.quick else 1_000_000, 1000)
                    )
                    samples["ceiling_p100"].append(ceiling(server.port, payload, 200_000, 100))
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    medians = {side: statistics.median(values) for side, values in samples.items()}
    best_ceiling = max(medians["ceiling_p1000"], medians["ceiling_p100"])
    result = {
        "benchmark": "replay",
        "quick": args.quick,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "ticks_per_round": published,
        "payload_bytes": payload,
        "rounds": rounds,
        "native_appender": native,
        "replay_ticks_per_s": round(medians["replay"]),
        "python_path_ticks_per_s": round(medians["python_path"]),
        "ceiling_xadd_per_s": round(best_ceiling),
        "ceiling_p100_xadd_per_s": round(medians["ceiling_p100"]),
        "ratio_replay_over_ceiling": round(medians["replay"] / best_ceiling, 3),
        "samples": {side: [round(x) for x in values] for side, values in samples.items()},
        "targets": {"replay_ge_half_the_ceiling": medians["replay"] / best_ceiling >= TARGET},
    }
    print(f"replay benchmark ({'quick' if args.quick else 'full'}): {published:,} ticks, {payload}-byte entries, "
          f"medians of {rounds} rounds")  # fmt: skip
    path = "native appender" if native else "Python path: the extension is not built"
    print(f"  tick_replay at max speed ({path})  {result['replay_ticks_per_s']:>10,} ticks/s")
    print(f"  tick_replay at max speed (Python path)           {result['python_path_ticks_per_s']:>10,} ticks/s")
    print(f"  redis-benchmark XADD, 1 conn, pipeline 1000      {result['ceiling_xadd_per_s']:>10,} /s  (ceiling)")
    print(f"  redis-benchmark XADD, 1 conn, pipeline 100       {result['ceiling_p100_xadd_per_s']:>10,} /s")
    print(f"  ratio replay / ceiling                           {result['ratio_replay_over_ceiling']:>10.3f}")
    print(f"  samples: {result['samples']}")
    print("targets:", ", ".join(f"{k}={'PASS' if v else 'MISS'}" for k, v in result["targets"].items()))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


def iter_tables(path: Path) -> Any:
    from aitrader.marketdata.files import TickFile

    return TickFile(path, batch_rows=10).batches()


if __name__ == "__main__":
    main()
