"""Domain errors shared by every service.

Each error carries a stable machine-readable ``code`` next to a human message that says what was
wrong and what arrived (``"qty must be > 0, was -5"``). HTTP edges map them to status codes.
"""

from __future__ import annotations


class AITraderError(Exception):
    """Base of every domain error: ``code`` is stable, ``message`` is for people."""

    code: str = "AITRADER_ERROR"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class ConfigurationError(AITraderError):
    """A setting or config file is missing or invalid; raised at start-up."""

    code = "CONFIGURATION_ERROR"


class NotFoundError(AITraderError):
    code = "NOT_FOUND"


class ConflictError(AITraderError):
    code = "CONFLICT"


class ValidationError(AITraderError):
    code = "VALIDATION_ERROR"


class UnavailableError(AITraderError):
    """A dependency (database, Redis, a model server) cannot be reached right now."""

    code = "UNAVAILABLE"


class DecodeError(AITraderError):
    """A bus message could not be decoded into its contract."""

    code = "DECODE_ERROR"


class InvalidTransition(AITraderError):
    code = "INVALID_TRANSITION"
