"""Sentiment benchmark: FinBERT classification in process beside finbert_server over HTTP, and GET /api/sentiment
cached beside uncached, in one run.

Figures (each measurement runs in rounds that alternate which side goes first, so drift on this small, noisy
machine hits both; a figure is the median over rounds of the rounds' figures unless it says otherwise):
- FinBERT classification: a BERT sequence classifier with random weights, built by ``tests/finbert_factories.py``
  in the shape of ProsusAI/finbert (BERT-base: 12 layers, hidden 768, 12 heads, intermediate 3072, 30,522 tokens,
  512 positions); ``--quick`` builds a smaller one (4 layers, hidden 512, 8 heads, intermediate 2048), named in the
  output. What it computes per token is what the real weights would cost: the values differ, the work does not.
  Texts are generated news headlines of 10-40 words (fixed seed). The factory's tokenizer knows a few dozen words
  whole and makes every other word or punctuation mark one [UNK] token: the count a vocabulary holding every word
  whole would give (real WordPiece splits rarer words,
  so real headlines run somewhat longer in tokens); the output reports the tokens per text. Requests of 1 and of
  32 texts: in process (``FinbertModel.classify``, ONNX Runtime with one intra-op thread, as finbert_server runs
  by default) and through ``python -m finbert_server`` on a loopback port (POST /classify from one
  ``httpx.Client`` over a kept-alive connection); texts/s, p50 per request, the batch-32 / batch-1 ratio, and
  where a request's time goes: tokenising (timed alone in process), padding (a request is padded to its longest
  text; the same texts in requests of 32 sorted by length, in process, show what that padding costs), HTTP
  (HTTP p50 - in-process p50).
- GET /api/sentiment: an embedded PostgreSQL migrated to head; ``--news`` items (2,000 by default) published over
  the last 50 minutes, spread evenly over the synthetic market's twenty equities (the engine's default list), posted
  through POST /api/news in batches of 100 with FinBERT unreachable on purpose (nothing listens on its port), so the
  finance word lists score them; then two ``python -m sentiment_engine`` side by side over that database, one with
  SENTIMENT_ENGINE_CACHE_TTL_S=3600 (cached: after the first pass every query is answered from memory) and one with
  SENTIMENT_ENGINE_CACHE_TTL_S=0 (uncached: every query reads PostgreSQL and aggregates), each queried with the same
  sequence (every equity in turn, window 1h) from one ``httpx.Client``; p50 / p99 over every GET of the run and the
  ratio uncached / cached. Every answer is checked: the cache flag it reports, and a non-empty window. Where an
  uncached query's time goes: ``SentimentService.sentiment`` in this process (no HTTP), the repository's read of the
  window (``NewsRepository.scored_in_window``: the four columns aggregation reads, through a Session), the same
  statement on a bare Core connection, and ``aggregate`` over the rows.

    python bench/sentiment.py [--quick] [--json PATH] [--news N]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnxruntime
import psycopg
import sqlalchemy as sa

from aitrader import runtime
from aitrader.db.migrations import upgrade
from aitrader.db.models import NewsItem, NewsItemSymbol
from aitrader.db.repositories import NewsRepository
from aitrader.db.session import make_engine, make_session_factory, session_scope
from aitrader.devstack.embedded import EmbeddedPostgres
from aitrader.devstack.ports import free_port
from aitrader.log import configure
from aitrader.marketdata.synthetic import cash_instruments
from finbert_server.model import FinbertModel
from sentiment_engine.aggregate import ScoredItem, aggregate
from sentiment_engine.scoring import NewsScorer
from sentiment_engine.service import SentimentService
from sentiment_engine.symbols import SymbolMatcher, default_aliases

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the scripts beside this one, when imported as a module
from _support import (
    HOST,
    REPO_ROOT,
    Server,
    collector_paused,
    expect_ok,
    launch,
    measured_commit,
    percentile,
    summarise,
)

MEASURED_PATHS = ["finbert_server", "sentiment_engine", "tests/finbert_factories.py", "bench/sentiment.py"]
THREADS = 1
"""ONNX Runtime's intra-op threads, in process and in the server: finbert_server's default (FINBERT_SERVER_THREADS)."""
MAX_BATCH = 32
BATCHES = (1, MAX_BATCH)
REQUEST_TIMEOUT_S = 120.0
NEWS_ITEMS = 2_000
NEWS_SPAN = timedelta(minutes=50)
"""Items are published over the last 50 minutes, so a run of a few minutes keeps all of them in the 1h window."""
NEWS_BATCH = 100
WINDOW = "1h"
CACHE_TTL_S = {"cached": 3600, "uncached": 0}
SEED = 20_251_125


@dataclass(frozen=True)
class ModelShape:
    label: str
    layers: int
    hidden: int
    heads: int
    intermediate: int
    vocab_size: int = 30_522
    """BERT's (uncased) vocabulary, ProsusAI/finbert's."""
    max_length: int = 512
    """BERT's positions, ProsusAI/finbert's; no headline here comes near 128 tokens."""

    def parameters(self) -> int:
        h, i = self.hidden, self.intermediate
        embeddings = (self.vocab_size + self.max_length + 2) * h + 2 * h
        layer = 4 * (h * h + h) + (h * i + i) + (i * h + h) + 4 * h
        return embeddings + self.layers * layer + (h * h + h) + (h * 3 + 3)


FULL_SHAPE = ModelShape("BERT-base (ProsusAI/finbert's shape)", layers=12, hidden=768, heads=12, intermediate=3072)
QUICK_SHAPE = ModelShape("BERT-small (--quick)", layers=4, hidden=512, heads=8, intermediate=2048)


# -- headlines --------------------------------------------------------------------------------------------

POSITIVE = (
    "beats", "record", "growth", "strong", "surges", "gains", "upgrade", "profit", "rises", "expands", "outperforms",
    "improves", "rally", "boost", "robust", "higher", "wins", "jumps",
)  # fmt: skip
NEGATIVE = (
    "misses", "loss", "weak", "decline", "falls", "downgrade", "cut", "slump", "probe", "default", "delay",
    "concerns", "lower", "penalty", "lawsuit", "drops", "losses", "slowdown",
)  # fmt: skip
NEUTRAL = (
    "quarter", "results", "shares", "board", "meeting", "revenue", "margin", "guidance", "analysts", "estimates",
    "market", "investors", "rates", "outlook", "dividend", "order", "contract", "deal", "capital", "digital",
    "services", "segment", "demand", "exports", "india", "mumbai", "crore", "billion", "fiscal", "year", "on", "the",
    "a", "of", "and", "in", "to", "after", "as", "for", "with", "its", "from", "says", "amid", "over", "ahead",
    "while", "first", "second", "third", "fourth", "percent", "nifty", "sensex", "trading", "session", "stake",
    "unit", "plans", "expected", "report", "company", "management", "sector", "stock", "price", "target", "brokerage",
    "rating", "volume", "this", "week", "month", "net", "income", "operating", "costs", "consumer", "retail",
    "lending", "deposits", "loans", "telecom", "subscribers", "tariff", "refining", "energy", "software", "clients",
    "orders", "pipeline", "hiring", "employees", "approval", "regulator", "sebi", "rbi", "policy", "inflation",
)  # fmt: skip


@dataclass(frozen=True)
class Company:
    symbol: str
    name: str
    """As news names it: the first alias, else the instrument list's name."""


