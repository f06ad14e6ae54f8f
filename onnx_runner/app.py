"""The runners' FastAPI application: a model source, reloaded in the background, served through micro-batches.

onnx_runner serves the registry with ONNX Runtime; tensorrt_runner serves the same files as TensorRT engines
through the same application (:func:`build_app` with its own source), so both answer the same API:

* ``GET /models``, ``GET /health``, ``GET /metrics``;
* ``POST /infer/{model}``: the model on named inputs;
* ``POST /infer/forecast/{model}``: a forecaster on a symbol's closes, from the request or from ``bars``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import msgspec
import numpy as np
from fastapi import Depends, FastAPI, Request, Response
from prometheus_client import Counter, Histogram
from pydantic import BaseModel, ConfigDict, Field

from aitrader.errors import ValidationError
from aitrader.http import install_error_handlers
from aitrader.log import get_logger
from onnx_runner.batching import MicroBatcher
from onnx_runner.forecast import BarHistory, History, check_forecaster, request_history, scale_inputs, unscale_outputs
from onnx_runner.registry import ModelSource, Registry, ServedModel
from onnx_runner.settings import OnnxRunnerSettings, RunnerSettings

log = get_logger(__name__)

INFERENCES = Counter("model_runner_requests_total", "Inference requests by model and outcome", ["model", "outcome"])
LATENCY = Histogram(
    "model_runner_request_seconds",
    "Inference request time, queueing included",
    ["model"],
    buckets=(0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5),
)


class InferIn(BaseModel):
    """The model's inputs by name, each a (nested) list with the batch as its first dimension."""

    model_config = ConfigDict(extra="forbid")

    inputs: dict[str, Any] = Field(min_length=1)


class _InferBody(msgspec.Struct, forbid_unknown_fields=True):
    """:class:`InferIn` as the hot path decodes it (msgspec, straight from the bytes); InferIn documents it."""

    inputs: dict[str, Any]


_INFER_BODY = msgspec.json.Decoder(_InferBody)
_INFER_SCHEMA = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": InferIn.model_json_schema()}}}
}


class ForecastIn(BaseModel):
    """A forecast of ``symbol``'s next closes; ``history`` (oldest first) or, without it, its stored bars."""

    model_config = ConfigDict(extra="forbid")

    symbol: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.&:\-]+$")
    history: list[float] | None = Field(default=None, min_length=1, max_length=100_000)
    horizon: int | None = Field(default=None, ge=1, description="steps to forecast (default: the model's horizon)")


def create_app(settings: OnnxRunnerSettings) -> FastAPI:
    """onnx_runner: the registry in ONNX Runtime."""
    return build_app(
        settings,
        lambda: Registry(settings.models_dir, intra_op_threads=settings.intra_op_threads),
        service="onnx_runner",
    )


