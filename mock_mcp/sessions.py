"""Kite's login: one-time request tokens, the checksum exchange for an access token, refresh, logout.

The flow, as Kite runs it: ``/connect/login?api_key=..`` hands the browser a ``request_token`` on the app's
redirect URL; the app posts it to ``/session/token`` with ``checksum = sha256(api_key + request_token +
api_secret)`` and gets an ``access_token`` (and a ``refresh_token``); every later call carries
``Authorization: token api_key:access_token``. A request token works once and for a few minutes; access tokens
last until logout (Kite's expire at 6 AM the next day; this mock keeps them until logout, so a developer's
stack does not log them out overnight). Sessions are kept in the state file, so a restart keeps them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

from mock_mcp.kite import ErrorType, KiteError
from mock_mcp.storage import write_atomically

REQUEST_TOKEN_TTL_S: Final = 300


def _fresh(issued: datetime, now: datetime) -> bool:
    return (now - issued).total_seconds() < REQUEST_TOKEN_TTL_S


def checksum(api_key: str, token: str, api_secret: str) -> str:
    """Kite's checksum of a token exchange: hex SHA-256 of the three strings joined."""
    return hashlib.sha256(f"{api_key}{token}{api_secret}".encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    user_id: str
    access_token: str
    refresh_token: str
    public_token: str
    login_time: str
    """``YYYY-MM-DD HH:MM:SS`` in IST, as Kite writes it (the client parses exactly that form)."""


class SessionStore:
    """The app's sessions; ``clock`` gives IST wall time, ``token`` makes random tokens (injected for tests)."""

    def __init__(
        self,
        *,
        api_key: str,
        api_secret: str,
        user_id: str,
        path: Path | None,
        clock: Callable[[], datetime],
        token: Callable[[], str] = lambda: secrets.token_urlsafe(24),
    ) -> None:
        self.api_key = api_key
        self._api_secret = api_secret
        self._user_id = user_id
        self._path = path
        self._clock = clock
        self._token = token
        self._requests: dict[str, datetime] = {}
        self._by_access: dict[str, Session] = {}
        self._by_refresh: dict[str, Session] = {}
        self._load()

    def issue_request_token(self) -> str:
        """A one-time token for the login redirect, valid for :data:`REQUEST_TOKEN_TTL_S` seconds."""
        now = self._clock()
        self._requests = {token: issued for token, issued in self._requests.items() if _fresh(issued, now)}
        request_token = self._token()
        self._requests[request_token] = now
        return request_token

    def redeem(self, request_token: str) -> Session:
        """Exchange a request token on the server's own side, as the Kite MCP server's login callback does: the
        same check as ``/session/token``, with the checksum the app's secret gives."""
        return self.exchange(self.api_key, request_token, checksum(self.api_key, request_token, self._api_secret))

    def exchange(self, api_key: str, request_token: str, given_checksum: str) -> Session:
        """Trade a request token for a session (``POST /session/token``)."""
        self._check_api_key(api_key)
        issued = self._requests.pop(request_token, None)
        if issued is None or not _fresh(issued, self._clock()):
            raise KiteError(ErrorType.TOKEN, "Token is invalid or has expired.")
        self._check_checksum(api_key, request_token, given_checksum)
        return self._start()

    def refresh(self, api_key: str, refresh_token: str, given_checksum: str) -> Session:
        """A new access token for a refresh token (``POST /session/refresh_token``); the old one stops working."""
        self._check_api_key(api_key)
        session = self._by_refresh.get(refresh_token)
        if session is None:
            raise KiteError(ErrorType.TOKEN, "Token is invalid or has expired.")
        self._check_checksum(api_key, refresh_token, given_checksum)
        self._end(session)
        return self._start()

    def invalidate(self, api_key: str, access_token: str) -> None:
        """Log out (``DELETE /session/token``): the access token stops working."""
        self._check_api_key(api_key)
        session = self._by_access.get(access_token)
        if session is not None:
            self._end(session)
            self._save()

    def authenticate(self, authorization: str | None) -> Session:
        """The session of an ``Authorization: token api_key:access_token`` header, else a TokenException."""
        scheme, _, credentials = (authorization or "").partition(" ")
        api_key, _, access_token = credentials.partition(":")
        if scheme.lower() != "token" or not api_key or not access_token:
            raise KiteError(ErrorType.TOKEN, "Incorrect `api_key` or `access_token`.", status=403)
        session = self._by_access.get(access_token) if hmac.compare_digest(api_key, self.api_key) else None
        if session is None:
            raise KiteError(ErrorType.TOKEN, "Incorrect `api_key` or `access_token`.")
        return session

    def _check_api_key(self, api_key: str) -> None:
        if not hmac.compare_digest(api_key, self.api_key):
            raise KiteError(ErrorType.INPUT, "Invalid `api_key`.")

    def _check_checksum(self, api_key: str, token: str, given: str) -> None:
        if not hmac.compare_digest(given, checksum(api_key, token, self._api_secret)):
            raise KiteError(ErrorType.TOKEN, "Invalid `checksum`.")

    def _start(self) -> Session:
        session = Session(
            user_id=self._user_id,
            access_token=self._token(),
            refresh_token=self._token(),
            public_token=self._token(),
            login_time=self._clock().strftime("%Y-%m-%d %H:%M:%S"),
        )
        self._by_access[session.access_token] = session
        self._by_refresh[session.refresh_token] = session
        self._save()
        return session

    def _end(self, session: Session) -> None:
        self._by_access.pop(session.access_token, None)
        self._by_refresh.pop(session.refresh_token, None)

    def _load(self) -> None:
        if self._path is None or not self._path.exists():
            return
        for values in json.loads(self._path.read_text(encoding="utf-8")).get("sessions", []):
            session = Session(**values)
            self._by_access[session.access_token] = session
            self._by_refresh[session.refresh_token] = session

    def _save(self) -> None:
        """Write the sessions atomically (a crash mid-write leaves the previous file)."""
        if self._path is None:
            return
        body = {"sessions": [asdict(s) for s in self._by_access.values()]}
        write_atomically(self._path, json.dumps(body).encode())
