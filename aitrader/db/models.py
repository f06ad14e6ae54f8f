"""The system of record (DESIGN §5): every table as a typed SQLAlchemy 2 declarative model.

Conventions, so that PostgreSQL (production) and SQLite (the ``--fallback`` path) hold the same data:

- money and prices are ``Numeric(18, 4)`` (:data:`MONEY`), quantities are whole units in ``BigInteger``
  (the bus carries integer quantities); nothing monetary is ever a float. SQLite keeps NUMERIC as a
  double, so there decimals stay exact only up to 15 significant digits.
- times are :class:`UTCDateTime` (``timestamp with time zone``), always UTC and timezone-aware in Python;
  bus timestamps stay integer nanoseconds (``ts_ns``, ``tick_ts_ns``) in ``BigInteger``.
- enumerations are ``VARCHAR`` plus a named CHECK constraint (``Enum(native_enum=False)``), never a
  PostgreSQL ENUM type, so adding a value is a plain migration and SQLite enforces the same values.
- JSON is ``JSONB`` on PostgreSQL and ``JSON`` elsewhere; a Python ``None`` is stored as SQL NULL.
- every constraint and index is named by :data:`NAMING_CONVENTION`, so migrations are deterministic.

The schema changes only through Alembic (``alembic/versions``); tests migrate too and never call
``create_all``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Double,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
    func,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeEngine

from aitrader.contracts.messages import OrderSide, OrderStatus, OrderType, Product, TimeInForce

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

MONEY = Numeric(18, 4)
"""Prices, P&L, fees and notionals: 14 integer digits and 4 decimals (paise with room for averages)."""

QUANTITY = BigInteger()
"""Quantities are whole units (shares, lots), as on the bus."""

SURROGATE_KEY: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")
"""BIGSERIAL on PostgreSQL; INTEGER on SQLite, where only ``INTEGER PRIMARY KEY`` auto-increments."""


def json_type() -> TypeEngine[Any]:
    """JSONB on PostgreSQL (indexable, compact), JSON elsewhere; ``None`` becomes SQL NULL, not ``'null'``."""
    return JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """``timestamp with time zone`` that only accepts aware datetimes and always returns them in UTC.

    PostgreSQL keeps the instant; SQLite keeps no zone at all, so values are normalised to UTC before
    they are written and tagged as UTC when read, and both backends give the same answers. A naive
    datetime is refused: in a trading system it is a bug, not a default.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"datetime must be timezone-aware, was naive {value.isoformat()}")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _values(enum_class: type[StrEnum]) -> list[str]:
    return [member.value for member in enum_class]


def string_enum(enum_class: type[StrEnum], name: str, length: int = 16) -> Enum:
    """A ``VARCHAR(length)`` holding the enum's values, guarded by CHECK constraint ``ck_<table>_<name>``."""
    return Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=length,
        validate_strings=True,
        values_callable=_values,
    )


