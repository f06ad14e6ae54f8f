"""BookBuilderService: each read of ticks becomes book updates, bars and stored 1-minute bars, then is acked.

Everything a batch produces is written (``book``, ``bars``, PostgreSQL) before the batch handler returns,
so the consumer acknowledges the ticks only once their results are durable; a redelivered batch writes the
same results again (bars are upserted by symbol, interval and start).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge

from aitrader.bus import Delivery, Producer
from aitrader.contracts import (
    BARS,
    BOOK,
    FEED_STATUS,
    Bar,
    BookStreamMessage,
    BookUpdate,
    EndOfData,
    FeedStatusChanged,
    Tick,
    TickStreamMessage,
)
from aitrader.contracts.codec import from_fields
from aitrader.contracts.money import to_decimal
from aitrader.db.repositories import BarValues, datetime_from_ns
from aitrader.errors import DecodeError
from aitrader.log import get_logger
from book_builder.book import BookBuilder

log = get_logger(__name__)

BarStore = Callable[[list[BarValues]], int]
"""Stores 1-minute bars idempotently (blocking; the service runs it in a thread)."""


class BookMetrics:
    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.ticks = Counter("book_builder_ticks", "Ticks applied to books", registry=registry)
        self.dropped = Gauge(
            "book_builder_ticks_dropped", "Ticks dropped since start, by reason", ["reason"], registry=registry
        )
        self.bars = Counter("book_builder_bars", "Bars closed, by interval", ["interval"], registry=registry)
        self.bars_stored = Counter("book_builder_bars_stored", "1-minute bars upserted", registry=registry)
        self.stale = Gauge("book_builder_stale_symbols", "Symbols whose feed is stale", registry=registry)
        self.replays_ended = Counter("book_builder_end_of_data", "End-of-data markers seen", registry=registry)


@dataclass
class _Results:
    """What one stretch of a batch produced, written together."""

    updates: list[BookUpdate] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    returned: list[FeedStatusChanged] = field(default_factory=list)


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


@dataclass
class _Feed:
    last_arrival: float
    last_tick_ts_ns: int
    stale: bool = False


@dataclass
class FeedWatch:
    """When each symbol's last tick arrived (wall clock), to tell a silent feed from a quiet replay."""

    stale_after_s: float
    feeds: dict[str, _Feed] = field(default_factory=dict)

    def seen(self, symbol: str, tick_ts_ns: int, now: float) -> bool:
        """Record a tick; True when the symbol had been stale (it came back)."""
        feed = self.feeds.get(symbol)
        if feed is None:
            self.feeds[symbol] = _Feed(now, tick_ts_ns)
            return False
        came_back = feed.stale
        feed.last_arrival, feed.last_tick_ts_ns, feed.stale = now, tick_ts_ns, False
        return came_back

    def newly_stale(self, now: float) -> list[tuple[str, _Feed]]:
        found = []
        for symbol, feed in self.feeds.items():
            if not feed.stale and now - feed.last_arrival >= self.stale_after_s:
                feed.stale = True
                found.append((symbol, feed))
        return found

    def stale_symbols(self) -> list[str]:
        return sorted(symbol for symbol, feed in self.feeds.items() if feed.stale)


