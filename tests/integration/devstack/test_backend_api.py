"""The backend's operational routes against a real PostgreSQL and Redis (the session's embedded servers)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import redis
import uvicorn
from fastapi import FastAPI

from aitrader.contracts.streams import ALL_STREAMS
from aitrader.db.migrations import head
from aitrader.devstack.ports import free_port
from aitrader.settings import load_settings
from backend.app import create_app
from backend.settings import BackendSettings


@contextmanager
def _serve(app: FastAPI) -> Iterator[httpx.Client]:
    """Serve ``app`` with uvicorn on a loopback port in a thread, lifespan included; yield a client for it."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, loop="asyncio", ws="none", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for _ in range(200):
                if server.started:
                    break
                threading.Event().wait(0.05)
            assert server.started, "uvicorn did not start"
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _client(database_url: str, redis_url: str, stream_prefix: str = "", app: FastAPI | None = None):
    settings = load_settings(
        BackendSettings, DATABASE_URL=database_url, REDIS_URL=redis_url, AITRADER_STREAM_PREFIX=stream_prefix
    )
    return _serve(app or create_app(settings))


@pytest.fixture
def app(database_url: str, redis_url: str, stream_prefix: str) -> FastAPI:
    settings = load_settings(
        BackendSettings, DATABASE_URL=database_url, REDIS_URL=redis_url, AITRADER_STREAM_PREFIX=stream_prefix
    )
    return create_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[httpx.Client]:
    with _serve(app) as client:
        yield client


def test_health_is_ok(client: httpx.Client):
    response = client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_status_reports_revision_at_head_and_stream_lengths(client: httpx.Client, redis_url: str, stream_prefix: str):
    with redis.Redis.from_url(redis_url) as r:
        r.xadd(f"{stream_prefix}ticks", {"j": "{}"})
        r.xadd(f"{stream_prefix}ticks", {"j": "{}"})

    response = client.get("/status")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok" and body["reason"] is None
    assert body["database"] == {
        "reachable": True,
        "revision": head(),
        "head": head(),
        "up_to_date": True,
        "error": None,
    }
    assert body["redis"]["reachable"] is True and body["redis"]["version"]
    streams = {s["name"]: s for s in body["redis"]["streams"]}
    assert list(streams) == list(ALL_STREAMS)
    assert streams["ticks"] == {"name": "ticks", "key": f"{stream_prefix}ticks", "length": 2}
    assert streams["fills"]["length"] == 0


def test_status_is_503_when_redis_is_down(database_url: str):
    with _client(database_url, f"redis://127.0.0.1:{free_port()}/0") as client:
        response = client.get("/status")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["reason"].startswith("redis unreachable: ")
    assert body["database"]["reachable"] is True


def test_status_is_503_when_the_database_is_down(redis_url: str):
    with _client(f"postgresql://nobody@127.0.0.1:{free_port()}/x", redis_url) as client:
        response = client.get("/status")

    assert response.status_code == 503
    body = response.json()
    assert body["reason"].startswith("database unreachable: ")
    assert body["redis"]["reachable"] is True


def test_status_is_503_when_the_database_is_not_migrated(empty_database_url: str, redis_url: str):
    with _client(empty_database_url, redis_url) as client:
        response = client.get("/status")

    assert response.status_code == 503
    body = response.json()
    assert body["database"]["revision"] is None and body["database"]["up_to_date"] is False
    assert "run `aitrader migrate`" in body["reason"]


def test_metrics_are_prometheus_text(client: httpx.Client):
    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE " in response.text


def test_unhandled_error_is_a_bare_500_with_the_request_id(app: FastAPI):
    def explode() -> None:
        raise RuntimeError("secret internals")

    app.add_api_route("/explode", explode)

    with _serve(app) as client:
        response = client.get("/explode", headers={"X-Request-ID": "req-42"})

    assert response.status_code == 500
    assert response.json() == {"detail": "internal error", "request_id": "req-42"}
    assert "secret internals" not in response.text
    assert response.headers["x-request-id"] == "req-42"


def test_every_response_carries_a_request_id(client: httpx.Client):
    first = client.get("/health").headers["x-request-id"]
    second = client.get("/health").headers["x-request-id"]

    assert first and second and first != second


def test_unknown_route_is_404_json(client: httpx.Client):
    response = client.get("/nope")

    assert response.status_code == 404
    body = response.json()
    assert (body["detail"], body["code"]) == ("no route GET /nope", "HTTP_404")
    assert body["request_id"] == response.headers["x-request-id"]
