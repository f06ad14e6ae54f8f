"""pattern_engine as a process over real Redis: signals from a burst, dead letters, shards, a warm restart.

The service runs its packaged config (the sample day's universe) with the reference detectors (and once with
the Rust ones, which give the same signals), so what fires is known: 400 s of calm then a burst
(tests/factories.py) fires on the burst's first tick, and only once the symbol has ``warmup_s`` (300 s) of
history.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import redis

from aitrader.contracts import (
    BOOK,
    SIGNALS,
    TICKS,
    BookUpdate,
    EndOfData,
    Level,
    Signal,
    Tick,
    dead_letter_key,
    decode,
    encode,
    shard_of,
    stream_key,
    tick_shard,
)
from pattern_engine.native import native_module
from tests.factories import make_calm_then_burst_ticks
from tests.integration.marketdata.conftest import run_service, wait_for

pytestmark = pytest.mark.slow

SERVICE = "pattern_engine"


@pytest.fixture
def engine_env(redis_url: str, stream_prefix: str) -> dict[str, str]:
    return {
        "REDIS_URL": redis_url,
        "AITRADER_STREAM_PREFIX": stream_prefix,
        "AITRADER_BUS_BLOCK_MS": "100",
        "LOG_LEVEL": "INFO",
        "PATTERN_ENGINE_IMPLEMENTATION": "python",
    }


def _publish(client: redis.Redis, key: str, messages: list[Tick] | list[BookUpdate] | list[EndOfData]) -> None:
    with client.pipeline(transaction=False) as pipe:
        for message in messages:
            pipe.xadd(key, {"d": encode(message)})
        pipe.execute()


def _signals(client: redis.Redis, prefix: str) -> list[Signal | EndOfData]:
    return [decode(fields[b"d"], Signal | EndOfData) for _, fields in client.xrange(stream_key(SIGNALS, prefix))]


def _interleaved(*sequences: list[Tick]) -> list[Tick]:
    return sorted((tick for sequence in sequences for tick in sequence), key=lambda tick: (tick.ts_ns, tick.symbol))


def _health(http: httpx.Client) -> dict[str, object]:
    document: dict[str, object] = http.get("/health").json()
    return document


def _counter(http: httpx.Client, name: str) -> int:
    counters = _health(http)["counters"]
    assert isinstance(counters, dict)
    return int(counters[name])


def _require_rust() -> None:
    module = native_module()
    if module is None or not hasattr(module, "PatternEngine"):
        missing = "the Rust pattern engine is not built (make setup builds pattern_engine_pyo3)"
        if os.environ.get("CI"):
            pytest.fail(missing)  # CI builds it: a skip there would hide a broken build
        pytest.skip(missing)


@pytest.mark.parametrize("implementation", ["python", "rust"])
def test_a_burst_after_a_calm_fires_signals_and_the_end_marker_follows_them(
    tmp_path: Path, engine_env: dict[str, str], redis_url: str, stream_prefix: str, implementation: str
):
    if implementation == "rust":
        _require_rust()
    client = redis.Redis.from_url(redis_url)
    ticks = make_calm_then_burst_ticks("INFY")
    marker = EndOfData(ts_ns=1, replay_id="r1", messages=len(ticks), last_tick_ts_ns=ticks[-1].ts_ns)
    env = {**engine_env, "PATTERN_ENGINE_IMPLEMENTATION": implementation}
    with run_service(SERVICE, env, tmp_path / "engine.log") as engine, engine.client() as http:
        _publish(client, stream_key(TICKS, stream_prefix), [*ticks, marker])

        wait_for(lambda: _health(http)["replays_ended"] == 1, 15, "the end-of-data marker")
        health = _health(http)
        metrics = http.get("/metrics").text

    *signals, forwarded = _signals(client, stream_prefix)
    burst = ticks[400]
    assert {s.pattern for s in signals if isinstance(s, Signal)} >= {"momentum_burst", "vwap_deviation"}
    assert all(isinstance(s, Signal) and (s.symbol, s.tick_ts_ns) == ("INFY", burst.ts_ns) for s in signals)
    assert isinstance(forwarded, EndOfData) and (forwarded.replay_id, forwarded.messages) == ("r1", len(signals))
    assert health["implementation"] == implementation and health["input"] == "ticks"
    assert health["stream"] == stream_key(TICKS, stream_prefix) and str(health["consumer"]).startswith(SERVICE)
    counters = health["counters"]
    assert isinstance(counters, dict) and counters["ticks"] == len(ticks)
    assert counters["signals_vwap_deviation"] == 1
    assert "pattern_engine_ticks_total 405.0" in metrics
    assert 'pattern_engine_signals_total{pattern="vwap_deviation"} 1.0' in metrics
    assert f"pattern_engine_tick_to_signal_seconds_count {float(len(signals))}" in metrics
    assert "pattern_engine_engine_ns_per_tick " in metrics


def test_malformed_messages_are_dead_lettered_and_the_rest_is_processed(
    tmp_path: Path, engine_env: dict[str, str], redis_url: str, stream_prefix: str
):
    client = redis.Redis.from_url(redis_url)
    ticks_key = stream_key(TICKS, stream_prefix)
    good = make_calm_then_burst_ticks("TCS", calm_s=20, burst=0)
    wrong_type = Signal(id="s1", ts_ns=1, tick_ts_ns=1, symbol="TCS", pattern="x", side=1, score=0.5, price=1.0)
    with run_service(SERVICE, engine_env, tmp_path / "engine.log") as engine, engine.client() as http:
        _publish(client, ticks_key, good[:10])
        client.xadd(ticks_key, {"d": b"\xc1 garbage"})
        client.xadd(ticks_key, {"d": encode(wrong_type)})  # a valid message, but not one `ticks` carries
        _publish(client, ticks_key, good[10:])

        wait_for(lambda: _counter(http, "ticks") == len(good), 15, "the good ticks")
        wait_for(lambda: client.xlen(dead_letter_key(ticks_key)) == 2, 15, "two dead letters")
        metrics = http.get("/metrics").text

    dead = [fields for _, fields in client.xrange(dead_letter_key(ticks_key))]
    assert [fields[b"reason"] for fields in dead] == [b"undecodable", b"undecodable"]
    assert all(fields[b"group"] == SERVICE.encode() for fields in dead)
    assert client.xpending(ticks_key, SERVICE)["pending"] == 0
    assert (
        f'aitrader_bus_dead_lettered_total{{group="{SERVICE}",reason="undecodable",stream="{ticks_key}"}} 2.0'
        in metrics
    )


def test_two_shards_each_process_only_their_own_symbols_into_one_signal_stream(
    tmp_path: Path, engine_env: dict[str, str], redis_url: str, stream_prefix: str
):
    client = redis.Redis.from_url(redis_url)
    symbols = {0: "INFY", 1: "SBIN"}
    assert {shard_of(symbol, 2) for symbol in symbols.values()} == {0, 1}
    streams = {shard: make_calm_then_burst_ticks(symbol) for shard, symbol in symbols.items()}
    streams[0] = _interleaved(streams[0], make_calm_then_burst_ticks("TCS", calm_s=50, burst=0))
    with (
        run_service(SERVICE, {**engine_env, "PATTERN_ENGINE_SHARD": "0"}, tmp_path / "shard0.log") as first,
        run_service(
            SERVICE, {**engine_env, "PATTERN_ENGINE_SHARD": "1", "PATTERN_ENGINE_SLOT": "1"}, tmp_path / "shard1.log"
        ) as second,
        first.client() as http0,
        second.client() as http1,
    ):
        for shard, ticks in streams.items():
            _publish(client, stream_key(tick_shard(shard), stream_prefix), ticks)

        wait_for(lambda: _counter(http0, "ticks") == len(streams[0]), 15, "shard 0's ticks")
        wait_for(lambda: _counter(http1, "ticks") == len(streams[1]), 15, "shard 1's ticks")
        wait_for(lambda: {s.symbol for s in _signals(client, stream_prefix)} == {"INFY", "SBIN"}, 15, "both signals")
        healths = [_health(http0), _health(http1)]

    assert [h["stream"] for h in healths] == [stream_key(tick_shard(n), stream_prefix) for n in (0, 1)]
    assert healths[0]["consumer"] != healths[1]["consumer"]
    assert client.xlen(stream_key(TICKS, stream_prefix)) == 0


def test_a_killed_instance_restarts_warm_from_its_group_and_loses_no_tick(
    tmp_path: Path, engine_env: dict[str, str], redis_url: str, stream_prefix: str
):
    client = redis.Redis.from_url(redis_url)
    ticks_key = stream_key(TICKS, stream_prefix)
    infy = make_calm_then_burst_ticks("INFY")
    tcs = make_calm_then_burst_ticks("TCS", calm_s=420, burst=0)
    calm = _interleaved(infy[:400], tcs[:400])
    after = _interleaved(infy[400:], tcs[400:])
    with run_service(SERVICE, engine_env, tmp_path / "first.log") as first, first.client() as http:
        _publish(client, ticks_key, calm)
        wait_for(lambda: _counter(http, "ticks") == len(calm), 15, "the calm ticks")
        wait_for(lambda: client.xpending(ticks_key, SERVICE)["pending"] == 0, 15, "the acknowledgements")
        first_ticks = _counter(http, "ticks")
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(10)
    assert _signals(client, stream_prefix) == []  # the calm alone fires nothing
    _publish(client, ticks_key, after)

    with run_service(SERVICE, engine_env, tmp_path / "second.log") as second, second.client() as http:
        wait_for(lambda: _counter(http, "ticks") == len(after), 15, "the ticks after the restart")
        health = _health(http)

    # Warm start: the last 300 s before where the group stopped (INFY and TCS seconds 99..399) went in first,
    # so the burst fires at once, as it would have without the restart.
    assert health["warmup_ticks"] == 2 * 301
    assert first_ticks + _counter_of(health, "ticks") == len(calm) + len(after)
    signals = _signals(client, stream_prefix)
    assert signals and all(isinstance(s, Signal) and s.tick_ts_ns == infy[400].ts_ns for s in signals)
    assert client.xpending(ticks_key, SERVICE)["pending"] == 0


def _counter_of(health: dict[str, object], name: str) -> int:
    counters = health["counters"]
    assert isinstance(counters, dict)
    return int(counters[name])


def test_book_input_turns_book_updates_into_ticks_and_fires_on_the_burst(
    tmp_path: Path, engine_env: dict[str, str], redis_url: str, stream_prefix: str
):
    client = redis.Redis.from_url(redis_url)
    ticks = make_calm_then_burst_ticks("INFY")
    updates = [
        BookUpdate(
            ts_ns=tick.ts_ns + 1_000,
            tick_ts_ns=tick.ts_ns,
            symbol=tick.symbol,
            seq=tick.seq,
            bids=(Level(tick.bid or 0.0, tick.bid_qty), Level((tick.bid or 0.0) - 0.05, 50)),
            asks=(Level(tick.ask or 0.0, tick.ask_qty), Level((tick.ask or 0.0) + 0.05, 50)),
            last_price=tick.ltp,
            volume=tick.volume,
        )
        for tick in ticks
    ]
    no_trade = BookUpdate(ts_ns=1, tick_ts_ns=ticks[0].ts_ns - 1, symbol="INFY")
    env = {**engine_env, "PATTERN_ENGINE_INPUT": "book"}
    with run_service(SERVICE, env, tmp_path / "engine.log") as engine, engine.client() as http:
        _publish(client, stream_key(BOOK, stream_prefix), [no_trade, *updates])

        # The first update has no earlier volume to trade against: a quantity of 0, which the engine skips.
        wait_for(lambda: _counter(http, "ticks") == len(updates) - 1, 15, "the book updates")
        health = _health(http)

    assert health["input"] == "book" and health["stream"] == stream_key(BOOK, stream_prefix)
    assert _counter_of(health, "skipped_no_last_price") == 1
    signals = _signals(client, stream_prefix)
    assert {s.pattern for s in signals if isinstance(s, Signal)} >= {"momentum_burst", "vwap_deviation"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"REDIS_URL": ""}, "REDIS_URL is not set"),
        ({"PATTERN_ENGINE_CONFIG": "/nonexistent/engine.toml"}, "cannot read pattern engine config"),
        ({"PATTERN_ENGINE_INPUT": "book", "PATTERN_ENGINE_SHARD": "1"}, "PATTERN_ENGINE_SHARD"),
        ({"PATTERN_ENGINE_IMPLEMENTATION": "gpu"}, "PATTERN_ENGINE_IMPLEMENTATION"),
    ],
)
def test_bad_settings_or_config_exit_2_naming_the_problem(
    engine_env: dict[str, str], env: dict[str, str], message: str
):
    result = subprocess.run(
        [sys.executable, "-m", SERVICE],
        env={**os.environ, **engine_env, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2, result.stderr
    assert message in result.stderr


def test_a_config_with_an_unknown_key_is_refused_at_start(engine_env: dict[str, str], tmp_path: Path):
    config = tmp_path / "engine.toml"
    config.write_text('symbols = ["INFY"]\n[momentum_burst]\nkk = 3.0\n')

    result = subprocess.run(
        [sys.executable, "-m", SERVICE],
        env={**os.environ, **engine_env, "PATTERN_ENGINE_CONFIG": str(config)},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2 and "kk" in result.stderr
