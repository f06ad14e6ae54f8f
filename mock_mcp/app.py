"""create_app: the Kite REST routes at the root and the Kite MCP tools at /mcp, on one FastAPI app.

While the app runs, two background tasks keep the account moving: the sweep checks working orders against the
prices every ``match_interval_s``, and (with a bus) the live feed follows ``ticks`` and ``book``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime

import anyio.to_thread
from fastapi import FastAPI

from aitrader.log import get_logger
from aitrader.marketdata.schema import IST
from mock_mcp.account import Account
from mock_mcp.api import router
from mock_mcp.feed import LiveQuotes
from mock_mcp.instruments import load_instruments
from mock_mcp.kite import install_kite_errors
from mock_mcp.market import Market, instrument_index
from mock_mcp.mcp_server import McpLogins, build_mcp, origin, transport_security
from mock_mcp.prices import PriceModel
from mock_mcp.sessions import SessionStore
from mock_mcp.settings import MockMcpSettings

log = get_logger(__name__)


def ist_now() -> datetime:
    return datetime.now(IST)


async def _sweep_forever(account: Account, interval_s: float) -> None:
    while True:
        try:
            await anyio.to_thread.run_sync(account.sweep)
        except Exception as e:  # one bad sweep must not stop the matching for good
            log.error("sweep_failed", error=repr(e))
        await asyncio.sleep(interval_s)


def create_app(settings: MockMcpSettings, *, clock: Callable[[], datetime] = ist_now) -> FastAPI:
    instruments = load_instruments(settings.instruments_path)
    model = PriceModel(instruments)
    live = LiveQuotes(model, instrument_index(instruments), stale_after_s=settings.quote_stale_s)
    market = Market(instruments, live, model, clock)
    sessions = SessionStore(
        api_key=settings.api_key,
        api_secret=settings.api_secret,
        user_id=settings.user_id,
        path=settings.state_file.with_name("sessions.json"),
        clock=clock,
    )
    account = Account(
        user_id=settings.user_id,
        user_name=settings.user_name,
        email=settings.email,
        opening_cash=settings.opening_cash,
        instruments=market.index,
        quotes=live,
        clock=clock,
        path=settings.state_file,
        enforce_market_hours=settings.enforce_market_hours,
    )
    logins = McpLogins(sessions, settings.api_secret)
    mcp = build_mcp(
        account=account,
        market=market,
        sessions=sessions,
        logins=logins,
        auto_login=settings.auto_login,
        login_base=origin(settings.redirect_url),
    )
    mcp_app = mcp.streamable_http_app(transport_security=transport_security(settings.mcp_allowed_hosts))

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(_sweep_forever(account, settings.match_interval_s), name="sweep")]
        if settings.live_quotes and settings.redis_url is not None:
            follow = live.follow(str(settings.redis_url), settings.stream_prefix, block_ms=settings.bus_block_ms)
            tasks.append(asyncio.create_task(follow, name="live_quotes"))
        try:
            async with mcp.session_manager.run():
                yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    app = FastAPI(
        title="mock_mcp",
        summary="A simulated Zerodha account: Kite Connect v3 REST and the Kite MCP tools",
        docs_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.account = account
    app.state.sessions = sessions
    app.state.market = market
    app.state.live_quotes = live
    app.state.mcp_logins = logins
    install_kite_errors(app)
    app.include_router(router)
    # /mcp joins the app's own routes (no mount), so a path neither knows still gets Kite's 404 envelope
    app.router.routes.extend(mcp_app.routes)
    return app
