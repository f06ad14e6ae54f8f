"""`aitrader train`: fit the forecasters on bar closes and publish them into the model registry.

``aitrader train nbeats`` fits N-BEATS, ``aitrader train examples`` the MLP and CNN classifiers. Both read the
1-minute bars the market data path stored (the stack's database, or ``--database-url``) or, with
``--synthetic``, generated series. The command joins the `aitrader` CLI through the ``aitrader.commands``
entry point; its heavy imports (JAX) happen inside the commands.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from onnx_runner.training.fit import Epoch

train_app = typer.Typer(
    help="Train models on bar closes and publish them into the model registry.", no_args_is_help=True
)

Symbols = Annotated[
    str | None,
    typer.Option(help="comma-separated symbols (default: every symbol with bars; SYNTH1-4 with --synthetic)"),
]
Synthetic = Annotated[bool, typer.Option(help="train on generated series instead of stored bars")]
Length = Annotated[int, typer.Option(min=200, help="values per generated series (--synthetic)")]
Out = Annotated[Path, typer.Option(help="the model registry directory")]
Epochs = Annotated[int, typer.Option(min=1, help="most passes over the training windows")]
Interval = Annotated[str, typer.Option(help="bar interval to train on")]
Since = Annotated[datetime | None, typer.Option(help="first bar start to use (ISO 8601)")]
Until = Annotated[datetime | None, typer.Option(help="bar starts before this (ISO 8601)")]
DatabaseUrl = Annotated[
    str | None, typer.Option(envvar="DATABASE_URL", help="where the bars are (default: the running stack's)")
]
AsJson = Annotated[bool, typer.Option("--json", help="print the result as JSON")]


def register(app: typer.Typer) -> None:
    app.add_typer(train_app, name="train")


@train_app.command("nbeats")
def nbeats(
    symbols: Symbols = None,
    synthetic: Synthetic = False,
    length: Length = 3000,
    out: Out = Path("models"),
    epochs: Epochs = 30,
    architecture: Annotated[str, typer.Option(help="generic or interpretable")] = "generic",
    lookback: Annotated[int, typer.Option(min=2, help="closes the model reads")] = 60,
    horizon: Annotated[int, typer.Option(min=1, help="closes it forecasts")] = 10,
    width: Annotated[int, typer.Option(min=1, help="units per fully connected layer")] = 128,
    blocks: Annotated[int, typer.Option(min=1, help="blocks per stack")] = 3,
    batch_size: Annotated[int, typer.Option(min=1)] = 256,
    learning_rate: Annotated[float, typer.Option(min=0.0)] = 1e-3,
    seed: int = 0,
    band_level: Annotated[float, typer.Option(help="share of outcomes the uncertainty band should hold")] = 0.9,
    interval: Interval = "1m",
    since: Since = None,
    until: Until = None,
    database_url: DatabaseUrl = None,
    allow_worse_than_naive: Annotated[
        bool, typer.Option(help="publish the model even when the naive forecast beats it on the test set")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Fit N-BEATS, report its test error next to the naive and seasonal-naive forecasts, publish it."""
    from aitrader.cli._output import fail
    from aitrader.errors import AITraderError
    from onnx_runner.training import WorseThanNaive
    from onnx_runner.training.jobs import NBeatsJob, run_nbeats

    if architecture not in ("generic", "interpretable"):
        raise fail(f"--architecture must be generic or interpretable, was {architecture!r}", code=2)
    job = NBeatsJob(
        symbols=_names(symbols),
        interval=interval,
        since=since,
        until=until,
        synthetic=synthetic,
        length=length,
        seed=seed,
        architecture=architecture,  # type: ignore[arg-type]  # checked above
        lookback=lookback,
        horizon=horizon,
        width=width,
        blocks=blocks,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        band_level=band_level,
        allow_worse_than_naive=allow_worse_than_naive,
    )
    try:
        with _progress("N-BEATS", epochs, quiet=as_json) as report:
            published = run_nbeats(job, out, database_url=_database(database_url), progress=report)
    except WorseThanNaive as e:
        _print_forecast_metrics(e.model.metrics, as_json)
        raise fail(str(e)) from e
    except AITraderError as e:
        raise fail(str(e)) from e
    _print_forecast_metrics(published.metrics, as_json, published)


