"""email suppliers both ways (issue 14, part F)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 17:40:00

Placeholder in the chain so parallel work never fights over the Alembic head; filled by its part.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0017'
down_revision: Union[str, Sequence[str], None] = '0016'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""


def downgrade() -> None:
    """Downgrade schema."""
