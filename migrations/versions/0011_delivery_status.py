"""delivery status

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 15:00:00

Delivery status from Shopify's fulfillments and events; catalog webhooks.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0011'
down_revision: Union[str, Sequence[str], None] = '0010'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('fulfillment_deliveries',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('shop_domain', sa.String(length=255), nullable=False),
    sa.Column('fulfillment_gid', sa.String(length=128), nullable=False),
    sa.Column('order_gid', sa.String(length=128), nullable=True),
    sa.Column('order_id', BIG_ID, nullable=True),
    sa.Column('name', sa.String(length=64), nullable=True),
    sa.Column('fulfillment_status', sa.String(length=32), nullable=True),
    sa.Column('shipment_status', sa.String(length=32), nullable=True),
    sa.Column('status_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('display_status', sa.String(length=32), nullable=True),
    sa.Column('in_transit_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('estimated_delivery_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('first_estimated_delivery_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('failed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('failure_message', sa.Text(), nullable=True),
    sa.Column('events_seen', sa.Integer(), nullable=False),
    sa.Column('shopify_updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reconciled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_fulfillment_deliveries_order_id_orders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fulfillment_deliveries')),
    sa.UniqueConstraint('shop_domain', 'fulfillment_gid', name='uq_fulfillment_deliveries_fulfillment')
    )
    with op.batch_alter_table('fulfillment_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_fulfillment_deliveries_order', ['order_id'], unique=False)
        batch_op.create_index('ix_fulfillment_deliveries_delivered', ['shop_domain', 'delivered_at'], unique=False)
    # Plain ADD COLUMN: a batch rebuild of a table other rows may point at is refused with data in it.
    op.add_column('catalog_variants', sa.Column('product_updated_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('catalog_variants', sa.Column('item_updated_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('catalog_variants', schema=None) as batch_op:
        batch_op.drop_column('item_updated_at')
        batch_op.drop_column('product_updated_at')
    with op.batch_alter_table('fulfillment_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_fulfillment_deliveries_delivered')
        batch_op.drop_index('ix_fulfillment_deliveries_order')
    op.drop_table('fulfillment_deliveries')
