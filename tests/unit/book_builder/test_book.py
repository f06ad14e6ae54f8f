"""BookBuilder: books, VWAP and bars from ticks, checked against an independent pandas computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aitrader.contracts import Bar, Depth, Level, Tick
from book_builder.book import BookBuilder, ist_day

OPEN_NS = 1_763_696_700_000_000_000  # 2025-11-21 09:15:00 IST
NOW = 1


def _random_ticks(seed: int = 3, n: int = 4_000) -> list[Tick]:
    """Three symbols over three minutes. INFY and TCS carry a cumulative volume and, as Kite does, repeat the
    last trade's quantity on quote-only updates; SBIN's feed has no volume, so each tick's ltq is a trade."""
    rng = np.random.default_rng(seed)
    symbols = np.array(["INFY", "TCS", "SBIN"])
    chosen = symbols[rng.integers(0, 3, n)]
    times = OPEN_NS + np.sort(rng.integers(0, 180_000_000_000, n))
    ticks = []
    state = {s: {"price": 1000.0 + 500 * i, "volume": 0, "seq": 0, "ltq": 0} for i, s in enumerate(symbols)}
    for symbol, ts in zip(chosen, times, strict=True):
        s = state[symbol]
        s["seq"] += 1
        traded = int(rng.integers(1, 50)) if rng.random() < 0.7 else 0  # 30%: a quote update, no trade
        if traded:
            s["volume"] += traded
            s["ltq"] = traded
        s["price"] = round(max(1.0, s["price"] + rng.choice([-0.05, 0.0, 0.05])) * 20) / 20
        with_volume = symbol != "SBIN"
        ticks.append(
            Tick(ts_ns=int(ts), symbol=str(symbol), seq=s["seq"], ltp=s["price"],
                 ltq=s["ltq"] if with_volume else traded, volume=s["volume"] if with_volume else 0,
                 bid=s["price"] - 0.05, ask=s["price"] + 0.05, bid_qty=100, ask_qty=50)
        )  # fmt: skip
    return ticks


def _traded(frame: pd.DataFrame) -> np.ndarray:
    """The documented rule, recomputed: the rise of the last known (> 0) cumulative volume, else ltq."""
    known = frame["volume"].where(frame["volume"] > 0)
    previous = known.groupby(frame["symbol"]).transform(lambda v: v.ffill().shift())
    rise = (frame["volume"] - previous).clip(lower=0)
    return np.where((frame["volume"] > 0) & previous.notna(), rise, frame["ltq"])


def _run(ticks: list[Tick]) -> tuple[BookBuilder, list, list[Bar]]:
    builder = BookBuilder()
    bars: list[Bar] = []
    updates = [builder.on_tick(tick, NOW, bars) for tick in ticks]
    builder.end_of_data(NOW, bars)
    return builder, updates, bars


def _expected_bars(ticks: list[Tick], interval: str) -> pd.DataFrame:
    frame = pd.DataFrame([{"symbol": t.symbol, "ts": t.ts_ns, "ltp": t.ltp, "volume": t.volume, "ltq": t.ltq}
                          for t in ticks])  # fmt: skip
    frame["traded"] = _traded(frame)
    frame["value"] = frame["ltp"] * frame["traded"]
    length = {"1s": 1_000_000_000, "1m": 60_000_000_000}[interval]
    frame["start"] = frame["ts"] // length * length
    grouped = frame.groupby(["symbol", "start"], sort=True)
    expected = grouped.agg(
        open=("ltp", "first"),
        high=("ltp", "max"),
        low=("ltp", "min"),
        close=("ltp", "last"),
        volume=("traded", "sum"),
        value=("value", "sum"),
        tick_count=("ltp", "size"),
        trade_count=("traded", lambda q: int((q > 0).sum())),
    ).reset_index()
    expected["vwap"] = np.where(expected["volume"] > 0, expected["value"] / expected["volume"].replace(0, 1), np.nan)
    return expected


