"""Pattern engine benchmark: compute per tick, three ways, and tick -> signal latency over Redis.

Compute (one thread, the synthetic market's ticks, the packaged default config, every detector on):
- rust batch: ``PatternEngine.on_batch`` over numpy columns (the service's and the backtest's path);
- rust per tick: ``PatternEngine.on_tick`` called from Python with one ``Tick`` at a time;
- python: the pure-Python reference (``pattern_engine.reference``) on the same ticks, already converted to
  its input (``tick_input``), so the ratio compares the detectors' work and not message conversion.
Each is timed over the same ticks in rounds, each round with a fresh engine; medians are printed with the
ratios between them. Targets (issue "Pattern engine"): rust batch >= 20 M ticks/s and >= 50x the reference.

Ground truth: recall and false positives per hour of each detector on the generator's labelled days (the
sample day of `aitrader data sample` and the generator's default day, 36 episodes of each single-symbol kind
each; a day of 30 pair episodes), as the tests check them.

Latency: ``python -m pattern_engine`` runs as its own process against an embedded Redis; ticks stamped with
the wall clock go onto ``ticks`` at 10,000 ticks/s, and a reader on ``signals`` takes, for each signal,
receive time - tick time. A sensitive config (thresholds near zero, 1 s cooldowns) makes signals frequent
enough for a p99. Side by side, the same load through a bare relay process (read a tick, publish it on, ack)
gives the bus's own floor. Target: tick -> signal p99 < 1 ms.

    python bench/pattern_engine.py [--quick] [--json PATH]
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
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

# This script has the name of the package it measures: keep its own directory off the import path.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).resolve().parent]

import httpx  # noqa: E402
import msgspec  # noqa: E402
import numpy as np  # noqa: E402
import redis.asyncio as aioredis  # noqa: E402
from prometheus_client import CollectorRegistry  # noqa: E402

from aitrader import runtime  # noqa: E402
from aitrader.bus import BusMetrics, Producer  # noqa: E402
from aitrader.contracts import EndOfData, Signal, Tick, decode  # noqa: E402
from aitrader.devstack.embedded import EmbeddedRedis  # noqa: E402
from aitrader.devstack.ports import free_port  # noqa: E402
from aitrader.marketdata.schema import ticks_from_table  # noqa: E402
from aitrader.marketdata.synthetic import MarketConfig, generate_market  # noqa: E402
from pattern_engine.config import load_config  # noqa: E402
from pattern_engine.native import RustEngine, engine_columns, native_module  # noqa: E402
from pattern_engine.reference import ReferenceEngine, tick_input  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_ROOT / "pattern_engine" / "default.toml"
TARGET_TICKS_PER_S = 20_000_000
TARGET_RATIO = 50.0
TARGET_P99_MS = 1.0
RATE = 10_000
PUBLISH_EVERY_S = 0.001
BATCH_ROWS = 100_000
SENSITIVE = """
warmup_s = 5
volatility_tau_s = 60
volume_tau_s = 60
[momentum_burst]
window_s = 3
k = 1.5
volume_surge = 0.8
cooldown_s = 2
[mean_reversion]
ewma_tau_s = 10
z = 2.0
rearm_z = 1.0
max_volume_surge = 50.0
cooldown_s = 2
[book_imbalance]
threshold = 0.45
persist_ticks = 2
cooldown_s = 2
[vwap_deviation]
threshold_bps = 5.0
rearm_bps = 2.0
cooldown_s = 2
"""
"""Thresholds low enough that signals come every few ticks, at times set by the ticks, not by the clock."""


def _median_rate(seconds: list[float], ticks: int) -> dict[str, float]:
    median = statistics.median(seconds)
    return {"ticks_per_s": ticks / median, "ns_per_tick": median / ticks * 1e9, "rounds": len(seconds)}


def compute(quick: bool) -> dict[str, Any]:
    module = native_module()
    if module is None:
        raise SystemExit("the Rust extension is not built: run `make setup`")
    config = load_config(DEFAULT_CONFIG)
    # The sample day's density (about 4 ticks/s per instrument) in both modes: per tick, the engine's cost
    # includes closing the seconds since the symbol's last tick, so a sparser day costs more per tick.
    table = generate_market(MarketConfig()).ticks
    columns = [engine_columns(table.slice(start, BATCH_ROWS)) for start in range(0, table.num_rows, BATCH_ROWS)]
    per_tick_rows = 100_000 if quick else 300_000
    ticks: list[Tick] = list(ticks_from_table(table.slice(0, per_tick_rows)))
    inputs = [(tick.symbol, tick_input(tick)) for tick in ticks]
    rounds = 3 if quick else 5
    batch_s, per_tick_s, python_s = [], [], []
    signals = 0
    for _ in range(rounds):
        engine = RustEngine(config).native
        started = time.perf_counter()
        for arrays in columns:
            signals += len(engine.on_batch(**arrays))
        batch_s.append(time.perf_counter() - started)

        engine = RustEngine(config).native
        on_tick = engine.on_tick
        started = time.perf_counter()
        for tick in ticks:
            on_tick(tick)
        per_tick_s.append(time.perf_counter() - started)

        reference = ReferenceEngine(config)
        process = reference.process
        out: list[Any] = []
        started = time.perf_counter()
        for symbol, tick_in in inputs:
            process(symbol, tick_in, out)
        python_s.append(time.perf_counter() - started)

    batch = _median_rate(batch_s, table.num_rows)
    per_tick = _median_rate(per_tick_s, len(ticks))
    python = _median_rate(python_s, len(inputs))
    return {
        "ticks": table.num_rows,
        "signals_per_round": signals // rounds,
        "rust_batch": batch,
        "rust_per_tick_from_python": per_tick,
        "python_reference": python,
        "ratio_batch_vs_python": batch["ticks_per_s"] / python["ticks_per_s"],
        "ratio_batch_vs_per_tick": batch["ticks_per_s"] / per_tick["ticks_per_s"],
        "target_ticks_per_s": TARGET_TICKS_PER_S,
        "target_ratio": TARGET_RATIO,
        "pass": batch["ticks_per_s"] >= TARGET_TICKS_PER_S
        and batch["ticks_per_s"] / python["ticks_per_s"] >= TARGET_RATIO,
    }


def ground_truth() -> dict[str, Any]:
    from aitrader.marketdata.synthetic import SESSION_SECONDS, PatternKind
    from pattern_engine.evaluation import labels_from_table, score

    config = load_config(DEFAULT_CONFIG)
    results: dict[str, Any] = {}
    days = {
        "sample_day": MarketConfig(seed=7),
        "default_day": MarketConfig(),
        "pair_day": MarketConfig(seed=11, patterns=(PatternKind.PAIR_SPREAD,), episodes_per_kind=30),
    }
    for name, market in days.items():
        day = generate_market(market)
        engine = RustEngine(config)
        detections = [
            detection
            for start in range(0, day.ticks.num_rows, BATCH_ROWS)
            for detection in engine.on_batch(day.ticks.slice(start, BATCH_ROWS))
        ]
        scores = score(detections, labels_from_table(day.labels), session_hours=SESSION_SECONDS / 3600)
        results[name] = {pattern: result.as_dict() for pattern, result in scores.items() if result.planted}
    return results


# -- latency over Redis ------------------------------------------------------------------------------------

RELAY = textwrap.dedent(
    """
    import sys, redis.asyncio as aioredis
    from aitrader import runtime
    async def main(url, source, sink):
        client = aioredis.Redis.from_url(url)
        await client.xgroup_create(source, "relay", id="0", mkstream=True)
        while True:
            reply = await client.xreadgroup("relay", "relay-0", {source: ">"}, count=1000, block=100)
            for _, entries in reply or []:
                pipe = client.pipeline(transaction=False)
                for entry_id, fields in entries:
                    pipe.xadd(sink, fields)
                    pipe.xack(source, "relay", entry_id)
                await pipe.execute()
    runtime.run(main(*sys.argv[1:]))
    """
)


def _wait_healthy(port: int, process: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the pattern engine exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("the pattern engine did not become healthy")


async def _publish_paced(url: str, key: str, pool: list[Tick], seconds: float) -> int:
    """Publish ``pool``'s ticks at RATE/s for ``seconds``: all that is due at once, each stamped just before."""
    client = aioredis.Redis.from_url(url)
    producer = Producer(client, maxlen=None, metrics=BusMetrics(CollectorRegistry()))
    interval = 1.0 / RATE
    count = int(seconds * RATE)
    start = time.perf_counter()
    sent = 0
    while sent < count:
        due = min(count, int((time.perf_counter() - start) / interval) + 1)
        if due > sent:
            now = time.time_ns()
            ticks = [msgspec.structs.replace(pool[index % len(pool)], ts_ns=now) for index in range(sent, due)]
            await producer.publish_many(key, ticks)
            sent = due
        # Ticks are stamped when sent, so sending each millisecond's at once adds nothing to what is measured,
        # and it spares the two cores a busy publisher.
        await asyncio.sleep(max(0.0, start + sent * interval + PUBLISH_EVERY_S - time.perf_counter()))
    await client.aclose()
    return sent


