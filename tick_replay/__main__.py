"""`python -m tick_replay`: read the settings, configure JSON logging, serve the API with uvicorn."""

from __future__ import annotations

import sys

from aitrader.http import run_service
from tick_replay.app import create_app
from tick_replay.settings import TickReplaySettings


def main() -> int:
    return run_service("tick_replay", TickReplaySettings, create_app, lambda s: s.require_redis_url())


if __name__ == "__main__":
    sys.exit(main())
