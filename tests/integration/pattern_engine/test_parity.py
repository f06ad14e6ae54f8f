"""Rust and Python give the same signals: on the sample day, and on generated tick sequences of every shape.

Same pattern, symbol, side and tick; score, price and features within 1e-9 (in practice they are equal to the
last bit, because the Rust core does the reference's arithmetic in the reference's order).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aitrader.marketdata.schema import ticks_from_table
from aitrader.marketdata.synthetic import MarketConfig, generate_market
from pattern_engine.config import EngineConfig, load_config, parse_config
from pattern_engine.engine import Detection
from pattern_engine.native import RustEngine, native_module
from pattern_engine.reference import ReferenceEngine, TickInput

REPO_ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.skipif(
    native_module() is None and not os.environ.get("CI"),  # CI builds it: there, its absence fails the tests
    reason="the Rust extension is not built (make setup builds it)",
)
TOLERANCE = 1e-9


def assert_same(rust: list[Detection], python: list[Detection]) -> None:
    assert len(rust) == len(python), f"rust fired {len(rust)} times, python {len(python)}"
    for ours, theirs in zip(rust, python, strict=True):
        key = (ours.symbol, ours.pattern, ours.side, ours.tick_ts_ns)
        assert key == (theirs.symbol, theirs.pattern, theirs.side, theirs.tick_ts_ns)
        assert math.isclose(ours.score, theirs.score, rel_tol=0.0, abs_tol=TOLERANCE), key
        assert math.isclose(ours.price, theirs.price, rel_tol=0.0, abs_tol=TOLERANCE), key
        assert list(ours.features) == list(theirs.features), key
        for name, value in ours.features.items():
            assert math.isclose(value, theirs.features[name], rel_tol=TOLERANCE, abs_tol=TOLERANCE), (key, name)


SAMPLE_SEED = 7
"""The seed `aitrader data sample` uses."""


@pytest.fixture(scope="module")
def sample_day() -> pa.Table:
    """The sample day `aitrader data sample` writes."""
    return generate_market(MarketConfig(seed=SAMPLE_SEED)).ticks


@pytest.fixture(scope="module")
def default_config() -> EngineConfig:
    return load_config(REPO_ROOT / "pattern_engine" / "default.toml")


def batches(table: pa.Table, rows: int = 100_000) -> Iterator[pa.Table]:
    for start in range(0, table.num_rows, rows):
        yield table.slice(start, rows)


@pytest.mark.slow
def test_the_sample_day_gives_the_same_signals_in_rust_and_python(sample_day: pa.Table, default_config: EngineConfig):
    rust = RustEngine(default_config)
    rust_signals = [detection for batch in batches(sample_day) for detection in rust.on_batch(batch)]
    python = ReferenceEngine(default_config)
    python_signals = [
        detection for batch in batches(sample_day) for detection in python.on_ticks(ticks_from_table(batch))
    ]

    assert len(python_signals) > 100
    assert {detection.pattern for detection in python_signals} == {
        "momentum_burst",
        "mean_reversion",
        "book_imbalance",
        "breakout",
        "vwap_deviation",
        "pair_spread",
    }
    assert_same(rust_signals, python_signals)
    assert rust.counters() == python.counters()


def test_per_tick_calls_give_what_batches_give(sample_day: pa.Table, default_config: EngineConfig):
    part = sample_day.slice(0, 150_000)
    per_tick = RustEngine(default_config)
    batched = RustEngine(default_config)

    one_by_one = per_tick.on_ticks(ticks_from_table(part))
    in_batches = [detection for batch in batches(part, 9_999) for detection in batched.on_batch(batch)]

    assert one_by_one == in_batches
    assert per_tick.counters() == batched.counters()


# -- generated sequences ------------------------------------------------------------------------------------

SMALL = parse_config(
    """
