"""The sentiment engine's rules, without HTTP: ingest news (map to symbols, dedupe, score, store) and answer a
symbol's sentiment over a window (read, aggregate, cache).

* **Symbols** come from the text (:class:`~sentiment_engine.symbols.SymbolMatcher`) and from the item itself
  (``symbols``, which must be known equities).
* **Dedupe:** the key hashes the item's URL (scheme and host lower-cased, the fragment and a trailing slash
  dropped) when it has one, else its headline and body (case and runs of spaces ignored). An item already stored,
  or repeated within the batch, is reported as a duplicate with the stored id and is not scored again.
* **Scoring** happens once, at ingestion, through :class:`~sentiment_engine.scoring.NewsScorer` (FinBERT, or the
  lexicon when FinBERT is down), on the headline followed by the body.
* **Sentiment** is :func:`~sentiment_engine.aggregate.aggregate` over the stored scores, cached for ``cache_ttl_s``
  per (symbol, window, half-life, time); storing an item naming a symbol drops that symbol's cached answers.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from aitrader.db.repositories import NewsRepository, NewsValues
from aitrader.db.session import make_session_factory, session_scope
from aitrader.errors import NotFoundError, UnavailableError, ValidationError
from sentiment_engine.aggregate import ScoredItem, Sentiment, aggregate
from sentiment_engine.scoring import NewsScorer, Score, describe
from sentiment_engine.symbols import SymbolMatcher

LABEL_THRESHOLD = 0.15
"""|score| from which a symbol's sentiment is called positive or negative rather than neutral."""

MAX_WINDOW = timedelta(days=30)
CACHE_ENTRIES = 10_000
"""Most answers the cache holds."""
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


_CacheKey = tuple[str, timedelta, timedelta, datetime | None]
"""(symbol, window, half-life, window end or None for now)."""


@dataclass(frozen=True)
class NewsDraft:
    """An item as the API received it, validated."""

    headline: str
    body: str | None
    url: str | None
    source: str
    external_id: str | None
    published_at: datetime | None
    symbols: tuple[str, ...]


@dataclass(frozen=True)
class Ingested:
    id: int
    duplicate: bool
    dedupe_key: str
    symbols: list[str]
    score: Score | None
    """None for a duplicate (it was scored when first stored)."""

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "duplicate": self.duplicate,
            "dedupe_key": self.dedupe_key,
            "symbols": self.symbols,
            "sentiment": describe(self.score) if self.score else None,
        }


@dataclass(frozen=True)
class SymbolSentiment:
    symbol: str
    window: timedelta
    half_life: timedelta
    as_of: datetime
    sentiment: Sentiment

    @property
    def label(self) -> str:
        score = self.sentiment.score
        if self.sentiment.confidence == 0 or abs(score) < LABEL_THRESHOLD:
            return "neutral"
        return "positive" if score > 0 else "negative"

    def describe(self, *, cached: bool) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "window_s": self.window.total_seconds(),
            "half_life_s": self.half_life.total_seconds(),
            "as_of": self.as_of.isoformat(),
            "sentiment_score": round(self.sentiment.score, 6),
            "label": self.label,
            "confidence": round(self.sentiment.confidence, 6),
            "items": self.sentiment.items,
            "weight": round(self.sentiment.weight, 6),
            "scorer": self.sentiment.scorer,
            "scorers": self.sentiment.scorers,
            "cached": cached,
        }


def parse_duration(text: str, name: str) -> timedelta:
    """``90s``, ``15m``, ``1h``, ``2d`` as a timedelta of at most 30 days."""
    match = _DURATION.match(text)
    if match is None:
        raise ValidationError(f"{name} must be a number and a unit (s, m, h or d) like 15m or 1h, was {text!r}")
    duration = timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    if not timedelta(seconds=1) <= duration <= MAX_WINDOW:
        raise ValidationError(f"{name} must be between 1s and 30d, was {text!r}")
    return duration


def dedupe_key(draft: NewsDraft) -> str:
    if draft.url:
        parts = urlsplit(draft.url.strip())
        path = parts.path.rstrip("/") or "/"
        canonical = urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))
        return "url:" + hashlib.sha256(canonical.encode()).hexdigest()
    text = " ".join(f"{draft.headline}\n{draft.body or ''}".lower().split())
    return "text:" + hashlib.sha256(text.encode()).hexdigest()


