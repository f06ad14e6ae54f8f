"""`python -m backend`: read the settings, configure JSON logging, serve the API with uvicorn."""

from __future__ import annotations

import sys

from aitrader.errors import ConfigurationError
from aitrader.http import serve
from aitrader.log import configure, get_logger
from aitrader.settings import load_settings
from backend.app import create_app
from backend.settings import BackendSettings


def main() -> int:
    try:
        settings = load_settings(BackendSettings)
    except ConfigurationError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    configure("backend", settings.log_level)
    get_logger(__name__).info("backend_starting", host=settings.host, port=settings.port)
    serve(create_app(settings), host=settings.host, port=settings.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
