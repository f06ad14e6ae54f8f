"""aitrader's account-context client over MCP against the running mock: what it reads agrees with Kite's REST
answers, it caches for its TTL, and an account it cannot reach is an error within the timeout."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aitrader.account_context import AccountContextClient, AccountContextUnavailable
from aitrader.cli import app
from aitrader.devstack.ports import free_port
from tests.integration.mock_mcp.conftest import API_KEY, Mock, mock_settings, running


async def test_the_context_is_the_accounts_and_is_cached_for_its_ttl(mock: Mock):
    kite = mock.logged_in()
    mock.set_price("INFY", 1500.0)

    async with AccountContextClient(f"{mock.root}/mcp", ttl_s=0.3) as account:
        before = await account.get()
        again = await account.get()
        calls = account.calls
        kite.place_order(variety="regular", exchange="NSE", tradingsymbol="INFY", transaction_type="BUY",
                         quantity=10, product="MIS", order_type="MARKET")  # fmt: skip
        assert (await account.get()) is before  # within the TTL: no calls
        await asyncio.sleep(0.35)
        after = await account.get()

    assert again is before and account.calls > calls
    assert before.cash == after.cash == 500_000.0 and before.available_margin == 500_000.0
    assert before.positions == () and before.holdings == ()
    equity = kite.margins("equity")
    assert after.available_margin == equity["net"] and after.used_margin == equity["utilised"]["debits"]
    (position,) = after.positions
    assert (position.symbol, position.product, position.quantity, position.average_price) == (
        "INFY",
        "MIS",
        10,
        1500.05,
    )
    assert after.position("INFY") == 10 and after.position("TCS") == 0


async def test_a_kite_access_token_reads_the_account_without_a_login(mock: Mock):
    kite = mock.logged_in()

    async with AccountContextClient(f"{mock.root}/mcp", api_key=API_KEY, access_token=kite.access_token) as account:
        context = await account.get()

    assert context.available_margin == 500_000.0


async def test_an_unreachable_account_is_unavailable_within_the_timeout():
    async with AccountContextClient(f"http://127.0.0.1:{free_port()}/mcp", timeout_s=0.5) as account:
        started = time.monotonic()
        with pytest.raises(AccountContextUnavailable, match=r"did not answer within 0\.5 s"):
            await account.get()

    assert time.monotonic() - started < 1.5


async def test_an_account_that_wants_a_browser_login_says_so(tmp_path: Path):
    with running(mock_settings(tmp_path, auto_login=False)) as mock:
        async with AccountContextClient(f"{mock.root}/mcp", timeout_s=1.0) as account:
            with pytest.raises(AccountContextUnavailable, match="login tool did not log in"):
                await account.get()


def test_the_account_command_prints_it(mock: Mock):
    kite = mock.logged_in()
    mock.set_price("INFY", 1500.0)
    kite.place_order(variety="regular", exchange="NSE", tradingsymbol="INFY", transaction_type="BUY",
                     quantity=10, product="MIS", order_type="MARKET")  # fmt: skip

    as_json = CliRunner().invoke(app, ["account", "--url", f"{mock.root}/mcp", "--json"])
    as_text = CliRunner().invoke(app, ["account", "--url", f"{mock.root}/mcp"])
    nowhere = CliRunner().invoke(app, ["account", "--url", f"http://127.0.0.1:{free_port()}/mcp", "--timeout", "0.3"])

    assert as_json.exit_code == 0, as_json.output
    report = json.loads(as_json.output)
    assert report["cash"] == 500_000.0 and report["positions"][0]["symbol"] == "INFY"
    assert as_text.exit_code == 0 and "INFY" in as_text.output and "available margin" in as_text.output
    assert nowhere.exit_code != 0 and "did not answer" in nowhere.output
