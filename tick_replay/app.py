"""Builds tick_replay's FastAPI application: routes, error mapping, and the Redis client its lifespan owns."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from fastapi import FastAPI

from aitrader.bus import Producer
from aitrader.http import install_error_handlers
from aitrader.log import get_logger
from tick_replay.api import ReplayService, router
from tick_replay.native import load_appender
from tick_replay.replayer import Replayer
from tick_replay.settings import TickReplaySettings

log = get_logger(__name__)


def create_app(settings: TickReplaySettings) -> FastAPI:
    """The application for ``settings``; the Redis client is built at start-up and closed at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = aioredis.Redis.from_url(settings.require_redis_url())
        producer = Producer(
            client, prefix=settings.stream_prefix, maxlen=settings.bus_maxlen, pipeline_chunk=settings.chunk_size
        )
        replayer = Replayer(
            redis=client,
            producer=producer,
            chunk_size=settings.chunk_size,
            maxlen=settings.bus_maxlen,
            native=load_appender() if settings.native else None,
            redis_url=settings.require_redis_url(),
        )
        service = ReplayService(settings=settings, replayer=replayer)
        app.state.service = service
        log.info(
            "tick_replay_ready",
            data_root=str(settings.data_root.resolve()),
            shards=settings.shards,
            native=replayer.native,
        )
        try:
            yield
        finally:
            if service.task is not None and not service.task.done():
                replayer.stop()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(service.task, timeout=10)
            await client.aclose()

    app = FastAPI(title="AITrader tick_replay", version="0.1.0", lifespan=lifespan)
    app.include_router(router)
    install_error_handlers(app)
    return app
