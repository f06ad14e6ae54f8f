"""The config file: defaults, per-symbol overrides, and every mistake reported with the key that made it."""

from __future__ import annotations

from pathlib import Path

import pytest

from aitrader.errors import ConfigurationError
from pattern_engine.config import EngineConfig, load_config, parse_config

UNIVERSE = 'symbols = ["INFY", "TCS"]\n'


def test_a_file_with_only_the_universe_takes_every_default():
    config = parse_config(UNIVERSE)

    assert config.symbols == ["INFY", "TCS"]
    assert config.detectors_for("INFY") == config.detectors_for("TCS")
    assert config.detectors_for("INFY").momentum_burst.k == 3.0
    assert config.pairs == []


def test_overrides_change_only_the_keys_they_name_for_only_their_symbol():
    config = parse_config(UNIVERSE + "[momentum_burst]\nk = 2.5\n[overrides.INFY.momentum_burst]\nwindow_s = 45\n")

    infy, tcs = config.detectors_for("INFY").momentum_burst, config.detectors_for("TCS").momentum_burst
    assert (infy.k, infy.window_s) == (2.5, 45)
    assert (tcs.k, tcs.window_s) == (2.5, 30)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[momentum_burst]\nbogus = 1\n", "unknown field `bogus`"),
        ("warmup = 3\n", "unknown field `warmup`"),
        ("[overrides.INFY.breakout]\nwidth = 3\n", "unknown field `width`"),
        ("[overrides.INFY.nonsense]\nk = 3\n", "unknown detector `nonsense`"),
        ("[overrides.WIPRO.breakout]\nwindow_s = 3\n", "overrides.WIPRO: WIPRO is not in symbols"),
        ("[momentum_burst]\nk = -1.0\n", "momentum_burst.k"),
        ("[breakout]\nwindow_s = 0\n", "breakout.window_s"),
        ("[mean_reversion]\nz = 2.0\nrearm_z = 2.5\n", "mean_reversion: rearm_z must be < z"),
        ("[vwap_deviation]\nrearm_bps = 70.0\n", "vwap_deviation: rearm_bps must be < threshold_bps"),
        ('[[pairs]]\nleg_a = "INFY"\nleg_b = "WIPRO"\n', "pairs[0]: WIPRO is not in symbols"),
        ('[[pairs]]\nleg_a = "INFY"\nleg_b = "INFY"\n', "pairs[0]: leg_a and leg_b must differ"),
        ('[[pairs]]\nleg_a = "INFY"\n', "missing required field `leg_b`"),
        ("[book_imbalance]\nthreshold = 1.5\n", "book_imbalance.threshold"),
        ("[overrides.INFY.mean_reversion]\nrearm_z = 9.0\n", "overrides.INFY.mean_reversion: rearm_z must be < z"),
    ],
)
def test_every_mistake_is_reported_with_its_key(text: str, named: str):
    with pytest.raises(ConfigurationError) as caught:
        parse_config(UNIVERSE + text)

    assert named in str(caught.value)


def test_the_universe_must_be_there_and_must_not_repeat():
    with pytest.raises(ConfigurationError, match="missing required field `symbols`"):
        parse_config("warmup_s = 3\n")
    with pytest.raises(ConfigurationError, match="symbols must not repeat, was INFY"):
        parse_config('symbols = ["INFY", "INFY"]\n')
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        parse_config("symbols = [\n")


def test_a_missing_file_is_a_configuration_error_naming_it(tmp_path: Path):
    with pytest.raises(ConfigurationError, match=r"cannot read pattern engine config .*nope\.toml"):
        load_config(tmp_path / "nope.toml")


def test_the_packaged_default_config_is_valid():
    config = load_config(Path(__file__).resolve().parents[3] / "pattern_engine" / "default.toml")

    assert isinstance(config, EngineConfig)
    assert [(pair.leg_a, pair.leg_b) for pair in config.pairs] == [("RELIANCE25NOVFUT", "RELIANCE")]
