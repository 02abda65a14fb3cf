"""fulfillment orders

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 15:00:00

Fulfillment orders as the unit of forwarding: which location, which supplier, holds.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0009'
down_revision: Union[str, Sequence[str], None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
