"""Aggregation on hand-made items: decay, windows, certainty, confidence, and an empty window."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from aitrader.errors import ValidationError
from sentiment_engine.aggregate import EVIDENCE_SCALE, ScoredItem, aggregate

NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)


def item(minutes_ago: float, score: float, certainty: float = 1.0, scorer: str = "finbert") -> ScoredItem:
    return ScoredItem(NOW - timedelta(minutes=minutes_ago), score, certainty, scorer)


def test_an_empty_window_is_neutral_with_zero_confidence() -> None:
    sentiment = aggregate([item(90, 0.9)], now=NOW, window=HOUR, half_life=HOUR)

    assert (sentiment.score, sentiment.confidence, sentiment.items, sentiment.scorer) == (0.0, 0.0, 0, "none")


def test_items_that_take_no_side_leave_the_window_neutral_with_zero_confidence() -> None:
    sentiment = aggregate([item(5, 0.0, certainty=0.0, scorer="lexicon")], now=NOW, window=HOUR, half_life=HOUR)

    assert (sentiment.score, sentiment.confidence, sentiment.items, sentiment.scorer) == (0.0, 0.0, 1, "lexicon")


def test_an_item_loses_half_its_weight_every_half_life() -> None:
    fresh_good, old_bad = item(0, 1.0), item(30, -1.0)

    sentiment = aggregate([fresh_good, old_bad], now=NOW, window=HOUR, half_life=timedelta(minutes=30))

    assert sentiment.weight == pytest.approx(1.5)
    assert sentiment.score == pytest.approx((1.0 - 0.5) / 1.5)


def test_the_window_is_open_at_its_start_and_closed_at_now() -> None:
    items = [item(60, 1.0), item(59.99, -1.0), item(0, -1.0), item(-1, 1.0)]  # the last is in the future

    sentiment = aggregate(items, now=NOW, window=HOUR, half_life=HOUR)

    assert sentiment.items == 2 and sentiment.score == pytest.approx(-1.0)


def test_certain_items_weigh_more_than_hesitant_ones() -> None:
    sentiment = aggregate(
        [item(0, 0.8, certainty=0.9), item(0, -0.2, certainty=0.3)], now=NOW, window=HOUR, half_life=HOUR
    )

    assert sentiment.score == pytest.approx((0.9 * 0.8 - 0.3 * 0.2) / 1.2)


def test_confidence_grows_with_evidence_and_falls_with_disagreement() -> None:
    one = aggregate([item(0, 0.8)], now=NOW, window=HOUR, half_life=HOUR)
    four = aggregate([item(0, 0.8)] * 4, now=NOW, window=HOUR, half_life=HOUR)
    split = aggregate([item(0, 0.8), item(0, 0.8), item(0, -0.8), item(0, -0.8)], now=NOW, window=HOUR, half_life=HOUR)

    assert one.confidence == pytest.approx(1 - math.exp(-1 / EVIDENCE_SCALE))
    assert four.confidence == pytest.approx(1 - math.exp(-4 / EVIDENCE_SCALE))
    assert split.score == pytest.approx(0.0)
    assert split.confidence == pytest.approx(four.confidence * (1 - 0.8 / 2))
    assert 0 < split.confidence < four.confidence


def test_the_scorers_are_counted_and_a_mix_is_named() -> None:
    sentiment = aggregate(
        [item(1, 0.5), item(2, 0.4, scorer="lexicon"), item(3, 0.1)], now=NOW, window=HOUR, half_life=HOUR
    )

    assert sentiment.scorers == {"finbert": 2, "lexicon": 1} and sentiment.scorer == "mixed"


@pytest.mark.parametrize(
    ("items", "window", "half_life", "says"),
    [
        ([], timedelta(0), HOUR, "window and half_life must be positive"),
        ([], HOUR, -HOUR, "window and half_life must be positive"),
        ([item(1, 1.5)], HOUR, HOUR, r"score must be in \[-1, 1\] and certainty in \[0, 1\], were 1.5, 1.0"),
        ([item(1, 0.5, certainty=2)], HOUR, HOUR, "certainty"),
    ],
)
def test_bad_arguments_are_refused_saying_what_was_wrong(
    items: list[ScoredItem], window: timedelta, half_life: timedelta, says: str
) -> None:
    with pytest.raises(ValidationError, match=says):
        aggregate(items, now=NOW, window=window, half_life=half_life)
