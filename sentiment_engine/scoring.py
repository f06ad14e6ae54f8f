"""Scores for news texts: the FinBERT server when it answers, the finance word lists when it does not.

The FinBERT server's contract (``POST /classify``): ``{"texts": [...]}`` in, ``{"results": [{"label": ...,
"probabilities": {"positive": p, "negative": n, "neutral": u}}, ...]}`` out, one result per text in order. Any
failure (refused connection, timeout, a 5xx, an answer of the wrong shape) sends the whole batch to the lexicon
and keeps FinBERT aside for ``retry_s``, so a dead server costs one timeout per ``retry_s``, not one per request.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import msgspec

from aitrader.log import get_logger
from sentiment_engine.lexicon import score_text

log = get_logger(__name__)

Label = Literal["positive", "negative", "neutral"]
Scorer = Literal["finbert", "lexicon"]


@dataclass(frozen=True)
class Score:
    label: Label
    positive: float
    negative: float
    neutral: float
    scorer: Scorer

    @property
    def score(self) -> float:
        """P(positive) - P(negative), in [-1, 1]."""
        return max(-1.0, min(1.0, self.positive - self.negative))

    @property
    def certainty(self) -> float:
        """1 - P(neutral), in [0, 1]."""
        return max(0.0, min(1.0, 1 - self.neutral))


class _Probabilities(msgspec.Struct):
    positive: float
    negative: float
    neutral: float


class _Result(msgspec.Struct):
    label: Label
    probabilities: _Probabilities


class _Answer(msgspec.Struct):
    results: list[_Result]


class NewsScorer:
    def __init__(self, finbert_url: str, *, timeout_s: float = 2.0, retry_s: float = 10.0, batch: int = 64) -> None:
        self.finbert_url = finbert_url.rstrip("/")
        self._batch = batch
        self._client = httpx.AsyncClient(timeout=timeout_s)
        self._retry_s = retry_s
        self._aside_until = 0.0
        self.last_error: str | None = None

    @property
    def finbert_available(self) -> bool:
        """Whether the next batch will be sent to FinBERT (it has not failed within ``retry_s``)."""
        return time.monotonic() >= self._aside_until

    async def score(self, texts: Sequence[str]) -> list[Score]:
        if not texts:
            return []
        if self.finbert_available:
            try:
                scores = await self._finbert(texts)
            except (httpx.HTTPError, msgspec.DecodeError, msgspec.ValidationError, ValueError) as e:
                self._aside_until = time.monotonic() + self._retry_s
                self.last_error = f"{type(e).__name__}: {e}"
                log.warning("finbert_unavailable", url=self.finbert_url, error=self.last_error, retry_s=self._retry_s)
            else:
                self.last_error = None
                return scores
        return [lexicon_score(text) for text in texts]

    async def close(self) -> None:
        await self._client.aclose()

    async def _finbert(self, texts: Sequence[str]) -> list[Score]:
        """FinBERT's scores, ``batch`` texts a request (the server caps a request's texts)."""
        scores: list[Score] = []
        for first in range(0, len(texts), self._batch):
            chunk = list(texts[first : first + self._batch])
            response = await self._client.post(f"{self.finbert_url}/classify", json={"texts": chunk})
            response.raise_for_status()
            answer = msgspec.json.decode(response.content, type=_Answer)
            if len(answer.results) != len(chunk):
                raise ValueError(f"FinBERT answered {len(answer.results)} results for {len(chunk)} texts")
            scores += [
                Score(r.label, r.probabilities.positive, r.probabilities.negative, r.probabilities.neutral, "finbert")
                for r in answer.results
            ]
        return scores


def lexicon_score(text: str) -> Score:
    scored = score_text(text)
    return Score(scored.label, scored.positive, scored.negative, scored.neutral, "lexicon")


def describe(score: Score) -> dict[str, Any]:
    return {
        "label": score.label,
        "score": round(score.score, 6),
        "certainty": round(score.certainty, 6),
        "scorer": score.scorer,
    }
