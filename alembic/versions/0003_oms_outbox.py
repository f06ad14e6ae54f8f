"""The OMS's outbox and persistent service state, and the brokerage part of each trade's fees.

- ``outbox``: bus messages written in the same transaction as the change they announce;
- ``service_state``: small named documents kept across restarts (trading state, kill switch);
- ``trades.brokerage``: the brokerage within ``fees``, so the ₹20-per-order cap holds across a restart.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 06:45:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _surrogate_key_type() -> sa.types.TypeEngine[Any]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _json_type() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _timestamp(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", _surrogate_key_type(), nullable=False),
        sa.Column("stream", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False, comment="the msgpack-encoded message"),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_table(
        "service_state",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("document", _json_type(), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_service_state")),
    )
    with op.batch_alter_table("trades") as batch:
        batch.add_column(
            sa.Column(
                "brokerage",
                sa.Numeric(18, 4),
                server_default="0",
                nullable=False,
                comment="the brokerage part of fees",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("trades") as batch:
        batch.drop_column("brokerage")
    op.drop_table("service_state")
    op.drop_table("outbox")
