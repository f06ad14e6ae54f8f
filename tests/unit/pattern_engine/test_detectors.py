"""Each detector fires on the pattern it is for, on the right side, once; and stays quiet on calm ticks.

Every test runs on both implementations: the Python reference, and the Rust core when it is built (CI builds
it, so there its absence is a failure).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import pytest

from aitrader.contracts import Tick
from pattern_engine.config import EngineConfig, parse_config
from pattern_engine.engine import Detection, Engine
from pattern_engine.native import load_engine, native_module
from pattern_engine.reference import ReferenceEngine
from tests.pattern_scenarios import Scenario, merged, raw

BUILT = native_module() is not None
IMPLEMENTATIONS = [
    "python",
    pytest.param(
        "rust",
        marks=pytest.mark.skipif(not BUILT and not os.environ.get("CI"), reason="the Rust extension is not built"),
    ),
]
CONFIG = """
symbols = ["INFY", "TCS", "RELIANCE", "RELIANCE25NOVFUT"]
warmup_s = 300
[[pairs]]
leg_a = "RELIANCE25NOVFUT"
leg_b = "RELIANCE"
"""
Factory = Callable[..., Engine]


@pytest.fixture(params=IMPLEMENTATIONS)
def make_engine(request: pytest.FixtureRequest) -> Factory:
    def make(extra: str = "") -> Engine:
        return load_engine(parse_config(CONFIG + extra), implementation=request.param)

    return make


def fired(engine: Engine, ticks: list[Tick], pattern: str) -> list[Detection]:
    return [detection for detection in engine.on_ticks(ticks) if detection.pattern == pattern]


def test_momentum_burst_fires_once_on_a_fast_move_with_volume(make_engine: Factory):
    infy = Scenario("INFY").run(400).run(20, drift_bps=4.0, volume=6.0)

    signals = fired(make_engine(), infy.ticks, "momentum_burst")

    assert len(signals) == 1
    signal = signals[0]
    assert signal.side == 1 and 0.5 <= signal.score <= 1.0
    assert set(signal.features) == {"return_bps", "sigma_multiple", "volume_ratio"}
    assert signal.features["sigma_multiple"] >= 3.0 and signal.features["volume_ratio"] >= 2.5
    assert signal.tick_ts_ns > infy.ticks[400 * 4].ts_ns


def test_momentum_burst_needs_the_volume(make_engine: Factory):
    infy = Scenario("INFY").run(400).run(20, drift_bps=4.0, volume=1.0)

    assert fired(make_engine(), infy.ticks, "momentum_burst") == []


def test_calm_ticks_fire_nothing_but_the_odd_vwap_fade(make_engine: Factory):
    ticks = merged(Scenario("INFY", seed=1).run(1_200), Scenario("TCS", seed=2, price=3_100.0).run(1_200))

    patterns = {detection.pattern for detection in make_engine().on_ticks(ticks)}

    assert patterns <= {"vwap_deviation"}


def test_mean_reversion_fades_a_sudden_move_without_volume(make_engine: Factory):
    infy = Scenario("INFY").run(400).run(8, drift_bps=-10.0)

    signals = fired(make_engine(), infy.ticks, "mean_reversion")

    assert len(signals) == 1
    assert signals[0].side == 1  # the price fell: buy it back
    assert signals[0].features["z"] <= -4.0 and signals[0].features["deviation_bps"] < 0


def test_mean_reversion_does_not_fade_a_move_carried_by_volume(make_engine: Factory):
    infy = Scenario("INFY").run(400).run(8, drift_bps=-10.0, volume=8.0)

    assert fired(make_engine(), infy.ticks, "mean_reversion") == []


def test_mean_reversion_fires_again_only_after_the_z_score_came_back(make_engine: Factory):
    away_and_back = Scenario("INFY").run(400).run(8, drift_bps=10.0).run(8, drift_bps=-10.0).run(300)
    away_and_further = Scenario("INFY").run(400).run(8, drift_bps=10.0).run(10).run(8, drift_bps=10.0)
    extra = "[mean_reversion]\ncooldown_s = 1\n"

    assert len(fired(make_engine(extra), away_and_back.run(8, drift_bps=10.0).ticks, "mean_reversion")) == 2
    assert len(fired(make_engine(extra), away_and_further.ticks, "mean_reversion")) == 1


def test_book_imbalance_fires_after_it_persists_and_the_microprice_agrees(make_engine: Factory):
    short = Scenario("INFY").run(400)
    short.run(1, book_ratio=8.0, rate_hz=4)  # 4 ticks: one short of persist_ticks
    lasting = Scenario("INFY").run(400).run(5, book_ratio=1 / 8.0)

    assert fired(make_engine(), short.run(10).ticks, "book_imbalance") == []
    signals = fired(make_engine(), lasting.ticks, "book_imbalance")
    assert len(signals) == 1
    assert signals[0].side == -1
    assert signals[0].features["run_ticks"] == 5.0
    assert signals[0].features["imbalance"] == pytest.approx(-7 / 9)
    assert signals[0].features["microprice_lean"] < 0
    assert signals[0].score == pytest.approx(-(7 / 9) / 1.2)


def test_breakout_fires_when_price_leaves_a_tight_range(make_engine: Factory):
    infy = Scenario("INFY").run(300).run(150, sigma_bps=0.05).run(10, drift_bps=5.0)
    loose = Scenario("INFY").run(450).run(10, drift_bps=5.0)

    signals = fired(make_engine(), infy.ticks, "breakout")

    assert [signal.side for signal in signals] == [1]
    assert signals[0].features["breach_bps"] > 0
    assert fired(make_engine(), loose.ticks, "breakout") == []


def test_vwap_deviation_fades_a_price_far_from_the_session_vwap(make_engine: Factory):
    infy = Scenario("INFY", sigma_bps=0.2).run(400).run(60, drift_bps=2.0).run(5)

    signals = fired(make_engine(), infy.ticks, "vwap_deviation")

    assert [signal.side for signal in signals] == [-1]
    assert signals[0].features["deviation_bps"] >= 60.0
    assert signals[0].features["vwap"] == pytest.approx(1_500.0, rel=5e-3)


def test_pair_spread_sells_the_leg_that_got_rich(make_engine: Factory):
    future = Scenario("RELIANCE25NOVFUT", seed=5).run(700)
    cash = Scenario("RELIANCE", seed=5).run(700)
    future.run(5, drift_bps=3.0)
    cash.run(5)

    signals = fired(make_engine(), merged(future, cash), "pair_spread")

    assert len(signals) == 1
    assert signals[0].symbol == "RELIANCE25NOVFUT" and signals[0].side == -1
    assert signals[0].features["z"] >= 3.0 and signals[0].features["leg_b_mid"] > 0


def test_nothing_fires_during_the_warm_up(make_engine: Factory):
    early = Scenario("INFY").run(200).run(20, drift_bps=4.0, volume=6.0)

    assert make_engine().on_ticks(early.ticks) == []


def test_a_cooldown_keeps_a_second_burst_quiet(make_engine: Factory):
    def bursts(apart_s: int) -> list[Tick]:
        infy = Scenario("INFY").run(400).run(20, drift_bps=4.0, volume=6.0)
        return infy.run(apart_s).run(20, drift_bps=4.0, volume=6.0).ticks

    assert len(fired(make_engine(), bursts(20), "momentum_burst")) == 1
    assert len(fired(make_engine(), bursts(90), "momentum_burst")) == 2


def test_a_long_silence_starts_the_symbol_over(make_engine: Factory):
    infy = Scenario("INFY").run(400).gap(3_601).run(20, drift_bps=4.0, volume=6.0)

    assert make_engine().on_ticks(infy.ticks) == []


def test_a_disabled_detector_never_fires(make_engine: Factory):
    infy = Scenario("INFY").run(400).run(20, drift_bps=4.0, volume=6.0)

    engine = make_engine("[overrides.INFY.momentum_burst]\nenabled = false\n")

    assert fired(engine, infy.ticks, "momentum_burst") == []


def test_the_same_ticks_give_the_same_signals(make_engine: Factory):
    ticks = merged(Scenario("INFY").run(400).run(20, drift_bps=4.0, volume=6.0), Scenario("TCS").run(420))

    assert make_engine().on_ticks(ticks) == make_engine().on_ticks(ticks)


def test_bad_ticks_are_counted_and_skipped_without_changing_what_fires():
    config = parse_config(CONFIG)
    ticks = Scenario("INFY").run(400).run(20, drift_bps=4.0, volume=6.0).ticks
    good = ReferenceEngine(config)
    expected = good.on_ticks(ticks)
    bad = [
        raw(ticks[500], ltp=math.nan),
        raw(ticks[501], ltp=-1500.0),
        raw(ticks[502], ltp=math.inf),
        raw(ticks[503], bid=-1.0),
        raw(ticks[504], ltq=0),
        raw(ticks[505], ltq=-10),
        raw(ticks[506], bid_depth_qty=-1),
        raw(ticks[507], ts_ns=ticks[506].ts_ns - 1),
        ("WIPRO", raw(ticks[508])[1]),
    ]
    engine = ReferenceEngine(config)
    out: list[Detection] = []
    for index, tick in enumerate(ticks):
        if 510 <= index < 510 + len(bad):
            symbol, broken = bad[index - 510]
            engine.process(symbol, broken, out)
        engine.process(*raw(tick), out)

    assert out == expected
    counters = engine.counters()
    assert counters["ticks"] == len(ticks)
    assert counters["skipped_bad_price"] == 4
    assert counters["skipped_bad_quantity"] == 3
    assert counters["skipped_out_of_order"] == 1
    assert counters["skipped_unknown_symbol"] == 1
    assert counters["signals_momentum_burst"] == 1


def test_config_without_pairs_or_with_every_detector_off_is_quiet():
    config: EngineConfig = parse_config(
        'symbols = ["INFY"]\n'
        + "".join(
            f"[{name}]\nenabled = false\n"
            for name in ("momentum_burst", "mean_reversion", "book_imbalance", "breakout", "vwap_deviation")
        )
    )
    infy = Scenario("INFY").run(400).run(20, drift_bps=4.0, volume=6.0)

    assert ReferenceEngine(config).on_ticks(infy.ticks) == []
