"""Builds the backend's FastAPI application: routers, error handling, and the resources its lifespan owns."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from aitrader.http import install_error_handlers, operation_id
from aitrader.log import get_logger
from backend.api import Resources, router
from backend.settings import BackendSettings

log = get_logger(__name__)


def create_app(settings: BackendSettings) -> FastAPI:
    """The backend application for ``settings``; the engine and the Redis client are built at start-up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.resources = _build_resources(settings)
        log.info("backend_ready", database=settings.database_url is not None, redis=settings.redis_url is not None)
        try:
            yield
        finally:
            resources: Resources = app.state.resources
            if resources.redis is not None:
                await resources.redis.aclose()
            if resources.engine is not None:
                resources.engine.dispose()

    app = FastAPI(
        title="AITrader backend",
        version="0.1.0",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    app.include_router(router)
    install_error_handlers(app)
    return app


def _build_resources(settings: BackendSettings) -> Resources:
    engine = None
    if settings.database_url is not None:
        from aitrader.db.session import make_engine

        connect_args = {"connect_timeout": 3} if settings.database_url.startswith("postgres") else {}
        engine = make_engine(settings.database_url, connect_args=connect_args)
    client = None
    if settings.redis_url is not None:
        import redis.asyncio

        client = redis.asyncio.Redis.from_url(
            str(settings.redis_url), socket_connect_timeout=3, socket_timeout=3, decode_responses=False
        )
    return Resources(settings=settings, engine=engine, redis=client)
