"""The `aitrader` commands that work on a running stack's servers, run as a person runs them: as a subprocess
pointed at real Redis and PostgreSQL through REDIS_URL / DATABASE_URL."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
import redis

from aitrader.contracts import TICKS, Tick, decode, stream_key
from aitrader.db.migrations import head
from tests.factories import LocalStack, make_local_stack

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def stack(tmp_path: Path, redis_url: str, stream_prefix: str) -> LocalStack:
    """No stack is started: the commands find Redis through REDIS_URL."""
    return make_local_stack(tmp_path, REDIS_URL=redis_url, AITRADER_STREAM_PREFIX=stream_prefix)


def _tail(stack: LocalStack, stream: str) -> list[dict[str, Any]]:
    result = stack.aitrader("tail", stream, "--no-follow", "-n", "100")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_published_tick_is_stored_as_msgpack_and_tailed_decoded(stack: LocalStack, redis_url: str):
    document = {"ts_ns": 1763710200000000000, "symbol": "INFY", "ltp": 1523.45, "ltq": 5}

    published = stack.aitrader("publish", "ticks", json.dumps(document))

    assert published.returncode == 0, published.stderr
    entry_id = published.stdout.strip()
    client = redis.Redis.from_url(redis_url)
    try:
        [(stored_id, fields)] = client.xrange(stream_key(TICKS, stack.env["AITRADER_STREAM_PREFIX"]))
    finally:
        client.close()
    assert stored_id.decode() == entry_id and set(fields) == {b"d"}
    assert decode(fields[b"d"], Tick) == Tick(ts_ns=document["ts_ns"], symbol="INFY", ltp=1523.45, ltq=5)
    [line] = _tail(stack, "ticks")
    assert line["id"] == entry_id
    assert line["message"]["msg"] == "tick" and line["message"]["symbol"] == "INFY"
    assert line["message"]["ltp"] == 1523.45 and line["message"]["v"] == 1


def test_invalid_message_is_refused_with_the_field_and_nothing_is_appended(stack: LocalStack):
    result = stack.aitrader("publish", "ticks", '{"ts_ns": -1, "symbol": "INFY"}')

    assert result.returncode == 2
    assert "not a valid message for stream 'ticks'" in result.stderr and "$.ts_ns" in result.stderr
    assert _tail(stack, "ticks") == []


def test_raw_json_that_is_not_a_tick_is_tailed_as_undecodable(stack: LocalStack):
    result = stack.aitrader("publish", "--raw", "ticks", '{"symbol": 42}')

    assert result.returncode == 0, result.stderr
    [line] = _tail(stack, "ticks")
    assert "message" not in line and "symbol" in line["undecodable"]


def test_demo_pushes_a_tick_through_a_consumer_group_and_reports_it_intact(stack: LocalStack, tmp_path: Path):
    report = tmp_path / "demo.json"

    result = stack.aitrader("demo", "--report", str(report))

    assert result.returncode == 0, result.stderr
    assert "intact" in result.stdout
    outcome = json.loads(report.read_text())
    assert outcome["intact"] is True and outcome["round_trip_us"] > 0
    assert outcome["stream"] == stream_key("demo", stack.env["AITRADER_STREAM_PREFIX"])
    assert _tail(stack, "ticks") == [] and _tail(stack, "demo") == []  # its own stream, removed after


def test_bus_commands_without_redis_url_or_stack_say_how_to_get_one(stack: LocalStack):
    result = stack.aitrader("publish", "ticks", '{"ts_ns": 1, "symbol": "INFY"}', REDIS_URL="")

    assert result.returncode == 1
    assert "REDIS_URL is not set and no stack is running" in result.stderr


def test_migrate_brings_a_new_database_to_head(stack: LocalStack, empty_database_url: str):
    result = stack.aitrader("migrate", DATABASE_URL=empty_database_url)

    assert result.returncode == 0, result.stderr
    assert f"is at revision {head()} (head {head()})" in result.stdout


def test_migrate_against_an_unreachable_database_names_it_without_the_password(stack: LocalStack):
    url = "postgresql://trader:s3cret@127.0.0.1:1/aitrader"

    result = stack.aitrader("migrate", DATABASE_URL=url)

    assert result.returncode == 1
    assert "127.0.0.1:1" in result.stderr and "s3cret" not in result.stderr


def test_run_migrations_fallback_migrates_a_sqlite_file_to_head(stack: LocalStack, tmp_path: Path):
    home = tmp_path / "fallback-home"

    result = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "run_migrations.sh"), "--fallback"],
        env={**stack.env, "AITRADER_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    with sqlite3.connect(home / "fallback.db") as connection:
        [(revision,)] = connection.execute("SELECT version_num FROM alembic_version").fetchall()
        tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert revision == head()
    assert {"jobs", "orders", "trades", "executions", "audit_log", "risk_limits", "bars"} <= tables


def test_data_sample_writes_a_deterministic_labelled_day(stack: LocalStack, tmp_path: Path):
    first = stack.aitrader("data", "sample", "--dir", str(tmp_path / "a"), "--ticks", "20000", "--seed", "3")
    second = stack.aitrader("data", "sample", "--dir", str(tmp_path / "b"), "--ticks", "20000", "--seed", "3")

    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    assert "wrote 20,000 ticks of 13 instruments" in first.stdout
    for name in ("ticks.parquet", "labels.parquet", "instruments.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
