"""The Kite Connect v3 routes: validate, call the account or the sessions, shape Kite's answer."""

from __future__ import annotations

from html import escape
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Depends, Form, Header, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse

from mock_mcp.account import EXCHANGES, Account, ModifyOrder, PlaceOrder
from mock_mcp.kite import ErrorType, KiteError, success
from mock_mcp.market import Market
from mock_mcp.mcp_server import McpLogins
from mock_mcp.sessions import Session, SessionStore

router = APIRouter()


def _sessions(request: Request) -> SessionStore:
    sessions: SessionStore = request.app.state.sessions
    return sessions


def _account(request: Request) -> Account:
    account: Account = request.app.state.account
    return account


def _market(request: Request) -> Market:
    market: Market = request.app.state.market
    return market


def _session(request: Request, authorization: Annotated[str | None, Header()] = None) -> Session:
    return _sessions(request).authenticate(authorization)


Sessions = Annotated[SessionStore, Depends(_sessions)]
AccountDep = Annotated[Account, Depends(_account)]
MarketDep = Annotated[Market, Depends(_market)]
Instruments = Annotated[list[str] | None, Query(alias="i")]
Authenticated = Annotated[Session, Depends(_session)]


@router.get("/health", include_in_schema=False)
def health(request: Request, account: AccountDep) -> dict[str, Any]:
    """Up, whose account, and where quotes come from (live messages seen, and those it could not use)."""
    live = request.app.state.live_quotes
    return {
        "status": "ok",
        "user_id": account.user_id,
        "open_orders": account.open_orders(),
        "live_quotes": {"observed": live.observed, "skipped": live.skipped, "instruments": live.instruments_live()},
    }


# -- login -------------------------------------------------------------------------------------------------


@router.get("/connect/login", response_model=None)
def login_page(
    request: Request, sessions: Sessions, api_key: str = "", redirect_params: str = ""
) -> RedirectResponse | HTMLResponse:
    """Kite's login page: with auto-login, straight back to the app with a request token; else a form."""
    if api_key != sessions.api_key:
        raise KiteError(ErrorType.INPUT, "Invalid `api_key`.")
    if request.app.state.settings.auto_login:
        return _redirect_with_token(request, sessions, redirect_params)
    page = (
        "<!doctype html><title>Kite (AITrader mock) login</title>"
        f'<form method=post><input type=hidden name=api_key value="{escape(api_key)}">'
        f'<input type=hidden name=redirect_params value="{escape(redirect_params)}">'
        f"<p>Log in as {escape(request.app.state.account.user_id)}</p><button>Log in</button></form>"
    )
    return HTMLResponse(page)


@router.post("/connect/login")
def login(
    request: Request, sessions: Sessions, api_key: Annotated[str, Form()], redirect_params: Annotated[str, Form()] = ""
) -> RedirectResponse:
    if api_key != sessions.api_key:
        raise KiteError(ErrorType.INPUT, "Invalid `api_key`.")
    return _redirect_with_token(request, sessions, redirect_params)


def _redirect_with_token(request: Request, sessions: Sessions, redirect_params: str) -> RedirectResponse:
    parts = urlsplit(request.app.state.settings.redirect_url)
    query = urlencode(
        {"request_token": sessions.issue_request_token(), "action": "login", "type": "login", "status": "success"}
    )
    extra = "&".join(part for part in (parts.query, query, redirect_params) if part)
    return RedirectResponse(urlunsplit(parts._replace(query=extra)), status_code=302)


@router.get("/callback", include_in_schema=False, response_model=None)
def callback(
    request: Request, sessions: Sessions, request_token: str = "", status: str = "", session_id: str = ""
) -> dict[str, Any] | HTMLResponse:
    """The default redirect URL. With a signed MCP ``session_id`` (the ``login`` tool's link) it completes
    that MCP session's login, as the Kite MCP server's callback does; else it shows the request token, for a
    developer without an app of their own."""
    if not session_id:
        return success({"request_token": request_token, "status": status})
    logins: McpLogins = request.app.state.mcp_logins
    mcp_session = logins.verify(session_id)
    if mcp_session is None:
        raise KiteError(ErrorType.INPUT, "Invalid or expired login link: ask the login tool for a new one.")
    if status != "success" or not request_token:
        raise KiteError(ErrorType.INPUT, f"Login did not succeed (status `{status}`).")
    logins.bind(mcp_session, sessions.redeem(request_token))
    page = "<!doctype html><title>Logged in</title><p>Login successful. You can close this window.</p>"
    return HTMLResponse(page)


@router.post("/session/token")
def create_session(
    sessions: Sessions,
    account: AccountDep,
    api_key: Annotated[str, Form()],
    request_token: Annotated[str, Form()],
    checksum: Annotated[str, Form()],
) -> dict[str, Any]:
    session = sessions.exchange(api_key, request_token, checksum)
    return success(_session_body(session, account, sessions.api_key))


@router.post("/session/refresh_token")
def refresh_session(
    sessions: Sessions,
    account: AccountDep,
    api_key: Annotated[str, Form()],
    refresh_token: Annotated[str, Form()],
    checksum: Annotated[str, Form()],
) -> dict[str, Any]:
    session = sessions.refresh(api_key, refresh_token, checksum)
    return success(_session_body(session, account, sessions.api_key))


