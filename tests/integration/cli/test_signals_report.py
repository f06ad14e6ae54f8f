"""`aitrader signals` reads back exactly the last replay's signals, past one marker per pattern engine shard."""

from __future__ import annotations

import redis

from aitrader.cli.signals import _replay_signals
from aitrader.contracts import EndOfData, Signal, decode, encode


def _signal(number: int) -> Signal:
    return Signal(
        id=f"INFY-{number}-breakout",
        ts_ns=number,
        tick_ts_ns=number,
        symbol="INFY",
        pattern="breakout",
        side=1,
        score=0.5,
        price=1500.0,
    )


def _marker(replay_id: str) -> EndOfData:
    return EndOfData(ts_ns=1, replay_id=replay_id)


def test_the_last_replays_signals_are_those_after_the_previous_replays_marker(redis_url: str, stream_prefix: str):
    client = redis.Redis.from_url(redis_url)
    key = f"{stream_prefix}signals"
    stream = [_signal(1), _marker("old"), _signal(2), _signal(3), _marker("new"), _signal(4), _marker("new")]
    for message in stream:
        client.xadd(key, {"d": encode(message)})

    found, ended = _replay_signals(client, key, "new", decode, Signal, EndOfData)

    assert ended is True
    assert [signal.tick_ts_ns for signal in found] == [2, 3, 4]
    running, ended = _replay_signals(client, key, "next", decode, Signal, EndOfData)
    assert (running, ended) == ([], False)
    client.close()


def test_a_replay_still_running_has_no_marker_yet(redis_url: str, stream_prefix: str):
    client = redis.Redis.from_url(redis_url)
    key = f"{stream_prefix}signals"
    for message in [_marker("old"), *(_signal(n) for n in range(6_000))]:
        client.xadd(key, {"d": encode(message)})

    found, ended = _replay_signals(client, key, "new", decode, Signal, EndOfData)

    assert ended is False and len(found) == 6_000 and found[0].tick_ts_ns == 0
    client.close()
