"""Alembic environment: migrates the database named by, in order of precedence,

1. ``config.attributes["connection"]`` or ``config.attributes["url"]`` (set by :mod:`aitrader.db.migrations`),
2. ``alembic -x url=...`` on the command line,
3. ``DATABASE_URL``, read through :class:`aitrader.settings.CommonSettings` (``.env`` included).

Types are compared (``compare_type``) so a column type change autogenerates; on SQLite, operations run
in batch mode because SQLite's ALTER TABLE cannot change or drop most things. Logging is configured from
alembic.ini only for the command line: programmatic runs keep the service's JSON logging.
"""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import Connection
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from aitrader.db.models import Base
from aitrader.db.session import make_engine
from aitrader.settings import CommonSettings, load_settings, sqlalchemy_url

config = context.config
target_metadata = Base.metadata

if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    url = config.attributes.get("url") or context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        url = load_settings(CommonSettings).require_database_url()
    return sqlalchemy_url(str(url))


def options(dialect_name: str) -> dict[str, Any]:
    return {
        "target_metadata": target_metadata,
        "compare_type": True,
        "render_as_batch": dialect_name == "sqlite",
    }


def run_migrations_offline() -> None:
    """Write the SQL to stdout (``alembic upgrade head --sql``) instead of running it."""
    url = make_url(database_url())
    context.configure(
        url=url, literal_binds=True, dialect_opts={"paramstyle": "named"}, **options(url.get_backend_name())
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate over ``config.attributes["connection"]`` when a caller lends one, else a connection of our own."""
    lent = config.attributes.get("connection")
    if isinstance(lent, Connection):
        context.configure(connection=lent, **options(lent.dialect.name))
        with context.begin_transaction():
            context.run_migrations()
        return
    # Foreign keys off on SQLite: batch mode rebuilds tables, which enforcement would break or cascade.
    engine = make_engine(database_url(), poolclass=NullPool, sqlite_foreign_keys=False)
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, **options(connection.dialect.name))
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
