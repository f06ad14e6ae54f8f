"""onnx_runner's FastAPI application: the registry, reloaded in the background, served through micro-batches."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import numpy as np
from fastapi import Depends, FastAPI, Request, Response
from prometheus_client import Counter, Histogram
from pydantic import BaseModel, ConfigDict, Field

from aitrader.errors import ValidationError
from aitrader.http import install_error_handlers
from aitrader.log import get_logger
from onnx_runner.batching import MicroBatcher
from onnx_runner.registry import LoadedModel, Registry
from onnx_runner.settings import OnnxRunnerSettings

log = get_logger(__name__)

INFERENCES = Counter("onnx_runner_requests_total", "Inference requests by model and outcome", ["model", "outcome"])
LATENCY = Histogram(
    "onnx_runner_request_seconds",
    "Inference request time, queueing included",
    ["model"],
    buckets=(0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5),
)


class InferIn(BaseModel):
    """The model's inputs by name, each a (nested) list with the batch as its first dimension."""

    model_config = ConfigDict(extra="forbid")

    inputs: dict[str, Any] = Field(min_length=1)


def create_app(settings: OnnxRunnerSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        registry = Registry(settings.models_dir, intra_op_threads=settings.intra_op_threads)
        await asyncio.to_thread(registry.refresh)
        batcher = MicroBatcher(max_batch=settings.max_batch, max_delay_s=settings.max_delay_ms / 1000)
        app.state.registry = registry
        app.state.batcher = batcher
        reloader = asyncio.create_task(_reload(registry, settings.reload_interval_s), name="onnx_runner-reload")
        log.info("onnx_runner_ready", models=[m.meta.key for m in registry.models()], errors=registry.errors)
        try:
            yield
        finally:
            reloader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reloader
            await batcher.close()

    app = FastAPI(title="AITrader onnx_runner", version="0.1.0", lifespan=lifespan)

    @app.get("/health", tags=["ops"])
    async def health(request: Request) -> dict[str, Any]:
        """200 while serving; ``degraded`` lists the files that could not be loaded and why."""
        registry: Registry = request.app.state.registry
        return {
            "status": "degraded" if registry.errors else "ok",
            "models": [m.meta.key for m in registry.models()],
            "errors": registry.errors,
            "models_dir": str(registry.root),
        }

    @app.get("/metrics", response_class=Response, tags=["ops"])
    async def metrics() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

        return Response(content=generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    @app.get("/models", tags=["models"])
    async def models(request: Request) -> dict[str, Any]:
        registry: Registry = request.app.state.registry
        return {"models": [_describe(m) for m in registry.models()], "errors": registry.errors}

    @app.post("/infer/{model}", tags=["inference"])
    async def infer(
        model: str, body: InferIn, loaded: Annotated[LoadedModel, Depends(_model)], request: Request
    ) -> dict[str, Any]:
        """Run ``model`` (a name, or name@version) on ``inputs``; 404 for an unknown model, 422 for inputs that
        do not fit it (names, shapes, NaN)."""
        batcher: MicroBatcher = request.app.state.batcher
        started = time.perf_counter()
        try:
            feeds = {name: _array(name, value) for name, value in body.inputs.items()}
            outputs = await batcher.run(loaded, feeds)
        except ValidationError:
            INFERENCES.labels(loaded.meta.key, "invalid").inc()
            raise
        INFERENCES.labels(loaded.meta.key, "ok").inc()
        LATENCY.labels(loaded.meta.key).observe(time.perf_counter() - started)
        return {"model": loaded.meta.key, "outputs": {name: value.tolist() for name, value in outputs.items()}}

    install_error_handlers(app)
    return app


def _model(model: str, request: Request) -> LoadedModel:
    registry: Registry = request.app.state.registry
    return registry.get(model)


def _array(name: str, value: Any) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValidationError(f"input {name!r} must be a rectangular list of numbers: {e}") from e
    return array


def _describe(model: LoadedModel) -> dict[str, Any]:
    meta = model.meta
    return {
        "key": meta.key,
        "name": meta.name,
        "version": meta.version,
        "kind": meta.kind,
        "inputs": [{"name": s.name, "shape": list(s.shape), "dtype": s.dtype} for s in meta.inputs],
        "outputs": [{"name": s.name, "shape": list(s.shape), "dtype": s.dtype} for s in meta.outputs],
        "lookback": meta.lookback,
        "horizon": meta.horizon,
        "sha256": model.sha256,
        "file": model.path.name,
        "metrics": meta.metrics,
    }


async def _reload(registry: Registry, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            await asyncio.to_thread(registry.refresh)
        except Exception as e:  # a scan that fails (the directory unreadable) is reported, then retried
            log.warning("model_reload_failed", error=f"{type(e).__name__}: {e}")
