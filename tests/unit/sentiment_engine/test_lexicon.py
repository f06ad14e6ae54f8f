"""The finance word-list scorer: hits counted, positives negated, FinBERT-shaped probabilities."""

from __future__ import annotations

import pytest

from sentiment_engine.lexicon import score_text, word_list


def test_the_word_lists_are_disjoint_lowercase_and_finance_specific() -> None:
    positive, negative = word_list("positive"), word_list("negative")

    assert len(positive) > 100 and len(negative) > 100
    assert not positive & negative
    assert all(word == word.lower() and word.isalpha() for word in positive | negative)
    assert not {"liability", "tax", "cost", "risk"} & (positive | negative)  # neutral in finance


@pytest.mark.parametrize(
    ("text", "label", "hits"),
    [
        ("Infosys profit beats estimates as margins improve", "positive", ("beats", "improve")),
        ("Bank shares tumble after fraud probe widens", "negative", ("tumble", "fraud", "probe")),
        ("TCS to announce results on Thursday", "neutral", ()),
        ("Results were not good and guidance was weak", "negative", ("not:good", "weak")),
        ("Sales didn't improve this quarter", "negative", ("not:improve",)),
        ("Profit grew despite the slowdown", "neutral", ("grew", "slowdown")),
        ("No losses were booked", "negative", ("losses",)),
    ],
)
def test_texts_are_labelled_by_their_hits(text: str, label: str, hits: tuple[str, ...]) -> None:
    scored = score_text(text)

    assert (scored.label, scored.hits) == (label, hits)


def test_probabilities_sum_to_one_and_firm_up_with_more_hits() -> None:
    one = score_text("profit beats")
    three = score_text("profit beats, margins improve, outlook strong")
    mixed = score_text("profit beats but guidance weak")

    for scored in (one, three, mixed):
        assert scored.positive + scored.negative + scored.neutral == pytest.approx(1.0)
    assert (one.positive, one.neutral) == (pytest.approx(0.5), pytest.approx(0.5))
    assert three.positive == pytest.approx(0.75) and three.score == pytest.approx(0.75)
    assert mixed.score == pytest.approx(0.0) and mixed.certainty == pytest.approx(2 / 3)


def test_a_negation_reaches_three_words() -> None:
    assert score_text("not a very good quarter").hits == ("not:good",)
    assert score_text("not that it matters, a good quarter").hits == ("good",)
