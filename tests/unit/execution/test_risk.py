"""Every reason code of the pre-trade checks, the order they run in, and the limits' precedence."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from aitrader.contracts.messages import OrderRequest, OrderSide, OrderType, TradingState
from aitrader.marketdata.schema import IST
from execution.risk import Denial, Limit, Limits, Reason, RiskState, check

D = Decimal
MONDAY_NOON_NS = int(datetime(2025, 11, 24, 12, 0, tzinfo=IST).timestamp() * 1e9)
SUNDAY_NS = int(datetime(2025, 11, 23, 12, 0, tzinfo=IST).timestamp() * 1e9)


def order(**overrides: object) -> OrderRequest:
    values: dict[str, object] = {
        "client_order_id": "c-new",
        "ts_ns": MONDAY_NOON_NS,
        "strategy": "momentum",
        "symbol": "INFY",
        "side": OrderSide.BUY,
        "qty": 10,
    }
    values.update(overrides)
    return OrderRequest(**values)  # type: ignore[arg-type]


def state(**overrides: object) -> RiskState:
    values: dict[str, object] = {"last_prices": {"INFY": D("1500"), "TCS": D("3000")}}
    values.update(overrides)
    return RiskState(**values)  # type: ignore[arg-type]


def limits(**values: object) -> Limits:
    rows = [("global", "", name, D(str(value))) for name, value in values.items()]
    return Limits(rows)


def denied(request: OrderRequest, risk: RiskState, rules: Limits, now_ns: int = MONDAY_NOON_NS) -> Reason | None:
    denial = check(request, risk, rules, now_ns)
    return None if denial is None else denial.code


@pytest.mark.parametrize(
    ("request_", "risk", "rules", "expected"),
    [
        (order(), state(kill_switch=True), limits(), Reason.KILL_SWITCH),
        (order(), state(trading_state=TradingState.HALTED), limits(), Reason.TRADING_HALTED),
        (order(), state(trading_state=TradingState.REDUCING, positions={"INFY": 5}), limits(), Reason.REDUCE_ONLY),
        (order(client_order_id="c-old"), state(client_order_ids={"c-old"}), limits(), Reason.DUPLICATE_CLIENT_ORDER_ID),
        (
            order(symbol="SBIN"),
            state(last_prices={"SBIN": D(900)}),
            Limits(allowed_symbols={"INFY"}),
            Reason.SYMBOL_NOT_ALLOWED,
        ),
        (order(), state(pnl_today=D("-5000")), limits(daily_loss_limit=5000), Reason.DAILY_LOSS_LIMIT),
        (order(qty=501), state(), limits(max_order_qty=500), Reason.MAX_ORDER_QTY),
        (order(symbol="NEW"), state(), limits(), Reason.NO_REFERENCE_PRICE),
        (order(qty=100), state(), limits(max_order_notional=100_000), Reason.MAX_ORDER_NOTIONAL),
        (order(type=OrderType.LIMIT, limit_price=1580.0), state(), limits(price_band_pct=5), Reason.PRICE_BAND),
        (order(qty=10), state(positions={"INFY": 95}), limits(max_position_qty=100), Reason.MAX_POSITION),
        (order(qty=10), state(working={"INFY": (95, 0)}), limits(max_position_qty=100), Reason.MAX_POSITION),
        (order(qty=10), state(positions={"TCS": 10}), limits(max_gross_exposure=40_000), Reason.MAX_GROSS_EXPOSURE),
        (order(), state(open_orders=3), limits(max_open_orders=3), Reason.MAX_OPEN_ORDERS),
        (
            order(),
            state(orders_last_minute={"momentum": 5}),
            limits(max_orders_per_minute=5),
            Reason.ORDER_RATE,
        ),
    ],
)
def test_each_check_denies_with_its_reason_code(
    request_: OrderRequest, risk: RiskState, rules: Limits, expected: Reason
):
    assert denied(request_, risk, rules) == expected


def test_every_reason_code_is_exercised_above_or_by_the_market_hours_test():
    covered = {
        Reason.KILL_SWITCH, Reason.TRADING_HALTED, Reason.REDUCE_ONLY, Reason.DUPLICATE_CLIENT_ORDER_ID,
        Reason.SYMBOL_NOT_ALLOWED, Reason.DAILY_LOSS_LIMIT, Reason.MAX_ORDER_QTY, Reason.NO_REFERENCE_PRICE,
        Reason.MAX_ORDER_NOTIONAL, Reason.PRICE_BAND, Reason.MAX_POSITION, Reason.MAX_GROSS_EXPOSURE,
        Reason.MAX_OPEN_ORDERS, Reason.ORDER_RATE, Reason.MARKET_CLOSED,
    }  # fmt: skip
    assert covered == set(Reason)


def test_just_inside_every_limit_passes():
    rules = limits(
        max_order_qty=10, max_order_notional=15_000, price_band_pct=5, max_position_qty=100,
        max_gross_exposure=180_000, max_open_orders=4, max_orders_per_minute=5, daily_loss_limit=5_000,
    )  # fmt: skip
    risk = state(
        positions={"INFY": 90, "TCS": 10}, open_orders=3, pnl_today=D("-4999.99"),
        orders_last_minute={"momentum": 4},
    )  # fmt: skip

    assert check(order(), risk, rules, MONDAY_NOON_NS) is None  # 100 x 1500 + 10 x 3000 = 180,000 exactly
    assert check(order(type=OrderType.LIMIT, limit_price=1425.0), risk, rules, MONDAY_NOON_NS) is None  # 5% below


def test_reducing_lets_through_only_orders_that_shrink_without_flipping():
    risk = state(trading_state=TradingState.REDUCING, positions={"INFY": 20})

    assert denied(order(side=OrderSide.SELL, qty=20), risk, limits()) is None
    assert denied(order(side=OrderSide.SELL, qty=21), risk, limits()) == Reason.REDUCE_ONLY
    assert denied(order(side=OrderSide.BUY, qty=1), risk, limits()) == Reason.REDUCE_ONLY


def test_orders_that_reduce_a_position_pass_the_position_and_exposure_limits():
    rules = limits(max_position_qty=100, max_gross_exposure=1)
    assert denied(order(side=OrderSide.SELL, qty=50), state(positions={"INFY": 150}), rules) is None


def test_the_market_hours_check_applies_only_when_enforced():
    enforced = Limits(enforce_market_hours=True)

    assert denied(order(), state(), enforced, SUNDAY_NS) == Reason.MARKET_CLOSED
    assert denied(order(), state(), enforced, MONDAY_NOON_NS) is None
    assert denied(order(), state(), Limits(), SUNDAY_NS) is None


def test_the_daily_loss_denial_asks_for_a_halt():
    denial = check(order(), state(pnl_today=D("-6000")), limits(daily_loss_limit=5000), MONDAY_NOON_NS)

    assert isinstance(denial, Denial) and denial.halt and "-6000" in denial.message


def test_a_symbol_limit_wins_over_a_strategy_limit_over_the_global_one():
    rules = Limits([
        ("global", "", "max_order_qty", D(100)),
        ("strategy", "momentum", "max_order_qty", D(50)),
        ("symbol", "INFY", "max_order_qty", D(20)),
    ])  # fmt: skip

    assert rules.get(Limit.MAX_ORDER_QTY, strategy="momentum", symbol="INFY") == 20
    assert rules.get(Limit.MAX_ORDER_QTY, strategy="momentum", symbol="TCS") == 50
    assert rules.get(Limit.MAX_ORDER_QTY, strategy="meanrev", symbol="TCS") == 100
    assert denied(order(qty=21), state(), rules) == Reason.MAX_ORDER_QTY
    assert denied(order(qty=21, symbol="TCS"), state(), rules) is None


def test_an_unknown_limit_or_scope_is_an_error():
    with pytest.raises(ValueError, match="max_lunch"):
        Limits([("global", "", "max_lunch", D(1))])
    with pytest.raises(ValueError, match="unknown limit scope 'desk'"):
        Limits([("desk", "x", "max_order_qty", D(1))])
