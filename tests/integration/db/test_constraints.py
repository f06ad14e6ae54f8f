"""The schema itself refuses bad data, on PostgreSQL and on SQLite alike."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from aitrader.contracts.messages import OrderSide, OrderStatus, OrderType
from aitrader.db.models import Bar, Order, RiskLimit, RiskScope, Trade
from tests.factories import SESSION_OPEN, make_order, make_trade, make_user

IST = timezone(timedelta(hours=5, minutes=30))


def test_duplicate_client_order_id_is_refused(session: Session) -> None:
    session.add(make_order(client_order_id="momentum-INFY-1"))
    session.commit()

    session.add(make_order(client_order_id="momentum-INFY-1"))

    with pytest.raises(IntegrityError, match="client_order_id"):
        session.commit()


def test_duplicate_fill_id_is_refused(session: Session) -> None:
    order = make_order()
    session.add(make_trade(order, fill_id="fill-1"))
    session.commit()

    session.add(make_trade(order, fill_id="fill-1"))

    with pytest.raises(IntegrityError, match="fill_id"):
        session.commit()


def test_money_columns_round_trip_decimals_exactly(session: Session) -> None:
    order = make_order(limit_price=Decimal("2450.05"), avg_price=Decimal("2450.0333"), filled_qty=3, qty=3)
    session.add(make_trade(order, price=Decimal("2450.05"), fees=Decimal("0.0001")))
    session.commit()
    session.expire_all()

    stored = session.scalars(select(Order)).one()
    trade = session.scalars(select(Trade)).one()

    assert stored.limit_price == Decimal("2450.05")
    assert stored.avg_price == Decimal("2450.0333")
    assert trade.price == Decimal("2450.05")
    assert trade.fees == Decimal("0.0001")
    assert isinstance(trade.price, Decimal)


def test_nanosecond_timestamps_round_trip_as_exact_integers(session: Session) -> None:
    session.add(make_order(ts_ns=1_736_135_100_123_456_789, tick_ts_ns=1_736_135_100_000_000_001))
    session.commit()
    session.expire_all()

    stored = session.scalars(select(Order)).one()

    assert stored.ts_ns == 1_736_135_100_123_456_789
    assert stored.tick_ts_ns == 1_736_135_100_000_000_001


def test_times_come_back_in_utc_whatever_zone_they_were_written_in(session: Session) -> None:
    session.add(
        Bar(
            symbol="INFY",
            interval="1m",
            start=datetime(2025, 1, 6, 9, 15, tzinfo=IST),
            open=Decimal(1),
            high=Decimal(1),
            low=Decimal(1),
            close=Decimal(1),
        )
    )
    session.commit()
    session.expire_all()

    stored = session.scalars(select(Bar)).one()

    assert stored.start == SESSION_OPEN
    assert stored.start.utcoffset() == timedelta(0)
    assert stored.created_at.utcoffset() == timedelta(0)


def test_naive_datetime_is_refused(session: Session) -> None:
    bar = Bar(
        symbol="INFY",
        interval="1m",
        start=datetime(2025, 1, 6, 9, 15),
        open=Decimal(1),
        high=Decimal(1),
        low=Decimal(1),
        close=Decimal(1),
    )
    session.add(bar)

    with pytest.raises(StatementError, match="datetime must be timezone-aware"):
        session.flush()


def test_order_with_non_positive_qty_is_refused(session: Session) -> None:
    session.add(make_order(qty=0))

    with pytest.raises(IntegrityError, match="ck_orders_qty_positive"):
        session.commit()


def test_limit_order_without_a_price_is_refused(session: Session) -> None:
    session.add(make_order(order_type=OrderType.LIMIT, limit_price=None))

    with pytest.raises(IntegrityError, match="ck_orders_limit_needs_price"):
        session.commit()


def test_unknown_order_status_written_by_hand_is_refused(session: Session) -> None:
    session.add(make_order(client_order_id="c-1"))
    session.commit()

    with pytest.raises(IntegrityError, match="ck_orders_order_status"):
        session.execute(text("UPDATE orders SET status = 'LOST' WHERE client_order_id = 'c-1'"))


def test_every_status_of_the_oms_state_machine_can_be_stored(session: Session) -> None:
    for status in OrderStatus:
        session.add(make_order(client_order_id=f"c-{status}", status=status))
    session.commit()

    stored = session.scalars(select(Order.status).order_by(Order.id)).all()
    assert stored == list(OrderStatus)


def test_trade_for_an_unknown_order_is_refused(session: Session) -> None:
    session.add(
        Trade(
            fill_id="fill-orphan",
            order_id=987_654,
            symbol="INFY",
            side=OrderSide.BUY,
            qty=1,
            price=Decimal("1500.00"),
            ts_ns=1,
        )
    )

    with pytest.raises(IntegrityError):
        session.commit()


def test_risk_limit_is_unique_per_scope_key_and_name(session: Session) -> None:
    session.add(RiskLimit(scope=RiskScope.STRATEGY, scope_key="momentum", name="max_order_qty", value=500))
    session.add(RiskLimit(scope=RiskScope.STRATEGY, scope_key="breakout", name="max_order_qty", value=200))
    session.add(RiskLimit(scope=RiskScope.GLOBAL, name="max_order_qty", value=1000))
    session.commit()

    session.add(RiskLimit(scope=RiskScope.GLOBAL, name="max_order_qty", value=2000))

    with pytest.raises(IntegrityError):
        session.commit()


def test_global_risk_limit_with_a_scope_key_is_refused(session: Session) -> None:
    session.add(RiskLimit(scope=RiskScope.GLOBAL, scope_key="momentum", name="max_order_qty", value=1))

    with pytest.raises(IntegrityError, match="ck_risk_limits_scope_key_matches_scope"):
        session.commit()


def test_deleting_a_user_deletes_their_broker_tokens(session: Session) -> None:
    user = make_user()
    session.add(user)
    session.flush()
    session.execute(
        text("INSERT INTO user_tokens (user_id, broker, token_encrypted) VALUES (:user_id, 'zerodha', :token)"),
        {"user_id": user.id, "token": b"ciphertext"},
    )
    session.commit()

    session.execute(text("DELETE FROM users WHERE id = :id"), {"id": user.id})
    session.commit()

    assert session.scalar(text("SELECT count(*) FROM user_tokens")) == 0
