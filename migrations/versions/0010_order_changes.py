"""order changes

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 15:00:00

Order changes (quantities, lines, address) passed on to suppliers.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0010'
down_revision: Union[str, Sequence[str], None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
