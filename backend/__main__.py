"""`python -m backend`: read the settings, configure JSON logging, serve the API with uvicorn."""

from __future__ import annotations

import sys

import uvicorn

from aitrader.errors import ConfigurationError
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
    # log_config=None leaves logging as configure() set it: uvicorn's records come out as JSON lines too.
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        server_header=False,
        lifespan="on",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
