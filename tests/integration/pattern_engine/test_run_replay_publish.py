"""run_replay_publish: a tick file through the Rust engine onto a stream, as the engine alone would signal it."""

from __future__ import annotations

import os
from pathlib import Path

import msgspec
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import redis

from aitrader.contracts import EndOfData, Signal, decode
from aitrader.devstack.ports import free_port
from aitrader.marketdata.files import TickFile
from aitrader.marketdata.synthetic import MarketConfig, write_sample_day
from pattern_engine.config import load_config
from pattern_engine.engine import to_signal
from pattern_engine.native import RustEngine, native_module

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_CONFIG = REPO_ROOT / "pattern_engine" / "default.toml"
module = native_module()
pytestmark = pytest.mark.skipif(
    module is None and not os.environ.get("CI"), reason="the Rust extension is not built (make setup builds it)"
)


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    files = write_sample_day(tmp_path_factory.mktemp("day"), MarketConfig(seed=3, ticks_target=300_000))
    return files.ticks_path


def _entries(url: str, key: str) -> list[Signal | EndOfData]:
    client = redis.Redis.from_url(url)
    try:
        return [decode(fields[b"d"], Signal | EndOfData) for _, fields in client.xrange(key)]
    finally:
        client.close()


def _signals(url: str, key: str) -> list[Signal]:
    return [entry for entry in _entries(url, key) if isinstance(entry, Signal)]


def test_the_published_signals_are_the_engines_signals(day: Path, redis_url: str, stream_prefix: str):
    assert module is not None
    key = f"{stream_prefix}signals"
    venues = {"RELIANCE25NOVFUT": "NFO"}  # the sample's future trades on NFO; the file says so

    summary = module.run_replay_publish(
        str(day), redis_url, key, DEFAULT_CONFIG.read_text(), batch_rows=50_000, replay_id="rp-1"
    )

    engine = RustEngine(load_config(DEFAULT_CONFIG))
    expected = [detection for batch in TickFile(day).batches() for detection in engine.on_batch(batch)]
    published = _signals(redis_url, key)
    assert summary["rows"] == summary["ticks"] == 300_000
    assert summary["published"] == len(published) == len(expected) > 0
    assert summary["unreadable_rows"] == 0
    assert {k: v for k, v in summary.items() if k.startswith(("signals_", "skipped_"))} == {
        k: v for k, v in engine.counters().items() if k != "ticks"
    }
    marker = _entries(redis_url, key)[-1]
    assert isinstance(marker, EndOfData)
    assert (marker.replay_id, marker.messages, marker.complete, marker.source) == (
        "rp-1",
        len(published),
        True,
        str(day),
    )
    times = pq.read_table(day, columns=["timestamp"]).column("timestamp").cast("int64")
    assert marker.last_tick_ts_ns == times[-1].as_py()
    for signal, detection in zip(published, expected, strict=True):
        want = to_signal(detection, ts_ns=signal.ts_ns, venue=venues.get(detection.symbol, "NSE"))
        assert msgspec.structs.asdict(signal) == msgspec.structs.asdict(want)


def test_a_csv_file_gives_what_the_parquet_file_gives(day: Path, tmp_path: Path, redis_url: str, stream_prefix: str):
    assert module is not None
    table = pq.read_table(day).slice(0, 120_000)
    parquet_path, csv_path = tmp_path / "part.parquet", tmp_path / "part.csv"
    pq.write_table(table, parquet_path)
    pacsv.write_csv(table.set_column(0, "timestamp", table.column("timestamp").cast("int64")), csv_path)
    config = DEFAULT_CONFIG.read_text()

    from_parquet = module.run_replay_publish(str(parquet_path), redis_url, f"{stream_prefix}a", config)
    from_csv = module.run_replay_publish(str(csv_path), redis_url, f"{stream_prefix}b", config)

    assert {k: v for k, v in from_csv.items() if k != "elapsed_ns"} == {
        k: v for k, v in from_parquet.items() if k != "elapsed_ns"
    }
    strip = [(s.id, s.pattern, s.side, s.score) for s in _signals(redis_url, f"{stream_prefix}a")]
    assert strip == [(s.id, s.pattern, s.side, s.score) for s in _signals(redis_url, f"{stream_prefix}b")]


def test_bad_arguments_are_value_errors_and_a_dead_redis_a_connection_error(day: Path, tmp_path: Path, redis_url: str):
    assert module is not None
    config = DEFAULT_CONFIG.read_text()
    with pytest.raises(ValueError, match="bogus"):
        module.run_replay_publish(str(day), redis_url, "s", config + "\n[breakout]\nbogus = 1\n")
    with pytest.raises(ValueError, match=r"nope\.parquet"):
        module.run_replay_publish(str(tmp_path / "nope.parquet"), redis_url, "s", config)
    with pytest.raises(ValueError, match="replay_id must be 1 to 64 characters"):
        module.run_replay_publish(str(day), redis_url, "s", config, replay_id="")
    with pytest.raises(ValueError, match="batch_rows"):
        module.run_replay_publish(str(day), redis_url, "s", config, batch_rows=0)
    with pytest.raises(ConnectionError):
        module.run_replay_publish(str(day), f"redis://127.0.0.1:{free_port()}/0", "s", config)