def companies() -> list[Company]:
    aliases = default_aliases()
    found = []
    for instrument in cash_instruments():
        if instrument.instrument_type == "EQ":
            names = aliases.get(instrument.tradingsymbol) or [instrument.name or instrument.tradingsymbol]
            found.append(Company(instrument.tradingsymbol, names[0]))
    return found


def headline(rng: np.random.Generator, subject: str) -> str:
    """A headline of 10-40 words about ``subject``: mostly plain words, one word in six taking a side."""
    length = int(rng.integers(10, 41))
    words = subject.split()
    while len(words) < length:
        draw = rng.random()
        pool = POSITIVE if draw < 1 / 12 else NEGATIVE if draw < 1 / 6 else NEUTRAL
        words.append(str(pool[int(rng.integers(len(pool)))]))
        if rng.random() < 0.04 and len(words) < length - 1:
            words[-1] += ","
    return " ".join(words[:length])


def headlines(known: Sequence[Company], count: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [headline(rng, known[index % len(known)].name) for index in range(count)]


# -- figures ----------------------------------------------------------------------------------------------


def median(values: Sequence[float], digits: int = 3) -> float:
    return round(statistics.median(values), digits)


def timed(call: Callable[[], object], count: int) -> list[float]:
    """Milliseconds for each of ``count`` calls."""
    values = []
    with collector_paused():
        for _ in range(count):
            started = time.perf_counter()
            call()
            values.append((time.perf_counter() - started) * 1000)
    return values


# -- servers ----------------------------------------------------------------------------------------------


def start_server(
    stack: ExitStack, label: str, module: str, port_variable: str, settings: dict[str, str], scratch: Path
) -> Server:
    """``python -m module`` on a free loopback port, stopped when ``stack`` closes; not yet waited for."""
    command = [sys.executable, "-m", module]
    return launch(stack, label, command, {**settings, "LOG_LEVEL": "INFO"}, port_variable, scratch)


def wait_ready(server: Server, ready: Callable[[dict[str, Any]], bool], timeout_s: float = 120.0) -> dict[str, Any]:
    """Until ``server``'s /health answers 200 with a body ``ready`` accepts; that body."""
    deadline = time.monotonic() + timeout_s
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.label} exited with {server.process.returncode}: {server.tail()}")
        try:
            answer = httpx.get(f"{server.url}/health", timeout=2.0)
            if answer.status_code == 200 and ready(answer.json()):
                body: dict[str, Any] = answer.json()
                return body
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.label} not ready within {timeout_s:g} s: {server.tail()}")
        time.sleep(0.1)


