"""`python -m execution`: read the settings, configure JSON logging, serve the OMS with uvicorn."""

from __future__ import annotations

import sys

from aitrader.http import run_service
from execution.app import create_app
from execution.settings import ExecutionSettings


def _check(settings: ExecutionSettings) -> None:
    settings.require_redis_url()
    settings.require_database_url()
    settings.check_production()


def main() -> int:
    return run_service("execution", ExecutionSettings, create_app, _check)


if __name__ == "__main__":
    sys.exit(main())
