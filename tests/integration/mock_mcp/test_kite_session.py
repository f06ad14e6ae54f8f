"""The official kiteconnect client against mock_mcp over loopback: login, profile, margins, and Kite's errors."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import httpx
import pytest
from kiteconnect import exceptions as kite_errors

from mock_mcp.sessions import checksum
from tests.integration.mock_mcp.conftest import API_KEY, API_SECRET, Clock, Mock, mock_settings, running


def test_the_login_flow_gives_a_session_the_client_keeps(mock: Mock):
    kite = mock.client()
    assert kite.login_url().startswith(f"{mock.root}/connect/login?api_key={API_KEY}")

    session = kite.generate_session(mock.request_token(), api_secret=API_SECRET)

    assert isinstance(session["login_time"], datetime)
    assert session["user_id"] == "AT0001" and session["api_key"] == API_KEY
    assert kite.access_token == session["access_token"]
    assert kite.profile()["user_id"] == "AT0001"


def test_a_request_token_works_once_and_a_bad_checksum_is_refused(mock: Mock):
    token = mock.request_token()
    with pytest.raises(kite_errors.TokenException, match="Invalid `checksum`"):
        mock.client().generate_session(token, api_secret="wrong")
    with pytest.raises(kite_errors.TokenException, match="invalid or has expired"):
        mock.client().generate_session(token, api_secret=API_SECRET)  # spent by the failed attempt


def test_margins_are_kites_shape_and_a_segment_can_be_asked_alone(mock: Mock):
    kite = mock.logged_in()

    margins = kite.margins()
    equity = kite.margins("equity")

    assert set(margins) == {"equity", "commodity"}
    assert equity == margins["equity"]
    assert equity["net"] == 500_000.0 and equity["available"]["cash"] == 500_000.0
    assert set(equity["utilised"]) >= {"debits", "exposure", "span", "m2m_realised", "m2m_unrealised"}
    with pytest.raises(kite_errors.InputException, match="Invalid segment `bogus`"):
        kite.margins("bogus")


def test_calls_without_a_valid_token_raise_token_exception_and_fire_the_expiry_hook(mock: Mock):
    expired: list[bool] = []
    kite = mock.client(access_token="not-a-token")
    kite.set_session_expiry_hook(lambda: expired.append(True))

    with pytest.raises(kite_errors.TokenException) as caught:
        kite.profile()

    assert caught.value.code == 403 and expired == [True]
    response = httpx.get(f"{mock.root}/user/profile")
    assert response.status_code == 403 and response.json()["error_type"] == "TokenException"


def test_refresh_replaces_a_session_and_logout_ends_one(mock: Mock):
    token = mock.request_token()
    first = httpx.post(
        f"{mock.root}/session/token",
        data={"api_key": API_KEY, "request_token": token, "checksum": checksum(API_KEY, token, API_SECRET)},
    ).json()["data"]
    kite = mock.client()

    renewed = kite.renew_access_token(first["refresh_token"], API_SECRET)

    assert kite.access_token == renewed["access_token"] != first["access_token"]
    with pytest.raises(kite_errors.TokenException):
        mock.client(first["access_token"]).profile()
    assert kite.profile()["user_id"] == "AT0001"
    assert kite.invalidate_access_token() is True
    with pytest.raises(kite_errors.TokenException):
        kite.profile()


def test_unknown_routes_bad_methods_and_missing_fields_answer_in_kites_envelope(mock: Mock):
    missing = httpx.get(f"{mock.root}/nope")
    method = httpx.put(f"{mock.root}/user/profile")
    field = httpx.post(f"{mock.root}/session/token", data={"api_key": API_KEY})

    assert (missing.status_code, missing.json()["status"], missing.json()["error_type"]) == (
        404,
        "error",
        "GeneralException",
    )
    assert method.status_code == 405 and method.json()["status"] == "error"
    assert field.status_code == 400 and field.json()["error_type"] == "InputException"
    assert "request_token" in field.json()["message"]


def test_sessions_survive_a_restart(tmp_path: Path):
    settings, clock = mock_settings(tmp_path), Clock()
    with running(settings, clock) as mock:
        kite = mock.logged_in()
        token = kite.access_token
    with running(settings, clock) as mock:
        assert mock.client(token).profile()["user_id"] == "AT0001"


def test_the_instrument_master_lists_the_sample_days_instruments_in_kites_csv(mock: Mock):
    kite = mock.logged_in()

    everything = kite.instruments()
    futures = kite.instruments("NFO")

    by_symbol = {row["tradingsymbol"]: row for row in everything}
    assert {"RELIANCE", "INFY", "TCS", "RELIANCE25NOVFUT"} <= set(by_symbol)
    infy = by_symbol["INFY"]
    assert infy["instrument_token"] & 0xFF == 1 and infy["exchange"] == "NSE" and infy["lot_size"] == 1
    assert isinstance(infy["last_price"], float) and infy["strike"] == 0.0 and infy["tick_size"] == 0.05
    assert [row["tradingsymbol"] for row in futures] == ["RELIANCE25NOVFUT"]
    future = futures[0]
    assert future["instrument_type"] == "FUT" and future["lot_size"] == 500 and future["instrument_token"] & 0xFF == 2
    assert str(future["expiry"]).startswith("2025-11-")  # the near-month contract of the sample day (2025-11-21)
    with pytest.raises(kite_errors.InputException, match="Invalid exchange `XYZ`"):
        kite.instruments("XYZ")


def test_quotes_answer_the_keys_asked_for_and_agree_with_each_other(mock: Mock):
    kite = mock.logged_in()

    quotes = kite.quote("NSE:INFY", "NSE:RELIANCE", "NSE:NOPE")
    ltp = kite.ltp("NSE:INFY")
    ohlc = kite.ohlc("NSE:INFY")

    assert set(quotes) == {"NSE:INFY", "NSE:RELIANCE"}  # an unknown key is simply absent, as on Kite
    infy = quotes["NSE:INFY"]
    assert isinstance(infy["timestamp"], datetime) and isinstance(infy["last_trade_time"], datetime)
    assert infy["instrument_token"] & 0xFF == 1
    best_bid, best_ask = infy["depth"]["buy"][0]["price"], infy["depth"]["sell"][0]["price"]
    assert len(infy["depth"]["buy"]) == len(infy["depth"]["sell"]) == 5
    assert best_bid < best_ask and round(best_ask - best_bid, 2) == 0.05
    assert infy["ohlc"]["low"] <= infy["last_price"] <= infy["ohlc"]["high"]
    assert infy["lower_circuit_limit"] < infy["ohlc"]["close"] < infy["upper_circuit_limit"]
    assert ltp["NSE:INFY"]["last_price"] == pytest.approx(infy["last_price"], rel=0.05)
    assert set(ohlc["NSE:INFY"]["ohlc"]) == {"open", "high", "low", "close"}
    with pytest.raises(kite_errors.InputException, match="No instruments given"):
        kite.quote()


def test_the_price_model_is_deterministic_in_time_and_rounded_to_ticks():
    from aitrader.marketdata.schema import IST
    from mock_mcp.instruments import load_instruments
    from mock_mcp.prices import PriceModel

    instruments = load_instruments(None)
    at = datetime(2025, 11, 24, 11, 30, 15, tzinfo=IST)
    first, again = PriceModel(instruments), PriceModel(instruments)

    for instrument in instruments:
        one, two = first.snapshot(instrument, at), again.snapshot(instrument, at)
        assert one == two
        assert round(one.last_price / instrument.tick_size, 6).is_integer()
        before_open = first.snapshot(instrument, at.replace(hour=8))
        assert (
            before_open.last_price
            == before_open.close
            == round(round(instrument.last_price / instrument.tick_size) * instrument.tick_size, 2)
        )
        assert before_open.volume == 0


def test_historical_candles_nest_and_skip_weekends(mock: Mock):
    kite = mock.logged_in()
    token = next(row["instrument_token"] for row in kite.instruments("NSE") if row["tradingsymbol"] == "INFY")

    minutes = kite.historical_data(token, "2025-11-21 09:15:00", "2025-11-21 09:24:00", "minute")
    fives = kite.historical_data(token, "2025-11-21 09:15:00", "2025-11-21 09:24:00", "5minute", oi=True)
    days = kite.historical_data(token, "2025-11-20", "2025-11-24", "day")

    assert [candle["date"].strftime("%H:%M") for candle in minutes] == [f"09:{m}" for m in range(15, 25)]
    assert all(c["low"] <= min(c["open"], c["close"]) <= max(c["open"], c["close"]) <= c["high"] for c in minutes)
    for five, group in zip(fives, (minutes[:5], minutes[5:]), strict=True):
        assert five["open"] == group[0]["open"] and five["close"] == group[-1]["close"]
        assert five["high"] == max(c["high"] for c in group) and five["low"] == min(c["low"] for c in group)
        assert five["volume"] == sum(c["volume"] for c in group) and five["oi"] == 0
    assert [candle["date"].date().isoformat() for candle in days] == ["2025-11-20", "2025-11-21", "2025-11-24"]
    assert str(days[0]["date"].utcoffset()) == "5:30:00"
    with pytest.raises(kite_errors.InputException, match="Invalid interval `2minute`"):
        kite.historical_data(token, "2025-11-21 09:15:00", "2025-11-21 09:24:00", "2minute")
    with pytest.raises(kite_errors.InputException, match="at most 60 days"):
        kite.historical_data(token, "2025-01-01 09:15:00", "2025-11-21 09:24:00", "minute")
    with pytest.raises(kite_errors.InputException, match="Invalid instrument token `42`"):
        kite.historical_data(42, "2025-11-21 09:15:00", "2025-11-21 09:24:00", "minute")
