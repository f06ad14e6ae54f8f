"""The `aitrader` command line: one Typer app; each module of this package adds its commands.

A module here that defines ``register(app)`` contributes commands: ``stack`` (up, down, status, logs,
migrate) first, then the others in name order. Services add theirs through the ``aitrader.commands`` entry
point group (a ``register(app)`` function each), so this package never imports a service. Modules keep their
heavy imports inside the commands, so `aitrader --help` stays fast and importing this package builds nothing.
"""

from __future__ import annotations

import importlib
import pkgutil
from enum import Enum
from importlib.metadata import entry_points
from typing import get_args

import typer

from aitrader.settings import LogLevel

app = typer.Typer(
    name="aitrader",
    help="AITrader: run the local stack, migrate the database, work with the bus.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_FIRST = ("stack",)
_Level = Enum("_Level", {level: level for level in get_args(LogLevel)}, type=str)  # type: ignore[misc]


@app.callback()
def _configure_logging(
    log_level: _Level = typer.Option(
        "WARNING",
        "--log-level",
        envvar="AITRADER_CLI_LOG_LEVEL",
        case_sensitive=False,
        help="level of the command's own logs (JSON lines on stderr)",
    ),
) -> None:
    """Every command logs JSON lines to stderr; only warnings and errors unless asked."""
    from aitrader.log import configure

    configure("cli", log_level.value)


def _register_commands(target: typer.Typer) -> None:
    names = sorted(info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_"))
    for name in [*(n for n in _FIRST if n in names), *(n for n in names if n not in _FIRST)]:
        module = importlib.import_module(f"{__name__}.{name}")
        register = getattr(module, "register", None)
        if callable(register):
            register(target)
    for entry_point in sorted(entry_points(group="aitrader.commands"), key=lambda e: e.name):
        entry_point.load()(target)


_register_commands(app)


def main() -> None:
    """Console-script entry point (`aitrader`)."""
    app()
