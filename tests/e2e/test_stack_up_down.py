"""The whole local stack through the real CLI: up, healthy, a killed service comes back, down leaves nothing."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from aitrader.db.migrations import head
from tests.factories import LocalStack, make_local_stack

pytestmark = pytest.mark.slow


def _status(stack: LocalStack) -> dict[str, Any]:
    result = stack.aitrader("status", "--json")
    document: dict[str, Any] = json.loads(result.stdout)
    document["exit_code"] = result.returncode
    return document


def _component(status: dict[str, Any], name: str) -> dict[str, Any]:
    component: dict[str, Any] = next(c for c in status["components"] if c["name"] == name)
    return component


def _wait_for(predicate: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _recorded_pids(status: dict[str, Any]) -> set[int]:
    pids = {status["supervisor"]["pid"]} | {c["pid"] for c in status["components"] if c["pid"]}
    postmaster = _component(status, "postgres")["pid"]
    pids |= {child.pid for child in psutil.Process(postmaster).children(recursive=True)}
    return pids


def test_stack_comes_up_restarts_a_killed_service_and_goes_down_cleanly(tmp_path: Path):
    stack = make_local_stack(tmp_path)
    try:
        up = stack.aitrader("up")

        assert up.returncode == 0, up.stdout + up.stderr
        status = _status(stack)
        assert status["exit_code"] == 0 and status["running"] and status["healthy"]
        assert {c["name"]: c["status"] for c in status["components"]} == {
            "postgres": "healthy",
            "redis": "healthy",
            "backend": "healthy",
            "book_builder": "healthy",
            "execution": "healthy",
            "finbert_server": "healthy",
            "mock_mcp": "healthy",
            "onnx_runner": "healthy",
            "pattern_engine": "healthy",
            "sentiment_engine": "healthy",
            "tick_replay": "healthy",
        }
        assert all(c["embedded"] for c in status["components"] if c["kind"] != "service")
        backend_url = f"http://127.0.0.1:{stack.env['BACKEND_PORT']}"
        readiness = httpx.get(f"{backend_url}/status", timeout=10)
        assert readiness.status_code == 200, readiness.text
        assert readiness.json()["database"]["revision"] == head()
        recorded = _recorded_pids(status)

        # A service that dies is restarted, and the restart is counted.
        first_backend = _component(status, "backend")["pid"]
        os.kill(first_backend, signal.SIGKILL)

        def restarted_and_healthy() -> bool:
            backend = _component(_status(stack), "backend")
            return backend["restarts"] == 1 and backend["status"] == "healthy" and backend["pid"] != first_backend

        _wait_for(restarted_and_healthy, 60, "the backend to be restarted and healthy")
        status = _status(stack)
        assert status["exit_code"] == 0
        assert _component(status, "backend")["last_error"] == "killed by SIGKILL"
        assert httpx.get(f"{backend_url}/health", timeout=10).json() == {"status": "ok"}
        recorded |= _recorded_pids(status)

        again = stack.aitrader("up")
        assert again.returncode == 0 and "already running" in again.stdout

        down = stack.aitrader("down")

        assert down.returncode == 0, down.stdout + down.stderr
        assert [pid for pid in recorded if psutil.pid_exists(pid) and _is_live(pid)] == []
        assert stack.processes() == []
        assert _status(stack)["running"] is False
        assert stack.aitrader("down").stdout.strip() == "stack is not running"
    finally:
        stack.aitrader("down")


def _is_live(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_killed_embedded_redis_is_restarted_and_keeps_its_streams(tmp_path: Path):
    stack = make_local_stack(tmp_path)
    try:
        assert stack.aitrader("up", "--infra-only").returncode == 0
        # No REDIS_URL: the bus commands find the running stack's Redis themselves.
        published = stack.aitrader("publish", "ticks", '{"ts_ns": 1, "symbol": "INFY", "ltp": 1500.5}')
        assert published.returncode == 0, published.stderr
        first_redis = _component(_status(stack), "redis")["pid"]

        os.kill(first_redis, signal.SIGKILL)

        def restarted() -> bool:
            redis = _component(_status(stack), "redis")
            return redis["status"] == "healthy" and redis["restarts"] == 1 and redis["pid"] not in (None, first_redis)

        _wait_for(restarted, 60, "the embedded Redis to be restarted")
        tail = stack.aitrader("tail", "ticks", "--no-follow")
        assert tail.returncode == 0, tail.stderr
        assert [json.loads(line)["id"] for line in tail.stdout.splitlines()] == [published.stdout.strip()]
    finally:
        stack.aitrader("down")
    assert stack.processes() == []


def test_after_the_supervisor_is_killed_outright_up_and_down_clean_up_what_it_left(tmp_path: Path):
    stack = make_local_stack(tmp_path)
    try:
        assert stack.aitrader("up").returncode == 0
        status = _status(stack)
        left_behind = _recorded_pids(status) - {status["supervisor"]["pid"]}

        os.kill(status["supervisor"]["pid"], signal.SIGKILL)

        _wait_for(lambda: not _status(stack)["running"], 30, "the stack to be seen as not running")
        # The services die with their supervisor; the embedded servers are daemons and outlive it.
        _wait_for(lambda: not _is_live(_component(status, "backend")["pid"]), 30, "the backend to exit")
        assert any(_is_live(pid) for pid in left_behind)

        up = stack.aitrader("up")

        assert up.returncode == 0, up.stdout + up.stderr
        assert "leftover process" in up.stdout
        assert [pid for pid in left_behind if _is_live(pid)] == []
        assert _status(stack)["healthy"] is True

        os.kill(_status(stack)["supervisor"]["pid"], signal.SIGKILL)
        down = stack.aitrader("down")

        assert down.returncode == 0, down.stdout + down.stderr
        assert stack.processes() == []
    finally:
        stack.aitrader("down")
