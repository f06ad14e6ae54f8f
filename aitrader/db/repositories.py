"""Repositories: the queries and state rules of the system of record, over a caller's ``Session``.

A repository adds, flushes and queries but never commits; the service that owns the unit of work wraps
it in :func:`aitrader.db.session.session_scope`, so several repository calls succeed or fail together.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar, NotRequired, TypedDict

from sqlalchemy import ColumnElement, Row, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from aitrader.clock import Clock, LiveClock
from aitrader.db.models import Bar, Job, JobStatus, NewsItem, NewsItemSymbol
from aitrader.errors import ConfigurationError, InvalidTransition, NotFoundError, ValidationError

MAX_PAGE_SIZE = 1000


def datetime_from_ns(ts_ns: int) -> datetime:
    """The UTC datetime of a nanosecond timestamp, exact to the microsecond (no float rounding)."""
    seconds, nanoseconds = divmod(ts_ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=nanoseconds // 1000)


class JobRepository:
    """Jobs and their life cycle: queued → running → completed | failed, or canceled before finishing.

    Every transition is checked against :attr:`TRANSITIONS` on a row locked ``FOR UPDATE`` (on
    PostgreSQL), so two workers cannot both start the same job.
    """

    TRANSITIONS: ClassVar[Mapping[JobStatus, frozenset[JobStatus]]] = {
        JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.FAILED, JobStatus.CANCELED}),
        JobStatus.RUNNING: frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED}),
        JobStatus.COMPLETED: frozenset(),
        JobStatus.FAILED: frozenset(),
        JobStatus.CANCELED: frozenset(),
    }

    def __init__(self, session: Session, clock: Clock | None = None) -> None:
        self._session = session
        self._clock = clock or LiveClock()

    def create(self, kind: str, payload: Mapping[str, Any], user_id: int | None = None) -> Job:
        """Record a new queued job; flushed, so its ``id`` can go onto the queue in the same transaction."""
        if not kind or len(kind) > 32:
            raise ValidationError(f"job kind must be 1 to 32 characters, was {kind!r}")
        job = Job(kind=kind, status=JobStatus.QUEUED, payload=dict(payload), user_id=user_id)
        self._session.add(job)
        self._session.flush()
        return job

    def get(self, job_id: uuid.UUID | str) -> Job:
        """The job with ``job_id``; :class:`NotFoundError` when there is none (or the id is malformed)."""
        return self._load(job_id, for_update=False)

    def list(
        self,
        *,
        status: JobStatus | None = None,
        kind: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[Sequence[Job], int]:
        """One page of jobs, newest first, and how many jobs match the filters in all."""
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise ValidationError(f"limit must be between 1 and {MAX_PAGE_SIZE}, was {limit}")
        if offset < 0:
            raise ValidationError(f"offset must be >= 0, was {offset}")
        filters: list[ColumnElement[bool]] = []
        if status is not None:
            filters.append(Job.status == status)
        if kind is not None:
            filters.append(Job.kind == kind)
        count = self._session.scalar(select(func.count()).select_from(Job).where(*filters)) or 0
        items = self._session.scalars(
            select(Job).where(*filters).order_by(Job.created_at.desc(), Job.id.desc()).limit(limit).offset(offset)
        ).all()
        return items, count

    def mark_running(self, job_id: uuid.UUID | str) -> Job:
        job = self._transition(job_id, JobStatus.RUNNING)
        job.started_at = self._now()
        return job

    def mark_completed(self, job_id: uuid.UUID | str, result: Mapping[str, Any] | None = None) -> Job:
        job = self._transition(job_id, JobStatus.COMPLETED)
        job.result = dict(result) if result is not None else None
        job.finished_at = self._now()
        return job

    def mark_failed(self, job_id: uuid.UUID | str, error: str) -> Job:
        job = self._transition(job_id, JobStatus.FAILED)
        job.error = error
        job.finished_at = self._now()
        return job

    def mark_canceled(self, job_id: uuid.UUID | str) -> Job:
        job = self._transition(job_id, JobStatus.CANCELED)
        job.finished_at = self._now()
        return job

    def _transition(self, job_id: uuid.UUID | str, target: JobStatus) -> Job:
        job = self._load(job_id, for_update=True)
        if target not in self.TRANSITIONS[job.status]:
            raise InvalidTransition(f"job {job.id} cannot go from {job.status} to {target}")
        job.status = target
        return job

    def _load(self, job_id: uuid.UUID | str, *, for_update: bool) -> Job:
        try:
            key = job_id if isinstance(job_id, uuid.UUID) else uuid.UUID(job_id)
        except ValueError as e:
            raise NotFoundError(f"job {job_id!r} not found: not a UUID") from e
        job = self._session.get(Job, key, with_for_update=for_update or None, populate_existing=for_update)
        if job is None:
            raise NotFoundError(f"job {key} not found")
        return job

    def _now(self) -> datetime:
        return datetime_from_ns(self._clock.now_ns())


class BarValues(TypedDict):
    """One bar to store; ``start`` must be timezone-aware."""

    symbol: str
    interval: str
    start: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int
    vwap: NotRequired[Decimal | None]
    trade_count: NotRequired[int]


_BAR_KEY = ("symbol", "interval", "start")
_BAR_VALUES = ("open", "high", "low", "close", "volume", "vwap", "trade_count")


class BarRepository:
    """OHLCV bars, written idempotently: storing a bar again replaces it instead of duplicating it."""

    CHUNK_SIZE: ClassVar[int] = 500
    """Rows per INSERT, well under SQLite's and PostgreSQL's bound-parameter limits."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def upsert_many(self, bars: Iterable[BarValues]) -> int:
        """Insert ``bars``, or update the stored bar with the same (symbol, interval, start); return the count.

        Replaying a day or re-running a job therefore converges on one row per bar holding the latest
        values. Within one call the last bar for a key wins. ORM objects already loaded in the session
        are not refreshed.
        """
        rows: dict[tuple[str, str, datetime], dict[str, Any]] = {}
        for bar in bars:
            row: dict[str, Any] = {"vwap": None, "trade_count": 0, **bar}
            rows[(row["symbol"], row["interval"], row["start"])] = row
        if not rows:
            return 0
        insert = dialect_insert(self._session)
        pending = list(rows.values())
        for first in range(0, len(pending), self.CHUNK_SIZE):
            statement = insert(Bar).values(pending[first : first + self.CHUNK_SIZE])
            update: dict[str, Any] = {name: statement.excluded[name] for name in _BAR_VALUES}
            update["updated_at"] = func.now()
            self._session.execute(statement.on_conflict_do_update(index_elements=_BAR_KEY, set_=update))
        return len(pending)

    def series(
        self, symbol: str, interval: str, start: datetime | None = None, end: datetime | None = None
    ) -> Sequence[Bar]:
        """Bars of ``symbol`` at ``interval`` with ``start <= bar.start < end``, oldest first."""
        query = select(Bar).where(Bar.symbol == symbol, Bar.interval == interval)
        if start is not None:
            query = query.where(Bar.start >= start)
        if end is not None:
            query = query.where(Bar.start < end)
        return self._session.scalars(query.order_by(Bar.start)).all()

    def latest(self, symbol: str, interval: str, count: int) -> Sequence[Bar]:
        """The last ``count`` bars of ``symbol`` at ``interval`` (fewer when fewer are stored), oldest first."""
        query = (
            select(Bar).where(Bar.symbol == symbol, Bar.interval == interval).order_by(Bar.start.desc()).limit(count)
        )
        return list(reversed(self._session.scalars(query).all()))


