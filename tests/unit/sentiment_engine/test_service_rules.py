"""The ingestion and query rules that need no server: durations, dedupe keys."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aitrader.errors import ValidationError
from sentiment_engine.service import NewsDraft, dedupe_key, parse_duration


def draft(headline: str = "Infosys beats", body: str | None = None, url: str | None = None) -> NewsDraft:
    return NewsDraft(headline, body, url, "api", None, None, ())


@pytest.mark.parametrize(
    ("text", "duration"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        (" 1.5h ", timedelta(minutes=90)),
        ("2d", timedelta(days=2)),
    ],
)
def test_durations_are_a_number_and_a_unit(text: str, duration: timedelta) -> None:
    assert parse_duration(text, "window") == duration


@pytest.mark.parametrize(
    ("text", "says"),
    [("1y", "a number and a unit"), ("h", "a number"), ("31d", "between 1s and 30d"), ("0s", "between")],
)
def test_bad_durations_are_refused_naming_the_parameter(text: str, says: str) -> None:
    with pytest.raises(ValidationError, match=f"half_life.*{says}"):
        parse_duration(text, "half_life")


def test_urls_that_name_the_same_page_share_a_key_and_text_decides_without_one() -> None:
    page = dedupe_key(draft(url="https://News.Example/a/b/?id=3"))

    assert page.startswith("url:")
    assert dedupe_key(draft(headline="other words", url="HTTPS://news.example/a/b?id=3#comments")) == page
    assert dedupe_key(draft(url="https://news.example/a/b?id=4")) != page
    assert dedupe_key(draft("Infosys  BEATS", "q2")) == dedupe_key(draft("infosys beats", " q2 "))
    assert dedupe_key(draft("Infosys beats", "q2")).startswith("text:")
    assert dedupe_key(draft("Infosys beats", "q3")) != dedupe_key(draft("Infosys beats", "q2"))


def test_the_cache_stays_bounded_dropping_expired_answers_then_the_oldest(monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime

    from aitrader.db.session import make_engine
    from aitrader.marketdata.synthetic import cash_instruments
    from sentiment_engine import service as module
    from sentiment_engine.aggregate import Sentiment
    from sentiment_engine.scoring import NewsScorer
    from sentiment_engine.service import SentimentService, SymbolSentiment
    from sentiment_engine.symbols import SymbolMatcher

    monkeypatch.setattr(module, "CACHE_ENTRIES", 3)
    engine = make_engine("sqlite://")
    cache = SentimentService(
        engine=engine,
        scorer=NewsScorer("http://127.0.0.1:9"),
        matcher=SymbolMatcher(cash_instruments()),
        half_life=timedelta(minutes=30),
        cache_ttl_s=60,
    )
    hour = timedelta(hours=1)
    answer = SymbolSentiment("INFY", hour, hour, datetime.now(UTC), Sentiment(0.0, 0.0, 0, 0.0))
    keys = [("INFY", hour, hour, datetime(2025, 11, 21, h, tzinfo=UTC)) for h in range(5)]

    for key in keys:
        cache._remember(key, answer)

    assert list(cache._cache) == keys[2:]
    engine.dispose()
