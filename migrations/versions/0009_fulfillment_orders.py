"""fulfillment orders

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 15:00:00

Fulfillment orders as the unit of forwarding: `fulfillment_orders` (the location Shopify
assigned each one to, who manages it, its lines, every hold and the hold the app wants)
and `managed_locations` (merchant locations mapped to the app, with the suppliers allowed
there), and `supplier_shipments.shopify_fulfillment_ids` (a parcel spanning locations
becomes one fulfillment per location). Written by hand for SQLite and PostgreSQL.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0009'
down_revision: Union[str, Sequence[str], None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('supplier_shipments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('shopify_fulfillment_ids', sa.JSON(), nullable=True))
    op.create_table('fulfillment_orders',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('shop_domain', sa.String(length=255), nullable=False),
    sa.Column('order_id', BIG_ID, nullable=False),
    sa.Column('shopify_id', sa.String(length=32), nullable=False),
    sa.Column('location_gid', sa.String(length=255), nullable=True),
    sa.Column('location_primary', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('request_status', sa.String(length=32), nullable=True),
    sa.Column('managed_by', sa.String(length=16), nullable=False),
    sa.Column('supplier_id', BIG_ID, nullable=True),
    sa.Column('lines', sa.JSON(), nullable=False),
    sa.Column('holds', sa.JSON(), nullable=False),
    sa.Column('app_hold_reason', sa.String(length=40), nullable=True),
    sa.Column('app_hold_note', sa.Text(), nullable=True),
    sa.Column('app_hold_id', sa.String(length=255), nullable=True),
    sa.Column('shopify_updated_at', sa.String(length=40), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_fulfillment_orders_order_id_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'], name=op.f('fk_fulfillment_orders_supplier_id_suppliers'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fulfillment_orders')),
    sa.UniqueConstraint('shop_domain', 'shopify_id', name='uq_fulfillment_orders_shop_shopify_id')
    )
    with op.batch_alter_table('fulfillment_orders', schema=None) as batch_op:
        batch_op.create_index('ix_fulfillment_orders_order', ['order_id'], unique=False)
    op.create_table('managed_locations',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('shop_domain', sa.String(length=255), nullable=False),
    sa.Column('location_gid', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('supplier_ids', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_managed_locations')),
    sa.UniqueConstraint('shop_domain', 'location_gid', name='uq_managed_locations_shop_location')
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('managed_locations')
    with op.batch_alter_table('fulfillment_orders', schema=None) as batch_op:
        batch_op.drop_index('ix_fulfillment_orders_order')
    op.drop_table('fulfillment_orders')
    with op.batch_alter_table('supplier_shipments', schema=None) as batch_op:
        batch_op.drop_column('shopify_fulfillment_ids')
