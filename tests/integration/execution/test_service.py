"""execution as a process over real PostgreSQL and Redis: the HTTP API, the bus, and a SIGKILL mid-stream."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
import redis
import sqlalchemy as sa

from aitrader.contracts import (
    BOOK,
    CONTROL,
    FILLS,
    ORDER_EVENTS,
    ORDERS,
    Fill,
    OrderEvent,
    OrderRequest,
    OrderSide,
    SetKillSwitch,
    TradingStateChanged,
    dead_letter_key,
    decode,
    encode,
    stream_key,
)
from aitrader.db.session import make_engine
from execution.settings import DEV_API_KEY
from tests.integration.execution.conftest import book
from tests.integration.marketdata.conftest import run_service, wait_for

pytestmark = pytest.mark.slow
SERVICE = "execution"
KEY = {"X-API-Key": DEV_API_KEY}


@pytest.fixture
def oms_env(redis_url: str, database_url: str, stream_prefix: str) -> dict[str, str]:
    return {
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "AITRADER_STREAM_PREFIX": stream_prefix,
        "AITRADER_BUS_BLOCK_MS": "100",
        "AITRADER_BUS_CLAIM_IDLE_MS": "1000",
        "EXECUTION_RECONCILE_INTERVAL_S": "1",
        "EXECUTION_SEED_DEFAULT_LIMITS": "false",
    }


def publish(client: redis.Redis, prefix: str, stream: str, *messages: object) -> None:
    with client.pipeline(transaction=False) as pipe:
        for message in messages:
            pipe.xadd(stream_key(stream, prefix), {"d": encode(message)})  # type: ignore[arg-type]
        pipe.execute()


def read(client: redis.Redis, prefix: str, stream: str) -> list[object]:
    return [decode(fields[b"d"]) for _, fields in client.xrange(stream_key(stream, prefix))]


def quote(client: redis.Redis, prefix: str, symbol: str = "INFY", *, qty: int = 100_000, seq: int = 1) -> None:
    publish(client, prefix, BOOK, book(symbol, 1499.95, 1500.05, qty=qty, seq=seq))


def order(client_order_id: str, qty: int = 5, side: OrderSide = OrderSide.BUY, symbol: str = "INFY") -> OrderRequest:
    return OrderRequest(
        client_order_id=client_order_id, ts_ns=time.time_ns(), strategy="s1", symbol=symbol, side=side, qty=qty
    )


def test_the_api_places_lists_cancels_and_guards_orders(
    tmp_path: Path, oms_env: dict[str, str], redis_url: str, stream_prefix: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    with run_service(SERVICE, oms_env, tmp_path / "oms.log") as oms, oms.client() as http:
        body = {"client_order_id": "api-1", "symbol": "INFY", "side": "BUY", "qty": 10}
        wait_for(lambda: _quoted(client, stream_prefix, http), 10, "the book")

        assert http.post("/orders", json=body).status_code == 401
        assert http.post("/orders", json=body, headers={"X-API-Key": "wrong-key-wrong-key"}).status_code == 401
        placed = http.post("/orders", json=body, headers=KEY)
        again = http.post("/orders", json=body, headers=KEY)
        reused = http.post("/orders", json={**body, "qty": 11}, headers=KEY)

        assert placed.status_code == 201, placed.text
        assert placed.json()["status"] == "FILLED" and placed.json()["avg_price"] == "1500.0500"
        assert (
            again.status_code == 200
            and again.json()["duplicate"]
            and again.json()["order_id"] == placed.json()["order_id"]
        )
        assert reused.status_code == 409 and reused.json()["code"] == "DUPLICATE_CLIENT_ORDER_ID"

        limit = http.post(
            "/orders",
            json={"symbol": "INFY", "side": "BUY", "qty": 1, "type": "LIMIT", "limit_price": "1490"},
            headers=KEY,
        )
        assert limit.status_code == 201 and limit.json()["status"] == "ACCEPTED"
        order_id = limit.json()["order_id"]
        assert http.get(f"/orders/{order_id}").json()["status"] == "ACCEPTED"
        assert [o["order_id"] for o in http.get("/orders", params={"open_only": True}).json()["orders"]] == [order_id]
        assert http.delete(f"/orders/{order_id}").status_code == 401
        cancelled = http.delete(f"/orders/{order_id}", headers=KEY)
        assert cancelled.status_code == 202 and cancelled.json()["status"] == "CANCELED"
        assert http.delete(f"/orders/{order_id}", headers=KEY).status_code == 409
        assert http.get("/orders/999999").status_code == 404
        assert http.get("/orders/not-a-number").status_code == 422

        positions = http.get("/positions").json()
        assert [(p["strategy"], p["symbol"], p["qty"]) for p in positions["positions"]] == [("manual", "INFY", 10)]
        assert positions["totals"]["fees"] != "0"

        for bad, where in [
            ({"symbol": "INFY", "side": "BUY", "qty": -1}, "qty"),
            ({"symbol": "INFY", "side": "HOLD", "qty": 1}, "side"),
            ({"symbol": "INFY", "side": "BUY", "qty": 1, "type": "LIMIT"}, "limit_price"),
            ({"symbol": "INFY", "side": "BUY", "qty": 1, "colour": "red"}, "colour"),
            ({"side": "BUY", "qty": 1}, "symbol"),
        ]:
            answer = http.post("/orders", json=bad, headers=KEY)
            assert answer.status_code == 422, (bad, answer.text)
            assert where in answer.json()["detail"]

        limits = {"limits": [{"scope": "symbol", "scope_key": "INFY", "name": "max_order_qty", "value": "5"}]}
        assert http.put("/risk/limits", json=limits).status_code == 401
        assert http.put("/risk/limits", json=limits, headers=KEY).status_code == 200
        assert http.get("/risk/limits").json()["limits"][0]["value"] == "5.0000"
        bad_limits = [
            {"limits": [{"name": "max_vibes", "value": "1"}]},
            {"limits": [{"scope": "global", "scope_key": "INFY", "name": "max_order_qty", "value": "1"}]},
            {"limits": [{"name": "max_order_qty", "value": "-1"}]},
            {"limits": []},
        ]
        for bad in bad_limits:
            assert http.put("/risk/limits", json=bad, headers=KEY).status_code == 422, bad
        denied = http.post("/orders", json={"symbol": "INFY", "side": "BUY", "qty": 6}, headers=KEY)
        assert denied.status_code == 201 and denied.json()["reason_code"] == "MAX_ORDER_QTY"

        state = http.post("/risk/kill-switch", json={"reason": "test"}, headers=KEY).json()
        assert state["kill_switch"] and state["trading_state"] == "HALTED"
        assert http.put("/risk/state", json={"state": "ACTIVE"}, headers=KEY).status_code == 409
        assert http.post("/risk/kill-switch", json={"engaged": False}, headers=KEY).status_code == 200
        assert http.put("/risk/state", json={"state": "ACTIVE"}, headers=KEY).json()["trading_state"] == "ACTIVE"

        health = http.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "ok", health.text
        metrics = http.get("/metrics").text
        assert 'oms_denials_total{reason="MAX_ORDER_QTY"} 1.0' in metrics
        assert 'oms_requests_total{outcome="duplicate"} 1.0' in metrics
        paths = http.get("/openapi.json").json()["paths"]
        assert {
            "/orders",
            "/orders/{order_id}",
            "/positions",
            "/risk/limits",
            "/risk/kill-switch",
            "/risk/state",
        } <= set(paths)


def _quoted(client: redis.Redis, prefix: str, http: httpx.Client) -> bool:
    """Quote INFY until the OMS has the book (it follows the book stream from its start on)."""
    quote(client, prefix)
    time.sleep(0.05)
    return int(http.get("/health").json()["broker"]["books"]) > 0


def test_requests_on_the_bus_fill_bad_ones_are_dead_lettered_and_the_control_stream_halts(
    tmp_path: Path, oms_env: dict[str, str], redis_url: str, stream_prefix: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    with run_service(SERVICE, oms_env, tmp_path / "oms.log") as oms, oms.client() as http:
        wait_for(lambda: _quoted(client, stream_prefix, http), 10, "the book")
        first = order("bus-1")
        publish(client, stream_prefix, ORDERS, first, order("bus-2", qty=7), first)  # bus-1 delivered twice
        client.xadd(stream_key(ORDERS, stream_prefix), {"j": json.dumps({"msg": "order_request", "qty": -3})})
        wait_for(lambda: len(read(client, stream_prefix, FILLS)) == 2, 15, "two fills")
        wait_for(lambda: client.xlen(dead_letter_key(stream_key(ORDERS, stream_prefix))) == 1, 15, "a dead letter")

        publish(client, stream_prefix, CONTROL, SetKillSwitch(ts_ns=time.time_ns(), engaged=True, reason="desk"))
        wait_for(lambda: http.get("/risk/state").json()["kill_switch"], 10, "the kill switch")
        publish(client, stream_prefix, ORDERS, order("bus-3"))
        wait_for(
            lambda: any(
                getattr(e, "client_order_id", "") == "bus-3" for e in read(client, stream_prefix, ORDER_EVENTS)
            ),
            10,
            "bus-3",
        )

    fills = [f for f in read(client, stream_prefix, FILLS) if isinstance(f, Fill)]
    assert sorted((f.client_order_id, f.qty) for f in fills) == [("bus-1", 5), ("bus-2", 7)]
    rejected = [
        e
        for e in read(client, stream_prefix, ORDER_EVENTS)
        if isinstance(e, OrderEvent) and e.client_order_id == "bus-3"
    ]
    assert rejected[-1].status == "REJECTED" and rejected[-1].reason_code == "KILL_SWITCH"
    changes = [m for m in read(client, stream_prefix, CONTROL) if isinstance(m, TradingStateChanged)]
    assert changes and changes[-1].kill_switch_engaged and changes[-1].actor == "control"


def test_the_oms_killed_mid_stream_ends_with_exactly_one_order_per_request_and_no_fill_lost_or_doubled(
    tmp_path: Path, oms_env: dict[str, str], redis_url: str, database_url: str, stream_prefix: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    requests = [order(f"k-{n}", qty=1 + n % 7, side=OrderSide.BUY if n % 3 else OrderSide.SELL) for n in range(600)]
    stop_quotes = threading.Event()

    def keep_quoting() -> None:
        seq = 1
        while not stop_quotes.is_set():
            quote(client, stream_prefix, seq=seq)
            seq += 1
            time.sleep(0.02)

    quoter = threading.Thread(target=keep_quoting, daemon=True)
    quoter.start()
    log = tmp_path / "oms.log"
    try:
        with run_service(SERVICE, oms_env, log) as first, first.client() as http:
            # the OMS follows the book from its start on: without one, a MARKET order has no price to be valued at
            wait_for(lambda: int(http.get("/health").json()["broker"]["books"]) > 0, 10, "the first book")
            for start in range(0, 300, 20):
                publish(client, stream_prefix, ORDERS, *requests[start : start + 20])
                time.sleep(0.01)
            wait_for(lambda: len(read(client, stream_prefix, FILLS)) >= 40, 20, "fills before the kill")
            publish(client, stream_prefix, ORDERS, *requests[300:])
            os.kill(first.process.pid, signal.SIGKILL)  # mid-stream: no clean shutdown of any kind
            first.process.wait()
        assert _count(database_url, "SELECT count(*) FROM orders") < len(requests)  # it died with work left
        with run_service(SERVICE, oms_env, log) as second, second.client() as http:
            wait_for(lambda: _settled(database_url, len(requests)), 60, "every request settled")
            health = http.get("/health").json()
    finally:
        stop_quotes.set()
        quoter.join(5)

    engine = make_engine(database_url)
    with engine.connect() as connection:
        per_request = Counter(
            r.client_order_id for r in connection.execute(sa.text("SELECT client_order_id FROM orders"))
        )
        filled = {
            r.client_order_id: (r.qty, r.filled_qty, r.status)
            for r in connection.execute(sa.text("SELECT client_order_id, qty, filled_qty, status FROM orders"))
        }
        trade_sums = dict(
            connection.execute(
                sa.text(
                    "SELECT o.client_order_id, sum(t.qty) FROM trades t JOIN orders o ON o.id = t.order_id GROUP BY 1"
                )
            ).all()
        )
    engine.dispose()
    assert set(per_request) == {r.client_order_id for r in requests}
    assert max(per_request.values()) == 1
    assert all(status == "FILLED" and filled_qty == qty for qty, filled_qty, status in filled.values()), filled
    fills = [f for f in read(client, stream_prefix, FILLS) if isinstance(f, Fill)]
    fill_ids = Counter(f.fill_id for f in fills)
    assert max(fill_ids.values()) == 1, "a fill was published twice"
    on_bus: Counter[str] = Counter()
    for fill in fills:
        on_bus[fill.client_order_id] += fill.qty
    assert dict(on_bus) == {k: int(v) for k, v in trade_sums.items()} == {r.client_order_id: r.qty for r in requests}
    events = [e for e in read(client, stream_prefix, ORDER_EVENTS) if isinstance(e, OrderEvent)]
    steps = Counter((e.order_id, e.status, e.filled_qty) for e in events)
    assert max(steps.values()) == 1, "an order event was published twice"
    assert health["open_orders"] == 0 and health["status"] == "ok", health


def _settled(database_url: str, expected: int) -> bool:
    return _count(database_url, "SELECT count(*) FROM orders WHERE status = 'FILLED'") == expected


def _count(database_url: str, query: str) -> int:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(sa.text(query)).scalar() or 0)
    finally:
        engine.dispose()


def test_aitrader_oms_makes_a_paper_round_trip_and_shows_the_books(
    tmp_path: Path, oms_env: dict[str, str], redis_url: str, stream_prefix: str
) -> None:
    from typer.testing import CliRunner

    from aitrader.cli import app

    client = redis.Redis.from_url(redis_url)
    with run_service(SERVICE, oms_env, tmp_path / "oms.log") as oms, oms.client() as http:
        wait_for(lambda: _quoted(client, stream_prefix, http), 10, "the book")

        shown = CliRunner().invoke(app, ["oms", "--url", oms.url, "--trade", "INFY", "--qty", "3"])
        as_json = CliRunner().invoke(app, ["oms", "--url", oms.url, "--json"])

    assert shown.exit_code == 0, shown.output
    assert "demo BUY 3 INFY: FILLED at 1500.0500" in shown.output
    assert "demo SELL 3 INFY: FILLED at 1499.9500" in shown.output
    assert "orders today: FILLED 2" in shown.output
    report = json.loads(as_json.output)
    [position] = report["positions"]["positions"]
    assert (position["strategy"], position["qty"], position["realised_pnl"]) == ("demo", 0, "-0.30")
    unreachable = CliRunner().invoke(app, ["oms", "--url", "http://127.0.0.1:1"])
    assert unreachable.exit_code == 1 and "did not answer" in unreachable.output
