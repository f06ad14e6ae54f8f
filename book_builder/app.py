"""Builds book_builder's FastAPI application; its lifespan runs the tick consumer and the feed watch."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis
from fastapi import FastAPI, Request, Response

from aitrader.bus import Consumer, Producer
from aitrader.bus.config import consumer_name
from aitrader.contracts import BOOK, TICKS, TickStreamMessage, stream_key, tick_shard
from aitrader.db.repositories import BarRepository, BarValues
from aitrader.db.session import make_engine, make_session_factory, session_scope
from aitrader.http import install_error_handlers
from aitrader.log import get_logger
from book_builder.service import BookBuilderService
from book_builder.settings import BookBuilderSettings

log = get_logger(__name__)
SERVICE = "book_builder"
_FEED_CHECK_S = 1.0


def create_app(settings: BookBuilderSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = aioredis.Redis.from_url(settings.require_redis_url())
        engine = None
        bar_store = None
        if settings.store_bars:
            engine = make_engine(settings.require_database_url())
            factory = make_session_factory(engine)

            def bar_store(bars: list[BarValues]) -> int:
                with session_scope(factory) as session:
                    return BarRepository(session).upsert_many(bars)

        producer = Producer(client, prefix=settings.stream_prefix, maxlen=settings.bus_maxlen)
        service = BookBuilderService(producer=producer, bar_store=bar_store, stale_after_s=settings.stale_after_s)
        stream = TICKS if settings.shard is None else tick_shard(settings.shard)
        consumer: Consumer[Any] = Consumer(
            client,
            stream=stream_key(stream, settings.stream_prefix),
            group=SERVICE,
            consumer=consumer_name(SERVICE, settings.slot),
            batch_handler=service.handle,
            message_type=TickStreamMessage,
            config=settings.consumer_config(batch_size=settings.batch_size, start_id="$"),
        )
        # a batch published but not acknowledged when the last run died comes again: recognise its ticks
        resumed = await service.resume(client, stream_key(BOOK, settings.stream_prefix), depth=2 * settings.batch_size)
        app.state.service = service
        app.state.consumer = consumer
        tasks = [
            asyncio.create_task(consumer.run(), name="book_builder-consumer"),
            asyncio.create_task(_watch_feeds(service), name="book_builder-feeds"),
        ]
        log.info(
            "book_builder_ready",
            stream=consumer.stream,
            consumer=consumer.name,
            store_bars=settings.store_bars,
            resumed_symbols=resumed,
        )
        try:
            yield
        finally:
            consumer.stop()
            await asyncio.wait_for(asyncio.shield(tasks[0]), timeout=10)
            tasks[1].cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await tasks[1]
            await client.aclose()
            if engine is not None:
                engine.dispose()

    app = FastAPI(title="AITrader book_builder", version="0.1.0", lifespan=lifespan)

    @app.get("/health", tags=["ops"])
    async def health(request: Request) -> dict[str, Any]:
        """200 while the service runs; ``status`` is ``degraded`` with a warning per stale symbol."""
        service: BookBuilderService = request.app.state.service
        consumer: Consumer[Any] = request.app.state.consumer
        document = service.health()
        document["stream"] = consumer.stream
        document["consumer"] = consumer.name
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


async def _watch_feeds(service: BookBuilderService) -> None:
    while True:
        await asyncio.sleep(_FEED_CHECK_S)
        try:
            await service.check_feeds()
        except Exception as e:  # Redis away: report at the next check
            log.warning("feed_check_failed", error=f"{type(e).__name__}: {e}")
