"""legal profiles, complaints and deadlines on returns (issue 16, part L)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 21:30:00

return_cases: kind (return | complaint), the shipping country and legal profile the case was
decided under, the statutory refund deadline, and a complaint's state, answer deadline,
answer and remedy; indexed for the scheduled deadline check. Written by hand for SQLite and
PostgreSQL.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0018'
down_revision: Union[str, Sequence[str], None] = '0017'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('return_cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=16), server_default='return', nullable=False))
        batch_op.add_column(sa.Column('country_code', sa.String(length=2), nullable=True))
        batch_op.add_column(sa.Column('legal_profile', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('refund_due_at', WHEN, nullable=True))
        batch_op.add_column(sa.Column('complaint_state', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('complaint_due_at', WHEN, nullable=True))
        batch_op.add_column(sa.Column('complaint_answered_at', WHEN, nullable=True))
        batch_op.add_column(sa.Column('complaint_remedy', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('complaint_answer', sa.Text(), nullable=True))
        batch_op.create_index('ix_return_cases_complaint_due', ['complaint_state', 'complaint_due_at'], unique=False)
        batch_op.create_index('ix_return_cases_refund_due', ['refund_due_at'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('return_cases', schema=None) as batch_op:
        batch_op.drop_index('ix_return_cases_refund_due')
        batch_op.drop_index('ix_return_cases_complaint_due')
        for column in ('complaint_answer', 'complaint_remedy', 'complaint_answered_at', 'complaint_due_at', 'complaint_state',
                       'refund_due_at', 'legal_profile', 'country_code', 'kind'):
            batch_op.drop_column(column)
