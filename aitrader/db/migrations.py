"""Programmatic Alembic: what `aitrader up`, the test fixtures and scripts/run_migrations.sh call.

It runs the repository's ``alembic.ini`` and ``alembic/`` (the repository root is the parent of the
``aitrader`` package; the tree is installed editable) against the URL it is given, without touching the
process's logging configuration, which belongs to ``aitrader.log.configure``.
"""

from __future__ import annotations

from pathlib import Path

import alembic.command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.pool import NullPool

from aitrader.db.session import make_engine
from aitrader.errors import ConfigurationError

REPO_ROOT = Path(__file__).resolve().parents[2]
ALEMBIC_INI = REPO_ROOT / "alembic.ini"
SCRIPT_LOCATION = REPO_ROOT / "alembic"


def alembic_config(url: str | None = None) -> Config:
    """The repository's Alembic configuration, aimed at ``url`` when given.

    The URL travels in ``config.attributes`` rather than ``sqlalchemy.url``: ConfigParser would read a
    ``%`` in a password as interpolation.
    """
    if not ALEMBIC_INI.is_file() or not SCRIPT_LOCATION.is_dir():
        raise ConfigurationError(
            f"alembic.ini and alembic/ must sit in the repository root, was looking in {REPO_ROOT}"
        )
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.attributes["configure_logger"] = False
    if url is not None:
        config.attributes["url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` forward to ``revision``."""
    alembic.command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Migrate the database at ``url`` back to ``revision`` (``"base"`` drops every table)."""
    alembic.command.downgrade(alembic_config(url), revision)


def current(url: str) -> str | None:
    """The revision the database at ``url`` is at, or ``None`` when it has never been migrated."""
    engine = make_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head() -> str:
    """The newest revision in ``alembic/versions``."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if revision is None:
        raise ConfigurationError(f"no migrations found in {SCRIPT_LOCATION / 'versions'}")
    return revision
