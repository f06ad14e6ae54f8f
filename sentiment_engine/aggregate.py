"""A symbol's sentiment over a window: its scored news items, weighted by age and by how sure each score is.

Each item carries a score in [-1, 1] (P(positive) - P(negative)) and a certainty in [0, 1] (1 - P(neutral): how
much of the text took a side). Within the window ``(now - window, now]`` an item weighs

    w = certainty * 0.5 ** (age / half_life)

so a story loses half its say every ``half_life``. The symbol's score is the weighted mean of the items' scores.

**Confidence** says how much to trust that score, in [0, 1]: the evidence (``1 - exp(-W / EVIDENCE_SCALE)``
with ``W`` the items' total weight: two fresh, decided stories give 0.63) times their agreement (one minus half
the weighted mean distance of the items' scores from the aggregate). An empty window, or one whose items took no
side, is neutral (0) with confidence 0.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aitrader.errors import ValidationError

EVIDENCE_SCALE = 2.0
"""Total item weight at which the evidence term reaches 1 - 1/e."""


@dataclass(frozen=True)
class ScoredItem:
    published_at: datetime
    score: float
    """P(positive) - P(negative), in [-1, 1]."""
    certainty: float
    """1 - P(neutral), in [0, 1]."""
    scorer: str
    """Which scorer produced the score: ``finbert`` or ``lexicon``."""


@dataclass(frozen=True)
class Sentiment:
    score: float
    """In [-1, 1]; negative is bearish."""
    confidence: float
    """In [0, 1]."""
    items: int
    """Items published in the window."""
    weight: float
    """Their total decayed weight."""
    scorers: dict[str, int] = field(default_factory=dict)
    """Items by the scorer that scored them."""

    @property
    def scorer(self) -> str:
        """``finbert``, ``lexicon``, ``mixed`` (both), or ``none`` (an empty window)."""
        if not self.scorers:
            return "none"
        return next(iter(self.scorers)) if len(self.scorers) == 1 else "mixed"


def aggregate(items: Iterable[ScoredItem], *, now: datetime, window: timedelta, half_life: timedelta) -> Sentiment:
    """The time-decayed sentiment of ``items`` published in ``(now - window, now]``."""
    if window <= timedelta(0) or half_life <= timedelta(0):
        raise ValidationError(f"window and half_life must be positive, were {window} and {half_life}")
    start = now - window
    chosen = [item for item in items if start < item.published_at <= now]
    for item in chosen:
        if not (-1 <= item.score <= 1 and 0 <= item.certainty <= 1):
            raise ValidationError(
                f"score must be in [-1, 1] and certainty in [0, 1], were {item.score}, {item.certainty}"
            )
    scorers = dict(Counter(item.scorer for item in chosen))
    weights = [item.certainty * 0.5 ** ((now - item.published_at) / half_life) for item in chosen]
    total = sum(weights)
    if total <= 0:
        return Sentiment(0.0, 0.0, len(chosen), 0.0, scorers)
    score = sum(w * item.score for w, item in zip(weights, chosen, strict=True)) / total
    spread = sum(w * abs(item.score - score) for w, item in zip(weights, chosen, strict=True)) / total
    confidence = (1 - math.exp(-total / EVIDENCE_SCALE)) * (1 - spread / 2)
    return Sentiment(max(-1.0, min(1.0, score)), confidence, len(chosen), total, scorers)
