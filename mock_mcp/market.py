"""Market data as Kite serves it: quotes, LTP, OHLC, historical candles, the instrument master and search.

The REST routes and the MCP tools both answer from here, so the two agree to the field.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Final

from aitrader.marketdata.instruments import Instrument
from aitrader.marketdata.schema import IST
from mock_mcp.instruments import dump
from mock_mcp.kite import ErrorType, KiteError
from mock_mcp.prices import INTERVALS, PriceModel, Quotes, Snapshot

QUOTE_LIMIT: Final = 500
LTP_LIMIT: Final = 1_000
SEARCH_FILTERS: Final = ["id", "name", "isin", "tradingsymbol", "underlying"]


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _moment(name: str, text: str) -> datetime:
    for layout in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, layout).replace(tzinfo=IST)
        except ValueError:
            continue
    raise KiteError(ErrorType.INPUT, f"Invalid `{name}`: expected YYYY-MM-DD HH:MM:SS, was {text!r}.")


def instrument_index(instruments: Sequence[Instrument]) -> dict[str, Instrument]:
    """Each instrument under its ``EXCHANGE:TRADINGSYMBOL`` key and its instrument token (as text)."""
    return {
        **{f"{item.exchange}:{item.tradingsymbol}": item for item in instruments},
        **{str(item.instrument_token): item for item in instruments},
    }


class Market:
    def __init__(
        self, instruments: Sequence[Instrument], quotes: Quotes, model: PriceModel, clock: Callable[[], datetime]
    ) -> None:
        self.instruments = list(instruments)
        self.index = instrument_index(self.instruments)
        self.quotes = quotes
        self.model = model
        self.clock = clock

    def csv(self, exchange: str | None = None) -> str:
        """The instrument master as Kite's CSV (all of it, or one exchange's)."""
        return dump(self.instruments, exchange)

    def _snapshots(self, keys: Sequence[str], limit: int) -> dict[str, Snapshot]:
        """The requested ``EXCHANGE:SYMBOL`` (or instrument token) keys that name an instrument, as Kite
        answers them: an unknown key is simply absent."""
        if not keys:
            raise KiteError(ErrorType.INPUT, "No instruments given: pass one or more `i=EXCHANGE:TRADINGSYMBOL`.")
        if len(keys) > limit:
            raise KiteError(ErrorType.INPUT, f"Too many instruments: at most {limit} per call, was {len(keys)}.")
        now = self.clock()
        return {key: self.quotes.snapshot(self.index[key], now) for key in dict.fromkeys(keys) if key in self.index}

    def quote(self, keys: Sequence[str]) -> dict[str, Any]:
        """Full quotes: last trade, day's OHLC and volume, circuit limits, five levels of depth a side."""
        out: dict[str, Any] = {}
        for key, snap in self._snapshots(keys, QUOTE_LIMIT).items():
            out[key] = {
                "instrument_token": snap.instrument.instrument_token,
                "timestamp": _stamp(snap.at),
                "last_trade_time": _stamp(snap.at),
                "last_price": snap.last_price,
                "last_quantity": snap.last_quantity,
                "buy_quantity": sum(quantity for _, quantity, _ in snap.bids),
                "sell_quantity": sum(quantity for _, quantity, _ in snap.asks),
                "volume": snap.volume,
                "average_price": snap.average_price,
                "oi": 0,
                "oi_day_high": 0,
                "oi_day_low": 0,
                "net_change": round(snap.last_price - snap.close, 2),
                "lower_circuit_limit": round(snap.close * 0.8, 2),
                "upper_circuit_limit": round(snap.close * 1.2, 2),
                "ohlc": {"open": snap.open, "high": snap.high, "low": snap.low, "close": snap.close},
                "depth": {
                    "buy": [{"price": p, "quantity": q, "orders": o} for p, q, o in snap.bids],
                    "sell": [{"price": p, "quantity": q, "orders": o} for p, q, o in snap.asks],
                },
            }
        return out

    def ltp(self, keys: Sequence[str]) -> dict[str, Any]:
        return {
            key: {"instrument_token": snap.instrument.instrument_token, "last_price": snap.last_price}
            for key, snap in self._snapshots(keys, LTP_LIMIT).items()
        }

    def ohlc(self, keys: Sequence[str]) -> dict[str, Any]:
        return {
            key: {
                "instrument_token": snap.instrument.instrument_token,
                "last_price": snap.last_price,
                "ohlc": {"open": snap.open, "high": snap.high, "low": snap.low, "close": snap.close},
            }
            for key, snap in self._snapshots(keys, LTP_LIMIT).items()
        }

    def candles(self, token: str, interval: str, start_text: str, end_text: str, *, oi: bool) -> list[list[Any]]:
        """Candles from the price model; ``oi`` adds an open-interest column (0: the model has no OI)."""
        instrument = self.index.get(token)
        if instrument is None or not token.isdigit():
            raise KiteError(ErrorType.INPUT, f"Invalid instrument token `{token}`.")
        if interval not in INTERVALS:
            raise KiteError(ErrorType.INPUT, f"Invalid interval `{interval}`: expected one of {', '.join(INTERVALS)}.")
        start, end = _moment("from", start_text), _moment("to", end_text)
        if start > end:
            raise KiteError(ErrorType.INPUT, "Invalid range: `from` is after `to`.")
        most_days = INTERVALS[interval][1]
        if (end - start).days > most_days:
            raise KiteError(ErrorType.INPUT, f"Interval `{interval}` allows at most {most_days} days per request.")
        rows = self.model.candles(instrument, start, min(end, self.clock()), interval)
        return [[*row, 0] for row in rows] if oi else [list(row) for row in rows]

    def search(self, query: str, filter_on: str = "id") -> list[dict[str, Any]]:
        """Instruments whose ``filter_on`` field contains ``query`` (case-insensitive), as the Kite MCP server's
        ``search_instruments`` lists them. ``underlying`` takes ``NFO:RELIANCE`` or a bare ``RELIANCE``."""
        if filter_on not in SEARCH_FILTERS:
            raise KiteError(ErrorType.INPUT, f"Invalid `filter_on`: expected one of {', '.join(SEARCH_FILTERS)}.")
        needle = query.strip().upper()
        if not needle:
            raise KiteError(ErrorType.INPUT, "parameter 'query': cannot be empty")
        found = []
        for item in self.instruments:
            if filter_on == "underlying":
                exchange, _, name = needle.rpartition(":")
                hit = item.instrument_type in ("FUT", "CE", "PE") and item.name.upper() == name
                hit = hit and item.exchange == (exchange or "NFO")
            else:
                haystack = {
                    "id": f"{item.exchange}:{item.tradingsymbol}",
                    "name": item.name,
                    "isin": "",
                    "tradingsymbol": item.tradingsymbol,
                }[filter_on]
                hit = needle in haystack.upper()
            if hit:
                found.append(_listing(item))
        return found


def _listing(item: Instrument) -> dict[str, Any]:
    expiry = item.expiry.isoformat() if item.expiry else ""
    return {
        "id": f"{item.exchange}:{item.tradingsymbol}",
        "instrument_token": item.instrument_token,
        "exchange_token": item.exchange_token,
        "tradingsymbol": item.tradingsymbol,
        "exchange": item.exchange,
        "isin": "",
        "name": item.name,
        "series": "EQ" if item.instrument_type == "EQ" else "",
        "last_price": item.last_price,
        "strike": item.strike,
        "tick_size": item.tick_size,
        "lot_size": item.lot_size,
        "multiplier": 1,
        "instrument_type": item.instrument_type,
        "segment": item.segment,
        "expiry_date": expiry,
        "active": True,
    }
