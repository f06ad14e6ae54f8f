"""Instrument lists in Kite Connect's instruments CSV format.

The same file describes the synthetic market's instruments, maps Kite Ticker instrument tokens to
symbols when a recorded feed is replayed, and seeds the mock broker's instrument list. Columns, as
Kite's ``GET /instruments`` sends them::

    instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,
    instrument_type,segment,exchange

``instrument_token & 0xff`` is the exchange segment code that Kite Ticker packets are decoded with.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import date
from enum import IntEnum
from pathlib import Path

import msgspec

from aitrader.errors import ValidationError

COLUMNS = (
    "instrument_token",
    "exchange_token",
    "tradingsymbol",
    "name",
    "last_price",
    "expiry",
    "strike",
    "tick_size",
    "lot_size",
    "instrument_type",
    "segment",
    "exchange",
)


class Segment(IntEnum):
    """Kite Ticker's exchange segment codes (the low byte of an instrument token)."""

    NSE = 1
    NFO = 2
    CDS = 3
    BSE = 4
    BFO = 5
    BCD = 6
    MCX = 7
    MCXSX = 8
    INDICES = 9
    NCO = 12


class Instrument(msgspec.Struct, frozen=True, kw_only=True):
    instrument_token: int
    exchange_token: int
    tradingsymbol: str
    name: str = ""
    last_price: float = 0.0
    expiry: date | None = None
    strike: float = 0.0
    tick_size: float = 0.05
    lot_size: int = 1
    instrument_type: str = "EQ"
    segment: str = "NSE"
    exchange: str = "NSE"

    @property
    def segment_code(self) -> int:
        return self.instrument_token & 0xFF


def make_token(exchange_token: int, segment: Segment) -> int:
    """Kite's token layout: the exchange token shifted left by 8 bits, the segment code in the low byte."""
    return (exchange_token << 8) | int(segment)


def write_instruments(path: Path, instruments: Iterable[Instrument]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(instruments_csv(instruments))


def instruments_csv(instruments: Iterable[Instrument]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for item in instruments:
        writer.writerow(
            [
                item.instrument_token,
                item.exchange_token,
                item.tradingsymbol,
                item.name,
                repr(float(item.last_price)),
                item.expiry.isoformat() if item.expiry else "",
                repr(float(item.strike)),
                repr(float(item.tick_size)),
                item.lot_size,
                item.instrument_type,
                item.segment,
                item.exchange,
            ]
        )
    return buffer.getvalue()


def read_instruments(path: Path) -> list[Instrument]:
    """Parse a Kite instruments CSV; a bad row is an error naming the file and line."""
    try:
        text = path.read_text()
    except OSError as e:
        raise ValidationError(f"cannot read instruments file {path}: {e.strerror or e}") from e
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ("instrument_token", "tradingsymbol") if c not in (reader.fieldnames or [])]
    if missing:
        raise ValidationError(f"{path}: missing column(s) {', '.join(missing)}, header was {reader.fieldnames}")
    instruments = []
    for row in reader:
        try:
            instruments.append(
                Instrument(
                    instrument_token=int(row["instrument_token"]),
                    exchange_token=int(row.get("exchange_token") or 0),
                    tradingsymbol=row["tradingsymbol"],
                    name=row.get("name") or "",
                    last_price=float(row.get("last_price") or 0.0),
                    expiry=date.fromisoformat(row["expiry"]) if row.get("expiry") else None,
                    strike=float(row.get("strike") or 0.0),
                    tick_size=float(row.get("tick_size") or 0.05),
                    lot_size=int(row.get("lot_size") or 1),
                    instrument_type=row.get("instrument_type") or "EQ",
                    segment=row.get("segment") or "NSE",
                    exchange=row.get("exchange") or "NSE",
                )
            )
        except (TypeError, ValueError) as e:
            raise ValidationError(f"{path}:{reader.line_num}: invalid instrument row: {e}") from e
    return instruments
