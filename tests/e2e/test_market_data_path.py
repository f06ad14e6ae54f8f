"""The market data path through the real stack and CLI, as `make demo` runs it: replay, book, bars, signals,
and a forecast from the stored bars by the model `aitrader train` published into the running onnx_runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aitrader.marketdata.synthetic import MarketConfig, write_sample_day
from tests.factories import make_local_stack

pytestmark = pytest.mark.slow


def test_a_replayed_slice_of_a_sample_day_reaches_books_and_stored_bars(tmp_path: Path):
    files = write_sample_day(tmp_path / "data", MarketConfig(seed=9, ticks_target=30_000))
    stack = make_local_stack(tmp_path)
    try:
        up = stack.aitrader("up")
        assert up.returncode == 0, up.stdout + up.stderr
        trained = stack.aitrader("train", "nbeats", "--synthetic", "--epochs", "5", "--width", "32")
        assert trained.returncode == 0, trained.stdout + trained.stderr

        replay = stack.aitrader("replay", str(files.ticks_path), "--limit", "20000")
        report = stack.aitrader("market", "--json", "--wait", "60")

        assert replay.returncode == 0, replay.stdout + replay.stderr
        assert "finished: 20,000 ticks published, 0 skipped" in replay.stdout
        assert report.returncode == 0, report.stdout + report.stderr
        document = json.loads(report.stdout)
        assert document["book_builder_caught_up"] is True
        assert document["replay"]["published"] == 20_000
        assert len(document["books"]) == files.instrument_count
        assert all(book["vwap"] > 0 and book["spread"] > 0 for book in document["books"].values())
        assert document["bars_1m"]["count"] > 0 and document["bars_1m"]["symbols"] == files.instrument_count
        signals = stack.aitrader("signals", "--json", "--wait", "60")
        assert signals.returncode == 0, signals.stdout + signals.stderr
        found = json.loads(signals.stdout)
        assert found["pattern_engine_caught_up"] is True
        assert found["signals"] == sum(found["by_pattern"].values()) > 0
        symbol = sorted(document["books"])[0]
        forecast = stack.aitrader("forecast", symbol, "--json")
        assert forecast.returncode == 0, forecast.stdout + forecast.stderr
        answer = json.loads(forecast.stdout)
        assert answer["model"] == "nbeats@1" and answer["history_source"] == "bars"
        assert len(answer["forecast"]) == 10 and all(value > 0 for value in answer["forecast"])
        table = stack.aitrader("forecast", symbol)
        assert table.returncode == 0 and "90% band" in table.stdout, table.stdout + table.stderr
        outside = stack.aitrader("replay", "/etc/hostname")
        assert outside.returncode == 1 and "must lie under" in outside.stderr
        both = stack.aitrader("replay", str(files.ticks_path), "--synthetic")
        assert both.returncode == 2 and "not both" in both.stderr
        generated = stack.aitrader("replay", "--synthetic", "--seed", "2", "--ticks", "5000")
        assert generated.returncode == 0, generated.stdout + generated.stderr
        assert "synthetic market (seed 2)" in generated.stdout and "finished: 5,000 ticks published" in generated.stdout
    finally:
        stack.aitrader("down")
    assert stack.processes() == []
