"""customer cases: problem reports and questions from the store page, their messages and photos; proxy rate counters (issue 17 part P)

Revision ID: 0026
Revises: 0024
Create Date: 2026-12-04 00:30:00

Cases carry their clock (due_at from the kind's reaction target, first_reply_at); photos are
kept in the database (re-encoded, server-named) so every process can serve them; the order
lookup's rate limit counts attempts per key and window in rate_counters so it holds across
processes. Two indexes let the store page find an order by number or customer per shop.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0026'
down_revision: Union[str, Sequence[str], None] = '0024'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        'cases',
        sa.Column('id', BIG_ID, primary_key=True),
        sa.Column('shop_domain', sa.String(length=255), nullable=False),
        sa.Column('order_id', BIG_ID, sa.ForeignKey('orders.id', ondelete='CASCADE'), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('owner', sa.String(length=255), nullable=True),
        sa.Column('dedupe_key', sa.String(length=255), nullable=True, unique=True),
        sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('first_reply_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('return_case_id', BIG_ID, sa.ForeignKey('return_cases.id', ondelete='SET NULL'), nullable=True),
        sa.Column('replacement_order', sa.String(length=64), nullable=True),
    )
    op.create_index('ix_cases_shop_status_due', 'cases', ['shop_domain', 'status', 'due_at'])
    op.create_index('ix_cases_order', 'cases', ['order_id'])
    op.create_table(
        'case_messages',
        sa.Column('id', BIG_ID, primary_key=True),
        sa.Column('case_id', BIG_ID, sa.ForeignKey('cases.id', ondelete='CASCADE'), nullable=False),
        sa.Column('author', sa.String(length=16), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_case_messages_case', 'case_messages', ['case_id', 'id'])
    op.create_table(
        'case_photos',
        sa.Column('id', BIG_ID, primary_key=True),
        sa.Column('message_id', BIG_ID, sa.ForeignKey('case_messages.id', ondelete='CASCADE'), nullable=False),
        sa.Column('content_type', sa.String(length=32), nullable=False),
        sa.Column('width', sa.Integer(), nullable=False),
        sa.Column('height', sa.Integer(), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
    )
    op.create_index('ix_case_photos_message', 'case_photos', ['message_id'])
    op.create_table(
        'rate_counters',
        sa.Column('id', BIG_ID, primary_key=True),
        sa.Column('key', sa.String(length=255), nullable=False),
        sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.UniqueConstraint('key', 'window_start', name='uq_rate_counters_key_window'),
    )
    op.create_index('ix_orders_shop_name', 'orders', ['shop_domain', 'name'])
    op.create_index('ix_orders_shop_customer', 'orders', ['shop_domain', 'customer_id'])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_orders_shop_customer', table_name='orders')
    op.drop_index('ix_orders_shop_name', table_name='orders')
    op.drop_table('rate_counters')
    op.drop_index('ix_case_photos_message', table_name='case_photos')
    op.drop_table('case_photos')
    op.drop_index('ix_case_messages_case', table_name='case_messages')
    op.drop_table('case_messages')
    op.drop_index('ix_cases_order', table_name='cases')
    op.drop_index('ix_cases_shop_status_due', table_name='cases')
    op.drop_table('cases')
