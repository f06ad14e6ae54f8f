"""Run the real `aitrader` CLI in a private home, on free ports, with no DATABASE_URL / REDIS_URL inherited."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from aitrader.devstack.ports import free_port

AITRADER = Path(sys.executable).with_name("aitrader")
_INHERITED_PREFIXES = ("AITRADER_", "BACKEND_", "DATABASE_URL", "REDIS_URL", "LOG_LEVEL")


@dataclass
class Stack:
    """A stack home in a temporary directory and the environment that points the CLI at it."""

    cwd: Path
    home: Path
    env: dict[str, str]

    def aitrader(self, *args: str, timeout: float = 90, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(AITRADER), *args],
            cwd=self.cwd,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def processes(self) -> list[psutil.Process]:
        """Every process whose command line mentions this stack's home."""
        found = []
        for process in psutil.process_iter(["cmdline"]):
            cmdline = " ".join(process.info.get("cmdline") or [])
            if str(self.home) in cmdline and process.pid != os.getpid():
                found.append(process)
        return found


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(_INHERITED_PREFIXES)}
    env.update(
        AITRADER_HOME=str(home),
        AITRADER_PG_PORT=str(free_port()),
        AITRADER_REDIS_PORT=str(free_port()),
        BACKEND_PORT=str(free_port()),
        AITRADER_RESTART_BACKOFF_INITIAL_S="0.2",
        AITRADER_STOP_GRACE_S="5",
        AITRADER_HEALTH_TIMEOUT_S="30",
        AITRADER_STARTUP_TIMEOUT_S="90",
    )
    stack = Stack(cwd=tmp_path, home=home, env=env)
    try:
        yield stack
    finally:
        stack.aitrader("down", timeout=120)
