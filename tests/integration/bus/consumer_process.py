"""A consumer in a process of its own, for tests that kill it (SIGKILL) or stop it (SIGTERM).

Its handler records every message it handles in the hash ``<stream>:handled`` (seq -> times handled),
so the test can prove that nothing was lost and count duplicates. With STALL_AT_SEQ >= 0 the handler stalls
for good once it has recorded that message, so a test can SIGKILL it in the middle of a batch, for certain.
Usage: consumer_process.py REDIS_URL STREAM GROUP CONSUMER DELAY_MS CLAIM_IDLE_MS BATCH STALL_AT_SEQ
"""

from __future__ import annotations

import asyncio
import sys

import redis.asyncio as aioredis

from aitrader import runtime
from aitrader.bus import Consumer, ConsumerConfig, Delivery
from aitrader.contracts import Tick
from aitrader.log import configure


async def main(
    url: str, stream: str, group: str, name: str, delay_ms: int, claim_idle_ms: int, batch: int, stall_at_seq: int
) -> None:
    configure("test-consumer", "WARNING")
    client = aioredis.Redis.from_url(url)

    async def handle(delivery: Delivery[Tick]) -> None:
        await client.hincrby(f"{stream}:handled", str(delivery.message.seq), 1)
        if delivery.message.seq == stall_at_seq:
            await asyncio.Event().wait()
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000)

    consumer = Consumer(
        client,
        stream=stream,
        group=group,
        consumer=name,
        handler=handle,
        message_type=Tick,
        config=ConsumerConfig(batch_size=batch, block_ms=100, claim_idle_ms=claim_idle_ms, claim_interval_ms=100),
    )
    consumer.install_signal_handlers()
    print("ready", flush=True)
    await consumer.run()
    await client.aclose()


if __name__ == "__main__":
    url, stream, group, name, delay, idle, batch, stall = sys.argv[1:9]
    runtime.run(main(url, stream, group, name, int(delay), int(idle), int(batch), int(stall)))
