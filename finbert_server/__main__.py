"""`python -m finbert_server`: read the settings, configure JSON logging, serve the classifier with uvicorn."""

from __future__ import annotations

import sys

from aitrader.http import run_service
from finbert_server.app import create_app
from finbert_server.settings import FinbertSettings


def main() -> int:
    return run_service("finbert_server", FinbertSettings, create_app)


if __name__ == "__main__":
    sys.exit(main())
