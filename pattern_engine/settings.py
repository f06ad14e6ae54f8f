"""pattern_engine's settings: the shared ones plus its own, read from ``PATTERN_ENGINE_*``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from aitrader.contracts import BOOK, TICKS, tick_shard
from aitrader.errors import ConfigurationError
from aitrader.settings import CommonSettings

ImplementationChoice = Literal["auto", "rust", "python"]
InputStream = Literal["ticks", "book"]


def default_config_path() -> Path:
    """The config file shipped with the package: the sample day's universe and its one pair."""
    return Path(str(resources.files("pattern_engine").joinpath("default.toml")))


class PatternEngineSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="PATTERN_ENGINE_")

    host: str = Field(default="127.0.0.1", description="Interface to listen on (PATTERN_ENGINE_HOST).")
    port: int = Field(default=8012, gt=0, lt=65536, description="TCP port of /health and /metrics.")
    config: Path | None = Field(
        default=None, description="The engine's TOML config (universe, thresholds, pairs); unset: default.toml."
    )
    implementation: ImplementationChoice = Field(
        default="auto", description="rust, python (the reference), or auto: rust when the extension is built."
    )
    input: InputStream = Field(
        default="ticks", description="Consume `ticks` (Tick) or book_builder's `book` (BookUpdate, with depth)."
    )
    shard: int | None = Field(
        default=None, ge=0, description="Read `ticks:<shard>` instead of `ticks` (PATTERN_ENGINE_SHARD)."
    )
    slot: int = Field(default=0, ge=0, description="Consumer slot: the consumer is pattern_engine-<host>-<slot>.")
    batch_size: int = Field(default=1000, gt=0, le=10_000, description="Messages read (and signals written) per read.")
    warm_start: bool = Field(
        default=True, description="After a restart, replay the stream's last warmup_s seconds into the engine."
    )
    warm_start_max_messages: int = Field(
        default=500_000, gt=0, description="Upper bound on the entries a warm start reads back from the stream."
    )

    def config_path(self) -> Path:
        return self.config if self.config is not None else default_config_path()

    def input_stream(self) -> str:
        """The stream name (without prefix) this instance consumes."""
        if self.input == "book":
            if self.shard is not None:
                raise ConfigurationError(
                    "PATTERN_ENGINE_SHARD: the `book` stream is not sharded; unset it, or read `ticks:<shard>` "
                    f"with PATTERN_ENGINE_INPUT=ticks, was {self.shard}"
                )
            return BOOK
        return TICKS if self.shard is None else tick_shard(self.shard)
