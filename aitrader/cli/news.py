"""`aitrader news import FILE` and `aitrader sentiment SYMBOL`: news into the sentiment engine, sentiment out.

The importer reads JSON Lines (one item a line: ``headline``, and optionally ``body``, ``url``, ``source``, ``id``,
``published_at``, ``symbols``), posts them in batches to POST /api/news, and reports what was stored, what was a
duplicate, and which lines were refused and why (a line that is not JSON is refused before sending).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from aitrader.cli._output import fail, response_detail

news_app = typer.Typer(help="Send news to the sentiment engine.", no_args_is_help=True)

Url = Annotated[str | None, typer.Option(help="the sentiment engine's API; default: the stack's")]


def register(app: typer.Typer) -> None:
    app.add_typer(news_app, name="news")
    app.command(help="A symbol's news sentiment over a window, from the sentiment engine.")(sentiment)


@news_app.command("import")
def import_news(
    path: Annotated[
        Path | None, typer.Argument(exists=True, dir_okay=False, help="a JSON Lines file of news items")
    ] = None,
    sample: Annotated[
        bool, typer.Option(help="the sample day's news (24 stories of 2025-11-21) instead of a file")
    ] = False,
    batch: Annotated[int, typer.Option(min=1, max=1000, help="items per request")] = 500,
    url: Url = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Post every line of PATH to the sentiment engine; report stored, duplicate and refused lines."""
    from importlib import resources

    import httpx

    if (path is None) == (not sample):
        raise (
            fail("name a JSON Lines file or --sample, not both", code=2)
            if path
            else fail("name a JSON Lines file, or --sample", code=2)
        )
    if path is not None:
        text, name = path.read_text(encoding="utf-8"), str(path)
    else:
        text, name = resources.files("aitrader.marketdata").joinpath("sample_news.jsonl").read_text("utf-8"), "sample"
    base = _base(url)
    items: list[tuple[int, Any]] = []
    refused: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append((number, json.loads(line)))
        except json.JSONDecodeError as e:
            refused.append({"line": number, "reason": f"not JSON: {e}"})
    summary = {"lines": len(items) + len(refused), "stored": 0, "duplicates": 0}
    try:
        with httpx.Client(base_url=base, timeout=120) as http:
            for first in range(0, len(items), batch):
                chunk = items[first : first + batch]
                _post(http, chunk, summary, refused)
    except httpx.HTTPError as e:
        raise fail(f"the sentiment engine at {base} did not answer: {e} (is the stack up? `aitrader up`)") from e
    summary["refused"] = len(refused)
    if as_json:
        typer.echo(json.dumps({**summary, "refusals": refused}, indent=2))
    else:
        typer.echo(
            f"{name}: {summary['lines']} items, {summary['stored']} stored, {summary['duplicates']} duplicates, "
            f"{summary['refused']} refused"
        )
        for refusal in refused[:20]:
            typer.echo(f"  line {refusal['line']}: {refusal['reason']}", err=True)
    if refused:
        raise typer.Exit(1)


def _post(http: Any, chunk: list[tuple[int, Any]], summary: dict[str, Any], refused: list[dict[str, Any]]) -> None:
    """Post ``chunk``; a 422 for the batch is narrowed down by posting its items one by one."""
    response = http.post("/api/news", json=[item for _, item in chunk])
    if response.status_code == 200:
        document = response.json()
        summary["stored"] += document["stored"]
        summary["duplicates"] += document["duplicates"]
        return
    if response.status_code != 422:
        raise fail(f"POST /api/news answered {response.status_code}: {response.text[:300]}")
    if len(chunk) == 1:
        refused.append({"line": chunk[0][0], "reason": response_detail(response)})
        return
    for single in chunk:
        _post(http, [single], summary, refused)


def sentiment(
    symbol: Annotated[str, typer.Argument(help="the symbol, e.g. INFY")],
    window: Annotated[str, typer.Option(help="how far back: 15m, 1h, 1d ...")] = "1h",
    half_life: Annotated[
        str | None, typer.Option(help="an item's weight halves every ... (default: the engine's)")
    ] = None,
    at: Annotated[str | None, typer.Option(help="the window's end, ISO 8601 with a zone (default now)")] = None,
    url: Url = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the answer as JSON")] = False,
) -> None:
    import httpx

    base = _base(url)
    params = (
        {"symbol": symbol, "window": window}
        | ({"half_life": half_life} if half_life else {})
        | ({"at": at} if at else {})
    )
    try:
        response = httpx.get(f"{base}/api/sentiment", params=params, timeout=30)
    except httpx.HTTPError as e:
        raise fail(f"the sentiment engine at {base} did not answer: {e} (is the stack up? `aitrader up`)") from e
    if response.status_code != 200:
        raise fail(f"sentiment of {symbol} refused ({response.status_code}): {response_detail(response)}")
    answer = response.json()
    if as_json:
        typer.echo(json.dumps(answer, indent=2))
        return
    typer.echo(
        f"{answer['symbol']}: {answer['label']} {answer['sentiment_score']:+.3f} "
        f"(confidence {answer['confidence']:.2f}) from {answer['items']} items over "
        f"{answer['window_s'] / 3600:g} h to {answer['as_of']}, scored by {answer['scorer']}"
    )


def _base(url: str | None) -> str:
    from aitrader.devstack.registry import get_service

    return url or f"http://127.0.0.1:{get_service('sentiment_engine').resolved_port()}"
