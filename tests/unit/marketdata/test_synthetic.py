"""The synthetic market day: deterministic, inside the session, sane books, and patterns where the labels say."""

from __future__ import annotations

from datetime import date
from itertools import pairwise
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from aitrader.errors import ConfigurationError
from aitrader.marketdata.files import TickFile
from aitrader.marketdata.instruments import Segment, make_token, read_instruments
from aitrader.marketdata.schema import DEPTH_COLUMNS, DEPTH_LEVELS, TICK_SCHEMA, depth_column
from aitrader.marketdata.synthetic import (
    CARRY_RATE,
    FILE_TICK_SCHEMA,
    LABEL_SCHEMA,
    ROW_GROUP_SIZE,
    SESSION_SECONDS,
    MarketConfig,
    PatternKind,
    SyntheticDay,
    generate_market,
    session_open_ns,
    write_sample_day,
)

NANOS = 1_000_000_000
CONFIG = MarketConfig(seed=7, symbols=("RELIANCE", "TCS", "INFY"), ticks_target=80_000, episodes_per_kind=2)
FUTURE = "RELIANCE25NOVFUT"
OPEN_NS = session_open_ns(CONFIG.trading_date)
CLOSE_NS = OPEN_NS + SESSION_SECONDS * NANOS

Series = dict[str, np.ndarray]


@pytest.fixture(scope="module")
def day() -> SyntheticDay:
    return generate_market(CONFIG)


@pytest.fixture(scope="module")
def series(day: SyntheticDay) -> dict[str, Series]:
    """Per symbol, in time order: ts, ltp, ltq, volume, seq, mid, bid/ask depth totals, level-1 quotes."""
    result: dict[str, Series] = {}
    for instrument in day.instruments:
        rows = day.ticks.filter(pc.equal(day.ticks.column("symbol"), instrument.tradingsymbol))
        data = {name: rows.column(name).to_numpy() for name in rows.column_names if name not in ("symbol", "venue")}
        data["mid"] = (data["bid"] + data["ask"]) / 2
        for side in ("bid", "ask"):
            data[f"{side}_total"] = sum(data[depth_column(side, "qty", level)] for level in range(1, DEPTH_LEVELS + 1))
        result[instrument.tradingsymbol] = data
    return result


def _labels(day: SyntheticDay, kind: PatternKind) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = day.labels.filter(pc.equal(day.labels.column("kind"), str(kind))).to_pylist()
    assert rows, f"no {kind} labels"
    return rows


def _detail(label: dict[str, object]) -> dict[str, float]:
    return {key: float(value) for key, value in (part.split("=") for part in str(label["detail"]).split(";"))}


def _at(data: Series, name: str, ts_ns: int | np.ndarray) -> np.ndarray:
    """``name`` as of the last tick at or before ``ts_ns``."""
    index = np.maximum(np.searchsorted(data["ts_ns"], ts_ns, side="right") - 1, 0)
    return data[name][index]


def _window(data: Series, start_ns: int, end_ns: int) -> np.ndarray:
    return (data["ts_ns"] >= start_ns) & (data["ts_ns"] < end_ns)


def _session_vwap(data: Series) -> np.ndarray:
    """The session VWAP after each tick: sum of ltp x ltq over sum of ltq since the first tick of the day."""
    return np.cumsum(data["ltp"] * data["ltq"]) / np.cumsum(data["ltq"])


def _vwap_bps(data: Series, vwap: np.ndarray, ts_ns: int) -> float:
    """The last price's distance from the session VWAP, in basis points, as of the last tick at or before ``ts_ns``."""
    index = max(int(np.searchsorted(data["ts_ns"], ts_ns, side="right")) - 1, 0)
    return float((data["ltp"][index] / vwap[index] - 1.0) * 1e4)


def test_same_seed_gives_identical_tables_and_parquet_bytes(day: SyntheticDay, tmp_path: Path) -> None:
    again = generate_market(CONFIG)
    first = write_sample_day(tmp_path / "first", CONFIG)
    second = write_sample_day(tmp_path / "second", CONFIG)

    assert again.ticks.equals(day.ticks)
    assert again.labels.equals(day.labels)
    assert again.instruments == day.instruments
    for name in ("ticks_path", "labels_path", "instruments_path"):
        assert getattr(first, name).read_bytes() == getattr(second, name).read_bytes(), name


