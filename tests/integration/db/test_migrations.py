from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.pool import NullPool

from aitrader.db.migrations import REPO_ROOT, current, downgrade, head, upgrade
from aitrader.db.models import Base
from aitrader.db.session import make_engine

ALEMBIC = Path(sys.executable).with_name("alembic")


def schema_differences(url: str) -> list[object]:
    engine = make_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    engine = make_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return set(sa.inspect(connection).get_table_names())
    finally:
        engine.dispose()


def check_constraint_names(url: str) -> set[str]:
    engine = make_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            inspector = sa.inspect(connection)
            return {
                str(constraint["name"])
                for table in Base.metadata.tables
                for constraint in inspector.get_check_constraints(table)
            }
    finally:
        engine.dispose()


def alembic_cli(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ALEMBIC), *args],
        cwd=REPO_ROOT,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_upgrade_head_builds_exactly_the_schema_of_the_models(unmigrated_url: str) -> None:
    upgrade(unmigrated_url)

    assert schema_differences(unmigrated_url) == []
    assert current(unmigrated_url) == head() == "0004"


def test_upgrade_head_creates_every_check_constraint_the_models_declare(unmigrated_url: str) -> None:
    declared = {
        str(constraint.name)
        for table in Base.metadata.tables.values()
        for constraint in table.constraints
        if isinstance(constraint, sa.CheckConstraint)
    }

    upgrade(unmigrated_url)

    assert check_constraint_names(unmigrated_url) == declared


def test_never_migrated_database_has_no_current_revision(unmigrated_url: str) -> None:
    assert current(unmigrated_url) is None


def test_downgrade_to_base_drops_every_table_and_upgrade_rebuilds_them(unmigrated_url: str) -> None:
    upgrade(unmigrated_url)

    downgrade(unmigrated_url, "base")

    assert table_names(unmigrated_url) == {"alembic_version"}
    assert current(unmigrated_url) is None

    upgrade(unmigrated_url)

    assert table_names(unmigrated_url) == {*Base.metadata.tables, "alembic_version"}
    assert schema_differences(unmigrated_url) == []


def test_alembic_cli_upgrade_head_on_sqlite_reads_database_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"

    result = alembic_cli("upgrade", "head", database_url=url)

    assert result.returncode == 0, result.stderr
    assert current(url) == head()
    assert schema_differences(url) == []


def test_alembic_cli_renders_postgres_sql_offline_without_a_server() -> None:
    result = alembic_cli("upgrade", "head", "--sql", database_url="postgresql://nobody@127.0.0.1:1/none")

    assert result.returncode == 0, result.stderr
    assert "CREATE TABLE orders" in result.stdout
    assert "CONSTRAINT uq_orders_client_order_id UNIQUE (client_order_id)" in result.stdout


def test_programmatic_upgrade_leaves_logging_alone_and_works_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = logging.getLogger()
    handlers_before = list(root.handlers)
    level_before = root.level
    service_logger = logging.getLogger("aitrader.test_service")
    monkeypatch.chdir(tmp_path)

    upgrade(f"sqlite:///{tmp_path / 'elsewhere.db'}")

    assert root.handlers == handlers_before
    assert root.level == level_before
    assert not service_logger.disabled


def test_downgrading_past_the_new_order_statuses_refuses_while_an_order_holds_one(unmigrated_url: str) -> None:
    upgrade(unmigrated_url, "0002")
    engine = make_engine(unmigrated_url)
    insert = sa.text(
        "INSERT INTO orders (client_order_id, strategy, symbol, venue, side, qty, order_type, tif, product, status,"
        " filled_qty, ts_ns, created_at, updated_at) VALUES ('c-1', 's', 'INFY', 'NSE', 'BUY', 1, 'MARKET', 'DAY',"
        " 'MIS', 'PENDING_CANCEL', 0, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    )
    with engine.begin() as connection:
        connection.execute(insert)

    with pytest.raises(RuntimeError, match="1 orders hold a status revision 0001 does not know"):
        downgrade(unmigrated_url, "0001")
    assert current(unmigrated_url) == "0002"

    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE orders SET status = 'CANCELED'"))
    engine.dispose()
    downgrade(unmigrated_url, "0001")
    assert current(unmigrated_url) == "0001"


def test_news_items_stored_before_the_dedupe_key_get_a_legacy_one(unmigrated_url: str) -> None:
    upgrade(unmigrated_url, "0003")
    engine = make_engine(unmigrated_url)
    insert = sa.text(
        "INSERT INTO news_items (source, external_id, headline, symbols, published_at, created_at, updated_at)"
        " VALUES ('wire', 'a-1', 'Infosys beats', '[]', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    )
    with engine.begin() as connection:
        connection.execute(insert)

    upgrade(unmigrated_url, "0004")

    with engine.begin() as connection:
        assert connection.execute(sa.text("SELECT id, dedupe_key FROM news_items")).one() == (1, "legacy:1")
    engine.dispose()
    downgrade(unmigrated_url, "0003")
    assert current(unmigrated_url) == "0003"
