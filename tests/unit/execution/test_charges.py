"""Zerodha's charges against contract notes computed by hand from the published rates."""

from __future__ import annotations

from decimal import Decimal

import pytest

from execution.charges import Charges, NoteLine, Segment, contract_note, fill_charges, segment_of

D = Decimal


def test_an_intraday_round_trip_matches_the_contract_note_worked_by_hand():
    # buy 100 INFY at 1500 and sell them at 1510, intraday on NSE: turnover 150,000 + 151,000 = 301,000
    note = contract_note([
        NoteLine("BUY", ((100, D("1500")),), Segment.EQUITY_INTRADAY),
        NoteLine("SELL", ((100, D("1510")),), Segment.EQUITY_INTRADAY),
    ])  # fmt: skip

    assert note == Charges(
        brokerage=D("40.00"),  # 0.03% of each leg is 45 and 45.30: capped at 20 an order
        stt=D("38"),  # 0.025% of the sell, 37.75, to the rupee
        exchange=D("8.94"),  # 0.00297% of 301,000 = 8.9397
        sebi=D("0.30"),  # 10 a crore: 0.301
        stamp=D("4.50"),  # 0.003% of the buy
        gst=D("8.86"),  # 18% of 40 + 8.94 + 0.30 = 8.8632
    )
    assert note.total == D("100.60") and note.turnover == D("301000")


@pytest.mark.parametrize(
    ("side", "qty", "price", "segment", "venue", "expected"),
    [
        # 5,000 of MIS: 1.50 brokerage, 0.1485 exchange, 0.005 SEBI (half up), 0.15 stamp, 18% of 1.66
        ("BUY", 10, "500", Segment.EQUITY_INTRADAY, "NSE", ("1.50", "0", "0.15", "0.01", "0.15", "0.30")),
        # 20,000 of delivery: no brokerage, 0.1% STT, 0.594 exchange, 0.02 SEBI, 0.015% stamp, 18% of 0.61
        ("BUY", 10, "2000", Segment.EQUITY_DELIVERY, "NSE", ("0", "20.00", "0.59", "0.02", "3.00", "0.11")),
        # 750,000 of a future sold: 20 brokerage, 0.02% STT, 0.00173% = 12.975, 0.75 SEBI, 18% of 33.73
        ("SELL", 500, "1500", Segment.FUTURES, "NFO", ("20.00", "150.00", "12.98", "0.75", "0", "6.07")),
        # 30,000 on BSE intraday, sold: 9 brokerage, 7.50 STT, 0.00375% = 1.125, 0.03 SEBI, 18% of 10.16
        ("SELL", 20, "1500", Segment.EQUITY_INTRADAY, "BSE", ("9.00", "7.50", "1.13", "0.03", "0", "1.83")),
    ],
)
def test_one_fills_charges(side: str, qty: int, price: str, segment: Segment, venue: str, expected: tuple[str, ...]):
    charges = fill_charges(side=side, qty=qty, price=D(price), segment=segment, venue=venue)

    got = (charges.brokerage, charges.stt, charges.exchange, charges.sebi, charges.stamp, charges.gst)
    assert got == tuple(D(x) for x in expected)


def test_the_brokerage_cap_is_the_orders_across_its_fills():
    first = fill_charges(side="BUY", qty=30, price=D("1000"), segment=Segment.EQUITY_INTRADAY)  # 0.03%: 9
    second = fill_charges(
        side="BUY", qty=50, price=D("1000"), segment=Segment.EQUITY_INTRADAY, brokerage_paid=first.brokerage
    )  # 15 more would pass the cap: 11
    third = fill_charges(side="BUY", qty=50, price=D("1000"), segment=Segment.EQUITY_INTRADAY, brokerage_paid=D("20"))

    assert (first.brokerage, second.brokerage, third.brokerage) == (D("9.00"), D("11.00"), D("0.00"))
    assert third.gst == D("0.28")  # 18% of exchange 1.485 -> 1.49 and SEBI 0.05: 0.2772


def test_segments_and_bad_input():
    assert segment_of("MIS") is Segment.EQUITY_INTRADAY and segment_of("CNC") is Segment.EQUITY_DELIVERY
    assert segment_of("NRML", "FUT") is Segment.FUTURES and segment_of("MIS", "FUT") is Segment.FUTURES
    with pytest.raises(ValueError, match="NRML"):
        segment_of("NRML")
    with pytest.raises(ValueError, match="instrument type 'CE'"):
        segment_of("MIS", "CE")
    with pytest.raises(ValueError, match="side must be BUY or SELL"):
        fill_charges(side="HOLD", qty=1, price=D(1), segment=Segment.EQUITY_INTRADAY)
    with pytest.raises(ValueError, match="qty must be > 0"):
        fill_charges(side="BUY", qty=0, price=D(1), segment=Segment.EQUITY_INTRADAY)
    with pytest.raises(ValueError, match="venue 'MCX'"):
        fill_charges(side="BUY", qty=1, price=D(1), segment=Segment.EQUITY_INTRADAY, venue="MCX")
