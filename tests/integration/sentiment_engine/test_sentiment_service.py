"""sentiment_engine as a process on loopback with PostgreSQL: news mapped to symbols, deduplicated, scored by the
FinBERT server (a tiny BERT of our own) or, while it is down, by the finance word lists, and a symbol's sentiment
over a window, cached until new news."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from aitrader.devstack.ports import free_port
from tests.finbert_factories import write_tiny_finbert
from tests.integration.marketdata.conftest import run_service, wait_for

SERVICE = "sentiment_engine"


def test_news_is_scored_by_the_lexicon_while_finbert_is_down_and_aggregated_per_symbol(
    database_url: str, tmp_path: Path
) -> None:
    env = {
        "DATABASE_URL": database_url,
        "SENTIMENT_ENGINE_FINBERT_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens there
        "SENTIMENT_ENGINE_CACHE_TTL_S": "60",
    }
    now = datetime.now(UTC)
    good = {
        "headline": "Infosys profit beats estimates as margins improve",
        "url": "https://news.example/infosys-q2/",
        "published_at": (now - timedelta(minutes=10)).isoformat(),
    }
    with run_service(SERVICE, env, tmp_path / "sentiment.log") as service, service.client() as http:
        first = http.post("/api/news", json=good)
        again = http.post(
            "/api/news",
            json=[
                {**good, "url": "HTTPS://NEWS.EXAMPLE/infosys-q2#top", "source": "wire"},
                {"headline": "TCS shares tumble after weak guidance", "body": "Analysts cut targets."},
                {"headline": "tcs  shares TUMBLE after weak guidance", "body": "Analysts cut targets."},
            ],
        )
        infy = http.get("/api/sentiment", params={"symbol": "INFY", "window": "1h"})
        cached = http.get("/api/sentiment", params={"symbol": "INFY", "window": "1h"})
        http.post("/api/news", json={"headline": "Infosys faces a lawsuit over a data breach", "symbols": ["INFY"]})
        after = http.get("/api/sentiment", params={"symbol": "INFY", "window": "1h"})
        quiet = http.get("/api/sentiment", params={"symbol": "HINDUNILVR", "window": "1h"})
        earlier = http.get("/api/sentiment", params={"symbol": "INFY", "window": "5m", "at": now.isoformat()})
        health = http.get("/health")
        refusals = [
            (http.post("/api/news", json={"headline": "x", "symbols": ["NOPE"]}), 422, "unknown symbols ['NOPE']"),
            (http.post("/api/news", json=[]), 422, "send between 1 and 1000 items, was 0"),
            (http.post("/api/news", json={"headline": "x", "url": "ftp://a"}), 422, "url"),
            (http.post("/api/news", json={"body": "no headline"}), 422, "headline"),
            (http.post("/api/news", json={"headline": "x", "ticker": "INFY"}), 422, "ticker"),
            (http.post("/api/news", json={"headline": "x", "published_at": "2026-11-25T09:00:00"}), 422, "timezone"),
            (http.get("/api/sentiment", params={"symbol": "NOPE"}), 404, "unknown symbol 'NOPE'"),
            (http.get("/api/sentiment", params={"symbol": "INFY", "window": "1y"}), 422, "a number and a unit"),
            (http.get("/api/sentiment", params={"symbol": "INFY", "window": "90d"}), 422, "between 1s and 30d"),
        ]

    assert first.status_code == 200, first.text
    [item] = first.json()["items"]
    assert item["symbols"] == ["INFY"] and not item["duplicate"]
    assert item["sentiment"]["scorer"] == "lexicon" and item["sentiment"]["label"] == "positive"
    batch = again.json()
    assert again.status_code == 200, again.text
    assert (batch["received"], batch["stored"], batch["duplicates"]) == (3, 1, 2), batch
    assert batch["items"][0]["duplicate"] and batch["items"][0]["id"] == item["id"]
    assert batch["items"][1]["symbols"] == ["TCS"] and batch["items"][1]["sentiment"]["label"] == "negative"
    assert batch["items"][2]["duplicate"] and batch["items"][2]["id"] == batch["items"][1]["id"]

    document = infy.json()
    assert document["items"] == 1 and document["sentiment_score"] > 0 and document["label"] == "positive"
    assert document["scorer"] == "lexicon" and 0 < document["confidence"] < 1 and document["cached"] is False
    assert cached.json()["cached"] is True and cached.json()["sentiment_score"] == document["sentiment_score"]
    assert after.json()["cached"] is False and after.json()["items"] == 2
    assert after.json()["sentiment_score"] < document["sentiment_score"]
    assert quiet.json() | {"as_of": None} == quiet.json() | {
        "as_of": None,
        "sentiment_score": 0.0,
        "confidence": 0.0,
        "items": 0,
        "label": "neutral",
        "scorer": "none",
    }
    assert earlier.json()["items"] == 0  # the good story is 10 minutes old: outside a 5-minute window
    assert health.status_code == 200 and health.json()["status"] == "degraded"
    assert health.json()["scorer"] == "lexicon" and health.json()["finbert"]["last_error"]
    for response, status, says in refusals:
        assert response.status_code == status, response.text
        assert says in str(response.json()["detail"]), response.text


def test_news_is_scored_by_the_finbert_server_and_by_the_lexicon_once_it_stops(
    database_url: str, tmp_path: Path
) -> None:
    model_dir = write_tiny_finbert(tmp_path / "finbert")
    with contextlib.ExitStack() as stack:
        finbert = stack.enter_context(
            run_service("finbert_server", {"FINBERT_MODEL_DIR": str(model_dir)}, tmp_path / "finbert.log")
        )
        env = {
            "DATABASE_URL": database_url,
            "SENTIMENT_ENGINE_FINBERT_URL": finbert.url,
            "SENTIMENT_ENGINE_FINBERT_RETRY_S": "60",
            "SENTIMENT_ENGINE_FINBERT_BATCH": "1",  # one text a request: the batch is split, not refused
        }
        service = stack.enter_context(run_service(SERVICE, env, tmp_path / "sentiment.log"))
        http = stack.enter_context(service.client())
        with finbert.client() as model:
            scored = http.post("/api/news", json=[{"headline": "Infosys profit beats"}, {"headline": "TCS misses"}])
            direct = model.post("/classify", json={"texts": ["Infosys profit beats", "TCS misses"]}).json()
        healthy = http.get("/health").json()
        finbert.process.terminate()
        finbert.process.wait(15)
        fallback = http.post("/api/news", json={"headline": "Infosys shares tumble"})
        degraded = http.get("/health").json()
        infy = http.get("/api/sentiment", params={"symbol": "INFY"}).json()

    assert scored.status_code == 200, scored.text
    for item, result in zip(scored.json()["items"], direct["results"], strict=True):
        probabilities = result["probabilities"]
        assert item["sentiment"]["scorer"] == "finbert" and item["sentiment"]["label"] == result["label"]
        assert item["sentiment"]["score"] == pytest.approx(
            probabilities["positive"] - probabilities["negative"], abs=1e-6
        )
    assert healthy["status"] == "ok" and healthy["scorer"] == "finbert"
    assert fallback.json()["items"][0]["sentiment"]["scorer"] == "lexicon"
    assert degraded["status"] == "degraded" and degraded["finbert"]["last_error"]
    assert infy["items"] == 2 and infy["scorer"] == "mixed" and infy["scorers"] == {"finbert": 1, "lexicon": 1}


def test_a_database_that_cannot_be_reached_is_a_503_that_says_so(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgresql://aitrader@127.0.0.1:{free_port()}/aitrader",
        "SENTIMENT_ENGINE_FINBERT_URL": f"http://127.0.0.1:{free_port()}",
        "SENTIMENT_ENGINE_PORT": str(port),
    }
    with (tmp_path / "sentiment.log").open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", SERVICE], env=env, stdout=log, stderr=log)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            wait_for(lambda: _answers(http), 30, "the sentiment engine to answer")
            health = http.get("/health")
            posted = http.post("/api/news", json={"headline": "Infosys profit beats"})
            asked = http.get("/api/sentiment", params={"symbol": "INFY"})
    finally:
        process.terminate()
        process.wait(15)

    assert health.status_code == 503 and health.json()["status"] == "unavailable"
    for response in (posted, asked):
        assert response.status_code == 503, response.text
        assert "the database cannot be reached" in response.json()["detail"]


def _answers(http: httpx.Client) -> bool:
    try:
        http.get("/health")
    except httpx.TransportError:
        return False
    return True
