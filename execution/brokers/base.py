"""What every broker adapter offers the OMS, and the reports it answers with.

The OMS sends a :class:`BrokerOrder` and learns what happened from :class:`Report` values: returned by
``submit``/``cancel`` when the broker answers at once, and pushed to the sink given to ``start`` when
something happens later (a resting order crosses, a poll finds a fill). Reports are idempotent: applying
one twice changes nothing (fills carry a stable ``fill_id``, status reports that the order is already past
are ignored), so an adapter may repeat itself after a reconnect or a reconciliation.

``orders()`` and ``positions()`` let the OMS reconcile its view with the broker's at start and every few
seconds: a broker order the OMS does not know is adopted, an OMS order the broker has never seen is
flagged, a position that differs is flagged.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from aitrader.contracts.messages import OrderSide, OrderStatus, OrderType, Product, TimeInForce

TAG_LENGTH = 20
"""Kite's limit on an order's ``tag``."""


def order_tag(client_order_id: str) -> str:
    """The broker-side tag of an order: a stable digest of its client_order_id, alphanumeric, 17 characters.

    The OMS writes an order (SUBMITTED) before it sends it; if it dies before it learns the broker's id, the
    tag finds the order at the broker after the restart, so it is neither sent twice nor lost.
    """
    return "a" + hashlib.blake2b(client_order_id.encode(), digest_size=8).hexdigest()


@dataclass(frozen=True, slots=True)
class BrokerOrder:
    """An order as the OMS hands it to a broker; ``filled_qty`` > 0 when a working order is handed over again."""

    order_id: str
    client_order_id: str
    symbol: str
    venue: str
    side: OrderSide
    qty: int
    order_type: OrderType
    limit_price: Decimal | None
    tif: TimeInForce
    product: Product
    strategy: str = ""
    broker_order_id: str | None = None
    filled_qty: int = 0
    brokerage_paid: Decimal = Decimal(0)
    """Brokerage already charged on the order's earlier fills (the ₹20 cap is per order)."""

    @property
    def tag(self) -> str:
        return order_tag(self.client_order_id)

    @property
    def remaining(self) -> int:
        return self.qty - self.filled_qty


@dataclass(frozen=True, slots=True)
class Accepted:
    order_id: str
    broker_order_id: str
    ts_ns: int


@dataclass(frozen=True, slots=True)
class Rejected:
    order_id: str
    reason: str
    ts_ns: int
    code: str = "BROKER_REJECTED"
    broker_order_id: str | None = None


@dataclass(frozen=True, slots=True)
class Filled:
    """One execution. ``fill_id`` is stable (the broker's trade id), so a repeated report is not a second fill."""

    order_id: str
    fill_id: str
    qty: int
    price: Decimal
    fees: Decimal
    ts_ns: int
    brokerage: Decimal = Decimal(0)
    """The brokerage part of ``fees`` (counted against the order's ₹20 cap)."""


@dataclass(frozen=True, slots=True)
class Canceled:
    order_id: str
    ts_ns: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Expired:
    order_id: str
    ts_ns: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class CancelRejected:
    """The broker refused a cancel (the order had already filled, say); the order goes back to working."""

    order_id: str
    reason: str
    ts_ns: int


Report = Accepted | Rejected | Filled | Canceled | Expired | CancelRejected
ReportSink = Callable[[Sequence[Report]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class BrokerOrderState:
    """An order as the broker sees it, for reconciliation. ``status`` is mapped onto the OMS's statuses."""

    broker_order_id: str
    tag: str | None
    symbol: str
    venue: str
    side: OrderSide
    qty: int
    filled_qty: int
    avg_price: Decimal | None
    status: OrderStatus
    order_type: OrderType
    limit_price: Decimal | None
    product: Product
    ts_ns: int
    reason: str = ""


class Broker(ABC):
    """A venue the OMS trades through. Only the OMS calls it, one call at a time."""

    name: str = "broker"
    in_process: bool = False
    """The broker lives in the OMS's process and is rebuilt by ``resume`` from the OMS's state: the OMS may
    call it before committing, since a failed commit rebuilds it too."""

    @abstractmethod
    async def start(self, sink: ReportSink) -> None:
        """Connect; from now on push later reports to ``sink``."""

    async def resume(  # noqa: B027 - doing nothing is a valid default
        self, working: Sequence[BrokerOrder], positions: Mapping[str, int]
    ) -> None:
        """After the OMS (re)loaded its state from the database (at start, and after a failed write): the orders
        it believes are working at this broker (each with its ``broker_order_id``) and its net positions. A
        broker in the OMS's process becomes exactly that; a real one follows those orders."""

    async def adopt(self, order: BrokerOrder) -> None:  # noqa: B027 - doing nothing is a valid default
        """The OMS took over ``order`` (found at the broker, placed behind its back, now under its OMS
        ``order_id`` and ``broker_order_id``): report on it from now on."""

    @abstractmethod
    async def submit(self, order: BrokerOrder) -> list[Report]:
        """Place ``order`` (or its remaining quantity); the reports known on return (at least Accepted or
        Rejected unless the broker answers only later). Raises :class:`BrokerUnavailable` when the broker
        cannot be reached: the order may or may not have arrived, and reconciliation finds out by its tag."""

    @abstractmethod
    async def cancel(self, order: BrokerOrder) -> list[Report]:
        """Ask the broker to cancel ``order``; Canceled, CancelRejected, or nothing yet."""

    @abstractmethod
    async def orders(self) -> list[BrokerOrderState]:
        """Every order of the day the broker holds for this account."""

    @abstractmethod
    async def fills(self, broker_order_id: str, order_id: str) -> list[Filled]:
        """Every execution of one broker order, as Filled reports for the OMS order ``order_id``."""

    @abstractmethod
    async def positions(self) -> dict[str, int]:
        """Net quantity per symbol (non-zero only) of the day's positions at the broker."""

    @abstractmethod
    async def close(self) -> None:
        """Stop background work and release connections."""

    def health(self) -> dict[str, object]:
        return {"broker": self.name}


class BrokerUnavailable(Exception):
    """The broker could not be reached, or answered with a server error; the request's fate is unknown."""
