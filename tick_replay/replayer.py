"""The replay itself: read a source, pace it, publish it, end every stream with EndOfData.

Pacing follows the ticks' own timestamps: at speed S a tick ``t`` seconds after the first goes out ``t / S``
seconds after the replay started (time spent paused does not count); with no speed ticks go out as fast
as Redis takes them. Per-symbol order is kept because ticks go out in source order and a symbol always
maps to the same stream.

A replay never overruns its consumers: before each chunk it checks every consumer group of its
streams, and while one has more than half of the stream's MAXLEN waiting (undelivered or unacknowledged),
it waits, so trimming can never drop a tick a consumer has not handled.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import redis.asyncio as aioredis

from aitrader.bus import Producer
from aitrader.contracts import TICKS, EndOfData, Tick, shard_of, tick_shard
from aitrader.log import get_logger
from aitrader.marketdata.schema import ticks_from_table
from tick_replay.native import Appender, AppenderFactory, tick_columns
from tick_replay.sources import TickSource

log = get_logger(__name__)

_CONSUMER_CHECK_MAX_CHUNKS = 10
_BACKPRESSURE_POLL_S = 0.02
_MAX_SLEEP_S = 0.25


class ReplayState(StrEnum):
    IDLE = "idle"
    STARTING = "starting"
    RUNNING = "running"
    PAUSED = "paused"
    WAITING = "waiting_for_consumers"
    FINISHED = "finished"
    STOPPED = "stopped"
    FAILED = "failed"


ACTIVE_STATES = frozenset({ReplayState.STARTING, ReplayState.RUNNING, ReplayState.PAUSED, ReplayState.WAITING})


@dataclass(frozen=True)
class ReplayPlan:
    """What to replay and how: ``speed`` None is as fast as possible; ``shards`` 0 means one `ticks` stream."""

    source: TickSource
    speed: float | None = None
    shards: int = 0
    symbols: frozenset[str] | None = None
    start_ns: int | None = None
    end_ns: int | None = None
    limit: int | None = None
    wait_for_consumers: bool = True

    def streams(self) -> list[str]:
        return [tick_shard(n) for n in range(self.shards)] if self.shards else [TICKS]


@dataclass
class ReplayProgress:
    replay_id: str = ""
    state: ReplayState = ReplayState.IDLE
    source: str = ""
    speed: float | None = None
    streams: list[str] = field(default_factory=list)
    published: int = 0
    total: int | None = None
    skipped: int = 0
    first_tick_ts_ns: int | None = None
    last_tick_ts_ns: int | None = None
    started_at_ns: int | None = None
    finished_at_ns: int | None = None
    active_seconds: float = 0.0
    waiting_on: str | None = None
    error: str | None = None

    @property
    def rate(self) -> float:
        """Ticks per second while running (pauses excluded)."""
        return self.published / self.active_seconds if self.active_seconds > 0 else 0.0


@dataclass(frozen=True)
class _TableChunk:
    """A chunk for the native appender: per stream, its columns ready to append."""

    parts: list[tuple[str, dict[str, Any]]]
    rows: int
    last_ts_ns: int


class _Backlog:
    """How far each consumer group of a stream is behind this replay, from the ids the replay got back.

    Remembers the last id of every recent chunk with the running count, so the undelivered entries of a
    group are ``published - count up to its last-delivered-id`` without reading the stream.
    """

    def __init__(self, window: int) -> None:
        self._marks: deque[tuple[tuple[int, int], int]] = deque(maxlen=window)
        self.published = 0

    def record(self, last_id: bytes, count: int) -> None:
        self.published += count
        self._marks.append((_id_tuple(last_id), self.published))

    def undelivered(self, last_delivered: bytes | str) -> int:
        if not self._marks:
            return 0
        position = bisect.bisect_right(self._marks, (_id_tuple(last_delivered), self.published + 1))
        if position == 0:
            return self.published  # behind everything we still remember: at least the whole window
        return self.published - self._marks[position - 1][1]


def _ts_ns(tick: Tick) -> int:
    return tick.ts_ns


def _id_tuple(entry_id: bytes | str) -> tuple[int, int]:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


class Replayer:
    """Runs one replay at a time; ``progress`` is safe to read at any moment."""

    def __init__(
        self,
        *,
        redis: aioredis.Redis,
        producer: Producer,
        chunk_size: int,
        maxlen: int,
        native: AppenderFactory | None = None,
        redis_url: str = "",
        native_chunk: int = 10_000,
        monotonic: Callable[[], float] = time.monotonic,
        wall_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._redis = redis
        self._producer = producer
        self._chunk = chunk_size
        self._maxlen = maxlen
        self._native = native
        self._redis_url = redis_url
        # A chunk never outruns the consumer check (a quarter of MAXLEN), so backpressure holds on this path too.
        self._native_chunk = max(1, min(native_chunk, maxlen // 4))
        self._appenders: dict[str, Appender] = {}
        self._monotonic = monotonic
        self._wall_ns = wall_ns
        self.progress = ReplayProgress()
        self._counts: dict[str, int] = {}
        self._backlogs: dict[str, _Backlog] = {}
        # Check consumers at least every quarter of MAXLEN, so a stalled group is seen before trimming bites.
        self._check_every = chunk_size * max(1, min(_CONSUMER_CHECK_MAX_CHUNKS, maxlen // 4 // chunk_size))
        self._next_consumer_check = self._check_every
        self._resumed = asyncio.Event()
        self._resumed.set()
        self._stop = False
        self._paused_for = 0.0

    # -- control -----------------------------------------------------------------------------------

    @property
    def native(self) -> bool:
        """Whether max-speed replays append through the Rust extension."""
        return self._native is not None

    @property
    def active(self) -> bool:
        return self.progress.state in ACTIVE_STATES

    def pause(self) -> None:
        self._resumed.clear()
        self.progress.state = ReplayState.PAUSED

    def resume(self) -> None:
        self.progress.state = ReplayState.RUNNING
        self._resumed.set()

    def stop(self) -> None:
        self._stop = True
        self._resumed.set()

    def begin(self, replay_id: str, plan: ReplayPlan) -> None:
        """Reset the progress for a new replay (before its task starts, so the caller sees it at once)."""
        self._stop = False
        self._paused_for = 0.0
        self._next_consumer_check = self._check_every
        self._resumed.set()
        self.progress = ReplayProgress(
            replay_id=replay_id,
            state=ReplayState.STARTING,
            source=plan.source.description,
            speed=plan.speed,
            streams=[self._producer.key(s) for s in plan.streams()],
            started_at_ns=self._wall_ns(),
        )

    # -- the run -----------------------------------------------------------------------------------

    async def run(self, plan: ReplayPlan) -> None:
        """Replay ``plan`` to its end (or until stopped); every outcome is recorded in ``progress``.

        One chunk's append is in flight while the next chunk is converted, so Redis and this process work
        at the same time; the next append starts only when the previous one is done, which keeps order.
        """
        progress = self.progress
        streams = plan.streams()
        self._counts = dict.fromkeys(streams, 0)
        self._backlogs = {stream: _Backlog(window=max(2, self._maxlen // self._chunk + 2)) for stream in streams}
        started = self._monotonic()
        in_flight: asyncio.Task[None] | None = None
        try:
            progress.state = ReplayState.RUNNING
            native = self._native is not None and plan.speed is None
            chunks = self._table_chunks(plan) if native else self._paced_chunks(plan)
            async for chunk in chunks:
                if in_flight is not None:
                    await in_flight
                    if plan.wait_for_consumers and self._consumer_check_due():
                        await self._wait_for_consumers(self._backlogs)
                progress.active_seconds = self._monotonic() - started - self._paused_for
                publish = self._append_table(chunk, plan) if native else self._publish(chunk, plan)
                in_flight = asyncio.create_task(publish)
                await asyncio.sleep(0)  # let it send before the next chunk is prepared
            if in_flight is not None:
                await in_flight
            progress.state = ReplayState.STOPPED if self._stop else ReplayState.FINISHED
        except Exception as e:  # a failed replay is reported through progress; the service keeps serving
            if in_flight is not None and not in_flight.done():
                in_flight.cancel()
            progress.state = ReplayState.FAILED
            progress.error = f"{type(e).__name__}: {e}"
            log.exception("replay_failed", replay_id=progress.replay_id, error=progress.error)
        finally:
            progress.skipped = plan.source.skipped
            progress.active_seconds = self._monotonic() - started - self._paused_for
            try:
                await self._end_streams(self._counts, complete=progress.state is ReplayState.FINISHED)
            except Exception as e:  # Redis gone: the consumers will not see the end marker; say so
                log.error("end_of_data_not_published", replay_id=progress.replay_id, error=f"{type(e).__name__}: {e}")
            progress.finished_at_ns = self._wall_ns()
            log.info(
                "replay_ended",
                replay_id=progress.replay_id,
                state=progress.state.value,
                published=progress.published,
                skipped=progress.skipped,
                rate=round(progress.rate),
            )

    async def _publish(self, chunk: list[Tick], plan: ReplayPlan) -> None:
        for stream, ticks in self._by_stream(chunk, plan.shards).items():
            ids = await self._producer.publish_many(stream, ticks)
            self._counts[stream] += len(ids)
            self._backlogs[stream].record(ids[-1], len(ids))
        progress = self.progress
        progress.published += len(chunk)
        progress.last_tick_ts_ns = chunk[-1].ts_ns
        progress.skipped = plan.source.skipped

    async def _append_table(self, chunk: _TableChunk, plan: ReplayPlan) -> None:
        """The native path: the appender encodes and appends from columns in a thread, the GIL released."""
        assert self._native is not None
        for stream, columns in chunk.parts:
            appender = self._appenders.get(stream)
            if appender is None:
                appender = await asyncio.to_thread(
                    self._native, self._redis_url, self._producer.key(stream), self._maxlen
                )
                self._appenders[stream] = appender
            count, last_id = await asyncio.to_thread(appender.append, **columns)
            self._counts[stream] += count
            if last_id is not None:
                self._backlogs[stream].record(last_id.encode(), count)
        progress = self.progress
        progress.published += chunk.rows
        progress.last_tick_ts_ns = chunk.last_ts_ns
        progress.skipped = plan.source.skipped

    async def _table_chunks(self, plan: ReplayPlan) -> Any:
        """Chunks of at most ``native_chunk`` rows for the native path (max speed only), their columns
        prepared here, while the previous chunk is still being appended."""
        remaining = plan.limit
        async for table in self._tables(plan):
            for offset in range(0, table.num_rows, self._native_chunk):
                await self._checkpoint()
                if self._stop or (remaining is not None and remaining <= 0):
                    return
                rows = self._native_chunk if remaining is None else min(self._native_chunk, remaining)
                part = table.slice(offset, rows)
                if remaining is not None:
                    remaining -= part.num_rows
                timestamps = part.column("ts_ns")
                if self.progress.first_tick_ts_ns is None:
                    self.progress.first_tick_ts_ns = timestamps[0].as_py()
                parts = [
                    (stream, tick_columns(piece)) for stream, piece in self._tables_by_stream(part, plan.shards).items()
                ]
                yield _TableChunk(parts=parts, rows=part.num_rows, last_ts_ns=timestamps[-1].as_py())

    def _tables_by_stream(self, table: pa.Table, shards: int) -> dict[str, pa.Table]:
        if not shards:
            return {TICKS: table}
        encoded = table.column("symbol").combine_chunks().dictionary_encode()
        shard_of_code = pa.array([shard_of(symbol, shards) for symbol in encoded.dictionary.to_pylist()])
        shard = pc.take(shard_of_code, encoded.indices)
        parts = {}
        for number in range(shards):
            part = table.filter(pc.equal(shard, number))
            if part.num_rows:
                parts[tick_shard(number)] = part
        return parts

    def _consumer_check_due(self) -> bool:
        published = self.progress.published
        due = published >= self._next_consumer_check
        if due:
            self._next_consumer_check = published + self._check_every
        return due

    async def _paced_chunks(self, plan: ReplayPlan) -> Any:
        """Chunks of at most ``chunk_size`` ticks, each released when its last tick is due (at once with no
        speed); ticks are made from the source's rows one chunk at a time."""
        origin: tuple[float, int] | None = None
        remaining = plan.limit
        async for table in self._tables(plan):
            rows = ticks_from_table(table)
            while remaining is None or remaining > 0:
                chunk = list(itertools.islice(rows, self._chunk if remaining is None else min(self._chunk, remaining)))
                if not chunk:
                    break
                if remaining is not None:
                    remaining -= len(chunk)
                if self.progress.first_tick_ts_ns is None:
                    self.progress.first_tick_ts_ns = chunk[0].ts_ns
                position = 0
                while position < len(chunk):
                    await self._checkpoint()
                    if self._stop:
                        return
                    end = len(chunk)
                    if plan.speed is not None:
                        now = self._monotonic() - self._paused_for
                        if origin is None:
                            origin = (now, chunk[position].ts_ns)
                        due_ns = origin[1] + (now - origin[0]) * plan.speed * 1e9
                        end = bisect.bisect_right(chunk, due_ns, lo=position, key=_ts_ns)
                        if end == position:
                            wait_s = (chunk[position].ts_ns - due_ns) / 1e9 / plan.speed
                            await asyncio.sleep(min(max(wait_s, 0.0), _MAX_SLEEP_S))
                            continue
                    yield chunk[position:end]
                    position = end
            if remaining is not None and remaining <= 0:
                return

    async def _tables(self, plan: ReplayPlan) -> Any:
        """The source's batches, filtered; reading runs in a thread (it is file I/O)."""
        batches: Iterator[pa.Table] = plan.source.batches()
        while True:
            table = await asyncio.to_thread(next, batches, None)
            if table is None:
                return
            if self.progress.total is None:  # known once the source has been opened (the synthetic one)
                total = plan.source.rows_total
                self.progress.total = min(total, plan.limit) if total is not None and plan.limit else total
            table = _filtered(table, plan)
            if table.num_rows:
                yield table

    async def _checkpoint(self) -> None:
        if self._resumed.is_set():
            return
        paused_at = self._monotonic()
        await self._resumed.wait()
        self._paused_for += self._monotonic() - paused_at

    def _by_stream(self, chunk: list[Tick], shards: int) -> dict[str, list[Tick]]:
        if not shards:
            return {TICKS: chunk}
        grouped: dict[str, list[Tick]] = {}
        for tick in chunk:
            grouped.setdefault(tick_shard(shard_of(tick.symbol, shards)), []).append(tick)
        return grouped

    async def _wait_for_consumers(self, backlogs: dict[str, _Backlog]) -> None:
        limit = self._maxlen // 2
        while not self._stop:
            behind = await self._most_behind(backlogs)
            if behind is None or behind[1] <= limit:
                break
            if self.progress.state is ReplayState.RUNNING:
                self.progress.state = ReplayState.WAITING
            self.progress.waiting_on = f"group {behind[0]} is {behind[1]} entries behind (limit {limit})"
            await asyncio.sleep(_BACKPRESSURE_POLL_S)
        if self.progress.state is ReplayState.WAITING:
            self.progress.state = ReplayState.RUNNING
        self.progress.waiting_on = None

    async def _most_behind(self, backlogs: dict[str, _Backlog]) -> tuple[str, int] | None:
        worst: tuple[str, int] | None = None
        for stream, backlog in backlogs.items():
            groups: Any = await self._redis.xinfo_groups(self._producer.key(stream))
            for group in groups:
                name = group["name"].decode() if isinstance(group["name"], bytes) else str(group["name"])
                behind = backlog.undelivered(group["last-delivered-id"]) + int(group["pending"])
                if worst is None or behind > worst[1]:
                    worst = (f"{name} on {stream}", behind)
        return worst

    async def _end_streams(self, counts: dict[str, int], *, complete: bool) -> None:
        progress = self.progress
        for stream, count in counts.items():
            marker = EndOfData(
                ts_ns=self._wall_ns(),
                replay_id=progress.replay_id,
                source=progress.source[:256],
                messages=count,
                last_tick_ts_ns=progress.last_tick_ts_ns,
                complete=complete,
            )
            await self._producer.publish(stream, marker)


def _filtered(table: pa.Table, plan: ReplayPlan) -> pa.Table:
    mask = None
    if plan.symbols is not None:
        mask = pc.is_in(table.column("symbol"), value_set=pa.array(sorted(plan.symbols)))
    if plan.start_ns is not None:
        after = pc.greater_equal(table.column("ts_ns"), plan.start_ns)
        mask = after if mask is None else pc.and_(mask, after)
    if plan.end_ns is not None:
        before = pc.less(table.column("ts_ns"), plan.end_ns)
        mask = before if mask is None else pc.and_(mask, before)
    return table if mask is None else table.filter(mask)
