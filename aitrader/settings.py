"""Settings shared by every service, read from the environment (and `.env` when present).

Each service subclasses :class:`CommonSettings` in its own ``settings.py`` and adds its fields with an
``env_prefix``. Settings are built in ``__main__`` / ``create_app``, never at import time.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, Field, RedisDsn, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from aitrader.bus.config import ConsumerConfig
from aitrader.errors import ConfigurationError

OMS_DEV_API_KEY = "aitrader-dev-oms-key"
"""The OMS's X-API-Key when EXECUTION_API_KEY is unset: for development stacks only (refused in prod)."""

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class Environment(StrEnum):
    DEV = "dev"
    TEST = "test"
    PROD = "prod"


def _check_database_url(value: str) -> str:
    scheme = value.split("://", 1)[0] if "://" in value else ""
    if not (scheme.startswith("postgresql") or scheme.startswith("sqlite")):
        raise ValueError(f"must be a postgresql:// or sqlite:/// URL, was {value!r}")
    return value


DatabaseUrl = Annotated[str, AfterValidator(_check_database_url)]


def sqlalchemy_url(database_url: str) -> str:
    """Return ``database_url`` with the driver SQLAlchemy should use (psycopg 3 for PostgreSQL)."""
    for plain in ("postgresql://", "postgres://"):
        if database_url.startswith(plain):
            return "postgresql+psycopg://" + database_url[len(plain) :]
    return database_url


class CommonSettings(BaseSettings):
    """What every service needs: where the system of record and the bus live, and how to log."""

    # An empty variable (`REDIS_URL=` in .env, `${VAR:-}` in compose) means unset: the default applies.
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True)

    database_url: DatabaseUrl | None = Field(
        default=None,
        validation_alias="DATABASE_URL",
        description="SQLAlchemy URL of the system of record; unset means `aitrader up` starts an embedded one.",
    )
    redis_url: RedisDsn | None = Field(
        default=None,
        validation_alias="REDIS_URL",
        description="URL of the Redis that carries the bus; unset means `aitrader up` starts an embedded one.",
    )
    stream_prefix: str = Field(
        default="",
        validation_alias="AITRADER_STREAM_PREFIX",
        pattern=r"^[A-Za-z0-9_.:\-]*$",
        description="Prepended to every stream name so several stacks can share one Redis.",
    )
    log_level: LogLevel = Field(default="INFO", validation_alias="LOG_LEVEL")
    environment: Environment = Field(default=Environment.DEV, validation_alias="AITRADER_ENV")
    bus_maxlen: int = Field(default=100_000, gt=0, validation_alias="AITRADER_BUS_MAXLEN")
    bus_block_ms: int = Field(default=1000, gt=0, validation_alias="AITRADER_BUS_BLOCK_MS")
    bus_claim_idle_ms: int = Field(default=30_000, gt=0, validation_alias="AITRADER_BUS_CLAIM_IDLE_MS")
    bus_max_deliveries: int = Field(default=5, gt=0, validation_alias="AITRADER_BUS_MAX_DELIVERIES")

    def consumer_config(self, **overrides: Any) -> ConsumerConfig:
        """The bus consumer tunables these settings describe, with per-consumer ``overrides``."""
        values: dict[str, Any] = {
            "block_ms": self.bus_block_ms,
            "claim_idle_ms": self.bus_claim_idle_ms,
            "max_deliveries": self.bus_max_deliveries,
        }
        values.update(overrides)
        return ConsumerConfig(**values)

    def require_database_url(self) -> str:
        if self.database_url is None:
            raise ConfigurationError("DATABASE_URL is not set: start the stack with `aitrader up` or set it")
        return self.database_url

    def require_redis_url(self) -> str:
        if self.redis_url is None:
            raise ConfigurationError("REDIS_URL is not set: start the stack with `aitrader up` or set it")
        return str(self.redis_url)


S = TypeVar("S", bound=BaseSettings)


def load_settings(cls: type[S], **overrides: Any) -> S:
    """Build ``cls`` from the environment, turning validation errors into one message naming every bad variable."""
    try:
        return cls(**overrides)
    except ValidationError as e:
        problems = []
        for error in e.errors():
            name = _variable_name(cls, error["loc"])
            message = error["msg"]
            if ", was " not in message:
                message += f", was {error.get('input')!r}"
            problems.append(f"{name}: {message}")
        raise ConfigurationError(f"invalid settings for {cls.__name__}: " + "; ".join(problems)) from e


def _variable_name(cls: type[BaseSettings], location: tuple[int | str, ...]) -> str:
    """The environment variable behind a validation error's location (``port`` -> ``TICK_REPLAY_PORT``)."""
    if not location:
        return cls.__name__
    first = str(location[0])
    field = cls.model_fields.get(first)
    if field is not None and not isinstance(field.validation_alias, str):
        prefix = str(cls.model_config.get("env_prefix") or "")
        first = f"{prefix}{first}".upper()
    return ".".join([first, *(str(part) for part in location[1:])])
