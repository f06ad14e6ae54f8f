"""book_builder's settings: the shared ones plus its own, read from ``BOOK_BUILDER_*``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from aitrader.settings import CommonSettings


class BookBuilderSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="BOOK_BUILDER_")

    host: str = Field(default="127.0.0.1", description="Interface to listen on (BOOK_BUILDER_HOST).")
    port: int = Field(default=8011, gt=0, lt=65536, description="TCP port of /health and /metrics.")
    shard: int | None = Field(
        default=None, ge=0, description="Read `ticks:<shard>` instead of `ticks` (BOOK_BUILDER_SHARD)."
    )
    slot: int = Field(default=0, ge=0, description="Consumer slot: the consumer is book_builder-<host>-<slot>.")
    batch_size: int = Field(default=1000, gt=0, le=10_000, description="Ticks read (and written) per round trip.")
    stale_after_s: float = Field(
        default=30.0, gt=0, description="A symbol with no tick for this long is reported stale (feed_status)."
    )
    store_bars: bool = Field(default=True, description="Store closed 1-minute bars in PostgreSQL (`bars`).")