# -- FinBERT classification -------------------------------------------------------------------------------


def build_model(shape: ModelShape, directory: Path) -> float:
    """Write the model of ``shape`` to ``directory``; the seconds it took."""
    # The factory lives with the tests, which are no installed package: import it from the repository's root.
    if str(REPO_ROOT) not in sys.path:
        sys.path.append(str(REPO_ROOT))
    from tests.finbert_factories import write_tiny_finbert

    started = time.perf_counter()
    write_tiny_finbert(
        directory,
        max_length=shape.max_length,
        seed=SEED,
        layers=shape.layers,
        hidden=shape.hidden,
        heads=shape.heads,
        intermediate=shape.intermediate,
        vocab_size=shape.vocab_size,
    )
    return time.perf_counter() - started


def token_figures(model: FinbertModel, texts: Sequence[str]) -> dict[str, float]:
    """Real tokens per text, and per text computed when the texts go in requests of 32 (padded to the longest)."""
    real = padded = 0
    for first in range(0, len(texts), MAX_BATCH):
        encoded = model.tokenizer(list(texts[first : first + MAX_BATCH]), padding=True, return_tensors="np")
        real += int(encoded["attention_mask"].sum())
        padded += int(encoded["attention_mask"].size)
    unknown = sum(ids.count(model.tokenizer.unk_token_id) for ids in model.tokenizer(list(texts))["input_ids"])
    return {
        "real_tokens_per_text": round(real / len(texts), 2),
        "computed_tokens_per_text_batch_32": round(padded / len(texts), 2),
        "padding_share_batch_32": round(1 - real / padded, 4),
        "unknown_token_share": round(unknown / real, 4),
    }


