"""Zerodha's charges on a trade, to the paisa, and a day's contract note.

Rates as Zerodha publishes them (the revision of 1 October 2024), per segment:

| charge | equity intraday (MIS) | equity delivery (CNC) | futures |
|---|---|---|---|
| brokerage, per executed order | 0.03% or ₹20, whichever is lower | none | 0.03% or ₹20 |
| STT | 0.025% on the sell side | 0.1% on both sides | 0.02% on the sell side |
| exchange transaction charge | NSE 0.00297%, BSE 0.00375% | the same | NSE 0.00173%, BSE 0 |
| SEBI turnover fee | ₹10 a crore (0.0001%) | the same | the same |
| stamp duty | 0.003% on the buy side | 0.015% on the buy side | 0.002% on the buy side |
| GST | 18% of brokerage + exchange charge + SEBI fee | the same | the same |

The ₹20 brokerage cap is per order: an order filled in parts pays at most ₹20 over all its fills, so
:func:`fill_charges` takes the brokerage the order has already paid. Each charge of a fill is rounded to the
paisa (half up). A contract note (:func:`contract_note`) sums a day's fills and rounds STT to the rupee, as
the exchange's contract notes do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Final

PAISA: Final = Decimal("0.01")
RUPEE: Final = Decimal(1)
GST: Final = Decimal("0.18")
SEBI: Final = Decimal("0.000001")


class Segment(StrEnum):
    EQUITY_INTRADAY = "equity_intraday"
    EQUITY_DELIVERY = "equity_delivery"
    FUTURES = "futures"


@dataclass(frozen=True)
class Rates:
    brokerage: Decimal
    brokerage_cap: Decimal
    stt_buy: Decimal
    stt_sell: Decimal
    exchange: dict[str, Decimal]
    stamp_buy: Decimal


RATES: Final = {
    Segment.EQUITY_INTRADAY: Rates(
        brokerage=Decimal("0.0003"),
        brokerage_cap=Decimal(20),
        stt_buy=Decimal(0),
        stt_sell=Decimal("0.00025"),
        exchange={"NSE": Decimal("0.0000297"), "BSE": Decimal("0.0000375")},
        stamp_buy=Decimal("0.00003"),
    ),
    Segment.EQUITY_DELIVERY: Rates(
        brokerage=Decimal(0),
        brokerage_cap=Decimal(0),
        stt_buy=Decimal("0.001"),
        stt_sell=Decimal("0.001"),
        exchange={"NSE": Decimal("0.0000297"), "BSE": Decimal("0.0000375")},
        stamp_buy=Decimal("0.00015"),
    ),
    Segment.FUTURES: Rates(
        brokerage=Decimal("0.0003"),
        brokerage_cap=Decimal(20),
        stt_buy=Decimal(0),
        stt_sell=Decimal("0.0002"),
        exchange={"NSE": Decimal("0.0000173"), "NFO": Decimal("0.0000173"), "BSE": Decimal(0), "BFO": Decimal(0)},
        stamp_buy=Decimal("0.00002"),
    ),
}


def segment_of(product: str, instrument_type: str = "EQ") -> Segment:
    """The charge schedule of a ``product`` (MIS, CNC, NRML) on an instrument of ``instrument_type``."""
    if instrument_type == "FUT":
        return Segment.FUTURES
    if instrument_type != "EQ":
        raise ValueError(f"no charge schedule for instrument type {instrument_type!r} (EQ and FUT are known)")
    if product == "CNC":
        return Segment.EQUITY_DELIVERY
    if product == "MIS":
        return Segment.EQUITY_INTRADAY
    raise ValueError(f"product {product!r} does not trade equities: MIS or CNC")


def _paise(amount: Decimal) -> Decimal:
    return amount.quantize(PAISA, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Charges:
    """What one fill (or a contract note) costs, component by component."""

    brokerage: Decimal = Decimal(0)
    stt: Decimal = Decimal(0)
    exchange: Decimal = Decimal(0)
    sebi: Decimal = Decimal(0)
    stamp: Decimal = Decimal(0)
    gst: Decimal = Decimal(0)
    turnover: Decimal = field(default=Decimal(0), compare=False)

    @property
    def total(self) -> Decimal:
        return self.brokerage + self.stt + self.exchange + self.sebi + self.stamp + self.gst

    def __add__(self, other: Charges) -> Charges:
        return Charges(
            brokerage=self.brokerage + other.brokerage,
            stt=self.stt + other.stt,
            exchange=self.exchange + other.exchange,
            sebi=self.sebi + other.sebi,
            stamp=self.stamp + other.stamp,
            gst=self.gst + other.gst,
            turnover=self.turnover + other.turnover,
        )


def fill_charges(
    *,
    side: str,
    qty: int,
    price: Decimal,
    segment: Segment,
    venue: str = "NSE",
    brokerage_paid: Decimal = Decimal(0),
) -> Charges:
    """The charges of one fill of ``qty`` at ``price``; ``brokerage_paid`` is what earlier fills of the same
    order already paid (the cap is the order's)."""
    if side not in ("BUY", "SELL"):
        raise ValueError(f"side must be BUY or SELL, was {side!r}")
    if qty <= 0 or price < 0:
        raise ValueError(f"qty must be > 0 and price >= 0, were {qty} and {price}")
    rates = RATES[segment]
    if venue not in rates.exchange:
        raise ValueError(f"no exchange charge for venue {venue!r} in {segment}: {', '.join(rates.exchange)}")
    value = price * qty
    buy = side == "BUY"
    brokerage = _paise(min(value * rates.brokerage, max(rates.brokerage_cap - brokerage_paid, Decimal(0))))
    exchange = _paise(value * rates.exchange[venue])
    sebi = _paise(value * SEBI)
    return Charges(
        brokerage=brokerage,
        stt=_paise(value * (rates.stt_buy if buy else rates.stt_sell)),
        exchange=exchange,
        sebi=sebi,
        stamp=_paise(value * rates.stamp_buy) if buy else Decimal(0),
        gst=_paise((brokerage + exchange + sebi) * GST),
        turnover=value,
    )


@dataclass(frozen=True)
class NoteLine:
    """One order's fills for a contract note: the order's side and the (qty, price) of each fill."""

    side: str
    fills: tuple[tuple[int, Decimal], ...]
    segment: Segment
    venue: str = "NSE"


def contract_note(lines: Iterable[NoteLine]) -> Charges:
    """A day's charges as the contract note states them: per-order brokerage capped, components summed
    over every fill and rounded to the paisa on the turnover they apply to, STT rounded to the rupee."""
    turnover = {"buy": Decimal(0), "sell": Decimal(0)}
    brokerage = stt = exchange = sebi = stamp = Decimal(0)
    for line in lines:
        rates = RATES[line.segment]
        value = sum((price * qty for qty, price in line.fills), Decimal(0))
        buy = line.side == "BUY"
        turnover["buy" if buy else "sell"] += value
        brokerage += min(value * rates.brokerage, rates.brokerage_cap)
        stt += value * (rates.stt_buy if buy else rates.stt_sell)
        exchange += value * rates.exchange[line.venue]
        sebi += value * SEBI
        stamp += value * rates.stamp_buy if buy else Decimal(0)
    brokerage, exchange, sebi, stamp = (_paise(x) for x in (brokerage, exchange, sebi, stamp))
    return Charges(
        brokerage=brokerage,
        stt=stt.quantize(RUPEE, rounding=ROUND_HALF_UP),
        exchange=exchange,
        sebi=sebi,
        stamp=stamp,
        gst=_paise((brokerage + exchange + sebi) * GST),
        turnover=turnover["buy"] + turnover["sell"],
    )
