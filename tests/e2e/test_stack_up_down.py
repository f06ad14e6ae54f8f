"""The whole local stack through the real CLI: up, healthy, a killed service comes back, down leaves nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from aitrader.db.migrations import head
from aitrader.devstack.ports import free_port

AITRADER = Path(sys.executable).with_name("aitrader")
_INHERITED_PREFIXES = ("AITRADER_", "BACKEND_", "DATABASE_URL", "REDIS_URL", "LOG_LEVEL")

pytestmark = pytest.mark.slow


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_INHERITED_PREFIXES)}
    env.update(
        AITRADER_HOME=str(home),
        AITRADER_PG_PORT=str(free_port()),
        AITRADER_REDIS_PORT=str(free_port()),
        BACKEND_PORT=str(free_port()),
        AITRADER_RESTART_BACKOFF_INITIAL_S="0.2",
        AITRADER_STOP_GRACE_S="5",
    )
    return env


def _aitrader(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(AITRADER), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=100)


def _status(cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    result = _aitrader(cwd, env, "status", "--json")
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


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info.get("cmdline") or [])
        if text in cmdline and process.pid != os.getpid():
            found.append(f"{process.pid}: {cmdline}")
    return found


def test_stack_comes_up_restarts_a_killed_service_and_goes_down_cleanly(tmp_path: Path):
    home = tmp_path / "home"
    env = _env(home)
    try:
        up = _aitrader(tmp_path, env, "up")

        assert up.returncode == 0, up.stdout + up.stderr
        status = _status(tmp_path, env)
        assert status["exit_code"] == 0 and status["running"] and status["healthy"]
        assert {c["name"]: c["status"] for c in status["components"]} == {
            "postgres": "healthy",
            "redis": "healthy",
            "backend": "healthy",
        }
        assert all(c["embedded"] for c in status["components"] if c["kind"] != "service")
        backend_url = f"http://127.0.0.1:{env['BACKEND_PORT']}"
        readiness = httpx.get(f"{backend_url}/status", timeout=10)
        assert readiness.status_code == 200, readiness.text
        assert readiness.json()["database"]["revision"] == head()
        recorded = _recorded_pids(status)

        # A service that dies is restarted, and the restart is counted.
        first_backend = _component(status, "backend")["pid"]
        os.kill(first_backend, signal.SIGKILL)

        def restarted_and_healthy() -> bool:
            backend = _component(_status(tmp_path, env), "backend")
            return backend["restarts"] == 1 and backend["status"] == "healthy" and backend["pid"] != first_backend

        _wait_for(restarted_and_healthy, 60, "the backend to be restarted and healthy")
        status = _status(tmp_path, env)
        assert status["exit_code"] == 0
        assert _component(status, "backend")["last_error"] == "killed by SIGKILL"
        assert httpx.get(f"{backend_url}/health", timeout=10).json() == {"status": "ok"}
        recorded |= _recorded_pids(status)

        again = _aitrader(tmp_path, env, "up")
        assert again.returncode == 0 and "already running" in again.stdout

        down = _aitrader(tmp_path, env, "down")

        assert down.returncode == 0, down.stdout + down.stderr
        assert [pid for pid in recorded if psutil.pid_exists(pid) and _is_live(pid)] == []
        assert _processes_mentioning(str(home)) == []
        assert _status(tmp_path, env)["running"] is False
        assert _aitrader(tmp_path, env, "down").stdout.strip() == "stack is not running"
    finally:
        _aitrader(tmp_path, env, "down")


def _is_live(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