class BookBuilderService:
    def __init__(
        self,
        *,
        producer: Producer,
        bar_store: BarStore | None,
        stale_after_s: float,
        metrics: BookMetrics | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._producer = producer
        self._bar_store = bar_store
        self._metrics = metrics or BookMetrics()
        self._monotonic = monotonic
        self._wall_ns = wall_ns
        self.book = BookBuilder()
        self.watch = FeedWatch(stale_after_s)
        self.replays_ended = 0

    async def resume(self, client: Any, book_key: str, depth: int) -> int:
        """Read back the newest ``depth`` entries of ``book`` (as far as the last end-of-data marker: a new
        replay numbers its ticks afresh) and resume each symbol from its last published update. Returns how
        many symbols were resumed."""
        latest: dict[str, BookUpdate] = {}
        entries: Any = await client.xrevrange(book_key, count=depth)
        for _, fields in entries:
            try:
                message = from_fields(fields, BookStreamMessage)
            except DecodeError:
                continue
            if isinstance(message, EndOfData):
                break
            latest.setdefault(message.symbol, message)
        self.book.resume(latest)
        return len(latest)

    async def handle(self, deliveries: list[Delivery[TickStreamMessage]]) -> None:
        """The consumer's batch handler: apply every tick, then write all results before returning.

        An end-of-data marker closes every open bar; what came before it is written before it is forwarded
        to ``book`` and ``bars``, so downstream sees the marker after the last results of that replay.
        """
        now_ns = self._wall_ns()
        now = self._monotonic()
        book = self.book
        batch = _Results()
        for delivery in deliveries:
            message = delivery.message
            if isinstance(message, Tick):
                update = book.on_tick(message, now_ns, batch.bars)
                if update is None:
                    continue
                batch.updates.append(update)
                if self.watch.seen(message.symbol, message.ts_ns, now):
                    batch.returned.append(self._status(message.symbol, message.ts_ns, stale=False, silent_ms=0))
                continue
            book.end_of_data(now_ns, batch.bars)
            self.watch.feeds.clear()
            await self._write(batch, marker=message)
            batch = _Results()
        book.close_due(now_ns, batch.bars)
        await self._write(batch, marker=None)

    async def _write(self, batch: _Results, marker: EndOfData | None) -> None:
        counters = self.book.counters
        minute_bars = [bar for bar in batch.bars if bar.interval == "1m"]
        if minute_bars and self._bar_store is not None:
            stored = await asyncio.to_thread(self._bar_store, [_bar_values(bar) for bar in minute_bars])
            self._metrics.bars_stored.inc(stored)
        if batch.updates:
            await self._producer.publish_many(BOOK, batch.updates)
        if batch.bars:
            await self._producer.publish_many(BARS, batch.bars)
        if batch.returned:
            await self._producer.publish_many(FEED_STATUS, batch.returned)
        if marker is not None:
            forwarded = msgspec.structs.replace(marker, ts_ns=self._wall_ns())
            await self._producer.publish(BOOK, forwarded)
            await self._producer.publish(BARS, forwarded)
            self.replays_ended += 1
            self._metrics.replays_ended.inc()
            log.info("end_of_data", replay_id=marker.replay_id, messages=marker.messages, ticks=counters.ticks)
        metrics = self._metrics
        metrics.ticks.inc(len(batch.updates))
        for reason, total in (("duplicate", counters.duplicates), ("out_of_order", counters.out_of_order)):
            metrics.dropped.labels(reason).set(total)
        if batch.bars:
            seconds = sum(1 for bar in batch.bars if bar.interval == "1s")
            metrics.bars.labels("1s").inc(seconds)
            metrics.bars.labels("1m").inc(len(batch.bars) - seconds)

    async def check_feeds(self) -> list[str]:
        """Report symbols that have gone silent since the last check; returns their names."""
        now = self._monotonic()
        stale = self.watch.newly_stale(now)
        if stale:
            await self._producer.publish_many(
                FEED_STATUS,
                [
                    self._status(symbol, feed.last_tick_ts_ns, stale=True, silent_ms=_ms(now - feed.last_arrival))
                    for symbol, feed in stale
                ],
            )
            for symbol, feed in stale:
                log.warning("feed_stale", symbol=symbol, silent_s=round(now - feed.last_arrival, 1))
        self._metrics.stale.set(len(self.watch.stale_symbols()))
        return [symbol for symbol, _ in stale]

    def health(self) -> dict[str, Any]:
        stale = self.watch.stale_symbols()
        counters = self.book.counters
        return {
            "status": "degraded" if stale else "ok",
            "warnings": [f"no tick for {symbol} in {self.watch.stale_after_s:g} s" for symbol in stale],
            "stale_symbols": stale,
            "symbols": len(self.book.symbols),
            "ticks": counters.ticks,
            "duplicates": counters.duplicates,
            "out_of_order": counters.out_of_order,
            "crossed": counters.crossed,
            "late_for_bars": counters.late_for_bars,
            "replays_ended": self.replays_ended,
        }

    def _status(self, symbol: str, tick_ts_ns: int, *, stale: bool, silent_ms: int) -> FeedStatusChanged:
        return FeedStatusChanged(
            ts_ns=self._wall_ns(), symbol=symbol, stale=stale, last_tick_ts_ns=tick_ts_ns, silent_ms=silent_ms
        )


def _bar_values(bar: Bar) -> BarValues:
    return BarValues(
        symbol=bar.symbol,
        interval=bar.interval,
        start=datetime_from_ns(bar.start_ns),
        open=to_decimal(bar.open),
        high=to_decimal(bar.high),
        low=to_decimal(bar.low),
        close=to_decimal(bar.close),
        volume=bar.volume,
        vwap=to_decimal(round(bar.vwap, 6)) if bar.vwap is not None else None,
        trade_count=bar.trade_count,
    )
