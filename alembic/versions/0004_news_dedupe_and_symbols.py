"""News items for the sentiment engine: a dedupe key, the score's certainty and scorer, and a symbol index.

- ``news_items.dedupe_key`` (unique): ``url:<sha256>`` or ``text:<sha256>``; rows stored before it get
  ``legacy:<id>``;
- ``news_items.sentiment_certainty`` (1 - P(neutral), in [0, 1]) and ``sentiment_scorer`` (finbert, lexicon);
- ``news_item_symbols``: one row per (item, symbol) with the item's time, indexed by (symbol, published_at), so a
  symbol's window is one index range on either backend.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 09:30:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _surrogate_key_type() -> sa.types.TypeEngine[Any]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("news_items") as batch:
        batch.add_column(
            sa.Column("sentiment_certainty", sa.Double(), nullable=True, comment="1 - P(neutral), in [0, 1]")
        )
        batch.add_column(
            sa.Column("sentiment_scorer", sa.String(length=16), nullable=True, comment="finbert or lexicon")
        )
        batch.add_column(
            sa.Column("dedupe_key", sa.String(length=80), nullable=True, comment="url:<sha256> or text:<sha256>")
        )
    op.execute("UPDATE news_items SET dedupe_key = 'legacy:' || CAST(id AS VARCHAR(20))")
    with op.batch_alter_table("news_items") as batch:
        batch.alter_column("dedupe_key", existing_type=sa.String(length=80), nullable=False)
        batch.create_unique_constraint(batch.f("uq_news_items_dedupe_key"), ["dedupe_key"])
        batch.create_check_constraint(
            "sentiment_certainty_range",
            "sentiment_certainty IS NULL OR (sentiment_certainty >= 0 AND sentiment_certainty <= 1)",
        )
    op.create_table(
        "news_item_symbols",
        sa.Column("news_item_id", _surrogate_key_type(), nullable=False),
        sa.Column("symbol", sa.String(length=64), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["news_item_id"],
            ["news_items.id"],
            name=op.f("fk_news_item_symbols_news_item_id_news_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("news_item_id", "symbol", name=op.f("pk_news_item_symbols")),
    )
    op.create_index(
        "ix_news_item_symbols_symbol_published_at", "news_item_symbols", ["symbol", "published_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_news_item_symbols_symbol_published_at", table_name="news_item_symbols")
    op.drop_table("news_item_symbols")
    with op.batch_alter_table("news_items") as batch:
        batch.drop_constraint(op.f("ck_news_items_sentiment_certainty_range"), type_="check")
        batch.drop_constraint(op.f("uq_news_items_dedupe_key"), type_="unique")
        batch.drop_column("dedupe_key")
        batch.drop_column("sentiment_scorer")
        batch.drop_column("sentiment_certainty")
