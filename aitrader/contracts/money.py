"""Conversions between bus prices (doubles rounded to the tick size) and exact decimals."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal


def to_decimal(value: float) -> Decimal:
    """The exact decimal a bus price stands for.

    ``repr`` of a double is the shortest string that round-trips, so 2450.05 becomes Decimal("2450.05"),
    not the binary expansion 2450.0500000000001818989403545856475830078125.
    """
    return Decimal(repr(value))


def round_to_tick(price: Decimal, tick_size: Decimal) -> Decimal:
    """``price`` rounded to the nearest multiple of ``tick_size`` (NSE equities: 0.05)."""
    if tick_size <= 0:
        raise ValueError(f"tick_size must be > 0, was {tick_size}")
    return (price / tick_size).quantize(Decimal(1), rounding=ROUND_HALF_EVEN) * tick_size
