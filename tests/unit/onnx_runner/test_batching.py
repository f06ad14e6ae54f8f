"""Micro-batching: concurrent requests share batches, each gets its own rows back, a bad one is refused alone."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from aitrader.errors import ValidationError
from onnx_runner.batching import MicroBatcher
from onnx_runner.registry import Registry
from tests.onnx_factories import affine_model, write_model

pytestmark = pytest.mark.asyncio


def registry(tmp_path: Path, **meta: object) -> Registry:
    write_model(tmp_path, "m", affine_model(2.0, 1.0), name="m", version="1", **meta)
    loaded = Registry(tmp_path)
    loaded.refresh()
    return loaded


async def test_concurrent_requests_run_in_shared_batches_and_each_gets_its_rows(tmp_path: Path) -> None:
    model = registry(tmp_path).get("m")
    batcher = MicroBatcher(max_batch=64)
    inputs = [np.full((1 + n % 3, 4), n, dtype=np.float32) for n in range(200)]

    try:
        results = await asyncio.gather(*(batcher.run(model, {"x": x}) for x in inputs))
    finally:
        await batcher.close()

    for x, result in zip(inputs, results, strict=True):
        np.testing.assert_array_equal(result["y"], x * 2 + 1)
    stats = batcher.stats["m@1"]
    assert stats.requests == 200 and stats.rows == sum(len(x) for x in inputs)
    assert stats.batches < 200 / 4  # shared, not one run per request
    assert all(size <= 64 for size in stats.sizes)


async def test_a_lone_request_waits_for_nobody(tmp_path: Path) -> None:
    model = registry(tmp_path).get("m")
    batcher = MicroBatcher(max_batch=64, max_delay_s=0.0)
    try:
        result = await asyncio.wait_for(batcher.run(model, {"x": np.ones((1, 4))}), 1.0)
    finally:
        await batcher.close()

    assert result["y"].tolist() == [[3.0, 3.0, 3.0, 3.0]]
    assert batcher.stats["m@1"].sizes == {1: 1}


async def test_a_bad_request_is_refused_alone_and_the_others_are_served(tmp_path: Path) -> None:
    model = registry(tmp_path).get("m")
    batcher = MicroBatcher()
    good = [batcher.run(model, {"x": np.ones((1, 4))}) for _ in range(5)]
    bad = batcher.run(model, {"x": np.ones((1, 5))})
    try:
        results = await asyncio.gather(*good, bad, return_exceptions=True)
    finally:
        await batcher.close()

    assert all(isinstance(r, dict) for r in results[:5])
    assert isinstance(results[5], ValidationError) and "must have shape Nx4, was 1x5" in str(results[5])


async def test_a_model_without_a_batch_dimension_runs_request_by_request(tmp_path: Path) -> None:
    write_model(
        tmp_path, "fixed", affine_model(2.0, 1.0, width=4), name="fixed", version="1",
        inputs=[{"name": "x", "shape": [1, 4]}], outputs=[{"name": "y", "shape": [1, 4]}],
    )  # fmt: skip
    loaded = Registry(tmp_path)
    loaded.refresh()
    batcher = MicroBatcher()
    try:
        results = await asyncio.gather(*(batcher.run(loaded.get("fixed"), {"x": np.ones((1, 4))}) for _ in range(3)))
    finally:
        await batcher.close()

    assert [r["y"].tolist() for r in results] == [[[3.0] * 4]] * 3
    assert batcher.stats == {}


async def test_a_fast_model_nobody_waits_behind_runs_on_the_loop_and_a_busy_one_in_a_thread(tmp_path: Path) -> None:
    model = registry(tmp_path).get("m")
    batcher = MicroBatcher(max_batch=4, inline_below_s=0.01)
    never = MicroBatcher(max_batch=4, inline_below_s=0.0)
    try:
        for _ in range(3):  # the first run is timed in a thread, the next ones know the model is fast
            await batcher.run(model, {"x": np.ones((1, 4))})
            await never.run(model, {"x": np.ones((1, 4))})
        assert batcher.stats["m@1"].inline == 2 and never.stats["m@1"].inline == 0
        answers = await asyncio.gather(*(batcher.run(model, {"x": np.full((1, 4), n)}) for n in range(20)))
    finally:
        await batcher.close()
        await never.close()

    assert [a["y"][0, 0] for a in answers] == [n * 2 + 1 for n in range(20)]
    stats = batcher.stats["m@1"]
    assert (stats.batches, stats.inline) == (3 + 5, 2 + 1)  # four batches had others queued behind: a thread
    assert stats.execute_s is not None and stats.execute_s < 0.01