def test_different_seed_gives_different_ticks(day: SyntheticDay) -> None:
    other = generate_market(MarketConfig(seed=8, symbols=CONFIG.symbols, ticks_target=80_000, episodes_per_kind=2))

    assert other.ticks.num_rows == day.ticks.num_rows
    assert not other.ticks.column("ltp").equals(day.ticks.column("ltp"))
    assert not other.labels.equals(day.labels)


def test_tick_count_is_the_target_and_ticks_lie_inside_the_session(day: SyntheticDay) -> None:
    ts = day.ticks.column("ts_ns").to_numpy()

    assert OPEN_NS == 1_763_696_700_000_000_000  # 2025-11-21 09:15:00 IST
    assert day.ticks.num_rows == CONFIG.ticks_target
    assert ts.min() >= OPEN_NS
    assert ts.max() < CLOSE_NS
    assert np.all(np.diff(ts) >= 0)


def test_table_has_canonical_columns_then_all_depth_columns(day: SyntheticDay) -> None:
    assert day.ticks.column_names == [*TICK_SCHEMA.names, *DEPTH_COLUMNS]
    assert day.ticks.schema.field("ts_ns").type == pa.int64()
    assert day.labels.schema.equals(LABEL_SCHEMA)
    assert all(column.null_count == 0 for column in day.ticks.columns)


def test_every_price_is_a_positive_multiple_of_the_tick_size(day: SyntheticDay) -> None:
    names = ["ltp", "bid", "ask", *(name for name in DEPTH_COLUMNS if "_price_" in name)]
    for name in names:
        prices = day.ticks.column(name).to_numpy()
        in_ticks = prices * 20
        assert prices.min() > 0, name
        assert np.abs(in_ticks - np.rint(in_ticks)).max() < 1e-6, name
        assert np.array_equal(prices, np.rint(in_ticks) / 20), f"{name} is not the double nearest its 2-dp value"


def test_book_has_five_ordered_levels_with_bid_below_ask_and_ltp_between(series: dict[str, Series]) -> None:
    for symbol, data in series.items():
        spread_ticks = np.rint((data["ask"] - data["bid"]) * 20)
        assert spread_ticks.min() >= 1, symbol
        assert spread_ticks.max() <= 3, symbol
        assert np.all(data["bid"] <= data["ltp"]) and np.all(data["ltp"] <= data["ask"]), symbol
        assert np.array_equal(data["bid"], data["bid_price_1"]) and np.array_equal(data["ask"], data["ask_price_1"])
        assert np.array_equal(data["bid_qty"], data["bid_qty_1"]) and np.array_equal(data["ask_qty"], data["ask_qty_1"])
        for level in range(1, DEPTH_LEVELS):
            assert np.all(data[f"bid_price_{level + 1}"] < data[f"bid_price_{level}"]), (symbol, level)
            assert np.all(data[f"ask_price_{level + 1}"] > data[f"ask_price_{level}"]), (symbol, level)
        for side in ("bid", "ask"):
            for level in range(1, DEPTH_LEVELS + 1):
                qty, orders = data[f"{side}_qty_{level}"], data[f"{side}_orders_{level}"]
                assert qty.min() > 0 and orders.min() >= 1, (symbol, side, level)
                assert np.all(orders <= qty), (symbol, side, level)


def test_spread_is_wider_in_quarter_hours_of_high_volatility(series: dict[str, Series]) -> None:
    ratios = []
    for symbol in CONFIG.symbols:
        data = series[symbol]
        every_30_s = np.log(_at(data, "mid", OPEN_NS + np.arange(751) * 30 * NANOS))
        volatility = np.median(np.abs(np.diff(every_30_s)).reshape(25, 30), axis=1)
        quarter = (data["ts_ns"] - OPEN_NS) // (900 * NANOS)
        spread = np.bincount(quarter, weights=data["ask"] - data["bid"]) / np.bincount(quarter)
        wild = volatility > np.median(volatility)
        ratios.append(spread[wild].mean() / spread[~wild].mean())

    assert min(ratios) > 1.0, ratios
    assert np.mean(ratios) > 1.05, ratios


