"""supplier resilience (issue 20, part C)

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-03 17:40:00

supplier_orders.backoff_wait_ms / breaker_wait_ms: how long each order was scheduled to wait
because of its own retries vs the supplier's open breaker (added in place, existing rows 0);
supplier_breaker_events: the breaker's state changes per supplier, for the supplier page.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0014'
down_revision: Union[str, Sequence[str], None] = '0012'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column('supplier_orders', sa.Column('backoff_wait_ms', sa.BigInteger(), server_default='0', nullable=False))
    op.add_column('supplier_orders', sa.Column('breaker_wait_ms', sa.BigInteger(), server_default='0', nullable=False))
    op.create_table('supplier_breaker_events',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('shop_domain', sa.String(length=255), nullable=False),
    sa.Column('supplier_id', BIG_ID, nullable=False),
    sa.Column('old_state', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=255), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'], name=op.f('fk_supplier_breaker_events_supplier_id_suppliers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supplier_breaker_events')),
    )
    with op.batch_alter_table('supplier_breaker_events', schema=None) as batch_op:
        batch_op.create_index('ix_supplier_breaker_events_supplier_at', ['supplier_id', 'at'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('supplier_breaker_events', schema=None) as batch_op:
        batch_op.drop_index('ix_supplier_breaker_events_supplier_at')
    op.drop_table('supplier_breaker_events')
    with op.batch_alter_table('supplier_orders', schema=None) as batch_op:
        batch_op.drop_column('breaker_wait_ms')
        batch_op.drop_column('backoff_wait_ms')