async def _read_latencies(url: str, key: str, seconds: float, out: str) -> None:
    """Runs in its own process: for ``seconds``, each new entry of ``key`` gives now - its tick's time (ns),
    and for a signal also its own stamp - its tick's time: when the engine emitted it."""
    client = aioredis.Redis.from_url(url)
    received: list[int] = []
    emitted: list[int] = []
    last = "$"
    print("ready", flush=True)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        reply = await client.xread({key: last}, count=1_000, block=100)
        now = time.time_ns()
        for _, entries in reply or []:
            for entry_id, fields in entries:
                last = entry_id
                message = decode(fields[b"d"], Signal | EndOfData | Tick)
                if isinstance(message, Signal):
                    received.append(now - message.tick_ts_ns)
                    emitted.append(message.ts_ns - message.tick_ts_ns)
                elif isinstance(message, Tick):
                    received.append(now - message.ts_ns)
    Path(out).write_text(json.dumps({"received": received, "emitted": emitted}))
    await client.aclose()


def _measure(url: str, source: str, sink: str, pool: list[Tick], seconds: float, scratch: Path) -> dict[str, Any]:
    """Publish onto ``source`` at RATE/s while a reader process watches ``sink``; percentiles in ms."""
    out = scratch / f"latencies-{uuid.uuid4().hex[:6]}.json"
    reader = subprocess.Popen(
        [sys.executable, __file__, "--latency-reader", url, sink, str(seconds + 2.0), str(out)],
        stdout=subprocess.PIPE,
        cwd=REPO_ROOT,
    )
    assert reader.stdout is not None
    if reader.stdout.readline().strip() != b"ready":
        raise SystemExit("the latency reader did not start")
    runtime.run(_publish_paced(url, source, pool, seconds))
    reader.wait(seconds + 30)
    found = json.loads(out.read_text())
    return {name: _percentiles([value / 1e6 for value in values]) for name, values in found.items() if values}