symbols = ["A", "B", "C"]
warmup_s = 5
volatility_tau_s = 20
volume_tau_s = 20
[momentum_burst]
window_s = 3
k = 2.0
volume_surge = 1.5
cooldown_s = 2
[mean_reversion]
ewma_tau_s = 5
z = 2.0
rearm_z = 1.0
window_s = 2
cooldown_s = 2
[book_imbalance]
threshold = 0.3
persist_ticks = 2
cooldown_s = 1
[breakout]
window_s = 4
max_range_sigmas = 2.0
break_fraction = 0.2
hold_s = 3
cooldown_s = 2
[vwap_deviation]
threshold_bps = 8.0
rearm_bps = 4.0
cooldown_s = 3
[overrides.B.momentum_burst]
k = 1.0
[[pairs]]
leg_a = "A"
leg_b = "B"
tau_s = 10
z = 2.0
rearm_z = 0.5
cooldown_s = 2
"""
)
NAMES = ["A", "B", "C", "ZZZ"]  # ZZZ is outside the universe

special_prices = st.sampled_from([math.nan, math.inf, -math.inf, -1.0, 0.0, 1e-300, 1e300])
gaps_ms = st.one_of(
    st.integers(0, 1_500),
    st.sampled_from([0, 1, 999, 1_000, 4_000, 3_600_000, 3_601_000, 86_400_000]),
    st.integers(-2_000, -1),  # out of order
)


@st.composite
def tick_rows(draw: st.DrawFn, most: int = 400) -> list[tuple[str, TickInput]]:
    count = draw(st.integers(1, most))
    now_ms = draw(st.integers(1_763_696_700_000, 1_763_700_000_000))
    prices = {name: draw(st.floats(50.0, 5_000.0)) for name in NAMES}
    rows: list[tuple[str, TickInput]] = []
    for _ in range(count):
        name = draw(st.sampled_from(NAMES))
        now_ms += draw(gaps_ms)
        prices[name] *= math.exp(draw(st.floats(-0.004, 0.004)))
        price = prices[name]
        ltp = draw(special_prices) if draw(st.integers(0, 40)) == 0 else round(price, 2)
        spread = draw(st.sampled_from([0.05, 0.1, 0.0, -0.05]))
        bid = round(price - spread / 2, 2) if draw(st.integers(0, 9)) else math.nan
        ask = round(price + spread / 2, 2) if draw(st.integers(0, 9)) else math.nan
        bid_depth = draw(st.integers(0, 5_000))
        ask_depth = draw(st.integers(0, 5_000))
        rows.append(
            (
                name,
                TickInput(
                    ts_ns=now_ms * 1_000_000,
                    ltp=ltp,
                    ltq=draw(st.one_of(st.integers(1, 500), st.sampled_from([0, -1, 10_000]))),
                    bid=bid,
                    ask=ask,
                    bid_qty=draw(st.integers(0, 3_000)),
                    ask_qty=draw(st.integers(0, 3_000)),
                    bid_depth_qty=bid_depth if draw(st.integers(0, 60)) else -1,
                    ask_depth_qty=ask_depth,
                ),
            )
        )
    return rows


def columns_of(rows: list[tuple[str, TickInput]]) -> dict[str, object]:
    fields = TickInput.__dataclass_fields__
    arrays: dict[str, object] = {
        "symbol_codes": np.array([NAMES.index(name) for name, _ in rows], dtype=np.int32),
        "symbols": NAMES,
    }
    for name in fields:
        kind = np.float64 if name in ("ltp", "bid", "ask") else np.int64
        arrays[name] = np.array([getattr(tick, name) for _, tick in rows], dtype=kind)
    return arrays


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(rows=tick_rows())
def test_generated_ticks_give_the_same_signals_and_counts(rows: list[tuple[str, TickInput]]):
    python = ReferenceEngine(SMALL)
    expected: list[Detection] = []
    for name, tick in rows:
        python.process(name, tick, expected)
    rust = RustEngine(SMALL)

    got = rust.on_batch(columns_of(rows))

    assert_same(got, expected)
    assert rust.counters() == python.counters()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(rows=st.lists(tick_rows(most=150), min_size=2, max_size=4))
def test_splitting_a_sequence_into_batches_changes_nothing(rows: list[list[tuple[str, TickInput]]]):
    whole = [row for part in rows for row in part]
    python = ReferenceEngine(SMALL)
    expected: list[Detection] = []
    for name, tick in whole:
        python.process(name, tick, expected)
    rust = RustEngine(SMALL)

    got = [detection for part in rows for detection in rust.on_batch(columns_of(part))]

    assert_same(got, expected)


def test_a_sequence_that_fires_every_detector_agrees_to_the_last_bit():
    """A fixed, busy sequence (so the check does not depend on what hypothesis happens to draw)."""
    rng = np.random.default_rng(11)
    rows: list[tuple[str, TickInput]] = []
    prices = {"A": 100.0, "B": 100.0, "C": 250.0}
    now = 1_763_696_700_000_000_000
    for step in range(20_000):
        name = "ABC"[step % 3]
        now += int(rng.integers(50, 400)) * 1_000_000
        shock = 0.02 if step % 2_000 in range(1_000, 1_012) else 0.0
        prices[name] *= math.exp(rng.normal(shock / 12, 0.0008))
        price = round(prices[name], 2)
        lean = 4.0 if step % 1_500 < 30 else 1.0
        rows.append(
            (
                name,
                TickInput(
                    now,
                    price,
                    int(rng.integers(1, 60)) * (5 if shock else 1),
                    price - 0.05,
                    price + 0.05,
                    int(300 * lean),
                    300,
                    int(1500 * lean),
                    1500,
                ),
            )
        )
    python = ReferenceEngine(SMALL)
    expected: list[Detection] = []
    for name, tick in rows:
        python.process(name, tick, expected)

    got = RustEngine(SMALL).on_batch(columns_of(rows))

    assert {detection.pattern for detection in expected} >= {
        "momentum_burst",
        "mean_reversion",
        "book_imbalance",
        "vwap_deviation",
        "pair_spread",
    }
    assert got == expected
