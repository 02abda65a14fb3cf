"""placeholder: issue 17 part N (customer notices at every step, follow-up, satisfaction)

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-04 00:30:00

Empty until its part fills it (rename the file to say what it does); dropped if it stays empty.
"""
from typing import Sequence, Union

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision: str = '0027'
down_revision: Union[str, Sequence[str], None] = '0026'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""


def downgrade() -> None:
    """Downgrade schema."""
