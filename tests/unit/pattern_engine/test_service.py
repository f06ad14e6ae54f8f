"""PatternEngineService without HTTP: batches to signals, end of data, counters and metrics, warm starts.

Signals go to a real Redis; the engine is the pure-Python reference, or, where a test is about the service's
bookkeeping rather than the detectors, a tiny engine that fires on every tick above a price.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from aitrader.bus import BusMetrics, Delivery, Producer
from aitrader.contracts import (
    SIGNALS,
    TICKS,
    BookUpdate,
    EndOfData,
    Level,
    Signal,
    Tick,
    decode,
    encode,
    stream_key,
)
from pattern_engine.config import parse_config
from pattern_engine.engine import Detection, Implementation
from pattern_engine.reference import ReferenceEngine
from pattern_engine.service import PatternEngineService, PatternMetrics
from tests.factories import MARKET_OPEN_NS, make_calm_then_burst_ticks

NOW_NS = 1_763_700_000_000_000_000
GROUP = "pattern_engine"


class FiringEngine:
    """Fires one ``momentum_burst`` detection on every tick of a known symbol priced above ``fire_above``."""

    def __init__(self, symbols: tuple[str, ...] = ("INFY", "NIFTYFUT"), fire_above: float = 2000.0) -> None:
        self._symbols = symbols
        self._fire_above = fire_above
        self.seen: list[Tick] = []
        self._counters = {"ticks": 0, "skipped_unknown_symbol": 0, "signals_momentum_burst": 0}

    @property
    def implementation(self) -> Implementation:
        return "python"

    @property
    def symbols(self) -> tuple[str, ...]:
        return self._symbols

    def on_tick(self, tick: Tick) -> list[Detection]:
        if tick.symbol not in self._symbols:
            self._counters["skipped_unknown_symbol"] += 1
            return []
        self.seen.append(tick)
        self._counters["ticks"] += 1
        if tick.ltp <= self._fire_above:
            return []
        self._counters["signals_momentum_burst"] += 1
        detection = Detection(
            symbol=tick.symbol,
            pattern="momentum_burst",
            side=1,
            score=0.5,
            price=tick.ltp,
            tick_ts_ns=tick.ts_ns,
            features={"return_bps": 1.0},
        )
        return [detection]

    def on_ticks(self, ticks: Iterable[Tick]) -> list[Detection]:
        return [detection for tick in ticks for detection in self.on_tick(tick)]

    def counters(self) -> dict[str, int]:
        return dict(self._counters)


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    connection = aioredis.Redis.from_url(redis_url)
    yield connection
    await connection.aclose()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def producer(client: aioredis.Redis, stream_prefix: str) -> Producer:
    return Producer(client, prefix=stream_prefix, metrics=BusMetrics(CollectorRegistry()))


def _service(producer: Producer, registry: CollectorRegistry, engines: list[FiringEngine]) -> PatternEngineService:
    def factory() -> FiringEngine:
        engines.append(FiringEngine())
        return engines[-1]

    return PatternEngineService(
        engine_factory=factory,
        producer=producer,
        metrics=PatternMetrics(registry),
        wall_ns=lambda: NOW_NS,
    )


def _deliveries(messages: list[object]) -> list[Delivery[object]]:
    return [Delivery(TICKS, f"1-{n}".encode(), message, 1) for n, message in enumerate(messages)]


def _tick(second: int, ltp: float = 1500.0, symbol: str = "INFY", venue: str = "NSE") -> Tick:
    return Tick(ts_ns=MARKET_OPEN_NS + second * 1_000_000_000, symbol=symbol, venue=venue, ltp=ltp, ltq=1)


async def _signals(client: aioredis.Redis, prefix: str) -> list[Signal | EndOfData]:
    entries = await client.xrange(stream_key(SIGNALS, prefix))
    return [decode(fields[b"d"], Signal | EndOfData) for _, fields in entries]


async def test_the_reference_engine_fires_on_a_burst_and_its_signals_reach_the_stream(
    client: aioredis.Redis, producer: Producer, registry: CollectorRegistry, stream_prefix: str
):
    config = parse_config('symbols = ["INFY", "TCS"]')
    service = PatternEngineService(
        engine_factory=lambda: ReferenceEngine(config), producer=producer, metrics=PatternMetrics(registry)
    )
    ticks = make_calm_then_burst_ticks("INFY")

    for start in range(0, len(ticks), 100):
        await service.handle(_deliveries(ticks[start : start + 100]))

    signals = await _signals(client, stream_prefix)
    burst_ts = ticks[400].ts_ns
    assert {s.pattern for s in signals if isinstance(s, Signal)} >= {"momentum_burst", "vwap_deviation"}
    assert all(isinstance(s, Signal) and s.tick_ts_ns == burst_ts and s.symbol == "INFY" for s in signals)
    assert service.counters()["ticks"] == len(ticks)


async def test_signals_carry_the_tick_venue_the_clock_and_a_deterministic_id_in_tick_order(
    client: aioredis.Redis, producer: Producer, registry: CollectorRegistry, stream_prefix: str
):
    service = _service(producer, registry, engines := [])
    batch = [_tick(1, 2100.0), _tick(2, 1500.0), _tick(3, 2200.0, symbol="NIFTYFUT", venue="NFO")]

    await service.handle(_deliveries(batch))

    signals = await _signals(client, stream_prefix)
    assert [(s.symbol, s.venue, s.tick_ts_ns, s.ts_ns) for s in signals] == [  # type: ignore[union-attr]
        ("INFY", "NSE", batch[0].ts_ns, NOW_NS),
        ("NIFTYFUT", "NFO", batch[2].ts_ns, NOW_NS),
    ]
    assert signals[0].id == f"INFY-{batch[0].ts_ns}-momentum_burst"  # type: ignore[union-attr]
    assert engines[0].seen == batch


async def test_end_of_data_follows_its_signals_counts_them_and_starts_a_new_engine(
    client: aioredis.Redis, producer: Producer, registry: CollectorRegistry, stream_prefix: str
):
    service = _service(producer, registry, engines := [])
    marker = EndOfData(ts_ns=1, replay_id="r1", messages=3, last_tick_ts_ns=_tick(2).ts_ns)

    await service.handle(_deliveries([_tick(1, 2100.0), _tick(2, 2100.0), marker, _tick(1, 2100.0)]))

    stream = await _signals(client, stream_prefix)
    assert [type(m).__name__ for m in stream] == ["Signal", "Signal", "EndOfData", "Signal"]
    forwarded = stream[2]
    assert isinstance(forwarded, EndOfData)
    assert (forwarded.replay_id, forwarded.messages, forwarded.ts_ns) == ("r1", 2, NOW_NS)
    assert forwarded.last_tick_ts_ns == marker.last_tick_ts_ns
    assert len(engines) == 2 and [t.ts_ns for t in engines[1].seen] == [_tick(1).ts_ns]
    assert service.counters()["ticks"] == 3 and service.counters()["signals_momentum_burst"] == 3
    assert service.replays_ended == 1 and service.signals_since_marker == 1


async def test_metrics_count_ticks_skips_signals_latency_and_engine_time(
    producer: Producer, registry: CollectorRegistry
):
    service = _service(producer, registry, [])
    latency_ns = 2_000_000
    service._wall_ns = lambda: _tick(1).ts_ns + latency_ns  # the signal leaves 2 ms after its tick

    await service.handle(_deliveries([_tick(1, 2100.0), _tick(2, symbol="UNKNOWN"), _tick(3)]))
    await service.handle(_deliveries([_tick(4)]))

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("pattern_engine_ticks_total") == 3
    assert value("pattern_engine_ticks_skipped_total", reason="unknown_symbol") == 1
    assert value("pattern_engine_signals_total", pattern="momentum_burst") == 1
    assert value("pattern_engine_tick_to_signal_seconds_count") == 1
    assert value("pattern_engine_tick_to_signal_seconds_bucket", le="0.0025") == 1
    assert value("pattern_engine_tick_to_signal_seconds_bucket", le="0.001") == 0
    assert (value("pattern_engine_engine_ns_per_tick") or 0) > 0


async def test_book_updates_become_ticks_with_traded_quantity_depth_and_the_tick_time(
    producer: Producer, registry: CollectorRegistry
):
    service = _service(producer, registry, engines := [])
    bids = (Level(1499.95, 300), Level(1499.90, 200))
    asks = (Level(1500.05, 100),)

    def update(volume: int, last_price: float | None, second: int) -> BookUpdate:
        return BookUpdate(
            ts_ns=NOW_NS,
            tick_ts_ns=_tick(second).ts_ns,
            symbol="INFY",
            seq=second,
            bids=bids,
            asks=asks,
            last_price=last_price,
            volume=volume,
        )

    await service.handle(_deliveries([update(0, None, 1), update(1_000, 1500.0, 2), update(1_250, 1500.05, 3)]))

    first, second = engines[0].seen
    assert (first.ltq, second.ltq) == (0, 250)
    assert (second.ts_ns, second.seq, second.ltp, second.volume) == (_tick(3).ts_ns, 3, 1500.05, 1_250)
    assert (second.bid, second.bid_qty, second.ask, second.ask_qty) == (1499.95, 300, 1500.05, 100)
    assert second.depth is not None and second.depth.bids == bids and second.depth.asks == asks
    assert service.counters()["skipped_no_last_price"] == 1


async def _stream_with_group(
    client: aioredis.Redis, key: str, messages: list[object], delivered: int, acked: int
) -> list[bytes]:
    """``messages`` on ``key``; the group has been delivered the first ``delivered`` and acked ``acked``."""
    ids = [await client.xadd(key, {"d": encode(m)}) for m in messages]  # type: ignore[arg-type]
    await client.xgroup_create(key, GROUP, id="0")
    if delivered:
        await client.xreadgroup(GROUP, "c", {key: ">"}, count=delivered)
        if acked:
            await client.xack(key, GROUP, *ids[:acked])
    return ids


@pytest.mark.parametrize(("delivered", "acked", "fed"), [(0, 0, 0), (8, 8, 4), (8, 6, 4)])
async def test_warm_start_feeds_the_last_warmup_seconds_before_the_group_position_and_discards_signals(
    client: aioredis.Redis,
    producer: Producer,
    registry: CollectorRegistry,
    stream_prefix: str,
    delivered: int,
    acked: int,
    fed: int,
):
    key = stream_key(TICKS, stream_prefix)
    ticks = [_tick(second * 100, 2100.0) for second in range(10)]  # every one fires
    await _stream_with_group(client, key, ticks, delivered, acked)
    service = _service(producer, registry, engines := [])

    count = await service.warm_start(client, key, GROUP, window_s=300, max_messages=1_000)

    # The window ends at the last delivered tick, or before the oldest pending one, and reaches 300 s back.
    end = acked
    assert count == fed == len(engines[0].seen)
    assert engines[0].seen == ticks[end - fed : end]
    assert await _signals(client, stream_prefix) == []
    assert service.counters()["ticks"] == 0 and service.counters()["signals_momentum_burst"] == 0
    assert service.warmup_ticks == fed
    await service.handle(_deliveries([_tick(2_000, 2100.0)]))
    assert service.counters()["ticks"] == 1


async def test_warm_start_stops_at_an_end_of_data_marker_and_at_max_messages(
    client: aioredis.Redis, producer: Producer, registry: CollectorRegistry, stream_prefix: str
):
    key = stream_key(TICKS, stream_prefix)
    marker = EndOfData(ts_ns=1, replay_id="earlier")
    messages: list[object] = [_tick(1), _tick(2), marker, _tick(1), _tick(2), _tick(3), _tick(4)]
    await _stream_with_group(client, key, messages, delivered=7, acked=7)

    after_marker = _service(producer, registry, engines := [])
    assert await after_marker.warm_start(client, key, GROUP, window_s=300, max_messages=1_000) == 4
    bounded = _service(producer, CollectorRegistry(), bounded_engines := [])
    assert await bounded.warm_start(client, key, GROUP, window_s=300, max_messages=2) == 2

    assert [t.ts_ns for t in engines[0].seen] == [_tick(s).ts_ns for s in (1, 2, 3, 4)]
    assert [t.ts_ns for t in bounded_engines[0].seen] == [_tick(3).ts_ns, _tick(4).ts_ns]


async def test_warm_start_skips_an_undecodable_entry_and_does_nothing_without_a_stream(
    client: aioredis.Redis, producer: Producer, registry: CollectorRegistry, stream_prefix: str
):
    key = stream_key(TICKS, stream_prefix)
    service = _service(producer, registry, engines := [])
    assert await service.warm_start(client, key, GROUP, window_s=300, max_messages=10) == 0

    await client.xadd(key, {"d": encode(_tick(1))})
    await client.xadd(key, {"d": b"\xc1 garbage"})
    await client.xadd(key, {"d": encode(_tick(2))})
    await client.xgroup_create(key, GROUP, id="$")

    assert await service.warm_start(client, key, GROUP, window_s=300, max_messages=10) == 2
    assert [t.ts_ns for t in engines[0].seen] == [_tick(1).ts_ns, _tick(2).ts_ns]


async def test_health_reports_the_implementation_and_counters(producer: Producer, registry: CollectorRegistry):
    service = _service(producer, registry, [])

    await service.handle(_deliveries([_tick(1)]))

    health = service.health()
    assert health["status"] == "ok" and health["implementation"] == "python" and health["symbols"] == 2
    assert health["counters"]["ticks"] == 1 and health["warmup_ticks"] == 0
