"""Which symbols a news item is about: tickers, company names and aliases, matched as whole words.

From the instrument list, every equity contributes its ticker and its name; an aliases file (TOML: ``TICKER =
["alias", ...]``, ``words/aliases.toml`` by default) adds the names news actually uses ("Airtel", "L&T").

* A **ticker** matches as written (upper case, whole word), or as a cashtag (``$INFY``) or with its exchange
  (``NSE:INFY``) in any case. Tickers of fewer than three letters ("LT") match only in those two forms: as a
  bare word they are too often something else.
* A **name or alias** matches in any case as whole words, runs of spaces included ("Larsen  &  Toubro").

Derivatives are left out: news names the company, and the strategy decides what to trade.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path

from aitrader.errors import ConfigurationError
from aitrader.marketdata.instruments import Instrument

MIN_BARE_TICKER = 3


def default_aliases() -> dict[str, list[str]]:
    text = resources.files("sentiment_engine").joinpath("words", "aliases.toml").read_text(encoding="utf-8")
    return _check_aliases(tomllib.loads(text), "words/aliases.toml")


def read_aliases(path: Path) -> dict[str, list[str]]:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigurationError(f"cannot read the aliases file {path}: {e}") from e
    return _check_aliases(document, str(path))


def _check_aliases(document: Mapping[str, object], origin: str) -> dict[str, list[str]]:
    aliases: dict[str, list[str]] = {}
    for ticker, names in document.items():
        if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
            raise ConfigurationError(f"{origin}: {ticker} must be a list of non-empty names, was {names!r}")
        aliases[ticker] = [str(n) for n in names]
    return aliases


class SymbolMatcher:
    def __init__(self, instruments: Iterable[Instrument], aliases: Mapping[str, Iterable[str]] | None = None) -> None:
        equities = {i.tradingsymbol: i for i in instruments if i.instrument_type == "EQ"}
        self.symbols = frozenset(equities)
        phrases: dict[str, str] = {}
        """Lower-cased name or alias -> ticker."""
        for ticker, instrument in equities.items():
            if instrument.name:
                phrases.setdefault(_normalise(instrument.name), ticker)
        for ticker, names in (aliases or {}).items():
            if ticker in equities:
                for name in names:
                    phrases[_normalise(name)] = ticker
        self._phrase_ticker = phrases
        self._phrases = _alternation(phrases, flags=re.IGNORECASE)
        bare = [t for t in equities if len(t) >= MIN_BARE_TICKER]
        self._bare = _alternation({t: t for t in bare}, flags=0)
        self._tagged = (
            re.compile(
                r"(?:\$|\b(?:NSE|BSE):)(" + "|".join(map(re.escape, sorted(equities, key=len, reverse=True))) + r")\b",
                re.IGNORECASE,
            )
            if equities
            else None
        )

    def match(self, text: str) -> list[str]:
        """The symbols ``text`` mentions, in name order."""
        found: set[str] = set()
        if self._phrases is not None:
            for m in self._phrases.finditer(text):
                found.add(self._phrase_ticker[_normalise(m.group(0))])
        if self._bare is not None:
            found.update(m.group(0) for m in self._bare.finditer(text))
        if self._tagged is not None:
            found.update(m.group(1).upper() for m in self._tagged.finditer(text))
        return sorted(found)


def _normalise(name: str) -> str:
    return " ".join(name.lower().split())


def _alternation(phrases: Mapping[str, str], *, flags: int) -> re.Pattern[str] | None:
    """One pattern for every phrase, longest first, whole words, any run of spaces between words."""
    if not phrases:
        return None
    parts = []
    for phrase in sorted(phrases, key=len, reverse=True):
        words = [re.escape(word) for word in phrase.split()]
        parts.append(r"\s+".join(words))
    return re.compile(r"(?<![\w&])(?:" + "|".join(parts) + r")(?![\w&])", flags)
