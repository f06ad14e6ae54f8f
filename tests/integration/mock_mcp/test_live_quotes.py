"""Quotes from the live bus: a tick or book update on the stack's streams is what the account quotes and fills
at; a message it cannot read is skipped; an instrument the feed has gone quiet on falls back to the model."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import redis

from aitrader.contracts import codec
from aitrader.contracts.messages import BookUpdate, Level, Tick
from tests.integration.mock_mcp.conftest import mock_settings, running


def _until(condition: Callable[[], Any], what: str, *, publish: Callable[[], None] | None = None) -> Any:
    """Wait for ``condition()`` to be truthy, re-publishing meanwhile (the mock reads from the newest entry on,
    so an entry sent before its first read is not seen)."""
    deadline = time.monotonic() + 5
    while True:
        if publish is not None:
            publish()
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_ticks_and_book_updates_on_the_bus_become_the_quotes(tmp_path: Path, redis_url: str, stream_prefix: str):
    overrides = {"REDIS_URL": redis_url, "AITRADER_STREAM_PREFIX": stream_prefix, "AITRADER_BUS_BLOCK_MS": 100}
    settings = mock_settings(tmp_path, live_quotes=True, **overrides)
    tick = Tick(ts_ns=time.time_ns(), symbol="INFY", venue="NSE", ltp=1234.5, ltq=7, volume=9_000, bid=1234.45,
                ask=1234.55, bid_qty=300, ask_qty=200)  # fmt: skip
    book = BookUpdate(ts_ns=time.time_ns(), tick_ts_ns=time.time_ns(), symbol="TCS", venue="NSE",
                      bids=(Level(3000.0, 50, 2), Level(2999.95, 80, 3)), asks=(Level(3000.1, 40, 1),),
                      last_price=3000.05, vwap=2990.0, volume=12_345)  # fmt: skip
    bus = redis.Redis.from_url(redis_url)

    def publish() -> None:
        bus.xadd(f"{stream_prefix}ticks", codec.to_fields(tick))
        bus.xadd(f"{stream_prefix}book", codec.to_fields(book))
        bus.xadd(f"{stream_prefix}ticks", {b"d": b"\xc1 not msgpack"})

    with bus, running(settings) as mock:
        kite = mock.logged_in()

        def live() -> dict[str, Any] | None:
            quotes: dict[str, Any] = kite.quote("NSE:INFY", "NSE:TCS")
            seen = quotes["NSE:INFY"]["last_price"] == 1234.5 and quotes["NSE:TCS"]["last_price"] == 3000.05
            return quotes if seen else None

        quotes = _until(live, "the live quotes", publish=publish)

        infy, tcs = quotes["NSE:INFY"], quotes["NSE:TCS"]
        assert infy["depth"]["buy"][0] == {"price": 1234.45, "quantity": 300, "orders": 1}
        assert infy["depth"]["sell"][0] == {"price": 1234.55, "quantity": 200, "orders": 1}
        assert infy["volume"] == 9_000 and infy["last_quantity"] == 7
        assert [level["price"] for level in tcs["depth"]["buy"]] == [3000.0, 2999.95]
        assert tcs["average_price"] == 2990.0 and tcs["volume"] == 12_345
        order_id = kite.place_order(variety="regular", exchange="NSE", tradingsymbol="TCS", transaction_type="BUY",
                                    quantity=40, product="MIS", order_type="MARKET")  # fmt: skip
        assert kite.order_trades(order_id)[0]["average_price"] == 3000.1
        health = httpx.get(f"{mock.root}/health").json()
        assert health["live_quotes"]["instruments"] == 2 and health["live_quotes"]["skipped"] >= 1


def test_an_instrument_the_feed_went_quiet_on_falls_back_to_the_model(tmp_path: Path):
    with running(mock_settings(tmp_path, quote_stale_s=0.2)) as mock:
        kite = mock.logged_in()
        modelled = kite.ltp("NSE:INFY")["NSE:INFY"]["last_price"]
        mock.set_price("INFY", 1111.0)
        assert kite.ltp("NSE:INFY")["NSE:INFY"]["last_price"] == 1111.0

        _until(lambda: kite.ltp("NSE:INFY")["NSE:INFY"]["last_price"] == modelled, "the model to answer again")
