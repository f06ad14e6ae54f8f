"""The backend's settings: the shared ones plus its own, read from ``BACKEND_*``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from aitrader.settings import CommonSettings


class BackendSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="BACKEND_")

    host: str = Field(default="127.0.0.1", description="Interface to listen on (BACKEND_HOST).")
    port: int = Field(default=8000, gt=0, lt=65536, description="TCP port to listen on (BACKEND_PORT).")
