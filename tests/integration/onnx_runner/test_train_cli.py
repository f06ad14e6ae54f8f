"""`aitrader train` run as a person runs it: N-BEATS fitted on 1-minute bars stored in PostgreSQL, published into
the registry and recorded in `models`; the example classifiers on generated series; bad arguments refused."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from aitrader.db.models import ModelArtifact
from aitrader.db.repositories import BarRepository
from aitrader.db.session import make_engine, make_session_factory, session_scope
from onnx_runner.registry import Registry
from onnx_runner.training.data import synthetic_closes
from tests.factories import make_bar, make_local_stack


def test_nbeats_trains_on_stored_bars_publishes_and_records_the_model(tmp_path: Path, database_url: str) -> None:
    engine = make_engine(database_url)
    with session_scope(make_session_factory(engine)) as session:
        for symbol, closes in synthetic_closes(["AAA", "BBB"], 1200, seed=2).items():
            BarRepository(session).upsert_many(
                make_bar(minute, symbol=symbol, close=Decimal(f"{close:.2f}"), high=Decimal("1e6"), low=Decimal(0))
                for minute, close in enumerate(closes)
            )
    stack = make_local_stack(tmp_path, DATABASE_URL=database_url)
    models = tmp_path / "models"

    trained = stack.aitrader("train", "nbeats", "--out", str(models), "--epochs", "8", "--width", "48", "--json")

    assert trained.returncode == 0, trained.stderr
    report = json.loads(trained.stdout)
    assert report["model"] == "nbeats@1" and Path(report["file"]) == models / "nbeats-v1.onnx"
    assert report["metrics"]["nbeats_mae"] < report["metrics"]["naive_mae"]
    registry = Registry(models)
    registry.refresh()
    meta = registry.get("nbeats").meta
    assert meta.training["source"]["symbols"] == ["AAA", "BBB"] and meta.training["source"]["closes"] == 2400
    with session_scope(make_session_factory(engine)) as session:
        row = session.scalars(select(ModelArtifact)).one()
        assert (row.name, row.version, row.kind) == ("nbeats", "1", "forecast")
        assert row.path == str((models / "nbeats-v1.onnx").resolve())
        assert row.metadata_["metrics"]["naive_mae"] == report["metrics"]["naive_mae"]
    engine.dispose()

    table = stack.aitrader("train", "nbeats", "--symbols", "AAA", "--out", str(models), "--epochs", "2")
    missing = stack.aitrader("train", "nbeats", "--symbols", "ZZZ", "--out", str(models))
    wrong = stack.aitrader("train", "nbeats", "--architecture", "deep", "--out", str(models))

    assert "naive" in table.stdout and "seasonal naive" in table.stdout and "N-BEATS" in table.stdout
    assert missing.returncode == 1 and "no 1m bars for ZZZ" in missing.stderr
    assert wrong.returncode == 2 and "--architecture must be generic or interpretable, was 'deep'" in wrong.stderr


def test_examples_train_on_generated_series_without_a_database(tmp_path: Path) -> None:
    stack = make_local_stack(tmp_path)
    models = tmp_path / "models"

    trained = stack.aitrader("train", "examples", "--synthetic", "--out", str(models), "--epochs", "3", "--json")
    no_data = stack.aitrader("train", "nbeats", "--out", str(models))

    assert trained.returncode == 0, trained.stderr
    assert [row["model"] for row in json.loads(trained.stdout)] == ["mlp@1", "cnn@1"]
    assert sorted(p.name for p in models.iterdir()) == ["cnn-v1.json", "cnn-v1.onnx", "mlp-v1.json", "mlp-v1.onnx"]
    assert no_data.returncode == 1 and "no database" in no_data.stderr
