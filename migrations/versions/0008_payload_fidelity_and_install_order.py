"""payload fidelity and install order

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 15:00:00

Order amounts (discounts, shipping, taxes, tips, currencies) and webhooks kept for shops whose install has not completed.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0008'
down_revision: Union[str, Sequence[str], None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
