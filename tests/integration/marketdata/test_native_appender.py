"""The Rust tick appender writes, byte for byte, what the Python path writes; and its stub matches it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import redis

from aitrader.contracts import encode
from aitrader.marketdata.schema import ticks_from_table
from aitrader.marketdata.synthetic import MarketConfig, generate_market
from tick_replay.native import load_appender, tick_columns

REPO_ROOT = Path(__file__).resolve().parents[3]
TickAppender = load_appender()
pytestmark = pytest.mark.skipif(
    TickAppender is None and not os.environ.get("CI"),  # CI builds it: there, its absence fails the tests
    reason="the Rust extension is not built (make setup builds it)",
)


def _stored(url: str, key: str) -> list[bytes]:
    client = redis.Redis.from_url(url)
    try:
        return [fields[b"d"] for _, fields in client.xrange(key)]
    finally:
        client.close()


def test_a_synthetic_day_with_depth_is_appended_exactly_as_msgspec_encodes_it(redis_url: str, stream_prefix: str):
    assert TickAppender is not None
    table = generate_market(MarketConfig(seed=4, ticks_target=20_000)).ticks
    appender = TickAppender(redis_url, f"{stream_prefix}ticks", None)

    results = [appender.append(**tick_columns(table.slice(i, 7_000))) for i in range(0, table.num_rows, 7_000)]

    assert sum(count for count, _ in results) == table.num_rows
    stored = _stored(redis_url, f"{stream_prefix}ticks")
    assert stored == [encode(tick) for tick in ticks_from_table(table)]
    assert results[-1][1] is not None


def test_nulls_missing_depth_levels_and_large_numbers_match_too(redis_url: str, stream_prefix: str):
    assert TickAppender is not None
    table = pa.table(
        {
            "ts_ns": pa.array([1, 2**62, 3], pa.int64()),
            "symbol": ["INFY", "A" * 40, "INFY"],
            "venue": ["NSE", "BSE", "NSE"],
            "seq": pa.array([1, 2**40, 127], pa.int64()),
            "ltp": [1500.05, 0.05, 99999.95],
            "ltq": pa.array([0, 128, 65_536], pa.int64()),
            "volume": pa.array([0, 255, 2**33], pa.int64()),
            "bid": pa.array([None, 0.05, 99999.9], pa.float64()),
            "ask": pa.array([None, None, 100000.0], pa.float64()),
            "bid_qty": pa.array([0, 1, 2], pa.int64()),
            "ask_qty": pa.array([0, 0, 3], pa.int64()),
            "bid_price_1": pa.array([None, 0.05, 99999.9], pa.float64()),
            "bid_qty_1": pa.array([None, 1, 0], pa.int64()),
            "ask_price_2": pa.array([100.0, None, 100000.05], pa.float64()),
            "ask_qty_2": pa.array([5, None, 9], pa.int64()),
        }
    )
    appender = TickAppender(redis_url, f"{stream_prefix}odd", 1000)

    count, last_id = appender.append(**tick_columns(table))

    assert count == 3 and last_id is not None
    assert _stored(redis_url, f"{stream_prefix}odd") == [encode(tick) for tick in ticks_from_table(table)]


def test_bad_columns_are_value_errors_naming_the_column(redis_url: str, stream_prefix: str):
    assert TickAppender is not None
    table = generate_market(MarketConfig(seed=4, ticks_target=1_000)).ticks.slice(0, 3)
    columns = tick_columns(table)
    appender = TickAppender(redis_url, f"{stream_prefix}bad", None)

    with pytest.raises(ValueError, match="column ltq row 1 must be >= 0, was -4"):
        appender.append(**{**columns, "ltq": np.array([1, -4, 2], dtype=np.int64)})
    with pytest.raises(ValueError, match="column seq has 2 rows, expected 3"):
        appender.append(**{**columns, "seq": np.array([1, 2], dtype=np.int64)})
    with pytest.raises(ValueError, match="give both bid_depth and ask_depth"):
        appender.append(**{**columns, "ask_depth": None})
    assert _stored(redis_url, f"{stream_prefix}bad") == []


def test_an_unreachable_redis_is_a_connection_error():
    assert TickAppender is not None
    with pytest.raises(ConnectionError, match="redis"):
        TickAppender("redis://127.0.0.1:1/0", "ticks", None)


def test_the_stub_matches_the_extension():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy.stubtest",
            "pattern_engine_pyo3",
            "--allowlist",
            str(REPO_ROOT / "pattern_engine/rust/pyo3/stubtest-allowlist.txt"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stdout + result.stderr
