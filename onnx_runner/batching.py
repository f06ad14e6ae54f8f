"""Dynamic micro-batching: concurrent requests for one model run as one batch.

One worker per model takes the first waiting request, then every request already queued behind it (up to
``max_batch`` rows), waits up to ``max_delay_s`` for more only while the batch is short, and runs the batch
in a thread. While a batch runs, new requests queue, so batches grow with the load and a lone request waits
for nobody (``max_delay_s`` = 0, the default). Requests are checked one by one before they are queued, so a
bad one is refused alone and never spoils a batch.

Where a batch runs: in a thread, so the event loop keeps reading requests (which form the next batch) while
ONNX Runtime computes with the GIL released. But handing work to a thread and back costs ~0.1-0.2 ms here, more
than a small model's whole run; so when nobody else is waiting and the model's recent runs took less than
``inline_below_s``, the batch runs on the event loop at once. Under load the queue is never empty and every
batch goes to the thread. Models whose inputs and outputs are not all batched along
their first dimension run one request at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from aitrader.errors import ValidationError
from onnx_runner.registry import ServedModel


@dataclass
class _Request:
    feeds: dict[str, np.ndarray]
    rows: int
    done: asyncio.Future[dict[str, np.ndarray]]


@dataclass
class BatchStats:
    requests: int = 0
    batches: int = 0
    rows: int = 0
    largest: int = 0
    sizes: dict[int, int] = field(default_factory=dict)
    """How many batches carried each number of requests."""
    inline: int = 0
    """Batches run on the event loop (nobody waiting, the model fast)."""
    execute_s: float | None = None
    """Recent time of one run of the model (an exponential moving average)."""


class MicroBatcher:
    def __init__(self, *, max_batch: int = 64, max_delay_s: float = 0.0, inline_below_s: float = 0.001) -> None:
        if max_batch < 1 or max_delay_s < 0 or inline_below_s < 0:
            raise ValueError(
                f"max_batch must be >= 1, max_delay_s and inline_below_s >= 0, were {max_batch}, {max_delay_s}, "
                f"{inline_below_s}"
            )
        self._max_batch = max_batch
        self._max_delay_s = max_delay_s
        self._inline_below_s = inline_below_s
        self._queues: dict[str, asyncio.Queue[_Request]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._models: dict[str, ServedModel] = {}
        self.stats: dict[str, BatchStats] = {}

    async def run(self, model: ServedModel, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``model`` on ``feeds`` (with their batch dimension), batched with whatever else is waiting for it."""
        prepared = model.prepare(feeds)
        if not batchable(model):
            return await asyncio.to_thread(model.execute, prepared)
        rows = {array.shape[0] for array in prepared.values()}
        if len(rows) != 1:
            raise ValidationError(f"{model.meta.key}: every input needs the same batch size, were {sorted(rows)}")
        key = model.meta.key
        self._models[key] = model  # a reloaded model of the same key serves the next batch
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = asyncio.Queue()
            self.stats[key] = BatchStats()
            self._workers[key] = asyncio.create_task(self._work(key, queue), name=f"batcher-{key}")
        request = _Request(prepared, rows.pop(), asyncio.get_running_loop().create_future())
        await queue.put(request)
        return await request.done

    async def close(self) -> None:
        for worker in self._workers.values():
            worker.cancel()
        for worker in self._workers.values():
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        self._workers.clear()
        self._queues.clear()

    async def _work(self, key: str, queue: asyncio.Queue[_Request]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await queue.get()]
            rows = batch[0].rows
            deadline = loop.time() + self._max_delay_s
            while rows < self._max_batch:
                try:
                    if queue.empty() and self._max_delay_s > 0:
                        request = await asyncio.wait_for(queue.get(), max(0.0, deadline - loop.time()))
                    else:
                        request = queue.get_nowait()
                except (asyncio.QueueEmpty, TimeoutError):
                    break
                if rows + request.rows > self._max_batch:
                    await queue.put(request)  # it starts the next batch (it goes to the back: fine, rare)
                    break
                batch.append(request)
                rows += request.rows
            await self._run_batch(key, batch, rows, alone=queue.empty())

    async def _run_batch(self, key: str, batch: list[_Request], rows: int, *, alone: bool) -> None:
        model = self._models[key]
        stats = self.stats[key]
        stats.requests += len(batch)
        stats.batches += 1
        stats.rows += rows
        stats.largest = max(stats.largest, len(batch))
        stats.sizes[len(batch)] = stats.sizes.get(len(batch), 0) + 1
        names = list(batch[0].feeds)
        stacked = {name: np.concatenate([request.feeds[name] for request in batch]) for name in names}
        inline = alone and stats.execute_s is not None and stats.execute_s < self._inline_below_s
        started = time.perf_counter()
        try:
            if inline:
                stats.inline += 1
                outputs = model.execute(stacked)
            else:
                outputs = await asyncio.to_thread(model.execute, stacked)
        except Exception as e:  # the model failed on the batch: every caller in it hears why
            for request in batch:
                if not request.done.done():
                    request.done.set_exception(e)
            return
        elapsed = time.perf_counter() - started
        stats.execute_s = elapsed if stats.execute_s is None else 0.8 * stats.execute_s + 0.2 * elapsed
        start = 0
        for request in batch:
            end = start + request.rows
            if not request.done.done():  # the caller may have given up (cancelled)
                request.done.set_result({name: value[start:end] for name, value in outputs.items()})
            start = end


def batchable(model: ServedModel) -> bool:
    """Whether every input and output of ``model`` has a dynamic first (batch) dimension."""
    specs = (*model.meta.inputs, *model.meta.outputs)
    return all(spec.shape and spec.shape[0] == -1 for spec in specs)
