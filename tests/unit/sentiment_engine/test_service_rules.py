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