class JobStatus(StrEnum):
    """Life of a job: queued → running → completed | failed; queued or running jobs may be canceled."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_terminal(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED)


class UserRole(StrEnum):
    ADMIN = "admin"
    TRADER = "trader"
    VIEWER = "viewer"


class RiskScope(StrEnum):
    """What a risk limit applies to: everything, one strategy (``scope_key``) or one symbol."""

    GLOBAL = "global"
    STRATEGY = "strategy"
    SYMBOL = "symbol"


class SentimentLabel(StrEnum):
    POSITIVE = "positive"
    NEGATIVE = "negative"
    NEUTRAL = "neutral"


class Decision(StrEnum):
    """What the strategy engine decided for a signal."""

    BUY = "BUY"
    SELL = "SELL"
    HOLD = "HOLD"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Timestamped:
    """``created_at``/``updated_at`` set by the database, so every writer agrees on the clock."""

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=func.now(), onupdate=func.now(), nullable=False
    )


class User(Timestamped, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(SURROGATE_KEY, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    email: Mapped[str | None] = mapped_column(String(255), unique=True)
    hashed_password: Mapped[str] = mapped_column(String(255), nullable=False)
    role: Mapped[UserRole] = mapped_column(string_enum(UserRole, "user_role"), nullable=False, default=UserRole.VIEWER)
    is_active: Mapped[bool] = mapped_column(Boolean(), nullable=False, default=True, server_default=true())

    tokens: Mapped[list[UserToken]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )


class UserToken(Timestamped, Base):
    """A broker access token, encrypted at rest (DESIGN §9); one per user and broker."""

    __tablename__ = "user_tokens"
    __table_args__ = (UniqueConstraint("user_id", "broker"),)

    id: Mapped[int] = mapped_column(SURROGATE_KEY, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    broker: Mapped[str] = mapped_column(String(32), nullable=False)
    token_encrypted: Mapped[bytes] = mapped_column(LargeBinary(), nullable=False)
    token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(back_populates="tokens")


class Job(Timestamped, Base):
    """A unit of background work (suggestion, backtest, training); the record of truth, Redis only queues it."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_status_created_at", "status", "created_at"),
        Index("ix_jobs_kind_created_at", "kind", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[JobStatus] = mapped_column(
        string_enum(JobStatus, "job_status"), nullable=False, default=JobStatus.QUEUED
    )
    payload: Mapped[dict[str, Any]] = mapped_column(json_type(), nullable=False, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(json_type())
    error: Mapped[str | None] = mapped_column(Text())
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Backtest(Timestamped, Base):
    """One backtest run: its configuration, headline metrics and where its time series (Parquet) lives."""

    __tablename__ = "backtests"
    __table_args__ = (
        Index("ix_backtests_status_created_at", "status", "created_at"),
        CheckConstraint("win_rate IS NULL OR (win_rate >= 0 AND win_rate <= 1)", name="win_rate_range"),
        CheckConstraint("fees IS NULL OR fees >= 0", name="fees_non_negative"),
        CheckConstraint("turnover IS NULL OR turnover >= 0", name="turnover_non_negative"),
        CheckConstraint("max_drawdown IS NULL OR max_drawdown >= 0", name="max_drawdown_non_negative"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=uuid.uuid4)
    job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    name: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[JobStatus] = mapped_column(
        string_enum(JobStatus, "backtest_status"), nullable=False, default=JobStatus.QUEUED
    )
    config: Mapped[dict[str, Any]] = mapped_column(json_type(), nullable=False, default=dict)
    pnl: Mapped[Decimal | None] = mapped_column(MONEY)
    fees: Mapped[Decimal | None] = mapped_column(MONEY)
    turnover: Mapped[Decimal | None] = mapped_column(MONEY)
    max_drawdown: Mapped[Decimal | None] = mapped_column(MONEY, comment="peak-to-trough equity loss, in money")
    sharpe: Mapped[float | None] = mapped_column(Double(), comment="annualised, a ratio (not money)")
    win_rate: Mapped[float | None] = mapped_column(Double(), comment="winning round trips / all, in [0, 1]")
    trade_count: Mapped[int | None] = mapped_column(Integer())
    timeseries_path: Mapped[str | None] = mapped_column(String(1024))
    error: Mapped[str | None] = mapped_column(Text())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Order(Timestamped, Base):
    """An order as the OMS knows it; every transition updates this row and writes ``audit_log``."""

    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_symbol_status", "symbol", "status"),
        Index("ix_orders_status", "status"),
        Index("ix_orders_strategy_created_at", "strategy", "created_at"),
        CheckConstraint("qty > 0", name="qty_positive"),
        CheckConstraint("filled_qty >= 0 AND filled_qty <= qty", name="filled_qty_range"),
        CheckConstraint("limit_price IS NULL OR limit_price > 0", name="limit_price_positive"),
        CheckConstraint("order_type <> 'LIMIT' OR limit_price IS NOT NULL", name="limit_needs_price"),
    )

    id: Mapped[int] = mapped_column(SURROGATE_KEY, primary_key=True)
    client_order_id: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    broker_order_id: Mapped[str | None] = mapped_column(String(64), index=True)
    strategy: Mapped[str] = mapped_column(String(64), nullable=False)
    symbol: Mapped[str] = mapped_column(String(64), nullable=False)
    venue: Mapped[str] = mapped_column(String(16), nullable=False, default="NSE")
    side: Mapped[OrderSide] = mapped_column(string_enum(OrderSide, "order_side", 8), nullable=False)
    qty: Mapped[int] = mapped_column(QUANTITY, nullable=False)
    order_type: Mapped[OrderType] = mapped_column(
        string_enum(OrderType, "order_type", 16), nullable=False, default=OrderType.MARKET
    )
    limit_price: Mapped[Decimal | None] = mapped_column(MONEY)
    tif: Mapped[TimeInForce] = mapped_column(
        string_enum(TimeInForce, "time_in_force", 8), nullable=False, default=TimeInForce.DAY
    )
    product: Mapped[Product] = mapped_column(string_enum(Product, "product", 8), nullable=False, default=Product.MIS)
    status: Mapped[OrderStatus] = mapped_column(
        string_enum(OrderStatus, "order_status", 24), nullable=False, default=OrderStatus.NEW
    )
    filled_qty: Mapped[int] = mapped_column(QUANTITY, nullable=False, default=0)
    avg_price: Mapped[Decimal | None] = mapped_column(MONEY)
    reason_code: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text())
    signal_id: Mapped[str | None] = mapped_column(String(64), index=True)
    ts_ns: Mapped[int] = mapped_column(BigInteger(), nullable=False, comment="the request's bus timestamp")
    tick_ts_ns: Mapped[int | None] = mapped_column(BigInteger(), comment="the originating tick's timestamp")

    trades: Mapped[list[Trade]] = relationship(back_populates="order", order_by="Trade.id")


class Trade(Base):
    """A fill; ``fill_id`` makes applying the same fill twice impossible."""

    __tablename__ = "trades"
    __table_args__ = (
        Index("ix_trades_symbol_ts_ns", "symbol", "ts_ns"),
        CheckConstraint("qty > 0", name="qty_positive"),
        CheckConstraint("price >= 0", name="price_non_negative"),
        CheckConstraint("fees >= 0", name="fees_non_negative"),
    )

    id: Mapped[int] = mapped_column(SURROGATE_KEY, primary_key=True)
    fill_id: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"), nullable=False, index=True)
    symbol: Mapped[str] = mapped_column(String(64), nullable=False)
    venue: Mapped[str] = mapped_column(String(16), nullable=False, default="NSE")
    side: Mapped[OrderSide] = mapped_column(string_enum(OrderSide, "order_side", 8), nullable=False)
    qty: Mapped[int] = mapped_column(QUANTITY, nullable=False)
    price: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    fees: Mapped[Decimal] = mapped_column(MONEY, nullable=False, default=Decimal(0))
    brokerage: Mapped[Decimal] = mapped_column(
        MONEY, nullable=False, default=Decimal(0), server_default="0", comment="the brokerage part of fees"
    )
    ts_ns: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    tick_ts_ns: Mapped[int | None] = mapped_column(BigInteger())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now(), nullable=False)

    order: Mapped[Order] = relationship(back_populates="trades")


