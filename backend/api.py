"""Operational routes: liveness, readiness with the state of the database and the bus, Prometheus metrics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Engine

from aitrader.contracts.streams import ALL_STREAMS, stream_key
from backend.settings import BackendSettings

router = APIRouter(tags=["ops"])


class HealthPublic(BaseModel):
    status: Literal["ok"] = "ok"


class DatabaseStatus(BaseModel):
    reachable: bool
    revision: str | None = None
    head: str | None = None
    up_to_date: bool = False
    error: str | None = None


class StreamStatus(BaseModel):
    name: str
    key: str
    length: int


class RedisStatus(BaseModel):
    reachable: bool
    version: str | None = None
    streams: list[StreamStatus] = []
    error: str | None = None


class StatusPublic(BaseModel):
    status: Literal["ok", "unavailable"]
    reason: str | None = None
    database: DatabaseStatus
    redis: RedisStatus


@dataclass
class Resources:
    """What the application's lifespan builds and the routes use; ``None`` where the setting is absent."""

    settings: BackendSettings
    engine: Engine | None
    redis: Any | None  # redis.asyncio.Redis


def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


ResourcesDep = Annotated[Resources, Depends(get_resources)]


@router.get("/health", response_model=HealthPublic)
async def health() -> HealthPublic:
    """Liveness: the process serves HTTP. Says nothing about its dependencies (see `/status`)."""
    return HealthPublic()


@router.get(
    "/status",
    response_model=StatusPublic,
    responses={503: {"model": StatusPublic, "description": "the database or Redis is unavailable"}},
)
async def status(resources: ResourcesDep) -> JSONResponse:
    """Readiness: the database is reachable and migrated to head, Redis is reachable; stream lengths."""
    if resources.engine is None:
        database = DatabaseStatus(reachable=False, error="DATABASE_URL is not set")
    else:
        database = await run_in_threadpool(_database_status, resources.engine)
    if resources.redis is None:
        redis_status = RedisStatus(reachable=False, error="REDIS_URL is not set")
    else:
        redis_status = await _redis_status(resources.redis, resources.settings.stream_prefix)
    reasons = []
    if not database.reachable:
        reasons.append(f"database unreachable: {database.error}")
    elif not database.up_to_date:
        reasons.append(f"database is at revision {database.revision}, head is {database.head}: run `aitrader migrate`")
    if not redis_status.reachable:
        reasons.append(f"redis unreachable: {redis_status.error}")
    body = StatusPublic(
        status="unavailable" if reasons else "ok",
        reason="; ".join(reasons) or None,
        database=database,
        redis=redis_status,
    )
    return JSONResponse(status_code=503 if reasons else 200, content=body.model_dump(mode="json"))


@router.get("/metrics", response_class=Response)
async def metrics() -> Response:
    """Prometheus text exposition of this process's metrics."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

    return Response(content=generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else error.__class__.__name__


def _database_status(engine: Engine) -> DatabaseStatus:
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy.exc import SQLAlchemyError

    from aitrader.db.migrations import head
    from aitrader.errors import AITraderError

    try:
        with engine.connect() as connection:
            revision = MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as e:
        return DatabaseStatus(reachable=False, error=_first_line(e))
    try:
        newest = head()
    except AITraderError as e:
        return DatabaseStatus(reachable=True, revision=revision, error=e.message)
    return DatabaseStatus(reachable=True, revision=revision, head=newest, up_to_date=revision == newest)


async def _redis_status(client: Any, prefix: str) -> RedisStatus:
    import redis

    keys = [stream_key(name, prefix) for name in ALL_STREAMS]
    try:
        info = await client.info("server")
        pipeline = client.pipeline(transaction=False)
        for key in keys:
            pipeline.xlen(key)
        lengths = await pipeline.execute()
    except (redis.RedisError, OSError) as e:
        return RedisStatus(reachable=False, error=_first_line(e))
    return RedisStatus(
        reachable=True,
        version=str(info.get("redis_version", "unknown")),
        streams=[
            StreamStatus(name=name, key=key, length=int(length))
            for name, key, length in zip(ALL_STREAMS, keys, lengths, strict=True)
        ],
    )
