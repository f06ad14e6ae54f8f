"""Tunables of producers and consumers; defaults come from CommonSettings (AITRADER_BUS_*)."""

from __future__ import annotations

import socket

import msgspec


class ConsumerConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How a consumer reads, retries and gives up.

    ``claim_idle_ms``: an entry pending this long (its consumer died, or its handler failed) is
    reclaimed with XAUTOCLAIM and handled again. ``max_deliveries``: an entry delivered this many times
    without success goes to ``<stream>:dead``.
    """

    batch_size: int = 500
    block_ms: int = 1000
    claim_idle_ms: int = 30_000
    claim_interval_ms: int = 5_000
    max_deliveries: int = 5
    start_id: str = "0"
    dead_letter_maxlen: int = 100_000
    error_backoff_ms: int = 500

    def __post_init__(self) -> None:
        for name in ("batch_size", "block_ms", "claim_idle_ms", "claim_interval_ms", "max_deliveries"):
            value = getattr(self, name)
            if value <= 0:
                raise ValueError(f"{name} must be > 0, was {value}")


def consumer_name(service: str, slot: int = 0, host: str | None = None) -> str:
    """``<service>-<host>-<slot>``: stable across restarts, so a restarted consumer finds its own pending entries."""
    return f"{service}-{host or socket.gethostname()}-{slot}"
