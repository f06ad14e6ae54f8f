"""`aitrader signals`: what the pattern engine made of the last replay, once it has caught up.

It waits for the last replay's end-of-data marker on ``signals`` (the pattern engine forwards it after the
signals of the replay's last ticks), then counts the replay's signals by pattern and by symbol and shows the
latest few. It reads the bus only, like every `aitrader` command that reports on a service.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from aitrader.cli._output import fail
from aitrader.errors import AITraderError

_POLL_S = 0.25
_PAGE = 5_000


def register(app: typer.Typer) -> None:
    app.command(help="Report the last replay's signals: counts by pattern and symbol, the latest ones.")(signals)


def signals(
    wait: Annotated[float, typer.Option(min=0, help="seconds to wait for the pattern engine to finish")] = 120,
    latest: Annotated[int, typer.Option(min=0, help="how many of the latest signals to list")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    import redis

    from aitrader.cli.data import last_replay
    from aitrader.contracts import SIGNALS, EndOfData, Signal, decode, stream_key
    from aitrader.devstack.stack import stack_urls
    from aitrader.settings import CommonSettings, load_settings

    try:
        redis_url = stack_urls().require_redis_url()
    except AITraderError as e:
        raise fail(str(e)) from e
    prefix = load_settings(CommonSettings).stream_prefix
    replay = last_replay()
    replay_id = replay.get("replay_id")
    client = redis.Redis.from_url(redis_url)
    key = stream_key(SIGNALS, prefix)
    deadline = time.monotonic() + wait
    while True:
        found, ended = _replay_signals(client, key, replay_id, decode, Signal, EndOfData)
        if ended or not replay_id or time.monotonic() > deadline:
            break
        time.sleep(_POLL_S)
    client.close()
    report = {
        "replay": {k: replay.get(k) for k in ("replay_id", "state", "source", "published")},
        "pattern_engine_caught_up": ended,
        "signals": len(found),
        "by_pattern": dict(Counter(signal.pattern for signal in found).most_common()),
        "by_symbol": dict(Counter(signal.symbol for signal in found).most_common()),
        "latest": [_row(signal) for signal in found[-latest:]] if latest else [],
    }
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        _print(report)
    if not ended and replay_id:
        raise typer.Exit(1)


def _replay_signals(
    client: Any, key: str, replay_id: str | None, decode: Any, signal_type: Any, marker_type: Any
) -> tuple[list[Any], bool]:
    """The signals after the previous replay's marker, oldest first, and whether this replay's marker is in.

    Reads backwards from the end, through this replay's markers and signals, and stops at another replay's
    marker.
    """
    collected: list[Any] = []
    ended = False
    upper = "+"
    while True:
        entries: Any = client.xrevrange(key, max=upper, count=_PAGE)
        for _, fields in entries:
            message = decode(fields[b"d"], signal_type | marker_type)
            if isinstance(message, marker_type):
                if message.replay_id != replay_id:
                    return collected[::-1], ended
                ended = True  # one marker per pattern engine instance (shard): read on past them
                continue
            collected.append(message)
        if len(entries) < _PAGE:
            return collected[::-1], ended
        upper = f"({entries[-1][0].decode()}"


def _row(signal: Any) -> dict[str, Any]:
    return {
        "id": signal.id,
        "symbol": signal.symbol,
        "pattern": signal.pattern,
        "side": "BUY" if signal.side > 0 else "SELL",
        "score": round(signal.score, 3),
        "price": signal.price,
        "tick_time": datetime.fromtimestamp(signal.tick_ts_ns / 1e9, UTC).isoformat(timespec="milliseconds"),
    }


def _print(report: dict[str, Any]) -> None:
    replay = report["replay"]
    ticks = f"{replay['published']:,} ticks from {replay['source']}"
    typer.echo(f"replay {replay['replay_id']} ({replay['state']}): {ticks}")
    typer.echo(f"pattern engine caught up: {'yes' if report['pattern_engine_caught_up'] else 'NO (still working?)'}")
    typer.echo(f"signals: {report['signals']:,}")
    for title, counts in (("by pattern", report["by_pattern"]), ("by symbol", report["by_symbol"])):
        typer.echo(f"  {title}: " + (", ".join(f"{name} {count}" for name, count in counts.items()) or "none"))
    if report["latest"]:
        header = ("TICK TIME (UTC)", "SYMBOL", "PATTERN", "SIDE", "SCORE", "PRICE")
        rows = [header] + [
            (row["tick_time"], row["symbol"], row["pattern"], row["side"], str(row["score"]), str(row["price"]))
            for row in report["latest"]
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        for row in rows:
            typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
