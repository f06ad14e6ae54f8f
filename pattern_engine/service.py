"""PatternEngineService: each read of ticks goes through the engine, and what fires is published to ``signals``
before the read is acknowledged.

Order of a batch: the ticks go to the engine in stream order, the detections become Signals stamped with the
wall clock, and ``publish_many`` appends them to ``signals``; only when the handler returns does the consumer
acknowledge the ticks. A crash in between redelivers the ticks, so a signal may be published twice, never
lost; its id is deterministic (symbol, tick time, pattern), so downstream recognises the duplicate.

Two inputs, the same detectors: ``ticks`` (or a shard ``ticks:<n>``) is the short path, one hop from the
feed; ``book`` is book_builder's output, for a stack where market depth reaches us only through the book
builder (it keeps the L2 book; a feed's ticks may carry the best level alone), so the book-imbalance
detector sees every level. A BookUpdate becomes the Tick the engine expects (:class:`BookToTicks`).

Warm start: the detectors need ``warmup_s`` of a symbol's history before they fire. After a restart the
group remembers where it was, so :meth:`PatternEngineService.warm_start` reads back the stream's entries of
the last ``warmup_s`` seconds before that point and feeds them to the engine with their signals discarded;
the consumer then resumes from the group as usual.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
import redis.asyncio as aioredis
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from aitrader.bus import Delivery, Producer
from aitrader.contracts import SIGNALS, BookUpdate, Depth, EndOfData, Tick, from_fields
from aitrader.errors import DecodeError
from aitrader.log import get_logger
from pattern_engine.engine import Detection, Engine, to_signal

log = get_logger(__name__)

EngineFactory = Callable[[], Engine]
"""Builds a fresh engine over the configured universe: one at start, a new one after each end of data."""

NO_LAST_PRICE: Final = "no_last_price"
"""Why a book update is skipped before the engine: it carries no last traded price (no trade yet)."""

LATENCY_BUCKETS_S: Final = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
_WARM_START_PAGE: Final = 1_000
_WARM_START_TYPE: Final[Any] = Tick | BookUpdate | EndOfData
_NS_PER_S: Final = 1_000_000_000


class PatternMetrics:
    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.ticks = Counter("pattern_engine_ticks", "Ticks the engine accepted", registry=registry)
        self.skipped = Counter(
            "pattern_engine_ticks_skipped", "Ticks counted and skipped, by reason", ["reason"], registry=registry
        )
        self.signals = Counter(
            "pattern_engine_signals", "Signals published, by pattern", ["pattern"], registry=registry
        )
        self.latency = Histogram(
            "pattern_engine_tick_to_signal_seconds",
            "Signal publish time minus its tick's tick_ts_ns (meaningful when ticks carry wall-clock times)",
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.engine_seconds = Counter(
            "pattern_engine_engine_seconds", "Time spent inside the engine (on_ticks), seconds", registry=registry
        )
        self.ns_per_tick = Gauge(
            "pattern_engine_engine_ns_per_tick",
            "Engine time per tick over the last batch, nanoseconds",
            registry=registry,
        )
        self.warmup_ticks = Counter(
            "pattern_engine_warmup_ticks", "Ticks replayed into the engine by warm starts", registry=registry
        )
        self.replays_ended = Counter("pattern_engine_end_of_data", "End-of-data markers forwarded", registry=registry)


@dataclass
class BookToTicks:
    """Turns book_builder's BookUpdates into the Ticks the engine reads.

    ``ltp`` is the update's last price (an update without one is skipped); ``ltq`` is the rise of the
    cumulative ``volume`` since the symbol's previous update (0 when it did not rise, or on the symbol's
    first update: the engine counts and skips those as a bad quantity); the quotes are the best levels and
    ``depth`` all of them; ``ts_ns`` is the originating tick's ``tick_ts_ns``.
    """

    last_volume: dict[str, int] = field(default_factory=dict)
    skipped: int = 0

    def convert(self, update: BookUpdate) -> Tick | None:
        if update.last_price is None:
            self.skipped += 1
            return None
        previous = self.last_volume.get(update.symbol)
        volume = update.volume
        traded = volume - previous if previous is not None and volume > previous else 0
        if volume > 0:
            self.last_volume[update.symbol] = volume
        bids, asks = update.bids, update.asks
        return Tick(
            ts_ns=update.tick_ts_ns,
            symbol=update.symbol,
            venue=update.venue,
            seq=update.seq,
            ltp=update.last_price,
            ltq=traded,
            volume=volume,
            bid=bids[0].price if bids else None,
            ask=asks[0].price if asks else None,
            bid_qty=bids[0].qty if bids else 0,
            ask_qty=asks[0].qty if asks else 0,
            depth=Depth(bids=bids, asks=asks) if bids or asks else None,
        )

    def reset(self) -> None:
        self.last_volume.clear()


class PatternEngineService:
    def __init__(
        self,
        *,
        engine_factory: EngineFactory,
        producer: Producer,
        metrics: PatternMetrics | None = None,
        wall_ns: Callable[[], int] = time.time_ns,
        perf_ns: Callable[[], int] = time.perf_counter_ns,
    ) -> None:
        self._engine_factory = engine_factory
        self.engine = engine_factory()
        self._producer = producer
        self._metrics = metrics or PatternMetrics()
        self._wall_ns = wall_ns
        self._perf_ns = perf_ns
        self._books = BookToTicks()
        self._venues: dict[str, str] = {}
        self._carried: dict[str, int] = {}
        """Counts of earlier engines (replaced at an end of data), minus what warm starts fed in."""
        self._reported: dict[str, int] = {}
        """The counters as last exported to the metrics (and shown by /health while the engine is busy warming)."""
        self.signals_since_marker = 0
        self.warming_up = False
        self.warmup_ticks = 0
        self.replays_ended = 0
        self.implementation = self.engine.implementation
        self.symbols = len(self.engine.symbols)
        self._reported = self.counters()

    async def handle(self, deliveries: Sequence[Delivery[Any]]) -> None:
        """The consumer's batch handler: run the ticks through the engine, publish the signals, then return.

        An end-of-data marker is forwarded to ``signals`` after the signals of the ticks before it, and the
        engine starts over (a new replay's clock starts again at its open).
        """
        ticks: list[Tick] = []
        for delivery in deliveries:
            message = delivery.message
            if isinstance(message, Tick):
                ticks.append(message)
            elif isinstance(message, BookUpdate):
                tick = self._books.convert(message)
                if tick is not None:
                    ticks.append(tick)
            else:
                await self._run(ticks)
                ticks = []
                await self._end_of_data(message)
        await self._run(ticks)
        self._report_counters()

    async def _run(self, ticks: list[Tick]) -> None:
        if not ticks:
            return
        venues = self._venues
        for tick in ticks:
            venues[tick.symbol] = tick.venue
        started = self._perf_ns()
        detections = self.engine.on_ticks(ticks)
        elapsed = self._perf_ns() - started
        self._metrics.engine_seconds.inc(elapsed / _NS_PER_S)
        self._metrics.ns_per_tick.set(elapsed / len(ticks))
        if detections:
            await self._publish(detections)

    async def _publish(self, detections: list[Detection]) -> None:
        now_ns = self._wall_ns()
        venues = self._venues
        signals = [to_signal(d, ts_ns=now_ns, venue=venues.get(d.symbol, "NSE")) for d in detections]
        await self._producer.publish_many(SIGNALS, signals)
        published_ns = self._wall_ns()
        self.signals_since_marker += len(signals)
        latency = self._metrics.latency
        for detection in detections:
            latency.observe(max(0, published_ns - detection.tick_ts_ns) / _NS_PER_S)

    async def _end_of_data(self, marker: EndOfData) -> None:
        """Forward the marker; ``messages`` becomes the signals this instance published since the last one."""
        forwarded = msgspec.structs.replace(marker, ts_ns=self._wall_ns(), messages=self.signals_since_marker)
        await self._producer.publish(SIGNALS, forwarded)
        log.info(
            "end_of_data",
            replay_id=marker.replay_id,
            signals=self.signals_since_marker,
            ticks=self.counters().get("ticks", 0),
        )
        self.signals_since_marker = 0
        self.replays_ended += 1
        self._metrics.replays_ended.inc()
        self._replace_engine()

    def _replace_engine(self) -> None:
        for key, value in self.engine.counters().items():
            self._carried[key] = self._carried.get(key, 0) + value
        self.engine = self._engine_factory()
        self._books.reset()

    async def warm_start(
        self, redis: aioredis.Redis, stream: str, group: str, *, window_s: float, max_messages: int
    ) -> int:
        """Feed the engine the ticks of the ``window_s`` seconds before where ``group`` stopped on ``stream``
        (a full key), discarding their signals; returns how many ticks were fed.

        Nothing happens for a new group. The window ends just before the group's oldest pending entry (the
        consumer hands those to the engine again) or at its last delivered entry, and starts ``window_s``
        before that entry's tick time, at an end-of-data marker (an earlier replay), or after ``max_messages``
        entries read back, whichever comes first.
        """
        upper = await _warm_start_end(redis, stream, group)
        if upper is None:
            return 0
        self.warming_up = True
        try:
            messages = await _read_back(redis, stream, upper, int(window_s * _NS_PER_S), max_messages)
            skipped_books = self._books.skipped
            ticks = []
            for message in reversed(messages):
                tick = self._books.convert(message) if isinstance(message, BookUpdate) else message
                if tick is not None:
                    self._venues[tick.symbol] = tick.venue
                    ticks.append(tick)
            self._books.skipped = skipped_books
            before = self.engine.counters()
            # In a thread, so /health answers meanwhile (it reports the counters from before the warm start).
            await asyncio.to_thread(self.engine.on_ticks, ticks)
            for key, value in self.engine.counters().items():
                self._carried[key] = self._carried.get(key, 0) - (value - before.get(key, 0))
        finally:
            self.warming_up = False
        self.warmup_ticks += len(ticks)
        self._metrics.warmup_ticks.inc(len(ticks))
        log.info("warm_start", stream=stream, group=group, ticks=len(ticks), entries=len(messages), before=upper)
        return len(ticks)

    def counters(self) -> dict[str, int]:
        """The engine's counters since this process started, warm starts excluded, plus ``skipped_no_last_price``."""
        totals = dict(self._carried)
        for key, value in self.engine.counters().items():
            totals[key] = totals.get(key, 0) + value
        totals[f"skipped_{NO_LAST_PRICE}"] = self._books.skipped
        return dict(sorted(totals.items()))

    def _report_counters(self) -> None:
        metrics = self._metrics
        for key, value in self.counters().items():
            delta = value - self._reported.get(key, 0)
            self._reported[key] = value
            if delta <= 0:
                continue
            if key == "ticks":
                metrics.ticks.inc(delta)
            elif key.startswith("skipped_"):
                metrics.skipped.labels(key.removeprefix("skipped_")).inc(delta)
            elif key.startswith("signals_"):
                metrics.signals.labels(key.removeprefix("signals_")).inc(delta)

    def health(self) -> dict[str, Any]:
        return {
            "status": "warming_up" if self.warming_up else "ok",
            "implementation": self.implementation,
            "symbols": self.symbols,
            "counters": dict(self._reported) if self.warming_up else self.counters(),
            "warmup_ticks": self.warmup_ticks,
            "replays_ended": self.replays_ended,
        }


