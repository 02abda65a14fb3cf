"""the inbox's pending rows in id order: the lanes' look no longer walks the finished rows kept for retention

Revision ID: 0043
Revises: 0042
Create Date: 2026-12-04 17:00:00

The look (webhooks/worker.py) is `status = 'pending' ... ORDER BY id LIMIT n`: both SQLite and
PostgreSQL walked the primary key past every finished row (kept 30 days), 12 ms a look at
100,000 rows on SQLite. A partial index holds the pending rows only.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0043'
down_revision: Union[str, Sequence[str], None] = '0042'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    """Upgrade schema."""
    if op.get_bind().dialect.name == "postgresql":
        # CONCURRENTLY, outside a transaction: a plain CREATE INDEX would stop every webhook intake (INSERT)
        # and claim (UPDATE) while it reads the month of finished rows the inbox keeps.
        with op.get_context().autocommit_block():
            op.create_index('ix_webhook_inbox_pending', 'webhook_inbox', ['id'], postgresql_where=PENDING, postgresql_concurrently=True)
    else:
        op.create_index('ix_webhook_inbox_pending', 'webhook_inbox', ['id'], sqlite_where=PENDING)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_webhook_inbox_pending', table_name='webhook_inbox')
