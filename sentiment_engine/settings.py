"""sentiment_engine's settings: the shared ones plus its own, read from ``SENTIMENT_ENGINE_*``."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from aitrader.errors import ConfigurationError
from aitrader.settings import CommonSettings


class SentimentEngineSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="SENTIMENT_ENGINE_")

    host: str = Field(default="127.0.0.1", description="Interface to listen on (SENTIMENT_ENGINE_HOST).")
    port: int = Field(default=8002, gt=0, lt=65536, description="TCP port of the news and sentiment API.")
    finbert_url: str = Field(
        default_factory=lambda: f"http://127.0.0.1:{os.environ.get('FINBERT_SERVER_PORT') or 8004}",
        description="The FinBERT server that scores news (default: the local stack's, on FINBERT_SERVER_PORT).",
    )
    finbert_timeout_s: float = Field(default=2.0, gt=0, le=60, description="How long a scoring call may take.")
    finbert_retry_s: float = Field(
        default=10.0,
        gt=0,
        description="After a failed call, how long the lexicon scores alone before FinBERT is tried.",
    )
    finbert_batch: int = Field(
        default=64, ge=1, le=10_000, description="Texts per scoring request (at most the server's max texts)."
    )
    instruments_path: Path | None = Field(
        default=None,
        description="Instrument list (Kite's CSV layout) whose equities news maps to; unset: the synthetic market's.",
    )
    aliases_path: Path | None = Field(
        default=None, description="TOML of extra company names per ticker (default: the shipped aliases)."
    )
    half_life_s: float = Field(default=1800.0, gt=0, description="Default half-life of an item's weight (seconds).")
    cache_ttl_s: float = Field(default=5.0, ge=0, description="How long a computed sentiment is served from memory.")

    max_items: int = Field(default=1000, ge=1, le=100_000, description="Most items one POST /api/news may carry.")

    def check(self) -> None:
        """Fail at start-up, naming the variable, when the instrument list cannot be read."""
        if self.instruments_path is not None and not self.instruments_path.is_file():
            raise ConfigurationError(
                f"SENTIMENT_ENGINE_INSTRUMENTS_PATH: no instrument list at {self.instruments_path.resolve()}"
            )
