"""`python -m tick_replay`: read the settings, configure JSON logging, serve the API with uvicorn."""

from __future__ import annotations

import sys

from aitrader.errors import ConfigurationError
from aitrader.http import serve
from aitrader.log import configure
from aitrader.settings import load_settings
from tick_replay.app import create_app
from tick_replay.settings import TickReplaySettings


def main() -> int:
    try:
        settings = load_settings(TickReplaySettings)
        settings.require_redis_url()
    except ConfigurationError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    configure("tick_replay", settings.log_level)
    serve(create_app(settings), host=settings.host, port=settings.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
