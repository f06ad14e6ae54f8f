"""Settings of the local stack (`aitrader up`): where it keeps its state, its ports, how it restarts services."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from aitrader.settings import CommonSettings


class DevstackSettings(CommonSettings):
    """Read by the `aitrader` CLI and the supervisor; the services read only their own settings."""

    home: Path = Field(
        default=Path(".aitrader"),
        validation_alias="AITRADER_HOME",
        description="Directory of the local stack's state, logs and embedded databases (relative to cwd).",
    )
    pg_port: int = Field(default=55432, gt=0, lt=65536, validation_alias="AITRADER_PG_PORT")
    redis_port: int = Field(default=56379, gt=0, lt=65536, validation_alias="AITRADER_REDIS_PORT")
    restart_backoff_initial_s: float = Field(default=0.5, gt=0, validation_alias="AITRADER_RESTART_BACKOFF_INITIAL_S")
    restart_backoff_max_s: float = Field(default=30.0, gt=0, validation_alias="AITRADER_RESTART_BACKOFF_MAX_S")
    health_timeout_s: float = Field(default=30.0, gt=0, validation_alias="AITRADER_HEALTH_TIMEOUT_S")
    stop_grace_s: float = Field(default=10.0, gt=0, validation_alias="AITRADER_STOP_GRACE_S")
    startup_timeout_s: float = Field(default=180.0, gt=0, validation_alias="AITRADER_STARTUP_TIMEOUT_S")

    def paths(self) -> StackPaths:
        return StackPaths(self.home.expanduser().resolve())


@dataclass(frozen=True)
class StackPaths:
    """Where everything of one local stack lives, under its home directory."""

    home: Path

    @property
    def state_file(self) -> Path:
        return self.home / "state.json"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def postgres_data(self) -> Path:
        return self.home / "postgres" / "data"

    @property
    def redis_data(self) -> Path:
        return self.home / "redis" / "data"

    @property
    def supervisor_log(self) -> Path:
        return self.log_path("supervisor")

    def log_path(self, component: str) -> Path:
        """The log file of ``component``: the embedded servers write their own beside their data."""
        if component == "postgres":
            return self.postgres_data.parent / "postgres.log"
        if component == "redis":
            return self.redis_data.parent / "redis.log"
        return self.logs_dir / f"{component}.log"
