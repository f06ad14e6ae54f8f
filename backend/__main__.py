"""`python -m backend`: read the settings, configure JSON logging, serve the API with uvicorn."""

from __future__ import annotations

import sys

from aitrader.http import run_service
from backend.app import create_app
from backend.settings import BackendSettings


def main() -> int:
    return run_service("backend", BackendSettings, create_app)


if __name__ == "__main__":
    sys.exit(main())
