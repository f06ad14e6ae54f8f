"""`aitrader account`: the trading account as the strategy engine sees it, read over MCP.

It asks the stack's mock_mcp (or the MCP server at ``--url``) through :mod:`aitrader.account_context`, the
same client the strategy engine and the backend use, and prints cash, margins, positions and holdings.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from typing import Annotated, Any

import typer

from aitrader.cli._output import fail
from aitrader.errors import AITraderError


def register(app: typer.Typer) -> None:
    app.command(help="Show the trading account over MCP: cash, margins, positions, holdings.")(account)


def account(
    url: Annotated[str | None, typer.Option(help="the MCP endpoint; default: the stack's mock_mcp /mcp")] = None,
    timeout: Annotated[float, typer.Option(min=0.1, help="seconds to wait for the account")] = 5.0,
    as_json: Annotated[bool, typer.Option("--json", help="print the account as JSON")] = False,
) -> None:
    from aitrader.account_context import AccountContextClient
    from aitrader.devstack.registry import get_service

    endpoint = url or f"http://127.0.0.1:{get_service('mock_mcp').resolved_port()}/mcp"

    async def read() -> Any:
        async with AccountContextClient(endpoint, timeout_s=timeout) as client:
            return await client.get()

    try:
        context = asyncio.run(read())
    except AITraderError as e:
        raise fail(f"{e} (is the stack up? `aitrader up`)") from e
    report = asdict(context)
    report.pop("fetched_at")
    report["url"] = endpoint
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    _print(report)


def _print(report: dict[str, Any]) -> None:
    typer.echo(f"account at {report['url']}")
    typer.echo(
        f"cash {report['cash']:,.2f}   available margin {report['available_margin']:,.2f}   "
        f"used {report['used_margin']:,.2f}"
    )
    for title, rows, columns in (
        ("positions", report["positions"], ("exchange", "symbol", "product", "quantity", "average_price", "pnl")),
        ("holdings", report["holdings"], ("exchange", "symbol", "quantity", "average_price", "last_price")),
    ):
        if not rows:
            typer.echo(f"{title}: none")
            continue
        typer.echo(f"{title}:")
        table = [tuple(name.upper() for name in columns)] + [tuple(str(row[name]) for name in columns) for row in rows]
        widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
        for line in table:
            typer.echo("  " + "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
