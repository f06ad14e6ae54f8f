"""tick_replay -> Redis -> book_builder, as processes over loopback: every tick accounted for, bars stored."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pytest
import redis

from aitrader.contracts import (
    BOOK,
    TICKS,
    BookStreamMessage,
    BookUpdate,
    EndOfData,
    Tick,
    TickStreamMessage,
    decode,
    shard_of,
    stream_key,
    tick_shard,
)

from .conftest import OPEN_NS, Service, run_service, wait_for, write_tick_file

pytestmark = pytest.mark.slow


def _entries(client: redis.Redis, key: str, message_type: Any) -> list[Any]:
    return [decode(fields[b"d"], message_type) for _, fields in client.xrange(key)]


def _wait_finished(replay: Service, timeout_s: float = 60) -> dict[str, Any]:
    with replay.client() as http:
        progress: dict[str, Any] = {}

        def finished() -> bool:
            nonlocal progress
            progress = http.get("/replay").json()
            return progress["state"] in ("finished", "stopped", "failed")

        wait_for(finished, timeout_s, "the replay to end")
        return progress


def test_every_tick_of_a_file_reaches_the_book_and_minute_bars_are_stored(
    tmp_path: Path, stack_env: dict[str, str], redis_url: str, database_url: str, stream_prefix: str
):
    table = write_tick_file(tmp_path / "day.parquet", ticks=20_000)
    client = redis.Redis.from_url(redis_url)
    with (
        run_service("book_builder", stack_env, tmp_path / "book_builder.log") as book,
        run_service("tick_replay", stack_env, tmp_path / "tick_replay.log") as replay,
    ):
        with replay.client() as http:
            started = http.post("/replay", json={"path": "day.parquet", "speed": "max"})
        assert started.status_code == 202, started.text
        progress = _wait_finished(replay)
        assert (progress["state"], progress["published"], progress["total"]) == ("finished", 20_000, 20_000)

        book_key = stream_key(BOOK, stream_prefix)
        wait_for(lambda: client.xlen(book_key) >= 20_001, 60, "book_builder to publish every update")
        with book.client() as http:
            health = http.get("/health").json()
        assert health["ticks"] == 20_000 and health["replays_ended"] == 1 and health["status"] == "ok"

    ticks = _entries(client, stream_key(TICKS, stream_prefix), TickStreamMessage)
    assert isinstance(ticks[-1], EndOfData) and ticks[-1].messages == 20_000 and ticks[-1].complete
    assert [t.symbol for t in ticks[:-1]] == table.column("symbol").to_pylist()  # file order kept
    book = _entries(client, stream_key(BOOK, stream_prefix), BookStreamMessage)
    updates = [b for b in book if isinstance(b, BookUpdate)]
    assert isinstance(book[-1], EndOfData) and len(updates) == 20_000
    assert len({(u.symbol, u.seq) for u in updates}) == 20_000  # each tick once, none twice
    assert [u.tick_ts_ns for u in updates] == table.column("timestamp").to_pylist()

    frame = table.to_pandas()
    frame["minute"] = frame["timestamp"] // 60_000_000_000 * 60_000_000_000
    expected = frame.groupby(["symbol", "minute"]).agg(volume=("ltq", "sum"), close=("ltp", "last")).reset_index()
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "SELECT symbol, (extract(epoch from start) * 1e9)::bigint, volume, close FROM bars "
            "WHERE interval = '1m' ORDER BY symbol, start"
        ).fetchall()
    stored = pd.DataFrame(rows, columns=["symbol", "minute", "volume", "close"])
    assert len(stored) == len(expected)
    assert stored["volume"].tolist() == expected["volume"].tolist()
    np.testing.assert_allclose(stored["close"].astype(float), expected["close"])


@pytest.mark.parametrize("native", ["true", "false"], ids=["rust-appender", "python-path"])
def test_a_sharded_replay_keeps_each_symbols_ticks_on_one_shard_in_order(
    tmp_path: Path, stack_env: dict[str, str], redis_url: str, stream_prefix: str, native: str
):
    table = write_tick_file(tmp_path / "day.parquet", ticks=3_000, symbols=6)
    client = redis.Redis.from_url(redis_url)
    env = {**stack_env, "TICK_REPLAY_NATIVE": native}
    with run_service("tick_replay", env, tmp_path / "tick_replay.log") as replay:
        with replay.client() as http:
            assert http.post("/replay", json={"path": "day.parquet", "shards": 3}).status_code == 202
        assert _wait_finished(replay)["published"] == 3_000

    seen: dict[str, list[int]] = {}
    for shard in range(3):
        entries = _entries(client, stream_key(tick_shard(shard), stream_prefix), TickStreamMessage)
        assert isinstance(entries[-1], EndOfData)
        assert entries[-1].messages == len(entries) - 1
        for tick in entries[:-1]:
            assert isinstance(tick, Tick) and shard_of(tick.symbol, 3) == shard
            seen.setdefault(tick.symbol, []).append(tick.seq)
    assert sum(len(seqs) for seqs in seen.values()) == 3_000
    assert all(seqs == list(range(1, len(seqs) + 1)) for seqs in seen.values())
    assert set(seen) == set(table.column("symbol").to_pylist())


def test_a_realtime_replay_pauses_resumes_and_stops_with_an_incomplete_end_marker(
    tmp_path: Path, stack_env: dict[str, str], redis_url: str, stream_prefix: str
):
    write_tick_file(tmp_path / "day.parquet", ticks=2_000, symbols=2, seconds=200)
    client = redis.Redis.from_url(redis_url)
    with run_service("tick_replay", stack_env, tmp_path / "tick_replay.log") as replay, replay.client() as http:
        assert http.post("/replay", json={"path": "day.parquet", "speed": 20}).status_code == 202
        wait_for(lambda: http.get("/replay").json()["published"] > 0, 10, "ticks to flow")

        paused = http.post("/replay/pause").json()
        assert paused["state"] == "paused"
        held = http.get("/replay").json()["published"]
        time.sleep(0.5)
        assert http.get("/replay").json()["published"] == held
        assert http.post("/replay/resume").json()["state"] == "running"
        wait_for(lambda: http.get("/replay").json()["published"] > held, 10, "ticks to flow again")
        assert http.post("/replay").status_code == 422  # no source given
        conflict = http.post("/replay", json={"path": "day.parquet"})
        assert conflict.status_code == 409 and "stop it first" in conflict.json()["detail"]

        stopped = http.post("/replay/stop").json()

    assert stopped["state"] == "stopped" and 0 < stopped["published"] < 2_000
    entries = _entries(client, stream_key(TICKS, stream_prefix), TickStreamMessage)
    marker = entries[-1]
    assert isinstance(marker, EndOfData) and not marker.complete and marker.messages == stopped["published"]
    assert len(entries) - 1 == stopped["published"]


BAD_REQUESTS: list[tuple[dict[str, Any], str]] = [
    ({"path": "../outside.parquet"}, "must lie under"),
    ({"path": "missing.parquet"}, "no such file"),
    ({"path": "day.parquet", "synthetic": {"seed": 1}}, "exactly one of `path` and `synthetic`"),
    ({"path": "day.parquet", "speed": 0}, "speed must be > 0"),
    ({"path": "day.parquet", "speed": "fast"}, "speed"),
    ({"path": "day.parquet", "shards": -1}, "shards"),
    ({"path": "day.parquet", "colour": "red"}, "colour"),
    ({"path": "day.parquet", "start": "2025-11-21T09:15:00"}, "must carry a UTC offset"),
]


def test_bad_replay_requests_are_422_saying_what_is_wrong_and_controls_out_of_turn_are_409(
    tmp_path: Path, stack_env: dict[str, str]
):
    write_tick_file(tmp_path / "day.parquet", ticks=10)
    with run_service("tick_replay", stack_env, tmp_path / "tick_replay.log") as replay, replay.client() as http:
        answers = [(http.post("/replay", json=body), detail) for body, detail in BAD_REQUESTS]
        controls = [http.post(f"/replay/{action}") for action in ("pause", "resume", "stop")]

    for response, detail in answers:
        assert response.status_code == 422, response.text
        assert detail in response.json()["detail"], response.json()
    assert [c.status_code for c in controls] == [409, 409, 409]
    assert controls[1].json()["detail"] == "cannot resume a replay that is idle"


def test_a_recorded_kite_feed_replays_as_ticks_and_untraded_packets_are_skipped(
    tmp_path: Path, stack_env: dict[str, str], redis_url: str, stream_prefix: str
):
    from aitrader.marketdata.instruments import Instrument, Segment, make_token, write_instruments
    from aitrader.marketdata.kite import encode_frame, encode_full_packet, encode_quote_packet, write_recording

    infy, tcs = make_token(1594, Segment.NSE), make_token(11536, Segment.NSE)
    write_instruments(
        tmp_path / "instruments.csv",
        [
            Instrument(instrument_token=infy, exchange_token=1594, tradingsymbol="INFY"),
            Instrument(instrument_token=tcs, exchange_token=11536, tradingsymbol="TCS"),
        ],
    )
    received = OPEN_NS + 5_000_000_000
    frames = [
        (received, encode_frame([encode_quote_packet(infy, 1500.25, last_traded_quantity=10, volume_traded=100)])),
        (received + 1, encode_frame([encode_quote_packet(tcs, 0.0)])),  # not traded yet: skipped
        (
            received + 2,
            encode_frame(
                [
                    encode_full_packet(
                        infy,
                        1500.5,
                        last_traded_quantity=5,
                        volume_traded=105,
                        exchange_timestamp=OPEN_NS // 1_000_000_000 + 7,
                        bids=((1500.45, 300, 4),),
                        asks=((1500.55, 200, 3),),
                    )
                ]
            ),
        ),
    ]
    write_recording(tmp_path / "feed.kite", frames)
    client = redis.Redis.from_url(redis_url)
    with run_service("tick_replay", stack_env, tmp_path / "tick_replay.log") as replay:
        with replay.client() as http:
            body = {"path": "feed.kite", "instruments": "instruments.csv"}
            assert http.post("/replay", json=body).status_code == 202
        progress = _wait_finished(replay)

    assert (progress["state"], progress["published"], progress["skipped"]) == ("finished", 2, 1)
    first, second, marker = _entries(client, stream_key(TICKS, stream_prefix), TickStreamMessage)
    assert (first.symbol, first.ltp, first.ts_ns, first.volume, first.seq) == ("INFY", 1500.25, received, 100, 1)
    assert (second.ts_ns, second.bid, second.ask, second.seq) == (OPEN_NS + 7_000_000_000, 1500.45, 1500.55, 2)
    assert isinstance(marker, EndOfData) and marker.messages == 2


@pytest.mark.parametrize("native", ["true", "false"], ids=["rust-appender", "python-path"])
def test_the_replay_waits_for_a_slow_consumer_group_so_trimming_never_drops_an_unread_tick(
    tmp_path: Path, stack_env: dict[str, str], redis_url: str, stream_prefix: str, native: str
):
    write_tick_file(tmp_path / "day.parquet", ticks=10_000)
    client = redis.Redis.from_url(redis_url)
    key = stream_key(TICKS, stream_prefix)
    client.xgroup_create(key, "slow", id="$", mkstream=True)
    env = {**stack_env, "AITRADER_BUS_MAXLEN": "4000", "TICK_REPLAY_CHUNK_SIZE": "500", "TICK_REPLAY_NATIVE": native}
    read: list[tuple[str, int]] = []

    def consume(count: int) -> None:
        for _, entries in client.xreadgroup("slow", "slow-0", {key: ">"}, count=count) or []:
            for entry_id, fields in entries:
                message = decode(fields[b"d"], TickStreamMessage)
                if isinstance(message, Tick):
                    read.append((message.symbol, message.seq))
                client.xack(key, "slow", entry_id)

    with run_service("tick_replay", env, tmp_path / "tick_replay.log") as replay, replay.client() as http:
        assert http.post("/replay", json={"path": "day.parquet"}).status_code == 202
        wait_for(lambda: http.get("/replay").json()["state"] == "waiting_for_consumers", 20, "the replay to wait")
        waiting = http.get("/replay").json()
        assert "group slow" in waiting["waiting_on"] and waiting["published"] < 4_000
        while http.get("/replay").json()["state"] != "finished":
            consume(300)
        consume(10_000)

    assert len(read) == 10_000  # every tick read by the slow group: none trimmed before it got there
    by_symbol: dict[str, list[int]] = {}
    for symbol, seq in read:
        by_symbol.setdefault(symbol, []).append(seq)
    assert all(seqs == list(range(1, len(seqs) + 1)) for seqs in by_symbol.values())  # each in order
    assert client.xlen(key) < 10_000  # while the stream itself stayed trimmed