def classification(model: FinbertModel, server: Server, texts: Sequence[str], quick: bool) -> dict[str, Any]:
    """Requests of 1 and of 32 texts in process and over HTTP, round by round, the sides alternating; and in
    process, the same texts in requests of 32 sorted by length (little padding)."""
    rounds = 3 if quick else 5
    calls = {1: 32, MAX_BATCH: 3} if quick else {1: 64, MAX_BATCH: 4}
    requests = {
        str(batch): [list(texts[offset : offset + batch]) for offset in range(0, batch * count, batch)]
        for batch, count in calls.items()
    }
    lengths = {text: len(ids) for text, ids in zip(texts, model.tokenizer(list(texts))["input_ids"], strict=True)}
    by_length = sorted((text for request in requests[str(MAX_BATCH)] for text in request), key=lengths.__getitem__)
    requests["32_sorted"] = [by_length[offset : offset + MAX_BATCH] for offset in range(0, len(by_length), MAX_BATCH)]
    samples: dict[str, list[dict[str, float]]] = {}

    def take(name: str, call: Callable[[Sequence[str]], object], key: str) -> None:
        batches = iter(requests[key])
        values = timed(lambda: call(next(batches)), len(requests[key]))
        count = sum(len(request) for request in requests[key])
        samples.setdefault(name, []).append(
            {"texts_per_s": count / (sum(values) / 1000), "p50_ms": percentile(sorted(values), 0.5)}
        )

    with httpx.Client(base_url=server.url, timeout=REQUEST_TIMEOUT_S) as http:

        def post(batch: Sequence[str]) -> None:
            answer = expect_ok(http.post("/classify", json={"texts": list(batch)}))
            if len(answer.json()["results"]) != len(batch):
                raise RuntimeError(f"POST /classify answered {len(answer.json()['results'])} results for {len(batch)}")

        def tokenise(batch: Sequence[str]) -> None:
            model.tokenizer(
                list(batch), padding=True, truncation=True, max_length=model.max_length, return_tensors="np"
            )

        for batch in BATCHES:  # warm: the first calls of a session and of a connection are slower
            for _ in range(3):
                model.classify(requests[str(batch)][0])
                post(requests[str(batch)][0])
        sides: dict[str, Callable[[Sequence[str]], object]] = {"in_process": model.classify, "http": post}
        for round_index in range(rounds):
            order = list(sides) if round_index % 2 == 0 else list(reversed(sides))
            for side in order:
                for batch in BATCHES:
                    take(f"{side}_{batch}", sides[side], str(batch))
            take("in_process_32_sorted", model.classify, "32_sorted")
            for batch in BATCHES:
                take(f"tokenise_{batch}", tokenise, str(batch))

    def figures(name: str) -> dict[str, Any]:
        runs = samples[name]
        return {
            "texts_per_s": median([r["texts_per_s"] for r in runs], 2),
            "p50_ms_per_request": median([r["p50_ms"] for r in runs]),
            "texts_per_s_by_round": [round(r["texts_per_s"], 2) for r in runs],
        }

    result: dict[str, Any] = {"rounds": rounds, "requests_per_round": {key: len(r) for key, r in requests.items()}}
    for side in sides:
        for batch in BATCHES:
            result[f"{side}_batch_{batch}"] = figures(f"{side}_{batch}")
        result[f"{side}_ratio_batch_32_over_1"] = round(
            result[f"{side}_batch_{MAX_BATCH}"]["texts_per_s"] / result[f"{side}_batch_1"]["texts_per_s"], 3
        )
    sorted_32 = requests["32_sorted"]
    result["in_process_batch_32_sorted_by_length"] = {
        **figures("in_process_32_sorted"),
        "padding_share": round(
            1
            - sum(lengths[t] for r in sorted_32 for t in r)
            / sum(len(r) * max(lengths[t] for t in r) for r in sorted_32),
            4,
        ),
    }
    result["in_process_ratio_batch_32_sorted_over_1"] = round(
        result["in_process_batch_32_sorted_by_length"]["texts_per_s"] / result["in_process_batch_1"]["texts_per_s"], 3
    )
    for batch in BATCHES:
        in_process = result[f"in_process_batch_{batch}"]["p50_ms_per_request"]
        http_p50 = result[f"http_batch_{batch}"]["p50_ms_per_request"]
        tokenise_p50 = median([r["p50_ms"] for r in samples[f"tokenise_{batch}"]])
        result[f"where_time_goes_batch_{batch}"] = {
            "tokenise_ms_per_request": tokenise_p50,
            "tokenise_share_of_in_process": round(tokenise_p50 / in_process, 4),
            "http_minus_in_process_ms_per_request": round(http_p50 - in_process, 3),
            "http_minus_in_process_share": round((http_p50 - in_process) / http_p50, 4),
        }
    result["http_over_in_process_batch_32"] = round(
        result[f"http_batch_{MAX_BATCH}"]["texts_per_s"] / result[f"in_process_batch_{MAX_BATCH}"]["texts_per_s"], 3
    )
    return result


