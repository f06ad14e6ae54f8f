"""Builders for test data: valid by default, so a test only spells out what it is about."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psutil

from aitrader.contracts.messages import OrderSide, OrderStatus, OrderType, Tick
from aitrader.db.models import Order, Trade, User, UserRole
from aitrader.db.repositories import BarValues
from aitrader.devstack.ports import free_port
from aitrader.devstack.registry import REGISTRY

SESSION_OPEN = datetime(2025, 1, 6, 3, 45, tzinfo=UTC)
"""09:15 IST, the NSE open, on a Monday."""

_sequence = itertools.count(1)


def make_user(**overrides: Any) -> User:
    n = next(_sequence)
    values: dict[str, Any] = {
        "username": f"trader{n}",
        "email": f"trader{n}@example.com",
        "hashed_password": "not-a-real-hash",
        "role": UserRole.TRADER,
    }
    values.update(overrides)
    return User(**values)


def make_order(**overrides: Any) -> Order:
    n = next(_sequence)
    values: dict[str, Any] = {
        "client_order_id": f"coid-{n}",
        "strategy": "momentum",
        "symbol": "INFY",
        "venue": "NSE",
        "side": OrderSide.BUY,
        "qty": 10,
        "order_type": OrderType.LIMIT,
        "limit_price": Decimal("1500.05"),
        "status": OrderStatus.NEW,
        "ts_ns": 1_736_135_100_000_000_000 + n,
        "tick_ts_ns": 1_736_135_099_999_000_000 + n,
    }
    values.update(overrides)
    return Order(**values)


def make_trade(order: Order, **overrides: Any) -> Trade:
    n = next(_sequence)
    values: dict[str, Any] = {
        "fill_id": f"fill-{n}",
        "order": order,
        "symbol": order.symbol,
        "venue": order.venue,
        "side": order.side,
        "qty": order.qty,
        "price": order.limit_price or Decimal("1500.00"),
        "fees": Decimal("1.2345"),
        "ts_ns": order.ts_ns + 1_000_000,
    }
    values.update(overrides)
    return Trade(**values)


def make_bar(minute: int = 0, **overrides: Any) -> BarValues:
    """The one-minute INFY bar ``minute`` minutes after the open."""
    bar: BarValues = {
        "symbol": "INFY",
        "interval": "1m",
        "start": SESSION_OPEN + timedelta(minutes=minute),
        "open": Decimal("1500.00"),
        "high": Decimal("1502.50"),
        "low": Decimal("1499.05"),
        "close": Decimal("1501.10"),
        "volume": 12_000,
        "vwap": Decimal("1500.8125"),
        "trade_count": 85,
    }
    bar.update(overrides)  # type: ignore[typeddict-item]
    return bar


AITRADER_CLI = Path(sys.executable).with_name("aitrader")
_STACK_VARIABLE_PREFIXES = (
    "AITRADER_",
    "BACKEND_",
    "TICK_REPLAY_",
    "BOOK_BUILDER_",
    "PATTERN_ENGINE_",
    "EXECUTION_",
    "MOCK_MCP_",
    "ONNX_RUNNER_",
    "TENSORRT_RUNNER_",
    "SENTIMENT_ENGINE_",
    "FINBERT_",
    "DATABASE_URL",
    "REDIS_URL",
    "LOG_LEVEL",
)


@dataclass
class LocalStack:
    """A local stack's home in a temporary directory and the environment that points the real CLI at it."""

    cwd: Path
    home: Path
    env: dict[str, str]

    def aitrader(self, *args: str, timeout: float = 100, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(AITRADER_CLI), *args],
            cwd=self.cwd,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def processes(self) -> list[psutil.Process]:
        """Every process whose command line mentions this stack's home."""
        found = []
        for process in psutil.process_iter(["cmdline"]):
            cmdline = " ".join(process.info.get("cmdline") or [])
            if str(self.home) in cmdline and process.pid != os.getpid():
                found.append(process)
        return found


def make_local_stack(directory: Path, **env: str) -> LocalStack:
    """A stack under ``directory`` on free ports, inheriting no stack variable from the test's environment."""
    home = directory / "home"
    environment = {k: v for k, v in os.environ.items() if not k.startswith(_STACK_VARIABLE_PREFIXES)}
    environment.update({spec.port_env: str(free_port()) for spec in REGISTRY})
    environment.update(
        AITRADER_HOME=str(home),
        AITRADER_PG_PORT=str(free_port()),
        AITRADER_REDIS_PORT=str(free_port()),
        AITRADER_RESTART_BACKOFF_INITIAL_S="0.2",
        AITRADER_STOP_GRACE_S="5",
        AITRADER_HEALTH_TIMEOUT_S="30",
        AITRADER_STARTUP_TIMEOUT_S="90",
    )
    environment.update(env)
    return LocalStack(cwd=directory, home=home, env=environment)


MARKET_OPEN_NS = 1_763_696_700_000_000_000
"""2025-11-21 09:15:00 IST, the sample day's open, in nanoseconds."""


def make_calm_then_burst_ticks(
    symbol: str = "INFY",
    *,
    calm_s: int = 400,
    burst: int = 5,
    price: float = 1500.0,
    venue: str = "NSE",
    start_ns: int = MARKET_OPEN_NS,
) -> list[Tick]:
    """One tick a second for ``calm_s`` seconds (the price alternating by one tick, 10 shares each), then
    ``burst`` ticks in the next second 1.5% higher, 1000 shares each.

    With the engine's default thresholds and 300 s of warm-up, the burst's first tick fires the momentum-burst,
    breakout and VWAP-deviation detectors; without at least ``warmup_s`` seconds of the calm before it, nothing.
    """
    ticks = []
    volume = 0
    for second in range(calm_s):
        ltp = price + (0.05 if second % 2 else 0.0)
        volume += 10
        ticks.append(_quoted_tick(symbol, venue, start_ns + second * 1_000_000_000, second + 1, ltp, 10, volume))
    jump = round(price * 1.015 * 20) / 20
    for i in range(burst):
        volume += 1000
        ts_ns = start_ns + calm_s * 1_000_000_000 + i * 100_000_000
        ticks.append(_quoted_tick(symbol, venue, ts_ns, calm_s + i + 1, jump, 1000, volume))
    return ticks


def _quoted_tick(symbol: str, venue: str, ts_ns: int, seq: int, ltp: float, ltq: int, volume: int) -> Tick:
    return Tick(
        ts_ns=ts_ns,
        symbol=symbol,
        venue=venue,
        seq=seq,
        ltp=ltp,
        ltq=ltq,
        volume=volume,
        bid=round(ltp - 0.05, 2),
        ask=round(ltp + 0.05, 2),
        bid_qty=100,
        ask_qty=100,
    )
