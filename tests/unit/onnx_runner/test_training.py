"""Training: windows split by time, N-BEATS (both architectures) beating the naive forecast on learnable series,
the exported graphs equal to the trained networks, the classifiers above their baseline, versions published."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import numpy as np
import onnxruntime as ort
import pytest

from aitrader.errors import ConfigurationError, ValidationError
from onnx_runner.registry import ModelMeta, Registry
from onnx_runner.training import (
    ClassifierConfig,
    NBeatsConfig,
    WorseThanNaive,
    examples,
    nbeats,
    next_version,
    train_examples,
    train_nbeats,
)
from onnx_runner.training.data import contiguous_runs, flatten, split_windows, synthetic_closes, windows
from onnx_runner.training.fit import FitConfig

FAST = FitConfig(epochs=8, batch_size=128)


@pytest.fixture(scope="module")
def series() -> list[np.ndarray]:
    return flatten(synthetic_closes(["AAA", "BBB", "CCC"], 2000, seed=11))


def session(content: bytes) -> ort.InferenceSession:
    return ort.InferenceSession(content, providers=["CPUExecutionProvider"])


def test_windows_take_lookback_inputs_and_the_horizon_after_them() -> None:
    cut = windows(np.arange(10.0), 4, 2)

    assert len(cut) == 5
    np.testing.assert_array_equal(cut.inputs[0], [0, 1, 2, 3])
    np.testing.assert_array_equal(cut.targets[0], [4, 5])
    np.testing.assert_array_equal(cut.targets[-1], [8, 9])
    assert len(windows(np.arange(5.0), 4, 2)) == 0


def test_split_is_chronological_and_no_value_is_a_target_in_two_parts() -> None:
    split = split_windows([np.arange(1000.0)], 20, 5)  # each value is its own index

    assert split.validation.targets.min() > split.train.targets.max()
    assert split.test.targets.min() > split.validation.targets.max()
    assert split.validation.inputs.min() > split.train.inputs.min()
    assert (len(split.train), len(split.validation), len(split.test)) == (674, 146, 146)


def test_too_little_history_is_refused_with_the_lengths() -> None:
    with pytest.raises(ValidationError, match=r"too little history.*longest was 30"):
        split_windows([np.arange(1.0, 31.0)], 20, 5)


def test_runs_are_cut_where_a_bar_is_missing() -> None:
    start = datetime(2026, 11, 24, 3, 45, tzinfo=UTC)
    starts = [start + timedelta(minutes=m) for m in (0, 1, 2, 5, 6, 1000)]

    runs = contiguous_runs(starts, np.arange(6.0), timedelta(minutes=1))

    assert [run.tolist() for run in runs] == [[0, 1, 2], [3, 4], [5]]


def test_seasonal_naive_repeats_the_last_season() -> None:
    history = np.array([[1.0, 2, 3, 4, 5, 6]])

    np.testing.assert_array_equal(nbeats.seasonal_naive(history, 5, 3), [[4, 5, 6, 4, 5]])


def test_config_problems_are_reported_together() -> None:
    both = r"width must be >= 1, was 0; band_level must be between 0 and 1, was 1\.5"
    with pytest.raises(ValidationError, match=both):
        NBeatsConfig(width=0, band_level=1.5).check()


def test_interpretable_bases_are_polynomials_and_harmonics_over_past_and_future() -> None:
    plan = nbeats.plan(
        NBeatsConfig(architecture="interpretable", lookback=8, horizon=4, trend_degree=2, harmonics=3, season=4)
    )

    assert [b.kind for b in plan.blocks] == ["trend"] * 3 + ["seasonality"] * 3
    assert plan.bases["trend.backcast"].shape == (3, 8) and plan.bases["trend.forecast"].shape == (3, 4)
    assert plan.bases["seasonality.forecast"].shape == (7, 4)
    np.testing.assert_allclose(plan.bases["trend.backcast"][1], np.arange(-8, 0) / 8)
    params = nbeats.init_params(plan)
    assert len([k for k in params if k.startswith("trend.fc")]) == 2 * 4  # the stack's blocks share weights


@pytest.mark.parametrize("architecture", ["generic", "interpretable"])
def test_nbeats_beats_naive_and_its_onnx_graph_is_the_trained_network(
    series: list[np.ndarray], architecture: nbeats.Architecture
) -> None:
    config = NBeatsConfig(architecture=architecture, width=48, blocks=2, fit=FAST)
    split = split_windows(series, config.lookback, config.horizon)
    progress: list[int] = []

    model = nbeats.train(split, config, lambda epoch: progress.append(epoch.number))

    metrics = model.metrics
    assert metrics["nbeats_mae"] < metrics["naive_mae"], metrics
    assert metrics["nbeats_mae"] < metrics["seasonal_naive_mae"], metrics
    assert 0.8 <= metrics["band_coverage"] <= 0.97, metrics
    assert progress == list(range(1, len(progress) + 1)) and progress
    forecast, lower, upper = session(model.to_onnx()).run(None, {"history": split.test.inputs.astype(np.float32)})
    expected = model.predict(split.test.inputs)
    for exported, trained in zip((forecast, lower, upper), expected, strict=True):
        np.testing.assert_allclose(exported, trained, rtol=2e-5)
    assert (lower <= forecast).all() and (forecast <= upper).all()


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_classifiers_beat_the_most_common_class_and_export_exactly(
    series: list[np.ndarray], kind: examples.Kind
) -> None:
    config = ClassifierConfig(kind=kind, width=32, fit=FAST)
    split = split_windows(series, config.lookback, config.horizon)

    model = examples.train(split, config)

    assert model.metrics["accuracy"] > model.metrics["majority_accuracy"] + 0.05, model.metrics
    (probabilities,) = session(model.to_onnx()).run(None, {"history": split.test.inputs[:64].astype(np.float32)})
    np.testing.assert_allclose(probabilities, model.probabilities(split.test.inputs[:64]), atol=2e-5)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)


def test_published_models_are_the_next_version_and_load_into_the_registry(
    series: list[np.ndarray], tmp_path: Path
) -> None:
    config = NBeatsConfig(width=16, blocks=1, fit=FitConfig(epochs=2, batch_size=256))
    first = train_nbeats(series, tmp_path, config, allow_worse_than_naive=True, source={"test": 1})
    second = train_nbeats(series, tmp_path, config, allow_worse_than_naive=True)
    classifiers = train_examples(series, tmp_path, ClassifierConfig(width=8, fit=FitConfig(epochs=1)))

    assert (first.meta.version, second.meta.version) == ("1", "2")
    assert second.path == tmp_path / "nbeats-v2.onnx"
    assert [p.meta.key for p in classifiers] == ["mlp@1", "cnn@1"]
    assert next_version(tmp_path, "nbeats") == "3"
    stored = msgspec.json.decode((tmp_path / "nbeats-v1.json").read_bytes(), type=ModelMeta)
    assert stored.training["source"] == {"test": 1} and stored.training["config"]["architecture"] == "generic"
    assert stored.metrics["naive_mae"] > 0
    registry = Registry(tmp_path)
    registry.refresh()
    assert registry.errors == {}
    assert registry.get("nbeats").meta.key == "nbeats@2"
    assert [m.meta.key for m in registry.models()] == ["cnn@1", "mlp@1", "nbeats@1", "nbeats@2"]
    assert not list(tmp_path.glob(".*partial"))


def test_a_forecaster_that_loses_to_naive_is_not_published(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    random_walks = [100 * np.exp(np.cumsum(rng.normal(0, 1e-3, 1500))) for _ in range(2)]
    diverging = FitConfig(epochs=1, learning_rate=0.5)  # a random walk and a step far too large: naive wins

    with pytest.raises(WorseThanNaive, match="did not beat the naive forecast") as refused:
        train_nbeats(random_walks, tmp_path, NBeatsConfig(width=16, blocks=1, fit=diverging))

    assert refused.value.model.metrics["mae_vs_naive"] >= 1
    assert list(tmp_path.iterdir()) == []


def test_a_job_payload_is_parsed_strictly_and_trains_what_it_names(tmp_path: Path) -> None:
    from onnx_runner.training.jobs import NBeatsJob, parse, run_nbeats

    job = parse(NBeatsJob, {"synthetic": True, "symbols": ["X1", "X2"], "length": 900, "epochs": 2, "width": 16})
    published = run_nbeats(
        msgspec.structs.replace(job, allow_worse_than_naive=True), tmp_path, database_url=None, progress=None
    )

    assert published.meta.training["source"] == {"synthetic": True, "symbols": ["X1", "X2"], "length": 900, "seed": 0}
    assert published.meta.training["config"]["width"] == 16
    with pytest.raises(ValidationError, match="invalid NBeatsJob request: Object contains unknown field `epoch`"):
        parse(NBeatsJob, {"epoch": 3})
    with pytest.raises(ValidationError, match=r"Expected `int`, got `str` - at `\$\.width`"):
        parse(NBeatsJob, {"width": "wide"})
    with pytest.raises(ConfigurationError, match="no database"):
        run_nbeats(parse(NBeatsJob, {}), tmp_path, database_url=None)