class SentimentService:
    def __init__(
        self,
        *,
        engine: Engine,
        scorer: NewsScorer,
        matcher: SymbolMatcher,
        half_life: timedelta,
        cache_ttl_s: float,
    ) -> None:
        self._sessions = make_session_factory(engine)
        self.scorer = scorer
        self.matcher = matcher
        self.half_life = half_life
        self._ttl_s = cache_ttl_s
        self._cache: dict[_CacheKey, tuple[float, SymbolSentiment]] = {}
        self.cache_hits = 0
        self.cache_misses = 0

    async def ingest(self, drafts: Sequence[NewsDraft]) -> list[Ingested]:
        """Store the items not seen before, scored; report every item, duplicates with the stored id."""
        unknown = sorted({s for draft in drafts for s in draft.symbols} - self.matcher.symbols)
        if unknown:
            raise ValidationError(f"unknown symbols {unknown}: symbols must be equities of the instrument list")
        received = datetime.now(UTC)
        keys = [dedupe_key(draft) for draft in drafts]
        symbols = [
            sorted(set(self.matcher.match(f"{draft.headline}\n{draft.body or ''}")) | set(draft.symbols))
            for draft in drafts
        ]
        stored = await asyncio.to_thread(self._ids, keys)
        fresh: dict[str, int] = {}
        """Dedupe key -> index of the first new item with it."""
        for index, key in enumerate(keys):
            if key not in stored and key not in fresh:
                fresh[key] = index
        order = list(fresh.values())
        scores = await self.scorer.score([_text(drafts[i]) for i in order])
        values = [
            _values(drafts[i], keys[i], symbols[i], score, received) for i, score in zip(order, scores, strict=True)
        ]
        added = await asyncio.to_thread(self._add, values)
        results = []
        new_ids = dict(zip(order, added, strict=True))
        scored = dict(zip(order, scores, strict=True))
        for index, key in enumerate(keys):
            if index in new_ids and new_ids[index][1]:
                results.append(Ingested(new_ids[index][0], False, key, symbols[index], scored[index]))
            else:
                item_id = stored.get(key) or new_ids[fresh[key]][0]
                results.append(Ingested(item_id, True, key, symbols[index], None))
        self._forget({s for result in results if not result.duplicate for s in result.symbols})
        return results

    async def sentiment(
        self, symbol: str, window: timedelta, half_life: timedelta | None = None, at: datetime | None = None
    ) -> tuple[SymbolSentiment, bool]:
        """``symbol``'s sentiment over ``window`` ending ``at`` (default now), and whether it came from the cache."""
        if symbol not in self.matcher.symbols:
            raise NotFoundError(f"unknown symbol {symbol!r}: not an equity of the instrument list")
        half_life = half_life or self.half_life
        key = (symbol, window, half_life, at)
        hit = self._cache.get(key)
        if hit is not None and hit[0] > time.monotonic():
            self.cache_hits += 1
            return hit[1], True
        self.cache_misses += 1
        end = at or datetime.now(UTC)
        rows = await asyncio.to_thread(self._window, symbol, end - window, end)
        result = SymbolSentiment(
            symbol, window, half_life, end, aggregate(rows, now=end, window=window, half_life=half_life)
        )
        if self._ttl_s > 0:
            self._remember(key, result)
        return result, False

    def _remember(self, key: _CacheKey, result: SymbolSentiment) -> None:
        """Cache ``result``; past :data:`CACHE_ENTRIES` the expired answers go, then the oldest (a caller asking
        about many past moments with ``at`` must not grow the cache without end)."""
        now = time.monotonic()
        if len(self._cache) >= CACHE_ENTRIES:
            for stale in [k for k, (expires, _) in self._cache.items() if expires <= now]:
                del self._cache[stale]
            while len(self._cache) >= CACHE_ENTRIES:
                del self._cache[next(iter(self._cache))]
        self._cache[key] = (now + self._ttl_s, result)

    def _forget(self, symbols: set[str]) -> None:
        for key in [k for k in self._cache if k[0] in symbols]:
            del self._cache[key]

    @contextmanager
    def _session(self) -> Iterator[Session]:
        """A unit of work; a database that cannot be reached is a 503 that says so, not a 500."""
        try:
            with session_scope(self._sessions) as session:
                yield session
        except OperationalError as e:
            raise UnavailableError(f"the database cannot be reached: {e.orig or e}") from e

    def _ids(self, keys: list[str]) -> dict[str, int]:
        with self._session() as session:
            return NewsRepository(session).ids_by_dedupe_key(keys)

    def _add(self, values: list[NewsValues]) -> list[tuple[int, bool]]:
        """Each item's id and whether this call stored it (False: stored meanwhile by another request)."""
        with self._session() as session:
            repository = NewsRepository(session)
            added = []
            for item in values:
                item_id = repository.add(item)
                if item_id is None:
                    existing = repository.find(item["dedupe_key"], item["source"], item["external_id"])
                    assert existing is not None  # the insert just conflicted with it
                    added.append((existing, False))
                else:
                    added.append((item_id, True))
            return added

    def _window(self, symbol: str, start: datetime, end: datetime) -> list[ScoredItem]:
        with self._session() as session:
            return [
                ScoredItem(
                    row.published_at,
                    float(row.sentiment_score or 0),
                    float(row.sentiment_certainty or 0),
                    row.sentiment_scorer or "unknown",
                )
                for row in NewsRepository(session).scored_in_window(symbol, start, end)
            ]


def _text(draft: NewsDraft) -> str:
    return f"{draft.headline}. {draft.body}" if draft.body else draft.headline


def _values(draft: NewsDraft, key: str, symbols: list[str], score: Score, received: datetime) -> NewsValues:
    return NewsValues(
        source=draft.source,
        external_id=draft.external_id or key,
        headline=draft.headline,
        body=draft.body,
        url=draft.url,
        symbols=symbols,
        published_at=draft.published_at or received,
        dedupe_key=key,
        sentiment_label=score.label,
        sentiment_score=score.score,
        sentiment_certainty=score.certainty,
        sentiment_scorer=score.scorer,
    )
