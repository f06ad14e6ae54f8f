"""`aitrader up` fails fast, names the variable to change, and leaves nothing running."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
import redis

from aitrader.devstack.ports import free_port
from aitrader.devstack.stack import stack_urls
from aitrader.devstack.state import read_state
from tests.factories import LocalStack


@contextmanager
def _listening(port: int) -> Iterator[None]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        yield


def _assert_nothing_left(stack: LocalStack) -> None:
    assert stack.processes() == []
    state = read_state(stack.home / "state.json")
    assert state is not None and not state.running()
    assert all(component.process is None for component in state.components())


@pytest.mark.parametrize("variable", ["BACKEND_PORT", "AITRADER_REDIS_PORT", "AITRADER_PG_PORT"])
def test_port_in_use_is_reported_with_its_variable(stack: LocalStack, variable: str):
    port = int(stack.env[variable])

    with _listening(port):
        result = stack.aitrader("up")

    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use (set by {variable})" in result.stderr
    _assert_nothing_left(stack)


def test_unreachable_database_url_is_reported_without_its_password(stack: LocalStack):
    url = f"postgresql://nobody:s3cret@127.0.0.1:{free_port()}/x"

    result = stack.aitrader("up", DATABASE_URL=url)

    assert result.returncode == 1
    assert "DATABASE_URL: cannot connect to postgresql://nobody:***@127.0.0.1:" in result.stderr
    assert "s3cret" not in result.stdout + result.stderr
    assert "s3cret" not in (stack.home / "logs" / "supervisor.log").read_text()
    _assert_nothing_left(stack)


def test_unreachable_redis_url_is_reported(stack: LocalStack):
    url = f"redis://127.0.0.1:{free_port()}/0"

    result = stack.aitrader("up", REDIS_URL=url)

    assert result.returncode == 1
    assert f"REDIS_URL: cannot connect to {url}" in result.stderr
    _assert_nothing_left(stack)


@pytest.mark.parametrize(
    ("variable", "value"),
    [("DATABASE_URL", "mysql://root:pw@127.0.0.1/x"), ("REDIS_URL", "http://127.0.0.1:6379")],
)
def test_invalid_url_is_reported_naming_the_variable(stack: LocalStack, variable: str, value: str):
    result = stack.aitrader("up", **{variable: value})

    assert result.returncode == 1
    assert f"{variable}:" in result.stderr
    assert ":pw@" not in result.stderr
    assert stack.processes() == []


def test_unknown_service_is_reported_with_the_known_ones(stack: LocalStack):
    result = stack.aitrader("up", "nope")

    assert result.returncode == 1
    known = (
        "backend, book_builder, execution, finbert_server, mock_mcp, onnx_runner, pattern_engine, sentiment_engine, "
        "tensorrt_runner, tick_replay"
    )
    assert f"unknown service 'nope', known services: {known}" in result.stderr
    assert stack.processes() == []


def test_optional_services_are_added_with_with_not_mixed_with_a_named_set(stack: LocalStack):
    mixed = stack.aitrader("up", "backend", "--with", "tensorrt_runner")
    unknown = stack.aitrader("up", "--with", "nope")

    assert mixed.returncode == 1 and "not both" in mixed.stderr
    assert unknown.returncode == 1 and "unknown service 'nope'" in unknown.stderr
    assert stack.processes() == []


def test_down_and_status_when_nothing_was_started(stack: LocalStack):
    down = stack.aitrader("down")
    status = stack.aitrader("status", "--json")

    assert (down.returncode, down.stdout.strip()) == (0, "stack is not running")
    assert status.returncode == 1
    assert json.loads(status.stdout)["running"] is False


@pytest.mark.slow
def test_infra_only_stack_on_external_servers_leaves_them_running(
    stack: LocalStack, empty_database_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
):
    external = {"DATABASE_URL": empty_database_url, "REDIS_URL": redis_url}

    up = stack.aitrader("up", "--infra-only", **external)

    assert up.returncode == 0, up.stderr
    status = json.loads(stack.aitrader("status", "--json").stdout)
    assert status["healthy"] is True
    assert [(c["name"], c["embedded"], c["status"]) for c in status["components"]] == [
        ("postgres", False, "healthy"),
        ("redis", False, "healthy"),
    ]
    for name in ("DATABASE_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(stack.cwd)
    assert stack_urls(stack.home) == (empty_database_url, redis_url)
    assert "alembic_version" in _tables(empty_database_url)
    logs = stack.aitrader("logs", "supervisor", "-n", "3")
    assert logs.returncode == 0 and len(logs.stdout.splitlines()) == 3

    down = stack.aitrader("down")

    assert down.returncode == 0, down.stderr
    assert stack_urls(stack.home) == (None, None)
    with psycopg.connect(empty_database_url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    with redis.Redis.from_url(redis_url) as client:
        assert client.ping()
    _assert_nothing_left(stack)


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {row[0] for row in rows}