@router.delete("/session/token")
def delete_session(
    sessions: Sessions, api_key: Annotated[str, Query()], access_token: Annotated[str, Query()]
) -> dict[str, Any]:
    sessions.invalidate(api_key, access_token)
    return success(True)


def _session_body(session: Session, account: Account, api_key: str) -> dict[str, Any]:
    return {
        **account.profile(),
        "api_key": api_key,
        "access_token": session.access_token,
        "public_token": session.public_token,
        "refresh_token": session.refresh_token,
        "enctoken": session.public_token,
        "silo": "",
        "login_time": session.login_time,
    }


# -- user --------------------------------------------------------------------------------------------------


@router.get("/user/profile")
def profile(_: Authenticated, account: AccountDep) -> dict[str, Any]:
    return success(account.profile())


@router.get("/user/margins")
def margins(_: Authenticated, account: AccountDep) -> dict[str, Any]:
    return success(account.margins())


@router.get("/user/margins/{segment}")
def segment_margins(segment: str, _: Authenticated, account: AccountDep) -> dict[str, Any]:
    all_segments = account.margins()
    if segment not in all_segments:
        raise KiteError(ErrorType.INPUT, f"Invalid segment `{segment}`: expected one of {', '.join(all_segments)}.")
    return success(all_segments[segment])


# -- portfolio --------------------------------------------------------------------------------------------


@router.get("/portfolio/holdings")
def holdings(_: Authenticated, account: AccountDep) -> dict[str, Any]:
    return success(account.holdings())


@router.get("/portfolio/positions")
def positions(_: Authenticated, account: AccountDep) -> dict[str, Any]:
    return success(account.positions())


# -- orders and trades -------------------------------------------------------------------------------------


@router.get("/orders")
def orders(_: Authenticated, account: AccountDep) -> dict[str, Any]:
    return success(account.orders())


@router.post("/orders/{variety}")
def place_order(
    variety: str, _: Authenticated, account: AccountDep, order: Annotated[PlaceOrder, Form()]
) -> dict[str, Any]:
    """Place an order (form fields as ``kiteconnect.place_order`` sends them; unknown ones are ignored)."""
    return success({"order_id": account.place(variety, order)})


@router.put("/orders/{variety}/{order_id}")
def modify_order(
    variety: str, order_id: str, _: Authenticated, account: AccountDep, change: Annotated[ModifyOrder, Form()]
) -> dict[str, Any]:
    return success({"order_id": account.modify(variety, order_id, change)})


@router.delete("/orders/{variety}/{order_id}")
def cancel_order(variety: str, order_id: str, _: Authenticated, account: AccountDep) -> dict[str, Any]:
    return success({"order_id": account.cancel(variety, order_id)})


@router.get("/orders/{order_id}")
def order_history(order_id: str, _: Authenticated, account: AccountDep) -> dict[str, Any]:
    """Every state the order went through, oldest first."""
    return success(account.order_history(order_id))


@router.get("/orders/{order_id}/trades")
def order_trades(order_id: str, _: Authenticated, account: AccountDep) -> dict[str, Any]:
    return success(account.order_trades(order_id))


@router.get("/trades")
def trades(_: Authenticated, account: AccountDep) -> dict[str, Any]:
    return success(account.trades())


# -- instruments -------------------------------------------------------------------------------------------


@router.get("/instruments", response_class=PlainTextResponse)
def all_instruments(market: MarketDep) -> PlainTextResponse:
    """The instrument master as Kite's CSV (the client needs a Content-Type with ``csv`` in it)."""
    return PlainTextResponse(market.csv(), media_type="text/csv")


@router.get("/instruments/{exchange}", response_class=PlainTextResponse)
def exchange_instruments(exchange: str, market: MarketDep) -> PlainTextResponse:
    if exchange not in EXCHANGES:
        raise KiteError(ErrorType.INPUT, f"Invalid exchange `{exchange}`: expected one of {', '.join(EXCHANGES)}.")
    return PlainTextResponse(market.csv(exchange), media_type="text/csv")


@router.get("/instruments/historical/{instrument_token}/{interval}")
def historical(
    _: Authenticated,
    market: MarketDep,
    instrument_token: str,
    interval: str,
    from_: Annotated[str, Query(alias="from")],
    to: str,
    oi: int = 0,
) -> dict[str, Any]:
    return success({"candles": market.candles(instrument_token, interval, from_, to, oi=bool(oi))})


# -- quotes ------------------------------------------------------------------------------------------------


@router.get("/quote")
def quote(_: Authenticated, market: MarketDep, i: Instruments = None) -> dict[str, Any]:
    return success(market.quote(i or []))


@router.get("/quote/ltp")
def ltp(_: Authenticated, market: MarketDep, i: Instruments = None) -> dict[str, Any]:
    return success(market.ltp(i or []))


@router.get("/quote/ohlc")
def ohlc(_: Authenticated, market: MarketDep, i: Instruments = None) -> dict[str, Any]:
    return success(market.ohlc(i or []))
