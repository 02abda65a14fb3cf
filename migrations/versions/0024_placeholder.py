"""placeholder: issue 16 part R (returns: finish the law and the outcomes)

Revision ID: 0024
Revises: 0022
Create Date: 2026-12-04 00:30:00

Empty until its part fills it (rename the file to say what it does); dropped if it stays empty.
"""
from typing import Sequence, Union

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision: str = '0024'
down_revision: Union[str, Sequence[str], None] = '0022'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""


def downgrade() -> None:
    """Downgrade schema."""
