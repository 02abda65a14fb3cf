"""supplier shipments keep the estimated arrival last told to Shopify (a fulfillment event), so each ETA is told once

Revision ID: 0047
Revises: 0046
Create Date: 2026-12-04 21:45:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0047'
down_revision: Union[str, Sequence[str], None] = '0046'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("supplier_shipments") as batch:
        batch.add_column(sa.Column("eta_told", sa.String(length=40), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("supplier_shipments") as batch:
        batch.drop_column("eta_told")
