"""mock_mcp served by uvicorn on a loopback port, with a clock the test moves and prices the test sets."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from kiteconnect import KiteConnect

from aitrader.contracts.messages import Depth, Level, Tick
from aitrader.devstack.ports import free_port
from aitrader.marketdata.schema import IST
from mock_mcp.app import create_app
from mock_mcp.settings import MockMcpSettings

API_KEY, API_SECRET = "test_key", "test_secret"
MONDAY_11AM = datetime(2025, 11, 24, 11, 0, tzinfo=IST)


class Clock:
    """IST wall time that stands still until the test moves it."""

    def __init__(self, now: datetime = MONDAY_11AM) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Mock:
    def __init__(self, root: str, settings: MockMcpSettings, app: FastAPI, clock: Clock) -> None:
        self.root = root
        self.settings = settings
        self.app = app
        self.clock = clock

    def client(self, access_token: str | None = None) -> KiteConnect:
        kite = KiteConnect(API_KEY, access_token=access_token, root=self.root, timeout=5)
        kite._default_login_uri = f"{self.root}/connect/login"  # login_url() ignores root (notes §0.2)
        return kite

    def request_token(self) -> str:
        response = httpx.get(f"{self.root}/connect/login", params={"api_key": API_KEY, "v": "3"})
        assert response.status_code == 302, response.text
        query = dict(httpx.URL(response.headers["location"]).params)
        assert query["status"] == "success"
        return query["request_token"]

    def logged_in(self) -> KiteConnect:
        kite = self.client()
        kite.generate_session(self.request_token(), api_secret=API_SECRET)
        return kite

    def set_price(
        self, symbol: str, price: float, *, exchange: str = "NSE", tick: float = 0.05, depth: int = 1_000
    ) -> None:
        """Quote ``symbol`` at ``price`` from now on: a live tick, best bid and ask one tick either side,
        ``depth`` units on each of five levels."""
        bids = tuple(Level(round(price - tick * (n + 1), 2), depth, 5) for n in range(5))
        asks = tuple(Level(round(price + tick * (n + 1), 2), depth, 5) for n in range(5))
        tick_message = Tick(
            ts_ns=time.time_ns(), symbol=symbol, venue=exchange, ltp=price, ltq=1, volume=1_000,
            bid=bids[0].price, ask=asks[0].price, depth=Depth(bids=bids, asks=asks),
        )  # fmt: skip
        self.app.state.live_quotes.observe(tick_message)

    def sweep(self) -> None:
        self.app.state.account.sweep()


def serve(settings: MockMcpSettings, clock: Clock, port: int | None = None) -> Iterator[tuple[str, FastAPI]]:
    port = port or free_port()
    app = create_app(settings, clock=clock)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None)  # leave logging be
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "mock_mcp did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def running(settings: MockMcpSettings, clock: Clock | None = None, port: int | None = None) -> Iterator[Mock]:
    """The mock served for the ``with`` block."""
    clock = clock or Clock()
    for root, app in serve(settings, clock, port):
        yield Mock(root, settings, app, clock)


def mock_settings(state: Path, **overrides: Any) -> MockMcpSettings:
    values: dict[str, Any] = {
        "api_key": API_KEY,
        "api_secret": API_SECRET,
        "state_path": state / "state.json",
        "redirect_url": "http://127.0.0.1:1/callback",
        "opening_cash": 500_000.0,
        "live_quotes": False,
    }
    values.update(overrides)
    return MockMcpSettings(**values)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def mock(tmp_path: Path, clock: Clock) -> Iterator[Mock]:
    settings = mock_settings(tmp_path)
    for root, app in serve(settings, clock):
        yield Mock(root, settings, app, clock)
