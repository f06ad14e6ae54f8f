"""The OMS's store on both backends: a unit of work written and read back, the outbox, a taken client id."""

from __future__ import annotations

from decimal import Decimal

import pytest

from aitrader.db.session import make_engine
from execution.store import TRADING_KEY, ClientOrderIdTaken, Store, Writes
from tests.integration.db.conftest import migrated_url  # noqa: F401 - the fixture, over both backends


def unit(order_id: int, client_order_id: str) -> Writes:
    writes = Writes()
    writes.new_orders[order_id] = {
        "id": order_id, "client_order_id": client_order_id, "strategy": "s", "symbol": "INFY", "venue": "NSE",
        "side": "BUY", "qty": 2, "order_type": "MARKET", "limit_price": None, "tif": "DAY", "product": "MIS",
        "signal_id": None, "ts_ns": 1, "tick_ts_ns": None, "status": "SUBMITTED", "filled_qty": 0,
        "avg_price": None, "broker_order_id": None, "reason_code": None, "reason": None,
    }  # fmt: skip
    writes.audit("order.new", "order", str(order_id), "test", after={"status": "NEW"})
    writes.outbox.extend([("order_events", b"one"), ("order_events", b"two")])
    return writes


def test_a_unit_of_work_is_written_whole_and_read_back(migrated_url: str) -> None:  # noqa: F811
    engine = make_engine(migrated_url)
    store = Store(engine)
    try:
        rows = store.write(unit(1, "c-1"))
        fill = Writes()
        fill.order_updates[1] = {
            "status": "FILLED", "filled_qty": 2, "avg_price": Decimal("10.5"), "broker_order_id": "B1",
            "reason_code": None, "reason": None,
        }  # fmt: skip
        fill.trades.append(
            {
                "fill_id": "f-1", "order_id": 1, "symbol": "INFY", "venue": "NSE", "side": "BUY", "qty": 2,
                "price": Decimal("10.5"), "fees": Decimal("0.02"), "brokerage": Decimal("0.01"), "ts_ns": 2,
                "tick_ts_ns": None,
            }
        )  # fmt: skip
        fill.state[TRADING_KEY] = {"state": "HALTED", "kill_switch": True}
        store.write(fill)
        fill.state[TRADING_KEY] = {"state": "ACTIVE", "kill_switch": False}
        fill.order_updates.clear()
        fill.trades.clear()
        store.write(fill)  # the state row is updated, not duplicated

        snapshot = store.load(0)

        assert [(ident, stream, payload) for ident, stream, payload in rows] == [
            (rows[0][0], "order_events", b"one"),
            (rows[0][0] + 1, "order_events", b"two"),
        ]
        [order] = snapshot.orders
        assert (order["status"], order["filled_qty"], order["broker_order_id"]) == ("FILLED", 2, "B1")
        [trade] = snapshot.trades
        assert (trade["fill_id"], Decimal(trade["brokerage"])) == ("f-1", Decimal("0.01"))
        assert snapshot.trading == {"state": "ACTIVE", "kill_switch": False}
        assert snapshot.next_order_id == 2
        assert [row[0] for row in store.pending_outbox()] == [rows[0][0], rows[1][0]]
        store.mark_published(rows[1][0])
        store.flush_published()
        assert store.pending_outbox() == []
    finally:
        engine.dispose()


def test_a_taken_client_order_id_writes_nothing(migrated_url: str) -> None:  # noqa: F811
    engine = make_engine(migrated_url)
    store = Store(engine)
    try:
        store.write(unit(1, "c-1"))

        with pytest.raises(ClientOrderIdTaken):
            store.write(unit(2, "c-1"))

        snapshot = store.load(0)
        assert [o["id"] for o in snapshot.orders] == [1]
        assert len(store.pending_outbox()) == 2
        store.write(unit(2, "c-2"))  # the store (and its connection) is fine afterwards
    finally:
        engine.dispose()
