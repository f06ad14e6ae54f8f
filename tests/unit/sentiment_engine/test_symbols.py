"""Symbols a news item is about: tickers, names and aliases as whole words; short tickers only when tagged."""

from __future__ import annotations

from pathlib import Path

import pytest

from aitrader.errors import ConfigurationError
from aitrader.marketdata.instruments import Instrument
from aitrader.marketdata.synthetic import CASH_SYMBOLS, cash_instruments
from sentiment_engine.symbols import SymbolMatcher, default_aliases, read_aliases


@pytest.fixture(scope="module")
def matcher() -> SymbolMatcher:
    return SymbolMatcher(cash_instruments(), default_aliases())


@pytest.mark.parametrize(
    ("text", "symbols"),
    [
        ("INFY beats estimates", ["INFY"]),
        ("Infosys and Tata Consultancy Services lead IT gains", ["INFY", "TCS"]),
        ("Airtel raises tariffs; Bharti Airtel shares climb", ["BHARTIARTL"]),
        ("L&T wins a large order", ["LT"]),
        ("LT bus stop closed", []),
        ("NSE:LT and $itc trade higher", ["ITC", "LT"]),
        ("State  Bank  of India cuts rates", ["SBIN"]),
        ("infy results today", []),
        ("Reliance Industries futures roll over", ["RELIANCE"]),
        ("HDFC Bank and ICICI Bank report; HDFC Life flat", ["HDFCBANK", "ICICIBANK"]),
        ("Tataconsultancy is not a word boundary", []),
    ],
)
def test_items_map_to_the_symbols_they_name(matcher: SymbolMatcher, text: str, symbols: list[str]) -> None:
    assert matcher.match(text) == symbols


def test_derivatives_are_not_symbols_news_maps_to() -> None:
    future = Instrument(instrument_token=1, exchange_token=1, tradingsymbol="RELIANCE25NOVFUT", instrument_type="FUT")

    assert SymbolMatcher([*cash_instruments(), future]).symbols == set(CASH_SYMBOLS)


def test_an_aliases_file_that_is_not_lists_of_names_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "aliases.toml"
    path.write_text('INFY = "Infosys"\n')

    with pytest.raises(ConfigurationError, match="INFY must be a list of non-empty names, was 'Infosys'"):
        read_aliases(path)
    with pytest.raises(ConfigurationError, match="cannot read the aliases file"):
        read_aliases(tmp_path / "missing.toml")
