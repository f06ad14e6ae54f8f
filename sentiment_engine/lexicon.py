"""The fallback scorer: finance word lists, counted, when the FinBERT server cannot be reached.

After Loughran and McDonald (2011): general-purpose sentiment lexicons misread financial text ("liability",
"tax", "cost" are not bad news there), so the lists (``words/positive.txt``, ``words/negative.txt``) hold words
that carry sentiment in finance. A positive word within three words after a negation ("not", "no", "never",
"without", "n't" ...) counts as negative, as Loughran and McDonald do; negated negatives are left alone
("no losses" is as often a hedge as good news).

The result has FinBERT's shape (a label and the probabilities of positive, negative and neutral), so the engine
treats both scorers alike: with ``p`` positive and ``n`` negative hits, the text takes a side with probability
``(p + n) / (p + n + 1)`` (one hit: even odds), split between positive and negative as ``p : n``; the rest is
neutral. The label is the side with more hits, neutral on a tie or without any.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

Label = Literal["positive", "negative", "neutral"]

NEGATIONS = frozenset({"not", "no", "never", "neither", "nor", "without", "hardly", "barely", "cannot", "none"})
NEGATION_REACH = 3
"""Words after a negation that it reverses."""

_WORDS = re.compile(r"[a-z]+(?:'[a-z]+)?")


@dataclass(frozen=True)
class LexiconScore:
    label: Label
    positive: float
    negative: float
    neutral: float
    hits: tuple[str, ...]
    """The words that counted, negated positives marked ``not:<word>``."""

    @property
    def score(self) -> float:
        """P(positive) - P(negative), in [-1, 1]."""
        return self.positive - self.negative

    @property
    def certainty(self) -> float:
        """1 - P(neutral)."""
        return 1 - self.neutral


@cache
def word_list(name: Literal["positive", "negative"]) -> frozenset[str]:
    text = resources.files("sentiment_engine").joinpath("words", f"{name}.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def score_text(text: str) -> LexiconScore:
    positive_words, negative_words = word_list("positive"), word_list("negative")
    hits: list[str] = []
    positive = negative = 0
    since_negation = NEGATION_REACH + 1
    for word in _WORDS.findall(text.lower()):
        if word in NEGATIONS or word.endswith("n't"):
            since_negation = 0
            continue
        since_negation += 1
        if word in positive_words:
            if since_negation <= NEGATION_REACH:
                negative += 1
                hits.append(f"not:{word}")
            else:
                positive += 1
                hits.append(word)
        elif word in negative_words:
            negative += 1
            hits.append(word)
    counted = positive + negative
    if counted == 0:
        return LexiconScore("neutral", 0.0, 0.0, 1.0, ())
    sided = counted / (counted + 1)
    label: Label = "positive" if positive > negative else "negative" if negative > positive else "neutral"
    return LexiconScore(label, sided * positive / counted, sided * negative / counted, 1 - sided, tuple(hits))
