"""placeholder: issue 20 part C (orders under flaky suppliers, CPU per order)

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-04 00:30:00

Empty until its part fills it (rename the file to say what it does); dropped if it stays empty.
"""
from typing import Sequence, Union

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision: str = '0025'
down_revision: Union[str, Sequence[str], None] = '0024'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""


def downgrade() -> None:
    """Downgrade schema."""
