"""Properties of the simulated account under any sequence of orders and price moves: statuses stay Kite's,
quantities add up, positions are the trades' sum, delivery never sells shares it lacks, and once everything is
closed the money left is exactly the opening cash plus what the trades' prices say."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aitrader.marketdata.instruments import Instrument
from aitrader.marketdata.schema import IST
from mock_mcp.account import Account, PlaceOrder
from mock_mcp.book import FINAL, WORKING
from mock_mcp.instruments import load_instruments
from mock_mcp.kite import KiteError
from mock_mcp.market import instrument_index
from mock_mcp.prices import PriceModel, Snapshot

CASH = 1_000_000.0
AT = datetime(2025, 11, 24, 11, 0, tzinfo=IST)
INSTRUMENTS = load_instruments(None)
SYMBOLS = ["INFY", "TCS", "SBIN"]


class SetQuotes:
    """The model's snapshot with the last price the test sets; bid and ask a tick either side, deep books."""

    def __init__(self) -> None:
        self.model = PriceModel(INSTRUMENTS)
        self.prices: dict[int, float] = {}

    def snapshot(self, instrument: Instrument, at: datetime) -> Snapshot:
        base = self.model.snapshot(instrument, at)
        last = self.prices.get(instrument.instrument_token, base.last_price)
        bids = [(round(last - 0.05 * (n + 1), 2), 10_000, 3) for n in range(5)]
        asks = [(round(last + 0.05 * (n + 1), 2), 10_000, 3) for n in range(5)]
        return replace(base, last_price=last, bids=bids, asks=asks)


def _account(quotes: SetQuotes) -> Account:
    return Account(
        user_id="AT0001", user_name="Test", email="t@example.com", opening_cash=CASH,
        instruments=instrument_index(INSTRUMENTS), quotes=quotes, clock=lambda: AT, path=None,
    )  # fmt: skip


place = st.builds(
    lambda symbol, buy, quantity, product, limit_offset: ("place", symbol, buy, quantity, product, limit_offset),
    st.sampled_from(SYMBOLS),
    st.booleans(),
    st.integers(1, 400),
    st.sampled_from(["MIS", "CNC"]),
    st.one_of(st.none(), st.integers(-40, 40)),
)
move = st.builds(lambda symbol, ticks: ("move", symbol, ticks), st.sampled_from(SYMBOLS), st.integers(-200, 200))
cancel = st.builds(lambda n: ("cancel", n), st.integers(0, 50))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(place, move, cancel), min_size=1, max_size=40))
def test_the_books_balance_after_any_sequence(operations: list[tuple[object, ...]]):
    quotes = SetQuotes()
    account = _account(quotes)
    index = instrument_index(INSTRUMENTS)
    for symbol in SYMBOLS:
        quotes.prices[index[f"NSE:{symbol}"].instrument_token] = 1_000.0
    for operation in operations:
        if operation[0] == "place":
            _, symbol, buy, quantity, product, offset = operation
            last = quotes.prices[index[f"NSE:{symbol}"].instrument_token]
            request = PlaceOrder(
                exchange="NSE", tradingsymbol=str(symbol), transaction_type="BUY" if buy else "SELL",
                quantity=int(quantity), product=str(product), order_type="MARKET" if offset is None else "LIMIT",
                price=None if offset is None else round(last + 0.05 * int(offset), 2),
            )  # fmt: skip
            with contextlib.suppress(KiteError):  # refused (funds, shares): REJECTED, which _check covers
                account.place("regular", request)
        elif operation[0] == "move":
            _, symbol, ticks = operation
            token = index[f"NSE:{symbol}"].instrument_token
            quotes.prices[token] = max(round(quotes.prices[token] + 0.05 * int(ticks), 2), 850.0)
            account.sweep()
        else:
            working = [o for o in account.orders() if o["status"] in WORKING]
            if working:
                account.cancel("regular", working[int(operation[1]) % len(working)]["order_id"])
        _check(account)

    _close_everything(account)
    trades = account.trades()
    flows = sum(t["average_price"] * t["quantity"] * (1 if t["transaction_type"] == "SELL" else -1) for t in trades)
    assert all(p["quantity"] == 0 for p in account.positions()["net"])
    assert account.margins()["equity"]["net"] == pytest.approx(CASH + flows, abs=0.02)


def _check(account: Account) -> None:
    orders = account.orders()
    for order in orders:
        assert order["status"] in WORKING | FINAL
        assert order["filled_quantity"] + order["pending_quantity"] + order["cancelled_quantity"] in (
            order["quantity"],
            0 if order["status"] == "REJECTED" else order["quantity"],
        )
        if order["status"] == "COMPLETE":
            assert order["filled_quantity"] == order["quantity"] and order["average_price"] > 0
        if order["status"] == "REJECTED":
            assert order["status_message"] and order["filled_quantity"] == 0
    signed: dict[tuple[str, str], int] = {}
    for trade in account.trades():
        key = (trade["tradingsymbol"], trade["product"])
        signed[key] = signed.get(key, 0) + trade["quantity"] * (1 if trade["transaction_type"] == "BUY" else -1)
    positions = {(p["tradingsymbol"], p["product"]): p["quantity"] for p in account.positions()["net"]}
    assert {k: v for k, v in positions.items() if v} == {k: v for k, v in signed.items() if v}
    assert all(quantity >= 0 for (_, product), quantity in positions.items() if product == "CNC")
    equity = account.margins()["equity"]
    assert equity["utilised"]["debits"] == pytest.approx(CASH - equity["net"], abs=0.02)
    assert min(equity["utilised"][key] for key in ("span", "exposure", "delivery", "holding_sales")) >= 0


def _close_everything(account: Account) -> None:
    for order in account.orders():
        if order["status"] in WORKING:
            account.cancel("regular", order["order_id"])
    for position in account.positions()["net"]:
        if position["quantity"]:
            account.place(
                "regular",
                PlaceOrder(
                    exchange="NSE", tradingsymbol=position["tradingsymbol"],
                    transaction_type="SELL" if position["quantity"] > 0 else "BUY", quantity=abs(position["quantity"]),
                    product=position["product"], order_type="MARKET",
                )
            )  # fmt: skip
