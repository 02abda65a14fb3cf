"""customer notices carry their shop: the satisfaction KPI reads a shop's review requests through one index (issue 19 part D)

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-04 09:00:00

The review-request figures joined the notices to the shop's orders, which made SQLite walk the
shop's whole order index (a million entries for a big shop) on every dashboard view, even when
the shop had sent no review request. The notices now name their shop (backfilled from their
order, which never changes shop) and are read by (shop, kind, status, sent_at).
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0035'
down_revision: Union[str, Sequence[str], None] = '0034'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column('customer_notices', sa.Column('shop_domain', sa.String(length=255), nullable=True))
    op.execute("UPDATE customer_notices SET shop_domain = (SELECT orders.shop_domain FROM orders WHERE orders.id = customer_notices.order_id)")
    # NOT NULL once filled (SQLite rebuilds the table: nothing references customer_notices).
    with op.batch_alter_table('customer_notices', schema=None) as batch_op:
        batch_op.alter_column('shop_domain', existing_type=sa.String(length=255), nullable=False)
    op.create_index('ix_customer_notices_shop_kind_sent', 'customer_notices', ['shop_domain', 'kind', 'status', 'sent_at'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_customer_notices_shop_kind_sent', table_name='customer_notices')
    with op.batch_alter_table('customer_notices', schema=None) as batch_op:
        batch_op.drop_column('shop_domain')
