"""`python -m pattern_engine`: read the settings and the engine config, configure JSON logging, serve the API."""

from __future__ import annotations

import sys

from aitrader.errors import ConfigurationError
from aitrader.http import run_service
from pattern_engine.app import create_app
from pattern_engine.config import load_config
from pattern_engine.native import native_module
from pattern_engine.settings import PatternEngineSettings


def _check(settings: PatternEngineSettings) -> None:
    """Fail at start-up, naming the problem: no Redis, a bad config file, a shard of the unsharded `book`, or
    the Rust engine asked for but not built."""
    settings.require_redis_url()
    settings.input_stream()
    load_config(settings.config_path())
    if settings.implementation == "rust" and native_module() is None:
        raise ConfigurationError(
            "PATTERN_ENGINE_IMPLEMENTATION: rust, but the Rust pattern engine (pattern_engine_pyo3) is not built; "
            "run `make setup`, or choose auto or python"
        )


def main() -> int:
    return run_service("pattern_engine", PatternEngineSettings, create_app, _check)


if __name__ == "__main__":
    sys.exit(main())
