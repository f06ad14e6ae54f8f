"""The Redis Streams bus: a producer, and consumers that read through consumer groups at least once."""

from aitrader.bus.config import ConsumerConfig, consumer_name
from aitrader.bus.consumer import Consumer, ConsumerStats, Delivery, Handler
from aitrader.bus.metrics import BusMetrics, default_metrics
from aitrader.bus.producer import Producer

__all__ = [
    "BusMetrics",
    "Consumer",
    "ConsumerConfig",
    "ConsumerStats",
    "Delivery",
    "Handler",
    "Producer",
    "consumer_name",
    "default_metrics",
]
