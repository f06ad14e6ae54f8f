"""`python -m book_builder`: read the settings, configure JSON logging, serve /health and /metrics, consume."""

from __future__ import annotations

import sys

from aitrader.errors import ConfigurationError
from aitrader.http import serve
from aitrader.log import configure
from aitrader.settings import load_settings
from book_builder.app import create_app
from book_builder.settings import BookBuilderSettings


def main() -> int:
    try:
        settings = load_settings(BookBuilderSettings)
        settings.require_redis_url()
        if settings.store_bars:
            settings.require_database_url()
    except ConfigurationError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    configure("book_builder", settings.log_level)
    serve(create_app(settings), host=settings.host, port=settings.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
