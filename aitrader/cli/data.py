"""Market data commands: `aitrader data sample` writes the sample day; `aitrader replay` replays a file.

`aitrader replay` drives the running tick_replay service over its HTTP API (the service publishes, so the
stack's Redis and stream prefix apply) and shows its progress; Ctrl-C stops the replay.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from aitrader.cli._output import EXIT_USAGE, fail, response_detail
from aitrader.errors import AITraderError

data_app = typer.Typer(help="Market data: the synthetic sample day.", no_args_is_help=True)

DEFAULT_SAMPLE_DIR = Path("data/sample")
_POLL_S = 0.25
_TERMINAL = {"finished", "stopped", "failed"}


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
    app.command(help="Replay a tick file (CSV, Parquet, .kite) through the running tick_replay service.")(replay)


@data_app.command("sample")
def sample(
    directory: Annotated[Path, typer.Option("--dir", help="where to write the files")] = DEFAULT_SAMPLE_DIR,
    seed: Annotated[int, typer.Option(min=0, help="same seed, same bytes")] = 7,
    ticks: Annotated[int, typer.Option(min=1_000, help="approximate number of ticks")] = 1_200_000,
) -> None:
    """Write the synthetic sample day: ticks.parquet, labels.parquet (injected patterns), instruments.csv."""
    from aitrader.marketdata.synthetic import MarketConfig, write_sample_day

    started = time.perf_counter()
    try:
        files = write_sample_day(directory, MarketConfig(seed=seed, ticks_target=ticks))
    except (AITraderError, ValueError) as e:
        raise fail(str(e)) from e
    elapsed = time.perf_counter() - started
    typer.echo(
        f"wrote {files.tick_count:,} ticks of {files.instrument_count} instruments and {files.label_count} "
        f"labelled patterns in {elapsed:.1f} s:"
    )
    for path in (files.ticks_path, files.labels_path, files.instruments_path):
        typer.echo(f"  {path}  ({path.stat().st_size / 1e6:.1f} MB)")


def last_replay() -> dict[str, Any]:
    """tick_replay's ``GET /replay``: the last replay's id, state and counts (a failure when it is not up)."""
    import httpx

    from aitrader.cli._output import fail

    try:
        replay: dict[str, Any] = httpx.get(f"{tick_replay_url()}/replay", timeout=10).json()
    except httpx.HTTPError as e:
        raise fail(f"tick_replay is not answering ({e}): start it with `aitrader up`") from e
    return replay


def tick_replay_url() -> str:
    """TICK_REPLAY_URL, else the running stack's tick_replay, else the default port on loopback."""
    explicit = os.environ.get("TICK_REPLAY_URL", "").strip()
    if explicit:
        return explicit.rstrip("/")
    from aitrader.devstack.settings import DevstackSettings
    from aitrader.devstack.stack import running_state
    from aitrader.settings import load_settings

    state = running_state(load_settings(DevstackSettings).paths())
    if state is not None and "tick_replay" in state.services and state.services["tick_replay"].url:
        return str(state.services["tick_replay"].url)
    return f"http://127.0.0.1:{os.environ.get('TICK_REPLAY_PORT', '8010')}"


def replay(
    path: Annotated[Path | None, typer.Argument(help="tick file: .csv, .csv.gz, .parquet or a .kite recording")] = None,
    speed: Annotated[str, typer.Option(help="1 = realtime, 10 = ten times faster, max = as fast as possible")] = "max",
    shards: Annotated[int | None, typer.Option(min=0, max=64, help="0: `ticks`; N: `ticks:0..N-1`")] = None,
    symbols: Annotated[list[str] | None, typer.Option("--symbol", help="only this symbol (repeatable)")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="at most this many ticks")] = None,
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="skip and count bad rows")] = False,
    instruments: Annotated[Path | None, typer.Option(help="Kite instruments CSV (for .kite files)")] = None,
    detach: Annotated[bool, typer.Option("--detach", help="start it and return; no progress bar")] = False,
    synthetic: Annotated[
        bool, typer.Option("--synthetic", help="replay the synthetic market instead of a file")
    ] = False,
    seed: Annotated[int, typer.Option(min=0, help="seed of the synthetic market")] = 7,
    ticks: Annotated[int, typer.Option(min=1_000, help="ticks of the synthetic market")] = 200_000,
) -> None:
    """Replay PATH (or, with --synthetic, a generated market) onto the bus and show its progress until it ends."""
    import httpx

    if (path is None) == (not synthetic):
        raise fail("give a tick file, or --synthetic, but not both", code=EXIT_USAGE)
    body: dict[str, Any] = {"skip_bad": skip_bad}
    if path is not None:
        body["path"] = str(path.expanduser().resolve())
    else:
        body["synthetic"] = {"seed": seed, "ticks_target": ticks}
    body["speed"] = speed if speed == "max" else _speed(speed)
    if shards is not None:
        body["shards"] = shards
    if symbols:
        body["symbols"] = symbols
    if limit is not None:
        body["limit"] = limit
    if instruments is not None:
        body["instruments"] = str(instruments.expanduser().resolve())
    url = tick_replay_url()
    with httpx.Client(base_url=url, timeout=30) as client:
        try:
            started = client.post("/replay", json=body)
        except httpx.TransportError as e:
            raise fail(f"tick_replay is not answering at {url} ({e}): start it with `aitrader up`") from e
        if started.status_code != 202:
            raise fail(f"tick_replay refused the replay ({started.status_code}): {response_detail(started)}")
        progress = started.json()
        typer.echo(f"replay {progress['replay_id']}: {progress['source']} -> {', '.join(progress['streams'])}")
        if detach:
            return
        try:
            progress = _follow(client)
        except KeyboardInterrupt:
            progress = client.post("/replay/stop").json()
    _summary(progress)
    if progress["state"] == "failed":
        raise typer.Exit(1)


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise fail(f"--speed must be a number > 0 or 'max', was {text!r}", code=EXIT_USAGE)
    return value


def _follow(client: Any) -> dict[str, Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>10,.0f} ticks/s"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task("replaying", total=None, rate=0.0)
        while True:
            progress: dict[str, Any] = client.get("/replay").json()
            done = progress["published"] + progress["skipped"]
            bar.update(
                task,
                completed=done,
                total=progress["total"],
                rate=progress["rate_per_s"],
                description=progress["state"].replace("_", " "),
            )
            if progress["state"] in _TERMINAL:
                return progress
            time.sleep(_POLL_S)


def _summary(progress: dict[str, Any]) -> None:
    typer.echo(
        f"{progress['state']}: {progress['published']:,} ticks published, {progress['skipped']:,} skipped, "
        f"{progress['rate_per_s']:,.0f} ticks/s"
    )
    if progress.get("error"):
        typer.secho(f"error: {progress['error']}", fg=typer.colors.RED, err=True)
