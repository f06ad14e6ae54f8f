"""Bus commands of the `aitrader` CLI: look at a stream, inject a message, and the demo's round trip."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import msgspec
import redis.asyncio as aioredis
import typer

from aitrader import runtime
from aitrader.bus import Consumer, ConsumerConfig, Delivery, Producer
from aitrader.cli._output import EXIT_USAGE, fail
from aitrader.contracts import Tick, TickStreamMessage, decode_json, encode_json, from_fields, stream_key
from aitrader.contracts.registry import message_type_for
from aitrader.devstack.stack import stack_urls
from aitrader.errors import AITraderError, DecodeError
from aitrader.settings import CommonSettings, load_settings


def _bus_settings() -> tuple[str, str]:
    """(redis_url, stream_prefix) of the stack: REDIS_URL when set, else the running `aitrader up` stack."""
    return stack_urls().require_redis_url(), load_settings(CommonSettings).stream_prefix


def _entry_as_json(entry_id: bytes, fields: dict[bytes, bytes], message_type: Any) -> dict[str, Any]:
    """One line of `aitrader tail`: the entry id, the decoded message, and for dead letters the error."""
    line: dict[str, Any] = {"id": entry_id.decode()}
    try:
        line["message"] = json.loads(encode_json(from_fields(fields, message_type)))
    except DecodeError as e:
        line["undecodable"] = str(e)
    for key, value in fields.items():
        if key not in (b"d", b"j"):
            line[key.decode(errors="replace")] = value.decode(errors="replace")
    return line


async def _tail(stream: str, last: int, follow: bool) -> None:
    url, prefix = _bus_settings()
    key = stream_key(stream, prefix)
    message_type = message_type_for(stream)
    client = aioredis.Redis.from_url(url)
    try:
        cursor: Any = b"$"
        newest_first: Any = await client.xrevrange(key, count=last) if last > 0 else []
        entries = list(reversed(newest_first))
        for entry_id, fields in entries:
            typer.echo(json.dumps(_entry_as_json(entry_id, fields, message_type)))
        if entries:
            cursor = entries[-1][0]
        elif follow:
            info = await client.exists(key)
            cursor = (await client.xinfo_stream(key))["last-generated-id"] if info else b"0-0"
        while follow:
            response: Any = await client.xread({key: cursor}, count=500, block=1000)
            for _, batch in response:
                for entry_id, fields in batch:
                    typer.echo(json.dumps(_entry_as_json(entry_id, fields, message_type)))
                    cursor = entry_id
    finally:
        await client.aclose()


async def _publish(stream: str, document: str, as_json_field: bool) -> bytes:
    url, prefix = _bus_settings()
    client = aioredis.Redis.from_url(url)
    try:
        producer = Producer(client, prefix=prefix)
        if as_json_field:
            return await producer.publish_fields(stream, {"j": document})
        message = decode_json(document, message_type_for(stream))
        return await producer.publish(stream, message)
    finally:
        await client.aclose()


DEMO_STREAM = "demo"
"""The round trip's own stream, so its tick never reaches the services that consume ``ticks``."""


async def _round_trip() -> dict[str, Any]:
    """Publish a tick and receive it through a consumer group: the bus works end to end."""
    url, prefix = _bus_settings()
    client = aioredis.Redis.from_url(url)
    received: asyncio.Future[tuple[Tick, int]] = asyncio.get_running_loop().create_future()
    key = stream_key(DEMO_STREAM, prefix)

    async def handle(delivery: Delivery[TickStreamMessage]) -> None:
        message = delivery.message
        if isinstance(message, Tick) and message.symbol == "DEMO" and not received.done():
            received.set_result((message, time.time_ns()))

    consumer = Consumer(
        client,
        stream=key,
        group="demo",
        consumer="demo-cli-0",
        handler=handle,
        message_type=TickStreamMessage,
        config=ConsumerConfig(block_ms=100, start_id="$"),
    )
    try:
        await consumer.ensure_group()
        task = asyncio.create_task(consumer.run())
        producer = Producer(client, prefix=prefix)
        sent = Tick(ts_ns=time.time_ns(), symbol="DEMO", seq=1, ltp=100.05, ltq=1, bid=100.0, ask=100.1)
        entry_id = await producer.publish(DEMO_STREAM, sent)
        tick, arrived_ns = await asyncio.wait_for(received, timeout=10)
        consumer.stop()
        await task
        await client.delete(key)
        return {
            "stream": key,
            "entry_id": entry_id.decode(),
            "round_trip_us": round((arrived_ns - tick.ts_ns) / 1000, 1),
            "intact": tick == sent,
        }
    finally:
        await client.aclose()


def register(app: typer.Typer) -> None:
    @app.command()
    def tail(
        stream: Annotated[str, typer.Argument(help="stream name without prefix, e.g. ticks, signals, ticks:dead")],
        last: Annotated[int, typer.Option("--last", "-n", help="show the last N entries first")] = 10,
        follow: Annotated[bool, typer.Option("--follow/--no-follow", "-f", help="keep printing new entries")] = True,
    ) -> None:
        """Print a stream's entries, decoded, one JSON object per line (reads without a group: nothing is acked)."""
        try:
            runtime.run(_tail(stream, last, follow))
        except KeyboardInterrupt:
            pass
        except AITraderError as e:
            raise fail(str(e)) from e

    @app.command()
    def publish(
        stream: Annotated[str, typer.Argument(help="stream name without prefix, e.g. ticks, control")],
        document: Annotated[str, typer.Argument(help="the message as JSON ('-' reads standard input)")],
        raw: Annotated[
            bool, typer.Option("--raw", help="append the JSON as field j without validating (tests dead letters)")
        ] = False,
    ) -> None:
        """Validate a JSON message against the stream's contract and append it (msgpack in field d)."""
        text = sys.stdin.read() if document == "-" else document
        try:
            entry_id = runtime.run(_publish(stream, text, raw))
        except DecodeError as e:
            raise fail(f"not a valid message for stream {stream!r}: {e}", code=EXIT_USAGE) from e
        except AITraderError as e:
            raise fail(str(e)) from e
        typer.echo(entry_id.decode())

    @app.command()
    def demo(
        report: Annotated[Path | None, typer.Option(help="also write the result as JSON here")] = None,
    ) -> None:
        """Push a message through the running stack's bus and show that it arrived intact."""
        try:
            result = runtime.run(_round_trip())
        except (AITraderError, TimeoutError) as e:
            raise fail(f"demo failed: {e}") from e
        verdict = "intact" if result["intact"] else "CORRUPTED"
        typer.echo(
            f"bus round trip: tick DEMO -> {result['stream']} -> consumer group 'demo': {verdict} "
            f"in {result['round_trip_us']} us (entry {result['entry_id']})"
        )
        if report is not None:
            report.write_text(msgspec.json.encode(result).decode() + "\n")
        if not result["intact"]:
            raise typer.Exit(1)
