"""How every `aitrader` command reports a failure: one line on stderr, passwords in URLs hidden."""

from __future__ import annotations

from typing import Any

import typer

EXIT_FAILED = 1
EXIT_USAGE = 2


def fail(message: str, code: int = EXIT_FAILED) -> typer.Exit:
    """Print ``error: message`` to stderr and return the Exit to raise (``raise fail(...) from e``)."""
    from aitrader.devstack.state import redact

    typer.secho(f"error: {redact(message)}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def response_detail(response: Any) -> str:
    """What a service said when it refused a request: the error envelope's ``detail``, else the body."""
    try:
        return str(response.json().get("detail", response.text))
    except ValueError:
        return str(response.text)
