"""Builds the backend's FastAPI application: routers, error handling, and the resources its lifespan owns."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aitrader.errors import AITraderError, ConflictError, NotFoundError, UnavailableError, ValidationError
from aitrader.log import get_logger
from backend.api import Resources, router
from backend.settings import BackendSettings

log = get_logger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
_STATUS_BY_ERROR: list[tuple[type[AITraderError], int]] = [
    (NotFoundError, 404),
    (ConflictError, 409),
    (ValidationError, 422),
    (UnavailableError, 503),
]


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
        generate_unique_id_function=_operation_id,
    )
    app.include_router(router)
    app.add_exception_handler(AITraderError, _domain_error)  # type: ignore[arg-type]
    app.add_middleware(RequestContextMiddleware)
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


def _operation_id(route: APIRoute) -> str:
    """Stable ``{tag}-{name}`` operation ids, which the frontend's generated client is named after."""
    tag = str(route.tags[0]) if route.tags else "default"
    return f"{tag}-{route.name}"


def request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", ""))


async def _domain_error(request: Request, exc: AITraderError) -> JSONResponse:
    status = next((code for cls, code in _STATUS_BY_ERROR if isinstance(exc, cls)), 400)
    return JSONResponse(
        status_code=status,
        content={"detail": exc.message, "code": exc.code, "request_id": request_id(request)},
    )


class RequestContextMiddleware:
    """Gives every request an id (the caller's ``X-Request-ID`` or a new one), binds it to the logs, echoes
    it in the response, and turns any unhandled exception into a logged traceback and a bare 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(REQUEST_ID_HEADER.lower().encode(), b"").decode("latin-1")
        rid = incoming if 0 < len(incoming) <= 128 and incoming.isprintable() else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.lower().encode(), rid.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=rid):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                log.exception("unhandled_error", method=scope.get("method"), path=scope.get("path"))
                if response_started:
                    raise
                response = JSONResponse(status_code=500, content={"detail": "internal error", "request_id": rid})
                await response(scope, receive, send_with_id)
