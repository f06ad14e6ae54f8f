"""Databases on both backends the schema must run on: PostgreSQL (production) and SQLite (``--fallback``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from aitrader.db.migrations import upgrade
from aitrader.db.session import make_engine, make_session_factory

BACKENDS = ["postgresql", "sqlite"]


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'aitrader.db'}"


@pytest.fixture(params=BACKENDS)
def unmigrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of this test's own, on each backend in turn."""
    if request.param == "postgresql":
        url: str = request.getfixturevalue("empty_database_url")
        return url
    return sqlite_url(tmp_path)


@pytest.fixture(params=BACKENDS)
def migrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database of this test's own at the head migration, on each backend in turn."""
    if request.param == "postgresql":
        url: str = request.getfixturevalue("database_url")
        return url
    url = sqlite_url(tmp_path)
    upgrade(url)
    return url


@pytest.fixture
def engine(migrated_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with make_session_factory(engine)() as session:
        yield session
