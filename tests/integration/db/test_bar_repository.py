from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aitrader.db.models import Bar
from aitrader.db.repositories import BarRepository
from tests.factories import SESSION_OPEN, make_bar


def bar_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Bar)) or 0


def test_upserting_the_same_bars_twice_keeps_one_row_each_with_the_latest_values(session: Session) -> None:
    bars = BarRepository(session)
    bars.upsert_many([make_bar(minute) for minute in range(3)])
    session.commit()

    written = bars.upsert_many(
        [
            make_bar(minute, close=Decimal("1510.25"), volume=15_000 + minute, vwap=None, trade_count=90)
            for minute in range(3)
        ]
    )
    session.commit()
    session.expire_all()

    assert written == 3
    assert bar_count(session) == 3
    stored = bars.series("INFY", "1m")
    assert [bar.start for bar in stored] == [SESSION_OPEN + timedelta(minutes=m) for m in range(3)]
    assert [bar.close for bar in stored] == [Decimal("1510.25")] * 3
    assert [bar.volume for bar in stored] == [15_000, 15_001, 15_002]
    assert [bar.vwap for bar in stored] == [None] * 3
    assert [bar.trade_count for bar in stored] == [90] * 3
    assert stored[0].open == Decimal("1500.00")
    assert stored[0].vwap is None


def test_upsert_keeps_the_last_of_duplicate_bars_in_one_batch(session: Session) -> None:
    bars = BarRepository(session)

    written = bars.upsert_many([make_bar(0, close=Decimal("1501.00")), make_bar(0, close=Decimal("1502.00"))])
    session.commit()

    assert written == 1
    assert [bar.close for bar in bars.series("INFY", "1m")] == [Decimal("1502.00")]


def test_upsert_distinguishes_bars_by_symbol_interval_and_start(session: Session) -> None:
    bars = BarRepository(session)

    bars.upsert_many(
        [
            make_bar(0),
            make_bar(0, symbol="TCS"),
            make_bar(0, interval="5m"),
            make_bar(1),
        ]
    )
    session.commit()

    assert bar_count(session) == 4
    assert len(bars.series("INFY", "1m")) == 2
    assert len(bars.series("TCS", "1m")) == 1
    assert len(bars.series("INFY", "5m")) == 1


def test_upsert_of_nothing_writes_nothing(session: Session) -> None:
    assert BarRepository(session).upsert_many([]) == 0
    assert bar_count(session) == 0


def test_upsert_writes_batches_larger_than_one_statement(session: Session) -> None:
    bars = BarRepository(session)
    count = BarRepository.CHUNK_SIZE * 2 + 7

    written = bars.upsert_many(make_bar(minute) for minute in range(count))
    session.commit()

    assert written == count
    assert bar_count(session) == count


def test_series_selects_bars_from_start_inclusive_to_end_exclusive(session: Session) -> None:
    bars = BarRepository(session)
    bars.upsert_many([make_bar(minute) for minute in range(5)])
    session.commit()

    selected = bars.series(
        "INFY", "1m", start=SESSION_OPEN + timedelta(minutes=1), end=SESSION_OPEN + timedelta(minutes=3)
    )

    assert [bar.start for bar in selected] == [SESSION_OPEN + timedelta(minutes=m) for m in (1, 2)]


def test_latest_returns_the_last_bars_oldest_first_and_fewer_when_fewer_are_stored(session: Session) -> None:
    bars = BarRepository(session)
    bars.upsert_many([make_bar(minute) for minute in range(5)])
    bars.upsert_many([make_bar(minute, interval="5m") for minute in range(0, 25, 5)])
    session.commit()

    assert [bar.start for bar in bars.latest("INFY", "1m", 3)] == [
        SESSION_OPEN + timedelta(minutes=m) for m in (2, 3, 4)
    ]
    assert len(bars.latest("INFY", "1m", 60)) == 5
    assert bars.latest("TCS", "1m", 3) == []
