"""Training as a job: one request document in, a published model out. The worker's training jobs and
``aitrader train`` both go through here, so a model trained either way is trained the same way.

A request (:class:`NBeatsJob`, :class:`ExamplesJob`) names the data (stored bars of some symbols over a period,
or generated series) and the model's configuration; :func:`parse` turns a JSON document into one, refusing
unknown fields and bad values with one message that names them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import msgspec

from aitrader.errors import ConfigurationError, ValidationError
from onnx_runner.training import ClassifierConfig, NBeatsConfig, Published, train_examples, train_nbeats
from onnx_runner.training.data import Floats, flatten, load_bar_closes, stored_symbols, synthetic_closes
from onnx_runner.training.fit import Epoch, FitConfig

SYNTHETIC_SYMBOLS = ("SYNTH1", "SYNTH2", "SYNTH3", "SYNTH4")


class Data(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    symbols: list[str] = []
    """Empty: every symbol with stored bars (SYNTH1-4 for generated series)."""
    interval: str = "1m"
    since: datetime | None = None
    until: datetime | None = None
    synthetic: bool = False
    length: int = 3000
    """Values per generated series."""
    seed: int = 0


class NBeatsJob(Data, frozen=True, forbid_unknown_fields=True):
    architecture: Literal["generic", "interpretable"] = "generic"
    lookback: int = 60
    horizon: int = 10
    width: int = 128
    blocks: int = 3
    epochs: int = 30
    batch_size: int = 256
    learning_rate: float = 1e-3
    band_level: float = 0.9
    allow_worse_than_naive: bool = False
    name: str = "nbeats"

    def config(self) -> NBeatsConfig:
        return NBeatsConfig(
            lookback=self.lookback,
            horizon=self.horizon,
            architecture=self.architecture,
            width=self.width,
            blocks=self.blocks,
            band_level=self.band_level,
            season=min(30, self.lookback),
            fit=FitConfig(
                epochs=self.epochs, batch_size=self.batch_size, learning_rate=self.learning_rate, seed=self.seed
            ),
        )


class ExamplesJob(Data, frozen=True, forbid_unknown_fields=True):
    lookback: int = 60
    horizon: int = 10
    epochs: int = 20

    def config(self) -> ClassifierConfig:
        return ClassifierConfig(
            lookback=self.lookback, horizon=self.horizon, fit=FitConfig(epochs=self.epochs, seed=self.seed)
        )


J = TypeVar("J", NBeatsJob, ExamplesJob)


def parse(kind: type[J], document: Mapping[str, Any]) -> J:
    """``document`` (a job's JSON payload) as a ``kind`` request; :class:`ValidationError` says what is wrong."""
    try:
        return msgspec.convert(document, kind, strict=False)
    except msgspec.ValidationError as e:
        raise ValidationError(f"invalid {kind.__name__} request: {e}") from e


def run_nbeats(
    job: NBeatsJob, models_dir: Path, *, database_url: str | None, progress: Callable[[Epoch], None] | None = None
) -> Published:
    """Train N-BEATS as ``job`` asks and publish it (:class:`~onnx_runner.training.WorseThanNaive` when naive
    did better and ``allow_worse_than_naive`` is off)."""
    config = job.config()
    config.check()
    series, source = load_series(job, database_url)
    return train_nbeats(
        series,
        models_dir,
        config,
        name=job.name,
        source=source,
        progress=progress,
        allow_worse_than_naive=job.allow_worse_than_naive,
        database_url=database_url,
    )


def run_examples(
    job: ExamplesJob,
    models_dir: Path,
    *,
    database_url: str | None,
    progress: Callable[[str, Epoch], None] | None = None,
) -> list[Published]:
    """Train the MLP and the CNN as ``job`` asks and publish both."""
    series, source = load_series(job, database_url)
    return train_examples(series, models_dir, job.config(), source=source, progress=progress, database_url=database_url)


def load_series(data: Data, database_url: str | None) -> tuple[list[Floats], dict[str, Any]]:
    """The runs of closes ``data`` names, and a description of them for the model's metadata."""
    if data.synthetic:
        names = data.symbols or list(SYNTHETIC_SYMBOLS)
        source = {"synthetic": True, "symbols": names, "length": data.length, "seed": data.seed}
        return flatten(synthetic_closes(names, data.length, seed=data.seed)), source
    if database_url is None:
        raise ConfigurationError("no database: start the stack (`aitrader up`), set DATABASE_URL, or use --synthetic")
    names = data.symbols or stored_symbols(database_url, data.interval)
    loaded = load_bar_closes(database_url, names, interval=data.interval, since=data.since, until=data.until)
    source = {
        "bars": data.interval,
        "symbols": names,
        "since": data.since.isoformat() if data.since else None,
        "until": data.until.isoformat() if data.until else None,
        "closes": sum(len(run) for runs in loaded.values() for run in runs),
    }
    return flatten(loaded), source
