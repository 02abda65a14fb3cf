"""order snapshot digests: a repeated orders/* snapshot is a cheap no-op (issue 20 part H)

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-04 05:40:00
"""
from typing import Sequence, Union

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision: str = '0033'
down_revision: Union[str, Sequence[str], None] = '0032'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    # Nullable, no backfill: an order without digests takes the full path once and gets them.
    op.add_column("orders", sa.Column("routing_digest", sa.String(length=32), nullable=True))
    op.add_column("orders", sa.Column("details_digest", sa.String(length=32), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    # Not batch mode: recreating `orders` on SQLite would drop its expression index (0030). SQLite
    # 3.35+ and PostgreSQL both drop a column in place.
    op.drop_column("orders", "details_digest")
    op.drop_column("orders", "routing_digest")
