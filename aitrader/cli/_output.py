"""How every `aitrader` command reports a failure: one line on stderr, passwords in URLs hidden."""

from __future__ import annotations

import typer

EXIT_FAILED = 1
EXIT_USAGE = 2


def fail(message: str, code: int = EXIT_FAILED) -> typer.Exit:
    """Print ``error: message`` to stderr and return the Exit to raise (``raise fail(...) from e``)."""
    from aitrader.devstack.state import redact

    typer.secho(f"error: {redact(message)}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)
