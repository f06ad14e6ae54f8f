"""The account's instrument master: a Kite instruments CSV when one is given, else the synthetic market's.

Without a file the mock lists what the sample day trades (the synthetic market's default symbols and its
future), so the tokens, symbols and lot sizes the rest of the stack replays are the ones it can quote and
trade. A tiny synthetic day (a thousand ticks) is generated for them: its last prices are a deterministic
starting point, not the sample day's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aitrader.marketdata.instruments import Instrument, instruments_csv, read_instruments
from aitrader.marketdata.synthetic import MarketConfig, generate_market

_SEED_TICKS = 1_000


def load_instruments(path: Path | None) -> list[Instrument]:
    """The instruments of ``path`` (a Kite instruments CSV), or the synthetic market's when it is None."""
    if path is not None:
        return read_instruments(path)
    return list(generate_market(MarketConfig(ticks_target=_SEED_TICKS)).instruments)


def dump(instruments: Sequence[Instrument], exchange: str | None = None) -> str:
    """The CSV ``GET /instruments[/exchange]`` answers: Kite's columns, one row per instrument."""
    return instruments_csv(item for item in instruments if exchange is None or item.exchange == exchange)
