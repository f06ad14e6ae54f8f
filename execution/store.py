"""The OMS's persistence: one transaction per unit of work, and an outbox that reaches the bus exactly once.

Every change the OMS makes (an order row inserted or updated, a trade, audit rows, the trading state) is
written in one transaction together with the bus messages that announce it (``outbox``). Only after the
commit are the messages published, in ``outbox.id`` order, by :class:`OutboxPublisher`; published rows
are deleted about once a second, off the hot path. A crash between publishing and deleting leaves rows that were
already published: the publisher's script remembers in Redis the highest id it has published (per
database, through an epoch kept in ``service_state``), so at the restart they are skipped, not doubled.

The OMS is the only writer of ``orders`` and ``trades``; on PostgreSQL it holds an advisory lock for its
whole life, so a second OMS on the same database refuses to start instead of trading twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
import redis.asyncio as aioredis
import sqlalchemy as sa
from psycopg.types.json import Jsonb
from sqlalchemy import Connection, Engine
from sqlalchemy.dialects import postgresql

from aitrader.contracts.streams import stream_key
from aitrader.db.models import AuditLog, Order, OutboxEntry, RiskLimit, ServiceState, Trade
from aitrader.db.repositories import datetime_from_ns
from aitrader.errors import ConflictError

ORDERS: sa.Table = Order.__table__  # type: ignore[assignment]  # declarative models map Tables
TRADES: sa.Table = Trade.__table__  # type: ignore[assignment]
AUDIT: sa.Table = AuditLog.__table__  # type: ignore[assignment]
OUTBOX: sa.Table = OutboxEntry.__table__  # type: ignore[assignment]
STATE: sa.Table = ServiceState.__table__  # type: ignore[assignment]
LIMITS: sa.Table = RiskLimit.__table__  # type: ignore[assignment]

ADVISORY_LOCK_KEY = 0x0A17_0006
"""pg_advisory_lock key of the OMS: one per database."""
EPOCH_KEY = "execution.outbox_epoch"
TRADING_KEY = "execution.trading"

ORDER_UPDATE_COLUMNS = ("status", "filled_qty", "avg_price", "broker_order_id", "reason_code", "reason")
_ORDER_UPDATE = (
    sa.update(ORDERS)
    .where(ORDERS.c.id == sa.bindparam("_id"))
    .values({**{name: sa.bindparam(name) for name in ORDER_UPDATE_COLUMNS}, "updated_at": sa.func.now()})
)
_STATE_UPSERT = (
    postgresql.insert(STATE)
    .values(key=sa.bindparam("key"), document=sa.bindparam("document"))
    .on_conflict_do_update(
        index_elements=[STATE.c.key], set_={"document": sa.bindparam("document"), "updated_at": sa.func.now()}
    )
)
# psycopg's own placeholders: the pipeline sends the (stream, payload) tuples as they are
_OUTBOX_INSERT = "INSERT INTO outbox (stream, payload) VALUES (%s, %s) RETURNING id"


class ClientOrderIdTaken(Exception):
    """A new order's client_order_id is in ``orders`` already (from an order the OMS's memory lacks)."""


def _json(value: dict[str, Any] | None) -> Jsonb | None:
    return None if value is None else Jsonb(value)


@dataclass
class Writes:
    """What one unit of work changes; written by :meth:`Store.write` in one transaction."""

    new_orders: dict[int, dict[str, Any]] = field(default_factory=dict)
    order_updates: dict[int, dict[str, Any]] = field(default_factory=dict)
    trades: list[dict[str, Any]] = field(default_factory=list)
    audits: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[tuple[str, bytes]] = field(default_factory=list)
    state: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.new_orders or self.order_updates or self.trades or self.audits or self.outbox or self.state)

    def audit(
        self,
        action: str,
        entity_type: str,
        entity_id: str,
        actor: str,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> None:
        self.audits.append(
            {
                "actor": actor[:128],
                "action": action,
                "entity_type": entity_type,
                "entity_id": entity_id[:64],
                "before": before,
                "after": after,
            }
        )


@dataclass(frozen=True)
class Snapshot:
    """What the OMS rebuilds its memory from at start."""

    orders: list[dict[str, Any]]
    trades: list[dict[str, Any]]
    next_order_id: int
    limits: list[dict[str, Any]]
    trading: dict[str, Any] | None
    epoch: str


class Store:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock_connection: Connection | None = None
        self._published_upto = 0
        self._compiled: dict[tuple[str, tuple[str, ...]], str] = {}

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    def acquire_writer_lock(self) -> None:
        """Become the database's only OMS (PostgreSQL); :class:`ConflictError` when another holds it."""
        if self.dialect != "postgresql" or self._lock_connection is not None:
            return
        connection = self._engine.connect()
        got = connection.execute(sa.select(sa.func.pg_try_advisory_lock(ADVISORY_LOCK_KEY))).scalar()
        connection.commit()
        if not got:
            connection.close()
            raise ConflictError("another OMS holds this database (pg advisory lock): refusing to trade twice")
        self._lock_connection = connection

    def release_writer_lock(self) -> None:
        if self._lock_connection is not None:
            try:  # the lock belongs to the session, and a pooled connection outlives close()
                self._lock_connection.execute(sa.select(sa.func.pg_advisory_unlock(ADVISORY_LOCK_KEY)))
                self._lock_connection.commit()
            except sa.exc.DBAPIError:
                self._lock_connection.invalidate()  # the server is gone, and the lock with its session
            finally:
                self._lock_connection.close()
                self._lock_connection = None

    def ping(self) -> None:
        with self._engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))

    def load(self, since_ns: int) -> Snapshot:
        """Orders that are still working or were taken in since ``since_ns``, their trades, the limits, the trading
        state, and the outbox epoch (created on first use)."""
        final = ("FILLED", "CANCELED", "REJECTED", "EXPIRED")
        with self._engine.begin() as connection:
            orders = [
                dict(row._mapping)
                for row in connection.execute(
                    sa.select(ORDERS)
                    .where(sa.or_(ORDERS.c.created_at >= datetime_from_ns(since_ns), ORDERS.c.status.not_in(final)))
                    .order_by(ORDERS.c.id)
                )
            ]
            ids = [order["id"] for order in orders]
            trades: list[dict[str, Any]] = []
            for first in range(0, len(ids), 1000):
                trades.extend(
                    dict(row._mapping)
                    for row in connection.execute(
                        sa.select(TRADES).where(TRADES.c.order_id.in_(ids[first : first + 1000])).order_by(TRADES.c.id)
                    )
                )
            top = connection.execute(sa.select(sa.func.max(ORDERS.c.id))).scalar() or 0
            limits = [dict(row._mapping) for row in connection.execute(sa.select(LIMITS).order_by(LIMITS.c.id))]
            state = {
                row.key: row.document
                for row in connection.execute(
                    sa.select(STATE.c.key, STATE.c.document).where(STATE.c.key.like("execution.%"))
                )
            }
            epoch = state.get(EPOCH_KEY, {}).get("epoch")
            if epoch is None:
                epoch = uuid.uuid4().hex
                connection.execute(sa.insert(STATE).values(key=EPOCH_KEY, document={"epoch": epoch}))
        return Snapshot(orders, trades, int(top) + 1, limits, state.get(TRADING_KEY), str(epoch))

    def find_orders(self, client_order_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Stored orders by client_order_id, for requests the OMS's memory (today's orders) does not know."""
        wanted = list(client_order_ids)
        if not wanted:
            return {}
        with self._engine.connect() as connection:
            rows = connection.execute(sa.select(ORDERS).where(ORDERS.c.client_order_id.in_(wanted)))
            return {row.client_order_id: dict(row._mapping) for row in rows}

    def write(self, writes: Writes) -> list[tuple[int, str, bytes]]:
        """Apply ``writes`` in one transaction; returns the outbox rows it added (id, stream, payload).

        Raises :class:`ClientOrderIdTaken` when a new order's client_order_id is already in the table (nothing
        is written then). On PostgreSQL the statements go out in one pipeline: one round trip, not five.
        """
        if self.dialect == "postgresql":
            return self._write_pipelined(writes)
        try:
            with self._engine.begin() as connection:
                return self._write_statements(connection, writes)
        except sa.exc.IntegrityError as e:
            if "client_order_id" in str(e.orig):
                raise ClientOrderIdTaken(str(e.orig)) from e
            raise

    def _write_statements(self, connection: Connection, writes: Writes) -> list[tuple[int, str, bytes]]:
        if writes.new_orders:
            connection.execute(sa.insert(ORDERS), list(writes.new_orders.values()))
        if writes.order_updates:
            connection.execute(_ORDER_UPDATE, [{"_id": key, **values} for key, values in writes.order_updates.items()])
        if writes.trades:
            connection.execute(sa.insert(TRADES), writes.trades)
        if writes.audits:
            connection.execute(sa.insert(AUDIT), writes.audits)
        for key, value in writes.state.items():
            updated = connection.execute(
                sa.update(STATE).where(STATE.c.key == key).values(document=value, updated_at=sa.func.now())
            )
            if updated.rowcount == 0:
                connection.execute(sa.insert(STATE).values(key=key, document=value))
        if not writes.outbox:
            return []
        result = connection.execute(
            sa.insert(OUTBOX).returning(OUTBOX.c.id, sort_by_parameter_order=True),
            [{"stream": stream, "payload": payload} for stream, payload in writes.outbox],
        )
        ids = [row.id for row in result]
        return [(ident, stream, payload) for ident, (stream, payload) in zip(ids, writes.outbox, strict=True)]

    def _write_pipelined(self, writes: Writes) -> list[tuple[int, str, bytes]]:
        """The same statements as :meth:`_write_statements` (compiled by SQLAlchemy once), sent through a
        psycopg pipeline inside one transaction."""
        raw = self._engine.raw_connection()
        try:
            connection: psycopg.Connection[Any] = raw.driver_connection  # type: ignore[assignment]
            with connection.transaction(), connection.pipeline():
                cursor = connection.cursor()
                if writes.new_orders:
                    rows = list(writes.new_orders.values())
                    cursor.executemany(self._sql("orders", sa.insert(ORDERS), rows[0]), rows)
                if writes.order_updates:
                    updates = [{"_id": key, **values} for key, values in writes.order_updates.items()]
                    cursor.executemany(self._sql("order_update", _ORDER_UPDATE), updates)
                if writes.trades:
                    cursor.executemany(self._sql("trades", sa.insert(TRADES), writes.trades[0]), writes.trades)
                if writes.audits:
                    audits = [{**a, "before": _json(a["before"]), "after": _json(a["after"])} for a in writes.audits]
                    cursor.executemany(self._sql("audit", sa.insert(AUDIT), audits[0]), audits)
                for key, value in writes.state.items():
                    cursor.execute(self._sql("state", _STATE_UPSERT), {"key": key, "document": Jsonb(value)})
                outbox = connection.cursor()
                if writes.outbox:
                    outbox.executemany(_OUTBOX_INSERT, writes.outbox, returning=True)
            ids: list[int] = []
            while writes.outbox:
                ids.append(int(outbox.fetchone()[0]))  # type: ignore[index]
                if not outbox.nextset():
                    break
        except psycopg.errors.UniqueViolation as e:
            if e.diag.constraint_name == "uq_orders_client_order_id":
                raise ClientOrderIdTaken(str(e)) from e
            raise
        except psycopg.OperationalError:
            raw.invalidate()
            raise
        finally:
            raw.close()
        return [(ident, stream, payload) for ident, (stream, payload) in zip(ids, writes.outbox, strict=True)]

    def _sql(self, name: str, statement: Any, row: dict[str, Any] | None = None) -> str:
        """``statement`` compiled for this engine, once per name (and per column set of ``row``)."""
        key = (name, tuple(row) if row is not None else ())
        sql = self._compiled.get(key)
        if sql is None:
            if row is not None:
                statement = statement.values({column: sa.bindparam(column) for column in row})
            sql = str(statement.compile(dialect=self._engine.dialect))
            self._compiled[key] = sql
        return sql

    def pending_outbox(self) -> list[tuple[int, str, bytes]]:
        with self._engine.connect() as connection:
            rows = connection.execute(sa.select(OUTBOX.c.id, OUTBOX.c.stream, OUTBOX.c.payload).order_by(OUTBOX.c.id))
            return [(row.id, row.stream, bytes(row.payload)) for row in rows]

    def mark_published(self, upto_id: int) -> None:
        """Rows up to ``upto_id`` are on the bus: :meth:`flush_published` deletes them (off the hot path)."""
        self._published_upto = max(self._published_upto, upto_id)

    def flush_published(self) -> None:
        if self._published_upto:
            with self._engine.begin() as connection:
                connection.execute(sa.delete(OUTBOX).where(OUTBOX.c.id <= self._published_upto))
            self._published_upto = 0

    # -- risk limits ---------------------------------------------------------------------------------

    def save_limits(self, changes: Sequence[dict[str, Any]], actor: str) -> list[dict[str, Any]]:
        """Upsert limits (scope, scope_key, name, value, enabled), auditing each change; returns every limit."""
        with self._engine.begin() as connection:
            for change in changes:
                key = (LIMITS.c.scope == change["scope"]) & (LIMITS.c.scope_key == change["scope_key"])
                key &= LIMITS.c.name == change["name"]
                existing = connection.execute(sa.select(LIMITS).where(key)).first()
                after = {"value": str(change["value"]), "enabled": change["enabled"]}
                if existing is None:
                    connection.execute(sa.insert(LIMITS).values(**change, updated_by=actor))
                    before = None
                else:
                    before = {"value": str(existing.value), "enabled": existing.enabled}
                    connection.execute(
                        sa.update(LIMITS)
                        .where(key)
                        .values(
                            value=change["value"], enabled=change["enabled"], updated_by=actor, updated_at=sa.func.now()
                        )
                    )
                if before != after:
                    entity = f"{change['scope']}:{change['scope_key']}:{change['name']}"
                    connection.execute(
                        sa.insert(AUDIT).values(
                            actor=actor[:128],
                            action="risk_limit.set",
                            entity_type="risk_limit",
                            entity_id=entity[:64],
                            before=before,
                            after=after,
                        )
                    )
            return [dict(row._mapping) for row in connection.execute(sa.select(LIMITS).order_by(LIMITS.c.id))]


# Appends each (id, stream index, payload) of ARGV[2..] whose id is above the marker KEYS[1] to the stream
# KEYS[index] (field ``d``, trimmed to ~ARGV[1]), then moves the marker to the highest id. Atomic: an entry is
# published together with the marker that says so, so a republished outbox row is skipped.
_PUBLISH = """
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local top = last
for i = 2, #ARGV, 3 do
  local id = tonumber(ARGV[i])
  if id > last then
    redis.call('XADD', KEYS[tonumber(ARGV[i + 1])], 'MAXLEN', '~', ARGV[1], '*', 'd', ARGV[i + 2])
    if id > top then top = id end
  end
end
if top > last then redis.call('SET', KEYS[1], top) end
return top
"""


class OutboxPublisher:
    """Publishes outbox rows to their streams exactly once (see the module's docstring)."""

    def __init__(self, redis: aioredis.Redis, *, prefix: str, epoch: str, maxlen: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self.epoch = epoch
        self._marker = stream_key(f"execution:outbox:{epoch}", prefix)
        self._maxlen = maxlen
        self._script: Any = redis.register_script(_PUBLISH)
        self.published = 0

    async def publish(self, rows: Sequence[tuple[int, str, bytes]]) -> int:
        """Publish ``rows`` (ascending ids); returns the highest id now on the bus."""
        keys = [self._marker]
        index: dict[str, int] = {}
        args: list[Any] = [self._maxlen]
        for ident, stream, payload in rows:
            if stream not in index:
                keys.append(stream_key(stream, self._prefix))
                index[stream] = len(keys)
            args.extend((ident, index[stream], payload))
        top = int(await self._script(keys=keys, args=args))
        self.published += len(rows)
        return top
