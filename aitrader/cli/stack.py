"""`aitrader up | down | status | logs | migrate`: the local stack from the command line."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from aitrader.cli._output import EXIT_FAILED, fail
from aitrader.errors import AITraderError

EXIT_OK = 0


def register(app: typer.Typer) -> None:
    app.command(
        help="Start the local stack (embedded PostgreSQL and Redis unless DATABASE_URL / REDIS_URL "
        "are set), migrate, and run SERVICES (default: all)."
    )(up)
    app.command(help="Stop the local stack and everything it started.")(down)
    app.command(help="Show every component of the local stack; exit 1 unless all are healthy.")(status)
    app.command(help="Print a component's log (supervisor, postgres, redis or a service).")(logs)
    app.command(help="Migrate the database (DATABASE_URL, else the running stack's) to the newest revision.")(migrate)


def _settings() -> Any:
    from aitrader.devstack.settings import DevstackSettings
    from aitrader.settings import load_settings

    try:
        return load_settings(DevstackSettings)
    except AITraderError as e:
        raise fail(str(e)) from e


def up(
    services: Annotated[list[str] | None, typer.Argument(help="services to run; all when none is named")] = None,
    infra_only: Annotated[
        bool, typer.Option("--infra-only", "--no-services", help="start the databases and migrate, no services")
    ] = False,
    with_services: Annotated[
        list[str] | None,
        typer.Option("--with", help="an optional service to run as well as the default ones (tensorrt_runner)"),
    ] = None,
) -> None:
    from aitrader.devstack.registry import default_services
    from aitrader.devstack.stack import start_stack

    settings = _settings()
    if infra_only and (services or with_services):
        named = [*(services or []), *(with_services or [])]
        raise fail("--infra-only starts no services, but services were named: " + ", ".join(named))
    if services and with_services:
        raise fail("name the services to run, or add optional ones to the default set with --with, not both")
    if with_services:
        services = [spec.name for spec in default_services()] + with_services
    try:
        result = start_stack(settings, services or [], infra_only=infra_only)
    except AITraderError as e:
        raise fail(str(e)) from e
    if result.cleaned_up:
        typer.echo(f"stopped {len(result.cleaned_up)} leftover process(es) of an earlier run")
    if result.already_running:
        assert result.state is not None
        typer.echo(
            f"stack is already running (supervisor pid {_supervisor_pid(result.state)}); "
            "`aitrader down` first to start it differently"
        )
        _print_table(result.state)
        return
    if not result.ok:
        typer.echo(f"error: {result.error}", err=True)
        typer.echo(f"logs: {settings.paths().supervisor_log}", err=True)
        raise typer.Exit(EXIT_FAILED)
    assert result.state is not None
    typer.echo("stack is up")
    _print_table(result.state)


def down() -> None:
    from aitrader.devstack.stack import stop_stack

    settings = _settings()
    try:
        result = stop_stack(settings)
    except AITraderError as e:
        raise fail(str(e)) from e
    if result.survivors:
        raise fail("these processes would not stop: " + ", ".join(map(str, result.survivors)))
    if not result.was_running:
        typer.echo("stack is not running")
        return
    typer.echo(f"stack stopped ({len(result.stopped)} processes)")


def status(
    as_json: Annotated[bool, typer.Option("--json", help="print the status as JSON")] = False,
) -> None:
    from aitrader.devstack.stack import component_rows, stack_healthy
    from aitrader.devstack.state import read_state

    settings = _settings()
    paths = settings.paths()
    try:
        state = read_state(paths.state_file)
    except AITraderError as e:
        raise fail(str(e)) from e
    healthy = state is not None and stack_healthy(state)
    if as_json:
        document: dict[str, Any] = {"home": str(paths.home), "running": False, "healthy": False, "components": []}
        if state is not None:
            document.update(
                running=state.running(),
                healthy=healthy,
                run_id=state.run_id,
                supervisor={
                    "pid": _supervisor_pid(state),
                    "status": state.supervisor.status if state.running() else _stopped(state.supervisor.status),
                    "error": state.supervisor.error,
                },
                components=component_rows(state),
            )
        typer.echo(json.dumps(document, indent=2))
    elif state is None or not state.running():
        typer.echo("stack is not running")
        if state is not None and state.supervisor.error:
            typer.echo(f"last start-up failed: {state.supervisor.error}")
    else:
        _print_table(state)
    if not healthy:
        raise typer.Exit(EXIT_FAILED)


def logs(
    name: Annotated[str, typer.Argument(help="supervisor, postgres, redis or a service name")],
    lines: Annotated[int, typer.Option("-n", "--lines", min=0, help="how many lines from the end")] = 50,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="keep printing new lines")] = False,
) -> None:
    from aitrader.devstack.registry import service_names

    paths = _settings().paths()
    known = ["supervisor", "postgres", "redis", *service_names()]
    if name not in known and not paths.log_path(name).is_file():
        raise fail(f"no component named {name!r}, known components: {', '.join(known)}")
    path = paths.log_path(name)
    if not path.is_file():
        raise fail(f"no log for {name} yet at {path}: has the stack been started here (AITRADER_HOME)?")
    with path.open("rb") as f:
        for line in _last_lines(f, lines):
            typer.echo(line)
        if not follow:
            return
        try:
            _follow(f)
        except KeyboardInterrupt:
            return


def migrate() -> None:
    from aitrader.devstack.stack import stack_urls

    settings = _settings()
    try:
        url = stack_urls(settings.paths().home).require_database_url()
    except AITraderError as e:
        raise fail(str(e)) from e
    from aitrader.db.migrations import current, head, upgrade

    try:
        upgrade(url)
        revision = current(url)
        newest = head()
    except AITraderError as e:
        raise fail(str(e)) from e
    except Exception as e:  # alembic and the drivers raise many types; each is reported the same way
        reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0] if str(e).strip() else ""
        raise fail(f"migrating {url} failed: {e.__class__.__name__}: {reason}") from e
    from aitrader.devstack.state import redact

    typer.echo(f"database {redact(url)} is at revision {revision} (head {newest})")


# ---------------------------------------------------------------------------------------------- output


def _supervisor_pid(state: Any) -> int | None:
    process = state.supervisor.process
    return process.pid if process is not None and state.running() else None


def _stopped(status: str) -> str:
    return status if status in ("failed", "stopped") else "stopped"


def _print_table(state: Any) -> None:
    from aitrader.devstack.stack import component_rows

    table: list[tuple[str, ...]] = [("COMPONENT", "PID", "PORT/URL", "STATUS", "RESTARTS")]
    table.append(("supervisor", str(_supervisor_pid(state) or "-"), state.home, state.supervisor.status, "-"))
    errors = []
    for row in component_rows(state):
        where = row["url"] or (str(row["port"]) if row["port"] else "-")
        table.append((row["name"], str(row["pid"] or "-"), where, row["status"], str(row["restarts"])))
        if row["last_error"] and row["status"] != "healthy":
            errors.append(f"{row['name']}: {row['last_error']}")
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    for line in table:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
    for error in errors:
        typer.echo(error)


def _last_lines(f: Any, count: int, block: int = 8192) -> list[str]:
    """The last ``count`` lines of binary file ``f``, leaving ``f`` positioned at its end."""
    f.seek(0, os.SEEK_END)
    end = f.tell()
    if count == 0:
        return []
    data = b""
    position = end
    while position > 0 and data.count(b"\n") <= count:
        step = min(block, position)
        position -= step
        f.seek(position)
        data = f.read(step) + data
    f.seek(end)
    return [line.decode(errors="replace") for line in data.splitlines()[-count:]]


def _follow(f: Any, poll_s: float = 0.25) -> None:
    while True:
        line = f.readline()
        if line:
            typer.echo(line.decode(errors="replace").rstrip("\n"))
            continue
        if Path(f.name).exists() and os.stat(f.name).st_size < f.tell():
            f.seek(0)  # truncated: start over
        time.sleep(poll_s)
