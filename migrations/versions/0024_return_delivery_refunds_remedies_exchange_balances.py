"""return delivery refunds, remedies carried out, exchange balances (issue 16, part R)

Revision ID: 0024
Revises: 0022
Create Date: 2026-12-04 00:30:00

return_outcomes: delivery_refund (the delivery cost a withdrawal from the whole order refunds),
difference_refunded / balance_due (an exchange whose replacement costs less / more),
balance_state (awaiting_payment | paid | forward_unpaid) and invoice_sent_at (Shopify's
invoice for the balance). return_cases: remedy_done_at (an accepted complaint's replacement
or repair marked done by the merchant).
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0024'
down_revision: Union[str, Sequence[str], None] = '0022'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('return_outcomes') as batch:
        batch.add_column(sa.Column('delivery_refund', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('difference_refunded', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('balance_due', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('balance_state', sa.String(length=16), nullable=True))
        batch.add_column(sa.Column('invoice_sent_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('return_cases') as batch:
        batch.add_column(sa.Column('remedy_done_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('return_cases') as batch:
        batch.drop_column('remedy_done_at')
    with op.batch_alter_table('return_outcomes') as batch:
        batch.drop_column('invoice_sent_at')
        batch.drop_column('balance_state')
        batch.drop_column('balance_due')
        batch.drop_column('difference_refunded')
        batch.drop_column('delivery_refund')
