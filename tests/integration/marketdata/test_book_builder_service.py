"""book_builder as a process: staleness, duplicates, dead letters and a restart, over real Redis."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest
import redis

from aitrader.bus.config import consumer_name
from aitrader.contracts import (
    BOOK,
    FEED_STATUS,
    TICKS,
    BookStreamMessage,
    BookUpdate,
    EndOfData,
    FeedStatusChanged,
    Tick,
    dead_letter_key,
    decode,
    encode,
    stream_key,
)

from .conftest import OPEN_NS, run_service, wait_for

pytestmark = pytest.mark.slow


def _tick(seq: int, symbol: str = "INFY") -> bytes:
    return encode(Tick(ts_ns=OPEN_NS + seq * 1_000_000, symbol=symbol, seq=seq, ltp=1500.0, ltq=1, volume=seq))


def test_a_silent_symbol_is_reported_stale_and_back_and_duplicates_are_dropped(
    tmp_path: Path, stack_env: dict[str, str], redis_url: str, stream_prefix: str
):
    client = redis.Redis.from_url(redis_url)
    ticks = stream_key(TICKS, stream_prefix)
    env = {**stack_env, "BOOK_BUILDER_STALE_AFTER_S": "1"}
    with run_service("book_builder", env, tmp_path / "book_builder.log") as book, book.client() as http:
        for payload in (_tick(1), _tick(2), _tick(2), _tick(1)):  # one duplicate, one out of order
            client.xadd(ticks, {"d": payload})
        client.xadd(ticks, {"d": b"\xc1 garbage"})

        wait_for(lambda: http.get("/health").json()["status"] == "degraded", 10, "INFY to go stale")
        health = http.get("/health").json()
        assert health["warnings"] == ["no tick for INFY in 1 s"] and health["stale_symbols"] == ["INFY"]
        assert (health["ticks"], health["duplicates"], health["out_of_order"]) == (2, 1, 1)

        client.xadd(ticks, {"d": _tick(3)})
        wait_for(lambda: http.get("/health").json()["status"] == "ok", 10, "INFY to come back")
        metrics = http.get("/metrics").text

    statuses = [
        decode(fields[b"d"], FeedStatusChanged) for _, fields in client.xrange(stream_key(FEED_STATUS, stream_prefix))
    ]
    assert [(s.symbol, s.stale) for s in statuses] == [("INFY", True), ("INFY", False)]
    assert statuses[0].silent_ms >= 1000 and statuses[0].last_tick_ts_ns == OPEN_NS + 2_000_000
    [(_, dead)] = client.xrange(dead_letter_key(ticks))
    assert dead[b"reason"] == b"undecodable"
    assert 'book_builder_ticks_dropped{reason="duplicate"} 1.0' in metrics
    assert (
        f'aitrader_bus_dead_lettered_total{{group="book_builder",reason="undecodable",stream="{ticks}"}} 1.0' in metrics
    )


def test_a_killed_book_builder_resumes_from_its_group_without_losing_a_tick(
    tmp_path: Path, stack_env: dict[str, str], redis_url: str, stream_prefix: str
):
    client = redis.Redis.from_url(redis_url)
    ticks = stream_key(TICKS, stream_prefix)
    book_key = stream_key(BOOK, stream_prefix)
    with run_service("book_builder", stack_env, tmp_path / "first.log") as first:
        client.xadd(ticks, {"d": _tick(1)})
        wait_for(lambda: client.xlen(book_key) == 1, 10, "the first update")
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(10)
    for seq in range(2, 2_002):
        client.xadd(ticks, {"d": _tick(seq, symbol=f"S{seq % 7}")})

    with run_service("book_builder", stack_env, tmp_path / "second.log"):
        wait_for(lambda: client.xlen(book_key) >= 2_001, 30, "the updates after the restart")

    updates = [decode(fields[b"d"], BookStreamMessage) for _, fields in client.xrange(book_key)]
    assert all(isinstance(u, BookUpdate) for u in updates)
    assert sorted(u.seq for u in updates) == list(range(1, 2_002))
    pending = client.xpending(ticks, "book_builder")
    assert pending["pending"] == 0


def test_a_tick_whose_update_was_published_but_not_acknowledged_is_not_published_twice(
    tmp_path: Path, stack_env: dict[str, str], redis_url: str, stream_prefix: str
):
    """The crash window, made certain: the last run read tick 2, published its update and died before
    acknowledging it. The next run gets tick 2 again, and must know it from the book stream."""
    client = redis.Redis.from_url(redis_url)
    ticks, book_key = stream_key(TICKS, stream_prefix), stream_key(BOOK, stream_prefix)
    client.xgroup_create(ticks, "book_builder", id="0", mkstream=True)
    for seq in (1, 2):
        client.xadd(ticks, {"d": _tick(seq)})
    dead_run = consumer_name("book_builder")
    delivered = client.xreadgroup("book_builder", dead_run, {ticks: ">"}, count=2)
    client.xack(ticks, "book_builder", delivered[0][1][0][0])  # tick 1 went through whole
    client.xadd(book_key, {"d": encode(EndOfData(ts_ns=OPEN_NS, replay_id="an-earlier-replay"))})
    for seq in (1, 2):  # both updates were published
        client.xadd(book_key, {"d": encode(BookUpdate(ts_ns=OPEN_NS, tick_ts_ns=OPEN_NS, symbol="INFY", seq=seq))})
    client.xadd(ticks, {"d": _tick(3)})

    with run_service("book_builder", stack_env, tmp_path / "book_builder.log"):
        wait_for(lambda: client.xlen(book_key) >= 4, 10, "the update of tick 3")
        wait_for(lambda: client.xpending(ticks, "book_builder")["pending"] == 0, 10, "tick 2 acknowledged")

    updates = [decode(fields[b"d"], BookStreamMessage) for _, fields in client.xrange(book_key)]
    assert [u.seq for u in updates if isinstance(u, BookUpdate)] == [1, 2, 3]


def test_health_answers_while_redis_is_reachable(tmp_path: Path, stack_env: dict[str, str]):
    with run_service("book_builder", stack_env, tmp_path / "book_builder.log") as book:
        health = httpx.get(f"{book.url}/health", timeout=5).json()
    assert health["status"] == "ok" and health["consumer"].startswith("book_builder-")


@pytest.mark.parametrize(
    ("module", "env", "message"),
    [
        ("book_builder", {"REDIS_URL": ""}, "REDIS_URL is not set"),
        ("book_builder", {"DATABASE_URL": ""}, "DATABASE_URL is not set"),
        ("tick_replay", {"REDIS_URL": ""}, "REDIS_URL is not set"),
        ("tick_replay", {"TICK_REPLAY_PORT": "99999"}, "TICK_REPLAY_PORT"),
    ],
)
def test_a_service_with_bad_settings_exits_2_naming_the_variable(
    stack_env: dict[str, str], module: str, env: dict[str, str], message: str
):
    import os
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", module],
        env={**os.environ, **stack_env, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert message in result.stderr
