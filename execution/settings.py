"""execution's settings: the shared ones plus its own, read from ``EXECUTION_*``."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from aitrader.errors import ConfigurationError
from aitrader.settings import OMS_DEV_API_KEY, CommonSettings, Environment

DEV_API_KEY = OMS_DEV_API_KEY


class BrokerKind(StrEnum):
    SIM = "sim"
    KITE = "kite"


def default_limits() -> dict[str, Decimal]:
    """Global limits written on the first start, so a fresh stack never trades unguarded."""
    return {
        "max_order_qty": Decimal(10_000),
        "max_order_notional": Decimal(5_000_000),
        "price_band_pct": Decimal(5),
        "max_position_qty": Decimal(50_000),
        "max_gross_exposure": Decimal(50_000_000),
        "max_open_orders": Decimal(500),
        "max_orders_per_minute": Decimal(6_000),
        "daily_loss_limit": Decimal(200_000),
    }


class ExecutionSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="EXECUTION_")

    host: str = Field(default="127.0.0.1", description="Interface to listen on (EXECUTION_HOST).")
    port: int = Field(default=8006, gt=0, lt=65536, description="TCP port of the OMS API.")
    api_key: str = Field(
        default=DEV_API_KEY,
        min_length=16,
        description="Key the state-changing routes require in X-API-Key; the development default is refused in prod.",
    )
    broker: BrokerKind = Field(default=BrokerKind.SIM, description="`sim` (fills against the live book) or `kite`.")
    slot: int = Field(default=0, ge=0, description="Consumer slot: the consumer is execution-<host>-<slot>.")
    batch_size: int = Field(default=100, gt=0, le=5_000, description="Order requests read per round trip.")
    sim_latency_ms: float = Field(default=0.0, ge=0, le=10_000, description="Simulated order latency to the venue.")
    reconcile_interval_s: float = Field(
        default=5.0, gt=0, description="How often open orders and positions are compared with the broker."
    )
    enforce_market_hours: bool = Field(
        default=False, description="Deny orders outside 09:15-15:30 IST on weekdays (off for replays)."
    )
    allowed_symbols: list[str] = Field(
        default_factory=list, description="Symbols the OMS may trade (JSON list); empty allows every symbol."
    )
    seed_default_limits: bool = Field(
        default=True, description="On the first start, write the default global limits to risk_limits."
    )
    kite_root: str = Field(
        default="http://127.0.0.1:9000", description="Kite Connect REST root (mock_mcp in development)."
    )
    kite_api_key: str = Field(default="aitrader_dev", description="The Kite app's api_key.")
    kite_access_token: str | None = Field(default=None, description="A Kite access token (required with `kite`).")
    kite_poll_interval_s: float = Field(
        default=0.5, gt=0, description="How often the Kite adapter polls orders and trades."
    )

    @model_validator(mode="after")
    def _kite_needs_a_token(self) -> ExecutionSettings:
        if self.broker == BrokerKind.KITE and not self.kite_access_token:
            raise ValueError("EXECUTION_KITE_ACCESS_TOKEN is required when EXECUTION_BROKER=kite")
        return self

    def check_production(self) -> None:
        if self.environment == Environment.PROD and self.api_key == DEV_API_KEY:
            raise ConfigurationError("EXECUTION_API_KEY: set a key of your own; the development key is refused in prod")

    def limits_to_seed(self) -> dict[str, Decimal]:
        return default_limits() if self.seed_default_limits else {}