async def _warm_start_end(redis: aioredis.Redis, stream: str, group: str) -> str | None:
    """The upper bound (an XREVRANGE ``max``) of a warm start, or None when the group has read nothing yet."""
    try:
        groups: Any = await redis.xinfo_groups(stream)
    except aioredis.ResponseError:  # no such stream yet
        return None
    info = next((g for g in groups if _text(g["name"]) == group), None)
    if info is None:
        return None
    last_delivered = _text(info["last-delivered-id"])
    if last_delivered == "0-0":
        return None
    if int(info["pending"]):
        summary: Any = await redis.xpending(stream, group)
        return "(" + _text(summary["min"])
    return last_delivered


async def _read_back(
    redis: aioredis.Redis, stream: str, upper: str, window_ns: int, max_messages: int
) -> list[Tick | BookUpdate]:
    """Entries from ``upper`` backwards, newest first, while within ``window_ns`` of the newest one's tick time."""
    found: list[Tick | BookUpdate] = []
    newest_ns: int | None = None
    read = 0
    cursor = upper
    while read < max_messages:
        page: Any = await redis.xrevrange(stream, max=cursor, min="-", count=min(_WARM_START_PAGE, max_messages - read))
        if not page:
            break
        for _entry_id, fields in page:
            read += 1
            try:
                message = from_fields(fields, _WARM_START_TYPE)
            except DecodeError:
                continue
            if isinstance(message, EndOfData):
                return found
            ts_ns = message.ts_ns if isinstance(message, Tick) else message.tick_ts_ns
            if newest_ns is None:
                newest_ns = ts_ns
            elif ts_ns < newest_ns - window_ns:
                return found
            found.append(message)
        cursor = "(" + _text(page[-1][0])
    return found


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
