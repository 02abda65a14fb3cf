"""delivery status

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 15:00:00

Delivery status from Shopify's fulfillments and events; catalog webhooks.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0011'
down_revision: Union[str, Sequence[str], None] = '0010'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
