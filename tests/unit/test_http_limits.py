"""The body-size cap: a declared Content-Length over it and a chunked body that grows past it both get a 413."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI, Request

from aitrader.http.limits import BodySizeLimit


def app() -> FastAPI:
    application = FastAPI()

    @application.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    application.add_middleware(BodySizeLimit, max_bytes=100, setting="X_MAX_BYTES")
    return application


async def chunks(count: int) -> AsyncIterator[bytes]:
    for _ in range(count):
        yield b"x" * 30


async def test_bodies_over_the_cap_are_refused_declared_or_streamed() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app()), base_url="http://test") as http:
        small = await http.post("/echo", content=b"x" * 100)
        declared = await http.post("/echo", content=b"x" * 101)
        streamed_small = await http.post("/echo", content=chunks(3))
        streamed_large = await http.post("/echo", content=chunks(4))

    assert small.json() == {"bytes": 100} and streamed_small.json() == {"bytes": 90}
    assert declared.status_code == 413
    assert declared.json()["detail"] == "the request body is 101 bytes, more than X_MAX_BYTES (100)"
    assert streamed_large.status_code == 413 and "more than X_MAX_BYTES (100)" in streamed_large.json()["detail"]
