"""A cap on request bodies, as ASGI middleware: a request over it is answered 413 before the app reads it all.

A declared ``Content-Length`` over the cap is refused at once; a body without one (chunked) is counted as it
streams in and refused the moment it passes the cap, so neither form lets a client make the service buffer more.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class _TooLarge(Exception):
    pass


class BodySizeLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int, setting: str) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.setting = setting
        """The variable that sets the cap, named in the refusal."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send, declared.decode())
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send, f"more than {received}")

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, size: str) -> None:
        detail = f"the request body is {size} bytes, more than {self.setting} ({self.max_bytes})"
        await JSONResponse(status_code=413, content={"detail": detail, "code": "REQUEST_TOO_LARGE"})(
            scope, receive, send
        )