def test_volume_is_cumulative_traded_quantity_per_symbol(series: dict[str, Series]) -> None:
    for symbol, data in series.items():
        assert data["ltq"].min() >= 1, symbol
        assert np.all(np.diff(data["volume"]) >= 0), symbol
        assert np.array_equal(data["volume"], np.cumsum(data["ltq"])), symbol
        assert np.array_equal(data["seq"], np.arange(1, data["seq"].size + 1)), symbol
        assert np.all(np.diff(data["ts_ns"]) > 0), symbol
    assert np.all(series[FUTURE]["ltq"] % 500 == 0)


def test_first_and_last_half_hours_are_busier_per_minute_than_midday(series: dict[str, Series]) -> None:
    minute = 60 * NANOS
    for symbol, data in series.items():
        ts = data["ts_ns"]
        opening = _window(data, OPEN_NS, OPEN_NS + 30 * minute).sum() / 30
        closing = _window(data, CLOSE_NS - 30 * minute, CLOSE_NS).sum() / 30
        midday = _window(data, OPEN_NS + 165 * minute, OPEN_NS + 255 * minute).sum() / 90
        assert opening > 1.5 * midday, symbol
        assert closing > 1.2 * midday, symbol
        volume_opening = data["ltq"][ts < OPEN_NS + 30 * minute].sum() / 30
        volume_midday = data["ltq"][_window(data, OPEN_NS + 165 * minute, OPEN_NS + 255 * minute)].sum() / 90
        assert volume_opening > 1.5 * volume_midday, symbol


def test_every_pattern_kind_is_labelled_clear_of_the_open_close_and_each_other(day: SyntheticDay) -> None:
    labels = day.labels.to_pylist()
    kinds = {str(label["kind"]) for label in labels}

    assert kinds == {str(kind) for kind in PatternKind}
    counts = {(label["symbol"], label["kind"]) for label in labels}
    assert len(labels) == 3 * 5 * 2 + 2 == len(counts) * 2
    for symbol in {str(label["symbol"]) for label in labels}:
        own = sorted((label for label in labels if label["symbol"] == symbol), key=lambda label: label["start_ns"])
        for earlier, later in pairwise(own):
            assert earlier["end_ns"] < later["start_ns"], (symbol, earlier, later)
    for label in labels:
        assert label["start_ns"] >= OPEN_NS + 20 * 60 * NANOS
        assert label["end_ns"] <= CLOSE_NS - 30 * 60 * NANOS
        assert label["direction"] in (-1, 1)
        assert label["magnitude"] > 0
    pair = [label for label in labels if label["kind"] == "pair_spread"]
    assert {label["symbol"] for label in pair} == {FUTURE}
    assert {label["detail"] for label in pair} == {"RELIANCE"}


def test_momentum_burst_moves_its_way_far_beyond_a_typical_move_with_more_ticks(
    day: SyntheticDay, series: dict[str, Series]
) -> None:
    for label in _labels(day, PatternKind.MOMENTUM_BURST):
        data = series[str(label["symbol"])]
        start, end = int(label["start_ns"]), int(label["end_ns"])
        move = np.log(_at(data, "mid", end) / _at(data, "mid", start))
        length = end - start
        starts = np.arange(OPEN_NS + 1800 * NANOS, CLOSE_NS - 1800 * NANOS - length, 30 * NANOS)
        typical = np.median(np.abs(np.log(_at(data, "mid", starts + length) / _at(data, "mid", starts))))
        day_rate = data["ts_ns"].size / SESSION_SECONDS
        burst_rate = _window(data, start, end).sum() / (length / NANOS)

        assert np.sign(move) == label["direction"], label
        assert abs(move) > 3 * typical, (label, move, typical)
        assert burst_rate > 1.5 * day_rate, (label, burst_rate, day_rate)