class Execution(Base):
    """A strategy decision for one signal: the factors it weighed, its score, and where the time went."""

    __tablename__ = "executions"
    __table_args__ = (
        Index("ix_executions_symbol_ts_ns", "symbol", "ts_ns"),
        CheckConstraint("combined_score >= -1 AND combined_score <= 1", name="combined_score_range"),
        CheckConstraint("qty IS NULL OR qty >= 0", name="qty_non_negative"),
    )

    id: Mapped[int] = mapped_column(SURROGATE_KEY, primary_key=True)
    signal_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    strategy: Mapped[str] = mapped_column(String(64), nullable=False)
    symbol: Mapped[str] = mapped_column(String(64), nullable=False)
    pattern: Mapped[str | None] = mapped_column(String(64))
    ts_ns: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    tick_ts_ns: Mapped[int | None] = mapped_column(BigInteger())
    factors: Mapped[dict[str, Any]] = mapped_column(json_type(), nullable=False, default=dict)
    combined_score: Mapped[float] = mapped_column(Double(), nullable=False, comment="a score in [-1, 1]")
    decision: Mapped[Decision] = mapped_column(string_enum(Decision, "decision", 8), nullable=False)
    qty: Mapped[int | None] = mapped_column(QUANTITY)
    reason: Mapped[str | None] = mapped_column(Text())
    latency: Mapped[dict[str, Any]] = mapped_column(
        json_type(), nullable=False, default=dict, comment="per-stage latency breakdown, nanoseconds"
    )
    client_order_id: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now(), nullable=False)


class AuditLog(Base):
    """Append-only record of who changed what: every order transition, limit change and login."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity_type_entity_id", "entity_type", "entity_id"),)

    id: Mapped[int] = mapped_column(SURROGATE_KEY, primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now(), nullable=False, index=True)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    entity_type: Mapped[str] = mapped_column(String(64), nullable=False)
    entity_id: Mapped[str] = mapped_column(String(64), nullable=False)
    before: Mapped[dict[str, Any] | None] = mapped_column(json_type())
    after: Mapped[dict[str, Any] | None] = mapped_column(json_type())


class OutboxEntry(Base):
    """A bus message written in the same transaction as the change it announces, published after commit.

    The OMS publishes entries in ``id`` order and deletes them once they are on the bus; entries left by a
    crash are published at the next start, exactly once (see ``execution.store``).
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(SURROGATE_KEY, primary_key=True)
    stream: Mapped[str] = mapped_column(String(64), nullable=False)
    payload: Mapped[bytes] = mapped_column(LargeBinary(), nullable=False, comment="the msgpack-encoded message")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now(), nullable=False)


class ServiceState(Timestamped, Base):
    """Small named documents a service must keep across restarts (the OMS's trading state and kill switch)."""

    __tablename__ = "service_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(json_type(), nullable=False, default=dict)


