"""Training: N-BEATS and the example classifiers fitted on bar closes (JAX), exported to ONNX into the registry.

The functions here are what the worker's training job and ``aitrader train`` call. They need the ``train``
extra (JAX, optax); nothing that serves a model imports this package.

A model is published as ``<name>-v<version>.onnx`` with its ``.json`` metadata (the next version of that name
in the directory), the metadata first and each file renamed into place whole, so the registry's hot reload
never sees half a model. With a database, the model is also recorded in ``models``.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import msgspec

from aitrader.errors import AITraderError
from onnx_runner.registry import ModelMeta, TensorSpec
from onnx_runner.training.data import Floats, split_windows
from onnx_runner.training.examples import LABELS, ClassifierConfig
from onnx_runner.training.fit import Epoch
from onnx_runner.training.nbeats import NBeatsConfig, NBeatsModel

__all__ = [
    "ClassifierConfig",
    "NBeatsConfig",
    "Published",
    "WorseThanNaive",
    "next_version",
    "publish",
    "train_examples",
    "train_nbeats",
]


class WorseThanNaive(AITraderError):
    """A trained forecaster did not beat the naive forecast on its test set; it is not published."""

    code = "WORSE_THAN_NAIVE"

    def __init__(self, message: str, model: NBeatsModel) -> None:
        super().__init__(message)
        self.model = model


@dataclass(frozen=True)
class Published:
    meta: ModelMeta
    path: Path

    @property
    def metrics(self) -> dict[str, float]:
        return self.meta.metrics


def train_nbeats(
    series: Sequence[Floats],
    models_dir: Path,
    config: NBeatsConfig,
    *,
    name: str = "nbeats",
    source: dict[str, Any] | None = None,
    progress: Callable[[Epoch], None] | None = None,
    allow_worse_than_naive: bool = False,
    database_url: str | None = None,
) -> Published:
    """Fit N-BEATS on ``series`` (runs of closes), evaluate it, and publish it unless naive did better."""
    from onnx_runner.training import nbeats

    config.check()
    model = nbeats.train(split_windows(series, config.lookback, config.horizon), config, progress)
    if model.metrics["mae_vs_naive"] >= 1 and not allow_worse_than_naive:
        raise WorseThanNaive(
            f"N-BEATS did not beat the naive forecast on the test set: MAE {model.metrics['nbeats_mae']:.4f} "
            f"against {model.metrics['naive_mae']:.4f}; not published",
            model,
        )
    horizon = config.horizon
    meta = ModelMeta(
        name=name,
        version="0",
        kind="forecast",
        inputs=(TensorSpec("history", (-1, config.lookback)),),
        outputs=tuple(TensorSpec(output, (-1, horizon)) for output in ("forecast", "lower", "upper")),
        lookback=config.lookback,
        horizon=horizon,
        band_level=config.band_level,
        description=f"N-BEATS ({config.architecture}) forecast of the next {horizon} closes from the last "
        f"{config.lookback}, with a {config.band_level:.0%} band",
        metrics=model.metrics,
        training={"source": source or {}, "config": model.describe()},
    )
    return publish(models_dir, meta, model.to_onnx(), database_url=database_url)


def train_examples(
    series: Sequence[Floats],
    models_dir: Path,
    config: ClassifierConfig,
    *,
    source: dict[str, Any] | None = None,
    progress: Callable[[str, Epoch], None] | None = None,
    database_url: str | None = None,
) -> list[Published]:
    """Fit the MLP and the CNN classifiers on ``series`` and publish both (as ``mlp`` and ``cnn``)."""
    from dataclasses import asdict, replace

    from onnx_runner.training import examples

    split = split_windows(series, config.lookback, config.horizon)
    published = []
    for kind in ("mlp", "cnn"):
        kind_config = replace(config, kind=kind)
        report = partial(progress, kind) if progress else None
        model = examples.train(split, kind_config, report)
        meta = ModelMeta(
            name=kind,
            version="0",
            kind="classifier",
            inputs=(TensorSpec("history", (-1, config.lookback)),),
            outputs=(TensorSpec("probabilities", (-1, len(LABELS))),),
            lookback=config.lookback,
            horizon=config.horizon,
            labels=LABELS,
            description=f"{kind.upper()} classifier: will the close {config.horizon} bars ahead be down, flat or "
            f"up (cut at the training terciles of the move, {model.cuts[0]:+.5f} and {model.cuts[1]:+.5f})",
            metrics=model.metrics,
            training={"source": source or {}, "config": asdict(kind_config), "cuts": list(model.cuts)},
        )
        published.append(publish(models_dir, meta, model.to_onnx(), database_url=database_url))
    return published


def publish(models_dir: Path, meta: ModelMeta, content: bytes, *, database_url: str | None = None) -> Published:
    """Write ``content`` and ``meta`` as the next version of ``meta.name`` in ``models_dir``."""
    models_dir.mkdir(parents=True, exist_ok=True)
    version = next_version(models_dir, meta.name)
    meta = msgspec.structs.replace(
        meta,
        version=version,
        sha256=hashlib.sha256(content).hexdigest(),
        training=meta.training | {"trained_at": datetime.now(UTC).isoformat(timespec="seconds")},
    )
    path = models_dir / f"{meta.name}-v{version}.onnx"
    _write_whole(path.with_suffix(".json"), msgspec.json.format(msgspec.json.encode(meta)))
    _write_whole(path, content)
    if database_url is not None:
        _record(database_url, meta, path)
    return Published(meta, path)


def next_version(models_dir: Path, name: str) -> str:
    """One above the highest whole-number version of ``name`` in ``models_dir`` (``1`` for the first)."""
    highest = 0
    for meta_path in models_dir.glob("*.json"):
        try:
            meta = msgspec.json.decode(meta_path.read_bytes(), type=ModelMeta)
        except (msgspec.DecodeError, msgspec.ValidationError, OSError):
            continue  # not a model's metadata, or a broken one: the registry reports those
        if meta.name == name and re.fullmatch(r"\d+", meta.version):
            highest = max(highest, int(meta.version))
    return str(highest + 1)


def _write_whole(path: Path, content: bytes) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(content)
    os.replace(partial, path)


def _record(database_url: str, meta: ModelMeta, path: Path) -> None:
    from aitrader.db.models import ModelArtifact
    from aitrader.db.session import make_engine, make_session_factory, session_scope

    engine = make_engine(database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            session.add(
                ModelArtifact(
                    name=meta.name,
                    version=meta.version,
                    kind=meta.kind,
                    path=str(path.resolve()),
                    metadata_=msgspec.to_builtins(meta),
                )
            )
    finally:
        engine.dispose()