@pytest.mark.parametrize("interval", ["1s", "1m"])
def test_bars_match_an_independent_pandas_computation(interval: str):
    ticks = _random_ticks()

    _, _, bars = _run(ticks)

    got = pd.DataFrame(
        [{"symbol": b.symbol, "start": b.start_ns, "open": b.open, "high": b.high, "low": b.low, "close": b.close,
          "volume": b.volume, "vwap": b.vwap if b.vwap is not None else np.nan, "tick_count": b.tick_count,
          "trade_count": b.trade_count, "end": b.end_ns}
         for b in bars if b.interval == interval]
    ).sort_values(["symbol", "start"]).reset_index(drop=True)  # fmt: skip
    expected = _expected_bars(ticks, interval)
    assert len(got) == len(expected)
    columns = ["symbol", "start", "open", "high", "low", "close", "volume", "tick_count", "trade_count"]
    pd.testing.assert_frame_equal(got[columns], expected[columns], check_dtype=False)
    np.testing.assert_allclose(got["vwap"], expected["vwap"], rtol=1e-12, equal_nan=True)
    assert (got["end"] - got["start"]).unique().tolist() == [{"1s": 1_000_000_000, "1m": 60_000_000_000}[interval]]


def test_session_vwap_matches_pandas_cumulative_vwap():
    ticks = _random_ticks(seed=11)

    _, updates, _ = _run(ticks)

    frame = pd.DataFrame([{"symbol": t.symbol, "ltp": t.ltp, "volume": t.volume, "ltq": t.ltq} for t in ticks])
    frame["traded"] = _traded(frame)
    frame["value"] = frame["ltp"] * frame["traded"]
    cumulative = frame.groupby("symbol")[["value", "traded"]].cumsum()
    expected = cumulative["value"] / cumulative["traded"]
    got = [np.nan if u.vwap is None else u.vwap for u in updates]  # None until the first trade
    np.testing.assert_allclose(got, expected.to_numpy(), rtol=1e-12, equal_nan=True)


def test_book_measures_on_the_best_level():
    builder = BookBuilder()
    tick = Tick(ts_ns=OPEN_NS, symbol="INFY", seq=1, ltp=100.0, bid=99.95, ask=100.05, bid_qty=300, ask_qty=100)

    update = builder.on_tick(tick, NOW, [])

    assert update is not None
    assert update.mid == pytest.approx(100.0) and update.spread == pytest.approx(0.1)
    assert update.imbalance == pytest.approx(0.5)  # (300 - 100) / 400
    assert update.microprice == pytest.approx((100.05 * 300 + 99.95 * 100) / 400)  # leans to the ask
    assert update.bids == (Level(99.95, 300),) and update.asks == (Level(100.05, 100),)
    assert (update.tick_ts_ns, update.ts_ns, update.crossed) == (OPEN_NS, NOW, False)


def test_depth_gives_the_l2_book():
    depth = Depth(bids=(Level(99.95, 300, 3), Level(99.9, 800, 9)), asks=(Level(100.05, 100, 1),))
    tick = Tick(ts_ns=OPEN_NS, symbol="INFY", seq=1, ltp=100.0, depth=depth)

    update = BookBuilder().on_tick(tick, NOW, [])

    assert update is not None and update.bids == depth.bids and update.asks == depth.asks


def test_a_crossed_book_is_flagged_and_has_no_mid_or_microprice():
    builder = BookBuilder()
    tick = Tick(ts_ns=OPEN_NS, symbol="INFY", seq=1, ltp=100.0, bid=100.1, ask=100.0, bid_qty=5, ask_qty=5)

    update = builder.on_tick(tick, NOW, [])

    assert update is not None and update.crossed
    assert (update.mid, update.spread, update.microprice, update.imbalance) == (None, None, None, None)
    assert builder.counters.crossed == 1


