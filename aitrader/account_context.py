"""The trading account as the strategy engine and the backend see it: cash, margins, positions, holdings.

``AccountContextClient`` reads it over MCP from the Kite MCP tools (mock_mcp in development) and keeps it for
``ttl_s``, so a burst of decisions costs one round of calls. One connection is held open by a worker task
(MCP sessions open and close in the task that owns them); callers hand it requests and wait at most
``timeout_s``. When the account cannot be read in time, ``get`` raises :class:`AccountContextUnavailable`:
the caller decides what a missing account means (the strategy engine counts the factor as missing).

Login: with ``access_token`` the client sends ``Authorization: token api_key:access_token`` on every request;
otherwise it opens a session of the 2025 protocol (which carries a session id) and calls the ``login`` tool,
which completes at once when the server's auto-login is on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Self

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent

from aitrader.errors import UnavailableError
from aitrader.log import get_logger

log = get_logger(__name__)

NOT_LOGGED_IN: Final = "Please log in first using the login tool"
_RECONNECT_S: Final = 0.5


class AccountContextUnavailable(UnavailableError):
    code = "ACCOUNT_CONTEXT_UNAVAILABLE"


@dataclass(frozen=True)
class Position:
    """A net position (Kite's ``net`` list): quantity is signed, P&L at the last price."""

    exchange: str
    symbol: str
    product: str
    quantity: int
    average_price: float
    last_price: float
    pnl: float


@dataclass(frozen=True)
class Holding:
    """Delivery shares, settled and T+1 together."""

    exchange: str
    symbol: str
    quantity: int
    average_price: float
    last_price: float


@dataclass(frozen=True)
class AccountContext:
    cash: float
    """The equity segment's opening cash."""
    available_margin: float
    """What is left to trade with (Kite's ``equity.net``)."""
    used_margin: float
    """Kite's ``utilised.debits``."""
    positions: tuple[Position, ...]
    holdings: tuple[Holding, ...]
    fetched_at: float
    """``time.monotonic()`` when it was read."""

    def position(self, symbol: str, exchange: str = "NSE") -> int:
        """The net quantity in ``symbol`` across products (intraday and delivery)."""
        return sum(p.quantity for p in self.positions if p.symbol == symbol and p.exchange == exchange)

    def holding(self, symbol: str, exchange: str = "NSE") -> int:
        return sum(h.quantity for h in self.holdings if h.symbol == symbol and h.exchange == exchange)

    @classmethod
    def from_kite(
        cls, margins: dict[str, Any], positions: list[dict[str, Any]], holdings: list[dict[str, Any]]
    ) -> Self:
        """Build it from the tools' answers: ``get_margins``, the ``net`` part of ``get_positions``, and
        ``get_holdings``."""
        equity = margins["equity"]
        return cls(
            cash=float(equity["available"]["cash"]),
            available_margin=float(equity["net"]),
            used_margin=float(equity["utilised"]["debits"]),
            positions=tuple(
                Position(
                    exchange=p["exchange"],
                    symbol=p["tradingsymbol"],
                    product=p["product"],
                    quantity=int(p["quantity"]),
                    average_price=float(p["average_price"]),
                    last_price=float(p["last_price"]),
                    pnl=float(p["pnl"]),
                )
                for p in positions
            ),
            holdings=tuple(
                Holding(
                    exchange=h["exchange"],
                    symbol=h["tradingsymbol"],
                    quantity=int(h["quantity"]) + int(h.get("t1_quantity", 0)),
                    average_price=float(h["average_price"]),
                    last_price=float(h["last_price"]),
                )
                for h in holdings
            ),
            fetched_at=time.monotonic(),
        )


_Request = tuple[str, dict[str, Any], "asyncio.Future[Any]"]


class AccountContextClient:
    """Reads the account over MCP; use as ``async with AccountContextClient(url) as account:``."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 1.0,
        ttl_s: float = 2.0,
        api_key: str | None = None,
        access_token: str | None = None,
    ) -> None:
        if timeout_s <= 0 or ttl_s < 0:
            raise ValueError(f"timeout_s must be > 0 and ttl_s >= 0, were {timeout_s} and {ttl_s}")
        if (api_key is None) != (access_token is None):
            raise ValueError("api_key and access_token go together: give both or neither")
        self.url = url
        self._timeout = timeout_s
        self._ttl = ttl_s
        self._authorization = f"token {api_key}:{access_token}" if access_token else None
        self._cached: AccountContext | None = None
        self._refresh: asyncio.Task[AccountContext] | None = None
        self._requests: asyncio.Queue[_Request] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._last_error = ""
        self.calls = 0

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for task in (self._refresh, self._worker):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._refresh = self._worker = None

    async def get(self) -> AccountContext:
        """The account, at most ``ttl_s`` old; read afresh (within ``timeout_s``) when older."""
        cached = self._cached
        if cached is not None and time.monotonic() - cached.fetched_at <= self._ttl:
            return cached
        if self._refresh is None or self._refresh.done():
            self._refresh = asyncio.create_task(self._read())
        try:
            return await asyncio.wait_for(asyncio.shield(self._refresh), self._timeout)
        except TimeoutError:
            reason = f"; last error: {self._last_error}" if self._last_error else ""
            raise AccountContextUnavailable(
                f"the account at {self.url} did not answer within {self._timeout:g} s{reason}"
            ) from None

    async def _read(self) -> AccountContext:
        margins = await self._call("get_margins")
        positions = await self._call("get_positions")
        holdings = await self._call("get_holdings")
        context = AccountContext.from_kite(margins, _net_positions(positions), holdings)
        self._cached = context
        return context

    async def _call(self, tool: str, arguments: dict[str, Any] | None = None) -> Any:
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work(), name="account_context")
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await self._requests.put((tool, arguments or {}, answer))
        return await answer

    async def _work(self) -> None:
        """Hold one MCP session open and answer the queued calls through it, reconnecting after failures."""
        while True:
            request: _Request | None = None
            try:
                async with self._session() as client:
                    while True:
                        request = await self._requests.get()
                        tool, arguments, answer = request
                        result = await client.call_tool(tool, arguments, read_timeout_seconds=self._timeout)
                        self.calls += 1
                        if not answer.done():
                            _settle(answer, tool, result)
                        request = None
                        if result.is_error and _text(result) == NOT_LOGGED_IN:
                            raise AccountContextUnavailable("the session was logged out: logging in again")
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the server went away or refused us: fail the call in hand, retry later
                self._last_error = repr(e)
                log.warning("account_context_connection_failed", url=self.url, error=self._last_error)
                if request is not None and not request[2].done():
                    request[2].set_exception(AccountContextUnavailable(f"reading {request[0]} failed: {e!r}"))
                await asyncio.sleep(_RECONNECT_S)

    @contextlib.asynccontextmanager
    async def _session(self) -> AsyncIterator[Client]:
        if self._authorization is not None:
            http = httpx2.AsyncClient(headers={"Authorization": self._authorization}, timeout=self._timeout)
            async with http, Client(streamable_http_client(self.url, http_client=http)) as client:
                yield client
            return
        async with Client(self.url, mode="legacy", read_timeout_seconds=self._timeout) as client:
            login = await client.call_tool("login", {})
            text = _text(login)
            if login.is_error or "logged in as" not in text.lower():
                raise AccountContextUnavailable(f"the login tool did not log in (auto-login off?): {text[:200]}")
            yield client


def _net_positions(flat: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The net part of the Kite MCP server's ``get_positions``, which is one list: day positions, then net.
    Every (instrument, product) has a net entry and only those traded today a day entry, so the net part is
    the last as many entries as there are distinct positions."""
    keys = [(p["exchange"], p["tradingsymbol"], p["product"]) for p in flat]
    distinct = len(set(keys))
    return flat[len(flat) - distinct :]


def _text(result: CallToolResult) -> str:
    return "".join(block.text for block in result.content if isinstance(block, TextContent))


def _settle(answer: asyncio.Future[Any], tool: str, result: CallToolResult) -> None:
    text = _text(result)
    if result.is_error:
        answer.set_exception(AccountContextUnavailable(f"{tool}: {text}"))
        return
    try:
        answer.set_result(json.loads(text))
    except ValueError:
        answer.set_exception(AccountContextUnavailable(f"{tool} answered something other than JSON: {text[:200]}"))
