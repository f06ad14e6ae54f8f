"""`python -m book_builder`: read the settings, configure JSON logging, serve the API with uvicorn."""

from __future__ import annotations

import sys

from aitrader.http import run_service
from book_builder.app import create_app
from book_builder.settings import BookBuilderSettings


def _check(settings: BookBuilderSettings) -> None:
    settings.require_redis_url()
    if settings.store_bars:
        settings.require_database_url()


def main() -> int:
    return run_service("book_builder", BookBuilderSettings, create_app, _check)


if __name__ == "__main__":
    sys.exit(main())
