"""The HTTP edge shared by the services.

Every error answers ``{"detail": ..., "code": ..., "request_id": ...}``: domain errors
(:class:`~aitrader.errors.AITraderError`) map to 404/409/422/503, a request that fails validation to 422
with one line per bad field saying what was wrong and where, anything unexpected to a bare 500 whose
traceback goes only to the log.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aitrader.errors import (
    AITraderError,
    ConfigurationError,
    ConflictError,
    NotFoundError,
    UnavailableError,
    ValidationError,
)
from aitrader.log import configure, get_logger
from aitrader.settings import CommonSettings, load_settings

log = get_logger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
_STATUS_BY_ERROR: list[tuple[type[AITraderError], int]] = [
    (NotFoundError, 404),
    (ConflictError, 409),
    (ValidationError, 422),
    (UnavailableError, 503),
]


def install_error_handlers(app: FastAPI) -> None:
    """The error envelope and the request-id middleware on ``app``."""
    app.add_exception_handler(AITraderError, _domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_middleware(RequestContextMiddleware)


def operation_id(route: APIRoute) -> str:
    """Stable ``{tag}-{name}`` operation ids, which the frontend's generated client is named after."""
    tag = str(route.tags[0]) if route.tags else "default"
    return f"{tag}-{route.name}"


def request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", ""))


def serve(app: FastAPI, *, host: str, port: int) -> None:
    """Run ``app`` with uvicorn; logging stays as :func:`aitrader.log.configure` set it (JSON lines)."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_config=None, server_header=False, lifespan="on")


S = TypeVar("S", bound=CommonSettings)


def run_service(
    name: str,
    settings_type: type[S],
    create_app: Callable[[S], FastAPI],
    check: Callable[[S], object] | None = None,
) -> int:
    """A service's ``__main__``: read and check its settings (exit 2 naming the bad variable), configure JSON
    logging, serve the app on the settings' ``host`` and ``port``."""
    try:
        settings = load_settings(settings_type)
        if check is not None:
            check(settings)
    except ConfigurationError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    configure(name, settings.log_level)
    host, port = getattr(settings, "host"), getattr(settings, "port")  # noqa: B009 - every service has both
    log.info("service_starting", service=name, host=host, port=port)
    serve(create_app(settings), host=host, port=port)
    return 0


def _envelope(request: Request, status: int, detail: Any, code: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": detail, "code": code, "request_id": request_id(request)})


async def _domain_error(request: Request, exc: AITraderError) -> JSONResponse:
    status = next((code for cls, code in _STATUS_BY_ERROR if isinstance(exc, cls)), 400)
    return _envelope(request, status, exc.message, exc.code)


async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "body"
        problem = f"{where}: {error.get('msg', 'invalid')}"
        if "input" in error and error.get("type") != "missing":
            problem += f", was {error['input']!r}"[:200]
        problems.append(problem)
    return _envelope(request, 422, "; ".join(problems), "INVALID_REQUEST")


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail = exc.detail if exc.status_code != 404 else f"no route {request.method} {request.url.path}"
    return _envelope(request, exc.status_code, detail, f"HTTP_{exc.status_code}")


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
