"""The Kite MCP server's tools at ``/mcp`` (streamable HTTP, the official ``mcp`` SDK, major version 2).

Tool names, arguments and results follow Zerodha's kite-mcp-server: each result is one text block of JSON,
``get_positions`` is one flat list (day positions, then net), list tools page with ``from``/``limit``
(``{"data": [...], "pagination": {...}}`` when a limit is given), and timestamps are RFC 3339 as that server
writes them (``2025-11-21T09:15:00+05:30``). Errors are tool results with ``isError`` and Kite's texts
("Please log in first using the login tool"); a failed Kite call says which and why
("Failed to place order: Insufficient funds. ...").

Login works like Kite's: ``login`` answers a link to ``/connect/login`` whose redirect comes back to
``/callback`` with the MCP session id signed into ``redirect_params``; the callback exchanges the request
token and binds the access token to that MCP session. With ``auto_login`` the tool completes the login at
once (headless development). A client may instead send ``Authorization: token api_key:access_token`` on its
HTTP requests, which also serves clients of the 2026 protocol, whose sessions carry no id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import inspect
import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlencode, urlsplit

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import CallToolResult, TextContent
from pydantic import Field

from mock_mcp.account import Account, ModifyOrder, PlaceOrder
from mock_mcp.kite import KiteError
from mock_mcp.market import Market
from mock_mcp.sessions import Session, SessionStore

LOGIN_LINK_TTL_S: Final = 1_800
NOT_LOGGED_IN: Final = "Please log in first using the login tool"
SERVER_NAME: Final = "Kite MCP Server"
_TIMESTAMP_KEYS: Final = frozenset(
    {"order_timestamp", "exchange_timestamp", "exchange_update_timestamp", "fill_timestamp", "timestamp",
     "last_trade_time", "login_time"}
)  # fmt: skip


class McpLogins:
    """Which Kite session each MCP session is logged in with, and the signed links that log one in."""

    def __init__(self, sessions: SessionStore, api_secret: str) -> None:
        self._sessions = sessions
        self._key = hashlib.sha256(f"mcp-login:{api_secret}".encode()).digest()
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()

    def sign(self, mcp_session: str, now: float | None = None) -> str:
        stamp = f"{mcp_session}|{int(time.time() if now is None else now)}"
        mac = hmac.new(self._key, stamp.encode(), hashlib.sha256).digest()
        return f"{stamp}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"

    def verify(self, signed: str, now: float | None = None) -> str | None:
        """The MCP session id a login link was made for, or None if it was forged or is too old."""
        stamp, _, _ = signed.rpartition(".")
        mcp_session, _, issued = stamp.rpartition("|")
        if not mcp_session or not issued.isdigit():
            return None
        if not hmac.compare_digest(self.sign(mcp_session, int(issued)), signed):
            return None
        if (time.time() if now is None else now) - int(issued) > LOGIN_LINK_TTL_S:
            return None
        return mcp_session

    def bind(self, mcp_session: str, session: Session) -> None:
        with self._lock:
            self._tokens[mcp_session] = session.access_token

    def unbind(self, mcp_session: str) -> None:
        with self._lock:
            self._tokens.pop(mcp_session, None)

    def session(self, headers: Mapping[str, str]) -> Session | None:
        """The Kite session of a request: its own Authorization header, else its MCP session's login (either
        checked against the live sessions, so a Kite logout logs the MCP session out too)."""
        candidates = [headers.get("authorization")]
        mcp_session = headers.get("mcp-session-id")
        if mcp_session is not None:
            token = self._tokens.get(mcp_session)
            if token is not None:
                candidates.append(f"token {self._sessions.api_key}:{token}")
        for authorization in candidates:
            if authorization:
                try:
                    return self._sessions.authenticate(authorization)
                except KiteError:
                    continue
        return None


def _text(value: Any) -> str:
    return json.dumps(_rfc3339(value))


def _error(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


def _rfc3339(value: Any, key: str = "") -> Any:
    """Kite's ``YYYY-MM-DD HH:MM:SS`` (IST) timestamps as RFC 3339, as the Kite MCP server writes them."""
    if isinstance(value, dict):
        return {k: _rfc3339(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_rfc3339(item, key) for item in value]
    if key in _TIMESTAMP_KEYS and isinstance(value, str) and len(value) == 19:
        return f"{value[:10]}T{value[11:]}+05:30"
    return value


def _page(items: list[Any], start: int | None, limit: int | None) -> Any:
    """Kite MCP's paging: the items from ``from``; with a positive ``limit``, a page and its bounds."""
    first = max(start or 0, 0)
    if not limit or limit <= 0:
        return items[first:]
    page = items[first : first + limit]
    return {
        "data": page,
        "pagination": {
            "from": first,
            "limit": limit,
            "total": len(items),
            "has_more": first + len(page) < len(items),
            "returned": len(page),
        },
    }


FromArg = Annotated[int | None, Field(alias="from", description="Starting index for pagination (0-based). Default: 0")]
LimitArg = Annotated[int | None, Field(description="Maximum number of items to return. Default: all")]
Variety = Literal["regular", "co", "amo", "iceberg", "auction"]
Exchange = Literal["NSE", "BSE", "MCX", "NFO", "BFO"]
Product = Literal["CNC", "NRML", "MIS", "MTF"]
OrderType = Literal["MARKET", "LIMIT", "SL", "SL-M"]
Validity = Literal["DAY", "IOC", "TTL"]
Interval = Literal["minute", "day", "3minute", "5minute", "10minute", "15minute", "30minute", "60minute"]
SearchFilter = Literal["id", "name", "isin", "tradingsymbol", "underlying"]


def _paged_signature(ctx: Context, from_: FromArg = None, limit: LimitArg = None) -> None:
    """The signature the paged tools show (the SDK passes ``from`` by its alias, so they take ``**kw``)."""


def _search_signature(
    ctx: Context,
    query: Annotated[str, Field(description="Search query")],
    filter_on: Annotated[SearchFilter, Field(description="Field to match: id (EXCHANGE:SYMBOL), name, ...")] = "id",
    from_: FromArg = None,
    limit: LimitArg = None,
) -> None:
    """As ``_paged_signature``, for ``search_instruments``."""


def build_mcp(
    *, account: Account, market: Market, sessions: SessionStore, logins: McpLogins, auto_login: bool, login_base: str
) -> MCPServer:
    """The MCP server: every tool answers from the same account and market as the REST routes."""
    server = MCPServer(SERVER_NAME, version="1.0.0", instructions="A simulated Zerodha Kite account (AITrader).")

    def tool(name: str, description: str, *, signature: Callable[..., None] | None = None) -> Callable[..., Any]:
        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            if signature is not None:
                fn.__signature__ = inspect.signature(signature, eval_str=True)  # type: ignore[attr-defined]
            server.add_tool(fn, name=name, description=description, structured_output=False)
            return fn

        return register

    def kite(ctx: Context, failure: str, call: Callable[[], Any]) -> str | CallToolResult:
        """Run a Kite call for a logged-in session: its JSON, or a tool error naming what failed and why."""
        if logins.session(ctx.headers or {}) is None:
            return _error(NOT_LOGGED_IN)
        try:
            return _text(call())
        except KiteError as e:
            return _error(f"{failure}: {e.message}")

    @tool("login", "Log in to Kite: answers a link to open in a browser (or logs in at once with auto-login).")
    def login(ctx: Context) -> str | CallToolResult:
        headers = ctx.headers or {}
        current = logins.session(headers)
        if current is not None:
            return f"You are already logged in as {account.user_name}"
        mcp_session = headers.get("mcp-session-id")
        if mcp_session is None:
            return _error(
                "This MCP connection has no session id to log in with: connect with the 2025 protocol "
                "(mcp.Client(url, mode='legacy')), or send `Authorization: token api_key:access_token`."
            )
        if auto_login:
            logins.bind(mcp_session, sessions.redeem(sessions.issue_request_token()))
            return f"Logged in as {account.user_name} ({account.user_id}): auto-login is on."
        back = urlencode({"session_id": logins.sign(mcp_session)})
        query = urlencode({"api_key": sessions.api_key, "v": "3", "redirect_params": back})
        return (
            "IMPORTANT: Please display this warning to the user before proceeding: this is AITrader's simulated "
            "Kite account; orders here move paper money only.\n\n"
            f"[Login to Kite]({login_base}/connect/login?{query})"
        )

    @tool("logout", "Log out of Kite: ends this MCP session's Kite session.")
    def logout(ctx: Context) -> str | CallToolResult:
        headers = ctx.headers or {}
        session = logins.session(headers)
        if session is None:
            return _error(NOT_LOGGED_IN)
        sessions.invalidate(sessions.api_key, session.access_token)
        if headers.get("mcp-session-id"):
            logins.unbind(headers["mcp-session-id"])
        return f"Successfully logged out user {account.user_id}. You can now log in again with the login tool."

    @tool("get_profile", "Get the user's profile.")
    def get_profile(ctx: Context) -> str | CallToolResult:
        return kite(ctx, "Failed to get profile", account.profile)

    @tool("get_margins", "Get the account's margins: equity and commodity segments.")
    def get_margins(ctx: Context) -> str | CallToolResult:
        return kite(ctx, "Failed to get margins", account.margins)

    @tool("get_holdings", "Get holdings. Supports pagination.", signature=_paged_signature)
    def get_holdings(ctx: Context, limit: int | None = None, **kw: Any) -> str | CallToolResult:
        return kite(ctx, "Failed to get holdings", lambda: _page(account.holdings(), kw.get("from"), limit))

    @tool("get_positions", "Get positions: today's, then net. Supports pagination.", signature=_paged_signature)
    def get_positions(ctx: Context, limit: int | None = None, **kw: Any) -> str | CallToolResult:
        def flat() -> Any:
            both = account.positions()
            return _page(both["day"] + both["net"], kw.get("from"), limit)

        return kite(ctx, "Failed to get positions", flat)

    @tool("get_trades", "Get today's trades. Supports pagination.", signature=_paged_signature)
    def get_trades(ctx: Context, limit: int | None = None, **kw: Any) -> str | CallToolResult:
        return kite(ctx, "Failed to get trades", lambda: _page(account.trades(), kw.get("from"), limit))

    @tool("get_orders", "Get today's orders. Supports pagination.", signature=_paged_signature)
    def get_orders(ctx: Context, limit: int | None = None, **kw: Any) -> str | CallToolResult:
        return kite(ctx, "Failed to get orders", lambda: _page(account.orders(), kw.get("from"), limit))

    @tool("get_order_history", "Get an order's history: one entry per state it went through.")
    def get_order_history(
        ctx: Context, order_id: Annotated[str, Field(description="ID of the order")]
    ) -> str | CallToolResult:
        return kite(ctx, "Failed to get order history", lambda: account.order_history(order_id))

    @tool("get_order_trades", "Get the trades an order filled with.")
    def get_order_trades(
        ctx: Context, order_id: Annotated[str, Field(description="ID of the order")]
    ) -> str | CallToolResult:
        return kite(ctx, "Failed to get order trades", lambda: account.order_trades(order_id))

    @tool("get_quotes", "Get full market quotes: last trade, OHLC, volume, depth.")
    def get_quotes(
        ctx: Context,
        instruments: Annotated[list[str], Field(description="EXCHANGE:TRADINGSYMBOL, e.g. ['NSE:INFY'] (≤ 500)")],
    ) -> str | CallToolResult:
        return kite(ctx, "Failed to get quotes", lambda: market.quote(instruments))

    @tool("get_ltp", "Get the last traded prices of instruments.")
    def get_ltp(
        ctx: Context, instruments: Annotated[list[str], Field(description="EXCHANGE:TRADINGSYMBOL (≤ 1000)")]
    ) -> str | CallToolResult:
        return kite(ctx, "Failed to get latest trading prices", lambda: market.ltp(instruments))

    @tool("get_ohlc", "Get the OHLC and last price of instruments.")
    def get_ohlc(
        ctx: Context, instruments: Annotated[list[str], Field(description="EXCHANGE:TRADINGSYMBOL (≤ 1000)")]
    ) -> str | CallToolResult:
        return kite(ctx, "Failed to get OHLC data", lambda: market.ohlc(instruments))

    @tool("get_historical_data", "Get historical candles of an instrument.")
    def get_historical_data(
        ctx: Context,
        instrument_token: Annotated[int, Field(description="Instrument token")],
        from_date: Annotated[str, Field(description="From, YYYY-MM-DD HH:MM:SS")],
        to_date: Annotated[str, Field(description="To, YYYY-MM-DD HH:MM:SS")],
        interval: Annotated[Interval, Field(description="Candle interval")],
        continuous: bool = False,
        oi: bool = False,
    ) -> str | CallToolResult:
        def candles() -> list[dict[str, Any]]:
            rows = market.candles(str(instrument_token), interval, from_date, to_date, oi=True)
            names = ("date", "open", "high", "low", "close", "volume", "oi")
            out = []
            for row in rows:
                candle = dict(zip(names, row, strict=True))
                candle["date"] = f"{candle['date'][:-2]}:{candle['date'][-2:]}"
                out.append(candle)
            return out

        del continuous  # one contract per symbol: nothing to stitch
        return kite(ctx, "Failed to get historical data", candles)

    @tool("search_instruments", "Search instruments by id, name, symbol or underlying.", signature=_search_signature)
    def search_instruments(
        ctx: Context, query: str, filter_on: str = "id", limit: int | None = None, **kw: Any
    ) -> str | CallToolResult:
        found = lambda: _page(market.search(query, filter_on), kw.get("from"), limit)  # noqa: E731
        return kite(ctx, "Failed to search instruments", found)

    @tool("place_order", "Place an order.")
    def place_order(
        ctx: Context,
        variety: Variety,
        exchange: Exchange,
        tradingsymbol: str,
        transaction_type: Literal["BUY", "SELL"],
        quantity: Annotated[int, Field(ge=1)],
        product: Product,
        order_type: OrderType,
        price: float | None = None,
        validity: Validity | None = None,
        validity_ttl: int | None = None,
        disclosed_quantity: int | None = None,
        trigger_price: float | None = None,
        iceberg_legs: int | None = None,
        iceberg_quantity: int | None = None,
        tag: Annotated[str | None, Field(max_length=20)] = None,
    ) -> str | CallToolResult:
        del iceberg_legs, iceberg_quantity  # the iceberg variety is refused below, with Kite's input error
        request = PlaceOrder(
            exchange=exchange,
            tradingsymbol=tradingsymbol,
            transaction_type=transaction_type,
            quantity=quantity,
            product=product,
            order_type=order_type,
            price=price,
            trigger_price=trigger_price,
            validity=validity,
            validity_ttl=validity_ttl,
            disclosed_quantity=disclosed_quantity,
            tag=tag,
        )
        return kite(ctx, "Failed to place order", lambda: {"order_id": account.place(variety, request)})

    @tool("modify_order", "Modify an open order.")
    def modify_order(
        ctx: Context,
        variety: Variety,
        order_id: str,
        order_type: OrderType,
        quantity: int | None = None,
        price: float | None = None,
        trigger_price: float | None = None,
        validity: Validity | None = None,
        disclosed_quantity: int | None = None,
    ) -> str | CallToolResult:
        change = ModifyOrder(
            quantity=quantity,
            price=price,
            order_type=order_type,
            trigger_price=trigger_price,
            validity=validity,
            disclosed_quantity=disclosed_quantity,
        )
        return kite(ctx, "Failed to modify order", lambda: {"order_id": account.modify(variety, order_id, change)})

    @tool("cancel_order", "Cancel an open order.")
    def cancel_order(ctx: Context, variety: Variety, order_id: str) -> str | CallToolResult:
        return kite(ctx, "Failed to cancel order", lambda: {"order_id": account.cancel(variety, order_id)})

    return server


def transport_security(extra_hosts: list[str]) -> TransportSecuritySettings:
    """DNS-rebinding protection that still lets the compose service name (and any configured host) in."""
    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*", "mock-mcp:*", *extra_hosts]
    origins = [f"{scheme}://{host}" for scheme in ("http", "https") for host in hosts]
    return TransportSecuritySettings(allowed_hosts=hosts, allowed_origins=origins)


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
