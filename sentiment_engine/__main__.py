"""`python -m sentiment_engine`: read the settings, configure JSON logging, serve the API with uvicorn."""

from __future__ import annotations

import sys

from aitrader.http import run_service
from sentiment_engine.app import create_app
from sentiment_engine.settings import SentimentEngineSettings


def main() -> int:
    return run_service("sentiment_engine", SentimentEngineSettings, create_app, SentimentEngineSettings.check)


if __name__ == "__main__":
    sys.exit(main())
