"""mock_mcp's settings: the shared ones plus its own, read from ``MOCK_MCP_*``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from aitrader.settings import CommonSettings


class MockMcpSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="MOCK_MCP_")

    host: str = Field(default="127.0.0.1", description="Interface to listen on (MOCK_MCP_HOST).")
    port: int = Field(default=9000, gt=0, lt=65536, description="TCP port of the Kite REST API and /mcp.")
    api_key: str = Field(default="aitrader_dev", min_length=1, description="The Kite app's api_key clients use.")
    api_secret: str = Field(
        default="aitrader_dev_secret", min_length=1, description="The app's api_secret (the checksum's secret)."
    )
    user_id: str = Field(default="AT0001", min_length=1, description="The simulated account's Kite user id.")
    user_name: str = Field(default="AITrader Paper", description="The account holder's name in /user/profile.")
    email: str = Field(default="paper@aitrader.local", description="The account's email in /user/profile.")
    opening_cash: float = Field(default=1_000_000.0, ge=0, description="Equity cash at the start of the account.")
    redirect_url: str = Field(
        default="http://127.0.0.1:9000/callback",
        description="Where /connect/login sends the browser with its request_token (the app's redirect URL).",
    )
    auto_login: bool = Field(
        default=True, description="Log in at /connect/login without a form (headless development and tests)."
    )
    enforce_market_hours: bool = Field(
        default=False,
        description="Refuse regular orders outside 09:15-15:30 IST on weekdays (AMO orders wait for the open).",
    )
    live_quotes: bool = Field(
        default=True, description="Quote from the bus's ticks and book streams when REDIS_URL is set."
    )
    quote_stale_s: float = Field(
        default=30.0, gt=0, description="Seconds after its last live update an instrument falls back to the model."
    )
    match_interval_s: float = Field(
        default=0.25, gt=0, le=60, description="How often working orders are checked against the prices."
    )
    mcp_allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host headers /mcp accepts besides 127.0.0.1, localhost and mock-mcp (DNS-rebinding guard).",
    )
    instruments_path: Path | None = Field(
        default=None, description="A Kite instruments CSV to serve; unset: the synthetic market's instruments."
    )
    home: Path = Field(
        default=Path(".aitrader"),
        validation_alias="AITRADER_HOME",
        description="The local stack's home (aitrader up passes it); the state file lives under it by default.",
    )
    state_path: Path | None = Field(
        default=None, description="The account's state file, kept across restarts; unset: <home>/mock_mcp/state.json."
    )

    @property
    def state_file(self) -> Path:
        return self.state_path or self.home / "mock_mcp" / "state.json"
