"""`aitrader oms`: the OMS's trading state, positions and P&L, and today's orders, read from its API.

With ``--trade SYMBOL`` it first makes a paper round trip through the OMS (a market buy of ``--qty``, then
the sell that closes it), so the demo shows an order going through the risk checks, the simulated broker,
the charges and the books.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from typing import Annotated, Any

import typer

from aitrader.cli._output import fail


def register(app: typer.Typer) -> None:
    app.command(help="Show the OMS: trading state, positions and P&L, today's orders (optionally trade first).")(oms)


def oms(
    url: Annotated[str | None, typer.Option(help="the OMS API; default: the stack's execution service")] = None,
    trade: Annotated[
        str | None, typer.Option(help="first make a paper round trip in this symbol (buy, then sell)")
    ] = None,
    qty: Annotated[int, typer.Option(min=1, help="quantity of the round trip")] = 1,
    api_key: Annotated[
        str | None, typer.Option(envvar="EXECUTION_API_KEY", help="X-API-Key for placing orders")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the state as JSON")] = False,
) -> None:
    import httpx

    from aitrader.devstack.registry import get_service
    from aitrader.settings import OMS_DEV_API_KEY

    base = url or f"http://127.0.0.1:{get_service('execution').resolved_port()}"
    try:
        with httpx.Client(base_url=base, timeout=10) as http:
            trades = _round_trip(http, trade, qty, api_key or OMS_DEV_API_KEY)
            report = {
                "url": base,
                "risk": _get(http, "/risk/state"),
                "positions": _get(http, "/positions"),
                "orders": _get(http, "/orders", limit=10_000)["orders"],
                "round_trip": trades,
            }
    except httpx.HTTPError as e:
        raise fail(f"the OMS at {base} did not answer: {e} (is the stack up? `aitrader up`)") from e
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    _print(report)


def _get(http: Any, path: str, **params: Any) -> Any:
    response = http.get(path, params=params)
    if response.status_code != 200:
        raise fail(f"GET {path} answered {response.status_code}: {response.text[:300]}")
    return response.json()


def _round_trip(http: Any, symbol: str | None, qty: int, key: str) -> list[dict[str, Any]]:
    if symbol is None:
        return []
    trip = uuid.uuid4().hex[:8]
    placed = []
    for side in ("BUY", "SELL"):
        body = {"client_order_id": f"demo-{trip}-{side.lower()}", "strategy": "demo", "symbol": symbol}
        response = http.post("/orders", json={**body, "side": side, "qty": qty}, headers={"X-API-Key": key})
        if response.status_code not in (200, 201):
            raise fail(f"POST /orders answered {response.status_code}: {response.text[:300]}")
        placed.append(response.json())
    return placed


def _print(report: dict[str, Any]) -> None:
    risk = report["risk"]
    typer.echo(f"OMS at {report['url']}")
    switch = "ENGAGED" if risk["kill_switch"] else "off"
    typer.echo(f"trading {risk['trading_state']}   kill switch {switch}   P&L today {risk['pnl_today']}")
    for order in report["round_trip"]:
        line = f"  demo {order['side']} {order['qty']} {order['symbol']}: {order['status']}"
        if order["avg_price"] is not None:
            line += f" at {order['avg_price']}"
        if order["reason_code"]:
            line += f" ({order['reason_code']}: {order['reason']})"
        typer.echo(line)
    positions = report["positions"]["positions"]
    if positions:
        typer.echo("positions:")
        columns = ("strategy", "symbol", "qty", "avg_price", "realised_pnl", "unrealised_pnl", "fees")
        table = [tuple(c.upper() for c in columns)] + [tuple(str(p[c]) for c in columns) for p in positions]
        widths = [max(len(row[i]) for row in table) for i in range(len(columns))]
        for row in table:
            typer.echo("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        totals = report["positions"]["totals"]
        typer.echo(f"  net P&L {totals['net_pnl']} (fees {totals['fees']})")
    else:
        typer.echo("positions: none")
    counts = Counter(order["status"] for order in report["orders"])
    summary = ", ".join(f"{status} {n}" for status, n in sorted(counts.items())) or "none"
    typer.echo(f"orders today: {summary}")
    for issue in risk["issues"]:
        typer.echo(f"reconciliation: {issue['detail']}")
