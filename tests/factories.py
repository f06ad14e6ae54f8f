"""Builders for test data: valid by default, so a test only spells out what it is about."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from aitrader.contracts.messages import OrderSide, OrderStatus, OrderType
from aitrader.db.models import Order, Trade, User, UserRole
from aitrader.db.repositories import BarValues

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
