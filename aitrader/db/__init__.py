"""The system of record (DESIGN §5): SQLAlchemy models, engines and sessions, repositories, migrations.

PostgreSQL in production, SQLite for the ``--fallback`` path; the schema changes only through Alembic
(:mod:`aitrader.db.migrations`). Services build an engine with :func:`make_engine`, run each unit of
work in :func:`session_scope` and reach tables through repositories, which never commit.
"""

from aitrader.db.migrations import current, downgrade, head, upgrade
from aitrader.db.models import (
    NAMING_CONVENTION,
    AuditLog,
    Backtest,
    Bar,
    Base,
    Decision,
    Execution,
    Job,
    JobStatus,
    ModelArtifact,
    NewsItem,
    Order,
    OutboxEntry,
    RiskLimit,
    RiskScope,
    SentimentLabel,
    ServiceState,
    Trade,
    User,
    UserRole,
    UserToken,
    UTCDateTime,
)
from aitrader.db.repositories import BarRepository, BarValues, JobRepository, datetime_from_ns
from aitrader.db.session import make_engine, make_session_factory, session_scope

__all__ = [
    "NAMING_CONVENTION",
    "AuditLog",
    "Backtest",
    "Bar",
    "BarRepository",
    "BarValues",
    "Base",
    "Decision",
    "Execution",
    "Job",
    "JobRepository",
    "JobStatus",
    "ModelArtifact",
    "NewsItem",
    "Order",
    "OutboxEntry",
    "RiskLimit",
    "RiskScope",
    "SentimentLabel",
    "ServiceState",
    "Trade",
    "UTCDateTime",
    "User",
    "UserRole",
    "UserToken",
    "current",
    "datetime_from_ns",
    "downgrade",
    "head",
    "make_engine",
    "make_session_factory",
    "session_scope",
    "upgrade",
]
