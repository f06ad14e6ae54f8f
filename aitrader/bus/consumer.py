"""Reading a stream through a consumer group, at least once, with retries and a dead-letter stream.

Life of an entry:
1. XREADGROUP delivers it; the handler runs; only when the handler returns is it acknowledged (XACK).
2. If the handler raises, the entry stays pending. Once it has been idle ``claim_idle_ms`` some consumer
   of the group reclaims it (XAUTOCLAIM) and handles it again — this is also how the entries of a
   consumer that died mid-batch get handled.
3. An entry that cannot be decoded, or that has been delivered more than ``max_deliveries`` times, is
   copied to ``<stream>:dead`` with the error and acknowledged, atomically (MULTI), so it is neither
   lost nor dead-lettered twice.
At start a consumer first re-reads its own pending entries (its name is stable across restarts).
Handlers must be idempotent: delivery is at least once. A batch handler gets every decodable message of a
read at once (so it can write its results in one round trip); if it fails, it is run once per message.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from aitrader.bus.config import ConsumerConfig
from aitrader.bus.metrics import BusMetrics, default_metrics
from aitrader.contracts.codec import MSGPACK_FIELD, from_fields
from aitrader.contracts.messages import Message
from aitrader.contracts.streams import dead_letter_key
from aitrader.errors import DecodeError
from aitrader.log import get_logger

log = get_logger(__name__)

T = TypeVar("T")
Entry = tuple[bytes, dict[bytes, bytes]]

_LAST_ERRORS_KEPT = 10_000
LAG_COUNT_CAP = 1_000


class Delivery(NamedTuple, Generic[T]):
    """A decoded message handed to a handler, with where it came from and how often it was delivered."""

    stream: str
    entry_id: bytes
    message: T
    deliveries: int


@dataclass(frozen=True, slots=True)
class ConsumerStats:
    """How far behind the group is.

    ``lag``: entries not yet delivered to the group (exact on Redis 7; on 6.2, which does not track it,
    counted up to ``LAG_COUNT_CAP``). ``lag_ms``: age of the newest entry minus age of the last delivered
    one, from their ids. ``pending``: delivered but not acknowledged.
    """

    lag: int
    lag_ms: int
    pending: int


Handler = Callable[[Delivery[T]], Awaitable[None]]
BatchHandler = Callable[[list[Delivery[T]]], Awaitable[None]]


class Consumer(Generic[T]):
    """One member of a consumer group on one stream (a full key, prefix included)."""

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        stream: str,
        group: str,
        consumer: str,
        handler: Handler[T] | None = None,
        batch_handler: BatchHandler[T] | None = None,
        message_type: Any = Message,
        config: ConsumerConfig | None = None,
        metrics: BusMetrics | None = None,
    ) -> None:
        self._redis = redis
        self.stream = stream
        self.group = group
        self.name = consumer
        if (handler is None) == (batch_handler is None):
            raise ValueError("give a consumer exactly one of handler (per message) and batch_handler")
        self._handler = handler
        self._batch_handler = batch_handler
        self._message_type = message_type
        self._decode_msgpack = msgspec.msgpack.Decoder(message_type).decode
        self._config = config or ConsumerConfig()
        self._metrics = metrics or default_metrics()
        self._dead_key = dead_letter_key(stream)
        self._stopping = asyncio.Event()
        self._last_errors: dict[bytes, str] = {}
        self._unsent_acks: list[bytes] = []
        self._handled = self._metrics.handled.labels(stream, group)
        self._failures = self._metrics.handler_failures.labels(stream, group)

    # -- control ---------------------------------------------------------------------------------

    def stop(self) -> None:
        """Finish the batch in hand, acknowledge it, and return from ``run``."""
        self._stopping.set()

    def install_signal_handlers(self) -> None:
        """Stop gracefully on SIGTERM and SIGINT (call from inside the running event loop)."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop)

    async def ensure_group(self) -> None:
        """Create the group (and the stream) if missing; an existing group is left as it is."""
        try:
            await self._redis.xgroup_create(self.stream, self.group, id=self._config.start_id, mkstream=True)
            log.info("consumer_group_created", stream=self.stream, group=self.group)
        except ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    async def run(self) -> None:
        """Consume until ``stop()``: own pending entries first, then new ones, reclaiming idle ones periodically."""
        self._stopping.clear()
        await self.ensure_group()
        await self._drain_own_pending()
        interval_s = self._config.claim_interval_ms / 1000
        next_claim = 0.0  # reclaim at once: a dead predecessor's entries are handled first
        next_stats = time.monotonic() + interval_s
        log.info("consumer_started", stream=self.stream, group=self.group, consumer=self.name)
        while not self._stopping.is_set():
            try:
                now = time.monotonic()
                if now >= next_claim:
                    await self._flush_acks()
                    await self._reclaim_idle()
                    next_claim = now + interval_s
                if now >= next_stats:
                    await self.publish_stats()
                    next_stats = now + interval_s
                response = await self._read_new()
                if response:
                    await self._process(response[0][1], None, defer_ack=True)
            except ResponseError as e:
                # NOGROUP: the group (or the stream) is gone. Redis 7 also unblocks a waiting
                # XREADGROUP with "UNBLOCKED the stream key no longer exists" when the stream is deleted.
                if "NOGROUP" not in str(e) and "UNBLOCKED" not in str(e):
                    raise
                log.warning("consumer_group_missing", stream=self.stream, group=self.group, error=str(e))
                await self.ensure_group()
            except (RedisConnectionError, RedisTimeoutError) as e:
                log.warning("consumer_redis_unavailable", stream=self.stream, error=str(e))
                await asyncio.sleep(self._config.error_backoff_ms / 1000)
        await self._flush_acks()
        log.info("consumer_stopped", stream=self.stream, group=self.group, consumer=self.name)

    # -- observability ---------------------------------------------------------------------------

    async def stats(self) -> ConsumerStats:
        """Lag and pending count of this consumer's group, in O(1) Redis work (bounded on 6.2)."""
        groups = await self._redis.xinfo_groups(self.stream)
        info = next((g for g in groups if _text(g["name"]) == self.group), None)
        if info is None:
            return ConsumerStats(lag=0, lag_ms=0, pending=0)
        last_delivered = _text(info["last-delivered-id"])
        stream_info = await self._redis.xinfo_stream(self.stream)
        last_generated = _text(stream_info["last-generated-id"])
        lag_ms = max(0, _id_ms(last_generated) - _id_ms(last_delivered))
        lag = info.get("lag")
        if lag is None:  # Redis < 7 keeps no entries-read counter: count what follows, up to a cap
            following: Any = []
            if last_delivered != last_generated:
                following = await self._redis.xrange(
                    self.stream, min=f"({last_delivered}", max="+", count=LAG_COUNT_CAP
                )
            lag = len(following)
        return ConsumerStats(lag=int(lag), lag_ms=lag_ms, pending=int(info["pending"]))

    async def publish_stats(self) -> ConsumerStats:
        stats = await self.stats()
        self._metrics.lag.labels(self.stream, self.group).set(stats.lag)
        self._metrics.lag_seconds.labels(self.stream, self.group).set(stats.lag_ms / 1000)
        self._metrics.pending.labels(self.stream, self.group).set(stats.pending)
        return stats

    # -- the work ----------------------------------------------------------------------------------

    async def _read_new(self) -> Any:
        """XREADGROUP of new entries; acknowledgements of the last batch travel in the same round trip."""
        if not self._unsent_acks:
            return await self._redis.xreadgroup(
                self.group,
                self.name,
                {self.stream: ">"},
                count=self._config.batch_size,
                block=self._config.block_ms,
            )
        acks = self._unsent_acks
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.xack(self.stream, self.group, *acks)
            pipe.xreadgroup(
                self.group,
                self.name,
                {self.stream: ">"},
                count=self._config.batch_size,
                block=self._config.block_ms,
            )
            _, response = await pipe.execute()
        self._unsent_acks = []
        self._handled.inc(len(acks))
        return response

    async def _flush_acks(self) -> None:
        if self._unsent_acks:
            acks, self._unsent_acks = self._unsent_acks, []
            await self._redis.xack(self.stream, self.group, *acks)
            self._handled.inc(len(acks))

    async def _drain_own_pending(self) -> None:
        """Re-read what this consumer had been delivered but had not acknowledged when it last stopped."""
        cursor: bytes | str = "0"
        while not self._stopping.is_set():
            response: Any = await self._redis.xreadgroup(
                self.group, self.name, {self.stream: cursor}, count=self._config.batch_size
            )
            entries = response[0][1] if response else []
            if not entries:
                return
            log.info("consumer_resuming_pending", stream=self.stream, consumer=self.name, entries=len(entries))
            self._metrics.reclaimed.labels(self.stream, self.group).inc(len(entries))
            await self._process(entries, await self._delivery_counts(entries))
            cursor = entries[-1][0]

    async def _reclaim_idle(self) -> None:
        """Take over entries idle longer than ``claim_idle_ms`` in any member's pending list, and handle them."""
        cursor: bytes | str = "0-0"
        while not self._stopping.is_set():
            response: Any = await self._redis.xautoclaim(
                self.stream,
                self.group,
                self.name,
                min_idle_time=self._config.claim_idle_ms,
                start_id=cursor,
                count=self._config.batch_size,
            )
            next_cursor, claimed = response[0], response[1]
            live = [(entry_id, fields) for entry_id, fields in claimed if entry_id is not None]
            if len(live) < len(claimed):
                # Redis 6.2 reports an entry trimmed while pending as nil, without its id (7.x drops it itself).
                await self._ack_vanished(cursor, next_cursor, {entry_id for entry_id, _ in live})
            if live:
                log.info("consumer_reclaimed", stream=self.stream, consumer=self.name, entries=len(live))
                self._metrics.reclaimed.labels(self.stream, self.group).inc(len(live))
                await self._process(live, await self._delivery_counts(live))
            if _text(next_cursor) == "0-0":
                return
            cursor = next_cursor

    async def _process(
        self, entries: Sequence[Entry], deliveries: dict[bytes, int] | None, *, defer_ack: bool = False
    ) -> None:
        """Handle ``entries``; acknowledge the successes now, or with the next read when ``defer_ack``."""
        acks: list[bytes] = []
        batch: list[Delivery[T]] = []
        max_deliveries = self._config.max_deliveries
        for entry_id, fields in entries:
            if not fields:
                acks.append(entry_id)  # trimmed from the stream while pending: nothing left to handle
                continue
            count = deliveries.get(entry_id, 1) if deliveries else 1
            if count > max_deliveries:
                last_error = self._last_errors.pop(entry_id, "not seen by this consumer")
                await self._dead_letter(
                    entry_id,
                    fields,
                    reason="max_deliveries",
                    error=f"delivered {count} times, more than max_deliveries={max_deliveries}; "
                    f"last error: {last_error}",
                    deliveries=count,
                )
                continue
            try:
                data = fields.get(MSGPACK_FIELD)
                if data is not None:
                    try:
                        message = self._decode_msgpack(data)
                    except msgspec.DecodeError as e:
                        raise DecodeError(f"invalid msgpack message: {e}") from e
                else:
                    message = from_fields(fields, self._message_type)
            except DecodeError as e:
                await self._dead_letter(entry_id, fields, reason="undecodable", error=str(e), deliveries=count)
                continue
            delivery = Delivery(self.stream, entry_id, message, count)
            if self._batch_handler is not None:
                batch.append(delivery)
                continue
            assert self._handler is not None
            try:
                await self._handler(delivery)
            except Exception as e:  # a handler's failure must not stop the consumer; the entry is retried
                self._handler_failed([delivery], e)
                continue
            acks.append(entry_id)
        if batch:
            acks.extend(await self._handle_batch(batch))
        if defer_ack:
            self._unsent_acks.extend(acks)
        elif acks:
            await self._redis.xack(self.stream, self.group, *acks)
            self._handled.inc(len(acks))

    async def _dead_letter(
        self, entry_id: bytes, fields: dict[bytes, bytes], *, reason: str, error: str, deliveries: int
    ) -> None:
        record: dict[Any, Any] = dict(fields)
        record.update(
            {
                "error": error,
                "reason": reason,
                "source_stream": self.stream,
                "source_id": entry_id,
                "group": self.group,
                "consumer": self.name,
                "deliveries": deliveries,
                "dead_ts_ns": time.time_ns(),
            }
        )
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xadd(self._dead_key, record, maxlen=self._config.dead_letter_maxlen, approximate=True)
            pipe.xack(self.stream, self.group, entry_id)
            await pipe.execute()
        self._metrics.dead_lettered.labels(self.stream, self.group, reason).inc()
        log.warning(
            "message_dead_lettered",
            stream=self.stream,
            group=self.group,
            entry_id=entry_id.decode(),
            reason=reason,
            error=error,
        )

    async def _delivery_counts(self, entries: Sequence[Entry]) -> dict[bytes, int]:
        """How many times each entry has been delivered (XPENDING), including the delivery in hand."""
        wanted = {entry_id for entry_id, _ in entries}
        counts: dict[bytes, int] = {}
        lower: bytes | str = entries[0][0]
        upper = entries[-1][0]
        page = max(2 * len(entries), 100)
        while True:
            rows: Any = await self._redis.xpending_range(
                self.stream, self.group, min=lower, max=upper, count=page, consumername=self.name
            )
            for row in rows:
                if row["message_id"] in wanted:
                    counts[row["message_id"]] = int(row["times_delivered"])
            if len(rows) < page or len(counts) == len(wanted):
                return counts
            lower = b"(" + bytes(rows[-1]["message_id"])

    async def _ack_vanished(self, start: bytes | str, end: bytes | str, live: set[bytes]) -> None:
        upper = "+" if _text(end) == "0-0" else end
        pending = await self._redis.xpending_range(
            self.stream,
            self.group,
            min=start,
            max=upper,
            count=self._config.batch_size * 4,
            consumername=self.name,
        )
        vanished = []
        for row in pending:
            entry_id = row["message_id"]
            if entry_id not in live and not await self._redis.xrange(self.stream, min=entry_id, max=entry_id):
                vanished.append(entry_id)
        if vanished:
            await self._redis.xack(self.stream, self.group, *vanished)
            log.warning("pending_entries_trimmed", stream=self.stream, group=self.group, entries=len(vanished))

    async def _handle_batch(self, batch: list[Delivery[T]]) -> list[bytes]:
        """Run the batch handler; if it fails, run it once per message, so that one poison message does not
        hold back the rest. Returns the ids to acknowledge (handlers are idempotent, so a rerun is safe)."""
        assert self._batch_handler is not None
        try:
            await self._batch_handler(batch)
            return [delivery.entry_id for delivery in batch]
        except Exception as e:  # isolate the failing message(s) below
            if len(batch) == 1:
                self._handler_failed(batch, e)
                return []
        done = []
        for delivery in batch:
            try:
                await self._batch_handler([delivery])
            except Exception as e:  # stays pending; retried after claim_idle_ms, dead-lettered eventually
                self._handler_failed([delivery], e)
            else:
                done.append(delivery.entry_id)
        return done

    def _handler_failed(self, deliveries: list[Delivery[T]], e: Exception) -> None:
        error = f"{type(e).__name__}: {e}"
        for delivery in deliveries:
            self._remember_error(delivery.entry_id, error)
        self._failures.inc(len(deliveries))
        log.warning(
            "handler_failed",
            stream=self.stream,
            group=self.group,
            entry_id=deliveries[0].entry_id.decode(),
            entries=len(deliveries),
            deliveries=deliveries[0].deliveries,
            error=error,
        )

    def _remember_error(self, entry_id: bytes, error: str) -> None:
        if len(self._last_errors) >= _LAST_ERRORS_KEPT:
            self._last_errors.pop(next(iter(self._last_errors)))
        self._last_errors[entry_id] = error


def _id_ms(entry_id: str) -> int:
    return int(entry_id.split("-", 1)[0])


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
