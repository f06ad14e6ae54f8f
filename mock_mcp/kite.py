"""Kite's response envelope and error types, and the handlers that put every error of the app into it.

The ``kiteconnect`` client reads ``data`` from a JSON body, or raises the exception class named by
``error_type`` (``GeneralException`` for a name it does not know) with ``message``. A body of any other shape
(FastAPI's ``{"detail": ...}``) makes it fail with ``KeyError``, so 404, 405 and validation errors are
wrapped too. Success answers carry ``{"status": "success", "data": ...}``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from aitrader.log import get_logger

log = get_logger(__name__)


class ErrorType(StrEnum):
    """Kite's ``error_type`` values, each with the HTTP status Kite answers it with."""

    TOKEN = "TokenException"
    USER = "UserException"
    ORDER = "OrderException"
    INPUT = "InputException"
    MARGIN = "MarginException"
    HOLDING = "HoldingException"
    NETWORK = "NetworkException"
    DATA = "DataException"
    GENERAL = "GeneralException"
    PERMISSION = "PermissionException"

    @property
    def status(self) -> int:
        return _STATUS[self]


_STATUS = {
    ErrorType.TOKEN: 403,
    ErrorType.USER: 403,
    ErrorType.PERMISSION: 403,
    ErrorType.ORDER: 400,
    ErrorType.INPUT: 400,
    ErrorType.MARGIN: 400,
    ErrorType.HOLDING: 400,
    ErrorType.NETWORK: 503,
    ErrorType.DATA: 502,
    ErrorType.GENERAL: 500,
}


class KiteError(Exception):
    """An error answered in Kite's envelope; ``status`` defaults to the one Kite uses for ``error_type``."""

    def __init__(self, error_type: ErrorType, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.status = error_type.status if status is None else status


def success(data: Any) -> dict[str, Any]:
    return {"status": "success", "data": data}


def error_response(status: int, error_type: ErrorType, message: str) -> JSONResponse:
    body = {"status": "error", "message": message, "error_type": str(error_type), "data": None}
    return JSONResponse(status_code=status, content=body)


async def _kite_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, KiteError)
    return error_response(exc.status, exc.error_type, exc.message)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return error_response(404, ErrorType.GENERAL, "Route not found")
    if exc.status_code == 405:
        return error_response(405, ErrorType.GENERAL, "Method not allowed")
    error_type = ErrorType.TOKEN if exc.status_code == 403 else ErrorType.GENERAL
    return error_response(exc.status_code, error_type, str(exc.detail))


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    """Kite reports bad or missing parameters as a 400 InputException naming the first one."""
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    location = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path", "form")]
    name = ".".join(location) or "request"
    kind = first.get("type", "")
    message = f"Missing or empty field `{name}`" if kind == "missing" else f"Invalid `{name}`: {first.get('msg', '')}"
    return error_response(400, ErrorType.INPUT, message)


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected_error", error=repr(exc))
    return error_response(500, ErrorType.GENERAL, "Something went wrong: the mock failed to handle the request")


def install_kite_errors(app: FastAPI) -> None:
    """Every error the app can raise, answered in Kite's envelope."""
    app.add_exception_handler(KiteError, _kite_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
