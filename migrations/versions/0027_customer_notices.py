"""customer notices: the customer's locale, the shop's primary locale and contact email, notice settings, unsubscribes, satisfaction answers (issue 17 part N)

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-04 00:30:00

Customer notices go out in the order's customer locale (else the shop's primary locale), from
the shop's verified sender (else the app's, with Reply-To the shop's contact email). The notice
job reads recent orders, parcels and carrier statuses: indexes on their times keep it cheap.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


revision: str = '0027'
down_revision: Union[str, Sequence[str], None] = '0026'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('customer_locale', sa.String(length=16), nullable=True))
        batch_op.create_index('ix_orders_created_at', ['created_at'], unique=False)
    with op.batch_alter_table('shops', schema=None) as batch_op:
        batch_op.add_column(sa.Column('primary_locale', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('contact_email', sa.String(length=255), nullable=True))
    op.create_index('ix_supplier_shipments_created_at', 'supplier_shipments', ['created_at'], unique=False)
    op.create_index('ix_supplier_shipments_fulfillment', 'supplier_shipments', ['shopify_fulfillment_id'], unique=False)
    op.create_index('ix_fulfillment_deliveries_status_at', 'fulfillment_deliveries', ['status_at'], unique=False)
    op.create_table(
        'notice_settings',
        sa.Column('id', BigId, nullable=False),
        sa.Column('shop_domain', sa.String(length=255), nullable=False),
        sa.Column('steps', sa.JSON(), nullable=False),
        sa.Column('follow_up_days', sa.Integer(), nullable=False),
        sa.Column('review_url', sa.Text(), nullable=True),
        sa.Column('sender_name', sa.String(length=255), nullable=True),
        sa.Column('sender_address', sa.String(length=255), nullable=True),
        sa.Column('sender_verified_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('verification_sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('verification_pending', sa.Boolean(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('shop_domain'),
    )
    op.create_table(
        'notice_unsubscribes',
        sa.Column('id', BigId, nullable=False),
        sa.Column('shop_domain', sa.String(length=255), nullable=False),
        sa.Column('email_digest', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('shop_domain', 'email_digest', name='uq_notice_unsubscribes_shop_email'),
    )
    op.create_table(
        'satisfaction_answers',
        sa.Column('id', BigId, nullable=False),
        sa.Column('shop_domain', sa.String(length=255), nullable=False),
        sa.Column('order_id', BigId, nullable=False),
        sa.Column('supplier_id', BigId, nullable=True),
        sa.Column('answer', sa.String(length=8), nullable=False),
        sa.Column('answered_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('changes', sa.Integer(), nullable=False),
        sa.Column('review_clicked_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['order_id'], ['orders.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('order_id', 'supplier_id', name='uq_satisfaction_answers_order_supplier'),
    )
    op.create_index('ix_satisfaction_answers_shop_answered', 'satisfaction_answers', ['shop_domain', 'answered_at'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_satisfaction_answers_shop_answered', table_name='satisfaction_answers')
    op.drop_table('satisfaction_answers')
    op.drop_table('notice_unsubscribes')
    op.drop_table('notice_settings')
    op.drop_index('ix_fulfillment_deliveries_status_at', table_name='fulfillment_deliveries')
    op.drop_index('ix_supplier_shipments_fulfillment', table_name='supplier_shipments')
    op.drop_index('ix_supplier_shipments_created_at', table_name='supplier_shipments')
    with op.batch_alter_table('shops', schema=None) as batch_op:
        batch_op.drop_column('contact_email')
        batch_op.drop_column('primary_locale')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_created_at')
        batch_op.drop_column('customer_locale')
