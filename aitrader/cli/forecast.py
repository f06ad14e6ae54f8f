"""`aitrader forecast SYMBOL`: ask the stack's model runner for a symbol's next closes, with the band.

The runner reads the symbol's latest stored bars (POST /infer/forecast/{model}); the table shows each step's
forecast and band next to the last close. ``--url`` points at another runner (tensorrt_runner serves the same
API on :8007).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from aitrader.cli._output import fail, response_detail


def register(app: typer.Typer) -> None:
    app.command(help="Forecast a symbol's next closes from its stored bars through the model runner.")(forecast)


def forecast(
    symbol: Annotated[str, typer.Argument(help="the symbol, e.g. INFY")],
    model: Annotated[str, typer.Option(help="a forecaster in the registry: name or name@version")] = "nbeats",
    horizon: Annotated[int | None, typer.Option(min=1, help="steps to forecast (default: the model's)")] = None,
    url: Annotated[str | None, typer.Option(help="the runner's API; default: the stack's onnx_runner")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the answer as JSON")] = False,
) -> None:
    import httpx

    from aitrader.devstack.registry import get_service

    base = url or f"http://127.0.0.1:{get_service('onnx_runner').resolved_port()}"
    body: dict[str, Any] = {"symbol": symbol} | ({"horizon": horizon} if horizon else {})
    try:
        response = httpx.post(f"{base}/infer/forecast/{model}", json=body, timeout=30)
    except httpx.HTTPError as e:
        raise fail(f"the model runner at {base} did not answer: {e} (is the stack up? `aitrader up`)") from e
    if response.status_code != 200:
        raise fail(f"forecast of {symbol} with {model} refused ({response.status_code}): {response_detail(response)}")
    answer = response.json()
    if as_json:
        typer.echo(json.dumps(answer, indent=2))
        return
    _print(answer)


def _print(answer: dict[str, Any]) -> None:
    last = answer["last_close"]
    source = f"{answer['interval']} bars up to {answer['as_of']}" if answer["as_of"] else "the request's history"
    typer.echo(f"{answer['symbol']}: {answer['model']} from {source}, last close {last:,.2f}")
    band = answer.get("lower") is not None
    level = f"{answer['band_level']:.0%} band" if band and answer.get("band_level") else "band"
    typer.echo(f"{'step':>4} {'forecast':>12} {'change':>9}" + (f"  {level:>24}" if band else ""))
    for step, value in enumerate(answer["forecast"], start=1):
        line = f"{step:>4} {value:>12,.2f} {(value / last - 1) * 100:>+8.3f}%"
        if band:
            line += f"  {answer['lower'][step - 1]:>11,.2f} - {answer['upper'][step - 1]:<11,.2f}"
        typer.echo(line)
