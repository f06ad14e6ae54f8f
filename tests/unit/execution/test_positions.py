"""Average-cost positions: adding, reducing, flipping, and P&L that always adds up."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from execution.positions import Position, PositionBook

D = Decimal


def test_adding_moves_the_average_and_reducing_realises_against_it() -> None:
    position = Position("s", "INFY")
    position.apply(10, D("100"), D("1"))
    position.apply(10, D("110"), D("1"))
    assert (position.qty, position.avg_price) == (20, D("105"))

    position.apply(-5, D("120"), D("1"))

    assert (position.qty, position.avg_price, position.realised, position.fees) == (15, D("105"), D("75"), D("3"))


def test_a_fill_through_zero_closes_and_opens_the_rest_at_its_price() -> None:
    position = Position("s", "INFY")
    position.apply(10, D("100"), D("0"))

    position.apply(-15, D("90"), D("0"))

    assert (position.qty, position.avg_price, position.realised) == (-5, D("90"), D("-100"))
    position.last_price = D("80")
    assert position.unrealised == D("50")  # short 5 from 90, marked at 80


def test_the_book_sums_symbols_over_strategies_and_marks_every_holder() -> None:
    book = PositionBook()
    book.apply("a", "INFY", "NSE", 10, D("100"), D("1"))
    book.apply("b", "INFY", "NSE", -4, D("101"), D("1"))
    book.apply("a", "TCS", "NSE", 2, D("4000"), D("1"))

    book.mark("INFY", D("102"))

    assert book.net_qty() == {"INFY": 6, "TCS": 2}
    a, b = book.get("a", "INFY"), book.get("b", "INFY")
    assert a is not None and b is not None
    assert (a.unrealised, b.unrealised) == (D("20"), D("-4"))
    assert book.pnl() == D("20") - D("4") - D("3")


@given(
    st.lists(
        st.tuples(st.integers(-50, 50).filter(bool), st.integers(9_000, 11_000).map(lambda p: D(p) / 100)),
        min_size=1,
        max_size=40,
    ),
    st.integers(9_000, 11_000).map(lambda p: D(p) / 100),
)
def test_pnl_equals_cash_flow_plus_the_value_of_what_is_held(fills: list[tuple[int, Decimal]], mark: Decimal) -> None:
    position = Position("s", "X")
    cash = D(0)
    for qty, price in fills:
        position.apply(qty, price, D(0))
        cash -= qty * price
    position.last_price = mark

    assert position.qty == sum(qty for qty, _ in fills)
    # exact but for the average price's division (28 significant digits)
    assert abs(position.realised + position.unrealised - (cash + position.qty * mark)) < D("1e-18")