def build_app(settings: RunnerSettings, make_source: Callable[[], ModelSource], *, service: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        source = make_source()
        await asyncio.to_thread(source.refresh)
        batcher = MicroBatcher(
            max_batch=settings.max_batch,
            max_delay_s=settings.max_delay_ms / 1000,
            inline_below_s=settings.inline_below_ms / 1000,
        )
        bars = BarHistory(settings.database_url, settings.bar_interval)
        app.state.source = source
        app.state.batcher = batcher
        app.state.bars = bars
        reloader = asyncio.create_task(_reload(source, settings.reload_interval_s), name=f"{service}-reload")
        log.info(f"{service}_ready", models=[m.meta.key for m in source.models()], errors=source.errors)
        try:
            yield
        finally:
            reloader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reloader
            await batcher.close()
            bars.close()

    app = FastAPI(title=f"AITrader {service}", version="0.1.0", lifespan=lifespan)

    @app.get("/health", tags=["ops"])
    async def health(request: Request) -> dict[str, Any]:
        """200 while the process serves its API. ``status``: ``ok``; ``degraded`` when some files could not be
        loaded (``errors`` says why, by file); ``unavailable`` when nothing can be served (``reason``: no GPU, no
        model directory), in which case inference answers 503 with the same reason."""
        source: ModelSource = request.app.state.source
        errors = dict(source.errors)
        reason = errors.pop(".", None)
        return {
            "status": "unavailable" if reason else "degraded" if errors else "ok",
            "reason": reason,
            "models": [m.meta.key for m in source.models()],
            "errors": errors,
            "models_dir": str(source.root),
        }

    @app.get("/metrics", response_class=Response, tags=["ops"])
    async def metrics() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

        return Response(content=generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    @app.get("/models", tags=["models"])
    async def models(request: Request) -> dict[str, Any]:
        source: ModelSource = request.app.state.source
        return {"models": [_describe(m) for m in source.models()], "errors": source.errors}

    @app.post("/infer/forecast/{model}", tags=["inference"], response_class=Response)
    async def forecast(
        model: str, body: ForecastIn, served: Annotated[ServedModel, Depends(_model)], request: Request
    ) -> Response:
        """Forecast ``symbol``'s next closes with ``model`` (a forecaster: ``nbeats``, or ``nbeats@3``).

        The model reads its ``lookback`` closes: the last of ``history`` when given, else the symbol's latest
        stored bars (404 when none are stored, 422 when too few, 503 without a database). The answer holds the
        ``forecast`` and, for models with a band, ``lower`` and ``upper`` at ``band_level``."""
        meta = served.meta
        lookback, horizon = check_forecaster(meta, body.horizon)
        if body.history is not None:
            history = request_history(body.history, lookback)
        else:
            bars: BarHistory = request.app.state.bars
            history = await asyncio.to_thread(bars.latest, body.symbol, lookback)
        window = scale_inputs(history.closes, meta.normalisation)
        outputs = await _run(request, served, {meta.inputs[0].name: window[None, :]})
        last = float(history.closes[-1])
        names = [spec.name for spec in meta.outputs]
        prices: dict[str, list[float]] = {
            name: unscale_outputs(outputs[name][0], last, meta.normalisation)[:horizon].tolist()
            for name in ("forecast", "lower", "upper")
            if name in outputs
        }
        if "forecast" not in prices:
            prices["forecast"] = unscale_outputs(outputs[names[0]][0], last, meta.normalisation)[:horizon].tolist()
        return _json(
            {
                "symbol": body.symbol,
                "model": meta.key,
                "horizon": horizon,
                "interval": request.app.state.bars.interval,
                **_history_fields(history),
                "last_close": last,
                **prices,
                "band_level": meta.band_level if "lower" in prices else None,
            }
        )

    @app.post("/infer/{model}", tags=["inference"], response_class=Response, openapi_extra=_INFER_SCHEMA)
    async def infer(model: str, request: Request) -> Response:
        """Run ``model`` (a name, or name@version) on ``inputs``; 404 for an unknown model, 422 for inputs that
        do not fit it (names, shapes, NaN), 503 when the runner cannot serve at all.

        The hot path: the body (:class:`InferIn`) is decoded by msgspec rather than through FastAPI's
        validation, which cost more than the model itself for a one-row request."""
        source: ModelSource = request.app.state.source
        served = source.get(model)
        try:
            body = _INFER_BODY.decode(await request.body())
        except msgspec.DecodeError as e:
            raise ValidationError(
                f'the body must be JSON like {{"inputs": {{"x": [[...]]}}}} (NaN is not JSON): {e}'
            ) from e
        if not body.inputs:
            raise ValidationError("inputs must name at least one of the model's inputs, was empty")
        feeds = {name: _array(name, value) for name, value in body.inputs.items()}
        outputs = await _run(request, served, feeds)
        return _json({"model": served.meta.key, "outputs": {name: value.tolist() for name, value in outputs.items()}})

    install_error_handlers(app)
    return app


async def _run(request: Request, served: ServedModel, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``served`` on ``feeds`` through the micro-batcher, counted and timed; outputs that are not finite (the
    inputs took the model out of its range) are refused as a 422 rather than sent as invalid JSON."""
    batcher: MicroBatcher = request.app.state.batcher
    key = served.meta.key
    started = time.perf_counter()
    try:
        outputs = await batcher.run(served, feeds)
        for name, value in outputs.items():
            if value.dtype.kind == "f" and not np.isfinite(value).all():
                raise ValidationError(f"{key} produced NaN or infinite values in {name!r} for these inputs")
    except ValidationError:
        INFERENCES.labels(key, "invalid").inc()
        raise
    INFERENCES.labels(key, "ok").inc()
    LATENCY.labels(key).observe(time.perf_counter() - started)
    return outputs


def _history_fields(history: History) -> dict[str, Any]:
    return {"history_source": history.source, "as_of": history.as_of.isoformat() if history.as_of else None}


async def _model(model: str, request: Request) -> ServedModel:
    """The served model; ``async`` so FastAPI resolves it on the event loop, not through its thread pool."""
    source: ModelSource = request.app.state.source
    return source.get(model)


def _json(document: dict[str, Any]) -> Response:
    """``document`` encoded by msgspec: the answers are long lists of floats, which FastAPI's encoder walks
    value by value."""
    return Response(msgspec.json.encode(document), media_type="application/json")


def _array(name: str, value: Any) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValidationError(f"input {name!r} must be a rectangular list of numbers: {e}") from e
    return array


def _describe(model: ServedModel) -> dict[str, Any]:
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
        "labels": list(meta.labels),
        "band_level": meta.band_level,
        "description": meta.description,
    }


async def _reload(source: ModelSource, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            await asyncio.to_thread(source.refresh)
        except Exception as e:  # a scan that fails (the directory unreadable) is reported, then retried
            log.warning("model_reload_failed", error=f"{type(e).__name__}: {e}")
