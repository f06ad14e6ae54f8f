"""HTTP for every service: one error envelope, request ids, a catch-all 500, and how uvicorn is run."""

from aitrader.http.server import install_error_handlers, operation_id, request_id, run_service, serve

__all__ = ["install_error_handlers", "operation_id", "request_id", "run_service", "serve"]
