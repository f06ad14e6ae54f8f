"""Order statuses of the OMS's state machine: SUBMITTED, PENDING_UPDATE, PENDING_CANCEL and EXPIRED.

Only the CHECK constraint on ``orders.status`` changes (the column is VARCHAR(24) already). SQLite cannot
alter a constraint, so there the table is rebuilt in batch mode. A downgrade refuses while any order holds
one of the new statuses, rather than lose what it says.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 05:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = ("NEW", "ACCEPTED", "REJECTED", "PARTIALLY_FILLED", "FILLED", "CANCELED")
AFTER = (
    "NEW",
    "SUBMITTED",
    "ACCEPTED",
    "REJECTED",
    "PARTIALLY_FILLED",
    "FILLED",
    "PENDING_UPDATE",
    "PENDING_CANCEL",
    "CANCELED",
    "EXPIRED",
)
CONSTRAINT = "ck_orders_order_status"


def _allow(values: Sequence[str]) -> None:
    allowed = ", ".join(f"'{value}'" for value in values)
    with op.batch_alter_table("orders") as batch:
        batch.drop_constraint(op.f(CONSTRAINT), type_="check")
        batch.create_check_constraint(op.f(CONSTRAINT), sa.text(f"status IN ({allowed})"))


def upgrade() -> None:
    _allow(AFTER)


def downgrade() -> None:
    added = ", ".join(f"'{value}'" for value in AFTER if value not in BEFORE)
    holding = op.get_bind().execute(sa.text(f"SELECT count(*) FROM orders WHERE status IN ({added})")).scalar()
    if holding:
        raise RuntimeError(f"{holding} orders hold a status revision 0001 does not know ({added}): not downgrading")
    _allow(BEFORE)