class RiskLimit(Timestamped, Base):
    """One risk limit, e.g. ``(strategy, "momentum", "max_order_qty") = 500``.

    ``scope_key`` names the strategy or symbol and is ``''`` for global limits, so that the unique
    constraint also holds for them (NULLs would never collide).
    """

    __tablename__ = "risk_limits"
    __table_args__ = (
        UniqueConstraint("scope", "scope_key", "name"),
        CheckConstraint(
            "(scope = 'global' AND scope_key = '') OR (scope <> 'global' AND scope_key <> '')",
            name="scope_key_matches_scope",
        ),
    )

    id: Mapped[int] = mapped_column(SURROGATE_KEY, primary_key=True)
    scope: Mapped[RiskScope] = mapped_column(string_enum(RiskScope, "risk_scope"), nullable=False)
    scope_key: Mapped[str] = mapped_column(String(64), nullable=False, default="", server_default="")
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    value: Mapped[Decimal] = mapped_column(Numeric(20, 4), nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean(), nullable=False, default=True, server_default=true())
    updated_by: Mapped[str | None] = mapped_column(String(128))


class NewsItem(Timestamped, Base):
    """A news story with the symbols it mentions and, once scored, its sentiment.

    ``dedupe_key`` hashes the story's URL when it has one, else its text: the same story arriving twice, from
    one source or two, is stored once.
    """

    __tablename__ = "news_items"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        UniqueConstraint("dedupe_key"),
        CheckConstraint(
            "sentiment_score IS NULL OR (sentiment_score >= -1 AND sentiment_score <= 1)",
            name="sentiment_score_range",
        ),
        CheckConstraint(
            "sentiment_certainty IS NULL OR (sentiment_certainty >= 0 AND sentiment_certainty <= 1)",
            name="sentiment_certainty_range",
        ),
    )

    id: Mapped[int] = mapped_column(SURROGATE_KEY, primary_key=True)
    source: Mapped[str] = mapped_column(String(64), nullable=False)
    external_id: Mapped[str] = mapped_column(String(255), nullable=False)
    headline: Mapped[str] = mapped_column(Text(), nullable=False)
    body: Mapped[str | None] = mapped_column(Text())
    url: Mapped[str | None] = mapped_column(String(2048))
    symbols: Mapped[list[str]] = mapped_column(json_type(), nullable=False, default=list)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    sentiment_label: Mapped[SentimentLabel | None] = mapped_column(string_enum(SentimentLabel, "sentiment_label"))
    sentiment_score: Mapped[float | None] = mapped_column(Double(), comment="in [-1, 1], negative is bearish")
    sentiment_certainty: Mapped[float | None] = mapped_column(Double(), comment="1 - P(neutral), in [0, 1]")
    sentiment_scorer: Mapped[str | None] = mapped_column(String(16), comment="finbert or lexicon")
    dedupe_key: Mapped[str] = mapped_column(String(80), nullable=False, comment="url:<sha256> or text:<sha256>")


class NewsItemSymbol(Base):
    """One symbol a news item mentions, with the item's time: what the per-symbol window queries read."""

    __tablename__ = "news_item_symbols"
    __table_args__ = (Index("ix_news_item_symbols_symbol_published_at", "symbol", "published_at"),)

    news_item_id: Mapped[int] = mapped_column(
        SURROGATE_KEY, ForeignKey("news_items.id", ondelete="CASCADE"), primary_key=True
    )
    symbol: Mapped[str] = mapped_column(String(64), primary_key=True)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class ModelArtifact(Timestamped, Base):
    """A registered model file (ONNX, TensorRT engine, FinBERT directory) and its metadata."""

    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(SURROGATE_KEY, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    version: Mapped[str] = mapped_column(String(64), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    path: Mapped[str] = mapped_column(String(1024), nullable=False)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", json_type(), nullable=False, default=dict)


class Bar(Timestamped, Base):
    """An OHLCV bar of one symbol over one interval (``'1m'``, ``'5m'``, ``'1d'``) starting at ``start``."""

    __tablename__ = "bars"
    __table_args__ = (
        UniqueConstraint("symbol", "interval", "start"),
        CheckConstraint("high >= low", name="high_not_below_low"),
        CheckConstraint("volume >= 0", name="volume_non_negative"),
        CheckConstraint("trade_count >= 0", name="trade_count_non_negative"),
    )

    id: Mapped[int] = mapped_column(SURROGATE_KEY, primary_key=True)
    symbol: Mapped[str] = mapped_column(String(64), nullable=False)
    interval: Mapped[str] = mapped_column(String(8), nullable=False)
    start: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    open: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    high: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    low: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    close: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    volume: Mapped[int] = mapped_column(QUANTITY, nullable=False, default=0)
    vwap: Mapped[Decimal | None] = mapped_column(MONEY)
    trade_count: Mapped[int] = mapped_column(Integer(), nullable=False, default=0)
