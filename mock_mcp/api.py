"""The Kite Connect v3 routes: validate, call the account or the sessions, shape Kite's answer."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Depends, Form, Header, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse

from mock_mcp.account import EXCHANGES, Account
from mock_mcp.instruments import dump
from mock_mcp.kite import ErrorType, KiteError, success
from mock_mcp.prices import INTERVALS, IST, PriceModel, Snapshot
from mock_mcp.sessions import Session, SessionStore

router = APIRouter()


def _sessions(request: Request) -> SessionStore:
    sessions: SessionStore = request.app.state.sessions
    return sessions


def _account(request: Request) -> Account:
    account: Account = request.app.state.account
    return account


def _session(request: Request, authorization: Annotated[str | None, Header()] = None) -> Session:
    return _sessions(request).authenticate(authorization)


Sessions = Annotated[SessionStore, Depends(_sessions)]
AccountDep = Annotated[Account, Depends(_account)]
Authenticated = Annotated[Session, Depends(_session)]


@router.get("/health", include_in_schema=False)
def health(account: AccountDep) -> dict[str, Any]:
    return {"status": "ok", "user_id": account.user_id}


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


@router.get("/callback", include_in_schema=False)
def callback(request_token: str = "", status: str = "") -> dict[str, Any]:
    """The default redirect URL: shows the request token, for a developer without an app of their own."""
    return success({"request_token": request_token, "status": status})


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


# -- instruments -------------------------------------------------------------------------------------------


@router.get("/instruments", response_class=PlainTextResponse)
def all_instruments(request: Request) -> PlainTextResponse:
    """The instrument master as Kite's CSV (the client needs a Content-Type with ``csv`` in it)."""
    return PlainTextResponse(dump(request.app.state.instruments), media_type="text/csv")


@router.get("/instruments/{exchange}", response_class=PlainTextResponse)
def exchange_instruments(exchange: str, request: Request) -> PlainTextResponse:
    if exchange not in EXCHANGES:
        raise KiteError(ErrorType.INPUT, f"Invalid exchange `{exchange}`: expected one of {', '.join(EXCHANGES)}.")
    return PlainTextResponse(dump(request.app.state.instruments, exchange), media_type="text/csv")


# -- quotes ------------------------------------------------------------------------------------------------

QUOTE_LIMIT = 500
LTP_LIMIT = 1_000


def _snapshots(request: Request, keys: list[str], limit: int) -> dict[str, Snapshot]:
    """The requested ``EXCHANGE:SYMBOL`` (or instrument token) keys that name an instrument, as Kite answers
    them: an unknown key is simply absent."""
    if not keys:
        raise KiteError(ErrorType.INPUT, "No instruments given: pass one or more `i=EXCHANGE:TRADINGSYMBOL`.")
    if len(keys) > limit:
        raise KiteError(ErrorType.INPUT, f"Too many instruments: at most {limit} per call, was {len(keys)}.")
    index: dict[str, Any] = request.app.state.instrument_index
    model: PriceModel = request.app.state.prices
    now = request.app.state.clock()
    return {key: model.snapshot(index[key], now) for key in dict.fromkeys(keys) if key in index}


def _stamp(moment: Any) -> str:
    return str(moment.strftime("%Y-%m-%d %H:%M:%S"))


@router.get("/quote")
def quote(request: Request, _: Authenticated, i: Annotated[list[str] | None, Query()] = None) -> dict[str, Any]:
    """Full quotes: last trade, day's OHLC and volume, circuit limits, five levels of depth a side."""
    out: dict[str, Any] = {}
    for key, snap in _snapshots(request, i or [], QUOTE_LIMIT).items():
        out[key] = {
            "instrument_token": snap.instrument.instrument_token,
            "timestamp": _stamp(snap.at),
            "last_trade_time": _stamp(snap.at),
            "last_price": snap.last_price,
            "last_quantity": snap.last_quantity,
            "buy_quantity": sum(quantity for _, quantity, _ in snap.bids),
            "sell_quantity": sum(quantity for _, quantity, _ in snap.asks),
            "volume": snap.volume,
            "average_price": snap.average_price,
            "oi": 0,
            "oi_day_high": 0,
            "oi_day_low": 0,
            "net_change": round(snap.last_price - snap.close, 2),
            "lower_circuit_limit": round(snap.close * 0.8, 2),
            "upper_circuit_limit": round(snap.close * 1.2, 2),
            "ohlc": {"open": snap.open, "high": snap.high, "low": snap.low, "close": snap.close},
            "depth": {
                "buy": [{"price": p, "quantity": q, "orders": o} for p, q, o in snap.bids],
                "sell": [{"price": p, "quantity": q, "orders": o} for p, q, o in snap.asks],
            },
        }
    return success(out)


@router.get("/quote/ltp")
def ltp(request: Request, _: Authenticated, i: Annotated[list[str] | None, Query()] = None) -> dict[str, Any]:
    snapshots = _snapshots(request, i or [], LTP_LIMIT)
    return success(
        {
            key: {"instrument_token": snap.instrument.instrument_token, "last_price": snap.last_price}
            for key, snap in snapshots.items()
        }
    )


@router.get("/quote/ohlc")
def ohlc(request: Request, _: Authenticated, i: Annotated[list[str] | None, Query()] = None) -> dict[str, Any]:
    snapshots = _snapshots(request, i or [], LTP_LIMIT)
    return success(
        {
            key: {
                "instrument_token": snap.instrument.instrument_token,
                "last_price": snap.last_price,
                "ohlc": {"open": snap.open, "high": snap.high, "low": snap.low, "close": snap.close},
            }
            for key, snap in snapshots.items()
        }
    )


# -- historical candles ------------------------------------------------------------------------------------


def _moment(name: str, text: str) -> datetime:
    for layout in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, layout).replace(tzinfo=IST)
        except ValueError:
            continue
    raise KiteError(ErrorType.INPUT, f"Invalid `{name}`: expected YYYY-MM-DD HH:MM:SS, was {text!r}.")


@router.get("/instruments/historical/{instrument_token}/{interval}")
def historical(
    request: Request,
    _: Authenticated,
    instrument_token: str,
    interval: str,
    from_: Annotated[str, Query(alias="from")],
    to: str,
    oi: int = 0,
) -> dict[str, Any]:
    """Candles from the price model; ``oi=1`` adds an open-interest column (0: the model has no OI)."""
    instrument = request.app.state.instrument_index.get(instrument_token)
    if instrument is None or not instrument_token.isdigit():
        raise KiteError(ErrorType.INPUT, f"Invalid instrument token `{instrument_token}`.")
    if interval not in INTERVALS:
        raise KiteError(ErrorType.INPUT, f"Invalid interval `{interval}`: expected one of {', '.join(INTERVALS)}.")
    start, end = _moment("from", from_), _moment("to", to)
    if start > end:
        raise KiteError(ErrorType.INPUT, "Invalid range: `from` is after `to`.")
    most_days = INTERVALS[interval][1]
    if (end - start).days > most_days:
        raise KiteError(ErrorType.INPUT, f"Interval `{interval}` allows at most {most_days} days per request.")
    end = min(end, request.app.state.clock())
    model: PriceModel = request.app.state.prices
    rows = model.candles(instrument, start, end, interval)
    return success({"candles": [[*row, 0] for row in rows] if oi else [list(row) for row in rows]})
