from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateTable

from aitrader.db.models import Base, JobStatus, UTCDateTime
from aitrader.db.repositories import JobRepository, datetime_from_ns

IST = timezone(timedelta(hours=5, minutes=30))


def test_every_table_of_the_design_is_modelled() -> None:
    required = {
        "users", "user_tokens", "jobs", "backtests", "orders", "trades", "executions",
        "audit_log", "risk_limits", "news_items", "models", "bars",
    }  # fmt: skip

    assert required <= set(Base.metadata.tables)


def test_no_money_or_quantity_column_is_a_float() -> None:
    money_like = {
        "price", "limit_price", "avg_price", "fees", "pnl", "turnover", "max_drawdown", "qty", "filled_qty",
        "open", "high", "low", "close", "vwap", "volume", "value", "brokerage",
    }  # fmt: skip
    columns = [
        column for table in Base.metadata.tables.values() for column in table.columns if column.name in money_like
    ]

    assert columns
    for column in columns:
        assert isinstance(column.type, sa.Numeric | sa.BigInteger), column
        assert not isinstance(column.type, sa.Float), column


def test_every_constraint_and_index_has_a_conventional_name() -> None:
    prefixes = {
        sa.PrimaryKeyConstraint: "pk_",
        sa.UniqueConstraint: "uq_",
        sa.CheckConstraint: "ck_",
        sa.ForeignKeyConstraint: "fk_",
    }
    for table in Base.metadata.tables.values():
        for constraint in table.constraints:
            assert str(constraint.name).startswith(prefixes[type(constraint)] + table.name), constraint
        for index in table.indexes:
            assert str(index.name).startswith(f"ix_{table.name}_"), index


@pytest.mark.parametrize("dialect", [postgresql.dialect(), sqlite.dialect()], ids=["postgresql", "sqlite"])
def test_enumerations_are_strings_guarded_by_a_check_constraint(dialect: sa.Dialect) -> None:
    ddl = str(CreateTable(Base.metadata.tables["jobs"]).compile(dialect=dialect))

    assert "status VARCHAR(16) NOT NULL" in ddl
    assert (
        "CONSTRAINT ck_jobs_job_status CHECK (status IN ('queued', 'running', 'completed', 'failed', 'canceled'))"
        in ddl
    )


def test_utc_datetime_stores_aware_times_in_utc() -> None:
    column_type = UTCDateTime()

    stored = column_type.process_bind_param(datetime(2025, 1, 6, 9, 15, tzinfo=IST), sqlite.dialect())

    assert stored == datetime(2025, 1, 6, 3, 45, tzinfo=UTC)
    assert stored is not None and stored.tzinfo is UTC


def test_utc_datetime_refuses_naive_times() -> None:
    with pytest.raises(ValueError, match="datetime must be timezone-aware, was naive 2025-01-06T09:15:00"):
        UTCDateTime().process_bind_param(datetime(2025, 1, 6, 9, 15), sqlite.dialect())


def test_utc_datetime_reads_zoneless_sqlite_values_as_utc() -> None:
    read = UTCDateTime().process_result_value(datetime(2025, 1, 6, 3, 45), sqlite.dialect())

    assert read == datetime(2025, 1, 6, 3, 45, tzinfo=UTC)


def test_datetime_from_ns_is_exact_to_the_microsecond() -> None:
    assert datetime_from_ns(1_736_135_100_123_456_789) == datetime(2025, 1, 6, 3, 45, 0, 123456, tzinfo=UTC)


def test_job_transition_table_covers_every_status_and_terminal_statuses_lead_nowhere() -> None:
    assert set(JobRepository.TRANSITIONS) == set(JobStatus)
    for status, targets in JobRepository.TRANSITIONS.items():
        assert (not targets) == status.is_terminal, status