def finbert_part(shape: ModelShape, known: Sequence[Company], quick: bool, scratch: Path) -> dict[str, Any]:
    directory = scratch / "finbert"
    build_s = build_model(shape, directory)
    texts = headlines(known, 256, SEED)
    with ExitStack() as stack:
        settings = {
            "FINBERT_MODEL_DIR": str(directory),
            "FINBERT_SERVER_HOST": HOST,
            "FINBERT_SERVER_BACKEND": "onnx",
            "FINBERT_SERVER_MAX_BATCH": str(MAX_BATCH),
            "FINBERT_SERVER_THREADS": str(THREADS),
        }
        server = start_server(stack, "finbert_server", "finbert_server", "FINBERT_SERVER_PORT", settings, scratch)
        model = FinbertModel(directory, backend="onnx", max_batch=MAX_BATCH, threads=THREADS)
        health = wait_ready(server, lambda body: body.get("status") == "ok")
        figures = classification(model, server, texts, quick)
        tokens = token_figures(model, texts)
    file_bytes = (directory / "model.onnx").stat().st_size
    shutil.rmtree(directory, ignore_errors=True)  # a BERT-base model is 440 MB
    return {
        "model": {
            **asdict(shape),
            "parameters": shape.parameters(),
            "file_bytes": file_bytes,
            "build_s": round(build_s, 2),
            "weights": "random (tests/finbert_factories.py), the graph as onnx.helper builds it",
            "served": {k: v for k, v in health.items() if k != "directory"},
        },
        "threads": THREADS,
        "texts": {"words_per_text": "10-40", "pool": len(texts), **tokens},
        **figures,
    }


# -- GET /api/sentiment ------------------------------------------------------------------------------------


def post_news(client: httpx.Client, known: Sequence[Company], count: int) -> dict[str, Any]:
    """``count`` items over the last ``NEWS_SPAN``, spread over ``known``, through POST /api/news."""
    rng = np.random.default_rng(SEED + 1)
    now = datetime.now(UTC)
    items = []
    for index in range(count):
        company = known[index % len(known)]
        published = now - NEWS_SPAN * float(rng.random())
        items.append(
            {
                "headline": headline(rng, company.name),
                "url": f"https://news.example/bench/{index}",
                "source": "bench",
                "published_at": published.isoformat(),
                "symbols": [company.symbol],
            }
        )
    stored = 0
    scorers: dict[str, int] = {}
    started = time.perf_counter()
    for first in range(0, count, NEWS_BATCH):
        answer = expect_ok(client.post("/api/news", json=items[first : first + NEWS_BATCH])).json()
        stored += answer["stored"]
        for item in answer["items"]:
            scorer = item["sentiment"]["scorer"] if item["sentiment"] else "duplicate"
            scorers[scorer] = scorers.get(scorer, 0) + 1
    elapsed = time.perf_counter() - started
    if stored != count or scorers != {"lexicon": count}:
        raise RuntimeError(f"of {count} items {stored} were stored; by scorer: {scorers}")
    return {
        "items": count,
        "per_symbol": round(count / len(known), 1),
        "published_over_minutes": NEWS_SPAN.total_seconds() / 60,
        "batch": NEWS_BATCH,
        "scored_by": "lexicon (FinBERT unreachable on purpose)",
        "ingest_items_per_s": round(count / elapsed, 1),
    }


def queries(servers: dict[str, Server], known: Sequence[Company], quick: bool) -> dict[str, Any]:
    """The same GETs against the cached and the uncached engine, round by round, the two alternating."""
    rounds = 3 if quick else 5
    per_round = 400 if quick else 1_000
    symbols = [company.symbol for company in known]
    latencies: dict[str, list[float]] = {name: [] for name in servers}
    by_round: dict[str, list[float]] = {name: [] for name in servers}
    items: dict[str, set[int]] = {name: set() for name in servers}
    with ExitStack() as stack:
        clients = {
            name: stack.enter_context(httpx.Client(base_url=server.url, timeout=REQUEST_TIMEOUT_S))
            for name, server in servers.items()
        }

        def run(name: str, count: int, offset: int) -> list[float]:
            client, expected = clients[name], name == "cached"
            cursor = iter(range(offset, offset + count))
            answers: list[dict[str, Any]] = []

            def get() -> None:
                symbol = symbols[next(cursor) % len(symbols)]
                answers.append(
                    expect_ok(client.get("/api/sentiment", params={"symbol": symbol, "window": WINDOW})).json()
                )

            values = timed(get, count)
            wrong = [a for a in answers if a["cached"] is not expected or a["items"] == 0]
            if wrong:
                raise RuntimeError(f"{len(wrong)} answers of the {name} engine were not as expected, first {wrong[0]}")
            items[name].update(a["items"] for a in answers)
            return values

        for symbol in symbols:  # the cached engine's cache: one pass
            expect_ok(clients["cached"].get("/api/sentiment", params={"symbol": symbol, "window": WINDOW}))
        for name in servers:  # warm: connections and code paths
            run(name, 2 * len(symbols), 0)
        for round_index in range(rounds):
            order = list(servers) if round_index % 2 == 0 else list(reversed(servers))
            for name in order:
                values = run(name, per_round, round_index * per_round)
                latencies[name] += values
                by_round[name].append(round(percentile(sorted(values), 0.5), 3))
    result: dict[str, Any] = {"rounds": rounds, "gets_per_round": per_round, "window": WINDOW}
    for name in servers:
        result[name] = {
            "cache_ttl_s": int(servers[name].settings["SENTIMENT_ENGINE_CACHE_TTL_S"]),
            **summarise(latencies[name]),
            "p50_ms_by_round": by_round[name],
            "items_per_answer": [min(items[name]), max(items[name])],
        }
    result["ratio_uncached_over_cached_p50"] = round(result["uncached"]["p50_ms"] / result["cached"]["p50_ms"], 2)
    result["ratio_uncached_over_cached_p99"] = round(result["uncached"]["p99_ms"] / result["cached"]["p99_ms"], 2)
    return result


