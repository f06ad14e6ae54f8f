"""The OMS's order state machine: one table of every allowed move; any other move is an error.

```
NEW ─► SUBMITTED ─► ACCEPTED ─► PARTIALLY_FILLED ─► FILLED
 │        │            │  ▲            │  ▲
 │        │            ▼  │            ▼  │
 │        │      PENDING_UPDATE / PENDING_CANCEL ─► CANCELED
 ▼        ▼
REJECTED (pre-trade denial, or the broker's)        EXPIRED (a DAY or IOC order's time ran out)
```

- A broker may reject an order it has acknowledged (Kite gives an order id, then its RMS refuses the
  order): ACCEPTED → REJECTED.
- A fill may arrive before the broker's acknowledgement (SUBMITTED → PARTIALLY_FILLED / FILLED) and while
  a cancel or a modification is in flight (a fill races the request).
- A refused cancel or modification goes back to the working state the order was in (ACCEPTED or
  PARTIALLY_FILLED): :func:`transition` is told which through ``working``.
- PARTIALLY_FILLED → PARTIALLY_FILLED is a further partial fill.
- FILLED, CANCELED, REJECTED and EXPIRED are final: nothing leaves them.
"""

from __future__ import annotations

from typing import Final

from aitrader.contracts.messages import OrderStatus as S
from aitrader.errors import InvalidTransition

FINAL: Final = frozenset({S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED})
WORKING: Final = frozenset({S.ACCEPTED, S.PARTIALLY_FILLED})
"""States an order rests in at the broker; a refused cancel or modification returns to one of them."""
PENDING: Final = frozenset({S.PENDING_UPDATE, S.PENDING_CANCEL})

TRANSITIONS: Final[dict[S, frozenset[S]]] = {
    S.NEW: frozenset({S.SUBMITTED, S.REJECTED, S.CANCELED}),
    S.SUBMITTED: frozenset(
        {S.ACCEPTED, S.REJECTED, S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.CANCELED, S.EXPIRED}
    ),
    S.ACCEPTED: frozenset(
        {S.REJECTED, S.PARTIALLY_FILLED, S.FILLED, S.PENDING_UPDATE, S.PENDING_CANCEL, S.CANCELED, S.EXPIRED}
    ),
    S.PARTIALLY_FILLED: frozenset(
        {S.PARTIALLY_FILLED, S.FILLED, S.PENDING_UPDATE, S.PENDING_CANCEL, S.CANCELED, S.EXPIRED}
    ),
    S.PENDING_UPDATE: frozenset({S.ACCEPTED, S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.CANCELED, S.EXPIRED}),
    S.PENDING_CANCEL: frozenset({S.ACCEPTED, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED}),
    S.FILLED: frozenset(),
    S.CANCELED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
}


def can_move(current: S, target: S) -> bool:
    return target in TRANSITIONS[current]


def transition(current: S, target: S, *, working: S | None = None) -> S:
    """``target`` if the table allows ``current`` → ``target``, else :class:`InvalidTransition`.

    From a pending state, a move back to a working state must name the one the order left (``working``):
    a refused cancel of an untouched order cannot come back as partly filled, nor the other way round.
    """
    if not can_move(current, target):
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none: it is final"
        raise InvalidTransition(f"order cannot move {current} -> {target}; from {current}: {allowed}")
    if current in PENDING and target in WORKING and working is not None and target != working:
        raise InvalidTransition(f"order cannot return from {current} to {target}: it was {working}")
    return target
