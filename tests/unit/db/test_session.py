from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from aitrader.db.session import make_engine, make_session_factory, session_scope


def test_sqlite_engine_enforces_foreign_keys() -> None:
    engine = make_engine("sqlite://")
    try:
        with engine.connect() as connection:
            assert connection.scalar(text("PRAGMA foreign_keys")) == 1
    finally:
        engine.dispose()


def test_sqlite_engine_can_leave_foreign_keys_off_for_migrations() -> None:
    engine = make_engine("sqlite://", sqlite_foreign_keys=False)
    try:
        with engine.connect() as connection:
            assert connection.scalar(text("PRAGMA foreign_keys")) == 0
    finally:
        engine.dispose()


def test_postgresql_url_gets_the_psycopg_driver() -> None:
    engine = make_engine("postgresql://trader@127.0.0.1:5432/aitrader")

    assert engine.url.drivername == "postgresql+psycopg"
    engine.dispose()


def test_sqlite_savepoint_rolls_back_only_the_nested_work(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/savepoint.db")
    factory = make_session_factory(engine)
    try:
        with session_scope(factory) as session:
            session.execute(text("CREATE TABLE t (n INTEGER)"))
            session.execute(text("INSERT INTO t VALUES (1)"))
            nested = session.begin_nested()
            session.execute(text("INSERT INTO t VALUES (2)"))
            nested.rollback()

        with session_scope(factory) as session:
            assert session.scalars(text("SELECT n FROM t")).all() == [1]
    finally:
        engine.dispose()


def test_session_scope_rolls_back_and_reraises_on_error(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/rollback.db")
    factory = make_session_factory(engine)
    try:
        with session_scope(factory) as session:
            session.execute(text("CREATE TABLE t (n INTEGER)"))

        with pytest.raises(RuntimeError, match="boom"), session_scope(factory) as session:
            session.execute(text("INSERT INTO t VALUES (1)"))
            raise RuntimeError("boom")

        with session_scope(factory) as session:
            assert session.scalar(text("SELECT count(*) FROM t")) == 0
    finally:
        engine.dispose()
