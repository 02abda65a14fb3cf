"""order changes

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 15:00:00

Order changes (quantities, lines, address) passed on to suppliers:
supplier_order_lines.sent_quantity and supplier_orders.sent_address_digest (what the
supplier was last sent), and supplier_order_amendments (one row per change passed on).
Columns are added in place (no table rebuild), so referenced tables keep their rows.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0010'
down_revision: Union[str, Sequence[str], None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column('supplier_order_lines', sa.Column('sent_quantity', sa.Integer(), nullable=True))
    op.add_column('supplier_orders', sa.Column('sent_address_digest', sa.String(length=64), nullable=True))
    # Orders placed before this revision were sent exactly what their lines say.
    op.execute("UPDATE supplier_order_lines SET sent_quantity = quantity WHERE supplier_order_id IN "
               "(SELECT id FROM supplier_orders WHERE supplier_order_id IS NOT NULL)")
    op.create_table('supplier_order_amendments',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('shop_domain', sa.String(length=255), nullable=False),
    sa.Column('supplier_order_id', BIG_ID, nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=True),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.Column('address_digest', sa.String(length=64), nullable=True),
    sa.Column('replaced_supplier_order_id', sa.String(length=128), nullable=True),
    sa.Column('replaced_idempotency_key', sa.String(length=128), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lease_owner', sa.String(length=64), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['supplier_order_id'], ['supplier_orders.id'], name=op.f('fk_supplier_order_amendments_supplier_order_id_supplier_orders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supplier_order_amendments')),
    sa.UniqueConstraint('supplier_order_id', 'number', name='uq_supplier_order_amendments_delivery_number')
    )
    with op.batch_alter_table('supplier_order_amendments', schema=None) as batch_op:
        batch_op.create_index('ix_supplier_order_amendments_due', ['state', 'next_attempt_at'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('supplier_order_amendments', schema=None) as batch_op:
        batch_op.drop_index('ix_supplier_order_amendments_due')
    op.drop_table('supplier_order_amendments')
    with op.batch_alter_table('supplier_orders', schema=None) as batch_op:
        batch_op.drop_column('sent_address_digest')
    with op.batch_alter_table('supplier_order_lines', schema=None) as batch_op:
        batch_op.drop_column('sent_quantity')