def uncached_parts(database_url: str, known: Sequence[Company], quick: bool) -> dict[str, Any]:
    """One uncached query's parts, in this process: the service's call, the repository's read, a bare Core read,
    aggregating."""
    count = 120 if quick else 300
    symbols = [company.symbol for company in known]
    window = timedelta(hours=1)
    half_life = timedelta(minutes=30)
    engine = make_engine(database_url, pool_size=4, max_overflow=4)  # as sentiment_engine's app builds it
    sessions = make_session_factory(engine)
    scorer = NewsScorer(f"http://{HOST}:{free_port()}")
    service = SentimentService(
        engine=engine,
        scorer=scorer,
        matcher=SymbolMatcher(cash_instruments(), default_aliases()),
        half_life=half_life,
        cache_ttl_s=0,
    )
    columns = sa.select(
        NewsItemSymbol.published_at, NewsItem.sentiment_score, NewsItem.sentiment_certainty, NewsItem.sentiment_scorer
    ).join(NewsItem, NewsItem.id == NewsItemSymbol.news_item_id)
    cursor = [0]

    def next_symbol() -> str:
        cursor[0] += 1
        return symbols[cursor[0] % len(symbols)]

    def repository_read() -> None:
        end = datetime.now(UTC)
        with session_scope(sessions) as session:
            NewsRepository(session).scored_in_window(next_symbol(), end - window, end)

    def core_read() -> None:
        end = datetime.now(UTC)
        statement = columns.where(
            NewsItemSymbol.symbol == next_symbol(),
            NewsItemSymbol.published_at > end - window,
            NewsItemSymbol.published_at <= end,
            NewsItem.sentiment_score.is_not(None),
        ).order_by(NewsItemSymbol.published_at)
        with engine.connect() as connection:
            connection.execute(statement).all()

    end = datetime.now(UTC)
    with session_scope(sessions) as session:
        rows = [
            ScoredItem(published_at, score or 0.0, certainty or 0.0, scorer or "lexicon")
            for published_at, score, certainty, scorer in NewsRepository(session).scored_in_window(
                symbols[0], end - window, end
            )
        ]

    async def service_calls() -> list[float]:
        values = []
        try:
            for _ in range(count + 20):
                started = time.perf_counter()
                await service.sentiment(next_symbol(), window)
                values.append((time.perf_counter() - started) * 1000)
        finally:
            await scorer.close()
        return values[20:]  # the first warm the thread pool and the connections

    try:
        for call in (repository_read, core_read):
            timed(call, 20)
        with collector_paused():
            service_ms = runtime.run(service_calls())
        parts = {
            "service_sentiment_uncached": summarise(service_ms),
            "repository_read_window": summarise(timed(repository_read, count)),
            "core_read_same_rows": summarise(timed(core_read, count)),
            "aggregate": summarise(timed(lambda: aggregate(rows, now=end, window=window, half_life=half_life), count)),
        }
    finally:
        engine.dispose()
    return {"rows_per_query": len(rows), "calls": count, **parts}


def postgres_version(url: str) -> str:
    with psycopg.connect(url, autocommit=True) as connection:
        return str(connection.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]


