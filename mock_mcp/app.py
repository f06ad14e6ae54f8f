"""create_app: the Kite REST routes on one FastAPI app, every error in Kite's envelope."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from fastapi import FastAPI

from mock_mcp.account import Account
from mock_mcp.api import router
from mock_mcp.instruments import load_instruments
from mock_mcp.kite import install_kite_errors
from mock_mcp.prices import PriceModel
from mock_mcp.sessions import SessionStore
from mock_mcp.settings import MockMcpSettings

IST = timezone(timedelta(hours=5, minutes=30), "IST")


def ist_now() -> datetime:
    return datetime.now(IST)


def create_app(settings: MockMcpSettings, *, clock: Callable[[], datetime] = ist_now) -> FastAPI:
    app = FastAPI(title="mock_mcp", summary="A simulated Zerodha account: Kite Connect v3 REST", docs_url=None)
    app.state.settings = settings
    app.state.account = Account(
        user_id=settings.user_id, user_name=settings.user_name, email=settings.email, opening_cash=settings.opening_cash
    )
    app.state.sessions = SessionStore(
        api_key=settings.api_key,
        api_secret=settings.api_secret,
        user_id=settings.user_id,
        path=settings.state_file.with_name("sessions.json"),
        clock=clock,
    )
    app.state.instruments = load_instruments(settings.instruments_path)
    app.state.instrument_index = {
        **{f"{item.exchange}:{item.tradingsymbol}": item for item in app.state.instruments},
        **{str(item.instrument_token): item for item in app.state.instruments},
    }
    app.state.prices = PriceModel(app.state.instruments)
    app.state.clock = clock
    install_kite_errors(app)
    app.include_router(router)
    return app
