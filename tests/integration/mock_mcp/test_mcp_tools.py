"""The official mcp client against /mcp over loopback: the Kite MCP tool set, login, and every tool called."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import httpx2
from kiteconnect import KiteConnect
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent

from aitrader.devstack.ports import free_port
from tests.integration.mock_mcp.conftest import API_KEY, Mock, mock_settings, running

KITE_TOOLS = {
    "login", "get_profile", "get_margins", "get_holdings", "get_positions", "get_orders", "get_order_history",
    "get_order_trades", "get_trades", "get_quotes", "get_ltp", "get_ohlc", "get_historical_data",
    "search_instruments", "place_order", "modify_order", "cancel_order",
}  # fmt: skip
ORDER = {
    "variety": "regular",
    "exchange": "NSE",
    "tradingsymbol": "INFY",
    "transaction_type": "BUY",
    "quantity": 10,
    "product": "MIS",
    "order_type": "MARKET",
}


def _text(result: CallToolResult) -> str:
    (block,) = result.content
    assert isinstance(block, TextContent)
    return block.text


def _json(result: CallToolResult) -> Any:
    assert not result.is_error, _text(result)
    return json.loads(_text(result))


def _client(mock: Mock) -> Client:
    """A client of the 2025 protocol (``legacy``), whose sessions carry the id a login is kept under. (Opened
    in each test: an async fixture would close its cancel scope in another task.)"""
    return Client(f"{mock.root}/mcp", mode="legacy")


async def test_the_tools_are_kites_with_kites_arguments(mock: Mock):
    async with _client(mock) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}

        assert set(tools) >= KITE_TOOLS
        assert set(tools["get_holdings"].input_schema["properties"]) == {"from", "limit"}
        assert set(tools["search_instruments"].input_schema["properties"]) == {"query", "filter_on", "from", "limit"}
        place = tools["place_order"].input_schema
        assert set(place["required"]) == {
            "variety", "exchange", "tradingsymbol", "transaction_type", "quantity", "product", "order_type",
        }  # fmt: skip
        assert set(tools["get_historical_data"].input_schema["required"]) == {
            "instrument_token", "from_date", "to_date", "interval",
        }  # fmt: skip
        assert set(tools["get_order_history"].input_schema["required"]) == {"order_id"}


async def test_every_tool_but_login_wants_a_login_first(mock: Mock):
    async with _client(mock) as client:
        result = await client.call_tool("get_margins", {})

        assert result.is_error and _text(result) == "Please log in first using the login tool"


async def test_every_tool_answers_what_the_rest_api_does(mock: Mock):
    async with _client(mock) as client:
        kite = mock.logged_in()
        mock.set_price("INFY", 1500.0)
        assert "Logged in as AITrader Paper" in _text(await client.call_tool("login", {}))
        assert _text(await client.call_tool("login", {})) == "You are already logged in as AITrader Paper"

        placed = _json(await client.call_tool("place_order", ORDER))
        resting = _json(await client.call_tool("place_order", {**ORDER, "order_type": "LIMIT", "price": 1400.0}))
        modified = _json(await client.call_tool("modify_order", {
            "variety": "regular", "order_id": resting["order_id"], "order_type": "LIMIT", "price": 1410.0,
        }))  # fmt: skip
        cancelled = _json(
            await client.call_tool("cancel_order", {"variety": "regular", "order_id": resting["order_id"]})
        )

        assert modified == cancelled == resting
        orders = _json(await client.call_tool("get_orders", {}))
        assert [order["order_id"] for order in orders] == [placed["order_id"], resting["order_id"]]
        assert [order["status"] for order in orders] == ["COMPLETE", "CANCELLED"]
        assert orders[0]["order_timestamp"] == "2025-11-24T11:00:00+05:30"  # RFC 3339, as the Kite MCP server
        assert _json(await client.call_tool("get_profile", {})) == kite.profile()
        assert _json(await client.call_tool("get_margins", {})) == kite.margins()
        history = _json(await client.call_tool("get_order_history", {"order_id": resting["order_id"]}))
        assert [step["status"] for step in history][-2:] == ["CANCEL PENDING", "CANCELLED"]
        (trade,) = _json(await client.call_tool("get_order_trades", {"order_id": placed["order_id"]}))
        assert _json(await client.call_tool("get_trades", {})) == [trade] and trade["quantity"] == 10
        positions = _json(await client.call_tool("get_positions", {}))
        assert [p["tradingsymbol"] for p in positions] == ["INFY", "INFY"]  # one flat list: day, then net
        assert _json(await client.call_tool("get_holdings", {})) == []
        quotes = _json(await client.call_tool("get_quotes", {"instruments": ["NSE:INFY", "NSE:NOPE"]}))
        assert set(quotes) == {"NSE:INFY"} and quotes["NSE:INFY"]["depth"]["sell"][0]["price"] == 1500.05
        assert quotes["NSE:INFY"]["timestamp"].endswith("+05:30")
        assert _json(await client.call_tool("get_ltp", {"instruments": ["NSE:INFY"]})) == kite.ltp("NSE:INFY")
        ohlc = _json(await client.call_tool("get_ohlc", {"instruments": ["NSE:INFY"]}))
        assert ohlc == kite.ohlc("NSE:INFY")
        token = quotes["NSE:INFY"]["instrument_token"]
        candles = _json(await client.call_tool("get_historical_data", {
            "instrument_token": token, "from_date": "2025-11-21 09:15:00", "to_date": "2025-11-21 09:17:00",
            "interval": "minute",
        }))  # fmt: skip
        rest = kite.historical_data(token, "2025-11-21 09:15:00", "2025-11-21 09:17:00", "minute")
        assert [c["date"] for c in candles] == [f"2025-11-21T09:{m}:00+05:30" for m in (15, 16, 17)]
        assert [c["close"] for c in candles] == [c["close"] for c in rest] and candles[0]["oi"] == 0
        found = _json(await client.call_tool("search_instruments", {"query": "reliance", "filter_on": "name"}))
        assert {item["id"] for item in found} == {"NSE:RELIANCE", "NFO:RELIANCE25NOVFUT"}
        future = _json(
            await client.call_tool("search_instruments", {"query": "NFO:RELIANCE", "filter_on": "underlying"})
        )
        assert [item["tradingsymbol"] for item in future] == ["RELIANCE25NOVFUT"]


async def test_lists_page_with_from_and_limit(mock: Mock):
    async with _client(mock) as client:
        mock.set_price("INFY", 1500.0)
        await client.call_tool("login", {})
        for _ in range(3):
            _json(await client.call_tool("place_order", ORDER))

        page = _json(await client.call_tool("get_orders", {"from": 1, "limit": 1}))
        rest = _json(await client.call_tool("get_orders", {"from": 2}))

        assert page["pagination"] == {"from": 1, "limit": 1, "total": 3, "has_more": True, "returned": 1}
        assert len(page["data"]) == 1 and len(rest) == 1 and rest[0]["order_id"] != page["data"][0]["order_id"]


async def test_refusals_and_bad_arguments_are_tool_errors_that_say_why(mock: Mock):
    async with _client(mock) as client:
        mock.set_price("INFY", 1500.0)
        await client.call_tool("login", {})

        funds = await client.call_tool("place_order", {**ORDER, "quantity": 2_000, "product": "CNC"})
        unknown = await client.call_tool("get_order_history", {"order_id": "42"})
        bad = await client.call_tool("place_order", {**ORDER, "quantity": 0})
        dates = await client.call_tool("get_historical_data", {
            "instrument_token": 408065, "from_date": "yesterday", "to_date": "2025-11-21 09:17:00",
            "interval": "minute",
        })  # fmt: skip

        assert funds.is_error and _text(funds).startswith("Failed to place order: Insufficient funds.")
        assert unknown.is_error and _text(unknown).startswith("Failed to get order history: Couldn't find")
        assert bad.is_error and "quantity" in _text(bad)
        assert dates.is_error and "Invalid `from`" in _text(dates)


async def test_login_through_the_link_completes_at_the_callback(tmp_path: Path):
    port = free_port()
    settings = mock_settings(tmp_path, auto_login=False, redirect_url=f"http://127.0.0.1:{port}/callback")
    with running(settings, port=port) as mock:
        root = mock.root
        async with Client(f"{root}/mcp", mode="legacy") as client:
            answer = _text(await client.call_tool("login", {}))
            link = answer[answer.index("(http") + 1 : -1]
            assert link.startswith(f"{root}/connect/login?api_key={API_KEY}")
            assert (await client.call_tool("get_profile", {})).is_error

            async with httpx.AsyncClient(follow_redirects=True) as browser:
                form = await browser.get(link)  # the login page: a form the user submits
                assert form.status_code == 200 and "<form" in form.text
                page = await browser.post(form.url, data=dict(form.url.params))

            assert page.status_code == 200 and "Login successful" in page.text
            assert _json(await client.call_tool("get_profile", {}))["user_id"] == "AT0001"
            forged = httpx.get(f"{root}/callback", params={
                "request_token": "x", "status": "success", "session_id": "someone|1700000000.AAAA",
            })  # fmt: skip
            assert forged.status_code == 400 and forged.json()["error_type"] == "InputException"


async def test_a_kite_access_token_in_the_header_serves_clients_without_session_ids(mock: Mock):
    kite: KiteConnect = mock.logged_in()
    headers = {"Authorization": f"token {API_KEY}:{kite.access_token}"}

    http = httpx2.AsyncClient(headers=headers)
    async with http, Client(streamable_http_client(f"{mock.root}/mcp", http_client=http)) as client:  # 2026 protocol
        assert _json(await client.call_tool("get_profile", {}))["user_id"] == "AT0001"
    async with Client(f"{mock.root}/mcp") as anonymous:
        login = await anonymous.call_tool("login", {})
        assert login.is_error and "no session id" in _text(login)


def test_the_mcp_endpoint_admits_the_compose_host_and_refuses_others(mock: Mock):
    body = {
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
    }  # fmt: skip
    accept = {"Accept": "application/json, text/event-stream"}

    compose = httpx.post(f"{mock.root}/mcp", json=body, headers={**accept, "Host": "mock-mcp:9000"})
    evil = httpx.post(f"{mock.root}/mcp", json=body, headers={**accept, "Host": "evil.example:9000"})

    assert compose.status_code == 200 and compose.headers.get("mcp-session-id")
    assert evil.status_code == 421


async def test_logout_ends_the_kite_session_behind_the_mcp_session(mock: Mock):
    async with _client(mock) as client:
        await client.call_tool("login", {})
        assert not (await client.call_tool("get_profile", {})).is_error

        bye = await client.call_tool("logout", {})

        assert _text(bye).startswith("Successfully logged out user AT0001")
        after = await client.call_tool("get_profile", {})
        assert after.is_error and _text(after) == "Please log in first using the login tool"
