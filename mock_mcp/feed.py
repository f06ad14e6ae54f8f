"""Quotes from the live bus when the stack runs, from the price model otherwise.

``LiveQuotes`` remembers the latest trade and book of every instrument it hears about on the ``ticks`` and
``book`` streams, and answers a quote from them while they are fresh (``stale_after_s`` of wall time; a
replay's own clock may be any day). Otherwise, and for anything the feed never carried, the deterministic
price model answers. ``follow`` reads the streams (plain XREAD from the newest entry: the mock only looks, it
does not consume) until cancelled, reconnecting after errors.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final, cast

import redis.asyncio as aioredis

from aitrader.contracts import codec, streams
from aitrader.contracts.messages import BookUpdate, Level, Tick
from aitrader.errors import DecodeError
from aitrader.log import get_logger
from aitrader.marketdata.instruments import Instrument
from mock_mcp.prices import PriceModel, Snapshot

log = get_logger(__name__)

DEPTH_LEVELS: Final = 5
Batch = tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]
"""One stream's part of an XREAD answer: its key and its entries (id, fields)."""
_RETRY_S: Final = 2.0


@dataclass
class _Live:
    """What the feed last said about one instrument, and the day's range it has seen."""

    received: float
    last_price: float
    last_quantity: int = 0
    volume: int = 0
    average_price: float | None = None
    open: float = 0.0
    high: float = 0.0
    low: float = 0.0
    bids: list[tuple[float, int, int]] = field(default_factory=list)
    asks: list[tuple[float, int, int]] = field(default_factory=list)


def _levels(levels: tuple[Level, ...]) -> list[tuple[float, int, int]]:
    return [(level.price, int(level.qty), int(level.orders)) for level in levels[:DEPTH_LEVELS]]


class LiveQuotes:
    """The quote source of the account and the quote routes (``snapshot``), fed by ``observe``."""

    def __init__(
        self, model: PriceModel, instruments: Mapping[str, Instrument], *, stale_after_s: float = 30.0
    ) -> None:
        self._model = model
        self._instruments = instruments
        self._stale_after = stale_after_s
        self._live: dict[int, _Live] = {}
        self.observed = 0
        self.skipped = 0

    def snapshot(self, instrument: Instrument, at: datetime) -> Snapshot:
        modelled = self._model.snapshot(instrument, at)
        live = self._live.get(instrument.instrument_token)
        if live is None or time.monotonic() - live.received > self._stale_after:
            return modelled
        return replace(
            modelled,
            last_price=live.last_price,
            last_quantity=live.last_quantity or modelled.last_quantity,
            volume=live.volume,
            average_price=live.average_price or live.last_price,
            open=live.open,
            high=live.high,
            low=live.low,
            bids=live.bids or modelled.bids,
            asks=live.asks or modelled.asks,
        )

    def instruments_live(self) -> int:
        """How many instruments are quoted from the feed right now."""
        now = time.monotonic()
        return sum(1 for live in self._live.values() if now - live.received <= self._stale_after)

    def observe(self, message: Any) -> None:
        """Take a Tick or a BookUpdate into account; anything else, or an unknown instrument, is ignored."""
        if not isinstance(message, Tick | BookUpdate):
            return
        instrument = self._instruments.get(f"{message.venue}:{message.symbol}")
        if instrument is None:
            self.skipped += 1
            return
        price: float | None
        if isinstance(message, Tick):
            price = message.ltp
            bids = _levels(message.depth.bids) if message.depth else []
            asks = _levels(message.depth.asks) if message.depth else []
            if not bids and message.bid is not None:
                bids = [(message.bid, int(message.bid_qty), 1)]
            if not asks and message.ask is not None:
                asks = [(message.ask, int(message.ask_qty), 1)]
            quantity, average = int(message.ltq), None
        else:
            price = message.last_price if message.last_price is not None else message.mid
            bids, asks, quantity, average = _levels(message.bids), _levels(message.asks), 0, message.vwap
        if price is None:
            return
        live = self._live.get(instrument.instrument_token)
        if live is None:
            live = _Live(received=0.0, last_price=price, open=price, high=price, low=price)
            self._live[instrument.instrument_token] = live
        live.received = time.monotonic()
        live.last_price = price
        live.high, live.low = max(live.high, price), min(live.low, price)
        live.volume = max(live.volume, int(message.volume))
        live.last_quantity = quantity or live.last_quantity
        live.average_price = average or live.average_price
        if bids or asks:
            live.bids, live.asks = bids, asks
        self.observed += 1

    async def follow(self, redis_url: str, prefix: str = "", *, block_ms: int = 1_000) -> None:
        """Read ``ticks`` and ``book`` from their newest entries on, until cancelled."""
        keys = [streams.stream_key(streams.TICKS, prefix), streams.stream_key(streams.BOOK, prefix)]
        while True:
            client = aioredis.Redis.from_url(redis_url)
            try:
                positions: dict[Any, Any] = dict.fromkeys(keys, "$")
                log.info("live_quotes_following", streams=keys)
                while True:
                    answer = await client.xread(positions, block=block_ms, count=1_000)
                    batches = cast(list[Batch], answer)  # RESP2: a list of [key, entries]
                    for key, entries in batches or []:
                        for entry_id, fields in entries:
                            positions[key.decode() if isinstance(key, bytes) else key] = entry_id
                            try:
                                self.observe(codec.from_fields(fields))
                            except DecodeError:
                                self.skipped += 1  # the stream's owner dead-letters it; the mock just looks
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the bus went away: quote from the model meanwhile, try again
                log.warning("live_quotes_lost", error=repr(e), retry_s=_RETRY_S)
                await asyncio.sleep(_RETRY_S)
            finally:
                await client.aclose()