def sentiment_part(known: Sequence[Company], news: int, quick: bool, scratch: Path) -> dict[str, Any]:
    with ExitStack() as stack:
        postgres = EmbeddedPostgres(scratch / "pg" / "data", free_port(), database="bench_sentiment")
        stack.callback(postgres.stop)
        database_url = postgres.start()
        upgrade(database_url)
        servers = {}
        for name, ttl in CACHE_TTL_S.items():
            settings = {
                "DATABASE_URL": database_url,
                "SENTIMENT_ENGINE_HOST": HOST,
                "SENTIMENT_ENGINE_FINBERT_URL": f"http://{HOST}:{free_port()}",  # nothing listens there
                "SENTIMENT_ENGINE_FINBERT_RETRY_S": "3600",  # one refused connection, then the word lists alone
                "SENTIMENT_ENGINE_CACHE_TTL_S": str(ttl),
            }
            servers[name] = start_server(
                stack, f"sentiment_engine_{name}", "sentiment_engine", "SENTIMENT_ENGINE_PORT", settings, scratch
            )
        for server in servers.values():
            wait_ready(server, lambda body: body.get("database") == "ok")
        with httpx.Client(base_url=servers["uncached"].url, timeout=REQUEST_TIMEOUT_S) as client:
            ingest = post_news(client, known, news)
        figures = queries(servers, known, quick)
        parts = uncached_parts(database_url, known, quick)
        version = postgres_version(postgres.admin_url())
    return {"postgres": version, "news": ingest, **figures, "uncached_in_process": parts}


# -- driver -----------------------------------------------------------------------------------------------


def environment() -> dict[str, Any]:
    versions = {}
    for package in ("transformers", "tokenizers", "onnx", "numpy", "fastapi", "uvicorn", "httpx", "sqlalchemy"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "onnxruntime": onnxruntime.__version__,
        **versions,
    }


def run(quick: bool, news: int, scratch: Path) -> dict[str, Any]:
    known = companies()
    shape = QUICK_SHAPE if quick else FULL_SHAPE
    started = time.perf_counter()
    finbert = finbert_part(shape, known, quick, scratch)
    finbert_s = time.perf_counter() - started
    sentiment = sentiment_part(known, news, quick, scratch)
    return {
        "benchmark": "sentiment",
        "quick": quick,
        "commit": measured_commit(
            ["finbert_server", "sentiment_engine", "tests/finbert_factories.py", "bench/sentiment.py"]
        ),
        "machine": environment(),
        "finbert": finbert,
        "sentiment_api": sentiment,
        "seconds": {
            "finbert": round(finbert_s, 1),
            "sentiment_api": round(time.perf_counter() - started - finbert_s, 1),
        },
    }


