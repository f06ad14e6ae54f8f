"""Engines, sessions and the one place a unit of work commits.

Services build an engine and a session factory once (in ``create_app`` / ``__main__``) and run each unit
of work inside :func:`session_scope`; repositories only add, flush and query, so a service decides what
is atomic.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from aitrader.settings import sqlalchemy_url


def make_engine(url: str, *, sqlite_foreign_keys: bool = True, **kw: Any) -> Engine:
    """An engine for ``url`` (``postgresql://`` runs on psycopg 3), checking connections before use.

    On SQLite, foreign keys are enforced (SQLite leaves them off unless asked on every connection) and
    SQLAlchemy rather than the ``sqlite3`` module emits ``BEGIN``, so transactions and savepoints behave
    as on PostgreSQL. Migrations pass ``sqlite_foreign_keys=False``: batch operations rebuild tables, and
    dropping a referenced table with enforcement on would fail or cascade.
    """
    kw.setdefault("pool_pre_ping", True)
    engine = create_engine(make_url(sqlalchemy_url(url)), **kw)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, foreign_keys=sqlite_foreign_keys)
    return engine


def _configure_sqlite(engine: Engine, *, foreign_keys: bool) -> None:
    pragma = f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}"

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _connection_record: Any) -> None:
        # Stop the sqlite3 module from issuing BEGIN itself (and COMMIT before DDL); see _on_begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(pragma)
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to ``engine``; objects stay readable after commit, so services can return them."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit when the block succeeds, roll back and re-raise when it fails."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