def _fields(tick: Tick) -> dict[str, Any]:
    return {name: getattr(tick, name) for name in tick.__struct_fields__}


def _percentiles(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {"count": 0}
    values = np.asarray(latencies)
    return {
        "count": int(values.size),
        "p50_ms": float(np.percentile(values, 50)),
        "p99_ms": float(np.percentile(values, 99)),
        "max_ms": float(values.max()),
    }


def latency(quick: bool) -> dict[str, Any]:
    seconds = 8.0 if quick else 30.0
    table = generate_market(MarketConfig(ticks_target=200_000, seed=9)).ticks
    pool = list(ticks_from_table(table))
    with tempfile.TemporaryDirectory() as scratch:
        scratch_path = Path(scratch)
        redis_server = EmbeddedRedis(scratch_path / "redis", free_port())
        redis_server.start()
        try:
            url = redis_server.url
            universe = load_config(DEFAULT_CONFIG).symbols
            config_path = scratch_path / "sensitive.toml"
            config_path.write_text(f"symbols = {json.dumps(universe)}\n" + SENSITIVE)
            prefix = f"bench{uuid.uuid4().hex[:6]}:"
            port = free_port()
            env = {
                **os.environ,
                "REDIS_URL": url,
                "AITRADER_STREAM_PREFIX": prefix,
                "PATTERN_ENGINE_PORT": str(port),
                "PATTERN_ENGINE_CONFIG": str(config_path),
                "PATTERN_ENGINE_WARM_START": "false",
                "LOG_LEVEL": "WARNING",
            }
            engine = subprocess.Popen([sys.executable, "-m", "pattern_engine"], env=env, cwd=REPO_ROOT)
            try:
                _wait_healthy(port, engine)
                through_engine = _measure(url, f"{prefix}ticks", f"{prefix}signals", pool, seconds, scratch_path)
            finally:
                engine.terminate()
                engine.wait(10)
            one_hop = _measure(url, f"{prefix}direct", f"{prefix}direct", pool, seconds, scratch_path)
            relay = subprocess.Popen(
                [sys.executable, "-c", RELAY, url, f"{prefix}relay-in", f"{prefix}relay-out"], cwd=REPO_ROOT
            )
            try:
                time.sleep(1.0)
                two_hops = _measure(url, f"{prefix}relay-in", f"{prefix}relay-out", pool, seconds, scratch_path)
            finally:
                relay.terminate()
                relay.wait(10)
        finally:
            redis_server.stop()
    emitted = through_engine.get("emitted", {"count": 0})
    received = through_engine.get("received", {"count": 0})
    one_hop_floor = one_hop["received"]
    two_hop_floor = two_hops["received"]
    return {
        "rate_ticks_per_s": RATE,
        "seconds": seconds,
        "tick_to_signal_emitted": emitted,
        "tick_to_signal_received": received,
        "one_hop_floor": one_hop_floor,
        "two_hop_floor": two_hop_floor,
        "ratio_p99_emitted_vs_one_hop": emitted.get("p99_ms", 0.0) / one_hop_floor["p99_ms"],
        "ratio_p99_received_vs_two_hops": received.get("p99_ms", 0.0) / two_hop_floor["p99_ms"],
        "target_p99_ms": TARGET_P99_MS,
        "pass": emitted.get("p99_ms", float("inf")) < TARGET_P99_MS,
    }


def _print_compute(c: dict[str, Any]) -> None:
    print(f"compute over {c['ticks']:,} ticks, {c['signals_per_round']} signals, medians:")
    for name in ("rust_batch", "rust_per_tick_from_python", "python_reference"):
        figures = c[name]
        print(f"  {name:28s} {figures['ns_per_tick']:10.1f} ns/tick {figures['ticks_per_s']:16,.0f} ticks/s")
    print(
        f"  rust batch / python = {c['ratio_batch_vs_python']:.0f}x (target >= {TARGET_RATIO:.0f}x); "
        f"rust batch / per tick = {c['ratio_batch_vs_per_tick']:.1f}x; "
        f"target >= {TARGET_TICKS_PER_S / 1e6:.0f} M ticks/s: {'PASS' if c['pass'] else 'FAIL'}"
    )


def _print_ground_truth(days: dict[str, Any]) -> None:
    print("ground truth (recall; false positives per hour, of which inside other kinds' episodes):")
    for day_name, patterns in days.items():
        for pattern, figures in patterns.items():
            print(
                f"  {day_name:12s} {pattern:15s} {figures['found']:3d}/{figures['planted']:<3d} "
                f"recall {figures['recall']:.2f}  fp/h {figures['false_positives_per_hour']:5.1f} "
                f"({figures['inside_other_episodes']} of {figures['false_positives']} inside other episodes)"
            )


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--latency-reader":
        url, key, seconds, out = sys.argv[2:6]
        runtime.run(_read_latencies(url, key, float(seconds), out))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer ticks and rounds: finishes in under a minute")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument(
        "--parts",
        type=lambda text: set(text.split(",")),
        default={"compute", "ground_truth", "latency"},
        help="comma-separated subset of compute,ground_truth,latency (default: all)",
    )
    args = parser.parse_args()

    results: dict[str, Any] = {
        "bench": "pattern_engine",
        "quick": args.quick,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
    }
    if "compute" in args.parts:
        results["compute"] = compute(args.quick)
        _print_compute(results["compute"])
    if "ground_truth" in args.parts:
        results["ground_truth"] = ground_truth()
        _print_ground_truth(results["ground_truth"])

    if "latency" in args.parts:
        results["latency"] = latency(args.quick)
        lat = results["latency"]
        print(f"latency at {RATE:,} ticks/s over {lat['seconds']:.0f} s, ms (tick time = when it was published):")
        rows = (
            ("tick -> signal emitted by the engine", lat["tick_to_signal_emitted"]),
            ("one-hop floor: publish -> a reader", lat["one_hop_floor"]),
            ("tick -> signal read downstream", lat["tick_to_signal_received"]),
            ("two-hop floor: through a bare relay", lat["two_hop_floor"]),
        )
        nan = float("nan")
        for label, figures in rows:
            print(
                f"  {label:38s} n={figures.get('count', 0):7d} p50 {figures.get('p50_ms', nan):6.3f}"
                f"  p99 {figures.get('p99_ms', nan):6.3f}  max {figures.get('max_ms', nan):6.3f}"
            )
        print(
            f"  p99 ratios: emitted / one hop {lat['ratio_p99_emitted_vs_one_hop']:.2f}, "
            f"read downstream / two hops {lat['ratio_p99_received_vs_two_hops']:.2f}; "
            f"target tick -> signal p99 < {TARGET_P99_MS} ms: {'PASS' if lat['pass'] else 'FAIL'}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
