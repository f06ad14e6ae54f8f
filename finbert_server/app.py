"""finbert_server's FastAPI application: POST /classify, /health, /metrics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI, Request, Response
from prometheus_client import Counter, Histogram
from pydantic import BaseModel, ConfigDict, Field

from aitrader.errors import ConfigurationError, UnavailableError, ValidationError
from aitrader.http import install_error_handlers
from aitrader.http.limits import BodySizeLimit
from aitrader.log import get_logger
from finbert_server.model import FinbertModel
from finbert_server.settings import FinbertSettings

log = get_logger(__name__)

TEXTS = Counter("finbert_texts_total", "Texts classified, by label", ["label"])
TRUNCATED = Counter("finbert_truncated_texts_total", "Texts cut to the model's maximum length")
LATENCY = Histogram(
    "finbert_request_seconds",
    "Time to classify one request",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)


class ClassifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    texts: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)


def create_app(settings: FinbertSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.model = None
        app.state.reason = None
        try:
            app.state.model = await asyncio.to_thread(
                FinbertModel,
                settings.model_dir,
                backend=settings.backend,
                max_batch=settings.max_batch,
                threads=settings.threads,
            )
            log.info("finbert_ready", **app.state.model.describe())
        except (ConfigurationError, OSError, ValueError) as e:  # no model here: serve 503 and say why
            app.state.reason = str(e)
            log.warning("finbert_unavailable", reason=app.state.reason)
        app.state.busy = asyncio.Semaphore(1)  # one batch at a time: the model uses its own threads
        yield

    app = FastAPI(title="AITrader finbert_server", version="0.1.0", lifespan=lifespan)

    @app.post("/classify", tags=["inference"])
    async def classify(body: ClassifyIn, request: Request) -> dict[str, Any]:
        """Each text's label and probabilities (positive, negative, neutral), in order; ``truncated`` when the
        text was cut to the model's maximum length. 503 without a model, 422 for bad input."""
        model: FinbertModel | None = request.app.state.model
        if model is None:
            raise UnavailableError(f"no FinBERT model is loaded: {request.app.state.reason}")
        if len(body.texts) > settings.max_texts:
            raise ValidationError(f"send at most {settings.max_texts} texts at once, was {len(body.texts)}")
        long = [i for i, text in enumerate(body.texts) if len(text) > settings.max_text_chars]
        if long:
            raise ValidationError(f"texts {long[:10]} are longer than {settings.max_text_chars} characters")
        started = time.perf_counter()
        async with request.app.state.busy:
            results = await asyncio.to_thread(model.classify, body.texts)
        LATENCY.observe(time.perf_counter() - started)
        for result in results:
            TEXTS.labels(result.label).inc()
            if result.truncated:
                TRUNCATED.inc()
        return {
            "model": model.name,
            "labels": list(model.labels),
            "results": [
                {"label": r.label, "probabilities": r.probabilities, "truncated": r.truncated, "tokens": r.tokens}
                for r in results
            ],
        }

    @app.get("/health", tags=["ops"])
    async def health(request: Request) -> dict[str, Any]:
        """200 while the process serves; ``status: unavailable`` with the reason when no model is loaded."""
        model: FinbertModel | None = request.app.state.model
        if model is None:
            return {"status": "unavailable", "reason": request.app.state.reason, "model_dir": str(settings.model_dir)}
        return {"status": "ok", **model.describe()}

    @app.get("/metrics", response_class=Response, tags=["ops"])
    async def metrics() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

        return Response(content=generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes, setting="FINBERT_SERVER_MAX_REQUEST_BYTES")
    return app
