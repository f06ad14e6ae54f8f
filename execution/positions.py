"""Positions and P&L per (strategy, symbol), by average cost, from fills.

- A fill that adds to a position moves its average price; one that reduces it realises
  ``(price - average) x closed quantity`` (sign by side); one that flips it closes the old position and
  opens the remainder at the fill's price.
- Unrealised P&L marks the open quantity to the last price; fees are summed separately, so
  ``net = realised + unrealised - fees``.
Money is Decimal throughout; the book is rebuilt from the day's trades at start, fill by fill.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

ZERO = Decimal(0)


@dataclass
class Position:
    strategy: str
    symbol: str
    venue: str = "NSE"
    qty: int = 0
    avg_price: Decimal = ZERO
    realised: Decimal = ZERO
    fees: Decimal = ZERO
    last_price: Decimal | None = None
    bought: int = 0
    sold: int = 0

    @property
    def unrealised(self) -> Decimal:
        if not self.qty or self.last_price is None:
            return ZERO
        return (self.last_price - self.avg_price) * self.qty

    @property
    def net(self) -> Decimal:
        return self.realised + self.unrealised - self.fees

    def apply(self, signed_qty: int, price: Decimal, fees: Decimal) -> None:
        """Book one fill: ``signed_qty`` > 0 bought, < 0 sold."""
        if signed_qty == 0:
            raise ValueError("a fill has a non-zero quantity")
        self.fees += fees
        if signed_qty > 0:
            self.bought += signed_qty
        else:
            self.sold -= signed_qty
        if self.qty == 0 or (self.qty > 0) == (signed_qty > 0):
            total = self.qty + signed_qty
            self.avg_price = (self.avg_price * self.qty + price * signed_qty) / total
            self.qty = total
        else:
            closed = min(abs(signed_qty), abs(self.qty))
            direction = 1 if self.qty > 0 else -1
            self.realised += (price - self.avg_price) * closed * direction
            remainder = signed_qty + closed * direction
            self.qty -= closed * direction
            if remainder:
                self.qty, self.avg_price = remainder, price
            elif self.qty == 0:
                self.avg_price = ZERO
        if self.last_price is None:
            self.last_price = price


class PositionBook:
    """Every (strategy, symbol) position, with the per-symbol totals the risk checks need."""

    def __init__(self) -> None:
        self._positions: dict[tuple[str, str], Position] = {}
        self._by_symbol: dict[str, list[Position]] = {}
        self._net: dict[str, int] = {}
        self._last: dict[str, Decimal] = {}

    def apply(self, strategy: str, symbol: str, venue: str, signed_qty: int, price: Decimal, fees: Decimal) -> Position:
        position = self._positions.get((strategy, symbol))
        if position is None:
            position = Position(strategy, symbol, venue, last_price=self._last.get(symbol))
            self._positions[(strategy, symbol)] = position
            self._by_symbol.setdefault(symbol, []).append(position)
        position.apply(signed_qty, price, fees)
        self._net[symbol] = self._net.get(symbol, 0) + signed_qty
        if symbol not in self._last:
            self._last[symbol] = price
        return position

    def mark(self, symbol: str, price: Decimal) -> None:
        """The symbol last traded (or is valued) at ``price``."""
        self._last[symbol] = price
        for position in self._by_symbol.get(symbol, ()):
            position.last_price = price

    def net_qty(self) -> dict[str, int]:
        """Signed quantity per symbol over every strategy (zeros left out)."""
        return {symbol: qty for symbol, qty in self._net.items() if qty}

    def last_prices(self) -> dict[str, Decimal]:
        return dict(self._last)

    def pnl(self) -> Decimal:
        """Realised + unrealised - fees over every position."""
        return sum((position.net for position in self._positions.values()), ZERO)

    def get(self, strategy: str, symbol: str) -> Position | None:
        return self._positions.get((strategy, symbol))

    def __iter__(self) -> Iterator[Position]:
        return iter(sorted(self._positions.values(), key=lambda p: (p.strategy, p.symbol)))
