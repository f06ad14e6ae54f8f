"""Appending messages to streams: one XADD, or many pipelined in one round trip."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec
import redis.asyncio as aioredis

from aitrader.bus.metrics import BusMetrics, default_metrics
from aitrader.contracts.codec import to_fields
from aitrader.contracts.streams import stream_key


class Producer:
    """Publishes contract messages to streams under ``prefix``, trimming each with ``MAXLEN ~ maxlen``."""

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        prefix: str = "",
        maxlen: int | None = 100_000,
        pipeline_chunk: int = 1000,
        metrics: BusMetrics | None = None,
    ) -> None:
        if maxlen is not None and maxlen <= 0:
            raise ValueError(f"maxlen must be > 0 or None, was {maxlen}")
        self._redis = redis
        self._prefix = prefix
        self._maxlen = maxlen
        self._chunk = pipeline_chunk
        self._metrics = metrics or default_metrics()

    def key(self, stream: str) -> str:
        return stream_key(stream, self._prefix)

    async def publish(self, stream: str, message: msgspec.Struct) -> bytes:
        """Append ``message`` to ``stream``; return its entry id."""
        return await self.publish_fields(stream, to_fields(message))

    async def publish_fields(self, stream: str, fields: Mapping[Any, Any]) -> bytes:
        """Append raw entry fields (e.g. a hand-written ``j`` JSON message)."""
        entry_id: Any = await self._redis.xadd(self.key(stream), dict(fields), maxlen=self._maxlen, approximate=True)
        self._metrics.published.labels(stream).inc()
        return bytes(entry_id)

    async def publish_many(self, stream: str, messages: Iterable[msgspec.Struct]) -> list[bytes]:
        """Append ``messages`` in order, pipelined (no MULTI) in chunks; return their entry ids."""
        key = self.key(stream)
        ids: list[bytes] = []
        pipe = self._redis.pipeline(transaction=False)
        queued = 0
        for message in messages:
            pipe.xadd(key, to_fields(message), maxlen=self._maxlen, approximate=True)  # type: ignore[arg-type]
            queued += 1
            if queued == self._chunk:
                ids.extend(await pipe.execute())
                queued = 0
        if queued:
            ids.extend(await pipe.execute())
        self._metrics.published.labels(stream).inc(len(ids))
        return ids