def print_report(result: dict[str, Any]) -> None:
    mode = "quick" if result["quick"] else "full"
    machine = result["machine"]
    finbert = result["finbert"]
    model = finbert["model"]
    print(
        f"sentiment benchmark ({mode}; {machine['cpus']} CPUs, onnxruntime {machine['onnxruntime']}, transformers "
        f"{machine['transformers']}, PostgreSQL {result['sentiment_api']['postgres']})"
    )
    print(
        f"FinBERT classification: {model['label']}: {model['layers']} layers, hidden {model['hidden']}, "
        f"{model['heads']} heads, intermediate {model['intermediate']}, vocabulary {model['vocab_size']:,}, "
        f"{model['parameters'] / 1e6:.1f} M parameters ({model['file_bytes'] / 1e6:.0f} MB, random weights); "
        f"{finbert['threads']} intra-op thread; medians of {finbert['rounds']} rounds"
    )
    texts = finbert["texts"]
    print(
        f"  headlines of {texts['words_per_text']} words: {texts['real_tokens_per_text']:.1f} tokens a text "
        f"({texts['unknown_token_share']:.0%} [UNK]: words the factory's small vocabulary lacks); in "
        f"requests of 32 padded to {texts['computed_tokens_per_text_batch_32']:.1f} "
        f"({texts['padding_share_batch_32']:.0%} padding)"
    )
    print(f"  {'':34}{'texts/s':>10}{'p50 ms/request':>16}{'by round (texts/s)':>36}")
    for side, label in (("in_process", "in process (FinbertModel.classify)"), ("http", "HTTP POST /classify")):
        for batch in BATCHES:
            row = finbert[f"{side}_batch_{batch}"]
            rounds = ", ".join(f"{x:,.1f}" for x in row["texts_per_s_by_round"])
            print(
                f"  {label if batch == 1 else '':34}{row['texts_per_s']:>10,.1f}{row['p50_ms_per_request']:>16,.2f}"
                f"   batch {batch:>2}: {rounds}"
            )
    ordered = finbert["in_process_batch_32_sorted_by_length"]
    rounds = ", ".join(f"{x:,.1f}" for x in ordered["texts_per_s_by_round"])
    print(
        f"  {'in process, 32 sorted by length':34}{ordered['texts_per_s']:>10,.1f}"
        f"{ordered['p50_ms_per_request']:>16,.2f}   batch 32: {rounds} ({ordered['padding_share']:.0%} padding)"
    )
    print(
        f"  batch-32 / batch-1 texts/s: in process {finbert['in_process_ratio_batch_32_over_1']:.2f} (sorted by "
        f"length {finbert['in_process_ratio_batch_32_sorted_over_1']:.2f}), over HTTP "
        f"{finbert['http_ratio_batch_32_over_1']:.2f}; HTTP / in process at batch 32: "
        f"{finbert['http_over_in_process_batch_32']:.3f}"
    )
    for batch in BATCHES:
        parts = finbert[f"where_time_goes_batch_{batch}"]
        print(
            f"  a request of {batch:>2}: tokenising {parts['tokenise_ms_per_request']:.2f} ms "
            f"({parts['tokenise_share_of_in_process']:.1%} of in process); HTTP - in process "
            f"{parts['http_minus_in_process_ms_per_request']:+.2f} ms ({parts['http_minus_in_process_share']:+.1%} "
            "of the HTTP request); the rest is the network in ONNX Runtime"
        )
    api = result["sentiment_api"]
    news = api["news"]
    print(
        f"GET /api/sentiment?window={api['window']}: {news['items']:,} items over the last "
        f"{news['published_over_minutes']:g} min ({news['per_symbol']:g} a symbol), posted in batches of "
        f"{news['batch']} at {news['ingest_items_per_s']:,.0f} items/s, scored by {news['scored_by']}"
    )
    print(f"  {'':40}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'GETs':>8}   p50 by round")
    for name, label in (("cached", "cached (CACHE_TTL_S=3600)"), ("uncached", "uncached (CACHE_TTL_S=0)")):
        row = api[name]
        print(
            f"  {label:40}{row['p50_ms']:>9.3f}{row['p99_ms']:>9.3f}{row['max_ms']:>9.3f}{row['count']:>8,}   "
            + ", ".join(f"{x:.3f}" for x in row["p50_ms_by_round"])
        )
    print(
        f"  uncached / cached: p50 {api['ratio_uncached_over_cached_p50']:.2f}x, p99 "
        f"{api['ratio_uncached_over_cached_p99']:.2f}x ({api['uncached']['items_per_answer'][0]}-"
        f"{api['uncached']['items_per_answer'][1]} items a window)"
    )
    parts = api["uncached_in_process"]
    print(
        f"  an uncached query in this process ({parts['rows_per_query']} rows), p50 ms: "
        f"SentimentService.sentiment {parts['service_sentiment_uncached']['p50_ms']:.3f} = repository read "
        f"{parts['repository_read_window']['p50_ms']:.3f} (the same statement on a bare Core connection: "
        f"{parts['core_read_same_rows']['p50_ms']:.3f}) + aggregate {parts['aggregate']['p50_ms']:.3f} + the rest; "
        f"HTTP adds {api['uncached']['p50_ms'] - parts['service_sentiment_uncached']['p50_ms']:.3f}"
    )
    print(f"  took {result['seconds']['finbert']:g} s (FinBERT) + {result['seconds']['sentiment_api']:g} s (sentiment)")


def main() -> None:
    configure("bench", "WARNING")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smaller model, fewer calls and rounds (under a minute)")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("--news", type=int, default=NEWS_ITEMS, help=f"news items in the database ({NEWS_ITEMS:,})")
    args = parser.parse_args()
    if not 100 <= args.news <= 100_000:
        parser.error(f"--news must be between 100 and 100,000, was {args.news}")
    # A SIGTERM unwinds like Ctrl-C does, so the servers are stopped and the scratch removed on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    scratch = Path(tempfile.mkdtemp(prefix="aitrader-bench-sentiment-"))
    try:
        result = run(args.quick, args.news, scratch)
    except BaseException:
        for log in sorted(scratch.glob("*.log")):
            print(f"--- {log.name} (last lines) ---\n{log.read_text(errors='replace')[-2000:]}", file=sys.stderr)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)  # the model and PostgreSQL's data: hundreds of MB
    print_report(result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
