"""tick_replay and book_builder as real processes on loopback, against the session's Redis and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from aitrader.devstack.ports import free_port

OPEN_NS = 1_763_696_700_000_000_000  # 2025-11-21 09:15:00 IST


@dataclass
class Service:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)


@contextmanager
def run_service(module: str, env: dict[str, str], log: Path) -> Iterator[Service]:
    """Start ``python -m module`` and wait until /health answers; stop it (SIGTERM) afterwards."""
    port_variable = f"{module.upper()}_PORT"
    port = free_port()
    environment = {**os.environ, **env, port_variable: str(port), "PYTHONUNBUFFERED": "1"}
    with log.open("ab") as output:
        process = subprocess.Popen([sys.executable, "-m", module], env=environment, stdout=output, stderr=output)
    service = Service(url=f"http://127.0.0.1:{port}", process=process, log=log)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, f"{module} exited: {log.read_text()[-3000:]}"
            try:
                if httpx.get(f"{service.url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"{module} not healthy: {log.read_text()[-3000:]}"
            time.sleep(0.1)
        yield service
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def write_tick_file(path: Path, ticks: int, symbols: int = 5, seconds: int = 300, seed: int = 1) -> pa.Table:
    """A Parquet tick file in the documented layout: per-symbol random walks with cumulative volume."""
    rng = np.random.default_rng(seed)
    names = np.array([f"SYM{i}" for i in range(symbols)])
    symbol = names[rng.integers(0, symbols, ticks)]
    ts = OPEN_NS + np.sort(rng.integers(0, seconds * 1_000_000_000, ticks))
    ltq = rng.integers(1, 100, ticks)
    ltp = np.empty(ticks)
    volume = np.empty(ticks, dtype=np.int64)
    for i, name in enumerate(names):
        rows = symbol == name
        steps = rng.choice([-0.05, 0.0, 0.05], rows.sum())
        ltp[rows] = np.round((100.0 * (i + 1) + np.cumsum(steps)) * 20) / 20
        volume[rows] = np.cumsum(ltq[rows])
    table = pa.table(
        {
            "timestamp": pa.array(ts, pa.int64()),
            "symbol": symbol,
            "ltp": ltp,
            "ltq": ltq,
            "volume": volume,
            "bid": ltp - 0.05,
            "ask": ltp + 0.05,
            "bid_qty": rng.integers(1, 500, ticks),
            "ask_qty": rng.integers(1, 500, ticks),
        }
    )
    pq.write_table(table, path)
    return table


@pytest.fixture
def stack_env(redis_url: str, database_url: str, stream_prefix: str, tmp_path: Path) -> dict[str, str]:
    return {
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "AITRADER_STREAM_PREFIX": stream_prefix,
        "TICK_REPLAY_DATA_ROOT": str(tmp_path),
        "LOG_LEVEL": "INFO",
        "AITRADER_BUS_BLOCK_MS": "100",
    }