def test_a_one_sided_book_has_no_mid():
    tick = Tick(ts_ns=OPEN_NS, symbol="INFY", seq=1, ltp=100.0, bid=99.95, bid_qty=10)

    update = BookBuilder().on_tick(tick, NOW, [])

    assert update is not None and update.mid is None and update.bids == (Level(99.95, 10),) and update.asks == ()


def test_duplicate_and_out_of_order_ticks_are_dropped_and_counted():
    builder = BookBuilder()
    first, second, third = (Tick(ts_ns=OPEN_NS + i, symbol="INFY", seq=i, ltp=100.0, ltq=1) for i in (1, 2, 3))

    results = [builder.on_tick(t, NOW, []) for t in (first, third, third, second)]

    assert [r is not None for r in results] == [True, True, False, False]
    assert (builder.counters.ticks, builder.counters.duplicates, builder.counters.out_of_order) == (2, 1, 1)


def test_unsequenced_ticks_are_all_taken():
    builder = BookBuilder()

    results = [builder.on_tick(Tick(ts_ns=OPEN_NS, symbol="INFY", ltp=100.0), NOW, []) for _ in range(3)]

    assert all(r is not None for r in results) and builder.counters.ticks == 3


def test_a_quiet_symbols_bar_is_closed_by_the_market_clock():
    builder = BookBuilder()
    closed: list[Bar] = []
    builder.on_tick(Tick(ts_ns=OPEN_NS, symbol="INFY", seq=1, ltp=100.0, ltq=5), NOW, closed)
    builder.on_tick(Tick(ts_ns=OPEN_NS + 61_000_000_000, symbol="TCS", seq=1, ltp=200.0, ltq=5), NOW, closed)

    builder.close_due(NOW, closed)

    assert sorted((b.symbol, b.interval) for b in closed) == [("INFY", "1m"), ("INFY", "1s")]  # TCS still open
    minute = next(b for b in closed if b.interval == "1m")
    assert (minute.start_ns, minute.open, minute.volume, minute.vwap) == (OPEN_NS, 100.0, 5, 100.0)


def test_end_of_data_closes_every_bar_and_a_new_replay_starts_its_sequence_again():
    builder = BookBuilder()
    closed: list[Bar] = []
    builder.on_tick(Tick(ts_ns=OPEN_NS, symbol="INFY", seq=5, ltp=100.0, ltq=5), NOW, closed)

    builder.end_of_data(NOW, closed)

    assert sorted(b.interval for b in closed) == ["1m", "1s"]
    assert builder.on_tick(Tick(ts_ns=OPEN_NS, symbol="INFY", seq=1, ltp=100.0), NOW, []) is not None


def test_the_session_resets_at_ist_midnight():
    builder = BookBuilder()
    day_one = Tick(ts_ns=OPEN_NS, symbol="INFY", seq=1, ltp=100.0, volume=1_000, ltq=1_000)
    day_two = Tick(ts_ns=OPEN_NS + 86_400_000_000_000, symbol="INFY", seq=2, ltp=200.0, volume=10, ltq=10)

    builder.on_tick(day_one, NOW, [])
    update = builder.on_tick(day_two, NOW, [])

    assert ist_day(day_two.ts_ns) == ist_day(day_one.ts_ns) + 1
    assert update is not None and update.vwap == 200.0  # a fresh session, and its first trade counted (ltq)


def test_a_tick_older_than_its_symbols_open_bar_is_counted_late_and_left_out_of_the_bars():
    builder = BookBuilder()
    closed: list[Bar] = []
    builder.on_tick(Tick(ts_ns=OPEN_NS + 2_000_000_000, symbol="INFY", ltp=100.0, ltq=5), NOW, closed)

    builder.on_tick(Tick(ts_ns=OPEN_NS, symbol="INFY", ltp=90.0, ltq=5), NOW, closed)
    builder.end_of_data(NOW, closed)

    assert builder.counters.late_for_bars == 1
    second = next(b for b in closed if b.interval == "1s")
    assert (second.low, second.volume, second.tick_count) == (100.0, 5, 1)
