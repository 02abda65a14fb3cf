"""placeholder: issue 15 part E (EDI X12 partner)

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-04 00:30:00

Empty until its part fills it (rename the file to say what it does); dropped if it stays empty.
"""
from typing import Sequence, Union

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision: str = '0029'
down_revision: Union[str, Sequence[str], None] = '0028'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""


def downgrade() -> None:
    """Downgrade schema."""
