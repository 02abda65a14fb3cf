"""a webhook's order key on its inbox row: scaled-out workers hold an order for one process at a time (issue 19 part S)

Revision ID: 0042
Revises: 0041
Create Date: 2026-12-04 16:00:00

Written by a worker's claim (never at intake), read only while the row is pending.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0042'
down_revision: Union[str, Sequence[str], None] = '0041'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

PENDING_HELD = sa.text("status = 'pending' AND hold_key IS NOT NULL")


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column('webhook_inbox', sa.Column('hold_key', sa.String(length=100), nullable=True))
    op.create_index('ix_webhook_inbox_held', 'webhook_inbox', ['shop_domain', 'hold_key'], postgresql_where=PENDING_HELD, sqlite_where=PENDING_HELD)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_webhook_inbox_held', table_name='webhook_inbox')
    with op.batch_alter_table('webhook_inbox', schema=None) as batch_op:
        batch_op.drop_column('hold_key')
