"""kpi stale days: a closed day whose satisfaction figures changed after its snapshot (issue 19 part M)

Revision ID: 0038
Revises: 0035
Create Date: 2026-12-04 13:00:00

Satisfaction (answers, review requests, clicks) is digested per day like the other KPI facts;
a customer changing an answer or opening a review link days later marks the day(s) it changes
here, in the same transaction, so views read that day live until the job re-digests it.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0038'
down_revision: Union[str, Sequence[str], None] = '0035'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('kpi_stale_days',
                    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
                    sa.Column('shop_domain', sa.String(length=255), nullable=False),
                    sa.Column('day', sa.Date(), nullable=False),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_kpi_stale_days')))
    op.create_index('ix_kpi_stale_days_shop_day', 'kpi_stale_days', ['shop_domain', 'day'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_kpi_stale_days_shop_day', table_name='kpi_stale_days')
    op.drop_table('kpi_stale_days')