def test_mean_reversion_swings_away_and_returns_near_the_start_price(
    day: SyntheticDay, series: dict[str, Series]
) -> None:
    for label in _labels(day, PatternKind.MEAN_REVERSION):
        data = series[str(label["symbol"])]
        start_ns, peak_ns, end_ns = int(label["start_ns"]), int(_detail(label)["peak_ns"]), int(label["end_ns"])
        start = _at(data, "mid", start_ns)
        swing = label["direction"] * np.log(data["mid"][_window(data, start_ns, end_ns)] / start)
        excursion = swing.max()
        residual = np.log(_at(data, "mid", end_ns) / start)

        assert start_ns < peak_ns < end_ns
        assert excursion * 1e4 > 0.5 * float(label["magnitude"]), (label, excursion)
        assert abs(residual) < 0.25 * excursion, (label, excursion, residual)


def test_book_imbalance_leans_the_labelled_way_and_the_price_follows(
    day: SyntheticDay, series: dict[str, Series]
) -> None:
    follow = 0.0
    for label in _labels(day, PatternKind.BOOK_IMBALANCE):
        data = series[str(label["symbol"])]
        inside = _window(data, int(label["start_ns"]), int(label["end_ns"]))
        imbalance = (data["bid_total"] - data["ask_total"]) / (data["bid_total"] + data["ask_total"])
        microprice = (data["bid"] * data["ask_qty"] + data["ask"] * data["bid_qty"]) / (
            data["bid_qty"] + data["ask_qty"]
        )
        lean = (microprice - data["mid"])[inside].mean()
        follow += label["direction"] * np.log(
            _at(data, "mid", int(_detail(label)["move_end_ns"])) / _at(data, "mid", int(label["start_ns"]))
        )

        assert inside.sum() >= 3, label
        assert label["direction"] * imbalance[inside].mean() > 0.5, (label, imbalance[inside].mean())
        assert abs(imbalance.mean()) < 0.1
        assert np.sign(lean) == label["direction"], label
    assert follow > 0


def test_breakout_leaves_its_narrow_range_in_the_labelled_direction(
    day: SyntheticDay, series: dict[str, Series]
) -> None:
    for label in _labels(day, PatternKind.BREAKOUT):
        data = series[str(label["symbol"])]
        detail = _detail(label)
        start, breaks, end = int(label["start_ns"]), int(detail["break_ns"]), int(label["end_ns"])
        consolidation = data["ltp"][_window(data, start, breaks)]
        low, high = consolidation.min(), consolidation.max()
        after = data["ltp"][_window(data, breaks, end + 1)]
        close = _at(data, "mid", end)

        assert (low, high) == (detail["range_low"], detail["range_high"])
        assert (breaks - start) / NANOS >= 180
        assert np.log(high / low) * 1e4 < float(label["magnitude"]), label
        if label["direction"] == 1:
            assert after.max() > high and close > high, label
        else:
            assert after.min() < low and close < low, label


