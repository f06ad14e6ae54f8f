"""sentiment_engine's FastAPI application: news in (POST /api/news), sentiment out (GET /api/sentiment)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, timedelta
from typing import Annotated, Any

from fastapi import Body, FastAPI, Query, Request, Response
from prometheus_client import Counter
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field
from sqlalchemy import Engine, text

from aitrader.db.session import make_engine
from aitrader.errors import ValidationError
from aitrader.http import install_error_handlers
from aitrader.log import get_logger
from aitrader.marketdata.instruments import read_instruments
from aitrader.marketdata.synthetic import cash_instruments
from sentiment_engine.scoring import NewsScorer
from sentiment_engine.service import NewsDraft, SentimentService, parse_duration
from sentiment_engine.settings import SentimentEngineSettings
from sentiment_engine.symbols import SymbolMatcher, default_aliases, read_aliases

log = get_logger(__name__)

INGESTED = Counter("sentiment_news_items_total", "News items received, by outcome", ["outcome"])
SCORED = Counter("sentiment_news_scored_total", "News items scored, by scorer", ["scorer"])
QUERIES = Counter("sentiment_queries_total", "Sentiment queries, by whether the cache answered", ["cached"])


class NewsIn(BaseModel):
    """A news or social item. ``symbols`` adds to those found in the text; ``published_at`` defaults to receipt."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    headline: str = Field(min_length=1, max_length=2_000)
    body: str | None = Field(default=None, max_length=100_000)
    url: str | None = Field(default=None, max_length=2_048, pattern=r"(?i)^https?://\S+$")
    source: str = Field(default="api", min_length=1, max_length=64)
    id: str | None = Field(default=None, min_length=1, max_length=255, description="the source's id for the item")
    published_at: AwareDatetime | None = None
    symbols: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(default_factory=list, max_length=50)

    def draft(self) -> NewsDraft:
        return NewsDraft(
            self.headline, self.body or None, self.url, self.source, self.id, self.published_at, tuple(self.symbols)
        )


def _as_list(value: Any) -> Any:
    return value if isinstance(value, list) else [value]


NewsBatch = Annotated[list[NewsIn], BeforeValidator(_as_list), Body()]
"""One item, or a list of them: errors name the item by its index either way."""


def create_app(settings: SentimentEngineSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        instruments = read_instruments(settings.instruments_path) if settings.instruments_path else cash_instruments()
        aliases = read_aliases(settings.aliases_path) if settings.aliases_path else default_aliases()
        engine = make_engine(settings.require_database_url(), pool_size=4, max_overflow=4)
        scorer = NewsScorer(
            settings.finbert_url, timeout_s=settings.finbert_timeout_s, retry_s=settings.finbert_retry_s
        )
        app.state.service = SentimentService(
            engine=engine,
            scorer=scorer,
            matcher=SymbolMatcher(instruments, aliases),
            half_life=timedelta(seconds=settings.half_life_s),
            cache_ttl_s=settings.cache_ttl_s,
        )
        app.state.engine = engine
        log.info("sentiment_engine_ready", symbols=len(app.state.service.matcher.symbols), finbert=settings.finbert_url)
        try:
            yield
        finally:
            await scorer.close()
            engine.dispose()

    app = FastAPI(title="AITrader sentiment_engine", version="0.1.0", lifespan=lifespan)

    @app.post("/api/news", tags=["news"])
    async def post_news(items: NewsBatch, request: Request) -> dict[str, Any]:
        """Store one item or a list (at most SENTIMENT_ENGINE_MAX_ITEMS): each mapped to symbols, deduplicated,
        scored by FinBERT (or the finance word lists while it is down)."""
        if not items or len(items) > settings.max_items:
            raise ValidationError(f"send between 1 and {settings.max_items} items, was {len(items)}")
        service: SentimentService = request.app.state.service
        results = await service.ingest([item.draft() for item in items])
        for result in results:
            INGESTED.labels("duplicate" if result.duplicate else "stored").inc()
            if result.score is not None:
                SCORED.labels(result.score.scorer).inc()
        return {
            "received": len(results),
            "stored": sum(not r.duplicate for r in results),
            "duplicates": sum(r.duplicate for r in results),
            "items": [r.describe() for r in results],
        }

    @app.get("/api/sentiment", tags=["sentiment"])
    async def get_sentiment(
        request: Request,
        symbol: Annotated[str, Query(min_length=1, max_length=64)],
        window: Annotated[str, Query(description="how far back: 15m, 1h, 1d ...")] = "1h",
        half_life: Annotated[str | None, Query(description="an item's weight halves every ... (default 30m)")] = None,
        at: Annotated[AwareDatetime | None, Query(description="the window's end (default now)")] = None,
    ) -> dict[str, Any]:
        """``symbol``'s sentiment in [-1, 1] over ``window``, time-decayed, with the item count, a confidence in
        [0, 1] and the scorer behind it; an empty window is neutral with confidence 0."""
        service: SentimentService = request.app.state.service
        decay = parse_duration(half_life, "half_life") if half_life is not None else None
        end = at.astimezone(UTC) if at is not None else None
        result, cached = await service.sentiment(symbol, parse_duration(window, "window"), decay, end)
        QUERIES.labels(str(cached).lower()).inc()
        return result.describe(cached=cached)

    @app.get("/health", tags=["ops"])
    async def health(request: Request, response: Response) -> dict[str, Any]:
        """503 when the database cannot be reached; ``degraded`` while FinBERT is down and the lexicon scores."""
        service: SentimentService = request.app.state.service
        database = await asyncio.to_thread(_ping, request.app.state.engine)  # connecting may block: not on the loop
        if database != "ok":
            response.status_code = 503
        finbert = service.scorer.finbert_available
        return {
            "status": "unavailable" if database != "ok" else "ok" if finbert else "degraded",
            "database": database,
            "scorer": "finbert" if finbert else "lexicon",
            "finbert": {"url": service.scorer.finbert_url, "last_error": service.scorer.last_error},
            "symbols": len(service.matcher.symbols),
            "cache": {"hits": service.cache_hits, "misses": service.cache_misses},
        }

    @app.get("/metrics", response_class=Response, tags=["ops"])
    async def metrics() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

        return Response(content=generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    install_error_handlers(app)
    return app


def _ping(engine: Engine) -> str:
    """``ok``, or why the database cannot be reached."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as e:  # any failure to reach the database is what /health reports
        return f"{type(e).__name__}: {e}"
    return "ok"
