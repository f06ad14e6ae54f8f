"""pattern_engine's settings and its packaged default config."""

from __future__ import annotations

from pathlib import Path

import pytest

from aitrader.errors import ConfigurationError
from aitrader.marketdata.synthetic import MarketConfig, generate_market
from aitrader.settings import load_settings
from pattern_engine.config import EngineConfig, load_config
from pattern_engine.settings import PatternEngineSettings, default_config_path


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No PATTERN_ENGINE_* variable from the outer environment, and no .env file in the working directory."""
    for name in PatternEngineSettings.model_fields:
        monkeypatch.delenv(f"PATTERN_ENGINE_{name.upper()}", raising=False)
    monkeypatch.chdir(tmp_path)


def test_the_default_config_is_the_sample_days_universe_with_its_future_paired_to_the_underlying():
    day = generate_market(MarketConfig(ticks_target=1_000))  # the instruments do not depend on the tick count
    future = next(instrument.tradingsymbol for instrument in day.instruments if instrument.instrument_type == "FUT")

    config = load_config(default_config_path())

    assert config.symbols == [instrument.tradingsymbol for instrument in day.instruments]
    assert config.symbols[:12] == list(MarketConfig().cash_symbols)
    assert [(pair.leg_a, pair.leg_b) for pair in config.pairs] == [(future, "RELIANCE")]


def test_the_default_config_leaves_every_threshold_at_its_default():
    config = load_config(default_config_path())
    bare = EngineConfig(symbols=config.symbols)

    for name in EngineConfig.__struct_fields__:
        if name not in ("symbols", "pairs"):
            assert getattr(config, name) == getattr(bare, name), name


def test_defaults_read_ticks_with_the_packaged_config_on_port_8012():
    settings = load_settings(PatternEngineSettings)

    assert settings.port == 8012 and settings.implementation == "auto" and settings.input == "ticks"
    assert settings.config_path() == default_config_path() and settings.input_stream() == "ticks"


def test_the_environment_picks_a_shard_the_book_a_config_and_the_implementation(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.setenv("PATTERN_ENGINE_SHARD", "3")
    monkeypatch.setenv("PATTERN_ENGINE_IMPLEMENTATION", "python")
    monkeypatch.setenv("PATTERN_ENGINE_CONFIG", str(tmp_path / "engine.toml"))

    settings = load_settings(PatternEngineSettings)

    assert settings.input_stream() == "ticks:3" and settings.implementation == "python"
    assert settings.config_path() == tmp_path / "engine.toml"
    assert load_settings(PatternEngineSettings, shard=None, input="book").input_stream() == "book"


def test_a_shard_of_the_book_stream_is_refused_naming_the_variable():
    settings = load_settings(PatternEngineSettings, input="book", shard=1)

    with pytest.raises(ConfigurationError, match="PATTERN_ENGINE_SHARD: the `book` stream is not sharded"):
        settings.input_stream()


@pytest.mark.parametrize(
    ("variable", "value"),
    [("PATTERN_ENGINE_IMPLEMENTATION", "cuda"), ("PATTERN_ENGINE_INPUT", "bars"), ("PATTERN_ENGINE_BATCH_SIZE", "0")],
)
def test_a_bad_value_is_reported_naming_the_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str):
    monkeypatch.setenv(variable, value)

    with pytest.raises(ConfigurationError, match=f"{variable}: .*was '{value}'"):
        load_settings(PatternEngineSettings)
