"""Orders through the official kiteconnect client: Kite's statuses, fills at the quote, the RMS's refusals,
and an account that stays consistent (a fill moves cash, positions and margins as Kite would)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kite_errors

from tests.integration.mock_mcp.conftest import API_KEY, Clock, Mock, mock_settings, running

CASH = 500_000.0


def _buy(kite: KiteConnect, symbol: str = "INFY", quantity: int = 10, **extra: object) -> str:
    values: dict[str, object] = {
        "variety": "regular",
        "exchange": "NSE",
        "tradingsymbol": symbol,
        "transaction_type": "BUY",
        "quantity": quantity,
        "product": "MIS",
        "order_type": "MARKET",
    }
    values.update(extra)
    return str(kite.place_order(**values))


def _order(kite: KiteConnect, order_id: str) -> dict[str, object]:
    return next(order for order in kite.orders() if order["order_id"] == order_id)


def test_a_market_order_fills_at_the_ask_and_moves_positions_and_margins(mock: Mock):
    kite = mock.logged_in()
    mock.set_price("INFY", 1500.0)

    order_id = _buy(kite, quantity=10, tag="first")

    order = _order(kite, order_id)
    assert order["status"] == "COMPLETE" and order["filled_quantity"] == 10 and order["pending_quantity"] == 0
    assert order["average_price"] == 1500.05 and order["tags"] == ["first"]
    assert [step["status"] for step in kite.order_history(order_id)] == [
        "PUT ORDER REQ RECEIVED",
        "VALIDATION PENDING",
        "OPEN PENDING",
        "OPEN",
        "COMPLETE",
    ]
    (trade,) = kite.order_trades(order_id)
    assert trade["quantity"] == 10 and trade["average_price"] == 1500.05 and kite.trades() == [trade]
    positions = kite.positions()
    (net,) = positions["net"]
    assert positions["day"] == [net]
    assert (net["tradingsymbol"], net["product"], net["quantity"], net["average_price"]) == ("INFY", "MIS", 10, 1500.05)
    assert (
        net["last_price"] == 1500.0 and net["pnl"] == pytest.approx(-0.5) and net["unrealised"] == pytest.approx(-0.5)
    )
    equity = kite.margins("equity")
    assert equity["utilised"]["exposure"] == pytest.approx(0.2 * 10 * 1500.0)  # MIS: 20% of the notional
    assert equity["utilised"]["m2m_unrealised"] == pytest.approx(-0.5)
    assert equity["net"] == pytest.approx(CASH - 3_000.0 - 0.5)
    assert equity["available"]["live_balance"] == equity["net"]
    assert equity["utilised"]["debits"] == pytest.approx(CASH - equity["net"])


def test_closing_a_position_realises_the_pnl_and_frees_the_margin(mock: Mock):
    kite = mock.logged_in()
    mock.set_price("INFY", 1500.0)
    _buy(kite, quantity=10)
    mock.set_price("INFY", 1510.0)

    _buy(kite, quantity=10, transaction_type="SELL")

    (net,) = kite.positions()["net"]
    assert net["quantity"] == 0 and net["sell_price"] == 1509.95
    assert net["realised"] == pytest.approx((1509.95 - 1500.05) * 10) and net["unrealised"] == 0
    equity = kite.margins("equity")
    assert equity["utilised"]["exposure"] == 0
    assert equity["utilised"]["m2m_realised"] == pytest.approx(99.0)
    assert equity["net"] == pytest.approx(CASH + 99.0)


def test_a_limit_order_rests_blocking_margin_until_the_price_reaches_it(mock: Mock):
    kite = mock.logged_in()
    mock.set_price("INFY", 1500.0)

    order_id = _buy(kite, order_type="LIMIT", price=1490.0)

    resting = _order(kite, order_id)
    assert resting["status"] == "OPEN" and resting["pending_quantity"] == 10 and resting["filled_quantity"] == 0
    assert kite.positions()["net"] == []
    assert kite.margins("equity")["net"] == pytest.approx(CASH - 0.2 * 10 * 1490.0)
    mock.set_price("INFY", 1489.0)  # the ask, 1489.05, is now under the limit
    mock.sweep()
    filled = _order(kite, order_id)
    assert filled["status"] == "COMPLETE" and filled["average_price"] == 1489.05
    assert kite.positions()["net"][0]["quantity"] == 10


def test_the_sweep_fills_a_resting_order_on_its_own(mock: Mock):
    kite = mock.logged_in()
    mock.set_price("INFY", 1500.0)
    order_id = _buy(kite, order_type="LIMIT", price=1495.0)

    mock.set_price("INFY", 1490.0)

    deadline = time.monotonic() + 5
    while _order(kite, order_id)["status"] != "COMPLETE":
        assert time.monotonic() < deadline, "the background sweep did not fill the order"
        time.sleep(0.05)
    assert _order(kite, order_id)["average_price"] == 1490.05


def test_a_resting_order_can_be_modified_and_cancelled_once(mock: Mock):
    kite = mock.logged_in()
    mock.set_price("INFY", 1500.0)
    order_id = _buy(kite, order_type="LIMIT", price=1490.0)

    assert kite.modify_order("regular", order_id, quantity=20, price=1480.0) == order_id
    modified = _order(kite, order_id)
    assert (modified["quantity"], modified["price"], modified["modified"], modified["status"]) == (
        20,
        1480.0,
        True,
        "OPEN",
    )
    assert kite.cancel_order("regular", order_id) == order_id

    cancelled = _order(kite, order_id)
    assert cancelled["status"] == "CANCELLED" and cancelled["cancelled_quantity"] == 20
    assert [step["status"] for step in kite.order_history(order_id)][-6:] == [
        "MODIFY VALIDATION PENDING",
        "MODIFY PENDING",
        "MODIFIED",
        "OPEN",
        "CANCEL PENDING",
        "CANCELLED",
    ]
    assert kite.margins("equity")["net"] == CASH
    with pytest.raises(kite_errors.OrderException, match="cannot be cancelled: it is CANCELLED"):
        kite.cancel_order("regular", order_id)
    with pytest.raises(kite_errors.OrderException, match="cannot be modified"):
        kite.modify_order("regular", order_id, price=1470.0)
    with pytest.raises(kite_errors.OrderException, match="Couldn't find that `order_id`"):
        kite.order_history("999")


def test_an_order_beyond_the_funds_is_rejected_with_kites_margin_message(mock: Mock):
    kite = mock.logged_in()
    mock.set_price("INFY", 1500.0)

    # kiteconnect has no class for Kite's MarginException and raises its GeneralException with the message
    with pytest.raises(kite_errors.GeneralException, match=r"^Insufficient funds\. Required margin is") as caught:
        _buy(kite, quantity=2_000, product="CNC")  # 2,000 x 1,500.05: three million rupees of delivery

    assert caught.value.code == 400
    raw = httpx.post(
        f"{mock.root}/orders/regular",
        headers={"Authorization": f"token {API_KEY}:{kite.access_token}"},
        data={"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": 2_000,
              "product": "CNC", "order_type": "MARKET"},
    )  # fmt: skip
    assert raw.status_code == 400 and raw.json()["error_type"] == "MarginException"
    rejected, _ = kite.orders()
    assert rejected["status"] == "REJECTED" and rejected["filled_quantity"] == 0
    assert rejected["status_message"].startswith("Insufficient funds. Required margin is 3000100.00")
    assert "available margin is 500000.00" in rejected["status_message"]
    assert rejected["status_message_raw"].startswith("RMS:")
    assert kite.margins("equity")["net"] == CASH and kite.positions()["net"] == []
    _buy(kite, quantity=1_500)  # the same size intraday needs a fifth: 450,015 fits


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"quantity": 0}, "Invalid `quantity`"),
        ({"tradingsymbol": "NOPE"}, "no instrument NSE:NOPE"),
        ({"order_type": "LIMIT"}, "needs a positive price"),
        ({"order_type": "LIMIT", "price": 1500.03}, "multiple of tick size"),
        ({"price": 1500.0}, "a MARKET order takes no price"),
        ({"order_type": "SL", "price": 1500.0, "trigger_price": 1505.0}, "should be lower than the price"),
        ({"product": "NRML"}, "Product `NRML` is not allowed"),
        ({"exchange": "NFO", "tradingsymbol": "RELIANCE25NOVFUT", "quantity": 100}, "multiple of the lot size 500"),
        ({"validity": "TTL"}, "validity_ttl"),
        ({"tag": "x" * 21}, "at most 20 characters"),
        ({"variety": "iceberg"}, "Invalid `variety`"),
    ],
)
def test_bad_input_is_an_input_exception_and_leaves_no_order(mock: Mock, extra: dict[str, object], message: str):
    kite = mock.logged_in()
    mock.set_price("INFY", 1500.0)

    with pytest.raises(kite_errors.InputException, match=message):
        _buy(kite, **extra)

    assert kite.orders() == []


def test_a_price_outside_the_circuit_is_rejected_by_the_rms(mock: Mock):
    kite = mock.logged_in()
    close = kite.quote("NSE:INFY")["NSE:INFY"]["ohlc"]["close"]
    too_high = round(close * 1.3 / 0.05) * 0.05

    with pytest.raises(kite_errors.OrderException, match="higher than the current upper circuit limit"):
        _buy(kite, order_type="LIMIT", price=round(too_high, 2))

    assert kite.orders()[0]["status"] == "REJECTED"


def test_a_stop_waits_for_its_trigger_then_fills(mock: Mock):
    kite = mock.logged_in()
    mock.set_price("INFY", 1500.0)
    order_id = _buy(kite, order_type="SL-M", trigger_price=1510.0)
    assert _order(kite, order_id)["status"] == "TRIGGER PENDING"

    mock.set_price("INFY", 1505.0)
    mock.sweep()
    assert _order(kite, order_id)["status"] == "TRIGGER PENDING"
    mock.set_price("INFY", 1511.0)
    mock.sweep()

    assert _order(kite, order_id)["status"] == "COMPLETE" and _order(kite, order_id)["average_price"] == 1511.05
    assert [step["status"] for step in kite.order_history(order_id)][-3:] == ["TRIGGER PENDING", "OPEN", "COMPLETE"]


def test_an_ioc_order_that_cannot_fill_is_cancelled_at_once(mock: Mock):
    kite = mock.logged_in()
    mock.set_price("INFY", 1500.0)

    order_id = _buy(kite, order_type="LIMIT", price=1490.0, validity="IOC")

    assert _order(kite, order_id)["status"] == "CANCELLED"


def test_a_market_order_walks_the_depth(mock: Mock):
    kite = mock.logged_in()
    mock.set_price("INFY", 1500.0)  # 1,000 units on each of five levels from 1500.05 up

    order_id = _buy(kite, quantity=1_500)

    # 1,000 @ 1500.05 + 500 @ 1500.10
    assert _order(kite, order_id)["average_price"] == pytest.approx((1500.05 + 0.5 * 1500.10) / 1.5, abs=1e-4)


def test_delivery_shares_arrive_t_plus_one_and_can_then_be_sold(mock: Mock, clock: Clock):
    kite = mock.logged_in()
    mock.set_price("INFY", 1500.0)
    with pytest.raises(kite_errors.GeneralException, match="has 0 shares free to sell"):  # Kite's HoldingException
        _buy(kite, transaction_type="SELL", product="CNC")

    _buy(kite, quantity=4, product="CNC")
    equity = kite.margins("equity")
    assert equity["utilised"]["delivery"] == pytest.approx(4 * 1500.05)
    assert equity["net"] == pytest.approx(CASH - 4 * 1500.05)
    assert kite.holdings() == []

    clock.advance(days=1)  # Tuesday: yesterday's buy is a T+1 holding, the cash is spent
    (holding,) = kite.holdings()
    assert (holding["tradingsymbol"], holding["quantity"], holding["t1_quantity"]) == ("INFY", 0, 4)
    assert holding["average_price"] == 1500.05
    assert kite.positions() == {"net": [], "day": []} and kite.orders() == [] and kite.trades() == []
    assert kite.margins("equity")["available"]["opening_balance"] == pytest.approx(CASH - 4 * 1500.05)

    mock.set_price("INFY", 1520.0)
    _buy(kite, quantity=4, transaction_type="SELL", product="CNC")  # T+1 shares can be sold (BTST)
    assert kite.holdings()[0]["used_quantity"] == 4
    assert kite.margins("equity")["net"] == pytest.approx(CASH - 4 * 1500.05 + 4 * 1519.95)

    clock.advance(days=1)
    assert kite.holdings() == []
    assert kite.margins("equity")["net"] == pytest.approx(CASH + 4 * (1519.95 - 1500.05))


def test_intraday_positions_are_squared_off_at_the_close_and_working_orders_cancelled(mock: Mock, clock: Clock):
    kite = mock.logged_in()
    mock.set_price("INFY", 1500.0)
    _buy(kite, quantity=10)
    _buy(kite, order_type="LIMIT", price=1400.0)  # rests, blocking margin, until the day ends
    closing = mock.app.state.market.quote(["NSE:INFY"])["NSE:INFY"]["last_price"]

    clock.advance(days=1)

    assert kite.positions()["net"] == [] and kite.orders() == []
    equity = kite.margins("equity")
    assert equity["available"]["opening_balance"] == pytest.approx(CASH + 10 * (closing - 1500.05))
    assert equity["net"] == equity["available"]["opening_balance"]  # the cancelled order blocks nothing


def test_the_account_survives_a_restart(tmp_path: Path):
    settings, clock = mock_settings(tmp_path), Clock()
    with running(settings, clock) as mock:
        kite = mock.logged_in()
        mock.set_price("INFY", 1500.0)
        filled = _buy(kite, quantity=10)
        resting = _buy(kite, order_type="LIMIT", price=1450.0)
        before = (kite.orders(), kite.positions(), kite.trades(), kite.margins())
        token = kite.access_token
    with running(settings, clock) as mock:
        mock.set_price("INFY", 1500.0)
        kite = mock.client(token)
        assert (kite.orders(), kite.positions(), kite.trades(), kite.margins()) == before
        assert kite.cancel_order("regular", resting) == resting
        assert _order(kite, filled)["status"] == "COMPLETE"


def test_a_missing_or_mistyped_form_field_is_named(mock: Mock):
    kite = mock.logged_in()
    headers = {"Authorization": f"token {API_KEY}:{kite.access_token}"}
    order = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": "10",
             "product": "MIS", "order_type": "MARKET"}  # fmt: skip

    missing = httpx.post(f"{mock.root}/orders/regular", headers=headers, data={**order, "tradingsymbol": None})
    mistyped = httpx.post(f"{mock.root}/orders/regular", headers=headers, data={**order, "quantity": "ten"})

    assert missing.status_code == 400 and missing.json()["message"] == "Missing or empty field `tradingsymbol`"
    assert mistyped.status_code == 400 and mistyped.json()["message"].startswith("Invalid `quantity`")
    assert kite.orders() == []
