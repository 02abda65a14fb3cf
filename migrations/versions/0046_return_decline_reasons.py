"""return cases keep why the policy declined them as codes and figures, worded in the customer's language when emailed

Revision ID: 0046
Revises: 0045
Create Date: 2026-12-04 19:00:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0046'
down_revision: Union[str, Sequence[str], None] = '0045'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("return_cases") as batch:
        batch.add_column(sa.Column("decision_reasons", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("return_cases") as batch:
        batch.drop_column("decision_reasons")
