"""`aitrader market`: what the market data path made of the last replay, once book_builder has caught up.

It waits for the last replay's end-of-data marker on ``book`` (book_builder forwards it after the replay's
last book update), then reports the replay, book_builder's counters, each symbol's latest book and the
1-minute bars stored in PostgreSQL.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from aitrader.cli._output import fail
from aitrader.errors import AITraderError

_POLL_S = 0.25


def register(app: typer.Typer) -> None:
    app.command(help="Report the last replay: book_builder's counters, each symbol's book, stored bars.")(market)


def market(
    wait: Annotated[float, typer.Option(min=0, help="seconds to wait for book_builder to finish the replay")] = 120,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    import redis

    from aitrader.cli.data import last_replay
    from aitrader.contracts import BOOK, BookStreamMessage, BookUpdate, EndOfData, decode, stream_key
    from aitrader.devstack.stack import stack_urls
    from aitrader.settings import CommonSettings, load_settings

    try:
        urls = stack_urls()
        redis_url, database_url = urls.require_redis_url(), urls.database_url
    except AITraderError as e:
        raise fail(str(e)) from e
    prefix = load_settings(CommonSettings).stream_prefix
    replay = last_replay()
    client = redis.Redis.from_url(redis_url)
    key = stream_key(BOOK, prefix)
    latest: dict[str, BookUpdate] = {}
    ended = False
    deadline = time.monotonic() + wait
    while True:
        entries: Any = client.xrevrange(key, count=5_000)
        for _, fields in entries:
            message = decode(fields[b"d"], BookStreamMessage)
            if isinstance(message, EndOfData):
                ended = ended or message.replay_id == replay.get("replay_id")
            elif message.symbol not in latest:
                latest[message.symbol] = message
        if ended or not replay.get("replay_id") or time.monotonic() > deadline:
            break
        latest.clear()
        time.sleep(_POLL_S)
    client.close()
    report = {
        "replay": {k: replay.get(k) for k in ("replay_id", "state", "source", "published", "skipped", "rate_per_s")},
        "book_builder_caught_up": ended,
        "books": {symbol: _book_row(update) for symbol, update in sorted(latest.items())},
        "bars_1m": _stored_bars(database_url) if database_url else None,
    }
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        _print(report)
    if not ended and replay.get("replay_id"):
        raise typer.Exit(1)


def _book_row(update: Any) -> dict[str, Any]:
    return {
        "last_price": update.last_price,
        "mid": round(update.mid, 4) if update.mid is not None else None,
        "spread": round(update.spread, 4) if update.spread is not None else None,
        "imbalance": round(update.imbalance, 3) if update.imbalance is not None else None,
        "vwap": round(update.vwap, 2) if update.vwap is not None else None,
        "volume": update.volume,
        "tick_time": datetime.fromtimestamp(update.tick_ts_ns / 1e9, UTC).isoformat(timespec="seconds"),
    }


def _stored_bars(database_url: str) -> dict[str, Any] | None:
    from sqlalchemy import func, select
    from sqlalchemy.exc import SQLAlchemyError

    from aitrader.db.models import Bar
    from aitrader.db.session import make_engine

    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            count, symbols, first, last = connection.execute(
                select(
                    func.count(), func.count(func.distinct(Bar.symbol)), func.min(Bar.start), func.max(Bar.start)
                ).where(Bar.interval == "1m")
            ).one()
    except SQLAlchemyError as e:
        return {"error": str(getattr(e, "orig", e)).splitlines()[0]}
    finally:
        engine.dispose()
    return {
        "count": count,
        "symbols": symbols,
        "first": first.isoformat() if first else None,
        "last": last.isoformat() if last else None,
    }


def _print(report: dict[str, Any]) -> None:
    replay = report["replay"]
    typer.echo(
        f"replay {replay['replay_id']} ({replay['state']}): {replay['published']:,} ticks from {replay['source']} "
        f"at {replay['rate_per_s']:,.0f} ticks/s"
    )
    typer.echo(f"book_builder caught up: {'yes' if report['book_builder_caught_up'] else 'NO (still working?)'}")
    header = ("SYMBOL", "LAST", "MID", "SPREAD", "IMBALANCE", "VWAP", "VOLUME", "TICK TIME (UTC)")
    rows = [header]
    for symbol, book in report["books"].items():
        rows.append(
            (
                symbol,
                *(str(book[k]) if book[k] is not None else "-" for k in ("last_price", "mid", "spread", "imbalance")),
                str(book["vwap"]) if book["vwap"] is not None else "-",
                f"{book['volume']:,}",
                book["tick_time"],
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    bars = report["bars_1m"]
    if bars is None:
        typer.echo("1-minute bars: no database configured")
    elif "error" in bars:
        typer.echo(f"1-minute bars: database error: {bars['error']}")
    else:
        typer.echo(
            f"1-minute bars in PostgreSQL: {bars['count']:,} for {bars['symbols']} symbols, "
            f"{bars['first']} .. {bars['last']}"
        )
