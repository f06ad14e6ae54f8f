"""Prometheus metrics of the bus: what was published, handled, failed, dead-lettered, and how far behind."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.registry import REGISTRY


class BusMetrics:
    """One set of bus metrics per registry; services use the default registry, tests their own."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.published = Counter(
            "aitrader_bus_published", "Messages appended to a stream", ["stream"], registry=registry
        )
        self.handled = Counter(
            "aitrader_bus_handled",
            "Messages handled and acknowledged",
            ["stream", "group"],
            registry=registry,
        )
        self.handler_failures = Counter(
            "aitrader_bus_handler_failures",
            "Handler calls that raised (the entry stays pending for a retry)",
            ["stream", "group"],
            registry=registry,
        )
        self.dead_lettered = Counter(
            "aitrader_bus_dead_lettered",
            "Entries moved to the dead-letter stream",
            ["stream", "group", "reason"],
            registry=registry,
        )
        self.reclaimed = Counter(
            "aitrader_bus_reclaimed",
            "Entries reclaimed from idle pending lists (XAUTOCLAIM) or re-read at start",
            ["stream", "group"],
            registry=registry,
        )
        self.lag = Gauge(
            "aitrader_bus_consumer_lag",
            "Entries in the stream not yet delivered to the group",
            ["stream", "group"],
            registry=registry,
        )
        self.lag_seconds = Gauge(
            "aitrader_bus_consumer_lag_seconds",
            "Time between the newest entry and the last one delivered to the group",
            ["stream", "group"],
            registry=registry,
        )
        self.pending = Gauge(
            "aitrader_bus_consumer_pending",
            "Entries delivered to the group but not acknowledged",
            ["stream", "group"],
            registry=registry,
        )


_default: BusMetrics | None = None


def default_metrics() -> BusMetrics:
    """The process-wide metrics on the default registry, created on first use."""
    global _default
    if _default is None:
        _default = BusMetrics()
    return _default