def dialect_insert(session: Session) -> Any:
    """The INSERT construct of the session's database, for ``ON CONFLICT`` clauses (PostgreSQL or SQLite)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise ConfigurationError(f"upserts need PostgreSQL or SQLite, was {dialect}")


class NewsValues(TypedDict):
    """One news item to store; ``published_at`` must be timezone-aware."""

    source: str
    external_id: str
    headline: str
    body: str | None
    url: str | None
    symbols: list[str]
    published_at: datetime
    dedupe_key: str
    sentiment_label: str
    sentiment_score: float
    sentiment_certainty: float
    sentiment_scorer: str


class NewsRepository:
    """News items and the symbols they name; an item is stored once (by dedupe key, or source and id)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def ids_by_dedupe_key(self, keys: Iterable[str]) -> dict[str, int]:
        wanted = list(set(keys))
        if not wanted:
            return {}
        rows = self._session.execute(select(NewsItem.dedupe_key, NewsItem.id).where(NewsItem.dedupe_key.in_(wanted)))
        return {key: item_id for key, item_id in rows}

    def find(self, dedupe_key: str, source: str, external_id: str) -> int | None:
        """The stored item an item would duplicate: same dedupe key, or same source and id."""
        query = select(NewsItem.id).where(
            (NewsItem.dedupe_key == dedupe_key) | ((NewsItem.source == source) & (NewsItem.external_id == external_id))
        )
        return self._session.scalars(query.limit(1)).first()

    def add(self, item: NewsValues) -> int | None:
        """Store ``item`` and index it under its symbols; its id, or None when it was already stored."""
        insert = dialect_insert(self._session)
        statement = insert(NewsItem).values(**item).on_conflict_do_nothing().returning(NewsItem.id)
        item_id = self._session.execute(statement).scalar_one_or_none()
        if item_id is None:
            return None
        for symbol in item["symbols"]:
            self._session.add(NewsItemSymbol(news_item_id=item_id, symbol=symbol, published_at=item["published_at"]))
        self._session.flush()
        return int(item_id)

    def scored_in_window(
        self, symbol: str, start: datetime, end: datetime
    ) -> Sequence[Row[datetime, float | None, float | None, str | None]]:
        """The scores of the items naming ``symbol`` published in ``(start, end]``, oldest first: only the columns
        aggregation reads (whole ORM rows, headlines and bodies, cost twice as much)."""
        query = (
            select(
                NewsItemSymbol.published_at,
                NewsItem.sentiment_score,
                NewsItem.sentiment_certainty,
                NewsItem.sentiment_scorer,
            )
            .join(NewsItem, NewsItemSymbol.news_item_id == NewsItem.id)
            .where(
                NewsItemSymbol.symbol == symbol,
                NewsItemSymbol.published_at > start,
                NewsItemSymbol.published_at <= end,
                NewsItem.sentiment_score.is_not(None),
            )
            .order_by(NewsItemSymbol.published_at)
        )
        return self._session.execute(query).all()
