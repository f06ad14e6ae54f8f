"""Builds pattern_engine's FastAPI application; its lifespan warms the engine up and runs the consumer."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError

from aitrader.bus import Consumer, Producer
from aitrader.bus.config import consumer_name
from aitrader.contracts import BookStreamMessage, TickStreamMessage, stream_key
from aitrader.http import install_error_handlers
from aitrader.log import get_logger
from pattern_engine.config import EngineConfig, load_config
from pattern_engine.engine import Engine
from pattern_engine.native import load_engine
from pattern_engine.service import PatternEngineService
from pattern_engine.settings import PatternEngineSettings

log = get_logger(__name__)
SERVICE = "pattern_engine"
_STOP_TIMEOUT_S = 10.0


def engine_factory(config: EngineConfig, settings: PatternEngineSettings) -> Engine:
    """The engine ``settings`` ask for; ``auto`` falls back to the reference, with a warning, without Rust."""
    return load_engine(config, implementation=settings.implementation)


def create_app(settings: PatternEngineSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        config = load_config(settings.config_path())
        stream = settings.input_stream()
        client = aioredis.Redis.from_url(settings.require_redis_url())
        producer = Producer(client, prefix=settings.stream_prefix, maxlen=settings.bus_maxlen)
        service = PatternEngineService(engine_factory=lambda: engine_factory(config, settings), producer=producer)
        consumer: Consumer[Any] = Consumer(
            client,
            stream=stream_key(stream, settings.stream_prefix),
            group=SERVICE,
            consumer=consumer_name(SERVICE, settings.slot),
            batch_handler=service.handle,
            message_type=BookStreamMessage if settings.input == "book" else TickStreamMessage,
            config=settings.consumer_config(batch_size=settings.batch_size, start_id="$"),
        )
        app.state.service = service
        app.state.consumer = consumer
        app.state.task = None
        stopping = asyncio.Event()

        async def consume() -> None:
            if settings.warm_start and config.warmup_s > 0:
                try:
                    await service.warm_start(
                        client,
                        consumer.stream,
                        SERVICE,
                        window_s=config.warmup_s,
                        max_messages=settings.warm_start_max_messages,
                    )
                except RedisError as e:  # start cold rather than not at all
                    log.warning("warm_start_failed", stream=consumer.stream, error=f"{type(e).__name__}: {e}")
            if not stopping.is_set():
                await consumer.run()

        task = app.state.task = asyncio.create_task(consume(), name="pattern_engine-consumer")
        log.info(
            "pattern_engine_ready",
            stream=consumer.stream,
            consumer=consumer.name,
            implementation=service.implementation,
            symbols=service.symbols,
        )
        try:
            yield
        finally:
            stopping.set()
            consumer.stop()
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=_STOP_TIMEOUT_S)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await client.aclose()

    app = FastAPI(title="AITrader pattern_engine", version="0.1.0", lifespan=lifespan)

    @app.get("/health", tags=["ops"], response_model=None)
    async def health(request: Request) -> dict[str, Any] | JSONResponse:
        """200 while the consumer runs (``status`` is ``warming_up`` while a warm start feeds the engine); 503
        with the error once it has died."""
        service: PatternEngineService = request.app.state.service
        consumer: Consumer[Any] = request.app.state.consumer
        task: asyncio.Task[None] | None = request.app.state.task
        document = service.health()
        document["input"] = settings.input
        document["stream"] = consumer.stream
        document["consumer"] = consumer.name
        if task is not None and task.done() and not task.cancelled() and task.exception() is not None:
            document["status"] = "failed"
            document["error"] = repr(task.exception())
            return JSONResponse(status_code=503, content=document)
        return document

    @app.get("/metrics", response_class=Response, tags=["ops"])
    async def metrics(request: Request) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

        consumer: Consumer[Any] = request.app.state.consumer
        with contextlib.suppress(Exception):  # lag is best effort: Redis may be briefly away
            await consumer.publish_stats()
        return Response(content=generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    install_error_handlers(app)
    return app
