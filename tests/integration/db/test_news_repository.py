"""News items on both backends: stored once (by dedupe key, or by source and id), indexed by symbol and time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from aitrader.db.repositories import NewsRepository, NewsValues

T0 = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)


def news(
    key: str, minutes: int = 0, *, symbols: list[str] | None = None, source: str = "wire", **extra: object
) -> NewsValues:
    item = NewsValues(
        source=source,
        external_id=key,
        headline=f"story {key}",
        body=None,
        url=None,
        symbols=symbols if symbols is not None else ["INFY"],
        published_at=T0 + timedelta(minutes=minutes),
        dedupe_key=f"text:{key}",
        sentiment_label="positive",
        sentiment_score=0.5,
        sentiment_certainty=0.8,
        sentiment_scorer="lexicon",
    )
    return NewsValues(**{**item, **extra})  # type: ignore[typeddict-item]


def test_an_item_is_stored_once_by_dedupe_key_or_by_source_and_id(session: Session) -> None:
    repository = NewsRepository(session)

    first = repository.add(news("a"))
    same_key = repository.add(news("a", source="other"))
    same_id = repository.add(news("a", dedupe_key="text:changed"))
    session.commit()

    assert first is not None and same_key is None and same_id is None
    assert repository.ids_by_dedupe_key(["text:a", "text:b"]) == {"text:a": first}
    assert repository.find("text:changed", "wire", "a") == first
    assert repository.find("text:nope", "wire", "nope") is None


def test_a_symbols_window_holds_its_scored_items_by_time(session: Session) -> None:
    repository = NewsRepository(session)
    for index, (minutes, symbols) in enumerate([(0, ["INFY"]), (10, ["INFY", "TCS"]), (20, ["TCS"]), (30, ["INFY"])]):
        repository.add(news(f"n{index}", minutes, symbols=symbols))
    repository.add(news("unscored", 15, sentiment_score=None, sentiment_label=None))
    session.commit()

    window = repository.scored_in_window("INFY", T0, T0 + timedelta(minutes=30))

    assert [row.published_at for row in window] == [T0 + timedelta(minutes=10), T0 + timedelta(minutes=30)]
    assert [tuple(row)[1:] for row in window] == [(0.5, 0.8, "lexicon")] * 2  # (start, end]: n0 sits on the start
