"""tick_replay's settings: the shared ones plus its own, read from ``TICK_REPLAY_*``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from aitrader.settings import CommonSettings


class TickReplaySettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="TICK_REPLAY_")

    host: str = Field(default="127.0.0.1", description="Interface to listen on (TICK_REPLAY_HOST).")
    port: int = Field(default=8010, gt=0, lt=65536, description="TCP port of the API (TICK_REPLAY_PORT).")
    data_root: Path = Field(
        default=Path("."),
        description="Tick files must lie under this directory (TICK_REPLAY_DATA_ROOT); relative to the cwd.",
    )
    shards: int = Field(
        default=0, ge=0, le=64, description="Default tick shards: 0 publishes to `ticks`, N to `ticks:0..N-1`."
    )
    chunk_size: int = Field(default=1000, gt=0, le=20_000, description="Ticks appended per round trip.")
    native: bool = Field(
        default=True, description="At max speed, append with the Rust extension when it is built (TICK_REPLAY_NATIVE)."
    )
