"""Appending messages to streams: one XADD, or many in one round trip through a server-side script."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec
import redis.asyncio as aioredis

from aitrader.bus.metrics import BusMetrics, default_metrics
from aitrader.contracts.codec import MSGPACK_FIELD, encode, to_fields
from aitrader.contracts.streams import stream_key

# Appends ARGV[3..] as entries of KEYS[1] (field ARGV[1]), in order, then trims to ~ARGV[2] entries when
# ARGV[2] is not empty; returns the entry ids. One command carries a whole chunk: Redis does the XADDs
# without a reply to build and parse per entry, which is where a pipeline of XADDs spends its time.
_APPEND_MANY = """
local ids = {}
for i = 3, #ARGV do
  ids[i - 2] = redis.call('XADD', KEYS[1], '*', ARGV[1], ARGV[i])
end
if ARGV[2] ~= '' then
  redis.call('XTRIM', KEYS[1], 'MAXLEN', '~', ARGV[2])
end
return ids
"""


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
        self._append_script: Any = None

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
        """Append ``messages`` in order, ``pipeline_chunk`` per round trip; return their entry ids.

        Each chunk is appended by one script call, so a chunk lands whole or not at all.
        """
        key = self.key(stream)
        trim = str(self._maxlen) if self._maxlen is not None else ""
        ids: list[bytes] = []
        chunk: list[bytes] = []
        for message in messages:
            chunk.append(encode(message))
            if len(chunk) == self._chunk:
                ids.extend(await self._append_many(key, trim, chunk))
                chunk = []
        if chunk:
            ids.extend(await self._append_many(key, trim, chunk))
        self._metrics.published.labels(stream).inc(len(ids))
        return ids

    async def _append_many(self, key: str, trim: str, payloads: list[bytes]) -> list[bytes]:
        if self._append_script is None:
            self._append_script = self._redis.register_script(_APPEND_MANY)
        result: Any = await self._append_script(keys=[key], args=[MSGPACK_FIELD, trim, *payloads])
        return [bytes(entry_id) for entry_id in result]