@train_app.command("examples")
def examples(
    symbols: Symbols = None,
    synthetic: Synthetic = False,
    length: Length = 3000,
    out: Out = Path("models"),
    epochs: Epochs = 20,
    lookback: Annotated[int, typer.Option(min=2)] = 60,
    horizon: Annotated[int, typer.Option(min=1)] = 10,
    seed: int = 0,
    interval: Interval = "1m",
    since: Since = None,
    until: Until = None,
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """Fit the MLP and CNN direction classifiers (down / flat / up over the horizon) and publish both."""
    from aitrader.cli._output import fail
    from aitrader.errors import AITraderError
    from onnx_runner.training.jobs import ExamplesJob, run_examples

    job = ExamplesJob(
        symbols=_names(symbols),
        interval=interval,
        since=since,
        until=until,
        synthetic=synthetic,
        length=length,
        seed=seed,
        lookback=lookback,
        horizon=horizon,
        epochs=epochs,
    )
    try:
        with _progress("MLP, CNN", 2 * epochs, quiet=as_json) as report:
            published = run_examples(
                job, out, database_url=_database(database_url), progress=lambda _kind, epoch: report(epoch)
            )
    except AITraderError as e:
        raise fail(str(e)) from e
    rows = [{"model": p.meta.key, "file": str(p.path), **p.metrics} for p in published]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        typer.echo(
            f"{row['model']:<8} test accuracy {row['accuracy']:.3f} "
            f"(most common class: {row['majority_accuracy']:.3f}) -> {row['file']}"
        )


def _names(symbols: str | None) -> list[str]:
    return [s.strip() for s in symbols.split(",") if s.strip()] if symbols else []


def _database(database_url: str | None) -> str | None:
    """``--database-url`` (or DATABASE_URL), else the running stack's database, else none."""
    if database_url is not None:
        return database_url
    from aitrader.devstack.stack import stack_urls

    return stack_urls().database_url


class _progress:
    """A rich progress bar over epochs; its ``__enter__`` returns the callback training calls per epoch."""

    def __init__(self, label: str, total: int, *, quiet: bool) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[train]:.4f}, validation {task.fields[validation]:.4f}"),
            TimeElapsedColumn(),
            console=Console(stderr=True, quiet=quiet),
        )
        self._task = self._bar.add_task(f"training {label}", total=total, train=float("nan"), validation=float("nan"))

    def __enter__(self) -> Any:
        self._bar.start()

        def report(epoch: Epoch) -> None:
            self._bar.update(self._task, advance=1, train=epoch.train_loss, validation=epoch.validation_loss)

        return report

    def __exit__(self, *exc: object) -> None:
        self._bar.update(self._task, total=self._bar.tasks[0].completed)  # early stopping ends it short
        self._bar.stop()


def _print_forecast_metrics(metrics: dict[str, float], as_json: bool, published: Any = None) -> None:
    if as_json:
        document: dict[str, Any] = {"metrics": metrics}
        if published is not None:
            document |= {"model": published.meta.key, "file": str(published.path)}
        typer.echo(json.dumps(document, indent=2))
        return
    typer.echo(f"test set: {metrics['test_windows']:.0f} windows")
    typer.echo(f"{'forecast':<16}{'MAE':>12}{'RMSE':>12}{'MAPE %':>10}")
    for name, label in (("nbeats", "N-BEATS"), ("naive", "naive"), ("seasonal_naive", "seasonal naive")):
        typer.echo(
            f"{label:<16}{metrics[f'{name}_mae']:>12.4f}{metrics[f'{name}_rmse']:>12.4f}"
            f"{metrics[f'{name}_mape_pct']:>10.4f}"
        )
    typer.echo(
        f"N-BEATS MAE is {metrics['mae_vs_naive']:.3f} x naive's, {metrics['mae_vs_seasonal_naive']:.3f} x "
        f"seasonal naive's; the {metrics['band_level']:.0%} band held {metrics['band_coverage']:.1%} of outcomes"
    )
    if published is not None:
        typer.echo(f"published {published.meta.key} -> {published.path}")