def test_pair_spread_z_is_large_at_episodes_and_reverts(day: SyntheticDay, series: dict[str, Series]) -> None:
    future, cash = series[FUTURE], series["RELIANCE"]
    expiry = next(i.expiry for i in day.instruments if i.tradingsymbol == FUTURE)
    assert expiry is not None
    carry = CARRY_RATE * (expiry - CONFIG.trading_date).days / 365
    spread = np.log(future["mid"] / _at(cash, "mid", future["ts_ns"])) - np.log1p(carry)
    labels = _labels(day, PatternKind.PAIR_SPREAD)
    quiet = np.ones(spread.size, dtype=bool)
    for label in labels:
        quiet &= ~_window(future, int(label["start_ns"]), int(label["end_ns"]))
    z = (spread - spread[quiet].mean()) / spread[quiet].std()

    assert abs(spread[quiet].mean()) < 2e-4
    for label in labels:
        start, end = int(label["start_ns"]), int(label["end_ns"])
        peak = (label["direction"] * z[_window(future, start, end)]).max()
        tail = z[_window(future, end - (end - start) // 5, end)]
        assert peak > 3, (label, peak)
        assert abs(tail.mean()) < 0.5 * peak, (label, tail.mean(), peak)
    every_five_minutes = _at({"ts_ns": future["ts_ns"], "z": z}, "z", np.arange(OPEN_NS, CLOSE_NS, 300 * NANOS))
    lag_one = np.corrcoef(every_five_minutes[:-1], every_five_minutes[1:])[0, 1]
    assert lag_one < 0.5


def test_vwap_deviation_crosses_away_from_the_realized_session_vwap_holds_and_comes_back(
    day: SyntheticDay, series: dict[str, Series]
) -> None:
    vwaps = {symbol: _session_vwap(data) for symbol, data in series.items()}
    for label in _labels(day, PatternKind.VWAP_DEVIATION):
        data, vwap = series[str(label["symbol"])], vwaps[str(label["symbol"])]
        detail = _detail(label)
        start, hold, end = int(label["start_ns"]), int(detail["hold_ns"]), int(label["end_ns"])
        back = end + (hold - start)  # the return to the VWAP takes as long as the ramp away from it
        at_hold = int(np.searchsorted(data["ts_ns"], hold, side="right")) - 1
        held = label["direction"] * (data["ltp"] / vwap - 1.0)[_window(data, hold, end)] * 1e4

        assert start < hold < end, label
        assert label["direction"] in (-1, 1) and 90 <= float(label["magnitude"]) <= 150, label
        assert abs(vwap[at_hold] / detail["vwap"] - 1.0) * 1e4 < 4, (label, vwap[at_hold])
        assert abs(_vwap_bps(data, vwap, start) - detail["start_bps"]) < 5, label
        assert label["direction"] * _vwap_bps(data, vwap, start) < 60, label
        assert label["direction"] * _vwap_bps(data, vwap, hold) > 0.8 * float(label["magnitude"]), label
        assert held.size >= 3 and np.median(held) > 60, (label, np.median(held))
        assert abs(_vwap_bps(data, vwap, back)) < 20, label


@pytest.mark.slow
def test_every_vwap_deviation_of_the_default_day_crosses_sixty_bps_off_the_realized_vwap() -> None:
    day = generate_market(MarketConfig())
    labels = day.labels.filter(pc.equal(day.labels.column("kind"), str(PatternKind.VWAP_DEVIATION))).to_pylist()

    assert len(labels) == 3 * len(MarketConfig().cash_symbols)
    for symbol in {str(label["symbol"]) for label in labels}:
        rows = day.ticks.filter(pc.equal(day.ticks.column("symbol"), symbol))
        data = {name: rows.column(name).to_numpy() for name in ("ts_ns", "ltp", "ltq")}
        vwap = _session_vwap(data)
        for label in (label for label in labels if label["symbol"] == symbol):
            detail = _detail(label)
            at_hold = int(np.searchsorted(data["ts_ns"], int(detail["hold_ns"]), side="right")) - 1

            assert abs(vwap[at_hold] / detail["vwap"] - 1.0) * 1e4 < 3, (label, vwap[at_hold])
            # Not yet 60 bps off on the planted side (a price already far off starts on the other side).
            assert label["direction"] * _vwap_bps(data, vwap, int(label["start_ns"])) < 60, label
            assert label["direction"] * _vwap_bps(data, vwap, int(detail["hold_ns"])) >= 60, label


def test_instruments_are_nse_equities_and_a_near_month_future_closing_at_the_last_price(
    day: SyntheticDay, series: dict[str, Series]
) -> None:
    by_symbol = {instrument.tradingsymbol: instrument for instrument in day.instruments}

    assert list(by_symbol) == ["RELIANCE", "TCS", "INFY", FUTURE]
    assert by_symbol["RELIANCE"].instrument_token == make_token(2885, Segment.NSE) == 738561
    for symbol in ("RELIANCE", "TCS", "INFY"):
        equity = by_symbol[symbol]
        assert (equity.exchange, equity.segment, equity.instrument_type) == ("NSE", "NSE", "EQ")
        assert (equity.lot_size, equity.tick_size) == (1, 0.05)
    future = by_symbol[FUTURE]
    assert (future.exchange, future.segment, future.instrument_type, future.lot_size) == ("NFO", "NFO-FUT", "FUT", 500)
    assert future.segment_code == Segment.NFO
    assert future.expiry == date(2025, 11, 25)  # the last Tuesday: NSE monthly expiry since September 2025
    for symbol, instrument in by_symbol.items():
        assert instrument.last_price == series[symbol]["ltp"][-1]


def test_written_files_follow_the_tick_file_layout_and_read_back_equal(day: SyntheticDay, tmp_path: Path) -> None:
    files = write_sample_day(tmp_path / "day", CONFIG)
    parquet = pq.ParquetFile(files.ticks_path)

    assert (files.tick_count, files.label_count, files.instrument_count) == (80_000, 32, 4)
    assert parquet.schema_arrow.equals(FILE_TICK_SCHEMA)
    assert all(parquet.metadata.row_group(i).num_rows <= ROW_GROUP_SIZE for i in range(parquet.num_row_groups))
    assert parquet.metadata.row_group(0).column(0).compression == "ZSTD"
    read_back = pa.concat_tables(TickFile(files.ticks_path).batches())
    assert read_back.column_names == day.ticks.column_names
    for name in day.ticks.column_names:
        assert read_back.column(name).equals(day.ticks.column(name)), name
    assert pq.read_table(files.labels_path).equals(day.labels)
    assert read_instruments(files.instruments_path) == day.instruments
    assert sorted(path.name for path in (tmp_path / "day").iterdir()) == [
        "instruments.csv",
        "labels.parquet",
        "ticks.parquet",
    ]


def test_default_config_is_a_dozen_equities_and_a_future_over_a_million_ticks() -> None:
    config = MarketConfig()

    assert len(config.cash_symbols) >= 10
    assert config.future_underlying in config.cash_symbols
    assert config.ticks_target >= 1_000_000
    assert set(config.patterns) == set(PatternKind)
    assert config.trading_date.weekday() < 5


def test_invalid_config_reports_every_bad_field_at_once() -> None:
    with pytest.raises(ConfigurationError) as raised:
        MarketConfig(
            seed=-1,
            trading_date=date(2025, 11, 22),
            symbols=("RELIANCE", "NOPE", "RELIANCE"),
            future_underlying="TCS",
            ticks_target=5,
            episodes_per_kind=99,
        )

    message = str(raised.value)
    assert "seed must be an integer >= 0, was -1" in message
    assert "trading_date must be a weekday (NSE trades Monday-Friday), was Saturday 2025-11-22" in message
    assert "was NOPE" in message
    assert "must not repeat, was RELIANCE" in message
    assert "future_underlying must be one of the day's symbols" in message and "was 'TCS'" in message
    assert "ticks_target must be between 1000 and 50000000, was 5" in message
    assert "episodes_per_kind must be between 0 and" in message and "was 99" in message


def test_pair_pattern_without_a_future_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="pair_spread, which needs a future_underlying, was None"):
        MarketConfig(future_underlying=None)


def test_a_day_without_patterns_has_no_labels() -> None:
    day = generate_market(MarketConfig(symbols=("ITC",), future_underlying=None, ticks_target=1_000, patterns=()))

    assert day.labels.num_rows == 0
    assert day.labels.schema.equals(LABEL_SCHEMA)
    assert day.ticks.num_rows == 1_000


def test_monthly_expiry_moved_from_the_last_thursday_to_the_last_tuesday_in_september_2025() -> None:
    from aitrader.marketdata.synthetic import monthly_expiry

    assert monthly_expiry(date(2025, 7, 10)) == date(2025, 7, 31)  # Thursday
    assert monthly_expiry(date(2025, 11, 21)) == date(2025, 11, 25)  # Tuesday
    assert monthly_expiry(date(2025, 11, 26)) == date(2025, 12, 30)  # past this month's: the next one
